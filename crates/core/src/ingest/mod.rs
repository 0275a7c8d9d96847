//! The ingest stage: discover files, hash them, parse what changed, and
//! record every discovered file.
//!
//! Files are split into shards by the hash of their path (up to 256, about
//! 32 files each; see [`crate::store::table`]); each shard is one records
//! piece and one documents piece. A run first *plans*: it walks the workspace, takes each file's
//! content hash (from the stat cache when the file's size and times are as
//! recorded, else by reading it) and works out which shards differ from the
//! base run. Only those shards are built again; every other shard's pieces
//! are the base run's, shared by id.

pub mod discover;
pub mod document;
pub mod formats;
pub mod statcache;
pub mod text;

use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::hashing::FieldHasher;
use crate::progress::Progress;
use crate::redact::Redactor;
use crate::store::id::ObjectId;
use crate::store::layout::StoreLayout;
use crate::store::piece::{self, PieceKind, PieceSink};
use crate::store::table::{DOCUMENTS_PER_SHARD, ShardTable, bits_for, document_byte, shard_of};
use discover::{Discovered, Unread};
use document::{DocumentGroup, DocumentRecord, Parsed};
use foldhash::HashMap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use statcache::{FileStat, InputKey, StatCache};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
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

/// One discovered file, as reports and exports show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestRecord {
    pub path: String,
    /// SHA-256 of the file's bytes; `None` for files that are not read.
    pub sha256: Option<String>,
    pub size: u64,
    /// `text/markdown`, `text/plain`, `text/html`, the DOCX, PDF or `.doc`
    /// parser id (see [`formats`]), or `none`.
    pub parser_id: String,
    pub parse_status: ParseStatus,
    /// Why the file is skipped or failed, or why an `ok` file needs
    /// attention (`frontmatter_invalid`, `empty_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl IngestRecord {
    /// The record's inputs, as the inputs hash sees them.
    pub fn input_key(&self) -> InputKey {
        match &self.sha256 {
            Some(sha) => InputKey::Content(sha.clone()),
            None => InputKey::Unread {
                size: self.size,
                reason: self.reason.clone().unwrap_or_default(),
            },
        }
    }

    /// Needs a look: skipped, failed, or read with a note.
    pub fn needs_attention(&self) -> bool {
        self.parse_status != ParseStatus::Ok || self.reason.is_some()
    }
}

/// A record as a records piece stores it (positional: every field present).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredRecord {
    path: String,
    sha256: Option<[u8; 32]>,
    size: u64,
    parser_id: String,
    parse_status: ParseStatus,
    reason: Option<String>,
    detail: Option<String>,
}

impl From<&IngestRecord> for StoredRecord {
    fn from(r: &IngestRecord) -> StoredRecord {
        StoredRecord {
            path: r.path.clone(),
            sha256: r.sha256.as_deref().and_then(|h| {
                let mut b = [0u8; 32];
                hex::decode_to_slice(h, &mut b).ok().map(|()| b)
            }),
            size: r.size,
            parser_id: r.parser_id.clone(),
            parse_status: r.parse_status,
            reason: r.reason.clone(),
            detail: r.detail.clone(),
        }
    }
}

impl From<StoredRecord> for IngestRecord {
    fn from(r: StoredRecord) -> IngestRecord {
        IngestRecord {
            path: r.path,
            sha256: r.sha256.map(hex::encode),
            size: r.size,
            parser_id: r.parser_id,
            parse_status: r.parse_status,
            reason: r.reason,
            detail: r.detail,
        }
    }
}

/// Reads a records piece.
pub fn read_records(layout: &StoreLayout, id: ObjectId) -> Result<Vec<IngestRecord>> {
    let stored: Vec<StoredRecord> = piece::read(layout, PieceKind::Records, id)?;
    Ok(stored.into_iter().map(IngestRecord::from).collect())
}

/// Decodes the body of a records piece.
pub fn decode_records(body: &[u8], origin: &Path) -> Result<Vec<IngestRecord>> {
    let stored: Vec<StoredRecord> = piece::decode_body(PieceKind::Records, body, origin)?;
    Ok(stored.into_iter().map(IngestRecord::from).collect())
}

