//! The consents API from the partner's side: create, read, withdraw, and the refusals.

use serde_json::{Value, json};

use crate::support::{
    Stack, assert_problem,
    customer::{REDIRECT_URI, a2_partner_toml, redacted},
    http, without_request_id,
};

fn stack() -> Stack {
    Stack::start_with(|o| {
        o.partners.push(("a2one".into(), a2_partner_toml("ptn_a2one", REDIRECT_URI)));
        o.partners.push(("a2two".into(), a2_partner_toml("ptn_a2two", REDIRECT_URI)));
    })
}

async fn token(stack: &Stack, id: &str, scope: &str) -> String {
    let p = stack.gw.partner(id);
    let res = p.token_with(&p.assertion(), Some(scope)).await;
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
}

async fn create(stack: &Stack, token: &str, body: Value) -> reqwest::Response {
    http().post(stack.gw.url("/v1/consents")).bearer_auth(token).json(&body).send().await.unwrap()
}

fn basic() -> Value {
    json!({"permissions": ["ReadAccountsBasic", "ReadBalances"], "purpose": "Show balances on the trip page"})
}

#[tokio::test]
async fn a_consent_is_created_awaiting_the_customer_and_read_back() {
    let stack = stack();
    let t = token(&stack, "ptn_a2one", "consents:write").await;
    let res = create(&stack, &t, basic()).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let id = created["consent_id"].as_str().unwrap();
    assert!(id.starts_with("cns_"), "{created}");
    assert_eq!(created["status"], "awaiting_authorisation");
    assert_eq!(created["permissions"], json!(["ReadAccountsBasic", "ReadBalances"]));
    assert!(created["expiration"].as_str().unwrap().ends_with('Z'));
    assert!(
        created.get("accounts").is_none() && created.get("customer_id").is_none(),
        "nothing about the customer: {created}"
    );

    let read: Value = http()
        .get(stack.gw.url(&format!("/v1/consents/{id}")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read, created);
}

#[tokio::test]
async fn bad_requests_name_the_field() {
    let stack = stack();
    let t = token(&stack, "ptn_a2one", "consents:write").await;
    let cases = [
        (json!({"permissions": [], "purpose": "x"}), "permissions"),
        (json!({"permissions": ["ReadBalances", "ReadBalances"], "purpose": "x"}), "permissions"),
        (json!({"permissions": ["ReadBalances"], "purpose": "x", "expiration": "2099-01-01T00:00:00Z"}), "expiration"),
        (json!({"permissions": ["ReadBalances"], "purpose": "x", "expiration": "soon"}), "expiration"),
        (json!({"permissions": ["ReadBalances"], "purpose": "  "}), "purpose"),
        (
            json!({"permissions": ["ReadBalances"], "purpose": "x", "transaction_from": "2026-10-01T00:00:00Z", "transaction_to": "2026-09-01T00:00:00Z"}),
            "transaction_to",
        ),
    ];
    for (body, field) in cases {
        let problem = assert_problem(create(&stack, &t, body.clone()).await, 400, "invalid_request").await;
        assert_eq!(problem["errors"][0]["field"], field, "{body} → {problem}");
    }
    // Unknown permissions and unknown fields are refused by the parser, with its reason.
    for body in [
        json!({"permissions": ["ReadEverything"], "purpose": "x"}),
        json!({"permissions": ["ReadBalances"], "purpose": "x", "extra": 1}),
    ] {
        assert_problem(create(&stack, &t, body).await, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn another_partners_consent_is_indistinguishable_from_a_missing_one() {
    let stack = stack();
    let one = token(&stack, "ptn_a2one", "consents:write").await;
    let two = token(&stack, "ptn_a2two", "consents:write").await;
    let created: Value = create(&stack, &one, basic()).await.json().await.unwrap();
    let id = created["consent_id"].as_str().unwrap();

    let theirs = http().get(stack.gw.url(&format!("/v1/consents/{id}"))).bearer_auth(&two).send().await.unwrap();
    let theirs = without_request_id(assert_problem(theirs, 404, "not_found").await);
    let missing = http().get(stack.gw.url("/v1/consents/cns_doesnotexist")).bearer_auth(&two).send().await.unwrap();
    let missing = without_request_id(assert_problem(missing, 404, "not_found").await);
    assert_eq!(theirs, missing);
    let delete = http().delete(stack.gw.url(&format!("/v1/consents/{id}"))).bearer_auth(&two).send().await.unwrap();
    assert_eq!(without_request_id(assert_problem(delete, 404, "not_found").await), missing);
}

#[tokio::test]
async fn only_an_authorised_consent_can_be_withdrawn() {
    let stack = stack();
    let t = token(&stack, "ptn_a2one", "consents:write").await;
    let created: Value = create(&stack, &t, basic()).await.json().await.unwrap();
    let id = created["consent_id"].as_str().unwrap();
    let res = http().delete(stack.gw.url(&format!("/v1/consents/{id}"))).bearer_auth(&t).send().await.unwrap();
    let problem = assert_problem(res, 409, "consent_state").await;
    assert_eq!(problem["consent_status"], "awaiting_authorisation");
    insta::assert_json_snapshot!("consent_state", redacted(problem));
}

#[tokio::test]
async fn customer_data_needs_a2_and_a_consent_bound_token() {
    let stack = stack();
    // A1 partner: even with the scope in a crafted request, the level stops it.
    let a1 = stack.gw.partner("ptn_alpha");
    let res = a1.token_with(&a1.assertion(), Some("consents:write")).await;
    assert_problem(res, 400, "invalid_scope").await;

    // No client-credentials token carries accounts:read: there is no customer behind it.
    let a2 = stack.gw.partner("ptn_a2one");
    let res = a2.token_with(&a2.assertion(), Some("accounts:read")).await;
    let problem = assert_problem(res, 400, "invalid_scope").await;
    assert!(problem["detail"].as_str().unwrap().contains("customer"), "{problem}");
    // And a token without a consent reads nothing.
    let t = token(&stack, "ptn_a2one", "consents:write").await;
    for path in ["/v1/accounts", "/v1/accounts/acc_x/balances", "/v1/accounts/acc_x/transactions"] {
        let res = http().get(stack.gw.url(path)).bearer_auth(&t).send().await.unwrap();
        assert_problem(res, 403, "insufficient_scope").await;
    }
}
