//! SM2: round trips, distinguishing ids, tampering, refusals, and signatures made by OpenSSL.

use scenegate_adapter_contract::SignatureSuite::{Rsa2, Sm2};

use super::{P1_STRING_TO_SIGN, b64, demo_key, flipped, test_key};
use crate::suites::{SM2_DEFAULT_ID, SigningKey, SuiteError, VerifyKey};

/// Made once with OpenSSL 3.0.19 (`-pkeyopt distid:` with pkeyutl, `-sigopt distid:` with dgst,
/// set the id; without it OpenSSL 3.0 signs with an empty id, which no partner uses):
/// `printf '%s' "$P1_STRING_TO_SIGN" > msg; openssl pkeyutl -sign -rawin -digest sm3 -inkey config/demo-keys/ptn_metrogo.sm2.private.pem -in msg -pkeyopt distid:1234567812345678 | base64 -w0`
/// (and checked with `openssl pkeyutl -verify … -pkeyopt distid:1234567812345678`: Signature Verified Successfully).
const OPENSSL_P1_SIGNATURE: &str =
    "MEUCIHrCbwVsCYaSJeQot3oo9QACU3G1f6+5+PZJ2NMxaFfKAiEA1yOZDTPfOX/KQBqUspdEQnGzzgSdBvo8eAZhbk1/zVw=";

/// The P4 CIB example string, signed the same way with `-pkeyopt distid:KY0123456789012345678900`
/// (a protocol-chosen id, here the example's KEYID).
const CIB_STRING_TO_SIGN: &str =
    "KY0123456789012345678900&20160516120000&025e119557284840a52ec6a404123456&POST&/api/test/queryOrder&amount=100";
const CIB_ID: &str = "KY0123456789012345678900";
const OPENSSL_CIB_SIGNATURE: &str =
    "MEUCIQCmjPqrLycIxj89tAicIg282PFDBcjS+vZqisPTqve+VwIgWxfQFA2sghOsAfj+EeP5gs1yEmxA8TsvvqWT/NBzp+w=";

fn partner() -> (SigningKey, VerifyKey) {
    let signing = SigningKey::from_pem(Sm2, demo_key!("ptn_metrogo.sm2.private.pem")).unwrap();
    let verify = VerifyKey::from_pem(Sm2, demo_key!("ptn_metrogo.sm2.public.pem")).unwrap();
    (signing, verify)
}

#[test]
fn a_signature_made_by_openssl_verifies_with_the_default_id() {
    let (_, key) = partner();
    let signature = b64(OPENSSL_P1_SIGNATURE);
    assert!(key.verify(P1_STRING_TO_SIGN.as_bytes(), &signature));
    assert!(!key.verify(CIB_STRING_TO_SIGN.as_bytes(), &signature));
}

#[test]
fn a_signature_made_by_openssl_with_another_id_needs_that_id() {
    let pem = demo_key!("ptn_metrogo.sm2.public.pem");
    let signature = b64(OPENSSL_CIB_SIGNATURE);
    let with_id = VerifyKey::sm2_from_pem_with_id(pem, CIB_ID).unwrap();
    assert!(with_id.verify(CIB_STRING_TO_SIGN.as_bytes(), &signature));
    let (_, default_id) = partner();
    assert!(!default_id.verify(CIB_STRING_TO_SIGN.as_bytes(), &signature));
    assert_ne!(with_id, default_id, "the id is part of the key's identity");
}

#[test]
fn sign_then_verify_round_trips_with_a_der_signature() {
    let (signing, verify) = partner();
    let message = "机场停车 88.00".as_bytes();
    let signature = signing.sign(message).unwrap();
    assert_eq!(signature[0], 0x30, "DER SEQUENCE");
    assert!((70..=72).contains(&signature.len()), "{}", signature.len());
    assert!(verify.verify(message, &signature));
    assert!(signing.verify_key().verify(message, &signature));
    // The nonce is derived (RFC 6979 with SM3), not drawn: the same input signs the same.
    assert_eq!(signing.sign(message).unwrap(), signature);
}

#[test]
fn tampering_with_message_or_signature_fails() {
    let (signing, verify) = partner();
    let message = P1_STRING_TO_SIGN.as_bytes();
    let signature = signing.sign(message).unwrap();
    for i in [0, message.len() / 2, message.len() - 1] {
        assert!(!verify.verify(&flipped(message, i), &signature), "message byte {i}");
    }
    // Header, inside r, inside s, last byte.
    for i in [0, 10, signature.len() - 10, signature.len() - 1] {
        assert!(!verify.verify(message, &flipped(&signature, i)), "signature byte {i}");
    }
    assert!(!verify.verify(message, &signature[..signature.len() - 1]), "truncated");
    let mut trailing = signature.clone();
    trailing.push(0);
    assert!(!verify.verify(message, &trailing), "trailing byte");
}

