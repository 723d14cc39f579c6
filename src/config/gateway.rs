//! `config/gateway.toml`: where the gateway listens, how it signs tokens, where the core bank
//! is, where data and partner files live, and how it logs.
//!
//! Every section and key is optional; [`DEFAULT_GATEWAY_TOML`] documents each default. Paths
//! in the file are relative to the file's folder (`auth.signing_key_file` to
//! `storage.data_dir`) and come out absolute.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::errors::{ConfigError, Source};
use super::urls;

/// The gateway file with every default written out: what an empty file means.
pub const DEFAULT_GATEWAY_TOML: &str = r#"# Scenegate gateway configuration. Every key is optional; these are the defaults.

[server]
listen = "127.0.0.1:8080"             # socket address to bind
# public_url = "https://openapi.bank.example"  # issuer; token endpoint = public_url + "/oauth2/token";
#                                       # unset: http://<the bound address>
max_body_bytes = 1048576              # larger request bodies get 413
request_timeout_ms = 10000            # whole request, 1..=300000
header_read_timeout_ms = 10000        # a request's header block must arrive within this, 1..=300000
max_header_bytes = 32768              # larger header blocks get 431, 1024..=1048576
max_connections = 4096                # open connections; more wait in the accept queue, 1..=1000000
ops_listen = "127.0.0.1:9464"         # /metrics, /healthz, /readyz for operators; keep it off the internet
# worker_threads = 2                  # threads serving requests, 1..=1024; unset: one per core. Set it
#                                       # to the cores an instance has to itself when several share a host
# [server.tls]                        # TLS 1.3/1.2 on the partner listener; reloaded on change or SIGHUP
# cert_file = "tls/gateway.crt"       # PEM chain, relative to this file's folder
# key_file = "tls/gateway.key"        # PEM private key
# client_ca_file = "tls/partner-ca.pem"  # CAs issuing partners' client certificates ([mtls] subject_dn)

[auth]
access_token_ttl_secs = 300           # 60..=3600
signing_key_file = "signing-keys.json" # relative to storage.data_dir

[core]
base_url = "http://127.0.0.1:9090"    # the core bank's services
timeout_ms = 2000                     # per call, 1..=300000
connect_timeout_ms = 500              # at most timeout_ms
breaker_failures = 5                  # consecutive failures that open the circuit, 1..=1000
breaker_open_ms = 5000                # calls fail fast this long, then one probe, 1..=300000
max_in_flight = 256                   # calls to the core at once; more get 503 at once, 1..=100000
# ca_file = "tls/core-ca.pem"         # an https core: CAs trusted beyond the platform's roots
# client_cert_file = "tls/gw-to-core.crt"  # mTLS to the core: the gateway's certificate chain
# client_key_file = "tls/gw-to-core.key"   # ... and its private key
# name = "core"                        # this core system's name in the routing table
# dialect = "legacy"                   # its wire format: legacy | modern
# [[core.systems]]                     # another core system, holding account ranges
# name = "new-core"
# dialect = "modern"
# base_url = "http://127.0.0.1:9091"   # timeouts, breaker, limits and TLS as [core]
# accounts = [{ from = "6222020000000000050", to = "6222020000000000089" }]
# [core.routes]                        # calls not tied to an account; default: [core]
# products = "core"                    # a system whose dialect has products (legacy)
# customers = "core"                   # logins and one-time codes (legacy)

[storage]
data_dir = "../data"                  # relative to this file's folder; SQLite file, keys
backend = "sqlite"                    # sqlite (one node, embedded) | postgres (cluster mode)
# url = "postgres://scenegate@db.bank.internal:5432/scenegate"  # postgres only; the
#                                       # environment variable SCENEGATE_DATABASE_URL, when
#                                       # set, replaces it (keep passwords out of files)
pool_size = 16                        # postgres connections per instance, 1..=1000
acquire_timeout_ms = 2000             # wait for a free connection, then 503, 1..=60000
statement_timeout_ms = 5000           # per statement on postgres, 1..=300000; also the longest a
#                                       # transaction may sit idle (its instance is gone)

[partners]
dir = "partners"                      # relative to this file's folder; one TOML file per partner

[payments]
idempotency_lease_secs = 30           # a crashed request's Idempotency-Key is taken over after this, 1..=3600;
#                                       # longer than server.request_timeout_ms

[webhooks]
# Wait before each retry of a failed delivery (seconds, jittered), then dead-letter after
# horizon_secs from the first attempt.
retry_delays_secs = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
horizon_secs = 86400                  # 1..=604800
# ca_file = "tls/extra-ca.pem"        # receivers' CAs beyond the platform's roots
# client_cert_file = "tls/webhooks.crt"  # a certificate to present to receivers that ask
# client_key_file = "tls/webhooks.key"

