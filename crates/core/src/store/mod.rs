//! The on-disk store of one profile: versioned, append-only, atomically
//! published, single-writer, with maintained size counters.
//!
//! Readers open a [`StoreReader`] (no lock, never blocks). Writers open a
//! [`StoreWriter`], which takes the profile's lock, rolls back leftovers of
//! interrupted writes, and publishes through [`txn::Txn`]. Both check the
//! store's schema version first (see [`check_compatibility`]) and refuse
//! before touching anything.
//!
//! The format itself: [`piece`] (content-addressed pieces and their kinds),
//! [`table`] (which piece holds each shard), [`chain`] (the sealed trail
//! of events), [`state`] (`store.json`, the head).

pub mod budget;
pub mod chain;
pub mod clock;
pub mod fault;
pub mod fsutil;
pub mod id;
pub mod last_attempt;
pub mod layout;
pub mod lock;
pub mod piece;
pub mod state;
pub mod table;
pub mod txn;

use crate::error::{Error, IoContext, Result};
use crate::version::{SchemaSupport, SchemaVersion};
use layout::StoreLayout;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use state::{STORE_FORMAT, StoreState};
use std::fs;
use std::path::PathBuf;
use std::time::Duration;
use txn::{Recovery, Txn};

/// What is on disk where a profile's store should be.
#[derive(Debug, Clone)]
pub enum Found {
    /// Nothing yet.
    Absent,
    /// A store this tool wrote (any version).
    Ours(Box<StoreState>),
    /// A store marker without a usable schema version (missing, unknown or
    /// unparseable).
    Unreadable {
        file: PathBuf,
        found: Option<String>,
        /// What is wrong with it beyond the version, e.g. "is not valid
        /// JSON (line 3, column 1: ...)".
        problem: Option<String>,
    },
    /// A layout written by the Python auditgraph (runs with manifests, no
    /// store marker). `version` is the manifest's `schema_version`.
    Legacy {
        file: PathBuf,
        version: Option<String>,
    },
}

/// Looks at a profile directory without modifying anything.
pub fn inspect(layout: &StoreLayout) -> Result<Found> {
    let store_file = layout.store_file();
    if store_file.is_file() {
        let bytes = fs::read(&store_file).ctx("read", &store_file)?;
        #[derive(Deserialize)]
        struct Marker {
            format: Option<String>,
            schema_version: Option<serde_json::Value>,
        }
        let parsed: std::result::Result<Marker, serde_json::Error> = serde_json::from_slice(&bytes);
        let marker = parsed.as_ref().ok();
        let found = marker.and_then(|m| m.schema_version.as_ref()).map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        });
        let is_ours = marker
            .and_then(|m| m.format.as_deref())
            .is_some_and(|f| f == STORE_FORMAT);
        if !is_ours {
            let problem = match &parsed {
                Err(e) if e.is_syntax() || e.is_eof() => format!("is not valid JSON ({e})"),
                _ => "is not an auditgraph store marker".to_string(),
            };
            return Ok(Found::Unreadable {
                file: store_file,
                found,
                problem: Some(problem),
            });
        }
        return match serde_json::from_slice::<StoreState>(&bytes) {
            Ok(state) if SchemaVersion::parse(&state.schema_version).is_some() => {
                Ok(Found::Ours(Box::new(state)))
            }
            Ok(_) => Ok(Found::Unreadable {
                file: store_file,
                found,
                problem: None,
            }),
            // A missing version says it all; a marker with its version
            // that still does not read is damaged.
            Err(e) => Ok(Found::Unreadable {
                problem: found.is_some().then(|| format!("is damaged ({e})")),
                file: store_file,
                found,
            }),
        };
    }
    // No marker: a Python-era layout has runs/<id>/ingest-manifest.json.
    // Manifests an interrupted first write of ours left behind are not one.
    let unpublished: std::collections::HashSet<String> = txn::leftovers(layout, None)?
        .into_iter()
        .flat_map(|l| l.created)
        .collect();
    let runs = layout.runs_dir();
    if runs.is_dir() {
        let mut dirs: Vec<_> = fs::read_dir(&runs)
            .ctx("list", &runs)?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .collect();
        dirs.sort();
        for dir in dirs {
            let manifest = dir.join("ingest-manifest.json");
            let rel = manifest
                .strip_prefix(&layout.dir)
                .map(|p| p.to_string_lossy().to_string())
                .unwrap_or_default();
            if manifest.is_file() && !unpublished.contains(&rel) {
                let version = fs::read(&manifest)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .and_then(|v| {
                        v.get("schema_version")
                            .and_then(|s| s.as_str())
                            .map(str::to_string)
                    });
                return Ok(Found::Legacy {
                    file: manifest,
                    version,
                });
            }
        }
    }
    Ok(Found::Absent)
}

