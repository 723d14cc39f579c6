//! What the partner protocols share: form parameters of the single-URL protocols
//! (`open-platform`, `legacy-mac`), each name at most once and only names the protocol knows;
//! and the rule for a partner's own order numbers.

use scenegate_adapter_contract::AdapterError;

/// A request's parameters, checked.
#[derive(Debug)]
pub struct FormParams(Vec<(String, String)>);

impl FormParams {
    /// Refuses a name the protocol does not know (a typo would otherwise be signed and then
    /// silently ignored) and a name given twice (a verifier and a decoder could read
    /// different ones).
    pub fn checked(pairs: Vec<(String, String)>, known: &[&str]) -> Result<Self, AdapterError> {
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !known.contains(&name.as_str()) {
                let name = name.chars().take(40).collect::<String>();
                return Err(AdapterError::field(name, format!("unknown parameter; known: {}", known.join(", "))));
            }
            if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(AdapterError::field(name.clone(), "given more than once"));
            }
        }
        Ok(Self(pairs))
    }

    /// The form body's pairs, refused unless sent as a form.
    pub fn body_pairs(content_type: &str, body: &[u8]) -> Result<Vec<(String, String)>, AdapterError> {
        if !is_form(content_type) {
            let got = if content_type.is_empty() { "no Content-Type".to_owned() } else { format!("`{content_type}`") };
            return Err(AdapterError::UnsupportedMediaType { expected: "application/x-www-form-urlencoded", got });
        }
        serde_urlencoded::from_bytes(body).map_err(|e| AdapterError::MalformedBody(e.to_string()))
    }

    /// A parameter's value; an empty value counts as absent (and is not signed).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<&str, AdapterError> {
        self.get(name).ok_or_else(|| AdapterError::field(name, "required"))
    }

    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// A partner's order or request number, which becomes an idempotency key: 1 to 64 of
/// letters, digits, `_` and `-`.
pub fn order_number(field: &'static str, value: &str) -> Result<(), AdapterError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(AdapterError::field(field, "must be 1 to 64 of A-Z, a-z, 0-9, `_`, `-`")) }
}

/// `application/x-www-form-urlencoded`, with at most a UTF-8 `charset`.
fn is_form(content_type: &str) -> bool {
    let mut parts = content_type.split(';').map(str::trim);
    parts.next().is_some_and(|m| m.eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        && parts.all(|p| match p.split_once('=') {
            Some((n, v)) if n.trim().eq_ignore_ascii_case("charset") => v.trim().eq_ignore_ascii_case("utf-8"),
            _ => p.is_empty(),
        })
}