/// Every ingest record of a published run, in path order.
pub fn run_records(reader: &crate::store::StoreReader, run_id: &str) -> Result<Vec<IngestRecord>> {
    let manifests = reader.run(run_id)?;
    let table = manifests
        .ingest
        .table(&reader.layout, crate::store::piece::PieceKind::Records)?;
    read_all_records(&reader.layout, &table)
}

/// The records of every shard of a run, in path order.
pub fn read_all_records(layout: &StoreLayout, table: &ShardTable) -> Result<Vec<IngestRecord>> {
    let pieces: Vec<ObjectId> = table.pieces().map(|(_, id)| id).collect();
    let shards: Vec<Vec<IngestRecord>> = pieces
        .par_iter()
        .map(|id| read_records(layout, *id))
        .collect::<Result<_>>()?;
    let mut all: Vec<IngestRecord> = shards.into_iter().flatten().collect();
    all.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(all)
}

/// Reads a documents piece and fills in each document's id, source hash
/// and size from the shard's records.
pub fn read_documents(
    layout: &StoreLayout,
    id: ObjectId,
    records: &[IngestRecord],
) -> Result<Vec<DocumentRecord>> {
    let group = document::read_group(layout, id)?;
    let by_path: HashMap<&str, &IngestRecord> = records
        .iter()
        .filter(|r| r.parse_status == ParseStatus::Ok)
        .map(|r| (r.path.as_str(), r))
        .collect();
    let mut docs = group.documents;
    for doc in &mut docs {
        let record = by_path.get(doc.path.as_str()).ok_or_else(|| {
            Error::corrupt(
                layout.dir.join(id.rel_path()),
                format!("document {} has no record in its shard", doc.path),
            )
        })?;
        doc.identify(record.sha256.as_deref().unwrap_or(""), record.size);
    }
    Ok(docs)
}

/// Counts of an ingest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestCounts {
    pub files: usize,
    pub ok: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Bytes of the `ok` files: the budget's base.
    pub source_bytes: u64,
}

impl IngestCounts {
    fn of(records: &[IngestRecord]) -> IngestCounts {
        let mut c = IngestCounts::default();
        for r in records {
            c.files += 1;
            match r.parse_status {
                ParseStatus::Ok => {
                    c.ok += 1;
                    c.source_bytes += r.size;
                }
                ParseStatus::Skipped => c.skipped += 1,
                ParseStatus::Failed => c.failed += 1,
            }
        }
        c
    }

    fn add(&mut self, other: IngestCounts) {
        self.files += other.files;
        self.ok += other.ok;
        self.skipped += other.skipped;
        self.failed += other.failed;
        self.source_bytes += other.source_bytes;
    }

    fn sub(&mut self, other: IngestCounts) {
        self.files = self.files.saturating_sub(other.files);
        self.ok = self.ok.saturating_sub(other.ok);
        self.skipped = self.skipped.saturating_sub(other.skipped);
        self.failed = self.failed.saturating_sub(other.failed);
        self.source_bytes = self.source_bytes.saturating_sub(other.source_bytes);
    }
}

/// How to treat the base run.
#[derive(Debug, Clone)]
pub enum IngestMode {
    /// Reuse what did not change.
    Incremental,
    /// Parse everything again (`rebuild`, `replay`).
    Fresh,
    /// Re-discover only these root-relative paths; carry every other record
    /// of the base run forward (`import`).
    Import(Vec<String>),
}

/// The run an ingest builds on.
#[derive(Debug, Clone)]
pub struct BaseRun {
    pub layout: StoreLayout,
    pub run_id: String,
    pub manifest: crate::pipeline::manifest::StageManifest,
    pub records: ShardTable,
    pub documents: ShardTable,
}

impl BaseRun {
    pub fn counts(&self) -> IngestCounts {
        self.manifest.counts_as()
    }
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
    /// Where the stat cache is (what the previous run learnt about the
    /// files): read while the workspace is walked; `None` reads every file
    /// (never used for `Fresh`).
    pub stat_cache: Option<&'a StoreLayout>,
}

/// One file of the plan.
struct Planned {
    path: String,
    input: Input,
}

