//! The disk footprint budget (DESIGN "Disk footprint budget").
//!
//! limit = floor(max(source bytes, 1 MiB) x multiplier); usage = the store's
//! size after the operation (its maintained counter plus what the operation
//! is about to add); ratio = usage / limit. At or above `block_threshold`
//! nothing is written; from `warn_threshold` on the figures are reported.
//! The check reads counters only, never walks the store.

use crate::config::FootprintBudget;
use serde::Serialize;
use std::fmt;

/// Sources smaller than this count as this much.
pub const MIN_SOURCE_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetStatus {
    Ok,
    Warn,
    Block,
}

/// The outcome of a budget check, with every figure needed to explain it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetReport {
    pub status: BudgetStatus,
    pub usage_ratio: f64,
    pub limit_bytes: u64,
    /// Store size after the operation (current + added).
    pub projected_bytes: u64,
    pub current_bytes: u64,
    pub added_bytes: u64,
    pub source_bytes: u64,
    pub multiplier: f64,
    pub warn_threshold: f64,
    pub block_threshold: f64,
    /// What the operation was (`ingest`, `export`, ...).
    pub operation: String,
    /// On a block: what would let the operation through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub way_out: Option<WayOut>,
}

/// What frees enough room for a blocked operation, computed, never guessed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WayOut {
    /// Bytes that must go for the operation to fit under the block
    /// threshold.
    pub needed_bytes: u64,
    /// The largest `--keep` whose `gc` frees enough (`None`: even
    /// `gc --keep 0` does not).
    pub gc_keep: Option<usize>,
    /// What that `gc` frees (or `gc --keep 0`, when none frees enough).
    pub gc_frees_bytes: u64,
    /// The smallest multiplier (to one decimal) that lets it through as
    /// things are.
    pub multiplier_needed: f64,
    /// Bytes of earlier exports under the workspace the budget counts
    /// (exports only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exports_bytes: Option<u64>,
}

impl WayOut {
    /// The way out of a blocked `report`, given what `gc --keep N` would
    /// reclaim (`reclaimable(N)`).
    pub fn of(
        report: &BudgetReport,
        reclaimable: impl Fn(usize) -> crate::error::Result<u64>,
    ) -> crate::error::Result<WayOut> {
        // Fits when projected / limit < block, i.e. projected <= allowed.
        let allowed = ((report.limit_bytes as f64) * report.block_threshold).ceil() as u64;
        let allowed = allowed.saturating_sub(1);
        let needed_bytes = report.projected_bytes.saturating_sub(allowed);
        let mut gc_keep = None;
        let mut gc_frees_bytes = 0;
        for keep in (0..=crate::gc::DEFAULT_KEEP).rev() {
            gc_frees_bytes = reclaimable(keep)?;
            if gc_frees_bytes >= needed_bytes {
                gc_keep = Some(keep);
                break;
            }
        }
        let base = report.source_bytes.max(MIN_SOURCE_BYTES) as f64;
        let exact = report.projected_bytes as f64 / (base * report.block_threshold);
        // Rounded up (to a tenth from 1 on, to a thousandth below), and
        // strictly above the exact figure.
        let scale = if exact >= 1.0 { 10.0 } else { 1000.0 };
        let mut steps = (exact * scale).ceil();
        if steps / scale <= exact {
            steps += 1.0;
        }
        Ok(WayOut {
            needed_bytes,
            gc_keep,
            gc_frees_bytes,
            multiplier_needed: steps / scale,
            exports_bytes: None,
        })
    }
}

/// Evaluates the budget for an operation that adds `added` bytes to a store
/// of `current` bytes whose sources total `source_bytes`.
pub fn evaluate(
    settings: &FootprintBudget,
    source_bytes: u64,
    current: u64,
    added: u64,
    operation: &str,
) -> BudgetReport {
    let base = source_bytes.max(MIN_SOURCE_BYTES);
    let limit = ((base as f64) * settings.multiplier).floor().max(1.0) as u64;
    let projected = current.saturating_add(added);
    // Dividing exact integers gives the correctly rounded ratio, so a ratio
    // of exactly 0.8 compares equal to the configured 0.8.
    let ratio = projected as f64 / limit as f64;
    let status = if ratio >= settings.block_threshold {
        BudgetStatus::Block
    } else if ratio >= settings.warn_threshold {
        BudgetStatus::Warn
    } else {
        BudgetStatus::Ok
    };
    BudgetReport {
        status,
        usage_ratio: ratio,
        limit_bytes: limit,
        projected_bytes: projected,
        current_bytes: current,
        added_bytes: added,
        source_bytes,
        multiplier: settings.multiplier,
        warn_threshold: settings.warn_threshold,
        block_threshold: settings.block_threshold,
        operation: operation.to_string(),
        way_out: None,
    }
}

