//! TLS termination with rustls: TLS 1.3 and 1.2 with rustls' modern suites only, the
//! certificate reloaded when its files change (or on `SIGHUP`) without dropping a
//! connection, and client certificates requested but not required.
//!
//! A client certificate is accepted at the TLS layer whoever issued it, once the client has
//! proved it holds the certificate's key (the handshake signature is checked); whether it
//! belongs to a partner is the application's decision, made with the [`ClientCertificate`]
//! handed to every request. RFC 8705 has two ways: `self_signed_tls_client_auth` pins the
//! certificate's thumbprint; `tls_client_auth` trusts a certificate issued by a CA the bank
//! configured (`client_ca_file`) to the subject the partner registered. For the second, the
//! chain is verified here, once per connection, and the verified subject travels with the
//! certificate ([`ClientCertificate::issued_subject`]).

pub mod subject;
#[cfg(feature = "test-ca")]
pub mod test_ca;

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use tokio_rustls::rustls::{
    self, DigitallySignedStruct, ServerConfig, SignatureScheme,
    client::danger::HandshakeSignatureValid,
    crypto::{CryptoProvider, WebPkiSupportedAlgorithms, aws_lc_rs},
    pki_types::{CertificateDer, PrivateKeyDer, UnixTime, pem::PemObject},
    server::{
        ClientHello, ResolvesServerCert, WebPkiClientVerifier, danger::ClientCertVerified, danger::ClientCertVerifier,
    },
    sign::CertifiedKey,
};

use subject::DistinguishedName;

/// How often the certificate files are looked at for a change.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Where the server's certificate chain and private key are (PEM), and the CAs that issue
/// partners' client certificates, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// PEM CA certificates trusted to issue client certificates (RFC 8705 `tls_client_auth`).
    pub client_ca_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("the certificate and key do not make a usable server identity: {0}")]
    Identity(String),
}

/// The client certificate a connection presented, for the application to match against a
/// partner's registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertificate {
    /// Computed once per connection, not per request.
    thumbprint: Arc<str>,
    issued_subject: Option<Arc<DistinguishedName>>,
}

impl ClientCertificate {
    /// A certificate (DER) no configured CA vouches for: only its thumbprint can identify it.
    pub fn self_signed(der: &[u8]) -> Self {
        Self { thumbprint: thumbprint_of(der), issued_subject: None }
    }

    /// `x5t#S256` (RFC 8705): base64url of the SHA-256 of the DER, without padding.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The certificate's subject, when its chain verified to a CA of `client_ca_file` (valid
    /// now, for client authentication): what `tls_client_auth` compares. `None` otherwise.
    pub fn issued_subject(&self) -> Option<&DistinguishedName> {
        self.issued_subject.as_deref()
    }
}

fn thumbprint_of(der: &[u8]) -> Arc<str> {
    use base64::Engine as _;
    Arc::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(der)))
}

/// What one load of the files gives: the server's identity, and the verifier of partners'
/// CA-issued certificates when CAs are configured.
struct Loaded {
    key: Arc<CertifiedKey>,
    issuers: Option<Arc<dyn ClientCertVerifier>>,
}

/// The server's current certificate (and client CAs), swapped whole when the files change.
pub struct Certificates {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<Loaded>,
    stamp: Mutex<Option<Vec<SystemTime>>>,
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificates").field("files", &self.files).finish_non_exhaustive()
    }
}

impl Certificates {
    /// Loads the files; an error names the file and what is wrong with it.
    pub fn load(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let provider = Arc::new(aws_lc_rs::default_provider());
        let loaded = load_files(&files, &provider)?;
        let certs = Self { stamp: Mutex::new(stamp(&files)), files, provider, current: ArcSwap::from_pointee(loaded) };
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
        let loaded = load_files(&self.files, &self.provider)?;
        self.current.store(Arc::new(loaded));
        *last = now;
        Ok(true)
    }

    /// What the application learns of a connection's client certificate: the end-entity
    /// certificate, and its subject if the chain it sent verifies to a configured client CA.
    pub fn client_certificate(&self, chain: &[CertificateDer<'_>]) -> Option<ClientCertificate> {
        let (end_entity, intermediates) = chain.split_first()?;
        let issued_subject = self.current.load().issuers.as_ref().and_then(|issuers| {
            issuers.verify_client_cert(end_entity, intermediates, UnixTime::now()).ok()?;
            DistinguishedName::of_certificate(end_entity).map(Arc::new)
        });
        Some(ClientCertificate { thumbprint: thumbprint_of(end_entity), issued_subject })
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
        Some(self.current.load().key.clone())
    }
}

/// When each file was last modified: a change to any of them reloads them all.
fn stamp(files: &TlsFiles) -> Option<Vec<SystemTime>> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    [Some(&files.cert_file), Some(&files.key_file), files.client_ca_file.as_ref()]
        .into_iter()
        .flatten()
        .map(|p| modified(p))
        .collect()
}

fn load_files(files: &TlsFiles, provider: &Arc<CryptoProvider>) -> Result<Loaded, TlsError> {
    let key = Arc::new(certified_key(files, provider)?);
    let issuers = files.client_ca_file.as_deref().map(|path| client_issuers(path, provider)).transpose()?;
    Ok(Loaded { key, issuers })
}

/// The verifier of certificates issued by the CAs in `path` for client authentication.
fn client_issuers(path: &Path, provider: &Arc<CryptoProvider>) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let file_error = |reason: String| TlsError::File { path: path.to_owned(), reason };
    let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| file_error(format!("not PEM CA certificates: {e}")))?;
    if cas.is_empty() {
        return Err(file_error("holds no certificate".into()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for (i, ca) in cas.into_iter().enumerate() {
        roots.add(ca).map_err(|e| file_error(format!("certificate {} is not a usable CA: {e}", i + 1)))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| file_error(e.to_string()))
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

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
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
