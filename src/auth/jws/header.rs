//! The protected header of an incoming detached JWS, parsed strictly: every rule that needs
//! no key and no clock is checked here, before any cryptography runs.

use std::collections::BTreeSet;
use std::fmt;

use jsonwebtoken::Algorithm;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::JwsError;

/// The UK Open Banking spelling of `iat` (read/write API v3.1.x signing profile).
pub(super) const OB_IAT: &str = "http://openbanking.org.uk/iat";

/// Names this verifier understands when they are listed in `crit` (RFC 7515 §4.1.11).
const UNDERSTOOD_CRITICAL: &[&str] = &["b64", "iat", OB_IAT];

/// Header Parameters that RFC 7515 §4.1 itself defines: a producer MUST NOT list them in
/// `crit`, so a header that does is malformed, whatever else it says.
const JWS_REGISTERED: &[&str] = &["alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit"];

/// What the rest of verification needs from the header.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Protected {
    /// ES256 or PS256; anything else was refused while parsing.
    pub alg: Algorithm,
    pub kid: String,
    pub iat: i64,
    /// RFC 7797: `false` means the body bytes are signed as they are, not base64url-encoded.
    pub b64: bool,
}

/// Parses and checks the decoded protected header. `jku`, `jwk`, `x5u` and `x5c` are
/// ignored on purpose: keys come from the partner's registration, never from the message.
pub(super) fn parse(json: &[u8]) -> Result<Protected, JwsError> {
    let UniqueObject(header) = serde_json::from_slice(json)
        .map_err(|e| JwsError::Malformed(format!("the protected header is not a JSON object: {e}")))?;

    let alg = match header.get("alg") {
        None => return Err(malformed("the protected header has no `alg`")),
        Some(Value::String(alg)) if alg == "ES256" => Algorithm::ES256,
        Some(Value::String(alg)) if alg == "PS256" => Algorithm::PS256,
        // `none`, HS*, RS256 and the rest: refused before a key is even looked up.
        Some(_) => return Err(JwsError::UnsupportedAlgorithm),
    };
    let kid = match header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => kid.clone(),
        Some(_) => return Err(malformed("`kid` must be a non-empty string")),
        None => return Err(malformed("the protected header has no `kid`")),
    };
    match header.get("typ") {
        // A media type, compared case-insensitively (RFC 7515 §4.1.9, RFC 2045).
        Some(Value::String(typ)) if typ.eq_ignore_ascii_case("JOSE") => {}
        None => {}
        Some(_) => return Err(malformed("`typ`, when present, must be \"JOSE\"")),
    }
    let critical = critical(&header)?;
    let b64 = match header.get("b64") {
        None | Some(Value::Bool(true)) => true,
        Some(Value::Bool(false)) if critical.contains("b64") => false,
        // RFC 7797 §6: a verifier that did not know `b64` would otherwise check the wrong bytes.
        Some(Value::Bool(false)) => return Err(malformed("`b64: false` must also be listed in `crit`")),
        Some(_) => return Err(malformed("`b64` must be a boolean")),
    };
    Ok(Protected { alg, kid, iat: iat(&header)?, b64 })
}

fn malformed(reason: &str) -> JwsError {
    JwsError::Malformed(reason.to_owned())
}

/// Checks `crit` as RFC 7515 §4.1.11 asks, returning the names it lists.
fn critical(header: &Map<String, Value>) -> Result<BTreeSet<&str>, JwsError> {
    let Some(crit) = header.get("crit") else { return Ok(BTreeSet::new()) };
    let Some(names) = crit.as_array().filter(|names| !names.is_empty()) else {
        return Err(malformed("`crit` must be a non-empty array of header names"));
    };
    let mut listed = BTreeSet::new();
    for name in names {
        let Some(name) = name.as_str() else { return Err(malformed("`crit` must list header names as strings")) };
        if JWS_REGISTERED.contains(&name) {
            return Err(JwsError::Malformed(format!("`crit` must not list `{name}`, which every JWS verifier knows")));
        }
        if !UNDERSTOOD_CRITICAL.contains(&name) {
            return Err(JwsError::UnsupportedCritical(name.to_owned()));
        }
        if !header.contains_key(name) {
            return Err(JwsError::Malformed(format!("`crit` lists `{name}`, which the header does not carry")));
        }
        if !listed.insert(name) {
            return Err(JwsError::Malformed(format!("`crit` lists `{name}` twice")));
        }
    }
    Ok(listed)
}

/// `iat` or its UK Open Banking name; when both are given they must agree.
fn iat(header: &Map<String, Value>) -> Result<i64, JwsError> {
    let read = |name: &str| {
        header.get(name).map(|value| {
            value.as_i64().ok_or_else(|| JwsError::Malformed(format!("`{name}` must be an integer NumericDate")))
        })
    };
    match (read("iat").transpose()?, read(OB_IAT).transpose()?) {
        (Some(a), Some(b)) if a != b => Err(JwsError::Malformed(format!("`iat` and `{OB_IAT}` disagree"))),
        (Some(iat), _) | (None, Some(iat)) => Ok(iat),
        (None, None) => Err(JwsError::MissingIat),
    }
}

/// A JSON object that refuses duplicate member names. RFC 7515 §4 lets a parser keep the
/// last duplicate instead, but another JOSE library in the partner's chain may keep the
/// first: refusing leaves no room for the two to read different headers.
struct UniqueObject(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(UniqueObjectVisitor)
    }
}

struct UniqueObjectVisitor;

impl<'de> Visitor<'de> for UniqueObjectVisitor {
    type Value = UniqueObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<UniqueObject, A::Error> {
        let mut members = Map::new();
        while let Some((name, value)) = access.next_entry::<String, Value>()? {
            if members.contains_key(&name) {
                return Err(serde::de::Error::custom(format_args!("the member `{name}` appears twice")));
            }
            members.insert(name, value);
        }
        Ok(UniqueObject(members))
    }
}
