//! `auditgraph ingest` and `auditgraph import`.

use super::publish::{PublishPlan, Published, ReplayLine, StageOutput, publish};
use super::{Workspace, WriteOptions, manifest_bytes, open_writer, run_id};
use crate::error::Result;
use crate::ingest::{self, BaseRun, IngestManifest, IngestMode, IngestRequest};
use crate::redact::Redactor;
use crate::store::txn::{Recovery, Txn};
use crate::store::{Access, StoreWriter, clock};
use std::sync::Arc;

/// What `ingest` / `import` did.
#[derive(Debug, Clone)]
pub struct IngestReport {
    pub run_id: String,
    /// `published` (a new run), `up_to_date` (the current run already holds
    /// exactly these inputs) or `reselected` (an earlier run with these
    /// inputs became current again).
    pub outcome: &'static str,
    pub manifest_path: std::path::PathBuf,
    pub counts: ingest::IngestCounts,
    pub parsed: usize,
    pub reused: usize,
    pub warnings: Vec<String>,
    pub published: Published,
    pub recovery: Recovery,
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

/// Runs the ingest stage and publishes its run.
pub fn ingest(
    ws: &Workspace,
    opts: &WriteOptions<'_>,
    mode: IngestMode,
    command: &str,
) -> Result<IngestReport> {
    let access = if matches!(mode, IngestMode::Fresh) {
        Access::Rebuild
    } else {
        Access::Write
    };
    let mut writer = open_writer(ws, access, opts)?;
    let mut txn = writer.begin();
    let redactor = redactor_for(ws, &writer, &mut txn)?;
    let base = base_run(&writer)?;
    let schema = writer.support.writes.to_string();
    let output = ingest::ingest(&IngestRequest {
        root: &ws.root,
        config: &ws.config,
        redactor: &redactor,
        base: base.as_ref(),
        mode,
        progress: opts.progress,
        schema_version: schema.clone(),
        started_at: clock::now_utc(),
    })?;
    let mut manifest = output.manifest;
    let id = run_id(&manifest.inputs_hash, &manifest.config_hash, &schema);
    manifest.run_id = id.clone();
    manifest.wall_clock_finished_at = clock::now_utc();

    let existed = writer.state.runs.contains_key(&id);
    let was_current = writer.state.current_run.as_deref() == Some(id.as_str());
    let stage = ingest_stage_output(&manifest, output.new_objects);
    let plan = PublishPlan {
        run_id: id.clone(),
        schema_version: schema,
        source_bytes: manifest.counts.source_bytes,
        stages: vec![stage],
        run_files: vec![(
            "config-snapshot.json".to_string(),
            manifest_bytes(&ws.config.snapshot()),
        )],
        command: command.to_string(),
        make_current: true,
    };
    if existed {
        // Same inputs and configuration as a stored run: nothing new to
        // write; never overwrite it. The redaction key is only kept if this
        // transaction publishes something.
        txn = writer.begin();
    }
    let published = publish(
        &mut writer,
        txn,
        plan,
        &ws.config.config.storage.footprint_budget,
    )?;
    let outcome = match (existed, was_current) {
        (false, _) => "published",
        (true, true) => "up_to_date",
        (true, false) => "reselected",
    };
    Ok(IngestReport {
        manifest_path: ws.layout.run_dir(&id).join("ingest-manifest.json"),
        run_id: id,
        outcome,
        counts: manifest.counts.clone(),
        parsed: output.parsed,
        reused: output.reused,
        warnings: manifest.warnings.clone(),
        published,
        recovery: writer.recovery.clone(),
    })
}

/// The stage output of an ingest manifest.
pub fn ingest_stage_output(
    manifest: &IngestManifest,
    objects: Vec<crate::store::objects::PreparedObject>,
) -> StageOutput {
    StageOutput {
        stage: ingest::STAGE.to_string(),
        manifest: manifest_bytes(manifest),
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
