//! `validate-store`: a read-only audit of a profile's store.
//!
//! It verifies the sealed trail and everything it covers:
//!
//! * the trail: every entry present, each naming the one before it by its
//!   SHA-256, the newest being the seal `store.json` names (and leaving
//!   current the run `store.json` names), no entry beyond it; with
//!   `--expect-seal`, that the given seal is one of the entries (the store
//!   still holds that state, unchanged, and everything since);
//! * every run the store holds: each file its entries recorded has the
//!   recorded SHA-256 and size (the replay log, which only grows, matches
//!   every size and hash it was recorded at), no other file is in its
//!   directory, and `store.json` agrees with the trail;
//! * every piece every run names (each once, however many runs share it):
//!   present, hashing to its id, decoding, and (with a redactor) holding
//!   nothing a detector matches;
//! * nothing else in the store but documented scratch (`tmp/`, `cache/`)
//!   and what an earlier layout left (until `gc`);
//! * the size counters.
//!
//! Leftovers of interrupted writes are listed but are not problems: they
//! are invisible to readers and removed by the next write or `gc`.

use crate::error::{Error, Result};
use crate::hashing::sha256_hex;
use crate::pipeline::manifest::StageManifest;
use crate::redact::Redactor;
use crate::store::chain::{self, Event, FileSeal, Sealed};
use crate::store::id::ObjectId;
use crate::store::layout::{self, StoreLayout};
use crate::store::piece::{self, PieceKind};
use crate::store::state::StoreState;
use crate::store::table::{self, ShardTable};
use crate::store::{Found, inspect, txn};
use crate::version::{SchemaSupport, SchemaVersion};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `tampered_file`, `missing_file`, `extra_file`, `missing_run`,
    /// `broken_trail`, `seal_not_found`, `tampered_artifact`,
    /// `missing_artifact`, `unsupported_format`, `counter_mismatch`,
    /// `secret_found`, `unreadable_store_marker`, ...
    pub kind: String,
    /// Store-relative path of the file at fault.
    pub file: String,
    pub detail: String,
}

/// The result of a validation.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    pub profile: String,
    pub status: &'static str,
    pub problems: Vec<Problem>,
    /// Leftovers of interrupted writes and of earlier layouts (not
    /// problems).
    pub leftovers: Vec<String>,
    pub runs: usize,
    pub manifests: usize,
    /// Pieces verified (each once).
    pub objects: usize,
    pub scanned_for_secrets: bool,
    /// Counter values and what the files add up to.
    pub counted_bytes: u64,
    pub actual_bytes: u64,
    /// The seal `store.json` names.
    pub seal: Option<String>,
    /// Entries of the trail.
    pub trail_entries: u64,
    /// The seal asked for with `--expect-seal`, and whether the trail holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_seal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_seal_found: Option<bool>,
    /// Runs that `gc` removed after the expected seal's entry: the chain
    /// still links through their entries, but their files are gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_since_expected_seal: Option<Vec<String>>,
}

fn problem(kind: &str, file: impl Into<String>, detail: impl Into<String>) -> Problem {
    Problem {
        kind: kind.to_string(),
        file: file.into(),
        detail: detail.into(),
    }
}

