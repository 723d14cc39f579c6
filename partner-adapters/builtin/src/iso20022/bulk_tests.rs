//! `pain.001` in, `pain.002` out: the checks a batch must pass, with the reason code each
//! refusal carries, and the bulk's status reports.

use proptest::prelude::*;
use scenegate_adapter_contract::{
    AdapterKind, BuildContext, CanonicalRequest, Currency, ErrorView, Money, Operation, PartnerAdapter, RawRequest,
    canonical::{BulkPaymentOutcome, BulkPaymentView, BulkTransactionView, ConsentStatus, Iso20022Status},
};

use super::{Kind, pain001, pain002};

const NOW: i64 = 1_796_349_600;

fn adapter() -> Box<dyn PartnerAdapter> {
    Kind.build(&BuildContext::settings_only("ptn_x", &toml::Table::new())).unwrap()
}

/// One credit transfer: end-to-end id, amount as written, currency.
type Tx<'a> = (&'a str, &'a str, &'a str);

/// A `pain.001` with `txs`; counts and sums as given (`None`: left out).
struct Doc<'a> {
    txs: Vec<Tx<'a>>,
    group: (Option<String>, Option<String>),
    block: (Option<String>, Option<String>),
}

impl<'a> Doc<'a> {
    /// Counts and sums as the transactions make them (CNY, two decimals).
    fn correct(txs: Vec<Tx<'a>>) -> Self {
        let count = txs.len().to_string();
        let sum: i64 = txs.iter().map(|(_, a, _)| Money::parse(a, Currency::Cny).unwrap().to_minor().unwrap()).sum();
        let sum = Money::from_minor(sum, Currency::Cny).amount().to_string();
        Self { txs, group: (Some(count.clone()), Some(sum.clone())), block: (Some(count), Some(sum)) }
    }

    fn xml(&self) -> String {
        let totals = |(count, sum): &(Option<String>, Option<String>)| {
            let count = count.as_ref().map(|c| format!("<NbOfTxs>{c}</NbOfTxs>")).unwrap_or_default();
            let sum = sum.as_ref().map(|s| format!("<CtrlSum>{s}</CtrlSum>")).unwrap_or_default();
            format!("{count}{sum}")
        };
        let txs: String = self
            .txs
            .iter()
            .map(|(id, amount, ccy)| {
                format!(
                    "<CdtTrfTxInf><PmtId><EndToEndId>{id}</EndToEndId></PmtId><Amt><InstdAmt Ccy=\"{ccy}\">{amount}</InstdAmt></Amt>\
                     <Cdtr><Nm>Supplier {id}</Nm></Cdtr><CdtrAcct><Id><Othr><Id>6212260200000000002</Id></Othr></Id></CdtrAcct>\
                     <RmtInf><Ustrd>Invoice {id}</Ustrd></RmtInf></CdtTrfTxInf>"
                )
            })
            .collect();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Document xmlns=\"{}\"><CstmrCdtTrfInitn>\
             <GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2026-12-04T09:30:00+08:00</CreDtTm>{}</GrpHdr>\
             <PmtInf><PmtInfId>PMT-1</PmtInfId><PmtMtd>TRF</PmtMtd>{}{txs}</PmtInf></CstmrCdtTrfInitn></Document>",
            pain001::NAMESPACE,
            totals(&self.group),
            totals(&self.block),
        )
    }
}

fn request(method: &str, rest: &str, body: &str) -> RawRequest {
    RawRequest {
        method: method.into(),
        path: format!("/gw/ptn_x/{rest}"),
        path_params: vec![("partner_id".into(), "ptn_x".into()), ("rest".into(), rest.into())],
        query: None,
        headers: vec![("x-request-id".into(), "req-1".into()), ("content-type".into(), "application/xml".into())],
        body: body.as_bytes().to_vec().into(),
        received_at: NOW,
    }
}

/// The reason code a document is refused with, or `None` when it is accepted.
fn refusal(xml: &str) -> Option<&'static str> {
    pain001::decode(xml.as_bytes()).err().map(|r| r.code)
}

fn two() -> Vec<Tx<'static>> {
    vec![("E2E-1", "12500.00", "CNY"), ("E2E-2", "3000.5", "CNY")]
}

#[test]
fn a_batch_decodes_with_exact_amounts_in_minor_units() {
    let bulk = pain001::decode(Doc::correct(two()).xml().as_bytes()).unwrap();
    assert_eq!((bulk.message_id.as_str(), bulk.payment_info_id.as_str()), ("MSG-1", "PMT-1"));
    assert_eq!(bulk.currency, Currency::Cny);
    let minor: Vec<i64> = bulk.transactions.iter().map(|t| t.amount.to_minor().unwrap()).collect();
    assert_eq!(minor, [1_250_000, 300_050]);
    assert_eq!(bulk.transactions[1].remittance_reference, "Invoice E2E-2");
    assert_eq!(bulk.transactions[0].creditor.account_number.as_deref(), Some("6212260200000000002"));
}

