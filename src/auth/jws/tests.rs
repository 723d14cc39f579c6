use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::Algorithm::{ES256, HS256, PS256, RS256};
use jsonwebtoken::EncodingKey;
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::config::PartnerKey;

const NOW: i64 = 1_800_000_000;
const BODY: &[u8] = br#"{"amount":{"amount":"12.30","currency":"CNY"},"creditor":"acc_1"}"#;

struct TestKey {
    kid: &'static str,
    alg: Algorithm,
    /// PKCS#8 DER, for the EC keys; empty for RSA.
    pkcs8: Vec<u8>,
    sign: EncodingKey,
    verify: DecodingKey,
}

struct Keys {
    /// Registered as `ec-1`.
    ec: TestKey,
    /// Registered as `rsa-1`.
    rsa: TestKey,
    /// Not registered; claims the kid `ec-1`.
    impostor: TestKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys { ec: ec_key("ec-1"), rsa: rsa_key("rsa-1"), impostor: ec_key("ec-1") })
}

fn ec_key(kid: &'static str) -> TestKey {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    TestKey {
        kid,
        alg: ES256,
        pkcs8: pkcs8.as_ref().to_vec(),
        sign: EncodingKey::from_ec_der(pkcs8.as_ref()),
        verify: DecodingKey::from_ec_der(pair.public_key().as_ref()),
    }
}

fn rsa_key(kid: &'static str) -> TestKey {
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    // jsonwebtoken's RSA DER constructor wants PKCS#1; its PEM reader unwraps PKCS#8.
    let base64 = STANDARD.encode(pair.as_der().unwrap().as_ref());
    let lines: Vec<&str> = base64.as_bytes().chunks(64).map(|line| std::str::from_utf8(line).unwrap()).collect();
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"));
    let public = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    TestKey {
        kid,
        alg: PS256,
        pkcs8: Vec::new(),
        sign: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        verify: DecodingKey::from_rsa_raw_components(&public.n, &public.e),
    }
}

/// `ec-1` as the gateway holds its own key.
fn gateway_key() -> Es256Key {
    Es256Key::from_pkcs8_der(&keys().ec.pkcs8).unwrap()
}

/// A partner's detached JWS made with `jsonwebtoken` (ES256 or PS256), under the header the
/// gateway emits.
fn sign_as(body: &[u8], kid: &str, key: &EncodingKey, alg: Algorithm, now: i64) -> Result<String, JwsError> {
    let name = match alg {
        ES256 => "ES256",
        PS256 => "PS256",
        _ => return Err(JwsError::UnsupportedAlgorithm),
    };
    detached(body, kid, name, now, |input| jsonwebtoken::crypto::sign(input, key, alg).map_err(|e| e.to_string()))
}

fn registered(kid: &str) -> Option<(Algorithm, &'static DecodingKey)> {
    [&keys().ec, &keys().rsa].into_iter().find(|k| k.kid == kid).map(|k| (k.alg, &k.verify))
}

fn verify(value: &str, body: &[u8], now: i64) -> Result<VerifiedSignature, JwsError> {
    verify_detached(value, body, registered, now)
}

/// A well-formed ES256 header for `ec-1`, with `patch` merged in (a `null` member removes one).
fn header(patch: Value) -> Value {
    let mut header = json!({ "alg": "ES256", "kid": "ec-1", "typ": "JOSE", "iat": NOW });
    for (name, value) in patch.as_object().unwrap() {
        match value {
            Value::Null => header.as_object_mut().unwrap().remove(name),
            other => header.as_object_mut().unwrap().insert(name.clone(), other.clone()),
        };
    }
    header
}

/// Signs `body` under any header, as a partner (or an attacker) could.
fn forge_raw(header_json: &str, body: &[u8], b64: bool, key: &EncodingKey, alg: Algorithm) -> String {
    let header_b64 = B64.encode(header_json);
    let signature = jsonwebtoken::crypto::sign(&signing_input(&header_b64, body, b64), key, alg).unwrap();
    format!("{header_b64}..{signature}")
}

fn forge(header: &Value, body: &[u8], b64: bool, key: &EncodingKey, alg: Algorithm) -> String {
    forge_raw(&header.to_string(), body, b64, key, alg)
}

fn forge_ec(header: &Value, body: &[u8]) -> String {
    let b64 = header.get("b64") != Some(&Value::Bool(false));
    forge(header, body, b64, &keys().ec.sign, ES256)
}