/// Validates one profile's store without modifying anything.
pub fn validate(
    layout: &StoreLayout,
    support: SchemaSupport,
    scanner: Option<&Redactor>,
    expect_seal: Option<&str>,
) -> Result<ValidationReport> {
    let mut problems = Vec::new();
    let mut report = ValidationReport {
        profile: layout.profile.clone(),
        status: "pass",
        problems: Vec::new(),
        leftovers: Vec::new(),
        runs: 0,
        manifests: 0,
        objects: 0,
        scanned_for_secrets: scanner.is_some_and(|s| s.is_enabled()),
        counted_bytes: 0,
        actual_bytes: 0,
        seal: None,
        trail_entries: 0,
        expected_seal: expect_seal.map(str::to_string),
        expected_seal_found: None,
        removed_since_expected_seal: None,
    };
    let state = match inspect(layout)? {
        Found::Absent => {
            if let Some(seal) = expect_seal {
                report.expected_seal_found = Some(false);
                problems.push(problem(
                    "seal_not_found",
                    "store.json",
                    format!("there is no store here, so not the state sealed by {seal}"),
                ));
            }
            return Ok(finish(report, problems));
        }
        Found::Legacy { file, version } => {
            problems.push(problem(
                "legacy_store",
                rel(layout, &file),
                format!(
                    "a store of schema {} (the Python auditgraph's layout); run `auditgraph rebuild`",
                    version.as_deref().unwrap_or("(missing)")
                ),
            ));
            return Ok(finish(report, problems));
        }
        Found::Unreadable {
            file,
            found,
            problem: damage,
        } => {
            let kind = if damage.is_some() {
                "damaged_store_marker"
            } else if found.is_none() {
                "missing_schema_version"
            } else {
                "unreadable_store_marker"
            };
            let detail = match damage {
                Some(d) => format!("the store marker {d}; `auditgraph rebuild` writes a fresh one"),
                None => format!(
                    "store marker schema_version is {}",
                    found.as_deref().unwrap_or("missing")
                ),
            };
            problems.push(problem(kind, rel(layout, &file), detail));
            return Ok(finish(report, problems));
        }
        Found::Ours(state) => *state,
    };
    if SchemaVersion::parse(&state.schema_version).is_none_or(|v| !support.can_read(v)) {
        problems.push(problem(
            "unsupported_schema_version",
            "store.json",
            format!(
                "store schema {} is not readable by this auditgraph ({}); `auditgraph rebuild` writes a fresh run beside it",
                state.schema_version,
                support.readable_list().join(", ")
            ),
        ));
        return Ok(finish(report, problems));
    }
    report.seal = state.seal.clone();
    report.trail_entries = state.head;

    // 1. The trail.
    let entries = check_trail(layout, &state, expect_seal, &mut report, &mut problems);

    // 2. Runs and their files.
    let mut allowed: BTreeSet<String> = BTreeSet::new();
    for seq in 1..=state.head {
        allowed.insert(chain::entry_rel(seq));
    }
    let mut manifests: Vec<(String, StageManifest)> = Vec::new();
    // The pieces a manifest or table that cannot be read names are
    // unknown: they are not reported as extra files (the unreadable file's
    // own problem says what is wrong).
    let mut tables_unreadable = false;
    check_runs(
        layout,
        &state,
        &entries,
        scanner,
        &mut allowed,
        &mut manifests,
        &mut tables_unreadable,
        &mut report,
        &mut problems,
    );

    // 3. Pieces, each once.
    let mut pieces: BTreeMap<ObjectId, Option<PieceKind>> = BTreeMap::new();
    // Runs share most tables: each is read once, however many runs name it.
    let mut tables: BTreeSet<(&str, ObjectId)> = BTreeSet::new();
    let mut leaves = table::Leaves::new();
    for (file, m) in &manifests {
        for (kind, top) in &m.pieces {
            if !tables.insert((kind.as_str(), *top)) {
                continue;
            }
            match ShardTable::load_sharing(layout, *top, &mut leaves) {
                Ok((table, nodes)) => {
                    for id in nodes {
                        pieces.insert(id, Some(PieceKind::Table));
                    }
                    for (_, id) in table.pieces() {
                        pieces.entry(id).or_insert(PieceKind::from_name(kind));
                    }
                }
                Err(e) => {
                    tables_unreadable = true;
                    // The node at fault (the top or one of its leaves) is
                    // checked like every piece (missing, changed, secrets);
                    // a node intact by its hash but not a valid table is
                    // reported here.
                    let node = match &e {
                        Error::Corrupt { path, .. } => ObjectId::from_rel_path(&rel(layout, path)),
                        _ => None,
                    }
                    .unwrap_or(*top);
                    if piece::verify(layout, node).is_ok() {
                        problems.push(problem(
                            "tampered_artifact",
                            node.rel_path(),
                            format!("the {kind} table {file} names cannot be read: {e}"),
                        ));
                    }
                    pieces.insert(node, Some(PieceKind::Table));
                }
            }
        }
    }
    report.objects = pieces.len();
    let piece_problems: Vec<Problem> = pieces
        .par_iter()
        .flat_map_iter(|(id, kind)| check_piece(layout, *id, *kind, scanner))
        .collect();
    problems.extend(piece_problems);
    for id in pieces.keys() {
        allowed.insert(id.rel_path());
    }

    // 4. Nothing else, and the counters.
    let leftovers = txn::leftovers(layout, Some(&state))?;
    let mut unpublished: BTreeSet<String> = BTreeSet::new();
    for l in &leftovers {
        let what = if l.committed {
            format!("{} deletion(s) to finish", l.pending_deletes.len())
        } else {
            format!("{} unpublished file(s)", l.created.len())
        };
        report.leftovers.push(format!(
            "tmp/{} ({}; {what}; the next write or `auditgraph gc` cleans it up)",
            l.txn,
            if l.committed {
                "committed"
            } else {
                "interrupted"
            },
        ));
        unpublished.extend(l.created.iter().cloned());
        unpublished.extend(l.replaced.iter().map(|(f, _)| f.clone()));
        unpublished.extend(l.pending_deletes.iter().cloned());
    }
    let legacy = legacy_files(layout, &state)?;
    let (counted_bytes, counted_files) = check_files(
        layout,
        &allowed,
        &unpublished,
        &legacy,
        tables_unreadable,
        &mut report,
        &mut problems,
    )?;
    report.counted_bytes = state.accounting.bytes;
    report.actual_bytes = counted_bytes;
    if state.accounting.bytes != counted_bytes || state.accounting.files != counted_files {
        problems.push(problem(
            "counter_mismatch",
            "store.json",
            format!(
                "store.json counts {} bytes in {} files; the store holds {} bytes in {} files",
                state.accounting.bytes, state.accounting.files, counted_bytes, counted_files
            ),
        ));
    }
    Ok(finish(report, problems))
}