#[test]
fn counts_are_re_derived_at_both_levels() {
    for (group, block) in [("3", "2"), ("2", "3"), ("1", "1"), ("02", "2")] {
        let mut doc = Doc::correct(two());
        doc.group.0 = Some(group.into());
        doc.block.0 = Some(block.into());
        assert_eq!(refusal(&doc.xml()), Some("AM18"), "group {group}, block {block}");
    }
    let mut doc = Doc::correct(two());
    doc.block.0 = None;
    assert_eq!(refusal(&doc.xml()), None, "NbOfTxs is optional in the block");
    doc.group.0 = None;
    assert_eq!(refusal(&doc.xml()), Some("FF01"), "and required in the group header");
}

#[test]
fn control_sums_are_re_derived_at_both_levels_exactly() {
    for (group, block) in
        [("15500.51", "15500.50"), ("15500.50", "15500.49"), ("15500", "15500.50"), ("1.55005e4", "15500.50")]
    {
        let mut doc = Doc::correct(two());
        doc.group.1 = Some(group.into());
        doc.block.1 = Some(block.into());
        assert_eq!(refusal(&doc.xml()), Some("AM10"), "group {group}, block {block}");
    }
    let mut doc = Doc::correct(two());
    doc.group.1 = Some("15500.5000".into());
    doc.block.1 = None;
    assert_eq!(refusal(&doc.xml()), None, "trailing zeros are the same sum; CtrlSum is optional");
}

#[test]
fn amounts_must_be_exact_in_the_currencys_decimals() {
    let one = |amount: &str, ccy: &str| {
        let mut doc = Doc::correct(vec![("E2E-1", "1.00", "CNY")]);
        doc.txs[0] = ("E2E-1", amount, ccy);
        doc.group.1 = None;
        doc.block.1 = None;
        refusal(&doc.xml())
    };
    assert_eq!(one("12.30", "CNY"), None);
    assert_eq!(one("1500", "JPY"), None);
    for bad in ["1.234", "1e3", "-1.00", "+1", "1.", ".5", "1,00", "", "NaN", "1 000"] {
        assert_eq!(one(bad, "CNY"), Some("AM12"), "{bad:?}");
    }
    assert_eq!(one("1.5", "JPY"), Some("AM12"));
    assert_eq!(one("0.00", "CNY"), Some("AM01"));
    assert_eq!(one("10.00", "XXX"), Some("AM03"));
    let mut mixed = Doc::correct(two());
    mixed.txs[1].2 = "USD";
    mixed.group.1 = None;
    mixed.block.1 = None;
    assert_eq!(refusal(&mixed.xml()), Some("AM03"), "one currency per bulk");
}

#[test]
fn end_to_end_ids_are_unique_and_the_batch_bounded() {
    let dup = Doc::correct(vec![("E2E-1", "1.00", "CNY"), ("E2E-1", "2.00", "CNY")]);
    assert_eq!(refusal(&dup.xml()), Some("AM05"));
    let ids: Vec<String> = (0..101).map(|i| format!("E2E-{i}")).collect();
    let many = Doc::correct(ids.iter().map(|id| (id.as_str(), "1.00", "CNY")).collect());
    assert_eq!(refusal(&many.xml()), Some("NARR"));
    let hundred = Doc::correct(ids[..100].iter().map(|id| (id.as_str(), "1.00", "CNY")).collect());
    assert_eq!(refusal(&hundred.xml()), None);
    let empty = Doc::correct(vec![]);
    assert_eq!(refusal(&empty.xml()), Some("NARR"));
}

#[test]
fn other_documents_and_entity_tricks_are_refused_as_file_format() {
    let ok = Doc::correct(two()).xml();
    let wrong_ns = ok.replace(pain001::NAMESPACE, "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03");
    let doctype =
        ok.replacen("<Document", "<!DOCTYPE Document [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Document", 1);
    let entity = ok.replace("<MsgId>MSG-1", "<MsgId>&x;");
    for bad in [wrong_ns, doctype, entity, "<Document/>".into(), "not xml".into()] {
        assert_eq!(refusal(&bad), Some("FF01"), "{bad}");
    }
    let two_blocks = ok.replace("</PmtInf>", "</PmtInf><PmtInf><PmtInfId>PMT-2</PmtInfId></PmtInf>");
    assert_eq!(refusal(&two_blocks), Some("NARR"));
}

