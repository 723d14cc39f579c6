//! TLS of the gateway's outgoing calls (the core connector, webhook delivery): rustls with
//! the platform's roots plus CAs the bank configures, and a client certificate to present.

/// TLS settings of an outgoing connection: CAs to trust beyond the platform's (a bank's
/// internal CA) and a client certificate to present (the core's mTLS).
#[derive(Clone, Default)]
pub struct OutgoingTls {
    pub extra_roots: Vec<reqwest::Certificate>,
    pub identity: Option<reqwest::Identity>,
}

impl std::fmt::Debug for OutgoingTls {
    /// Counts only: a private key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingTls")
            .field("extra_roots", &self.extra_roots.len())
            .field("identity", &self.identity.is_some())
            .finish()
    }
}

impl OutgoingTls {
    /// From PEM files: a CA bundle, and a certificate chain with its private key.
    pub fn from_files(
        ca_file: Option<&std::path::Path>,
        identity: Option<(&std::path::Path, &std::path::Path)>,
    ) -> Result<Self, String> {
        let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        let extra_roots = match ca_file {
            Some(p) => reqwest::Certificate::from_pem_bundle(&read(p)?)
                .map_err(|e| format!("{}: not a PEM certificate bundle: {e}", p.display()))?,
            None => Vec::new(),
        };
        let identity = match identity {
            Some((cert, key)) => {
                let mut pem = read(cert)?;
                pem.extend(read(key)?);
                Some(reqwest::Identity::from_pem(&pem).map_err(|e| {
                    format!("{} and {}: not a PEM certificate and private key: {e}", cert.display(), key.display())
                })?)
            }
            None => None,
        };
        Ok(Self { extra_roots, identity })
    }
}
