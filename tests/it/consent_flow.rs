//! The customer authorisation flow end to end over HTTP: PAR → authorize → bank login →
//! consent page → approve → code → token → account data; and every way it must refuse.

use serde_json::Value;

use crate::support::{
    Stack, assert_problem, core_mock,
    customer::{
        Customer, InProcess, PASSWORD, Pushed, REDIRECT_URI, a2_partners, authorise, csrf, input_value,
        location_params, param, pkce, redacted, selectable_accounts, tokens,
    },
    http,
};

fn a2_stack() -> Stack {
    Stack::start_with(|o| o.partners = a2_partners())
}

async fn accounts_call(base: &str, token: &str) -> reqwest::Response {
    http().get(format!("{base}/v1/accounts")).bearer_auth(token).send().await.unwrap()
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn the_full_redirect_flow_ends_in_account_data() {
    let stack = a2_stack();
    let base = stack.gw.issuer();
    let alpha = stack.gw.partner("ptn_alpha");

    let meta: Value =
        http().get(stack.gw.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["pushed_authorization_request_endpoint"], format!("{base}/oauth2/par"));
    assert_eq!(meta["authorization_endpoint"], format!("{base}/oauth2/authorize"));
    assert_eq!(meta["require_pushed_authorization_requests"], true);
    assert_eq!(meta["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(meta["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        meta["grant_types_supported"],
        serde_json::json!(["client_credentials", "authorization_code", "refresh_token"])
    );

    let consent_id = alpha.create_consent().await;
    let (verifier, challenge) = pkce();
    let request_uri = alpha.par(&consent_id, &challenge).await;
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));

    // The browser: login page first, with the page security headers.
    let customer = Customer::new(&base);
    let res = customer.browser.get(customer.authorize_url("ptn_alpha", &request_uri)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "content-security-policy"),
        "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(header(&res, "x-frame-options"), "DENY");
    assert_eq!(header(&res, "referrer-policy"), "no-referrer");
    assert_eq!(header(&res, "cache-control"), "no-store");
    assert!(header(&res, "content-type").starts_with("text/html"));
    let cookie = header(&res, "set-cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
    let login = res.text().await.unwrap();
    assert!(login.contains("手机号或客户号") && login.contains("密码") && login.contains("登录"), "{login}");

    let res = customer.login(&login, "13800000001", PASSWORD).await;
    assert_eq!(res.status(), 303);
    let session_cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("sg_session="))
        .expect("session cookie");
    assert!(session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"), "{session_cookie}");
    let next = header(&res, "location");
    assert!(next.starts_with("/oauth2/authorize?"), "{next}");

    let (status, page) = customer.get(&format!("{base}{next}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Test ptn_alpha"), "partner display name");
    assert!(page.contains("旅行预算：查看余额与消费"), "purpose");
    assert!(page.contains("同意授权以下权限") && page.contains("查看账户余额") && page.contains("有效期至"));
    assert!(page.contains("2026-01-01"), "transaction window");
    assert!(page.contains("选择账户") && page.contains("授权") && page.contains("拒绝"));
    assert!(page.contains("622202*********"), "masked account numbers:\n{page}");
    assert!(page.contains("lang=en"), "a link to English");
    let (_, english) = customer.get(&format!("{base}{}", next.replace("lang=zh-CN", "lang=en"))).await;
    assert!(english.contains("Grant the following permissions") && english.contains("See your balances"), "{english}");

    let accounts = selectable_accounts(&page);
    assert_eq!(accounts.len(), 2, "C0001 has two usable accounts");
    let res = customer.decide(&page, "approve", &accounts).await;
    assert_eq!(res.status(), 303);
    let (to, params) = location_params(&res);
    assert_eq!(to, REDIRECT_URI);
    assert_eq!(param(&params, "state"), Some("st-123"));
    assert_eq!(param(&params, "iss"), Some(base.as_str()));
    let code = param(&params, "code").unwrap();
    assert!(code.len() >= 43, "256-bit code");

    let body = tokens(&alpha, code, &verifier).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "accounts:read");
    assert!(body["refresh_token"].as_str().is_some_and(|t| t.len() >= 43));
    let token = body["access_token"].as_str().unwrap();

    // The request was used up by the decision.
    let (status, _) = customer.get(&customer.authorize_url("ptn_alpha", &request_uri)).await;
    assert_eq!(status, 400);

    // Needs src/accounts (built in parallel).
    let res = accounts_call(&base, token).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

#[tokio::test]
async fn a_pkce_mismatch_is_invalid_grant() {
    let stack = a2_stack();
    let alpha = stack.gw.partner("ptn_alpha");
    let flow = authorise(&alpha, &stack.gw.issuer(), "C0002").await;
    let (wrong, _) = pkce();
    let body = assert_problem(alpha.exchange(&flow.code, &wrong).await, 400, "invalid_grant").await;
    assert_eq!(body["error"], "invalid_grant");
    insta::assert_json_snapshot!("pkce_mismatch", redacted(body));
}

#[tokio::test]
async fn a_reused_code_fails_and_revokes_what_it_issued() {
    let stack = a2_stack();
    let base = stack.gw.issuer();
    let alpha = stack.gw.partner("ptn_alpha");
    let flow = authorise(&alpha, &base, "C0003").await;
    let first = tokens(&alpha, &flow.code, &flow.verifier).await;
    let access = first["access_token"].as_str().unwrap();
    let refresh = first["refresh_token"].as_str().unwrap();
    assert_ne!(accounts_call(&base, access).await.status(), 401, "the token works before the replay");

    let body = assert_problem(alpha.exchange(&flow.code, &flow.verifier).await, 400, "invalid_grant").await;
    insta::assert_json_snapshot!("code_reused", redacted(body));

    let res = accounts_call(&base, access).await;
    let body = assert_problem(res, 401, "invalid_token").await;
    assert_eq!(body["detail"], "the access token has been revoked");
    assert_problem(alpha.refresh(refresh).await, 400, "invalid_grant").await;
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let core_dir = tempfile::tempdir().unwrap();
    let core = core_mock(core_dir.path());
    let gw = InProcess::start(&core.url).await;
    let alpha = gw.partner("ptn_alpha");
    let flow = authorise(&alpha, &gw.url, "C0002").await;
    gw.clock.advance(61);
    let assertion = gw.assertion(&alpha);
    let res = alpha.exchange_with(&assertion, &flow.code, REDIRECT_URI, &flow.verifier).await;
    let body = assert_problem(res, 400, "invalid_grant").await;
    assert_eq!(body["error_description"], "the authorization code has expired");
}

#[tokio::test]
async fn another_client_cannot_exchange_the_code() {
    let stack = a2_stack();
    let alpha = stack.gw.partner("ptn_alpha");
    let beta = stack.gw.partner("ptn_beta");
    let flow = authorise(&alpha, &stack.gw.issuer(), "C0001").await;
    let body = assert_problem(beta.exchange(&flow.code, &flow.verifier).await, 400, "invalid_grant").await;
    insta::assert_json_snapshot!("code_of_another_client", redacted(body));
    // The rightful client still can: a stranger's attempt does not burn the code.
    tokens(&alpha, &flow.code, &flow.verifier).await;
}

#[tokio::test]
async fn par_refuses_an_unregistered_redirect_uri() {
    let stack = a2_stack();
    let alpha = stack.gw.partner("ptn_alpha");
    let consent = alpha.create_consent().await;
    let (_, challenge) = pkce();
    let res = alpha.par_with(&consent, &challenge, &[("redirect_uri", "https://evil.example/cb")]).await;
    let body = assert_problem(res, 400, "invalid_request").await;
    assert_eq!(body["error"], "invalid_request");
    insta::assert_json_snapshot!("par_unregistered_redirect", redacted(body));
}

#[tokio::test]
async fn par_refuses_plain_pkce_missing_state_and_other_scopes() {
    let stack = a2_stack();
    let alpha = stack.gw.partner("ptn_alpha");
    let consent = alpha.create_consent().await;
    let (verifier, challenge) = pkce();
    let res = alpha.par_with(&consent, &verifier, &[("code_challenge_method", "plain")]).await;
    insta::assert_json_snapshot!("par_plain_pkce", redacted(assert_problem(res, 400, "invalid_request").await));
    let res = alpha.par_with(&consent, &challenge, &[("code_challenge_method", "")]).await;
    assert_problem(res, 400, "invalid_request").await;
    let res = alpha.par_with(&consent, &challenge, &[("state", "")]).await;
    assert_problem(res, 400, "invalid_request").await;
    let res = alpha.par_with(&consent, &challenge, &[("state", &"s".repeat(513))]).await;
    assert_problem(res, 400, "invalid_request").await;
    let res = alpha.par_with(&consent, &challenge, &[("scope", "products:read")]).await;
    assert_problem(res, 400, "invalid_scope").await;
    let res = alpha.par_with(&consent, &challenge, &[("response_type", "token")]).await;
    assert_problem(res, 400, "unsupported_response_type").await;
    let res = alpha.par_with(&consent, &challenge, &[("client_assertion", "not-a-jwt")]).await;
    assert_problem(res, 401, "invalid_client").await;
}

#[tokio::test]
async fn a_bad_request_uri_shows_an_error_page_and_never_redirects() {
    let stack = a2_stack();
    let alpha = stack.gw.partner("ptn_alpha");
    let customer = Customer::new(&stack.gw.issuer());
    let consent = alpha.create_consent().await;
    let (_, challenge) = pkce();
    let request_uri = alpha.par(&consent, &challenge).await;
    for url in [
        customer.authorize_url("ptn_alpha", "urn:ietf:params:oauth:request_uri:made-up"),
        customer.authorize_url("ptn_beta", &request_uri),
        format!("{}/oauth2/authorize?client_id=ptn_alpha&redirect_uri=https://evil.example/cb", stack.gw.issuer()),
    ] {
        let res = customer.browser.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 400, "{url}");
        assert!(res.headers().get("location").is_none(), "never a redirect");
        assert!(header(&res, "content-type").starts_with("text/html"));
        assert_eq!(header(&res, "x-frame-options"), "DENY");
        let page = res.text().await.unwrap();
        assert!(page.contains("授权请求无效") && !page.contains("evil.example"), "{page}");
    }
}

