//! The pipeline commands: `ingest`, `import`, `run` and `rebuild`.
//!
//! Each computes its stages in memory under the writer lock, derives the run
//! id, and either publishes a new run, re-selects an identical stored run,
//! or (for `rebuild`) verifies the stored run against the fresh result
//! without overwriting anything.

use super::manifest::StageManifest;
use super::publish::{PublishPlan, Published, ReplayLine, StageOutput, publish};
use super::stages::{LATER_STAGES, StageInputs, run_later_stages};
use super::{Workspace, WriteOptions, manifest_bytes, open_writer, run_id};
use crate::error::{Error, Result};
use crate::hashing::sha256_hex;
use crate::ingest::document::DocumentRecord;
use crate::ingest::{self, BaseRun, IngestManifest, IngestMode, IngestRequest};
use crate::redact::Redactor;
use crate::store::objects::{self, PreparedObject};
use crate::store::txn::{Recovery, Txn};
use crate::store::{Access, StoreWriter, clock};
use serde::Serialize;
use std::sync::Arc;

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

/// One artifact that differs between a stored run and a fresh rebuild.
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
    /// `published`, `up_to_date`, `reselected`, or for `rebuild` of an
    /// existing run, `identical` / `differs`.
    pub outcome: &'static str,
    pub differences: Vec<Difference>,
    pub manifest_path: std::path::PathBuf,
    pub counts: ingest::IngestCounts,
    pub parsed: usize,
    pub reused: usize,
    pub warnings: Vec<String>,
    /// The ingest records that need a look: skipped, failed, or read with a
    /// note (invalid front matter, an empty file), in path order.
    pub attention: Vec<ingest::IngestRecord>,
    pub published: Published,
    pub recovery: Recovery,
    /// For `replay`: each stage's stored and replayed outputs hash.
    pub comparison: Option<Vec<StageComparison>>,
}

