//! The pipeline commands: `ingest`, `import`, `run`, `rebuild`, `replay`.
//!
//! Each plans its ingest (what changed since the current run), derives the
//! run id, and then either finds that run stored already (nothing to
//! compute: it is current, or made current again), or builds the shards
//! that changed, reusing every other piece of the current run, and
//! publishes a new run. `rebuild` and `replay` use no cache: they derive
//! everything from the sources, and verify a stored run of the same id
//! instead of writing over it.

use super::manifest::{RunManifests, StageManifest};
use super::postcondition::{Check, Scanner};
use super::publish::{PublishPlan, Published, publish};
use super::stages::{BaseTables, LATER_STAGES, StageInputs, run_later_stages};
use super::{Workspace, WriteOptions, manifest_bytes, open_writer, run_id};
use crate::error::{Error, Result};
use crate::ingest::statcache;
use crate::ingest::{self, BaseRun, IngestCounts, IngestMode, IngestRequest};
use crate::redact::Redactor;
use crate::store::id::ObjectId;
use crate::store::piece::{MemorySink, PieceKind, PieceSink};
use crate::store::txn::{Recovery, Txn};
use crate::store::{Access, StoreWriter, clock};
use serde::Serialize;
use std::collections::BTreeMap;

/// Which command is running.
#[derive(Debug, Clone)]
pub enum Command {
    /// `run`: every stage, reusing what did not change.
    Run,
    /// `ingest`: the ingest stage only, reusing unchanged documents.
    Ingest,
    /// `import PATH...`: re-ingest only these paths, carry the rest forward.
    Import(Vec<String>),
    /// `rebuild`: everything from the sources, no caches; verifies an
    /// existing identical run instead of overwriting it.
    Rebuild,
    /// `replay RUN`: like `rebuild`, with the configuration recorded with
    /// RUN (the workspace passed in carries it), comparing each stage's
    /// outputs hash with RUN's.
    Replay(String),
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Run => "run",
            Command::Ingest => "ingest",
            Command::Import(_) => "import",
            Command::Rebuild => "rebuild",
            Command::Replay(_) => "replay",
        }
    }
}

/// One thing that differs between a stored run and a fresh rebuild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub stage: String,
    /// Store-relative path of the stored artifact.
    pub artifact: String,
    pub detail: String,
}

/// What a pipeline command did.
#[derive(Debug, Clone)]
pub struct PipelineReport {
    pub run_id: String,
    /// `published`, `up_to_date`, `reselected`, `completed`, or for
    /// `rebuild` of an existing run, `identical` / `differs`.
    pub outcome: &'static str,
    pub differences: Vec<Difference>,
    pub manifest_path: std::path::PathBuf,
    pub counts: IngestCounts,
    /// Files parsed, and files whose document was reused.
    pub parsed: usize,
    pub reused: usize,
    /// Files whose content was read (the others' hashes came from the stat
    /// cache).
    pub read: usize,
    pub warnings: Vec<String>,
    /// The records that need a look (skipped, failed, read with a note)
    /// among the files this command looked at again, in path order.
    pub attention: Vec<ingest::IngestRecord>,
    pub published: Published,
    pub recovery: Recovery,
    /// For `replay`: each stage's stored and replayed outputs hash.
    pub comparison: Option<Vec<StageComparison>>,
    /// Commit records the git-provenance stage read from the repository and
    /// reused from the base run (`None`: the stage did not run).
    pub git: Option<crate::git::stage::GitWork>,
}

/// The current run, as the base of a new one (`None` when there is none).
pub fn base_run(writer: &StoreWriter) -> Result<Option<BaseTables>> {
    let Some(current) = writer.state.current_run.clone() else {
        return Ok(None);
    };
    if !run_is_readable(writer, &current) {
        return Ok(None);
    }
    let manifests = RunManifests::read(&writer.layout, &writer.state, &current)?;
    BaseTables::load(&writer.layout, manifests).map(Some)
}

