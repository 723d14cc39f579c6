//! The signing string, SM3 and constant-time comparison.

use super::{P1_BIZ_CONTENT, P1_STRING_TO_SIGN, hex};
use crate::suites::{ct_eq, sm3, sorted_params};

#[test]
fn sm3_matches_the_gb_t_32905_vectors() {
    // GB/T 32905-2016, appendix A (examples 1 and 2).
    assert_eq!(hex(&sm3(b"abc")), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
    assert_eq!(
        hex(&sm3("abcd".repeat(16).as_bytes())),
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    );
    // `openssl dgst -sm3` of the empty input.
    assert_eq!(hex(&sm3(b"")), "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b");
}

#[test]
fn ct_eq_compares_whole_strings() {
    assert!(ct_eq(b"9A0A8659F005D6984697E2CA0A9CF3B7", b"9A0A8659F005D6984697E2CA0A9CF3B7"));
    assert!(!ct_eq(b"9A0A8659F005D6984697E2CA0A9CF3B7", b"9A0A8659F005D6984697E2CA0A9CF3B8"));
    assert!(!ct_eq(b"9A0A", b"9A0A8659"), "a prefix is not equal");
    assert!(!ct_eq(b"", b"x"));
    assert!(ct_eq(b"", b""));
}

/// The P1 request's parameters in the order they arrive (query first, then the form body),
/// `sign` included, since the caller hands over everything it decoded.
fn p1_params() -> Vec<(&'static str, &'static str)> {
    vec![
        ("app_id", "2021000122671080"),
        ("charset", "utf-8"),
        ("method", "alipay.trade.create"),
        ("sign_type", "RSA2"),
        ("timestamp", "2024-05-13 17:49:20"),
        ("version", "1.0"),
        ("notify_url", "https://gw.example.com/notify/alipay"),
        ("sign", "c2lnbmF0dXJl"),
        ("biz_content", P1_BIZ_CONTENT),
    ]
}

#[test]
fn p1_example_string_to_sign_is_reproduced_byte_for_byte() {
    assert_eq!(sorted_params(p1_params(), &["sign"], false), P1_STRING_TO_SIGN);
    assert_eq!(sorted_params(p1_params(), &["sign"], true), P1_STRING_TO_SIGN);
}

#[test]
fn skip_names_every_excluded_key() {
    // Alipay's V1 notify check leaves out `sign_type` as well.
    let s = sorted_params(p1_params(), &["sign", "sign_type"], false);
    assert!(!s.contains("sign_type=") && !s.contains("sign="), "{s}");
    assert!(s.starts_with("app_id=2021000122671080&biz_content="), "{s}");
}

#[test]
fn empty_values_are_skipped_only_when_asked() {
    let params = [("b", ""), ("a", "1"), ("c", "3")];
    assert_eq!(sorted_params(params, &[], true), "a=1&c=3");
    assert_eq!(sorted_params(params, &[], false), "a=1&b=&c=3");
}

#[test]
fn p6_legacy_canonical_string_before_the_key() {
    // The WeChat Pay v2 wire fields of P6, in wire order; the reference's stringSignTemp is
    // this string followed by `&key=<API key>`.
    let wire = [
        ("appid", "wxd930ea5d5a258f4f"),
        ("mch_id", "10000100"),
        ("device_info", "1000"),
        ("body", "test"),
        ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ("sign", "9A0A8659F005D6984697E2CA0A9CF3B7"),
        ("attach", ""),
    ];
    assert_eq!(
        sorted_params(wire, &["sign"], true),
        "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA"
    );
}

#[test]
fn values_are_kept_raw_and_keys_sorted_by_bytes() {
    let params = [("subject", "机场停车 & more=%20"), ("Z", "upper"), ("a", "lower"), ("_", "underscore")];
    // Byte order: 'Z' (0x5A) < '_' (0x5F) < 'a' (0x61) < 's'; nothing is URL-encoded.
    assert_eq!(sorted_params(params, &[], false), "Z=upper&_=underscore&a=lower&subject=机场停车 & more=%20");
}

#[test]
fn repeated_keys_keep_their_order() {
    let params = [("k", "2"), ("a", "x"), ("k", "1")];
    assert_eq!(sorted_params(params, &[], false), "a=x&k=2&k=1");
}

#[test]
fn no_params_give_an_empty_string() {
    assert_eq!(sorted_params([], &[], true), "");
    assert_eq!(sorted_params([("sign", "x")], &["sign"], true), "");
}