enum Input {
    /// Not read: why, and its size.
    Unread {
        reason: &'static str,
        detail: Option<String>,
        size: u64,
    },
    ReadFailed {
        detail: String,
    },
    /// Read (or known from the stat cache): its hash; the bytes when they
    /// were read and are to be parsed.
    Read {
        sha256: String,
        size: u64,
        parser: Option<&'static str>,
        abs: PathBuf,
        stat: Option<FileStat>,
        bytes: Option<Vec<u8>>,
    },
    /// `import`: a record of the base run carried forward as it is.
    Carried(IngestRecord),
}

impl Planned {
    fn key(&self) -> InputKey {
        match &self.input {
            Input::Unread { reason, size, .. } => InputKey::Unread {
                size: *size,
                reason: reason.to_string(),
            },
            Input::ReadFailed { .. } => InputKey::Unread {
                size: 0,
                reason: "read_failed".to_string(),
            },
            Input::Read { sha256, .. } => InputKey::Content(sha256.clone()),
            Input::Carried(record) => record.input_key(),
        }
    }
}

/// What an ingest decided before building anything.
pub struct Plan {
    files: Vec<Planned>,
    pub warnings: Vec<String>,
    pub inputs_hash: String,
    /// Shards to build again; the others are the base run's.
    changed: BTreeSet<u8>,
    /// The documents' shard bits (see [`crate::store::table`]).
    bits: u8,
    /// Cache key of every parsed document of the run.
    pub settings_hash: String,
    /// How many files were read (the others' hashes came from the cache).
    pub read: usize,
    /// The stat cache as it was read (to tell whether it needs writing).
    pub loaded_cache: Option<StatCache>,
}

impl Plan {
    /// What the stat cache should hold after this run is published.
    pub fn cache(&self, run_id: &str, config_hash: &str, started_ns: i128) -> StatCache {
        StatCache {
            run_id: run_id.to_string(),
            config_hash: config_hash.to_string(),
            entries: self
                .files
                .iter()
                .map(|f| statcache::Entry {
                    path: f.path.clone(),
                    input: f.key(),
                    stat: match &f.input {
                        Input::Read { stat: Some(s), .. }
                            if s.mtime_ns < started_ns - statcache::RACY_WINDOW_NS
                                && s.ctime_ns < started_ns - statcache::RACY_WINDOW_NS =>
                        {
                            Some(*s)
                        }
                        _ => None,
                    },
                })
                .collect(),
        }
    }

    /// True when nothing differs from the base run.
    pub fn unchanged(&self) -> bool {
        self.changed.is_empty()
    }
}

/// Hash of the parser settings: part of the cache key of every parsed
/// document (documents are reused only under the same settings).
pub fn settings_hash(config: &LoadedConfig) -> String {
    document::parser_settings_hash(
        &config.profile().ingestion,
        &serde_json::to_value(&config.config.security.redaction).unwrap_or_default(),
    )
}

