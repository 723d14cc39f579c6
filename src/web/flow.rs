//! The customer's side of the authorisation-code flow: `GET /oauth2/authorize` shows the
//! bank login or the consent screen, `POST /customer/login` logs in, and
//! `POST /oauth2/authorize/decision` approves or denies and sends the browser back to the
//! partner with 303, only ever to the `redirect_uri` checked at PAR.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::{
    Extension, Form,
    extract::{ConnectInfo, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use scenegate_adapter_contract::{ConsentId, canonical::ConsentStatus};

use super::{
    Fields, Locale, PRE_SESSION_COOKIE, PRE_SESSION_TTL_SECS, Page, SESSION_COOKIE, csrf_ok, current_session,
    error_page, login_csrf, pages, pre_session_valid, read_cookie, safe_return_to, see_other, session_for_form,
    set_cookie, text, unavailable,
};
use crate::{
    app::AppState,
    consent::ConsentError,
    core::CoreError,
    grants::{self, PushedRequest, SESSION_ABSOLUTE_SECS, Session, ThrottleKey},
};

fn query_fields(raw: Option<String>) -> Fields {
    Fields(serde_urlencoded::from_str(raw.as_deref().unwrap_or_default()).unwrap_or_default())
}

pub(super) fn authorize_href(client_id: &str, request_uri: &str, locale: Locale) -> String {
    let query =
        serde_urlencoded::to_string([("client_id", client_id), ("request_uri", request_uri), ("lang", locale.code())])
            .unwrap_or_default();
    format!("/oauth2/authorize?{query}")
}

/// The bank login form, to come back to `return_to` afterwards.
pub(super) fn login_page(
    gw: &AppState,
    headers: &HeaderMap,
    locale: Locale,
    return_to: &str,
    switch_href: &str,
    (status, message, login_id): (StatusCode, &str, &str),
) -> Response {
    let now = gw.grants.now();
    let mut cookies = Vec::new();
    let pre = match read_cookie(headers, PRE_SESSION_COOKIE).filter(|p| pre_session_valid(p, now)) {
        Some(p) => p.to_owned(),
        None => {
            let fresh = format!("{now}.{}", grants::random_secret());
            cookies.push(set_cookie(gw, PRE_SESSION_COOKIE, &fresh, PRE_SESSION_TTL_SECS));
            fresh
        }
    };
    let csrf = login_csrf(&pre);
    let form = pages::Login { t: locale.text(), lang: locale.code(), message, csrf: &csrf, return_to, login_id };
    Page { status, html: pages::login(locale, switch_href, &form), cookies }.into_response()
}

/// The pushed request named by `client_id` + `request_uri`, if it may still be used.
async fn pushed(gw: &AppState, fields: &Fields) -> Result<Option<PushedRequest>, Response> {
    let (Some(client_id), Some(request_uri)) = (fields.get("client_id"), fields.get("request_uri")) else {
        return Ok(None);
    };
    let found = gw
        .grants
        .pushed(client_id, request_uri)
        .await
        .map_err(|e| unavailable(fields.locale(), "loading a pushed request", &e))?;
    // The partner may have been suspended or removed since it pushed the request.
    Ok(found.filter(|r| gw.partners.load().get(&r.client_id).is_some_and(|p| p.is_active())))
}

/// `GET /oauth2/authorize?client_id=…&request_uri=…[&lang=en]`
pub async fn authorize(State(gw): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let fields = query_fields(raw);
    let asked = fields.get("lang").and_then(Locale::from_tag);
    let request = match pushed(&gw, &fields).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            let locale = asked.unwrap_or_default();
            return error_page(StatusCode::BAD_REQUEST, locale, locale.text().bad_request);
        }
        Err(res) => return res,
    };
    let locale = asked.or_else(|| Locale::from_tag(&request.locale)).unwrap_or_default();
    let request_uri = fields.get("request_uri").unwrap_or_default();
    let here = authorize_href(&request.client_id, request_uri, locale);
    let switch = authorize_href(&request.client_id, request_uri, locale.other());
    match current_session(&gw, &headers).await {
        Ok(Some(session)) => consent_page(&gw, &request, request_uri, &session, locale, StatusCode::OK, "").await,
        Ok(None) => login_page(&gw, &headers, locale, &here, &switch, (StatusCode::OK, "", "")),
        Err(e) => unavailable(locale, "loading a session", &e),
    }
}