impl BudgetReport {
    /// `usage=… limit=… ratio=… (warn at 0.80, block at 1.00)`
    pub fn figures(&self) -> String {
        format!(
            "usage={} limit={} ratio={:.4} (warn at {:.2}, block at {:.2})",
            self.projected_bytes,
            self.limit_bytes,
            self.usage_ratio,
            self.warn_threshold,
            self.block_threshold
        )
    }

    /// The stderr line for a warning.
    pub fn warning_line(&self) -> String {
        format!("budget: warn {}", self.figures())
    }
}

impl fmt::Display for BudgetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "budget: block {}; {} would add {} bytes to {} of {} bytes (limit = max(sources {} bytes, 1 MiB) x multiplier {}); nothing was written",
            self.figures(),
            self.operation,
            self.added_bytes,
            if self.operation == "export" {
                "the store and the earlier exports under the workspace"
            } else {
                "a store"
            },
            self.current_bytes,
            self.source_bytes,
            self.multiplier
        )
    }
}

/// The store's counted bytes and the current run's source bytes (the
/// budget's base).
pub fn store_figures(state: &crate::store::state::StoreState) -> (u64, u64) {
    let sources = state
        .current_run
        .as_ref()
        .and_then(|id| state.runs.get(id))
        .map_or(0, |r| r.source_bytes);
    (state.accounting.bytes, sources)
}

/// Evaluates the budget of a profile's store from its maintained counters
/// (`store.json`) alone: no walk of the store, whatever its size. A block
/// carries the computed way out.
pub fn check_store(
    layout: &crate::store::layout::StoreLayout,
    settings: &FootprintBudget,
    added: u64,
    operation: &str,
) -> crate::error::Result<BudgetReport> {
    let state = match crate::store::inspect(layout)? {
        crate::store::Found::Ours(state) => Some(state),
        _ => None,
    };
    let (current, sources) = state.as_ref().map_or((0, 0), |s| store_figures(s));
    let mut report = evaluate(settings, sources, current, added, operation);
    if let (BudgetStatus::Block, Some(state)) = (report.status, &state) {
        report.way_out = Some(WayOut::of(&report, |keep| {
            crate::gc::reclaimable(layout, state, keep)
        })?);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(multiplier: f64) -> FootprintBudget {
        FootprintBudget {
            multiplier,
            warn_threshold: 0.8,
            block_threshold: 1.0,
        }
    }

    #[test]
    fn small_sources_count_as_one_mib() {
        let r = evaluate(&settings(1.0), 10, 0, 0, "ingest");
        assert_eq!(r.limit_bytes, MIN_SOURCE_BYTES);
    }

    #[test]
    fn exact_boundaries() {
        let s = settings(5.0); // limit 5 MiB = 5_242_880
        let limit = 5 * MIN_SOURCE_BYTES;
        let at = |used: u64| evaluate(&s, 0, used, 0, "x").status;
        assert_eq!(at(limit * 4 / 5 - 1), BudgetStatus::Ok);
        assert_eq!(at(limit * 4 / 5), BudgetStatus::Warn);
        assert_eq!(at(limit - 1), BudgetStatus::Warn);
        assert_eq!(at(limit), BudgetStatus::Block);
    }

    #[test]
    fn added_bytes_count() {
        let r = evaluate(
            &settings(1.0),
            0,
            MIN_SOURCE_BYTES / 2,
            MIN_SOURCE_BYTES / 2,
            "x",
        );
        assert_eq!(r.status, BudgetStatus::Block);
        assert_eq!(r.projected_bytes, MIN_SOURCE_BYTES);
    }
}
