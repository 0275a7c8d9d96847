//! The ingest stage: discover files, hash them, parse what changed, and
//! describe every discovered file in the run's ingest manifest.

pub mod discover;
pub mod document;
pub mod text;

use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::hashing::{FieldHasher, sha256_hex};
use crate::progress::Progress;
use crate::redact::Redactor;
use crate::store::layout::StoreLayout;
use crate::store::objects::{self, PreparedObject};
use discover::{Discovered, Unread};
use document::{DocumentGroup, DocumentRecord, Parsed};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

pub const STAGE: &str = "ingest";

/// `ok`, `skipped` or `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParseStatus {
    Ok,
    Skipped,
    Failed,
}

/// One discovered file, as recorded in the ingest manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestRecord {
    pub path: String,
    /// SHA-256 of the file's bytes; `None` for files that are not read.
    pub sha256: Option<String>,
    pub size: u64,
    /// `text/markdown`, `text/plain`, or `none`.
    pub parser_id: String,
    pub parse_status: ParseStatus,
    /// Why the file is skipped or failed, `unchanged` when it was not parsed
    /// again, or why an `ok` file needs attention (`frontmatter_invalid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A reference to a document group object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRef {
    pub object: String,
    /// How many documents (in record order, `ok` records only) it holds.
    pub documents: usize,
}

/// Counts of an ingest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestCounts {
    pub files: usize,
    pub ok: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Bytes of the `ok` files: the budget's base.
    pub source_bytes: u64,
}

/// `runs/<run_id>/ingest-manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestManifest {
    pub schema_version: String,
    pub stage: String,
    pub run_id: String,
    pub pipeline_version: String,
    pub auditgraph_version: String,
    pub config_hash: String,
    pub inputs_hash: String,
    pub outputs_hash: String,
    /// Cache key of every parsed document of the run.
    pub parser_settings_hash: String,
    pub status: String,
    pub counts: IngestCounts,
    pub records: Vec<IngestRecord>,
    pub document_groups: Vec<GroupRef>,
    pub warnings: Vec<String>,
    pub wall_clock_started_at: String,
    pub wall_clock_finished_at: String,
}

/// Loads a document group object, filling in each document's id, source
/// hash and size from the manifest records (by path).
pub fn load_group(
    layout: &StoreLayout,
    object: &str,
    records: &HashMap<&str, &IngestRecord>,
) -> Result<Vec<DocumentRecord>> {
    let group = document::read_group(layout, object)?;
    let mut docs = group.documents;
    for doc in &mut docs {
        let record = records.get(doc.path.as_str()).ok_or_else(|| {
            Error::corrupt(
                layout.object_path(object),
                format!(
                    "document {} has no record in the run's ingest manifest",
                    doc.path
                ),
            )
        })?;
        doc.identify(record.sha256.as_deref().unwrap_or(""), record.size);
    }
    Ok(docs)
}

impl IngestManifest {
    /// The `ok` records (the ones with a document) by path.
    pub fn records_by_path(&self) -> HashMap<&str, &IngestRecord> {
        // Only `ok` records hold documents; a skipped file whose non-UTF-8
        // name reads the same as a document's path must not shadow it.
        self.records
            .iter()
            .filter(|r| r.parse_status == ParseStatus::Ok)
            .map(|r| (r.path.as_str(), r))
            .collect()
    }

    /// The `ok` records in order, paired with the object holding each.
    pub fn document_objects(&self) -> Vec<(&IngestRecord, &str)> {
        let mut out = Vec::new();
        let mut ok = self
            .records
            .iter()
            .filter(|r| r.parse_status == ParseStatus::Ok);
        for group in &self.document_groups {
            for _ in 0..group.documents {
                if let Some(record) = ok.next() {
                    out.push((record, group.object.as_str()));
                }
            }
        }
        out
    }
}

