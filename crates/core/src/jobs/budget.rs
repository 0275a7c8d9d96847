//! `report.budget`: the store's usage against the disk footprint budget,
//! how much each run added, and what `gc --keep N` would reclaim.
//!
//! Usage and the budget come from the store's counters and
//! [`crate::store::budget::evaluate`] (as `status` shows them); the plan
//! is [`crate::gc::plan`], the dry run of `gc`, read without locking.
//! A run's growth is its own directory plus the pieces no earlier run
//! (in publication order) names: what publishing it added to the store.

use super::output::{code, count};
use super::{Report, ReportContext};
use crate::error::Result;
use crate::store::budget::{BudgetReport, evaluate};
use crate::store::fsutil::tree_size;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BudgetOverview {
    pub store_bytes: u64,
    pub store_files: u64,
    pub source_bytes: u64,
    pub budget: BudgetReport,
    /// Oldest first.
    pub runs: Vec<RunGrowth>,
    pub gc: GcPreview,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunGrowth {
    pub run_id: String,
    pub seq: u64,
    pub published_at: Option<String>,
    pub current: bool,
    pub source_bytes: u64,
    /// Bytes the run added: its directory and the pieces it was first to
    /// name.
    pub added_bytes: u64,
    pub new_pieces: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GcPreview {
    pub keep: usize,
    pub kept_runs: Vec<String>,
    pub removed_runs: Vec<String>,
    pub removed_objects: usize,
    pub reclaimed_bytes: u64,
}

pub fn build(ctx: &ReportContext<'_>, keep: usize) -> Result<BudgetOverview> {
    let layout = &ctx.reader.layout;
    let state = &ctx.reader.state;
    let source_bytes = state
        .runs
        .get(&ctx.run_id)
        .map(|r| r.source_bytes)
        .unwrap_or(0);
    let budget = evaluate(
        &ctx.ws.config.config.storage.footprint_budget,
        source_bytes,
        state.accounting.bytes,
        0,
        "jobs run",
    );
    let times = crate::store::chain::published_at(layout, state.head);
    let mut seen = BTreeSet::new();
    let mut runs = Vec::new();
    for (id, entry) in state.runs_in_order() {
        let mut added = tree_size(&layout.run_dir(id))?.0;
        let mut new_pieces = 0;
        for piece in crate::gc::run_pieces(layout, state, id)? {
            if seen.insert(piece) {
                new_pieces += 1;
                added += std::fs::metadata(layout.dir.join(piece.rel_path()))
                    .map(|m| m.len())
                    .unwrap_or(0);
            }
        }
        runs.push(RunGrowth {
            run_id: id.clone(),
            seq: entry.seq,
            published_at: times.get(id).cloned(),
            current: *id == ctx.run_id,
            source_bytes: entry.source_bytes,
            added_bytes: added,
            new_pieces,
        });
    }
    let plan = crate::gc::plan(layout, state, keep, true)?.report;
    Ok(BudgetOverview {
        store_bytes: state.accounting.bytes,
        store_files: state.accounting.files,
        source_bytes,
        budget,
        runs,
        gc: GcPreview {
            keep,
            kept_runs: plan.kept_runs,
            removed_runs: plan.removed_runs,
            removed_objects: plan.removed_objects,
            reclaimed_bytes: plan.reclaimed_bytes,
        },
    })
}

impl Report for BudgetOverview {
    fn title(&self) -> String {
        "Store budget".to_string()
    }

    fn markdown(&self, out: &mut String) {
        let b = &self.budget;
        out.push_str(&format!(
            "\n## Usage\n\n- Store: {} bytes in {}\n- Sources of the current run: {} bytes\n- Limit: {} bytes (multiplier {})\n- Ratio: {:.4} (warn at {}, block at {}): {}\n",
            self.store_bytes,
            count(self.store_files as usize, "file", "files"),
            self.source_bytes,
            b.limit_bytes,
            b.multiplier,
            b.usage_ratio,
            b.warn_threshold,
            b.block_threshold,
            serde_json::to_value(b.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ));
        out.push_str("\n## Growth per run\n\n| run | published (UTC) | sources (bytes) | added (bytes) | new pieces |\n|---|---|---:|---:|---:|\n");
        for r in &self.runs {
            out.push_str(&format!(
                "| {}{} | {} | {} | {} | {} |\n",
                code(&r.run_id),
                if r.current { " (current)" } else { "" },
                r.published_at.as_deref().unwrap_or("-"),
                r.source_bytes,
                r.added_bytes,
                r.new_pieces
            ));
        }
        let g = &self.gc;
        out.push_str(&format!(
            "\n## What gc would reclaim\n\n`auditgraph gc --keep {}` would remove {} and {}, reclaiming {} bytes, and keep {}.\n",
            g.keep,
            count(g.removed_runs.len(), "run", "runs"),
            count(g.removed_objects, "unreferenced object", "unreferenced objects"),
            g.reclaimed_bytes,
            count(g.kept_runs.len(), "run", "runs"),
        ));
        for r in &g.removed_runs {
            out.push_str(&format!("- would remove {}\n", code(r)));
        }
    }
}
