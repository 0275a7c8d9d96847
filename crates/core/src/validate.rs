//! `validate-store`: a read-only audit of a profile's store.
//!
//! Checks that every manifest parses, carries `schema_version` and matches
//! the hash `store.json` recorded for it; that every object a run references
//! exists and still hashes to its id; that the maintained size counters
//! match the files; and (with a redactor) that no detector matches anything
//! stored. Leftovers of interrupted writes are listed but are not problems:
//! they are invisible to readers and removed by the next write or `gc`.

use crate::error::Result;
use crate::hashing::sha256_hex;
use crate::redact::Redactor;
use crate::store::layout::StoreLayout;
use crate::store::objects;
use crate::store::{Found, inspect, txn};
use crate::version::{SchemaSupport, SchemaVersion};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `missing_schema_version`, `unreadable_manifest`, `tampered_manifest`,
    /// `missing_manifest`, `missing_artifact`, `tampered_artifact`,
    /// `counter_mismatch`, `secret_found`, `unreadable_store_marker`, ...
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
    /// Leftovers of interrupted writes (not problems).
    pub leftovers: Vec<String>,
    pub runs: usize,
    pub manifests: usize,
    pub objects: usize,
    pub scanned_for_secrets: bool,
    /// Counter values and what the files add up to.
    pub counted_bytes: u64,
    pub actual_bytes: u64,
}

/// The objects a stage manifest references.
pub fn referenced_objects(manifest: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for list in ["document_groups", "artifacts"] {
        if let Some(items) = manifest.get(list).and_then(|v| v.as_array()) {
            for item in items {
                if let Some(id) = item.get("object").and_then(|o| o.as_str()) {
                    out.push(id.to_string());
                }
            }
        }
    }
    out
}

