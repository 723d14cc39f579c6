//! The customer authorising a payment consent over HTTP: PAR with `payments:initiate` →
//! bank login → payment consent page (payee, amount or limits, debtor account) → approve →
//! one-time code from the core's SMS outbox → redirect with a code → a `payments:initiate`
//! token bound to the consent; and the ways it must refuse.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::support::{
    Stack, assert_problem,
    customer::{
        Customer, Pushed, REDIRECT_URI, account_pseudonym, alert, core_url_of, create_payment_consent, debtor_accounts,
        latest_otp, location_params, param, payments_partners, pkce, tokens,
    },
};

fn stack() -> Stack {
    Stack::start_with(|o| o.partners = payments_partners())
}

fn single_request() -> Value {
    json!({
        "type": "single",
        "instructed_amount": {"amount": "268.00", "currency": "CNY"},
        "creditor": {"merchant": "skytrip"},
        "remittance_reference": "订单 ST20261101-0042 机票",
        "scenario": {"code": "travel", "merchant_category_code": "4722"}
    })
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// PAR with `payments:initiate`, then login: the payment consent page.
async fn payment_page(stack: &Stack, consent_id: String, login_id: &str) -> (Pushed, Customer, String) {
    let alpha = stack.gw.partner("ptn_alpha");
    let (verifier, challenge) = pkce();
    let res = alpha.par_with(&consent_id, &challenge, &[("scope", "payments:initiate")]).await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    let request_uri = body["request_uri"].as_str().unwrap().to_owned();
    let customer = Customer::new(&stack.gw.issuer());
    let page = customer.consent_page(&customer.authorize_url("ptn_alpha", &request_uri), login_id).await;
    (Pushed { consent_id, verifier, request_uri }, customer, page)
}

/// Approves with `debtor` and follows to the one-time code page.
async fn otp_page(customer: &Customer, page: &str, debtor: &str) -> String {
    let res = customer.approve_payment(page, Some(debtor)).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let next = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(next.starts_with("/oauth2/authorize/otp"), "{next}");
    let (status, otp) = customer.get(&format!("{}{next}", customer.base)).await;
    assert_eq!(status, 200, "{otp}");
    otp
}

fn wrong(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

#[tokio::test]
async fn a_single_payment_is_authorised_with_the_one_time_code_and_gives_a_payments_initiate_token() {
    let stack = stack();
    let dir = stack.gw.dir.path();
    let core = core_url_of(dir);
    let alpha = stack.gw.partner("ptn_alpha");
    let consent_id = create_payment_consent(&alpha, single_request()).await;
    let (pushed, customer, page) = payment_page(&stack, consent_id.clone(), "13800000001").await;

    assert!(page.contains("支付授权") && page.contains("Test ptn_alpha"), "{page}");
    assert!(page.contains("上海天游旅行科技有限公司"), "payee");
    assert!(page.contains("CNY 268.00"), "amount");
    assert!(page.contains("订单 ST20261101-0042 机票") && page.contains("旅行预订"), "reference and scenario");
    assert!(page.contains("有效期至") && page.contains("选择付款账户"));
    let english = page_in_english(&customer, &pushed.request_uri).await;
    assert!(english.contains("Payment authorisation") && english.contains("Travel booking"), "{english}");
    let debtors = debtor_accounts(&page);
    assert_eq!(debtors.len(), 1, "C0001's one CNY account (not the USD one): {debtors:?}");
    assert!(!debtors[0].1, "nothing proposed, nothing preselected");

    // No account chosen: the page again; nothing sent.
    let res = customer.approve_payment(&page, None).await;
    assert_eq!(res.status(), 400);
    assert_eq!(alert(&res.text().await.unwrap()).as_deref(), Some("请选择一个付款账户。"));

    let otp = otp_page(&customer, &page, &debtors[0].0).await;
    assert!(otp.contains("138****0001"), "where the code went:\n{otp}");
    assert!(otp.contains("name=\"csrf\"") && otp.contains("name=\"otp\""));
    let code = latest_otp(&core, "13800000001").await;
    let sms = &crate::support::customer::sms_outbox(&core).await[0];
    assert!(sms["text"].as_str().unwrap().contains("Pay CNY 268.00 to 上海天游旅行科技有限公司"), "{sms}");

    // A wrong code once: the form again, then the right one works.
    let res = customer.submit_otp(&otp, &wrong(&code)).await;
    assert_eq!(res.status(), 400);
    let again = res.text().await.unwrap();
    assert_eq!(alert(&again).as_deref(), Some("验证码不正确，请重试。"));
    let res = customer.submit_otp(&again, &code).await;
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(!location.contains(&code), "the code never goes to the partner");
    let (to, params) = location_params(&res);
    assert_eq!(to, REDIRECT_URI);
    assert_eq!(param(&params, "state"), Some("st-123"));
    let auth_code = param(&params, "code").expect("code");

    let body = tokens(&alpha, auth_code, &pushed.verifier).await;
    assert_eq!(body["scope"], "payments:initiate");
    assert!(body.get("refresh_token").is_none(), "a single payment needs one token: {body}");
    let claims = claims(body["access_token"].as_str().unwrap());
    assert!(claims.to_string().contains(&consent_id), "bound to the consent: {claims}");

    // The pending authentication is over.
    let (status, _) = customer.get(&format!("{}/oauth2/authorize/otp", customer.base)).await;
    assert_eq!(status, 400);
    let log = stack.gw.log();
    assert!(log.contains("customer authorised a payment consent"), "{log}");
    assert!(!log.contains(&code) && !log.contains(&wrong(&code)), "a one-time code was logged:\n{log}");
}

async fn page_in_english(customer: &Customer, request_uri: &str) -> String {
    let url = customer.authorize_url("ptn_alpha", request_uri) + "&lang=en";
    let (status, page) = customer.get(&url).await;
    assert_eq!(status, 200, "{page}");
    page
}

#[tokio::test]
async fn five_wrong_codes_end_the_attempt_and_the_consent_stays_awaiting() {
    let stack = stack();
    let dir = stack.gw.dir.path();
    let core = core_url_of(dir);
    let alpha = stack.gw.partner("ptn_alpha");
    let consent_id = create_payment_consent(&alpha, single_request()).await;
    let (_, customer, page) = payment_page(&stack, consent_id.clone(), "13800000002").await;
    let debtor = debtor_accounts(&page)[0].0.clone();
    let mut otp = otp_page(&customer, &page, &debtor).await;
    let code = latest_otp(&core, "13800000002").await;
    for attempt in 1..=4 {
        let res = customer.submit_otp(&otp, &wrong(&code)).await;
        assert_eq!(res.status(), 400, "attempt {attempt}");
        otp = res.text().await.unwrap();
    }
    // A malformed code is not sent to the core at all.
    let res = customer.submit_otp(&otp, "12ab").await;
    assert_eq!(res.status(), 400);
    otp = res.text().await.unwrap();
    assert_eq!(alert(&otp).as_deref(), Some("请输入 6 位数字验证码。"));

    let res = customer.submit_otp(&otp, &wrong(&code)).await;
    assert_eq!(res.status(), 303, "the fifth wrong code ends it");
    let (to, params) = location_params(&res);
    assert_eq!(to, REDIRECT_URI);
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert!(param(&params, "error_description").is_some_and(|d| d.contains("too many")), "{params:?}");
    assert_eq!(param(&params, "code"), None);

    // Even the right code is too late now: the pending authentication is gone.
    let res = customer.submit_otp(&otp, &code).await;
    assert_eq!(res.status(), 400);
    // The consent was not rejected: the partner may start a new authorisation for it.
    let (_, challenge) = pkce();
    let res = alpha.par_with(&consent_id, &challenge, &[("scope", "payments:initiate")]).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    assert!(!stack.gw.log().contains(&code));
}

#[tokio::test]
async fn par_asks_the_scope_of_the_consent_kind() {
    let stack = stack();
    let alpha = stack.gw.partner("ptn_alpha");
    let payment = create_payment_consent(&alpha, single_request()).await;
    let account = alpha.create_consent().await;
    let (_, challenge) = pkce();
    let body = assert_problem(alpha.par_with(&payment, &challenge, &[]).await, 400, "invalid_scope").await;
    assert!(body["detail"].as_str().unwrap().contains("payments:initiate"), "{body}");
    let res = alpha.par_with(&account, &challenge, &[("scope", "payments:initiate")]).await;
    assert_problem(res, 400, "invalid_scope").await;
    // A partner without `payments:initiate` cannot ask for it.
    let beta = stack.gw.partner("ptn_beta");
    let theirs = beta.create_consent().await;
    let res = beta.par_with(&theirs, &challenge, &[("scope", "payments:initiate")]).await;
    assert_problem(res, 400, "invalid_scope").await;
}

#[tokio::test]
async fn a_recurring_consent_shows_its_limits_preselects_the_proposed_account_and_can_be_revoked() {
    let stack = stack();
    let dir = stack.gw.dir.path();
    let core = core_url_of(dir);
    let alpha = stack.gw.partner("ptn_alpha");
    // C0005 has two CNY accounts; the partner proposes the second.
    let probe = create_payment_consent(&alpha, single_request()).await;
    let (_, customer, page) = payment_page(&stack, probe, "13800000005").await;
    let debtors = debtor_accounts(&page);
    assert_eq!(debtors.len(), 2, "{debtors:?}");
    let proposed = account_pseudonym(dir, "ptn_alpha", &debtors[1].0);
    drop(customer);

    let request = json!({
        "type": "recurring",
        "currency": "CNY",
        "limits": {"per_payment": "200.00", "per_day": "400.00", "per_month": "2000.00"},
        "creditor": {"account_number": "6222020000000000109", "name": "城市停车管理有限公司"},
        "remittance_reference": "停车费自动扣款",
        "scenario": {"code": "parking"},
        "debtor_account_id": proposed,
        "expiration": jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(24 * 30)).unwrap().to_string(),
    });
    let consent_id = create_payment_consent(&alpha, request).await;
    let (pushed, customer, page) = payment_page(&stack, consent_id.clone(), "13800000005").await;
    assert!(page.contains("城市停车管理有限公司") && page.contains("****0109"), "payee and masked account");
    assert!(
        page.contains("CNY 200.00") && page.contains("CNY 400.00") && page.contains("CNY 2000.00"),
        "limits:\n{page}"
    );
    assert!(page.contains("停车缴费"));
    let debtors = debtor_accounts(&page);
    assert_eq!(debtors.iter().filter(|d| d.1).count(), 1, "{debtors:?}");
    assert!(debtors[1].1, "the proposed account is preselected: {debtors:?}");

    let otp = otp_page(&customer, &page, &debtors[1].0).await;
    let code = latest_otp(&core, "13800000005").await;
    let res = customer.submit_otp(&otp, &code).await;
    assert_eq!(res.status(), 303);
    let (_, params) = location_params(&res);
    let body = tokens(&alpha, param(&params, "code").unwrap(), &pushed.verifier).await;
    assert_eq!(body["scope"], "payments:initiate");
    let refresh = body["refresh_token"].as_str().expect("recurring consents get a refresh token").to_owned();
    let res = alpha.refresh(&refresh).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["scope"], "payments:initiate");

    // The dashboard lists it with payee and limits, revocable.
    let (status, dashboard) = customer.get(&format!("{}/customer/consents", customer.base)).await;
    assert_eq!(status, 200);
    assert!(dashboard.contains("城市停车管理有限公司") && dashboard.contains("CNY 200.00"), "{dashboard}");
    assert!(dashboard.contains(&format!("/customer/consents/{consent_id}/revoke")), "{dashboard}");
    let token = crate::support::customer::csrf(&dashboard);
    let res = customer.post(&format!("/customer/consents/{consent_id}/revoke"), &[("csrf", &token)]).await;
    assert_eq!(res.status(), 303);
    assert_problem(alpha.refresh(&refresh).await, 400, "invalid_grant").await;
}
