//! A partner's `[keys]`: the public keys its `private_key_jwt` client assertions are
//! verified with, given inline (`jwks = { keys = [...] }`) or in a JWK Set file.
//!
//! Accepted: EC P-256 keys (ES256) and RSA keys of at least 2048 bits (PS256), each with a
//! unique `kid`. A key carrying private members is refused outright: whoever sent it has
//! leaked it, and accepting it would teach partners that doing so is fine.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use scenegate_adapter_contract::{ProtocolKey, SignatureSuite};
use serde::Deserialize;
use serde_json::{Map, Value};
use toml::Spanned;

use super::errors::{ConfigError, Source};

/// One verified public key of a partner, looked up by the `kid` in an assertion's header.
#[derive(Clone)]
pub struct PartnerKey {
    pub kid: String,
    /// `ES256` or `PS256`; an assertion signed with anything else is refused.
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

impl fmt::Debug for PartnerKey {
    // Key material stays out of logs; the kid is enough to find it in the partner's file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartnerKey").field("kid", &self.kid).field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

/// The `[keys]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeysFile {
    jwks: Option<Spanned<InlineJwks>>,
    /// Relative to the partner file's folder.
    jwks_file: Option<Spanned<String>>,
    /// `[[keys.protocol]]`: public keys for a partner protocol's own request signatures
    /// (the `open-platform` adapter's `RSA2`/`SM2`), checked by the partner's adapter.
    #[serde(default)]
    protocol: Vec<Spanned<ProtocolKeyFile>>,
}

/// One `[[keys.protocol]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProtocolKeyFile {
    /// The protocol's reference to the key (a serial number, a key id); unique per partner.
    id: Spanned<String>,
    /// `RSA2` or `SM2`: what the adapter verifies it with.
    suite: Spanned<String>,
    /// A SubjectPublicKeyInfo PEM file, relative to the partner file's folder.
    file: Spanned<String>,
}

/// Largest PEM public key file read (an RSA-8192 SPKI PEM is under 1.5 KB).
const MAX_PEM_BYTES: u64 = 16 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InlineJwks {
    keys: Vec<Spanned<Value>>,
}

/// JWK members that only a private (or symmetric) key has.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

const MIN_RSA_BITS: usize = 2048;

/// Loads the keys of `[keys]`, pushing one error per refused key (or per set-level problem).
pub(super) fn load(src: &Source<'_>, keys: &Spanned<KeysFile>, errors: &mut Vec<ConfigError>) -> Vec<PartnerKey> {
    let table = keys.get_ref();
    match (&table.jwks, &table.jwks_file) {
        // A partner that only signs its protocol's requests needs no JWK Set: without one it
        // cannot use the token endpoint, which its adapter does not need.
        (None, None) if !table.protocol.is_empty() => Vec::new(),
        (Some(jwks), None) => {
            let values: Vec<&Value> = jwks.get_ref().keys.iter().map(Spanned::get_ref).collect();
            let (loaded, problems) = parse_jwks(&values);
            for problem in problems {
                let (field, span) = match problem.index {
                    Some(i) => (format!("keys.jwks.keys[{i}]"), jwks.get_ref().keys[i].span()),
                    None => ("keys.jwks.keys".to_owned(), jwks.span()),
                };
                let field = match problem.member {
                    Some(member) => format!("{field}.{member}"),
                    None => field,
                };
                errors.push(src.error(span, field, problem.reason));
            }
            loaded
        }
        (None, Some(file)) => load_file(src, file, errors),
        (Some(_), Some(file)) => {
            errors.push(src.error(file.span(), "keys.jwks_file", "give either `jwks` or `jwks_file`, not both"));
            Vec::new()
        }
        (None, None) => {
            let reason = "no keys: give `jwks` (an inline JWK Set) or `jwks_file` (a path to one)";
            errors.push(src.error(keys.span(), "keys", reason));
            Vec::new()
        }
    }
}

