//! TLS termination with rustls: TLS 1.3 and 1.2 with rustls' modern suites only, the
//! certificate reloaded when its files change (or on `SIGHUP`) without dropping a
//! connection, and client certificates requested but not required.
//!
//! A client certificate is accepted at the TLS layer whoever issued it, once the client has
//! proved it holds the certificate's key (the handshake signature is checked); whether it
//! belongs to a partner is the application's decision (RFC 8705: `self_signed_tls_client_auth`
//! pins a thumbprint), made with the [`ClientCertificate`] handed to every request.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use tokio_rustls::rustls::{
    self, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme,
    client::danger::HandshakeSignatureValid,
    crypto::{CryptoProvider, WebPkiSupportedAlgorithms, aws_lc_rs},
    pki_types::{CertificateDer, PrivateKeyDer, UnixTime, pem::PemObject},
    server::{ClientHello, ResolvesServerCert, danger::ClientCertVerified, danger::ClientCertVerifier},
    sign::CertifiedKey,
};

/// How often the certificate files are looked at for a change.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Where the server's certificate chain and private key are (PEM).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("the certificate and key do not make a usable server identity: {0}")]
    Identity(String),
}

/// The client certificate a connection presented (DER), for the application to match
/// against a partner's registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertificate(pub Arc<[u8]>);

impl ClientCertificate {
    /// `x5t#S256` (RFC 8705): base64url of the SHA-256 of the DER, without padding.
    pub fn thumbprint(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&self.0))
    }
}

/// The server's current certificate, swapped whole when its files change.
pub struct Certificates {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    stamp: Mutex<Option<(SystemTime, SystemTime)>>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates").field("files", &self.files).finish_non_exhaustive()
    }
}

impl Certificates {
    /// Loads the files; an error names the file and what is wrong with it.
    pub fn load(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let provider = Arc::new(aws_lc_rs::default_provider());
        let key = certified_key(&files, &provider)?;
        let certs = Self { stamp: Mutex::new(stamp(&files)), files, provider, current: ArcSwap::from_pointee(key) };
        Ok(Arc::new(certs))
    }

    /// Loads the files again if they changed since the last load. A bad new pair is refused
    /// (and the old certificate keeps serving). Returns whether a new certificate serves.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let now = stamp(&self.files);
        let mut last = self.stamp.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if now == *last {
            return Ok(false);
        }
        let key = certified_key(&self.files, &self.provider)?;
        self.current.store(Arc::new(key));
        *last = now;
        Ok(true)
    }

    /// The rustls configuration serving these certificates, asking for (not requiring) a
    /// client certificate.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, TlsError> {
        let verifier = Arc::new(AnyClientCertificate { algorithms: self.provider.signature_verification_algorithms });
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError::Identity(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Follows the files (every [`WATCH_EVERY`], and at once on `SIGHUP`) for the life of the
    /// process.
    pub fn spawn_reloader(self: &Arc<Self>) {
        let certs = self.clone();
        tokio::spawn(async move {
            let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            let mut tick = tokio::time::interval(WATCH_EVERY);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {}
                }
                match certs.reload_if_changed() {
                    Ok(true) => tracing::info!(cert = %certs.files.cert_file.display(), "TLS certificate reloaded"),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "new TLS certificate refused; the previous one keeps serving")
                    }
                }
            }
        });
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn stamp(files: &TlsFiles) -> Option<(SystemTime, SystemTime)> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((modified(&files.cert_file)?, modified(&files.key_file)?))
}

fn certified_key(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let file_error = |path: &Path, reason: String| TlsError::File { path: path.to_owned(), reason };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert_file)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| file_error(&files.cert_file, format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(file_error(&files.cert_file, "holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key_file)
        .map_err(|e| file_error(&files.key_file, format!("not a PEM private key: {e}")))?;
    let key = CertifiedKey::from_der(chain, key, provider).map_err(|e| TlsError::Identity(e.to_string()))?;
    Ok(key)
}

/// Asks every client for a certificate and accepts any whose key the client proves it holds.
#[derive(Debug)]
struct AnyClientCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Whose it is, is the application's question (a pinned thumbprint per partner).
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
