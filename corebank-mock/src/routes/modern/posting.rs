//! The body of `POST /api/v2/postings`, checked field by field into the engine's
//! [`PaymentRequest`], so a refusal is `INVALID_REQUEST` naming the (modern) field.

use serde_json::{Map, Value};

use super::amount;
use super::error::ApiError;
use crate::payment::{Creditor, Debtor, Kind, PaymentRequest, Scene};

const FIELDS: [&str; 13] = [
    "posting_id",
    "type",
    "debit_account",
    "credit_account",
    "external_creditor",
    "external_debtor",
    "original_posting_id",
    "amount",
    "currency",
    "narrative",
    "scenario",
    "merchant_category_code",
    "channel",
];

struct Fields<'a> {
    map: &'a Map<String, Value>,
    /// `external_creditor.` for a nested object, so the message names the full path.
    prefix: &'static str,
}

impl Fields<'_> {
    fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_null())
    }

    fn bad(&self, key: &str, why: &str) -> ApiError {
        ApiError::invalid(&format!("{}{key}", self.prefix), why)
    }

    /// Absent or `null` is `None`; else a string of 1 to `max` characters.
    fn opt(&self, key: &str, max: usize) -> Result<Option<String>, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(Some(s.clone())),
            Some(_) => Err(self.bad(key, &format!("must be a string of 1 to {max} characters"))),
        }
    }

    fn required(&self, key: &str, max: usize) -> Result<String, ApiError> {
        self.opt(key, max)?.ok_or_else(|| self.bad(key, &format!("required, a string of 1 to {max} characters")))
    }

    fn alnum(&self, key: &str, max: usize, required: bool) -> Result<Option<String>, ApiError> {
        let v = if required { Some(self.required(key, max)?) } else { self.opt(key, max)? };
        if v.as_ref().is_some_and(|s| !s.bytes().all(|b| b.is_ascii_alphanumeric())) {
            return Err(self.bad(key, &format!("must be 1 to {max} letters and digits")));
        }
        Ok(v)
    }

    fn object(&self, key: &'static str) -> Result<Option<Fields<'_>>, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => {
                let inner = Fields { map, prefix: nested(key) };
                match map.keys().find(|k| !["account_number", "name", "bank_code"].contains(&k.as_str())) {
                    Some(unknown) => Err(inner.bad(unknown, "unknown field")),
                    None => Ok(Some(inner)),
                }
            }
            Some(_) => Err(self.bad(key, "must be an object")),
        }
    }
}

