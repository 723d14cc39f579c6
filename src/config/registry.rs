//! The live partner set, applied file by file.
//!
//! Each partner file stands on its own: a file whose latest version is refused keeps serving
//! its last good version (and is reported in the log, `/readyz` and a metric), while every
//! other file's change applies. A suspension in one file is never held back by a typo in
//! another. Rules that span files (two files claiming one id) refuse only the files involved:
//! a file already serving the id keeps it, the newcomer is refused.
//!
//! Staff emergency stops (`scenegate partner suspend`) are applied on top of whatever the
//! files say, so no file error can block them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;

use super::errors::ConfigError;
use super::partner::{Partner, PartnerSet, RejectedFile, list_partner_files};
use super::partner_file;

/// Gauge: partner files whose latest version is refused.
pub const REJECTED_GAUGE: &str = "scenegate_partner_files_rejected";

/// Owns the per-file state behind the live [`PartnerSet`] and recomposes it on every change.
pub struct PartnerRegistry {
    dir: PathBuf,
    live: Arc<ArcSwap<PartnerSet>>,
    state: Mutex<State>,
}

impl std::fmt::Debug for PartnerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerRegistry").field("dir", &self.dir).finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    files: BTreeMap<PathBuf, FileState>,
    /// Partner ids under a staff emergency stop.
    stops: BTreeSet<String>,
}

struct FileState {
    /// The last good version of this file, as loaded (never a stopped copy).
    serving: Option<Arc<Partner>>,
    /// Errors of the latest version, when it was refused.
    errors: Vec<ConfigError>,
    /// Files this one names (its JWK Set file): watched like the file itself.
    references: Vec<PathBuf>,
}

/// What one reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadReport {
    /// Partners now served (suspended ones included).
    pub partners: usize,
    /// Files whose latest version is refused.
    pub rejected: usize,
}

impl PartnerRegistry {
    /// Loads `dir` file by file. Fails only when the folder itself cannot be read; refused
    /// files are logged and reported, and the good ones serve.
    pub fn open(dir: PathBuf) -> Result<Self, Vec<ConfigError>> {
        let registry = Self {
            dir,
            live: Arc::new(ArcSwap::from_pointee(PartnerSet::empty())),
            state: Mutex::new(State::default()),
        };
        registry.reload()?;
        Ok(registry)
    }