/// The redactor of a write: built from the configured policy and the
/// profile's key (created in `txn` on first use).
pub fn redactor_for(ws: &Workspace, writer: &StoreWriter, txn: &mut Txn) -> Result<Redactor> {
    let policy = ws.config.config.security.redaction.policy();
    if !policy.enabled {
        return Ok(Redactor::disabled());
    }
    let key = writer.redaction_key(txn)?;
    Ok(Redactor::new(&policy, &key)?)
}

/// Runs a pipeline command and publishes (or verifies) its run.
pub fn execute(
    ws: &Workspace,
    opts: &WriteOptions<'_>,
    command: Command,
) -> Result<PipelineReport> {
    let access = match command {
        Command::Rebuild => Access::Rebuild,
        _ => Access::Write,
    };
    let mut timer = crate::progress::Timer::start();
    let mut writer = open_writer(ws, access, opts)?;
    timer.lap("open store");
    // Build without the lock, take it back to publish; if another writer
    // published meanwhile, build again on its run. After a few such
    // rounds, keep the lock for the whole build so this one finishes.
    for round in 0.. {
        let unlock = round < MAX_UNLOCKED_ROUNDS;
        if let Some(report) = attempt(ws, opts, &command, &mut writer, &mut timer, unlock)? {
            return Ok(report);
        }
    }
    unreachable!("the last round holds the lock, so it publishes")
}

/// How many times a build runs without the lock before it holds it.
const MAX_UNLOCKED_ROUNDS: u32 = 3;