/// How to treat the previous run.
#[derive(Debug, Clone)]
pub enum IngestMode {
    /// Reuse unchanged documents of the base run.
    Incremental,
    /// Parse everything again (`rebuild`).
    Fresh,
    /// Re-discover only these root-relative paths; carry every other record
    /// of the base run forward (`import`).
    Import(Vec<String>),
}

/// The run an ingest builds on.
#[derive(Debug, Clone)]
pub struct BaseRun {
    pub layout: StoreLayout,
    pub manifest: Arc<IngestManifest>,
}

/// A document group of the new run, with its documents when they were
/// materialized in memory.
#[derive(Debug, Clone)]
pub struct GroupData {
    pub object: String,
    pub documents: Option<Arc<Vec<DocumentRecord>>>,
}

/// What an ingest produced, before it is published.
#[derive(Debug)]
pub struct IngestOutput {
    /// The manifest, without `run_id` and finish time (the publisher sets them).
    pub manifest: IngestManifest,
    pub new_objects: Vec<PreparedObject>,
    pub groups: Vec<GroupData>,
    pub parsed: usize,
    pub reused: usize,
}

/// Everything the ingest needs.
pub struct IngestRequest<'a> {
    /// Canonical workspace root.
    pub root: &'a Path,
    pub config: &'a LoadedConfig,
    pub redactor: &'a Redactor,
    pub base: Option<&'a BaseRun>,
    pub mode: IngestMode,
    pub progress: &'a dyn Progress,
    pub schema_version: String,
    pub started_at: String,
    /// Checks a new document group for the redaction postcondition while
    /// its payload is compressed; `true` marks the object clean with the
    /// redactor, so publish does not scan it again.
    pub prescan: Option<&'a GroupCheck<'a>>,
    /// Work for a core that would otherwise idle while files are parsed
    /// (once the redaction triggers are compiled); skipped when nothing is
    /// parsed, as a run that parses nothing publishes little or nothing.
    pub while_parsing: Option<&'a (dyn Fn() + Sync + 'a)>,
}

/// A check of a document group: `true` when it passes.
pub type GroupCheck<'a> = dyn Fn(&[DocumentRecord]) -> bool + Sync + 'a;

enum Outcome {
    Unread(Unread, Option<String>),
    ReadFailed(String),
    /// Read and hashed; `parsed` is `None` when the cached document is reused.
    Read {
        sha256: String,
        parser: Option<&'static str>,
        parsed: Option<Parsed>,
    },
}

