//! A partner's `[payments]` and `[webhooks]` tables: the merchants it may collect for, its
//! limits per currency, whether its payment calls must be signed, and how its webhooks are
//! signed and where they may go.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use scenegate_adapter_contract::{Currency, Money};
use serde::Deserialize;
use toml::Spanned;

use super::errors::{ConfigError, Source};
use super::partner::Environment;
use crate::events::signing::WebhookSigner;

/// A partner's own limits in one currency, in minor units: one payment, and everything it
/// initiates in a Beijing day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaymentLimits {
    pub per_payment: i64,
    pub per_day: i64,
}

/// A settlement account a payment consent may name by id as its creditor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merchant {
    pub account: String,
    pub name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaymentSettings {
    pub merchants: BTreeMap<String, Merchant>,
    pub limits: BTreeMap<Currency, PaymentLimits>,
    /// Payment calls must carry `x-jws-signature`. Only a sandbox partner may turn it off.
    pub require_signatures: bool,
}

/// How this partner's webhooks are signed and where they may go.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Standard Webhooks' signer; `None` when no `secret_file` is given, which only a
    /// partner whose adapter signs its own notifications may leave out.
    pub signer: Option<Arc<WebhookSigner>>,
    /// Sandbox only: deliver to private and loopback addresses (a developer's machine).
    pub allow_private_network: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PaymentsFile {
    #[serde(default)]
    merchants: BTreeMap<String, Spanned<MerchantFile>>,
    #[serde(default)]
    limits: BTreeMap<String, Spanned<LimitsFile>>,
    require_signatures: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MerchantFile {
    account: String,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    per_payment: String,
    per_day: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WebhooksFile {
    /// Relative to the partner file's folder; holds `whsec_…` (HMAC-SHA256) or `whsk_…`
    /// (Ed25519). A secret, so never inline. Required for Standard Webhooks; a partner whose
    /// adapter signs its own notifications has none.
    secret_file: Option<Spanned<String>>,
    allow_private_network: Option<Spanned<bool>>,
}

pub(super) fn payments(
    src: &Source<'_>,
    file: Option<&Spanned<PaymentsFile>>,
    env: Environment,
    errors: &mut Vec<ConfigError>,
) -> PaymentSettings {
    let Some(file) = file else { return PaymentSettings { require_signatures: true, ..PaymentSettings::default() } };
    let table = file.get_ref();
    let mut out = PaymentSettings { require_signatures: true, ..PaymentSettings::default() };
    for (id, m) in &table.merchants {
        let field = format!("payments.merchants.{id}");
        let valid_id =
            (1..=32).contains(&id.len()) && id.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
        let merchant = m.get_ref();
        if !valid_id {
            errors.push(src.error(m.span(), field, "a merchant id is 1 to 32 of a-z, 0-9, `_`, `-`"));
        } else if merchant.account.is_empty()
            || merchant.account.len() > 34
            || !merchant.account.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            errors.push(src.error(m.span(), format!("{field}.account"), "must be 1 to 34 letters or digits"));
        } else if merchant.name.trim().is_empty() || merchant.name.chars().count() > 140 {
            errors.push(src.error(m.span(), format!("{field}.name"), "must be 1 to 140 characters"));
        } else {
            out.merchants.insert(
                id.clone(),
                Merchant { account: merchant.account.clone(), name: merchant.name.trim().to_owned() },
            );
        }
    }
    for (code, l) in &table.limits {
        let field = format!("payments.limits.{code}");
        let currency: Currency = match code.parse() {
            Ok(c) => c,
            Err(e) => {
                errors.push(src.error(l.span(), field, e.to_string()));
                continue;
            }
        };
        let amount = |name: &str, text: &str| -> Result<i64, String> {
            let money = Money::parse(text, currency).map_err(|e| format!("`{name}`: {e}"))?;
            money.to_minor().filter(|m| *m > 0).ok_or_else(|| format!("`{name}` must be more than zero"))
        };
        match (amount("per_payment", &l.get_ref().per_payment), amount("per_day", &l.get_ref().per_day)) {
            (Ok(per_payment), Ok(per_day)) if per_day >= per_payment => {
                out.limits.insert(currency, PaymentLimits { per_payment, per_day });
            }
            (Ok(_), Ok(_)) => {
                errors.push(src.error(l.span(), format!("{field}.per_day"), "must be at least `per_payment`"))
            }
            (Err(reason), _) | (_, Err(reason)) => errors.push(src.error(l.span(), field, reason)),
        }
    }
    if let Some(flag) = &table.require_signatures {
        if !*flag.get_ref() && env != Environment::Sandbox {
            errors.push(src.error(
                flag.span(),
                "payments.require_signatures",
                "only a sandbox partner may send unsigned payment calls",
            ));
        }
        out.require_signatures = *flag.get_ref();
    }
    out
}

/// The webhook signer, read from its secret file (watched like a key file).
pub(super) fn webhooks(
    src: &Source<'_>,
    file: Option<&Spanned<WebhooksFile>>,
    env: Environment,
    errors: &mut Vec<ConfigError>,
) -> Option<WebhookSettings> {
    let table = file?.get_ref();
    let allow_private = table.allow_private_network.as_ref().is_some_and(|f| *f.get_ref());
    if let Some(flag) = &table.allow_private_network
        && *flag.get_ref()
        && env != Environment::Sandbox
    {
        errors.push(src.error(flag.span(), "webhooks.allow_private_network", "only a sandbox partner may allow it"));
    }
    let Some(secret_file) = &table.secret_file else {
        return Some(WebhookSettings { signer: None, allow_private_network: allow_private });
    };
    let written = secret_file.get_ref();
    let path = secret_path(src.path, written);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            let reason = format!("cannot read `{written}` (resolved to `{}`): {e}", path.display());
            errors.push(src.error(secret_file.span(), "webhooks.secret_file", reason));
            return None;
        }
    };
    match WebhookSigner::from_secret(text.trim()) {
        Ok(signer) => Some(WebhookSettings { signer: Some(Arc::new(signer)), allow_private_network: allow_private }),
        Err(e) => {
            let reason = format!("`{written}` does not hold a `whsec_` or `whsk_` secret: {e}");
            errors.push(src.error(secret_file.span(), "webhooks.secret_file", reason));
            None
        }
    }
}

pub(super) fn secret_path(partner_file: &Path, written: &str) -> PathBuf {
    partner_file.parent().unwrap_or(Path::new("")).join(written)
}

/// The secret file `[webhooks]` names, for the reload to watch.
pub(super) fn referenced_file(partner_file: &Path, file: Option<&Spanned<WebhooksFile>>) -> Option<PathBuf> {
    let written = file?.get_ref().secret_file.as_ref()?.get_ref();
    (!written.trim().is_empty()).then(|| secret_path(partner_file, written))
}
