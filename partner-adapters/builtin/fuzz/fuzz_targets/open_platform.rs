//! Arbitrary bytes as an open-platform request body (form or not) and query: the parser and
//! the signature check answer or refuse, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scenegate_adapter_contract::{AdapterKind, BuildContext, PartnerAdapter, ProtocolKey, RawRequest, SignatureSuite};
use std::sync::OnceLock;

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../config/demo-keys/");

fn adapter() -> &'static dyn PartnerAdapter {
    static ADAPTER: OnceLock<Box<dyn PartnerAdapter>> = OnceLock::new();
    ADAPTER
        .get_or_init(|| {
            let mut settings = toml::Table::new();
            settings.insert("app_id".into(), "2026000000000001".into());
            settings.insert("sign_type".into(), "RSA2".into());
            settings.insert("response_key_file".into(), "gateway-open-platform.rsa.private.pem".into());
            let keys = [ProtocolKey {
                id: "k1".into(),
                suite: SignatureSuite::Rsa2,
                pem: std::fs::read_to_string(format!("{DEMO}ptn_metrogo.rsa.public.pem")).unwrap(),
                field: "keys.protocol[0]".into(),
            }];
            let read_file = |name: &str| std::fs::read(format!("{DEMO}{name}")).map_err(|e| e.to_string());
            let ctx = BuildContext { partner_id: "ptn_fuzz", settings: &settings, keys: &keys, read_file: &read_file };
            scenegate_adapters::open_platform::Kind.build(&ctx).unwrap()
        })
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let (query, body) = data.split_at(data.iter().position(|b| *b == b'\n').unwrap_or(0));
    let req = RawRequest {
        method: "POST".into(),
        path: "/gw/ptn_fuzz".into(),
        query: Some(String::from_utf8_lossy(query).into_owned()),
        headers: vec![("content-type".into(), "application/x-www-form-urlencoded".into())],
        body: bytes::Bytes::copy_from_slice(body),
        ..Default::default()
    };
    let _ = adapter().authenticate(&req, 1_796_349_600);
    for (_, op) in scenegate_adapters::open_platform::METHODS {
        let _ = adapter().decode(*op, &req);
    }
});