/// Reads and checks the trail; returns the entries that could be read.
fn check_trail(
    layout: &StoreLayout,
    state: &StoreState,
    expect_seal: Option<&str>,
    report: &mut ValidationReport,
    problems: &mut Vec<Problem>,
) -> Vec<Sealed> {
    let mut entries: Vec<Sealed> = Vec::new();
    let mut prev: Option<String> = None;
    for seq in 1..=state.head {
        let rel = chain::entry_rel(seq);
        match chain::read_entry(layout, seq) {
            Ok(sealed) => {
                if sealed.entry.prev != prev {
                    problems.push(problem(
                        "broken_trail",
                        &rel,
                        "the entry does not name the entry before it by its SHA-256: an entry was changed, removed or replaced",
                    ));
                }
                prev = Some(sealed.seal.clone());
                entries.push(sealed);
            }
            Err(e) => {
                problems.push(problem(
                    if layout.dir.join(&rel).exists() {
                        "broken_trail"
                    } else {
                        "missing_file"
                    },
                    &rel,
                    format!("the trail's entry {seq} cannot be read: {e}"),
                ));
                prev = None;
            }
        }
    }
    if prev != state.seal && state.head > 0 {
        problems.push(problem(
            "broken_trail",
            "store.json",
            format!(
                "store.json names seal {} but the newest entry of the trail is {}",
                state.seal.as_deref().unwrap_or("(none)"),
                prev.as_deref().unwrap_or("(unreadable)")
            ),
        ));
    }
    // The current-run pointer is the one the newest entry left: read
    // commands serve that run, so a pointer moved by hand is a rollback.
    if let Some(last) = entries.last().filter(|e| e.entry.seq == state.head)
        && last.entry.current_run != state.current_run
    {
        problems.push(problem(
            "broken_trail",
            "store.json",
            format!(
                "store.json makes run {} current, but the trail's newest entry ({}) left run {} current: the pointer was changed outside auditgraph; put back \"current_run\": \"{}\" (or restore store.json from a copy)",
                state.current_run.as_deref().unwrap_or("(none)"),
                chain::entry_rel(last.entry.seq),
                last.entry.current_run.as_deref().unwrap_or("(none)"),
                last.entry.current_run.as_deref().unwrap_or(""),
            ),
        ));
    }
    if let Some(expected) = expect_seal {
        let at = entries.iter().position(|e| e.seal == expected);
        let found = at.is_some();
        report.expected_seal_found = Some(found);
        if let Some(at) = at {
            let removed: Vec<String> = entries[at + 1..]
                .iter()
                .filter(|e| e.entry.event == Event::Gc)
                .flat_map(|e| e.entry.removed_runs.iter().cloned())
                .collect();
            report.removed_since_expected_seal = Some(removed);
        } else {
            problems.push(problem(
                "seal_not_found",
                "log",
                format!(
                    "no entry of the trail has seal {expected}: the store does not hold the state that seal proves (it was rolled back to an earlier copy, or its history was rewritten)"
                ),
            ));
        }
    }
    entries
}

