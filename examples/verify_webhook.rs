//! A partner's check of one Scenegate webhook, written the way a partner's receiver would do
//! it (no Scenegate code): Standard Webhooks signatures, <https://www.standardwebhooks.com/>.
//!
//! ```sh
//! # Save a delivery as it arrives (request line, headers, blank line, body), e.g.
//! nc -l 9000 > delivery.http            # then point a sandbox partner's webhook URL at it
//!
//! SCENEGATE_WEBHOOK_KEY=whsec_… cargo run --example verify_webhook -- delivery.http
//! cargo run --example verify_webhook -- --key whpk_… delivery.http         # Ed25519 partners
//! cargo run --example verify_webhook -- --now 1800000000 delivery.http     # an old capture
//! ```
//! Prints `verified` and exits 0, or says why not and exits 1. Prefer the environment
//! variable to `--key`: arguments are visible to other users in `ps`.
//!
//! What a receiver must do: take the raw body bytes (before any JSON parsing), sign
//! `{webhook-id}.{webhook-timestamp}.{body}`, accept if any `v1,` entry of
//! `webhook-signature` matches (compared in constant time), refuse a `webhook-timestamp` more
//! than 300 s from its clock, and deduplicate on `webhook-id`, since a delivery may repeat.
//!
//! The same HMAC check with the shell. The key is the base64-decoded part after `whsec_`
//! (raw bytes, hence `hexkey`, not the `whsec_…` text as a passphrase):
//!
//! ```sh
//! SECRET=whsec_…                                  # from the bank
//! id=evt_…; ts=…; sig='v1,… v1,…'                # the three webhook-* headers
//! key_hex=$(printf %s "${SECRET#whsec_}" | base64 -d | xxd -p -c 256)
//! { printf '%s.%s.' "$id" "$ts"; cat body.json; } \
//!   | openssl dgst -sha256 -mac HMAC -macopt hexkey:"$key_hex" -binary | base64
//! # matches if "v1,<that output>" is one of the space-separated entries of $sig
//! ```
//! `body.json` must hold the body bytes exactly (no added newline). For Ed25519 (`v1a,`)
//! with a `whpk_` key, wrap the raw key in its DER header and let openssl verify:
//!
//! ```sh
//! { printf '302a300506032b6570032100' | xxd -r -p; printf %s "${PUBLIC#whpk_}" | base64 -d; } > pub.der
//! { printf '%s.%s.' "$id" "$ts"; cat body.json; } > signed.bin
//! printf %s "${sig#v1a,}" | base64 -d > sig.bin
//! openssl pkeyutl -verify -pubin -keyform DER -inkey pub.der -rawin -in signed.bin -sigfile sig.bin
//! ```

use aws_lc_rs::{hmac, signature};
use base64::{Engine, engine::general_purpose::STANDARD as B64};

const TOLERANCE_SECS: i64 = 300;

enum Key {
    Hmac(Vec<u8>),
    Ed25519(Vec<u8>),
}

fn parse_key(text: &str) -> Result<Key, String> {
    if let Some(b64) = text.strip_prefix("whsec_") {
        Ok(Key::Hmac(B64.decode(b64).map_err(|_| "the part after whsec_ is not base64")?))
    } else if let Some(b64) = text.strip_prefix("whpk_") {
        Ok(Key::Ed25519(B64.decode(b64).map_err(|_| "the part after whpk_ is not base64")?))
    } else {
        Err("the key must start with whsec_ (shared secret) or whpk_ (Ed25519 public key)".into())
    }
}

/// Header names (lowercased) and values.
type Headers = Vec<(String, String)>;

/// The saved request: header lines up to the first blank line, then the body bytes as-is.
fn split_delivery(raw: &[u8]) -> Result<(Headers, &[u8]), String> {
    let (head_len, sep_len) = find(raw, b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| find(raw, b"\n\n").map(|i| (i, 2)))
        .ok_or("no blank line between headers and body")?;
    let head = std::str::from_utf8(&raw[..head_len]).map_err(|_| "headers are not UTF-8")?;
    let headers = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok((headers, &raw[head_len + sep_len..]))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn verify(key: &Key, headers: &Headers, body: &[u8], now: i64) -> Result<String, String> {
    let header = |name: &str| {
        headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).ok_or(format!("no {name} header"))
    };
    let (id, ts_text, signatures) = (header("webhook-id")?, header("webhook-timestamp")?, header("webhook-signature")?);
    let ts: i64 = ts_text.parse().map_err(|_| "webhook-timestamp is not unix seconds")?;
    if (now - ts).abs() > TOLERANCE_SECS {
        let (gap, side) = if ts < now { (now - ts, "old") } else { (ts - now, "ahead of this clock") };
        return Err(format!(
            "webhook-timestamp {ts} is {gap} s {side} (limit {TOLERANCE_SECS} s): replayed, or clocks differ"
        ));
    }
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(body);
    let version = match key {
        Key::Hmac(_) => "v1",
        Key::Ed25519(_) => "v1a",
    };
    for entry in signatures.split(' ') {
        let Some((v, b64)) = entry.split_once(',') else { continue };
        let Ok(sig) = B64.decode(b64) else { continue };
        let ok = v == version
            && match key {
                // hmac::verify compares in constant time: never compare signatures with ==.
                Key::Hmac(secret) => hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, secret), &signed, &sig).is_ok(),
                Key::Ed25519(pk) => {
                    signature::UnparsedPublicKey::new(&signature::ED25519, pk).verify(&signed, &sig).is_ok()
                }
            };
        if ok {
            return Ok(id.to_owned());
        }
    }
    Err(format!("no {version} signature in webhook-signature matches this key and body"))
}

fn run() -> Result<String, String> {
    let mut key = std::env::var("SCENEGATE_WEBHOOK_KEY").ok();
    let mut now = None;
    let mut file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--key" => key = args.next(),
            "--now" => now = Some(args.next().and_then(|n| n.parse::<i64>().ok()).ok_or("--now takes unix seconds")?),
            _ if file.is_none() => file = Some(arg),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    let usage =
        "usage: verify_webhook [--key whsec_…|whpk_…] [--now UNIX_SECONDS] DELIVERY_FILE (or SCENEGATE_WEBHOOK_KEY)";
    let key = parse_key(&key.ok_or(usage)?)?;
    let file = file.ok_or(usage)?;
    let raw = std::fs::read(&file).map_err(|e| format!("{file}: {e}"))?;
    let (headers, body) = split_delivery(&raw)?;
    let now = now.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
    });
    let id = verify(&key, &headers, body, now)?;
    let kind = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    Ok(format!("verified: {id} ({kind})"))
}

fn main() {
    match run() {
        Ok(message) => println!("{message}"),
        Err(reason) => {
            eprintln!("NOT verified: {reason}");
            std::process::exit(1);
        }
    }
}
