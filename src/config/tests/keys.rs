//! `[keys]`: inline JWK Sets and `jwks_file`, and the exact error for each refused key.

use jsonwebtoken::Algorithm;

use super::{EC_X, EC_Y, EC2_X, EC2_Y, RSA_1024_N, RSA_2048_N, TestDir, ec_jwk, errors_of, partner_toml};

/// The fixture partner with its `jwks = ...` line replaced by `keys_section` lines.
fn with_keys(keys_section: &str) -> String {
    let text = partner_toml("ptn_skytrip");
    let start = text.find("jwks = ").expect("fixture has inline jwks");
    let end = start + text[start..].find('\n').expect("line end");
    format!("{}{keys_section}{}", &text[..start], &text[end..])
}

fn inline(keys: &[String]) -> String {
    with_keys(&format!("jwks = {{ keys = [ {} ] }}", keys.join(", ")))
}

fn rsa_jwk(kid: &str, n: &str, extra: &str) -> String {
    format!(r#"{{ kty = "RSA", kid = "{kid}", n = "{n}", e = "AQAB"{extra} }}"#)
}

#[test]
fn ec_and_rsa_keys_load_with_their_algorithms() {
    let second_ec = format!(
        r#"{{ kty = "EC", crv = "P-256", kid = "k2", alg = "ES256", use = "sig", x = "{EC2_X}", y = "{EC2_Y}" }}"#
    );
    let text = inline(&[ec_jwk("k1"), second_ec, rsa_jwk("r1", RSA_2048_N, r#", alg = "PS256""#)]);
    let dir = TestDir::new();
    dir.write("skytrip.toml", &text);
    let set = dir.load().expect("valid keys");
    let partner = set.get("ptn_skytrip").expect("loaded");
    let algs: Vec<_> = partner.keys.iter().map(|k| (k.kid.as_str(), k.algorithm)).collect();
    assert_eq!(algs, [("k1", Algorithm::ES256), ("k2", Algorithm::ES256), ("r1", Algorithm::PS256)]);
}

#[test]
fn private_key_in_jwks() {
    let text = inline(&[format!(
        r#"{{ kty = "EC", crv = "P-256", kid = "k1", x = "{EC_X}", y = "{EC_Y}", d = "QqXPEF-TBpU21slxzl-YQ8WNZcbiTaqhJKTv_sMnbvU" }}"#
    )]);
    insta::assert_snapshot!(errors_of(&text), @"skytrip.toml:15:19: `keys.jwks.keys[0].d`: this is private key material: never send us a private key. Remove it, and since it has left your hands, generate a new key pair and send only its public key");
}

#[test]
fn alg_rs256_in_jwks() {
    let text = inline(&[rsa_jwk("r1", RSA_2048_N, r#", alg = "RS256""#)]);
    insta::assert_snapshot!(errors_of(&text), @"skytrip.toml:15:19: `keys.jwks.keys[0].alg`: `RS256` is not accepted; only ES256 (EC P-256) and PS256 (RSA) are, so use PS256 for this RSA key");
}

#[test]
fn alg_of_the_other_key_type() {
    let text =
        inline(&[format!(r#"{{ kty = "EC", crv = "P-256", kid = "k1", alg = "PS256", x = "{EC_X}", y = "{EC_Y}" }}"#)]);
    insta::assert_snapshot!(errors_of(&text), @"skytrip.toml:15:19: `keys.jwks.keys[0].alg`: `PS256` does not match this EC P-256 key; use ES256 or leave `alg` out");
}

#[test]
fn duplicate_kid() {
    let text = inline(&[
        ec_jwk("k1"),
        format!(r#"{{ kty = "EC", crv = "P-256", kid = "k1", x = "{EC2_X}", y = "{EC2_Y}" }}"#),
    ]);
    insta::assert_snapshot!(errors_of(&text), @"skytrip.toml:15:164: `keys.jwks.keys[1].kid`: kid `k1` is used by an earlier key; kids must be unique");
}

#[test]
fn each_refused_key_is_reported() {
    let bad_point = format!(r#"{{ kty = "EC", crv = "P-256", kid = "bent", x = "{EC_X}", y = "{EC2_Y}" }}"#);
    let text = inline(&[
        format!(r#"{{ kty = "EC", crv = "P-384", kid = "p384", x = "{EC_X}", y = "{EC_Y}" }}"#),
        bad_point,
        rsa_jwk("small", RSA_1024_N, ""),
        format!(r#"{{ kty = "EC", crv = "P-256", x = "{EC_X}", y = "{EC_Y}" }}"#),
        format!(r#"{{ kty = "EC", crv = "P-256", kid = "enc", use = "enc", x = "{EC_X}", y = "{EC_Y}" }}"#),
        r#"{ kty = "oct", kid = "hmac", k = "c2VjcmV0" }"#.to_owned(),
        r#"{ kty = "OKP", crv = "Ed25519", kid = "ed", x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }"#.to_owned(),
    ]);
    insta::assert_snapshot!(errors_of(&text), @r#"
        skytrip.toml:15:19: `keys.jwks.keys[0].crv`: curve `P-384` is not accepted; only P-256 (ES256)
        skytrip.toml:15:166: `keys.jwks.keys[1].x`: `x` and `y` are not a point on the P-256 curve
        skytrip.toml:15:313: `keys.jwks.keys[2].n`: the modulus is 1024 bits; at least 2048 are required
        skytrip.toml:15:536: `keys.jwks.keys[3].kid`: every key needs a non-empty, unique `kid`
        skytrip.toml:15:669: `keys.jwks.keys[4].use`: is `enc`; only signing keys (`sig`) are accepted
        skytrip.toml:15:828: `keys.jwks.keys[5].k`: this is private key material: never send us a private key. Remove it, and since it has left your hands, generate a new key pair and send only its public key
        skytrip.toml:15:875: `keys.jwks.keys[6].kty`: key type `OKP` is not accepted; use EC P-256 (ES256) or RSA of at least 2048 bits (PS256)
        "#);
}

#[test]
fn an_emptied_key_set_loads_so_a_compromised_key_can_always_be_removed() {
    let dir = TestDir::new();
    dir.write("skytrip.toml", &with_keys("jwks = { keys = [] }"));
    let partners = dir.load().expect("an empty key set is an emergency action, never refused");
    assert!(partners.get("ptn_skytrip").expect("loaded").keys.is_empty());
}

#[test]
fn neither_or_both_sources() {
    insta::assert_snapshot!(errors_of(&with_keys("")), @"skytrip.toml:14:1: `keys`: no keys: give `jwks` (an inline JWK Set) or `jwks_file` (a path to one)");
    let both = with_keys(&format!("jwks = {{ keys = [ {} ] }}\njwks_file = \"k.json\"", ec_jwk("k1")));
    insta::assert_snapshot!(errors_of(&both), @"skytrip.toml:16:13: `keys.jwks_file`: give either `jwks` or `jwks_file`, not both");
}

#[test]
fn jwks_file_relative_to_the_partner_file_loads() {
    let dir = TestDir::new();
    let set = format!(r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"f1","use":"sig","x":"{EC_X}","y":"{EC_Y}"}}]}}"#);
    dir.write("keys/skytrip.jwks.json", &set);
    dir.write("partners/skytrip.toml", &with_keys(r#"jwks_file = "../keys/skytrip.jwks.json""#));
    let partners = crate::config::load_partners(&dir.path().join("partners")).expect("valid");
    let partner = partners.get("ptn_skytrip").expect("loaded");
    assert_eq!(partner.key("f1").map(|k| k.algorithm), Some(Algorithm::ES256));
}

#[test]
fn missing_jwks_file() {
    let dir = TestDir::new();
    dir.write("skytrip.toml", &with_keys(r#"jwks_file = "../demo-keys/skytrip.jwks.json""#));
    insta::assert_snapshot!(dir.errors(), @"skytrip.toml:15:13: `keys.jwks_file`: cannot read `../demo-keys/skytrip.jwks.json` (resolved to `../demo-keys/skytrip.jwks.json`): No such file or directory (os error 2)");
}

#[test]
fn errors_inside_a_jwks_file_name_the_key() {
    let dir = TestDir::new();
    let set = format!(
        r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"f1","x":"{EC_X}","y":"{EC_Y}"}},{{"kty":"RSA","kid":"f2","alg":"RS256","n":"{RSA_2048_N}","e":"AQAB"}},{{"kty":"EC","crv":"P-256","x":"{EC_X}","y":"{EC_Y}","d":"AA"}}]}}"#
    );
    dir.write("skytrip.jwks.json", &set);
    dir.write("skytrip.toml", &with_keys(r#"jwks_file = "skytrip.jwks.json""#));
    insta::assert_snapshot!(dir.errors(), @r#"
        skytrip.toml:15:13: `keys.jwks_file`: in `skytrip.jwks.json`, key 1 (kid `f2`), `alg`: `RS256` is not accepted; only ES256 (EC P-256) and PS256 (RSA) are, so use PS256 for this RSA key
        skytrip.toml:15:13: `keys.jwks_file`: in `skytrip.jwks.json`, key 2 (no kid), `d`: this is private key material: never send us a private key. Remove it, and since it has left your hands, generate a new key pair and send only its public key
        "#);
}

#[test]
fn jwks_file_that_is_not_a_jwk_set() {
    let dir = TestDir::new();
    dir.write("a.json", "{\"keys\": [");
    dir.write("b.json", "[1, 2]");
    dir.write("a.toml", &with_keys(r#"jwks_file = "a.json""#).replace("ptn_skytrip", "ptn_a"));
    dir.write("b.toml", &with_keys(r#"jwks_file = "b.json""#).replace("ptn_skytrip", "ptn_b"));
    insta::assert_snapshot!(dir.errors(), @r#"
        a.toml:15:13: `keys.jwks_file`: `a.json` is not valid JSON: EOF while parsing a list at line 1 column 10
        b.toml:15:13: `keys.jwks_file`: `b.json` is not a JWK Set: expected an object with a `keys` array
        "#);
}
