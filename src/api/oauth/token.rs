//! `POST /oauth2/token`: client credentials, authorization code with PKCE, refresh token.

use std::collections::BTreeSet;

use axum::{
    Json,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use scenegate_adapter_contract::{ConsentId, canonical::ConsentStatus};

use crate::{
    app::AppState,
    auth::OAuthError,
    config::{KNOWN_SCOPES, Partner, ScopeGrant, scope_grant},
    consent::{Consent, ConsentError},
    error::ApiError,
    extract::{BoundedBody, PeerIp},
    problem::Problem,
};

use scenegate_adapter_contract::canonical::PaymentConsentType;
use scenegate_listener::tls::ClientCertificate;

use crate::auth::{access_token::Confirmation, dpop};

use super::{Params, authenticate_client, customer_scope, no_store, parse_pairs, truncate};

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
        (status = 400, description = "`invalid_request`, `invalid_scope`, `invalid_grant`, `unsupported_grant_type`, `invalid_dpop_proof` or `use_dpop_nonce` (retry with the `DPoP-Nonce` header's nonce in the proof).", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_client`: the assertion was refused.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The partner is suspended (`error` = `unauthorized_client`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn token(
    State(gw): State<AppState>,
    PeerIp(peer): PeerIp,
    cert: Option<axum::Extension<ClientCertificate>>,
    headers: HeaderMap,
    BoundedBody(body): BoundedBody,
) -> Response {
    // The partner, once known, tags the answer (refusals too) for the access log and metrics.
    let mut partner_id = None;
    let cert = cert.map(|axum::Extension(c)| c);
    let result = token_answer(&gw, peer, cert.as_ref(), &headers, &body, &mut partner_id).await;
    let outcome = if result.is_ok() { "issued" } else { "refused" };
    let mut res = result.unwrap_or_else(IntoResponse::into_response);
    if headers.contains_key("dpop") {
        dpop::offer_nonce(res.headers_mut(), &gw.dpop_nonces, gw.assertions.clock.now());
    }
    let refusal = res
        .extensions()
        .get::<crate::problem::Problem>()
        .map(|p| p.error.clone().unwrap_or_else(|| p.type_.rsplit('/').next().unwrap_or_default().to_owned()));
    gw.token_tally.count(partner_id.as_deref(), refusal.as_deref());
    let label = partner_id.clone().unwrap_or_else(|| "unknown".to_owned());
    metrics::counter!("scenegate_token_requests_total", "client_id" => label, "outcome" => outcome).increment(1);
    if let Some(id) = partner_id {
        res.extensions_mut().insert(crate::pipeline::PartnerTag(id));
    }
    res
}

async fn token_answer(
    gw: &AppState,
    peer: std::net::IpAddr,
    cert: Option<&ClientCertificate>,
    headers: &HeaderMap,
    body: &[u8],
    partner_id: &mut Option<String>,
) -> Result<Response, ApiError> {
    let form = parse_form(headers, body)?;
    if !matches!(form.grant_type.as_str(), "client_credentials" | "authorization_code" | "refresh_token") {
        return Err(OAuthError::UnsupportedGrantType(format!(
            "grant_type `{}` is not supported; use client_credentials, authorization_code or refresh_token",
            truncate(&form.grant_type)
        ))
        .into());
    }
    let partner = authenticate_client(
        gw,
        peer,
        &form.client_assertion_type,
        &form.client_assertion,
        form.client_id.as_deref(),
        partner_id,
    )
    .await?;
    let bound =
        Confirmation { x5t_s256: sender_binding(&partner, cert)?, jkt: dpop_binding(gw, &partner, headers).await? };
    let token_type = if bound.jkt.is_some() { "DPoP" } else { "Bearer" };
    let bound = &bound;
    let body = match form.grant_type.as_str() {
        "authorization_code" => authorization_code(gw, &partner, &form, bound).await?,
        "refresh_token" => refresh_token(gw, &partner, &form, bound).await?,
        _ => {
            let granted = grant(form.scope.as_deref(), &partner.scopes)?;
            let issued = gw
                .tokens
                .issue(&partner.id, &granted, None, bound)
                .map_err(|e| ApiError::Internal(format!("token signing failed: {e}")))?;
            tracing::info!(partner = %partner.id, scope = %issued.scope, "access token issued");
            TokenResponse {
                access_token: issued.access_token,
                token_type,
                expires_in: issued.expires_in,
                scope: issued.scope,
                refresh_token: None,
            }
        }
    };
    let body = TokenResponse { token_type, ..body };
    let mut res = Json(body).into_response();
    no_store(&mut res);
    Ok(res)
}

/// The key of the request's `DPoP` proof (RFC 9449), which the tokens issued here are bound
/// to; `None` without a proof, unless the partner's file says it must send one.
async fn dpop_binding(gw: &AppState, partner: &Partner, headers: &HeaderMap) -> Result<Option<String>, OAuthError> {
    let proof = headers.get("dpop").map(|v| v.to_str().unwrap_or_default());
    let Some(proof) = proof else {
        if partner.dpop_required {
            return Err(OAuthError::InvalidDpopProof(
                "this client must send a DPoP proof with its token requests".into(),
            ));
        }
        return Ok(None);
    };
    let expected = dpop::Expected {
        method: "POST",
        url: &gw.assertions.token_endpoint,
        access_token: None,
        now: gw.assertions.clock.now(),
        nonces: partner.dpop_nonce_required.then_some(&gw.dpop_nonces),
    };
    match dpop::verify(proof, &expected, gw.assertions.replay.as_ref()).await {
        Ok(p) => Ok(Some(p.jkt)),
        Err(dpop::DpopError::Unavailable(e)) => Err(OAuthError::Unavailable(e)),
        Err(dpop::DpopError::UseNonce) => Err(OAuthError::UseDpopNonce),
        Err(e) => Err(OAuthError::InvalidDpopProof(e.to_string())),
    }
}

/// For a partner with `[mtls]`: the thumbprint of the partner's certificate this connection
/// presented (pinned, or issued by a trusted CA to its registered subject), which every token
/// issued here is bound to; no certificate, or another, is `invalid_client`. `None` for
/// partners without `[mtls]`.
fn sender_binding(partner: &Partner, cert: Option<&ClientCertificate>) -> Result<Option<String>, OAuthError> {
    let Some(mtls) = &partner.mtls else {
        return Ok(None);
    };
    let cert = cert.ok_or_else(|| {
        OAuthError::InvalidClient("this client must present its registered TLS client certificate".into())
    })?;
    if !mtls.recognises(cert) {
        return Err(OAuthError::InvalidClient(
            "the TLS client certificate is not one registered for this client (by thumbprint, or issued by a CA \
             the bank trusts to the registered subject)"
                .into(),
        ));
    }
    Ok(Some(cert.thumbprint().to_owned()))
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
    bound: &Confirmation,
) -> Result<(TokenResponse, String, i64), ApiError> {
    let scopes = BTreeSet::from([customer_scope(consent).to_owned()]);
    let issued = gw
        .tokens
        .issue(&partner.id, &scopes, Some((consent.id.as_str(), consent.expiration)), bound)
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

/// The partner must still hold the scope the consent's kind grants.
fn still_allowed(partner: &Partner, consent: &Consent) -> Result<(), ApiError> {
    let scope = customer_scope(consent);
    if !partner.scopes.contains(scope) {
        return Err(OAuthError::InvalidScope(format!("`{scope}` is no longer allowed for this client")).into());
    }
    Ok(())
}

/// Until when a refresh token is issued with a code's access token: with the consent's
/// expiration, except for a single or bulk payment consent, which gets none: one payment
/// (one execution) needs one access token.
fn refresh_until(consent: &Consent) -> Option<i64> {
    match &consent.payment {
        Some(terms) if matches!(terms.kind, PaymentConsentType::Single | PaymentConsentType::Bulk) => None,
        _ => Some(consent.expiration),
    }
}

async fn authorization_code(
    gw: &AppState,
    partner: &Partner,
    form: &TokenRequest,
    bound: &Confirmation,
) -> Result<TokenResponse, ApiError> {
    let code = required(form.code.as_ref(), "code")?;
    let redirect_uri = required(form.redirect_uri.as_ref(), "redirect_uri")?;
    let verifier = required(form.code_verifier.as_ref(), "code_verifier")?;
    let (grant, code_key) = gw.grants.redeem_code(&partner.id, code, redirect_uri, verifier).await?;
    let consent = consent_in_force(gw, partner, &grant.consent_id).await?;
    still_allowed(partner, &consent)?;
    let (mut body, jti, exp) = consent_token(gw, partner, &consent, bound)?;
    body.refresh_token = gw
        .grants
        .record_issued(&code_key, &partner.id, consent.id.as_str(), &jti, exp, refresh_until(&consent))
        .await?;
    tracing::info!(partner = %partner.id, consent = %consent.id, "authorization code exchanged");
    Ok(body)
}

async fn refresh_token(
    gw: &AppState,
    partner: &Partner,
    form: &TokenRequest,
    bound: &Confirmation,
) -> Result<TokenResponse, ApiError> {
    let token = required(form.refresh_token.as_ref(), "refresh_token")?;
    let refresh = gw.grants.refresh(&partner.id, token).await?;
    let consent = consent_in_force(gw, partner, &refresh.consent_id).await?;
    still_allowed(partner, &consent)?;
    let (mut body, jti, exp) = consent_token(gw, partner, &consent, bound)?;
    gw.grants.record_issued(&refresh.code_key, &partner.id, consent.id.as_str(), &jti, exp, None).await?;
    // Not rotated (FAPI 2.0): the same refresh token stays valid until the consent ends.
    body.refresh_token = Some(token.to_owned());
    Ok(body)
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

/// What `client_credentials` grants: requested ∩ allowed, or, with no `scope`, every allowed
/// scope that this grant can use. A scope this API does not know is an error, so a typo is
/// reported rather than silently dropped; so is a customer scope, which only the
/// authorization code flow can grant; an empty result is refused.
fn grant(requested: Option<&str>, allowed: &BTreeSet<String>) -> Result<BTreeSet<String>, OAuthError> {
    let client_scope = |scope: &str| scope_grant(scope) == Some(ScopeGrant::Client);
    let Some(requested) = requested.filter(|s| !s.trim().is_empty()) else {
        let granted: BTreeSet<String> = allowed.iter().filter(|s| client_scope(s)).cloned().collect();
        if granted.is_empty() {
            return Err(OAuthError::InvalidScope(
                "this client holds no scope usable with client_credentials; its scopes need a customer's consent \
                 (authorization code flow)"
                    .into(),
            ));
        }
        return Ok(granted);
    };
    let mut granted = BTreeSet::new();
    for scope in requested.split(' ').filter(|s| !s.is_empty()) {
        if !KNOWN_SCOPES.contains(&scope) {
            return Err(OAuthError::InvalidScope(format!("unknown scope `{}`", truncate(scope))));
        }
        if !client_scope(scope) {
            return Err(OAuthError::InvalidScope(format!(
                "`{scope}` acts for a customer: it is granted only through their consent (PAR + authorization code), \
                 not with client_credentials"
            )));
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

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, header};

    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn without_scope_only_client_scopes_are_granted() {
        let allowed = set(&["accounts:read", "consents:write", "products:read"]);
        assert_eq!(grant(None, &allowed).unwrap(), set(&["consents:write", "products:read"]));
        assert!(matches!(grant(None, &set(&["accounts:read"])), Err(OAuthError::InvalidScope(_))));
        let err = grant(Some("products:read accounts:read"), &allowed).unwrap_err();
        assert!(matches!(err, OAuthError::InvalidScope(ref m) if m.contains("customer")), "{err:?}");
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
        assert!(matches!(parse_form(&HeaderMap::new(), b"grant_type=x"), Err(OAuthError::UnsupportedMediaType(_))));
    }
}
