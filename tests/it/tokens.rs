//! The token endpoint: what it issues, and every way it refuses.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::{Stack, assert_problem, fixtures, http, partner::now, partner_toml};

async fn refused(stack: &Stack, assertion: &str, status: u16, slug: &str, oauth_error: &str) -> Value {
    let res = stack.gw.partner("ptn_alpha").token_with(assertion, Some("products:read")).await;
    assert_eq!(res.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    let body = assert_problem(res, status, slug).await;
    assert_eq!(body["error"], oauth_error, "{body}");
    assert_eq!(body["error_description"], body["detail"]);
    body
}

#[tokio::test]
async fn a_valid_assertion_gets_a_short_lived_es256_token() {
    let stack = Stack::start();
    let alpha = stack.gw.partner("ptn_alpha");
    let res = alpha.token_with(&alpha.assertion(), Some("products:read")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "products:read");

    let token = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(token).unwrap();
    assert_eq!(claims["sub"], "ptn_alpha");
    assert_eq!(claims["iss"], stack.gw.issuer());
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 300);
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));

    // The token verifies against the published JWKS with the header's kid.
    let jwks: Value = http().get(stack.gw.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
    let jwk = set.find(header.kid.as_deref().unwrap()).expect("kid published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(Algorithm::ES256);
    v.set_audience(&[stack.gw.issuer()]);
    jsonwebtoken::decode::<Value>(token, &key, &v).expect("token verifies with the published key");
}

#[tokio::test]
async fn ps256_assertions_and_the_issuer_as_audience_are_accepted() {
    let stack = Stack::start();
    let alpha = stack.gw.partner("ptn_alpha");
    let mut claims = alpha.claims();
    claims["aud"] = json!(stack.gw.issuer());
    let res = alpha.token_with(&alpha.sign(Algorithm::PS256, "test-ps256", &claims), None).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

#[tokio::test]
async fn every_bad_assertion_is_refused_as_invalid_client() {
    let stack = Stack::start();
    let alpha = stack.gw.partner("ptn_alpha");
    let base = alpha.claims();
    let with = |k: &str, v: Value| {
        let mut c = base.clone();
        c[k] = v;
        c["jti"] = json!(uuid::Uuid::new_v4().to_string());
        c
    };

    // alg none: header and claims, empty signature.
    let none = format!(
        "{}.{}.",
        B64.encode(json!({"alg": "none", "kid": "test-es256"}).to_string()),
        B64.encode(base.to_string())
    );
    refused(&stack, &none, 401, "invalid_client", "invalid_client").await;

    // HS256 keyed with the partner's own public key material: the classic confusion attack.
    let public = std::fs::read(fixtures().join("keys/test-partner.jwks.json")).unwrap();
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("test-es256".into());
    let hs = jsonwebtoken::encode(&h, &with("jti", json!("hs")), &EncodingKey::from_secret(&public)).unwrap();
    refused(&stack, &hs, 401, "invalid_client", "invalid_client").await;

    // RS256 with a registered RSA key: PKCS#1 v1.5 is not FAPI-grade.
    refused(
        &stack,
        &alpha.sign(Algorithm::RS256, "test-ps256", &with("jti", json!("rs"))),
        401,
        "invalid_client",
        "invalid_client",
    )
    .await;

    let cases: Vec<(&str, Value, &str)> = vec![
        ("expired", with("exp", json!(now() - 1)), "expired"),
        ("exp too far ahead", with("exp", json!(now() + 400)), "5 minutes"),
        (
            "no exp",
            {
                let mut c = with("jti", json!("x1"));
                c.as_object_mut().unwrap().remove("exp");
                c
            },
            "exp",
        ),
        ("wrong aud", with("aud", json!("https://elsewhere.example/token")), "aud"),
        ("iat in the future", with("iat", json!(now() + 60)), "not valid yet"),
        ("sub differs", with("sub", json!("ptn_beta")), "iss"),
        ("unknown client", with("iss", json!("ptn_nobody")), "unknown client"),
        (
            "no jti",
            {
                let mut c = with("jti", json!("x2"));
                c.as_object_mut().unwrap().remove("jti");
                c
            },
            "jti",
        ),
    ];
    for (what, claims, needle) in cases {
        let body = refused(
            &stack,
            &alpha.sign(Algorithm::ES256, "test-es256", &claims),
            401,
            "invalid_client",
            "invalid_client",
        )
        .await;
        assert!(body["detail"].as_str().unwrap().contains(needle), "{what}: {body}");
    }

    // A kid nobody registered.
    let body = refused(
        &stack,
        &alpha.sign(Algorithm::ES256, "no-such-kid", &with("jti", json!("k"))),
        401,
        "invalid_client",
        "invalid_client",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("kid"), "{body}");

    // Signed by a registered kid's name but another key: signature fails.
    let forged = alpha.sign(Algorithm::ES256, "test-es256-next", &with("jti", json!("f")));
    let forged = {
        let mut parts: Vec<&str> = forged.split('.').collect();
        let header = B64.encode(json!({"alg": "ES256", "kid": "test-es256", "typ": "JWT"}).to_string());
        parts[0] = &header;
        parts.join(".")
    };
    let body = refused(&stack, &forged, 401, "invalid_client", "invalid_client").await;
    assert!(body["detail"].as_str().unwrap().contains("signature"), "{body}");
}

#[tokio::test]
async fn a_replayed_jti_is_refused() {
    let stack = Stack::start();
    let alpha = stack.gw.partner("ptn_alpha");
    let assertion = alpha.assertion();
    assert_eq!(alpha.token_with(&assertion, None).await.status(), 200);
    let body = refused(&stack, &assertion, 401, "invalid_client", "invalid_client").await;
    assert!(body["detail"].as_str().unwrap().contains("already used"), "{body}");
}

#[tokio::test]
async fn concurrent_replays_of_one_assertion_get_one_token() {
    let stack = Stack::start();
    let alpha = stack.gw.partner("ptn_alpha");
    let assertion = alpha.assertion();
    let answers = futures_join(&alpha, &assertion, 8).await;
    assert_eq!(answers.iter().filter(|s| **s == 200).count(), 1, "{answers:?}");
    assert_eq!(answers.iter().filter(|s| **s == 401).count(), 7, "{answers:?}");
}

async fn futures_join(p: &crate::support::PartnerClient, assertion: &str, n: usize) -> Vec<u16> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (endpoint, issuer, id, a) =
            (p.token_endpoint.clone(), p.issuer.clone(), p.id.clone(), assertion.to_owned());
        set.spawn(async move {
            let client = crate::support::PartnerClient::new(&id, &endpoint, &issuer);
            client.token_with(&a, None).await.status().as_u16()
        });
    }
    set.join_all().await
}

