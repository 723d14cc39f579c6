//! Configuration: the gateway file (`config/gateway.toml`) and one file per onboarded
//! partner (`config/partners/<name>.toml`).
//!
//! - `gateway.rs`: [`GatewayConfig`], every key optional with documented defaults.
//! - `partner.rs` / `partner_file.rs`: [`Partner`], [`PartnerSet`], [`load_partners`] and the
//!   partner file rules; `keys.rs` checks the partner's JWK Set, `urls.rs` its URLs.
//! - `reload.rs`: watches the partners directory and swaps in a new [`PartnerSet`] when all
//!   files load; a broken edit is logged and the last good set kept.
//! - `errors.rs`: [`ConfigError`], always `file:line:column: `field`: reason`.
//!
//! Nothing here reads environment variables: what runs is what the files say.

mod errors;
mod gateway;
mod keys;
mod partner;
mod partner_file;
mod reload;
mod urls;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

pub use errors::ConfigError;
pub use gateway::{
    AuthConfig, CoreConfig, DEFAULT_GATEWAY_TOML, GatewayConfig, LogConfig, LogFormat, PartnersConfig, ServerConfig,
    StorageConfig, load_gateway,
};
pub use keys::PartnerKey;
pub use partner::{Contact, Environment, Partner, PartnerSet, PartnerStatus, RateLimit, load_partners};
pub use reload::{PartnerWatcher, reload_now, watch_partners};
pub use scenegate_adapter_contract::SecurityLevel;

/// Every scope a partner file may list, with the lowest security level a partner must be
/// registered at to hold it. Adding a scope is one line here.
pub const SCOPES: &[(&str, SecurityLevel)] = &[
    // (scope, lowest level that may hold it)
    ("products:read", SecurityLevel::A1),
    ("consents:write", SecurityLevel::A2),
    ("accounts:read", SecurityLevel::A2),
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
    SCOPES.iter().find(|(name, _)| *name == scope).map(|(_, level)| *level)
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
    Ok(CheckSummary { gateway_file, gateway, partners: partners.len(), active, suspended: partners.len() - active })
}
