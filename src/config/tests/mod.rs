//! Tests of the config module, by behaviour; fixtures and test-only public keys here.

mod adapters;
mod errors;
mod gateway;
mod keys;
mod partner;
mod reload;

use std::path::{Path, PathBuf};

use super::{ConfigError, PartnerSet, load_partners};

// Test-only public keys (the private halves were thrown away).

/// EC P-256, `kid` "k1" in the fixtures.
pub const EC_X: &str = "wW6XGbIqBY4bIC_KIG5GWucasZ0cqzOXFWwPfxnu4Og";
pub const EC_Y: &str = "zv53JWdvZrnN14zQJ1TtL9VaClodCFwu-rIpBQ4E1tI";
/// A second EC P-256 key.
pub const EC2_X: &str = "Lzpuaqjw7g2HHXwD5S6jBkSC_7i5f8UjFs_dBWXeLTU";
pub const EC2_Y: &str = "bV5EcygmzxoSM0623yj6DYDWdz2UmRf0R-YQRmKzqHI";
/// RSA 2048-bit modulus; exponent AQAB.
pub const RSA_2048_N: &str = "tke-uX4Ow7_vMdBNZ0fEJScDskWEJQrfC-WrDWNdh6c5Ju3zShP7VrSH6kiNuW-YlzQB3fHR1v8ceIYff5Gzl3KTliFtUN3xNp6mY2MBIOciG1B4Cf_CzbdCJVoiLjx46cZs4Onp13OcIx8LKxjZ1RrCxfCqfKm-Q4ySMEyLgdyDpkia3iPlXXii0stIyj8KfaJw9sxeOe4VlRs2rldWukYIkARo4WqodGU0i4eYEEBUY4I-Z2RE994RTkOmiM-sagSsx10CMiiA6BGRzIOsLdc49KFQWFKYnuMk9iJwuQsqj0Q7TT7L-IlXS26DkP49_EP0gK0XVUrGzV7cEYDZHw";
/// RSA 1024-bit modulus: too short.
pub const RSA_1024_N: &str = "ytVb8IS55hJphFI7I2zGZzoxu0x3p3AWMBUwywSTLEiqASZNLvTE75ihdow1MMWw4lJMNzfIRRe9O1EGagCn-FqD2lQ0KA1Gl6uJ8Ui7C2ytciFghzA0ol2CA4NDCXosdZRm7Q9thUuZydlR0kYam6Q16zDBnWgeEAfG4Yjvym0";

/// The EC key "k1" as an inline TOML JWK.
pub fn ec_jwk(kid: &str) -> String {
    format!(r#"{{ kty = "EC", crv = "P-256", kid = "{kid}", x = "{EC_X}", y = "{EC_Y}" }}"#)
}

/// A valid partner file; tests break it with `str::replace`.
pub fn partner_toml(id: &str) -> String {
    format!(
        r#"id = "{id}"
display_name = "SkyTrip Travel"
status = "active"
environment = "sandbox"
security_level = "A1"
scopes = ["products:read"]
redirect_uris = ["https://skytrip.example/callback"]
webhook_url = "https://skytrip.example/hooks/scenegate"

[rate_limit]
requests_per_second = 20
burst = 40

[keys]
jwks = {{ keys = [ {jwk} ] }}

[adapter]
name = "native"

[contact]
name = "Li Wei"
email = "api@skytrip.example"
"#,
        jwk = ec_jwk("k1")
    )
}

/// A partners directory in a temp dir; errors render with paths relative to it.
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write fixture");
        path
    }

    pub fn load(&self) -> Result<PartnerSet, Vec<ConfigError>> {
        load_partners(self.path())
    }

    /// Every error of loading the directory, one per line, paths relative to the temp dir.
    pub fn errors(&self) -> String {
        match self.load() {
            Ok(set) => panic!("expected errors, loaded {} partner(s)", set.len()),
            Err(errors) => self.render(&errors),
        }
    }

    pub fn render(&self, errors: &[ConfigError]) -> String {
        let prefix = format!("{}/", self.path().display());
        errors.iter().map(|e| e.to_string().replace(&prefix, "")).collect::<Vec<_>>().join("\n")
    }
}

/// Errors of a directory holding just `skytrip.toml` with `text`.
pub fn errors_of(text: &str) -> String {
    let dir = TestDir::new();
    dir.write("skytrip.toml", text);
    dir.errors()
}
