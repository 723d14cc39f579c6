//! RSA2: round trips, tampering, refusals, and a signature made by OpenSSL.

use scenegate_adapter_contract::SignatureSuite::{self, Es256, Ps256, Rsa2};

use super::{P1_STRING_TO_SIGN, b64, demo_key, flipped, test_key};
use crate::suites::{SigningKey, SuiteError, VerifyKey};

/// Made once with OpenSSL 3.0.19:
/// `printf '%s' "$P1_STRING_TO_SIGN" | openssl dgst -sha256 -sign config/demo-keys/ptn_metrogo.rsa.private.pem | base64 -w0`
/// (and checked with `openssl dgst -sha256 -verify ptn_metrogo.rsa.public.pem`: Verified OK).
const OPENSSL_P1_SIGNATURE: &str = "IaKOT8WVip1MXA8w62OAe/zWYf5D7fL47XUDYM5Epc1JDIQwIwd09U0PiGirhFZ9P73pyuiOREADLrzcEQtXevKAaVPyEIF6EqHdFc0qrlGWGDyeHJxr2VFDzJIZ69iZWtMca4ZMnYCC6ZF98z5Pkm0XBG6M0fvZjdicDT1y8m14mRCSTs4yHlqpjRSYyHmxWTtJIjw97l9AImd0JafYgdevOZmFS9TwpC//9UKMaq09VIqdn84zMyFa37qvP0Mt6HG4OPIR6+HK2aqwIg5J3GSFyY89DP+qiWztqtA3GEQSPjE9qnaSHRjnXjP0mUsCozORv1HlfgHzHFqP4KNI4g==";

fn partner() -> (SigningKey, VerifyKey) {
    let signing = SigningKey::from_pem(Rsa2, demo_key!("ptn_metrogo.rsa.private.pem")).unwrap();
    let verify = VerifyKey::from_pem(Rsa2, demo_key!("ptn_metrogo.rsa.public.pem")).unwrap();
    (signing, verify)
}

#[test]
fn a_signature_made_by_openssl_verifies() {
    let (_, key) = partner();
    let signature = b64(OPENSSL_P1_SIGNATURE);
    assert!(key.verify(P1_STRING_TO_SIGN.as_bytes(), &signature));
    assert!(!key.verify(b"another message", &signature));
}

#[test]
fn our_signature_equals_openssls_byte_for_byte() {
    // PKCS#1 v1.5 is deterministic, so the same key and message give the same bytes.
    let (signing, _) = partner();
    assert_eq!(signing.sign(P1_STRING_TO_SIGN.as_bytes()).unwrap(), b64(OPENSSL_P1_SIGNATURE));
}

#[test]
fn sign_then_verify_round_trips() {
    let (signing, verify) = partner();
    let message = b"alipay_trade_create_response={\"code\":\"10000\"}";
    let signature = signing.sign(message).unwrap();
    assert_eq!(signature.len(), 256);
    assert!(verify.verify(message, &signature));
    assert!(signing.verify_key().verify(message, &signature));
}

#[test]
fn tampering_with_message_or_signature_fails() {
    let (signing, verify) = partner();
    let message = P1_STRING_TO_SIGN.as_bytes();
    let signature = signing.sign(message).unwrap();
    for i in [0, message.len() / 2, message.len() - 1] {
        assert!(!verify.verify(&flipped(message, i), &signature), "message byte {i}");
    }
    for i in [0, 128, 255] {
        assert!(!verify.verify(message, &flipped(&signature, i)), "signature byte {i}");
    }
    assert!(!verify.verify(message, &signature[..255]), "truncated");
    assert!(!verify.verify(message, &[]), "empty");
}

#[test]
fn another_keys_signature_fails() {
    let (_, partner_key) = partner();
    let gateway = SigningKey::from_pem(Rsa2, demo_key!("gateway-open-platform.rsa.private.pem")).unwrap();
    let signature = gateway.sign(P1_STRING_TO_SIGN.as_bytes()).unwrap();
    assert!(!partner_key.verify(P1_STRING_TO_SIGN.as_bytes(), &signature));
}

#[test]
fn a_1024_bit_key_is_refused_when_loaded() {
    let public = VerifyKey::from_pem(Rsa2, test_key!("rsa1024.public.pem")).unwrap_err();
    assert_eq!(public, SuiteError::KeyTooSmall { bits: 1024 });
    assert_eq!(public.to_string(), "RSA key of 1024 bits is too small: RSA2 needs at least 2048 bits");
    let private = SigningKey::from_pem(Rsa2, test_key!("rsa1024.private.pem")).unwrap_err();
    assert_eq!(private, SuiteError::KeyTooSmall { bits: 1024 });
}

