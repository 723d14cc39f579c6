//! Onboarded partners: one TOML file each in the partners directory, loaded into an
//! immutable [`PartnerSet`] that the gateway swaps whole on reload (see `reload.rs`).
//!
//! The file format and its rules are in `partner_file.rs`; this file holds the checked
//! types the rest of the gateway reads, and the directory walk.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use scenegate_adapter_contract::{Capabilities, PartnerAdapter, SecurityLevel};
use serde::Deserialize;

use super::errors::ConfigError;
use super::keys::PartnerKey;
use super::partner_file;

/// A suspended partner keeps its file (and its history) but every call is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartnerStatus {
    Active,
    Suspended,
}

/// Sandbox partners may use `http://localhost` redirects; production ones only `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Sandbox,
    Production,
}

/// Token-bucket quota for one partner: a sustained rate and the burst above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub requests_per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Default for RateLimit {
    /// Used when a partner file has no `[rate_limit]`: 10 requests per second, burst 20.
    fn default() -> Self {
        Self { requests_per_second: DEFAULT_RPS, burst: DEFAULT_BURST }
    }
}

const DEFAULT_RPS: NonZeroU32 = NonZeroU32::new(10).unwrap();
const DEFAULT_BURST: NonZeroU32 = NonZeroU32::new(20).unwrap();

/// Who to call at the partner when something is wrong with their integration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    pub name: String,
    pub email: String,
}

/// One partner as checked and built from its file. Immutable: a change is a new file load
/// (or a staff stop, which makes a suspended copy).
/// `[mtls]`: the TLS client certificates that are the partner's (RFC 8705), by either or
/// both of its methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertAuth {
    /// `self_signed_tls_client_auth`: `x5t#S256` of each registered certificate.
    pub thumbprints: Vec<String>,
    /// `tls_client_auth`: the subject a certificate issued by a CA of the gateway's
    /// `[server.tls] client_ca_file` must carry.
    pub subject: Option<scenegate_listener::tls::subject::DistinguishedName>,
}

impl ClientCertAuth {
    /// Whether `cert` is one of the partner's: a registered thumbprint (compared in constant
    /// time), or issued by a trusted CA to the registered subject.
    pub fn recognises(&self, cert: &scenegate_listener::tls::ClientCertificate) -> bool {
        use subtle::ConstantTimeEq as _;
        let presented = cert.thumbprint();
        let pinned = self
            .thumbprints
            .iter()
            .fold(false, |found, t| found | bool::from(t.as_bytes().ct_eq(presented.as_bytes())));
        let issued = match (&self.subject, cert.issued_subject()) {
            (Some(want), Some(got)) => want == got,
            _ => false,
        };
        pinned || issued
    }
}

#[derive(Clone, Debug)]
pub struct Partner {
    /// The OAuth `client_id`: `ptn_` + 1 to 48 of `[a-z0-9_-]`.
    pub id: String,
    /// Shown to customers on consent screens.
    pub display_name: String,
    pub status: PartnerStatus,
    pub environment: Environment,
    pub security_level: SecurityLevel,
    /// Present (non-empty) whenever `security_level` is A2.
    pub risk_assessment_ref: Option<String>,
    pub scopes: std::collections::BTreeSet<String>,
    pub redirect_uris: Vec<String>,
    pub webhook_url: Option<String>,
    pub rate_limit: RateLimit,
    /// Kids are unique. May be empty: a partner whose compromised key was removed cannot
    /// authenticate until a new key is added.
    pub keys: Vec<PartnerKey>,
    pub adapter_name: String,
    pub adapter: Arc<dyn PartnerAdapter>,
    /// What the adapter's kind can carry, read once at load (never looked up per call).
    pub capabilities: &'static Capabilities,
    pub contact: Option<Contact>,
    /// The file this partner was loaded from.
    pub source: PathBuf,
    /// SHA-256 (hex) of the file and its JWK Set as loaded: what the audit trail records of
    /// each change.
    pub digest: String,
    /// How the partner's TLS client certificate is recognised (`[mtls]`); `None`: the partner
    /// uses no client certificate and its tokens are not certificate-bound.
    pub mtls: Option<ClientCertAuth>,
    /// `[dpop] required = true`: token requests must carry a DPoP proof, so every token is
    /// bound to a key the partner holds.
    pub dpop_required: bool,
    /// `[dpop] require_nonce = true`: DPoP proofs must carry the gateway's current nonce.
    pub dpop_nonce_required: bool,
    /// Merchants, limits and signature rules for payments (`[payments]`).
    pub payments: super::payments::PaymentSettings,
    /// How webhooks are signed (`[webhooks]`); `None`: events are only polled.
    pub webhooks: Option<super::payments::WebhookSettings>,
    /// Suspended by a staff emergency stop (`scenegate partner suspend`), whatever the file
    /// says; `status` is then `Suspended`.
    pub staff_stop: bool,
}

