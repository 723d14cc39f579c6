//! Arbitrary bytes as a legacy-mac form: parsed and MAC-checked or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scenegate_adapter_contract::{AdapterKind, BuildContext, PartnerAdapter, RawRequest};
use std::sync::OnceLock;

fn adapter() -> &'static dyn PartnerAdapter {
    static ADAPTER: OnceLock<Box<dyn PartnerAdapter>> = OnceLock::new();
    ADAPTER
        .get_or_init(|| {
            let mut settings = toml::Table::new();
            settings.insert("mch_id".into(), "10000100".into());
            settings.insert("sign_type".into(), "HMAC-SM3".into());
            settings.insert("key_file".into(), "k".into());
            let read_file = |_: &str| Ok(b"0123456789abcdefghijABCDEFGHIJ0123456789".to_vec());
            let ctx = BuildContext { partner_id: "ptn_fuzz", settings: &settings, keys: &[], read_file: &read_file };
            scenegate_adapters::legacy_mac::Kind.build(&ctx).unwrap()
        })
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let req = RawRequest {
        method: "POST".into(),
        path: "/gw/ptn_fuzz".into(),
        headers: vec![("content-type".into(), "application/x-www-form-urlencoded".into())],
        body: bytes::Bytes::copy_from_slice(data),
        ..Default::default()
    };
    let _ = adapter().authenticate(&req, 1_796_349_600);
    for (_, op) in scenegate_adapters::legacy_mac::METHODS {
        let _ = adapter().decode(*op, &req);
    }
});