/// The `[[keys.protocol]]` keys: each id unique, each suite one a protocol signs with, each
/// file a public key PEM. Whether the key suits the partner's adapter is the adapter's check.
pub(super) fn load_protocol(
    src: &Source<'_>,
    keys: &Spanned<KeysFile>,
    errors: &mut Vec<ConfigError>,
) -> Vec<ProtocolKey> {
    let mut loaded = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, entry) in keys.get_ref().protocol.iter().enumerate() {
        let key = entry.get_ref();
        let at = format!("keys.protocol[{i}]");
        let mut fail =
            |span, member: &str, reason: String| errors.push(src.error(span, format!("{at}.{member}"), reason));
        let id = key.id.get_ref();
        let id_ok = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_graphic());
        if !id_ok {
            fail(key.id.span(), "id", "must be 1 to 64 visible ASCII characters".to_owned());
        } else if !ids.insert(id.clone()) {
            fail(key.id.span(), "id", format!("`{id}` is used by an earlier key; ids must be unique"));
        }
        let suite = SignatureSuite::parse(key.suite.get_ref()).filter(|s| PROTOCOL_SUITES.contains(s));
        if suite.is_none() {
            let known: Vec<&str> = PROTOCOL_SUITES.iter().map(|s| s.name()).collect();
            fail(key.suite.span(), "suite", format!("must be one of {}", known.join(", ")));
        }
        let pem = read_public_pem(src, key.file.get_ref()).map_err(|reason| fail(key.file.span(), "file", reason));
        if let (Some(suite), Ok(pem), true) = (suite, pem, id_ok) {
            loaded.push(ProtocolKey { id: id.clone(), suite, pem, field: at });
        }
    }
    loaded
}

/// Suites a `[[keys.protocol]]` key may name (ES256/PS256 keys go in the JWK Set).
const PROTOCOL_SUITES: &[SignatureSuite] = &[SignatureSuite::Rsa2, SignatureSuite::Sm2];

fn read_public_pem(src: &Source<'_>, written: &str) -> Result<String, String> {
    if written.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    let path = src.path.parent().unwrap_or(Path::new("")).join(written);
    let resolved = || format!("`{written}` (resolved to `{}`)", path.display());
    let bytes = super::read_bounded(&path, MAX_PEM_BYTES).map_err(|e| format!("cannot read {}: {e}", resolved()))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{} is not a PEM text file", resolved()))?;
    if text.contains("PRIVATE KEY-----") {
        return Err(format!(
            "{} holds a private key: never send us a private key. Generate a new key pair, since this one \
             has left your hands, and register only its public key",
            resolved()
        ));
    }
    if !text.contains("-----BEGIN PUBLIC KEY-----") {
        return Err(format!("{} is not a public key PEM (`-----BEGIN PUBLIC KEY-----`)", resolved()));
    }
    Ok(text)
}

/// The files `[[keys.protocol]]` names, resolved against the partner file's folder, for the
/// reload to watch and the digest to cover.
pub(super) fn protocol_files(partner_file: &Path, keys: &KeysFile) -> Vec<std::path::PathBuf> {
    let dir = partner_file.parent().unwrap_or(Path::new(""));
    keys.protocol
        .iter()
        .map(|k| k.get_ref().file.get_ref())
        .filter(|f| !f.trim().is_empty())
        .map(|f| dir.join(f))
        .collect()
}

/// The JWK Set file `[keys]` names, resolved against the partner file's folder: the reload
/// watches it, so replacing or emptying it applies like any edit of the partner file.
pub(super) fn referenced_file(partner_file: &Path, keys: &KeysFile) -> Option<std::path::PathBuf> {
    let written = keys.jwks_file.as_ref()?.get_ref();
    (!written.trim().is_empty()).then(|| partner_file.parent().unwrap_or(Path::new("")).join(written))
}