/// What the trail says about each run.
#[derive(Default)]
struct RunTrail {
    published: bool,
    removed: bool,
    /// Latest seal of every file; every checkpoint of the replay log.
    files: BTreeMap<String, FileSeal>,
    checkpoints: BTreeMap<String, Vec<FileSeal>>,
}

#[allow(clippy::too_many_arguments)]
fn check_runs(
    layout: &StoreLayout,
    state: &StoreState,
    entries: &[Sealed],
    scanner: Option<&Redactor>,
    allowed: &mut BTreeSet<String>,
    manifests: &mut Vec<(String, StageManifest)>,
    manifests_unreadable: &mut bool,
    report: &mut ValidationReport,
    problems: &mut Vec<Problem>,
) {
    let mut runs: BTreeMap<String, RunTrail> = BTreeMap::new();
    for sealed in entries {
        let e = &sealed.entry;
        if e.event == Event::Gc {
            for r in &e.removed_runs {
                runs.entry(r.clone()).or_default().removed = true;
            }
        }
        if let Some(run) = &e.run_id {
            let t = runs.entry(run.clone()).or_default();
            t.published = true;
            t.removed = false;
            for (file, seal) in &e.files {
                t.files.insert(file.clone(), seal.clone());
                t.checkpoints
                    .entry(file.clone())
                    .or_default()
                    .push(seal.clone());
            }
        }
    }
    report.runs = state.runs.len();
    for (run_id, trail) in &runs {
        let dir = format!("{}/{run_id}", layout::RUNS_DIR);
        if trail.removed {
            if state.runs.contains_key(run_id) {
                problems.push(problem(
                    "broken_trail",
                    "store.json",
                    format!("run {run_id} is listed, but the trail records that gc removed it"),
                ));
            }
            continue;
        }
        if !state.runs.contains_key(run_id) {
            problems.push(problem(
                "missing_run",
                &dir,
                format!("the trail records run {run_id}, but store.json no longer lists it"),
            ));
        }
        if !layout.dir.join(&dir).is_dir() {
            problems.push(problem(
                "missing_run",
                &dir,
                format!(
                    "the directory of run {run_id} is missing; restore it from a copy of the store, or drop the run with `auditgraph gc` (after `auditgraph rebuild` if it is the current run); the trail keeps its record"
                ),
            ));
            // The pieces only its manifests named cannot be told from
            // extra files.
            *manifests_unreadable = true;
            continue;
        }
        for (file, seal) in &trail.files {
            allowed.insert(file.clone());
            let bytes = match fs::read(layout.dir.join(file)) {
                Ok(b) => b,
                Err(_) => {
                    problems.push(problem(
                        "missing_file",
                        file,
                        format!("a file of run {run_id} is missing"),
                    ));
                    if file.ends_with("-manifest.json") {
                        *manifests_unreadable = true;
                    }
                    continue;
                }
            };
            for checkpoint in trail.checkpoints.get(file).into_iter().flatten() {
                let size = checkpoint.size as usize;
                let prefix = bytes.get(..size);
                if prefix.map(sha256_hex).as_deref() != Some(checkpoint.sha256.as_str()) {
                    problems.push(problem(
                        "tampered_file",
                        file,
                        format!(
                            "its first {size} bytes no longer have the SHA-256 recorded when they were written ({})",
                            checkpoint.sha256
                        ),
                    ));
                }
            }
            if bytes.len() as u64 != seal.size {
                problems.push(problem(
                    "tampered_file",
                    file,
                    format!(
                        "{} bytes where the trail recorded {}",
                        bytes.len(),
                        seal.size
                    ),
                ));
            }
            if let Some(secrets) = scanner {
                let text = crate::pipeline::postcondition::file_text(&bytes);
                scan_text(secrets, &text, file, problems);
            }
            if file.ends_with("-manifest.json") {
                report.manifests += 1;
                match read_manifest(&bytes) {
                    Ok(m) => {
                        if SchemaVersion::parse(&m.schema_version).is_none() {
                            problems.push(problem(
                                "missing_schema_version",
                                file,
                                "the manifest has no schema_version",
                            ));
                        }
                        manifests.push((file.clone(), m));
                    }
                    Err(e) => {
                        problems.push(problem(
                            "unreadable_manifest",
                            file,
                            format!("not a stage manifest: {e}"),
                        ));
                        *manifests_unreadable = true;
                    }
                }
            }
        }
        // store.json's cache of the run agrees with the trail.
        if let Some(entry) = state.runs.get(run_id) {
            for (stage, s) in &entry.stages {
                match trail.files.get(&s.manifest) {
                    Some(seal) if seal.sha256 == s.sha256 => {}
                    _ => problems.push(problem(
                        "tampered_file",
                        "store.json",
                        format!(
                            "its {stage} manifest of run {run_id} is not the one the trail recorded"
                        ),
                    )),
                }
            }
        }
    }
    for run_id in state.runs.keys() {
        if !runs.contains_key(run_id) {
            problems.push(problem(
                "broken_trail",
                "store.json",
                format!("run {run_id} is listed, but no entry of the trail published it"),
            ));
        }
    }
}

