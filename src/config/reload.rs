//! Hot reload of partner files: notify → debounce → [`PartnerRegistry::reload`].
//!
//! Folders are watched, not files: editors save through temporary files and renames, which a
//! per-file watch would lose. Watched are the partners folder and the folder of every file a
//! partner file names (its JWK Set file), so replacing or emptying a key file applies within
//! the same seconds as an edit of the partner file. A burst of events (one save can be five)
//! settles for [`DEBOUNCE`] before one reload.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};

use super::registry::PartnerRegistry;

/// Quiet time after the last change before reloading.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// Longest a change waits for the folders to go quiet.
const MAX_DELAY: Duration = Duration::from_secs(1);

/// Watches the partner folders while alive; dropping it stops the watch, and the reload
/// thread ends once it has finished any reload in progress.
pub struct PartnerWatcher {
    watch: Arc<Mutex<Watch>>,
    thread: thread::JoinHandle<()>,
}

impl PartnerWatcher {
    /// Stops watching and waits for the reload thread to finish any reload in progress.
    pub fn stop(self) {
        let Self { watch, thread } = self;
        drop(watch);
        let _ = thread.join();
    }
}

struct Watch {
    watcher: RecommendedWatcher,
    dirs: BTreeSet<PathBuf>,
}

impl std::fmt::Debug for PartnerWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dirs = self.watch.lock().map(|w| w.dirs.clone()).unwrap_or_default();
        f.debug_struct("PartnerWatcher").field("dirs", &dirs).finish_non_exhaustive()
    }
}

/// Starts watching what `registry` reads; every settled change reloads it. The reload runs on
/// its own thread, since loading is blocking file I/O; no runtime needed.
pub fn watch_partners(registry: Arc<PartnerRegistry>) -> notify::Result<PartnerWatcher> {
    let (events, changes) = mpsc::channel::<()>();
    let watcher = notify::recommended_watcher(move |event: notify::Result<Event>| match event {
        Ok(event) if is_relevant(&event) => {
            // The receiver is gone only when the reload thread has stopped; nothing to do then.
            let _ = events.send(());
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "partner config watch error"),
    })?;
    let watch = Arc::new(Mutex::new(Watch { watcher, dirs: BTreeSet::new() }));
    follow(&watch, registry.watched_dirs(), registry.dir())?;
    // The thread holds the watch weakly: dropping the `PartnerWatcher` drops the watcher, whose
    // sender then closes the channel and ends the thread.
    let weak = Arc::downgrade(&watch);
    let thread = thread::Builder::new()
        .name("partner-reload".into())
        .spawn(move || reload_loop(&registry, &weak, &changes))
        .map_err(notify::Error::io)?;
    Ok(PartnerWatcher { watch, thread })
}

/// Makes the watched folders exactly `wanted`. The partners folder must be watchable; a
/// referenced folder that is missing is logged (its file is then refused as unreadable).
fn follow(watch: &Mutex<Watch>, wanted: BTreeSet<PathBuf>, partners_dir: &Path) -> notify::Result<()> {
    let mut w = watch.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let stale: Vec<PathBuf> = w.dirs.difference(&wanted).cloned().collect();
    for dir in stale {
        let _ = w.watcher.unwatch(&dir);
        w.dirs.remove(&dir);
    }
    for dir in &wanted {
        if w.dirs.contains(dir) {
            continue;
        }
        match w.watcher.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                tracing::info!(dir = %dir.display(), "watching partner config");
                w.dirs.insert(dir.clone());
            }
            Err(e) if dir == partners_dir => return Err(e),
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot watch a folder a partner file names"),
        }
    }
    Ok(())
}

fn reload_loop(registry: &PartnerRegistry, watch: &std::sync::Weak<Mutex<Watch>>, changes: &Receiver<()>) {
    // `recv` fails once the watcher (holding the sender) is dropped: that ends the thread.
    while changes.recv().is_ok() {
        // Wait until the burst settles (every event restarts the quiet period), but no longer
        // than MAX_DELAY, so folders that never go quiet are still reloaded.
        let first = Instant::now();
        while first.elapsed() < MAX_DELAY {
            match changes.recv_timeout(DEBOUNCE) {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        // Errors are logged inside; refused files keep their last good versions.
        let _ = registry.reload();
        // A partner file may now name a key file in another folder: watch that one too.
        let Some(watch) = watch.upgrade() else { return };
        if let Err(e) = follow(&watch, registry.watched_dirs(), registry.dir()) {
            tracing::warn!(error = %e, "partner config watch not updated");
        }
    }
}

/// Any change in a watched folder, except to editor scratch files. Not only `*.toml`: a key
/// file may change, and Kubernetes updates a mounted ConfigMap by swapping a `..data`
/// symlink, which no event on a `.toml` path reports.
fn is_relevant(event: &Event) -> bool {
    let kind_matters =
        matches!(event.kind, EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any);
    kind_matters && !event.paths.iter().all(|p| is_scratch_file(p))
}

/// Vim swap files and its `4913` write probe, Emacs locks, `~` backups.
pub(super) fn is_scratch_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
    name == "4913"
        || name.starts_with(".#")
        || name.ends_with('~')
        || [".swp", ".swx", ".swo"].iter().any(|suffix| name.ends_with(suffix))
}
