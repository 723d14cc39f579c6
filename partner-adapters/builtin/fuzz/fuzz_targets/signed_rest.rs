//! Arbitrary bytes as a signed-rest request: the first line is the `Authorization` header,
//! the second the path below `/gw/{partner_id}`, the rest the body. Refused or decoded,
//! never a panic.
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
            settings.insert("mchid".into(), "1900009191".into());
            settings.insert("sign_type".into(), "RSA2".into());
            settings.insert("response_key_file".into(), "gateway-open-platform.rsa.private.pem".into());
            settings.insert("response_key_serial".into(), "BANK-1".into());
            settings.insert("api_key_file".into(), "ptn_tollway.apikey".into());
            let keys = [ProtocolKey {
                id: "S1".into(),
                suite: SignatureSuite::Rsa2,
                pem: std::fs::read_to_string(format!("{DEMO}ptn_tollway.rsa.public.pem")).unwrap(),
                field: "keys.protocol[0]".into(),
            }];
            let read_file = |name: &str| std::fs::read(format!("{DEMO}{name}")).map_err(|e| e.to_string());
            let ctx = BuildContext { partner_id: "ptn_fuzz", settings: &settings, keys: &keys, read_file: &read_file };
            scenegate_adapters::signed_rest::Kind.build(&ctx).unwrap()
        })
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let auth = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let rest = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default();
    for method in ["GET", "POST"] {
        let req = RawRequest {
            method: method.into(),
            path: format!("/gw/ptn_fuzz/{rest}"),
            path_params: vec![("partner_id".into(), "ptn_fuzz".into()), ("rest".into(), rest.clone())],
            headers: vec![("authorization".into(), auth.clone()), ("content-type".into(), "application/json".into())],
            body: bytes::Bytes::copy_from_slice(body),
            ..Default::default()
        };
        let _ = adapter().authenticate(&req, 1_796_349_600);
        for op in scenegate_adapters::signed_rest::Kind.capabilities().operations {
            let _ = adapter().decode(*op, &req);
        }
    }
});