async fn consent_page(
    gw: &AppState,
    request: &PushedRequest,
    request_uri: &str,
    session: &Session,
    locale: Locale,
    status: StatusCode,
    message: &str,
) -> Response {
    let t = locale.text();
    let consent = match request.consent_id.parse::<ConsentId>() {
        Ok(id) => gw.consents.load(&id).await,
        Err(_) => Err(ConsentError::NotFound),
    };
    let consent = match consent {
        Ok(c) if c.status == ConsentStatus::AwaitingAuthorisation && c.partner_id == request.client_id => c,
        Ok(_) | Err(ConsentError::NotFound) => return error_page(StatusCode::BAD_REQUEST, locale, t.bad_request),
        Err(e) => return unavailable(locale, "loading a consent", &e),
    };
    let accounts = match gw.core.customer_accounts(&session.customer_id).await {
        Ok(a) => a,
        Err(e) => return unavailable(locale, "listing the customer's accounts", &e),
    };
    let partner = gw.partners.load().get(&request.client_id).map(|p| p.display_name.clone()).unwrap_or_default();
    let window = match (consent.transaction_from, consent.transaction_to) {
        (None, None) => String::new(),
        (from, to) => format!(
            "{} – {}",
            from.map_or_else(|| t.any_time.to_owned(), |s| text::beijing(s, false)),
            to.map_or_else(|| t.any_time.to_owned(), |s| text::beijing(s, false)),
        ),
    };
    let rows = accounts
        .iter()
        .map(|a| pages::AccountRow {
            value: a.acct_no.clone(),
            masked: text::mask(&a.acct_no),
            kind: if a.acct_type == "CUR" { t.current } else { t.savings },
            currency: a.ccy.clone(),
            selectable: a.acct_status == "N",
            note: match a.acct_status.as_str() {
                "F" => t.frozen,
                "C" => t.closed,
                _ => "",
            },
        })
        .collect();
    let page = pages::ConsentPage {
        t,
        lang: locale.code(),
        partner: &partner,
        purpose: &consent.purpose,
        until: format!("{} ({})", text::beijing(consent.expiration, false), t.beijing_time),
        window,
        permissions: consent.permissions.iter().map(|p| text::permission(*p, locale)).collect(),
        message,
        csrf: &session.csrf,
        client_id: &request.client_id,
        request_uri,
        accounts: rows,
    };
    let switch = authorize_href(&request.client_id, request_uri, locale.other());
    Page::new(status, pages::consent(locale, &switch, &page)).into_response()
}

/// `POST /customer/login`: throttled per login id and per client address.
pub async fn login(
    State(gw): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let fields = Fields(form);
    let locale = fields.locale();
    let t = locale.text();
    let now = gw.grants.now();
    let pre = read_cookie(&headers, PRE_SESSION_COOKIE).filter(|p| pre_session_valid(p, now));
    if !pre.is_some_and(|p| csrf_ok(&login_csrf(p), fields.get("csrf"))) {
        return error_page(StatusCode::FORBIDDEN, locale, t.forbidden);
    }
    let return_to = safe_return_to(fields.get("return_to"));
    let login_id = fields.get("login_id").unwrap_or_default().trim();
    let password = fields.get("password").unwrap_or_default();
    let again = |status, message| login_page(&gw, &headers, locale, &return_to, "", (status, message, login_id));
    if login_id.is_empty() || login_id.chars().count() > 64 || password.is_empty() || password.len() > 128 {
        return again(StatusCode::UNAUTHORIZED, t.login_failed);
    }

    // The peer address only: X-Forwarded-For is whatever the client says it is.
    let ip = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(ConnectInfo(addr))| addr.ip());
    let keys = [ThrottleKey::login(login_id), ThrottleKey::Ip(ip)];
    for key in &keys {
        if gw.grants.throttle.locked_until(key, now).await.is_some() {
            tracing::warn!(%ip, "customer login refused: throttled");
            return again(StatusCode::TOO_MANY_REQUESTS, t.login_locked);
        }
    }
    match gw.core.verify_customer(login_id, password).await {
        Ok(customer) => {
            gw.grants.throttle.clear(&keys[0]).await;
            match gw.grants.start_session(&customer.cust_no).await {
                Ok((id, _)) => {
                    let cookies = [
                        set_cookie(&gw, SESSION_COOKIE, &id, SESSION_ABSOLUTE_SECS),
                        set_cookie(&gw, PRE_SESSION_COOKIE, "", 0),
                    ];
                    see_other(&return_to, &cookies)
                }
                Err(e) => unavailable(locale, "starting a session", &e),
            }
        }
        Err(CoreError::Unauthenticated) => {
            for key in &keys {
                gw.grants.throttle.record_failure(key, now).await;
            }
            again(StatusCode::UNAUTHORIZED, t.login_failed)
        }
        Err(e) => unavailable(locale, "verifying a customer login", &e),
    }
}

