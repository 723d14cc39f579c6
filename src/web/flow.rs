//! The customer's side of the authorisation-code flow: `GET /oauth2/authorize` shows the
//! bank login or the consent screen, `POST /customer/login` logs in, and
//! `POST /oauth2/authorize/decision` approves or denies and sends the browser back to the
//! partner with 303, only ever to the `redirect_uri` checked at PAR.

use axum::{
    Form,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use scenegate_adapter_contract::{
    AccountId, ConsentId,
    canonical::{ConsentStatus, PaymentConsentType},
};

use super::{
    Fields, Locale, PRE_SESSION_COOKIE, PRE_SESSION_TTL_SECS, Page, SESSION_COOKIE, csrf_ok, current_session,
    error_page, login_csrf, pages, pre_session_valid, read_cookie, safe_return_to, see_other, session_for_form,
    set_cookie, text, unavailable,
};
use crate::{
    app::AppState,
    consent::{Consent, ConsentError, PaymentTerms, payment_terms},
    core::{AccountKind, AccountState, CoreAccount, CoreError, OtpCheck},
    extract::PeerIp,
    grants::{self, PushedRequest, SESSION_ABSOLUTE_SECS, ScaChallenge, Session, ThrottleKey},
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
    if let Some(terms) = &consent.payment {
        let page = PaymentPage { request, request_uri, session, partner: &partner, consent: &consent, terms };
        return payment_page(gw, &page, &accounts, locale, status, message);
    }
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
            kind: if a.kind == AccountKind::Current { t.current } else { t.savings },
            currency: a.currency.code().to_owned(),
            selectable: a.is_usable(),
            note: match a.state {
                AccountState::Frozen => t.frozen,
                AccountState::Closed => t.closed,
                AccountState::Normal => "",
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

/// `POST /customer/login`: throttled per customer (mobile and customer number count as one)
/// and per client address.
pub async fn login(
    State(gw): State<AppState>,
    headers: HeaderMap,
    PeerIp(ip): PeerIp,
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

    // The customer behind the id, so five wrong passwords lock the customer whichever of
    // their ids was typed. An unknown id is throttled as itself, and answered the same way.
    let who = match gw.core.identify_customer(login_id).await {
        Ok(Some(cust_no)) => ThrottleKey::Customer(cust_no),
        Ok(None) => ThrottleKey::login(login_id),
        Err(e) => {
            metrics::counter!(LOGINS, "outcome" => "core_error").increment(1);
            return unavailable(locale, "identifying a customer login", &e);
        }
    };
    let keys = [who, ThrottleKey::Ip(ip)];
    for key in &keys {
        if gw.grants.throttle.locked_until(key, now).await.is_some() {
            tracing::warn!(%ip, "customer login refused: throttled");
            metrics::counter!(LOGINS, "outcome" => "throttled").increment(1);
            return again(StatusCode::TOO_MANY_REQUESTS, t.login_locked);
        }
    }
    match gw.core.verify_customer(login_id, password).await {
        Ok(customer) => {
            metrics::counter!(LOGINS, "outcome" => "ok").increment(1);
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
            // A customer's mistake, counted apart from the core's failures below.
            metrics::counter!(LOGINS, "outcome" => "wrong_password").increment(1);
            for key in &keys {
                gw.grants.throttle.record_failure(key, now).await;
            }
            again(StatusCode::UNAUTHORIZED, t.login_failed)
        }
        Err(e) => {
            metrics::counter!(LOGINS, "outcome" => "core_error").increment(1);
            unavailable(locale, "verifying a customer login", &e)
        }
    }
}

/// Customer logins by outcome: `ok`, `wrong_password`, `throttled`, `core_error`.
const LOGINS: &str = "scenegate_customer_logins_total";

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
            let consent = match gw.consents.load(&consent_id).await {
                Ok(c) if c.partner_id == request.client_id => c,
                Ok(_) | Err(ConsentError::NotFound) => {
                    return error_page(StatusCode::BAD_REQUEST, locale, t.bad_request);
                }
                Err(e) => return unavailable(locale, "loading a consent", &e),
            };
            if consent.payment.is_some() {
                return approve_payment(&gw, &headers, &fields, &request, &session, &consent, locale).await;
            }
            let owned = match gw.core.customer_accounts(customer).await {
                Ok(a) => a,
                Err(e) => return unavailable(locale, "listing the customer's accounts", &e),
            };
            let mut chosen: Vec<String> = Vec::new();
            for value in fields.all("account") {
                let usable = owned.iter().any(|a| a.acct_no == value && a.is_usable());
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

/// What the payment consent page is about.
struct PaymentPage<'a> {
    request: &'a PushedRequest,
    request_uri: &'a str,
    session: &'a Session,
    partner: &'a str,
    consent: &'a Consent,
    terms: &'a PaymentTerms,
}

/// The customer's accounts that may pay under `terms`: usable, in its currency.
fn debtor_candidates<'a>(accounts: &'a [CoreAccount], terms: &PaymentTerms) -> Vec<&'a CoreAccount> {
    accounts.iter().filter(|a| a.is_usable() && a.currency == terms.currency).collect()
}

/// The pseudonymous id the consent's partner knows `acct_no` by.
fn pseudonym_of(gw: &AppState, consent: &Consent, acct_no: &str) -> Option<AccountId> {
    Some(gw.accounts.pseudonym(&consent.partner_id, acct_no))
}

/// Who is paid: the payee, or for a bulk how many.
fn payee_name(terms: &PaymentTerms, t: &'static text::Text) -> String {
    match (&terms.payee, &terms.bulk) {
        (Some(payee), _) => payee.name().to_owned(),
        (None, Some(bulk)) => format!("{} {}", bulk.transactions.len(), t.payees),
        (None, None) => String::new(),
    }
}

/// The amount (single), the total (bulk) or the per-payment limit (recurring), labelled.
fn summary(terms: &PaymentTerms, t: &'static text::Text) -> pages::Fact {
    let label = if terms.kind == PaymentConsentType::Bulk { t.total } else { t.amount };
    match (terms.amount_minor, terms.limits) {
        (Some(minor), _) => pages::Fact { label, value: text::money(minor, terms.currency) },
        (None, Some(l)) => pages::Fact { label: t.per_payment, value: text::money(l.per_payment, terms.currency) },
        (None, None) => pages::Fact { label, value: String::new() },
    }
}

/// A payment consent's terms as facts: payee, then amount or every limit.
pub(super) fn payment_facts(terms: &PaymentTerms, t: &'static text::Text) -> Vec<pages::Fact> {
    let mut facts = vec![pages::Fact { label: t.payee, value: payee_name(terms, t) }];
    match terms.limits {
        Some(l) => {
            facts.push(pages::Fact { label: t.per_payment, value: text::money(l.per_payment, terms.currency) });
            if let Some(d) = l.per_day {
                facts.push(pages::Fact { label: t.per_day, value: text::money(d, terms.currency) });
            }
            if let Some(m) = l.per_month {
                facts.push(pages::Fact { label: t.per_month, value: text::money(m, terms.currency) });
            }
        }
        None => facts.push(summary(terms, t)),
    }
    facts
}

/// A bulk's payments for the consent page.
fn transfers(terms: &PaymentTerms) -> Vec<pages::TransferRow> {
    let Some(bulk) = &terms.bulk else { return Vec::new() };
    bulk.transactions
        .iter()
        .map(|item| pages::TransferRow {
            payee: item.payee.name().to_owned(),
            account: match &item.payee {
                crate::consent::Payee::Account { number, .. } => payment_terms::mask(number),
                crate::consent::Payee::Merchant { .. } => String::new(),
            },
            amount: text::money(item.amount_minor, terms.currency),
            reference: item.reference.clone(),
        })
        .collect()
}

/// What the SMS says the code is for (at most 140 characters, the core's limit).
fn otp_purpose(terms: &PaymentTerms) -> String {
    let payee = payee_name(terms, &text::EN);
    let text = match (terms.kind, terms.amount_minor, terms.limits) {
        (PaymentConsentType::Single | PaymentConsentType::Bulk, Some(minor), _) => {
            format!("Pay {} to {payee}", text::money(minor, terms.currency))
        }
        (_, _, Some(l)) => {
            format!("Allow payments of up to {} each to {payee}", text::money(l.per_payment, terms.currency))
        }
        _ => format!("Authorise payments to {payee}"),
    };
    text.chars().take(140).collect()
}

fn payment_page(
    gw: &AppState,
    p: &PaymentPage<'_>,
    accounts: &[CoreAccount],
    locale: Locale,
    status: StatusCode,
    message: &str,
) -> Response {
    let t = locale.text();
    let terms = p.terms;
    let proposed = terms.proposed_debtor.as_ref();
    let rows = debtor_candidates(accounts, terms)
        .into_iter()
        .map(|a| pages::DebtorRow {
            value: a.acct_no.clone(),
            masked: text::mask(&a.acct_no),
            kind: if a.kind == AccountKind::Current { t.current } else { t.savings },
            currency: a.currency.code().to_owned(),
            checked: proposed.is_some_and(|want| pseudonym_of(gw, p.consent, &a.acct_no).as_ref() == Some(want)),
        })
        .collect();
    let payee_account = match &terms.payee {
        Some(crate::consent::Payee::Account { number, .. }) => payment_terms::mask(number),
        Some(crate::consent::Payee::Merchant { .. }) | None => String::new(),
    };
    let limits = payment_facts(terms, t).into_iter().skip(1).collect();
    let payee = payee_name(terms, t);
    let amount = summary(terms, t);
    let page = pages::PaymentConsentPage {
        t,
        lang: locale.code(),
        partner: p.partner,
        payee: &payee,
        payee_account,
        single: terms.limits.is_none(),
        amount_label: amount.label,
        amount: amount.value,
        limits,
        transfers: transfers(terms),
        reference: &terms.reference,
        scenario: text::scenario(terms.scenario.code, locale),
        until: format!("{} ({})", text::beijing(p.consent.expiration, true), t.beijing_time),
        message,
        csrf: &p.session.csrf,
        client_id: &p.request.client_id,
        request_uri: p.request_uri,
        accounts: rows,
    };
    let switch = authorize_href(&p.request.client_id, p.request_uri, locale.other());
    Page::new(status, pages::payment_consent(locale, &switch, &page)).into_response()
}

/// Approving a payment consent does not authorise it yet: the core sends the customer a
/// one-time code, and the choice waits server-side, under the customer's session, until the
/// code comes back (`POST /oauth2/authorize/otp`).
async fn approve_payment(
    gw: &AppState,
    headers: &HeaderMap,
    fields: &Fields,
    request: &PushedRequest,
    session: &Session,
    consent: &Consent,
    locale: Locale,
) -> Response {
    let t = locale.text();
    let bad = || error_page(StatusCode::BAD_REQUEST, locale, t.bad_request);
    let Some(terms) = consent.payment.as_ref() else { return bad() };
    if consent.status != ConsentStatus::AwaitingAuthorisation {
        return bad();
    }
    let request_uri = fields.get("request_uri").unwrap_or_default();
    let owned = match gw.core.customer_accounts(&session.customer_id).await {
        Ok(a) => a,
        Err(e) => return unavailable(locale, "listing the customer's accounts", &e),
    };
    let chosen: Vec<&str> = fields.all("account").collect();
    let debtor = match chosen.as_slice() {
        [] => {
            let partner =
                gw.partners.load().get(&request.client_id).map(|p| p.display_name.clone()).unwrap_or_default();
            let page = PaymentPage { request, request_uri, session, partner: &partner, consent, terms };
            return payment_page(gw, &page, &owned, locale, StatusCode::BAD_REQUEST, t.choose_debtor_one);
        }
        [one] => match debtor_candidates(&owned, terms).into_iter().find(|a| a.acct_no == *one) {
            Some(a) => a.acct_no.clone(),
            None => return bad(),
        },
        _ => return bad(),
    };
    let Some(session_id) = read_cookie(headers, SESSION_COOKIE) else { return bad() };
    let sent = match gw.core.send_otp(&session.customer_id, &otp_purpose(terms), consent.id.as_str()).await {
        Ok(s) => s,
        Err(e) => return unavailable(locale, "sending a one-time code", &e),
    };
    // Used up only now, so a core outage leaves the customer free to try again.
    if !matches!(gw.grants.consume(request_uri).await, Ok(true)) {
        return bad();
    }
    let challenge = ScaChallenge {
        customer_id: session.customer_id.clone(),
        consent_id: consent.id.as_str().to_owned(),
        debtor,
        otp_id: sent.otp_id,
        masked_mobile: sent.masked_mobile,
        request: request.clone(),
        expires_at: 0,
    };
    if let Err(e) = gw.grants.start_sca(session_id, challenge).await {
        return unavailable(locale, "keeping a pending authentication", &e);
    }
    tracing::info!(partner = %request.client_id, consent = %consent.id, "one-time code sent for a payment consent");
    see_other(&otp_href(locale), &[])
}

fn otp_href(locale: Locale) -> String {
    format!("/oauth2/authorize/otp?lang={}", locale.code())
}

/// The session's pending authentication, or the page to answer with.
async fn pending_sca(
    gw: &AppState,
    headers: &HeaderMap,
    session: &Session,
    locale: Locale,
) -> Result<(String, ScaChallenge), Response> {
    let gone = || error_page(StatusCode::BAD_REQUEST, locale, locale.text().otp_gone);
    let Some(session_id) = read_cookie(headers, SESSION_COOKIE) else { return Err(gone()) };
    match gw.grants.sca(session_id, &session.customer_id).await {
        Ok(Some(c)) => Ok((session_id.to_owned(), c)),
        Ok(None) => Err(gone()),
        Err(e) => Err(unavailable(locale, "loading a pending authentication", &e)),
    }
}

async fn otp_page(
    gw: &AppState,
    challenge: &ScaChallenge,
    session: &Session,
    locale: Locale,
    status: StatusCode,
    message: &str,
) -> Response {
    let t = locale.text();
    let consent = match challenge.consent_id.parse::<ConsentId>() {
        Ok(id) => gw.consents.load(&id).await,
        Err(_) => Err(ConsentError::NotFound),
    };
    let consent = match consent {
        Ok(c) => c,
        Err(ConsentError::NotFound) => return error_page(StatusCode::BAD_REQUEST, locale, t.otp_gone),
        Err(e) => return unavailable(locale, "loading a consent", &e),
    };
    let Some(terms) = consent.payment.as_ref() else {
        return error_page(StatusCode::BAD_REQUEST, locale, t.otp_gone);
    };
    let sum = summary(terms, t);
    let payee = payee_name(terms, t);
    let page = pages::OtpPage {
        t,
        lang: locale.code(),
        masked_mobile: &challenge.masked_mobile,
        payee: &payee,
        summary_label: sum.label,
        summary: sum.value,
        message,
        csrf: &session.csrf,
    };
    Page::new(status, pages::otp(locale, &otp_href(locale.other()), &page)).into_response()
}

/// `GET /oauth2/authorize/otp`: the one-time code form of the session's pending payment
/// consent.
pub async fn otp_form(State(gw): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let locale = query_fields(raw).locale();
    let session = match current_session(&gw, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return error_page(StatusCode::BAD_REQUEST, locale, locale.text().otp_gone),
        Err(e) => return unavailable(locale, "loading a session", &e),
    };
    match pending_sca(&gw, &headers, &session, locale).await {
        Ok((_, challenge)) => otp_page(&gw, &challenge, &session, locale, StatusCode::OK, "").await,
        Err(page) => page,
    }
}

/// `POST /oauth2/authorize/otp`: checks the code with the core.
///
/// - Verified: the consent is authorised with the chosen debtor account and the browser goes
///   back to the partner with a code, exactly as for an account consent.
/// - Wrong: the form again ("wrong code, try again"); the core counts the attempts.
/// - Locked (five wrong codes), expired or already used: this attempt ends and the browser
///   goes back to the partner with `error=access_denied`. The consent is **not** rejected:
///   it stays `awaiting_authorisation`, so the partner may push a new authorisation
///   request for it (a customer who mistyped has not said no).
///
/// The code is never logged, stored, put in a URL or passed to the partner.
pub async fn otp_submit(
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
    let (session_id, challenge) = match pending_sca(&gw, &headers, &session, locale).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let code = fields.get("otp").unwrap_or_default().trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return otp_page(&gw, &challenge, &session, locale, StatusCode::BAD_REQUEST, t.otp_format).await;
    }
    let request = &challenge.request;
    let issuer = gw.settings.public_url.as_str();
    let customer = session.customer_id.as_str();
    // The otp id comes only from this session's own challenge; the core's answer also names
    // the customer and the reference the code was sent for, and both must be this one's.
    let denied = |why: &str| {
        let params = [
            ("error", "access_denied"),
            ("error_description", why),
            ("state", request.state.as_str()),
            ("iss", issuer),
        ];
        back_to_partner(&request.redirect_uri, &params, locale)
    };
    let check = match gw.core.verify_otp(&challenge.otp_id, code).await {
        Ok(c) => c,
        Err(e) => return unavailable(locale, "verifying a one-time code", &e),
    };
    let consent_id = match challenge.consent_id.parse::<ConsentId>() {
        Ok(id) => id,
        Err(_) => return error_page(StatusCode::BAD_REQUEST, locale, t.otp_gone),
    };
    match check {
        OtpCheck::Verified { cust_no, reference } if cust_no != customer || reference != challenge.consent_id => {
            tracing::error!(consent = %consent_id, "one-time code verified for another customer or consent");
            let _ = gw.grants.end_sca(&session_id).await;
            denied("the one-time code was not sent for this authorisation")
        }
        OtpCheck::Verified { .. } => {
            // The challenge ends once: of two submissions racing (a double click, two
            // instances), one goes on to the partner with a code, the other sees it ended.
            match gw.grants.end_sca(&session_id).await {
                Ok(true) => {}
                Ok(false) => return error_page(StatusCode::CONFLICT, locale, t.otp_gone),
                Err(e) => return unavailable(locale, "ending a one-time code challenge", &e),
            }
            match gw.consents.authorise(&consent_id, customer, vec![challenge.debtor.clone()]).await {
                Ok(_) => {}
                Err(ConsentError::State(_) | ConsentError::NotFound) => {
                    return denied("the consent can no longer be authorised");
                }
                Err(e) => return unavailable(locale, "authorising a consent", &e),
            }
            let code = match gw.grants.issue_code(request, customer).await {
                Ok(c) => c,
                Err(e) => return unavailable(locale, "issuing a code", &e),
            };
            tracing::info!(partner = %request.client_id, consent = %consent_id, "customer authorised a payment consent");
            back_to_partner(
                &request.redirect_uri,
                &[("code", &code), ("state", &request.state), ("iss", issuer)],
                locale,
            )
        }
        OtpCheck::Wrong => {
            tracing::info!(consent = %consent_id, "wrong one-time code");
            otp_page(&gw, &challenge, &session, locale, StatusCode::BAD_REQUEST, t.otp_wrong).await
        }
        // Used by another submission of this session racing this one (a double click, two
        // instances): that one carries the authorisation on; this one only says so.
        OtpCheck::AlreadyUsed => error_page(StatusCode::CONFLICT, locale, t.otp_gone),
        ended @ (OtpCheck::Locked | OtpCheck::Expired) => {
            let _ = gw.grants.end_sca(&session_id).await;
            let why = match ended {
                OtpCheck::Locked => "the customer entered too many wrong one-time codes",
                _ => "the one-time code expired",
            };
            tracing::info!(partner = %request.client_id, consent = %consent_id, reason = why, "payment consent authentication ended");
            denied(why)
        }
    }
}
