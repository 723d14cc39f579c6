//! The customer-facing pages: bank login, the consent screen of the authorisation-code flow
//! (`/oauth2/authorize`) and the customer's consent dashboard (`/customer/consents`).
//!
//! Plain HTML forms, readable without JavaScript. Every page carries a strict CSP and
//! anti-framing headers, is never cached, and every form carries a CSRF token tied to the
//! customer's session (or, for the login form, to a short-lived pre-session cookie).
//! Errors on these paths are HTML pages, never problem+json and never a redirect.

mod dashboard;
mod flow;
pub mod pages;
mod problems;
pub mod text;

use axum::{
    Router,
    body::Body,
    extract::Request,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

pub use text::Locale;

use crate::{
    app::AppState,
    grants::{self, Session},
};

pub const SESSION_COOKIE: &str = "sg_session";
/// Holds `<issued-at>.<random>` until the customer logs in; the login form's CSRF token is
/// derived from it.
pub const PRE_SESSION_COOKIE: &str = "sg_login";
pub const PRE_SESSION_TTL_SECS: i64 = 15 * 60;

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The HTML routes; plain axum routes beside the partner API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth2/authorize", get(flow::authorize))
        .route("/oauth2/authorize/decision", post(flow::decide))
        .route("/oauth2/authorize/otp", get(flow::otp_form).post(flow::otp_submit))
        .route("/customer/login", post(flow::login))
        .route("/customer/consents", get(dashboard::list))
        .route("/customer/consents/{consent_id}/revoke", post(dashboard::revoke))
        .route("/customer/logout", post(dashboard::logout))
        .route("/static/scenegate.css", get(css))
        // The problem catalogue: where every problem `type` a partner receives is explained.
        .route("/problems", get(problems::index))
        .route("/problems/{slug}", get(problems::one))
}

/// Paths served as HTML pages: their errors are pages too.
pub fn is_page_path(path: &str) -> bool {
    path == "/oauth2/authorize"
        || path.starts_with("/oauth2/authorize/")
        || path.starts_with("/customer/")
        || path.starts_with("/static/")
}

/// Marks a response as a finished page, so [`page_errors`] leaves its body alone.
#[derive(Clone, Copy, Debug)]
struct IsPage;

/// Middleware for page paths (in place of problem rendering): an error from a layer or the
/// router (404, 405, 413, 415, timeout, panic) becomes an HTML page, and every response gets
/// the security headers.
pub async fn page_errors(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    res.extensions_mut().remove::<crate::problem::Problem>();
    let status = res.status();
    if res.extensions().get::<IsPage>().is_none() && (status.is_client_error() || status.is_server_error()) {
        let message = match status {
            StatusCode::NOT_FOUND => "页面不存在 / Page not found",
            s if s.is_client_error() => "请求无法处理 / The request could not be processed",
            _ => "服务暂时不可用 / The service is temporarily unavailable",
        };
        let (mut parts, _) = res.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        res = Response::from_parts(parts, Body::from(pages::error(Locale::Zh, message)));
    }
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

async fn css() -> Response {
    let mut res = (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        pages::CSS,
    )
        .into_response();
    res.extensions_mut().insert(IsPage);
    res
}

/// An HTML page with its status and cookies.
pub(crate) struct Page {
    status: StatusCode,
    html: String,
    cookies: Vec<String>,
}

impl Page {
    fn new(status: StatusCode, html: String) -> Self {
        Self { status, html, cookies: Vec::new() }
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut res = Response::new(Body::from(self.html));
        *res.status_mut() = self.status;
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        append_cookies(res.headers_mut(), &self.cookies);
        res.extensions_mut().insert(IsPage);
        res
    }
}

fn append_cookies(headers: &mut HeaderMap, cookies: &[String]) {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            headers.append(header::SET_COOKIE, v);
        }
    }
}

fn error_page(status: StatusCode, locale: Locale, message: &str) -> Response {
    Page::new(status, pages::error(locale, message)).into_response()
}

