//! The customer's pages. Askama escapes every value for HTML; nothing is marked safe but
//! the frame's already-rendered body.

use askama::Template;

use super::text::{Locale, Text};

#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<!doctype html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · {{ t.bank }}</title>
<link rel="stylesheet" href="/static/scenegate.css">
</head>
<body>
<header class="bar"><span class="brand">{{ t.bank }}</span>{% if !switch_href.is_empty() %}<a class="lang" href="{{ switch_href }}">{{ t.switch_to }}</a>{% endif %}</header>
<main>
{{ body|safe }}
</main>
</body>
</html>
"#
)]
struct Frame<'a> {
    lang: &'static str,
    title: &'a str,
    t: &'static Text,
    switch_href: &'a str,
    body: &'a str,
}

fn frame(locale: Locale, title: &str, switch_href: &str, body: Result<String, askama::Error>) -> String {
    let body = body.unwrap_or_else(|e| {
        tracing::error!(error = %e, "page failed to render");
        String::new()
    });
    let page = Frame { lang: locale.code(), title, t: locale.text(), switch_href, body: &body };
    page.render().unwrap_or_default()
}

#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<h1>{{ t.login_title }}</h1>
<p class="lead">{{ t.login_lead }}</p>
{% if !message.is_empty() %}<p class="alert" role="alert">{{ message }}</p>{% endif %}
<form method="post" action="/customer/login" class="card">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="return_to" value="{{ return_to }}">
<input type="hidden" name="lang" value="{{ lang }}">
<label for="login_id">{{ t.login_id }}</label>
<input id="login_id" name="login_id" autocomplete="username" maxlength="64" required value="{{ login_id }}">
<label for="password">{{ t.password }}</label>
<input id="password" name="password" type="password" autocomplete="current-password" maxlength="128" required>
<button type="submit" id="login">{{ t.login_button }}</button>
</form>
"#
)]
pub struct Login<'a> {
    pub t: &'static Text,
    pub lang: &'static str,
    pub message: &'a str,
    pub csrf: &'a str,
    pub return_to: &'a str,
    pub login_id: &'a str,
}

pub fn login(locale: Locale, switch_href: &str, page: &Login<'_>) -> String {
    frame(locale, locale.text().login_title, switch_href, page.render())
}

pub struct AccountRow {
    pub value: String,
    pub masked: String,
    pub kind: &'static str,
    pub currency: String,
    pub selectable: bool,
    pub note: &'static str,
}

#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<h1>{{ t.consent_title }}</h1>
<p class="lead"><strong>{{ partner }}</strong> {{ t.requests_access }}</p>
<dl class="facts">
<dt>{{ t.purpose }}</dt><dd>{{ purpose }}</dd>
<dt>{{ t.valid_until }}</dt><dd>{{ until }}</dd>
{% if !window.is_empty() %}<dt>{{ t.txn_window }}</dt><dd>{{ window }}</dd>{% endif %}
</dl>
<h2>{{ t.grant_these }}</h2>
<ul class="perms">{% for p in permissions %}<li>{{ p }}</li>{% endfor %}</ul>
{% if !message.is_empty() %}<p class="alert" role="alert">{{ message }}</p>{% endif %}
<form method="post" action="/oauth2/authorize/decision" class="card">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="client_id" value="{{ client_id }}">
<input type="hidden" name="request_uri" value="{{ request_uri }}">
<input type="hidden" name="lang" value="{{ lang }}">
<fieldset><legend>{{ t.choose_accounts }}</legend>
{% for a in accounts %}<label class="account{% if !a.selectable %} disabled{% endif %}"><input type="checkbox" name="account" value="{{ a.value }}"{% if !a.selectable %} disabled{% endif %}> <span class="num">{{ a.masked }}</span> <span>{{ a.kind }}</span> <span>{{ a.currency }}</span>{% if !a.note.is_empty() %} <em>{{ a.note }}</em>{% endif %}</label>
{% endfor %}</fieldset>
<div class="actions">
<button type="submit" name="decision" value="approve" id="approve">{{ t.approve }}</button>
<button type="submit" name="decision" value="deny" id="deny" class="secondary">{{ t.deny }}</button>
</div>
</form>
"#
)]
pub struct ConsentPage<'a> {
    pub t: &'static Text,
    pub lang: &'static str,
    pub partner: &'a str,
    pub purpose: &'a str,
    pub until: String,
    pub window: String,
    pub permissions: Vec<&'static str>,
    pub message: &'a str,
    pub csrf: &'a str,
    pub client_id: &'a str,
    pub request_uri: &'a str,
    pub accounts: Vec<AccountRow>,
}

pub fn consent(locale: Locale, switch_href: &str, page: &ConsentPage<'_>) -> String {
    frame(locale, locale.text().consent_title, switch_href, page.render())
}

/// A customer account offered as the debtor of a payment consent.
pub struct DebtorRow {
    pub value: String,
    pub masked: String,
    pub kind: &'static str,
    pub currency: String,
    pub checked: bool,
}

