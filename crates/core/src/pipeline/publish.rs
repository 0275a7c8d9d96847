//! Publishing stage results as (part of) a run, under the budget, with an
//! entry in the sealed trail.

use super::manifest::StageManifest;
use super::postcondition::Postcondition;
use crate::error::{Error, Result};
use crate::store::budget::{self, BudgetReport, BudgetStatus};
use crate::store::chain::{self, ChainEntry, Event, FileSeal};
use crate::store::layout::StoreLayout;
use crate::store::state::{RunEntry, StageEntry};
use crate::store::txn::Txn;
use crate::store::{StoreWriter, clock};
use serde::Serialize;
use std::collections::BTreeMap;

/// One line of `runs/<run_id>/replay-log.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ReplayLine {
    pub stage: String,
    pub run_id: String,
    pub schema_version: String,
    pub config_hash: String,
    pub inputs_hash: String,
    pub outputs_hash: String,
    pub wall_clock_started_at: String,
    pub wall_clock_finished_at: String,
}

impl ReplayLine {
    pub fn of(m: &StageManifest) -> ReplayLine {
        ReplayLine {
            stage: m.stage.clone(),
            run_id: m.run_id.clone(),
            schema_version: m.schema_version.clone(),
            config_hash: m.config_hash.clone(),
            inputs_hash: m.inputs_hash.clone(),
            outputs_hash: m.outputs_hash.clone(),
            wall_clock_started_at: m.wall_clock_started_at.clone(),
            wall_clock_finished_at: m.wall_clock_finished_at.clone(),
        }
    }
}

/// Everything to publish for one run in one transaction.
pub struct PublishPlan {
    pub run_id: String,
    pub schema_version: String,
    /// Bytes of the run's ingested sources (the budget base).
    pub source_bytes: u64,
    /// New stage manifests (stages the run already has are never written
    /// again).
    pub stages: Vec<StageManifest>,
    /// The configuration snapshot, written with a new run.
    pub config_snapshot: Option<Vec<u8>>,
    /// The command name recorded in the trail.
    pub command: String,
    /// Make the run current.
    pub make_current: bool,
    /// The redaction postcondition over the new pieces and run files
    /// (recorded in every new manifest).
    pub postcondition: Option<Postcondition>,
}

/// What publishing did.
#[derive(Debug, Clone)]
pub struct Published {
    pub run_id: String,
    pub budget: BudgetReport,
    pub added_bytes: u64,
    /// Stages whose manifests were written.
    pub stages: Vec<String>,
    pub postcondition: Option<Postcondition>,
    /// The seal after publishing (unchanged when nothing was written).
    pub seal: Option<String>,
}

/// The manifest's bytes with the postcondition recorded.
fn manifest_bytes(m: &StageManifest, postcondition: Option<&Postcondition>) -> Vec<u8> {
    let bytes = super::manifest_bytes(m);
    match postcondition {
        Some(p) => super::postcondition::record(&bytes, p),
        None => bytes,
    }
}