[sandbox]
# Customer numbers sandbox partners may authorise consents for without a browser
# (POST /oauth2/sandbox/authorize). Empty: nobody. Only ever the bank's test customers.
headless_customers = []

[shared]
# Short-lived state several instances share: rate limits, login throttling, single-use
# client-assertion ids. "local" keeps it in this process (one instance; assertion ids in the
# storage backend); "redis" shares it (cluster mode).
backend = "local"                     # local | redis
url = "redis://127.0.0.1:6379"        # redis only; redis:// or rediss://
key_prefix = "scenegate"              # every key this gateway writes starts with it
timeout_ms = 250                      # per Redis call, 1..=10000; then limits fall back to local

[audit]
# The tamper-evident audit trail in the gateway's database (`scenegate audit verify`).
# Retention floors of JR/T 0185: API access summaries at least 180 days, records of what
# changed (partners, consents, payments, staff commands) at least 365 days.
access_retention_days = 180           # 180..=3650
records_retention_days = 365          # 365..=3650
checkpoint_interval_secs = 300        # sign each chain's head this often, 10..=86400

[log]
format = "text"                       # text | json
level = "info"                        # a tracing filter, e.g. "info,scenegate=debug"
"#;

/// The checked gateway configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayConfig {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub core: CoreConfig,
    pub storage: StorageConfig,
    pub partners: PartnersConfig,
    pub payments: PaymentsConfig,
    pub webhooks: WebhooksConfig,
    pub sandbox: SandboxConfig,
    pub shared: SharedConfig,
    pub audit: crate::audit::AuditSettings,
    pub log: LogConfig,
}

/// Where short-lived shared state lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SharedConfig {
    /// In this process (rate limits, throttles), the storage backend (assertion ids).
    Local,
    Redis(RedisConfig),
}

#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// May hold a password: printed only through [`RedisConfig::redacted_url`].
    pub url: String,
    pub key_prefix: String,
    pub timeout: Duration,
}

impl RedisConfig {
    /// The URL with any password replaced, for logs.
    pub fn redacted_url(&self) -> String {
        redact_password(&self.url)
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.redacted_url())
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Core customer numbers of test customers (`C0001`…).
    pub headless_customers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentsConfig {
    /// How long a request holds its `Idempotency-Key` before another may take it over.
    pub idempotency_lease: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhooksConfig {
    pub retry_delays: Vec<Duration>,
    pub horizon: Duration,
    /// CAs beyond the platform's for receivers' certificates, and a certificate to present.
    pub tls: OutgoingTlsFiles,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The issuer of access tokens, without a trailing `/`. `None`: derived from the
    /// address actually bound (so tests and scripts can listen on port 0).
    pub public_url: Option<String>,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Header deadline, header size cap and connection cap of the partner listener.
    pub limits: scenegate_listener::Limits,
    /// The operations listener (`/metrics`, `/healthz`, `/readyz`): never the partner port.
    pub ops_listen: SocketAddr,
    /// The async runtime's worker threads; `None`: one per core. Instances sharing a host
    /// each get the cores they may use, rather than all of them contending for every core.
    pub worker_threads: Option<usize>,
    /// TLS on the partner listener (`[server.tls]`); `None`: plain HTTP (the demo, or TLS
    /// terminated in front).
    pub tls: Option<scenegate_listener::tls::TlsFiles>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    pub access_token_ttl: Duration,
    /// How long verifiers may cache `/.well-known/jwks.json` (its `Cache-Control: max-age`).
    /// A rotated-in key is published for twice this before it signs.
    pub jwks_max_age: Duration,
    /// Absolute; the gateway's own token-signing keys.
    pub signing_key_file: PathBuf,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreConfig {
    /// Without a trailing `/`.
    pub base_url: String,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub breaker: crate::core::BreakerSettings,
    pub max_in_flight: usize,
    /// CAs beyond the platform's for an `https` core, and the certificate presented to it.
    pub tls: OutgoingTlsFiles,
    /// This core system's name in the routing table.
    pub name: String,
    pub dialect: crate::core::Dialect,
    /// The other core systems, each holding ranges of account numbers; `[core]` holds the
    /// rest. Each is reached with `[core]`'s timeouts, breaker, limits and TLS.
    pub systems: Vec<CoreSystemConfig>,
    /// The systems serving products and customers (logins, one-time codes).
    pub products: String,
    pub customers: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreSystemConfig {
    pub name: String,
    pub dialect: crate::core::Dialect,
    pub base_url: String,
    pub accounts: Vec<crate::core::AccountRange>,
}

impl CoreConfig {
    /// Every core system and the routing table, with `tls` (loaded from [`Self::tls`]).
    pub fn topology(&self, tls: &crate::core::OutgoingTls) -> crate::core::CoreTopology {
        let settings = |base_url: &str| crate::core::ConnectorSettings {
            base_url: base_url.to_owned(),
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            breaker: self.breaker,
            max_in_flight: self.max_in_flight,
            tls: tls.clone(),
        };
        let first = crate::core::CoreSystem {
            name: self.name.clone(),
            dialect: self.dialect,
            settings: settings(&self.base_url),
            accounts: Vec::new(),
        };
        let others = self.systems.iter().map(|s| crate::core::CoreSystem {
            name: s.name.clone(),
            dialect: s.dialect,
            settings: settings(&s.base_url),
            accounts: s.accounts.clone(),
        });
        crate::core::CoreTopology {
            systems: std::iter::once(first).chain(others).collect(),
            products: self.products.clone(),
            customers: self.customers.clone(),
        }
    }
}

/// The files of an outgoing connection's TLS (`ca_file`, `client_cert_file`,
/// `client_key_file` of `[core]` and `[webhooks]`), absolute.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutgoingTlsFiles {
    pub ca_file: Option<PathBuf>,
    pub client_identity: Option<(PathBuf, PathBuf)>,
}

impl OutgoingTlsFiles {
    /// The settings, read from the files (checked when the config loaded).
    pub fn load(&self) -> Result<crate::outgoing_tls::OutgoingTls, String> {
        let identity = self.client_identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path()));
        crate::outgoing_tls::OutgoingTls::from_files(self.ca_file.as_deref(), identity)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageConfig {
    /// Absolute.
    pub data_dir: PathBuf,
    pub backend: StorageBackend,
}

/// Where durable state lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageBackend {
    /// `gateway.sqlite` under the data directory: one gateway process.
    Sqlite,
    /// One PostgreSQL database shared by every gateway instance.
    Postgres(PostgresConfig),
}

#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// May hold a password: printed only through [`PostgresConfig::redacted_url`].
    pub url: String,
    pub pool_size: u32,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
}

impl PostgresConfig {
    /// The URL with any password replaced, for logs and banners.
    pub fn redacted_url(&self) -> String {
        redact_password(&self.url)
    }
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &self.redacted_url())
            .field("pool_size", &self.pool_size)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

/// `url` with any password replaced by `***`, for logs and banners.
fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<unparseable url>".into(),
    }
}