/// Validates one profile's store without modifying anything.
pub fn validate(
    layout: &StoreLayout,
    support: SchemaSupport,
    scanner: Option<&Redactor>,
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
    };
    let state = match inspect(layout)? {
        Found::Absent => return Ok(report),
        Found::Legacy { file, version } => {
            problems.push(Problem {
                kind: "legacy_store".to_string(),
                file: rel(layout, &file),
                detail: format!(
                    "a store of schema {} (the Python auditgraph's layout); run `auditgraph rebuild`",
                    version.as_deref().unwrap_or("(missing)")
                ),
            });
            return Ok(finish(report, problems));
        }
        Found::Unreadable {
            file,
            found,
            problem,
        } => {
            let kind = if problem.is_some() {
                "damaged_store_marker"
            } else if found.is_none() {
                "missing_schema_version"
            } else {
                "unreadable_store_marker"
            };
            let detail = match problem {
                Some(problem) => {
                    format!("the store marker {problem}; `auditgraph rebuild` writes a fresh one")
                }
                None => format!(
                    "store marker schema_version is {}",
                    found.as_deref().unwrap_or("missing")
                ),
            };
            problems.push(Problem {
                kind: kind.to_string(),
                file: rel(layout, &file),
                detail,
            });
            return Ok(finish(report, problems));
        }
        Found::Ours(state) => *state,
    };
    if SchemaVersion::parse(&state.schema_version).is_none_or(|v| !support.can_read(v)) {
        problems.push(Problem {
            kind: "unsupported_schema_version".to_string(),
            file: "store.json".to_string(),
            detail: format!(
                "store schema {} is not readable by this auditgraph ({})",
                state.schema_version,
                support.readable_list().join(", ")
            ),
        });
        return Ok(finish(report, problems));
    }

    // Manifests.
    let mut objects_needed: BTreeSet<String> = BTreeSet::new();
    let mut run_bytes = 0u64;
    let mut run_files = 0u64;
    report.runs = state.runs.len();
    for (run_id, run) in &state.runs {
        let run_dir = layout.run_dir(run_id);
        if !run_dir.is_dir() {
            problems.push(Problem {
                kind: "missing_run".to_string(),
                file: format!("runs/{run_id}"),
                detail: "the run directory is missing".to_string(),
            });
            continue;
        }
        let (b, f) = crate::store::fsutil::tree_size(&run_dir)?;
        run_bytes += b;
        run_files += f;
        if SchemaVersion::parse(&run.schema_version).is_none() {
            problems.push(Problem {
                kind: "missing_schema_version".to_string(),
                file: "store.json".to_string(),
                detail: format!("run {run_id} has no valid schema_version"),
            });
        }
        for (stage, entry) in &run.stages {
            report.manifests += 1;
            let path = layout.dir.join(&entry.manifest);
            let bytes = match fs::read(&path) {
                Ok(b) => b,
                Err(_) => {
                    problems.push(Problem {
                        kind: "missing_manifest".to_string(),
                        file: entry.manifest.clone(),
                        detail: format!("the {stage} manifest of run {run_id} is missing"),
                    });
                    continue;
                }
            };
            if sha256_hex(&bytes) != entry.sha256 {
                problems.push(Problem {
                    kind: "tampered_manifest".to_string(),
                    file: entry.manifest.clone(),
                    detail: "its SHA-256 differs from the one recorded when it was published"
                        .to_string(),
                });
            }
            let value: serde_json::Value = match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(Problem {
                        kind: "unreadable_manifest".to_string(),
                        file: entry.manifest.clone(),
                        detail: format!("not valid JSON: {e}"),
                    });
                    continue;
                }
            };
            match value.get("schema_version").and_then(|v| v.as_str()) {
                None => problems.push(Problem {
                    kind: "missing_schema_version".to_string(),
                    file: entry.manifest.clone(),
                    detail: "the manifest has no schema_version".to_string(),
                }),
                Some(v) if SchemaVersion::parse(v).is_none_or(|v| !support.can_read(v)) => problems
                    .push(Problem {
                        kind: "unsupported_schema_version".to_string(),
                        file: entry.manifest.clone(),
                        detail: format!("schema_version {v} is not readable"),
                    }),
                Some(_) => {}
            }
            if let Some(secrets) = scanner {
                let text = crate::pipeline::postcondition::file_text(&bytes);
                scan_text(secrets, &text, &entry.manifest, &mut problems);
            }
            objects_needed.extend(referenced_objects(&value));
        }
    }

    // Objects.
    report.objects = objects_needed.len();
    let object_problems: Vec<Problem> = objects_needed
        .par_iter()
        .flat_map_iter(|id| check_object(layout, id, scanner))
        .collect();
    problems.extend(object_problems);

    // Leftovers and counters. The counters cover the files published runs
    // account for: their run directories and the objects they reference.
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
    }
    let object_files = list_objects(layout)?;
    let mut object_bytes = 0u64;
    let mut present = 0u64;
    for (rel, len) in &object_files {
        let id = rel.rsplit('/').next().unwrap_or("");
        if objects_needed.contains(id) {
            object_bytes += len;
            present += 1;
        } else if !unpublished.contains(rel) {
            report.leftovers.push(format!(
                "{rel} (referenced by no run; `auditgraph gc` removes it)"
            ));
        }
    }
    // Files an interrupted write added to (or grew in) a published run are
    // on disk but not counted.
    let in_published_run = |f: &str| {
        f.strip_prefix("runs/")
            .and_then(|r| r.split('/').next())
            .is_some_and(|run| state.runs.contains_key(run))
    };
    let mut uncounted_bytes: u64 = 0;
    let mut uncounted_files: u64 = 0;
    for f in unpublished.iter().filter(|f| in_published_run(f)) {
        if let Ok(m) = fs::metadata(layout.dir.join(f)) {
            uncounted_bytes += m.len();
            uncounted_files += 1;
        }
    }
    for l in &leftovers {
        for (f, backup) in &l.replaced {
            if in_published_run(f) {
                let now = fs::metadata(layout.dir.join(f))
                    .map(|m| m.len())
                    .unwrap_or(0);
                let before = fs::metadata(layout.tmp_dir().join(&l.txn).join(backup))
                    .map(|m| m.len())
                    .unwrap_or(0);
                uncounted_bytes += now.saturating_sub(before);
            }
        }
    }
    report.counted_bytes = state.accounting.bytes;
    report.actual_bytes = (object_bytes + run_bytes).saturating_sub(uncounted_bytes);
    let actual_files = (present + run_files).saturating_sub(uncounted_files);
    if report.counted_bytes != report.actual_bytes || state.accounting.files != actual_files {
        problems.push(Problem {
            kind: "counter_mismatch".to_string(),
            file: "store.json".to_string(),
            detail: format!(
                "store.json counts {} bytes in {} files; the published runs hold {} bytes in {} files",
                report.counted_bytes, state.accounting.files, report.actual_bytes, actual_files
            ),
        });
    }
    Ok(finish(report, problems))
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

