//! `report.budget`: the store's usage against the disk footprint budget,
//! how much each run added, and what `gc --keep N` would reclaim.
//!
//! Usage and the budget come from the store's counters and
//! [`crate::store::budget::evaluate`] (as `status` shows them); what `gc`
//! would reclaim is [`crate::gc::preview`], its plan, read without locking.
//! A run's growth is its own directory plus the pieces no earlier run
//! (in publication order) names: what publishing it added to the store.

use super::output::{code, count};
use super::{Report, ReportContext};
use crate::error::Result;
use crate::gc::Preview;
use crate::store::budget::{BudgetStatus, evaluate};
use crate::store::fsutil::tree_size;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BudgetOverview {
    pub store_bytes: u64,
    pub store_files: u64,
    pub source_bytes: u64,
    pub budget: Budget,
    /// Oldest first.
    pub runs: Vec<RunGrowth>,
    pub gc: Preview,
}

/// The budget's figures (as `status` evaluates them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Budget {
    pub status: String,
    pub usage_ratio: f64,
    pub limit_bytes: u64,
    pub multiplier: f64,
    pub warn_threshold: f64,
    pub block_threshold: f64,
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
    Ok(BudgetOverview {
        store_bytes: state.accounting.bytes,
        store_files: state.accounting.files,
        source_bytes,
        budget: Budget {
            status: match budget.status {
                BudgetStatus::Ok => "ok",
                BudgetStatus::Warn => "warn",
                BudgetStatus::Block => "block",
            }
            .to_string(),
            usage_ratio: budget.usage_ratio,
            limit_bytes: budget.limit_bytes,
            multiplier: budget.multiplier,
            warn_threshold: budget.warn_threshold,
            block_threshold: budget.block_threshold,
        },
        runs,
        gc: crate::gc::preview(layout, state, keep)?,
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
            b.status
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