/// Loads the current run's ingest manifest as the base of a new ingest.
pub fn base_run(writer: &StoreWriter) -> Result<Option<BaseRun>> {
    let Some(current) = writer.state.current_run.clone() else {
        return Ok(None);
    };
    let manifest: Option<IngestManifest> = writer.stage_manifest(&current, ingest::STAGE)?;
    Ok(manifest.map(|m| BaseRun {
        layout: writer.layout.clone(),
        manifest: Arc::new(m),
    }))
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
    let mut txn = writer.begin();
    let redactor = redactor_for(ws, &writer, &mut txn)?;
    timer.lap("redactor");
    // A rebuild uses no cache, so it never needs (or trusts) the current run.
    let fresh = matches!(command, Command::Rebuild | Command::Replay(_));
    let base = if fresh { None } else { base_run(&writer)? };
    let base_stages: Vec<String> = writer
        .state
        .current_run
        .as_ref()
        .and_then(|id| writer.state.runs.get(id))
        .map(|r| r.stages.keys().cloned().collect())
        .unwrap_or_default();
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
        Command::Import(_) => base_stages.iter().any(|s| s == crate::index::stage::STAGE),
        Command::Run | Command::Rebuild | Command::Replay(_) => true,
    };
    // The run's config snapshot passes the redaction postcondition before
    // publish; it is checked while files are parsed, where a core is free
    // (its detector patterns compile there, not on publish's path).
    let snapshot = manifest_bytes(&ws.config.snapshot());
    let output = ingest::ingest(&IngestRequest {
        root: &ws.root,
        config: &ws.config,
        redactor: &redactor,
        base: base.as_ref(),
        mode,
        progress: opts.progress,
        schema_version: schema.clone(),
        started_at: clock::now_utc(),
        // `ingest` alone: the new document groups are scanned for the
        // postcondition while they are compressed. Before the later stages
        // they are scanned while the graph is built, where a core is free.
        prescan: (!all_stages).then_some(&|documents: &[DocumentRecord]| {
            super::postcondition::group_passes(documents, &redactor)
        }),
        while_parsing: Some(&|| super::postcondition::prescan_file(&snapshot, &redactor)),
    })?;
    timer.lap("ingest");
    let mut manifest = output.manifest;
    let canonical = run_id(&manifest.inputs_hash, &manifest.config_hash, &schema);
    let id = usable_run_id(&writer, &canonical);
    manifest.run_id = id.clone();
    manifest.wall_clock_finished_at = clock::now_utc();

    let existed = writer.state.runs.contains_key(&id);
    let was_current = writer.state.current_run.as_deref() == Some(id.as_str());
    let stored_stages: Vec<String> = writer
        .state
        .runs
        .get(&id)
        .map(|r| r.stages.keys().cloned().collect())
        .unwrap_or_default();
    let missing_later = LATER_STAGES
        .iter()
        .any(|s| !stored_stages.iter().any(|x| x == s));
    // The later stages are computed when wanted and not already stored (a
    // rebuild always computes them, to compare).
    let later_wanted = all_stages && (missing_later || fresh);
    let base_extract: Option<StageManifest> = match &writer.state.current_run {
        Some(current) if later_wanted && !fresh => {
            writer.stage_manifest(current, crate::extract::stage::STAGE)?
        }
        _ => None,
    };
    // The ingest manifest is printed while the later stages run.
    let (ingest_bytes, later) = rayon::join(
        || {
            let bytes = manifest_bytes(&manifest);
            if later_wanted {
                super::postcondition::prescan_file(&bytes, &redactor);
            }
            bytes
        },
        || {
            later_wanted
                .then(|| {
                    run_later_stages(&StageInputs {
                        ws,
                        layout: &writer.layout,
                        ingest: &manifest,
                        groups: &output.groups,
                        base_extract: base_extract.as_ref(),
                        redactor: &redactor,
                        schema_version: schema.clone(),
                        run_id: id.clone(),
                    })
                })
                .transpose()
        },
    );
    let mut stages = vec![ingest_stage_output(
        &manifest,
        ingest_bytes,
        output.new_objects,
    )];
    if let Some(later) = later? {
        stages.extend(later.outputs);
        timer.lap("extract, link, index");
    }

    let differences = if existed && fresh {
        verify_against_stored(&writer, &id, &stages)?
    } else {
        Vec::new()
    };
    let comparison = match &command {
        Command::Replay(target) => Some(compare_outputs(&writer, target, &stages)?),
        _ => None,
    };
    let plan = PublishPlan {
        run_id: id.clone(),
        schema_version: schema,
        source_bytes: manifest.counts.source_bytes,
        stages,
        run_files: vec![("config-snapshot.json".to_string(), snapshot)],
        command: command.name().to_string(),
        make_current: true,
        postcondition: Some(super::postcondition::Check {
            redactor: &redactor,
            policy: ws.config.config.security.redaction.policy(),
            allow_misses: opts.allow_redaction_misses,
        }),
    };
    if existed {
        // Same inputs and configuration as a stored run: it is never
        // overwritten; stages it lacks are added. A redaction key created
        // for this transaction is dropped with it.
        txn = writer.begin();
    }
    let published = publish(
        &mut writer,
        txn,
        plan,
        &ws.config.config.storage.footprint_budget,
    )?;
    timer.lap("publish");
    let outcome = match (existed, was_current, &command) {
        (true, _, Command::Rebuild | Command::Replay(_)) if differences.is_empty() => "identical",
        (true, _, Command::Rebuild | Command::Replay(_)) => "differs",
        (false, _, _) => "published",
        (true, true, _) if published.stages.is_empty() => "up_to_date",
        (true, true, _) => "completed",
        (true, false, _) => "reselected",
    };
    Ok(PipelineReport {
        manifest_path: ws.layout.run_dir(&id).join("ingest-manifest.json"),
        run_id: id,
        outcome,
        differences,
        counts: manifest.counts.clone(),
        parsed: output.parsed,
        reused: output.reused,
        warnings: manifest.warnings.clone(),
        attention: manifest
            .records
            .iter()
            .filter(|r| {
                r.parse_status != ingest::ParseStatus::Ok
                    || r.reason
                        .as_deref()
                        .is_some_and(|reason| reason != "unchanged")
            })
            .cloned()
            .collect(),
        published,
        recovery: writer.recovery.clone(),
        comparison,
    })
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
    fresh: &[StageOutput],
) -> Result<Vec<StageComparison>> {
    let mut out = Vec::new();
    for stage in fresh {
        let stored: Option<serde_json::Value> = writer.stage_manifest(run_id, &stage.stage)?;
        let stored_hash = stored
            .as_ref()
            .and_then(|m| m.get("outputs_hash"))
            .and_then(|h| h.as_str())
            .map(str::to_string);
        out.push(StageComparison {
            stage: stage.stage.clone(),
            matches: stored_hash.as_deref() == Some(stage.replay.outputs_hash.as_str()),
            stored_outputs_hash: stored_hash,
            replayed_outputs_hash: stage.replay.outputs_hash.clone(),
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

fn run_is_readable(writer: &StoreWriter, run_id: &str) -> bool {
    let Some(run) = writer.state.runs.get(run_id) else {
        return false;
    };
    let readable = |v: Option<&str>| {
        v.and_then(crate::version::SchemaVersion::parse)
            .is_some_and(|v| writer.support.can_read(v))
    };
    readable(Some(&run.schema_version))
        && run.stages.values().all(|stage| {
            crate::store::manifest_schema_version(&writer.layout.dir.join(&stage.manifest))
                .ok()
                .flatten()
                .is_some_and(|v| readable(Some(&v)))
        })
        && binary_formats_readable(writer, run_id)
}

/// The run's graph and index are in the formats this binary reads. A run
/// written by another development build of the same schema can hold
/// another format; it is superseded like an unreadable run (a new run id),
/// since it can neither be read nor overwritten.
fn binary_formats_readable(writer: &StoreWriter, run_id: &str) -> bool {
    let Some(run) = writer.state.runs.get(run_id) else {
        return true;
    };
    run.stages.keys().all(|stage| {
        let Ok(Some(manifest)) = writer.stage_manifest::<StageManifest>(run_id, stage) else {
            return true;
        };
        manifest.artifacts.iter().all(|a| {
            super::readable_format(&a.kind).is_none_or(|readable| {
                crate::store::objects::peek_format(&writer.layout, &a.object)
                    .is_none_or(|found| found == readable)
            })
        })
    })
}

/// Compares a fresh result with the stored run of the same id: the
/// outputs hash of every stage both have, and every stored object the
/// fresh result produced (re-hashing the stored bytes).
fn verify_against_stored(
    writer: &StoreWriter,
    run_id: &str,
    fresh: &[StageOutput],
) -> Result<Vec<Difference>> {
    let mut differences = Vec::new();
    let Some(run) = writer.state.runs.get(run_id) else {
        return Ok(differences);
    };
    for stage in fresh {
        let Some(entry) = run.stages.get(&stage.stage) else {
            continue;
        };
        let path = writer.layout.dir.join(&entry.manifest);
        let stored_bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        if sha256_hex(&stored_bytes) != entry.sha256 {
            differences.push(Difference {
                stage: stage.stage.clone(),
                artifact: entry.manifest.clone(),
                detail:
                    "the stored manifest no longer matches the hash recorded when it was published"
                        .to_string(),
            });
        }
        let stored: serde_json::Value = serde_json::from_slice(&stored_bytes).unwrap_or_default();
        let stored_hash = stored
            .get("outputs_hash")
            .and_then(|h| h.as_str())
            .unwrap_or("");
        if stored_hash != stage.replay.outputs_hash {
            differences.push(Difference {
                stage: stage.stage.clone(),
                artifact: entry.manifest.clone(),
                detail: format!(
                    "outputs_hash differs: stored {stored_hash}, rebuilt {}",
                    stage.replay.outputs_hash
                ),
            });
        }
        let stored_objects: std::collections::BTreeSet<String> =
            crate::validate::referenced_objects(&stored)
                .into_iter()
                .collect();
        let fresh_manifest: serde_json::Value =
            serde_json::from_slice(&stage.manifest).unwrap_or_default();
        for id in crate::validate::referenced_objects(&fresh_manifest) {
            let rel = crate::store::layout::StoreLayout::object_rel(&id);
            if !stored_objects.contains(&id) {
                differences.push(Difference {
                    stage: stage.stage.clone(),
                    artifact: rel,
                    detail:
                        "the rebuild produced this object; the stored run does not reference it"
                            .to_string(),
                });
                continue;
            }
            match objects::read_payload(&writer.layout, &id) {
                Ok(payload) if sha256_hex(&payload) == id => {}
                Ok(_) => differences.push(Difference {
                    stage: stage.stage.clone(),
                    artifact: rel,
                    detail: "the stored object's content no longer matches its id".to_string(),
                }),
                Err(e) => differences.push(Difference {
                    stage: stage.stage.clone(),
                    artifact: rel,
                    detail: e.to_string(),
                }),
            }
        }
    }
    Ok(differences)
}

/// The ingest stage's publishable output; `bytes` is [`manifest_bytes`] of
/// `manifest` (printed by the caller, in parallel with other work).
pub fn ingest_stage_output(
    manifest: &IngestManifest,
    bytes: Vec<u8>,
    objects: Vec<PreparedObject>,
) -> StageOutput {
    StageOutput {
        stage: ingest::STAGE.to_string(),
        manifest: bytes,
        replay: ReplayLine {
            stage: ingest::STAGE.to_string(),
            run_id: manifest.run_id.clone(),
            schema_version: manifest.schema_version.clone(),
            config_hash: manifest.config_hash.clone(),
            inputs_hash: manifest.inputs_hash.clone(),
            outputs_hash: manifest.outputs_hash.clone(),
            wall_clock_started_at: manifest.wall_clock_started_at.clone(),
            wall_clock_finished_at: manifest.wall_clock_finished_at.clone(),
        },
        objects,
    }
}