    /// The set requests read; swapped whole on every change.
    pub fn live(&self) -> Arc<ArcSwap<PartnerSet>> {
        self.live.clone()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Re-reads every partner file and applies each one that is good. Errors only when the
    /// folder cannot be listed; then nothing changes.
    pub fn reload(&self) -> Result<ReloadReport, Vec<ConfigError>> {
        let files = list_partner_files(&self.dir).inspect_err(|errors| {
            for e in errors {
                tracing::error!("{e}");
            }
        })?;
        let mut state = self.lock();
        let mut candidates: BTreeMap<PathBuf, Candidate> = BTreeMap::new();
        for file in files {
            let load = partner_file::load(&file);
            let previous = state.files.get(&file);
            // A file that no longer parses names no files we know of: keep watching the old ones.
            let references = if load.references.is_empty() {
                previous.map(|f| f.references.clone()).unwrap_or_default()
            } else {
                load.references
            };
            let serving = previous.and_then(|f| f.serving.clone());
            let candidate = match load.result {
                Ok(loaded) => Candidate {
                    new: Some((Arc::new(loaded.partner), loaded.id_error)),
                    errors: Vec::new(),
                    serving,
                    references,
                },
                Err(errors) => Candidate { new: None, errors, serving, references },
            };
            candidates.insert(file, candidate);
        }
        refuse_duplicate_ids(&mut candidates);

        let before: BTreeMap<PathBuf, usize> =
            state.files.iter().map(|(file, f)| (file.clone(), f.errors.len())).collect();
        state.files = candidates
            .into_iter()
            .map(|(file, c)| {
                let accepted = c.new.map(|(partner, _)| partner);
                let serving = accepted.or(c.serving);
                (file, FileState { serving, errors: c.errors, references: c.references })
            })
            .collect();
        for (file, f) in &state.files {
            log_file(file, f, before.get(file).copied());
        }
        let report = self.compose(&state);
        tracing::info!(
            dir = %self.dir.display(),
            partners = report.partners,
            rejected = report.rejected,
            "partner files applied"
        );
        Ok(report)
    }

    /// Applies the staff emergency stops in force (the whole list); recomposes only when it
    /// changed. Returns true when it did.
    pub fn apply_stops(&self, stops: BTreeSet<String>) -> bool {
        let mut state = self.lock();
        if state.stops == stops {
            return false;
        }
        for id in stops.difference(&state.stops) {
            tracing::warn!(partner = %id, "staff emergency stop in force: partner suspended");
        }
        for id in state.stops.difference(&stops) {
            tracing::warn!(partner = %id, "staff emergency stop lifted: the partner file's status applies again");
        }
        state.stops = stops;
        self.compose(&state);
        true
    }

    /// The partners served, as their files define them (a staff stop not applied): what the
    /// audit trail compares with what it last recorded. Ordered by id.
    pub fn as_loaded(&self) -> Vec<Arc<Partner>> {
        let state = self.lock();
        let by_id: BTreeMap<&str, &Arc<Partner>> =
            state.files.values().filter_map(|f| f.serving.as_ref()).map(|p| (p.id.as_str(), p)).collect();
        by_id.into_values().cloned().collect()
    }

    /// Folders to watch: the partners folder and the folder of every file a partner file names.
    pub fn watched_dirs(&self) -> BTreeSet<PathBuf> {
        let state = self.lock();
        let mut dirs = BTreeSet::from([self.dir.clone()]);
        for reference in state.files.values().flat_map(|f| &f.references) {
            if let Some(parent) = reference.parent() {
                dirs.insert(parent.to_path_buf());
            }
        }
        dirs
    }

    fn compose(&self, state: &State) -> ReloadReport {
        let mut by_id = BTreeMap::new();
        let mut rejected = Vec::new();
        for (file, f) in &state.files {
            if let Some(partner) = &f.serving {
                let partner = if state.stops.contains(&partner.id) {
                    Arc::new(partner.stopped_by_staff())
                } else {
                    partner.clone()
                };
                by_id.insert(partner.id.clone(), partner);
            }
            if !f.errors.is_empty() {
                let serving = f.serving.as_ref().map(|p| p.id.clone());
                rejected.push(RejectedFile { file: file.clone(), serving, errors: f.errors.clone() });
            }
        }
        let report = ReloadReport { partners: by_id.len(), rejected: rejected.len() };
        #[allow(clippy::cast_precision_loss)] // a count of files
        metrics::gauge!(REJECTED_GAUGE).set(report.rejected as f64);
        self.live.store(Arc::new(PartnerSet::composed(by_id, rejected)));
        report
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock left consistent data (every write is a whole swap).
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One file's latest load, before cross-file rules.
struct Candidate {
    /// The new version, when it loaded; with an error pre-placed at its `id`.
    new: Option<(Arc<Partner>, ConfigError)>,
    errors: Vec<ConfigError>,
    serving: Option<Arc<Partner>>,
    references: Vec<PathBuf>,
}

impl Candidate {
    /// The id this file would serve (its new version's, else its last good version's), and
    /// whether it already serves that id (it holds the id).
    fn claim(&self) -> Option<(&str, bool)> {
        let serving = self.serving.as_ref().map(|p| p.id.as_str());
        match (&self.new, serving) {
            (Some((p, _)), serving) => Some((p.id.as_str(), serving == Some(p.id.as_str()))),
            (None, Some(id)) => Some((id, true)),
            (None, None) => None,
        }
    }

    fn refuse(&mut self, reason: String) {
        if let Some((_, id_error)) = self.new.take() {
            self.errors = vec![ConfigError { reason, ..id_error }];
        }
    }
}

/// Two files may not serve one id. A file already serving it keeps it (with its new version,
/// if it has one) and every newcomer is refused; when none was serving it, all claimants are
/// refused.
/// Refused files fall back to their own last good versions, which may collide anew, so this
/// repeats until no id is claimed twice. Each round turns at least one new version into a
/// fallback, and last good versions never collide among themselves, so it ends.
fn refuse_duplicate_ids(candidates: &mut BTreeMap<PathBuf, Candidate>) {
    loop {
        let mut claims: BTreeMap<String, Vec<(PathBuf, bool)>> = BTreeMap::new();
        for (file, c) in candidates.iter() {
            if let Some((id, holds)) = c.claim() {
                claims.entry(id.to_owned()).or_default().push((file.clone(), holds));
            }
        }
        let mut changed = false;
        for (id, claimants) in claims.into_iter().filter(|(_, c)| c.len() > 1) {
            let holder = claimants.iter().find(|(_, holds)| *holds).map(|(file, _)| file.clone());
            for (file, holds) in &claimants {
                if *holds {
                    continue;
                }
                let others: Vec<String> =
                    claimants.iter().filter(|(f, _)| f != file).map(|(f, _)| format!("`{}`", f.display())).collect();
                let reason = match &holder {
                    Some(h) => format!("`{id}` is already the id of `{}`", h.display()),
                    None => format!("`{id}` is also claimed by {}; neither is applied", others.join(", ")),
                };
                if let Some(c) = candidates.get_mut(file) {
                    c.refuse(reason);
                    changed = true;
                }
            }
        }
        if !changed {
            return;
        }
    }
}

/// Logs a refused file's errors on every reload while it stays refused (so the latest lines
/// always say what is still wrong), a file's recovery, and a partner left without keys.
fn log_file(file: &Path, f: &FileState, errors_before: Option<usize>) {
    if f.errors.is_empty() {
        if errors_before.is_some_and(|n| n > 0) {
            tracing::info!(file = %file.display(), "partner file accepted again");
        }
        if let Some(p) = &f.serving
            && p.has_no_credentials()
        {
            tracing::warn!(partner = %p.id, file = %file.display(), "partner has no keys: it cannot authenticate");
        }
        return;
    }
    for e in &f.errors {
        tracing::error!("{e}");
    }
    match &f.serving {
        Some(p) => tracing::error!(
            file = %file.display(),
            partner = %p.id,
            errors = f.errors.len(),
            "partner file rejected; its last good version keeps serving"
        ),
        None => tracing::error!(
            file = %file.display(),
            errors = f.errors.len(),
            "partner file rejected; it has no good version, so its partner is not served"
        ),
    }
}
