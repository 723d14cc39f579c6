//! What the gateway enforces but the derive macros cannot state, added to the document in
//! one pass so that a client generator or a fuzzer reading it meets no surprise: the pattern
//! of every id in a path and the 400 a malformed one gets; the 408, 413 and 415 every
//! operation with a body can answer; the headers every answer carries; `servers` and
//! `info.contact`. Each rule reads its fact from where the code keeps it (an id's pattern
//! from the id type, the problem schema from `Problem`), so the document cannot drift.

use scenegate_adapter_contract::{AccountId, ConsentId, PaymentId, ProductId};
use serde_json::{Map, Value, json};
use utoipa::openapi::OpenApi;

/// The pattern of a path parameter that names an id.
fn id_pattern(name: &str) -> Option<&'static str> {
    match name {
        "account_id" => Some(AccountId::PATTERN),
        "consent_id" => Some(ConsentId::PATTERN),
        "payment_id" => Some(PaymentId::PATTERN),
        "product_id" => Some(ProductId::PATTERN),
        "event_id" => Some(crate::events::EventId::PATTERN),
        "partner_id" => Some(crate::config::PARTNER_ID_PATTERN),
        _ => None,
    }
}

/// Where the document says the API is. The bank's own `public_url` replaces the first in its
/// published copy; the second is the demo of the README.
const SERVERS: [(&str, &str); 2] = [
    ("https://openapi.bank.example", "The bank's gateway (its `server.public_url`)"),
    ("http://127.0.0.1:8080", "The local demo (`scenegate demo`)"),
];

/// OpenAPI links (§4.8.20) from what an operation creates to the operations that take its
/// id: `(operation, status, link name, target operation, path parameter, body field)`. They
/// tell a client generator (and the fuzzer's stateful phase) that a created consent (account
/// or payment) is read and revoked by its `consent_id`, a payment read and refunded by its
/// `payment_id`.
const LINKS: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("createConsent", "201", "GetConsent", "getConsent", "consent_id", "consent_id"),
    ("createConsent", "201", "DeleteConsent", "deleteConsent", "consent_id", "consent_id"),
    ("createPaymentConsent", "201", "GetPaymentConsent", "getPaymentConsent", "consent_id", "consent_id"),
    ("createPaymentConsent", "201", "RevokePaymentConsent", "revokePaymentConsent", "consent_id", "consent_id"),
    ("createPayment", "201", "GetPayment", "getPayment", "payment_id", "payment_id"),
    ("createPayment", "201", "ListRefunds", "listRefunds", "payment_id", "payment_id"),
    ("createRefund", "201", "GetPayment", "getPayment", "payment_id", "payment_id"),
];

pub fn harden(doc: OpenApi) -> OpenApi {
    let mut v = serde_json::to_value(&doc).expect("an OpenAPI document serialises");
    v["info"]["contact"] = json!({
        "name": "Open banking API support",
        "url": "https://openapi.bank.example/support",
        "email": "openbanking@bank.example",
    });
    v["servers"] = SERVERS.iter().map(|(url, description)| json!({"url": url, "description": description})).collect();
    if let Some(paths) = v["paths"].as_object_mut() {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for op in item.values_mut().filter_map(Value::as_object_mut) {
                operation(op);
            }
        }
    }
    // A `Vec` of permissions (so a repeat can be refused with a message, not dropped) that
    // the code refuses to hold twice.
    if let Some(permissions) = v.pointer_mut("/components/schemas/ConsentRequest/properties/permissions") {
        permissions["uniqueItems"] = json!(true);
    }
    serde_json::from_value(v).expect("the hardened document is still an OpenAPI document")
}

/// Adds this operation's [`LINKS`] to its responses.
fn links(op: &mut Map<String, Value>) {
    let Some(id) = op.get("operationId").and_then(Value::as_str).map(str::to_owned) else { return };
    for (_, status, name, target, param, field) in LINKS.iter().filter(|l| l.0 == id) {
        if let Some(response) = op.get_mut("responses").and_then(|r| r.get_mut(*status)).and_then(Value::as_object_mut)
        {
            let links = response.entry("links").or_insert_with(|| json!({}));
            links[*name] = json!({
                "operationId": target,
                "parameters": { *param: format!("$response.body#/{field}") },
            });
        }
    }
}

