//! The live registry and its hot reload: each partner file applies on its own, a refused
//! file keeps its last good version, key files are watched, staff stops win over files.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{EC_X, EC_Y, TestDir, partner_toml};
use crate::config::{PartnerRegistry, PartnerSet, PartnerStatus, ReloadReport, watch_partners};

const DEADLINE: Duration = Duration::from_secs(2);

/// Polls the registry's live set until `condition` holds; false if the deadline passes first.
fn eventually(registry: &PartnerRegistry, condition: impl Fn(&PartnerSet) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        if condition(&registry.live().load()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn status(set: &PartnerSet, id: &str) -> Option<PartnerStatus> {
    set.get(id).map(|p| p.status)
}

/// Writes through a temporary file and a rename, as most editors do.
fn save_like_an_editor(dir: &TestDir, name: &str, text: &str) {
    let temp = dir.write(&format!(".{name}.swp"), text);
    std::fs::rename(temp, dir.path().join(name)).expect("rename into place");
}

fn suspended(text: &str) -> String {
    text.replace("status = \"active\"", "status = \"suspended\"")
}

fn jwks_file(kids: &[&str]) -> String {
    let keys: Vec<String> = kids
        .iter()
        .map(|kid| format!(r#"{{"kty":"EC","crv":"P-256","kid":"{kid}","use":"sig","x":"{EC_X}","y":"{EC_Y}"}}"#))
        .collect();
    format!(r#"{{"keys":[{}]}}"#, keys.join(","))
}

#[test]
fn a_broken_file_keeps_its_last_good_version_and_blocks_no_other_change() {
    let dir = TestDir::new();
    dir.write("a.toml", &partner_toml("ptn_a"));
    dir.write("b.toml", &partner_toml("ptn_b"));
    let registry = PartnerRegistry::open(dir.path().to_path_buf()).expect("readable dir");
    assert_eq!(registry.reload().unwrap(), ReloadReport { partners: 2, rejected: 0 });

    // b breaks (an unknown key) and a is suspended in the same round.
    dir.write("b.toml", &partner_toml("ptn_b").replace("[rate_limit]", "rate_limt = 5\n[rate_limit]"));
    dir.write("a.toml", &suspended(&partner_toml("ptn_a")));
    assert_eq!(registry.reload().unwrap(), ReloadReport { partners: 2, rejected: 1 });
    let set = registry.live().load_full();
    assert_eq!(status(&set, "ptn_a"), Some(PartnerStatus::Suspended), "a's change applies despite b");
    assert_eq!(status(&set, "ptn_b"), Some(PartnerStatus::Active), "b keeps its last good version");
    let rejected = set.rejected();
    assert_eq!(rejected.len(), 1);
    assert!(rejected[0].file.ends_with("b.toml"));
    assert_eq!(rejected[0].serving.as_deref(), Some("ptn_b"));
    assert!(rejected[0].errors[0].to_string().contains("rate_limt"), "{:?}", rejected[0].errors);

    // A new file that never loaded is simply not served, and reported.
    dir.write("c.toml", "id = \"ptn_c\"\n");
    assert_eq!(registry.reload().unwrap(), ReloadReport { partners: 2, rejected: 2 });
    assert!(registry.live().load().get("ptn_c").is_none());

    // Fixed files apply and leave the rejected list.
    dir.write("b.toml", &partner_toml("ptn_b"));
    std::fs::remove_file(dir.path().join("c.toml")).unwrap();
    assert_eq!(registry.reload().unwrap(), ReloadReport { partners: 2, rejected: 0 });
}

#[test]
fn a_duplicate_id_refuses_only_the_newcomer() {
    let dir = TestDir::new();
    dir.write("a.toml", &partner_toml("ptn_a"));
    dir.write("b.toml", &partner_toml("ptn_b"));
    let registry = PartnerRegistry::open(dir.path().to_path_buf()).unwrap();

    // b now claims a's id while a changes its status: a applies, b keeps serving ptn_b.
    dir.write("b.toml", &partner_toml("ptn_a"));
    dir.write("a.toml", &suspended(&partner_toml("ptn_a")));
    assert_eq!(registry.reload().unwrap(), ReloadReport { partners: 2, rejected: 1 });
    let set = registry.live().load_full();
    assert_eq!(status(&set, "ptn_a"), Some(PartnerStatus::Suspended));
    assert!(set.get("ptn_a").unwrap().source.ends_with("a.toml"));
    assert!(set.get("ptn_b").is_some(), "b falls back to its last good version");
    let reason = &set.rejected()[0].errors[0];
    assert!(reason.file.ends_with("b.toml") && reason.field == "id", "{reason}");
    assert!(reason.reason.contains("a.toml"), "names the holder: {reason}");

    // Two new files claiming one id: neither is applied.
    dir.write("x.toml", &partner_toml("ptn_x"));
    dir.write("y.toml", &partner_toml("ptn_x"));
    assert_eq!(registry.reload().unwrap(), ReloadReport { partners: 2, rejected: 3 });
    assert!(registry.live().load().get("ptn_x").is_none());
}

#[test]
fn staff_stops_win_over_files_and_survive_reloads() {
    let dir = TestDir::new();
    dir.write("a.toml", &partner_toml("ptn_a"));
    let registry = PartnerRegistry::open(dir.path().to_path_buf()).unwrap();
    assert!(registry.apply_stops(BTreeSet::from(["ptn_a".to_owned()])));
    assert!(!registry.apply_stops(BTreeSet::from(["ptn_a".to_owned()])), "unchanged: no recompose");
    let stopped = registry.live().load().get("ptn_a").cloned().unwrap();
    assert_eq!((stopped.status, stopped.staff_stop), (PartnerStatus::Suspended, true));

    // A reload (even of a file saying active) keeps the stop.
    dir.write("a.toml", &partner_toml("ptn_a").replace("SkyTrip Travel", "SkyTrip"));
    registry.reload().unwrap();
    assert_eq!(status(&registry.live().load(), "ptn_a"), Some(PartnerStatus::Suspended));

    registry.apply_stops(BTreeSet::new());
    assert_eq!(status(&registry.live().load(), "ptn_a"), Some(PartnerStatus::Active), "the file's status again");
}

#[test]
fn the_watcher_applies_edits_of_a_referenced_key_file() {
    let dir = TestDir::new();
    dir.write("keys/a.jwks.json", &jwks_file(&["k1", "k2"]));
    let with_file = partner_toml("ptn_a")
        .replace(&format!("jwks = {{ keys = [ {} ] }}", super::ec_jwk("k1")), "jwks_file = \"../keys/a.jwks.json\"");
    dir.write("partners/a.toml", &with_file);
    let registry = Arc::new(PartnerRegistry::open(dir.path().join("partners")).unwrap());
    assert!(registry.live().load().get("ptn_a").unwrap().key("k2").is_some());
    let _watcher = watch_partners(Arc::clone(&registry)).expect("watch");

    // Only the key file changes: the compromised key k2 is removed.
    std::fs::write(dir.path().join("keys/a.jwks.json"), jwks_file(&["k1"])).unwrap();
    assert!(eventually(&registry, |set| set.get("ptn_a").is_some_and(|p| p.key("k2").is_none())), "k2 removed");

    // Emptied entirely (an emergency): accepted, the partner simply has no key.
    save_like_an_editor(&dir, "keys/a.jwks.json", &jwks_file(&[]));
    assert!(eventually(&registry, |set| set.get("ptn_a").is_some_and(|p| p.keys.is_empty())), "keys emptied");
}

#[test]
fn the_watcher_applies_good_edits_and_reports_bad_ones() {
    let dir = TestDir::new();
    let good = partner_toml("ptn_skytrip");
    dir.write("skytrip.toml", &good);
    dir.write("other.toml", &partner_toml("ptn_other"));
    let registry = Arc::new(PartnerRegistry::open(dir.path().to_path_buf()).unwrap());
    let _watcher = watch_partners(Arc::clone(&registry)).expect("watch");

    dir.write("skytrip.toml", &suspended(&good));
    assert!(eventually(&registry, |set| status(set, "ptn_skytrip") == Some(PartnerStatus::Suspended)), "applied");

    dir.write("skytrip.toml", &suspended(&good).replace("burst = 40", "burst = 0"));
    assert!(eventually(&registry, |set| set.rejected().len() == 1), "refusal reported");
    assert_eq!(status(&registry.live().load(), "ptn_skytrip"), Some(PartnerStatus::Suspended), "last good kept");

    save_like_an_editor(&dir, "skytrip.toml", &good);
    assert!(eventually(&registry, |set| status(set, "ptn_skytrip") == Some(PartnerStatus::Active)), "fix applied");
    assert!(registry.live().load().rejected().is_empty());

    std::fs::remove_file(dir.path().join("other.toml")).expect("remove");
    assert!(eventually(&registry, |set| set.get("ptn_other").is_none() && set.len() == 1), "removal applied");
}

#[test]
fn stopping_the_watcher_ends_its_reload_thread() {
    let dir = TestDir::new();
    dir.write("a.toml", &partner_toml("ptn_a"));
    let registry = Arc::new(PartnerRegistry::open(dir.path().to_path_buf()).unwrap());
    let watcher = watch_partners(Arc::clone(&registry)).expect("watch");
    // Returns once the reload thread has ended: no reload can happen after this.
    watcher.stop();
    assert_eq!(Arc::strong_count(&registry), 1, "the thread released the registry");
}