/// Publishes a plan through `txn`. Checks the budget first: on a block
/// nothing is written.
pub fn publish(
    writer: &mut StoreWriter,
    mut txn: Txn,
    plan: PublishPlan,
    settings: &crate::config::FootprintBudget,
) -> Result<Published> {
    let existing = writer.state.runs.get(&plan.run_id).cloned();
    let stages: Vec<StageManifest> = plan
        .stages
        .into_iter()
        .filter(|s| {
            !existing
                .as_ref()
                .is_some_and(|r| r.stages.contains_key(&s.stage))
        })
        .collect();
    let snapshot = if existing.is_none() {
        plan.config_snapshot
    } else {
        None
    };
    let mut files: BTreeMap<String, FileSeal> = BTreeMap::new();
    let mut entries: Vec<(String, StageEntry)> = Vec::new();
    let postcondition = plan.postcondition.clone();
    let mut replay = Vec::new();
    for stage in &stages {
        let rel =
            StoreLayout::run_file_rel(&plan.run_id, &format!("{}-manifest.json", stage.stage));
        let bytes = manifest_bytes(stage, postcondition.as_ref());
        let seal = FileSeal::of(&bytes);
        entries.push((
            stage.stage.clone(),
            StageEntry {
                manifest: rel.clone(),
                sha256: seal.sha256.clone(),
            },
        ));
        files.insert(rel.clone(), seal);
        txn.add_file(rel, bytes);
        replay.push(ReplayLine::of(stage));
    }
    if let Some(bytes) = snapshot {
        let rel = StoreLayout::run_file_rel(&plan.run_id, "config-snapshot.json");
        files.insert(rel.clone(), FileSeal::of(&bytes));
        txn.add_file(rel, bytes);
    }
    if !replay.is_empty() {
        let rel = StoreLayout::run_file_rel(&plan.run_id, "replay-log.jsonl");
        let mut log = if existing.is_some() {
            std::fs::read(writer.layout.dir.join(&rel)).unwrap_or_default()
        } else {
            Vec::new()
        };
        for line in &replay {
            log.extend_from_slice(serde_json::to_string(line).unwrap_or_default().as_bytes());
            log.push(b'\n');
        }
        files.insert(rel.clone(), FileSeal::of(&log));
        txn.replace_file(rel, log);
    }
    if let Some(result) = &postcondition
        && result.status == "fail"
    {
        return Err(Error::RedactionMiss(Box::new(result.clone())));
    }

    let is_current = writer.state.current_run.as_deref() == Some(plan.run_id.as_str());
    let event = match (&existing, stages.is_empty()) {
        (None, _) => Some(Event::Publish),
        (Some(_), false) => Some(Event::Complete),
        (Some(_), true) if plan.make_current && !is_current => Some(Event::Select),
        (Some(_), true) => None,
    };
    let Some(event) = event else {
        // Nothing new and nothing to re-select: leave the store untouched.
        let report = budget::evaluate(
            settings,
            plan.source_bytes,
            writer.state.accounting.bytes,
            0,
            &plan.command,
        );
        return Ok(Published {
            run_id: plan.run_id,
            budget: report,
            added_bytes: 0,
            stages: Vec::new(),
            postcondition,
            seal: writer.state.seal.clone(),
        });
    };
    let current_run = if plan.make_current {
        Some(plan.run_id.clone())
    } else {
        writer.state.current_run.clone()
    };
    let seq = writer.state.head + 1;
    let entry = ChainEntry {
        format: chain::ENTRY_FORMAT.to_string(),
        schema_version: writer.support.writes.to_string(),
        seq,
        prev: writer.state.seal.clone(),
        event,
        command: plan.command.clone(),
        run_id: Some(plan.run_id.clone()),
        current_run: current_run.clone(),
        files,
        removed_runs: Vec::new(),
        wall_clock_at: clock::now_utc(),
    };
    let entry_bytes = entry.to_bytes();
    let seal = crate::hashing::sha256_hex(&entry_bytes);
    txn.add_file(chain::entry_rel(seq), entry_bytes);

    let added = txn.added_bytes();
    let report = budget::evaluate(
        settings,
        plan.source_bytes,
        writer.state.accounting.bytes,
        added,
        &plan.command,
    );
    if report.status == BudgetStatus::Block {
        let mut report = report;
        report.way_out = Some(budget::WayOut::of(&report, |keep| {
            crate::gc::reclaimable(&writer.layout, &writer.state, keep)
        })?);
        return Err(Error::BudgetBlocked(Box::new(report)));
    }
    let stage_names: Vec<String> = entries.iter().map(|(s, _)| s.clone()).collect();
    let run_id = plan.run_id.clone();
    let seal_after = seal.clone();
    writer.commit(txn, |state| {
        let entry = state
            .runs
            .entry(run_id.clone())
            .or_insert_with(|| RunEntry {
                schema_version: plan.schema_version.clone(),
                seq,
                stages: Default::default(),
                source_bytes: plan.source_bytes,
            });
        for (stage, stage_entry) in entries {
            entry.stages.insert(stage, stage_entry);
        }
        state.current_run = current_run;
        state.head = seq;
        state.seal = Some(seal_after);
    })?;
    Ok(Published {
        run_id: plan.run_id,
        budget: report,
        added_bytes: added,
        stages: stage_names,
        postcondition,
        seal: Some(seal),
    })
}