/// Discovers and hashes every file and decides which shards to build.
pub fn plan(req: &IngestRequest<'_>) -> Result<Plan> {
    let mut timer = crate::progress::Timer::start();
    let profile = req.config.profile();
    let settings = settings_hash(req.config);
    let fresh = matches!(req.mode, IngestMode::Fresh);
    let base = req.base.filter(|_| !fresh);
    let config_hash = req.config.config_hash();
    // The base's inputs by path, when every record of it can be compared:
    // the stat cache when it describes the base run, else its records.
    let same_config = base.is_some_and(|b| {
        b.manifest.config_hash == config_hash && b.manifest.schema_version == req.schema_version
    });
    // The redactor's first patterns compile and the stat cache is read
    // while the workspace is walked.
    let ((walked, ()), loaded) = rayon::join(
        || {
            rayon::join(
                || -> Result<_> {
                    match &req.mode {
                        IngestMode::Import(paths) => import_discovery(req, paths),
                        _ => discover::discover(req.root, profile)
                            .map(|d| (d.files, d.warnings, Vec::new())),
                    }
                },
                || req.redactor.prepare(),
            )
        },
        || req.stat_cache.filter(|_| !fresh).and_then(StatCache::load),
    );
    let cache = loaded.as_ref();
    let (mut discovered, mut warnings, carried) = walked?;
    timer.lap("ingest: discover");
    let secret = secret_paths(&discovered, req.redactor);
    refuse_secret_paths(&mut discovered, &secret, req.redactor, &mut warnings);

    req.progress.phase("read", discovered.len() as u64);
    let max = profile.ingestion.max_file_size_bytes;
    let trusted = cache
        .map(|c| c.trusted_for(&discovered))
        .unwrap_or_default();
    let planned: Vec<Planned> = discovered
        .par_iter()
        .enumerate()
        .map(|(i, d)| {
            let input = read_input(d, max, trusted.get(i).copied().flatten());
            req.progress.advance(1);
            Planned {
                path: d.rel.clone(),
                input,
            }
        })
        .collect();
    req.progress.finish();
    let read = planned
        .iter()
        .filter(|p| matches!(&p.input, Input::Read { bytes: Some(_), .. }))
        .count();
    let mut files = planned;
    files.extend(carried.into_iter().map(|r| Planned {
        path: r.path.clone(),
        input: Input::Carried(r),
    }));
    files.sort_by(|a, b| a.path.cmp(&b.path));
    timer.lap("ingest: stat, read and hash");

    let refused = files
        .iter()
        .filter(|f| matches!(f.input, Input::Unread { reason, .. } if reason == Unread::SymlinkRefused.reason()))
        .count();
    if refused > 0 {
        warnings.push(format!(
            "refused {refused} symbolic link(s) pointing outside the workspace or where it cannot be checked (see the ingest records)"
        ));
    }
    ocr_warning(&profile.ingestion.ocr_mode, &files, &mut warnings);
    let inputs_hash = inputs_hash(files.iter().map(|f| (f.path.as_str(), f.key())));
    let bits = bits_for(files.len() as u64, DOCUMENTS_PER_SHARD);
    let document_shard = |path: &str| shard_of(document_byte(path), bits);

    // Which shards differ from the base.
    let mut changed: BTreeSet<u8> = BTreeSet::new();
    match base {
        Some(base) if same_config && base.records.bits() == bits => {
            // The base's inputs in path order: the stat cache's entries when
            // it describes the base run, else the base's records.
            let from_records;
            let base_keys: Vec<(&str, &InputKey)> =
                match cache.filter(|c| c.run_id == base.run_id && c.config_hash == config_hash) {
                    Some(cache) => cache
                        .entries
                        .iter()
                        .map(|e| (e.path.as_str(), &e.input))
                        .collect(),
                    None => {
                        from_records = read_all_records(&base.layout, &base.records)?
                            .into_iter()
                            .map(|r| (r.path.clone(), r.input_key()))
                            .collect::<Vec<_>>();
                        from_records.iter().map(|(p, k)| (p.as_str(), k)).collect()
                    }
                };
            // Both lists are in path order: walk them side by side.
            let mut old = base_keys.iter().peekable();
            for f in &files {
                while let Some((path, _)) = old.next_if(|(p, _)| *p < f.path.as_str()) {
                    changed.insert(document_shard(path)); // removed
                }
                match old.next_if(|(p, _)| *p == f.path.as_str()) {
                    Some((_, key)) if **key == f.key() => {}
                    _ => {
                        changed.insert(document_shard(&f.path)); // new or changed
                    }
                }
            }
            for (path, _) in old {
                changed.insert(document_shard(path)); // removed
            }
            // Documents parsed under other settings are parsed again.
            if base.manifest.settings_hash != settings {
                changed.extend(base.records.pieces().map(|(s, _)| s));
                changed.extend(files.iter().map(|f| document_shard(&f.path)));
            }
        }
        Some(base) if base.records.bits() == bits => {
            changed.extend(files.iter().map(|f| document_shard(&f.path)));
            changed.extend(base.records.pieces().map(|(s, _)| s));
        }
        _ => {
            // From nothing, or the documents are sharded anew: every shard.
            changed.extend(files.iter().map(|f| document_shard(&f.path)));
        }
    }
    timer.lap("ingest: plan");
    Ok(Plan {
        files,
        warnings,
        inputs_hash,
        changed,
        bits,
        settings_hash: settings,
        read,
        loaded_cache: loaded,
    })
}

/// With OCR asked for but no OCR engine, PDF pages without text cannot be
/// read: said once per run that has PDFs (a PDF with no text at all is
/// also `failed`/`ocr_engine_unavailable`).
fn ocr_warning(ocr_mode: &str, files: &[Planned], warnings: &mut Vec<String>) {
    let pdfs = files.iter().any(|f| {
        matches!(
            f.input,
            Input::Read {
                parser: Some(formats::PDF),
                ..
            }
        )
    });
    if ocr_mode == "off" || !pdfs {
        return;
    }
    if let Err(why) = formats::ocr::engine() {
        warnings.push(format!(
            "ocr_mode is {ocr_mode} but OCR cannot run: {}; PDF pages without text are left out",
            formats::ocr::unavailable_detail(why)
        ));
    }
}

