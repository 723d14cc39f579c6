//! SM2: SM3withSM2 (GB/T 32918.2) on RustCrypto `sm2`, signatures DER-encoded as an ASN.1
//! SEQUENCE of r, s, the way OpenSSL, Tongsuo, BouncyCastle and the banks' SDKs write them.

use pkcs8::der::Decode;
use pkcs8::{PrivateKeyInfoRef, SubjectPublicKeyInfoRef};
use scenegate_adapter_contract::SignatureSuite;
use sm2::dsa::signature::{Signer, Verifier};
use sm2::dsa::{Signature, VerifyingKey};
use sm2::pkcs8::EncodePublicKey;

use super::SuiteError;
use super::keyfile::KeyKind;

const SUITE: SignatureSuite = SignatureSuite::Sm2;

/// The longest DER SEQUENCE of two 256-bit integers (each may carry a leading zero byte).
const MAX_DER_SIGNATURE: usize = 72;

#[derive(Clone)]
pub(super) struct VerifyKey {
    key: VerifyingKey,
    spki: Box<[u8]>,
}

impl VerifyKey {
    pub(super) fn from_spki_der(der: &[u8], id: &str) -> Result<Self, SuiteError> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|_| SuiteError::Malformed { what: "SubjectPublicKeyInfo" })?;
        KeyKind::of(&spki.algorithm).require(KeyKind::Sm2, SUITE)?;
        let point = spki.subject_public_key.as_bytes().ok_or(SuiteError::Malformed { what: "SM2 public key" })?;
        // Decoding checks the point is on the curve and not the identity.
        let public = sm2::PublicKey::from_sec1_bytes(point)
            .map_err(|_| SuiteError::InvalidKey { suite: SUITE, reason: "not a point on the SM2 curve" })?;
        Self::new(public, id)
    }

    fn new(public: sm2::PublicKey, id: &str) -> Result<Self, SuiteError> {
        let key = VerifyingKey::new(id, public).map_err(|_| SuiteError::InvalidSm2Id)?;
        let spki = public
            .to_public_key_der()
            .map_err(|_| SuiteError::InvalidKey { suite: SUITE, reason: "cannot re-encode" })?
            .as_bytes()
            .into();
        Ok(Self { key, spki })
    }

    pub(super) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        if signature.len() > MAX_DER_SIGNATURE {
            return false;
        }
        Signature::from_der(signature).is_ok_and(|s| self.key.verify(message, &s).is_ok())
    }

    pub(super) fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    pub(super) fn id(&self) -> &str {
        self.key.distid()
    }
}

impl PartialEq for VerifyKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki == other.spki && self.id() == other.id()
    }
}
impl Eq for VerifyKey {}

pub(super) struct SigningKey {
    /// Zeroizes its secret scalar when dropped.
    key: sm2::dsa::SigningKey,
    public: VerifyKey,
}

impl SigningKey {
    pub(super) fn from_pkcs8_der(der: &[u8], id: &str) -> Result<Self, SuiteError> {
        let info =
            PrivateKeyInfoRef::from_der(der).map_err(|_| SuiteError::Malformed { what: "PKCS#8 PrivateKeyInfo" })?;
        KeyKind::of(&info.algorithm).require(KeyKind::Sm2, SUITE)?;
        // Also checks an embedded public key, if any, matches the secret.
        let secret = sm2::SecretKey::try_from(info)
            .map_err(|_| SuiteError::InvalidKey { suite: SUITE, reason: "not a valid SM2 private key" })?;
        let key = sm2::dsa::SigningKey::new(id, &secret).map_err(|_| SuiteError::InvalidSm2Id)?;
        let public = VerifyKey::new(secret.public_key(), id)?;
        Ok(Self { key, public })
    }

    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SuiteError> {
        let signature: Signature =
            self.key.try_sign(message).map_err(|_| SuiteError::Signing("SM2 signing failed".into()))?;
        Ok(signature.to_der().to_vec())
    }

    pub(super) fn verify_key(&self) -> &VerifyKey {
        &self.public
    }
}
