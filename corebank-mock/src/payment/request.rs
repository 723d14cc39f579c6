//! The body of `POST /core/payments`, checked field by field into typed values, so a refusal
//! is E400 naming the field and nothing past this point handles a half-valid request.

use crate::error::CoreError;
use crate::wire::Body;

/// Why the customer pays, as the partner declares it. Recorded with the payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scene {
    EcommerceGoods,
    BillPayment,
    Transport,
    Parking,
    TopUp,
    Travel,
    Government,
    Other,
}

impl Scene {
    pub(crate) const ALL: [Scene; 8] = [
        Self::EcommerceGoods,
        Self::BillPayment,
        Self::Transport,
        Self::Parking,
        Self::TopUp,
        Self::Travel,
        Self::Government,
        Self::Other,
    ];

    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::EcommerceGoods => "ecommerce_goods",
            Self::BillPayment => "bill_payment",
            Self::Transport => "transport",
            Self::Parking => "parking",
            Self::TopUp => "top_up",
            Self::Travel => "travel",
            Self::Government => "government",
            Self::Other => "other",
        }
    }

    pub(crate) fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// Who a payment credits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Creditor {
    /// A customer account of this bank.
    Account(String),
    /// Someone at another bank: credited to this bank's clearing account for the currency,
    /// with the name, account and bank recorded as the counterparty.
    External { acct: String, name: String, bank: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Payment {
        dr_acct: String,
        creditor: Creditor,
        scene: Scene,
    },
    /// Money back from the original payment's creditor to its debtor. Both accounts follow
    /// from the original, so the request may leave them out; when it names them they must
    /// be those (`dr_acct` the original's creditor, `cr_acct` its debtor).
    Refund {
        orig_req_seq: String,
        dr_acct: Option<String>,
        cr_acct: Option<String>,
        /// The original payment's scene when left out.
        scene: Option<Scene>,
    },
    /// Money arriving from another bank (or the bank's other core): debits this bank's
    /// clearing account for the currency and credits `cr_acct`, a customer account held here,
    /// with the debtor recorded as the counterparty. No payer limits, no funds check.
    Inbound {
        cr_acct: String,
        debtor: Debtor,
        scene: Option<Scene>,
    },
}

/// The outside party an inbound credit comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Debtor {
    pub acct: String,
    pub name: String,
    pub bank: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PaymentRequest {
    pub req_seq: String,
    pub kind: Kind,
    pub amt_fen: i64,
    pub ccy: String,
    pub memo: String,
    pub mcc: Option<String>,
    /// The partner the gateway acts for.
    pub channel: String,
}

const EXT_FIELDS: [&str; 3] = ["cr_ext_acct", "cr_ext_name", "cr_ext_bank"];
const DEBTOR_FIELDS: [&str; 3] = ["dr_ext_acct", "dr_ext_name", "dr_ext_bank"];

impl PaymentRequest {
    pub(crate) fn parse(body: &Body) -> Result<Self, CoreError> {
        let req_seq = body.req_seq("req_seq")?;
        let amt_fen = body.amt_fen()?;
        let ccy = body.ccy()?;
        let memo = body.opt_text("memo", 140)?.unwrap_or_default();
        let mcc = body.opt_text("mcc", 4)?;
        if mcc.as_ref().is_some_and(|m| m.len() != 4 || !m.bytes().all(|b| b.is_ascii_digit())) {
            return Err(CoreError::bad("mcc", "must be 4 digits"));
        }
        let channel = body.nonempty("channel", 64)?;
        let scene = body.opt_text("scene", 32)?.map(|s| Scene::parse(&s).ok_or(bad_scene())).transpose()?;
        let kind = match body.text("kind", 16)?.as_str() {
            "payment" => payment(body, scene)?,
            "refund" => refund(body, scene)?,
            "inbound" => inbound(body, scene)?,
            _ => return Err(CoreError::bad("kind", "must be payment, refund or inbound")),
        };
        Ok(Self { req_seq, kind, amt_fen, ccy, memo, mcc, channel })
    }
}

fn bad_scene() -> CoreError {
    CoreError::bad(
        "scene",
        "must be one of ecommerce_goods, bill_payment, transport, parking, top_up, travel, government, other",
    )
}