/// Runs the ingest stage (no I/O beyond reading sources and base objects).
pub fn ingest(req: &IngestRequest<'_>) -> Result<IngestOutput> {
    let mut timer = crate::progress::Timer::start();
    let profile = req.config.profile();
    let settings_hash = document::parser_settings_hash(
        &profile.ingestion,
        &serde_json::to_value(&req.config.config.security.redaction).unwrap_or_default(),
    );
    // What the base run knows about each path, if its documents can be reused.
    let base_usable = req.base.filter(|b| {
        !matches!(req.mode, IngestMode::Fresh)
            && b.manifest.parser_settings_hash == settings_hash
            && b.manifest.schema_version == req.schema_version
    });
    let base_docs: HashMap<&str, (&IngestRecord, &str)> = base_usable
        .map(|b| {
            b.manifest
                .document_objects()
                .into_iter()
                .map(|(r, o)| (r.path.as_str(), (r, o)))
                .collect()
        })
        .unwrap_or_default();
    // The redactor's first patterns compile while the workspace is walked
    // and every file is read and hashed (nothing before parsing needs them).
    let (walked, ()) = rayon::join(
        || -> Result<_> {
            let (discovered, warnings, carried) = match &req.mode {
                IngestMode::Import(paths) => import_discovery(req, paths)?,
                _ => discover::discover(req.root, profile)
                    .map(|d| (d.files, d.warnings, Vec::new()))?,
            };
            req.progress.phase("read", discovered.len() as u64);
            let read: Vec<(Outcome, u64, Option<Vec<u8>>)> = discovered
                .par_iter()
                .map(|d| {
                    let read = read_one(d, req, &base_docs);
                    req.progress.advance(1);
                    read
                })
                .collect();
            req.progress.finish();
            Ok((discovered, warnings, carried, read))
        },
        || req.redactor.prepare(),
    );
    let (mut discovered, mut warnings, carried, read) = walked?;
    timer.lap("ingest: discover and read (+ compile triggers)");

    req.progress.phase("ingest", discovered.len() as u64);
    let side_work = req
        .while_parsing
        .filter(|_| read.iter().any(|(_, _, bytes)| bytes.is_some()));
    // Paths are checked for secrets while the files are parsed (a file
    // whose path holds one is parsed for nothing, and its outcome replaced).
    let (mut outcomes, secret_paths): (Vec<(Outcome, u64)>, _) = rayon::join(
        || {
            discovered
                .par_iter()
                .zip(read)
                .map(|(d, (outcome, size, bytes))| {
                    let outcome = parse_read(d, req, outcome, bytes);
                    req.progress.advance(1);
                    (outcome, size)
                })
                .collect()
        },
        || {
            let found = secret_paths(&discovered, req.redactor);
            if let Some(work) = side_work {
                work();
            }
            found
        },
    );
    req.progress.finish();
    refuse_secret_paths(
        &mut discovered,
        &mut outcomes,
        secret_paths,
        req.redactor,
        &mut warnings,
    );
    timer.lap("ingest: parse (+ secret paths)");

    // Records, and the documents of `ok` records (parsed or to reuse).
    let mut records: Vec<IngestRecord> = Vec::with_capacity(discovered.len() + carried.len());
    let mut docs: Vec<DocSlot> = Vec::new();
    let mut parsed = 0;
    let mut reused = 0;
    for (d, (outcome, size)) in discovered.iter().zip(outcomes) {
        let record = match outcome {
            Outcome::Unread(why, detail) => IngestRecord {
                path: d.rel.clone(),
                sha256: None,
                size,
                parser_id: "none".to_string(),
                parse_status: ParseStatus::Skipped,
                reason: Some(why.reason().to_string()),
                detail,
            },
            Outcome::ReadFailed(detail) => IngestRecord {
                path: d.rel.clone(),
                sha256: None,
                size,
                parser_id: "none".to_string(),
                parse_status: ParseStatus::Failed,
                reason: Some("read_failed".to_string()),
                detail: Some(detail),
            },
            Outcome::Read {
                sha256,
                parser: None,
                ..
            } => IngestRecord {
                path: d.rel.clone(),
                sha256: Some(sha256),
                size,
                parser_id: "none".to_string(),
                parse_status: ParseStatus::Skipped,
                reason: Some("parser_unavailable".to_string()),
                detail: Some(
                    "this version parses .md, .markdown, .txt and .log files only".to_string(),
                ),
            },
            Outcome::Read {
                sha256,
                parser: Some(parser),
                parsed: None,
            } => {
                reused += 1;
                let (base_record, object) =
                    base_docs
                        .get(d.rel.as_str())
                        .copied()
                        .ok_or_else(|| Error::Failed {
                            message: format!("internal: no cached document for {}", d.rel),
                        })?;
                docs.push(DocSlot::Reuse {
                    path: d.rel.clone(),
                    sha256: sha256.clone(),
                    object: object.to_string(),
                    size,
                });
                let mut record = base_record.clone();
                record.parser_id = parser.to_string();
                record.reason = Some("unchanged".to_string());
                record.detail = None;
                record
            }
            Outcome::Read {
                sha256,
                parser: Some(parser),
                parsed: Some(result),
            } => {
                let mut record = IngestRecord {
                    path: d.rel.clone(),
                    sha256: Some(sha256),
                    size,
                    parser_id: parser.to_string(),
                    parse_status: ParseStatus::Ok,
                    reason: None,
                    detail: None,
                };
                match result {
                    Parsed::Document(doc) => {
                        parsed += 1;
                        if let Some(err) = &doc.frontmatter_error {
                            record.reason = Some("frontmatter_invalid".to_string());
                            record.detail = Some(err.clone());
                        } else if doc.text.is_empty() {
                            record.reason = Some("empty_file".to_string());
                        }
                        docs.push(DocSlot::Parsed(doc));
                    }
                    Parsed::Failed { reason, detail } => {
                        record.parse_status = ParseStatus::Failed;
                        record.reason = Some(reason.to_string());
                        record.detail = Some(detail);
                    }
                    Parsed::Skipped { reason, detail } => {
                        record.parse_status = ParseStatus::Skipped;
                        record.reason = Some(reason.to_string());
                        record.detail = Some(detail);
                    }
                }
                record
            }
        };
        records.push(record);
    }
    // Import: records of paths not re-discovered come from the base run.
    for (record, object) in carried {
        if record.parse_status == ParseStatus::Ok
            && let Some(object) = object
        {
            docs.push(DocSlot::Reuse {
                path: record.path.clone(),
                sha256: record.sha256.clone().unwrap_or_default(),
                object,
                size: record.size,
            });
            reused += 1;
        }
        let mut record = record;
        if record.parse_status == ParseStatus::Ok {
            record.reason = Some("unchanged".to_string());
            record.detail = None;
        }
        records.push(record);
    }
    records.sort_by(|a, b| a.path.cmp(&b.path));
    docs.sort_by(|a, b| a.path().cmp(b.path()));

    // The manifest's hashes of the records are computed while the groups
    // are built (only the outputs hash's last step needs the groups).
    let ((built, inputs_hash), record_texts) = rayon::join(
        || {
            rayon::join(
                || build_groups(req, base_usable, docs),
                || inputs_hash(&records),
            )
        },
        || output_record_texts(&records),
    );
    let (groups, new_objects) = built?;
    timer.lap("ingest: groups (+ manifest hashes)");

    let counts = IngestCounts {
        files: records.len(),
        ok: count(&records, ParseStatus::Ok),
        skipped: count(&records, ParseStatus::Skipped),
        failed: count(&records, ParseStatus::Failed),
        source_bytes: records
            .iter()
            .filter(|r| r.parse_status == ParseStatus::Ok)
            .map(|r| r.size)
            .sum(),
    };
    let refused = records
        .iter()
        .filter(|r| r.reason.as_deref() == Some("symlink_refused"))
        .count();
    if refused > 0 {
        warnings.push(format!(
            "refused {refused} symbolic link(s) pointing outside the workspace or where it cannot be checked (see the manifest records)"
        ));
    }
    let group_refs: Vec<GroupRef> = groups
        .iter()
        .map(|g| GroupRef {
            object: g.0.object.clone(),
            documents: g.1,
        })
        .collect();
    let outputs_hash = outputs_hash_of(&record_texts, &group_refs);
    let manifest = IngestManifest {
        schema_version: req.schema_version.clone(),
        stage: STAGE.to_string(),
        run_id: String::new(),
        pipeline_version: req.config.config.run_metadata.pipeline_version.clone(),
        auditgraph_version: crate::version::AUDITGRAPH_VERSION.to_string(),
        config_hash: req.config.config_hash(),
        inputs_hash,
        outputs_hash,
        parser_settings_hash: settings_hash,
        status: "ok".to_string(),
        counts,
        records,
        document_groups: group_refs,
        warnings,
        wall_clock_started_at: req.started_at.clone(),
        wall_clock_finished_at: String::new(),
    };
    Ok(IngestOutput {
        manifest,
        new_objects,
        groups: groups.into_iter().map(|g| g.0).collect(),
        parsed,
        reused,
    })
}

