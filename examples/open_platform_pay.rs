//! A partner built on an open-platform SDK pays through the Scenegate demo, and closes an
//! agreement it no longer needs, without touching the standard API: every call is one form
//! post to `POST /gw/ptn_metrogo`, signed RSA2 (SHA256withRSA) over the sorted parameters,
//! and every answer comes back in the `{"<method>_response": {...}, "sign": "..."}`
//! envelope, signed by the bank.
//!
//! ```sh
//! cargo run --release -- demo                      # in one terminal
//! cargo run --example open_platform_pay            # in another; it prints a link to open
//! ```
//! Open the printed link, log in as a demo customer (mobile `13800000001`, password
//! `Scenegate#2026`) and approve the agreement with the one-time code from
//! http://127.0.0.1:9090/core/sms-outbox; with `SANDBOX_CUSTOMER=C0001` the demo's test customer
//! approves headlessly. The customer's approval goes through the bank's standard OAuth flow
//! (the partner's OAuth key `config/demo-keys/ptn_metrogo.private.pem`); the token it gives is
//! then carried as `auth_token`.
//!
//! Settings: `SCENEGATE_URL`, `APP_ID` (default the demo's `2026120400000001`),
//! `SIGN_KEY_FILE` (the partner's RSA private key, PKCS#8 PEM), `BANK_KEY_FILE` (the bank's
//! public key for this protocol), and `CLIENT_ID`, `KEY_FILE`, `KEY_ID` for OAuth.

#[path = "common/authorize.rs"]
mod authorize;
// The examples' shared helpers; this one takes its OAuth defaults from `from_env_or` only.
#[allow(dead_code)]
mod common;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use scenegate_adapter_contract::SignatureSuite;
use scenegate_adapters::suites::{SigningKey, VerifyKey, sorted_params};
use serde_json::Value;

struct OpenPlatform {
    url: String,
    app_id: String,
    key: SigningKey,
    bank_key: VerifyKey,
}