impl Partner {
    /// The key an assertion names in its `kid` header.
    pub fn key(&self, kid: &str) -> Option<&PartnerKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// No way to authenticate: a token-authenticated partner without a JWK (its compromised
    /// key removed). A signed-request adapter was refused at load without its keys.
    pub fn has_no_credentials(&self) -> bool {
        self.keys.is_empty()
            && self.capabilities.authentication == scenegate_adapter_contract::Authentication::BearerToken
    }

    pub fn is_active(&self) -> bool {
        self.status == PartnerStatus::Active
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// This partner as a staff stop leaves it: suspended, and marked as stopped by staff.
    pub fn stopped_by_staff(&self) -> Self {
        Self { status: PartnerStatus::Suspended, staff_stop: true, ..self.clone() }
    }
}

/// A partner file whose latest version was refused. The partner it defined (if any version of
/// it was ever good) keeps serving from its last good version.
#[derive(Clone, Debug)]
pub struct RejectedFile {
    pub file: PathBuf,
    /// The id of the last good version still serving, if there is one.
    pub serving: Option<String>,
    pub errors: Vec<ConfigError>,
}

/// Every onboarded partner by id. Cheap to share (`Arc<Partner>` inside); never mutated:
/// reload builds a new set and swaps it in.
#[derive(Debug, Default)]
pub struct PartnerSet {
    by_id: BTreeMap<String, Arc<Partner>>,
    rejected: Vec<RejectedFile>,
}

impl PartnerSet {
    pub fn empty() -> Self {
        Self::default()
    }

    /// A set as the live registry composes it: what serves, and which files were refused.
    pub(super) fn composed(by_id: BTreeMap<String, Arc<Partner>>, rejected: Vec<RejectedFile>) -> Self {
        Self { by_id, rejected }
    }

    /// Partner files whose latest version is refused (each keeps its last good version).
    pub fn rejected(&self) -> &[RejectedFile] {
        &self.rejected
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Partner>> {
        self.by_id.get(id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Partners in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Partner>> {
        self.by_id.values()
    }

    /// How many partners are active (the rest are suspended).
    pub fn active_count(&self) -> usize {
        self.iter().filter(|p| p.is_active()).count()
    }
}

/// Builds a set from partners made elsewhere (tests of other modules); a later partner with
/// the same id replaces an earlier one. Files go through [`load_partners`], which refuses that.
impl FromIterator<Partner> for PartnerSet {
    fn from_iter<I: IntoIterator<Item = Partner>>(partners: I) -> Self {
        Self { by_id: partners.into_iter().map(|p| (p.id.clone(), Arc::new(p))).collect(), rejected: Vec::new() }
    }
}

/// Loads every `*.toml` file directly in `dir` (sorted by name; hidden files and
/// subdirectories are skipped), all or nothing: `check-config` and tools use this, to say
/// whether a folder is entirely good. The running gateway applies files one by one instead
/// (`registry.rs`), so one broken file never holds back another file's change.
pub fn load_partners(dir: &Path) -> Result<PartnerSet, Vec<ConfigError>> {
    let files = list_partner_files(dir)?;
    let mut errors = Vec::new();
    let mut by_id: BTreeMap<String, Arc<Partner>> = BTreeMap::new();
    for file in files {
        match partner_file::load(&file).result {
            Ok(loaded) => match by_id.entry(loaded.partner.id.clone()) {
                Entry::Vacant(slot) => {
                    slot.insert(Arc::new(loaded.partner));
                }
                Entry::Occupied(first) => {
                    let reason = format!("`{}` is already the id of `{}`", first.key(), first.get().source.display());
                    errors.push(ConfigError { reason, ..loaded.id_error });
                }
            },
            Err(file_errors) => errors.extend(file_errors),
        }
    }
    if errors.is_empty() { Ok(PartnerSet { by_id, rejected: Vec::new() }) } else { Err(errors) }
}

/// The partner files of `dir`, sorted; an unreadable folder is one unplaced error.
pub(super) fn list_partner_files(dir: &Path) -> Result<Vec<PathBuf>, Vec<ConfigError>> {
    partner_files(dir)
        .map_err(|e| vec![ConfigError::unplaced(dir, "partners.dir", format!("cannot list partner files: {e}"))])
}

fn partner_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let visible = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| !n.starts_with('.'));
        if visible && path.extension().is_some_and(|ext| ext == "toml") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
