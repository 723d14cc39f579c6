//! The authorisation server: token endpoint (client credentials with `private_key_jwt`),
//! RFC 8414 metadata and the gateway's public keys.

use std::collections::BTreeSet;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    app::AppState,
    auth::{OAuthError, client_assertion::ASSERTION_TYPE},
    config::KNOWN_SCOPES,
    error::ApiError,
    extract::BoundedBody,
    problem::Problem,
};

pub const TOKEN_PATH: &str = "/oauth2/token";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(token)).routes(routes!(metadata)).routes(routes!(jwks))
}

/// Form fields of a token request (`application/x-www-form-urlencoded`).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "grant_type": "client_credentials",
    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    "client_assertion": "eyJhbGciOiJFUzI1NiIsImtpZCI6InNreXRyaXAtMjAyNi0xMSJ9.eyJpc3MiOiJwdG5fc2t5dHJpcCJ9.c2ln",
    "scope": "products:read"
}))]
pub struct TokenRequest {
    /// `client_credentials`.
    pub grant_type: String,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    pub client_assertion_type: String,
    /// A JWT signed ES256 or PS256 with the partner's registered key: `iss` = `sub` = client id,
    /// `aud` = the token endpoint, `exp` at most 300 s ahead, a fresh `jti`, `kid` in the header.
    pub client_assertion: String,
    /// Space-separated scopes; absent means every scope the partner is allowed.
    pub scope: Option<String>,
    /// Optional; when present it must equal the assertion's `iss`.
    pub client_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.e30.c2ln", "token_type": "Bearer", "expires_in": 300, "scope": "products:read"}))]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
    /// The scopes granted: those requested that the partner is allowed.
    pub scope: String,
}

/// Get an access token
///
/// OAuth 2.0 client credentials grant, the client authenticated with `private_key_jwt`
/// (RFC 7523). Errors are problem documents that also carry the RFC 6749 `error` and
/// `error_description` members.
#[utoipa::path(
    post, path = "/oauth2/token", tag = "oauth", operation_id = "getToken",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "An access token.", body = TokenResponse),
        (status = 400, description = "`invalid_request`, `invalid_scope` or `unsupported_grant_type`.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_client`: the assertion was refused.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The partner is suspended (`error` = `unauthorized_client`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn token(
    State(gw): State<AppState>,
    headers: HeaderMap,
    BoundedBody(body): BoundedBody,
) -> Result<Response, ApiError> {
    let form = parse_form(&headers, &body)?;
    if form.grant_type != "client_credentials" {
        return Err(OAuthError::UnsupportedGrantType(format!(
            "grant_type `{}` is not supported; use client_credentials",
            truncate(&form.grant_type)
        ))
        .into());
    }
    if form.client_assertion_type != ASSERTION_TYPE {
        return Err(OAuthError::InvalidClient(format!("client_assertion_type must be `{ASSERTION_TYPE}`")).into());
    }
    let partners = gw.partners.load();
    let partner = gw.assertions.verify(&partners, &form.client_assertion, form.client_id.as_deref()).await?;
    let granted = grant(form.scope.as_deref(), &partner.scopes)?;
    let issued =
        gw.tokens.issue(&partner.id, &granted).map_err(|e| ApiError::Internal(format!("token signing failed: {e}")))?;
    tracing::info!(partner = %partner.id, scope = %issued.scope, "access token issued");
    let body = TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: issued.scope,
    };
    let mut res = Json(body).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(res)
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// RFC 6749 §3.2: form-encoded, and no parameter more than once.
fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, OAuthError> {
    let is_form = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if !is_form {
        return Err(OAuthError::InvalidRequest("send the token request as application/x-www-form-urlencoded".into()));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::InvalidRequest("the form body is malformed".into()))?;
    let mut seen = BTreeSet::new();
    for (name, _) in &pairs {
        if !seen.insert(name.as_str()) {
            return Err(OAuthError::InvalidRequest(format!("parameter `{}` appears more than once", truncate(name))));
        }
    }
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let required = |name: &str| {
        get(name).filter(|v| !v.is_empty()).ok_or_else(|| OAuthError::InvalidRequest(format!("`{name}` is required")))
    };
    Ok(TokenRequest {
        grant_type: required("grant_type")?,
        client_assertion_type: required("client_assertion_type")?,
        client_assertion: required("client_assertion")?,
        scope: get("scope"),
        client_id: get("client_id"),
    })
}

/// Granted = requested ∩ allowed. A scope this API does not know is an error, so a typo
/// is reported rather than silently dropped; an empty intersection is refused.
fn grant(requested: Option<&str>, allowed: &BTreeSet<String>) -> Result<BTreeSet<String>, OAuthError> {
    let Some(requested) = requested.filter(|s| !s.trim().is_empty()) else {
        return Ok(allowed.clone());
    };
    let mut granted = BTreeSet::new();
    for scope in requested.split(' ').filter(|s| !s.is_empty()) {
        if !KNOWN_SCOPES.contains(&scope) {
            return Err(OAuthError::InvalidScope(format!("unknown scope `{}`", truncate(scope))));
        }
        if allowed.contains(scope) {
            granted.insert(scope.to_owned());
        }
    }
    if granted.is_empty() {
        return Err(OAuthError::InvalidScope("none of the requested scopes is allowed for this client".into()));
    }
    Ok(granted)
}

/// Authorisation server metadata
#[utoipa::path(
    get, path = "/.well-known/oauth-authorization-server", tag = "oauth", operation_id = "getAuthorizationServerMetadata",
    responses((status = 200, description = "RFC 8414 metadata.", body = Object))
)]
pub async fn metadata(State(gw): State<AppState>) -> Json<serde_json::Value> {
    let base = &gw.settings.public_url;
    Json(serde_json::json!({
        "issuer": base,
        "token_endpoint": format!("{base}{TOKEN_PATH}"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "PS256"],
        "scopes_supported": KNOWN_SCOPES,
        "service_documentation": format!("{base}/docs"),
    }))
}

/// The gateway's public signing keys
///
/// Verify Scenegate's access tokens and, later, its webhook signatures with these keys.
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "oauth", operation_id = "getJwks",
    responses((status = 200, description = "JWK Set (RFC 7517).", body = Object))
)]
pub async fn jwks(State(gw): State<AppState>) -> Response {
    let mut res = Json(gw.keys.load().jwks()).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn granted_scopes_are_the_intersection() {
        let allowed = set(&["products:read"]);
        assert_eq!(grant(None, &allowed).unwrap(), allowed);
        assert_eq!(grant(Some("products:read"), &allowed).unwrap(), allowed);
        assert!(matches!(grant(Some("products:write"), &allowed), Err(OAuthError::InvalidScope(_))));
        assert!(matches!(grant(Some("products:read"), &set(&[])), Err(OAuthError::InvalidScope(_))));
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        let err = parse_form(
            &h,
            b"grant_type=client_credentials&grant_type=client_credentials&client_assertion_type=x&client_assertion=y",
        )
        .unwrap_err();
        assert_eq!(err, OAuthError::InvalidRequest("parameter `grant_type` appears more than once".into()));
        assert!(matches!(parse_form(&HeaderMap::new(), b"grant_type=x"), Err(OAuthError::InvalidRequest(_))));
    }
}