fn nested(key: &'static str) -> &'static str {
    match key {
        "external_creditor" => "external_creditor.",
        _ => "external_debtor.",
    }
}

/// Refuses any of `keys` that this type of posting does not take.
fn none_of(f: &Fields<'_>, keys: &[&str], kind: &str) -> Result<(), ApiError> {
    match keys.iter().find(|k| f.has(k)) {
        Some(k) => Err(f.bad(k, &format!("not allowed for type {kind}"))),
        None => Ok(()),
    }
}

pub(crate) fn parse(bytes: &[u8]) -> Result<PaymentRequest, ApiError> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(bytes) else {
        return Err(ApiError::invalid("body", "expected a JSON object"));
    };
    let f = Fields { map: &map, prefix: "" };
    if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(f.bad(unknown, "unknown field"));
    }
    let posting_id = f.required("posting_id", 64)?;
    let currency = f.required("currency", 3)?;
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(f.bad("currency", "must be an ISO 4217 code"));
    }
    let digits = amount::minor_digits(&currency).ok_or_else(|| f.bad("currency", "not a currency this core knows"))?;
    let raw_amount = match map.get("amount") {
        Some(Value::String(s)) => s.as_str(),
        _ => return Err(f.bad("amount", "required, a decimal string such as \"12.30\"")),
    };
    let amt_fen = amount::parse(raw_amount, digits).ok_or_else(|| {
        f.bad(
            "amount",
            &format!("must be a positive decimal with exactly {digits} decimals, at most 10^14 minor units"),
        )
    })?;
    let memo = f.opt("narrative", 140)?.unwrap_or_default();
    let mcc = f.opt("merchant_category_code", 4)?;
    if mcc.as_ref().is_some_and(|m| m.len() != 4 || !m.bytes().all(|b| b.is_ascii_digit())) {
        return Err(f.bad("merchant_category_code", "must be 4 digits"));
    }
    let channel = f.required("channel", 64)?;
    let scene = f.opt("scenario", 32)?.map(|s| Scene::parse(&s).ok_or_else(|| bad_scenario(&f))).transpose()?;
    let kind = match f.required("type", 16)?.as_str() {
        "payment" => {
            none_of(&f, &["original_posting_id", "external_debtor"], "payment")?;
            let dr_acct = f.required("debit_account", 32)?;
            let creditor = match (f.has("credit_account"), f.object("external_creditor")?) {
                (true, Some(_)) => {
                    return Err(f.bad("credit_account", "give credit_account or external_creditor, not both"));
                }
                (false, None) => return Err(f.bad("credit_account", "required, or external_creditor")),
                (true, None) => Creditor::Account(f.required("credit_account", 32)?),
                (false, Some(ext)) => Creditor::External {
                    acct: ext.alnum("account_number", 34, true)?.unwrap_or_default(),
                    name: ext.required("name", 140)?,
                    bank: ext.alnum("bank_code", 12, true)?.unwrap_or_default(),
                },
            };
            if creditor == Creditor::Account(dr_acct.clone()) {
                return Err(f.bad("credit_account", "same as debit_account"));
            }
            Kind::Payment { dr_acct, creditor, scene: scene.ok_or_else(|| bad_scenario(&f))? }
        }
        "refund" => {
            none_of(&f, &["debit_account", "credit_account", "external_creditor", "external_debtor"], "refund")?;
            Kind::Refund { orig_req_seq: f.required("original_posting_id", 64)?, dr_acct: None, cr_acct: None, scene }
        }
        "inbound" => {
            none_of(&f, &["debit_account", "external_creditor", "original_posting_id"], "inbound")?;
            let cr_acct = f.required("credit_account", 32)?;
            let ext = f.object("external_debtor")?.ok_or_else(|| f.bad("external_debtor", "required"))?;
            let debtor = Debtor {
                acct: ext.alnum("account_number", 34, true)?.unwrap_or_default(),
                name: ext.required("name", 140)?,
                bank: ext.alnum("bank_code", 12, false)?,
            };
            Kind::Inbound { cr_acct, debtor, scene }
        }
        _ => return Err(f.bad("type", "must be payment, refund or inbound")),
    };
    Ok(PaymentRequest { req_seq: posting_id, kind, amt_fen, ccy: currency, memo, mcc, channel })
}

fn bad_scenario(f: &Fields<'_>) -> ApiError {
    let all: Vec<&str> = Scene::ALL.iter().map(|s| s.code()).collect();
    f.bad("scenario", &format!("required for a payment, one of {}", all.join(", ")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn base() -> Value {
        json!({ "posting_id": "P-1", "type": "payment", "debit_account": "A", "credit_account": "B",
                "amount": "12.30", "currency": "CNY", "scenario": "parking", "channel": "ptn_parkease" })
    }

    fn refusal(v: &Value) -> String {
        format!("{:?}", parse(v.to_string().as_bytes()).unwrap_err())
    }

    #[test]
    fn a_payment_parses_into_the_engine_request() {
        let p = parse(base().to_string().as_bytes()).unwrap();
        assert_eq!((p.amt_fen, p.req_seq.as_str(), p.memo.as_str()), (1_230, "P-1", ""));
        assert_eq!(
            p.kind,
            Kind::Payment { dr_acct: "A".into(), creditor: Creditor::Account("B".into()), scene: Scene::Parking }
        );
    }

    #[test]
    fn refusals_name_the_modern_field() {
        let cases: [(&str, Value); 11] = [
            ("type", json!("gift")),
            ("scenario", json!("casino")),
            ("merchant_category_code", json!("75a3")),
            ("channel", json!("")),
            ("narrative", json!("m".repeat(141))),
            ("credit_account", json!("A")),
            ("posting_id", json!("x".repeat(65))),
            ("amount", json!("12.3")),
            ("amount", json!(12.30)),
            ("currency", json!("XXX")),
            ("original_posting_id", json!("P-0")),
        ];
        for (field, value) in cases {
            let mut body = base();
            body[field] = value;
            let err = refusal(&body);
            assert!(err.contains(&format!("{field}:")), "{body} -> {err}");
        }
        let mut typo = base();
        typo["narative"] = "x".into();
        assert!(refusal(&typo).contains("narative: unknown field"));
        let mut ext = base();
        ext.as_object_mut().unwrap().remove("credit_account");
        ext["external_creditor"] = json!({ "account_number": "6217000010001234567", "name": "某某" });
        assert!(refusal(&ext).contains("external_creditor.bank_code:"), "{}", refusal(&ext));
        ext["external_creditor"]["bank"] = "CCBCCNBJ".into();
        assert!(refusal(&ext).contains("external_creditor.bank: unknown field"), "{}", refusal(&ext));
    }
}
