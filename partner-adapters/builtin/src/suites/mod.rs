//! Signature suites the partner-protocol adapters sign and verify with: RSA2 (SHA256withRSA,
//! RSASSA-PKCS1-v1_5) and SM2 (SM3withSM2, GB/T 32918), plus the open-platform signing string
//! and the SM3 digest.
//!
//! Keys are parsed and checked once, when a partner file is loaded, so a bad key fails the load
//! with a message naming what is wrong ("an RSA key of 1024 bits", "an EC P-256 key") instead of
//! every request failing later. Requests then only call [`VerifyKey::verify`], which answers
//! `bool`: a partner learns nothing from *why* its signature failed.
//!
//! Defaults: SM2 uses the distinguishing id [`SM2_DEFAULT_ID`] that WeChat Pay, Alipay and the
//! domestic bank gateways use; RSA keys must be 2048–8192 bits. ES256/PS256 are not handled here:
//! the native API verifies those as JWS elsewhere, so they answer [`SuiteError::Unsupported`].
//!
//! Crypto: RSA is aws-lc-rs (constant-time private-key operations; the `rsa` crate is not used,
//! RUSTSEC-2023-0071). SM2/SM3 are RustCrypto `sm2`/`sm3`, whose arithmetic has never been
//! independently audited (their README says so). SM2 signing derives its nonce deterministically
//! (RFC 6979 with SM3), so the same key and message always give the same signature.

pub mod aead;
mod canonical;
mod keyfile;
pub mod mac;
mod primitives;
mod rsa2;
mod sm2dsa;
#[cfg(test)]
mod tests;

use std::fmt;

use scenegate_adapter_contract::SignatureSuite;

pub use canonical::sorted_params;
pub use primitives::{ct_eq, sm3};

/// The SM2 distinguishing id (`ID_A` in GB/T 32918.2) that partners use unless their protocol
/// names another; it is hashed into every signature, so both sides must agree on it.
pub const SM2_DEFAULT_ID: &str = "1234567812345678";

/// Why a key was refused or a signature could not be made. Messages name the problem and
/// never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuiteError {
    #[error("{} has no key pair here: JWS suites are verified by the native API, MACs by `suites::mac`", .0.name())]
    Unsupported(SignatureSuite),
    #[error("not a PEM document (expected a `-----BEGIN …-----` block)")]
    NotPem,
    #[error("expected exactly one PEM block, found {found}")]
    PemBlocks { found: usize },
    #[error("PEM block is `{found}`, expected `{expected}`{hint}")]
    WrongPemLabel { found: String, expected: &'static str, hint: &'static str },
    #[error("malformed {what}")]
    Malformed { what: &'static str },
    /// The key is of another algorithm (or curve) than the suite needs.
    #[error("{} needs {}, found {}", .0.name(), keyfile::expected_key(*.0), .1)]
    WrongKeyType(SignatureSuite, String),
    #[error("RSA key of {bits} bits is too small: RSA2 needs at least {} bits", rsa2::MIN_BITS)]
    KeyTooSmall { bits: usize },
    #[error("RSA key of {bits} bits is too large: at most {} bits are accepted", rsa2::MAX_BITS)]
    KeyTooLarge { bits: usize },
    /// The encoding is right but the key itself is not usable (a point off the curve, an RSA
    /// key whose components are inconsistent).
    #[error("{} key rejected: {reason}", .suite.name())]
    InvalidKey { suite: SignatureSuite, reason: &'static str },
    #[error("SM2 distinguishing id must be at most 8191 bytes")]
    InvalidSm2Id,
    #[error("signing failed: {0}")]
    Signing(String),
}

/// A partner's (or the gateway's) public key for one suite, parsed and checked once.
/// Cheap to clone; equal when the suite, the key and (for SM2) the distinguishing id are.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyKey(VerifyInner);

#[derive(Clone, PartialEq, Eq)]
enum VerifyInner {
    Rsa2(rsa2::VerifyKey),
    Sm2(sm2dsa::VerifyKey),
}

impl VerifyKey {
    /// SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`). RSA2: an RSA key of 2048–8192
    /// bits. SM2: a point on the SM2 curve (`id-ecPublicKey` with the `sm2p256v1` curve, as
    /// OpenSSL 3 writes it), used with [`SM2_DEFAULT_ID`].
    pub fn from_pem(suite: SignatureSuite, pem: &str) -> Result<Self, SuiteError> {
        match suite {
            SignatureSuite::Rsa2 => {
                let der = keyfile::read_pem(pem, keyfile::SPKI_LABEL)?;
                rsa2::VerifyKey::from_spki_der(&der).map(|k| Self(VerifyInner::Rsa2(k)))
            }
            SignatureSuite::Sm2 => Self::sm2_from_pem_with_id(pem, SM2_DEFAULT_ID),
            SignatureSuite::Es256
            | SignatureSuite::Ps256
            | SignatureSuite::Md5
            | SignatureSuite::HmacSha256
            | SignatureSuite::HmacSm3 => Err(SuiteError::Unsupported(suite)),
        }
    }

    /// An SM2 public key used with another distinguishing id than [`SM2_DEFAULT_ID`], for the
    /// protocols that name their own.
    pub fn sm2_from_pem_with_id(pem: &str, id: &str) -> Result<Self, SuiteError> {
        let der = keyfile::read_pem(pem, keyfile::SPKI_LABEL)?;
        sm2dsa::VerifyKey::from_spki_der(&der, id).map(|k| Self(VerifyInner::Sm2(k)))
    }

    pub fn suite(&self) -> SignatureSuite {
        match &self.0 {
            VerifyInner::Rsa2(_) => SignatureSuite::Rsa2,
            VerifyInner::Sm2(_) => SignatureSuite::Sm2,
        }
    }

    /// Verifies `signature` (raw bytes, already base64-decoded by the caller) over `message`.
    /// RSA2 = RSASSA-PKCS1-v1_5 with SHA-256. SM2 = SM3withSM2 with this key's distinguishing
    /// id, the signature DER-encoded (an ASN.1 SEQUENCE of r, s). Any malformed input is `false`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.0 {
            VerifyInner::Rsa2(k) => k.verify(message, signature),
            VerifyInner::Sm2(k) => k.verify(message, signature),
        }
    }

    /// The key as canonical SubjectPublicKeyInfo DER (re-encoded, not the bytes it was read from).
    pub fn spki_der(&self) -> &[u8] {
        match &self.0 {
            VerifyInner::Rsa2(k) => k.spki_der(),
            VerifyInner::Sm2(k) => k.spki_der(),
        }
    }

    /// The key as SubjectPublicKeyInfo PEM, LF line endings, 64 columns (as OpenSSL writes it).
    pub fn to_pem(&self) -> String {
        keyfile::spki_pem(self.spki_der())
    }
}