/// Hash of the inputs: every discovered path with its content hash (or,
/// for files not read, its size and why it was not read), in path order.
pub fn inputs_hash<'a>(files: impl Iterator<Item = (&'a str, InputKey)>) -> String {
    let mut h = FieldHasher::new("ingest-inputs");
    for (path, key) in files {
        h.field(path);
        match key {
            InputKey::Content(sha) => h.field(sha),
            InputKey::Unread { size, reason } => h.field(size.to_string()).field(reason),
        };
    }
    h.finish_hex()
}

/// A shard's documents, built or reused (see [`IngestOutput::documents`]).
pub type ShardDocuments = Arc<Vec<DocumentRecord>>;

/// What an ingest produced, before it is published.
pub struct IngestOutput {
    pub records: ShardTable,
    pub documents: ShardTable,
    pub counts: IngestCounts,
    /// The records of the shards built again that need a look (skipped,
    /// failed, read with a note), in path order.
    pub attention: Vec<IngestRecord>,
    /// The shards built again, with their documents (identified).
    pub built: BTreeMap<u8, ShardDocuments>,
    pub parsed: usize,
    pub reused: usize,
}

/// Builds the shards the plan marked as changed; every other shard is the
/// base run's.
pub fn build(
    req: &IngestRequest<'_>,
    plan: Plan,
    sink: &dyn PieceSink,
    scan: &crate::pipeline::postcondition::Scanner<'_>,
) -> Result<IngestOutput> {
    let mut timer = crate::progress::Timer::start();
    let base = req.base.filter(|_| !matches!(req.mode, IngestMode::Fresh));
    let reuse_documents = base.is_some_and(|b| {
        b.manifest.settings_hash == plan.settings_hash
            && b.manifest.schema_version == req.schema_version
    });
    // Shards map one to one to the base's only with the same bits.
    let aligned = base.is_some_and(|b| b.records.bits() == plan.bits);
    let bits = plan.bits;
    let mut by_shard: BTreeMap<u8, Vec<Planned>> = BTreeMap::new();
    for f in plan.files {
        let shard = shard_of(document_byte(&f.path), bits);
        if plan.changed.contains(&shard) {
            by_shard.entry(shard).or_default().push(f);
        }
    }
    for shard in &plan.changed {
        by_shard.entry(*shard).or_default();
    }
    req.progress
        .phase("parse", by_shard.values().map(|v| v.len() as u64).sum());
    let built: Vec<(u8, Result<ShardBuilt>)> = by_shard
        .into_par_iter()
        .map(|(shard, files)| {
            let built = build_shard(
                req,
                base,
                reuse_documents,
                aligned.then_some(shard),
                files,
                sink,
                scan,
            );
            (shard, built)
        })
        .collect();
    req.progress.finish();
    timer.lap("ingest: parse and build shards");

    let (mut records, mut documents, mut counts) = match base {
        Some(b) if aligned => (
            b.records.clone(),
            if reuse_documents {
                b.documents.clone()
            } else {
                ShardTable::empty(bits)
            },
            b.counts(),
        ),
        _ => (
            ShardTable::empty(bits),
            ShardTable::empty(bits),
            IngestCounts::default(),
        ),
    };
    let mut out = IngestOutput {
        records: ShardTable::default(),
        documents: ShardTable::default(),
        counts: IngestCounts::default(),
        attention: Vec::new(),
        built: BTreeMap::new(),
        parsed: 0,
        reused: 0,
    };
    for (shard, result) in built {
        let b = result?;
        counts.sub(b.base_counts);
        counts.add(b.counts);
        records.set(shard, b.records_piece);
        documents.set(shard, b.documents_piece);
        out.attention.extend(b.attention);
        out.parsed += b.parsed;
        out.reused += b.reused;
        out.built.insert(shard, Arc::new(b.documents));
    }
    records.set_items(counts.files as u64);
    documents.set_items(counts.ok as u64);
    out.attention.sort_by(|a, b| a.path.cmp(&b.path));
    out.records = records;
    out.documents = documents;
    out.counts = counts;
    Ok(out)
}

