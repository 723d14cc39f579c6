//! The authorisation server: pushed authorisation requests (RFC 9126), the token endpoint
//! (client credentials, authorization code with PKCE, refresh token; clients authenticate
//! with `private_key_jwt`), RFC 8414 metadata and the gateway's public keys. The customer's
//! side of the code flow (`/oauth2/authorize`) is HTML, in `crate::web`.

mod par;
mod sandbox;
mod token;

use std::{collections::BTreeSet, net::IpAddr};

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    app::AppState,
    auth::{OAuthError, client_assertion::ASSERTION_TYPE},
    config::KNOWN_SCOPES,
    error::ApiError,
    grants::ThrottleKey,
    limit::Decision,
};

pub use par::{ParRequest, ParResponse, par};
pub use token::{TokenRequest, TokenResponse, token};

pub const TOKEN_PATH: &str = "/oauth2/token";
pub const PAR_PATH: &str = "/oauth2/par";
pub const AUTHORIZE_PATH: &str = "/oauth2/authorize";
/// The customer scope of an account-access consent.
pub const CUSTOMER_SCOPE: &str = "accounts:read";
/// The customer scope of a payment consent.
pub const PAYMENT_SCOPE: &str = "payments:initiate";

/// The scope a customer's authorisation of `consent` grants, by the consent's kind: a
/// payment consent `payments:initiate`, an account-access consent `accounts:read`.
pub fn customer_scope(consent: &crate::consent::Consent) -> &'static str {
    if consent.payment.is_some() { PAYMENT_SCOPE } else { CUSTOMER_SCOPE }
}
const MAX_STATE_CHARS: usize = 512;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(par::par))
        .routes(routes!(token::token))
        .routes(routes!(sandbox::sandbox_authorize))
        .routes(routes!(metadata))
        .routes(routes!(jwks))
}

/// `private_key_jwt` client authentication, the same at every endpoint that takes it (token,
/// PAR, sandbox authorisation), in three steps:
///
/// 1. refused failures first: a partner whose assertions were refused 20 times in a minute,
///    or an address refused 60 times, gets 429 before any signature is checked;
/// 2. the assertion; a refusal counts against the claimed partner and the address (never
///    against the partner's quota: a forger must not spend it);
/// 3. the partner's own quota, the one its API calls use: a token request is a call.
///
/// Sets `known` to the partner the request claims to be, when that is an onboarded partner
/// (for logs and metrics: never an unverified string of the caller's), and logs why a refusal
/// happened (never the assertion).
async fn authenticate_client(
    gw: &AppState,
    peer: IpAddr,
    assertion_type: &str,
    assertion: &str,
    client_id: Option<&str>,
    known: &mut Option<String>,
) -> Result<std::sync::Arc<crate::config::Partner>, ApiError> {
    let partners = gw.partners.load();
    let claimed = client_id.map(str::to_owned).or_else(|| unverified_issuer(assertion));
    *known = claimed.filter(|id| partners.get(id).is_some());
    let failure_keys: Vec<ThrottleKey> =
        known.iter().map(|id| ThrottleKey::Client(id.clone())).chain([ThrottleKey::ClientIp(peer)]).collect();
    let now = gw.grants.now();
    for key in &failure_keys {
        if let Some(until) = gw.grants.throttle.locked_until(key, now).await {
            tracing::warn!(client_id = known.as_deref().unwrap_or("unknown"), %peer, "client authentication throttled");
            let retry_after = std::time::Duration::from_secs(u64::try_from(until - now).unwrap_or(1).max(1));
            let limit = u32::try_from(key.policy().max_failures).unwrap_or(u32::MAX);
            return Err(ApiError::RateLimited { retry_after, limit });
        }
    }
    let result = if assertion_type == ASSERTION_TYPE {
        gw.assertions.verify(&partners, assertion, client_id).await
    } else {
        Err(OAuthError::InvalidClient(format!("client_assertion_type must be `{ASSERTION_TYPE}`")))
    };
    let partner = match result {
        Ok(partner) => partner,
        Err(e) => {
            tracing::info!(client_id = known.as_deref().unwrap_or("unknown"), reason = %e, "client authentication refused");
            if matches!(e, OAuthError::InvalidClient(_)) {
                for key in &failure_keys {
                    gw.grants.throttle.record_failure(key, now).await;
                }
            }
            return Err(e.into());
        }
    };
    match gw.limits.check(&partner.id, partner.rate_limit).await {
        Decision::Allowed { .. } => Ok(partner),
        Decision::Limited { limit, retry_after } => Err(ApiError::RateLimited { retry_after, limit }),
    }
}

/// A form body of an endpoint that authenticates the client by `private_key_jwt` with an
/// explicit `client_id` (PAR, sandbox authorisation): the fields and the partner.
async fn authenticated_form(
    gw: &AppState,
    peer: IpAddr,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Params, std::sync::Arc<crate::config::Partner>), crate::error::ApiError> {
    let form = Params(parse_pairs(headers, body)?);
    let partner = authenticate_client(
        gw,
        peer,
        form.required("client_assertion_type")?,
        form.required("client_assertion")?,
        Some(form.required("client_id")?),
        &mut None,
    )
    .await?;
    Ok((form, partner))
}

/// The `iss` an assertion claims, read without trusting it (only to label a refusal).
fn unverified_issuer(assertion: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = assertion.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(|s| s.chars().take(64).collect())
}

fn no_store(res: &mut Response) {
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Form fields by name.
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| OAuthError::InvalidRequest(format!("`{name}` is required")))
    }
}

/// RFC 6749 §3.2: form-encoded, and no parameter more than once.
fn parse_pairs(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let is_form = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if !is_form {
        return Err(OAuthError::UnsupportedMediaType(
            "send the request as application/x-www-form-urlencoded (OAuth 2.0 endpoints take forms)".into(),
        ));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::InvalidRequest("the form body is malformed".into()))?;
    let mut seen = BTreeSet::new();
    for (name, _) in &pairs {
        if !seen.insert(name.as_str()) {
            return Err(OAuthError::InvalidRequest(format!("parameter `{}` appears more than once", truncate(name))));
        }
    }
    Ok(pairs)
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
        "authorization_endpoint": format!("{base}{AUTHORIZE_PATH}"),
        "token_endpoint": format!("{base}{TOKEN_PATH}"),
        "pushed_authorization_request_endpoint": format!("{base}{PAR_PATH}"),
        "require_pushed_authorization_requests": true,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "ui_locales_supported": ["zh-CN", "en"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "PS256"],
        // RFC 8705: partners with `[mtls]` get tokens bound to their TLS client certificate.
        "tls_client_certificate_bound_access_tokens": true,
        // RFC 9449: a `DPoP` proof at the token endpoint binds the tokens to its key.
        "dpop_signing_alg_values_supported": ["ES256", "PS256"],
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
    let cache = format!("public, max-age={}", gw.settings.jwks_max_age.as_secs());
    if let Ok(value) = HeaderValue::from_str(&cache) {
        res.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    res
}
