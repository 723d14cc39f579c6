//! Distinguished names as RFC 8705 `tls_client_auth` compares them: a partner file names the
//! subject its CA-issued certificate must carry, as an RFC 4514 string
//! (`CN=skytrip-client,O=SkyTrip Ltd,C=GB`), and the certificate's subject must be that name.
//!
//! Two names are equal when they have the same relative distinguished names in the same
//! order, each with the same attributes (in any order within a multi-valued RDN), attribute
//! types compared by OID (`CN` is `2.5.4.3`) and values compared as directory strings are
//! (RFC 4518, simplified): case-insensitively, with leading, trailing and repeated inner
//! spaces insignificant. Hex-encoded values (`#04…`) are not accepted in partner files;
//! certificate attributes that are not strings never match.

use std::fmt;

/// One attribute of an RDN: its type as a dotted OID and its value, normalised for
/// comparison (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Attribute {
    oid: String,
    value: String,
}

/// A distinguished name, RDNs in RFC 4514 order (most specific first, as written). Equal
/// when the names are (see the module documentation), however they were written.
#[derive(Clone, Debug)]
pub struct DistinguishedName {
    /// Each RDN's attributes, sorted, for order-insensitive comparison within the RDN.
    rdns: Vec<Vec<Attribute>>,
    /// How it reads (RFC 4514), for logs and messages.
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("is empty; write it as in RFC 4514, e.g. `CN=partner-client,O=Partner Ltd,C=GB`")]
    Empty,
    #[error("`{0}` is not `type=value` (RFC 4514, e.g. `CN=partner-client,O=Partner Ltd,C=GB`)")]
    NotTypeValue(String),
    #[error("`{0}` is not an attribute type: use CN, O, OU, L, ST, C, STREET, DC, UID, emailAddress or a dotted OID")]
    UnknownType(String),
    #[error("the value of `{0}` is empty")]
    EmptyValue(String),
    #[error("the value of `{0}` is hex-encoded (`#…`); write it as text")]
    HexValue(String),
    #[error("a `\\` at the end, or before something other than a special character or two hex digits")]
    BadEscape,
}

/// Short names RFC 4514 §3 defines (and `emailAddress`, which certificates still carry).
const NAMES: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("C", "2.5.4.6"),
    ("STREET", "2.5.4.9"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("EMAILADDRESS", "1.2.840.113549.1.9.1"),
];

fn oid_of(name: &str) -> Option<String> {
    let upper = name.trim().to_ascii_uppercase();
    if let Some((_, oid)) = NAMES.iter().find(|(n, _)| *n == upper) {
        return Some((*oid).to_owned());
    }
    let dotted = upper.strip_prefix("OID.").unwrap_or(&upper);
    let is_oid = dotted.split('.').count() >= 2
        && dotted.split('.').all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
    is_oid.then(|| dotted.to_owned())
}

fn name_of(oid: &str) -> String {
    NAMES.iter().find(|(_, o)| *o == oid).map_or_else(|| oid.to_owned(), |(n, _)| (*n).to_owned())
}

