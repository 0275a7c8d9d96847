//! `gc`: the only command that deletes anything.
//!
//! Keeps the current run and the N most recently published other runs;
//! removes every other run's directory and every piece no kept run
//! references (pieces are shared between runs, so a piece goes only when
//! the last kept run that names it goes), and, once this binary's store
//! is in place, what an earlier layout left (a schema-v2 store's runs,
//! objects and retired marker; the Python tool's directories). It never
//! removes an entry of the sealed trail: a removed run's entries stay as
//! its tombstone, and `gc` adds an entry of its own naming the runs it
//! removed, so the chain still verifies. Deletions go through a journaled
//! transaction: the new state is committed first, then the files are
//! removed (a crash in between is finished by the next write).

use crate::error::{IoContext, Result};
use crate::pipeline::manifest::StageManifest;
use crate::store::chain::{self, ChainEntry, Event};
use crate::store::fsutil::tree_size;
use crate::store::id::ObjectId;
use crate::store::layout::{LEGACY_ENTRIES, RUNS_DIR, StoreLayout};
use crate::store::state::StoreState;
use crate::store::table::ShardTable;
use crate::store::{StoreWriter, clock};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fs;

/// What `gc` removed, or would remove.
#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    pub dry_run: bool,
    pub kept_runs: Vec<String>,
    pub removed_runs: Vec<String>,
    /// Run directories no run of this store accounts for (older layouts).
    pub removed_legacy_runs: Vec<String>,
    /// Other paths of older layouts.
    pub removed_legacy_paths: Vec<String>,
    pub removed_objects: usize,
    pub reclaimed_bytes: u64,
    /// Store size (as counted) after gc.
    pub store_bytes: u64,
    /// The seal after gc (it records an entry when it removes anything).
    pub seal: Option<String>,
}

/// Runs `gc` keeps besides the current one unless told otherwise
/// (`gc --keep`).
pub const DEFAULT_KEEP: usize = 2;

/// What `gc --keep KEEP` would remove, read without locking or writing
/// anything (the `report.budget` job shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Preview {
    pub keep: usize,
    pub kept_runs: Vec<String>,
    pub removed_runs: Vec<String>,
    pub removed_objects: usize,
    pub reclaimed_bytes: u64,
}

/// Plans `gc --keep KEEP` (see [`Preview`]).
pub fn preview(layout: &StoreLayout, state: &StoreState, keep: usize) -> Result<Preview> {
    let plan = plan(layout, state, keep)?;
    Ok(Preview {
        keep,
        kept_runs: plan.kept.into_iter().collect(),
        removed_runs: plan.removed_runs,
        removed_objects: plan.removed_objects,
        reclaimed_bytes: plan.reclaimed,
    })
}

/// Every piece a run references: its manifests' table nodes and the
/// pieces they name.
pub fn run_pieces(
    layout: &StoreLayout,
    state: &StoreState,
    run_id: &str,
) -> Result<BTreeSet<ObjectId>> {
    let mut out = BTreeSet::new();
    let Some(run) = state.runs.get(run_id) else {
        return Ok(out);
    };
    for stage in run.stages.values() {
        let path = layout.dir.join(&stage.manifest);
        let bytes = fs::read(&path).ctx("read manifest", &path)?;
        let manifest: StageManifest = serde_json::from_slice(&bytes).map_err(|e| {
            crate::error::Error::corrupt(&path, format!("unreadable manifest: {e}"))
        })?;
        let tops: Vec<ObjectId> = manifest.pieces.values().copied().collect();
        let found: Vec<Vec<ObjectId>> = tops
            .par_iter()
            .map(|top| {
                let (table, nodes) = ShardTable::load_with_nodes(layout, *top)?;
                let mut ids = nodes;
                ids.extend(table.pieces().map(|(_, id)| id));
                Ok(ids)
            })
            .collect::<Result<_>>()?;
        out.extend(found.into_iter().flatten());
    }
    Ok(out)
}

/// Every file under `objects/`: (store-relative path, size).
pub fn list_objects(layout: &StoreLayout) -> Result<Vec<(String, u64)>> {
    let dir = layout.objects_dir();
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for shard in fs::read_dir(&dir).ctx("list", &dir)? {
        let shard = shard.ctx("list", &dir)?;
        if !shard.path().is_dir() {
            let meta = shard.metadata().ctx("inspect", shard.path())?;
            out.push((
                format!("objects/{}", shard.file_name().to_string_lossy()),
                meta.len(),
            ));
            continue;
        }
        for file in fs::read_dir(shard.path()).ctx("list", shard.path())? {
            let file = file.ctx("list", shard.path())?;
            let meta = file.metadata().ctx("inspect", file.path())?;
            out.push((
                format!(
                    "objects/{}/{}",
                    shard.file_name().to_string_lossy(),
                    file.file_name().to_string_lossy()
                ),
                meta.len(),
            ));
        }
    }
    out.sort();
    Ok(out)
}