/// A stage manifest; one that lost its `schema_version` is still read
/// (so that its pieces are checked), and reported for the loss.
fn read_manifest(bytes: &[u8]) -> serde_json::Result<StageManifest> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes)?;
    if let Some(map) = value.as_object_mut() {
        map.entry("schema_version")
            .or_insert_with(|| serde_json::Value::String(String::new()));
    }
    serde_json::from_value(value)
}

/// Files an earlier layout left (a schema-v2 store this one replaced, the
/// Python tool's layout): store-relative paths or directories.
fn legacy_files(layout: &StoreLayout, state: &StoreState) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    if let Some(marker) = &state.retired_marker {
        out.insert(marker.clone());
    }
    for entry in layout::LEGACY_ENTRIES {
        if layout.dir.join(entry).exists() {
            out.insert(entry.to_string());
        }
    }
    // Run directories of an earlier layout: they hold manifests this
    // store's trail never recorded.
    let runs = layout.runs_dir();
    if runs.is_dir() {
        for e in fs::read_dir(&runs).map_err(|e| crate::error::Error::io("list", &runs, e))? {
            let Ok(e) = e else { continue };
            let name = e.file_name().to_string_lossy().to_string();
            if !state.runs.contains_key(&name)
                && let Some(version) = earlier_manifest_version(&e.path())
                && version.as_deref() != Some(state.schema_version.as_str())
            {
                out.insert(format!("{}/{name}", layout::RUNS_DIR));
            }
        }
    }
    Ok(out)
}

/// `Some(schema_version)` when the directory holds an ingest manifest.
fn earlier_manifest_version(dir: &std::path::Path) -> Option<Option<String>> {
    let bytes = fs::read(dir.join("ingest-manifest.json")).ok()?;
    Some(
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("schema_version")
                    .and_then(|s| s.as_str())
                    .map(str::to_string)
            }),
    )
}

/// Walks the store: every file must be accounted for. Returns the bytes
/// and files the counters should hold (runs, pieces and the trail).
fn check_files(
    layout: &StoreLayout,
    allowed: &BTreeSet<String>,
    unpublished: &BTreeSet<String>,
    legacy: &BTreeSet<String>,
    tables_unreadable: bool,
    report: &mut ValidationReport,
    problems: &mut Vec<Problem>,
) -> Result<(u64, u64)> {
    let mut bytes = 0u64;
    let mut files = 0u64;
    let mut legacy_objects = 0usize;
    let scratch = [layout::TMP_DIR, layout::CACHE_DIR, layout::SECRETS_DIR];
    let mut stack = vec![layout.dir.clone()];
    let has_legacy = !legacy.is_empty();
    while let Some(dir) = stack.pop() {
        let Ok(list) = fs::read_dir(&dir) else {
            continue;
        };
        for e in list.filter_map(|e| e.ok()) {
            let path = e.path();
            let rel = rel(layout, &path);
            if scratch.contains(&rel.as_str()) || legacy.contains(&rel) {
                continue;
            }
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            if rel == layout::STORE_FILE {
                continue;
            }
            if allowed.contains(&rel) {
                bytes += meta.len();
                files += 1;
            } else if unpublished.contains(&rel)
                || unpublished
                    .iter()
                    .any(|p| rel.starts_with(p.as_str()) && rel[p.len()..].starts_with('/'))
            {
                // an interrupted write's file (listed with the leftovers)
            } else if has_legacy && rel.starts_with("objects/") {
                legacy_objects += 1;
            } else if tables_unreadable && rel.starts_with("objects/") {
                // Possibly a piece of the unreadable table: counted, not
                // reported (the table's own problem says what is wrong).
                bytes += meta.len();
                files += 1;
            } else {
                problems.push(problem(
                    "extra_file",
                    &rel,
                    "no run and no entry of the trail accounts for this file",
                ));
            }
        }
    }
    for l in legacy {
        report.leftovers.push(format!(
            "{l} (an earlier layout's; `auditgraph gc` removes it)"
        ));
    }
    if legacy_objects > 0 {
        report.leftovers.push(format!(
            "{legacy_objects} object(s) of an earlier layout (`auditgraph gc` removes them)"
        ));
    }
    Ok((bytes, files))
}

