//! Pseudonymous ids: what a partner calls an account (or a customer) instead of its core
//! number.
//!
//! An id is `HMAC-SHA256(key, partner_id ‖ 0x00 ‖ core number)`, base32 (RFC 4648, lowercase,
//! no padding) cut to 20 characters (100 bits). It is stable for one partner, different for
//! every other partner (two partners cannot join their data on it), and reveals nothing of
//! the number without the key. The key is 32 random bytes in `<data_dir>/pseudonym.key`,
//! created 0600 on first start; losing or replacing it changes every id partners hold.

use std::{
    fmt,
    io::Write,
    path::{Path, PathBuf},
};

use aws_lc_rs::hmac;
use scenegate_adapter_contract::{AccountId, TransactionId};

const KEY_LEN: usize = 32;
/// Characters of an id after its prefix: 20 base32 characters, 100 bits.
pub const ID_CHARS: usize = 20;
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

#[derive(Debug, thiserror::Error)]
pub enum PseudonymKeyError {
    #[error("pseudonym key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("pseudonym key file {path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// Derives partner-specific ids. Cheap to clone; the key cannot be read back or printed.
#[derive(Clone)]
pub struct Pseudonyms {
    key: hmac::Key,
}

impl fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pseudonyms([REDACTED])")
    }
}

impl Pseudonyms {
    pub fn from_key(key: &[u8; KEY_LEN]) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, key) }
    }

    /// A fresh random key as the text a key file or a shared row holds.
    pub fn generate_text() -> Result<String, PseudonymKeyError> {
        let mut key = [0_u8; KEY_LEN];
        aws_lc_rs::rand::fill(&mut key)
            .map_err(|_| PseudonymKeyError::Invalid { path: PathBuf::new(), reason: "no system randomness".into() })?;
        Ok(to_hex(&key))
    }

    /// Reads a key kept as text (64 hexadecimal characters) outside a file.
    pub fn from_text(text: &str, origin: &str) -> Result<Self, PseudonymKeyError> {
        let key = from_hex(text.trim()).ok_or_else(|| PseudonymKeyError::Invalid {
            path: PathBuf::from(origin),
            reason: "expected 64 hexadecimal characters (32 bytes)".into(),
        })?;
        Ok(Self::from_key(&key))
    }

    /// Reads the key file, creating it with a fresh random key when it does not exist yet.
    /// Two processes starting at once agree on one key: the file is published with a hard
    /// link, which fails rather than replaces when the other got there first.
    pub fn load_or_create(path: &Path) -> Result<Self, PseudonymKeyError> {
        if !path.exists() {
            create(path)?;
            tracing::info!(path = %path.display(), "generated a new pseudonym key");
        }
        let io = |source| PseudonymKeyError::Io { path: path.to_owned(), source };
        let text = std::fs::read_to_string(path).map_err(io)?;
        let invalid = |reason: &str| PseudonymKeyError::Invalid { path: path.to_owned(), reason: reason.into() };
        let key = from_hex(text.trim()).ok_or_else(|| invalid("expected 64 hexadecimal characters (32 bytes)"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format_args!("{:o}", mode & 0o777), "pseudonym key file is readable by others; chmod 600 it");
            }
        }
        Ok(Self::from_key(&key))
    }

    /// `acc_` + 20 base32 characters; the same account has another id for another partner.
    pub fn account_id(&self, partner_id: &str, acct_no: &str) -> AccountId {
        let body = self.derive(&[partner_id.as_bytes(), b"\0", acct_no.as_bytes()]);
        AccountId::from_key(&body).expect("base32 characters are a valid id body")
    }

    /// `txn_` + 20 base32 characters: one statement line (sequence `txn_seq` of account
    /// `acct_no`) as one partner may know it. Domain separated (`txn\0`), stable across
    /// reads, different for every partner; nothing maps it back, and nothing needs to.
    pub fn transaction_id(&self, partner_id: &str, acct_no: &str, txn_seq: i64) -> TransactionId {
        let seq = txn_seq.to_string();
        let body = self.derive(&[b"txn\0", partner_id.as_bytes(), b"\0", acct_no.as_bytes(), b"\0", seq.as_bytes()]);
        TransactionId::from_key(&body).expect("base32 characters are a valid id body")
    }

    /// `cst_` + 20 base32 characters: a customer as one partner may know them. Domain
    /// separated from account ids (`cst\0` in front), so a customer number never yields an
    /// account's id.
    pub fn customer_id(&self, partner_id: &str, cust_no: &str) -> String {
        format!("cst_{}", self.derive(&[b"cst\0", partner_id.as_bytes(), b"\0", cust_no.as_bytes()]))
    }

    /// A 32-byte secret for another purpose (`label`), derived from the same shared key:
    /// every instance of a cluster holds it without another shared row, and it reveals
    /// nothing of the pseudonym key or of ids.
    pub fn derive_secret(&self, label: &str) -> [u8; KEY_LEN] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(b"secret\0");
        ctx.update(label.as_bytes());
        let mut out = [0_u8; KEY_LEN];
        out.copy_from_slice(&ctx.sign().as_ref()[..KEY_LEN]);
        out
    }

    fn derive(&self, parts: &[&[u8]]) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        for part in parts {
            ctx.update(part);
        }
        let mut id = base32(ctx.sign().as_ref());
        id.truncate(ID_CHARS);
        id
    }
}

