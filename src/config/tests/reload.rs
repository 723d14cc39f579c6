//! Hot reload: a good edit is applied within 2 s, a bad one changes nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::{TestDir, partner_toml};
use crate::config::{PartnerSet, PartnerStatus, load_partners, reload_now, watch_partners};

const DEADLINE: Duration = Duration::from_secs(2);

/// Polls `live` until `condition` holds; false if the deadline passes first.
fn eventually(live: &ArcSwap<PartnerSet>, condition: impl Fn(&PartnerSet) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        if condition(&live.load()) {
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

#[test]
fn reload_now_swaps_only_a_fully_valid_set() {
    let dir = TestDir::new();
    dir.write("a.toml", &partner_toml("ptn_a"));
    let live = ArcSwap::from_pointee(PartnerSet::empty());
    assert_eq!(reload_now(dir.path(), &live).expect("valid"), 1);
    dir.write("b.toml", "id = \"ptn_b\"\n");
    let errors = reload_now(dir.path(), &live).expect_err("b is incomplete");
    assert_eq!(errors.len(), 1);
    assert_eq!(live.load().len(), 1, "last good set kept");
}

#[test]
fn watcher_applies_good_edits_and_keeps_the_last_good_set_on_bad_ones() {
    let dir = TestDir::new();
    let good = partner_toml("ptn_skytrip");
    dir.write("skytrip.toml", &good);
    dir.write("other.toml", &partner_toml("ptn_other"));
    let live = Arc::new(ArcSwap::from_pointee(load_partners(dir.path()).expect("valid dir")));
    let _watcher = watch_partners(dir.path().to_path_buf(), Arc::clone(&live)).expect("watch");

    let suspended = good.replace("status = \"active\"", "status = \"suspended\"");
    dir.write("skytrip.toml", &suspended);
    assert!(eventually(&live, |set| status(set, "ptn_skytrip") == Some(PartnerStatus::Suspended)), "edit applied");

    let before = live.load_full();
    dir.write("skytrip.toml", &suspended.replace("burst = 40", "burst = 0"));
    // Give the watcher time to see and refuse it: the set must still be the same one.
    std::thread::sleep(crate::config::reload::DEBOUNCE * 4);
    assert!(Arc::ptr_eq(&before, &live.load_full()), "invalid edit must not replace the set");
    assert_eq!(status(&live.load(), "ptn_skytrip"), Some(PartnerStatus::Suspended));

    save_like_an_editor(&dir, "skytrip.toml", &good);
    assert!(eventually(&live, |set| status(set, "ptn_skytrip") == Some(PartnerStatus::Active)), "fix applied");

    std::fs::remove_file(dir.path().join("other.toml")).expect("remove");
    assert!(eventually(&live, |set| set.get("ptn_other").is_none() && set.len() == 1), "removal applied");
}

#[test]
fn dropping_the_watcher_stops_reloads() {
    let dir = TestDir::new();
    dir.write("a.toml", &partner_toml("ptn_a"));
    let live = Arc::new(ArcSwap::from_pointee(load_partners(dir.path()).expect("valid")));
    let watcher = watch_partners(dir.path().to_path_buf(), Arc::clone(&live)).expect("watch");
    drop(watcher);
    dir.write("b.toml", &partner_toml("ptn_b"));
    std::thread::sleep(crate::config::reload::DEBOUNCE * 4);
    assert_eq!(live.load().len(), 1);
}