fn payment(body: &Body, scene: Option<Scene>) -> Result<Kind, CoreError> {
    if body.has("orig_req_seq") {
        return Err(CoreError::bad("orig_req_seq", "only a refund names an original payment"));
    }
    if let Some(f) = DEBTOR_FIELDS.into_iter().find(|f| body.has(f)) {
        return Err(CoreError::bad(f, "only an inbound credit names an external debtor"));
    }
    let scene = scene.ok_or(bad_scene())?;
    let dr_acct = body.nonempty("dr_acct", 32)?;
    let creditor = match (body.has("cr_acct"), EXT_FIELDS.iter().any(|f| body.has(f))) {
        (true, true) => return Err(CoreError::bad("cr_acct", "give cr_acct or cr_ext_*, not both")),
        (false, false) => return Err(CoreError::bad("cr_acct", "required, or cr_ext_acct, cr_ext_name, cr_ext_bank")),
        (true, false) => Creditor::Account(body.nonempty("cr_acct", 32)?),
        (false, true) => external(body)?,
    };
    if creditor == Creditor::Account(dr_acct.clone()) {
        return Err(CoreError::bad("cr_acct", "same as dr_acct"));
    }
    Ok(Kind::Payment { dr_acct, creditor, scene })
}

fn external(body: &Body) -> Result<Creditor, CoreError> {
    let acct = body.nonempty("cr_ext_acct", 34)?;
    if !acct.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(CoreError::bad("cr_ext_acct", "must be letters and digits"));
    }
    let name = body.nonempty("cr_ext_name", 140)?;
    let bank = body.nonempty("cr_ext_bank", 12)?;
    if !bank.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(CoreError::bad("cr_ext_bank", "must be 1 to 12 letters and digits"));
    }
    Ok(Creditor::External { acct, name, bank })
}

fn refund(body: &Body, scene: Option<Scene>) -> Result<Kind, CoreError> {
    if let Some(f) = EXT_FIELDS.into_iter().chain(DEBTOR_FIELDS).find(|f| body.has(f)) {
        return Err(CoreError::bad(f, "a refund goes back to the original payment's debtor"));
    }
    let orig_req_seq = body.req_seq("orig_req_seq")?;
    let dr_acct = body.opt_text("dr_acct", 32)?;
    let cr_acct = body.opt_text("cr_acct", 32)?;
    Ok(Kind::Refund { orig_req_seq, dr_acct, cr_acct, scene })
}

