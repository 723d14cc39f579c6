//! Every committed demo key loads, and each private key's public half is its public file.

use scenegate_adapter_contract::SignatureSuite::{self, Rsa2, Sm2};

use super::demo_key;
use crate::suites::{SigningKey, VerifyKey};

/// (suite, private PEM, public PEM, name) for every key pair under config/demo-keys/ that the
/// open-platform protocol uses.
const PAIRS: &[(SignatureSuite, &str, &str, &str)] = &[
    (Rsa2, demo_key!("ptn_metrogo.rsa.private.pem"), demo_key!("ptn_metrogo.rsa.public.pem"), "ptn_metrogo.rsa"),
    (Sm2, demo_key!("ptn_metrogo.sm2.private.pem"), demo_key!("ptn_metrogo.sm2.public.pem"), "ptn_metrogo.sm2"),
    (
        Rsa2,
        demo_key!("gateway-open-platform.rsa.private.pem"),
        demo_key!("gateway-open-platform.rsa.public.pem"),
        "gateway-open-platform.rsa",
    ),
    (
        Sm2,
        demo_key!("gateway-open-platform.sm2.private.pem"),
        demo_key!("gateway-open-platform.sm2.public.pem"),
        "gateway-open-platform.sm2",
    ),
];

#[test]
fn every_demo_key_loads_and_its_public_half_is_the_committed_public_key() {
    for &(suite, private, public, name) in PAIRS {
        let signing = SigningKey::from_pem(suite, private).unwrap_or_else(|e| panic!("{name}: {e}"));
        let verify = VerifyKey::from_pem(suite, public).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(signing.suite(), suite, "{name}");
        assert_eq!(verify.suite(), suite, "{name}");
        assert_eq!(signing.verify_key(), verify, "{name}: public half differs from the public file");
        // The PEM the gateway would hand out is the file OpenSSL wrote, byte for byte.
        assert_eq!(signing.public_key_pem(), public, "{name}");
        assert_eq!(verify.to_pem(), public, "{name}");
        let signature = signing.sign(name.as_bytes()).unwrap();
        assert!(verify.verify(name.as_bytes(), &signature), "{name}");
    }
}

#[test]
fn the_partner_and_the_gateway_have_different_keys() {
    let key = |i: usize| VerifyKey::from_pem(PAIRS[i].0, PAIRS[i].2).unwrap();
    assert_ne!(key(0), key(2), "RSA");
    assert_ne!(key(1), key(3), "SM2");
}
