//! `auditgraph extract`, `link` and `index`: one stage on an existing run
//! (the current one, or `--run-id`), from that run's stored pieces, with
//! that run's recorded configuration. A stage that already ran is never
//! run again: what a run wrote is immutable.

use super::manifest::{RunManifests, StageManifest};
use super::postcondition::{Check, Scanner};
use super::publish::{PublishPlan, Published, publish};
use super::stages::{StageInputs, prerequisite, run_later_stages};
use super::{Workspace, WriteOptions, manifest_bytes, open_writer};
use crate::error::{Error, Result};
use crate::store::Access;
use crate::store::piece::PieceKind;
use std::collections::BTreeMap;

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
    let stored = RunManifests::read(&writer.layout, &writer.state, &run_id)?;
    // Stages computed from a run's own pieces are written in the run's
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
    let run_ws = run_workspace(ws, &writer.reader(), &run_id)?;
    if run_ws.config.config_hash() != stored.ingest.config_hash {
        return Err(Error::corrupt(
            ws.layout.run_dir(&run_id).join("config-snapshot.json"),
            "the run's config snapshot does not reproduce the run's config_hash",
        ));
    }
    let ws = &run_ws;
    // Reuse unchanged work of the current run.
    let base = match &writer.state.current_run {
        Some(current) if current != &run_id => super::run_cmd::base_run(&writer)?,
        _ => None,
    };
    let mut txn = writer.begin()?;
    let redactor = super::run_cmd::redactor_for(ws, &writer, &mut txn)?;
    let scan = Scanner::new(&redactor);
    let records = stored.ingest.table(&writer.layout, PieceKind::Records)?;
    let documents = stored.ingest.table(&writer.layout, PieceKind::Documents)?;
    let later = run_later_stages(
        &StageInputs {
            ws,
            layout: &writer.layout,
            ingest: &stored.ingest,
            records: &records,
            documents: &documents,
            base: base.as_ref(),
            existing: Some(&stored),
            redactor: &redactor,
            progress: opts.progress,
            schema_version: schema.clone(),
            run_id: run_id.clone(),
            last: match stage {
                s if s == crate::extract::stage::STAGE => crate::extract::stage::STAGE,
                s if s == crate::link::STAGE => crate::link::STAGE,
                s if s == crate::index::stage::STAGE => crate::index::stage::STAGE,
                other => {
                    return Err(Error::InvalidArgument {
                        message: format!("unknown stage {other}"),
                    });
                }
            },
        },
        BTreeMap::new(),
        &txn,
        &scan,
    )?;
    let files: Vec<(String, Vec<u8>)> = later
        .manifests
        .iter()
        .map(|m| {
            (
                crate::store::layout::StoreLayout::run_file_rel(
                    &run_id,
                    &format!("{}-manifest.json", m.stage),
                ),
                manifest_bytes(m),
            )
        })
        .collect();
    let refs: Vec<(String, &[u8])> = files
        .iter()
        .map(|(r, b)| (r.clone(), b.as_slice()))
        .collect();
    let postcondition = scan.finish(
        &Check {
            redactor: &redactor,
            policy: ws.config.config.security.redaction.policy(),
            allow_misses: opts.allow_redaction_misses,
        },
        &refs,
    );
    let counts = later
        .manifests
        .iter()
        .find(|m| m.stage == stage)
        .map(|m| m.counts.clone())
        .unwrap_or_default();
    let published = publish(
        &mut writer,
        txn,
        PublishPlan {
            run_id: run_id.clone(),
            schema_version: schema,
            source_bytes: entry.source_bytes,
            stages: later.manifests,
            config_snapshot: None,
            command: stage.to_string(),
            make_current: false,
            postcondition: Some(postcondition),
        },
        &ws.config.config.storage.footprint_budget,
    )?;
    Ok(StageReport {
        stage: stage.to_string(),
        run_id,
        outcome: "published",
        manifest_path,
        counts,
        published: Some(published),
    })
}

/// A workspace carrying the configuration recorded with a run. The
/// snapshot must still be the file the run's trail entry sealed: a
/// snapshot changed afterwards (even by a byte of the same length) is
/// refused, never used.
pub fn run_workspace(
    ws: &Workspace,
    reader: &crate::store::StoreReader,
    run_id: &str,
) -> Result<Workspace> {
    let path = ws.layout.run_dir(run_id).join("config-snapshot.json");
    let bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    let rel = crate::store::layout::StoreLayout::run_file_rel(run_id, "config-snapshot.json");
    if let Some(sealed) = reader.sealed_file(run_id, &rel)?
        && sealed.sha256 != crate::hashing::sha256_hex(&bytes)
    {
        return Err(Error::corrupt(
            &path,
            format!(
                "the configuration snapshot no longer matches the SHA-256 its run recorded ({}); it was changed after the run was published. `auditgraph validate-store` shows what else changed",
                sealed.sha256
            ),
        ));
    }
    let snapshot: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::corrupt(&path, format!("not valid JSON: {e}")))?;
    let config = crate::config::from_snapshot(&snapshot, &path)?;
    Ok(Workspace::with_config(ws.root.clone(), config))
}
