//! Tests of the signature suites. Interop vectors were made once, offline, with OpenSSL 3.0
//! from the committed demo keys (commands beside each vector) and are checked here as bytes,
//! so the tests need no `openssl` at run time.

mod canonical;
mod demo_keys;
mod props;
mod rsa2;
mod sm2;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A committed demo key (config/demo-keys/), read at compile time.
macro_rules! demo_key {
    ($file:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/demo-keys/", $file))
    };
}
pub(super) use demo_key;

/// A test-only key (suites/testdata/), read at compile time.
macro_rules! test_key {
    ($file:literal) => {
        include_str!(concat!("../testdata/", $file))
    };
}
pub(super) use test_key;

/// The P1 example (partner-protocols.md): Alipay OpenAPI 2.0 `alipay.trade.create`, with the
/// string-to-sign the reference gives for it.
pub(super) const P1_BIZ_CONTENT: &str =
    r#"{"out_trade_no":"SG20240513000001","total_amount":"88.00","subject":"机场停车","buyer_id":"2088102175953034"}"#;
pub(super) const P1_STRING_TO_SIGN: &str = r#"app_id=2021000122671080&biz_content={"out_trade_no":"SG20240513000001","total_amount":"88.00","subject":"机场停车","buyer_id":"2088102175953034"}&charset=utf-8&method=alipay.trade.create&notify_url=https://gw.example.com/notify/alipay&sign_type=RSA2&timestamp=2024-05-13 17:49:20&version=1.0"#;

pub(super) fn b64(text: &str) -> Vec<u8> {
    STANDARD.decode(text).expect("test vector is base64")
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `bytes` with one bit flipped at `index`.
pub(super) fn flipped(bytes: &[u8], index: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[index] ^= 0x01;
    out
}

/// Adapters are shared across request tasks, and so are the keys inside them.
#[test]
fn keys_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<crate::suites::VerifyKey>();
    shareable::<crate::suites::SigningKey>();
    shareable::<crate::suites::SuiteError>();
}