struct ShardBuilt {
    records_piece: Option<ObjectId>,
    documents_piece: Option<ObjectId>,
    documents: Vec<DocumentRecord>,
    counts: IngestCounts,
    /// What the base run counted in this shard.
    base_counts: IngestCounts,
    attention: Vec<IngestRecord>,
    parsed: usize,
    reused: usize,
}

/// Builds one shard's records and documents. `aligned` is the shard's
/// number when the base run shards documents alike (its counts are then
/// this shard's to replace); otherwise the base's records and documents
/// are looked up in whichever of its shards holds each file.
fn build_shard(
    req: &IngestRequest<'_>,
    base: Option<&BaseRun>,
    reuse_documents: bool,
    aligned: Option<u8>,
    files: Vec<Planned>,
    sink: &dyn PieceSink,
    scan: &crate::pipeline::postcondition::Scanner<'_>,
) -> Result<ShardBuilt> {
    // The base run's records and documents of these files.
    let mut base_records = Vec::new();
    let mut base_docs = Vec::new();
    if let Some(b) = base {
        let shards: BTreeSet<u8> = match aligned {
            Some(shard) => BTreeSet::from([shard]),
            None => files
                .iter()
                .map(|f| b.records.shard(document_byte(&f.path)))
                .collect(),
        };
        for shard in shards {
            if let Some(id) = b.records.get(shard) {
                let records = read_records(&b.layout, id)?;
                if let Some(doc_id) = b.documents.get(shard)
                    && reuse_documents
                {
                    base_docs.extend(read_documents(&b.layout, doc_id, &records)?);
                }
                base_records.extend(records);
            }
        }
    }
    let base_counts = if aligned.is_some() {
        IngestCounts::of(&base_records)
    } else {
        IngestCounts::default()
    };
    let base_record: HashMap<&str, &IngestRecord> =
        base_records.iter().map(|r| (r.path.as_str(), r)).collect();
    let mut base_doc: HashMap<String, DocumentRecord> =
        base_docs.into_iter().map(|d| (d.path.clone(), d)).collect();
    let ingestion = &req.config.profile().ingestion;

    let mut records = Vec::with_capacity(files.len());
    let mut documents = Vec::new();
    let (mut parsed, mut reused) = (0, 0);
    for f in files {
        let path = f.path;
        let record = match f.input {
            Input::Carried(record) => {
                if record.parse_status == ParseStatus::Ok {
                    let doc = base_doc.remove(&record.path).ok_or_else(|| Error::Failed {
                        message: format!(
                            "import: the base run has no document for {}; run `auditgraph rebuild`",
                            record.path
                        ),
                    })?;
                    documents.push(doc);
                    reused += 1;
                }
                record
            }
            Input::Unread {
                reason,
                detail,
                size,
            } => IngestRecord {
                path,
                sha256: None,
                size,
                parser_id: "none".to_string(),
                parse_status: ParseStatus::Skipped,
                reason: Some(reason.to_string()),
                detail,
            },
            Input::ReadFailed { detail } => IngestRecord {
                path,
                sha256: None,
                size: 0,
                parser_id: "none".to_string(),
                parse_status: ParseStatus::Failed,
                reason: Some("read_failed".to_string()),
                detail: Some(detail),
            },
            Input::Read {
                sha256,
                size,
                parser: None,
                ..
            } => IngestRecord {
                path,
                sha256: Some(sha256),
                size,
                parser_id: "none".to_string(),
                parse_status: ParseStatus::Skipped,
                reason: Some("parser_unavailable".to_string()),
                detail: Some(
                    "this version parses .md, .markdown, .txt, .log, .html, .htm, .docx and .pdf files only".to_string(),
                ),
            },
            Input::Read {
                sha256,
                size,
                parser: Some(parser),
                abs,
                bytes,
                ..
            } => {
                // Same content as in the base run: its record and document.
                let same = base_record
                    .get(path.as_str())
                    .filter(|r| r.sha256.as_deref() == Some(sha256.as_str()));
                if let Some(record) = same
                    && (record.parse_status != ParseStatus::Ok || base_doc.contains_key(&path))
                    && reuse_documents
                {
                    if let Some(doc) = base_doc.remove(&path) {
                        documents.push(doc);
                    }
                    reused += 1;
                    (*record).clone()
                } else {
                    let bytes = match bytes {
                        Some(b) => Some(b),
                        None => reread(&abs, &sha256),
                    };
                    parsed += 1;
                    parsed_record(
                        path,
                        sha256,
                        size,
                        parser,
                        bytes,
                        ingestion,
                        req.redactor,
                        &mut documents,
                    )
                }
            }
        };
        req.progress.advance(1);
        records.push(record);
    }
    records.sort_by(|a, b| a.path.cmp(&b.path));
    documents.sort_by(|a, b| a.path.cmp(&b.path));

    let records_piece = if records.is_empty() {
        None
    } else {
        let stored: Vec<StoredRecord> = records.iter().map(StoredRecord::from).collect();
        let id = piece::put(sink, PieceKind::Records, &stored)?;
        scan.piece(id, &records, &|_| false);
        Some(id)
    };
    let documents_piece = if documents.is_empty() {
        None
    } else {
        let group = DocumentGroup { documents };
        let id = sink.put(PieceKind::Documents, group.payload())?;
        scan.documents(id, &group.documents);
        documents = group.documents;
        Some(id)
    };
    Ok(ShardBuilt {
        records_piece,
        documents_piece,
        counts: IngestCounts::of(&records),
        base_counts,
        attention: records
            .iter()
            .filter(|r| r.needs_attention())
            .cloned()
            .collect(),
        documents,
        parsed,
        reused,
    })
}

