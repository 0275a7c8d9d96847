//! `auditgraph extract`, `link` and `index`: one stage on an existing run
//! (the current one, or `--run-id`), from that run's stored artifacts.
//! A stage that already ran is never run again: its artifacts are immutable.

use super::manifest::StageManifest;
use super::publish::{PublishPlan, Published, publish};
use super::stages::{StageInputs, prerequisite, run_extract, run_index, run_link};
use super::{Workspace, WriteOptions, open_writer};
use crate::error::{Error, Result};
use crate::extract::stage as extract;
use crate::graph::stage as link;
use crate::index::stage as index;
use crate::ingest::IngestManifest;
use crate::store::Access;

/// What a stage command did.
#[derive(Debug, Clone)]
pub struct StageReport {
    pub stage: String,
    pub run_id: String,
    /// `published`, or `already_published` when the run had the stage.
    pub outcome: &'static str,
    pub manifest_path: std::path::PathBuf,
    pub counts: serde_json::Value,
    pub published: Option<Published>,
}

pub fn run_stage(
    ws: &Workspace,
    opts: &WriteOptions<'_>,
    stage: &str,
    run: Option<&str>,
) -> Result<StageReport> {
    let mut writer = open_writer(ws, Access::Write, opts)?;
    let run_id = writer.resolve_run(run)?;
    let manifest_path = ws
        .layout
        .run_dir(&run_id)
        .join(format!("{stage}-manifest.json"));
    let Some(entry) = writer.state.runs.get(&run_id).cloned() else {
        return Err(Error::NotFound {
            message: format!("no run {run_id}"),
        });
    };
    if let Some(existing) = writer.stage_manifest::<StageManifest>(&run_id, stage)? {
        return Ok(StageReport {
            stage: stage.to_string(),
            run_id,
            outcome: "already_published",
            manifest_path,
            counts: existing.counts,
            published: None,
        });
    }
    if let Some(before) = prerequisite(stage)
        && !entry.stages.contains_key(before)
    {
        return Err(Error::NotFound {
            message: format!(
                "run {run_id} has no {before} stage; run `auditgraph {before}` first (or `auditgraph run` for every stage)"
            ),
        });
    }
    let ingest: IngestManifest = writer
        .stage_manifest(&run_id, crate::ingest::STAGE)?
        .ok_or_else(|| Error::corrupt(&manifest_path, "the run has no ingest manifest"))?;
    // Stages computed from a run's own artifacts are written in the run's
    // schema version, like the stages it already has.
    let schema = entry.schema_version.clone();
    if schema != writer.support.writes.to_string() {
        return Err(Error::InvalidArgument {
            message: format!(
                "run {run_id} was written in schema {schema}; adding a stage to it would mix versions. Run `auditgraph rebuild` for a run in schema {}",
                writer.support.writes
            ),
        });
    }
    // A stage must be computed with the configuration of the run it joins,
    // not whatever the workspace holds today.
    let run_ws = run_workspace(ws, &run_id)?;
    if run_ws.config.config_hash() != ingest.config_hash {
        return Err(Error::corrupt(
            ws.layout.run_dir(&run_id).join("config-snapshot.json"),
            "the run's config snapshot does not reproduce the run's config_hash",
        ));
    }
    let ws = &run_ws;
    // Reuse unchanged extractions of the current run when extracting another.
    let base_extract: Option<StageManifest> = match &writer.state.current_run {
        Some(current) if current != &run_id => writer.stage_manifest(current, extract::STAGE)?,
        _ => None,
    };
    let mut txn = writer.begin();
    let redactor = super::run_cmd::redactor_for(ws, &writer, &mut txn)?;
    let inputs = StageInputs {
        ws,
        layout: &writer.layout,
        ingest: &ingest,
        groups: &[],
        base_extract: base_extract.as_ref(),
        redactor: &redactor,
        schema_version: schema.clone(),
        run_id: run_id.clone(),
    };
    let required = |name: &str| -> Result<StageManifest> {
        writer.stage_manifest(&run_id, name)?.ok_or_else(|| {
            Error::corrupt(&manifest_path, format!("the run has no {name} manifest"))
        })
    };
    let (manifest, output) = match stage {
        extract::STAGE => {
            let (m, out, _) = run_extract(&inputs)?;
            (m, out)
        }
        link::STAGE => {
            let extract_manifest = required(extract::STAGE)?;
            let groups = extract::load_groups(&writer.layout, &extract_manifest)?;
            let (m, out, _) = run_link(&inputs, &extract_manifest, &groups)?;
            (m, out)
        }
        index::STAGE => {
            let extract_manifest = required(extract::STAGE)?;
            let link_manifest = required(link::STAGE)?;
            let groups = extract::load_groups(&writer.layout, &extract_manifest)?;
            let graph = link::load_graph(&writer.layout, &link_manifest)?;
            run_index(&inputs, &link_manifest, &graph, &groups, None, None)?
        }
        other => {
            return Err(Error::InvalidArgument {
                message: format!("unknown stage {other}"),
            });
        }
    };
    let published = publish(
        &mut writer,
        txn,
        PublishPlan {
            run_id: run_id.clone(),
            schema_version: schema,
            source_bytes: entry.source_bytes,
            stages: vec![output],
            run_files: Vec::new(),
            command: stage.to_string(),
            make_current: false,
            postcondition: Some(super::postcondition::Check {
                redactor: &redactor,
                policy: ws.config.config.security.redaction.policy(),
                allow_misses: opts.allow_redaction_misses,
            }),
        },
        &ws.config.config.storage.footprint_budget,
    )?;
    Ok(StageReport {
        stage: stage.to_string(),
        run_id,
        outcome: "published",
        manifest_path,
        counts: manifest.counts,
        published: Some(published),
    })
}

/// A workspace carrying the configuration recorded with a run.
pub fn run_workspace(ws: &Workspace, run_id: &str) -> Result<Workspace> {
    let path = ws.layout.run_dir(run_id).join("config-snapshot.json");
    let bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    let snapshot: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::corrupt(&path, format!("not valid JSON: {e}")))?;
    let config = crate::config::from_snapshot(&snapshot, &path)?;
    Ok(Workspace::with_config(ws.root.clone(), config))
}