/// What a command is about to do with the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// `rebuild`: writes a fresh run even over an unreadable store.
    Rebuild,
}

/// Applies the compatibility table of DESIGN ("Upgrades and compatibility").
pub fn check_compatibility(
    layout: &StoreLayout,
    found: &Found,
    access: Access,
    support: SchemaSupport,
) -> Result<()> {
    let readable = support.readable_list();
    let required = support.writes.to_string();
    let refuse_old = |file: PathBuf, found: Option<String>, problem: Option<&str>| -> Result<()> {
        if access == Access::Rebuild {
            Ok(())
        } else {
            Err(Error::RebuildRequired {
                found,
                required: required.clone(),
                readable: readable.clone(),
                file,
                problem: problem.map(Box::from),
            })
        }
    };
    let written_by = match found {
        Found::Ours(state) => Some(state.written_by.clone()),
        _ => None,
    };
    // `problem`: the marker is damaged beyond its version, so even a
    // readable version cannot be trusted (a newer version still wins: its
    // marker may simply be a format this binary does not know).
    let check_marker =
        |file: PathBuf, version: Option<&str>, problem: Option<&str>| -> Result<()> {
            match version.and_then(SchemaVersion::parse) {
                Some(v) if v > support.writes => Err(Error::NewerStore {
                    found: v.to_string(),
                    required: required.clone(),
                    readable: readable.clone(),
                    file,
                    written_by: written_by.clone(),
                }),
                Some(v) if support.can_read(v) && problem.is_none() => Ok(()),
                _ => refuse_old(file, version.map(str::to_string), problem),
            }
        };
    let check_version =
        |file: PathBuf, version: Option<&str>| -> Result<()> { check_marker(file, version, None) };
    match found {
        Found::Absent => Ok(()),
        Found::Unreadable {
            file,
            found,
            problem,
        } => check_marker(file.clone(), found.as_deref(), problem.as_deref()),
        Found::Legacy { file, version } => check_version(file.clone(), version.as_deref()),
        Found::Ours(state) => {
            check_version(layout.store_file(), Some(&state.schema_version))?;
            // Every manifest of the current run must carry a readable version.
            let Some(current) = &state.current_run else {
                return Ok(());
            };
            let Some(run) = state.runs.get(current) else {
                return Err(Error::corrupt(
                    layout.store_file(),
                    format!("current run {current} is not in the run list"),
                ));
            };
            check_version(layout.store_file(), Some(&run.schema_version))?;
            for stage in run.stages.values() {
                let path = layout.dir.join(&stage.manifest);
                let version = manifest_schema_version(&path)?;
                check_version(path, version.as_deref())?;
            }
            Ok(())
        }
    }
}

