//! Access tokens on API calls: refused when expired, mis-addressed, tampered, under-scoped,
//! or held by a partner the bank has just suspended.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::{Stack, assert_problem, eventually, http, partner::now, partner_toml};

/// Signs claims with the gateway's own active key, read from its data directory, so tests
/// can make tokens the gateway would never issue.
fn gateway_signed(stack: &Stack, claims: &Value) -> String {
    let file: Value = serde_json::from_slice(&std::fs::read(stack.gw.signing_keys_file()).unwrap()).unwrap();
    let key = &file["keys"][0];
    let der = B64.decode(key["private_pkcs8"].as_str().unwrap()).unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key["kid"].as_str().unwrap().to_owned());
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&der)).unwrap()
}

fn claims(stack: &Stack) -> Value {
    let now = now();
    json!({"iss": stack.gw.issuer(), "sub": "ptn_alpha", "aud": stack.gw.issuer(), "client_id": "ptn_alpha",
           "scope": "products:read", "iat": now, "nbf": now, "exp": now + 60, "jti": "t1"})
}

async fn call(stack: &Stack, token: &str) -> reqwest::Response {
    http().get(stack.gw.url("/v1/products?limit=1")).bearer_auth(token).send().await.unwrap()
}

#[tokio::test]
async fn a_crafted_token_with_good_claims_is_accepted() {
    // Guards the tests below: they fail for the one claim they change, not for the helper.
    let stack = Stack::start();
    let res = call(&stack, &gateway_signed(&stack, &claims(&stack))).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn bad_tokens_are_refused_with_invalid_token() {
    let stack = Stack::start();
    let good = claims(&stack);
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let cases = [
        ("expired", gateway_signed(&stack, &with("exp", json!(now() - 30))), "expired"),
        ("wrong aud", gateway_signed(&stack, &with("aud", json!("https://other.example"))), "audience"),
        ("wrong iss", gateway_signed(&stack, &with("iss", json!("https://other.example"))), "issuer"),
        ("not yet valid", gateway_signed(&stack, &with("nbf", json!(now() + 120))), "not valid yet"),
    ];
    for (what, token, needle) in cases {
        let res = call(&stack, &token).await;
        assert_eq!(res.headers()["www-authenticate"], r#"Bearer error="invalid_token""#, "{what}");
        let body = assert_problem(res, 401, "invalid_token").await;
        assert!(body["detail"].as_str().unwrap().contains(needle), "{what}: {body}");
    }

    // Tampered: a real token with its payload edited keeps its old signature.
    let real = stack.gw.partner("ptn_alpha").access_token().await;
    let mut parts: Vec<String> = real.split('.').map(str::to_owned).collect();
    let mut payload: Value = serde_json::from_slice(&B64.decode(&parts[1]).unwrap()).unwrap();
    payload["sub"] = json!("ptn_beta");
    parts[1] = B64.encode(payload.to_string());
    let body = assert_problem(call(&stack, &parts.join(".")).await, 401, "invalid_token").await;
    assert!(body["detail"].as_str().unwrap().contains("signature"), "{body}");

    // A partner's own assertion is not an access token.
    let assertion = stack.gw.partner("ptn_alpha").assertion();
    assert_problem(call(&stack, &assertion).await, 401, "invalid_token").await;

    // No token at all.
    let res = http().get(stack.gw.url("/v1/products")).send().await.unwrap();
    assert_problem(res, 401, "invalid_token").await;
}

#[tokio::test]
async fn a_token_without_the_scope_is_forbidden() {
    let stack = Stack::start();
    let mut c = claims(&stack);
    c["scope"] = json!("");
    let res = call(&stack, &gateway_signed(&stack, &c)).await;
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
    assert_problem(res, 403, "insufficient_scope").await;
}

#[tokio::test]
async fn suspension_bites_at_once_even_with_an_unexpired_token() {
    let stack = Stack::start();
    let alpha = stack.gw.partner("ptn_alpha");
    let token = alpha.access_token().await;
    assert_eq!(call(&stack, &token).await.status(), 200);

    stack.gw.write_partner("alpha", &partner_toml("ptn_alpha", "suspended", ""));
    let suspended = eventually(Duration::from_secs(2), || async { call(&stack, &token).await.status() == 403 }).await;
    assert!(suspended, "suspension must apply within 2 s");
    assert_problem(call(&stack, &token).await, 403, "partner_suspended").await;

    let body = assert_problem(alpha.token_with(&alpha.assertion(), None).await, 403, "partner_suspended").await;
    assert_eq!(body["error"], "unauthorized_client");

    // Other partners are untouched.
    let beta = stack.gw.partner("ptn_beta").access_token().await;
    assert_eq!(call(&stack, &beta).await.status(), 200);

    // Reinstated, the same unexpired token works again.
    stack.gw.write_partner("alpha", &partner_toml("ptn_alpha", "active", ""));
    assert!(eventually(Duration::from_secs(2), || async { call(&stack, &token).await.status() == 200 }).await);
}
