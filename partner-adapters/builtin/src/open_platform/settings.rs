//! `[adapter.settings]` of an `open-platform` partner, and the keys it is built with.

use scenegate_adapter_contract::{AdapterConfigError, BuildContext, SignatureSuite};

use crate::suites::{SigningKey, VerifyKey};

/// How far a request's `timestamp` may be from the gateway's clock, by default.
pub const DEFAULT_WINDOW_SECONDS: i64 = 300;
/// Open platforms write `timestamp` as local time in China (UTC+8) unless told otherwise.
pub const DEFAULT_UTC_OFFSET: &str = "+08:00";

#[derive(Debug)]
pub struct Settings {
    /// The partner's `app_id` on this protocol; a request naming another is refused.
    pub app_id: String,
    /// The one suite this partner signs with: a request may not downgrade it.
    pub sign_type: SignatureSuite,
    /// The partner's registered public keys for `sign_type` (more than one during a
    /// rotation); a request verifies with any of them.
    pub partner_keys: Vec<VerifyKey>,
    /// The gateway's key for this partner's responses, of `sign_type`.
    pub response_key: SigningKey,
    pub window_seconds: i64,
    /// Offset of the `timestamp`'s local time from UTC, in seconds.
    pub utc_offset_seconds: i32,
}

const KNOWN: &[&str] = &["app_id", "sign_type", "response_key_file", "timestamp_window_seconds", "utc_offset"];

fn refuse(field: impl Into<String>, reason: impl Into<String>) -> AdapterConfigError {
    AdapterConfigError { field: field.into(), reason: reason.into() }
}

fn string<'a>(table: &'a toml::Table, field: &str) -> Result<Option<&'a str>, AdapterConfigError> {
    match table.get(field) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(refuse(field, "must be a string")),
    }
}

fn required<'a>(table: &'a toml::Table, field: &str, what: &str) -> Result<&'a str, AdapterConfigError> {
    string(table, field)?.filter(|s| !s.trim().is_empty()).ok_or_else(|| refuse(field, format!("required: {what}")))
}

impl Settings {
    pub fn from_context(ctx: &BuildContext<'_>) -> Result<Self, AdapterConfigError> {
        let table = ctx.settings;
        if let Some(unknown) = table.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(refuse(unknown.as_str(), format!("unknown setting; known: {}", KNOWN.join(", "))));
        }
        let app_id = required(table, "app_id", "the partner's app_id on this protocol")?;
        let app_id_ok = app_id.len() <= 64 && app_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
        if !app_id_ok {
            return Err(refuse("app_id", "must be 1 to 64 of A-Z, a-z, 0-9, `_`, `-`"));
        }
        let sign_type = required(table, "sign_type", "RSA2 or SM2")?;
        let sign_type = match SignatureSuite::parse(sign_type) {
            Some(s @ (SignatureSuite::Rsa2 | SignatureSuite::Sm2)) => s,
            _ => return Err(refuse("sign_type", format!("`{sign_type}` is not RSA2 or SM2"))),
        };
        let mut partner_keys = Vec::new();
        for key in ctx.keys {
            if key.suite != sign_type {
                let reason = format!("is a {} key; this partner signs with {}", key.suite.name(), sign_type.name());
                return Err(refuse(format!("{}.suite", key.field), reason));
            }
            let parsed = VerifyKey::from_pem(sign_type, &key.pem)
                .map_err(|e| refuse(format!("{}.file", key.field), e.to_string()))?;
            partner_keys.push(parsed);
        }
        if partner_keys.is_empty() {
            return Err(refuse(
                "keys.protocol",
                format!("register the partner's {} public key in `[[keys.protocol]]`", sign_type.name()),
            ));
        }
        let key_file = required(table, "response_key_file", "the gateway's private key (PKCS#8 PEM) for its answers")?;
        let pem = (ctx.read_file)(key_file).map_err(|e| refuse("response_key_file", e))?;
        let pem = String::from_utf8(pem).map_err(|_| refuse("response_key_file", "is not a PEM text file"))?;
        let response_key =
            SigningKey::from_pem(sign_type, &pem).map_err(|e| refuse("response_key_file", e.to_string()))?;
        let window_seconds = match table.get("timestamp_window_seconds") {
            None => DEFAULT_WINDOW_SECONDS,
            Some(toml::Value::Integer(n)) if (30..=900).contains(n) => *n,
            Some(_) => return Err(refuse("timestamp_window_seconds", "must be a whole number from 30 to 900")),
        };
        let offset = string(table, "utc_offset")?.unwrap_or(DEFAULT_UTC_OFFSET);
        let utc_offset_seconds =
            parse_offset(offset).ok_or_else(|| refuse("utc_offset", "must be `+HH:MM` or `-HH:MM`, e.g. `+08:00`"))?;
        Ok(Self {
            app_id: app_id.to_owned(),
            sign_type,
            partner_keys,
            response_key,
            window_seconds,
            utc_offset_seconds,
        })
    }
}

/// `+08:00` → 28800.
fn parse_offset(text: &str) -> Option<i32> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    #[test]
    fn offsets() {
        assert_eq!(super::parse_offset("+08:00"), Some(28_800));
        assert_eq!(super::parse_offset("-05:30"), Some(-19_800));
        for bad in ["08:00", "+8:00", "+08", "+15:00", "+08:60", ""] {
            assert_eq!(super::parse_offset(bad), None, "{bad}");
        }
    }
}