/// Reads only the `schema_version` of a manifest.
pub fn manifest_schema_version(path: &std::path::Path) -> Result<Option<String>> {
    #[derive(Deserialize)]
    struct VersionOnly {
        schema_version: Option<serde_json::Value>,
    }
    let bytes = fs::read(path).ctx("read manifest", path)?;
    let parsed: VersionOnly = serde_json::from_slice(&bytes)
        .map_err(|e| Error::corrupt(path, format!("manifest is not valid JSON: {e}")))?;
    Ok(parsed.schema_version.map(|v| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    }))
}

/// Read access to a profile's store. Never locks, never writes.
#[derive(Debug, Clone)]
pub struct StoreReader {
    pub layout: StoreLayout,
    pub state: StoreState,
}

impl StoreReader {
    /// Opens the store for reading; refuses incompatible stores and reports
    /// an absent store as [`Error::NothingIngested`].
    pub fn open(layout: StoreLayout, support: SchemaSupport) -> Result<StoreReader> {
        let found = inspect(&layout)?;
        check_compatibility(&layout, &found, Access::Read, support)?;
        match found {
            Found::Ours(state) => Ok(StoreReader {
                layout,
                state: *state,
            }),
            _ => Err(Error::NothingIngested {
                profile: layout.profile.clone(),
                store: layout.dir.clone(),
            }),
        }
    }

    /// The current run, or [`Error::NothingIngested`].
    pub fn current_run(&self) -> Result<&str> {
        self.state
            .current_run
            .as_deref()
            .ok_or_else(|| Error::NothingIngested {
                profile: self.layout.profile.clone(),
                store: self.layout.dir.clone(),
            })
    }

    /// Resolves `--run-id` (a full id or a unique prefix of at least 8
    /// characters, with or without `run_`), or the current run.
    pub fn resolve_run(&self, spec: Option<&str>) -> Result<String> {
        resolve_run_id(&self.state, &self.layout, spec)
    }

    /// Reads a published stage manifest of a run, if that stage ran.
    pub fn stage_manifest<T: DeserializeOwned>(
        &self,
        run_id: &str,
        stage: &str,
    ) -> Result<Option<T>> {
        read_stage_manifest(&self.layout, &self.state, run_id, stage)
    }

    /// The run's manifests, read and checked (see [`crate::pipeline::manifest::RunManifests`]).
    pub fn run(&self, run_id: &str) -> Result<crate::pipeline::manifest::RunManifests> {
        crate::pipeline::manifest::RunManifests::read(&self.layout, &self.state, run_id)
    }

    /// The SHA-256 and size the trail recorded for a file of a run (the
    /// latest entry that wrote it), `None` if no entry names it.
    pub fn sealed_file(&self, run_id: &str, rel: &str) -> Result<Option<chain::FileSeal>> {
        let Some(run) = self.state.runs.get(run_id) else {
            return Ok(None);
        };
        let mut found = None;
        for seq in run.seq.max(1)..=self.state.head {
            let sealed = chain::read_entry(&self.layout, seq)?;
            if sealed.entry.run_id.as_deref() == Some(run_id)
                && let Some(file) = sealed.entry.files.get(rel)
            {
                found = Some(file.clone());
            }
        }
        Ok(found)
    }
}

pub(crate) fn resolve_run_id(
    state: &StoreState,
    layout: &StoreLayout,
    spec: Option<&str>,
) -> Result<String> {
    let Some(spec) = spec else {
        return state
            .current_run
            .clone()
            .ok_or_else(|| Error::NothingIngested {
                profile: layout.profile.clone(),
                store: layout.dir.clone(),
            });
    };
    if state.runs.contains_key(spec) {
        return Ok(spec.to_string());
    }
    let wanted = spec.strip_prefix("run_").unwrap_or(spec);
    if wanted.len() >= 8 {
        let matches: Vec<&String> = state
            .runs
            .keys()
            .filter(|id| id.strip_prefix("run_").unwrap_or(id).starts_with(wanted))
            .collect();
        match matches.as_slice() {
            [one] => return Ok((*one).clone()),
            [] => {}
            many => {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "run id prefix '{spec}' is ambiguous ({} runs match); give more characters",
                        many.len()
                    ),
                });
            }
        }
    }
    Err(Error::NotFound {
        message: format!(
            "no run '{spec}' in profile '{}'; `auditgraph runs` lists the runs",
            layout.profile
        ),
    })
}