fn count(records: &[IngestRecord], status: ParseStatus) -> usize {
    records.iter().filter(|r| r.parse_status == status).count()
}

/// Hash of the inputs: every discovered path with its content hash (or, for
/// files not read, its size and why it was not read).
pub fn inputs_hash(records: &[IngestRecord]) -> String {
    let mut h = FieldHasher::new("ingest-inputs");
    for r in records {
        h.field(&r.path);
        match &r.sha256 {
            Some(sha) => h.field(sha),
            None => h
                .field(r.size.to_string())
                .field(r.reason.as_deref().unwrap_or("")),
        };
    }
    h.finish_hex()
}

/// Each record as the outputs hash prints it. `unchanged` says how a record
/// was produced, not what it is, so it hashes like a fresh `ok`: a fresh
/// and an incremental ingest of the same files have the same outputs hash.
fn output_record_texts(records: &[IngestRecord]) -> Vec<String> {
    // The hashed text is `{"document_groups":[...],"records":[...]}` as a
    // `serde_json::Value` prints it (keys sorted); each record is printed
    // on its own core instead of building one value of the whole manifest.
    records
        .par_iter()
        .map(|r| {
            let mut value = serde_json::to_value(r).unwrap_or_default();
            if r.reason.as_deref() == Some("unchanged")
                && let Some(fields) = value.as_object_mut()
            {
                fields.remove("reason");
            }
            value.to_string()
        })
        .collect()
}

