//! TLS termination against a real server on an ephemeral port: certificates made at run
//! time (never committed), a client certificate handed to the application, the server's
//! certificate replaced on disk and served to the next connection without a restart.

use std::{sync::Arc, time::Duration};

use axum::{Extension, Router, routing::get};
use scenegate_listener::{
    Limits, Stats, serve,
    tls::{Certificates, ClientCertificate, TlsFiles},
};

/// A self-signed certificate for `localhost` (or a client name) with its key, as PEM.
fn pair(name: &str) -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    (made.cert.pem(), made.signing_key.serialize_pem())
}

async fn start(dir: &std::path::Path, server: &(String, String)) -> (String, Arc<Certificates>) {
    let files = TlsFiles { cert_file: dir.join("server.crt"), key_file: dir.join("server.key") };
    std::fs::write(&files.cert_file, &server.0).unwrap();
    std::fs::write(&files.key_file, &server.1).unwrap();
    let certs = Certificates::load(files).unwrap();
    let config = certs.server_config().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Says which client certificate the connection presented, by its x5t#S256.
    let app = Router::new().route(
        "/whoami",
        get(|cert: Option<Extension<ClientCertificate>>| async move {
            cert.map_or_else(|| "anonymous".to_owned(), |Extension(c)| c.thumbprint())
        }),
    );
    let limits = Limits { header_read_timeout: Duration::from_secs(5), ..Limits::default() };
    tokio::spawn(serve("tls", listener, app, limits, Some(config), Arc::new(Stats::default()), std::future::pending()));
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
    let files = TlsFiles { cert_file: dir.path().join("c.pem"), key_file: dir.path().join("k.pem") };
    std::fs::write(&files.cert_file, "not a certificate").unwrap();
    std::fs::write(&files.key_file, &other_key).unwrap();
    let e = Certificates::load(files.clone()).unwrap_err().to_string();
    assert!(e.contains("c.pem"), "{e}");
    std::fs::write(&files.cert_file, &cert).unwrap();
    let e = Certificates::load(files).unwrap_err().to_string();
    assert!(e.contains("usable server identity"), "a key that is not the certificate's: {e}");
}
