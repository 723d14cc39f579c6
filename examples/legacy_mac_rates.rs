//! A rate-comparison site whose back office still speaks the old sorted-parameter MAC form
//! (the WeChat Pay v2 family) reads the bank's public product rates through the Scenegate
//! demo: every call is one form post to `POST /gw/ptn_rateboard` with `mch_id`, `method`,
//! `nonce_str` (single use), `timestamp` (Unix seconds) and `sign_type`, and `sign` = upper-case
//! hex of HMAC-SM3 over the sorted non-empty parameters with `&key=<shared key>` appended.
//! Every answer is a flat JSON object of strings carrying its own `sign`, made the same way
//! with the same key, which this example checks before trusting a figure. A shared key proves
//! nothing to a third party, so the protocol carries public product data (A1) only.
//!
//! ```sh
//! cargo run --release -- demo                      # in one terminal
//! cargo run --example legacy_mac_rates             # in another
//! ```
//!
//! Settings: `SCENEGATE_URL` (default `http://127.0.0.1:8080`), `PARTNER_ID` (default the
//! demo's `ptn_rateboard`), `MCH_ID` (default its `20261204`) and `MAC_KEY_FILE`, the shared key
//! (default the demo's `config/demo-keys/ptn_rateboard.mackey`, named by `key_file` in
//! `config/partners/rateboard.toml`; a real one is handed over once, out of band).

use std::collections::BTreeMap;

use scenegate_adapter_contract::SignatureSuite;
use scenegate_adapters::suites::{mac, sorted_params};

/// The answer's fields, all strings.
type Answer = BTreeMap<String, String>;

struct LegacyMac {
    url: String,
    mch_id: String,
    key: Vec<u8>,
}

impl LegacyMac {
    /// `params` with the common ones and their MAC: the form as the old SDK sends it.
    fn form(&self, method: &str, params: &[(&str, &str)]) -> Result<Vec<(String, String)>, Box<dyn std::error::Error>> {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let timestamp = jiff::Timestamp::now().as_second().to_string();
        let mut form: Vec<(String, String)> = [
            ("mch_id", self.mch_id.as_str()),
            ("method", method),
            ("nonce_str", &nonce),
            ("timestamp", &timestamp),
            ("sign_type", SignatureSuite::HmacSm3.name()),
        ]
        .iter()
        .chain(params)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        // Every parameter but `sign`, non-empty, sorted by name, `k=v` joined by `&`; the MAC
        // function appends `&key=<shared key>`.
        let signing = sorted_params(form.iter().map(|(k, v)| (k.as_str(), v.as_str())), &["sign"], true);
        form.push(("sign".into(), mac::mac_hex(SignatureSuite::HmacSm3, &self.key, &signing)?));
        Ok(form)
    }

    /// Posts a form and returns the answer once its MAC checks out.
    async fn post(
        &self,
        http: &reqwest::Client,
        form: &[(String, String)],
    ) -> Result<Answer, Box<dyn std::error::Error>> {
        let answer: Answer = http.post(&self.url).form(form).send().await?.json().await?;
        let sign = answer.get("sign").ok_or("an unsigned answer")?;
        let signing = sorted_params(answer.iter().map(|(k, v)| (k.as_str(), v.as_str())), &["sign"], true);
        if !mac::verify_hex(SignatureSuite::HmacSm3, &self.key, &signing, sign) {
            return Err("the answer's MAC does not verify: not from the bank, or altered".into());
        }
        Ok(answer)
    }

    /// One call; a `FAIL` answer is an error naming its `err_code`.
    async fn call(
        &self,
        http: &reqwest::Client,
        method: &str,
        params: &[(&str, &str)],
    ) -> Result<Answer, Box<dyn std::error::Error>> {
        let answer = self.post(http, &self.form(method, params)?).await?;
        if answer.get("return_code").map(String::as_str) != Some("SUCCESS") {
            return Err(format!("{method}: {answer:?}").into());
        }
        Ok(answer)
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// A product's rate as the answer gives it: one rate for a deposit, a range for credit.
fn rate(answer: &Answer, prefix: &str) -> String {
    let field = |name: &str| answer.get(&format!("{prefix}{name}")).map(String::as_str);
    match (field("annual_rate"), field("annual_rate_min"), field("annual_rate_max")) {
        (Some(rate), _, _) => format!("{rate}%"),
        (None, Some(min), Some(max)) => format!("{min}%–{max}%"),
        _ => "-".to_owned(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = env_or("SCENEGATE_URL", "http://127.0.0.1:8080");
    let key = std::fs::read(env_or("MAC_KEY_FILE", "config/demo-keys/ptn_rateboard.mackey"))?;
    let client = LegacyMac {
        url: format!("{}/gw/{}", base.trim_end_matches('/'), env_or("PARTNER_ID", "ptn_rateboard")),
        mch_id: env_or("MCH_ID", "20261204"),
        key: key.trim_ascii().to_vec(),
    };
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(15)).build()?;

    // 1. The deposit products, a page of them: lists come back as `product_<i>_<field>`.
    let listed = client.call(&http, "products.list", &[("product_type", "deposit"), ("limit", "10")]).await?;
    let count: usize = listed.get("product_count").ok_or("no product_count")?.parse()?;
    println!("{count} deposit products (answer MAC verified):");
    for i in 0..count {
        let field = |name: &str| listed.get(&format!("product_{i}_{name}")).cloned().unwrap_or_default();
        println!(
            "  {:<18} {:>6}  from {:>9} {}  {}",
            field("product_id"),
            rate(&listed, &format!("product_{i}_")),
            field("min_amount"),
            field("currency"),
            field("name")
        );
    }

    // 2. One product by id, here a loan: its rate range.
    let loans = client.call(&http, "products.list", &[("product_type", "consumer_credit"), ("limit", "1")]).await?;
    let loan_id = loans.get("product_0_product_id").ok_or("no consumer credit product")?.clone();
    let product = client.call(&http, "product.query", &[("product_id", &loan_id)]).await?;
    println!(
        "product {}: {} {} a year, {} (answer MAC verified)",
        product.get("product_id").map_or("?", String::as_str),
        product.get("product_type").map_or("?", String::as_str),
        rate(&product, ""),
        product.get("name").map_or("?", String::as_str)
    );

    // 3. A parameter changed after signing (a proxy rewriting the form, say): refused, in the
    //    protocol's own answer, itself MAC'd.
    let mut tampered = client.form("product.query", &[("product_id", &loan_id)])?;
    for (name, value) in &mut tampered {
        if name == "product_id" {
            *value = "prd_DEP-3M-CNY".into();
        }
    }
    let refused = client.post(&http, &tampered).await?;
    println!(
        "tampered request: {} {} ({})",
        refused.get("return_code").map_or("?", String::as_str),
        refused.get("err_code").map_or("?", String::as_str),
        refused.get("return_msg").map_or("?", String::as_str)
    );
    if refused.get("return_code").map(String::as_str) != Some("FAIL") {
        return Err("a tampered request was not refused".into());
    }
    Ok(())
}
