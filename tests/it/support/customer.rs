//! The customer authorisation flow from the outside: an A2 partner pushing requests and
//! exchanging codes, and a customer's browser (cookies kept, redirects not followed).

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{PartnerClient, fixtures, http};

pub const REDIRECT_URI: &str = "http://localhost:3000/cb";
pub const PASSWORD: &str = "Scenegate#2026";
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A partner registered at A2 for the customer flow, with `redirect_uri` registered.
pub fn a2_partner_toml(id: &str, redirect_uri: &str) -> String {
    let jwks = fixtures().join("keys/test-partner.jwks.json");
    format!(
        r#"id = "{id}"
display_name = "Test {id}"
status = "active"
environment = "sandbox"
security_level = "A2"
risk_assessment_ref = "RA-TEST-0001"
scopes = ["products:read", "consents:write", "accounts:read"]
redirect_uris = ["{redirect_uri}"]

[keys]
jwks_file = "{}"

[adapter]
name = "native"
"#,
        jwks.display()
    )
}

/// The two A2 test partners, `ptn_alpha` and `ptn_beta`.
pub fn a2_partners() -> Vec<(String, String)> {
    vec![
        ("alpha".into(), a2_partner_toml("ptn_alpha", REDIRECT_URI)),
        ("beta".into(), a2_partner_toml("ptn_beta", REDIRECT_URI)),
    ]
}

/// A customer's browser: keeps cookies, does not follow redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// HTML character references back to text (what a browser does before submitting).
pub fn unescape(s: &str) -> String {
    [("&#38;", "&"), ("&amp;", "&"), ("&#34;", "\""), ("&#39;", "'"), ("&#60;", "<"), ("&#62;", ">")]
        .iter()
        .fold(s.to_owned(), |acc, (from, to)| acc.replace(from, to))
}

/// The value of the first `<input name="{name}" value="…">` in a page, unescaped.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(unescape(&rest[..rest.find('"')?]))
}

/// The CSRF token of the page's form.
pub fn csrf(html: &str) -> String {
    input_value(html, "csrf").unwrap_or_else(|| panic!("no csrf field in:\n{html}"))
}

/// Selectable account checkboxes' values.
pub fn selectable_accounts(html: &str) -> Vec<String> {
    html.split("<input type=\"checkbox\" name=\"account\" value=\"")
        .skip(1)
        .filter(|rest| !rest[..rest.find('>').unwrap_or(0)].contains("disabled"))
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes().repeat(2));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The query parameters of a redirect's `Location`.
pub fn location_params(res: &reqwest::Response) -> (String, Vec<(String, String)>) {
    let location = res.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let url = url::Url::parse(&location).unwrap_or_else(|_| panic!("not an absolute URL: {location}"));
    let params = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let base = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    ) + url.path();
    (base, params)
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

impl PartnerClient {
    /// A token for the partner's own calls (consents).
    pub async fn consents_token(&self) -> String {
        let res = self.token_with(&self.assertion(), Some("consents:write")).await;
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
    }

    /// Creates a consent awaiting the customer; returns its id.
    pub async fn create_consent(&self) -> String {
        self.create_consent_with(json!({
            "permissions": ["ReadAccountsBasic", "ReadBalances", "ReadTransactionsBasic"],
            "purpose": "旅行预算：查看余额与消费",
            "transaction_from": "2026-01-01T00:00:00Z"
        }))
        .await
    }

    /// The consent as the partner reads it (`GET /v1/consents/{id}`).
    pub async fn read_consent(&self, consent_id: &str) -> Value {
        let token = self.consents_token().await;
        let res =
            http().get(format!("{}/v1/consents/{consent_id}", self.issuer)).bearer_auth(token).send().await.unwrap();
        res.json().await.unwrap()
    }

    /// Creates a consent from this request body; returns its id.
    pub async fn create_consent_with(&self, request: Value) -> String {
        let token = self.consents_token().await;
        let res =
            http().post(format!("{}/v1/consents", self.issuer)).bearer_auth(token).json(&request).send().await.unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        body["consent_id"].as_str().unwrap().to_owned()
    }

