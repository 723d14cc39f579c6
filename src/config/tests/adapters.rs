//! A partner of a signed-request adapter: its `[[keys.protocol]]`, its settings, and the
//! capability check, each refused with the file, line and field.

use super::{TestDir, errors_of};

fn demo_key(name: &str) -> String {
    format!("{}/config/demo-keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// An open-platform partner: `scopes` and the `[[keys.protocol]]` key file and suite given.
fn open_platform(scopes: &str, key_file: &str, suite: &str) -> String {
    format!(
        r#"id = "ptn_skytrip"
display_name = "SkyTrip"
status = "active"
environment = "sandbox"
security_level = "A2"
risk_assessment_ref = "RA-1"
scopes = [{scopes}]

[keys]
[[keys.protocol]]
id = "k1"
suite = "{suite}"
file = "{key_file}"

[adapter]
name = "open-platform"
[adapter.settings]
app_id = "2026000000000001"
sign_type = "RSA2"
response_key_file = "{response}"
"#,
        response = demo_key("gateway-open-platform.rsa.private.pem"),
    )
}

#[test]
fn an_open_platform_partner_with_its_protocol_key_loads_without_a_jwk_set() {
    let text = open_platform(r#""products:read""#, &demo_key("ptn_metrogo.rsa.public.pem"), "RSA2");
    let dir = TestDir::new();
    dir.write("skytrip.toml", &text);
    let set = dir.load().expect("an open-platform partner loads");
    let partner = set.get("ptn_skytrip").expect("loaded");
    assert_eq!(partner.adapter_name, "open-platform");
    assert!(partner.keys.is_empty(), "no JWK Set: no token endpoint for it");
}

#[test]
fn a_scope_the_adapter_cannot_carry_is_refused() {
    let text = open_platform(r#""products:read", "consents:write""#, &demo_key("ptn_metrogo.rsa.public.pem"), "RSA2");
    insta::assert_snapshot!(errors_of(&text), @"skytrip.toml:16:8: `adapter.name`: adapter `open-platform` carries no operation that needs scope `consents:write`");
}

#[test]
fn a_private_key_registered_as_a_protocol_key_is_refused() {
    let text = open_platform(r#""products:read""#, &demo_key("ptn_metrogo.rsa.private.pem"), "RSA2");
    let errors = errors_of(&text);
    assert!(errors.starts_with("skytrip.toml:13:8: `keys.protocol[0].file`:"), "{errors}");
    assert!(errors.contains("holds a private key"), "{errors}");
}

#[test]
fn a_key_of_another_suite_than_the_partner_signs_with_is_refused() {
    let text = open_platform(r#""products:read""#, &demo_key("ptn_metrogo.sm2.public.pem"), "SM2");
    let errors = errors_of(&text);
    assert!(errors.contains("`keys.protocol[0].suite`: is a SM2 key; this partner signs with RSA2"), "{errors}");
}

#[test]
fn an_unknown_suite_is_refused_with_the_known_ones() {
    let text = open_platform(r#""products:read""#, &demo_key("ptn_metrogo.rsa.public.pem"), "MD5");
    insta::assert_snapshot!(errors_of(&text), @"skytrip.toml:12:9: `keys.protocol[0].suite`: must be one of RSA2, SM2");
}

#[test]
fn a_standard_api_partner_takes_no_protocol_keys() {
    let text = open_platform(r#""products:read""#, &demo_key("ptn_metrogo.rsa.public.pem"), "RSA2")
        .replace("name = \"open-platform\"", "name = \"native\"");
    let errors = errors_of(&text);
    assert!(errors.contains("`keys.protocol`: adapter `native` authenticates with access tokens"), "{errors}");
}

/// A legacy-mac partner with `scopes`.
fn legacy_mac(scopes: &str) -> String {
    format!(
        r#"id = "ptn_skytrip"
display_name = "SkyTrip"
status = "active"
environment = "sandbox"
security_level = "A2"
risk_assessment_ref = "RA-1"
scopes = [{scopes}]

[keys]
jwks = {{ keys = [] }}

[adapter]
name = "legacy-mac"
[adapter.settings]
mch_id = "10000100"
sign_type = "HMAC-SM3"
key_file = "{key}"
"#,
        key = demo_key("ptn_rateboard.mackey"),
    )
}

#[test]
fn a_shared_key_protocol_is_refused_for_account_and_money_scopes() {
    let dir = TestDir::new();
    dir.write("skytrip.toml", &legacy_mac(r#""products:read""#));
    assert!(dir.load().is_ok(), "product data over a MAC is allowed");
    insta::assert_snapshot!(errors_of(&legacy_mac(r#""products:read", "accounts:read""#)), @"skytrip.toml:13:8: `adapter.name`: adapter `legacy-mac` carries A1 data only: its requests are authenticated with a key the bank shares (a MAC), which JR/T 0185 does not accept for account and money data; scope `accounts:read` needs A2, so this partner needs a protocol with its own key pair (e.g. `open-platform`)");
}

#[test]
fn a_webhook_secret_is_required_only_where_standard_webhooks_are_sent() {
    let native = super::partner_toml("ptn_skytrip")
        .replace("[adapter]", "[webhooks]\nallow_private_network = true\n\n[adapter]");
    insta::assert_snapshot!(errors_of(&native), @"skytrip.toml:17:1: `webhooks.secret_file`: required: the `whsec_…` secret Standard Webhooks are signed with (this partner's adapter sends Standard Webhooks)");
    let open_platform = open_platform(r#""products:read""#, &demo_key("ptn_metrogo.rsa.public.pem"), "RSA2")
        .replace("[adapter]", "[webhooks]\nallow_private_network = true\n\n[adapter]");
    let dir = TestDir::new();
    dir.write("skytrip.toml", &open_platform);
    assert!(dir.load().is_ok(), "the open-platform adapter signs its own notifications");
}

#[test]
fn an_oversized_key_file_is_refused_without_being_read_whole() {
    let dir = TestDir::new();
    let big = dir.write("big.pem", &format!("-----BEGIN PUBLIC KEY-----\n{}\n", "A".repeat(20_000)));
    let text = open_platform(r#""products:read""#, big.to_str().unwrap(), "RSA2");
    dir.write("skytrip.toml", &text);
    let errors = dir.errors();
    assert!(errors.contains("`keys.protocol[0].file`") && errors.contains("larger than 16384 bytes"), "{errors}");
}
