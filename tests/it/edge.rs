//! The edge as an attacker meets it: slow and oversized header blocks on both listeners,
//! and operator surfaces kept off the partner port.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use scenegate_listener::tls::test_ca::TestCa;

use crate::support::{Stack, assert_problem, http};

/// Reads until the peer closes; what it sent, or `None` if it is still open after `within`.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut all = Vec::new();
    tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            all.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .ok()?;
    Some(all)
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://").trim_end_matches('/').to_owned()
}

#[tokio::test]
async fn an_unfinished_header_block_is_cut_off_and_an_oversized_one_gets_431() {
    let stack = Stack::start_with(|o| o.server_toml = "header_read_timeout_ms = 500\n".into());
    let addr = host_port(&stack.gw.proc.url);
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ").await.unwrap();
    slow.write_all(&vec![b'a'; 20 * 1024]).await.unwrap();
    assert!(until_closed(&mut slow, Duration::from_secs(5)).await.is_some(), "the slow client is disconnected");

    // Both listeners refuse header blocks over 32 KiB before anything reads them.
    for url in [stack.gw.proc.url.clone(), stack.core_url().to_owned()] {
        let mut big = TcpStream::connect(host_port(&url)).await.unwrap();
        let request = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(40 * 1024));
        let _ = big.write_all(request.as_bytes()).await;
        let answer = until_closed(&mut big, Duration::from_secs(5)).await.expect("answered and closed");
        assert!(answer.starts_with(b"HTTP/1.1 431"), "{url}: {}", String::from_utf8_lossy(&answer));
    }
    // The gateway still serves.
    assert_eq!(http().get(stack.gw.url("/healthz")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn metrics_are_served_only_on_the_operations_listener() {
    let stack = Stack::start();
    let on_partner_port = http().get(stack.gw.url("/metrics")).send().await.unwrap();
    assert_problem(on_partner_port, 404, "not_found").await;
    let metrics = http().get(stack.gw.ops_url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(text.contains("scenegate_http_connections_open"), "{text}");
    assert_eq!(http().get(stack.gw.ops_url("/readyz")).send().await.unwrap().status(), 200);
    assert_eq!(http().get(stack.gw.url("/readyz")).send().await.unwrap().status(), 200, "load balancers probe here");
}

#[tokio::test]
async fn the_gateway_serves_on_as_many_worker_threads_as_configured() {
    for threads in [1, 3] {
        let stack = Stack::start_with(|o| o.server_toml = format!("worker_threads = {threads}\n"));
        let metrics = http().get(stack.gw.ops_url("/metrics")).send().await.unwrap().text().await.unwrap();
        let workers = metrics.lines().find_map(|l| l.strip_prefix("scenegate_runtime_workers "));
        assert_eq!(workers, Some(threads.to_string().as_str()), "server.worker_threads = {threads}:\n{metrics}");
    }
}

#[tokio::test]
async fn json_operations_refuse_other_media_types_with_415_and_oauth_endpoints_refuse_non_forms() {
    let stack = Stack::start_with(|o| o.partners = crate::support::customer::a2_partners());
    let token = stack.gw.partner("ptn_alpha").consents_token().await;
    let body = r#"{"permissions": ["ReadAccountsBasic"], "purpose": "Show accounts"}"#;
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("application/xml"), None] {
        let mut req = http().post(stack.gw.url("/v1/consents")).bearer_auth(&token).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let problem = assert_problem(req.send().await.unwrap(), 415, "unsupported_media_type").await;
        assert!(problem["detail"].as_str().unwrap().contains("application/json"), "{content_type:?}: {problem}");
    }
    let json = http()
        .post(stack.gw.url("/v1/consents"))
        .bearer_auth(&token)
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 201);

    let partner = stack.gw.partner("ptn_alpha");
    let as_json = serde_json::json!({
        "grant_type": "client_credentials",
        "client_assertion_type": crate::support::customer::ASSERTION_TYPE,
        "client_assertion": partner.assertion(),
    });
    let res = http().post(stack.gw.token_endpoint()).json(&as_json).send().await.unwrap();
    let problem = assert_problem(res, 415, "unsupported_media_type").await;
    assert_eq!(problem["error"], "invalid_request");
}

#[tokio::test]
async fn the_partner_listener_terminates_tls_when_configured() {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gw.crt"), made.cert.pem()).unwrap();
    std::fs::write(dir.path().join("gw.key"), made.signing_key.serialize_pem()).unwrap();
    let tls = format!(
        "[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        dir.path().join("gw.crt").display(),
        dir.path().join("gw.key").display()
    );
    let stack = Stack::start_with(|o| o.server_toml = tls);
    assert!(stack.gw.proc.url.starts_with("https://"), "{}", stack.gw.proc.url);
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(made.cert.pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    let res = client.get(stack.gw.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // The issuer (and so the token audience) is the https address.
    let meta: serde_json::Value =
        client.get(stack.gw.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
    assert!(meta["issuer"].as_str().unwrap().starts_with("https://"), "{meta}");
    // Plain HTTP on the TLS port gets no answer it could mistake for one.
    let plain = stack.gw.proc.url.replace("https://", "http://");
    assert!(http().get(format!("{plain}/healthz")).send().await.is_err());
}

/// A gateway on TLS with `ptn_alpha` registered (`[mtls]`) to one client certificate; the
/// server's certificate, that client's identity and another client's.
struct Mtls {
    stack: Stack,
    server_cert: String,
    alpha: reqwest::Identity,
    stranger: reqwest::Identity,
    _dir: tempfile::TempDir,
}

fn identity(made: &rcgen::CertifiedKey<rcgen::KeyPair>) -> reqwest::Identity {
    reqwest::Identity::from_pem(format!("{}{}", made.cert.pem(), made.signing_key.serialize_pem()).as_bytes()).unwrap()
}

fn mtls_stack() -> Mtls {
    use base64::Engine as _;
    use sha2::Digest as _;
    let server = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let alpha = rcgen::generate_simple_self_signed(vec!["ptn-alpha".to_owned()]).unwrap();
    let stranger = rcgen::generate_simple_self_signed(vec!["ptn-alpha".to_owned()]).unwrap();
    let thumbprint = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(alpha.cert.der()));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gw.crt"), server.cert.pem()).unwrap();
    std::fs::write(dir.path().join("gw.key"), server.signing_key.serialize_pem()).unwrap();
    let tls = format!(
        "[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        dir.path().join("gw.crt").display(),
        dir.path().join("gw.key").display()
    );
    let mtls = format!("[mtls]\ncertificate_thumbprints = [\"{thumbprint}\"]\n");
    let stack = Stack::start_with(|o| {
        o.server_toml = tls;
        o.partners = vec![("alpha".into(), crate::support::partner_toml("ptn_alpha", "active", &mtls))];
    });
    Mtls { stack, server_cert: server.cert.pem(), alpha: identity(&alpha), stranger: identity(&stranger), _dir: dir }
}

impl Mtls {
    fn client(&self, identity: Option<&reqwest::Identity>) -> reqwest::Client {
        let mut b = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.server_cert.as_bytes()).unwrap()]);
        if let Some(id) = identity {
            b = b.identity(id.clone());
        }
        b.build().unwrap()
    }

    async fn token(&self, client: &reqwest::Client) -> reqwest::Response {
        let partner = self.stack.gw.partner("ptn_alpha");
        let form = [
            ("grant_type", "client_credentials".to_owned()),
            ("client_assertion_type", crate::support::customer::ASSERTION_TYPE.to_owned()),
            ("client_assertion", partner.assertion()),
            ("scope", "products:read".to_owned()),
        ];
        client.post(self.stack.gw.token_endpoint()).form(&form).send().await.unwrap()
    }
}