fn inbound(body: &Body, scene: Option<Scene>) -> Result<Kind, CoreError> {
    for f in ["orig_req_seq", "dr_acct"].into_iter().chain(EXT_FIELDS) {
        if body.has(f) {
            return Err(CoreError::bad(f, "an inbound credit debits the clearing account for dr_ext_*"));
        }
    }
    let cr_acct = body.nonempty("cr_acct", 32)?;
    let acct = body.nonempty("dr_ext_acct", 34)?;
    if !acct.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(CoreError::bad("dr_ext_acct", "must be letters and digits"));
    }
    let name = body.nonempty("dr_ext_name", 140)?;
    let bank = body.opt_text("dr_ext_bank", 12)?;
    if bank.as_ref().is_some_and(|b| b.is_empty() || !b.bytes().all(|b| b.is_ascii_alphanumeric())) {
        return Err(CoreError::bad("dr_ext_bank", "must be 1 to 12 letters and digits"));
    }
    Ok(Kind::Inbound { cr_acct, debtor: Debtor { acct, name, bank }, scene })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn parse(v: Value) -> Result<PaymentRequest, String> {
        let body = Body::parse(v.to_string().as_bytes()).map_err(|e| e.to_string())?;
        PaymentRequest::parse(&body).map_err(|e| e.to_string())
    }

    fn base() -> Value {
        json!({ "req_seq": "P-1", "kind": "payment", "dr_acct": "A", "cr_acct": "B", "amt_fen": 100,
                "ccy": "CNY", "scene": "parking", "channel": "ptn_parkease" })
    }

    #[test]
    fn every_scene_code_round_trips() {
        for s in Scene::ALL {
            assert_eq!(Scene::parse(s.code()), Some(s));
        }
        assert_eq!(Scene::parse("Parking"), None);
    }

    #[test]
    fn a_payment_and_an_external_creditor_parse() {
        let p = parse(base()).unwrap();
        let creditor = Creditor::Account("B".into());
        assert_eq!(p.kind, Kind::Payment { dr_acct: "A".into(), creditor, scene: Scene::Parking });
        assert_eq!((p.memo.as_str(), p.mcc), ("", None));

        let mut ext = base();
        ext.as_object_mut().unwrap().remove("cr_acct");
        for (k, v) in [("cr_ext_acct", "6217000010001234567"), ("cr_ext_name", "某某"), ("cr_ext_bank", "ICBKCNBJ")] {
            ext[k] = v.into();
        }
        ext["mcc"] = "7523".into();
        let p = parse(ext).unwrap();
        assert!(matches!(p.kind, Kind::Payment { creditor: Creditor::External { .. }, .. }), "{p:?}");
        assert_eq!(p.mcc.as_deref(), Some("7523"));
    }

    #[test]
    fn refusals_name_the_field() {
        let cases: [(&str, Value); 12] = [
            ("kind", json!("gift")),
            ("scene", json!("casino")),
            ("mcc", json!("75a3")),
            ("mcc", json!("752")),
            ("channel", json!("")),
            ("memo", json!("m".repeat(141))),
            ("cr_acct", json!("A")),
            ("cr_ext_bank", json!("ICBK")),
            ("orig_req_seq", json!("P-0")),
            ("req_seq", json!("")),
            ("amt_fen", json!(0)),
            ("ccy", json!("cny")),
        ];
        for (field, value) in cases {
            let mut body = base();
            body[field] = value;
            let err = parse(body.clone()).unwrap_err();
            let named = if field == "cr_ext_bank" { "cr_acct" } else { field };
            assert!(err.contains(named), "{body} -> {err}");
        }
        let mut half_ext = base();
        half_ext.as_object_mut().unwrap().remove("cr_acct");
        half_ext["cr_ext_acct"] = "123".into();
        assert!(parse(half_ext).unwrap_err().contains("cr_ext_name"));
    }

    #[test]
    fn a_refund_needs_its_original_and_no_external_creditor() {
        let mut r = base();
        r["kind"] = "refund".into();
        assert!(parse(r.clone()).unwrap_err().contains("orig_req_seq"));
        r["orig_req_seq"] = "P-0".into();
        let p = parse(r.clone()).unwrap();
        let want = Kind::Refund {
            orig_req_seq: "P-0".into(),
            dr_acct: Some("A".into()),
            cr_acct: Some("B".into()),
            scene: Some(Scene::Parking),
        };
        assert_eq!(p.kind, want);
        r["cr_ext_name"] = "x".into();
        assert!(parse(r).unwrap_err().contains("cr_ext_name"));
    }

    #[test]
    fn an_inbound_credit_names_its_debtor_and_no_payer() {
        let inbound = json!({ "req_seq": "I-1", "kind": "inbound", "cr_acct": "B", "amt_fen": 100, "ccy": "CNY",
                              "dr_ext_acct": "6222020000000000059", "dr_ext_name": "王芳", "channel": "ptn_x" });
        let p = parse(inbound.clone()).unwrap();
        let debtor = Debtor { acct: "6222020000000000059".into(), name: "王芳".into(), bank: None };
        assert_eq!(p.kind, Kind::Inbound { cr_acct: "B".into(), debtor, scene: None });
        for (field, value) in [
            ("dr_acct", json!("A")),
            ("orig_req_seq", json!("P-0")),
            ("cr_ext_name", json!("x")),
            ("dr_ext_bank", json!("")),
            ("dr_ext_acct", json!("12-34")),
            ("dr_ext_name", json!("")),
            ("cr_acct", json!(null)),
        ] {
            let mut body = inbound.clone();
            body[field] = value;
            let err = parse(body.clone()).unwrap_err();
            assert!(err.contains(field), "{body} -> {err}");
        }
        let mut payment = base();
        payment["dr_ext_name"] = "x".into();
        assert!(parse(payment).unwrap_err().contains("dr_ext_name"));
    }
}
