//! The authorisation server: pushed authorisation requests (RFC 9126), the token endpoint
//! (client credentials, authorization code with PKCE, refresh token; clients authenticate
//! with `private_key_jwt`), RFC 8414 metadata and the gateway's public keys. The customer's
//! side of the code flow (`/oauth2/authorize`) is HTML, in `crate::web`.

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

use axum::http::StatusCode;
use scenegate_adapter_contract::{ConsentId, SecurityLevel, canonical::ConsentStatus};

use crate::{
    app::AppState,
    auth::{OAuthError, client_assertion::ASSERTION_TYPE},
    config::{KNOWN_SCOPES, Partner},
    consent::{Consent, ConsentError},
    error::ApiError,
    extract::BoundedBody,
    grants::{self, PushedRequest},
    problem::Problem,
    web::Locale,
};

pub const TOKEN_PATH: &str = "/oauth2/token";
pub const PAR_PATH: &str = "/oauth2/par";
pub const AUTHORIZE_PATH: &str = "/oauth2/authorize";
/// The one scope of the customer authorisation flow.
pub const CUSTOMER_SCOPE: &str = "accounts:read";
const MAX_STATE_CHARS: usize = 512;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(par)).routes(routes!(token)).routes(routes!(metadata)).routes(routes!(jwks))
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
    /// `client_credentials`, `authorization_code` or `refresh_token`.
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
    /// `authorization_code`: the code from the redirect (single use, valid 60 s).
    pub code: Option<String>,
    /// `authorization_code`: the `redirect_uri` of the pushed request, exactly.
    pub redirect_uri: Option<String>,
    /// `authorization_code`: the PKCE verifier (RFC 7636), 43 to 128 characters.
    pub code_verifier: Option<String>,
    /// `refresh_token`: the refresh token from the code exchange.
    pub refresh_token: Option<String>,
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
    /// Customer flow only: use it with `grant_type=refresh_token` for new access tokens
    /// while the consent is in force. It expires with the consent and is not rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Form fields of a pushed authorisation request (RFC 9126).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "response_type": "code",
    "client_id": "ptn_skytrip",
    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    "client_assertion": "eyJhbGciOiJFUzI1NiIsImtpZCI6InNreXRyaXAtMjAyNi0xMSJ9.eyJpc3MiOiJwdG5fc2t5dHJpcCJ9.c2ln",
    "redirect_uri": "http://127.0.0.1:3000/callback",
    "scope": "accounts:read",
    "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    "code_challenge_method": "S256",
    "state": "af0ifjsldkj",
    "consent_id": "cns_01J9ZQ4T8W6K3M2N5P7R9S1V3X",
    "ui_locales": "zh-CN"
}))]
pub struct ParRequest {
    /// `code`.
    pub response_type: String,
    pub client_id: String,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    pub client_assertion_type: String,
    /// As at the token endpoint (`aud` = the token endpoint or the issuer).
    pub client_assertion: String,
    /// One of the partner's registered `redirect_uris`, exactly.
    pub redirect_uri: String,
    /// `accounts:read`.
    pub scope: String,
    /// `BASE64URL(SHA256(code_verifier))`: 43 to 128 base64url characters.
    pub code_challenge: String,
    /// `S256` (required; `plain` is refused).
    pub code_challenge_method: String,
    /// Returned unchanged on the redirect; at most 512 characters.
    pub state: String,
    /// The partner's consent to authorise, in `awaiting_authorisation`.
    pub consent_id: String,
    /// `zh-CN` (default) or `en`: the language of the customer's pages.
    pub ui_locales: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"request_uri": "urn:ietf:params:oauth:request_uri:3q2-7wEjbQ2bV5m2vCkqk7oZ8xq5n1c0aHqQ3jv2tQo", "expires_in": 600}))]
pub struct ParResponse {
    /// Send the customer's browser to `/oauth2/authorize?client_id=…&request_uri=…`.
    /// Single use.
    pub request_uri: String,
    /// Seconds the request may be used.
    pub expires_in: i64,
}