/// The environment variable that, when set, gives `storage.url`.
pub const DATABASE_URL_ENV: &str = "SCENEGATE_DATABASE_URL";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnersConfig {
    /// Absolute; watched for changes.
    pub dir: PathBuf,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive; checked where the subscriber is built.
    pub level: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl GatewayConfig {
    /// The defaults, with paths resolved as if the gateway file were in `config_dir`.
    pub fn defaults_in(config_dir: &Path) -> Self {
        let source = Source::new(Path::new("(defaults)"), "");
        // A unit test loads the defaults; failing here means that test failed too.
        GatewayFile::default()
            .resolve(&source, &absolute_dir(config_dir))
            .unwrap_or_else(|errors| panic!("the built-in gateway defaults are invalid: {errors:?}"))
    }
}

impl Default for GatewayConfig {
    /// The defaults, with paths relative to the current directory.
    fn default() -> Self {
        Self::defaults_in(Path::new("."))
    }
}

/// Loads and checks a gateway file, reporting every refused value.
pub fn load_gateway(path: &Path) -> Result<GatewayConfig, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![ConfigError::unplaced(path, "(file)", format!("cannot read: {e}"))])?;
    let source = Source::new(path, &text);
    // Every key has a default, so only a syntax error leaves nothing to check values of.
    let (file, mut errors) = source.parse_all::<GatewayFile>();
    let Some(file) = file else { return Err(errors) };
    match file.resolve(&source, &absolute_dir(path.parent().unwrap_or(Path::new("")))) {
        Ok(cfg) if errors.is_empty() => Ok(cfg),
        Ok(_) => Err(errors),
        Err(more) => {
            errors.extend(more);
            errors.sort_by_key(|e| (e.line, e.column));
            Err(errors)
        }
    }
}