    /// POSTs a pushed authorisation request: the standard fields, with `changes` applied
    /// (an empty value removes the field).
    pub async fn par_with(&self, consent_id: &str, challenge: &str, changes: &[(&str, &str)]) -> reqwest::Response {
        let assertion = self.assertion();
        let mut form: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", &self.id),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "accounts:read"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("state", "st-123"),
            ("consent_id", consent_id),
        ];
        for (k, v) in changes {
            form.retain(|(name, _)| name != k);
            if !v.is_empty() {
                form.push((k, v));
            }
        }
        http().post(format!("{}/oauth2/par", self.issuer)).form(&form).send().await.unwrap()
    }

    /// A successful PAR; returns the `request_uri`.
    pub async fn par(&self, consent_id: &str, challenge: &str) -> String {
        let res = self.par_with(consent_id, challenge, &[]).await;
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["expires_in"], 590);
        body["request_uri"].as_str().unwrap().to_owned()
    }

    pub async fn exchange_with(
        &self,
        assertion: &str,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> reqwest::Response {
        let form = [
            ("grant_type", "authorization_code"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        http().post(&self.token_endpoint).form(&form).send().await.unwrap()
    }

    pub async fn exchange(&self, code: &str, verifier: &str) -> reqwest::Response {
        self.exchange_with(&self.assertion(), code, REDIRECT_URI, verifier).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.refresh_with(&self.assertion(), refresh_token).await
    }

    pub async fn refresh_with(&self, assertion: &str, refresh_token: &str) -> reqwest::Response {
        let form = [
            ("grant_type", "refresh_token"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
            ("refresh_token", refresh_token),
        ];
        http().post(&self.token_endpoint).form(&form).send().await.unwrap()
    }
}

/// The customer's side, over HTTP.
pub struct Customer {
    pub browser: reqwest::Client,
    pub base: String,
}

impl Customer {
    pub fn new(base: &str) -> Self {
        Self { browser: browser(), base: base.to_owned() }
    }

    pub fn authorize_url(&self, client_id: &str, request_uri: &str) -> String {
        let q = serde_urlencoded::to_string([("client_id", client_id), ("request_uri", request_uri)]).unwrap();
        format!("{}/oauth2/authorize?{q}", self.base)
    }

    pub async fn get(&self, url: &str) -> (u16, String) {
        let res = self.browser.get(url).send().await.unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.browser.post(format!("{}{path}", self.base)).form(form).send().await.unwrap()
    }

    /// Submits the login form on `login_page`; returns the response (303 on success).
    pub async fn login(&self, login_page: &str, login_id: &str, password: &str) -> reqwest::Response {
        let csrf = csrf(login_page);
        let return_to = input_value(login_page, "return_to").unwrap();
        let lang = input_value(login_page, "lang").unwrap();
        self.post(
            "/customer/login",
            &[
                ("csrf", &csrf),
                ("return_to", &return_to),
                ("lang", &lang),
                ("login_id", login_id),
                ("password", password),
            ],
        )
        .await
    }

    /// From the authorize URL to the consent page, logging in as `login_id`.
    pub async fn consent_page(&self, authorize_url: &str, login_id: &str) -> String {
        let (status, page) = self.get(authorize_url).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("name=\"password\""), "login page expected:\n{page}");
        let res = self.login(&page, login_id, PASSWORD).await;
        assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
        let next = res.headers()["location"].to_str().unwrap().to_owned();
        let (status, page) = self.get(&format!("{}{next}", self.base)).await;
        assert_eq!(status, 200, "{page}");
        page
    }

    /// Approves on `consent_page` with `accounts`; returns the 303 back to the partner.
    pub async fn decide(&self, consent_page: &str, decision: &str, accounts: &[String]) -> reqwest::Response {
        let csrf = csrf(consent_page);
        let client_id = input_value(consent_page, "client_id").unwrap();
        let request_uri = input_value(consent_page, "request_uri").unwrap();
        let mut form: Vec<(&str, &str)> =
            vec![("csrf", &csrf), ("client_id", &client_id), ("request_uri", &request_uri), ("decision", decision)];
        for a in accounts {
            form.push(("account", a));
        }
        self.post("/oauth2/authorize/decision", &form).await
    }
}

/// Everything up to the redirect with a code: consent, PAR, login, approval.
pub struct Authorised {
    pub consent_id: String,
    pub verifier: String,
    pub code: String,
    pub customer: Customer,
}

pub async fn authorise(partner: &PartnerClient, base: &str, login_id: &str) -> Authorised {
    let consent_id = partner.create_consent().await;
    authorise_consent(partner, base, login_id, consent_id).await
}

/// A consent pushed for authorisation (PAR), with the PKCE verifier the partner keeps.
pub struct Pushed {
    pub consent_id: String,
    pub verifier: String,
    pub request_uri: String,
}

impl PartnerClient {
    /// Pushes an authorisation request for `consent_id` with a fresh PKCE pair.
    pub async fn push(&self, consent_id: String) -> Pushed {
        let (verifier, challenge) = pkce();
        let request_uri = self.par(&consent_id, &challenge).await;
        Pushed { consent_id, verifier, request_uri }
    }
}

/// The customer `login_id` approves `consent_id`, choosing their first usable account.
pub async fn authorise_consent(partner: &PartnerClient, base: &str, login_id: &str, consent_id: String) -> Authorised {
    let Pushed { consent_id, verifier, request_uri } = partner.push(consent_id).await;
    let customer = Customer::new(base);
    let page = customer.consent_page(&customer.authorize_url(&partner.id, &request_uri), login_id).await;
    let accounts = selectable_accounts(&page);
    let res = customer.decide(&page, "approve", &accounts[..1]).await;
    assert_eq!(res.status(), 303);
    let (to, params) = location_params(&res);
    assert_eq!(to, REDIRECT_URI);
    let code = param(&params, "code").expect("code").to_owned();
    Authorised { consent_id, verifier, code, customer }
}

/// A successful code exchange's body.
pub async fn tokens(partner: &PartnerClient, code: &str, verifier: &str) -> Value {
    let res = partner.exchange(code, verifier).await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// The problem body with its request id replaced, for snapshots.
pub fn redacted(mut body: Value) -> Value {
    body["request_id"] = json!("[request_id]");
    body
}

/// A gateway built in this process with the test's clock (to move time without sleeping),
/// served over HTTP on port 0.
pub struct InProcess {
    pub url: String,
    pub clock: std::sync::Arc<scenegate::auth::ManualClock>,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl InProcess {
    pub async fn start(core_url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("partners")).unwrap();
        for (stem, body) in a2_partners() {
            std::fs::write(dir.path().join(format!("partners/{stem}.toml")), body).unwrap();
        }
        let config = dir.path().join("gateway.toml");
        std::fs::write(
            &config,
            format!(
                "[core]\nbase_url = \"{core_url}\"\n[storage]\ndata_dir = \"data\"\n[partners]\ndir = \"partners\"\n"
            ),
        )
        .unwrap();
        let cfg = scenegate::bootstrap::load_config(&config).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let clock = std::sync::Arc::new(scenegate::auth::ManualClock::at(super::partner::now()));
        let running = scenegate::bootstrap::build(&cfg, addr, false, Some(clock.clone())).await.unwrap();
        let router = scenegate::app::router(running.state.clone());
        let task = tokio::spawn(async move {
            let _keep = running;
            let limits = scenegate_listener::Limits::default();
            let _ = scenegate::app::serve("gateway", listener, router, limits, None, std::future::pending()).await;
        });
        Self { url: format!("http://{addr}"), clock, _dir: dir, task }
    }

    /// A partner client whose assertions are dated by the gateway's clock.
    pub fn partner(&self, id: &str) -> PartnerClient {
        PartnerClient::new(id, &format!("{}/oauth2/token", self.url), &self.url)
    }

    /// A fresh assertion dated by the gateway's (moved) clock.
    pub fn assertion(&self, partner: &PartnerClient) -> String {
        use scenegate::auth::Clock;
        let mut claims = partner.claims();
        let now = self.clock.now();
        claims["iat"] = json!(now);
        claims["exp"] = json!(now + 60);
        partner.sign(jsonwebtoken::Algorithm::ES256, "test-es256", &claims)
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `ptn_alpha` takes payments; `ptn_beta` is an account-only A2 partner.
pub fn payments_partners() -> Vec<(String, String)> {
    vec![
        ("alpha".into(), super::payments::pay_partner_toml("ptn_alpha", "require_signatures = false")),
        ("beta".into(), a2_partner_toml("ptn_beta", REDIRECT_URI)),
    ]
}

/// The debtor radio buttons of a payment consent page: (account number, preselected).
pub fn debtor_accounts(html: &str) -> Vec<(String, bool)> {
    html.split("<input type=\"radio\" name=\"account\" value=\"")
        .skip(1)
        .map(|rest| {
            let value = rest[..rest.find('"').unwrap()].to_owned();
            let tag = &rest[..rest.find('>').unwrap_or(0)];
            (value, tag.contains("checked"))
        })
        .collect()
}

/// The text of the page's alert, if any.
pub fn alert(html: &str) -> Option<String> {
    Some(html.split("role=\"alert\">").nth(1)?.split('<').next()?.to_owned())
}

/// The core mock's SMS outbox (`GET /core/sms-outbox.json`), newest first.
pub async fn sms_outbox(core_url: &str) -> Vec<Value> {
    let body: Value =
        http().get(format!("{core_url}/core/sms-outbox.json")).send().await.unwrap().json().await.unwrap();
    let items = body["data"]["items"].as_array().or_else(|| body["items"].as_array());
    items.cloned().unwrap_or_else(|| panic!("outbox: {body}"))
}

/// The newest one-time code the core sent to `mobile`: the six digits in its text.
pub async fn latest_otp(core_url: &str, mobile: &str) -> String {
    let items = sms_outbox(core_url).await;
    let sms = items.iter().find(|m| m["mobile"] == mobile).unwrap_or_else(|| panic!("no SMS to {mobile}: {items:?}"));
    let text = sms["text"].as_str().unwrap();
    let at = text.find("code is ").map(|i| i + 8).unwrap_or_else(|| panic!("no code in {text}"));
    let code = &text[at..at + 6];
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{text}");
    code.to_owned()
}

/// The core mock's URL of a stack, as its gateway was configured.
pub fn core_url_of(gateway_dir: &std::path::Path) -> String {
    let toml = std::fs::read_to_string(gateway_dir.join("gateway.toml")).unwrap();
    let line = toml.lines().find(|l| l.starts_with("base_url")).unwrap();
    line.split('"').nth(1).unwrap().to_owned()
}

impl Customer {
    /// Approves a payment consent page with `debtor`; returns the answer (303 to the code form).
    pub async fn approve_payment(&self, page: &str, debtor: Option<&str>) -> reqwest::Response {
        let csrf = csrf(page);
        let client_id = input_value(page, "client_id").unwrap();
        let request_uri = input_value(page, "request_uri").unwrap();
        let mut form: Vec<(&str, &str)> =
            vec![("csrf", &csrf), ("client_id", &client_id), ("request_uri", &request_uri), ("decision", "approve")];
        if let Some(d) = debtor {
            form.push(("account", d));
        }
        self.post("/oauth2/authorize/decision", &form).await
    }

    /// Submits `code` on the one-time code page `otp_page`.
    pub async fn submit_otp(&self, otp_page: &str, code: &str) -> reqwest::Response {
        let csrf = csrf(otp_page);
        let lang = input_value(otp_page, "lang").unwrap();
        self.post("/oauth2/authorize/otp", &[("csrf", &csrf), ("lang", &lang), ("otp", code)]).await
    }
}

/// Creates a payment consent of `partner` from a `POST /v1/payment-consents` body (the
/// partner's file waives signatures; `tests/it/payments.rs` covers signed calls); returns its id.
pub async fn create_payment_consent(partner: &PartnerClient, request: Value) -> String {
    let res = partner.token_with(&partner.assertion(), Some("payments:write")).await;
    let body: Value = res.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let res = http()
        .post(format!("{}/v1/payment-consents", partner.issuer))
        .bearer_auth(&token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&request)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["consent_id"].as_str().unwrap().to_owned()
}

/// The pseudonymous id `partner_id` knows `acct_no` by, from the running gateway's key.
pub fn account_pseudonym(gateway_dir: &std::path::Path, partner_id: &str, acct_no: &str) -> String {
    let key = gateway_dir.join("data/pseudonym.key");
    scenegate::accounts::Pseudonyms::load_or_create(&key).unwrap().account_id(partner_id, acct_no).as_str().to_owned()
}
