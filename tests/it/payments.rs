//! The payments API over HTTP: signed, idempotent money-moving calls and signed answers.

use scenegate::auth::signing::Es256Key;
use serde_json::{Value, json};

use crate::support::{
    Stack, assert_problem,
    partner::now,
    payments::{
        authorise_payment, client_token, ledger, pay_partner_toml, post_money, sign, signed, verify_gateway_signature,
    },
    without_request_id,
};

fn stack() -> Stack {
    Stack::start_with(|o| o.partners.push(("pay".into(), pay_partner_toml("ptn_pay", ""))))
}

async fn write_token(stack: &Stack) -> String {
    let p = stack.gw.partner("ptn_pay");
    let res = p.token_with(&p.assertion(), Some("payments:write")).await;
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
}

fn consent_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": "single",
        "instructed_amount": {"amount": "268.00", "currency": "CNY"},
        "creditor": {"merchant": "skytrip"},
        "remittance_reference": "ORDER-88231",
        "scenario": {"code": "travel", "merchant_category_code": "4722"}
    }))
    .unwrap()
}

#[tokio::test]
async fn a_signed_payment_consent_is_created_once_and_its_answer_is_signed() {
    let stack = stack();
    let token = write_token(&stack).await;
    let url = stack.gw.url("/v1/payment-consents");
    let body = consent_body();
    let res = post_money(&url, &token, &body, Some("order-88231"), Some(&sign(&body, now()))).await;
    assert_eq!(res.status(), 201);
    let signature = res.headers()["x-jws-signature"].to_str().unwrap().to_owned();
    assert!(res.headers().get("idempotent-replayed").is_none());
    let first = res.bytes().await.unwrap();
    verify_gateway_signature(&stack.gw.proc.url, &signature, &first).await;
    let consent: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(consent["status"], "awaiting_authorisation");
    assert_eq!(consent["type"], "single");
    assert_eq!(consent["instructed_amount"], json!({"amount": "268.00", "currency": "CNY"}));
    assert_eq!(consent["creditor"], json!({"merchant": "skytrip", "name": "上海天游旅行科技有限公司"}));
    assert!(consent.get("debtor_account_id").is_none());

    // The same request again (re-signed, as a client retrying after a timeout would): the
    // first answer, byte for byte, with its signature, and no second consent.
    let res = post_money(&url, &token, &body, Some("order-88231"), Some(&sign(&body, now()))).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(res.headers()["x-jws-signature"].to_str().unwrap(), signature);
    assert_eq!(res.bytes().await.unwrap(), first);

    // Readable by id.
    let id = consent["consent_id"].as_str().unwrap();
    let res = crate::support::http()
        .get(stack.gw.url(&format!("/v1/payment-consents/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let read: Value = res.json().await.unwrap();
    assert_eq!(read, consent);
    // Not an account consent: the consents API does not show it.
    let res = crate::support::http()
        .get(stack.gw.url(&format!("/v1/consents/{id}")))
        .bearer_auth(write_token(&stack).await)
        .send()
        .await
        .unwrap();
    assert!(res.status() == 403 || res.status() == 404, "{}", res.status());
}

#[tokio::test]
async fn idempotency_keys_are_required_checked_and_never_reused_for_another_request() {
    let stack = stack();
    let token = write_token(&stack).await;
    let url = stack.gw.url("/v1/payment-consents");
    let body = consent_body();
    let missing = post_money(&url, &token, &body, None, Some(&sign(&body, now()))).await;
    let problem = assert_problem(missing, 400, "invalid_request").await;
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    let malformed = post_money(&url, &token, &body, Some("has space"), Some(&sign(&body, now()))).await;
    assert_problem(malformed, 400, "invalid_request").await;

    let ok = post_money(&url, &token, &body, Some("k-1"), Some(&sign(&body, now()))).await;
    assert_eq!(ok.status(), 201);
    let other: Vec<u8> = String::from_utf8(body.clone()).unwrap().replace("268.00", "269.00").into_bytes();
    let reused = post_money(&url, &token, &other, Some("k-1"), Some(&sign(&other, now()))).await;
    let problem = assert_problem(reused, 422, "idempotency_key_reused").await;
    insta::assert_json_snapshot!("idempotency_key_reused", without_request_id(problem));
}

#[tokio::test]
async fn every_kind_of_bad_signature_is_refused_with_its_own_type() {
    let stack = stack();
    let token = write_token(&stack).await;
    let url = stack.gw.url("/v1/payment-consents");
    let body = consent_body();
    let cases: Vec<(&str, Option<String>, u16, &str)> = vec![
        ("missing", None, 400, "signature_missing"),
        ("garbage", Some("not-a-jws".into()), 400, "signature_malformed"),
        ("stale", Some(sign(&body, now() - 301)), 401, "signature_stale"),
        ("tampered body", Some(sign(b"{\"type\":\"single\"}", now())), 401, "signature_invalid"),
        ("unknown key", Some(unknown_kid(&body)), 401, "signature_key_unknown"),
    ];
    for (i, (what, signature, status, slug)) in cases.into_iter().enumerate() {
        let res = post_money(&url, &token, &body, Some(&format!("sig-{i}")), signature.as_deref()).await;
        let problem = assert_problem(res, status, slug).await;
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{what}");
        if slug != "signature_malformed" {
            insta::assert_json_snapshot!(slug, without_request_id(problem));
        }
    }
    // The same signature on a second, different request (another key): refused as a replay.
    let signature = sign(&body, now());
    assert_eq!(post_money(&url, &token, &body, Some("sig-a"), Some(&signature)).await.status(), 201);
    let res = post_money(&url, &token, &body, Some("sig-b"), Some(&signature)).await;
    assert_problem(res, 401, "signature_replayed").await;
}

/// A well-formed signature naming a key the partner never registered.
fn unknown_kid(body: &[u8]) -> String {
    let key = Es256Key::from_pkcs8_pem(&crate::support::partner::key_pem("test-es256")).unwrap();
    scenegate::auth::jws::sign_detached(body, "not-registered", &key, now()).unwrap()
}

#[tokio::test]
async fn payment_consent_requests_are_validated_field_by_field() {
    let stack = stack();
    let token = write_token(&stack).await;
    let url = stack.gw.url("/v1/payment-consents");
    let cases = [
        (
            json!({"type": "single", "creditor": {"merchant": "skytrip"}, "remittance_reference": "r", "scenario": {"code": "travel"}}),
            "instructed_amount",
        ),
        (
            json!({"type": "single", "instructed_amount": {"amount": "1.001", "currency": "CNY"}, "creditor": {"merchant": "skytrip"}, "remittance_reference": "r", "scenario": {"code": "travel"}}),
            "",
        ),
        (
            json!({"type": "single", "instructed_amount": {"amount": "5000.01", "currency": "CNY"}, "creditor": {"merchant": "skytrip"}, "remittance_reference": "r", "scenario": {"code": "travel"}}),
            "instructed_amount",
        ),
        (
            json!({"type": "single", "instructed_amount": {"amount": "1.00", "currency": "USD"}, "creditor": {"merchant": "skytrip"}, "remittance_reference": "r", "scenario": {"code": "travel"}}),
            "currency",
        ),
        (
            json!({"type": "single", "instructed_amount": {"amount": "1.00", "currency": "CNY"}, "creditor": {"merchant": "nope"}, "remittance_reference": "r", "scenario": {"code": "travel"}}),
            "creditor.merchant",
        ),
        (
            json!({"type": "single", "instructed_amount": {"amount": "1.00", "currency": "CNY"}, "creditor": {"merchant": "skytrip"}, "remittance_reference": "", "scenario": {"code": "travel"}}),
            "remittance_reference",
        ),
        (
            json!({"type": "single", "instructed_amount": {"amount": "1.00", "currency": "CNY"}, "creditor": {"merchant": "skytrip"}, "remittance_reference": "r", "scenario": {"code": "travel", "merchant_category_code": "47"}}),
            "scenario.merchant_category_code",
        ),
        (
            json!({"type": "recurring", "currency": "CNY", "limits": {"per_payment": "50.00", "per_day": "10.00"}, "creditor": {"merchant": "skytrip"}, "remittance_reference": "r", "scenario": {"code": "parking"}}),
            "limits.per_day",
        ),
        (
            json!({"type": "single", "instructed_amount": {"amount": "1.00", "currency": "CNY"}, "creditor": {"merchant": "skytrip"}, "remittance_reference": "r", "scenario": {"code": "travel"}, "expiration": "2020-01-01T00:00:00Z"}),
            "expiration",
        ),
    ];
    for (i, (request, field)) in cases.into_iter().enumerate() {
        let body = serde_json::to_vec(&request).unwrap();
        let res = post_money(&url, &token, &body, Some(&format!("v-{i}")), Some(&sign(&body, now()))).await;
        let problem = assert_problem(res, 400, "invalid_request").await;
        if !field.is_empty() {
            assert_eq!(problem["errors"][0]["field"], field, "case {i}: {problem}");
        }
    }
}

fn single_consent(amount: &str) -> Value {
    json!({
        "type": "single",
        "instructed_amount": {"amount": amount, "currency": "CNY"},
        "creditor": {"merchant": "skytrip"},
        "remittance_reference": "ORDER-E2E",
        "scenario": {"code": "travel"}
    })
}

/// The whole journey over HTTP: consent, the customer's approval with a one-time code, the
/// payment (signed both ways, replayed, never twice), refunds within bounds, the events.
#[tokio::test]
async fn a_payment_is_authorised_booked_once_refunded_within_bounds_and_announced() {
    let stack = stack();
    let core = crate::support::customer::core_url_of(stack.gw.dir.path());
    let before = ledger(&core).await["txn_count"].as_i64().unwrap();
    let partner = stack.gw.partner("ptn_pay");
    let write = client_token(&partner, "payments:write").await;
    let (status, consent) =
        signed(&stack.gw.url("/v1/payment-consents"), &write, "c-1", &single_consent("268.00")).await;
    assert_eq!(status, 201, "{consent}");
    let consent_id = consent["consent_id"].as_str().unwrap().to_owned();
    let customer_token = authorise_payment(&stack, &partner, &consent_id, "13800000001").await;

    let pay = json!({"consent_id": consent_id, "instructed_amount": {"amount": "268.00", "currency": "CNY"}});
    let url = stack.gw.url("/v1/payments");
    let bytes = serde_json::to_vec(&pay).unwrap();
    let res = post_money(&url, &customer_token, &bytes, Some("pay-1"), Some(&sign(&bytes, now()))).await;
    assert_eq!(res.status(), 201);
    let signature = res.headers()["x-jws-signature"].to_str().unwrap().to_owned();
    let first = res.bytes().await.unwrap();
    verify_gateway_signature(&stack.gw.proc.url, &signature, &first).await;
    let payment: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!((payment["status"].as_str(), payment["status_code"].as_str()), (Some("completed"), Some("ACSC")));
    let payment_id = payment["payment_id"].as_str().unwrap().to_owned();
    assert!(payment_id.starts_with("pay_"));
    assert_eq!(ledger(&core).await["txn_count"].as_i64().unwrap(), before + 1, "booked once");

    // A retry of the same request: the same answer, no second booking.
    let res = post_money(&url, &customer_token, &bytes, Some("pay-1"), Some(&sign(&bytes, now()))).await;
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(res.headers()["x-jws-signature"].to_str().unwrap(), signature, "the answer as sent, signature too");
    assert_eq!(res.bytes().await.unwrap(), first);
    // A new key for the same consent: it is consumed.
    let (status, problem) = signed(&url, &customer_token, "pay-2", &pay).await;
    assert_eq!((status, problem["consent_status"].as_str()), (403, Some("consumed")), "{problem}");
    assert_eq!(ledger(&core).await["txn_count"].as_i64().unwrap(), before + 1);
    // The partner's token cannot pay; the customer's token cannot read another partner's.
    let (status, _) = signed(&url, &write, "pay-3", &pay).await;
    assert_eq!(status, 403);

    // Refunds: part, then the rest, then nothing more.
    let refunds = stack.gw.url(&format!("/v1/payments/{payment_id}/refunds"));
    let refund = |amount: &str| json!({"amount": {"amount": amount, "currency": "CNY"}, "reason": "cancelled night"});
    let (status, r1) = signed(&refunds, &write, "r-1", &refund("68.00")).await;
    assert_eq!((status, r1["status"].as_str()), (201, Some("completed")), "{r1}");
    let (status, problem) = signed(&refunds, &write, "r-2", &refund("200.01")).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (422, Some("https://scenegate.dev/problems/refund_exceeds_payment"))
    );
    let (status, _) = signed(&refunds, &write, "r-3", &refund("200.00")).await;
    assert_eq!(status, 201);
    let listed: Value = crate::support::get_json(&refunds, &write).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    let read: Value = crate::support::get_json(&stack.gw.url(&format!("/v1/payments/{payment_id}")), &write).await;
    assert_eq!(read["refunded_amount"], json!({"amount": "268.00", "currency": "CNY"}));
    assert_eq!(ledger(&core).await["txn_count"].as_i64().unwrap(), before + 3);

    // Every change was announced, in order per subject, pollable and acknowledgeable.
    let events_token = client_token(&partner, "events:read").await;
    let page: Value = crate::support::get_json(&stack.gw.url("/v1/events?limit=50"), &events_token).await;
    let seen: Vec<(String, String)> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["data"]["status_code"].as_str().or(e["data"]["status"].as_str()).unwrap().to_owned(),
            )
        })
        .collect();
    let of = |t: &str| seen.iter().filter(|(kind, _)| kind == t).map(|(_, s)| s.as_str()).collect::<Vec<_>>();
    assert_eq!(of("consent.status_changed"), ["authorised", "consumed"], "{seen:?}");
    assert_eq!(of("payment.status_changed"), ["ACTC", "ACSC"], "{seen:?}");
    assert_eq!(of("refund.status_changed"), ["ACTC", "ACSC", "ACTC", "ACSC"], "{seen:?}");
    let first_id = page["data"][0]["id"].as_str().unwrap();
    let res = crate::support::http()
        .post(stack.gw.url(&format!("/v1/events/{first_id}/ack")))
        .bearer_auth(&events_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let again: Value = crate::support::get_json(&stack.gw.url("/v1/events?limit=50"), &events_token).await;
    assert_eq!(again["data"].as_array().unwrap().len(), seen.len() - 1, "acknowledged events leave the list");
}