fn load_file(src: &Source<'_>, file: &Spanned<String>, errors: &mut Vec<ConfigError>) -> Vec<PartnerKey> {
    let written = file.get_ref();
    let mut fail = |reason: String| errors.push(src.error(file.span(), "keys.jwks_file", reason));
    if written.trim().is_empty() {
        fail("must not be empty".to_owned());
        return Vec::new();
    }
    let path = src.path.parent().unwrap_or(Path::new("")).join(written);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            fail(format!("cannot read `{written}` (resolved to `{}`): {e}", path.display()));
            return Vec::new();
        }
    };
    let set: Value = match serde_json::from_str(&text) {
        Ok(set) => set,
        Err(e) => {
            fail(format!("`{written}` is not valid JSON: {e}"));
            return Vec::new();
        }
    };
    let Some(keys) = set.get("keys").and_then(Value::as_array) else {
        fail(format!("`{written}` is not a JWK Set: expected an object with a `keys` array"));
        return Vec::new();
    };
    let values: Vec<&Value> = keys.iter().collect();
    let (loaded, problems) = parse_jwks(&values);
    for problem in problems {
        let at = match problem.index {
            Some(i) => format!(", key {i} ({})", describe_kid(values[i])),
            None => String::new(),
        };
        let member = problem.member.map_or(String::new(), |m| format!(", `{m}`"));
        fail(format!("in `{written}`{at}{member}: {}", problem.reason));
    }
    loaded
}

fn describe_kid(key: &Value) -> String {
    match key.get("kid").and_then(Value::as_str) {
        Some(kid) if !kid.is_empty() => format!("kid `{kid}`"),
        _ => "no kid".to_owned(),
    }
}

/// Why one key (or, with no index, the whole set) was refused.
#[derive(Debug)]
pub(super) struct KeyProblem {
    pub index: Option<usize>,
    /// The JWK member at fault, when there is one.
    pub member: Option<&'static str>,
    pub reason: String,
}

/// Checks a JWK Set's keys; each refused key gives one problem (its first), the rest load.
pub(super) fn parse_jwks(keys: &[&Value]) -> (Vec<PartnerKey>, Vec<KeyProblem>) {
    let mut loaded = Vec::new();
    // An empty set is allowed: removing a compromised key is an emergency action that must
    // never be refused. The partner then simply cannot authenticate (the reload warns).
    let mut problems = Vec::new();
    let mut kids = BTreeSet::new();
    for (i, value) in keys.iter().enumerate() {
        let checked = parse_jwk(value).and_then(|key| {
            if kids.insert(key.kid.clone()) {
                Ok(key)
            } else {
                Err((Some("kid"), format!("kid `{}` is used by an earlier key; kids must be unique", key.kid)))
            }
        });
        match checked {
            Ok(key) => loaded.push(key),
            Err((member, reason)) => problems.push(KeyProblem { index: Some(i), member, reason }),
        }
    }
    (loaded, problems)
}

type Refusal = (Option<&'static str>, String);

fn refuse(member: &'static str, reason: impl Into<String>) -> Refusal {
    (Some(member), reason.into())
}

fn parse_jwk(value: &Value) -> Result<PartnerKey, Refusal> {
    let Some(jwk) = value.as_object() else {
        return Err((None, "a JWK must be an object".to_owned()));
    };
    if let Some(&member) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
        let reason = "this is private key material: never send us a private key. Remove it, and \
                      since it has left your hands, generate a new key pair and send only its public key";
        return Err(refuse(member, reason));
    }
    let kid = match jwk.get("kid") {
        Some(Value::String(kid)) if !kid.trim().is_empty() => kid.clone(),
        Some(Value::String(_)) | None => return Err(refuse("kid", "every key needs a non-empty, unique `kid`")),
        Some(_) => return Err(refuse("kid", "must be a string")),
    };
    match jwk.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(Value::String(other)) => {
            return Err(refuse("use", format!("is `{other}`; only signing keys (`sig`) are accepted")));
        }
        Some(_) => return Err(refuse("use", "must be the string `sig`")),
    }
    let algorithm = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => check_ec(jwk)?,
        Some("RSA") => check_rsa(jwk)?,
        Some(other) => {
            return Err(refuse(
                "kty",
                format!(
                    "key type `{other}` is not accepted; use EC P-256 (ES256) or RSA of at least {MIN_RSA_BITS} bits (PS256)"
                ),
            ));
        }
        None => return Err(refuse("kty", "missing; use `EC` (P-256) or `RSA`")),
    };
    check_alg(jwk, algorithm)?;
    let parsed: Jwk = serde_json::from_value(value.clone()).map_err(|e| (None, format!("not a valid JWK: {e}")))?;
    let key = DecodingKey::from_jwk(&parsed).map_err(|e| (None, format!("cannot be loaded: {e}")))?;
    Ok(PartnerKey { kid, algorithm, key })
}