fn check_object(layout: &StoreLayout, id: &str, scanner: Option<&Redactor>) -> Vec<Problem> {
    let file = StoreLayout::object_rel(id);
    let path = layout.object_path(id);
    if !path.is_file() {
        return vec![Problem {
            kind: "missing_artifact".to_string(),
            file,
            detail: "a run references this object but it does not exist".to_string(),
        }];
    }
    let payload = match objects::read_payload(layout, id) {
        Ok(p) => p,
        Err(e) => {
            return vec![Problem {
                kind: "tampered_artifact".to_string(),
                file,
                detail: e.to_string(),
            }];
        }
    };
    let mut problems = Vec::new();
    let intact = sha256_hex(&payload) == id;
    if !intact {
        problems.push(Problem {
            kind: "tampered_artifact".to_string(),
            file: file.clone(),
            detail: "its content no longer hashes to its id".to_string(),
        });
    }
    match objects::split_payload(&payload, &file) {
        Err(e) => problems.push(Problem {
            kind: "tampered_artifact".to_string(),
            file: file.clone(),
            detail: e.to_string(),
        }),
        Ok((header, body)) => {
            if SchemaVersion::parse(&header.schema_version).is_none() {
                problems.push(Problem {
                    kind: "missing_schema_version".to_string(),
                    file: file.clone(),
                    detail: "the object header has no schema version".to_string(),
                });
            }
            if let Some(secrets) = scanner {
                match crate::pipeline::postcondition::object_text(&payload) {
                    Ok(text) => scan_text(secrets, &text, &file, &mut problems),
                    Err(e) => {
                        problems.push(match other_format(&header, body) {
                            // Intact, but written by another build of
                            // this schema: not damage.
                            Some((found, readable)) if intact => Problem {
                                kind: "unsupported_format".to_string(),
                                file: file.clone(),
                                detail: format!(
                                    "a {} in format {found}, written by another build of auditgraph; this one reads format {readable} (`auditgraph run` or `rebuild` writes a fresh run, `auditgraph gc` removes runs other than the current one)",
                                    header.kind
                                ),
                            },
                            _ => Problem {
                                kind: "tampered_artifact".to_string(),
                                file: file.clone(),
                                detail: format!("cannot decode: {e}"),
                            },
                        });
                        // Undecodable bytes can still carry a planted
                        // secret; strings in our binary encodings are raw
                        // UTF-8, so a lossy view finds them.
                        let raw = String::from_utf8_lossy(&payload);
                        scan_text(secrets, &raw, &file, &mut problems);
                    }
                }
            }
        }
    }
    problems
}

/// (found, readable) when `body` is a binary graph, index or document group
/// in a format this binary does not read.
fn other_format(header: &objects::ObjectHeader, body: &[u8]) -> Option<(u32, u32)> {
    if header.format != objects::BodyFormat::Binary.name() {
        return None;
    }
    let readable = crate::pipeline::readable_format(&header.kind)?;
    let (found, _) = postcard::take_from_bytes::<u32>(body).ok()?;
    (found != readable).then_some((found, readable))
}

/// Scans stored text for anything a detector still matches. The secret
/// itself is never reported, only where and what kind.
pub fn scan_text(scanner: &Redactor, text: &str, file: &str, problems: &mut Vec<Problem>) {
    let mut by_category: BTreeMap<&str, usize> = BTreeMap::new();
    for finding in scanner.scan(text) {
        *by_category.entry(finding.category).or_default() += 1;
    }
    for (category, n) in by_category {
        problems.push(Problem {
            kind: "secret_found".to_string(),
            file: file.to_string(),
            detail: format!("{n} unredacted {category} match(es)"),
        });
    }
}

/// Every object file: (store-relative path, size).
pub fn list_objects(layout: &StoreLayout) -> Result<Vec<(String, u64)>> {
    use crate::error::IoContext;
    let dir = layout.objects_dir();
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for shard in fs::read_dir(&dir).ctx("list", &dir)? {
        let shard = shard.ctx("list", &dir)?;
        if !shard.path().is_dir() {
            continue;
        }
        for entry in fs::read_dir(shard.path()).ctx("list", shard.path())? {
            let entry = entry.ctx("list", shard.path())?;
            let meta = entry.metadata().ctx("inspect", entry.path())?;
            if meta.is_file() {
                out.push((
                    format!(
                        "objects/{}/{}",
                        shard.file_name().to_string_lossy(),
                        entry.file_name().to_string_lossy()
                    ),
                    meta.len(),
                ));
            }
        }
    }
    out.sort();
    Ok(out)
}
