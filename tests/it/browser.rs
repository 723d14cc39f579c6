//! One real browser: headless Chromium, driven over WebDriver (chromedriver + fantoccini),
//! clicks through the bank login and the consent page and lands on the partner's redirect
//! URI with `code`, `state` and `iss`. Checks what no HTTP-level test can: that the pages
//! work under their CSP, that the forms submit, and that the browser follows the 303.

use std::{
    net::TcpListener as StdListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{ClientBuilder, Locator};

use crate::support::{
    Stack,
    customer::{REDIRECT_URI, a2_partner_toml, core_url_of, create_payment_consent, latest_otp, pkce},
    payments::pay_partner_toml,
};

const CHROME_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
];

fn find_on_path(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| std::path::Path::new(d).join(name)).find(|p| p.is_file())
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serves the partner's redirect URI, so the browser has somewhere real to land.
async fn partner_site() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/cb", axum::routing::get(|| async { "partner callback" }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// chromedriver and a headless Chromium session; `None` (test skipped) without chromedriver
/// outside CI.
async fn chromium() -> Option<(Driver, fantoccini::Client, tempfile::TempDir)> {
    let Some(chromedriver) = find_on_path("chromedriver") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromedriver is missing on CI: apt-get install chromium chromium-driver"
        );
        // Straight to stderr: the test harness captures `eprintln!` of passing tests.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"\n*** SKIPPED (no chromedriver): apt-get install chromium chromium-driver ***\n\n",
        );
        return None;
    };
    let port = free_port();
    let driver = Driver(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let profile = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = CHROME_ARGS.iter().map(|a| (*a).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    let mut chrome = serde_json::json!({ "args": args });
    if let Some(binary) = find_on_path("chromium") {
        chrome["binary"] = serde_json::json!(binary);
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), chrome);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let browser = loop {
        match ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => break c,
            Err(e) if Instant::now() > deadline => panic!("no WebDriver session: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };

    Some((driver, browser, profile))
}

#[tokio::test]
async fn a_customer_logs_in_and_approves_in_headless_chromium() {
    let Some((_driver, browser, _profile)) = chromium().await else { return };
    let redirect_uri = partner_site().await;
    let stack = Stack::start_with(|o| o.partners = vec![("alpha".into(), a2_partner_toml("ptn_alpha", &redirect_uri))]);
    let alpha = stack.gw.partner("ptn_alpha");
    let consent_id = alpha.create_consent().await;
    let (verifier, challenge) = pkce();
    let res =
        alpha.par_with(&consent_id, &challenge, &[("redirect_uri", &redirect_uri), ("state", "browser-state")]).await;
    assert_eq!(res.status(), 201);
    let request_uri = res.json::<serde_json::Value>().await.unwrap()["request_uri"].as_str().unwrap().to_owned();

    let query =
        serde_urlencoded::to_string([("client_id", "ptn_alpha"), ("request_uri", request_uri.as_str())]).unwrap();
    browser.goto(&stack.gw.url(&format!("/oauth2/authorize?{query}"))).await.unwrap();
    browser.find(Locator::Id("login_id")).await.unwrap().send_keys("13800000001").await.unwrap();
    browser.find(Locator::Id("password")).await.unwrap().send_keys("Scenegate#2026").await.unwrap();
    browser.find(Locator::Id("login")).await.unwrap().click().await.unwrap();

    let account = browser.wait().for_element(Locator::Css("input[name=account]:not([disabled])")).await.unwrap();
    let title = browser.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    assert_eq!(title, "授权请求");
    account.click().await.unwrap();
    browser.find(Locator::Id("approve")).await.unwrap().click().await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    let landed = loop {
        let url = browser.current_url().await.unwrap();
        if url.as_str().starts_with(&redirect_uri) {
            break url;
        }
        assert!(Instant::now() < deadline, "the browser stayed at {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let params: std::collections::HashMap<_, _> = landed.query_pairs().into_owned().collect();
    assert_eq!(params.get("state").map(String::as_str), Some("browser-state"));
    assert_eq!(params.get("iss"), Some(&stack.gw.issuer()));
    let code = params.get("code").expect("code in the redirect");
    let body = browser.find(Locator::Css("body")).await.unwrap().text().await.unwrap();
    assert_eq!(body, "partner callback");
    browser.close().await.unwrap();

    // And the code is good at the token endpoint.
    let res = alpha.exchange_with(&alpha.assertion(), code, &redirect_uri, &verifier).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_customer_approves_a_payment_with_the_one_time_code_in_headless_chromium() {
    let Some((_driver, browser, _profile)) = chromium().await else { return };
    let redirect_uri = partner_site().await;
    let stack = Stack::start_with(|o| {
        let file = pay_partner_toml("ptn_alpha", "require_signatures = false").replace(REDIRECT_URI, &redirect_uri);
        o.partners = vec![("alpha".into(), file)];
    });
    let alpha = stack.gw.partner("ptn_alpha");
    let request = serde_json::json!({
        "type": "single",
        "instructed_amount": {"amount": "268.00", "currency": "CNY"},
        "creditor": {"merchant": "skytrip"},
        "remittance_reference": "订单 ST20261101-0042 机票",
        "scenario": {"code": "travel"}
    });
    let consent_id = create_payment_consent(&alpha, request).await;
    let (verifier, challenge) = pkce();
    let changes = [("redirect_uri", redirect_uri.as_str()), ("state", "pay-state"), ("scope", "payments:initiate")];
    let res = alpha.par_with(&consent_id, &challenge, &changes).await;
    assert_eq!(res.status(), 201);
    let request_uri = res.json::<serde_json::Value>().await.unwrap()["request_uri"].as_str().unwrap().to_owned();

    let query =
        serde_urlencoded::to_string([("client_id", "ptn_alpha"), ("request_uri", request_uri.as_str())]).unwrap();
    browser.goto(&stack.gw.url(&format!("/oauth2/authorize?{query}"))).await.unwrap();
    browser.find(Locator::Id("login_id")).await.unwrap().send_keys("13800000001").await.unwrap();
    browser.find(Locator::Id("password")).await.unwrap().send_keys("Scenegate#2026").await.unwrap();
    browser.find(Locator::Id("login")).await.unwrap().click().await.unwrap();

    let account = browser.wait().for_element(Locator::Css("input[type=radio][name=account]")).await.unwrap();
    assert_eq!(browser.find(Locator::Css("h1")).await.unwrap().text().await.unwrap(), "支付授权");
    let amount = browser.find(Locator::Id("amount")).await.unwrap().text().await.unwrap();
    assert_eq!(amount, "CNY 268.00");
    account.click().await.unwrap();
    browser.find(Locator::Id("approve")).await.unwrap().click().await.unwrap();

    let input = browser.wait().for_element(Locator::Id("otp")).await.unwrap();
    let mobile = browser.find(Locator::Id("mobile")).await.unwrap().text().await.unwrap();
    assert_eq!(mobile, "138****0001");
    let code = latest_otp(&core_url_of(stack.gw.dir.path()), "13800000001").await;
    input.send_keys(&code).await.unwrap();
    browser.find(Locator::Id("confirm")).await.unwrap().click().await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    let landed = loop {
        let url = browser.current_url().await.unwrap();
        if url.as_str().starts_with(&redirect_uri) {
            break url;
        }
        assert!(Instant::now() < deadline, "the browser stayed at {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!landed.as_str().contains(&code), "the one-time code never reaches the partner");
    let params: std::collections::HashMap<_, _> = landed.query_pairs().into_owned().collect();
    assert_eq!(params.get("state").map(String::as_str), Some("pay-state"));
    let auth_code = params.get("code").expect("code in the redirect");
    browser.close().await.unwrap();

    let res = alpha.exchange_with(&alpha.assertion(), auth_code, &redirect_uri, &verifier).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["scope"], "payments:initiate");
}
