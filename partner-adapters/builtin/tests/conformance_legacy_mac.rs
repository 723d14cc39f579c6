//! The conformance kit over the `legacy-mac` adapter, in each of its MAC suites.

use scenegate_adapter_contract::{
    AdapterKind, BuildContext, CanonicalRequest, Operation, RawRequest, SignatureSuite,
    canonical::{ProductQuery, ProductType},
    conformance::{Case, check},
};
use scenegate_adapters::{
    legacy_mac,
    suites::{mac, sorted_params},
};

const KEY: &str = "0123456789abcdefghijABCDEFGHIJ0123456789";
const NOW: i64 = 1_796_349_600;

fn signed(suite: SignatureSuite, params: &[(&str, &str)]) -> RawRequest {
    let mut all: Vec<(&str, &str)> =
        vec![("mch_id", "10000100"), ("timestamp", "1796349600"), ("sign_type", suite.name())];
    all.extend_from_slice(params);
    let sign = mac::mac_hex(suite, KEY.as_bytes(), &sorted_params(all.iter().copied(), &["sign"], true)).unwrap();
    all.push(("sign", &sign));
    RawRequest {
        method: "POST".into(),
        path: "/gw/ptn_x".into(),
        headers: vec![("content-type".into(), "application/x-www-form-urlencoded".into())],
        body: serde_urlencoded::to_string(&all).unwrap().into_bytes().into(),
        ..Default::default()
    }
}

#[test]
fn the_legacy_mac_adapter_passes_the_conformance_kit_in_each_suite() {
    for suite in [SignatureSuite::Md5, SignatureSuite::HmacSha256, SignatureSuite::HmacSm3] {
        let mut settings = toml::Table::new();
        settings.insert("mch_id".into(), "10000100".into());
        settings.insert("sign_type".into(), suite.name().into());
        settings.insert("key_file".into(), "k".into());
        let read_file = |_: &str| Ok(KEY.as_bytes().to_vec());
        let ctx = BuildContext { partner_id: "ptn_x", settings: &settings, keys: &[], read_file: &read_file };
        let adapter = legacy_mac::Kind.build(&ctx).unwrap();
        let cases = [
            Case {
                name: "list",
                operation: Operation::ListProducts,
                request: signed(
                    suite,
                    &[("method", "products.list"), ("nonce_str", "n1"), ("product_type", "deposit"), ("limit", "3")],
                ),
                now: NOW,
                expect: CanonicalRequest::ListProducts(ProductQuery {
                    product_type: Some(ProductType::Deposit),
                    limit: 3,
                    cursor: None,
                }),
            },
            Case {
                name: "query",
                operation: Operation::GetProduct,
                request: signed(suite, &[("method", "product.query"), ("nonce_str", "n2"), ("product_id", "prd_A")]),
                now: NOW,
                expect: CanonicalRequest::GetProduct("prd_A".parse().unwrap()),
            },
        ];
        let failures = check(&legacy_mac::Kind, adapter.as_ref(), &cases);
        assert!(failures.is_empty(), "{suite:?}:\n{}", failures.join("\n"));
    }
}