impl fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("VerifyKey");
        d.field("suite", &self.suite().name());
        match &self.0 {
            VerifyInner::Rsa2(k) => d.field("bits", &k.bits()),
            VerifyInner::Sm2(k) => d.field("id", &k.id()),
        };
        d.finish_non_exhaustive()
    }
}

/// A private key the gateway signs its responses with.
pub struct SigningKey(SigningInner);

enum SigningInner {
    Rsa2(rsa2::SigningKey),
    Sm2(sm2dsa::SigningKey),
}

impl SigningKey {
    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), unencrypted. The same checks as
    /// [`VerifyKey::from_pem`] apply to its public half.
    pub fn from_pem(suite: SignatureSuite, pem: &str) -> Result<Self, SuiteError> {
        match suite {
            SignatureSuite::Rsa2 => {
                let der = keyfile::read_pem(pem, keyfile::PKCS8_LABEL)?;
                rsa2::SigningKey::from_pkcs8_der(&der).map(|k| Self(SigningInner::Rsa2(k)))
            }
            SignatureSuite::Sm2 => Self::sm2_from_pem_with_id(pem, SM2_DEFAULT_ID),
            SignatureSuite::Es256
            | SignatureSuite::Ps256
            | SignatureSuite::Md5
            | SignatureSuite::HmacSha256
            | SignatureSuite::HmacSm3 => Err(SuiteError::Unsupported(suite)),
        }
    }

    /// An SM2 private key that signs with another distinguishing id than [`SM2_DEFAULT_ID`].
    pub fn sm2_from_pem_with_id(pem: &str, id: &str) -> Result<Self, SuiteError> {
        let der = keyfile::read_pem(pem, keyfile::PKCS8_LABEL)?;
        sm2dsa::SigningKey::from_pkcs8_der(&der, id).map(|k| Self(SigningInner::Sm2(k)))
    }

    pub fn suite(&self) -> SignatureSuite {
        match &self.0 {
            SigningInner::Rsa2(_) => SignatureSuite::Rsa2,
            SigningInner::Sm2(_) => SignatureSuite::Sm2,
        }
    }

    /// Signs `message`: RSA2 gives a modulus-sized signature, SM2 a DER SEQUENCE of r, s.
    /// The caller base64-encodes it for the wire.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SuiteError> {
        match &self.0 {
            SigningInner::Rsa2(k) => k.sign(message),
            SigningInner::Sm2(k) => k.sign(message),
        }
    }

    /// Its public half, as partners will verify it.
    pub fn verify_key(&self) -> VerifyKey {
        match &self.0 {
            SigningInner::Rsa2(k) => VerifyKey(VerifyInner::Rsa2(k.verify_key().clone())),
            SigningInner::Sm2(k) => VerifyKey(VerifyInner::Sm2(k.verify_key().clone())),
        }
    }

    /// SubjectPublicKeyInfo PEM of its public half, to hand to partners.
    pub fn public_key_pem(&self) -> String {
        self.verify_key().to_pem()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("suite", &self.suite().name()).finish_non_exhaustive()
    }
}
