//! The partner file as written (`config/partners/<name>.toml`) and the rules that turn it into
//! a [`Partner`]. Every rule that fails adds one [`ConfigError`] naming the key and its
//! position; all of them are collected, so one round of edits can fix a file.

use std::collections::BTreeSet;
use std::fs;
use std::num::NonZeroU32;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use scenegate_adapter_contract::{
    BuildContext, Capabilities, Notifications, PartnerAdapter, ProtocolKey, SecurityLevel,
};
use scenegate_listener::tls::subject::DistinguishedName;
use serde::Deserialize;
use toml::Spanned;

use super::errors::{ConfigError, Source};
use super::keys::{self, KeysFile};
use super::partner::{ClientCertAuth, Contact, Environment, Partner, PartnerStatus, RateLimit};
use super::{KNOWN_SCOPES, min_level, payments, urls};

/// Required keys are `Option`s here and checked by [`Check::partner`], so a missing one is
/// reported beside every other error of the file instead of ending the parse.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnerFile {
    id: Option<Spanned<String>>,
    display_name: Option<Spanned<String>>,
    status: Option<PartnerStatus>,
    environment: Option<Environment>,
    security_level: Option<Spanned<SecurityLevel>>,
    risk_assessment_ref: Option<Spanned<String>>,
    scopes: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    redirect_uris: Vec<Spanned<String>>,
    webhook_url: Option<Spanned<String>>,
    rate_limit: Option<RateLimitFile>,
    keys: Option<Spanned<KeysFile>>,
    adapter: Option<AdapterFile>,
    contact: Option<ContactFile>,
    payments: Option<Spanned<payments::PaymentsFile>>,
    webhooks: Option<Spanned<payments::WebhooksFile>>,
    mtls: Option<Spanned<MtlsFile>>,
    dpop: Option<DpopFile>,
}

/// `[dpop]`: with `required = true`, every token request must carry a DPoP proof (RFC 9449)
/// and every token is bound to the proof's key. Without it, a proof is still honoured.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DpopFile {
    #[serde(default)]
    required: bool,
    /// Proofs must carry a server-provided nonce (RFC 9449 §8, §9).
    #[serde(default)]
    require_nonce: bool,
}

/// `[mtls]`: the partner's TLS client certificates (RFC 8705), pinned by thumbprint
/// (`self_signed_tls_client_auth`) or issued by a CA the bank trusts to a registered subject
/// (`tls_client_auth`). With it, the partner must present one at the token endpoint and every
/// token it gets is bound to that certificate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MtlsFile {
    /// `x5t#S256` values: base64url SHA-256 of each certificate's DER (two during a rotation).
    #[serde(default)]
    certificate_thumbprints: Vec<Spanned<String>>,
    /// The subject DN (RFC 4514) of a certificate from `[server.tls] client_ca_file`.
    subject_dn: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitFile {
    // Signed, so a negative number gets the range message rather than a type error.
    requests_per_second: Option<Spanned<i64>>,
    burst: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdapterFile {
    name: Spanned<String>,
    settings: Option<Spanned<toml::Table>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactFile {
    name: Spanned<String>,
    email: Spanned<String>,
}

const RATE_RANGE: std::ops::RangeInclusive<i64> = 1..=100_000;

/// A checked partner, plus an error pre-positioned at its `id` (reason left empty) for the
/// directory walk to complete if another file claims the same id.
pub(super) struct Loaded {
    pub partner: Partner,
    pub id_error: ConfigError,
}

/// One partner file's load: the partner or every error, and the other files it names (a
/// JWK Set file), which the reload watches too, so an edit to them applies like one to this.
pub(super) struct FileLoad {
    pub result: Result<Loaded, Vec<ConfigError>>,
    pub references: Vec<PathBuf>,
}

pub(super) fn load(path: &Path) -> FileLoad {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            let error = ConfigError::unplaced(path, "(file)", format!("cannot read: {e}"));
            return FileLoad { result: Err(vec![error]), references: Vec::new() };
        }
    };
    let src = Source::new(path, &text);
    // Unknown keys and wrong types are reported with the value errors below.
    let (file, shape_errors) = src.parse_all::<PartnerFile>();
    let Some(file) = file else { return FileLoad { result: Err(shape_errors), references: Vec::new() } };
    let jwks_file = file.keys.as_ref().and_then(|k| keys::referenced_file(path, k.get_ref()));
    let protocol_files = file.keys.as_ref().map(|k| keys::protocol_files(path, k.get_ref())).unwrap_or_default();
    let mut references: Vec<PathBuf> = jwks_file
        .clone()
        .into_iter()
        .chain(payments::referenced_file(path, file.webhooks.as_ref()))
        .chain(protocol_files.iter().cloned())
        .collect();
    let id_error = src.error(file.id.as_ref().map_or(0..0, Spanned::span), "id", String::new());
    let mut check = Check { src: &src, errors: shape_errors, adapter_files: Vec::new() };
    let checked = check.partner(file);
    // The files the adapter read (a response-signing key) are watched like the partner file;
    // they are private, so they stay out of the digest.
    references.extend(check.adapter_files.iter().cloned());
    let result = match checked {
        Some(mut partner) if check.errors.is_empty() => {
            partner.digest = digest(&text, jwks_file.as_deref(), &protocol_files);
            Ok(Loaded { partner, id_error })
        }
        _ => {
            // In file order, as an editor walks them.
            check.errors.sort_by_key(|e| (e.line, e.column));
            Err(check.errors)
        }
    };
    FileLoad { result, references }
}