/// Push an authorisation request
///
/// RFC 9126, as FAPI 2.0 requires: the partner sends the whole authorisation request here,
/// authenticated with `private_key_jwt`, then redirects the customer's browser to
/// `GET /oauth2/authorize?client_id=…&request_uri=…`. There the customer logs in to the
/// bank, chooses accounts and approves or denies; the browser comes back to `redirect_uri`
/// with `code`, `state` and `iss` (RFC 9207), or with `error=access_denied`. Exchange the
/// code at `/oauth2/token` (`grant_type=authorization_code`) with the PKCE `code_verifier`.
#[utoipa::path(
    post, path = "/oauth2/par", tag = "oauth", operation_id = "pushAuthorizationRequest",
    request_body(content = ParRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, description = "The request is stored; use `request_uri` within `expires_in` seconds, once.", body = ParResponse),
        (status = 400, description = "`invalid_request` (bad or unregistered `redirect_uri`, PKCE, `state`, unknown consent or one not awaiting authorisation), `invalid_scope` or `unsupported_response_type`.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_client`: the assertion was refused.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`unauthorized_client`: the partner is not registered at A2, or is suspended.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn par(
    State(gw): State<AppState>,
    headers: HeaderMap,
    BoundedBody(body): BoundedBody,
) -> Result<Response, ApiError> {
    let form = Params(parse_pairs(&headers, &body)?);
    let assertion_type = form.required("client_assertion_type")?;
    if assertion_type != ASSERTION_TYPE {
        return Err(OAuthError::InvalidClient(format!("client_assertion_type must be `{ASSERTION_TYPE}`")).into());
    }
    let client_id = form.required("client_id")?;
    let partners = gw.partners.load();
    let partner = gw.assertions.verify(&partners, form.required("client_assertion")?, Some(client_id)).await?;

    if form.get("request").is_some() {
        return Err(OAuthError::InvalidRequest(
            "request objects are not supported; send the parameters as form fields".into(),
        )
        .into());
    }
    let response_type = form.required("response_type")?;
    if response_type != "code" {
        return Err(OAuthError::UnsupportedResponseType(format!(
            "response_type `{}` is not supported; use `code`",
            truncate(response_type)
        ))
        .into());
    }
    let redirect_uri = form.required("redirect_uri")?;
    if !partner.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Err(OAuthError::InvalidRequest("`redirect_uri` is not registered for this client".into()).into());
    }
    let scope = form.required("scope")?;
    if scope != CUSTOMER_SCOPE {
        return Err(OAuthError::InvalidScope(format!("scope must be `{CUSTOMER_SCOPE}`")).into());
    }
    if !partner.scopes.contains(CUSTOMER_SCOPE) {
        return Err(OAuthError::InvalidScope(format!("`{CUSTOMER_SCOPE}` is not allowed for this client")).into());
    }
    if partner.security_level < SecurityLevel::A2 {
        return Err(
            OAuthError::UnauthorizedClient("the customer authorisation flow needs security level A2".into()).into()
        );
    }
    match form.required("code_challenge_method")? {
        "S256" => {}
        other => {
            return Err(OAuthError::InvalidRequest(format!(
                "code_challenge_method `{}` is not supported; use `S256`",
                truncate(other)
            ))
            .into());
        }
    }
    let code_challenge = form.required("code_challenge")?;
    if !grants::valid_code_challenge(code_challenge) {
        return Err(OAuthError::InvalidRequest("`code_challenge` must be 43 to 128 base64url characters".into()).into());
    }
    let state = form.required("state")?;
    if state.chars().count() > MAX_STATE_CHARS {
        return Err(OAuthError::InvalidRequest(format!("`state` may be at most {MAX_STATE_CHARS} characters")).into());
    }
    let consent = awaiting_consent(&gw, &partner, form.required("consent_id")?).await?;
    let request = PushedRequest {
        client_id: partner.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        code_challenge: code_challenge.to_owned(),
        state: state.to_owned(),
        consent_id: consent.id.as_str().to_owned(),
        locale: Locale::from_ui_locales(form.get("ui_locales")).code().to_owned(),
        expires_at: 0,
    };
    let (request_uri, expires_in) = gw.grants.push(request).await?;
    tracing::info!(partner = %partner.id, consent = %consent.id, "authorisation request pushed");
    let mut res = (StatusCode::CREATED, Json(ParResponse { request_uri, expires_in })).into_response();
    no_store(&mut res);
    Ok(res)
}

