//! Publishing stage results as (part of) a run, under the budget.

use crate::error::{Error, Result};
use crate::hashing::sha256_hex;
use crate::store::budget::{self, BudgetReport, BudgetStatus};
use crate::store::layout::StoreLayout;
use crate::store::objects::PreparedObject;
use crate::store::state::{LogEntry, RunEntry, StageEntry};
use crate::store::txn::Txn;
use crate::store::{StoreWriter, clock};
use rayon::prelude::*;
use serde::Serialize;

/// One stage's published files.
#[derive(Debug, Clone)]
pub struct StageOutput {
    pub stage: String,
    /// The manifest file's bytes.
    pub manifest: Vec<u8>,
    /// The stage's replay-log line.
    pub replay: ReplayLine,
    pub objects: Vec<PreparedObject>,
}

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

/// Everything to publish for one run in one transaction.
pub struct PublishPlan<'a> {
    pub run_id: String,
    pub schema_version: String,
    /// Bytes of the run's ingested sources (the budget base).
    pub source_bytes: u64,
    pub stages: Vec<StageOutput>,
    /// Other run files written once with the run (the config snapshot).
    pub run_files: Vec<(String, Vec<u8>)>,
    /// The command name recorded in the run log.
    pub command: String,
    /// Make the run current (every pipeline command does; stage commands on
    /// an older `--run-id` do not).
    pub make_current: bool,
    /// The redaction postcondition to run before anything is written.
    pub postcondition: Option<super::postcondition::Check<'a>>,
}

/// What publishing did.
#[derive(Debug, Clone)]
pub struct Published {
    pub run_id: String,
    pub budget: BudgetReport,
    pub added_bytes: u64,
    /// Stages whose manifests were written.
    pub stages: Vec<String>,
    /// The redaction postcondition, when something new was scanned.
    pub postcondition: Option<super::postcondition::Postcondition>,
}

/// Publishes a plan through `txn` (which may already hold the redaction
/// key). Checks the budget first: on a block nothing is written.
pub fn publish(
    writer: &mut StoreWriter,
    mut txn: Txn,
    plan: PublishPlan,
    settings: &crate::config::FootprintBudget,
) -> Result<Published> {
    let layout = writer.layout.clone();
    let existing = writer.state.runs.get(&plan.run_id).cloned();
    let mut published = Vec::new();
    let mut replay_lines = Vec::new();
    // Stages published before are immutable and never rewritten.
    let mut stages: Vec<StageOutput> = plan
        .stages
        .into_iter()
        .filter(|s| {
            !existing
                .as_ref()
                .is_some_and(|r| r.stages.contains_key(&s.stage))
        })
        .collect();
    let run_files: Vec<(String, Vec<u8>)> = if existing.is_none() {
        plan.run_files
    } else {
        Vec::new()
    };
    // The redaction postcondition, over everything new, before any write.
    let mut postcondition = None;
    if let Some(check) = &plan.postcondition
        && !stages.is_empty()
    {
        let objects: Vec<&PreparedObject> = stages.iter().flat_map(|s| s.objects.iter()).collect();
        let mut files: Vec<(String, &[u8])> = stages
            .iter()
            .map(|s| {
                (
                    StoreLayout::run_file_rel(&plan.run_id, &format!("{}-manifest.json", s.stage)),
                    s.manifest.as_slice(),
                )
            })
            .collect();
        for (name, bytes) in &run_files {
            files.push((
                StoreLayout::run_file_rel(&plan.run_id, name),
                bytes.as_slice(),
            ));
        }
        let mut timer = crate::progress::Timer::start();
        let result = super::postcondition::scan(check, &layout, &objects, &files);
        timer.lap("publish: redaction postcondition");
        if result.status == "fail" {
            return Err(Error::RedactionMiss(Box::new(result)));
        }
        stages.par_iter_mut().for_each(|stage| {
            stage.manifest = super::postcondition::record(&stage.manifest, &result);
        });
        postcondition = Some(result);
    }
    for stage in stages {
        for object in stage.objects {
            txn.add_object(&layout, object);
        }
        let rel =
            StoreLayout::run_file_rel(&plan.run_id, &format!("{}-manifest.json", stage.stage));
        let sha = sha256_hex(&stage.manifest);
        txn.add_file(rel.clone(), stage.manifest);
        replay_lines.push(stage.replay);
        published.push((
            stage.stage,
            StageEntry {
                manifest: rel,
                sha256: sha,
            },
        ));
    }
    for (name, bytes) in run_files {
        txn.add_file(StoreLayout::run_file_rel(&plan.run_id, &name), bytes);
    }
    if !replay_lines.is_empty() {
        let rel = StoreLayout::run_file_rel(&plan.run_id, "replay-log.jsonl");
        let mut log = std::fs::read(layout.dir.join(&rel)).unwrap_or_default();
        for line in &replay_lines {
            log.extend_from_slice(serde_json::to_string(line).unwrap_or_default().as_bytes());
            log.push(b'\n');
        }
        txn.replace_file(&layout, rel, log);
    }

    let report = budget::evaluate(
        settings,
        plan.source_bytes,
        writer.state.accounting.bytes,
        txn.added_bytes(),
        &plan.command,
    );
    if report.status == BudgetStatus::Block {
        return Err(Error::BudgetBlocked(Box::new(report)));
    }
    let added = txn.added_bytes();
    let is_current = writer.state.current_run.as_deref() == Some(plan.run_id.as_str());
    if txn.is_empty() && (is_current || !plan.make_current) {
        // Nothing new and nothing to re-select: leave store.json untouched.
        return Ok(Published {
            run_id: plan.run_id,
            budget: report,
            added_bytes: 0,
            stages: Vec::new(),
            postcondition,
        });
    }
    let stage_names: Vec<String> = published.iter().map(|(s, _)| s.clone()).collect();
    let run_id = plan.run_id.clone();
    writer.commit(txn, |state| {
        let seq = state.next_seq();
        let entry = state
            .runs
            .entry(run_id.clone())
            .or_insert_with(|| RunEntry {
                schema_version: plan.schema_version.clone(),
                seq,
                stages: Default::default(),
                source_bytes: plan.source_bytes,
            });
        for (stage, stage_entry) in published {
            entry.stages.insert(stage, stage_entry);
        }
        if plan.make_current {
            state.current_run = Some(run_id.clone());
        }
        state.log.push(LogEntry {
            seq,
            run_id: run_id.clone(),
            command: plan.command.clone(),
            wall_clock_at: clock::now_utc(),
        });
    })?;
    Ok(Published {
        run_id: plan.run_id,
        budget: report,
        added_bytes: added,
        stages: stage_names,
        postcondition,
    })
}