/// Plans and (unless `dry_run`) performs a collection.
pub fn collect(writer: &mut StoreWriter, keep: usize, dry_run: bool) -> Result<GcReport> {
    let layout = writer.layout.clone();
    let state = writer.state.clone();
    let plan = plan(&layout, &state, keep)?;
    let (kept, removed_runs, deletes) = (plan.kept, plan.removed_runs, plan.deletes);
    let (bytes, files) = (plan.bytes, plan.files);
    let (log_bytes, log_files) = tree_size(&layout.log_dir())?;
    let nothing = deletes.is_empty();
    let mut report = GcReport {
        dry_run,
        kept_runs: kept.iter().cloned().collect(),
        removed_runs: removed_runs.clone(),
        removed_legacy_runs: plan.removed_legacy_runs,
        removed_legacy_paths: plan.removed_legacy_paths,
        removed_objects: plan.removed_objects,
        reclaimed_bytes: plan.reclaimed,
        store_bytes: state.accounting.bytes,
        seal: state.seal.clone(),
    };
    if dry_run || nothing {
        return Ok(report);
    }

    let mut txn = writer.begin()?;
    for rel in deletes {
        txn.delete(rel);
    }
    // The trail records the collection (the runs it removed stay named by
    // the entries that published them).
    let seq = state.head + 1;
    let entry = ChainEntry {
        format: chain::ENTRY_FORMAT.to_string(),
        schema_version: writer.support.writes.to_string(),
        seq,
        prev: state.seal.clone(),
        event: Event::Gc,
        command: "gc".to_string(),
        run_id: None,
        current_run: state.current_run.clone(),
        files: Default::default(),
        removed_runs: removed_runs.clone(),
        wall_clock_at: clock::now_utc(),
    };
    let entry_bytes = entry.to_bytes();
    let seal = crate::hashing::sha256_hex(&entry_bytes);
    let entry_len = entry_bytes.len() as u64;
    txn.add_file(chain::entry_rel(seq), entry_bytes);
    let seal_after = seal.clone();
    writer.commit_exact(txn, |next| {
        for id in &removed_runs {
            next.runs.remove(id);
        }
        next.accounting.bytes = bytes + log_bytes + entry_len;
        next.accounting.files = files + log_files + 1;
        next.head = seq;
        next.seal = Some(seal_after);
        next.retired_marker = None;
    })?;
    report.store_bytes = bytes + log_bytes + entry_len;
    report.seal = Some(seal);
    Ok(report)
}

/// What `gc --keep KEEP` would remove, without removing anything.
struct Plan {
    kept: BTreeSet<String>,
    removed_runs: Vec<String>,
    removed_legacy_runs: Vec<String>,
    removed_legacy_paths: Vec<String>,
    removed_objects: usize,
    /// Store-relative paths to delete.
    deletes: Vec<String>,
    reclaimed: u64,
    /// Bytes and files the kept runs account for afterwards.
    bytes: u64,
    files: u64,
}

/// The bytes `gc --keep KEEP` would reclaim, read-only (what a budget
/// refusal quotes when it names the `gc` that frees enough).
pub fn reclaimable(layout: &StoreLayout, state: &StoreState, keep: usize) -> Result<u64> {
    Ok(plan(layout, state, keep)?.reclaimed)
}

fn plan(layout: &StoreLayout, state: &StoreState, keep: usize) -> Result<Plan> {
    // Runs to keep: the current one, then the most recently published.
    let mut by_recency: Vec<(u64, String)> = state
        .runs
        .iter()
        .map(|(id, run)| (run.seq, id.clone()))
        .collect();
    by_recency.sort_by(|a, b| b.cmp(a));
    let mut kept: BTreeSet<String> = BTreeSet::new();
    if let Some(current) = &state.current_run {
        kept.insert(current.clone());
    }
    let others = by_recency
        .iter()
        .filter(|(_, id)| Some(id) != state.current_run.as_ref());
    for (_, id) in others.take(keep) {
        kept.insert(id.clone());
    }
    let removed_runs: Vec<String> = by_recency
        .iter()
        .map(|(_, id)| id.clone())
        .filter(|id| !kept.contains(id))
        .collect();

    // Pieces the kept runs reference.
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    for id in &kept {
        referenced.extend(
            run_pieces(layout, state, id)?
                .into_iter()
                .map(|o| o.rel_path()),
        );
    }

    let mut deletes: Vec<String> = Vec::new();
    let mut reclaimed = 0u64;
    for id in &removed_runs {
        let rel = format!("{RUNS_DIR}/{id}");
        reclaimed += tree_size(&layout.dir.join(&rel))?.0;
        deletes.push(rel);
    }
    let mut removed_legacy_runs = Vec::new();
    let runs_dir = layout.runs_dir();
    if runs_dir.is_dir() {
        let mut names: Vec<String> = fs::read_dir(&runs_dir)
            .ctx("list", &runs_dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        for name in names {
            if !state.runs.contains_key(&name) {
                let rel = format!("{RUNS_DIR}/{name}");
                reclaimed += tree_size(&layout.dir.join(&rel))?.0;
                deletes.push(rel);
                removed_legacy_runs.push(name);
            }
        }
    }
    let mut removed_legacy_paths = Vec::new();
    for entry in LEGACY_ENTRIES {
        let path = layout.dir.join(entry);
        if path.is_dir() {
            reclaimed += tree_size(&path)?.0;
        } else if let Ok(m) = fs::metadata(&path) {
            reclaimed += m.len();
        } else {
            continue;
        }
        deletes.push(entry.to_string());
        removed_legacy_paths.push(entry.to_string());
    }
    let mut removed_objects = 0;
    for (rel, len) in list_objects(layout)? {
        if !referenced.contains(&rel) {
            removed_objects += 1;
            reclaimed += len;
            deletes.push(rel);
        }
    }
    // The counters after collection: what the kept runs account for, and
    // the trail.
    let mut bytes = 0u64;
    let mut files = 0u64;
    for id in &kept {
        let (b, f) = tree_size(&layout.run_dir(id))?;
        bytes += b;
        files += f;
    }
    for rel in &referenced {
        if let Ok(m) = fs::metadata(layout.dir.join(rel)) {
            bytes += m.len();
            files += 1;
        }
    }
    Ok(Plan {
        kept,
        removed_runs,
        removed_legacy_runs,
        removed_legacy_paths,
        removed_objects,
        deletes,
        reclaimed,
        bytes,
        files,
    })
}