#[tokio::test]
async fn a_forged_csrf_token_is_refused_and_changes_nothing() {
    let stack = a2_stack();
    let base = stack.gw.issuer();
    let alpha = stack.gw.partner("ptn_alpha");
    let Pushed { consent_id, request_uri, .. } = alpha.push(alpha.create_consent().await).await;
    let customer = Customer::new(&base);
    let page = customer.consent_page(&customer.authorize_url("ptn_alpha", &request_uri), "C0001").await;
    let forged = page.replace(&csrf(&page), "forged-token-forged-token-forged-token-0000");
    let res = customer.decide(&forged, "approve", &selectable_accounts(&page)).await;
    assert_eq!(res.status(), 403);
    assert!(res.headers().get("location").is_none());
    assert!(res.text().await.unwrap().contains("无法验证"));
    // Nothing changed: the consent still awaits the customer and the request still works.
    let consent = alpha.read_consent(&consent_id).await;
    assert_eq!(consent["status"], "awaiting_authorisation");
    assert_eq!(customer.decide(&page, "approve", &selectable_accounts(&page)).await.status(), 303);
}

#[tokio::test]
async fn a_missing_csrf_token_is_refused_on_every_form() {
    let stack = a2_stack();
    let base = stack.gw.issuer();
    let alpha = stack.gw.partner("ptn_alpha");
    let Pushed { consent_id, request_uri, .. } = alpha.push(alpha.create_consent().await).await;
    let customer = Customer::new(&base);

    // Login form without its token.
    let (_, login) = customer.get(&customer.authorize_url("ptn_alpha", &request_uri)).await;
    let return_to = input_value(&login, "return_to").unwrap();
    let res = customer
        .post("/customer/login", &[("return_to", &return_to), ("login_id", "C0001"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), 403);
    assert!(res.headers().get("set-cookie").is_none_or(|c| !c.to_str().unwrap().starts_with("sg_session=")));

    // Decision without its token.
    let page = customer.consent_page(&customer.authorize_url("ptn_alpha", &request_uri), "C0001").await;
    let accounts = selectable_accounts(&page);
    let res = customer
        .post(
            "/oauth2/authorize/decision",
            &[
                ("client_id", "ptn_alpha"),
                ("request_uri", &request_uri),
                ("decision", "approve"),
                ("account", &accounts[0]),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert!(res.headers().get("location").is_none());

    // Revocation without its token.
    let res = customer.post(&format!("/customer/consents/{consent_id}/revoke"), &[]).await;
    assert_eq!(res.status(), 403);
}

/// A stack and a customer at the bank's login page of a pushed request of `ptn_alpha`.
async fn at_the_login_page() -> (Stack, Customer, String) {
    let stack = a2_stack();
    let alpha = stack.gw.partner("ptn_alpha");
    let consent = alpha.create_consent().await;
    let (_, challenge) = pkce();
    let request_uri = alpha.par(&consent, &challenge).await;
    let customer = Customer::new(&stack.gw.issuer());
    let (_, page) = customer.get(&customer.authorize_url("ptn_alpha", &request_uri)).await;
    (stack, customer, page)
}

#[tokio::test]
async fn the_sixth_login_attempt_is_locked_even_with_the_right_password() {
    let (_stack, customer, mut page) = at_the_login_page().await;
    let alert = |page: &str| page.split("role=\"alert\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let mut messages = Vec::new();
    for attempt in 1..=5 {
        let res = customer.login(&page, "13800000002", "wrong-password").await;
        assert_eq!(res.status(), 401, "attempt {attempt}");
        page = res.text().await.unwrap();
        messages.push(alert(&page));
    }
    let res = customer.login(&page, "13899999999", "wrong-password").await;
    assert_eq!(res.status(), 401);
    page = res.text().await.unwrap();
    assert_eq!(alert(&page), messages[0], "an unknown login and a wrong password read alike");
    let res = customer.login(&page, "13800000002", PASSWORD).await;
    assert_eq!(res.status(), 429, "locked");
    let page = res.text().await.unwrap();
    assert!(page.contains("尝试次数过多"), "{page}");
    // Another login id from the same address is not locked yet (20 per address).
    let res = customer.login(&page, "13800000003", PASSWORD).await;
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn the_lock_is_the_customers_whichever_login_id_was_typed() {
    let (_stack, customer, mut page) = at_the_login_page().await;
    // Five wrong passwords spread over the customer's mobile number and customer number.
    for (attempt, login_id) in ["13800000002", "C0002", "13800000002", "C0002", "13800000002"].iter().enumerate() {
        let res = customer.login(&page, login_id, "wrong-password").await;
        assert_eq!(res.status(), 401, "attempt {attempt} with {login_id}");
        page = res.text().await.unwrap();
    }
    for login_id in ["13800000002", "C0002"] {
        let res = customer.login(&page, login_id, PASSWORD).await;
        assert_eq!(res.status(), 429, "the customer is locked, also as {login_id}");
        page = res.text().await.unwrap();
    }
    let res = customer.login(&page, "C0003", PASSWORD).await;
    assert_eq!(res.status(), 303, "another customer is not");
}

#[tokio::test]
async fn partner_b_cannot_push_a_request_for_partner_a_consent() {
    let stack = a2_stack();
    let alpha = stack.gw.partner("ptn_alpha");
    let beta = stack.gw.partner("ptn_beta");
    let consent = alpha.create_consent().await;
    let (_, challenge) = pkce();
    let body = assert_problem(beta.par_with(&consent, &challenge, &[]).await, 400, "invalid_request").await;
    insta::assert_json_snapshot!("par_consent_of_another_partner", redacted(body));
}

#[tokio::test]
async fn deny_sends_access_denied_back_to_the_partner() {
    let stack = a2_stack();
    let base = stack.gw.issuer();
    let alpha = stack.gw.partner("ptn_alpha");
    let Pushed { consent_id, request_uri, .. } = alpha.push(alpha.create_consent().await).await;
    let customer = Customer::new(&base);
    let page = customer.consent_page(&customer.authorize_url("ptn_alpha", &request_uri), "C0001").await;
    let res = customer.decide(&page, "deny", &[]).await;
    assert_eq!(res.status(), 303);
    let (to, params) = location_params(&res);
    assert_eq!(to, REDIRECT_URI);
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert_eq!(param(&params, "state"), Some("st-123"));
    assert_eq!(param(&params, "iss"), Some(base.as_str()));
    assert_eq!(param(&params, "code"), None);
    let consent = alpha.read_consent(&consent_id).await;
    assert_eq!(consent["status"], "rejected");
}

#[tokio::test]
async fn refresh_works_until_the_customer_revokes_on_the_dashboard_and_revocation_bites_at_once() {
    let stack = a2_stack();
    let base = stack.gw.issuer();
    let alpha = stack.gw.partner("ptn_alpha");
    let flow = authorise(&alpha, &base, "C0001").await;
    let first = tokens(&alpha, &flow.code, &flow.verifier).await;
    let refresh_token = first["refresh_token"].as_str().unwrap();

    let res = alpha.refresh(refresh_token).await;
    assert_eq!(res.status(), 200);
    let refreshed: Value = res.json().await.unwrap();
    assert_eq!(refreshed["refresh_token"], refresh_token, "not rotated");
    let access = refreshed["access_token"].as_str().unwrap().to_owned();
    assert_ne!(access, first["access_token"].as_str().unwrap());
    let before = accounts_call(&base, &access).await.status();
    assert!(before != 401 && before != 403, "the consent gate lets the call through: {before}");

    // The dashboard, in the same browser session.
    let (status, dashboard) = flow.customer.get(&format!("{base}/customer/consents")).await;
    assert_eq!(status, 200);
    assert!(
        dashboard.contains("我的授权") && dashboard.contains("Test ptn_alpha") && dashboard.contains("已授权"),
        "{dashboard}"
    );
    assert!(dashboard.contains("查看账户余额") && dashboard.contains("撤销"));
    let (_, english) = flow.customer.get(&format!("{base}/customer/consents?lang=en")).await;
    assert!(english.contains("My authorisations") && english.contains("Revoke"));

    let token = csrf(&dashboard);
    let res = flow.customer.post(&format!("/customer/consents/{}/revoke", flow.consent_id), &[("csrf", &token)]).await;
    assert_eq!(res.status(), 303);
    assert!(header(&res, "location").starts_with("/customer/consents"));

    // The partner's very next call is refused, and so is the refresh token.
    let body = assert_problem(accounts_call(&base, &access).await, 403, "consent_inactive").await;
    assert_eq!(body["consent_status"], "revoked");
    assert_problem(alpha.refresh(refresh_token).await, 400, "invalid_grant").await;
    let (_, dashboard) = flow.customer.get(&format!("{base}/customer/consents")).await;
    assert!(dashboard.contains("已撤销"));
}

#[tokio::test]
async fn the_dashboard_asks_for_login_first() {
    let stack = a2_stack();
    let customer = Customer::new(&stack.gw.issuer());
    let (status, page) = customer.get(&stack.gw.url("/customer/consents")).await;
    assert_eq!(status, 200);
    let res = customer.login(&page, "C0005", PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(header(&res, "location"), "/customer/consents?lang=zh-CN");
    let (status, page) = customer.get(&stack.gw.url("/customer/consents")).await;
    assert_eq!(status, 200);
    assert!(page.contains("您还没有向任何第三方授权"), "{page}");
    let res = http().get(stack.gw.url("/static/scenegate.css")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(header(&res, "content-type").starts_with("text/css"));
}

/// Two consents to one partner are told apart by purpose and accounts; the language chosen
/// stays; logging out ends the session on the server, not only in the browser.
#[tokio::test]
async fn the_dashboard_tells_consents_apart_keeps_the_language_and_logs_out() {
    let stack = a2_stack();
    let base = stack.gw.issuer();
    let alpha = stack.gw.partner("ptn_alpha");
    authorise(&alpha, &base, "C0001").await;
    // The customer's own browser session on the dashboard, its cookie kept for later.
    let customer = Customer::new(&base);
    let (_, login) = customer.get(&format!("{base}/customer/consents?lang=en")).await;
    let res = customer.login(&login, "C0001", PASSWORD).await;
    let cookie = header(&res, "set-cookie");
    let session = cookie.split(';').next().unwrap().to_owned();
    assert!(session.starts_with("sg_session="), "{cookie}");
    let (_, dashboard) = customer.get(&format!("{base}/customer/consents?lang=en")).await;
    assert!(dashboard.contains("旅行预算：查看余额与消费"), "the purpose is shown: {dashboard}");
    assert!(dashboard.contains("Accounts") && dashboard.contains("******"), "masked accounts: {dashboard}");
    assert!(dashboard.contains("name=\"lang\" value=\"en\""), "forms keep the language");

    // Without the CSRF token nothing happens.
    assert_eq!(customer.post("/customer/logout", &[("lang", "en")]).await.status(), 403);
    let res = customer.post("/customer/logout", &[("csrf", &csrf(&dashboard)), ("lang", "en")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(header(&res, "location"), "/customer/consents?lang=en");
    assert!(header(&res, "set-cookie").contains("Max-Age=0"), "the cookie is cleared");
    let (_, page) = customer.get(&format!("{base}/customer/consents?lang=en")).await;
    assert!(page.contains("name=\"password\""), "asks for a login again");
    // The old cookie (a second tab, a copied cookie) is dead on the server too.
    let replayed = http().get(format!("{base}/customer/consents")).header("cookie", &session).send().await.unwrap();
    assert!(replayed.text().await.unwrap().contains("name=\"password\""), "the session is gone server-side");
}

/// Sandbox partners can run the consent flow in their own CI: a pushed request authorised
/// for a configured test customer without a browser. Production partners cannot, nor can
/// anyone for a customer who is not a configured test customer.
#[tokio::test]
async fn a_sandbox_partner_authorises_headlessly_and_a_production_partner_cannot() {
    use crate::support::customer::{ASSERTION_TYPE, pkce, tokens};
    let stack = crate::support::Stack::start_with(|o| {
        o.partners = crate::support::customer::a2_partners();
        let production = crate::support::customer::a2_partner_toml("ptn_prod", "https://prod.example/cb")
            .replace("environment = \"sandbox\"", "environment = \"production\"");
        o.partners.push(("prod".into(), production));
        o.extra_toml = "[sandbox]\nheadless_customers = [\"C0001\"]\n".into();
    });
    let alpha = stack.gw.partner("ptn_alpha");
    let headless = |partner: &crate::support::PartnerClient, request_uri: String, customer: &'static str| {
        let form = vec![
            ("client_id".to_owned(), partner.id.clone()),
            ("client_assertion_type".to_owned(), ASSERTION_TYPE.to_owned()),
            ("client_assertion".to_owned(), partner.assertion()),
            ("request_uri".to_owned(), request_uri),
            ("customer".to_owned(), customer.to_owned()),
        ];
        let url = stack.gw.url("/oauth2/sandbox/authorize");
        async move { crate::support::http().post(url).form(&form).send().await.unwrap() }
    };

    let consent_id = alpha.create_consent().await;
    let (verifier, challenge) = pkce();
    let request_uri = alpha.par(&consent_id, &challenge).await;
    let refused = headless(&alpha, request_uri.clone(), "C0002").await;
    crate::support::assert_problem(refused, 400, "invalid_request").await;
    let res = headless(&alpha, request_uri.clone(), "C0001").await;
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    assert!(answer["redirect_to"].as_str().unwrap().starts_with(crate::support::customer::REDIRECT_URI));
    let body = tokens(&alpha, answer["code"].as_str().unwrap(), &verifier).await;
    let accounts: Value = crate::support::http()
        .get(stack.gw.url("/v1/accounts"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!accounts["data"].as_array().unwrap().is_empty(), "{accounts}");
    let reused = headless(&alpha, request_uri, "C0001").await;
    crate::support::assert_problem(reused, 400, "invalid_request").await;

    let prod = stack.gw.partner("ptn_prod");
    let consent_id = prod.create_consent().await;
    let (_, challenge) = pkce();
    let res = prod.par_with(&consent_id, &challenge, &[("redirect_uri", "https://prod.example/cb")]).await;
    let pushed: Value = res.json().await.unwrap();
    let res = headless(&prod, pushed["request_uri"].as_str().unwrap().to_owned(), "C0001").await;
    crate::support::assert_problem(res, 403, "unauthorized_client").await;
}