/// One payment of a bulk as the customer is shown it.
pub struct TransferRow {
    pub payee: String,
    /// Masked.
    pub account: String,
    pub amount: String,
    pub reference: String,
}

/// A label and its value, e.g. a limit.
pub struct Fact {
    pub label: &'static str,
    pub value: String,
}

#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<h1>{{ t.pay_title }}</h1>
<p class="lead"><strong>{{ partner }}</strong> {{ t.pay_requests }}</p>
<dl class="facts payment">
<dt>{{ t.payee }}</dt><dd id="payee">{{ payee }}{% if !payee_account.is_empty() %} <span class="num">{{ payee_account }}</span>{% endif %}</dd>
{% if single %}<dt>{{ amount_label }}</dt><dd id="amount" class="amount">{{ amount }}</dd>
{% if !transfers.is_empty() %}<dt>{{ t.payment_count }}</dt><dd id="count">{{ transfers.len() }}</dd>
<dt>{{ t.bulk_payments }}</dt><dd><ol id="transfers" class="perms">{% for r in transfers %}<li><span class="payee">{{ r.payee }}</span> <span class="num">{{ r.account }}</span> <span class="amount">{{ r.amount }}</span> <span class="ref">{{ r.reference }}</span></li>{% endfor %}</ol></dd>
{% endif %}{% else %}<dt>{{ t.recurring_payments }}</dt><dd id="limits"><ul class="perms">{% for f in limits %}<li>{{ f.label }}: {{ f.value }}</li>{% endfor %}</ul></dd>
{% endif %}<dt>{{ t.reference }}</dt><dd>{{ reference }}</dd>
<dt>{{ t.scenario }}</dt><dd>{{ scenario }}</dd>
<dt>{{ t.valid_until }}</dt><dd>{{ until }}</dd>
</dl>
{% if !message.is_empty() %}<p class="alert" role="alert">{{ message }}</p>{% endif %}
<form method="post" action="/oauth2/authorize/decision" class="card">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="client_id" value="{{ client_id }}">
<input type="hidden" name="request_uri" value="{{ request_uri }}">
<input type="hidden" name="lang" value="{{ lang }}">
<fieldset><legend>{{ t.choose_debtor }}</legend>
{% if accounts.is_empty() %}<p class="alert">{{ t.no_debtor }}</p>{% endif %}
{% for a in accounts %}<label class="account"><input type="radio" name="account" value="{{ a.value }}"{% if a.checked %} checked{% endif %}> <span class="num">{{ a.masked }}</span> <span>{{ a.kind }}</span> <span>{{ a.currency }}</span></label>
{% endfor %}</fieldset>
<div class="actions">
<button type="submit" name="decision" value="approve" id="approve">{{ t.approve }}</button>
<button type="submit" name="decision" value="deny" id="deny" class="secondary">{{ t.deny }}</button>
</div>
</form>
"#
)]
pub struct PaymentConsentPage<'a> {
    pub t: &'static Text,
    pub lang: &'static str,
    pub partner: &'a str,
    pub payee: &'a str,
    /// Masked; empty for a merchant.
    pub payee_account: String,
    /// One fixed amount (a single payment, or a bulk's total), else limits.
    pub single: bool,
    pub amount_label: &'static str,
    pub amount: String,
    pub limits: Vec<Fact>,
    /// A bulk's payments, each shown (at most 100).
    pub transfers: Vec<TransferRow>,
    pub reference: &'a str,
    pub scenario: &'static str,
    pub until: String,
    pub message: &'a str,
    pub csrf: &'a str,
    pub client_id: &'a str,
    pub request_uri: &'a str,
    pub accounts: Vec<DebtorRow>,
}

pub fn payment_consent(locale: Locale, switch_href: &str, page: &PaymentConsentPage<'_>) -> String {
    frame(locale, locale.text().pay_title, switch_href, page.render())
}

#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<h1>{{ t.otp_title }}</h1>
<p class="lead">{{ t.otp_sent_to }} <strong id="mobile">{{ masked_mobile }}</strong>. {{ t.otp_lead }}</p>
<dl class="facts"><dt>{{ t.payee }}</dt><dd>{{ payee }}</dd><dt>{{ summary_label }}</dt><dd>{{ summary }}</dd></dl>
{% if !message.is_empty() %}<p class="alert" role="alert">{{ message }}</p>{% endif %}
<form method="post" action="/oauth2/authorize/otp" class="card">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="lang" value="{{ lang }}">
<label for="otp">{{ t.otp_label }}</label>
<input id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" minlength="6" maxlength="6" required>
<button type="submit" id="confirm">{{ t.otp_button }}</button>
</form>
"#
)]
pub struct OtpPage<'a> {
    pub t: &'static Text,
    pub lang: &'static str,
    pub masked_mobile: &'a str,
    pub payee: &'a str,
    pub summary_label: &'static str,
    pub summary: String,
    pub message: &'a str,
    pub csrf: &'a str,
}

pub fn otp(locale: Locale, switch_href: &str, page: &OtpPage<'_>) -> String {
    frame(locale, locale.text().otp_title, switch_href, page.render())
}

