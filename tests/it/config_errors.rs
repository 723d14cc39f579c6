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
    assert!(out.contains("3 partner(s)"), "{out}");
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