/// Hash of the outputs, from the records' texts ([`output_record_texts`])
/// and the document groups.
fn outputs_hash_of(records: &[String], groups: &[GroupRef]) -> String {
    let groups = serde_json::to_value(groups).unwrap_or_default().to_string();
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"{\"document_groups\":");
    hasher.update(groups.as_bytes());
    hasher.update(b",\"records\":[");
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            hasher.update(b",");
        }
        hasher.update(record.as_bytes());
    }
    hasher.update(b"]}");
    hex::encode(hasher.finalize())
}

/// A path is written to the manifest and shown in every view of the run,
/// so a file whose path holds a secret (a key pasted as a file name) is not
/// ingested: it is recorded under its redacted path, skipped, with a
/// warning. These are the indexes of such paths, with the category found.
fn secret_paths(files: &[Discovered], redactor: &Redactor) -> Vec<(usize, &'static str)> {
    if !redactor.is_enabled() {
        return Vec::new();
    }
    // Fast path: one scan over every path.
    let all: String = files.iter().flat_map(|d| [d.rel.as_str(), "\n"]).collect();
    if redactor.scan(&all).is_empty() {
        return Vec::new();
    }
    files
        .iter()
        .enumerate()
        .filter_map(|(i, d)| redactor.scan(&d.rel).first().map(|f| (i, f.category)))
        .collect()
}