/// A partner withdraws payment consents it no longer needs: one awaiting its customer, one
/// authorised (its token then pays nothing), never a consumed one nor another partner's.
#[tokio::test]
async fn a_partner_withdraws_an_unused_payment_consent_and_its_token_pays_nothing() {
    let stack = Stack::start_with(|o| {
        o.partners.push(("pay".into(), pay_partner_toml("ptn_pay", "")));
        o.partners.push(("pay2".into(), pay_partner_toml("ptn_pay2", "")));
    });
    let partner = stack.gw.partner("ptn_pay");
    let write = client_token(&partner, "payments:write").await;
    let consents = stack.gw.url("/v1/payment-consents");
    let consent_url = |id: &str| stack.gw.url(&format!("/v1/payment-consents/{id}"));
    let withdraw =
        |id: &str, token: &str| crate::support::http().delete(consent_url(id)).bearer_auth(token.to_owned()).send();
    let create = |key: &'static str| {
        let write = write.clone();
        let consents = consents.clone();
        async move {
            let (status, consent) = signed(&consents, &write, key, &single_consent("12.00")).await;
            assert_eq!(status, 201, "{consent}");
            consent["consent_id"].as_str().unwrap().to_owned()
        }
    };

    // Awaiting its customer: withdrawn, without an idempotency key or a signature.
    let waiting = create("w-1").await;
    let other = client_token(&stack.gw.partner("ptn_pay2"), "payments:write").await;
    let theirs = without_request_id(assert_problem(withdraw(&waiting, &other).await.unwrap(), 404, "not_found").await);
    let missing =
        without_request_id(assert_problem(withdraw("cns_doesnotexist", &other).await.unwrap(), 404, "not_found").await);
    assert_eq!(theirs, missing, "another partner's consent answers like a missing one");
    let res = withdraw(&waiting, &write).await.unwrap();
    assert_eq!(res.status(), 204);
    assert!(res.bytes().await.unwrap().is_empty());
    let read: Value = crate::support::get_json(&consent_url(&waiting), &write).await;
    assert_eq!(read["status"], "revoked");
    let problem = assert_problem(withdraw(&waiting, &write).await.unwrap(), 409, "consent_state").await;
    assert_eq!(problem["consent_status"], "revoked");

    // Authorised and unused: withdrawn; the customer's token for it then pays nothing.
    let authorised = create("w-2").await;
    let customer_token = authorise_payment(&stack, &partner, &authorised, "13800000001").await;
    assert_eq!(withdraw(&authorised, &write).await.unwrap().status(), 204);
    let pay = json!({"consent_id": authorised, "instructed_amount": {"amount": "12.00", "currency": "CNY"}});
    let (status, problem) = signed(&stack.gw.url("/v1/payments"), &customer_token, "p-1", &pay).await;
    assert_eq!((status, problem["consent_status"].as_str()), (403, Some("revoked")), "{problem}");
    // The customer sees it revoked on their dashboard.
    let base = stack.gw.issuer();
    let customer = crate::support::customer::Customer::new(&base);
    let (_, login) = customer.get(&format!("{base}/customer/consents?lang=en")).await;
    let res = customer.login(&login, "13800000001", crate::support::customer::PASSWORD).await;
    assert_eq!(res.status(), 303);
    let (_, dashboard) = customer.get(&format!("{base}/customer/consents?lang=en")).await;
    let card = dashboard.split(&format!("id=\"{authorised}\">")).nth(1).unwrap_or_else(|| panic!("{dashboard}"));
    assert!(card.trim_start().starts_with("<p class=\"status status-revoked\">Revoked</p>"), "{card}");

    // Consumed by its payment: refused with the consent's state.
    let used = create("w-3").await;
    let customer_token = authorise_payment(&stack, &partner, &used, "13800000001").await;
    let pay = json!({"consent_id": used, "instructed_amount": {"amount": "12.00", "currency": "CNY"}});
    let (status, payment) = signed(&stack.gw.url("/v1/payments"), &customer_token, "p-2", &pay).await;
    assert_eq!((status, payment["status"].as_str()), (201, Some("completed")), "{payment}");
    let problem = assert_problem(withdraw(&used, &write).await.unwrap(), 409, "consent_state").await;
    assert_eq!(problem["consent_status"], "consumed");
    let read: Value = crate::support::get_json(&consent_url(&used), &write).await;
    assert_eq!(read["status"], "consumed");

    // Each withdrawal was announced like any other change of status.
    let events = client_token(&partner, "events:read").await;
    let page: Value = crate::support::get_json(&stack.gw.url("/v1/events?limit=50"), &events).await;
    let changes: Vec<(String, String)> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "consent.status_changed")
        .map(|e| {
            (e["data"]["consent_id"].as_str().unwrap().to_owned(), e["data"]["status"].as_str().unwrap().to_owned())
        })
        .collect();
    let of = |id: &str| changes.iter().filter(|(c, _)| c == id).map(|(_, s)| s.as_str()).collect::<Vec<_>>();
    assert_eq!(of(&waiting), ["revoked"]);
    assert_eq!(of(&authorised), ["authorised", "revoked"]);
    assert_eq!(of(&used), ["authorised", "consumed"]);
}
