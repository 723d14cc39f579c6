//! TLS termination against a real server on an ephemeral port: certificates made at run
//! time (never committed), a client certificate handed to the application, the server's
//! certificate replaced on disk and served to the next connection without a restart.

use std::{sync::Arc, time::Duration};

use axum::{Extension, Router, routing::get};
use scenegate_listener::{
    Limits, Stats, serve,
    tls::{Certificates, ClientCertificate, TlsFiles, test_ca::TestCa},
};

/// A self-signed certificate for `localhost` (or a client name) with its key, as PEM.
fn pair(name: &str) -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    (made.cert.pem(), made.signing_key.serialize_pem())
}

async fn start(dir: &std::path::Path, server: &(String, String)) -> (String, Arc<Certificates>) {
    start_trusting(dir, server, None).await
}

/// A server that also trusts `client_ca` (PEM) to issue client certificates.
async fn start_trusting(
    dir: &std::path::Path,
    server: &(String, String),
    client_ca: Option<&str>,
) -> (String, Arc<Certificates>) {
    let client_ca_file = client_ca.map(|pem| {
        std::fs::write(dir.join("clients-ca.pem"), pem).unwrap();
        dir.join("clients-ca.pem")
    });
    let files = TlsFiles { cert_file: dir.join("server.crt"), key_file: dir.join("server.key"), client_ca_file };
    std::fs::write(&files.cert_file, &server.0).unwrap();
    std::fs::write(&files.key_file, &server.1).unwrap();
    let certs = Certificates::load(files).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Says which client certificate the connection presented, by its x5t#S256, and the
    // subject a trusted CA issued it to.
    let app = Router::new()
        .route(
            "/whoami",
            get(|cert: Option<Extension<ClientCertificate>>| async move {
                cert.map_or_else(|| "anonymous".to_owned(), |Extension(c)| c.thumbprint().to_owned())
            }),
        )
        .route(
            "/issued-to",
            get(|cert: Option<Extension<ClientCertificate>>| async move {
                cert.and_then(|Extension(c)| c.issued_subject().map(ToString::to_string)).unwrap_or_default()
            }),
        );
    let limits = Limits { header_read_timeout: Duration::from_secs(5), ..Limits::default() };
    tokio::spawn(serve(
        "tls",
        listener,
        app,
        limits,
        Some(certs.clone()),
        Arc::new(Stats::default()),
        std::future::pending(),
    ));
    (format!("https://localhost:{port}/whoami"), certs)
}

fn client(trusting: &str, identity: Option<&(String, String)>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(trusting.as_bytes()).unwrap()])
        .resolve("localhost", "127.0.0.1:0".parse().unwrap())
        .timeout(Duration::from_secs(5));
    if let Some((cert, key)) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

fn thumbprint_of(pem: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let der = pem.lines().filter(|l| !l.starts_with("-----")).collect::<String>();
    let der = base64::engine::general_purpose::STANDARD.decode(der).unwrap();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der))
}

#[tokio::test]
async fn serves_tls_and_hands_the_client_certificate_to_the_application() {
    let dir = tempfile::tempdir().unwrap();
    let server = pair("localhost");
    let (url, _) = start(dir.path(), &server).await;

    let anonymous = client(&server.0, None).get(&url).send().await.unwrap();
    assert_eq!(anonymous.text().await.unwrap(), "anonymous", "a client certificate is asked for, not required");

    let partner = pair("ptn-acme");
    let with_cert = client(&server.0, Some(&partner)).get(&url).send().await.unwrap();
    assert_eq!(with_cert.text().await.unwrap(), thumbprint_of(&partner.0));

    // A client that does not trust the server's certificate does not get through.
    let stranger = pair("localhost");
    assert!(client(&stranger.0, None).get(&url).send().await.is_err());
}

#[tokio::test]
async fn a_replaced_certificate_serves_new_connections_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = pair("localhost");
    let (url, certs) = start(dir.path(), &first).await;
    assert!(client(&first.0, None).get(&url).send().await.is_ok());

    let second = pair("localhost");
    // Key first, then the certificate, as a deploy tool would; a half-written pair is refused
    // and the old one keeps serving.
    std::fs::write(dir.path().join("server.key"), &second.1).unwrap();
    let _ = certs.reload_if_changed();
    std::fs::write(dir.path().join("server.crt"), &second.0).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let _ = certs.reload_if_changed();
        // A fresh client: a new connection, a new handshake.
        if client(&second.0, None).get(&url).send().await.is_ok() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the new certificate never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(client(&first.0, None).get(&url).send().await.is_err(), "the old certificate no longer serves");
}

#[test]
fn a_bad_pair_is_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = pair("localhost");
    let (_, other_key) = pair("localhost");
    let files =
        TlsFiles { cert_file: dir.path().join("c.pem"), key_file: dir.path().join("k.pem"), client_ca_file: None };
    std::fs::write(&files.cert_file, "not a certificate").unwrap();
    std::fs::write(&files.key_file, &other_key).unwrap();
    let e = Certificates::load(files.clone()).unwrap_err().to_string();
    assert!(e.contains("c.pem"), "{e}");
    std::fs::write(&files.cert_file, &cert).unwrap();
    let e = Certificates::load(files).unwrap_err().to_string();
    assert!(e.contains("usable server identity"), "a key that is not the certificate's: {e}");
}

#[tokio::test]
async fn a_certificate_from_a_trusted_client_ca_arrives_with_its_verified_subject() {
    use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
    let dir = tempfile::tempdir().unwrap();
    let server = pair("localhost");
    let (trusted, other) = (TestCa::new("Partner CA"), TestCa::new("Someone else's CA"));
    let (url, _) = start_trusting(dir.path(), &server, Some(&trusted.pem)).await;
    let url = url.replace("/whoami", "/issued-to");
    let issued_to = |identity: Option<(String, String)>| {
        let (url, server) = (url.clone(), server.0.clone());
        async move { client(&server, identity.as_ref()).get(&url).send().await.unwrap().text().await.unwrap() }
    };

    assert_eq!(
        issued_to(Some(trusted.issue("acme-client", "Acme Ltd", ClientAuth))).await,
        "CN=acme-client,O=Acme Ltd"
    );
    // Accepted at the TLS layer (a thumbprint may still pin it), but vouched for by no one.
    for (what, identity) in [
        ("self-signed", pair("acme-client")),
        ("another CA's", other.issue("acme-client", "Acme Ltd", ClientAuth)),
        ("not for client authentication", trusted.issue("acme-client", "Acme Ltd", ServerAuth)),
    ] {
        assert_eq!(issued_to(Some(identity)).await, "", "{what}");
    }
    assert_eq!(issued_to(None).await, "");
}
