//! `status` and `runs`: read-only views of a profile's store. Both work on
//! every store, including ones this binary refuses to read or write, and
//! say what is wrong instead of failing.

use crate::error::{Error, Result};
use crate::ingest::IngestCounts;
use crate::pipeline::Workspace;
use crate::store::budget::{self, BudgetReport};
use crate::store::fsutil::tree_size;
use crate::store::{Access, Found, check_compatibility, inspect, txn};
use serde::Serialize;
use std::fs;

/// What this binary writes and reads.
#[derive(Debug, Clone, Serialize)]
pub struct BinaryInfo {
    pub version: String,
    pub schema_version: String,
    pub readable_schema_versions: Vec<String>,
}

/// `auditgraph status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub profile: String,
    pub store: std::path::PathBuf,
    /// `absent`, `ok`, `rebuild_required` or `newer_store`.
    pub state: &'static str,
    /// The store's schema version (`None` when absent or missing).
    pub schema_version: Option<String>,
    pub binary: BinaryInfo,
    pub current_run: Option<String>,
    pub runs: usize,
    pub source_bytes: u64,
    pub store_bytes: u64,
    pub store_files: u64,
    pub budget: Option<BudgetReport>,
    pub rebuild_required: bool,
    /// Why the store cannot be used as it is, and what to do.
    pub message: Option<String>,
    /// Interrupted writes waiting to be cleaned up.
    pub leftovers: usize,
    /// The seal: the SHA-256 of the newest entry of the store's trail.
    /// Record it elsewhere; `validate-store --expect-seal` proves later that
    /// the store still holds this state and everything since, unchanged.
    pub seal: Option<String>,
    /// Entries in the trail.
    pub trail_entries: u64,
    /// Bytes of scratch files (the stat cache), not counted in the store.
    pub cache_bytes: u64,
    /// Exports in `<root>/exports/`, which the budget of later exports
    /// counts, by path relative to the root, with their sizes.
    pub exports: std::collections::BTreeMap<String, u64>,
}

fn binary_info(ws: &Workspace) -> BinaryInfo {
    BinaryInfo {
        version: crate::version::AUDITGRAPH_VERSION.to_string(),
        schema_version: ws.support.writes.to_string(),
        readable_schema_versions: ws.support.readable_list(),
    }
}

/// Reports the store's state without failing on incompatibility.
pub fn status(ws: &Workspace) -> Result<StatusReport> {
    let layout = &ws.layout;
    let found = inspect(layout)?;
    let mut report = StatusReport {
        profile: layout.profile.clone(),
        store: layout.dir.clone(),
        state: "absent",
        schema_version: None,
        binary: binary_info(ws),
        current_run: None,
        runs: 0,
        source_bytes: 0,
        store_bytes: 0,
        store_files: 0,
        budget: None,
        rebuild_required: false,
        message: None,
        leftovers: 0,
        seal: None,
        trail_entries: 0,
        cache_bytes: tree_size(&layout.cache_dir()).map(|t| t.0).unwrap_or(0),
        exports: Default::default(),
    };
    match &found {
        Found::Absent => {
            report.message = Some("nothing ingested yet; run `auditgraph run`".to_string());
            return Ok(report);
        }
        Found::Legacy { version, .. } | Found::Unreadable { found: version, .. } => {
            report.schema_version = version.clone();
        }
        Found::Ours(state) => {
            report.schema_version = Some(state.schema_version.clone());
            report.current_run = state.current_run.clone();
            report.runs = state.runs.len();
            report.store_bytes = state.accounting.bytes;
            report.store_files = state.accounting.files;
            report.source_bytes = state
                .current_run
                .as_ref()
                .and_then(|id| state.runs.get(id))
                .map(|r| r.source_bytes)
                .unwrap_or(0);
            report.leftovers = txn::leftovers(layout, Some(state))?.len();
            report.seal = state.seal.clone();
            report.trail_entries = state.head;
            report.exports = crate::export::budget::earlier_exports(&ws.root);
            report.budget = Some(budget::evaluate(
                &ws.config.config.storage.footprint_budget,
                report.source_bytes,
                report.store_bytes,
                0,
                "status",
            ));
        }
    }
    match check_compatibility(layout, &found, Access::Read, ws.support) {
        Ok(()) => report.state = "ok",
        Err(Error::NewerStore { .. }) => {
            report.state = "newer_store";
            report.message = Some(
                "written by a newer auditgraph; upgrade auditgraph to use it (nothing here will write to it)"
                    .to_string(),
            );
        }
        Err(e @ Error::RebuildRequired { .. }) => {
            report.state = "rebuild_required";
            report.rebuild_required = true;
            report.message = Some(format!(
                "{e}; `auditgraph rebuild` writes a fresh run and leaves the existing artifacts untouched"
            ));
        }
        Err(e) => return Err(e),
    }
    Ok(report)
}