fn b64_member(jwk: &Map<String, Value>, member: &'static str) -> Result<Vec<u8>, Refusal> {
    let Some(text) = jwk.get(member).and_then(Value::as_str) else {
        return Err(refuse(member, "missing; it must be a base64url string"));
    };
    URL_SAFE_NO_PAD.decode(text).map_err(|e| refuse(member, format!("is not base64url without padding: {e}")))
}

fn check_ec(jwk: &Map<String, Value>) -> Result<Algorithm, Refusal> {
    match jwk.get("crv").and_then(Value::as_str) {
        Some("P-256") => {}
        Some(other) => return Err(refuse("crv", format!("curve `{other}` is not accepted; only P-256 (ES256)"))),
        None => return Err(refuse("crv", "missing; only P-256 (ES256) is accepted")),
    }
    let x = b64_member(jwk, "x")?;
    let y = b64_member(jwk, "y")?;
    for (member, coordinate) in [("x", &x), ("y", &y)] {
        if coordinate.len() != 32 {
            return Err(refuse(member, format!("is {} bytes; a P-256 coordinate is 32", coordinate.len())));
        }
    }
    // jsonwebtoken only checks the point when a signature is verified; do it now so a typo in
    // `x`/`y` is an onboarding error, not a stream of failed logins.
    let point = [&[0x04][..], &x, &y].concat();
    aws_lc_rs::signature::ParsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED, point)
        .map_err(|_| refuse("x", "`x` and `y` are not a point on the P-256 curve"))?;
    Ok(Algorithm::ES256)
}

fn check_rsa(jwk: &Map<String, Value>) -> Result<Algorithm, Refusal> {
    let n = b64_member(jwk, "n")?;
    let e = b64_member(jwk, "e")?;
    if e.iter().all(|b| *b == 0) {
        return Err(refuse("e", "the public exponent is zero"));
    }
    let bits = modulus_bits(&n);
    if bits < MIN_RSA_BITS {
        return Err(refuse("n", format!("the modulus is {bits} bits; at least {MIN_RSA_BITS} are required")));
    }
    Ok(Algorithm::PS256)
}

/// Bit length of a big-endian unsigned integer.
fn modulus_bits(n: &[u8]) -> usize {
    let n = match n.iter().position(|b| *b != 0) {
        Some(first) => &n[first..],
        None => return 0,
    };
    (n.len() - 1) * 8 + (8 - n[0].leading_zeros() as usize)
}

fn check_alg(jwk: &Map<String, Value>, expected: Algorithm) -> Result<(), Refusal> {
    let Some(alg) = jwk.get("alg") else { return Ok(()) };
    let kty = if expected == Algorithm::ES256 { "EC P-256" } else { "RSA" };
    match alg.as_str() {
        Some("ES256") if expected == Algorithm::ES256 => Ok(()),
        Some("PS256") if expected == Algorithm::PS256 => Ok(()),
        Some(name @ ("ES256" | "PS256")) => {
            Err(refuse("alg", format!("`{name}` does not match this {kty} key; use {expected:?} or leave `alg` out")))
        }
        Some(name) => Err(refuse(
            "alg",
            format!(
                "`{name}` is not accepted; only ES256 (EC P-256) and PS256 (RSA) are, so use {expected:?} for this {kty} key"
            ),
        )),
        None => Err(refuse("alg", "must be a string")),
    }
}