#[tokio::test]
async fn a_certificate_bound_token_works_only_over_its_certificate() {
    let m = mtls_stack();
    let (with_cert, anonymous, stranger) = (m.client(Some(&m.alpha)), m.client(None), m.client(Some(&m.stranger)));

    // The token endpoint wants the registered certificate.
    assert_problem(m.token(&anonymous).await, 401, "invalid_client").await;
    assert_problem(m.token(&stranger).await, 401, "invalid_client").await;
    let res = m.token(&with_cert).await;
    assert_eq!(res.status(), 200);
    let token = res.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    use base64::Engine as _;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["cnf"]["x5t#S256"].as_str().map(str::len), Some(43), "{claims}");

    let products = m.stack.gw.url("/v1/products?limit=1");
    assert_eq!(with_cert.get(&products).bearer_auth(&token).send().await.unwrap().status(), 200);
    // The same token from a connection without the certificate, or with another one.
    for (who, client) in [("no certificate", &anonymous), ("another certificate", &stranger)] {
        let res = client.get(&products).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), 401, "{who}");
        assert_problem(res, 401, "token_sender_mismatch").await;
    }
    let meta: serde_json::Value = anonymous
        .get(m.stack.gw.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["tls_client_certificate_bound_access_tokens"], true);
}

/// A client certificate for `CN=<cn>,O=Alpha Ltd` from `ca`, as a reqwest identity.
fn issued(ca: &TestCa, cn: &str) -> reqwest::Identity {
    let (cert, key) = ca.issue(cn, "Alpha Ltd", rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap()
}

#[tokio::test]
async fn a_certificate_issued_by_the_banks_ca_to_the_registered_subject_identifies_the_partner() {
    let server = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (ca, rogue_ca) = (TestCa::new("Bank Partner CA"), TestCa::new("Rogue CA"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gw.crt"), server.cert.pem()).unwrap();
    std::fs::write(dir.path().join("gw.key"), server.signing_key.serialize_pem()).unwrap();
    std::fs::write(dir.path().join("partner-ca.pem"), &ca.pem).unwrap();
    let tls = format!(
        "[server.tls]\ncert_file = \"{0}/gw.crt\"\nkey_file = \"{0}/gw.key\"\nclient_ca_file = \"{0}/partner-ca.pem\"\n",
        dir.path().display()
    );
    // Written differently from the certificate (case, spaces): compared as names, not strings.
    let mtls = "[mtls]\nsubject_dn = \"cn=alpha-client, o=ALPHA LTD\"\n";
    let stack = Stack::start_with(|o| {
        o.server_toml = tls;
        o.partners = vec![("alpha".into(), crate::support::partner_toml("ptn_alpha", "active", mtls))];
    });
    let m = Mtls {
        stack,
        server_cert: server.cert.pem(),
        alpha: issued(&ca, "alpha-client"),
        stranger: issued(&rogue_ca, "alpha-client"),
        _dir: dir,
    };

    let res = m.token(&m.client(Some(&m.alpha))).await;
    assert_eq!(res.status(), 200);
    let token = res.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let products = m.stack.gw.url("/v1/products?limit=1");
    assert_eq!(m.client(Some(&m.alpha)).get(&products).bearer_auth(&token).send().await.unwrap().status(), 200);

    // The right subject from a CA the bank does not trust, the trusted CA's certificate for
    // another subject, and no certificate: none is the partner's.
    let other_subject = issued(&ca, "mallory-client");
    for (what, identity) in
        [("a rogue CA", Some(&m.stranger)), ("another subject", Some(&other_subject)), ("none", None)]
    {
        let res = m.token(&m.client(identity)).await;
        assert_eq!(res.status(), 401, "{what}");
        assert_problem(res, 401, "invalid_client").await;
    }
    // The bound token is worthless over another certificate, even one from the same CA.
    let res = m.client(Some(&other_subject)).get(&products).bearer_auth(&token).send().await.unwrap();
    assert_problem(res, 401, "token_sender_mismatch").await;
}
