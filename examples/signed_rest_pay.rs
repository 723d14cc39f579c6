//! A partner whose back end speaks a signed REST protocol (the WeChat Pay v3 family) pays
//! through the Scenegate demo on its own paths under `/gw/ptn_tollway`: every request signed
//! in `Authorization` with its RSA key over `METHOD\npath?query\ntimestamp\nnonce\nbody\n`,
//! every answer signed by the bank in `Scenegate-*` headers over `timestamp\nnonce\nbody\n`,
//! amounts in fen.
//!
//! ```sh
//! cargo run --release -- demo                      # in one terminal
//! SANDBOX_CUSTOMER=C0001 cargo run --example signed_rest_pay
//! ```
//! Without `SANDBOX_CUSTOMER` it prints a link for a demo customer (mobile `13800000001`,
//! password `Scenegate#2026`) to approve the toll agreement with the one-time code from
//! http://127.0.0.1:9090/core/sms-outbox.
//!
//! Settings: `SCENEGATE_URL`, `MCHID` (default the demo's `1900009191`), `SERIAL_NO` (the key's
//! id in the partner file), `SIGN_KEY_FILE` (the partner's RSA private key, PKCS#8 PEM),
//! `BANK_KEY_FILE` (the bank's public key for this protocol), and `CLIENT_ID`, `KEY_FILE`,
//! `KEY_ID` for OAuth.

#[path = "common/authorize.rs"]
mod authorize;
// The examples' shared helpers; this one takes its OAuth defaults from `from_env_or` only.
#[allow(dead_code)]
mod common;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use scenegate_adapter_contract::SignatureSuite;
use scenegate_adapters::suites::{SigningKey, VerifyKey};
use serde_json::{Value, json};

struct SignedRest {
    /// The gateway's origin, e.g. `http://127.0.0.1:8080`.
    origin: String,
    /// The partner's paths start here: `/gw/ptn_tollway`.
    prefix: String,
    mchid: String,
    serial_no: String,
    key: SigningKey,
    bank_key: VerifyKey,
}

impl SignedRest {
    /// Signs and sends one call; returns the answer after checking the bank's signature.
    async fn call(
        &self,
        http: &reqwest::Client,
        method: &str,
        path: &str,
        body: Option<&Value>,
        customer_token: Option<&str>,
    ) -> Result<(u16, Value), Box<dyn std::error::Error>> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
        let nonce = authorize::random_urlsafe(12).replace(['-', '_'], "0");
        // The path as sent, from its first `/` (query included, when there is one).
        let path = format!("{}{path}", self.prefix);
        let signing = format!("{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n");
        let signature = STANDARD.encode(self.key.sign(signing.as_bytes())?);
        let authorization = format!(
            r#"SCENEGATE-SHA256-RSA2048 mchid="{}",nonce_str="{nonce}",timestamp="{timestamp}",serial_no="{}",signature="{signature}""#,
            self.mchid, self.serial_no
        );
        let mut request =
            http.request(method.parse()?, format!("{}{path}", self.origin)).header("authorization", authorization);
        if !body.is_empty() {
            request = request.header("content-type", "application/json").body(body);
        }
        if let Some(token) = customer_token {
            request = request.header("scenegate-customer-token", token);
        }
        let res = request.send().await?;
        let status = res.status().as_u16();
        let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let (ts, nonce, sig) =
            (header("scenegate-timestamp"), header("scenegate-nonce"), header("scenegate-signature"));
        let text = res.text().await?;
        if !self.bank_key.verify(format!("{ts}\n{nonce}\n{text}\n").as_bytes(), &STANDARD.decode(sig)?) {
            return Err(format!("{method} {path}: the bank's signature does not verify").into());
        }
        let answer: Value = serde_json::from_str(&text)?;
        if status != 200 {
            return Err(format!("{method} {path}: {status} {} ({})", answer["code"], answer["message"]).into());
        }
        Ok((status, answer))
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let oauth =
        common::Partner::from_env_or("ptn_tollway", "config/demo-keys/ptn_tollway.private.pem", "tollway-2026-12")?;
    let sign_key = std::fs::read_to_string(env_or("SIGN_KEY_FILE", "config/demo-keys/ptn_tollway.rsa.private.pem"))?;
    let bank_key =
        std::fs::read_to_string(env_or("BANK_KEY_FILE", "config/demo-keys/gateway-open-platform.rsa.public.pem"))?;
    let api = SignedRest {
        origin: oauth.base.clone(),
        prefix: format!("/gw/{}", oauth.client_id),
        mchid: env_or("MCHID", "1900009191"),
        serial_no: env_or("SERIAL_NO", "TOLLWAY-RSA-2026"),
        key: SigningKey::from_pem(SignatureSuite::Rsa2, &sign_key)?,
        bank_key: VerifyKey::from_pem(SignatureSuite::Rsa2, &bank_key)?,
    };
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(15)).build()?;
    let order = authorize::random_urlsafe(9).replace(['-', '_'], "0");

    // 1. The toll agreement: 35.50 yuan is 3550 fen.
    let agreement = json!({
        "out_agreement_no": format!("AG{order}"), "amount": {"total": 3550, "currency": "CNY"},
        "merchant": "tollway", "description": format!("G15 toll {order}"), "scenario_code": "transport",
    });
    let (_, agreement) = api.call(&http, "POST", "/v3/agreements", Some(&agreement), None).await?;
    let agreement_no = agreement["agreement_no"].as_str().ok_or("no agreement_no")?.to_owned();
    println!("agreement {agreement_no} is {}", agreement["status"]);

    // 2. The driver approves it at the bank, with a one-time code.
    let tokens = authorize::authorise(&oauth, &http, &agreement_no, "payments:initiate").await?;
    let token = tokens["access_token"].as_str().ok_or("no access_token")?;

    // 3. Pay; a retry with the same out_trade_no is the same payment.
    let pay = json!({"out_trade_no": format!("T{order}"), "agreement_no": agreement_no,
                     "amount": {"total": 3550, "currency": "CNY"}});
    let (_, paid) = api.call(&http, "POST", "/v3/pay/transactions", Some(&pay), Some(token)).await?;
    let trade_no = paid["trade_no"].as_str().ok_or("no trade_no")?.to_owned();
    println!("trade {trade_no}: {} ({}) {} fen", paid["trade_state"], paid["status_code"], paid["amount"]["total"]);
    let (_, again) = api.call(&http, "POST", "/v3/pay/transactions", Some(&pay), Some(token)).await?;
    println!("retried: trade {} (the same payment)", again["trade_no"]);

    // 4. Query it, and refund 5.00 yuan.
    let (_, now) = api.call(&http, "GET", &format!("/v3/pay/transactions/{trade_no}"), None, None).await?;
    println!("trade {trade_no} now: {}", now["trade_state"]);
    let refund = json!({"trade_no": trade_no, "out_refund_no": format!("R{order}"),
                        "amount": {"refund": 500, "currency": "CNY"}, "reason": "Toll overcharge"});
    let (_, refunded) = api.call(&http, "POST", "/v3/refunds", Some(&refund), None).await?;
    println!("refund {}: {} of {} fen", refunded["refund_id"], refunded["status"], refunded["amount"]["refund"]);
    Ok(())
}