fn malformed(result: Result<VerifiedSignature, JwsError>) -> String {
    match result {
        Err(JwsError::Malformed(reason)) => reason,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

fn decode_signature(value: &str) -> Vec<u8> {
    B64.decode(value.rsplit('.').next().unwrap()).unwrap()
}

fn with_signature(value: &str, signature: &[u8]) -> String {
    let header = value.split('.').next().unwrap();
    format!("{header}..{}", B64.encode(signature))
}

// === round trips ===

#[test]
fn es256_round_trip() {
    let value = sign_detached(BODY, "ec-1", &gateway_key(), NOW).unwrap();
    let verified = verify(&value, BODY, NOW).unwrap();
    assert_eq!((verified.kid.as_str(), verified.iat), ("ec-1", NOW));
    assert_eq!(verified.replay_until(), NOW + MAX_AGE_SECS);
}

#[test]
fn ps256_round_trip() {
    let value = sign_as(BODY, "rsa-1", &keys().rsa.sign, PS256, NOW).unwrap();
    let verified = verify(&value, BODY, NOW + 10).unwrap();
    assert_eq!((verified.kid.as_str(), verified.iat), ("rsa-1", NOW));
    let digest: [u8; 32] = Sha256::digest(decode_signature(&value)).into();
    assert_eq!(verified.digest, digest, "PS256: SHA-256 of the signature bytes as sent");
}

#[test]
fn partner_keys_from_config_plug_in_as_the_lookup() {
    let partner_keys = [PartnerKey { kid: "ec-1".into(), algorithm: ES256, key: keys().ec.verify.clone() }];
    let value = sign_as(BODY, "ec-1", &keys().ec.sign, ES256, NOW).unwrap();
    let lookup = |kid: &str| partner_keys.iter().find(|k| k.kid == kid).map(|k| (k.algorithm, &k.key));
    assert_eq!(verify_detached(&value, BODY, lookup, NOW).unwrap().kid, "ec-1");
}

#[test]
fn the_gateway_emits_this_exact_header() {
    let value = sign_detached(BODY, "gw-2026", &gateway_key(), NOW).unwrap();
    let parts: Vec<&str> = value.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[1], "", "detached: the payload part is empty");
    assert_eq!(
        String::from_utf8(B64.decode(parts[0]).unwrap()).unwrap(),
        r#"{"alg":"ES256","kid":"gw-2026","typ":"JOSE","iat":1800000000,"crit":["iat"]}"#
    );
    assert_eq!(B64.decode(parts[2]).unwrap().len(), 64, "ES256 as raw r || s");
}

#[test]
fn signing_refuses_an_empty_kid() {
    assert!(matches!(sign_detached(BODY, "", &gateway_key(), NOW), Err(JwsError::Signing(_))));
}

#[test]
fn two_signatures_of_one_body_have_distinct_digests() {
    let a = sign_as(BODY, "ec-1", &keys().ec.sign, ES256, NOW).unwrap();
    let b = sign_as(BODY, "ec-1", &keys().ec.sign, ES256, NOW).unwrap();
    assert_ne!(verify(&a, BODY, NOW).unwrap().digest, verify(&b, BODY, NOW).unwrap().digest);
}

#[test]
fn an_es256_signature_with_s_negated_verifies_but_keeps_its_digest() {
    let value = sign_as(BODY, "ec-1", &keys().ec.sign, ES256, NOW).unwrap();
    let mut signature = decode_signature(&value);
    let negated = sub_be(&P256_ORDER, &signature[32..]);
    signature[32..].copy_from_slice(&negated);
    let malleated = with_signature(&value, &signature);
    assert_ne!(malleated, value);
    let original = verify(&value, BODY, NOW).unwrap();
    let twin = verify(&malleated, BODY, NOW).unwrap();
    assert_eq!(twin.digest, original.digest, "(r, n - s) must not slip past a replay store");
}

// === published vectors ===

/// RFC 7515 appendix A payload (shared by A.1 to A.3), base64url.
const RFC7515_PAYLOAD: &str =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
/// RFC 7515 appendix A.1 HMAC key, also used by the RFC 7797 section 4 examples.
const RFC_HMAC_KEY: &str = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";

fn hmac_sha256(input: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &B64.decode(RFC_HMAC_KEY).unwrap());
    B64.encode(aws_lc_rs::hmac::sign(&key, input).as_ref())
}

