//! Configuration: the gateway file (`config/gateway.toml`) and one file per onboarded
//! partner (`config/partners/<name>.toml`).
//!
//! - `gateway.rs`: [`GatewayConfig`], every key optional with documented defaults.
//! - `partner.rs` / `partner_file.rs`: [`Partner`], [`PartnerSet`], [`load_partners`] and the
//!   partner file rules; `keys.rs` checks the partner's JWK Set, `urls.rs` its URLs.
//! - `registry.rs`: [`PartnerRegistry`], the live [`PartnerSet`] applied file by file: a
//!   refused file keeps its last good version, every other file's change applies, and staff
//!   emergency stops are laid over whatever the files say.
//! - `reload.rs`: watches the partners folder and every folder a partner file names, and
//!   reloads the registry on each settled change.
//! - `errors.rs`: [`ConfigError`], always `file:line:column: `field`: reason`.
//!
//! Nothing here reads environment variables: what runs is what the files say.

mod errors;
mod gateway;
mod keys;
mod partner;
mod partner_file;
mod payments;
mod registry;
mod reload;
mod urls;

#[cfg(test)]
pub(crate) mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

pub use errors::ConfigError;
pub use gateway::{
    AuthConfig, CoreConfig, DATABASE_URL_ENV, DEFAULT_GATEWAY_TOML, GatewayConfig, LogConfig, LogFormat,
    PartnersConfig, PaymentsConfig, PostgresConfig, RedisConfig, ServerConfig, SharedConfig, StorageBackend,
    StorageConfig, WebhooksConfig, load_gateway,
};
pub use keys::PartnerKey;
pub use partner::{Contact, Environment, Partner, PartnerSet, PartnerStatus, RateLimit, RejectedFile, load_partners};
pub use partner_file::{ID_PATTERN as PARTNER_ID_PATTERN, is_valid_id as is_partner_id};
pub use payments::{Merchant, PaymentLimits, PaymentSettings, WebhookSettings};
pub use registry::{PartnerRegistry, REJECTED_GAUGE, ReloadReport};
pub use reload::{PartnerWatcher, watch_partners};
pub use scenegate_adapter_contract::SecurityLevel;

/// Reads a file a partner file names (a key, a secret), refusing one larger than `max`
/// bytes without reading past it: these files come from outside the bank's config repository
/// often enough (a partner's key) that their size is not trusted.
pub(crate) fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::other(format!("larger than {max} bytes")));
    }
    Ok(bytes)
}

/// Which OAuth grant a scope is used with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeGrant {
    /// The partner acting for itself: `client_credentials`.
    Client,
    /// The partner acting for a customer who consented: `authorization_code` (and refresh).
    Customer,
}

/// Every scope a partner file may list, with the lowest security level a partner must be
/// registered at to hold it and the grant it is used with. Adding a scope is one line here.
pub const SCOPES: &[(&str, SecurityLevel, ScopeGrant)] = &[
    // (scope, lowest level that may hold it, grant)
    ("products:read", SecurityLevel::A1, ScopeGrant::Client),
    ("consents:write", SecurityLevel::A2, ScopeGrant::Client),
    ("accounts:read", SecurityLevel::A2, ScopeGrant::Customer),
    ("payments:write", SecurityLevel::A2, ScopeGrant::Client),
    ("payments:initiate", SecurityLevel::A2, ScopeGrant::Customer),
    ("events:read", SecurityLevel::A2, ScopeGrant::Client),
];

/// The scope names of [`SCOPES`], in the same order.
pub const KNOWN_SCOPES: &[&str] = &scope_names::<{ SCOPES.len() }>();

const fn scope_names<const N: usize>() -> [&'static str; N] {
    let mut names = [""; N];
    let mut i = 0;
    while i < N {
        names[i] = SCOPES[i].0;
        i += 1;
    }
    names
}

/// The lowest security level that may hold `scope`; `None` for a scope not in [`SCOPES`].
pub fn min_level(scope: &str) -> Option<SecurityLevel> {
    SCOPES.iter().find(|(name, ..)| *name == scope).map(|(_, level, _)| *level)
}

/// The grant `scope` is used with; `None` for a scope not in [`SCOPES`].
pub fn scope_grant(scope: &str) -> Option<ScopeGrant> {
    SCOPES.iter().find(|(name, ..)| *name == scope).map(|(.., grant)| *grant)
}

/// What `check-config` found: the resolved gateway file and how many partners it serves.
#[derive(Debug)]
pub struct CheckSummary {
    /// `None` when the directory has no `gateway.toml` and the defaults were used.
    pub gateway_file: Option<PathBuf>,
    pub gateway: GatewayConfig,
    pub partners: usize,
    pub active: usize,
    pub suspended: usize,
    /// See [`cross_warnings`].
    pub warnings: Vec<String>,
}

impl fmt::Display for CheckSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.gateway_file {
            Some(path) => write!(f, "{}: ok", path.display())?,
            None => write!(f, "no gateway.toml: defaults")?,
        }
        write!(
            f,
            "; {} partner(s) in {} ({} active, {} suspended)",
            self.partners,
            self.gateway.partners.dir.display(),
            self.active,
            self.suspended
        )
    }
}

/// Checks one partner file on its own (as the live folder would load it; rules across files,
/// such as duplicate ids, need the folder).
pub fn check_partner_file(path: &Path) -> Result<Partner, Vec<ConfigError>> {
    partner_file::load(path).result.map(|loaded| loaded.partner)
}

/// What the gateway's settings make useless in a partner file, said in words: a partner that
/// must present a TLS client certificate to a gateway that asks for none, or one registered by
/// subject where no CA is trusted to issue it. Warnings, not errors: the files are valid, and
/// the fix may be in either.
pub fn cross_warnings(gateway: &GatewayConfig, partners: &PartnerSet) -> Vec<String> {
    let tls = gateway.server.tls.as_ref();
    let mut out = Vec::new();
    for p in partners.iter() {
        let Some(mtls) = &p.mtls else { continue };
        let problem = match tls {
            None => {
                "[mtls] needs [server.tls] in gateway.toml; without it no client certificate reaches the gateway \
                     and the partner cannot get a token"
            }
            Some(t) if t.client_ca_file.is_none() && mtls.subject.is_some() && mtls.thumbprints.is_empty() => {
                "[mtls] subject_dn needs [server.tls] client_ca_file in gateway.toml (the CA that issues its \
                 certificate); without it no certificate matches"
            }
            Some(_) => continue,
        };
        out.push(format!("{} ({}): {problem}", p.id, p.source.display()));
    }
    out
}

/// Loads `config_dir/gateway.toml` (or the defaults, relative to `config_dir`, when it is
/// absent) and every partner file of its partners directory, reporting all errors found.
pub fn check_dir(config_dir: &Path) -> Result<CheckSummary, Vec<ConfigError>> {
    let path = config_dir.join("gateway.toml");
    let (gateway_file, gateway) = if path.exists() {
        (Some(path.clone()), load_gateway(&path)?)
    } else {
        (None, GatewayConfig::defaults_in(config_dir))
    };
    let partners = load_partners(&gateway.partners.dir)?;
    let active = partners.active_count();
    let warnings = cross_warnings(&gateway, &partners);
    Ok(CheckSummary {
        gateway_file,
        gateway,
        partners: partners.len(),
        active,
        suspended: partners.len() - active,
        warnings,
    })
}
