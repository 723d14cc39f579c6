//! Hot reload of the partners directory: notify → debounce → load every file → swap.
//!
//! The directory is watched, not the files: editors save through temporary files and
//! renames, which a per-file watch would lose. A burst of events (one save can be five)
//! settles for [`DEBOUNCE`] before one reload. A reload that finds any error changes nothing:
//! the gateway keeps serving the last good set rather than dropping partners mid-day.
//!
//! Only the partners directory is watched: a `jwks_file` kept elsewhere is re-read on the
//! next reload, not when it alone changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};

use super::errors::ConfigError;
use super::partner::{PartnerSet, load_partners};

/// Quiet time after the last change before reloading.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// Longest a change waits for the directory to go quiet.
const MAX_DELAY: Duration = Duration::from_secs(1);

/// Watches a partners directory while alive; dropping it stops the watch, and the reload
/// thread ends once it has finished any reload in progress.
pub struct PartnerWatcher {
    _watcher: RecommendedWatcher,
    dir: PathBuf,
}

impl std::fmt::Debug for PartnerWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerWatcher").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// Starts watching `dir`; every settled change reloads it into `live` (see [`reload_now`]).
/// The reload runs on its own thread, since loading is blocking file I/O; no runtime needed.
pub fn watch_partners(dir: PathBuf, live: Arc<ArcSwap<PartnerSet>>) -> notify::Result<PartnerWatcher> {
    let (events, changes) = mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| match event {
        Ok(event) if is_relevant(&event) => {
            // The receiver is gone only when the reload thread has stopped; nothing to do then.
            let _ = events.send(());
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "partner directory watch error"),
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    let thread_dir = dir.clone();
    thread::Builder::new()
        .name("partner-reload".into())
        .spawn(move || reload_loop(&thread_dir, &live, &changes))
        .map_err(notify::Error::io)?;
    tracing::info!(dir = %dir.display(), "watching partner files");
    Ok(PartnerWatcher { _watcher: watcher, dir })
}

/// Loads `dir` and, if every file is good, swaps the new set in. Returns the partner count,
/// or every error found (each also logged) with `live` untouched.
pub fn reload_now(dir: &Path, live: &ArcSwap<PartnerSet>) -> Result<usize, Vec<ConfigError>> {
    match load_partners(dir) {
        Ok(set) => {
            let count = set.len();
            live.store(Arc::new(set));
            tracing::info!(dir = %dir.display(), partners = count, "partner files reloaded");
            Ok(count)
        }
        Err(errors) => {
            for error in &errors {
                tracing::error!("{error}");
            }
            tracing::error!(
                dir = %dir.display(),
                errors = errors.len(),
                "partner files rejected; still serving the previous set"
            );
            Err(errors)
        }
    }
}

fn reload_loop(dir: &Path, live: &ArcSwap<PartnerSet>, changes: &Receiver<()>) {
    // `recv` fails once the watcher (holding the sender) is dropped: that ends the thread.
    while changes.recv().is_ok() {
        // Wait until the burst settles (every event restarts the quiet period), but no longer
        // than MAX_DELAY, so a directory that never goes quiet is still reloaded.
        let first = Instant::now();
        while first.elapsed() < MAX_DELAY {
            match changes.recv_timeout(DEBOUNCE) {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        // Errors are logged inside; the last good set stays.
        let _ = reload_now(dir, live);
    }
}

/// Any change in the directory, except to editor scratch files. Not only `*.toml`: a key
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