/// For failures of the gateway itself (store, core): logged, and a 503 page.
fn unavailable(locale: Locale, what: &str, e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "{what}");
    error_page(StatusCode::SERVICE_UNAVAILABLE, locale, locale.text().unavailable)
}

/// 303 See Other (FAPI 2.0: never 307, which would resend the form).
fn see_other(location: &str, cookies: &[String]) -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    append_cookies(res.headers_mut(), cookies);
    res.extensions_mut().insert(IsPage);
    res
}

fn set_cookie(gw: &AppState, name: &str, value: &str, max_age: i64) -> String {
    let secure = if gw.settings.public_url.starts_with("https://") { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// The logged-in customer's live session, if the browser brought one.
async fn current_session(gw: &AppState, headers: &HeaderMap) -> Result<Option<Session>, crate::error::ApiError> {
    match read_cookie(headers, SESSION_COOKIE) {
        Some(id) => gw.grants.session(id).await,
        None => Ok(None),
    }
}

/// A pre-session value is `<issued-at>.<43 random characters>`, valid for 15 minutes.
fn pre_session_valid(value: &str, now: i64) -> bool {
    let Some((iat, random)) = value.split_once('.') else { return false };
    let Ok(iat) = iat.parse::<i64>() else { return false };
    random.len() == 43 && iat <= now + 60 && now - iat < PRE_SESSION_TTL_SECS
}

fn login_csrf(pre_session: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(format!("scenegate login csrf\0{pre_session}").as_bytes()))
}

/// A form's CSRF token against the expected one, in constant time.
/// The customer's session for a form post, which must carry the session's CSRF token;
/// otherwise the page to answer with (nothing has changed).
async fn session_for_form(
    gw: &AppState,
    headers: &HeaderMap,
    fields: &Fields,
    locale: Locale,
) -> Result<Session, Response> {
    let forbidden = || error_page(StatusCode::FORBIDDEN, locale, locale.text().forbidden);
    let session = match current_session(gw, headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(forbidden()),
        Err(e) => return Err(unavailable(locale, "loading a session", &e)),
    };
    if !csrf_ok(&session.csrf, fields.get("csrf")) {
        return Err(forbidden());
    }
    Ok(session)
}

fn csrf_ok(expected: &str, presented: Option<&str>) -> bool {
    presented.is_some_and(|p| !p.is_empty() && grants::constant_time_eq(expected, p))
}

/// Form fields in order; repeated names (the account checkboxes) kept.
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn locale(&self) -> Locale {
        self.get("lang").and_then(Locale::from_tag).unwrap_or_default()
    }
}

/// Where the login form may send the browser back to: only these pages of ours.
fn safe_return_to(value: Option<&str>) -> String {
    match value {
        Some(v)
            if (v.starts_with("/oauth2/authorize?")
                || v == "/customer/consents"
                || v.starts_with("/customer/consents?"))
                && !v.contains(['\\', '\r', '\n']) =>
        {
            v.to_owned()
        }
        _ => "/customer/consents".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_pages_are_return_targets() {
        assert_eq!(safe_return_to(Some("/oauth2/authorize?client_id=a")), "/oauth2/authorize?client_id=a");
        for bad in ["https://evil.example/", "//evil.example/", "/customer/consentsX", "/oauth2/authorize?\r\nx"] {
            assert_eq!(safe_return_to(Some(bad)), "/customer/consents", "{bad}");
        }
    }

    #[test]
    fn pre_sessions_expire() {
        let v = format!("1000.{}", grants::random_secret());
        assert!(pre_session_valid(&v, 1000 + PRE_SESSION_TTL_SECS - 1));
        assert!(!pre_session_valid(&v, 1000 + PRE_SESSION_TTL_SECS));
        assert!(!pre_session_valid("1000.short", 1000));
        assert_ne!(login_csrf(&v), login_csrf("other"));
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("xsg_session=bad; sg_session=good"));
        assert_eq!(read_cookie(&h, SESSION_COOKIE), Some("good"));
    }
}