#[test]
fn rfc7515_a3_es256_detached_verifies_with_the_published_key() {
    const HEADER: &str = "eyJhbGciOiJFUzI1NiJ9";
    const SIGNATURE: &str = "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    let key = DecodingKey::from_ec_components(
        "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    )
    .unwrap();
    // Appendix F: detach the payload; the verifier re-encodes the body it is given.
    let body = B64.decode(RFC7515_PAYLOAD).unwrap();
    let input = signing_input(HEADER, &body, true);
    assert_eq!(input, format!("{HEADER}.{RFC7515_PAYLOAD}").into_bytes());
    assert!(jsonwebtoken::crypto::verify(SIGNATURE, &input, &key, ES256).unwrap());
    let mut altered = body.clone();
    altered[0] ^= 1;
    assert!(!jsonwebtoken::crypto::verify(SIGNATURE, &signing_input(HEADER, &altered, true), &key, ES256).unwrap());
    // Through the front door it is refused only for what the 2015 header lacks.
    let detached = format!("{HEADER}..{SIGNATURE}");
    assert_eq!(
        malformed(verify_detached(&detached, &body, |_| Some((ES256, &key)), NOW)),
        "the protected header has no `kid`"
    );
}

#[test]
fn rfc7515_a1_hs256_detached_signing_input_matches() {
    const HEADER: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9";
    const SIGNATURE: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let body = B64.decode(RFC7515_PAYLOAD).unwrap();
    assert_eq!(hmac_sha256(&signing_input(HEADER, &body, true)), SIGNATURE);
    let hmac = DecodingKey::from_secret(&B64.decode(RFC_HMAC_KEY).unwrap());
    let detached = format!("{HEADER}..{SIGNATURE}");
    assert_eq!(verify_detached(&detached, &body, |_| Some((HS256, &hmac)), NOW), Err(JwsError::UnsupportedAlgorithm));
}

#[test]
fn rfc7797_section_4_1_encoded_payload() {
    const HEADER: &str = "eyJhbGciOiJIUzI1NiJ9";
    let input = signing_input(HEADER, b"$.02", true);
    assert_eq!(input, b"eyJhbGciOiJIUzI1NiJ9.JC4wMg");
    assert_eq!(hmac_sha256(&input), "5mvfOroL-g7HyqJoozehmsaqmvTYGEq5jTI1gVvoEoQ");
}