/// Appends the response parameters to the registered redirect URI (RFC 6749 §4.1.2, RFC 9207).
fn back_to_partner(redirect_uri: &str, params: &[(&str, &str)], locale: Locale) -> Response {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params);
            see_other(url.as_str(), &[])
        }
        Err(_) => error_page(StatusCode::BAD_REQUEST, locale, locale.text().bad_request),
    }
}

/// `POST /oauth2/authorize/decision`: approve (with accounts) or deny.
pub async fn decide(
    State(gw): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let fields = Fields(form);
    let locale = fields.locale();
    let t = locale.text();
    let session = match session_for_form(&gw, &headers, &fields, locale).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let request = match pushed(&gw, &fields).await {
        Ok(Some(r)) => r,
        Ok(None) => return error_page(StatusCode::BAD_REQUEST, locale, t.bad_request),
        Err(res) => return res,
    };
    let request_uri = fields.get("request_uri").unwrap_or_default();
    let Ok(consent_id) = request.consent_id.parse::<ConsentId>() else {
        return error_page(StatusCode::BAD_REQUEST, locale, t.bad_request);
    };
    let issuer = gw.settings.public_url.as_str();
    let customer = session.customer_id.as_str();
    match fields.get("decision") {
        Some("approve") => {
            let owned = match gw.core.customer_accounts(customer).await {
                Ok(a) => a,
                Err(e) => return unavailable(locale, "listing the customer's accounts", &e),
            };
            let mut chosen: Vec<String> = Vec::new();
            for value in fields.all("account") {
                let usable = owned.iter().any(|a| a.acct_no == value && a.acct_status == "N");
                if !usable {
                    return error_page(StatusCode::BAD_REQUEST, locale, t.bad_request);
                }
                if !chosen.iter().any(|c| c == value) {
                    chosen.push(value.to_owned());
                }
            }
            if chosen.is_empty() {
                return consent_page(
                    &gw,
                    &request,
                    request_uri,
                    &session,
                    locale,
                    StatusCode::BAD_REQUEST,
                    t.choose_one,
                )
                .await;
            }
            if !matches!(gw.grants.consume(request_uri).await, Ok(true)) {
                return error_page(StatusCode::BAD_REQUEST, locale, t.bad_request);
            }
            match gw.consents.authorise(&consent_id, customer, chosen).await {
                Ok(_) => {}
                Err(ConsentError::State(_) | ConsentError::NotFound) => {
                    let params = [
                        ("error", "access_denied"),
                        ("error_description", "the consent can no longer be authorised"),
                        ("state", request.state.as_str()),
                        ("iss", issuer),
                    ];
                    return back_to_partner(&request.redirect_uri, &params, locale);
                }
                Err(e) => return unavailable(locale, "authorising a consent", &e),
            }
            let code = match gw.grants.issue_code(&request, customer).await {
                Ok(c) => c,
                Err(e) => return unavailable(locale, "issuing a code", &e),
            };
            tracing::info!(partner = %request.client_id, consent = %consent_id, "customer authorised a consent");
            back_to_partner(
                &request.redirect_uri,
                &[("code", &code), ("state", &request.state), ("iss", issuer)],
                locale,
            )
        }
        Some("deny") => {
            if !matches!(gw.grants.consume(request_uri).await, Ok(true)) {
                return error_page(StatusCode::BAD_REQUEST, locale, t.bad_request);
            }
            match gw.consents.reject(&consent_id, customer).await {
                Ok(_) | Err(ConsentError::State(_) | ConsentError::NotFound) => {}
                Err(e) => return unavailable(locale, "rejecting a consent", &e),
            }
            tracing::info!(partner = %request.client_id, consent = %consent_id, "customer denied a consent");
            back_to_partner(
                &request.redirect_uri,
                &[("error", "access_denied"), ("state", &request.state), ("iss", issuer)],
                locale,
            )
        }
        _ => error_page(StatusCode::BAD_REQUEST, locale, t.bad_request),
    }
}