/// One build of `command` on the writer's current state, published under
/// the lock; `None` if another writer moved the store before the lock was
/// taken back (nothing was published; the writer holds the new state).
fn attempt(
    ws: &Workspace,
    opts: &WriteOptions<'_>,
    command: &Command,
    writer: &mut StoreWriter,
    timer: &mut crate::progress::Timer,
    unlock: bool,
) -> Result<Option<PipelineReport>> {
    let command = command.clone();
    // The transaction's staging directory is made while the lock is held:
    // another writer's recovery (which runs under the lock) then never sees
    // it half made, and leaves it alone once its `live` file is locked.
    let mut txn = writer.begin()?;
    if unlock {
        writer.unlock();
    }
    let redactor = redactor_for(ws, writer, &mut txn)?;
    // A rebuild uses no cache, so it never needs (or trusts) the current run.
    let fresh = matches!(command, Command::Rebuild | Command::Replay(_));
    let base = if fresh { None } else { base_run(writer)? };
    let schema = writer.support.writes.to_string();
    let mode = match &command {
        Command::Run | Command::Ingest => IngestMode::Incremental,
        Command::Import(paths) => IngestMode::Import(paths.clone()),
        Command::Rebuild | Command::Replay(_) => IngestMode::Fresh,
    };
    // Which stages this command produces: `ingest` only ingests; `import`
    // carries the current run forward with the stages it had.
    let all_stages = match &command {
        Command::Ingest => false,
        Command::Import(_) => base.as_ref().is_some_and(|b| b.manifests.index.is_some()),
        Command::Run | Command::Rebuild | Command::Replay(_) => true,
    };
    let ingest_base = base.as_ref().map(|b| BaseRun {
        layout: writer.layout.clone(),
        run_id: b.run_id.clone(),
        manifest: b.manifests.ingest.clone(),
        records: b.records.clone(),
        documents: b.documents.clone(),
    });
    let started_ns = statcache::now_ns();
    let request = IngestRequest {
        root: &ws.root,
        config: &ws.config,
        redactor: &redactor,
        base: ingest_base.as_ref(),
        mode,
        progress: opts.progress,
        schema_version: schema.clone(),
        started_at: clock::now_utc(),
        stat_cache: (!fresh).then_some(&ws.layout),
    };
    opts.progress.step("scan");
    let mut plan = ingest::plan(&request)?;
    timer.lap("plan");
    let config_hash = ws.config.config_hash();
    let mut git_warnings = Vec::new();
    let git_state = if all_stages {
        super::git_stage::probe(ws, &mut git_warnings)
    } else {
        None
    };
    // The history is a source: its object store counts towards the budget.
    let git_bytes = git_state.as_ref().map_or(0, |p| p.object_bytes);
    let git_state = git_state.map(|p| p.state);
    let canonical = run_id(
        &super::git_stage::run_inputs(&plan.inputs_hash, git_state.as_deref()),
        &config_hash,
        &plan.settings_hash,
        &schema,
    );
    let id = usable_run_id(writer, &canonical);
    let existed = writer.state.runs.contains_key(&id);
    let was_current = writer.state.current_run.as_deref() == Some(id.as_str());
    let stored: Option<RunManifests> = if existed {
        Some(RunManifests::read(&writer.layout, &writer.state, &id)?)
    } else {
        None
    };
    let mut wanted: Vec<&str> = if all_stages {
        LATER_STAGES.to_vec()
    } else {
        Vec::new()
    };
    if git_state.is_some() {
        wanted.push(crate::git::STAGE);
    }
    let complete = stored
        .as_ref()
        .is_some_and(|m| wanted.iter().all(|s| m.require(s).is_ok()));
    // What the stat cache learnt, written while the run goes on (into a
    // store that exists: a first run that is refused leaves no trace).
    let new_cache = plan.cache(&id, &config_hash, started_ns);
    let loaded_cache = plan.loaded_cache.take();
    let mut cache_write = None;
    let mut cache_later = None;
    if writer.is_new() {
        cache_later = Some(new_cache);
    } else {
        cache_write = Some(new_cache.save_in_background(ws.layout.clone(), loaded_cache));
    }
    let publish_cache = move || {
        if let Some(pending) = cache_write {
            pending.publish();
        }
        if let Some(cache) = cache_later {
            cache.save(&ws.layout);
        }
    };
    let read = plan.read;
    let mut warnings = plan.warnings.clone();
    warnings.extend(git_warnings);
    if id != canonical {
        warnings.push(format!(
            "the run these inputs gave before ({}) cannot be read; it is kept as it was, byte for byte, and this run is published as {}",
            canonical, id
        ));
    }

    if complete && !fresh {
        // The run exists with every stage wanted: nothing to compute.
        if !writer.relock(opts.lock_timeout, opts.on_wait)? {
            return Ok(None);
        }
        let manifests = stored.as_ref().map(|m| m.ingest.clone());
        let counts: IngestCounts = manifests
            .as_ref()
            .map(|m| m.counts_as())
            .unwrap_or_default();
        let published = publish(
            writer,
            txn,
            PublishPlan {
                run_id: id.clone(),
                schema_version: schema,
                source_bytes: counts.source_bytes + git_bytes,
                stages: Vec::new(),
                config_snapshot: None,
                command: command.name().to_string(),
                make_current: true,
                postcondition: None,
            },
            &ws.config.config.storage.footprint_budget,
        )?;
        publish_cache();
        return Ok(Some(PipelineReport {
            manifest_path: ws.layout.run_dir(&id).join("ingest-manifest.json"),
            outcome: if was_current {
                "up_to_date"
            } else {
                "reselected"
            },
            run_id: id,
            differences: Vec::new(),
            counts,
            parsed: 0,
            reused: counts.ok,
            read,
            warnings,
            attention: Vec::new(),
            published,
            recovery: writer.recovery.clone(),
            comparison: None,
            git: None,
        }));
    }

    // Build. A fresh derivation of a stored run is only compared with it:
    // its pieces are collected in memory, never written.
    let verify = existed && fresh;
    let memory = MemorySink::default();
    let sink: &dyn PieceSink = if verify { &memory } else { &txn };
    let scan = Scanner::new(&redactor);
    let mut manifests: Vec<StageManifest> = Vec::new();
    let (ingest_manifest, records, documents, built, counts, parsed, reused, attention) =
        match stored.as_ref().filter(|_| !fresh) {
            Some(m) => {
                // The run's ingest is stored; only later stages are missing.
                let records = m.ingest.table(&writer.layout, PieceKind::Records)?;
                let documents = m.ingest.table(&writer.layout, PieceKind::Documents)?;
                let counts: IngestCounts = m.ingest.counts_as();
                (
                    m.ingest.clone(),
                    records,
                    documents,
                    BTreeMap::new(),
                    counts,
                    0,
                    counts.ok,
                    Vec::new(),
                )
            }
            None => {
                let inputs_hash = plan.inputs_hash.clone();
                let settings_hash = plan.settings_hash.clone();
                let out = ingest::build(&request, plan, sink, &scan)?;
                let mut pieces = BTreeMap::new();
                pieces.insert(
                    PieceKind::Records.name().to_string(),
                    out.records.store(sink)?,
                );
                pieces.insert(
                    PieceKind::Documents.name().to_string(),
                    out.documents.store(sink)?,
                );
                let manifest = StageManifest {
                    schema_version: schema.clone(),
                    stage: ingest::STAGE.to_string(),
                    run_id: id.clone(),
                    pipeline_version: ws.config.config.run_metadata.pipeline_version.clone(),
                    auditgraph_version: crate::version::AUDITGRAPH_VERSION.to_string(),
                    config_hash: config_hash.clone(),
                    inputs_hash,
                    outputs_hash: super::manifest::outputs_hash(&pieces),
                    settings_hash,
                    status: "ok".to_string(),
                    counts: serde_json::to_value(out.counts).unwrap_or_default(),
                    pieces,
                    warnings: warnings.clone(),
                    wall_clock_started_at: request.started_at.clone(),
                    wall_clock_finished_at: clock::now_utc(),
                };
                manifests.push(manifest.clone());
                (
                    manifest,
                    out.records,
                    out.documents,
                    out.built,
                    out.counts,
                    out.parsed,
                    out.reused,
                    out.attention,
                )
            }
        };
    timer.lap("ingest");
    if all_stages {
        let later = run_later_stages(
            &StageInputs {
                ws,
                layout: &writer.layout,
                ingest: &ingest_manifest,
                records: &records,
                documents: &documents,
                base: base.as_ref(),
                existing: stored.as_ref().filter(|_| !fresh),
                redactor: &redactor,
                progress: opts.progress,
                schema_version: schema.clone(),
                run_id: id.clone(),
                last: crate::index::stage::STAGE,
            },
            built,
            sink,
            &scan,
        )?;
        manifests.extend(later.manifests);
    } else {
        drop(built);
    }
    timer.lap("extract, link, index");
    let existing_git = stored
        .as_ref()
        .filter(|_| !fresh)
        .is_some_and(|m| m.git.is_some());
    let mut git_work = None;
    if let Some(state) = git_state.clone().filter(|_| !existing_git) {
        opts.progress.step("git provenance");
        let inputs = crate::git::stage::GitInputs {
            root: &ws.root,
            settings: &ws.config.profile().git_provenance,
            layout: &writer.layout,
            sink,
            base: base.as_ref().and_then(|b| b.manifests.git.as_ref()),
            redactor: &redactor,
            scan: &scan,
        };
        let (manifest, work) = super::git_stage::build(ws, &inputs, state, &schema, &id)?;
        git_work = Some(work);
        manifests.push(manifest);
        timer.lap("git provenance");
    }

    let differences = match (&stored, verify) {
        (Some(stored), true) => verify_against_stored(writer, stored, &manifests)?,
        _ => Vec::new(),
    };
    let comparison = match &command {
        Command::Replay(target) => Some(compare_outputs(writer, target, &manifests)?),
        _ => None,
    };
    let snapshot = manifest_bytes(&ws.config.snapshot());
    let check = Check {
        redactor: &redactor,
        policy: ws.config.config.security.redaction.policy(),
        allow_misses: opts.allow_redaction_misses,
    };
    opts.progress.step("check");
    let postcondition = if verify {
        None
    } else {
        let files: Vec<(String, Vec<u8>)> = manifests
            .iter()
            .map(|m| {
                (
                    crate::store::layout::StoreLayout::run_file_rel(
                        &id,
                        &format!("{}-manifest.json", m.stage),
                    ),
                    manifest_bytes(m),
                )
            })
            .chain(std::iter::once((
                crate::store::layout::StoreLayout::run_file_rel(&id, "config-snapshot.json"),
                snapshot.clone(),
            )))
            .collect();
        let refs: Vec<(String, &[u8])> = files
            .iter()
            .map(|(r, b)| (r.clone(), b.as_slice()))
            .collect();
        Some(scan.finish(&check, &refs))
    };
    timer.lap("redaction postcondition");
    opts.progress.step("publish");
    let plan_stages = if verify { Vec::new() } else { manifests };
    crate::store::fault::pause("publish:before-lock");
    if !writer.relock(opts.lock_timeout, opts.on_wait)? {
        return Ok(None);
    }
    timer.lap("wait for the lock");
    let published = publish(
        writer,
        txn,
        PublishPlan {
            run_id: id.clone(),
            schema_version: schema,
            source_bytes: counts.source_bytes + git_bytes,
            stages: plan_stages,
            config_snapshot: Some(snapshot),
            command: command.name().to_string(),
            make_current: true,
            postcondition,
        },
        &ws.config.config.storage.footprint_budget,
    )?;
    timer.lap("publish");
    publish_cache();
    timer.lap("stat cache");
    opts.progress.finish();
    let outcome = match (existed, was_current, &command) {
        (true, _, Command::Rebuild | Command::Replay(_)) if differences.is_empty() => "identical",
        (true, _, Command::Rebuild | Command::Replay(_)) => "differs",
        (false, _, _) => "published",
        (true, true, _) if published.stages.is_empty() => "up_to_date",
        (true, true, _) => "completed",
        (true, false, _) => "reselected",
    };
    Ok(Some(PipelineReport {
        manifest_path: ws.layout.run_dir(&id).join("ingest-manifest.json"),
        run_id: id,
        outcome,
        differences,
        counts,
        parsed,
        reused,
        read,
        warnings,
        attention,
        published,
        recovery: writer.recovery.clone(),
        comparison,
        git: git_work,
    }))
}

