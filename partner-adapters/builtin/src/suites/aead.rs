//! Authenticated encryption of notification resources: AES-256-GCM (aws-lc-rs) and SM4-GCM
//! (RustCrypto's generic GCM over SM4, RFC 8998). Sealed output is ciphertext ‖ 16-byte tag.

use aes_gcm::{
    AesGcm,
    aead::{Aead, KeyInit, Payload, consts::U12},
};

use super::SuiteError;

/// The GCM flavours a protocol encrypts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AeadAlgorithm {
    /// 32-byte key.
    Aes256Gcm,
    /// 16-byte key.
    Sm4Gcm,
}

impl AeadAlgorithm {
    pub const fn key_len(self) -> usize {
        match self {
            Self::Aes256Gcm => 32,
            Self::Sm4Gcm => 16,
        }
    }
}

type Sm4Gcm = AesGcm<sm4::Sm4, U12>;

/// Encrypts `plaintext` under `key` with a 96-bit `nonce` that must never repeat for the key.
pub fn seal(
    algorithm: AeadAlgorithm,
    key: &[u8],
    nonce: &[u8; 12],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, SuiteError> {
    let wrong_key = || SuiteError::Signing(format!("{algorithm:?} takes a {}-byte key", algorithm.key_len()));
    match algorithm {
        AeadAlgorithm::Aes256Gcm => {
            use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
            let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| wrong_key())?);
            let mut sealed = plaintext.to_vec();
            key.seal_in_place_append_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), &mut sealed)
                .map_err(|_| SuiteError::Signing("AES-256-GCM sealing failed".into()))?;
            Ok(sealed)
        }
        AeadAlgorithm::Sm4Gcm => {
            let cipher = Sm4Gcm::new_from_slice(key).map_err(|_| wrong_key())?;
            cipher
                .encrypt(&(*nonce).into(), Payload { msg: plaintext, aad })
                .map_err(|_| SuiteError::Signing("SM4-GCM sealing failed".into()))
        }
    }
}

/// Decrypts and authenticates what [`seal`] made; `None` if anything was changed.
pub fn open(algorithm: AeadAlgorithm, key: &[u8], nonce: &[u8; 12], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    match algorithm {
        AeadAlgorithm::Aes256Gcm => {
            use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
            let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?);
            let mut buffer = sealed.to_vec();
            let plain = key.open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), &mut buffer).ok()?;
            Some(plain.to_vec())
        }
        AeadAlgorithm::Sm4Gcm => {
            Sm4Gcm::new_from_slice(key).ok()?.decrypt(&(*nonce).into(), Payload { msg: sealed, aad }).ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// RFC 8998 appendix A.1 (also checked against Python's `cryptography` SM4-GCM).
    #[test]
    fn sm4_gcm_matches_rfc_8998() {
        let key = hex("0123456789ABCDEFFEDCBA9876543210");
        let nonce: [u8; 12] = hex("00001234567800000000ABCD").try_into().unwrap();
        let aad = hex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2");
        let plain = hex(concat!(
            "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD",
            "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
        ));
        let expected = hex(concat!(
            "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735",
            "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D",
            "83DE3541E4C2B58177E065A9BF7B62EC"
        ));
        let sealed = seal(AeadAlgorithm::Sm4Gcm, &key, &nonce, &aad, &plain).unwrap();
        assert_eq!(sealed, expected);
        assert_eq!(open(AeadAlgorithm::Sm4Gcm, &key, &nonce, &aad, &sealed).unwrap(), plain);
    }

    /// The GCM test case 14 of McGrew & Viega (AES-256, zero key, zero nonce, one zero block).
    #[test]
    fn aes_256_gcm_matches_the_gcm_spec_vector() {
        let key = [0u8; 32];
        let nonce = [0u8; 12];
        let sealed = seal(AeadAlgorithm::Aes256Gcm, &key, &nonce, b"", &[0u8; 16]).unwrap();
        assert_eq!(sealed, hex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"));
        assert_eq!(open(AeadAlgorithm::Aes256Gcm, &key, &nonce, b"", &sealed).unwrap(), [0u8; 16]);
    }

    #[test]
    fn any_change_fails_to_open() {
        for alg in [AeadAlgorithm::Aes256Gcm, AeadAlgorithm::Sm4Gcm] {
            let key = vec![7u8; alg.key_len()];
            let nonce = *b"abcdefghijkl";
            let sealed = seal(alg, &key, &nonce, b"transaction", b"{\"a\":1}").unwrap();
            let mut flipped = sealed.clone();
            flipped[0] ^= 1;
            assert!(open(alg, &key, &nonce, b"transaction", &flipped).is_none());
            assert!(open(alg, &key, &nonce, b"refund", &sealed).is_none(), "other associated data");
            assert!(open(alg, &key, b"abcdefghijkm", b"transaction", &sealed).is_none());
            assert!(seal(alg, &key[1..], &nonce, b"", b"x").is_err(), "a short key");
        }
    }
}
