//! The core connector over TLS: it trusts a configured CA beyond the platform's roots and
//! presents its client certificate, against a real TLS listener with certificates made at run
//! time.

use std::{sync::Arc, time::Duration};

use axum::{Extension, Json, Router, routing::post};
use scenegate_listener::tls::{Certificates, ClientCertificate, TlsFiles};

use crate::core::{CoreClient, DEFAULT_BREAKER, DEFAULT_MAX_IN_FLIGHT, OutgoingTls};

/// A core whose `identify` answers with the thumbprint of the client certificate it saw.
async fn tls_core(dir: &std::path::Path) -> (String, std::path::PathBuf) {
    let server = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let files = TlsFiles { cert_file: dir.join("core.crt"), key_file: dir.join("core.key"), client_ca_file: None };
    std::fs::write(&files.cert_file, server.cert.pem()).unwrap();
    std::fs::write(&files.key_file, server.signing_key.serialize_pem()).unwrap();
    let config = Certificates::load(files.clone()).unwrap();
    let app = Router::new().route(
        "/core/customers/identify",
        post(|cert: Option<Extension<ClientCertificate>>| async move {
            let seen = cert.map_or_else(|| "anonymous".to_owned(), |Extension(c)| c.thumbprint().to_owned());
            Json(serde_json::json!({"ret_code": "0000", "ret_msg": "success", "data": {"cust_no": seen}}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let limits = scenegate_listener::Limits::default();
    tokio::spawn(scenegate_listener::serve(
        "core",
        listener,
        app,
        limits,
        Some(config),
        Arc::default(),
        std::future::pending(),
    ));
    (format!("https://localhost:{port}"), files.cert_file)
}

fn client(url: &str, tls: &OutgoingTls) -> CoreClient {
    let t = Duration::from_secs(5);
    CoreClient::with_tls(url, t, t, DEFAULT_BREAKER, DEFAULT_MAX_IN_FLIGHT, tls).unwrap()
}

#[tokio::test]
async fn the_connector_trusts_the_configured_ca_and_presents_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (url, core_ca) = tls_core(dir.path()).await;
    let gw = rcgen::generate_simple_self_signed(vec!["scenegate".to_owned()]).unwrap();
    std::fs::write(dir.path().join("gw.crt"), gw.cert.pem()).unwrap();
    std::fs::write(dir.path().join("gw.key"), gw.signing_key.serialize_pem()).unwrap();

    // Without the CA, the core's certificate is not trusted.
    assert!(client(&url, &OutgoingTls::default()).identify_customer("x").await.is_err());

    let trusting = OutgoingTls::from_files(Some(&core_ca), None).unwrap();
    assert_eq!(client(&url, &trusting).identify_customer("x").await.unwrap().as_deref(), Some("anonymous"));

    let (cert, key) = (dir.path().join("gw.crt"), dir.path().join("gw.key"));
    let with_identity = OutgoingTls::from_files(Some(&core_ca), Some((&cert, &key))).unwrap();
    let seen = client(&url, &with_identity).identify_customer("x").await.unwrap().unwrap();
    let expected = ClientCertificate::self_signed(gw.cert.der()).thumbprint().to_owned();
    assert_eq!(seen, expected, "the core saw the gateway's certificate");

    let missing = OutgoingTls::from_files(Some(&dir.path().join("nope.pem")), None).err().unwrap();
    assert!(missing.contains("nope.pem"), "{missing}");
}