/// The records of a run that need a look (skipped, failed, or read with a
/// note), in path order: every shard's records are read.
pub fn attention(ws: &Workspace, run_id: &str) -> Result<Vec<ingest::IngestRecord>> {
    let reader = ws.reader()?;
    let manifests = reader.run(run_id)?;
    let table = manifests.ingest.table(&reader.layout, PieceKind::Records)?;
    Ok(ingest::read_all_records(&reader.layout, &table)?
        .into_iter()
        .filter(|r| r.needs_attention())
        .collect())
}

/// One stage's outputs hash in a stored run and in a fresh derivation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageComparison {
    pub stage: String,
    pub stored_outputs_hash: Option<String>,
    pub replayed_outputs_hash: String,
    pub matches: bool,
}

/// Compares fresh stage outputs with the stored manifests of `run_id`.
fn compare_outputs(
    writer: &StoreWriter,
    run_id: &str,
    fresh: &[StageManifest],
) -> Result<Vec<StageComparison>> {
    let mut out = Vec::new();
    for stage in fresh {
        let stored: Option<StageManifest> = writer.stage_manifest(run_id, &stage.stage)?;
        let stored_hash = stored.map(|m| m.outputs_hash);
        out.push(StageComparison {
            stage: stage.stage.clone(),
            matches: stored_hash.as_deref() == Some(stage.outputs_hash.as_str()),
            stored_outputs_hash: stored_hash,
            replayed_outputs_hash: stage.outputs_hash.clone(),
        });
    }
    Ok(out)
}