#[test]
fn bulk_calls_are_routed_and_carry_their_idempotency_reference() {
    let a = adapter();
    let body = Doc::correct(two()).xml();
    let initiate = request("POST", "pain.001", &body);
    assert_eq!(a.operation(&initiate).unwrap(), Operation::InitiateBulkPayment);
    let reference = a.order_reference(Operation::InitiateBulkPayment, &initiate).unwrap().unwrap();
    assert_eq!((reference.key.as_str(), reference.request.as_slice()), ("MSG-1", body.as_bytes()));
    // Any text may be a MsgId; the key keeps to the characters keys are made of.
    let odd = request("POST", "pain.001", &body.replace("MSG-1", "批次 1/2"));
    let key = a.order_reference(Operation::InitiateBulkPayment, &odd).unwrap().unwrap().key;
    assert!(key.starts_with("sha256.") && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'), "{key}");

    let execute = request("POST", "pain.001/cns_1/execution", "");
    assert_eq!(a.operation(&execute).unwrap(), Operation::ExecuteBulkPayment);
    assert_eq!(a.order_reference(Operation::ExecuteBulkPayment, &execute).unwrap().unwrap().key, "cns_1");
    assert_eq!(
        a.decode(Operation::ExecuteBulkPayment, &execute).unwrap(),
        CanonicalRequest::ExecuteBulkPayment("cns_1".parse().unwrap())
    );
    let report = request("GET", "pain.002/cns_1", "");
    assert_eq!(a.operation(&report).unwrap(), Operation::GetBulkPayment);
    assert_eq!(a.order_reference(Operation::GetBulkPayment, &report).unwrap(), None);
    for (method, rest) in
        [("GET", "pain.001"), ("POST", "pain.002/cns_1"), ("POST", "pain.001/cns_1"), ("PUT", "pain.001")]
    {
        assert!(a.operation(&request(method, rest, "")).is_err(), "{method} {rest}");
    }
    let mut json = initiate.clone();
    json.headers[1].1 = "application/json".into();
    assert!(a.decode(Operation::InitiateBulkPayment, &json).is_err(), "a pain.001 is XML");
}

fn error<'a>(status: u16, code: &'a str, detail: &'a str) -> ErrorView<'a> {
    ErrorView { status, code, title: "t", detail, request_id: "req-1", retry_after: None }
}

#[test]
fn a_refused_pain001_is_a_pain002_rejecting_the_group_with_its_reason() {
    let a = adapter();
    let mut tampered = Doc::correct(two());
    tampered.group.0 = Some("3".into());
    let req = request("POST", "pain.001", &tampered.xml());
    let out = a.encode_error(Some(Operation::InitiateBulkPayment), &req, &error(400, "invalid_request", "x")).unwrap();
    let body = String::from_utf8(out.body.to_vec()).unwrap();
    assert_eq!(out.status, 400);
    assert!(body.contains(pain002::NAMESPACE), "{body}");
    assert!(body.contains("<OrgnlMsgId>MSG-1</OrgnlMsgId>") && body.contains("<GrpSts>RJCT</GrpSts>"), "{body}");
    assert!(body.contains("<Rsn><Cd>AM18</Cd></Rsn>"), "{body}");

    // The same MsgId with another document: DU01; other refusals by their problem type.
    let req = request("POST", "pain.001", &Doc::correct(two()).xml());
    let out = a.encode_error(None, &req, &error(422, "idempotency_key_reused", "used")).unwrap();
    assert!(String::from_utf8_lossy(&out.body).contains("<Cd>DU01</Cd>"));
    let out = a.encode_error(None, &req, &error(403, "insufficient_scope", "no")).unwrap();
    assert!(String::from_utf8_lossy(&out.body).contains("<Prtry>INSUFFICIENT_SCOPE</Prtry>"));
    // An execution or a status read refused: ISO 20022's message reject.
    let out = a.encode_error(None, &request("GET", "pain.002/cns_1", ""), &error(404, "not_found", "no")).unwrap();
    assert!(String::from_utf8_lossy(&out.body).contains("admi.002.001.01"));
}

fn view(outcomes: &[Option<Iso20022Status>], consent: ConsentStatus) -> BulkPaymentView {
    BulkPaymentView {
        consent_id: "cns_1".parse().unwrap(),
        consent_status: consent,
        message_id: "MSG-1".into(),
        payment_info_id: "PMT-1".into(),
        currency: Currency::Cny,
        transactions: outcomes
            .iter()
            .enumerate()
            .map(|(i, s)| BulkTransactionView {
                end_to_end_id: format!("E2E-{i}"),
                amount: Money::from_minor(100, Currency::Cny),
                payment: s.map(|status| BulkPaymentOutcome {
                    payment_id: format!("pay_{i}").parse().unwrap(),
                    status,
                    reason: None,
                }),
            })
            .collect(),
    }
}

#[test]
fn the_group_status_follows_the_payments() {
    use ConsentStatus::*;
    use Iso20022Status::*;
    let code = |o: &[Option<Iso20022Status>], c| pain002::group_status(&view(o, c)).code;
    assert_eq!(code(&[None, None], AwaitingAuthorisation), "ACTC");
    assert_eq!(code(&[None, None], Authorised), "ACTC");
    assert_eq!(code(&[None, None], Rejected), "RJCT");
    assert_eq!(code(&[None, None], Expired), "RJCT");
    assert_eq!(code(&[Some(Acsc), Some(Acsc)], Consumed), "ACSC");
    assert_eq!(code(&[Some(Acsc), Some(Rjct)], Consumed), "PART");
    assert_eq!(code(&[Some(Acsp), Some(Rjct)], Consumed), "PART");
    assert_eq!(code(&[Some(Rjct), Some(Rjct)], Consumed), "RJCT");
    assert_eq!(code(&[Some(Acsc), Some(Acsp)], Consumed), "ACSP");
    assert_eq!(code(&[Some(Actc), Some(Acsc)], Consumed), "ACSP");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever the amounts, declared totals that match are accepted and any other count or
    /// sum (by one unit, at either level) is refused with its own code.
    #[test]
    fn totals_are_re_derived(amounts in proptest::collection::vec(1i64..10_000_000_000, 1..20), off in 1i64..1000, group in any::<bool>()) {
        let texts: Vec<String> = amounts.iter().map(|m| Money::from_minor(*m, Currency::Cny).amount().to_string()).collect();
        let ids: Vec<String> = (0..amounts.len()).map(|i| format!("E2E-{i}")).collect();
        let txs: Vec<Tx<'_>> = ids.iter().zip(&texts).map(|(id, a)| (id.as_str(), a.as_str(), "CNY")).collect();
        let doc = Doc::correct(txs.clone());
        let bulk = pain001::decode(doc.xml().as_bytes()).unwrap();
        let minor: Vec<i64> = bulk.transactions.iter().map(|t| t.amount.to_minor().unwrap()).collect();
        prop_assert_eq!(&minor, &amounts);

        let sum: i64 = amounts.iter().sum();
        let mut wrong_sum = Doc::correct(txs.clone());
        let level = if group { &mut wrong_sum.group } else { &mut wrong_sum.block };
        level.1 = Some(Money::from_minor(sum + off, Currency::Cny).amount().to_string());
        prop_assert_eq!(refusal(&wrong_sum.xml()), Some("AM10"));

        let mut wrong_count = Doc::correct(txs);
        let level = if group { &mut wrong_count.group } else { &mut wrong_count.block };
        level.0 = Some((amounts.len() as i64 + off).to_string());
        prop_assert_eq!(refusal(&wrong_count.xml()), Some("AM18"));
    }

    #[test]
    fn amounts_round_trip_exactly(minor in 1i64..1_000_000_000_000_000) {
        let text = super::xml::decimal(minor as u128, Currency::Cny);
        prop_assert_eq!(pain001::amount(&text, Currency::Cny).unwrap().to_minor(), Some(minor));
        prop_assert_eq!(pain001::control_sum(&format!("{text}000"), Currency::Cny), Some(i128::from(minor)));
    }

    /// No bytes panic any step of a bulk call, and every refusal of a pain.001 is a pain.002.
    #[test]
    fn no_input_panics_a_bulk_call(body in proptest::collection::vec(any::<u8>(), 0..1024), cut in 0usize..4000, flip in any::<u8>()) {
        let a = adapter();
        let mut sample = Doc::correct(two()).xml().into_bytes();
        let at = cut % sample.len();
        sample[at] ^= flip;
        sample.truncate(cut.max(at + 1));
        for bytes in [body, sample] {
            let mut req = request("POST", "pain.001", "");
            req.body = bytes.into();
            let _ = a.order_reference(Operation::InitiateBulkPayment, &req);
            if a.decode(Operation::InitiateBulkPayment, &req).is_err() {
                let out = a.encode_error(Some(Operation::InitiateBulkPayment), &req, &error(400, "invalid_request", "x"));
                prop_assert!(out.is_some_and(|o| String::from_utf8_lossy(&o.body).contains("<GrpSts>RJCT</GrpSts>")));
            }
        }
    }
}