/// Records the files [`secret_paths`] found as skipped, under their
/// redacted paths, whatever reading them gave.
fn refuse_secret_paths(
    files: &mut [Discovered],
    outcomes: &mut [(Outcome, u64)],
    found: Vec<(usize, &'static str)>,
    redactor: &Redactor,
    warnings: &mut Vec<String>,
) {
    for (i, category) in found {
        let (Some(d), Some(outcome)) = (files.get_mut(i), outcomes.get_mut(i)) else {
            continue;
        };
        let redacted = redactor.redact(&d.rel).text.into_owned();
        warnings.push(format!(
            "skipped {redacted}: its path holds what looks like a secret ({category}); rename the file to ingest it"
        ));
        let detail = format!(
            "the path holds what looks like a secret ({category}); it is recorded redacted"
        );
        d.rel = redacted;
        *outcome = (Outcome::Unread(Unread::SecretInPath, Some(detail)), d.size);
    }
}

/// Reads and hashes one discovered file. The bytes come back when the file
/// is to be parsed ([`parse_read`]): it has a parser and no reusable
/// document in the base run.
fn read_one(
    d: &Discovered,
    req: &IngestRequest<'_>,
    base_docs: &HashMap<&str, (&IngestRecord, &str)>,
) -> (Outcome, u64, Option<Vec<u8>>) {
    use std::io::Read;
    if let Some(why) = d.unread {
        return (Outcome::Unread(why, d.detail.clone()), d.size, None);
    }
    let mut file = match std::fs::File::open(&d.abs) {
        Ok(f) => f,
        Err(e) => return (Outcome::ReadFailed(format!("cannot open: {e}")), 0, None),
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let max = req.config.profile().ingestion.max_file_size_bytes;
    if size > max {
        let detail = format!("{size} bytes is over max_file_size_bytes {max}");
        return (Outcome::Unread(Unread::TooLarge, Some(detail)), size, None);
    }
    // Read at most one byte more than the limit, in case the file grows.
    let mut bytes = Vec::with_capacity(size as usize + 1);
    if let Err(e) = file.by_ref().take(max + 1).read_to_end(&mut bytes) {
        return (Outcome::ReadFailed(format!("cannot read: {e}")), size, None);
    }
    let size = bytes.len() as u64;
    if size > max {
        let detail = format!("{size} bytes is over max_file_size_bytes {max}");
        return (Outcome::Unread(Unread::TooLarge, Some(detail)), size, None);
    }
    let sha256 = sha256_hex(&bytes);
    let parser = document::parser_for(&d.rel);
    let cached = base_docs
        .get(d.rel.as_str())
        .is_some_and(|(r, _)| r.sha256.as_deref() == Some(sha256.as_str()));
    let to_parse = (parser.is_some() && !cached).then_some(bytes);
    let outcome = Outcome::Read {
        sha256,
        parser,
        parsed: None,
    };
    (outcome, size, to_parse)
}

/// Parses the bytes [`read_one`] returned for parsing, if any.
fn parse_read(
    d: &Discovered,
    req: &IngestRequest<'_>,
    outcome: Outcome,
    bytes: Option<Vec<u8>>,
) -> Outcome {
    match (outcome, bytes) {
        (
            Outcome::Read {
                sha256,
                parser: Some(parser_id),
                parsed: None,
            },
            Some(bytes),
        ) => {
            let parsed = document::parse_hashed(
                &d.rel,
                bytes,
                sha256.clone(),
                parser_id,
                &req.config.profile().ingestion,
                req.redactor,
            );
            Outcome::Read {
                sha256,
                parser: Some(parser_id),
                parsed: Some(parsed),
            }
        }
        (outcome, _) => outcome,
    }
}

/// Discovery for `import`: walk only the given paths, carry the rest.
#[allow(clippy::type_complexity)]
fn import_discovery(
    req: &IngestRequest<'_>,
    paths: &[String],
) -> Result<(
    Vec<Discovered>,
    Vec<String>,
    Vec<(IngestRecord, Option<String>)>,
)> {
    let mut profile = req.config.profile().clone();
    let mut prefixes = Vec::new();
    for p in paths {
        let rel = normalize_import_path(req.root, p)?;
        prefixes.push(rel.clone());
    }
    profile.include_paths = prefixes
        .iter()
        .map(|p| {
            if p.is_empty() {
                ".".to_string()
            } else {
                p.clone()
            }
        })
        .collect();
    let found = discover::discover(req.root, &profile)?;
    let covered = |path: &str| {
        prefixes.iter().any(|prefix| {
            prefix.is_empty() || path == prefix || path.starts_with(&format!("{prefix}/"))
        })
    };
    let mut carried = Vec::new();
    if let Some(base) = req.base {
        let objects: HashMap<&str, &str> = base
            .manifest
            .document_objects()
            .into_iter()
            .map(|(r, o)| (r.path.as_str(), o))
            .collect();
        for record in &base.manifest.records {
            if !covered(&record.path) {
                carried.push((
                    record.clone(),
                    objects.get(record.path.as_str()).map(|o| o.to_string()),
                ));
            }
        }
    }
    Ok((found.files, found.warnings, carried))
}

/// Turns an `import` argument (relative to the root or absolute) into a
/// root-relative posix path, refusing anything outside the root.
fn normalize_import_path(root: &Path, arg: &str) -> Result<String> {
    let given = Path::new(arg);
    let absolute = if given.is_absolute() {
        given.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(given))
            .unwrap_or_else(|_| root.join(given))
    };
    // Resolve symlinks and `..` where the path exists; a missing path is
    // resolved lexically (it may be a deleted file to drop from the run).
    let resolved =
        std::fs::canonicalize(&absolute).unwrap_or_else(|_| lexical_normalize(&absolute));
    match crate::paths::relative_posix(root, &resolved) {
        Some(rel) => Ok(rel),
        None => Err(Error::InvalidArgument {
            message: format!(
                "import path '{arg}' is outside the workspace root {}; only files inside the root can be imported",
                root.display()
            ),
        }),
    }
}

fn lexical_normalize(path: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// A document of the new run: freshly parsed, or reused from a base object.
enum DocSlot {
    Parsed(Box<DocumentRecord>),
    Reuse {
        path: String,
        sha256: String,
        object: String,
        size: u64,
    },
}

impl DocSlot {
    fn path(&self) -> &str {
        match self {
            DocSlot::Parsed(d) => &d.path,
            DocSlot::Reuse { path, .. } => path,
        }
    }
    fn size(&self) -> u64 {
        match self {
            DocSlot::Parsed(d) => d.size,
            DocSlot::Reuse { size, .. } => *size,
        }
    }
}

/// Groups the run's documents, reusing base group objects whose membership
/// is unchanged and building the others.
#[allow(clippy::type_complexity)]
fn build_groups(
    req: &IngestRequest<'_>,
    base: Option<&BaseRun>,
    docs: Vec<DocSlot>,
) -> Result<(Vec<(GroupData, usize)>, Vec<PreparedObject>)> {
    let sizes = document::group_sizes(
        &docs
            .iter()
            .map(|d| (d.path(), d.size() as usize))
            .collect::<Vec<_>>(),
    );
    // Base groups by their exact membership (path + content hash).
    let mut base_groups: HashMap<Vec<(String, String)>, String> = HashMap::new();
    if let Some(base) = base {
        let mut current: Vec<(String, String)> = Vec::new();
        let mut object = "";
        for (record, obj) in base.manifest.document_objects() {
            if obj != object && !current.is_empty() {
                base_groups.insert(std::mem::take(&mut current), object.to_string());
            }
            object = obj;
            current.push((
                record.path.clone(),
                record.sha256.clone().unwrap_or_default(),
            ));
        }
        if !current.is_empty() {
            base_groups.insert(current, object.to_string());
        }
    }

    let mut slots = docs.into_iter();
    let mut plans: Vec<Vec<DocSlot>> = Vec::with_capacity(sizes.len());
    for size in &sizes {
        plans.push(slots.by_ref().take(*size).collect());
    }

    // Base objects needed to rebuild changed groups, loaded once each.
    let mut needed: Vec<String> = Vec::new();
    let mut reusable: Vec<Option<String>> = Vec::with_capacity(plans.len());
    for plan in &plans {
        let all_reused = plan.iter().all(|s| matches!(s, DocSlot::Reuse { .. }));
        let key: Vec<(String, String)> = plan
            .iter()
            .map(|s| match s {
                DocSlot::Reuse { path, sha256, .. } => (path.clone(), sha256.clone()),
                DocSlot::Parsed(d) => (d.path.clone(), d.source_hash.clone()),
            })
            .collect();
        let hit = if all_reused {
            base_groups.get(&key).cloned()
        } else {
            None
        };
        if hit.is_none() {
            for s in plan {
                if let DocSlot::Reuse { object, .. } = s
                    && !needed.contains(object)
                {
                    needed.push(object.clone());
                }
            }
        }
        reusable.push(hit);
    }
    let loaded: HashMap<String, HashMap<String, DocumentRecord>> = match base {
        Some(base) => {
            let records = base.manifest.records_by_path();
            needed
                .par_iter()
                .map(|object| {
                    let docs = load_group(&base.layout, object, &records)?;
                    let by_path = docs.into_iter().map(|d| (d.path.clone(), d)).collect();
                    Ok((object.clone(), by_path))
                })
                .collect::<Result<_>>()?
        }
        None => HashMap::new(),
    };

    let built: Vec<Result<(GroupData, usize, Option<PreparedObject>)>> = plans
        .into_par_iter()
        .zip(reusable)
        .map(|(plan, hit)| {
            let count = plan.len();
            if let Some(object) = hit {
                return Ok((
                    GroupData {
                        object,
                        documents: None,
                    },
                    count,
                    None,
                ));
            }
            let mut documents = Vec::with_capacity(count);
            for slot in plan {
                match slot {
                    DocSlot::Parsed(d) => documents.push(*d),
                    DocSlot::Reuse { path, object, .. } => {
                        let doc = loaded
                            .get(&object)
                            .and_then(|g| g.get(&path))
                            .cloned()
                            .ok_or_else(|| {
                                Error::corrupt(
                                    base.map(|b| b.layout.object_path(&object))
                                        .unwrap_or_default(),
                                    format!("document {path} missing from its group object"),
                                )
                            })?;
                        documents.push(doc);
                    }
                }
            }
            let group = DocumentGroup { documents };
            let payload = group.payload(&req.schema_version);
            let (prepared, clean) = objects::prepare_alongside(payload, || {
                req.prescan.is_some_and(|passes| passes(&group.documents))
            })?;
            if clean {
                req.redactor.remember_clean_object(&prepared.id);
            }
            Ok((
                GroupData {
                    object: prepared.id.clone(),
                    documents: Some(Arc::new(group.documents)),
                },
                count,
                Some(prepared),
            ))
        })
        .collect();
    let mut groups = Vec::with_capacity(built.len());
    let mut new_objects = Vec::new();
    for item in built {
        let (data, count, prepared) = item?;
        groups.push((data, count));
        new_objects.extend(prepared);
    }
    Ok((groups, new_objects))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The outputs hash as first defined: one JSON value of the whole
    /// manifest part, printed with sorted keys.
    fn outputs_hash(records: &[IngestRecord], groups: &[GroupRef]) -> String {
        outputs_hash_of(&output_record_texts(records), groups)
    }

    fn reference_outputs_hash(records: &[IngestRecord], groups: &[GroupRef]) -> String {
        let normalized: Vec<IngestRecord> = records
            .iter()
            .map(|r| {
                let mut r = r.clone();
                if r.reason.as_deref() == Some("unchanged") {
                    r.reason = None;
                }
                r
            })
            .collect();
        let body = serde_json::json!({ "records": normalized, "document_groups": groups });
        sha256_hex(body.to_string())
    }

    fn record(
        path: &str,
        status: ParseStatus,
        reason: Option<&str>,
        detail: Option<&str>,
    ) -> IngestRecord {
        IngestRecord {
            path: path.to_string(),
            sha256: (status == ParseStatus::Ok).then(|| "ab".repeat(32)),
            size: 12,
            parser_id: "text/markdown".to_string(),
            parse_status: status,
            reason: reason.map(str::to_string),
            detail: detail.map(str::to_string),
        }
    }

    #[test]
    fn outputs_hash_is_the_documented_json_text() {
        let records = [
            record("a.md", ParseStatus::Ok, None, None),
            record("b \"q\".md", ParseStatus::Ok, Some("unchanged"), None),
            record(
                "c.md",
                ParseStatus::Ok,
                Some("frontmatter_invalid"),
                Some("line 2"),
            ),
            record(
                "d/é.bin",
                ParseStatus::Skipped,
                Some("unsupported_extension"),
                None,
            ),
            record(
                "e.md",
                ParseStatus::Failed,
                Some("invalid_utf8"),
                Some("byte 3\n"),
            ),
        ];
        let groups = vec![GroupRef {
            object: "cd".repeat(32),
            documents: 3,
        }];
        for n in 0..=records.len() {
            assert_eq!(
                outputs_hash(&records[..n], &groups),
                reference_outputs_hash(&records[..n], &groups)
            );
        }
        assert_eq!(outputs_hash(&[], &[]), reference_outputs_hash(&[], &[]));
    }
}