/// The id to publish under. Normally the canonical id derived from the
/// inputs; if a stored run already has that id but cannot be read (a
/// manifest lost its schema version, say), the fresh run gets a derived id
/// (`<canonical>` hashed with `superseded-<n>`) so that it can become current
/// without touching the unreadable one.
fn usable_run_id(writer: &StoreWriter, canonical: &str) -> String {
    let mut candidate = canonical.to_string();
    let mut n = 0u32;
    while writer.state.runs.contains_key(&candidate) && !run_is_readable(writer, &candidate) {
        n += 1;
        let h = crate::hashing::FieldHasher::new("run-superseding")
            .field(canonical)
            .field(n.to_string())
            .finish_hex();
        candidate = format!("run_{h}");
    }
    candidate
}

/// The run's manifests all parse, in a schema this binary reads.
fn run_is_readable(writer: &StoreWriter, run_id: &str) -> bool {
    let Some(run) = writer.state.runs.get(run_id) else {
        return false;
    };
    let readable = |v: &str| {
        crate::version::SchemaVersion::parse(v).is_some_and(|v| writer.support.can_read(v))
    };
    readable(&run.schema_version)
        && run.stages.keys().all(|stage| {
            matches!(
                writer.stage_manifest::<StageManifest>(run_id, stage),
                Ok(Some(m)) if readable(&m.schema_version)
            )
        })
}

