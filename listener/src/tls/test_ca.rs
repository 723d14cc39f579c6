//! A throwaway certificate authority for tests (feature `test-ca`): made at run time, never
//! committed, issuing client certificates as a bank's partner CA would.

/// A CA and its signing key.
pub struct TestCa {
    /// The CA's certificate, PEM: what `client_ca_file` holds.
    pub pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("no names is valid");
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
        let key = rcgen::KeyPair::generate().expect("a P-256 key");
        let pem = params.self_signed(&key).expect("a self-signed CA").pem();
        Self { pem, issuer: rcgen::Issuer::new(params, key) }
    }

    /// A certificate for `CN=<cn>,O=<org>` with the given extended key usage, and its key,
    /// as PEM.
    pub fn issue(&self, cn: &str, org: &str, usage: rcgen::ExtendedKeyUsagePurpose) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(vec![cn.to_owned()]).expect("a valid name");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::OrganizationName, org);
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let key = rcgen::KeyPair::generate().expect("a P-256 key");
        (params.signed_by(&key, &self.issuer).expect("signed by the CA").pem(), key.serialize_pem())
    }
}