pub(crate) fn read_stage_manifest<T: DeserializeOwned>(
    layout: &StoreLayout,
    state: &StoreState,
    run_id: &str,
    stage: &str,
) -> Result<Option<T>> {
    let Some(entry) = state.runs.get(run_id).and_then(|r| r.stages.get(stage)) else {
        return Ok(None);
    };
    let path = layout.dir.join(&entry.manifest);
    let bytes = fs::read(&path).ctx("read manifest", &path)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::corrupt(&path, format!("unreadable {stage} manifest: {e}")))
}

/// A store marker a writer replaces.
#[derive(Debug, Clone)]
pub enum Superseded {
    /// Damaged or without a usable version.
    Unreadable(PathBuf),
    /// A valid marker of an earlier schema (kept, byte for byte).
    Earlier(PathBuf),
}

/// How long a writer waits for another writer by default.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// Write access to a profile's store: holds the lock until dropped.
#[derive(Debug)]
pub struct StoreWriter {
    pub layout: StoreLayout,
    pub state: StoreState,
    pub support: SchemaSupport,
    /// What recovery rolled back when the lock was taken.
    pub recovery: Recovery,
    /// Set when this writer replaces the marker of a store it cannot use:
    /// an unreadable marker is set aside as `store.json.superseded`, the
    /// marker of an earlier schema kept as [`layout::RETIRED_MARKER`].
    pub superseded_marker: Option<Superseded>,
    /// Directories this writer created (removed again if nothing commits).
    created: Vec<PathBuf>,
    committed: bool,
    /// `None` while the writer builds without the lock (see
    /// [`StoreWriter::unlock`]).
    lock: Option<lock::WriterLock>,
    /// The SHA-256 of the marker (`store.json`) the state was read from
    /// (`None`: no marker): every publish replaces the marker, so a
    /// different digest means another writer published.
    marker: Option<[u8; 32]>,
}

/// The SHA-256 of the store's marker file, `None` if there is none.
fn marker_digest(layout: &StoreLayout) -> Option<[u8; 32]> {
    use sha2::{Digest, Sha256};
    fs::read(layout.store_file())
        .ok()
        .map(|bytes| Sha256::digest(&bytes).into())
}

impl StoreWriter {
    /// Checks compatibility, takes the lock (waiting up to `lock_timeout`,
    /// calling `on_wait` once if it has to), re-checks, and recovers.
    pub fn open(
        layout: StoreLayout,
        support: SchemaSupport,
        access: Access,
        lock_timeout: Duration,
        on_wait: &dyn Fn(),
    ) -> Result<StoreWriter> {
        // Refuse before creating anything.
        let found = inspect(&layout)?;
        check_compatibility(&layout, &found, access, support)?;

        let lock = lock::acquire(&layout.lock_target(), lock_timeout, on_wait)?;
        // Under the lock: create the store directories that are missing.
        let mut created = Vec::new();
        let mut missing = Vec::new();
        let mut dir = Some(layout.dir.as_path());
        while let Some(d) = dir {
            if d.exists() || d == layout.root {
                break;
            }
            missing.push(d.to_path_buf());
            dir = d.parent();
        }
        for d in missing.iter().rev() {
            fs::create_dir(d).ctx("create store directory", d)?;
            created.push(d.clone());
        }

        // Another writer may have changed the store while we waited.
        let found = inspect(&layout)?;
        check_compatibility(&layout, &found, access, support)?;
        let (state, superseded_marker) = match found {
            Found::Ours(state)
                if SchemaVersion::parse(&state.schema_version)
                    .is_some_and(|v| support.can_read(v)) =>
            {
                (*state, None)
            }
            Found::Ours(_) => {
                let mut state = StoreState::new(&layout.profile, &support.writes.to_string());
                state.retired_marker = Some(layout::RETIRED_MARKER.to_string());
                (state, Some(Superseded::Earlier(layout.store_file())))
            }
            Found::Unreadable { .. } => (
                StoreState::new(&layout.profile, &support.writes.to_string()),
                Some(Superseded::Unreadable(layout.store_file())),
            ),
            Found::Absent | Found::Legacy { .. } => (
                StoreState::new(&layout.profile, &support.writes.to_string()),
                None,
            ),
        };
        let recovery = txn::recover(&layout, Some(&state))?;
        let marker = marker_digest(&layout);
        Ok(StoreWriter {
            marker,
            layout,
            state,
            support,
            recovery,
            superseded_marker,
            created,
            committed: false,
            lock: Some(lock),
        })
    }