/// Compares a fresh derivation with the stored run of the same id: each
/// stage's outputs hash (and where they differ, which shards), and every
/// stored piece of a matching stage re-hashed against its id.
fn verify_against_stored(
    writer: &StoreWriter,
    stored: &RunManifests,
    fresh: &[StageManifest],
) -> Result<Vec<Difference>> {
    use rayon::prelude::*;
    let layout = &writer.layout;
    let mut differences = Vec::new();
    for stage in fresh {
        let Ok(old) = stored.require(&stage.stage) else {
            continue;
        };
        let rel = format!("runs/{}/{}-manifest.json", stored.run_id, stage.stage);
        if let Some(entry) = writer
            .state
            .runs
            .get(&stored.run_id)
            .and_then(|r| r.stages.get(&stage.stage))
        {
            let bytes = std::fs::read(layout.dir.join(&entry.manifest))
                .map_err(|e| Error::io("read", layout.dir.join(&entry.manifest), e))?;
            if crate::hashing::sha256_hex(&bytes) != entry.sha256 {
                differences.push(Difference {
                    stage: stage.stage.clone(),
                    artifact: rel.clone(),
                    detail: "the stored manifest no longer matches the hash recorded when it was published".to_string(),
                });
            }
        }
        if old.outputs_hash != stage.outputs_hash {
            for (kind, top) in &stage.pieces {
                match old.pieces.get(kind) {
                    Some(stored_top) if stored_top == top => {}
                    _ => differences.push(Difference {
                        stage: stage.stage.clone(),
                        artifact: rel.clone(),
                        detail: format!(
                            "the {kind} pieces differ: stored table {}, rebuilt {top}",
                            old.pieces
                                .get(kind)
                                .map(|o| o.to_hex())
                                .unwrap_or_else(|| "(none)".to_string())
                        ),
                    }),
                }
            }
            continue;
        }
        // Same outputs: every stored piece must still be what its id says.
        let mut ids: Vec<ObjectId> = Vec::new();
        for top in old.pieces.values() {
            match crate::store::table::ShardTable::load_with_nodes(layout, *top) {
                Ok((table, nodes)) => {
                    ids.extend(nodes);
                    ids.extend(table.pieces().map(|(_, id)| id));
                }
                Err(e) => {
                    // A damaged node: name it (a leaf's damage names the leaf).
                    let artifact = match &e {
                        Error::Corrupt { path, .. } => path
                            .strip_prefix(&layout.dir)
                            .map(|p| p.to_string_lossy().to_string())
                            .unwrap_or_else(|_| top.rel_path()),
                        _ => top.rel_path(),
                    };
                    differences.push(Difference {
                        stage: stage.stage.clone(),
                        artifact,
                        detail: e.to_string(),
                    });
                }
            }
        }
        let damaged: Vec<Difference> = ids
            .par_iter()
            .filter_map(|id| {
                crate::store::piece::verify(layout, *id)
                    .err()
                    .map(|damage| Difference {
                        stage: stage.stage.clone(),
                        artifact: id.rel_path(),
                        detail: damage.detail,
                    })
            })
            .collect();
        differences.extend(damaged);
    }
    Ok(differences)
}