fn finish(mut report: ValidationReport, mut problems: Vec<Problem>) -> ValidationReport {
    problems.sort_by(|a, b| (&a.file, &a.kind).cmp(&(&b.file, &b.kind)));
    problems.dedup();
    report.status = if problems.is_empty() { "pass" } else { "fail" };
    report.problems = problems;
    report
}

fn rel(layout: &StoreLayout, path: &std::path::Path) -> String {
    path.strip_prefix(&layout.dir)
        .unwrap_or(path)
        .to_string_lossy()
        .to_string()
}

/// Verifies one piece: present, hashing to its id, decoding as its kind,
/// and holding nothing a detector matches.
fn check_piece(
    layout: &StoreLayout,
    id: ObjectId,
    expected: Option<PieceKind>,
    scanner: Option<&Redactor>,
) -> Vec<Problem> {
    let file = id.rel_path();
    if !layout.dir.join(&file).is_file() {
        return vec![problem(
            "missing_artifact",
            &file,
            "a run references this piece but it does not exist",
        )];
    }
    let payload = match piece::verify(layout, id) {
        Ok(p) => p,
        Err(damage) => {
            let mut problems = vec![problem("tampered_artifact", &file, damage.detail)];
            // Changed bytes can carry a planted secret: scan them raw
            // (strings in our encodings are UTF-8).
            if let (Some(secrets), Some(raw)) = (scanner, &damage.payload) {
                scan_text(secrets, &String::from_utf8_lossy(raw), &file, &mut problems);
            }
            return problems;
        }
    };
    let origin = layout.dir.join(&file);
    let split = match piece::split(&payload, &origin) {
        Ok(s) => s,
        Err(e) => return vec![problem("tampered_artifact", &file, e.to_string())],
    };
    let mut problems = Vec::new();
    if expected.is_some_and(|k| k != split.kind) {
        problems.push(problem(
            "tampered_artifact",
            &file,
            format!(
                "a {} piece where the run names a {} piece",
                split.kind.name(),
                expected.map(|k| k.name()).unwrap_or("")
            ),
        ));
    }
    if SchemaVersion::parse(split.schema).is_none() {
        problems.push(problem(
            "missing_schema_version",
            &file,
            "the piece header has no schema version",
        ));
    }
    let format = postcard::take_from_bytes::<u32>(split.body)
        .ok()
        .map(|(f, _)| f);
    if let Some(found) = format
        && found != split.kind.format()
    {
        problems.push(problem(
            "unsupported_format",
            &file,
            format!(
                "a {} piece in format {found}, written by another build of auditgraph; this one reads format {} (`auditgraph rebuild` writes a fresh run, `auditgraph gc` removes runs other than the current one)",
                split.kind.name(),
                split.kind.format()
            ),
        ));
        return problems;
    }
    match crate::pipeline::pieces::strings(split.kind, split.body) {
        Ok(text) => {
            if let Some(secrets) = scanner {
                scan_text(secrets, &text, &file, &mut problems);
            }
        }
        Err(e) => {
            problems.push(problem(
                "tampered_artifact",
                &file,
                format!("cannot decode: {e}"),
            ));
            if let Some(secrets) = scanner {
                // Undecodable bytes can still carry a planted secret;
                // strings in our encodings are raw UTF-8.
                let raw = String::from_utf8_lossy(&payload);
                scan_text(secrets, &raw, &file, &mut problems);
            }
        }
    }
    problems
}

/// Scans stored text for anything a detector still matches. The secret
/// itself is never reported, only where and what kind.
pub fn scan_text(scanner: &Redactor, text: &str, file: &str, problems: &mut Vec<Problem>) {
    let mut by_category: BTreeMap<&str, usize> = BTreeMap::new();
    for finding in scanner.scan(text) {
        *by_category.entry(finding.category).or_default() += 1;
    }
    for (category, n) in by_category {
        problems.push(problem(
            "secret_found",
            file,
            format!("{n} unredacted {category} match(es)"),
        ));
    }
}
