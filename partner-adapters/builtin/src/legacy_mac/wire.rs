//! The legacy form: parameters from the form body, each at most once.

use scenegate_adapter_contract::{AdapterError, RawRequest};

/// Parameters a request may carry; anything else is refused.
const PARAMETERS: &[&str] = &[
    "mch_id",
    "method",
    "nonce_str",
    "timestamp",
    "sign_type",
    "sign",
    "product_type",
    "limit",
    "cursor",
    "product_id",
];

pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(req: &RawRequest) -> Result<Self, AdapterError> {
        let content_type = req.header("content-type").unwrap_or_default();
        let media = content_type.split(';').next().unwrap_or_default().trim();
        if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            let got = if content_type.is_empty() { "no Content-Type".to_owned() } else { format!("`{content_type}`") };
            return Err(AdapterError::UnsupportedMediaType { expected: "application/x-www-form-urlencoded", got });
        }
        if req.query.as_deref().is_some_and(|q| !q.is_empty()) {
            return Err(AdapterError::field("query", "send every parameter in the form body"));
        }
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&req.body).map_err(|e| AdapterError::MalformedBody(e.to_string()))?;
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !PARAMETERS.contains(&name.as_str()) {
                let name = name.chars().take(40).collect::<String>();
                return Err(AdapterError::field(name, format!("unknown parameter; known: {}", PARAMETERS.join(", "))));
            }
            if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(AdapterError::field(name.clone(), "given more than once"));
            }
        }
        Ok(Self(pairs))
    }

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