    /// Releases the lock while the caller builds: pieces are staged in the
    /// writer's own transaction directory (begun before the lock is
    /// released, so recovery by other writers, which runs under the lock,
    /// never sees it half made, and leaves it alone while it is live), so
    /// readers and other writers go on.
    /// [`StoreWriter::relock`] takes it back to publish.
    pub fn unlock(&mut self) {
        self.lock = None;
    }

    /// Takes the lock back (waiting as [`StoreWriter::open`] does) and
    /// reads the store again. True if nothing was published meanwhile (the
    /// build's base is still the store's head); false if another writer
    /// moved it, in which case this writer now holds the new state and the
    /// caller builds again.
    pub fn relock(&mut self, lock_timeout: Duration, on_wait: &dyn Fn()) -> Result<bool> {
        if self.lock.is_some() {
            return Ok(true);
        }
        let lock = lock::acquire(&self.layout.lock_target(), lock_timeout, on_wait)?;
        let marker = marker_digest(&self.layout);
        let moved = marker != self.marker;
        self.lock = Some(lock);
        if moved {
            let found = inspect(&self.layout)?;
            match found {
                Found::Ours(state)
                    if SchemaVersion::parse(&state.schema_version)
                        .is_some_and(|v| self.support.can_read(v)) =>
                {
                    self.state = *state;
                    self.superseded_marker = None;
                    self.marker = marker;
                }
                found => {
                    // What another writer left is not a store this one
                    // builds on: refuse as a fresh open would.
                    check_compatibility(&self.layout, &found, Access::Write, self.support)?;
                    return Err(Error::Failed {
                        message: format!(
                            "another auditgraph process changed the store at {} while this one was building; run the command again",
                            self.layout.dir.display()
                        ),
                    });
                }
            }
            self.recovery = txn::recover(&self.layout, Some(&self.state))?;
        }
        Ok(!moved)
    }

    /// Starts a transaction.
    pub fn begin(&self) -> Result<Txn> {
        Txn::begin(&self.layout)
    }

    /// True if the store has never been committed to (no marker yet).
    pub fn is_new(&self) -> bool {
        !self.layout.store_file().exists() || self.superseded_marker.is_some()
    }