/// The partner's own consent, still waiting for the customer.
async fn awaiting_consent(gw: &AppState, partner: &Partner, id: &str) -> Result<Consent, ApiError> {
    let unknown = || OAuthError::InvalidRequest("`consent_id`: no such consent of this client".into());
    let id: ConsentId = id.parse().map_err(|_| unknown())?;
    let consent = match gw.consents.for_partner(&partner.id, &id).await {
        Ok(c) => c,
        Err(ConsentError::NotFound) => return Err(unknown().into()),
        Err(e) => return Err(e.into()),
    };
    if consent.status != ConsentStatus::AwaitingAuthorisation {
        return Err(OAuthError::InvalidRequest(format!(
            "`consent_id`: the consent is {}; only a consent awaiting authorisation can be authorised",
            consent.status.code()
        ))
        .into());
    }
    Ok(consent)
}

/// The consent behind a code or refresh token, if it is still in force.
async fn consent_in_force(gw: &AppState, partner: &Partner, id: &str) -> Result<Consent, ApiError> {
    let gone = || ApiError::from(OAuthError::InvalidGrant("the consent is no longer in force".into()));
    let id: ConsentId = id.parse().map_err(|_| gone())?;
    match gw.consents.for_partner(&partner.id, &id).await {
        Ok(c) if c.status == ConsentStatus::Authorised => Ok(c),
        Ok(_) | Err(ConsentError::NotFound) => Err(gone()),
        Err(e) => Err(e.into()),
    }
}

fn no_store(res: &mut Response) {
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// Get an access token
///
/// The client authenticates with `private_key_jwt` (RFC 7523) for every grant:
///
/// - `client_credentials`: the partner's own token (products, consents).
/// - `authorization_code`: after the customer approved (see `/oauth2/par`): `code`,
///   `redirect_uri` and the PKCE `code_verifier`. Answers an access token bound to the
///   consent (it never outlives it) and a refresh token. A code works once; presenting it
///   again fails with `invalid_grant` and revokes the tokens it gave.
/// - `refresh_token`: a new access token while the consent is in force.
///
/// Errors are problem documents that also carry the RFC 6749 `error` and
/// `error_description` members.
#[utoipa::path(
    post, path = "/oauth2/token", tag = "oauth", operation_id = "getToken",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "An access token.", body = TokenResponse),
        (status = 400, description = "`invalid_request`, `invalid_scope`, `invalid_grant` or `unsupported_grant_type`.", body = Problem, content_type = "application/problem+json"),
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
    if !matches!(form.grant_type.as_str(), "client_credentials" | "authorization_code" | "refresh_token") {
        return Err(OAuthError::UnsupportedGrantType(format!(
            "grant_type `{}` is not supported; use client_credentials, authorization_code or refresh_token",
            truncate(&form.grant_type)
        ))
        .into());
    }
    if form.client_assertion_type != ASSERTION_TYPE {
        return Err(OAuthError::InvalidClient(format!("client_assertion_type must be `{ASSERTION_TYPE}`")).into());
    }
    let partners = gw.partners.load();
    let partner = gw.assertions.verify(&partners, &form.client_assertion, form.client_id.as_deref()).await?;
    let body = match form.grant_type.as_str() {
        "authorization_code" => authorization_code(&gw, &partner, &form).await?,
        "refresh_token" => refresh_token(&gw, &partner, &form).await?,
        _ => {
            let granted = grant(form.scope.as_deref(), &partner.scopes)?;
            let issued = gw
                .tokens
                .issue(&partner.id, &granted, None)
                .map_err(|e| ApiError::Internal(format!("token signing failed: {e}")))?;
            tracing::info!(partner = %partner.id, scope = %issued.scope, "access token issued");
            TokenResponse {
                access_token: issued.access_token,
                token_type: "Bearer",
                expires_in: issued.expires_in,
                scope: issued.scope,
                refresh_token: None,
            }
        }
    };
    let mut res = Json(body).into_response();
    no_store(&mut res);
    Ok(res)
}

