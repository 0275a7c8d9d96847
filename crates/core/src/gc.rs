//! `gc`: the only command that deletes anything.
//!
//! Keeps the current run and the N most recently published (or re-selected)
//! other runs; removes every other run, the objects no kept run references,
//! leftovers of interrupted writes, and — once this tool's store is in
//! place — the artifacts of the Python auditgraph's layout. Deletions go
//! through a journaled transaction: the new state is committed first, then
//! the files are removed (a crash in between is finished by the next write).

use crate::error::{IoContext, Result};
use crate::store::StoreWriter;
use crate::store::clock;
use crate::store::fsutil::tree_size;
use crate::store::layout::RUNS_DIR;
use crate::store::state::LogEntry;
use crate::validate::{list_objects, referenced_objects};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fs;

/// Top-level entries of the Python tool's store layout.
const LEGACY_ENTRIES: &[&str] = &[
    "sources",
    "documents",
    "segments",
    "chunks",
    "entities",
    "claims",
    "links",
    "indexes",
    "provenance",
    "ner",
    "store.json.superseded",
];

/// What `gc` removed, or would remove.
#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    pub dry_run: bool,
    pub kept_runs: Vec<String>,
    pub removed_runs: Vec<String>,
    /// Run directories no published run accounts for (older layouts).
    pub removed_legacy_runs: Vec<String>,
    /// Other paths of older layouts.
    pub removed_legacy_paths: Vec<String>,
    pub removed_objects: usize,
    pub reclaimed_bytes: u64,
    /// Store size (as counted) after gc.
    pub store_bytes: u64,
}

/// Plans and (unless `dry_run`) performs a collection.
pub fn collect(writer: &mut StoreWriter, keep: usize, dry_run: bool) -> Result<GcReport> {
    let layout = writer.layout.clone();
    let state = writer.state.clone();

    // Runs to keep: the current one, then the most recently published.
    let mut by_recency: Vec<(u64, String)> = state
        .runs
        .keys()
        .map(|id| {
            let seq = state
                .log
                .iter()
                .rev()
                .find(|e| &e.run_id == id)
                .map(|e| e.seq)
                .unwrap_or(0);
            (seq, id.clone())
        })
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

    // Objects the kept runs reference.
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    for id in &kept {
        if let Some(run) = state.runs.get(id) {
            for stage in run.stages.values() {
                let path = layout.dir.join(&stage.manifest);
                let bytes = fs::read(&path).ctx("read manifest", &path)?;
                if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                    referenced.extend(referenced_objects(&value));
                }
            }
        }
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
    for (rel, len) in list_objects(&layout)? {
        let id = rel.rsplit('/').next().unwrap_or("");
        if !referenced.contains(id) {
            removed_objects += 1;
            reclaimed += len;
            deletes.push(rel);
        }
    }
    // The counters after collection: what the kept runs account for.
    let mut bytes = 0u64;
    let mut files = 0u64;
    for id in &kept {
        let (b, f) = tree_size(&layout.run_dir(id))?;
        bytes += b;
        files += f;
    }
    for id in &referenced {
        if let Ok(m) = fs::metadata(layout.object_path(id)) {
            bytes += m.len();
            files += 1;
        }
    }
    let report = GcReport {
        dry_run,
        kept_runs: kept.iter().cloned().collect(),
        removed_runs: removed_runs.clone(),
        removed_legacy_runs,
        removed_legacy_paths,
        removed_objects,
        reclaimed_bytes: reclaimed,
        store_bytes: if dry_run {
            state.accounting.bytes
        } else {
            bytes
        },
    };
    if dry_run || (deletes.is_empty() && state.accounting.bytes == bytes) {
        return Ok(report);
    }

    let mut txn = writer.begin();
    for rel in deletes {
        txn.delete(rel);
    }
    let current = state.current_run.clone();
    writer.commit_exact(txn, |next| {
        for id in &removed_runs {
            next.runs.remove(id);
        }
        next.accounting.bytes = bytes;
        next.accounting.files = files;
        if let Some(current) = current {
            let seq = next.next_seq();
            next.log.push(LogEntry {
                seq,
                run_id: current,
                command: "gc".to_string(),
                wall_clock_at: clock::now_utc(),
            });
        }
    })?;
    Ok(report)
}