fn absolute_dir(dir: &Path) -> PathBuf {
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

// === the file as written ===

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct GatewayFile {
    server: ServerFile,
    auth: AuthFile,
    core: CoreFile,
    storage: StorageFile,
    partners: PartnersFile,
    payments: PaymentsFile,
    webhooks: WebhooksFile,
    sandbox: SandboxFile,
    shared: SharedFile,
    audit: AuditFile,
    log: LogFile,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct AuditFile {
    access_retention_days: Spanned<i64>,
    records_retention_days: Spanned<i64>,
    checkpoint_interval_secs: Spanned<i64>,
}

impl Default for AuditFile {
    fn default() -> Self {
        Self { access_retention_days: d(180), records_retention_days: d(365), checkpoint_interval_secs: d(300) }
    }
}

impl AuditFile {
    fn resolve(&self, check: &mut Check<'_>) -> crate::audit::AuditSettings {
        let days = |check: &mut Check<'_>, value, field, floor| {
            let n = check.number(value, field, floor..=3_650);
            i64::try_from(n).unwrap_or(floor) * 86_400
        };
        crate::audit::AuditSettings {
            access_retention_secs: days(check, &self.access_retention_days, "audit.access_retention_days", 180),
            records_retention_secs: days(check, &self.records_retention_days, "audit.records_retention_days", 365),
            checkpoint_every: Duration::from_secs(check.number(
                &self.checkpoint_interval_secs,
                "audit.checkpoint_interval_secs",
                10..=86_400,
            )),
        }
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SharedFile {
    backend: Spanned<String>,
    url: Spanned<String>,
    key_prefix: Spanned<String>,
    timeout_ms: Spanned<i64>,
}

impl Default for SharedFile {
    fn default() -> Self {
        Self {
            backend: ds("local"),
            url: ds("redis://127.0.0.1:6379"),
            key_prefix: ds("scenegate"),
            timeout_ms: d(250),
        }
    }
}

impl SharedFile {
    fn resolve(&self, check: &mut Check<'_>) -> SharedConfig {
        let timeout = Duration::from_millis(check.number(&self.timeout_ms, "shared.timeout_ms", 1..=10_000));
        let prefix = self.key_prefix.get_ref();
        if prefix.is_empty()
            || prefix.len() > 64
            || !prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b))
        {
            let reason = "1 to 64 of A-Z, a-z, 0-9, `-`, `_`, `:`, `.`";
            check.errors.push(check.source.error(self.key_prefix.span(), "shared.key_prefix", reason));
        }
        match self.backend.get_ref().as_str() {
            "local" => SharedConfig::Local,
            "redis" => {
                let scheme = self.url.get_ref().split(':').next().unwrap_or_default();
                if !matches!(scheme, "redis" | "rediss") || url::Url::parse(self.url.get_ref()).is_err() {
                    let reason = "a Redis URL: `redis://host:6379` or `rediss://…` for TLS";
                    check.errors.push(check.source.error(self.url.span(), "shared.url", reason));
                }
                SharedConfig::Redis(RedisConfig {
                    url: self.url.get_ref().clone(),
                    key_prefix: prefix.clone(),
                    timeout,
                })
            }
            other => {
                let reason = format!("`local` or `redis` (got `{other}`)");
                check.errors.push(check.source.error(self.backend.span(), "shared.backend", reason));
                SharedConfig::Local
            }
        }
    }
}

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SandboxFile {
    headless_customers: Vec<Spanned<String>>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PaymentsFile {
    idempotency_lease_secs: Spanned<i64>,
}

impl Default for PaymentsFile {
    fn default() -> Self {
        Self { idempotency_lease_secs: d(30) }
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct WebhooksFile {
    retry_delays_secs: Spanned<Vec<i64>>,
    horizon_secs: Spanned<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_file: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_cert_file: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_key_file: Option<Spanned<String>>,
}

impl Default for WebhooksFile {
    fn default() -> Self {
        Self {
            retry_delays_secs: d(vec![5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400]),
            horizon_secs: d(86_400),
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
        }
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ServerFile {
    listen: Spanned<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_url: Option<Spanned<String>>,
    max_body_bytes: Spanned<i64>,
    request_timeout_ms: Spanned<i64>,
    header_read_timeout_ms: Spanned<i64>,
    max_header_bytes: Spanned<i64>,
    max_connections: Spanned<i64>,
    ops_listen: Spanned<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    worker_threads: Option<Spanned<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<TlsFile>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: Spanned<String>,
    key_file: Spanned<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_ca_file: Option<Spanned<String>>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct AuthFile {
    access_token_ttl_secs: Spanned<i64>,
    jwks_max_age_secs: Spanned<i64>,
    signing_key_file: Spanned<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CoreFile {
    base_url: Spanned<String>,
    timeout_ms: Spanned<i64>,
    connect_timeout_ms: Spanned<i64>,
    breaker_failures: Spanned<i64>,
    breaker_open_ms: Spanned<i64>,
    max_in_flight: Spanned<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_file: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_cert_file: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_key_file: Option<Spanned<String>>,
    name: Spanned<String>,
    dialect: Spanned<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    systems: Vec<CoreSystemFile>,
    routes: CoreRoutesFile,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CoreSystemFile {
    name: Spanned<String>,
    #[serde(default = "legacy_dialect")]
    dialect: Spanned<String>,
    base_url: Spanned<String>,
    #[serde(default)]
    accounts: Vec<AccountRangeFile>,
}

fn legacy_dialect() -> Spanned<String> {
    ds("legacy")
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountRangeFile {
    from: Spanned<String>,
    to: Spanned<String>,
}

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CoreRoutesFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    products: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customers: Option<Spanned<String>>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct StorageFile {
    data_dir: Spanned<String>,
    backend: Spanned<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<Spanned<String>>,
    pool_size: Spanned<i64>,
    acquire_timeout_ms: Spanned<i64>,
    statement_timeout_ms: Spanned<i64>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PartnersFile {
    dir: Spanned<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LogFile {
    format: Spanned<LogFormat>,
    level: Spanned<String>,
}

/// A default value: it has no place in any file.
fn d<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

fn ds(value: &str) -> Spanned<String> {
    d(value.to_owned())
}

impl Default for ServerFile {
    fn default() -> Self {
        Self {
            listen: ds("127.0.0.1:8080"),
            public_url: None,
            max_body_bytes: d(1_048_576),
            request_timeout_ms: d(10_000),
            header_read_timeout_ms: d(10_000),
            max_header_bytes: d(32_768),
            max_connections: d(4_096),
            ops_listen: ds("127.0.0.1:9464"),
            worker_threads: None,
            tls: None,
        }
    }
}

impl Default for AuthFile {
    fn default() -> Self {
        Self { access_token_ttl_secs: d(300), jwks_max_age_secs: d(60), signing_key_file: ds("signing-keys.json") }
    }
}

impl Default for CoreFile {
    fn default() -> Self {
        Self {
            base_url: ds("http://127.0.0.1:9090"),
            timeout_ms: d(2_000),
            connect_timeout_ms: d(500),
            breaker_failures: d(5),
            breaker_open_ms: d(5_000),
            max_in_flight: d(256),
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            name: ds("core"),
            dialect: legacy_dialect(),
            systems: Vec::new(),
            routes: CoreRoutesFile::default(),
        }
    }
}

impl Default for StorageFile {
    fn default() -> Self {
        Self {
            data_dir: ds("../data"),
            backend: ds("sqlite"),
            url: None,
            pool_size: d(16),
            acquire_timeout_ms: d(2_000),
            statement_timeout_ms: d(5_000),
        }
    }
}

impl Default for PartnersFile {
    fn default() -> Self {
        Self { dir: ds("partners") }
    }
}

impl Default for LogFile {
    fn default() -> Self {
        Self { format: d(LogFormat::Text), level: ds("info") }
    }
}

const TIMEOUT_MS: RangeInclusive<i64> = 1..=300_000;
/// `payments.idempotency_lease_secs`: up to an hour.
const LEASE_SECS: RangeInclusive<i64> = 1..=3_600;
const MAX_BODY_BYTES: RangeInclusive<i64> = 1..=1 << 30;
const TOKEN_TTL_SECS: RangeInclusive<i64> = 60..=3600;
const JWKS_MAX_AGE_SECS: RangeInclusive<i64> = 1..=86_400;

struct Check<'a> {
    source: &'a Source<'a>,
    errors: Vec<ConfigError>,
}

impl Check<'_> {
    fn number(&mut self, value: &Spanned<i64>, field: &str, range: RangeInclusive<i64>) -> u64 {
        let n = *value.get_ref();
        if !range.contains(&n) {
            let reason = format!("must be between {} and {} (got {n})", range.start(), range.end());
            self.errors.push(self.source.error(value.span(), field, reason));
        }
        u64::try_from(n.clamp(*range.start(), *range.end())).unwrap_or_default()
    }

    fn millis(&mut self, value: &Spanned<i64>, field: &str) -> Duration {
        Duration::from_millis(self.number(value, field, TIMEOUT_MS))
    }

    /// A core system's name: 1 to 32 of `[a-z0-9_-]`, as it labels metrics and logs.
    fn system_name(&mut self, value: &Spanned<String>, field: &str) -> String {
        let name = value.get_ref();
        let ok = (1..=32).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            self.errors.push(self.source.error(value.span(), field, "must be 1 to 32 of a-z, 0-9, `-` and `_`"));
        }
        name.clone()
    }

    fn dialect(&mut self, value: &Spanned<String>, field: &str) -> crate::core::Dialect {
        crate::core::Dialect::parse(value.get_ref()).unwrap_or_else(|| {
            self.errors.push(self.source.error(value.span(), field, "must be `legacy` or `modern`"));
            crate::core::Dialect::Legacy
        })
    }

    fn url(&mut self, value: &Spanned<String>, field: &str) -> String {
        urls::check_service_url(value.get_ref()).unwrap_or_else(|reason| {
            self.errors.push(self.source.error(value.span(), field, reason));
            String::new()
        })
    }

    /// `ca_file`, `client_cert_file`, `client_key_file` of `section`, read now so an
    /// unreadable CA or identity is a config error with its place.
    fn outgoing_tls(
        &mut self,
        section: &str,
        [ca, cert, key]: [&Option<Spanned<String>>; 3],
        base: &Path,
    ) -> OutgoingTlsFiles {
        let field = |name: &str| format!("{section}.{name}");
        let files = OutgoingTlsFiles {
            ca_file: ca.as_ref().map(|f| self.path(f, &field("ca_file"), base)),
            client_identity: match (cert, key) {
                (Some(c), Some(k)) => Some((
                    self.path(c, &field("client_cert_file"), base),
                    self.path(k, &field("client_key_file"), base),
                )),
                (None, None) => None,
                (Some(one), None) | (None, Some(one)) => {
                    let reason = "`client_cert_file` and `client_key_file` go together";
                    self.errors.push(self.source.error(one.span(), field("client_cert_file"), reason));
                    None
                }
            },
        };
        if let Err(reason) = files.load() {
            let span = ca.as_ref().or(cert.as_ref()).map_or(0..0, Spanned::span);
            self.errors.push(self.source.error(span, section, reason));
        }
        files
    }

    fn path(&mut self, value: &Spanned<String>, field: &str, base: &Path) -> PathBuf {
        if value.get_ref().trim().is_empty() {
            self.errors.push(self.source.error(value.span(), field, "must not be empty"));
        }
        base.join(value.get_ref())
    }
}

impl StorageFile {
    fn backend(&self, check: &mut Check<'_>) -> StorageBackend {
        let pool_size = check.number(&self.pool_size, "storage.pool_size", 1..=1_000);
        let acquire = check.number(&self.acquire_timeout_ms, "storage.acquire_timeout_ms", 1..=60_000);
        let statement = check.millis(&self.statement_timeout_ms, "storage.statement_timeout_ms");
        match self.backend.get_ref().as_str() {
            "sqlite" => StorageBackend::Sqlite,
            "postgres" => {
                let from_env = std::env::var(DATABASE_URL_ENV).ok().filter(|u| !u.trim().is_empty());
                let url = match (from_env, &self.url) {
                    (Some(url), _) => url,
                    (None, Some(url)) => {
                        let scheme = url.get_ref().split(':').next().unwrap_or_default();
                        if !matches!(scheme, "postgres" | "postgresql") {
                            let reason = "a PostgreSQL URL: `postgres://user@host:5432/database`";
                            check.errors.push(check.source.error(url.span(), "storage.url", reason));
                        }
                        url.get_ref().clone()
                    }
                    (None, None) => {
                        let reason = format!("`backend = \"postgres\"` needs `url` (or {DATABASE_URL_ENV} set)");
                        check.errors.push(check.source.error(self.backend.span(), "storage.url", reason));
                        String::new()
                    }
                };
                StorageBackend::Postgres(PostgresConfig {
                    url,
                    pool_size: u32::try_from(pool_size).unwrap_or(16),
                    acquire_timeout: Duration::from_millis(acquire),
                    statement_timeout: statement,
                })
            }
            other => {
                let reason = format!("`sqlite` or `postgres` (got `{other}`)");
                check.errors.push(check.source.error(self.backend.span(), "storage.backend", reason));
                StorageBackend::Sqlite
            }
        }
    }
}

impl GatewayFile {
    fn resolve(&self, source: &Source<'_>, base: &Path) -> Result<GatewayConfig, Vec<ConfigError>> {
        let mut check = Check { source, errors: Vec::new() };
        let listen = self.server.listen.get_ref().parse::<SocketAddr>().unwrap_or_else(|e| {
            let reason = format!("not a socket address (`ip:port`, e.g. `127.0.0.1:8080`): {e}");
            check.errors.push(source.error(self.server.listen.span(), "server.listen", reason));
            SocketAddr::from(([127, 0, 0, 1], 0))
        });
        let server = ServerConfig {
            listen,
            public_url: self.server.public_url.as_ref().map(|u| check.url(u, "server.public_url")),
            max_body_bytes: usize::try_from(check.number(
                &self.server.max_body_bytes,
                "server.max_body_bytes",
                MAX_BODY_BYTES,
            ))
            .unwrap_or(usize::MAX),
            request_timeout: check.millis(&self.server.request_timeout_ms, "server.request_timeout_ms"),
            limits: scenegate_listener::Limits {
                header_read_timeout: check.millis(&self.server.header_read_timeout_ms, "server.header_read_timeout_ms"),
                max_header_bytes: usize::try_from(check.number(
                    &self.server.max_header_bytes,
                    "server.max_header_bytes",
                    1_024..=1 << 20,
                ))
                .unwrap_or(32_768),
                max_connections: usize::try_from(check.number(
                    &self.server.max_connections,
                    "server.max_connections",
                    1..=1_000_000,
                ))
                .unwrap_or(4_096),
            },
            ops_listen: self.server.ops_listen.get_ref().parse::<SocketAddr>().unwrap_or_else(|e| {
                let reason = format!("not a socket address (`ip:port`, e.g. `127.0.0.1:9464`): {e}");
                check.errors.push(source.error(self.server.ops_listen.span(), "server.ops_listen", reason));
                SocketAddr::from(([127, 0, 0, 1], 0))
            }),
            worker_threads: self
                .server
                .worker_threads
                .as_ref()
                .map(|n| usize::try_from(check.number(n, "server.worker_threads", 1..=1_024)).unwrap_or(1)),
            tls: self.server.tls.as_ref().map(|t| {
                let files = scenegate_listener::tls::TlsFiles {
                    cert_file: check.path(&t.cert_file, "server.tls.cert_file", base),
                    key_file: check.path(&t.key_file, "server.tls.key_file", base),
                    client_ca_file: t.client_ca_file.as_ref().map(|f| check.path(f, "server.tls.client_ca_file", base)),
                };
                // Checked now, so a bad pair is a config error with its place, not a failed start.
                if let Err(e) = scenegate_listener::tls::Certificates::load(files.clone()) {
                    check.errors.push(source.error(t.cert_file.span(), "server.tls", e.to_string()));
                }
                files
            }),
        };
        let data_dir = check.path(&self.storage.data_dir, "storage.data_dir", base);
        let storage = StorageConfig { data_dir: data_dir.clone(), backend: self.storage.backend(&mut check) };
        let ttl = check.number(&self.auth.access_token_ttl_secs, "auth.access_token_ttl_secs", TOKEN_TTL_SECS);
        let auth = AuthConfig {
            access_token_ttl: Duration::from_secs(ttl),
            jwks_max_age: Duration::from_secs(check.number(
                &self.auth.jwks_max_age_secs,
                "auth.jwks_max_age_secs",
                JWKS_MAX_AGE_SECS,
            )),
            signing_key_file: check.path(&self.auth.signing_key_file, "auth.signing_key_file", &data_dir),
        };
        let core = CoreConfig {
            base_url: check.url(&self.core.base_url, "core.base_url"),
            timeout: check.millis(&self.core.timeout_ms, "core.timeout_ms"),
            connect_timeout: check.millis(&self.core.connect_timeout_ms, "core.connect_timeout_ms"),
            breaker: crate::core::BreakerSettings {
                failures: u32::try_from(check.number(&self.core.breaker_failures, "core.breaker_failures", 1..=1_000))
                    .unwrap_or(5),
                open_for: check.millis(&self.core.breaker_open_ms, "core.breaker_open_ms"),
            },
            max_in_flight: usize::try_from(check.number(&self.core.max_in_flight, "core.max_in_flight", 1..=100_000))
                .unwrap_or(256),
            tls: check.outgoing_tls(
                "core",
                [&self.core.ca_file, &self.core.client_cert_file, &self.core.client_key_file],
                base,
            ),
            name: self.core.name.get_ref().clone(),
            dialect: check.dialect(&self.core.dialect, "core.dialect"),
            systems: self
                .core
                .systems
                .iter()
                .enumerate()
                .map(|(i, s)| CoreSystemConfig {
                    name: check.system_name(&s.name, &format!("core.systems[{i}].name")),
                    dialect: check.dialect(&s.dialect, &format!("core.systems[{i}].dialect")),
                    base_url: check.url(&s.base_url, &format!("core.systems[{i}].base_url")),
                    accounts: s
                        .accounts
                        .iter()
                        .enumerate()
                        .filter_map(|(j, r)| {
                            crate::core::AccountRange::new(r.from.get_ref(), r.to.get_ref())
                                .map_err(|reason| {
                                    let field = format!("core.systems[{i}].accounts[{j}]");
                                    check.errors.push(source.error(r.from.span(), field, reason));
                                })
                                .ok()
                        })
                        .collect(),
                })
                .collect(),
            products: self.core.routes.products.as_ref().unwrap_or(&self.core.name).get_ref().clone(),
            customers: self.core.routes.customers.as_ref().unwrap_or(&self.core.name).get_ref().clone(),
        };
        check.system_name(&self.core.name, "core.name");
        for e in core.topology(&crate::core::OutgoingTls::default()).check() {
            use crate::core::routing::Place;
            // Systems as the topology numbers them: 0 is [core], i is [[core.systems]][i - 1].
            let file_system = |i: usize| i.checked_sub(1).and_then(|i| self.core.systems.get(i));
            let span = match e.place {
                // A system whose every range was refused above is not also told to name one.
                Place::SystemAccounts(i) if file_system(i).is_some_and(|s| !s.accounts.is_empty()) => continue,
                Place::SystemName(i) | Place::SystemAccounts(i) => file_system(i).map(|s| s.name.span()),
                Place::SystemRange(i, j) => file_system(i).and_then(|s| s.accounts.get(j)).map(|r| r.from.span()),
                Place::Products => self.core.routes.products.as_ref().map(Spanned::span),
                Place::Customers => self.core.routes.customers.as_ref().map(Spanned::span),
            }
            .unwrap_or_else(|| self.core.name.span());
            check.errors.push(source.error(span, format!("core.{}", e.place), e.reason));
        }
        // Only between two valid values: an out-of-range timeout is already the error to fix.
        if TIMEOUT_MS.contains(self.core.timeout_ms.get_ref()) && core.connect_timeout > core.timeout {
            let reason = format!("must not exceed `core.timeout_ms` ({})", self.core.timeout_ms.get_ref());
            check.errors.push(source.error(self.core.connect_timeout_ms.span(), "core.connect_timeout_ms", reason));
        }
        let partners = PartnersConfig { dir: check.path(&self.partners.dir, "partners.dir", base) };
        if self.log.level.get_ref().trim().is_empty() {
            check.errors.push(source.error(self.log.level.span(), "log.level", "must not be empty (e.g. `info`)"));
        }
        let log = LogConfig { format: *self.log.format.get_ref(), level: self.log.level.get_ref().clone() };
        let lease = check.number(&self.payments.idempotency_lease_secs, "payments.idempotency_lease_secs", LEASE_SECS);
        // A key's lease outlasts any request holding it: the request is cut off (504) before
        // another can take its key over, so no two requests ever act on one key at once.
        // Only between two valid values: an out-of-range one is already the error to fix.
        let request_timeout_ms = *self.server.request_timeout_ms.get_ref();
        if TIMEOUT_MS.contains(&request_timeout_ms)
            && LEASE_SECS.contains(self.payments.idempotency_lease_secs.get_ref())
            && Duration::from_secs(lease) <= server.request_timeout
        {
            let reason = format!(
                "must be longer than `server.request_timeout_ms` ({request_timeout_ms} ms): a request still running \
                 would have its key taken over by a retry"
            );
            check.errors.push(source.error(
                self.payments.idempotency_lease_secs.span(),
                "payments.idempotency_lease_secs",
                reason,
            ));
        }
        let payments = PaymentsConfig { idempotency_lease: Duration::from_secs(lease) };
        let delays = self.webhooks.retry_delays_secs.get_ref();
        if delays.is_empty() || delays.iter().any(|d| !(1..=7 * 86_400).contains(d)) {
            let reason = "must list at least one delay, each 1 to 604800 seconds";
            check.errors.push(source.error(
                self.webhooks.retry_delays_secs.span(),
                "webhooks.retry_delays_secs",
                reason,
            ));
        }
        let horizon = check.number(&self.webhooks.horizon_secs, "webhooks.horizon_secs", 1..=7 * 86_400);
        let webhooks = WebhooksConfig {
            retry_delays: delays.iter().map(|d| Duration::from_secs(u64::try_from(*d).unwrap_or(1))).collect(),
            horizon: Duration::from_secs(horizon),
            tls: check.outgoing_tls(
                "webhooks",
                [&self.webhooks.ca_file, &self.webhooks.client_cert_file, &self.webhooks.client_key_file],
                base,
            ),
        };
        let shared = self.shared.resolve(&mut check);
        let audit = self.audit.resolve(&mut check);
        let mut sandbox = SandboxConfig::default();
        for (i, c) in self.sandbox.headless_customers.iter().enumerate() {
            let id = c.get_ref();
            if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                let reason = "a customer number: 1 to 32 letters or digits";
                check.errors.push(source.error(c.span(), format!("sandbox.headless_customers[{i}]"), reason));
            }
            sandbox.headless_customers.push(id.clone());
        }
        if !check.errors.is_empty() {
            check.errors.sort_by_key(|e| (e.line, e.column));
            return Err(check.errors);
        }
        Ok(GatewayConfig { server, auth, core, storage, partners, payments, webhooks, sandbox, shared, audit, log })
    }
}