/// Case and insignificant spaces removed, so equal directory strings compare equal.
fn normalise(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// RFC 4514 §2.4 escaping of a value for display.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && matches!(c, ' ' | '#'))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Splits `s` at every unescaped `sep`.
fn split_unescaped(s: &str, sep: char) -> Vec<&str> {
    let (mut parts, mut start, mut escaped) = (Vec::new(), 0, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

/// RFC 4514 §3 unescaping: `\` before a special character, or two hex digits (UTF-8 bytes).
fn unescape(value: &str) -> Result<String, SubjectError> {
    let mut bytes = Vec::with_capacity(value.len());
    let raw = value.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'\\' {
            bytes.push(raw[i]);
            i += 1;
            continue;
        }
        let next = *raw.get(i + 1).ok_or(SubjectError::BadEscape)?;
        let hex = raw
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        if let Some(byte) = hex {
            bytes.push(byte);
            i += 3;
        } else if matches!(next, b' ' | b'"' | b'#' | b'+' | b',' | b';' | b'<' | b'=' | b'>' | b'\\') {
            bytes.push(next);
            i += 2;
        } else {
            return Err(SubjectError::BadEscape);
        }
    }
    String::from_utf8(bytes).map_err(|_| SubjectError::BadEscape)
}

impl DistinguishedName {
    /// Reads an RFC 4514 string, as a partner file writes it.
    pub fn parse(text: &str) -> Result<Self, SubjectError> {
        if text.trim().is_empty() {
            return Err(SubjectError::Empty);
        }
        let mut rdns = Vec::new();
        for rdn in split_unescaped(text, ',') {
            let mut attributes = Vec::new();
            for pair in split_unescaped(rdn, '+') {
                let (name, value) =
                    pair.split_once('=').ok_or_else(|| SubjectError::NotTypeValue(pair.trim().to_owned()))?;
                let oid = oid_of(name).ok_or_else(|| SubjectError::UnknownType(name.trim().to_owned()))?;
                let value = value.trim_start();
                if value.starts_with('#') {
                    return Err(SubjectError::HexValue(name.trim().to_owned()));
                }
                let value = unescape(value)?;
                if value.trim().is_empty() {
                    return Err(SubjectError::EmptyValue(name.trim().to_owned()));
                }
                attributes.push((oid, value));
            }
            rdns.push(attributes);
        }
        Ok(Self::from_rdns(rdns))
    }

    /// The subject of a DER certificate; `None` if it is not a certificate or has an
    /// attribute that is not a string.
    pub fn of_certificate(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        // DER lists the most general RDN first; RFC 4514 writes the most specific first.
        let mut rdns = cert
            .subject()
            .iter_rdn()
            .map(|rdn| {
                rdn.iter()
                    .map(|attr| Some((attr.attr_type().to_id_string(), attr.as_str().ok()?.to_owned())))
                    .collect::<Option<Vec<_>>>()
            })
            .collect::<Option<Vec<_>>>()?;
        rdns.reverse();
        Some(Self::from_rdns(rdns))
    }

    fn from_rdns(rdns: Vec<Vec<(String, String)>>) -> Self {
        let text = rdns
            .iter()
            .map(|rdn| {
                rdn.iter().map(|(oid, v)| format!("{}={}", name_of(oid), escape(v))).collect::<Vec<_>>().join("+")
            })
            .collect::<Vec<_>>()
            .join(",");
        let rdns = rdns
            .into_iter()
            .map(|rdn| {
                let mut attrs: Vec<_> =
                    rdn.into_iter().map(|(oid, value)| Attribute { oid, value: normalise(&value) }).collect();
                attrs.sort();
                attrs
            })
            .collect();
        Self { rdns, text }
    }
}

impl PartialEq for DistinguishedName {
    fn eq(&self, other: &Self) -> bool {
        self.rdns == other.rdns
    }
}

impl Eq for DistinguishedName {}

impl fmt::Display for DistinguishedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dn(s: &str) -> DistinguishedName {
        DistinguishedName::parse(s).unwrap()
    }

    #[test]
    fn names_written_differently_but_meaning_the_same_are_equal() {
        let canonical = dn("CN=SkyTrip Client,O=SkyTrip Ltd,C=GB");
        for same in [
            "cn=skytrip client, o=SkyTrip  Ltd, c=gb",
            "2.5.4.3=SkyTrip Client,O=SkyTrip Ltd,C=GB",
            "OID.2.5.4.3=SkyTrip Client,O=SkyTrip Ltd,C=GB",
            "CN= SkyTrip Client ,O=SkyTrip Ltd,C=GB",
        ] {
            assert_eq!(dn(same), canonical, "{same}");
        }
        for different in
            ["CN=SkyTrip Client,O=SkyTrip Ltd", "O=SkyTrip Ltd,CN=SkyTrip Client,C=GB", "CN=Other,O=SkyTrip Ltd,C=GB"]
        {
            assert_ne!(dn(different), canonical, "{different}");
        }
    }

    #[test]
    fn escapes_and_multi_valued_rdns_are_read_as_rfc_4514_says() {
        let escaped = dn(r"CN=Smith\, John,O=Acme\2C Inc,C=US");
        assert_eq!(escaped, dn(r"CN=Smith\2C John,O=Acme\, Inc,C=US"));
        assert_eq!(escaped.to_string(), r"CN=Smith\, John,O=Acme\, Inc,C=US");
        assert_eq!(dn("CN=a+UID=7,O=x"), dn("UID=7+CN=a,O=x"));
    }

    #[test]
    fn what_is_not_a_name_is_refused_with_the_reason() {
        for (text, want) in [
            ("", SubjectError::Empty),
            ("CN", SubjectError::NotTypeValue("CN".into())),
            ("XX=1", SubjectError::UnknownType("XX".into())),
            ("CN=", SubjectError::EmptyValue("CN".into())),
            ("CN=#0403616263", SubjectError::HexValue("CN".into())),
            (r"CN=a\", SubjectError::BadEscape),
            (r"CN=a\q", SubjectError::BadEscape),
        ] {
            assert_eq!(DistinguishedName::parse(text), Err(want), "{text:?}");
        }
    }

    #[test]
    fn a_certificates_subject_reads_most_specific_first() {
        let mut params = rcgen::CertificateParams::new(vec!["client".to_owned()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CountryName, "GB");
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "SkyTrip Ltd");
        params.distinguished_name.push(rcgen::DnType::CommonName, "skytrip-client");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let subject = DistinguishedName::of_certificate(cert.der()).unwrap();
        assert_eq!(subject.to_string(), "CN=skytrip-client,O=SkyTrip Ltd,C=GB");
        assert_eq!(subject, dn("CN=skytrip-client,O=SkyTrip Ltd,C=GB"));
        assert_eq!(DistinguishedName::of_certificate(b"not a certificate"), None);
    }
}
