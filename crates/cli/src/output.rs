//! Rendering: human text or one JSON document on stdout; warnings, progress
//! and errors on stderr.

use crate::cli::GlobalArgs;
use auditgraph_core::store::budget::{BudgetReport, BudgetStatus};
use serde_json::Value;
use std::io::{IsTerminal, Write};

pub struct Output {
    pub json: bool,
    pub quiet: bool,
    /// Set by a read command answering from a run that a refused write
    /// left current: added to the `--json` document as `stale`.
    pub stale: std::sync::Mutex<Option<Value>>,
}

impl Output {
    pub fn new(args: &GlobalArgs) -> Output {
        Output {
            json: args.json,
            quiet: args.quiet,
            stale: std::sync::Mutex::new(None),
        }
    }

    /// Prints the command's result: `json` with --json, else `human`.
    pub fn result(&self, json: &Value, human: impl FnOnce() -> String) {
        let mut stdout = std::io::stdout().lock();
        let text = if self.json {
            let stale = self.stale.lock().ok().and_then(|s| s.clone());
            let mut s = match (stale, json) {
                (Some(stale), Value::Object(map)) => {
                    let mut map = map.clone();
                    map.insert("stale".to_string(), stale);
                    serde_json::to_string_pretty(&Value::Object(map))
                }
                _ => serde_json::to_string_pretty(json),
            }
            .unwrap_or_default();
            s.push('\n');
            s
        } else {
            let mut s = human();
            if self.quiet {
                return;
            }
            if !s.is_empty() && !s.ends_with('\n') {
                s.push('\n');
            }
            s
        };
        // A closed stdout (`| head`) is not an error worth reporting.
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }

    /// A warning on stderr (always shown, even with --quiet).
    pub fn warn(&self, message: impl AsRef<str>) {
        eprintln!("warning: {}", message.as_ref());
    }

    /// An informational note on stderr (hidden by --quiet).
    pub fn note(&self, message: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", message.as_ref());
        }
    }

    /// Reports a budget evaluation: silent below warn, a stderr line at warn.
    pub fn budget(&self, report: &BudgetReport) {
        if report.status == BudgetStatus::Warn {
            eprintln!("{}", report.warning_line());
        }
    }

    pub fn stderr_is_terminal(&self) -> bool {
        std::io::stderr().is_terminal()
    }
}

/// A byte count for people: `1.2 MiB (1234567 bytes)`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The first 12 characters of a run id after `run_`, for human output.
pub fn short_run(run_id: &str) -> String {
    let hex = run_id.strip_prefix("run_").unwrap_or(run_id);
    format!("run_{}", &hex[..hex.len().min(12)])
}

/// The store's seal after a write command, as a line of its own
/// (`\nseal: <sha256>`; empty when the store has none). Record it elsewhere:
/// `validate-store --expect-seal` proves later that the store still holds it.
pub fn seal_line(seal: Option<&str>) -> String {
    seal.map(|s| format!("\nseal: {s}")).unwrap_or_default()
}

/// `1 trail entry`, `3 trail entries`.
pub fn trail_entries(n: u64) -> String {
    format!("{n} trail {}", if n == 1 { "entry" } else { "entries" })
}
