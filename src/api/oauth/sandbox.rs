//! Sandbox only: a pushed authorisation request answered for a named test customer without a
//! browser, so partners can run the whole consent flow (and payments) in their own CI.
//!
//! Two locks keep it away from real customers: the partner must be registered in the
//! `sandbox` environment, and the customer must be one of the gateway's configured sandbox
//! customers (`[sandbox] headless_customers`, empty by default: the endpoint then refuses
//! everyone). No password and no one-time code are asked: these are the bank's test
//! customers, never people.

use axum::{Json, extract::State, http::HeaderMap, response::IntoResponse, response::Response};
use scenegate_adapter_contract::ConsentId;
use serde::Serialize;
use utoipa::ToSchema;

use super::{authenticated_form, no_store};
use crate::{
    app::AppState,
    auth::OAuthError,
    config::Environment,
    consent::ConsentError,
    error::ApiError,
    extract::{BoundedBody, PeerIp},
    problem::Problem,
};

/// What the customer's browser would have brought back to the partner's `redirect_uri`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxAuthorization {
    /// Exchange it at the token endpoint like any authorization code (with the PKCE verifier).
    pub code: String,
    pub state: String,
    pub iss: String,
    /// The redirect the bank would have sent the browser to.
    pub redirect_to: String,
}

/// The form of `POST /oauth2/sandbox/authorize`, as documented (the handler reads the fields
/// itself: `account` may repeat).
#[allow(dead_code)] // documentation only
#[derive(ToSchema)]
pub struct SandboxAuthorizeRequest {
    client_id: String,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    client_assertion_type: String,
    /// A `private_key_jwt` assertion, as at the token endpoint.
    client_assertion: String,
    /// From `POST /oauth2/par`.
    request_uri: String,
    /// A sandbox customer number, e.g. `C0001`.
    customer: String,
    /// An account to grant (repeat the field for several), or for a payment consent the one
    /// to pay from. Default: every usable account, or the first in the payment's currency.
    account: Option<String>,
}

/// Authorise a pushed request for a sandbox customer (sandbox partners only)
///
/// Form body: client authentication as at `/oauth2/par` (`client_id`, `client_assertion_type`,
/// `client_assertion`), the `request_uri` from PAR, `customer` (a sandbox customer number such
/// as `C0001`) and optionally `account` (repeatable: the accounts to grant, or for a payment
/// consent the one to pay from; by default every usable account, or the first in the
/// payment's currency). Answers what the redirect would carry.
#[utoipa::path(
    post, path = "/oauth2/sandbox/authorize", tag = "oauth", operation_id = "sandboxAuthorize",
    request_body(content_type = "application/x-www-form-urlencoded", content = SandboxAuthorizeRequest),
    responses(
        (status = 200, description = "Authorised; exchange `code` at `/oauth2/token`.", body = SandboxAuthorization),
        (status = 400, description = "`invalid_request`: unknown or used `request_uri`, not a sandbox customer, an account that is not the customer's.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_client`: the assertion was refused.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`unauthorized_client`: the partner is not a sandbox partner.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn sandbox_authorize(
    State(gw): State<AppState>,
    PeerIp(peer): PeerIp,
    headers: HeaderMap,
    BoundedBody(body): BoundedBody,
) -> Result<Response, ApiError> {
    let (form, partner) = authenticated_form(&gw, peer, &headers, &body).await?;
    if partner.environment != Environment::Sandbox {
        return Err(OAuthError::UnauthorizedClient("headless authorisation is for sandbox partners only".into()).into());
    }
    let customer = form.required("customer")?;
    if !gw.settings.sandbox_customers.iter().any(|c| c == customer) {
        return Err(OAuthError::InvalidRequest("`customer` is not a sandbox customer of this gateway".into()).into());
    }
    let request_uri = form.required("request_uri")?;
    let unknown = || OAuthError::InvalidRequest("`request_uri` is unknown, used or expired".into());
    let request = gw.grants.pushed(&partner.id, request_uri).await?.ok_or_else(unknown)?;
    let consent_id: ConsentId = request.consent_id.parse().map_err(|_| unknown())?;
    let consent = gw.consents.for_partner(&partner.id, &consent_id).await?;

    let owned = gw.core.customer_accounts(customer).await?;
    let usable: Vec<&str> = owned
        .iter()
        .filter(|a| a.is_usable())
        .filter(|a| consent.payment.as_ref().is_none_or(|t| a.currency == t.currency))
        .map(|a| a.acct_no.as_str())
        .collect();
    let asked: Vec<&str> = form.0.iter().filter(|(k, _)| k == "account").map(|(_, v)| v.as_str()).collect();
    if let Some(bad) = asked.iter().find(|a| !usable.contains(a)) {
        let reason =
            format!("account `{}` is not a usable account of this customer", bad.chars().take(34).collect::<String>());
        return Err(OAuthError::InvalidRequest(reason).into());
    }
    let chosen: Vec<String> = match (asked.is_empty(), consent.payment.is_some()) {
        (false, true) if asked.len() > 1 => {
            return Err(OAuthError::InvalidRequest("a payment is made from one `account`".into()).into());
        }
        (false, _) => asked.iter().map(|a| (*a).to_owned()).collect(),
        (true, true) => usable.first().map(|a| vec![(*a).to_owned()]).unwrap_or_default(),
        (true, false) => usable.iter().map(|a| (*a).to_owned()).collect(),
    };
    if !gw.grants.consume(request_uri).await? {
        return Err(unknown().into());
    }
    match gw.consents.authorise(&consent_id, customer, chosen).await {
        Ok(_) => {}
        Err(ConsentError::State(_)) => {
            return Err(OAuthError::InvalidRequest("the consent is no longer awaiting authorisation".into()).into());
        }
        Err(e) => return Err(e.into()),
    }
    let code = gw.grants.issue_code(&request, customer).await?;
    let iss = gw.settings.public_url.clone();
    let mut redirect = url::Url::parse(&request.redirect_uri).map_err(|_| unknown())?;
    redirect.query_pairs_mut().extend_pairs([("code", &code), ("state", &request.state), ("iss", &iss)]);
    tracing::info!(partner = %partner.id, consent = %consent_id, "sandbox consent authorised headlessly");
    let answer = SandboxAuthorization { code, state: request.state.clone(), iss, redirect_to: redirect.to_string() };
    let mut res = Json(answer).into_response();
    no_store(&mut res);
    Ok(res)
}
