//! What an export counts against the workspace's disk budget (DESIGN "Disk
//! footprint budget").
//!
//! An export written under the workspace counts what it adds on top of the
//! store and of the earlier exports in `<root>/exports/` (the default
//! place, see [`super::output::EXPORTS_DIR`]): its size, or the difference
//! when it replaces a file. So twenty exports to distinct names there add
//! up and are refused at the limit, while the same export written again
//! costs only its change, and an export deleted by hand stops counting. An
//! export written outside the workspace is reported, not counted: the user
//! chose where it goes, and it is not the workspace's disk. Exporting
//! stays a read command: nothing is recorded in the store.

use crate::error::Result;
use crate::export::output::OutputTarget;
use crate::store::budget::{BudgetReport, BudgetStatus, WayOut, evaluate, store_figures};
use crate::store::{Found, inspect};
use std::path::Path;

/// The budget of one export.
pub struct Charge {
    pub report: BudgetReport,
    /// False for an export outside the workspace (reported, not counted).
    pub counted: bool,
}

impl Charge {
    pub fn blocks(&self) -> bool {
        self.counted && self.report.status == BudgetStatus::Block
    }
}

/// Bytes of the file at `path` now (0 if there is none).
fn size_now(path: &Path) -> u64 {
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .unwrap_or(0)
}

/// The exports in `<root>/exports/`, by path relative to the root, with
/// their sizes (what later exports count; `status` lists them).
pub fn earlier_exports(root: &Path) -> std::collections::BTreeMap<String, u64> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, u64>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let path = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => walk(root, &path, out),
                Ok(t) if t.is_file() => {
                    if let Ok(rel) = path.strip_prefix(root) {
                        let rel: Vec<String> = rel
                            .components()
                            .map(|c| c.as_os_str().to_string_lossy().into_owned())
                            .collect();
                        out.insert(rel.join("/"), size_now(&path));
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(root, &root.join(super::output::EXPORTS_DIR), &mut out);
    out
}

/// Evaluates the budget of writing `new_len` bytes to `target` (an export,
/// or a report of `jobs run`, which lands in `exports/` too).
pub fn charge(
    ws: &crate::pipeline::Workspace,
    target: &OutputTarget,
    new_len: u64,
    operation: &str,
) -> Result<Charge> {
    let settings = &ws.config.config.storage.footprint_budget;
    let state = match inspect(&ws.layout)? {
        Found::Ours(state) => Some(state),
        _ => None,
    };
    let (store, sources) = state.as_ref().map_or((0, 0), |s| store_figures(s));
    if !target.inside_root {
        return Ok(Charge {
            report: evaluate(settings, sources, store, 0, operation),
            counted: false,
        });
    }
    let earlier: u64 = earlier_exports(&ws.root)
        .iter()
        .filter(|(rel, _)| ws.root.join(rel) != target.path)
        .map(|(_, bytes)| bytes)
        .sum();
    let existing = size_now(&target.path);
    // Replacing a file counts the difference (a smaller export adds nothing).
    let (current, added) = if new_len >= existing {
        (store + earlier + existing, new_len - existing)
    } else {
        (store + earlier + new_len, 0)
    };
    let mut report = evaluate(settings, sources, current, added, operation);
    if let (BudgetStatus::Block, Some(state)) = (report.status, &state) {
        let mut way = WayOut::of(&report, |keep| {
            crate::gc::reclaimable(&ws.layout, state, keep)
        })?;
        way.exports_bytes = Some(earlier + existing);
        report.way_out = Some(way);
    }
    Ok(Charge {
        report,
        counted: true,
    })
}
