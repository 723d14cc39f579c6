//! Partner files: what loads, and the exact error for each rule.

use scenegate_adapter_contract::{Operation, SecurityLevel};

use super::{TestDir, ec_jwk, errors_of, partner_toml};
use crate::config::{Environment, KNOWN_SCOPES, PartnerStatus, SCOPES, min_level};

#[test]
fn valid_partner_file_loads_with_every_field() {
    let dir = TestDir::new();
    let source = dir.write("skytrip.toml", &partner_toml("ptn_skytrip"));
    let set = dir.load().expect("valid file");
    let partner = set.get("ptn_skytrip").expect("loaded");
    assert_eq!(set.len(), 1);
    assert_eq!(partner.display_name, "SkyTrip Travel");
    assert_eq!(partner.status, PartnerStatus::Active);
    assert!(partner.is_active());
    assert_eq!(partner.environment, Environment::Sandbox);
    assert_eq!(partner.security_level, SecurityLevel::A1);
    assert!(partner.scopes.contains("products:read"));
    assert_eq!(partner.redirect_uris, ["https://skytrip.example/callback"]);
    assert_eq!(partner.webhook_url.as_deref(), Some("https://skytrip.example/hooks/scenegate"));
    assert_eq!((partner.rate_limit.requests_per_second.get(), partner.rate_limit.burst.get()), (20, 40));
    assert_eq!(partner.key("k1").map(|k| k.algorithm), Some(jsonwebtoken::Algorithm::ES256));
    assert!(partner.key("k2").is_none());
    assert_eq!(partner.adapter_name, "native");
    assert_eq!(partner.contact.as_ref().map(|c| c.email.as_str()), Some("api@skytrip.example"));
    assert_eq!(partner.source, source);
}

#[test]
fn minimal_file_gets_default_rate_limit_and_no_optional_parts() {
    let text = format!(
        "id = \"ptn_min\"\ndisplay_name = \"Min\"\nstatus = \"suspended\"\nenvironment = \"production\"\n\
         security_level = \"A1\"\nscopes = [\"products:read\"]\n[keys]\njwks = {{ keys = [ {} ] }}\n\
         [adapter]\nname = \"native\"\n",
        ec_jwk("k1")
    );
    let dir = TestDir::new();
    dir.write("min.toml", &text);
    let set = dir.load().expect("valid");
    let partner = set.get("ptn_min").expect("loaded");
    assert!(!partner.is_active());
    assert_eq!((partner.rate_limit.requests_per_second.get(), partner.rate_limit.burst.get()), (10, 20));
    assert!(partner.redirect_uris.is_empty() && partner.webhook_url.is_none() && partner.contact.is_none());
    assert_eq!(set.active_count(), 0);
}

#[test]
fn only_visible_toml_files_directly_in_the_dir_are_read() {
    let dir = TestDir::new();
    dir.write("a.toml", &partner_toml("ptn_a"));
    dir.write("b.toml", &partner_toml("ptn_b"));
    dir.write("notes.md", "not a partner");
    dir.write(".c.toml", "hidden = editor lock");
    dir.write("sub/d.toml", "ignored = true");
    let set = dir.load().expect("valid");
    let ids: Vec<_> = set.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["ptn_a", "ptn_b"]);
}

#[test]
fn empty_dir_is_an_empty_set_and_a_missing_dir_is_an_error() {
    let dir = TestDir::new();
    assert!(dir.load().expect("empty dir").is_empty());
    let missing = dir.path().join("nope");
    let errors = crate::config::load_partners(&missing).expect_err("missing dir");
    assert_eq!(errors.len(), 1);
    assert_eq!((errors[0].field.as_str(), errors[0].line), ("partners.dir", 0));
}