fn create(path: &Path) -> Result<(), PseudonymKeyError> {
    let io = |source| PseudonymKeyError::Io { path: path.to_owned(), source };
    let mut key = [0_u8; KEY_LEN];
    aws_lc_rs::rand::fill(&mut key)
        .map_err(|_| PseudonymKeyError::Invalid { path: path.to_owned(), reason: "no system randomness".into() })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut out| {
        out.write_all(format!("{}\n", to_hex(&key)).as_bytes())?;
        out.sync_all()
    });
    let published = written.and_then(|()| match std::fs::hard_link(&tmp, path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    });
    let _ = std::fs::remove_file(&tmp);
    published.map_err(io)
}

fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0_u32, 0_u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((acc >> bits) & 31) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(BASE32[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<[u8; KEY_LEN]> {
    if text.len() != KEY_LEN * 2 || !text.is_ascii() {
        return None;
    }
    let mut key = [0_u8; KEY_LEN];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ACCT: &str = "6222020000000000018";

    #[test]
    fn base32_matches_rfc_4648_vectors() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "my");
        assert_eq!(base32(b"fo"), "mzxq");
        assert_eq!(base32(b"foobar"), "mzxw6ytboi");
    }

    #[test]
    fn transaction_ids_are_stable_per_partner_and_reveal_no_sequence() {
        let p = Pseudonyms::from_key(&[7; KEY_LEN]);
        let t = p.transaction_id("ptn_a", ACCT, 4);
        assert_eq!(t, p.transaction_id("ptn_a", ACCT, 4), "stable across reads");
        assert_ne!(t, p.transaction_id("ptn_b", ACCT, 4), "two partners cannot match a customer's lines");
        assert_ne!(t, p.transaction_id("ptn_a", ACCT, 5));
        assert_ne!(t, p.transaction_id("ptn_a", "6222020000000000026", 4), "per account");
        assert_eq!(t.as_str().len(), "txn_".len() + 20);
        assert_ne!(t.as_str()[4..], p.account_id("ptn_a", ACCT).as_str()[4..], "domain separated from account ids");
    }

    #[test]
    fn ids_are_stable_per_partner_and_differ_between_partners() {
        let p = Pseudonyms::from_key(&[7; KEY_LEN]);
        let a = p.account_id("ptn_a", ACCT);
        assert_eq!(a, p.account_id("ptn_a", ACCT));
        assert_ne!(a, p.account_id("ptn_b", ACCT));
        assert_ne!(a, p.account_id("ptn_a", "6222020000000000026"));
        assert_ne!(a, Pseudonyms::from_key(&[8; KEY_LEN]).account_id("ptn_a", ACCT));
        assert_eq!(a.key().len(), ID_CHARS);
        assert!(a.as_str().starts_with("acc_"));
        assert!(a.key().bytes().all(|b| BASE32.contains(&b)));
        let c = p.customer_id("ptn_a", "C0001");
        assert!(c.starts_with("cst_") && c.len() == 4 + ID_CHARS);
        assert_ne!(c, p.customer_id("ptn_b", "C0001"));
        assert_ne!(&c[4..], p.account_id("ptn_a", "C0001").key());
    }

    #[test]
    fn separator_prevents_shifted_collisions() {
        let p = Pseudonyms::from_key(&[1; KEY_LEN]);
        assert_ne!(p.account_id("ptn_a", "1234"), p.account_id("ptn_a1", "234"));
    }

    #[test]
    fn the_key_file_is_created_0600_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("pseudonym.key");
        let first = Pseudonyms::load_or_create(&path).unwrap().account_id("ptn_a", ACCT);
        let again = Pseudonyms::load_or_create(&path).unwrap().account_id("ptn_a", ACCT);
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let other = tempfile::tempdir().unwrap();
        let fresh = Pseudonyms::load_or_create(&other.path().join("pseudonym.key")).unwrap();
        assert_ne!(fresh.account_id("ptn_a", ACCT), first, "a new key gives new ids");
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 1, "no temporary file left");
    }

    #[test]
    fn a_damaged_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pseudonym.key");
        std::fs::write(&path, "abcd\n").unwrap();
        assert!(matches!(Pseudonyms::load_or_create(&path), Err(PseudonymKeyError::Invalid { .. })));
    }

    #[test]
    fn debug_never_prints_the_key() {
        assert_eq!(format!("{:?}", Pseudonyms::from_key(&[9; KEY_LEN])), "Pseudonyms([REDACTED])");
    }

    proptest! {
        #[test]
        fn hex_round_trips(key in proptest::array::uniform32(any::<u8>())) {
            prop_assert_eq!(from_hex(&to_hex(&key)), Some(key));
        }

        #[test]
        fn every_id_is_20_base32_characters(partner in "\\PC{0,20}", acct in "\\PC{0,30}") {
            let id = Pseudonyms::from_key(&[3; KEY_LEN]).account_id(&partner, &acct);
            prop_assert_eq!(id.key().len(), ID_CHARS);
            prop_assert!(id.key().bytes().all(|b| BASE32.contains(&b)));
        }
    }
}
