//! `scenegate check-config` names file, line, column and field for every error.

use std::process::Command;

use crate::support::{BIN, fixtures};

fn check(dir: &std::path::Path) -> (bool, String) {
    let out = Command::new(BIN).args(["check-config", "."]).current_dir(dir).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    (out.status.success(), format!("{stdout}{stderr}"))
}

#[test]
fn the_shipped_config_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let (ok, out) = check(&dir);
    assert!(ok, "{out}");
    assert!(out.contains("7 partner(s)"), "{out}");
}

#[test]
fn broken_partner_files_are_reported_with_their_places() {
    let dir = fixtures().join("config-broken");
    let (ok, out) = check(&dir);
    assert!(!ok);
    // Paths are relative to the folder checked; absolute ones in reasons are masked, so the
    // snapshot is the same on every machine.
    insta::assert_snapshot!(out.replace(dir.to_str().unwrap(), "[dir]"));
}

#[test]
fn a_partner_that_needs_a_client_certificate_on_a_gateway_that_asks_for_none_is_warned_about() {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let dir = tempfile::tempdir().unwrap();
    let copy = Command::new("cp").arg("-r").arg(&shipped).arg(dir.path().join("config")).status().unwrap();
    assert!(copy.success());
    let config = dir.path().join("config");
    let skytrip = config.join("partners/skytrip.toml");
    let text = std::fs::read_to_string(&skytrip).unwrap();
    std::fs::write(&skytrip, format!("{text}\n[mtls]\nsubject_dn = \"CN=skytrip-client,O=SkyTrip Ltd\"\n")).unwrap();
    let (ok, out) = check(&config);
    assert!(ok, "valid files, only a warning: {out}");
    assert!(out.contains("warning: ptn_skytrip") && out.contains("[mtls] needs [server.tls]"), "{out}");
}