#[tokio::test]
async fn scope_grant_type_and_form_errors_follow_rfc_6749() {
    let stack = Stack::start();
    let alpha = stack.gw.partner("ptn_alpha");

    let body =
        assert_problem(alpha.token_with(&alpha.assertion(), Some("payments:write")).await, 400, "invalid_scope").await;
    assert_eq!(body["error"], "invalid_scope");

    let form = [("grant_type", "password"), ("client_assertion_type", "x"), ("client_assertion", "y")];
    let res = http().post(stack.gw.token_endpoint()).form(&form).send().await.unwrap();
    assert_eq!(assert_problem(res, 400, "unsupported_grant_type").await["error"], "unsupported_grant_type");

    let res =
        http().post(stack.gw.token_endpoint()).json(&json!({"grant_type": "client_credentials"})).send().await.unwrap();
    // Not a form: 415, with RFC 6749's nearest code.
    assert_eq!(assert_problem(res, 415, "unsupported_media_type").await["error"], "invalid_request");

    let form =
        [("grant_type", "client_credentials"), ("client_assertion_type", "urn:other"), ("client_assertion", "y")];
    let res = http().post(stack.gw.token_endpoint()).form(&form).send().await.unwrap();
    assert_problem(res, 401, "invalid_client").await;
}

#[tokio::test]
async fn discovery_documents_describe_the_server() {
    let stack = Stack::start();
    let meta: Value =
        http().get(stack.gw.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["issuer"], stack.gw.issuer());
    assert_eq!(meta["token_endpoint"], stack.gw.token_endpoint());
    assert_eq!(meta["token_endpoint_auth_methods_supported"], json!(["private_key_jwt"]));
    assert_eq!(meta["token_endpoint_auth_signing_alg_values_supported"], json!(["ES256", "PS256"]));
    let jwks: Value = http().get(meta["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].get("d").is_none(), "the private part must never be published");
    assert_eq!(keys[0]["alg"], "ES256");
}

#[tokio::test]
async fn a_rotated_key_is_published_before_it_signs_and_old_tokens_stay_valid() {
    // JWKS cacheable for 1 s: the new key must be published for 2 s before it signs.
    let stack = Stack::start_with(|o| o.jwks_max_age_secs = 1);
    let alpha = stack.gw.partner("ptn_alpha");
    let old = alpha.access_token().await;
    let old_kid = jsonwebtoken::decode_header(&old).unwrap().kid.unwrap();
    let jwks = || async {
        let res = http().get(stack.gw.url("/.well-known/jwks.json")).send().await.unwrap();
        assert_eq!(res.headers()["cache-control"], "public, max-age=1");
        let set: Value = res.json().await.unwrap();
        set["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };

    let out = stack.gw.cli(&["rotate-signing-key"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut published_at = std::time::Instant::now();
    let hup = std::process::Command::new("kill").args(["-HUP", &stack.gw.proc.pid().to_string()]).status().unwrap();
    assert!(hup.success());
    // The publication happened after the start of the last look that did not see it: the
    // earliest it can have been, so the delay below is measured from no later than it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let looked_at = std::time::Instant::now();
        if jwks().await.len() == 2 {
            break;
        }
        assert!(looked_at < deadline, "the new key is published after SIGHUP");
        published_at = looked_at;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A verifier that fetched the set just before a token was issued always knows its key:
    // no token is signed with a key that was not already published.
    let mut new_kid_seen = None;
    let deadline = published_at + std::time::Duration::from_secs(8);
    while new_kid_seen.is_none() && std::time::Instant::now() < deadline {
        let known = jwks().await;
        let token = alpha.access_token().await;
        let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
        assert!(known.contains(&kid), "token signed with {kid}, not in the set fetched just before: {known:?}");
        if kid != old_kid {
            new_kid_seen = Some(published_at.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let waited = new_kid_seen.expect("the new key signs once its publication delay has passed");
    assert!(
        waited >= std::time::Duration::from_millis(1_000),
        "signed with the new key only {waited:?} after publication"
    );
    assert!(jwks().await.contains(&old_kid), "the old key stays published while its tokens live");

    let res = http().get(stack.gw.url("/v1/products?limit=1")).bearer_auth(&old).send().await.unwrap();
    assert_eq!(res.status(), 200, "a token signed before the rotation still works");
}

#[tokio::test]
async fn client_credentials_without_scope_grants_only_scopes_that_grant_can_use() {
    let stack = Stack::start_with(|o| {
        o.partners = vec![(
            "alpha".into(),
            crate::support::partner_toml("ptn_alpha", "active", "")
                .replace("security_level = \"A1\"", "security_level = \"A2\"\nrisk_assessment_ref = \"RA-1\"")
                .replace("scopes = [\"products:read\"]", "scopes = [\"products:read\", \"accounts:read\"]"),
        )];
    });
    let alpha = stack.gw.partner("ptn_alpha");
    let res = alpha.token_with(&alpha.assertion(), None).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["scope"], "products:read", "accounts:read needs a customer's consent: {body}");

    let res = alpha.token_with(&alpha.assertion(), Some("accounts:read")).await;
    let problem = assert_problem(res, 400, "invalid_scope").await;
    assert!(problem["detail"].as_str().unwrap().contains("customer"), "{problem}");
}

/// A refused token request is in the log with the partner it claimed to be and why, never
/// the assertion; the access line names the partner too.
#[tokio::test]
async fn a_refused_token_request_is_logged_with_its_partner_and_reason() {
    let stack = Stack::start();
    let alpha = stack.gw.partner("ptn_alpha");
    let mut claims = alpha.claims();
    claims["aud"] = json!("https://elsewhere.example/token");
    let assertion = alpha.sign(Algorithm::ES256, "test-es256", &claims);
    let res = alpha.token_with(&assertion, None).await;
    assert_eq!(res.status(), 401);
    let logged = crate::support::eventually(std::time::Duration::from_secs(2), || async {
        stack.gw.log().contains("client authentication refused")
    })
    .await;
    assert!(logged, "{}", stack.gw.log());
    let log = stack.gw.log();
    let refusal = log.lines().find(|l| l.contains("client authentication refused")).unwrap();
    assert!(refusal.contains("ptn_alpha") && refusal.contains("aud"), "{refusal}");
    assert!(
        log.lines()
            .any(|l| l.contains("route=/oauth2/token") && l.contains("partner=ptn_alpha") && l.contains("status=401")),
        "{log}"
    );
    let signature = assertion.rsplit('.').next().unwrap();
    assert!(!log.contains(signature), "the assertion never reaches the log");
}

#[tokio::test]
async fn token_requests_count_against_the_quota_and_refused_assertions_are_throttled() {
    let stack = Stack::start_with(|o| {
        o.partners = vec![
            ("alpha".into(), partner_toml("ptn_alpha", "active", "[rate_limit]\nrequests_per_second = 1\nburst = 2\n")),
            ("beta".into(), partner_toml("ptn_beta", "active", "")),
        ];
    });
    // A partner limited to 1/s (burst 2) cannot mint tokens in a row.
    let alpha = stack.gw.partner("ptn_alpha");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(alpha.token_with(&alpha.assertion(), None).await.status().as_u16());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 2, "the burst, then 429: {statuses:?}");
    let limited = alpha.token_with(&alpha.assertion(), None).await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_problem(limited, 429, "rate_limited").await;

    // Refused assertions in beta's name: after twenty in a minute, even a good one waits.
    let beta = stack.gw.partner("ptn_beta");
    let mut forged = beta.claims();
    forged["aud"] = json!("https://elsewhere.example/token");
    for attempt in 0..20 {
        let res = beta.token_with(&beta.sign(Algorithm::ES256, "test-es256", &forged), None).await;
        assert_eq!(res.status(), 401, "attempt {attempt}");
    }
    let res = beta.token_with(&beta.assertion(), None).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, 429, "rate_limited").await;
}

/// A DPoP proof (RFC 9449) for `method url`, signed by the test key `name`, with `ath` when a
/// token is given.
fn dpop_proof(name: &str, method: &str, url: &str, token: Option<&str>) -> String {
    dpop_proof_with_nonce(name, method, url, token, None)
}

/// As [`dpop_proof`], carrying a server-provided `nonce` when given.
pub(crate) fn dpop_proof_with_nonce(
    name: &str,
    method: &str,
    url: &str,
    token: Option<&str>,
    nonce: Option<&str>,
) -> String {
    let key = EncodingKey::from_ec_pem(&crate::support::partner::key_pem(name)).unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("dpop+jwt".into());
    header.jwk = Some(jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap());
    let mut claims = json!({"htm": method, "htu": url, "iat": now(), "jti": uuid::Uuid::new_v4().to_string()});
    if let Some(t) = token {
        use sha2::Digest as _;
        claims["ath"] = json!(B64.encode(sha2::Sha256::digest(t.as_bytes())));
    }
    if let Some(n) = nonce {
        claims["nonce"] = json!(n);
    }
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

#[tokio::test]
async fn a_dpop_bound_token_needs_a_fresh_proof_of_its_key_on_every_call() {
    let stack = Stack::start_with(|o| {
        o.partners = vec![("alpha".into(), partner_toml("ptn_alpha", "active", "[dpop]\nrequired = true\n"))];
    });
    let alpha = stack.gw.partner("ptn_alpha");
    let endpoint = stack.gw.token_endpoint();
    let form = |assertion: String| {
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned()),
            ("client_assertion", assertion),
            ("scope", "products:read".to_owned()),
        ]
    };
    // This partner must prove a key at the token endpoint.
    let res = http().post(&endpoint).form(&form(alpha.assertion())).send().await.unwrap();
    assert_eq!(assert_problem(res, 400, "invalid_dpop_proof").await["error"], "invalid_dpop_proof");
    let proof = dpop_proof("test-es256", "POST", &endpoint, None);
    let res = http().post(&endpoint).header("DPoP", &proof).form(&form(alpha.assertion())).send().await.unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let claims: Value = serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(claims["cnf"]["jkt"].as_str().map(str::len), Some(43), "{claims}");
    // The token endpoint's proof cannot be used twice either.
    let res = http().post(&endpoint).header("DPoP", &proof).form(&form(alpha.assertion())).send().await.unwrap();
    assert_problem(res, 400, "invalid_dpop_proof").await;

    let base = stack.gw.url("/v1/products");
    let call = |scheme: &str, proof: Option<String>| {
        let mut req = http().get(format!("{base}?limit=1")).header("authorization", format!("{scheme} {token}"));
        if let Some(p) = proof {
            req = req.header("DPoP", p);
        }
        req.send()
    };
    let fresh = dpop_proof("test-es256", "GET", &base, Some(&token));
    assert_eq!(call("DPoP", Some(fresh.clone())).await.unwrap().status(), 200);
    let refused = [
        ("the same proof again", call("DPoP", Some(fresh)).await.unwrap()),
        ("no proof", call("DPoP", None).await.unwrap()),
        ("as a bearer token", call("Bearer", None).await.unwrap()),
        (
            "a proof for another URL",
            call("DPoP", Some(dpop_proof("test-es256", "GET", &stack.gw.url("/v1/accounts"), Some(&token))))
                .await
                .unwrap(),
        ),
        (
            "another key's proof",
            call("DPoP", Some(dpop_proof("test-es256-next", "GET", &base, Some(&token)))).await.unwrap(),
        ),
    ];
    for (what, res) in refused {
        assert_eq!(res.status(), 401, "{what}");
        assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("DPoP"), "{what}");
        assert_problem(res, 401, "token_sender_mismatch").await;
    }
}

#[tokio::test]
async fn where_the_partner_file_asks_for_dpop_nonces_every_proof_carries_the_servers() {
    let stack = Stack::start_with(|o| {
        let dpop = "[dpop]\nrequired = true\nrequire_nonce = true\n";
        o.partners = vec![("alpha".into(), partner_toml("ptn_alpha", "active", dpop))];
    });
    let alpha = stack.gw.partner("ptn_alpha");
    let endpoint = stack.gw.token_endpoint();
    let token_request = |proof: String| {
        let form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned()),
            ("client_assertion", alpha.assertion()),
            ("scope", "products:read".to_owned()),
        ];
        http().post(&endpoint).header("DPoP", proof).form(&form).send()
    };
    // Without a nonce: `use_dpop_nonce` and the nonce to use (RFC 9449 §8).
    let res = token_request(dpop_proof("test-es256", "POST", &endpoint, None)).await.unwrap();
    let nonce = res.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_eq!(assert_problem(res, 400, "use_dpop_nonce").await["error"], "use_dpop_nonce");
    let invented = token_request(dpop_proof_with_nonce("test-es256", "POST", &endpoint, None, Some("bm9uY2U"))).await;
    assert_problem(invented.unwrap(), 400, "use_dpop_nonce").await;
    let res = token_request(dpop_proof_with_nonce("test-es256", "POST", &endpoint, None, Some(&nonce))).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("dpop-nonce"), "every answer to a DPoP request offers the current nonce");
    let token = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();

    // The same at the resource: 401 with a `use_dpop_nonce` challenge, then through with it.
    let base = stack.gw.url("/v1/products");
    let call = |nonce: Option<&str>| {
        let proof = dpop_proof_with_nonce("test-es256", "GET", &base, Some(&token), nonce);
        http()
            .get(format!("{base}?limit=1"))
            .header("authorization", format!("DPoP {token}"))
            .header("DPoP", proof)
            .send()
    };
    let res = call(None).await.unwrap();
    assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with(r#"DPoP error="use_dpop_nonce""#));
    let nonce = res.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_problem(res, 401, "use_dpop_nonce").await;
    let res = call(Some(&nonce)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("dpop-nonce"));
}