/// One run in `auditgraph runs`.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub run_id: String,
    pub schema_version: Option<String>,
    pub current: bool,
    /// False for runs this binary cannot read (an older layout).
    pub readable: bool,
    /// Order of first publication (absent for runs of older layouts).
    pub seq: Option<u64>,
    /// Wall-clock time it was last published or made current.
    pub published_at: Option<String>,
    pub stages: Vec<String>,
    pub files: Option<usize>,
    pub ok: Option<usize>,
    pub skipped: Option<usize>,
    pub failed: Option<usize>,
    pub source_bytes: Option<u64>,
    /// Bytes of its run directory plus every object it references (objects
    /// shared between runs count for each).
    pub bytes: u64,
}

/// `auditgraph runs --json` (and the MCP tool `runs`): the profile and
/// its runs.
#[derive(Debug, Clone, Serialize)]
pub struct RunsReport {
    pub profile: String,
    pub runs: Vec<RunInfo>,
}

/// [`runs`] with the profile they belong to.
pub fn runs_report(ws: &Workspace) -> Result<RunsReport> {
    Ok(RunsReport {
        profile: ws.config.profile_name.clone(),
        runs: runs(ws)?,
    })
}

/// Every run of the store, oldest first, then runs of older layouts.
pub fn runs(ws: &Workspace) -> Result<Vec<RunInfo>> {
    let layout = &ws.layout;
    let found = inspect(layout)?;
    check_compatibility(layout, &found, Access::Read, ws.support).or_else(|e| match e {
        // Listing is how users find out what an old store holds.
        Error::RebuildRequired { .. } => Ok(()),
        other => Err(other),
    })?;
    let mut out = Vec::new();
    let mut known = std::collections::BTreeSet::new();
    if let Found::Ours(state) = &found {
        let times = crate::store::chain::published_at(layout, state.head);
        let readable = crate::version::SchemaVersion::parse(&state.schema_version)
            .is_some_and(|v| ws.support.can_read(v));
        for (id, entry) in state.runs_in_order() {
            known.insert(id.clone());
            let manifest: Option<crate::pipeline::manifest::StageManifest> = if readable {
                crate::store::read_stage_manifest(layout, state, id, crate::ingest::STAGE)
                    .ok()
                    .flatten()
            } else {
                None
            };
            let counts: Option<IngestCounts> = manifest.as_ref().map(|m| m.counts_as());
            let mut bytes = tree_size(&layout.run_dir(id))?.0;
            if readable {
                for piece in crate::gc::run_pieces(layout, state, id).unwrap_or_default() {
                    bytes += fs::metadata(layout.dir.join(piece.rel_path()))
                        .map(|m| m.len())
                        .unwrap_or(0);
                }
            }
            out.push(RunInfo {
                run_id: id.clone(),
                schema_version: Some(entry.schema_version.clone()),
                current: state.current_run.as_deref() == Some(id.as_str()),
                readable: crate::version::SchemaVersion::parse(&entry.schema_version)
                    .is_some_and(|v| ws.support.can_read(v)),
                seq: Some(entry.seq),
                published_at: times.get(id).cloned(),
                stages: entry.stages.keys().cloned().collect(),
                files: counts.map(|c| c.files),
                ok: counts.map(|c| c.ok),
                skipped: counts.map(|c| c.skipped),
                failed: counts.map(|c| c.failed),
                source_bytes: Some(entry.source_bytes),
                bytes,
            });
        }
    }
    // Run directories no state accounts for: an older layout's runs.
    let runs_dir = layout.runs_dir();
    if runs_dir.is_dir() {
        let unpublished: std::collections::BTreeSet<String> = txn::leftovers(layout, None)?
            .into_iter()
            .flat_map(|l| l.created)
            .filter_map(|f| {
                f.strip_prefix("runs/")
                    .and_then(|r| r.split('/').next())
                    .map(str::to_string)
            })
            .collect();
        let mut names: Vec<String> = fs::read_dir(&runs_dir)
            .map_err(|e| Error::io("list", &runs_dir, e))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| !known.contains(n) && !unpublished.contains(n))
            .collect();
        names.sort();
        for name in names {
            let dir = layout.run_dir(&name);
            let version = fs::read(dir.join("ingest-manifest.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| {
                    v.get("schema_version")
                        .and_then(|s| s.as_str())
                        .map(str::to_string)
                });
            let stages = fs::read_dir(&dir)
                .map(|entries| {
                    let mut s: Vec<String> = entries
                        .filter_map(|e| e.ok())
                        .filter_map(|e| {
                            e.file_name()
                                .to_string_lossy()
                                .strip_suffix("-manifest.json")
                                .map(str::to_string)
                        })
                        .collect();
                    s.sort();
                    s
                })
                .unwrap_or_default();
            out.push(RunInfo {
                run_id: name,
                schema_version: version,
                current: false,
                readable: false,
                seq: None,
                published_at: None,
                stages,
                files: None,
                ok: None,
                skipped: None,
                failed: None,
                source_bytes: None,
                bytes: tree_size(&dir)?.0,
            });
        }
    }
    Ok(out)
}
