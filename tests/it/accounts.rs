//! Account data over HTTP, under real consents given through the bank's pages: only the
//! chosen accounts, only the permitted fields, only the consented window, and nothing once
//! the consent ends.

use serde_json::{Value, json};

use crate::support::{
    Stack, assert_problem, core_mock,
    customer::{InProcess, a2_partners, authorise_consent, redacted, tokens},
    http, without_request_id,
};

fn a2_stack() -> Stack {
    Stack::start_with(|o| o.partners = a2_partners())
}

async fn get(base: &str, token: &str, path: &str) -> reqwest::Response {
    http().get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap()
}

async fn json_of(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// Consent with `request` for `login_id`, authorised on the bank's pages; the access token.
async fn token_for(
    stack_base: &str,
    partner: &crate::support::PartnerClient,
    login_id: &str,
    request: Value,
) -> (String, String) {
    let consent_id = partner.create_consent_with(request).await;
    let flow = authorise_consent(partner, stack_base, login_id, consent_id.clone()).await;
    let body = tokens(partner, &flow.code, &flow.verifier).await;
    (body["access_token"].as_str().unwrap().to_owned(), consent_id)
}

fn basic() -> Value {
    json!({
        "permissions": ["ReadAccountsBasic", "ReadTransactionsBasic"],
        "purpose": "Trip budget",
        "transaction_from": "2026-07-01T00:00:00Z",
        "transaction_to": "2026-08-31T23:59:59Z"
    })
}

#[tokio::test]
async fn basic_permissions_show_only_the_chosen_account_masked_within_the_window() {
    let stack = a2_stack();
    let base = stack.gw.issuer();
    let alpha = stack.gw.partner("ptn_alpha");
    let (token, _) = token_for(&base, &alpha, "13800000001", basic()).await;

    let list = json_of(get(&base, &token, "/v1/accounts").await).await;
    let accounts = list["data"].as_array().unwrap();
    assert_eq!(accounts.len(), 1, "only the account the customer ticked: {list}");
    let account = &accounts[0];
    assert_eq!(account["account_number"], "622202*********0018");
    assert_eq!(account["account_name"], "张*");
    assert!(account.get("opened_on").is_none(), "detail-only field present: {account}");
    let id = account["account_id"].as_str().unwrap();
    assert!(id.starts_with("acc_") && !id.contains("6222"), "{id}");
    assert_eq!(json_of(get(&base, &token, &format!("/v1/accounts/{id}")).await).await, *account);

    // No ReadBalances in this consent.
    assert_problem(get(&base, &token, &format!("/v1/accounts/{id}/balances")).await, 403, "consent_permission").await;

    // Transactions: inside the window whatever the query asks, and basic fields only.
    let mut seen = 0;
    let mut next = Some(format!("/v1/accounts/{id}/transactions?from=2026-01-01T00:00:00Z&limit=10"));
    while let Some(path) = next {
        let page = json_of(get(&base, &token, &path).await).await;
        for t in page["data"].as_array().unwrap() {
            let at = t["booked_at"].as_str().unwrap();
            assert!(
                ("2026-07-01T00:00:00Z"..="2026-08-31T23:59:59Z").contains(&at),
                "outside the consent's window: {t}"
            );
            assert!(t["amount"]["amount"].is_string());
            for hidden in ["description", "counterparty_name", "counterparty_account", "balance_after"] {
                assert!(t.get(hidden).is_none(), "{hidden} needs ReadTransactionsDetail: {t}");
            }
            seen += 1;
        }
        next = page["links"]["next"].as_str().map(str::to_owned);
    }
    assert!(seen > 0, "the seeded history has transactions in July and August");
}

#[tokio::test]
async fn detail_permissions_show_full_numbers_balances_and_descriptions() {
    let stack = a2_stack();
    let base = stack.gw.issuer();
    let alpha = stack.gw.partner("ptn_alpha");
    let request = json!({
        "permissions": ["ReadAccountsDetail", "ReadBalances", "ReadTransactionsDetail"],
        "purpose": "Full statement"
    });
    let (token, _) = token_for(&base, &alpha, "13800000001", request).await;
    let list = json_of(get(&base, &token, "/v1/accounts").await).await;
    let account = &list["data"][0];
    assert_eq!(account["account_number"], "6222020000000000018");
    assert_eq!(account["account_name"], "张三");
    assert!(account["opened_on"].as_str().is_some_and(|d| d.len() == 10), "{account}");
    let id = account["account_id"].as_str().unwrap();

    let balances = json_of(get(&base, &token, &format!("/v1/accounts/{id}/balances")).await).await;
    let booked = &balances["data"][0]["booked"];
    assert_eq!(booked["currency"], "CNY");
    assert!(booked["amount"].as_str().unwrap().split('.').nth(1).is_some_and(|d| d.len() == 2), "{balances}");

    let page = json_of(get(&base, &token, &format!("/v1/accounts/{id}/transactions?limit=5")).await).await;
    let t = &page["data"][0];
    assert!(t["description"].is_string() && t["balance_after"]["amount"].is_string(), "{t}");

    // Newest first by default; order=asc from the oldest; each page in its order.
    let times = |page: &serde_json::Value| -> Vec<String> {
        page["data"].as_array().unwrap().iter().map(|t| t["booked_at"].as_str().unwrap().to_owned()).collect()
    };
    let newest = times(&page);
    assert!(newest.windows(2).all(|w| w[0] >= w[1]), "{newest:?}");
    let path = format!("/v1/accounts/{id}/transactions?limit=5&order=asc");
    let oldest = json_of(get(&base, &token, &path).await).await;
    let oldest_times = times(&oldest);
    assert!(oldest_times.windows(2).all(|w| w[0] <= w[1]), "{oldest_times:?}");
    assert!(oldest_times[0] < newest[0]);
    let next = oldest["links"]["next"].as_str().unwrap();
    assert!(next.contains("order=asc"), "the next link keeps the order: {next}");
    let ids = |page: &serde_json::Value| -> Vec<String> {
        page["data"].as_array().unwrap().iter().map(|t| t["transaction_id"].as_str().unwrap().to_owned()).collect()
    };
    assert!(ids(&page).iter().all(|id| id.starts_with("txn_") && id.len() == 24), "pseudonyms, not sequence numbers");
    let bad = get(&base, &token, &format!("/v1/accounts/{id}/transactions?order=sideways")).await;
    assert_eq!(assert_problem(bad, 400, "invalid_request").await["errors"][0]["field"], "order");
}

#[tokio::test]
async fn another_customers_account_answers_like_a_missing_one() {
    let stack = a2_stack();
    let base = stack.gw.issuer();
    let alpha = stack.gw.partner("ptn_alpha");
    let (x_token, _) = token_for(&base, &alpha, "13800000001", basic()).await;
    let (y_token, _) = token_for(&base, &alpha, "13800000002", basic()).await;
    let x_account =
        json_of(get(&base, &x_token, "/v1/accounts").await).await["data"][0]["account_id"].as_str().unwrap().to_owned();

    let through_y =
        assert_problem(get(&base, &y_token, &format!("/v1/accounts/{x_account}")).await, 404, "not_found").await;
    let missing =
        assert_problem(get(&base, &y_token, "/v1/accounts/acc_doesnotexist0000000").await, 404, "not_found").await;
    assert_eq!(without_request_id(through_y), without_request_id(missing));
    assert_problem(get(&base, &y_token, &format!("/v1/accounts/{x_account}/transactions")).await, 404, "not_found")
        .await;

    // The same account has another id for another partner.
    let beta = stack.gw.partner("ptn_beta");
    let (b_token, _) = token_for(&base, &beta, "13800000001", basic()).await;
    let b_account =
        json_of(get(&base, &b_token, "/v1/accounts").await).await["data"][0]["account_id"].as_str().unwrap().to_owned();
    assert_ne!(b_account, x_account);
    assert_problem(get(&base, &b_token, &format!("/v1/accounts/{x_account}")).await, 404, "not_found").await;
}

#[tokio::test]
async fn the_partners_withdrawal_bites_on_the_next_call() {
    let stack = a2_stack();
    let base = stack.gw.issuer();
    let alpha = stack.gw.partner("ptn_alpha");
    let (token, consent_id) = token_for(&base, &alpha, "13800000003", basic()).await;
    assert_eq!(get(&base, &token, "/v1/accounts").await.status(), 200);

    let manage = alpha.consents_token().await;
    let res = http().delete(format!("{base}/v1/consents/{consent_id}")).bearer_auth(&manage).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let body = assert_problem(get(&base, &token, "/v1/accounts").await, 403, "consent_inactive").await;
    insta::assert_json_snapshot!("withdrawn_consent", redacted(body));

    let read = alpha.read_consent(&consent_id).await;
    assert_eq!(read["status"], "revoked");
}

#[tokio::test]
async fn an_authorised_consent_expires_by_the_clock() {
    let core_dir = tempfile::tempdir().unwrap();
    let core = core_mock(core_dir.path());
    let gw = InProcess::start(&core.url).await;
    let alpha = gw.partner("ptn_alpha");
    let expiration = jiff::Timestamp::from_second(scenegate::auth::Clock::now(&*gw.clock) + 120).unwrap().to_string();
    let consent_id = alpha
        .create_consent_with(
            json!({"permissions": ["ReadAccountsBasic"], "purpose": "Two minutes", "expiration": expiration}),
        )
        .await;
    let flow = authorise_consent(&alpha, &gw.url, "13800000001", consent_id).await;
    let body = tokens(&alpha, &flow.code, &flow.verifier).await;
    assert!(body["expires_in"].as_i64().unwrap() <= 120, "the token never outlives the consent: {body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(get(&gw.url, &token, "/v1/accounts").await.status(), 200);

    // At the consent's expiration the token still verifies (clock skew allowance), so it is
    // the consent that refuses.
    gw.clock.advance(120);
    let body = assert_problem(get(&gw.url, &token, "/v1/accounts").await, 403, "consent_inactive").await;
    assert_eq!(body["consent_status"], "expired");
    let res = alpha.refresh_with(&gw.assertion(&alpha), &refresh).await;
    assert_problem(res, 400, "invalid_grant").await;
}
