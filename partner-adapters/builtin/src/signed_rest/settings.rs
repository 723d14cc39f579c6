//! `[adapter.settings]` of a `signed-rest` partner.

use scenegate_adapter_contract::{AdapterConfigError, BuildContext, SignatureSuite};

use crate::suites::{SigningKey, VerifyKey, aead::AeadAlgorithm, sm3};

pub const DEFAULT_WINDOW_SECONDS: i64 = 300;

#[derive(Debug)]
pub struct Settings {
    /// The partner's merchant id; a request naming another is refused.
    pub mchid: String,
    pub sign_type: SignatureSuite,
    /// The partner's keys by serial number (`[[keys.protocol]]` ids).
    pub partner_keys: Vec<(String, VerifyKey)>,
    pub response_key: SigningKey,
    /// The serial the partner looks the bank's key up by (`Scenegate-Serial`).
    pub response_serial: String,
    /// The notification key: the API key itself (AES-256-GCM) or the first 16 bytes of its
    /// SM3 (SM4-GCM).
    pub notify_key: Vec<u8>,
    pub notify_algorithm: AeadAlgorithm,
    pub window_seconds: i64,
}

const KNOWN: &[&str] =
    &["mchid", "sign_type", "response_key_file", "response_key_serial", "api_key_file", "timestamp_window_seconds"];

fn refuse(field: impl Into<String>, reason: impl Into<String>) -> AdapterConfigError {
    AdapterConfigError { field: field.into(), reason: reason.into() }
}

fn text(table: &toml::Table, field: &str) -> Result<String, AdapterConfigError> {
    match table.get(field) {
        Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(_) => Err(refuse(field, "must be a non-empty string")),
        None => Err(refuse(field, "required")),
    }
}

impl Settings {
    pub fn from_context(ctx: &BuildContext<'_>) -> Result<Self, AdapterConfigError> {
        let table = ctx.settings;
        if let Some(unknown) = table.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(refuse(unknown.as_str(), format!("unknown setting; known: {}", KNOWN.join(", "))));
        }
        let mchid = text(table, "mchid")?;
        if mchid.len() > 32 || !mchid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(refuse("mchid", "must be 1 to 32 letters and digits"));
        }
        let sign_type = match SignatureSuite::parse(&text(table, "sign_type")?) {
            Some(s @ (SignatureSuite::Rsa2 | SignatureSuite::Sm2)) => s,
            _ => return Err(refuse("sign_type", "must be RSA2 or SM2")),
        };
        let mut partner_keys = Vec::new();
        for key in ctx.keys {
            if key.suite != sign_type {
                let reason = format!("is a {} key; this partner signs with {}", key.suite.name(), sign_type.name());
                return Err(refuse(format!("{}.suite", key.field), reason));
            }
            let parsed = VerifyKey::from_pem(sign_type, &key.pem)
                .map_err(|e| refuse(format!("{}.file", key.field), e.to_string()))?;
            partner_keys.push((key.id.clone(), parsed));
        }
        if partner_keys.is_empty() {
            let reason = format!("register the partner's {} public key in `[[keys.protocol]]`", sign_type.name());
            return Err(refuse("keys.protocol", reason));
        }
        let read = |field: &str| -> Result<Vec<u8>, AdapterConfigError> {
            (ctx.read_file)(&text(table, field)?).map_err(|e| refuse(field, e))
        };
        let pem = String::from_utf8(read("response_key_file")?).map_err(|_| refuse("response_key_file", "not PEM"))?;
        let response_key =
            SigningKey::from_pem(sign_type, &pem).map_err(|e| refuse("response_key_file", e.to_string()))?;
        let response_serial = text(table, "response_key_serial")?;
        if response_serial.len() > 64 || !response_serial.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(refuse("response_key_serial", "must be 1 to 64 visible ASCII characters"));
        }
        let api_key = read("api_key_file")?;
        let api_key = api_key.trim_ascii();
        if api_key.len() != 32 || !api_key.iter().all(u8::is_ascii_graphic) {
            return Err(refuse("api_key_file", "the API key must be exactly 32 visible ASCII characters"));
        }
        let (notify_key, notify_algorithm) = match sign_type {
            SignatureSuite::Sm2 => (sm3(api_key)[..16].to_vec(), AeadAlgorithm::Sm4Gcm),
            _ => (api_key.to_vec(), AeadAlgorithm::Aes256Gcm),
        };
        let window_seconds = match table.get("timestamp_window_seconds") {
            None => DEFAULT_WINDOW_SECONDS,
            Some(toml::Value::Integer(n)) if (30..=900).contains(n) => *n,
            Some(_) => return Err(refuse("timestamp_window_seconds", "must be a whole number from 30 to 900")),
        };
        Ok(Self {
            mchid,
            sign_type,
            partner_keys,
            response_key,
            response_serial,
            notify_key,
            notify_algorithm,
            window_seconds,
        })
    }

    /// The `Authorization` scheme of this partner's suite.
    pub fn scheme(&self) -> &'static str {
        match self.sign_type {
            SignatureSuite::Sm2 => "SCENEGATE-SM2-WITH-SM3",
            _ => "SCENEGATE-SHA256-RSA2048",
        }
    }
}