pub struct ConsentRow {
    pub id: String,
    pub status: &'static str,
    pub status_code: &'static str,
    pub permissions: Vec<&'static str>,
    /// Payment consents: payee, amount or limits.
    pub payment: Vec<Fact>,
    pub since: String,
    pub until: String,
    pub revocable: bool,
    /// What the partner said it needs the data for: two consents to one partner differ here.
    pub purpose: String,
    /// The consented accounts, masked.
    pub accounts: Vec<String>,
}

pub struct PartnerGroup {
    pub partner: String,
    pub consents: Vec<ConsentRow>,
}

#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<h1>{{ t.dashboard_title }}</h1>
{% if groups.is_empty() %}<p class="lead">{{ t.no_consents }}</p>{% endif %}
{% for g in groups %}<section class="partner">
<h2>{{ g.partner }}</h2>
{% for c in g.consents %}<article class="card consent" id="{{ c.id }}">
<p class="status status-{{ c.status_code }}">{{ c.status }}</p>
{% if !c.purpose.is_empty() %}<p class="purpose">{{ t.purpose }}: {{ c.purpose }}</p>{% endif %}
{% if !c.permissions.is_empty() %}<ul class="perms">{% for p in c.permissions %}<li>{{ p }}</li>{% endfor %}</ul>{% endif %}
<dl class="facts">{% for f in c.payment %}<dt>{{ f.label }}</dt><dd>{{ f.value }}</dd>{% endfor %}{% if !c.accounts.is_empty() %}<dt>{{ t.accounts }}</dt><dd>{{ c.accounts.join(", ") }}</dd>{% endif %}<dt>{{ t.since }}</dt><dd>{{ c.since }}</dd><dt>{{ t.until }}</dt><dd>{{ c.until }}</dd></dl>
{% if c.revocable %}<form method="post" action="/customer/consents/{{ c.id }}/revoke">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="lang" value="{{ lang }}">
<button type="submit" class="danger">{{ t.revoke }}</button>
</form>{% endif %}
</article>
{% endfor %}</section>
{% endfor %}
<form method="post" action="/customer/logout" class="logout">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="lang" value="{{ lang }}">
<button type="submit" id="logout">{{ t.logout }}</button>
</form>
"#
)]
pub struct Dashboard<'a> {
    pub t: &'static Text,
    pub lang: &'static str,
    pub csrf: &'a str,
    pub groups: Vec<PartnerGroup>,
}

pub fn dashboard(locale: Locale, switch_href: &str, page: &Dashboard<'_>) -> String {
    frame(locale, locale.text().dashboard_title, switch_href, page.render())
}

#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<h1>{{ title }}</h1>
<p class="alert" role="alert">{{ message }}</p>
"#
)]
struct ErrorBody<'a> {
    title: &'a str,
    message: &'a str,
}

pub fn error(locale: Locale, message: &str) -> String {
    let title = locale.text().error_title;
    frame(locale, title, "", ErrorBody { title, message }.render())
}

pub const CSS: &str = r#"*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;background:#f4f6f8;color:#1d2630;line-height:1.5}
.bar{display:flex;justify-content:space-between;align-items:center;padding:.75rem 1.25rem;background:#9b1c1c;color:#fff}
.bar .brand{font-weight:600}
.bar .lang{color:#fff}
main{max-width:36rem;margin:1.5rem auto;padding:0 1rem}
h1{font-size:1.5rem;margin:.5rem 0}
h2{font-size:1.1rem;margin:1.25rem 0 .5rem}
.lead{color:#3b4754}
.card{background:#fff;border-radius:.5rem;padding:1rem 1.25rem;margin:1rem 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}
label{display:block;margin:.75rem 0 .25rem}
input[type=text],input:not([type]),input[type=password]{width:100%;padding:.6rem;border:1px solid #b8c2cc;border-radius:.35rem;font-size:1rem}
button{padding:.6rem 1.4rem;border:0;border-radius:.35rem;background:#9b1c1c;color:#fff;font-size:1rem;cursor:pointer;margin-top:1rem}
button.secondary{background:#e3e7eb;color:#1d2630}
button.danger{background:#fff;color:#9b1c1c;border:1px solid #9b1c1c}
.actions{display:flex;gap:1rem}
.alert{background:#fdecea;color:#7a1a12;padding:.6rem .9rem;border-radius:.35rem}
fieldset{border:0;padding:0;margin:0}
legend{font-weight:600}
.account{display:flex;gap:.6rem;align-items:center;padding:.4rem 0;border-bottom:1px solid #eef1f4}
.account.disabled{color:#8a949e}
.num{font-family:ui-monospace,monospace}
.amount{font-size:1.4rem;font-weight:600}
#otp{letter-spacing:.4em;font-size:1.4rem;width:10rem}
.facts dt{font-weight:600;margin-top:.4rem}
.facts dd{margin:0}
.perms{padding-left:1.2rem}
.status{font-weight:600;margin:0}
.status-authorised{color:#1b6e3a}
"#;