fn required<'a>(value: Option<&'a String>, name: &str) -> Result<&'a str, OAuthError> {
    value
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::InvalidRequest(format!("`{name}` is required")))
}

/// Issues an access token bound to `consent`; returns it with its `jti` and expiry.
fn consent_token(
    gw: &AppState,
    partner: &Partner,
    consent: &Consent,
) -> Result<(TokenResponse, String, i64), ApiError> {
    let scopes = BTreeSet::from([CUSTOMER_SCOPE.to_owned()]);
    let issued = gw
        .tokens
        .issue(&partner.id, &scopes, Some((consent.id.as_str(), consent.expiration)))
        .map_err(|e| ApiError::Internal(format!("token signing failed: {e}")))?;
    let claims = gw
        .tokens
        .verify(&issued.access_token)
        .map_err(|e| ApiError::Internal(format!("fresh token unreadable: {e}")))?;
    let body = TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: issued.scope,
        refresh_token: None,
    };
    Ok((body, claims.jti, claims.exp))
}

async fn authorization_code(gw: &AppState, partner: &Partner, form: &TokenRequest) -> Result<TokenResponse, ApiError> {
    let code = required(form.code.as_ref(), "code")?;
    let redirect_uri = required(form.redirect_uri.as_ref(), "redirect_uri")?;
    let verifier = required(form.code_verifier.as_ref(), "code_verifier")?;
    let (grant, code_key) = gw.grants.redeem_code(&partner.id, code, redirect_uri, verifier).await?;
    if !partner.scopes.contains(CUSTOMER_SCOPE) {
        return Err(OAuthError::InvalidScope(format!("`{CUSTOMER_SCOPE}` is no longer allowed for this client")).into());
    }
    let consent = consent_in_force(gw, partner, &grant.consent_id).await?;
    let (mut body, jti, exp) = consent_token(gw, partner, &consent)?;
    body.refresh_token = gw
        .grants
        .record_issued(&code_key, &partner.id, consent.id.as_str(), &jti, exp, Some(consent.expiration))
        .await?;
    tracing::info!(partner = %partner.id, consent = %consent.id, "authorization code exchanged");
    Ok(body)
}

async fn refresh_token(gw: &AppState, partner: &Partner, form: &TokenRequest) -> Result<TokenResponse, ApiError> {
    let token = required(form.refresh_token.as_ref(), "refresh_token")?;
    let refresh = gw.grants.refresh(&partner.id, token).await?;
    if !partner.scopes.contains(CUSTOMER_SCOPE) {
        return Err(OAuthError::InvalidScope(format!("`{CUSTOMER_SCOPE}` is no longer allowed for this client")).into());
    }
    let consent = consent_in_force(gw, partner, &refresh.consent_id).await?;
    let (mut body, jti, exp) = consent_token(gw, partner, &consent)?;
    gw.grants.record_issued(&refresh.code_key, &partner.id, consent.id.as_str(), &jti, exp, None).await?;
    // Not rotated (FAPI 2.0): the same refresh token stays valid until the consent ends.
    body.refresh_token = Some(token.to_owned());
    Ok(body)
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
    Ok(pairs)
}

fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, OAuthError> {
    let form = Params(parse_pairs(headers, body)?);
    let get = |name: &str| form.get(name).map(str::to_owned);
    Ok(TokenRequest {
        grant_type: form.required("grant_type")?.to_owned(),
        client_assertion_type: form.required("client_assertion_type")?.to_owned(),
        client_assertion: form.required("client_assertion")?.to_owned(),
        scope: get("scope"),
        client_id: get("client_id"),
        code: get("code"),
        redirect_uri: get("redirect_uri"),
        code_verifier: get("code_verifier"),
        refresh_token: get("refresh_token"),
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