impl OpenPlatform {
    /// Signs the common parameters and `biz_content`, posts them, and returns the answer
    /// object after checking the bank's signature over its exact text.
    async fn call(
        &self,
        http: &reqwest::Client,
        method: &str,
        biz: &Value,
        auth_token: Option<&str>,
    ) -> Result<Value, Box<dyn std::error::Error>> {
        // Local time in China, as the protocol writes it.
        let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)));
        let timestamp = now.strftime("%Y-%m-%d %H:%M:%S").to_string();
        let biz = biz.to_string();
        let mut params = vec![
            ("app_id", self.app_id.as_str()),
            ("method", method),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("timestamp", &timestamp),
            ("version", "1.0"),
            ("biz_content", &biz),
        ];
        if let Some(token) = auth_token {
            params.push(("auth_token", token));
        }
        // Every parameter but `sign`, sorted by name, `k=v` joined by `&`, raw values.
        let signing_string = sorted_params(params.iter().copied(), &["sign"], true);
        let sign = STANDARD.encode(self.key.sign(signing_string.as_bytes())?);
        params.push(("sign", &sign));
        let text = http.post(&self.url).form(&params).send().await?.text().await?;
        let key = format!("{}_response", method.replace('.', "_"));
        // Verify the answer's exact text, from the object after the key to just before "sign".
        let start = text.find(&format!("\"{key}\":")).map(|i| i + key.len() + 3);
        let start = start.or_else(|| text.find("\"error_response\":").map(|i| i + 17)).ok_or("not an envelope")?;
        let end = text.rfind(",\"sign\":").ok_or("unsigned answer")?;
        let doc: Value = serde_json::from_str(&text)?;
        let signature = STANDARD.decode(doc["sign"].as_str().ok_or("no sign")?)?;
        if !self.bank_key.verify(&text.as_bytes()[start..end], &signature) {
            return Err("the bank's signature does not verify".into());
        }
        let answer: Value = serde_json::from_str(&text[start..end])?;
        if answer["code"] != "10000" {
            return Err(format!("{method}: {} {} ({})", answer["code"], answer["sub_code"], answer["sub_msg"]).into());
        }
        Ok(answer)
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let oauth =
        common::Partner::from_env_or("ptn_metrogo", "config/demo-keys/ptn_metrogo.private.pem", "metrogo-2026-12")?;
    let sign_key = std::fs::read_to_string(env_or("SIGN_KEY_FILE", "config/demo-keys/ptn_metrogo.rsa.private.pem"))?;
    let bank_key =
        std::fs::read_to_string(env_or("BANK_KEY_FILE", "config/demo-keys/gateway-open-platform.rsa.public.pem"))?;
    let op = OpenPlatform {
        url: format!("{}/gw/{}", oauth.base, oauth.client_id),
        app_id: env_or("APP_ID", "2026120400000001"),
        key: SigningKey::from_pem(SignatureSuite::Rsa2, &sign_key)?,
        bank_key: VerifyKey::from_pem(SignatureSuite::Rsa2, &bank_key)?,
    };
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(15)).build()?;
    let order = authorize::random_urlsafe(9).replace(['-', '_'], "0");

    // 1. The agreement (a single-payment consent): who is paid, how much, for what.
    let biz = serde_json::json!({
        "out_agreement_no": format!("AG{order}"), "total_amount": "45.00", "merchant": "parkease",
        "subject": format!("Airport parking {order}"), "scenario_code": "parking", "merchant_category_code": "7523",
    });
    let agreement = op.call(&http, "scenegate.agreement.create", &biz, None).await?;
    let agreement_no = agreement["agreement_no"].as_str().ok_or("no agreement_no")?.to_owned();
    println!("agreement {agreement_no} is {}", agreement["agreement_status"]);

    // 2. The customer approves it at the bank, with a one-time code.
    let tokens = authorize::authorise(&oauth, &http, &agreement_no, "payments:initiate").await?;
    let auth_token = tokens["access_token"].as_str().ok_or("no access_token")?;

    // 3. Pay. A retry sends the same out_trade_no and gets the same answer.
    let biz = serde_json::json!({"out_trade_no": format!("MG{order}"), "agreement_no": agreement_no, "total_amount": "45.00"});
    let paid = op.call(&http, "scenegate.trade.pay", &biz, Some(auth_token)).await?;
    let trade_no = paid["trade_no"].as_str().ok_or("no trade_no")?.to_owned();
    println!("trade {trade_no}: {} ({})", paid["trade_status"], paid["status_code"]);
    let again = op.call(&http, "scenegate.trade.pay", &biz, Some(auth_token)).await?;
    println!("retried: trade {} (the same payment)", again["trade_no"]);

    // 4. Query it, and refund part of it.
    let query = op.call(&http, "scenegate.trade.query", &serde_json::json!({"trade_no": trade_no}), None).await?;
    println!("trade {trade_no} now: {}", query["trade_status"]);
    let biz = serde_json::json!({
        "trade_no": trade_no, "out_request_no": format!("RF{order}"), "refund_amount": "5.00",
        "refund_reason": "Left early",
    });
    let refund = op.call(&http, "scenegate.trade.refund", &biz, None).await?;
    println!("refund {}: {} of {}", refund["refund_id"], refund["refund_status"], refund["refund_amount"]);

    // 5. An agreement the partner no longer needs (the driver left before paying) is closed:
    //    it cannot be approved or paid from then on.
    let biz = serde_json::json!({
        "out_agreement_no": format!("AG{order}X"), "total_amount": "12.00", "merchant": "parkease",
        "subject": format!("Airport parking {order}X"), "scenario_code": "parking",
    });
    let unneeded = op.call(&http, "scenegate.agreement.create", &biz, None).await?;
    let unneeded_no = unneeded["agreement_no"].as_str().ok_or("no agreement_no")?;
    let closed =
        op.call(&http, "scenegate.agreement.close", &serde_json::json!({"agreement_no": unneeded_no}), None).await?;
    println!("agreement {} closed: {}", closed["agreement_no"], closed["agreement_status"]);
    Ok(())
}