/// SHA-256 of what defines the partner: its file and the public keys it names (not the
/// webhook secret file or an adapter's private key: a digest of a weak secret could be
/// guessed from the audit trail).
fn digest(text: &str, jwks_file: Option<&Path>, protocol_key_files: &[PathBuf]) -> String {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    h.update(text.as_bytes());
    if let Some(jwks) = jwks_file.and_then(|p| fs::read(p).ok()) {
        h.update(b"\0jwks\0");
        h.update(jwks);
    }
    for key in protocol_key_files.iter().filter_map(|p| fs::read(p).ok()) {
        h.update(b"\0key\0");
        h.update(key);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

struct Check<'a> {
    src: &'a Source<'a>,
    /// Files the partner's adapter read while being built.
    adapter_files: Vec<PathBuf>,
    errors: Vec<ConfigError>,
}

impl Check<'_> {
    fn fail(&mut self, span: Range<usize>, field: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(self.src.error(span, field, reason));
    }

    /// A required key: its value, or a "missing field" error (unless the key was there with
    /// a wrong type, already reported).
    fn required<T>(&mut self, value: Option<T>, field: &str) -> Option<T> {
        if value.is_none() && !self.errors.iter().any(|e| e.field == field) {
            self.fail(0..0, field, format!("missing field `{field}`"));
        }
        value
    }

    /// Runs every rule; `None` when a part could not be built (its error is recorded).
    fn partner(&mut self, f: PartnerFile) -> Option<Partner> {
        let id = self.required(f.id, "id");
        if let Some(id) = &id
            && !is_valid_id(id.get_ref())
        {
            let reason =
                format!("`{}` is not a partner id: `ptn_` followed by 1 to 48 of a-z, 0-9, `_`, `-`", id.get_ref());
            self.fail(id.span(), "id", reason);
        }
        let display_name = self.required(f.display_name, "display_name");
        if let Some(name) = &display_name
            && name.get_ref().trim().is_empty()
        {
            self.fail(name.span(), "display_name", "must not be empty; customers see it on consent screens");
        }
        let status = self.required(f.status, "status");
        let environment = self.required(f.environment, "environment");
        let security_level = self.required(f.security_level, "security_level");
        let keys_table = self.required(f.keys, "keys");
        let adapter_table = self.required(f.adapter, "adapter");
        let scopes_list = self.required(f.scopes, "scopes");
        // Rules that depend on a missing key are skipped: its absence is the error to fix.
        let level = security_level.as_ref().map(|l| *l.get_ref());
        let risk_assessment_ref = security_level.as_ref().and_then(|l| self.risk_assessment(l, f.risk_assessment_ref));
        let scopes = match (&scopes_list, level) {
            (Some(list), Some(level)) => self.scopes(list, level),
            _ => BTreeSet::new(),
        };
        // The stricter production rules when the environment is unknown.
        let env = environment.unwrap_or(Environment::Production);
        self.urls(&f.redirect_uris, f.webhook_url.as_ref(), env);
        let rate_limit = self.rate_limit(f.rate_limit);
        let partner_keys = keys_table.as_ref().map(|k| keys::load(self.src, k, &mut self.errors));
        let errors_before_keys = self.errors.len();
        let protocol_keys =
            keys_table.as_ref().map(|k| keys::load_protocol(self.src, k, &mut self.errors)).unwrap_or_default();
        let partner_id = id.as_ref().map(|i| i.get_ref().clone()).unwrap_or_default();
        // A refused protocol key is the error to fix; the adapter would only add that it
        // has no key.
        let adapter = match adapter_table.as_ref() {
            Some(a) if self.errors.len() == errors_before_keys => self.adapter(a, &scopes, &partner_id, &protocol_keys),
            _ => None,
        };
        let contact = f.contact.and_then(|c| self.contact(c));
        let payment_settings = payments::payments(self.src, f.payments.as_ref(), env, &mut self.errors);
        let webhooks = payments::webhooks(self.src, f.webhooks.as_ref(), env, &mut self.errors);
        let standard_webhooks =
            adapter.as_ref().is_none_or(|a| a.capabilities.notifications == Notifications::StandardWebhooks);
        if let (Some(table), Some(hooks)) = (f.webhooks.as_ref(), webhooks.as_ref())
            && hooks.signer.is_none()
            && standard_webhooks
        {
            let reason = "required: the `whsec_…` secret Standard Webhooks are signed with (this partner's adapter \
                          sends Standard Webhooks)";
            self.fail(table.span(), "webhooks.secret_file", reason);
        }
        let mtls = f.mtls.as_ref().map(|m| self.client_certificates(m));
        if let Some(list) = scopes_list.as_ref().filter(|_| scopes.contains("payments:write")) {
            let span = list.span();
            if payment_settings.limits.is_empty() {
                let reason =
                    "a partner with `payments:write` needs `[payments.limits.<CURRENCY>]` (per_payment, per_day)";
                self.fail(span.clone(), "payments.limits", reason);
            }
            if standard_webhooks && f.webhook_url.is_some() && webhooks.is_none() && f.webhooks.is_none() {
                let reason =
                    "a partner with `payments:write` and a `webhook_url` needs `[webhooks]` with its `secret_file`";
                self.fail(span, "webhooks", reason);
            }
        }
        if let (Some(url), Some(hooks)) = (f.webhook_url.as_ref(), webhooks.as_ref()) {
            let allow_private = hooks.allow_private_network;
            match url::Url::parse(url.get_ref()) {
                Ok(parsed) => {
                    if let Err(e) = crate::events::ssrf::check_url(&parsed, allow_private) {
                        self.fail(url.span(), "webhook_url", e.to_string());
                    }
                }
                Err(e) => self.fail(url.span(), "webhook_url", e.to_string()),
            }
        }
        Some(Partner {
            id: id?.into_inner(),
            display_name: display_name?.into_inner(),
            status: status?,
            environment: environment?,
            security_level: level?,
            risk_assessment_ref,
            scopes,
            redirect_uris: f.redirect_uris.into_iter().map(Spanned::into_inner).collect(),
            webhook_url: f.webhook_url.map(Spanned::into_inner),
            rate_limit,
            keys: partner_keys?,
            adapter_name: adapter_table?.name.into_inner(),
            adapter: adapter.as_ref()?.adapter.clone(),
            capabilities: adapter?.capabilities,
            contact,
            source: self.src.path.to_path_buf(),
            staff_stop: false,
            digest: String::new(),
            mtls,
            dpop_required: f.dpop.as_ref().is_some_and(|d| d.required),
            dpop_nonce_required: f.dpop.as_ref().is_some_and(|d| d.require_nonce),
            payments: payment_settings,
            webhooks,
        })
    }

    fn risk_assessment(
        &mut self,
        level: &Spanned<SecurityLevel>,
        reference: Option<Spanned<String>>,
    ) -> Option<String> {
        let blank = reference.as_ref().is_none_or(|r| r.get_ref().trim().is_empty());
        if *level.get_ref() == SecurityLevel::A2 && blank {
            let span = reference.as_ref().map_or(level.span(), Spanned::span);
            let reason =
                "required when `security_level` is A2: the reference of the partner's risk assessment (JR/T 0185)";
            self.fail(span, "risk_assessment_ref", reason);
        }
        reference.map(Spanned::into_inner).filter(|r| !r.trim().is_empty())
    }

    fn scopes(&mut self, scopes: &Spanned<Vec<Spanned<String>>>, level: SecurityLevel) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        if scopes.get_ref().is_empty() {
            self.fail(
                scopes.span(),
                "scopes",
                format!("must list at least one scope; known scopes: {}", known_scopes()),
            );
        }
        for (i, scope) in scopes.get_ref().iter().enumerate() {
            let (field, name) = (format!("scopes[{i}]"), scope.get_ref());
            match min_level(name) {
                None => {
                    self.fail(scope.span(), field, format!("unknown scope `{name}`; known scopes: {}", known_scopes()))
                }
                Some(needed) if needed > level => self.fail(
                    scope.span(),
                    field,
                    format!("scope `{name}` needs security level {needed:?}; this partner is registered at {level:?}"),
                ),
                Some(_) if !seen.insert(name.clone()) => {
                    self.fail(scope.span(), field, format!("`{name}` is listed twice"))
                }
                Some(_) => {}
            }
        }
        seen
    }

    fn urls(&mut self, redirects: &[Spanned<String>], webhook: Option<&Spanned<String>>, env: Environment) {
        let mut seen = BTreeSet::new();
        for (i, uri) in redirects.iter().enumerate() {
            if let Err(reason) = urls::check_partner_url(uri.get_ref(), env) {
                self.fail(uri.span(), format!("redirect_uris[{i}]"), reason);
            } else if !seen.insert(uri.get_ref()) {
                self.fail(uri.span(), format!("redirect_uris[{i}]"), "is listed twice");
            }
        }
        if let Some(url) = webhook
            && let Err(reason) = urls::check_partner_url(url.get_ref(), env)
        {
            self.fail(url.span(), "webhook_url", reason);
        }
    }

    fn rate_limit(&mut self, table: Option<RateLimitFile>) -> RateLimit {
        let default = RateLimit::default();
        let Some(table) = table else { return default };
        let mut number = |value: Option<Spanned<i64>>, field: &str, fallback: NonZeroU32| {
            let Some(value) = value else { return fallback };
            let n = *value.get_ref();
            let checked = u32::try_from(n).ok().and_then(NonZeroU32::new).filter(|_| RATE_RANGE.contains(&n));
            checked.unwrap_or_else(|| {
                let (lo, hi) = (RATE_RANGE.start(), RATE_RANGE.end());
                self.fail(value.span(), field, format!("must be between {lo} and {hi} (got {n})"));
                fallback
            })
        };
        RateLimit {
            requests_per_second: number(
                table.requests_per_second,
                "rate_limit.requests_per_second",
                default.requests_per_second,
            ),
            burst: number(table.burst, "rate_limit.burst", default.burst),
        }
    }

    fn adapter(
        &mut self,
        adapter: &AdapterFile,
        scopes: &BTreeSet<String>,
        partner_id: &str,
        protocol_keys: &[ProtocolKey],
    ) -> Option<BuiltAdapter> {
        let name = adapter.name.get_ref();
        let Some(kind) = scenegate_adapters::find(name) else {
            let known: Vec<_> = scenegate_adapters::builtin().iter().map(|k| format!("`{}`", k.name())).collect();
            let reason = format!("unknown adapter `{name}`; known adapters: {}", known.join(", "));
            self.fail(adapter.name.span(), "adapter.name", reason);
            return None;
        };
        let capabilities = kind.capabilities();
        for scope in scopes {
            let needed = min_level(scope).unwrap_or(SecurityLevel::A2);
            if needed > capabilities.highest_level {
                let reason = format!(
                    "adapter `{name}` carries {:?} data only: its requests are authenticated with a key the bank \
                     shares (a MAC), which JR/T 0185 does not accept for account and money data; scope `{scope}` \
                     needs {needed:?}, so this partner needs a protocol with its own key pair (e.g. `open-platform`)",
                    capabilities.highest_level
                );
                self.fail(adapter.name.span(), "adapter.name", reason);
            } else if !capabilities.uses_scope(scope) {
                let reason = format!("adapter `{name}` carries no operation that needs scope `{scope}`");
                self.fail(adapter.name.span(), "adapter.name", reason);
            }
        }
        let empty = toml::Table::new();
        let settings = adapter.settings.as_ref().map_or(&empty, Spanned::get_ref);
        let dir = self.src.path.parent().unwrap_or(Path::new("")).to_path_buf();
        let read = std::cell::RefCell::new(Vec::new());
        let read_file = |written: &str| -> Result<Vec<u8>, String> {
            let path = dir.join(written);
            read.borrow_mut().push(path.clone());
            super::read_bounded(&path, MAX_ADAPTER_FILE_BYTES)
                .map_err(|e| format!("cannot read `{written}` (resolved to `{}`): {e}", path.display()))
        };
        if !protocol_keys.is_empty() && capabilities.signature_suites().is_empty() {
            let reason = format!("adapter `{name}` authenticates with access tokens; it uses no `[[keys.protocol]]`");
            let span = self.src.key_span(&["keys", "protocol"]).unwrap_or(adapter.name.span());
            self.fail(span, "keys.protocol", reason);
        }
        let ctx = BuildContext { partner_id, settings, keys: protocol_keys, read_file: &read_file };
        let built = kind.build(&ctx);
        self.adapter_files.extend(read.into_inner());
        match built {
            Ok(built) => Some(BuiltAdapter { adapter: Arc::from(built), capabilities }),
            Err(refused) => {
                // A refused key is named by its own place in the file; a setting below
                // `[adapter.settings]`.
                let (field, span) = if refused.field.starts_with("keys.") {
                    (refused.field.clone(), self.src.key_span(&["keys", "protocol"]))
                } else {
                    let first_key = refused.field.split(['.', '[']).next().unwrap_or_default();
                    let field = if refused.field.is_empty() {
                        "adapter.settings".to_owned()
                    } else {
                        format!("adapter.settings.{}", refused.field)
                    };
                    (field, self.src.key_span(&["adapter", "settings", first_key]))
                };
                let span = span.or_else(|| adapter.settings.as_ref().map(Spanned::span)).unwrap_or(adapter.name.span());
                self.fail(span, field, refused.reason);
                None
            }
        }
    }

    fn client_certificates(&mut self, mtls: &Spanned<MtlsFile>) -> ClientCertAuth {
        let file = mtls.get_ref();
        if file.certificate_thumbprints.is_empty() && file.subject_dn.is_none() {
            let reason = "name the partner's certificates: `certificate_thumbprints` (self-signed, RFC 8705 \
                          self_signed_tls_client_auth) or `subject_dn` (issued by a CA of `[server.tls] \
                          client_ca_file`, tls_client_auth)";
            self.fail(mtls.span(), "mtls", reason);
        }
        let subject = file.subject_dn.as_ref().and_then(|dn| {
            DistinguishedName::parse(dn.get_ref())
                .map_err(|e| self.fail(dn.span(), "mtls.subject_dn", e.to_string()))
                .ok()
        });
        ClientCertAuth { thumbprints: self.thumbprints(&file.certificate_thumbprints), subject }
    }

    fn thumbprints(&mut self, list: &[Spanned<String>]) -> Vec<String> {
        let mut out = Vec::new();
        for (i, t) in list.iter().enumerate() {
            let value = t.get_ref();
            let base64url =
                value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if base64url {
                out.push(value.clone());
            } else {
                let reason = "an x5t#S256 thumbprint: base64url (no padding) of the SHA-256 of the certificate's DER, 43 characters";
                self.fail(t.span(), format!("mtls.certificate_thumbprints[{i}]"), reason);
            }
        }
        out
    }

    fn contact(&mut self, contact: ContactFile) -> Option<Contact> {
        let before = self.errors.len();
        if contact.name.get_ref().trim().is_empty() {
            self.fail(contact.name.span(), "contact.name", "must not be empty");
        }
        let email = contact.email.get_ref();
        let plausible = email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@') && !email.contains(char::is_whitespace)
        });
        if !plausible {
            self.fail(contact.email.span(), "contact.email", format!("`{email}` is not an email address"));
        }
        (self.errors.len() == before)
            .then(|| Contact { name: contact.name.into_inner(), email: contact.email.into_inner() })
    }
}

/// What [`is_valid_id`] accepts, as a regular expression for the OpenAPI document.
pub const ID_PATTERN: &str = "^ptn_[a-z0-9_-]{1,48}$";

/// `ptn_` + 1 to 48 of `[a-z0-9_-]`.
pub fn is_valid_id(id: &str) -> bool {
    id.strip_prefix("ptn_").is_some_and(|rest| {
        (1..=48).contains(&rest.len()) && rest.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
    })
}

fn known_scopes() -> String {
    KNOWN_SCOPES.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}

/// An adapter built for one partner, with what its kind can carry.
struct BuiltAdapter {
    adapter: Arc<dyn PartnerAdapter>,
    capabilities: &'static Capabilities,
}

/// Largest file an adapter may read (a private key PEM is a few KB).
const MAX_ADAPTER_FILE_BYTES: u64 = 64 * 1024;
