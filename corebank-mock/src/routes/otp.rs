//! `/core/otp`: SMS one-time codes for strong customer authentication, and
//! `/core/sms-outbox`: the messages the mock "sent", as the demo's visible phone.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Html;
use axum::routing::{get, post};
use scenegate_sqlite_batch::InlineReads;

use crate::otp::{self, mask_mobile};
use crate::wire::{Body, Items, OtpSent, OtpVerified, Reply, SmsItem, ok};
use crate::{CoreBank, clock};

/// Messages shown by the outbox, newest first.
const OUTBOX_LIMIT: i64 = 50;

pub(crate) fn router() -> Router<CoreBank> {
    Router::new()
        .route("/core/otp/send", post(send))
        .route("/core/otp/verify", post(verify))
        .route("/core/sms-outbox", get(outbox_page))
        .route("/core/sms-outbox.json", get(outbox_json))
}

/// Sends a fresh six-digit code to the customer's registered mobile. Body: `cust_no`,
/// `purpose` (1–140 characters, quoted in the SMS, e.g. "Pay CNY 12.50 to SkyTrip"), `ref`
/// (1–64, the caller's reference, answered back by verify). Answers `{otp_id, expires_at
/// (Beijing time, 300 s ahead), masked_mobile}`; unknown customer E404.
async fn send(State(core): State<CoreBank>, body: Bytes) -> Reply<OtpSent> {
    let body = Body::parse(&body)?;
    let cust_no = body.nonempty("cust_no", 32)?;
    let purpose = body.nonempty("purpose", 140)?;
    let reference = body.nonempty("ref", 64)?;
    let sent = otp::send(&core.writer, &cust_no, &purpose, &reference, core.clock.now_unix()).await?;
    ok(OtpSent { otp_id: sent.otp_id, expires_at: clock::fmt_time(sent.expires_at), masked_mobile: sent.masked_mobile })
}

/// Checks a code. Body: `otp_id`, `code`. Answers `{otp_id, verified: true, cust_no, ref}`
/// once; then E464 (used). Wrong code E461 (attempts left in `ret_msg`), the fifth wrong
/// code and every try after it E462 (locked, even with the right code), past `expires_at`
/// E463, unknown `otp_id` E404.
async fn verify(State(core): State<CoreBank>, body: Bytes) -> Reply<OtpVerified> {
    let body = Body::parse(&body)?;
    let otp_id = body.nonempty("otp_id", 64)?;
    let code = body.text("code", 16)?;
    let v = otp::verify(&core.writer, &otp_id, &code, core.clock.now_unix()).await?;
    ok(OtpVerified { otp_id, verified: true, cust_no: v.cust_no, reference: v.reference })
}

/// The last 50 messages as JSON `{items: [{mobile, text, sent_at, otp_id}]}`, newest first,
/// for tests (the text holds the code).
async fn outbox_json(State(core): State<CoreBank>) -> Reply<Items<SmsItem>> {
    ok(Items { items: outbox(&core.reads)? })
}

/// The demo's "phone": an HTML page of the last 50 messages, newest first, each with the
/// masked number, the text and the time. Refreshes itself every 3 s.
async fn outbox_page(State(core): State<CoreBank>) -> Result<Html<String>, crate::error::CoreError> {
    let items = outbox(&core.reads)?;
    let mut page = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"3\"><title>Core-bank mock: SMS outbox</title>\
         <style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:1rem auto;background:#f3f4f6}\
         .sms{background:#fff;border-radius:.8rem;padding:.6rem .9rem;margin:.6rem 0;box-shadow:0 1px 2px #0002}\
         .meta{color:#6b7280;font-size:.8rem}</style></head><body>\
         <h1>SMS outbox</h1><p class=\"meta\">Mock only: what the bank's SMS gateway would have sent.</p>",
    );
    if items.is_empty() {
        page.push_str("<p>No messages yet.</p>");
    }
    for m in &items {
        page.push_str(&format!(
            "<div class=\"sms\"><div class=\"meta\">{} · {}</div><div>{}</div></div>",
            escape(&mask_mobile(&m.mobile)),
            escape(&m.sent_at),
            escape(&m.text)
        ));
    }
    page.push_str("</body></html>");
    Ok(Html(page))
}

fn outbox(reads: &InlineReads) -> rusqlite::Result<Vec<SmsItem>> {
    // `+ 0` keeps the statement's plan when the limit is bound again (see `page_sql` in
    // `accounts.rs`).
    reads.with(|c| {
        c.prepare_cached("SELECT mobile, text, sent_at, otp_id FROM sms_outbox ORDER BY msg_id DESC LIMIT ?1 + 0")?
            .query_map([OUTBOX_LIMIT], |r| {
                Ok(SmsItem {
                    mobile: r.get(0)?,
                    text: r.get(1)?,
                    sent_at: clock::fmt_time(r.get(2)?),
                    otp_id: r.get(3)?,
                })
            })?
            .collect()
    })
}

/// The purpose in a message is the caller's text: escaped, so it cannot inject markup.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(super::escape("<b onclick='x'>&\"</b>"), "&lt;b onclick=&#39;x&#39;&gt;&amp;&quot;&lt;/b&gt;");
    }
}
