//! Key files and signatures come from partners: parsing and verifying must answer, never panic,
//! whatever the bytes.

use std::sync::LazyLock;

use proptest::prelude::*;
use scenegate_adapter_contract::SignatureSuite;

use super::demo_key;
use crate::suites::{SigningKey, VerifyKey};

static RSA: LazyLock<VerifyKey> =
    LazyLock::new(|| VerifyKey::from_pem(SignatureSuite::Rsa2, demo_key!("ptn_metrogo.rsa.public.pem")).unwrap());
static SM2: LazyLock<VerifyKey> =
    LazyLock::new(|| VerifyKey::from_pem(SignatureSuite::Sm2, demo_key!("ptn_metrogo.sm2.public.pem")).unwrap());
static SM2_SIGNATURE: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let key = SigningKey::from_pem(SignatureSuite::Sm2, demo_key!("ptn_metrogo.sm2.private.pem")).unwrap();
    key.sign(b"message").unwrap()
});

/// DER of the committed key files, as seeds for mutation: near-valid input reaches deeper
/// into the parsers than random bytes do.
fn seeds() -> Vec<Vec<u8>> {
    [
        demo_key!("ptn_metrogo.rsa.public.pem"),
        demo_key!("ptn_metrogo.sm2.public.pem"),
        demo_key!("ptn_metrogo.rsa.private.pem"),
        demo_key!("ptn_metrogo.sm2.private.pem"),
    ]
    .iter()
    .map(|text| pem::parse(text).unwrap().into_contents())
    .collect()
}

fn suite() -> impl Strategy<Value = SignatureSuite> {
    prop::sample::select(SignatureSuite::ALL.to_vec())
}

fn label() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["PUBLIC KEY", "PRIVATE KEY", "RSA PUBLIC KEY", "CERTIFICATE"])
}

/// A seed with a few bytes overwritten and maybe cut short.
fn mutated_der() -> impl Strategy<Value = Vec<u8>> {
    (0..4usize, prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4), any::<prop::sample::Index>())
        .prop_map(|(seed, edits, cut)| {
            let mut der = seeds().swap_remove(seed);
            for (at, byte) in edits {
                let i = at.index(der.len());
                der[i] = byte;
            }
            let keep = cut.index(der.len() * 2).min(der.len()); // half the time: whole
            der.truncate(keep.max(1));
            der
        })
}

fn load_everything(suite: SignatureSuite, text: &str) {
    let _ = VerifyKey::from_pem(suite, text);
    let _ = SigningKey::from_pem(suite, text);
    let _ = VerifyKey::sm2_from_pem_with_id(text, "1234567812345678");
}

proptest! {
    #[test]
    fn from_pem_never_panics_on_any_text(suite in suite(), text in ".{0,400}") {
        load_everything(suite, &text);
    }

    #[test]
    fn from_pem_never_panics_on_any_der(suite in suite(), label in label(), der in prop::collection::vec(any::<u8>(), 0..600)) {
        load_everything(suite, &pem::encode(&pem::Pem::new(label, der)));
    }

    #[test]
    fn from_pem_never_panics_on_damaged_keys(suite in suite(), label in label(), der in mutated_der()) {
        load_everything(suite, &pem::encode(&pem::Pem::new(label, der)));
    }

    #[test]
    fn verify_never_panics_and_refuses_random_signatures(
        message in prop::collection::vec(any::<u8>(), 0..200),
        signature in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        prop_assert!(!RSA.verify(&message, &signature));
        prop_assert!(!SM2.verify(&message, &signature));
    }

    #[test]
    fn verify_never_panics_on_damaged_sm2_signatures(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut signature = SM2_SIGNATURE.clone();
        for (at, byte) in edits {
            let i = at.index(signature.len());
            signature[i] = byte;
        }
        let keep = cut.index(signature.len() * 2).min(signature.len());
        signature.truncate(keep);
        // An edit may write back the same byte, so only "no panic" is asserted here.
        let _ = SM2.verify(b"message", &signature);
    }
}
