//! Staff tools from the command line: key pairs for onboarding, one partner file checked
//! before it goes live, the partner list and one partner's report.

use serde_json::Value;

use crate::support::{BIN, Stack, eventually, partner_toml};

#[tokio::test]
async fn keygen_makes_a_pair_a_partner_file_can_name_and_the_partner_can_sign_with() {
    let stack = Stack::start();
    let keys = stack.gw.dir.path().join("keys");
    let out = std::process::Command::new(BIN)
        .args(["keygen", "--partner", "ptn_newco", "--out", keys.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.contains("PRIVATE") && said.contains("jwks_file"), "{said}");
    let set: Value = serde_json::from_str(&std::fs::read_to_string(keys.join("ptn_newco.jwks.json")).unwrap()).unwrap();
    let kid = set["keys"][0]["kid"].as_str().unwrap().to_owned();

    // The partner file, checked alone first, then moved into the live folder.
    let fixture = crate::support::fixtures().join("keys/test-partner.jwks.json").display().to_string();
    let file = partner_toml("ptn_newco", "active", "").replace(&fixture, "../keys/ptn_newco.jwks.json");
    let staged = stack.gw.dir.path().join("newco.toml");
    std::fs::write(&staged, &file).unwrap();
    let check = std::process::Command::new(BIN).args(["check-config", staged.to_str().unwrap()]).output().unwrap();
    // Alone, outside the partners folder, the relative key path does not resolve: the check says so.
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stderr).contains("keys.jwks_file"));
    std::fs::write(
        &staged,
        file.replace("../keys/ptn_newco.jwks.json", keys.join("ptn_newco.jwks.json").to_str().unwrap()),
    )
    .unwrap();
    let check = std::process::Command::new(BIN).args(["check-config", staged.to_str().unwrap()]).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    assert!(String::from_utf8_lossy(&check.stdout).contains("OK, ptn_newco"));
    stack.gw.write_partner("newco", &std::fs::read_to_string(&staged).unwrap());

    // The partner signs with its new private key.
    let key =
        jsonwebtoken::EncodingKey::from_ec_pem(&std::fs::read(keys.join("ptn_newco.private.pem")).unwrap()).unwrap();
    let partner = stack.gw.partner("ptn_newco");
    let assertion = || {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, &partner.claims(), &key).unwrap()
    };
    let live = eventually(std::time::Duration::from_secs(3), || async {
        partner.token_with(&assertion(), None).await.status() == 200
    })
    .await;
    assert!(live, "{}", stack.gw.log());
}

#[tokio::test]
async fn partners_list_and_show_tell_staff_what_each_partner_is_and_does() {
    let stack = Stack::start();
    let out = stack.gw.cli(&["partner", "suspend", "ptn_beta", "--reason", "chargebacks"]);
    assert!(out.status.success());
    let out = stack.gw.cli(&["partners", "list"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list = String::from_utf8_lossy(&out.stdout).to_string();
    let alpha = list.lines().find(|l| l.starts_with("ptn_alpha")).unwrap_or_else(|| panic!("{list}"));
    assert!(alpha.contains("active") && alpha.contains("products:read") && alpha.contains("test-es256"), "{alpha}");
    let beta = list.lines().find(|l| l.starts_with("ptn_beta")).unwrap();
    assert!(beta.contains("STOPPED"), "{beta}");

    let out = stack.gw.cli(&["partners", "show", "ptn_beta"]);
    let show = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for needle in ["ptn_beta", "staff emergency stop", "chargebacks", "consents", "payments", "dead letters"] {
        assert!(show.contains(needle), "{needle} missing:\n{show}");
    }
    let out = stack.gw.cli(&["partners", "show", "ptn_nobody"]);
    assert!(!out.status.success());
}

#[test]
fn the_core_mock_listens_where_the_gateway_file_says() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(
        dir.path().join("gateway.toml"),
        format!("[core]\nbase_url = \"http://127.0.0.1:{port}\"\n[storage]\ndata_dir = \"data\"\n"),
    )
    .unwrap();
    let core = crate::support::spawn(&["core-mock", "--config", "gateway.toml"], dir.path());
    assert_eq!(core.url, format!("http://127.0.0.1:{port}"));
    assert!(dir.path().join("data/core/corebank.sqlite").exists());
}
