//! A partner takes a payment against the Scenegate demo: ask for a payment consent, send the
//! customer to the bank to approve it with a one-time code, pay, read the status, refund.
//!
//! ```sh
//! cargo run --release -- demo                      # in one terminal
//! cargo run --example payment_quickstart           # in another; it prints a link to open
//! ```
//! Open the printed link, log in as a demo customer (mobile `13800000001`, password
//! `Scenegate#2026`), choose the account to pay from and approve; the one-time code arrives on
//! the demo "phone" at http://127.0.0.1:9090/core/sms-outbox. Same settings as
//! `partner_quickstart` (`SCENEGATE_URL`, `CLIENT_ID`, `KEY_FILE`, `KEY_ID`). With
//! `SANDBOX_CUSTOMER=C0001` the demo's test customer approves without a browser (sandbox
//! partners only), as a partner's CI would run it.
//!
//! Every money-moving call carries an `Idempotency-Key` (the same one on every retry of that
//! call) and a detached JWS over its exact body, and the gateway signs its answer the same way.

#[path = "common/authorize.rs"]
mod authorize;
mod common;
#[path = "common/signing.rs"]
mod signing;

use serde_json::{Value, json};
use signing::{Signer, signed_post};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let partner = common::Partner::from_env()?;
    let signer = Signer::of(&partner);
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(15)).build()?;

    // 1. A client-credentials token for payments.
    let token = partner
        .post_form(&http, "/oauth2/token", &[("grant_type", "client_credentials"), ("scope", "payments:write")])
        .await?;
    let partner_token = token["access_token"].as_str().ok_or("no access_token")?.to_owned();

    // 2. The payment consent: who is paid, how much, for what.
    let order = authorize::random_urlsafe(9);
    let consent = signed_post(
        &http,
        &signer,
        &format!("{}/v1/payment-consents", partner.base),
        &partner_token,
        &format!("consent-{order}"),
        &json!({
            "type": "single",
            "instructed_amount": {"amount": "268.00", "currency": "CNY"},
            "creditor": {"merchant": "skytrip"},
            "remittance_reference": format!("SKYTRIP-{order}"),
            "scenario": {"code": "travel", "merchant_category_code": "4722"},
        }),
    )
    .await?;
    let consent_id = consent["consent_id"].as_str().ok_or("no consent_id")?;
    println!("payment consent {consent_id} is {}", consent["status"]);

    // 3. The customer approves with their password and a one-time code.
    let tokens = authorize::authorise(&partner, &http, consent_id, "payments:initiate").await?;
    let customer_token = tokens["access_token"].as_str().ok_or("no access_token")?;

    // 4. Pay. A retry after a timeout sends the same key and gets the same payment.
    let payment = signed_post(
        &http,
        &signer,
        &format!("{}/v1/payments", partner.base),
        customer_token,
        &format!("pay-{order}"),
        &json!({"consent_id": consent_id, "instructed_amount": {"amount": "268.00", "currency": "CNY"}}),
    )
    .await?;
    let payment_id = payment["payment_id"].as_str().ok_or("no payment_id")?;
    println!("payment {payment_id}: {} ({})", payment["status"], payment["status_code"]);

    // 5. Read it back (a pending payment settles within seconds; a webhook also says so).
    let now: Value = http
        .get(format!("{}/v1/payments/{payment_id}", partner.base))
        .bearer_auth(&partner_token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!("payment {payment_id} now: {} ({})", now["status"], now["status_code"]);

    // 6. Refund one night of the booking.
    let refund = signed_post(
        &http,
        &signer,
        &format!("{}/v1/payments/{payment_id}/refunds", partner.base),
        &partner_token,
        &format!("refund-{order}"),
        &json!({"amount": {"amount": "68.00", "currency": "CNY"}, "reason": "One night cancelled"}),
    )
    .await?;
    let refund_id = refund["refund_id"].as_str().unwrap_or_default();
    println!("refund {refund_id}: {} of {}", refund["status"], refund["amount"]["amount"]);
    Ok(())
}