/// Reads a file again for parsing (its hash came from the stat cache); a
/// file that changed since it was hashed is read as it is now only if its
/// content still has that hash.
fn reread(abs: &Path, sha256: &str) -> Option<Vec<u8>> {
    let bytes = std::fs::read(abs).ok()?;
    (crate::hashing::sha256_hex(&bytes) == sha256).then_some(bytes)
}

/// The record (and document) of a file to parse.
#[allow(clippy::too_many_arguments)]
fn parsed_record(
    path: String,
    sha256: String,
    size: u64,
    parser: &'static str,
    bytes: Option<Vec<u8>>,
    ingestion: &crate::config::Ingestion,
    redactor: &Redactor,
    documents: &mut Vec<DocumentRecord>,
) -> IngestRecord {
    let mut record = IngestRecord {
        path: path.clone(),
        sha256: Some(sha256.clone()),
        size,
        parser_id: parser.to_string(),
        parse_status: ParseStatus::Ok,
        reason: None,
        detail: None,
    };
    let Some(bytes) = bytes else {
        record.parse_status = ParseStatus::Failed;
        record.reason = Some("read_failed".to_string());
        record.detail = Some("the file changed while it was being ingested; run again".to_string());
        return record;
    };
    match document::parse_hashed(&path, bytes, sha256, parser, ingestion, redactor) {
        Parsed::Document(doc) => {
            if let Some(err) = &doc.frontmatter_error {
                record.reason = Some("frontmatter_invalid".to_string());
                record.detail = Some(err.clone());
            } else if doc.text.is_empty() {
                record.reason = Some("empty_file".to_string());
            }
            documents.push(*doc);
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

/// Reads and hashes one discovered file, unless the stat cache vouches
/// for its hash. The bytes are kept when the file has a parser.
fn read_input(d: &Discovered, max: u64, trusted: Option<(&FileStat, &str)>) -> Input {
    use std::io::Read;
    if let Some(why) = d.unread {
        return Input::Unread {
            reason: why.reason(),
            detail: d.detail.clone(),
            size: d.size,
        };
    }
    // Listed with the stat the cache vouches for: not opened.
    if let (Some(stat), Some((cached, sha))) = (d.stat, trusted)
        && stat == *cached
        && stat.size <= max
    {
        return Input::Read {
            sha256: sha.to_string(),
            size: stat.size,
            parser: document::parser_for(&d.rel),
            abs: d.abs.clone(),
            stat: Some(stat),
            bytes: None,
        };
    }
    let mut file = match std::fs::File::open(&d.abs) {
        Ok(f) => f,
        Err(e) => {
            return Input::ReadFailed {
                detail: format!("cannot open: {e}"),
            };
        }
    };
    let meta = file.metadata().ok();
    let size = meta.as_ref().map(|m| m.len()).unwrap_or(0);
    if size > max {
        return Input::Unread {
            reason: Unread::TooLarge.reason(),
            detail: Some(format!("{size} bytes is over max_file_size_bytes {max}")),
            size,
        };
    }
    let parser = document::parser_for(&d.rel);
    let stat = meta.as_ref().map(FileStat::of);
    if let (Some(stat), Some((cached, sha))) = (stat, trusted)
        && stat == *cached
    {
        return Input::Read {
            sha256: sha.to_string(),
            size,
            parser,
            abs: d.abs.clone(),
            stat: Some(stat),
            bytes: None,
        };
    }
    // Read at most one byte more than the limit, in case the file grows.
    let mut bytes = Vec::with_capacity(size as usize + 1);
    if let Err(e) = file.by_ref().take(max + 1).read_to_end(&mut bytes) {
        return Input::ReadFailed {
            detail: format!("cannot read: {e}"),
        };
    }
    let size = bytes.len() as u64;
    if size > max {
        return Input::Unread {
            reason: Unread::TooLarge.reason(),
            detail: Some(format!("{size} bytes is over max_file_size_bytes {max}")),
            size,
        };
    }
    let sha256 = crate::hashing::sha256_hex(&bytes);
    // A file that grew or changed while it was read is hashed as read, but
    // its times would not vouch for that content next time.
    let stat = stat.filter(|s| s.size == size);
    Input::Read {
        sha256,
        size,
        parser,
        abs: d.abs.clone(),
        stat,
        bytes: parser.is_some().then_some(bytes),
    }
}

/// A path is written to the records and shown in every view of the run,
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

/// Marks the files [`secret_paths`] found as skipped, under their redacted
/// paths.
fn refuse_secret_paths(
    files: &mut [Discovered],
    found: &[(usize, &'static str)],
    redactor: &Redactor,
    warnings: &mut Vec<String>,
) {
    for &(i, category) in found {
        let Some(d) = files.get_mut(i) else {
            continue;
        };
        let redacted = redactor.redact(&d.rel).text.into_owned();
        warnings.push(format!(
            "skipped {redacted}: its path holds what looks like a secret ({category}); rename the file to ingest it"
        ));
        d.detail = Some(format!(
            "the path holds what looks like a secret ({category}); it is recorded redacted"
        ));
        d.rel = redacted;
        d.unread = Some(Unread::SecretInPath);
        d.size = std::fs::symlink_metadata(&d.abs)
            .map(|m| m.len())
            .unwrap_or(0);
    }
}

/// Discovery for `import`: walk only the given paths, carry the rest.
#[allow(clippy::type_complexity)]
fn import_discovery(
    req: &IngestRequest<'_>,
    paths: &[String],
) -> Result<(Vec<Discovered>, Vec<String>, Vec<IngestRecord>)> {
    let mut profile = req.config.profile().clone();
    let mut prefixes = Vec::new();
    for p in paths {
        prefixes.push(normalize_import_path(req.root, p)?);
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
        for record in read_all_records(&base.layout, &base.records)? {
            if !covered(&record.path) {
                carried.push(record);
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

fn lexical_normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_records_round_trip() {
        let record = IngestRecord {
            path: "a/é.md".to_string(),
            sha256: Some("ab".repeat(32)),
            size: 12,
            parser_id: "text/markdown".to_string(),
            parse_status: ParseStatus::Ok,
            reason: Some("empty_file".to_string()),
            detail: None,
        };
        let back: IngestRecord = StoredRecord::from(&record).into();
        assert_eq!(back, record);
        let unread = IngestRecord {
            sha256: None,
            parse_status: ParseStatus::Skipped,
            ..record
        };
        assert_eq!(IngestRecord::from(StoredRecord::from(&unread)), unread);
    }

    #[test]
    fn counts_add_and_subtract() {
        let mut c = IngestCounts {
            files: 3,
            ok: 2,
            skipped: 1,
            failed: 0,
            source_bytes: 10,
        };
        let d = IngestCounts {
            files: 1,
            ok: 1,
            skipped: 0,
            failed: 0,
            source_bytes: 4,
        };
        c.sub(d);
        c.add(d);
        assert_eq!(c.source_bytes, 10);
        assert_eq!(c.files, 3);
    }
}
