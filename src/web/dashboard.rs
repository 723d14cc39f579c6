//! `GET /customer/consents`: what the customer has granted, by partner, with a revoke button
//! each (payment consents show their payee and amount or limits; only recurring ones can be
//! revoked, a single payment being used up by its payment). A revocation bites on the
//! partner's next call: the pipeline loads the consent on every call.

use std::collections::BTreeMap;

use axum::{
    Form,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use scenegate_adapter_contract::{
    ConsentId,
    canonical::{ConsentStatus, PaymentConsentType},
};

use super::{
    Fields, Locale, Page, current_session, error_page,
    flow::{login_page, payment_facts},
    pages, see_other, session_for_form, text, unavailable,
};
use crate::{app::AppState, consent::ConsentError};

fn href(locale: Locale) -> String {
    format!("/customer/consents?lang={}", locale.code())
}

pub async fn list(State(gw): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let fields = Fields(serde_urlencoded::from_str(raw.as_deref().unwrap_or_default()).unwrap_or_default());
    let locale = fields.locale();
    let session = match current_session(&gw, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return login_page(&gw, &headers, locale, &href(locale), &href(locale.other()), (StatusCode::OK, "", ""));
        }
        Err(e) => return unavailable(locale, "loading a session", &e),
    };
    let consents = match gw.consents.for_customer(&session.customer_id).await {
        Ok(c) => c,
        Err(e) => return unavailable(locale, "listing a customer's consents", &e),
    };
    let partners = gw.partners.load();
    let mut groups: BTreeMap<String, Vec<pages::ConsentRow>> = BTreeMap::new();
    for c in consents.iter().filter(|c| c.status != ConsentStatus::AwaitingAuthorisation) {
        let name = partners.get(&c.partner_id).map_or_else(|| c.partner_id.clone(), |p| p.display_name.clone());
        let since = c.history.iter().rev().find(|h| h.to == ConsentStatus::Authorised).map(|h| h.at);
        groups.entry(name).or_default().push(pages::ConsentRow {
            id: c.id.as_str().to_owned(),
            status: text::status(c.status, locale),
            status_code: c.status.code(),
            permissions: c.permissions.iter().map(|p| text::permission(*p, locale)).collect(),
            payment: c.payment.as_ref().map(|terms| payment_facts(terms, locale.text())).unwrap_or_default(),
            since: since.map(|s| text::beijing(s, true)).unwrap_or_else(|| "–".into()),
            until: text::beijing(c.expiration, false),
            // A single payment is used up by its one payment; recurring ones can be stopped.
            revocable: c.status == ConsentStatus::Authorised
                && c.payment.as_ref().is_none_or(|terms| terms.kind == PaymentConsentType::Recurring),
            purpose: c.purpose.clone(),
            accounts: c.accounts.iter().map(|a| crate::accounts::mask::account_number(a)).collect(),
        });
    }
    let page = pages::Dashboard {
        t: locale.text(),
        lang: locale.code(),
        csrf: &session.csrf,
        groups: groups.into_iter().map(|(partner, consents)| pages::PartnerGroup { partner, consents }).collect(),
    };
    Page::new(StatusCode::OK, pages::dashboard(locale, &href(locale.other()), &page)).into_response()
}

/// `POST /customer/logout`: ends the session (on every instance) and clears its cookie, then
/// back to the list, which asks for a login.
pub async fn logout(
    State(gw): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let fields = Fields(form);
    let locale = fields.locale();
    if let Err(page) = session_for_form(&gw, &headers, &fields, locale).await {
        return page;
    }
    if let Some(id) = super::read_cookie(&headers, super::SESSION_COOKIE)
        && let Err(e) = gw.grants.end_session(id).await
    {
        return unavailable(locale, "ending a session", &e);
    }
    tracing::info!("customer logged out");
    see_other(&href(locale), &[super::set_cookie(&gw, super::SESSION_COOKIE, "", 0)])
}

/// `POST /customer/consents/{id}/revoke`, then back to the list.
pub async fn revoke(
    State(gw): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let fields = Fields(form);
    let locale = fields.locale();
    let t = locale.text();
    let session = match session_for_form(&gw, &headers, &fields, locale).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let Ok(id) = id.parse::<ConsentId>() else {
        return error_page(StatusCode::NOT_FOUND, locale, t.not_found);
    };
    match gw.consents.revoke_by_customer(&session.customer_id, &id).await {
        // Already revoked or expired: the list shows it as it is.
        Ok(_) | Err(ConsentError::State(_)) => {
            tracing::info!(consent = %id, "customer revoked a consent");
            see_other(&href(locale), &[])
        }
        Err(ConsentError::NotFound) => error_page(StatusCode::NOT_FOUND, locale, t.not_found),
        Err(e) => unavailable(locale, "revoking a consent", &e),
    }
}
