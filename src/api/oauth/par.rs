//! `POST /oauth2/par`: pushed authorisation requests (RFC 9126).

use axum::{
    Json,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use axum::http::StatusCode;
use scenegate_adapter_contract::{ConsentId, SecurityLevel, canonical::ConsentStatus};

use crate::{
    app::AppState,
    auth::OAuthError,
    config::Partner,
    consent::{Consent, ConsentError},
    error::ApiError,
    extract::{BoundedBody, PeerIp},
    grants::{self, PushedRequest},
    problem::Problem,
    web::Locale,
};

use super::{CUSTOMER_SCOPE, MAX_STATE_CHARS, PAYMENT_SCOPE, authenticated_form, customer_scope, no_store, truncate};

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
    /// The scope of the consent's kind: `accounts:read` for an account consent,
    /// `payments:initiate` for a payment consent.
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
#[schema(example = json!({"request_uri": "urn:ietf:params:oauth:request_uri:3q2-7wEjbQ2bV5m2vCkqk7oZ8xq5n1c0aHqQ3jv2tQo", "expires_in": 590}))]
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
    PeerIp(peer): PeerIp,
    headers: HeaderMap,
    BoundedBody(body): BoundedBody,
) -> Result<Response, ApiError> {
    let (form, partner) = authenticated_form(&gw, peer, &headers, &body).await?;

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
    if scope != CUSTOMER_SCOPE && scope != PAYMENT_SCOPE {
        return Err(OAuthError::InvalidScope(format!(
            "scope must be `{CUSTOMER_SCOPE}` (account-access consent) or `{PAYMENT_SCOPE}` (payment consent)"
        ))
        .into());
    }
    if !partner.scopes.contains(scope) {
        return Err(OAuthError::InvalidScope(format!("`{scope}` is not allowed for this client")).into());
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
    let wanted = customer_scope(&consent);
    if scope != wanted {
        let kind = if consent.payment.is_some() { "a payment consent" } else { "an account-access consent" };
        return Err(OAuthError::InvalidScope(format!("`consent_id` names {kind}: ask scope `{wanted}`")).into());
    }
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