fn operation(op: &mut Map<String, Value>) {
    links(op);
    let mut takes_id = false;
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in params.iter_mut().filter(|p| p["in"] == "path") {
            if let Some(pattern) = p["name"].as_str().and_then(id_pattern) {
                p["schema"]["pattern"] = json!(pattern);
                takes_id = true;
            }
        }
    }
    let has_body = op.contains_key("requestBody");
    // The OAuth endpoints authenticate the client themselves: they answer what the
    // pipeline's `CallErrors` documents for the API (quota, refused assertions, an
    // unreachable single-use store).
    let authenticates_client =
        op.get("tags").and_then(|t| t.as_array()).is_some_and(|t| t.iter().any(|t| t == "oauth"))
            && op.get("requestBody").is_some();
    let responses = op.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else { return };
    if takes_id {
        add(responses, "400", "A parameter is malformed (an id not of its pattern); `errors` names it.");
    }
    if authenticates_client {
        add(responses, "429", "The partner's quota is spent, or too many of its assertions were refused lately.");
        add(responses, "503", "A check the request needs cannot be made now (`temporarily_unavailable`).");
    }
    if has_body {
        add(responses, "408", "The body did not arrive within half the request timeout.");
        add(responses, "413", "The body is larger than the gateway accepts.");
        add(responses, "415", "The body is not in the media type this operation documents.");
    }
    for (status, response) in responses.iter_mut() {
        let headers = response.as_object_mut().map(|r| r.entry("headers").or_insert_with(|| json!({})));
        let Some(headers) = headers.and_then(Value::as_object_mut) else { continue };
        for (name, description) in headers_of(status) {
            headers
                .entry(name)
                .or_insert_with(|| json!({ "description": description, "schema": { "type": "string" } }));
        }
    }
}

/// A problem answer, unless the operation documents its own.
fn add(responses: &mut Map<String, Value>, status: &str, description: &str) {
    responses.entry(status).or_insert_with(|| {
        json!({
            "description": description,
            "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } },
        })
    });
}

/// The headers an answer with this status carries.
fn headers_of(status: &str) -> Vec<(&'static str, &'static str)> {
    let mut headers = vec![
        ("x-request-id", "The request's id (yours if you sent a sane one); quote it to the bank."),
        ("x-fapi-interaction-id", "The FAPI interaction id: yours echoed, or one the gateway made."),
    ];
    match status {
        "401" => headers.push(("WWW-Authenticate", "The scheme and why the credentials were refused.")),
        "429" => headers.extend([
            ("Retry-After", "Seconds to wait before retrying."),
            ("RateLimit-Limit", "The partner's burst."),
            ("RateLimit-Remaining", "Calls left in the burst: 0."),
            ("RateLimit-Reset", "Seconds until a call is allowed again."),
        ]),
        "502" | "503" => headers.push(("Retry-After", "Seconds to wait before retrying.")),
        _ => {}
    }
    headers
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn doc() -> Value {
        serde_json::to_value(super::super::spec()).unwrap()
    }

    fn operations(doc: &Value) -> Vec<(String, &Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                out.push((format!("{method} {path}"), op));
            }
        }
        out
    }

    #[test]
    fn every_id_in_a_path_has_its_pattern_and_its_400() {
        let doc = doc();
        let mut ids = 0;
        for (name, op) in operations(&doc) {
            for p in op["parameters"].as_array().into_iter().flatten().filter(|p| p["in"] == "path") {
                let pattern = p["schema"]["pattern"].as_str().unwrap_or_else(|| panic!("{name}: {p}"));
                assert_eq!(Some(pattern), super::id_pattern(p["name"].as_str().unwrap()), "{name}");
                assert!(op["responses"].get("400").is_some(), "{name} documents no 400 for a malformed id");
                ids += 1;
            }
        }
        assert!(ids >= 8, "{ids}");
    }

    #[test]
    fn every_body_can_be_refused_and_every_answer_names_its_headers() {
        let doc = doc();
        for (name, op) in operations(&doc) {
            if op.get("requestBody").is_some() {
                for status in ["408", "413", "415"] {
                    assert!(op["responses"].get(status).is_some(), "{name} lacks {status}");
                }
            }
            for (status, response) in op["responses"].as_object().unwrap() {
                assert!(response["headers"].get("x-request-id").is_some(), "{name} {status}");
                if status == "429" {
                    assert!(response["headers"].get("Retry-After").is_some(), "{name}");
                    assert!(response["headers"].get("RateLimit-Reset").is_some(), "{name}");
                }
            }
        }
        assert!(doc["servers"].as_array().is_some_and(|s| !s.is_empty()));
        assert!(doc["info"]["contact"]["email"].is_string());
    }

    #[test]
    fn the_consent_request_states_what_the_code_enforces() {
        let doc = doc();
        let consent = &doc["components"]["schemas"]["ConsentRequest"]["properties"];
        assert_eq!(consent["permissions"]["minItems"], 1);
        assert_eq!(consent["permissions"]["uniqueItems"], true);
        assert_eq!(consent["purpose"]["maxLength"], crate::consent::MAX_PURPOSE_CHARS);
        assert_eq!(consent["expiration"]["format"], "date-time");
    }

    #[test]
    fn every_time_is_a_date_time() {
        // Times are RFC 3339 everywhere; a string field that says so must be typed so.
        let doc = doc();
        for (schema, body) in doc["components"]["schemas"].as_object().unwrap() {
            for (field, prop) in body["properties"].as_object().into_iter().flatten() {
                let says_time = field.ends_with("_at")
                    || ["expiration", "transaction_from", "transaction_to", "as_of"].contains(&field.as_str());
                if says_time {
                    assert_eq!(prop["format"], "date-time", "{schema}.{field}: {prop}");
                }
            }
        }
    }
}