    /// The per-profile redaction key, created (in `txn`) on first use.
    pub fn redaction_key(&self, txn: &mut Txn) -> Result<Vec<u8>> {
        let path = self.layout.key_file();
        if path.is_file() {
            let text = fs::read_to_string(&path).ctx("read redaction key", &path)?;
            let key = text.trim();
            if key.is_empty() {
                return Err(Error::corrupt(
                    &path,
                    "the redaction key is empty; restore it from a backup, or delete the file to start a new key (markers of earlier runs will not match new ones)",
                ));
            }
            return Ok(key.as_bytes().to_vec());
        }
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| Error::Failed {
            message: format!("cannot create a redaction key: no randomness available ({e})"),
        })?;
        let key = hex::encode(raw);
        txn.add_private_file(
            format!("{}/{}", layout::SECRETS_DIR, layout::KEY_FILE),
            key.as_bytes().to_vec(),
        );
        Ok(key.into_bytes())
    }

    /// Publishes a transaction: advances the counters by what it adds, lets
    /// `update` record runs and the current pointer, and commits.
    pub fn commit(&mut self, txn: Txn, update: impl FnOnce(&mut StoreState)) -> Result<()> {
        self.require_lock()?;
        self.set_aside_marker()?;
        let mut next = self.state.clone();
        next.schema_version = self.support.writes.to_string();
        next.written_by = format!("auditgraph {}", crate::version::AUDITGRAPH_VERSION);
        update(&mut next);
        self.state = txn.commit(next, false)?;
        self.marker = marker_digest(&self.layout);
        self.committed = true;
        Ok(())
    }

    /// Commits a transaction whose `update` sets the counters itself (`gc`
    /// recomputes them from the files the kept runs account for).
    pub fn commit_exact(&mut self, txn: Txn, update: impl FnOnce(&mut StoreState)) -> Result<()> {
        self.require_lock()?;
        let mut next = self.state.clone();
        next.written_by = format!("auditgraph {}", crate::version::AUDITGRAPH_VERSION);
        update(&mut next);
        self.state = txn.commit(next, true)?;
        self.marker = marker_digest(&self.layout);
        self.committed = true;
        Ok(())
    }

    /// Publishing without the lock would be a bug in the caller.
    fn require_lock(&self) -> Result<()> {
        if self.lock.is_some() {
            Ok(())
        } else {
            Err(Error::Failed {
                message: "internal error: a commit was attempted without the writer lock; nothing was written".to_string(),
            })
        }
    }

    /// Before the first commit over a marker this binary cannot use: an
    /// unreadable marker is renamed aside; an earlier schema's marker is
    /// copied to [`layout::RETIRED_MARKER`] (synced) and then replaced by
    /// the commit's rename, so that a crash in between leaves it in charge.
    fn set_aside_marker(&mut self) -> Result<()> {
        match self.superseded_marker.take() {
            None => Ok(()),
            Some(Superseded::Unreadable(marker)) => {
                // Keep the unreadable marker's bytes for the record; it is
                // replaced, not edited.
                let kept = marker.with_extension("json.superseded");
                fs::rename(&marker, &kept).ctx("set aside unreadable store marker", &marker)
            }
            Some(Superseded::Earlier(marker)) => {
                let kept = self.layout.dir.join(layout::RETIRED_MARKER);
                let bytes = fs::read(&marker).ctx("read", &marker)?;
                fsutil::write_synced(&kept, &bytes)?;
                fsutil::sync_dir(&self.layout.dir)
            }
        }
    }

    pub fn resolve_run(&self, spec: Option<&str>) -> Result<String> {
        resolve_run_id(&self.state, &self.layout, spec)
    }

    pub fn stage_manifest<T: DeserializeOwned>(
        &self,
        run_id: &str,
        stage: &str,
    ) -> Result<Option<T>> {
        read_stage_manifest(&self.layout, &self.state, run_id, stage)
    }

    /// A reader view of the state this writer holds.
    pub fn reader(&self) -> StoreReader {
        StoreReader {
            layout: self.layout.clone(),
            state: self.state.clone(),
        }
    }
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        // Nothing was published: remove the (empty) directories opening the
        // store created, so a refused or blocked first write leaves the
        // workspace as it was; only under the lock (another writer may be
        // creating the same directories).
        if self.lock.is_none() {
            match lock::acquire(&self.layout.lock_target(), Duration::ZERO, &|| {}) {
                Ok(lock) => self.lock = Some(lock),
                Err(_) => return,
            }
        }
        for path in self.created.iter().rev() {
            let _ = fs::remove_dir(path);
        }
    }
}
