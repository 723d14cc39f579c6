//! RSA2: SHA256withRSA, RSASSA-PKCS1-v1_5, on aws-lc-rs (whose private-key operations are
//! constant-time; the `rsa` crate's are not, RUSTSEC-2023-0071).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair};
use pkcs8::der::asn1::UintRef;
use pkcs8::der::{Decode, Header, SliceReader, Tag};
use pkcs8::{PrivateKeyInfoRef, SubjectPublicKeyInfoRef};
use scenegate_adapter_contract::SignatureSuite;

use super::SuiteError;
use super::keyfile::KeyKind;

/// Open platforms moved from RSA (SHA-1, 1024 bits) to RSA2 precisely to leave short keys behind.
pub(super) const MIN_BITS: usize = 2048;
/// aws-lc-rs verifies RSA_PKCS1_2048_8192 signatures only up to here.
pub(super) const MAX_BITS: usize = 8192;

const SUITE: SignatureSuite = SignatureSuite::Rsa2;

#[derive(Clone)]
pub(super) struct VerifyKey {
    key: ParsedPublicKey,
    /// Canonical SubjectPublicKeyInfo DER, for equality and for handing the key out.
    spki: Box<[u8]>,
    bits: usize,
}

impl VerifyKey {
    pub(super) fn from_spki_der(der: &[u8]) -> Result<Self, SuiteError> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|_| SuiteError::Malformed { what: "SubjectPublicKeyInfo" })?;
        KeyKind::of(&spki.algorithm).require(KeyKind::Rsa, SUITE)?;
        let rsa_public_key =
            spki.subject_public_key.as_bytes().ok_or(SuiteError::Malformed { what: "RSA public key" })?;
        let bits = modulus_bits(rsa_public_key, false).ok_or(SuiteError::Malformed { what: "RSA public key" })?;
        check_bits(bits)?;
        // aws-lc-rs checks the key itself (RSA_check_key: exponent, modulus) here.
        let key = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der)
            .map_err(|e| SuiteError::InvalidKey { suite: SUITE, reason: e.description_() })?;
        let spki = key
            .as_der()
            .map_err(|_| SuiteError::InvalidKey { suite: SUITE, reason: "cannot re-encode" })?
            .as_ref()
            .into();
        Ok(Self { key, spki, bits })
    }

    pub(super) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }

    pub(super) fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    pub(super) fn bits(&self) -> usize {
        self.bits
    }
}

impl PartialEq for VerifyKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki == other.spki
    }
}
impl Eq for VerifyKey {}

pub(super) struct SigningKey {
    pair: RsaKeyPair,
    public: VerifyKey,
}

impl SigningKey {
    pub(super) fn from_pkcs8_der(der: &[u8]) -> Result<Self, SuiteError> {
        let info =
            PrivateKeyInfoRef::from_der(der).map_err(|_| SuiteError::Malformed { what: "PKCS#8 PrivateKeyInfo" })?;
        KeyKind::of(&info.algorithm).require(KeyKind::Rsa, SUITE)?;
        let bits =
            modulus_bits(info.private_key.as_bytes(), true).ok_or(SuiteError::Malformed { what: "RSA private key" })?;
        check_bits(bits)?;
        let pair = RsaKeyPair::from_pkcs8(der)
            .map_err(|e| SuiteError::InvalidKey { suite: SUITE, reason: e.description_() })?;
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| SuiteError::InvalidKey { suite: SUITE, reason: "cannot encode public key" })?;
        let public = VerifyKey::from_spki_der(spki.as_ref())?;
        Ok(Self { pair, public })
    }

    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SuiteError> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        // aws-lc-rs ignores the RNG for PKCS#1 v1.5 (the padding is deterministic).
        self.pair
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut signature)
            .map_err(|_| SuiteError::Signing("RSA2 signing failed".into()))?;
        Ok(signature)
    }

    pub(super) fn verify_key(&self) -> &VerifyKey {
        &self.public
    }
}

fn check_bits(bits: usize) -> Result<(), SuiteError> {
    match bits {
        ..MIN_BITS => Err(SuiteError::KeyTooSmall { bits }),
        MIN_BITS..=MAX_BITS => Ok(()),
        _ => Err(SuiteError::KeyTooLarge { bits }),
    }
}

/// Size of the modulus of a PKCS#1 `RSAPublicKey` (`SEQUENCE { n, e }`) or, with
/// `private`, `RSAPrivateKey` (`SEQUENCE { version, n, … }`), read before aws-lc-rs sees the
/// key so a short key is refused with its size. Only the leading fields are read.
fn modulus_bits(pkcs1: &[u8], private: bool) -> Option<usize> {
    let mut reader = SliceReader::new(pkcs1).ok()?;
    if Header::decode(&mut reader).ok()?.tag() != Tag::Sequence {
        return None;
    }
    if private {
        UintRef::decode(&mut reader).ok()?; // version
    }
    let n = UintRef::decode(&mut reader).ok()?.as_bytes(); // no leading zeros
    let first = *n.first()?;
    Some((n.len() - 1) * 8 + (8 - first.leading_zeros() as usize))
}
