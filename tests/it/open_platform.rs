//! The `open-platform` adapter over HTTP: a partner that signs form posts with RSA2 calls
//! `POST /gw/{partner_id}`, pays under a consent its customer authorised on the bank's
//! pages, and gets signed envelopes back, refusals included.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use scenegate_adapter_contract::SignatureSuite;
use scenegate_adapters::suites::{SigningKey, VerifyKey, sorted_params};
use serde_json::Value;

use crate::support::{
    Stack, fixtures, http,
    payments::{MERCHANT_ACCOUNT, authorise_payment, ledger},
};

const APP_ID: &str = "2026000000000077";

fn demo_key(name: &str) -> String {
    format!("{}/config/demo-keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The RSA2 test partner `ptn_op`.
fn partner_toml() -> String {
    partner_toml_with("ptn_op", APP_ID, "RSA2", "rsa")
}

/// An open-platform partner signing with `suite` (`RSA2` or `SM2`, key files `tag` = `rsa` or
/// `sm2`).
fn partner_toml_with(id: &str, app_id: &str, suite: &str, tag: &str) -> String {
    let jwks = fixtures().join("keys/test-partner.jwks.json");
    format!(
        r#"id = "{id}"
display_name = "Open-platform test partner"
status = "active"
environment = "sandbox"
security_level = "A2"
risk_assessment_ref = "RA-TEST-0077"
scopes = ["products:read", "accounts:read", "payments:write", "payments:initiate"]
redirect_uris = ["{redirect}"]

[keys]
jwks_file = "{jwks}"
[[keys.protocol]]
id = "key-2026"
suite = "{suite}"
file = "{public}"

[adapter]
name = "open-platform"
[adapter.settings]
app_id = "{app_id}"
sign_type = "{suite}"
response_key_file = "{response}"

[payments.merchants.metrogo]
account = "{MERCHANT_ACCOUNT}"
name = "MetroGo Parking"
[payments.limits.CNY]
per_payment = "5000.00"
per_day = "20000.00"
"#,
        redirect = crate::support::customer::REDIRECT_URI,
        jwks = jwks.display(),
        public = demo_key(&format!("ptn_metrogo.{tag}.public.pem")),
        response = demo_key(&format!("gateway-open-platform.{tag}.private.pem")),
    )
}

fn stack() -> Stack {
    Stack::start_with(|o| o.partners.push(("op".into(), partner_toml())))
}

/// Now as the protocol writes it: local time in China.
fn timestamp() -> String {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The form body of a signed call, as a partner's SDK builds it.
fn signed_form(method: &str, biz: &str, auth_token: Option<&str>) -> String {
    signed_form_with(SignatureSuite::Rsa2, APP_ID, method, biz, auth_token)
}

fn signed_form_with(suite: SignatureSuite, app_id: &str, method: &str, biz: &str, auth_token: Option<&str>) -> String {
    let tag = if suite == SignatureSuite::Rsa2 { "rsa" } else { "sm2" };
    let pem = std::fs::read_to_string(demo_key(&format!("ptn_metrogo.{tag}.private.pem"))).unwrap();
    let key = SigningKey::from_pem(suite, &pem).unwrap();
    let stamp = timestamp();
    let mut params = vec![
        ("app_id", app_id),
        ("method", method),
        ("charset", "utf-8"),
        ("sign_type", suite.name()),
        ("timestamp", stamp.as_str()),
        ("version", "1.0"),
        ("biz_content", biz),
    ];
    if let Some(token) = auth_token {
        params.push(("auth_token", token));
    }
    let sign = STANDARD.encode(key.sign(sorted_params(params.iter().copied(), &["sign"], true).as_bytes()).unwrap());
    params.push(("sign", &sign));
    serde_urlencoded::to_string(&params).unwrap()
}

async fn post(stack: &Stack, form: &str) -> (u16, String) {
    post_to(stack, "ptn_op", form).await
}

async fn post_to(stack: &Stack, partner: &str, form: &str) -> (u16, String) {
    let res = http()
        .post(stack.gw.url(&format!("/gw/{partner}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The answer object under `key`, after checking the gateway's RSA2 signature over its exact
/// text.
fn answer(body: &str, key: &str) -> Value {
    answer_signed(SignatureSuite::Rsa2, body, key)
}

fn answer_signed(suite: SignatureSuite, body: &str, key: &str) -> Value {
    let tag = if suite == SignatureSuite::Rsa2 { "rsa" } else { "sm2" };
    let start = body.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("no {key} in {body}")) + key.len() + 3;
    let end = body.rfind(",\"sign\":").unwrap();
    let doc: Value = serde_json::from_str(body).unwrap();
    let sign = STANDARD.decode(doc["sign"].as_str().unwrap()).unwrap();
    let public = std::fs::read_to_string(demo_key(&format!("gateway-open-platform.{tag}.public.pem"))).unwrap();
    let key_ = VerifyKey::from_pem(suite, &public).unwrap();
    assert!(key_.verify(&body.as_bytes()[start..end], &sign), "the gateway's signature over {key} verifies");
    doc[key].clone()
}

async fn call(stack: &Stack, method: &str, biz: &str, auth_token: Option<&str>) -> Value {
    let (status, body) = post(stack, &signed_form(method, biz, auth_token)).await;
    assert_eq!(status, 200, "{body}");
    answer(&body, &format!("{}_response", method.replace('.', "_")))
}

#[tokio::test]
async fn a_signed_query_is_answered_in_a_signed_envelope_and_cannot_be_replayed_or_tampered() {
    let stack = stack();
    let form = signed_form("scenegate.product.list", r#"{"limit":2}"#, None);
    let (status, body) = post(&stack, &form).await;
    assert_eq!(status, 200, "{body}");
    let listed = answer(&body, "scenegate_product_list_response");
    assert_eq!(listed["code"], "10000", "{listed}");
    let first = listed["products"][0]["product_id"].as_str().unwrap().to_owned();
    assert!(first.starts_with("prd_"));
    assert_eq!(listed["products"].as_array().unwrap().len(), 2);

    // The same bytes again: a replay, refused in the protocol's envelope.
    let (_, body) = post(&stack, &form).await;
    let refused = answer(&body, "scenegate_product_list_response");
    assert_eq!(
        (refused["code"].as_str(), refused["sub_code"].as_str()),
        (Some("40002"), Some("scenegate.signature_replayed")),
        "{refused}"
    );
    assert!(!refused["request_id"].as_str().unwrap().is_empty());

    // One signed parameter changed: refused before the method is trusted.
    let (_, body) = post(&stack, &form.replace("%22limit%22%3A2", "%22limit%22%3A3")).await;
    let refused = answer(&body, "error_response");
    assert_eq!(refused["sub_code"], "scenegate.request_signature_refused", "{refused}");

    let read = call(&stack, "scenegate.product.query", &format!(r#"{{"product_id":"{first}"}}"#), None).await;
    assert_eq!((read["code"].as_str(), read["product_id"].as_str()), (Some("10000"), Some(first.as_str())));

    // Customer data needs the customer's token.
    let refused = call(&stack, "scenegate.account.balance.query", r#"{"account_id":"acc_x"}"#, None).await;
    assert_eq!(refused["sub_code"], "scenegate.consent_required", "{refused}");

    // A standard-API partner (or nobody) has no such URL.
    let res = http().post(stack.gw.url("/gw/ptn_nobody")).body("x=1").send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn an_agreement_authorised_by_the_customer_pays_once_and_refunds_within_bounds() {
    let stack = stack();
    let core = crate::support::customer::core_url_of(stack.gw.dir.path());
    let before = ledger(&core).await["txn_count"].as_i64().unwrap();
    let biz = r#"{"out_agreement_no":"AG-1","total_amount":"88.00","merchant":"metrogo","subject":"Airport parking","scenario_code":"parking"}"#;
    let agreement = call(&stack, "scenegate.agreement.create", biz, None).await;
    assert_eq!(
        (agreement["code"].as_str(), agreement["agreement_status"].as_str()),
        (Some("10000"), Some("awaiting_authorisation")),
        "{agreement}"
    );
    let agreement_no = agreement["agreement_no"].as_str().unwrap().to_owned();
    // The customer authorises it on the bank's pages, with a one-time code: the partner
    // gets the customer's token through the standard OAuth flow.
    let partner = stack.gw.partner("ptn_op");
    let token = authorise_payment(&stack, &partner, &agreement_no, "13800000001").await;

    let pay = format!(r#"{{"out_trade_no":"MG-0001","agreement_no":"{agreement_no}","total_amount":"88.00"}}"#);
    let (status, first) = post(&stack, &signed_form("scenegate.trade.pay", &pay, Some(&token))).await;
    assert_eq!(status, 200);
    let paid = answer(&first, "scenegate_trade_pay_response");
    assert_eq!((paid["code"].as_str(), paid["trade_status"].as_str()), (Some("10000"), Some("SUCCESS")), "{paid}");
    assert_eq!(paid["total_amount"], "88.00");
    let trade_no = paid["trade_no"].as_str().unwrap().to_owned();
    assert_eq!(ledger(&core).await["txn_count"].as_i64().unwrap(), before + 1, "booked once");

    // The partner retries (a new timestamp, so a new signature): the first answer, byte
    // for byte, and no second booking.
    let (_, again) = post(&stack, &signed_form("scenegate.trade.pay", &pay, Some(&token))).await;
    assert_eq!(again, first);
    assert_eq!(ledger(&core).await["txn_count"].as_i64().unwrap(), before + 1);
    // The same order number for another amount is a reuse, refused.
    let other = pay.replace("88.00", "87.00");
    let refused = call(&stack, "scenegate.trade.pay", &other, Some(&token)).await;
    assert_eq!(refused["sub_code"], "scenegate.idempotency_key_reused", "{refused}");

    let query = call(&stack, "scenegate.trade.query", &format!(r#"{{"trade_no":"{trade_no}"}}"#), None).await;
    assert_eq!(query["trade_status"], "SUCCESS");
    let refund = |no: &str, amount: &str| {
        format!(
            r#"{{"trade_no":"{trade_no}","out_request_no":"{no}","refund_amount":"{amount}","refund_reason":"left early"}}"#
        )
    };
    let refunded = call(&stack, "scenegate.trade.refund", &refund("R-1", "8.00"), None).await;
    assert_eq!(
        (refunded["code"].as_str(), refunded["refund_status"].as_str()),
        (Some("10000"), Some("SUCCESS")),
        "{refunded}"
    );
    let refused = call(&stack, "scenegate.trade.refund", &refund("R-2", "80.01"), None).await;
    assert_eq!(
        (refused["code"].as_str(), refused["sub_code"].as_str()),
        (Some("40004"), Some("scenegate.refund_exceeds_payment"))
    );
    assert_eq!(ledger(&core).await["txn_count"].as_i64().unwrap(), before + 2);
    assert_eq!(ledger(&core).await["balanced"], true);

    // A paid agreement cannot be closed: refused in the method's envelope.
    let close = format!(r#"{{"agreement_no":"{agreement_no}"}}"#);
    let refused = call(&stack, "scenegate.agreement.close", &close, None).await;
    assert_eq!(
        (refused["code"].as_str(), refused["sub_code"].as_str()),
        (Some("40004"), Some("scenegate.consent_state")),
        "{refused}"
    );
}

/// `scenegate.agreement.close` withdraws an agreement the partner no longer needs: it reads
/// `revoked` from then on, cannot be closed twice, and another app cannot touch it.
#[tokio::test]
async fn an_unneeded_agreement_is_closed_once_and_only_by_its_own_partner() {
    let stack = Stack::start_with(|o| {
        o.partners.push(("op".into(), partner_toml()));
        o.partners.push(("opsm".into(), partner_toml_with("ptn_opsm", "2026000000000078", "SM2", "sm2")));
    });
    let biz = r#"{"out_agreement_no":"AG-X","total_amount":"30.00","merchant":"metrogo","subject":"Parking","scenario_code":"parking"}"#;
    let agreement = call(&stack, "scenegate.agreement.create", biz, None).await;
    let agreement_no = agreement["agreement_no"].as_str().unwrap_or_else(|| panic!("{agreement}")).to_owned();
    let close = format!(r#"{{"agreement_no":"{agreement_no}"}}"#);

    // Another app (another partner): no such agreement, as for one that does not exist.
    let form = signed_form_with(SignatureSuite::Sm2, "2026000000000078", "scenegate.agreement.close", &close, None);
    let (_, body) = post_to(&stack, "ptn_opsm", &form).await;
    let refused = answer_signed(SignatureSuite::Sm2, &body, "scenegate_agreement_close_response");
    assert_eq!(
        (refused["code"].as_str(), refused["sub_code"].as_str()),
        (Some("40004"), Some("scenegate.not_found")),
        "{refused}"
    );

    let closed = call(&stack, "scenegate.agreement.close", &close, None).await;
    assert_eq!(
        (closed["code"].as_str(), closed["agreement_no"].as_str(), closed["agreement_status"].as_str()),
        (Some("10000"), Some(agreement_no.as_str()), Some("revoked")),
        "{closed}"
    );
    let read = call(&stack, "scenegate.agreement.query", &close, None).await;
    assert_eq!(read["agreement_status"], "revoked");
    // Asked again (written differently: the same bytes within the same second are one
    // request, refused as a replay).
    let again = format!(r#"{{ "agreement_no": "{agreement_no}" }}"#);
    let again = call(&stack, "scenegate.agreement.close", &again, None).await;
    assert_eq!(
        (again["code"].as_str(), again["sub_code"].as_str()),
        (Some("40004"), Some("scenegate.consent_state")),
        "{again}"
    );
}

#[tokio::test]
async fn the_adapters_and_what_they_carry_are_listed() {
    let stack = stack();
    let list: Value = http().get(stack.gw.url("/v1/adapters")).send().await.unwrap().json().await.unwrap();
    let op = list["data"].as_array().unwrap().iter().find(|a| a["name"] == "open-platform").expect("listed").clone();
    assert_eq!(op["capabilities"]["entry"], "single_url");
    assert_eq!(op["capabilities"]["authentication"]["suites"], serde_json::json!(["RSA2", "SM2"]));
    assert!(op["capabilities"]["operations"].as_array().unwrap().contains(&"create_payment".into()));
    let native = list["data"].as_array().unwrap().iter().find(|a| a["name"] == "native").expect("listed").clone();
    assert_eq!(native["capabilities"]["authentication"]["kind"], "bearer_token");
}

#[tokio::test]
async fn an_sm2_partner_signs_and_is_answered_in_sm3_with_sm2() {
    let stack = Stack::start_with(|o| {
        o.partners.push(("opsm".into(), partner_toml_with("ptn_opsm", "2026000000000078", "SM2", "sm2")))
    });
    let form =
        signed_form_with(SignatureSuite::Sm2, "2026000000000078", "scenegate.product.list", r#"{"limit":1}"#, None);
    let (status, body) = post_to(&stack, "ptn_opsm", &form).await;
    assert_eq!(status, 200, "{body}");
    let listed = answer_signed(SignatureSuite::Sm2, &body, "scenegate_product_list_response");
    assert_eq!(listed["code"], "10000", "{listed}");
    // An RSA2-signed request to the SM2 partner: no downgrade to another suite.
    let rsa =
        signed_form_with(SignatureSuite::Rsa2, "2026000000000078", "scenegate.product.list", r#"{"limit":1}"#, None);
    let (_, body) = post_to(&stack, "ptn_opsm", &rsa).await;
    let refused = answer_signed(SignatureSuite::Sm2, &body, "error_response");
    assert_eq!(refused["sub_code"], "scenegate.request_signature_refused", "{refused}");
}

#[tokio::test]
async fn a_suspension_and_a_key_rotation_bite_on_the_next_call() {
    let stack = stack();
    let query = || signed_form("scenegate.product.list", r#"{"limit":1}"#, None);
    assert_eq!(call(&stack, "scenegate.product.list", r#"{"limit":1}"#, None).await["code"], "10000");

    // The partner's file now registers its SM2 key only (a rotation): the RSA2 key stops
    // working as soon as the reload has it, without a restart.
    stack.gw.write_partner("op", &partner_toml_with("ptn_op", APP_ID, "SM2", "sm2"));
    let rotated = crate::support::eventually(std::time::Duration::from_secs(5), || async {
        let (_, body) = post(&stack, &query()).await;
        body.contains("request_signature_refused")
    })
    .await;
    assert!(rotated, "{}", stack.gw.log());
    let form = signed_form_with(SignatureSuite::Sm2, APP_ID, "scenegate.product.list", r#"{"limit":1}"#, None);
    let (_, body) = post(&stack, &form).await;
    assert_eq!(answer_signed(SignatureSuite::Sm2, &body, "scenegate_product_list_response")["code"], "10000");

    // A staff emergency stop: the very next call is refused, in the protocol's envelope.
    let out = stack.gw.cli(&["partner", "suspend", "ptn_op", "--reason", "leaked key"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let suspended = crate::support::eventually(std::time::Duration::from_secs(5), || async {
        let form = signed_form_with(SignatureSuite::Sm2, APP_ID, "scenegate.product.list", r#"{"limit":1}"#, None);
        let (_, body) = post(&stack, &form).await;
        body.contains("scenegate.partner_suspended")
    })
    .await;
    assert!(suspended, "{}", stack.gw.log());
}

/// A partner endpoint that records each notification and answers `fail` to the first, then
/// `success`.
async fn notify_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let kept = log.clone();
    let app = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |body: String| {
            let log = kept.clone();
            async move {
                let mut log = log.lock().unwrap();
                log.push(body);
                if log.len() == 1 { "fail" } else { "success" }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/notify", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, log)
}

#[tokio::test]
async fn a_settled_payment_is_notified_as_a_signed_form_until_the_partner_answers_success() {
    let (url, log) = notify_receiver().await;
    // No webhook secret: the adapter signs its notifications with the bank's protocol key.
    let toml = partner_toml()
        .replacen("redirect_uris", &format!("webhook_url = \"{url}\"\nredirect_uris"), 1)
        .replacen("[adapter]", "[webhooks]\nallow_private_network = true\n\n[adapter]", 1);
    let stack = Stack::start_with(|o| o.partners.push(("op".into(), toml)));
    let biz = r#"{"out_agreement_no":"AG-N","total_amount":"12.00","merchant":"metrogo","subject":"Parking","scenario_code":"parking"}"#;
    let agreement = call(&stack, "scenegate.agreement.create", biz, None).await;
    let agreement_no = agreement["agreement_no"].as_str().unwrap_or_else(|| panic!("{agreement}")).to_owned();
    let token = authorise_payment(&stack, &stack.gw.partner("ptn_op"), &agreement_no, "13800000001").await;
    let pay = format!(r#"{{"out_trade_no":"MG-N1","agreement_no":"{agreement_no}","total_amount":"12.00"}}"#);
    let paid = call(&stack, "scenegate.trade.pay", &pay, Some(&token)).await;
    let trade_no = paid["trade_no"].as_str().unwrap_or_else(|| panic!("{paid}")).to_owned();

    // Every change of the payment is told (it was pending, then settled); the first was
    // answered `fail`, so it came again with the same notify_id before the next.
    let delivered = crate::support::eventually(std::time::Duration::from_secs(30), || async {
        log.lock().unwrap().iter().any(|b| b.contains(&trade_no) && b.contains("trade_status=SUCCESS"))
    })
    .await;
    assert!(delivered, "{}", stack.gw.log());
    let forms: Vec<Vec<(String, String)>> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|b| b.contains(&trade_no))
        .map(|b| serde_urlencoded::from_str(b).unwrap())
        .collect();
    let public = std::fs::read_to_string(demo_key("gateway-open-platform.rsa.public.pem")).unwrap();
    let bank = VerifyKey::from_pem(SignatureSuite::Rsa2, &public).unwrap();
    let field = |form: &[(String, String)], k: &str| {
        form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default()
    };
    assert!(forms.len() >= 3, "{forms:?}");
    assert_eq!(field(&forms[0], "notify_id"), field(&forms[1], "notify_id"), "the refused one again, same id");
    assert_eq!(field(&forms[0], "trade_status"), "PENDING");
    assert_eq!(field(forms.last().unwrap(), "trade_status"), "SUCCESS");
    assert_ne!(field(&forms[0], "notify_id"), field(forms.last().unwrap(), "notify_id"));
    for form in &forms {
        let get = |k: &str| field(form, k);
        assert_eq!(get("notify_type"), "trade_status_sync");
        assert_eq!(get("app_id"), APP_ID);
        let signed = sorted_params(form.iter().map(|(k, v)| (k.as_str(), v.as_str())), &["sign"], true);
        assert!(bank.verify(signed.as_bytes(), &STANDARD.decode(get("sign")).unwrap()), "signed by the bank");
    }
}

#[tokio::test]
async fn the_same_order_sent_concurrently_is_paid_once() {
    let stack = stack();
    let core = crate::support::customer::core_url_of(stack.gw.dir.path());
    let biz = r#"{"out_agreement_no":"AG-C","total_amount":"20.00","merchant":"metrogo","subject":"Parking","scenario_code":"parking"}"#;
    let agreement = call(&stack, "scenegate.agreement.create", biz, None).await;
    let agreement_no = agreement["agreement_no"].as_str().unwrap_or_else(|| panic!("{agreement}")).to_owned();
    let token = authorise_payment(&stack, &stack.gw.partner("ptn_op"), &agreement_no, "13800000001").await;
    let before = ledger(&core).await["txn_count"].as_i64().unwrap();

    // Eight copies of the signed order, all at once: a partner's retries racing.
    let pay = format!(r#"{{"out_trade_no":"MG-C1","agreement_no":"{agreement_no}","total_amount":"20.00"}}"#);
    let form = signed_form("scenegate.trade.pay", &pay, Some(&token));
    let url = stack.gw.url("/gw/ptn_op");
    let mut racing = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (url, form) = (url.clone(), form.clone());
        racing.spawn(async move {
            let res = http()
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        });
    }
    let answers = racing.join_all().await;
    let mut trades = std::collections::BTreeSet::new();
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        let a = answer(body, "scenegate_trade_pay_response");
        match a["code"].as_str() {
            Some("10000") => {
                trades.insert(a["trade_no"].as_str().unwrap().to_owned());
            }
            // Answered while the first was still in flight: refused, nothing booked.
            _ => assert_eq!(a["sub_code"], "scenegate.idempotency_in_flight", "{a}"),
        }
    }
    assert_eq!(trades.len(), 1, "one payment for one order: {answers:?}");
    assert_eq!(ledger(&core).await["txn_count"].as_i64().unwrap(), before + 1, "posted once");
    assert_eq!(ledger(&core).await["balanced"], true);
}

/// Behind a load balancer: three instances on one PostgreSQL database and one Redis. A signed
/// request is single-use across all of them, and one order sent to all three at once is paid
/// once.
#[tokio::test]
async fn across_a_cluster_a_signed_request_is_used_once_and_an_order_paid_once() {
    let Some(cluster) =
        crate::support::cluster::Cluster::start(|o| o.partners.push(("op".into(), partner_toml()))).await
    else {
        return;
    };
    let send = |i: usize, form: String| {
        let url = cluster.gw(i).url("/gw/ptn_op");
        async move {
            let res = http()
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };

    // A query answered by one instance is a replay at every other.
    let query = signed_form("scenegate.product.query", r#"{"product_id":"prd_DEP-3M-CNY"}"#, None);
    let (status, body) = send(0, query.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(answer(&body, "scenegate_product_query_response")["code"], "10000", "{body}");
    for i in 1..crate::support::cluster::INSTANCES {
        let (_, body) = send(i, query.clone()).await;
        let refused = answer(&body, "scenegate_product_query_response");
        assert_eq!(refused["sub_code"], "scenegate.signature_replayed", "instance {i}: {refused}");
    }

    // An agreement made through one instance, authorised by its customer, paid through all.
    let create = signed_form(
        "scenegate.agreement.create",
        r#"{"out_agreement_no":"AG-K","total_amount":"20.00","merchant":"metrogo","subject":"Parking","scenario_code":"parking"}"#,
        None,
    );
    let (_, body) = send(1, create).await;
    let agreement = answer(&body, "scenegate_agreement_create_response");
    let agreement_no = agreement["agreement_no"].as_str().unwrap_or_else(|| panic!("{agreement}")).to_owned();
    let token =
        authorise_payment(&cluster.stack, &cluster.stack.gw.partner("ptn_op"), &agreement_no, "13800000001").await;
    let before = ledger(cluster.core_url()).await["txn_count"].as_i64().unwrap();
    let pay = format!(r#"{{"out_trade_no":"MG-K1","agreement_no":"{agreement_no}","total_amount":"20.00"}}"#);
    let form = signed_form("scenegate.trade.pay", &pay, Some(&token));
    let answers =
        futures_util::future::join_all((0..6).map(|n| send(n % crate::support::cluster::INSTANCES, form.clone())))
            .await;
    let mut trades = std::collections::BTreeSet::new();
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        let a = answer(body, "scenegate_trade_pay_response");
        match a["code"].as_str() {
            Some("10000") => {
                trades.insert(a["trade_no"].as_str().unwrap().to_owned());
            }
            // Still in flight on another instance: refused, nothing booked.
            _ => assert_eq!(a["sub_code"], "scenegate.idempotency_in_flight", "{a}"),
        }
    }
    assert_eq!(trades.len(), 1, "one payment for one order across the cluster: {answers:?}");
    let after = ledger(cluster.core_url()).await;
    assert_eq!(after["txn_count"].as_i64().unwrap(), before + 1, "posted once");
}