#[test]
fn rfc7797_section_4_2_unencoded_payload() {
    const HEADER: &str = "eyJhbGciOiJIUzI1NiIsImI2NCI6ZmFsc2UsImNyaXQiOlsiYjY0Il19";
    assert_eq!(B64.decode(HEADER).unwrap(), br#"{"alg":"HS256","b64":false,"crit":["b64"]}"#);
    let input = signing_input(HEADER, b"$.02", false);
    assert_eq!(input, b"eyJhbGciOiJIUzI1NiIsImI2NCI6ZmFsc2UsImNyaXQiOlsiYjY0Il19.$.02");
    assert_eq!(hmac_sha256(&input), "A5dxf2s96_n5FLueVuW1Z_vh161FwXZC4YLPff6dmDY");
    // The RFC's own compact form is refused for its algorithm, not for its b64 use.
    let hmac = DecodingKey::from_secret(&B64.decode(RFC_HMAC_KEY).unwrap());
    let detached = format!("{HEADER}..A5dxf2s96_n5FLueVuW1Z_vh161FwXZC4YLPff6dmDY");
    assert_eq!(verify_detached(&detached, b"$.02", |_| Some((HS256, &hmac)), NOW), Err(JwsError::UnsupportedAlgorithm));
}

// === algorithms and keys ===

#[test]
fn alg_none_is_refused() {
    let unsigned = format!("{}..", B64.encode(header(json!({ "alg": "none" })).to_string()));
    assert_eq!(verify(&unsigned, BODY, NOW), Err(JwsError::UnsupportedAlgorithm));
}

#[test]
fn hs256_keyed_with_the_public_key_is_refused() {
    // The classic confusion: an HMAC whose secret is the verifier's public key.
    let secret = EncodingKey::from_secret(keys().ec.verify.try_get_as_bytes().unwrap());
    let value = forge(&header(json!({ "alg": "HS256" })), BODY, true, &secret, HS256);
    assert_eq!(verify(&value, BODY, NOW), Err(JwsError::UnsupportedAlgorithm));
}

#[test]
fn rs256_is_refused_even_with_the_registered_rsa_key() {
    let value = forge(&header(json!({ "alg": "RS256", "kid": "rsa-1" })), BODY, true, &keys().rsa.sign, RS256);
    assert_eq!(verify(&value, BODY, NOW), Err(JwsError::UnsupportedAlgorithm));
}

#[test]
fn an_alg_other_than_the_registered_keys_is_refused() {
    let value = forge(&header(json!({ "alg": "PS256" })), BODY, true, &keys().rsa.sign, PS256);
    assert_eq!(verify(&value, BODY, NOW), Err(JwsError::UnsupportedAlgorithm), "kid ec-1 is an ES256 key");
}

#[test]
fn an_unknown_kid_is_refused() {
    let value = sign_as(BODY, "ec-9", &keys().ec.sign, ES256, NOW).unwrap();
    assert_eq!(verify(&value, BODY, NOW), Err(JwsError::UnknownKey));
}

#[test]
fn a_missing_or_empty_kid_is_malformed() {
    assert!(malformed(verify(&forge_ec(&header(json!({ "kid": null })), BODY), BODY, NOW)).contains("kid"));
    assert!(malformed(verify(&forge_ec(&header(json!({ "kid": "" })), BODY), BODY, NOW)).contains("kid"));
}

#[test]
fn a_signature_by_another_key_under_a_registered_kid_is_refused() {
    let value = sign_as(BODY, "ec-1", &keys().impostor.sign, ES256, NOW).unwrap();
    assert_eq!(verify(&value, BODY, NOW), Err(JwsError::BadSignature));
}

// === body and signature integrity ===

#[test]
fn a_tampered_body_is_refused() {
    let value = sign_as(BODY, "ec-1", &keys().ec.sign, ES256, NOW).unwrap();
    let tampered = String::from_utf8(BODY.to_vec()).unwrap().replace("12.30", "92.30");
    assert_eq!(verify(&value, tampered.as_bytes(), NOW), Err(JwsError::BadSignature));
}

#[test]
fn a_signature_with_one_byte_changed_is_refused() {
    for (kid, key, alg) in [("ec-1", &keys().ec.sign, ES256), ("rsa-1", &keys().rsa.sign, PS256)] {
        let value = sign_as(BODY, kid, key, alg, NOW).unwrap();
        let mut signature = decode_signature(&value);
        signature[10] ^= 0x01;
        assert_eq!(verify(&with_signature(&value, &signature), BODY, NOW), Err(JwsError::BadSignature), "{alg:?}");
    }
}

#[test]
fn a_der_es256_signature_is_malformed_with_a_hint() {
    let value = sign_as(BODY, "ec-1", &keys().ec.sign, ES256, NOW).unwrap();
    let reason = malformed(verify(&with_signature(&value, &[0x30; 71]), BODY, NOW));
    assert!(reason.contains("64 bytes") && reason.contains("DER"), "{reason}");
}

#[test]
fn an_empty_body_is_signed_and_checked_like_any_other() {
    let empty = sign_as(b"", "ec-1", &keys().ec.sign, ES256, NOW).unwrap();
    assert!(verify(&empty, b"", NOW).is_ok());
    assert_eq!(verify(&empty, b"{}", NOW), Err(JwsError::BadSignature));
    let of_braces = sign_as(b"{}", "ec-1", &keys().ec.sign, ES256, NOW).unwrap();
    assert_eq!(verify(&of_braces, b"", NOW), Err(JwsError::BadSignature));
}

// === shape of the value ===

#[test]
fn an_attached_payload_is_refused() {
    let value = sign_as(BODY, "ec-1", &keys().ec.sign, ES256, NOW).unwrap();
    let (header_b64, signature) = value.split_once("..").unwrap();
    let attached = format!("{header_b64}.{}.{signature}", B64.encode(BODY));
    assert!(malformed(verify(&attached, BODY, NOW)).contains("payload part must be empty"));
    // Even when the attached payload is other bytes than the body: never verify those instead.
    let other = format!("{header_b64}.{}.{signature}", B64.encode(b"{}"));
    assert!(matches!(verify(&other, b"{}", NOW), Err(JwsError::Malformed(_))));
}

#[test]
fn anything_but_three_parts_is_malformed() {
    let value = sign_as(BODY, "ec-1", &keys().ec.sign, ES256, NOW).unwrap();
    let (header_b64, signature) = value.split_once("..").unwrap();
    for broken in [format!("{header_b64}.{signature}"), format!("{value}."), String::new(), "..".repeat(2)] {
        assert!(matches!(verify(&broken, BODY, NOW), Err(JwsError::Malformed(_))), "{broken:?}");
    }
}

#[test]
fn bad_base64_or_json_is_malformed() {
    let value = sign_as(BODY, "ec-1", &keys().ec.sign, ES256, NOW).unwrap();
    let (header_b64, signature) = value.split_once("..").unwrap();
    let not_json = B64.encode("{\"alg\":");
    let an_array = B64.encode(r#"["ES256"]"#);
    for broken in [
        format!("{header_b64}=..{signature}"),
        format!("{}..{signature}", header_b64.replace('e', "+")),
        format!("{header_b64}..{signature}="),
        format!("{not_json}..{signature}"),
        format!("{an_array}..{signature}"),
    ] {
        assert!(matches!(verify(&broken, BODY, NOW), Err(JwsError::Malformed(_))), "{broken:?}");
    }
}

#[test]
fn a_header_naming_a_member_twice_is_malformed() {
    let twice = format!(r#"{{"alg":"ES256","kid":"ec-1","iat":{NOW},"kid":"rsa-1"}}"#);
    let value = forge_raw(&twice, BODY, true, &keys().ec.sign, ES256);
    assert!(malformed(verify(&value, BODY, NOW)).contains("twice"));
}

#[test]
fn an_oversize_value_is_refused_before_decoding() {
    let padded = header(json!({ "x-pad": "a".repeat(MAX_VALUE_BYTES) }));
    let value = forge_ec(&padded, BODY);
    assert_eq!(malformed(verify(&value, BODY, NOW)), format!("longer than {MAX_VALUE_BYTES} bytes"));
    let junk = "A".repeat(MAX_VALUE_BYTES + 1);
    assert!(malformed(verify(&junk, BODY, NOW)).starts_with("longer than"));
}

#[test]
fn typ_other_than_jose_is_malformed() {
    assert!(verify(&forge_ec(&header(json!({ "typ": "jose" })), BODY), BODY, NOW).is_ok(), "case-insensitive");
    assert!(verify(&forge_ec(&header(json!({ "typ": null })), BODY), BODY, NOW).is_ok(), "optional");
    assert!(malformed(verify(&forge_ec(&header(json!({ "typ": "JWT" })), BODY), BODY, NOW)).contains("typ"));
}

// === iat ===

#[test]
fn iat_may_be_300_s_old_but_not_301() {
    let at = |iat: i64| verify(&forge_ec(&header(json!({ "iat": iat })), BODY), BODY, NOW);
    assert!(at(NOW - MAX_AGE_SECS).is_ok());
    assert_eq!(at(NOW - MAX_AGE_SECS - 1), Err(JwsError::Stale));
}

#[test]
fn iat_may_be_60_s_ahead_but_not_120() {
    let at = |iat: i64| verify(&forge_ec(&header(json!({ "iat": iat })), BODY), BODY, NOW);
    assert!(at(NOW + MAX_AHEAD_SECS).is_ok());
    assert_eq!(at(NOW + MAX_AHEAD_SECS + 1), Err(JwsError::Stale));
    assert_eq!(at(NOW + 120), Err(JwsError::Stale));
}

#[test]
fn extreme_iat_values_are_stale_not_a_panic() {
    for iat in [i64::MIN, i64::MAX, 0] {
        assert_eq!(verify(&forge_ec(&header(json!({ "iat": iat })), BODY), BODY, NOW), Err(JwsError::Stale));
    }
}

#[test]
fn a_missing_iat_is_refused() {
    assert_eq!(verify(&forge_ec(&header(json!({ "iat": null })), BODY), BODY, NOW), Err(JwsError::MissingIat));
}

#[test]
fn the_uk_open_banking_iat_is_accepted_in_place_of_iat() {
    let uk = header(
        json!({ "iat": null, "http://openbanking.org.uk/iat": NOW - 5, "crit": ["http://openbanking.org.uk/iat"] }),
    );
    assert_eq!(verify(&forge_ec(&uk, BODY), BODY, NOW).unwrap().iat, NOW - 5);
    let both_disagree = header(json!({ "http://openbanking.org.uk/iat": NOW - 5 }));
    assert!(malformed(verify(&forge_ec(&both_disagree, BODY), BODY, NOW)).contains("disagree"));
}

#[test]
fn an_iat_that_is_not_an_integer_is_malformed() {
    for iat in [json!("1800000000"), json!(1_800_000_000.5), json!(u64::MAX)] {
        let value = forge_ec(&header(json!({ "iat": iat })), BODY);
        assert!(malformed(verify(&value, BODY, NOW)).contains("integer"), "{iat}");
    }
}

// === crit and b64 ===

#[test]
fn crit_with_an_unknown_name_is_refused() {
    let value = forge_ec(&header(json!({ "crit": ["x-trace"], "x-trace": "1" })), BODY);
    assert_eq!(verify(&value, BODY, NOW), Err(JwsError::UnsupportedCritical("x-trace".into())));
}

#[test]
fn crit_naming_an_absent_header_is_refused() {
    let value = forge_ec(&header(json!({ "crit": ["b64"] })), BODY);
    assert!(malformed(verify(&value, BODY, NOW)).contains("does not carry"));
}

#[test]
fn crit_must_be_a_non_empty_list_of_distinct_non_jws_names() {
    for crit in [json!([]), json!("iat"), json!([1]), json!(["iat", "iat"]), json!(["alg"])] {
        let value = forge_ec(&header(json!({ "crit": crit })), BODY);
        assert!(matches!(verify(&value, BODY, NOW), Err(JwsError::Malformed(_))), "{crit}");
    }
    assert!(verify(&forge_ec(&header(json!({ "crit": ["iat"] })), BODY), BODY, NOW).is_ok());
}

#[test]
fn b64_false_without_crit_is_refused() {
    let value = forge_ec(&header(json!({ "b64": false })), BODY);
    assert!(malformed(verify(&value, BODY, NOW)).contains("crit"));
}

#[test]
fn b64_false_listed_in_crit_is_accepted_and_signs_the_raw_body() {
    let unencoded = header(json!({ "b64": false, "crit": ["b64", "iat"] }));
    assert!(verify(&forge_ec(&unencoded, BODY), BODY, NOW).is_ok());
    // The b64 mix-up: a signature over the encoded body must not pass under b64: false, nor the reverse.
    let encoded_input = forge(&unencoded, BODY, true, &keys().ec.sign, ES256);
    assert_eq!(verify(&encoded_input, BODY, NOW), Err(JwsError::BadSignature));
    let raw_input = forge(&header(json!({ "b64": true, "crit": ["b64"] })), BODY, false, &keys().ec.sign, ES256);
    assert_eq!(verify(&raw_input, BODY, NOW), Err(JwsError::BadSignature));
}

#[test]
fn b64_true_needs_no_crit_and_b64_must_be_a_boolean() {
    assert!(verify(&forge_ec(&header(json!({ "b64": true })), BODY), BODY, NOW).is_ok());
    let value = forge_ec(&header(json!({ "b64": "false", "crit": ["b64"] })), BODY);
    assert!(malformed(verify(&value, BODY, NOW)).contains("boolean"));
}

// === properties ===

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Append(Vec<u8>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(at, mask)| Edit::Flip(at, mask)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::Insert(at, byte)),
        any::<usize>().prop_map(Edit::Remove),
        vec(any::<u8>(), 1..8).prop_map(Edit::Append),
    ]
}

/// Every edit changes the body: on an empty body a flip or removal becomes an append.
fn apply(edit: &Edit, body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    match *edit {
        Edit::Flip(at, mask) => match out.len() {
            0 => out.push(mask),
            len => out[at % len] ^= mask,
        },
        Edit::Insert(at, byte) => out.insert(at % (out.len() + 1), byte),
        Edit::Remove(at) => match out.len() {
            0 => out.push(0),
            len => {
                out.remove(at % len);
            }
        },
        Edit::Append(ref tail) => out.extend_from_slice(tail),
    }
    out
}

proptest! {
    #[test]
    fn any_change_to_the_body_fails_verification(body in vec(any::<u8>(), 0..300), edit in edit(), raw in any::<bool>()) {
        let value = if raw {
            forge_ec(&header(json!({ "b64": false, "crit": ["b64"] })), &body)
        } else {
            sign_as(&body, "ec-1", &keys().ec.sign, ES256, NOW).unwrap()
        };
        prop_assert!(verify(&value, &body, NOW).is_ok());
        let changed = apply(&edit, &body);
        prop_assert_ne!(&changed, &body);
        prop_assert_eq!(verify(&value, &changed, NOW), Err(JwsError::BadSignature));
    }

    #[test]
    fn arbitrary_values_are_refused_without_panicking(value in "[A-Za-z0-9_.=-]{0,200}", body in vec(any::<u8>(), 0..16)) {
        prop_assert!(verify(&value, &body, NOW).is_err());
    }
}
