//! Reading key files: one PEM block with the right label, and naming what kind of key a DER
//! structure holds so a refusal can say "found an EC P-256 key" rather than "invalid key".

use std::fmt;

use pkcs8::{AlgorithmIdentifierRef, ObjectIdentifier};
use scenegate_adapter_contract::SignatureSuite;
use zeroize::Zeroizing;

use super::SuiteError;

pub(super) const SPKI_LABEL: &str = "PUBLIC KEY";
pub(super) const PKCS8_LABEL: &str = "PRIVATE KEY";

pub(super) const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
pub(super) const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub(super) const SM2_CURVE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.301");

/// Named algorithms and curves, only to word refusals.
const NAMES: &[(&str, &str)] = &[
    ("1.2.840.113549.1.1.10", "an RSASSA-PSS key"),
    ("1.2.840.10040.4.1", "a DSA key"),
    ("1.3.101.110", "an X25519 key"),
    ("1.3.101.111", "an X448 key"),
    ("1.3.101.112", "an Ed25519 key"),
    ("1.3.101.113", "an Ed448 key"),
];
const CURVES: &[(&str, &str)] = &[
    ("1.2.840.10045.3.1.7", "P-256"),
    ("1.3.132.0.34", "P-384"),
    ("1.3.132.0.35", "P-521"),
    ("1.3.132.0.10", "secp256k1"),
];

/// Reads exactly one PEM block labelled `expected` and returns its DER contents, wiped from
/// memory when dropped (they may be a private key).
pub(super) fn read_pem(text: &str, expected: &'static str) -> Result<Zeroizing<Vec<u8>>, SuiteError> {
    let blocks = pem::parse_many(text).map_err(|_| SuiteError::NotPem)?;
    let mut blocks: Vec<_> =
        blocks.into_iter().map(|b| (b.tag().to_owned(), Zeroizing::new(b.into_contents()))).collect();
    match blocks.len() {
        0 => return Err(SuiteError::NotPem),
        1 => {}
        found => return Err(SuiteError::PemBlocks { found }),
    }
    let (label, der) = blocks.remove(0);
    if label != expected {
        return Err(SuiteError::WrongPemLabel {
            hint: label_hint(&label, expected),
            found: truncated(label),
            expected,
        });
    }
    Ok(der)
}

/// How to turn a key file of the wrong kind into the right one, where OpenSSL can.
fn label_hint(found: &str, expected: &str) -> &'static str {
    match (found, expected) {
        ("RSA PUBLIC KEY", SPKI_LABEL) => " (PKCS#1; convert with `openssl rsa -RSAPublicKey_in -in key.pem -pubout`)",
        ("RSA PRIVATE KEY" | "EC PRIVATE KEY", PKCS8_LABEL) => {
            " (a traditional key file; convert with `openssl pkcs8 -topk8 -nocrypt -in key.pem`)"
        }
        ("ENCRYPTED PRIVATE KEY", PKCS8_LABEL) => {
            " (encrypted keys are not read; decrypt with `openssl pkcs8 -in key.pem`)"
        }
        ("PRIVATE KEY", SPKI_LABEL) => " (a private key where the public key belongs)",
        ("CERTIFICATE", SPKI_LABEL) => " (extract the key with `openssl x509 -in cert.pem -pubkey -noout`)",
        _ => "",
    }
}

/// Labels come from the key file; keep a refusal one line long whatever the file says.
fn truncated(mut label: String) -> String {
    if label.chars().count() > 40 {
        label = label.chars().take(40).collect::<String>() + "…";
    }
    label
}

/// What a suite's keys are, for [`SuiteError::WrongKeyType`].
pub(super) fn expected_key(suite: SignatureSuite) -> &'static str {
    match suite {
        SignatureSuite::Rsa2 | SignatureSuite::Ps256 => "an RSA key",
        SignatureSuite::Sm2 => "an SM2 key",
        SignatureSuite::Es256 => "an EC P-256 key",
        SignatureSuite::Md5 | SignatureSuite::HmacSha256 | SignatureSuite::HmacSm3 => "a shared key, not a key pair",
    }
}

/// The kind of key an algorithm identifier names.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyKind {
    Rsa,
    Sm2,
    /// An EC key on another curve, or with explicit curve parameters (`None`).
    OtherEc(Option<ObjectIdentifier>),
    Other(ObjectIdentifier),
}

impl KeyKind {
    pub(super) fn of(algorithm: &AlgorithmIdentifierRef<'_>) -> Self {
        match algorithm.oid {
            RSA_ENCRYPTION => Self::Rsa,
            EC_PUBLIC_KEY => match algorithm.parameters_oid() {
                Ok(SM2_CURVE) => Self::Sm2,
                Ok(curve) => Self::OtherEc(Some(curve)),
                Err(_) => Self::OtherEc(None),
            },
            other => Self::Other(other),
        }
    }

    /// Refuses any other kind than `want`, naming what was found.
    pub(super) fn require(self, want: KeyKind, suite: SignatureSuite) -> Result<(), SuiteError> {
        if self == want { Ok(()) } else { Err(SuiteError::WrongKeyType(suite, self.to_string())) }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let named = |table: &[(&str, &'static str)], oid: &ObjectIdentifier| {
            let oid = oid.to_string();
            table.iter().find(|(o, _)| *o == oid).map(|(_, name)| *name)
        };
        match self {
            Self::Rsa => f.write_str("an RSA key"),
            Self::Sm2 => f.write_str("an SM2 key"),
            Self::OtherEc(Some(curve)) => match named(CURVES, curve) {
                Some(name) => write!(f, "an EC {name} key"),
                None => write!(f, "an EC key on curve {curve}"),
            },
            Self::OtherEc(None) => f.write_str("an EC key without a named curve"),
            Self::Other(oid) => match named(NAMES, oid) {
                Some(name) => f.write_str(name),
                None => write!(f, "a key of algorithm {oid}"),
            },
        }
    }
}

/// SubjectPublicKeyInfo DER as PEM the way OpenSSL writes it (LF, 64 columns), so a key the
/// gateway hands out compares equal, byte for byte, to one `openssl pkey -pubout` wrote.
pub(super) fn spki_pem(der: &[u8]) -> String {
    let block = pem::Pem::new(SPKI_LABEL, der);
    pem::encode_config(&block, pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF))
}
