//! Shared-key MACs of legacy form protocols (WeChat Pay v2's "签名算法" family): the sorted
//! signing string with `&key=<shared key>` appended, then MD5 of it, or HMAC-SHA256 or HMAC-SM3
//! of it keyed with the shared key; upper-case hex. Whoever holds the key can forge the MAC, so
//! adapters use these only for A1 data (JR/T 0185 asks for asymmetric signatures above).

use hmac::{Hmac, KeyInit as _, Mac as _};
use md5::Digest as _;
use scenegate_adapter_contract::SignatureSuite;

use super::SuiteError;

/// The MAC of `signing_string` (already sorted, without the key), as upper-case hex.
pub fn mac_hex(suite: SignatureSuite, key: &[u8], signing_string: &str) -> Result<String, SuiteError> {
    let mut message = Vec::with_capacity(signing_string.len() + key.len() + 5);
    message.extend_from_slice(signing_string.as_bytes());
    message.extend_from_slice(b"&key=");
    message.extend_from_slice(key);
    let bytes: Vec<u8> = match suite {
        SignatureSuite::Md5 => md5::Md5::digest(&message).to_vec(),
        SignatureSuite::HmacSha256 => {
            aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key), &message)
                .as_ref()
                .to_vec()
        }
        SignatureSuite::HmacSm3 => {
            let mut mac = Hmac::<sm3::Sm3>::new_from_slice(key).map_err(|_| SuiteError::Signing("HMAC key".into()))?;
            mac.update(&message);
            mac.finalize().into_bytes().to_vec()
        }
        other => return Err(SuiteError::Unsupported(other)),
    };
    Ok(bytes.iter().map(|b| format!("{b:02X}")).collect())
}

/// Whether `presented` (hex, either case) is the MAC of `signing_string`; compared in
/// constant time.
pub fn verify_hex(suite: SignatureSuite, key: &[u8], signing_string: &str, presented: &str) -> bool {
    match mac_hex(suite, key, signing_string) {
        Ok(expected) => super::ct_eq(expected.as_bytes(), presented.to_ascii_uppercase().as_bytes()),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published WeChat Pay v2 example (MD5 and HMAC-SHA256, re-computed with openssl),
    /// and HMAC-SM3 of the same string computed with `openssl mac -digest SM3 ... HMAC`.
    const SIGNING: &str =
        "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA";
    const KEY: &[u8] = b"192006250b4c09247ec02edce69f6a2d";

    #[test]
    fn published_vectors() {
        assert_eq!(mac_hex(SignatureSuite::Md5, KEY, SIGNING).unwrap(), "9A0A8659F005D6984697E2CA0A9CF3B7");
        assert_eq!(
            mac_hex(SignatureSuite::HmacSha256, KEY, SIGNING).unwrap(),
            "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
        );
        assert_eq!(
            mac_hex(SignatureSuite::HmacSm3, KEY, SIGNING).unwrap(),
            "D6BBA809C2419C7903D71AF993C9F00DA015F117591584792A7453A116E89C76"
        );
    }

    #[test]
    fn verification_takes_either_case_and_refuses_any_change() {
        let mac = mac_hex(SignatureSuite::HmacSm3, KEY, SIGNING).unwrap();
        assert!(verify_hex(SignatureSuite::HmacSm3, KEY, SIGNING, &mac.to_ascii_lowercase()));
        assert!(!verify_hex(SignatureSuite::HmacSm3, KEY, &SIGNING.replace("test", "tesu"), &mac));
        assert!(!verify_hex(SignatureSuite::HmacSm3, b"another key of the same size!!!!", SIGNING, &mac));
        assert!(!verify_hex(SignatureSuite::HmacSha256, KEY, SIGNING, &mac), "another suite");
        assert!(!verify_hex(SignatureSuite::Md5, KEY, SIGNING, ""));
        assert!(!verify_hex(SignatureSuite::Rsa2, KEY, SIGNING, &mac), "not a MAC suite");
    }
}