#[test]
fn a_pkcs1_rsa_public_key_is_refused_with_a_conversion_hint() {
    let err = VerifyKey::from_pem(Rsa2, test_key!("rsa2048.pkcs1.public.pem")).unwrap_err();
    assert!(
        matches!(&err, SuiteError::WrongPemLabel { found, expected: "PUBLIC KEY", .. } if found == "RSA PUBLIC KEY")
    );
    assert_eq!(
        err.to_string(),
        "PEM block is `RSA PUBLIC KEY`, expected `PUBLIC KEY` (PKCS#1; convert with `openssl rsa -RSAPublicKey_in -in key.pem -pubout`)"
    );
    let err = SigningKey::from_pem(Rsa2, test_key!("rsa1024.pkcs1.private.pem")).unwrap_err();
    assert!(
        err.to_string().starts_with("PEM block is `RSA PRIVATE KEY`, expected `PRIVATE KEY` (a traditional key file"),
        "{err}"
    );
}

#[test]
fn an_ec_key_is_refused_naming_its_curve() {
    let err = VerifyKey::from_pem(Rsa2, test_key!("p256.public.pem")).unwrap_err();
    assert_eq!(err, SuiteError::WrongKeyType(Rsa2, "an EC P-256 key".into()));
    assert_eq!(err.to_string(), "RSA2 needs an RSA key, found an EC P-256 key");
    let err = SigningKey::from_pem(Rsa2, test_key!("p256.private.pem")).unwrap_err();
    assert_eq!(err, SuiteError::WrongKeyType(Rsa2, "an EC P-256 key".into()));
    let err = VerifyKey::from_pem(Rsa2, demo_key!("ptn_metrogo.sm2.public.pem")).unwrap_err();
    assert_eq!(err.to_string(), "RSA2 needs an RSA key, found an SM2 key");
}

#[test]
fn garbage_is_refused_clearly() {
    for text in ["", "not a key", "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n"] {
        assert_eq!(VerifyKey::from_pem(Rsa2, text).unwrap_err(), SuiteError::NotPem, "{text:?}");
    }
    let not_der = "-----BEGIN PUBLIC KEY-----\naGVsbG8gd29ybGQ=\n-----END PUBLIC KEY-----\n";
    let err = VerifyKey::from_pem(Rsa2, not_der).unwrap_err();
    assert_eq!(err, SuiteError::Malformed { what: "SubjectPublicKeyInfo" });
    assert_eq!(err.to_string(), "malformed SubjectPublicKeyInfo");
}

#[test]
fn a_private_key_where_the_public_key_belongs_is_refused() {
    let err = VerifyKey::from_pem(Rsa2, demo_key!("ptn_metrogo.rsa.private.pem")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "PEM block is `PRIVATE KEY`, expected `PUBLIC KEY` (a private key where the public key belongs)"
    );
    // …and no key material in the error or in Debug output of a loaded key.
    assert!(!format!("{err:?}").contains("MII"));
    let (signing, verify) = partner();
    assert_eq!(format!("{signing:?}"), r#"SigningKey { suite: "RSA2", .. }"#);
    assert_eq!(format!("{verify:?}"), r#"VerifyKey { suite: "RSA2", bits: 2048, .. }"#);
}

#[test]
fn two_pem_blocks_are_refused() {
    let two = [demo_key!("ptn_metrogo.rsa.public.pem"), demo_key!("gateway-open-platform.rsa.public.pem")].concat();
    assert_eq!(VerifyKey::from_pem(Rsa2, &two).unwrap_err(), SuiteError::PemBlocks { found: 2 });
}

#[test]
fn jws_suites_are_unsupported_here() {
    let pem = demo_key!("ptn_metrogo.rsa.public.pem");
    assert_eq!(VerifyKey::from_pem(Ps256, pem).unwrap_err(), SuiteError::Unsupported(Ps256));
    let err = SigningKey::from_pem(Es256, test_key!("p256.private.pem")).unwrap_err();
    assert_eq!(err, SuiteError::Unsupported(Es256));
    assert_eq!(
        err.to_string(),
        "ES256 has no key pair here: JWS suites are verified by the native API, MACs by `suites::mac`"
    );
    let mac = VerifyKey::from_pem(SignatureSuite::HmacSm3, pem).unwrap_err();
    assert_eq!(mac, SuiteError::Unsupported(SignatureSuite::HmacSm3), "a MAC suite has no public key");
}