#[test]
fn a_signature_made_with_another_id_fails() {
    let (_, verify) = partner();
    let other =
        SigningKey::sm2_from_pem_with_id(demo_key!("ptn_metrogo.sm2.private.pem"), "ALICE123@YAHOO.COM").unwrap();
    let signature = other.sign(b"same key, other id").unwrap();
    assert!(other.verify_key().verify(b"same key, other id", &signature));
    assert!(!verify.verify(b"same key, other id", &signature));
    // And the reverse: a default-id signature fails for a verifier expecting another id.
    let (signing, _) = partner();
    let signature = signing.sign(b"m").unwrap();
    assert!(!other.verify_key().verify(b"m", &signature));
}

#[test]
fn another_keys_signature_fails() {
    let (_, partner_key) = partner();
    let gateway = SigningKey::from_pem(Sm2, demo_key!("gateway-open-platform.sm2.private.pem")).unwrap();
    let signature = gateway.sign(b"m").unwrap();
    assert!(!partner_key.verify(b"m", &signature));
}

#[test]
fn a_raw_r_s_signature_is_not_der_and_fails() {
    // r‖s (64 bytes) of the OpenSSL vector: only the DER form is accepted.
    let der = b64(OPENSSL_P1_SIGNATURE);
    let mut raw = der[4..36].to_vec(); // r: 32 bytes after 30 45 02 20
    raw.extend_from_slice(&der[der.len() - 32..]); // s: its last 32 bytes (02 21 00 …)
    assert_eq!(raw.len(), 64);
    let (_, key) = partner();
    assert!(!key.verify(P1_STRING_TO_SIGN.as_bytes(), &raw));
}

#[test]
fn keys_of_other_kinds_are_refused() {
    let err = VerifyKey::from_pem(Sm2, demo_key!("ptn_metrogo.rsa.public.pem")).unwrap_err();
    assert_eq!(err, SuiteError::WrongKeyType(Sm2, "an RSA key".into()));
    assert_eq!(err.to_string(), "SM2 needs an SM2 key, found an RSA key");
    let err = VerifyKey::from_pem(Sm2, test_key!("p256.public.pem")).unwrap_err();
    assert_eq!(err.to_string(), "SM2 needs an SM2 key, found an EC P-256 key");
    let err = SigningKey::from_pem(Sm2, test_key!("p256.private.pem")).unwrap_err();
    assert_eq!(err, SuiteError::WrongKeyType(Sm2, "an EC P-256 key".into()));
    let err = SigningKey::from_pem(Rsa2, demo_key!("ptn_metrogo.sm2.private.pem")).unwrap_err();
    assert_eq!(err, SuiteError::WrongKeyType(Rsa2, "an SM2 key".into()));
}

#[test]
fn a_point_off_the_curve_is_refused() {
    let block = pem::parse(demo_key!("ptn_metrogo.sm2.public.pem")).unwrap();
    let der = block.contents();
    let off_curve = flipped(der, der.len() - 1); // y's last bit
    let pem = pem::encode(&pem::Pem::new("PUBLIC KEY", off_curve));
    let err = VerifyKey::from_pem(Sm2, &pem).unwrap_err();
    assert_eq!(err, SuiteError::InvalidKey { suite: Sm2, reason: "not a point on the SM2 curve" });
    assert_eq!(err.to_string(), "SM2 key rejected: not a point on the SM2 curve");
}

#[test]
fn debug_shows_suite_and_id_only() {
    let (signing, verify) = partner();
    assert_eq!(format!("{signing:?}"), r#"SigningKey { suite: "SM2", .. }"#);
    assert_eq!(format!("{verify:?}"), format!(r#"VerifyKey {{ suite: "SM2", id: "{SM2_DEFAULT_ID}", .. }}"#));
}

#[test]
fn an_oversized_id_is_refused() {
    let id = "x".repeat(8192);
    let err = VerifyKey::sm2_from_pem_with_id(demo_key!("ptn_metrogo.sm2.public.pem"), &id).unwrap_err();
    assert_eq!(err, SuiteError::InvalidSm2Id);
}