#[test]
fn toml_syntax_error() {
    let text = partner_toml("ptn_skytrip").replace("\"SkyTrip Travel\"", "\"SkyTrip Travel");
    insta::assert_snapshot!(errors_of(&text), @r#"skytrip.toml:2:31: `display_name`: invalid TOML: invalid basic string, expected `"`"#);
    let text = partner_toml("ptn_skytrip").replace("burst = 40", "burst = = 40");
    insta::assert_snapshot!(errors_of(&text), @"skytrip.toml:12:9: `rate_limit.burst`: invalid TOML: extra `=`, expected nothing");
    let text = partner_toml("ptn_skytrip").replace("[adapter]", "[adapter");
    insta::assert_snapshot!(errors_of(&text), @"skytrip.toml:17:9: `(syntax)`: invalid TOML: unclosed table, expected `]`");
}

#[test]
fn unknown_key_at_top_level() {
    let text = partner_toml("ptn_skytrip").replace("status =", "homepage = \"https://skytrip.example\"\nstatus =");
    insta::assert_snapshot!(errors_of(&text), @"skytrip.toml:3:1: `homepage`: unknown field `homepage`, expected one of `id`, `display_name`, `status`, `environment`, `security_level`, `risk_assessment_ref`, `scopes`, `redirect_uris`, `webhook_url`, `rate_limit`, `keys`, `adapter`, `contact`, `payments`, `webhooks`, `mtls`, `dpop`");
}

#[test]
fn unknown_key_in_rate_limit() {
    let text = partner_toml("ptn_skytrip").replace("burst = 40", "brust = 40");
    insta::assert_snapshot!(errors_of(&text), @"skytrip.toml:12:1: `rate_limit.brust`: unknown field `brust`, expected `requests_per_second` or `burst`");
}

#[test]
fn missing_required_key() {
    let text = partner_toml("ptn_skytrip").replace("environment = \"sandbox\"\n", "");
    insta::assert_snapshot!(errors_of(&text), @"skytrip.toml:1:1: `environment`: missing field `environment`");
}

#[test]
fn bad_id() {
    let text = partner_toml("SkyTrip");
    insta::assert_snapshot!(errors_of(&text), @"skytrip.toml:1:6: `id`: `SkyTrip` is not a partner id: `ptn_` followed by 1 to 48 of a-z, 0-9, `_`, `-`");
}

#[test]
fn id_rules() {
    for good in ["ptn_a", "ptn_sky-trip_2", &format!("ptn_{}", "a".repeat(48))] {
        assert!(errors_of_or_ok(good), "{good} should be accepted");
    }
    for bad in ["ptn_", "ptn_Sky", "PTN_a", "ptn_a.b", "skytrip", &format!("ptn_{}", "a".repeat(49))] {
        assert!(!errors_of_or_ok(bad), "{bad} should be refused");
    }
}

fn errors_of_or_ok(id: &str) -> bool {
    let dir = TestDir::new();
    dir.write("p.toml", &partner_toml(id));
    dir.load().is_ok()
}

#[test]
fn unknown_scope() {
    let text = partner_toml("ptn_skytrip").replace(r#"["products:read"]"#, r#"["products:read", "accounts:read"]"#);
    insta::assert_snapshot!(errors_of(&text), @"skytrip.toml:6:28: `scopes[1]`: scope `accounts:read` needs security level A2; this partner is registered at A1");
}

#[test]
fn empty_and_duplicate_scopes() {
    let empty = partner_toml("ptn_skytrip").replace(r#"["products:read"]"#, "[]");
    insta::assert_snapshot!(errors_of(&empty), @"skytrip.toml:6:10: `scopes`: must list at least one scope; known scopes: `products:read`, `consents:write`, `accounts:read`, `payments:write`, `payments:initiate`, `events:read`");
    let twice = partner_toml("ptn_skytrip").replace(r#"["products:read"]"#, r#"["products:read", "products:read"]"#);
    insta::assert_snapshot!(errors_of(&twice), @"skytrip.toml:6:28: `scopes[1]`: `products:read` is listed twice");
}

#[test]
fn a2_without_risk_assessment_ref() {
    let text = partner_toml("ptn_skytrip").replace(r#"security_level = "A1""#, r#"security_level = "A2""#);
    insta::assert_snapshot!(errors_of(&text), @"skytrip.toml:5:18: `risk_assessment_ref`: required when `security_level` is A2: the reference of the partner's risk assessment (JR/T 0185)");
    let with_ref = text.replace("scopes =", "risk_assessment_ref = \"RA-2026-0142\"\nscopes =");
    let dir = TestDir::new();
    dir.write("skytrip.toml", &with_ref);
    let set = dir.load().expect("A2 with a reference loads");
    assert_eq!(set.get("ptn_skytrip").and_then(|p| p.risk_assessment_ref.as_deref()), Some("RA-2026-0142"));
}

#[test]
fn scope_table_is_consistent_with_the_operations() {
    assert_eq!(KNOWN_SCOPES.len(), SCOPES.len());
    assert!(SCOPES.iter().zip(KNOWN_SCOPES).all(|((name, ..), known)| name == known));
    assert_eq!(min_level("products:read"), Some(SecurityLevel::A1));
    assert_eq!(min_level("nope"), None);
    // A partner allowed a scope must be allowed every operation that scope opens.
    for op in Operation::ALL {
        let level = min_level(op.required_scope());
        assert!(level.is_some_and(|l| l >= op.security_level()), "{op:?} needs a scope at its level");
    }
}

#[test]
fn http_redirect_in_production() {
    let text = partner_toml("ptn_skytrip").replace("sandbox", "production").replace(
        r#"redirect_uris = ["https://skytrip.example/callback"]"#,
        r#"redirect_uris = ["https://skytrip.example/callback", "http://localhost:3000/cb"]"#,
    );
    insta::assert_snapshot!(errors_of(&text), @"skytrip.toml:7:54: `redirect_uris[1]`: must use https in production");
}

#[test]
fn url_rules_in_the_sandbox() {
    let with = |uris: &str, webhook: &str| {
        partner_toml("ptn_skytrip")
            .replace(r#"["https://skytrip.example/callback"]"#, uris)
            .replace(r#""https://skytrip.example/hooks/scenegate""#, webhook)
    };
    let local = with(r#"["http://localhost:3000/cb", "http://127.0.0.1/cb"]"#, r#""http://localhost:9000/hook""#);
    let dir = TestDir::new();
    dir.write("skytrip.toml", &local);
    assert!(dir.load().is_ok(), "loopback http is fine in the sandbox");
    let bad = with(
        r#"["http://skytrip.example/cb", "https://skytrip.example/cb#top", "/callback", "https://skytrip.example/callback", "https://skytrip.example/callback"]"#,
        r#""ftp://skytrip.example/""#,
    );
    insta::assert_snapshot!(errors_of(&bad), @r#"
        skytrip.toml:7:18: `redirect_uris[0]`: must use https; plain http is allowed in the sandbox only for localhost or 127.0.0.1
        skytrip.toml:7:47: `redirect_uris[1]`: must not have a fragment (`#...`)
        skytrip.toml:7:81: `redirect_uris[2]`: not an absolute URL: relative URL without a base
        skytrip.toml:7:130: `redirect_uris[4]`: is listed twice
        skytrip.toml:8:15: `webhook_url`: scheme `ftp` is not accepted; use https
        "#);
}

#[test]
fn rate_limit_out_of_range() {
    let text = partner_toml("ptn_skytrip")
        .replace("requests_per_second = 20", "requests_per_second = 0")
        .replace("burst = 40", "burst = 100001");
    insta::assert_snapshot!(errors_of(&text), @r#"
        skytrip.toml:11:23: `rate_limit.requests_per_second`: must be between 1 and 100000 (got 0)
        skytrip.toml:12:9: `rate_limit.burst`: must be between 1 and 100000 (got 100001)
        "#);
}

#[test]
fn unknown_adapter() {
    let text = partner_toml("ptn_skytrip").replace(r#"name = "native""#, r#"name = "alipay""#);
    insta::assert_snapshot!(errors_of(&text), @"skytrip.toml:18:8: `adapter.name`: unknown adapter `alipay`; known adapters: `native`, `open-platform`, `signed-rest`, `legacy-mac`, `iso20022`");
}

#[test]
fn adapter_settings_refused() {
    let text = partner_toml("ptn_skytrip")
        .replace(r#"name = "native""#, "name = \"native\"\nsettings = { flavour = \"strict\" }");
    insta::assert_snapshot!(errors_of(&text), @"skytrip.toml:19:14: `adapter.settings.flavour`: the native adapter takes no settings");
}

#[test]
fn bad_contact() {
    let text = partner_toml("ptn_skytrip").replace("api@skytrip.example", "api at skytrip").replace("Li Wei", " ");
    insta::assert_snapshot!(errors_of(&text), @r#"
        skytrip.toml:21:8: `contact.name`: must not be empty
        skytrip.toml:22:9: `contact.email`: `api at skytrip` is not an email address
        "#);
}

#[test]
fn duplicate_partner_id_across_two_files() {
    let dir = TestDir::new();
    dir.write("a-skytrip.toml", &partner_toml("ptn_skytrip"));
    dir.write("b-skytrip-copy.toml", &partner_toml("ptn_skytrip"));
    insta::assert_snapshot!(dir.errors(), @"b-skytrip-copy.toml:1:6: `id`: `ptn_skytrip` is already the id of `a-skytrip.toml`");
}

#[test]
fn several_errors_in_one_file_are_all_reported() {
    let text = partner_toml("SkyTrip")
        .replace("sandbox", "production")
        .replace(r#"["products:read"]"#, r#"["products:write"]"#)
        .replace("https://skytrip.example/callback", "http://skytrip.example/callback")
        .replace("burst = 40", "burst = 0")
        .replace(r#"name = "native""#, r#"name = "alipay""#);
    insta::assert_snapshot!(errors_of(&text), @r#"
        skytrip.toml:1:6: `id`: `SkyTrip` is not a partner id: `ptn_` followed by 1 to 48 of a-z, 0-9, `_`, `-`
        skytrip.toml:6:11: `scopes[0]`: unknown scope `products:write`; known scopes: `products:read`, `consents:write`, `accounts:read`, `payments:write`, `payments:initiate`, `events:read`
        skytrip.toml:7:18: `redirect_uris[0]`: must use https in production
        skytrip.toml:12:9: `rate_limit.burst`: must be between 1 and 100000 (got 0)
        skytrip.toml:18:8: `adapter.name`: unknown adapter `alipay`; known adapters: `native`, `open-platform`, `signed-rest`, `legacy-mac`, `iso20022`
        "#);
}

#[test]
fn errors_across_files_are_all_reported() {
    let dir = TestDir::new();
    dir.write("a.toml", &partner_toml("ptn_a").replace("burst = 40", "burst = -1"));
    dir.write("b.toml", &partner_toml("ptn_b"));
    dir.write("c.toml", "id = \"ptn_c\"\nstatus = \"paused\"\n");
    dir.write("d.toml", &partner_toml("ptn_d").replace("[contact]", "[contacts]"));
    insta::assert_snapshot!(dir.errors(), @r#"
        a.toml:12:9: `rate_limit.burst`: must be between 1 and 100000 (got -1)
        c.toml:1:1: `display_name`: missing field `display_name`
        c.toml:1:1: `environment`: missing field `environment`
        c.toml:1:1: `security_level`: missing field `security_level`
        c.toml:1:1: `keys`: missing field `keys`
        c.toml:1:1: `adapter`: missing field `adapter`
        c.toml:1:1: `scopes`: missing field `scopes`
        c.toml:2:10: `status`: unknown variant `paused`, expected `active` or `suspended`
        d.toml:20:2: `contacts`: unknown field `contacts`, expected one of `id`, `display_name`, `status`, `environment`, `security_level`, `risk_assessment_ref`, `scopes`, `redirect_uris`, `webhook_url`, `rate_limit`, `keys`, `adapter`, `contact`, `payments`, `webhooks`, `mtls`, `dpop`
        "#);
}

#[test]
fn debug_output_holds_no_key_material() {
    let dir = TestDir::new();
    dir.write("skytrip.toml", &partner_toml("ptn_skytrip"));
    let set = dir.load().expect("valid");
    let debug = format!("{:?}", set.get("ptn_skytrip").expect("loaded"));
    assert!(debug.contains("kid: \"k1\""), "{debug}");
    assert!(!debug.contains(&super::EC_X[..12]) && !debug.contains(&super::EC_Y[..12]), "{debug}");
}

#[test]
fn every_error_of_one_file_is_reported_in_one_run() {
    // Unknown keys (top level and nested), a wrong type, a missing key and value errors: one
    // run names them all, in file order, so one round of edits fixes the file.
    let dir = TestDir::new();
    let text = partner_toml("ptn_a")
        .replace("display_name = \"SkyTrip Travel\"\n", "")
        .replace("[rate_limit]", "colour = \"blue\"\n\n[rate_limit]")
        .replace("burst = 40", "burst = 0\nburts = 3")
        .replace("requests_per_second = 20", "requests_per_second = \"fast\"")
        .replace("scopes = [\"products:read\"]", "scopes = [\"products:read\", \"teleport\"]");
    dir.write("a.toml", &text);
    insta::assert_snapshot!(dir.errors(), @r#"
        a.toml:1:1: `display_name`: missing field `display_name`
        a.toml:5:28: `scopes[1]`: unknown scope `teleport`; known scopes: `products:read`, `consents:write`, `accounts:read`, `payments:write`, `payments:initiate`, `events:read`
        a.toml:9:1: `colour`: unknown field `colour`, expected one of `id`, `display_name`, `status`, `environment`, `security_level`, `risk_assessment_ref`, `scopes`, `redirect_uris`, `webhook_url`, `rate_limit`, `keys`, `adapter`, `contact`, `payments`, `webhooks`, `mtls`, `dpop`
        a.toml:12:23: `rate_limit.requests_per_second`: invalid type: string "fast", expected i64
        a.toml:13:9: `rate_limit.burst`: must be between 1 and 100000 (got 0)
        a.toml:14:1: `rate_limit.burts`: unknown field `burts`, expected `requests_per_second` or `burst`
        "#);
}

#[test]
fn mtls_thumbprints_are_checked_and_loaded() {
    let dir = TestDir::new();
    let good = "x".repeat(43);
    let text = partner_toml("ptn_a")
        .replace("[keys]", &format!("[mtls]\ncertificate_thumbprints = [\"{good}\", \"c2hh==\"]\n\n[keys]"));
    dir.write("a.toml", &text);
    let errors = dir.errors();
    assert!(errors.contains("`mtls.certificate_thumbprints[1]`: an x5t#S256 thumbprint"), "{errors}");
    let text =
        partner_toml("ptn_a").replace("[keys]", &format!("[mtls]\ncertificate_thumbprints = [\"{good}\"]\n\n[keys]"));
    dir.write("a.toml", &text);
    let set = dir.load().expect("valid");
    assert_eq!(set.get("ptn_a").unwrap().mtls.as_ref().unwrap().thumbprints, vec![good]);
}

#[test]
fn an_mtls_subject_is_read_as_a_distinguished_name_and_mtls_must_name_a_certificate() {
    let dir = TestDir::new();
    dir.write("a.toml", &partner_toml("ptn_a").replace("[keys]", "[mtls]\nsubject_dn = \"CN=acme,XX=1\"\n\n[keys]"));
    let errors = dir.errors();
    assert!(errors.contains("`mtls.subject_dn`: `XX` is not an attribute type"), "{errors}");
    dir.write("a.toml", &partner_toml("ptn_a").replace("[keys]", "[mtls]\n\n[keys]"));
    let errors = dir.errors();
    assert!(errors.contains("`mtls`: name the partner's certificates"), "{errors}");
    dir.write(
        "a.toml",
        &partner_toml("ptn_a").replace("[keys]", "[mtls]\nsubject_dn = \"CN=acme, O=Acme Ltd\"\n\n[keys]"),
    );
    let set = dir.load().expect("valid");
    let subject = set.get("ptn_a").unwrap().mtls.as_ref().unwrap().subject.clone().unwrap();
    assert_eq!(subject.to_string(), "CN=acme,O=Acme Ltd");
}

#[test]
fn the_documented_partner_id_pattern_is_the_rule() {
    let pattern = crate::config::PARTNER_ID_PATTERN;
    assert_eq!(pattern, "^ptn_[a-z0-9_-]{1,48}$", "change both together");
    for (id, ok) in [
        ("ptn_a", true),
        ("ptn_skytrip-2_x", true),
        (&format!("ptn_{}", "a".repeat(48)), true),
        (&format!("ptn_{}", "a".repeat(49)), false),
        ("ptn_", false),
        ("ptn_A", false),
        ("abc_x", false),
        ("ptn_a.b", false),
    ] {
        assert_eq!(crate::config::is_partner_id(id), ok, "{id}");
    }
}
