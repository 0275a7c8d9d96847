//! The last write that did not publish (refused or failed), kept in the
//! store's scratch `cache/` so that read commands can say their answers come
//! from an older run than the one the user asked for. The store itself is
//! untouched: a refusal leaves it byte for byte as it was. A write that
//! publishes (or finds nothing to do) clears the record.

use super::layout::StoreLayout;
use serde::{Deserialize, Serialize};

const FILE: &str = "last-attempt.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastAttempt {
    /// The command (`run`, `ingest`, `import`, `rebuild`).
    pub command: String,
    /// The machine code of its error (`budget_blocked`, `redaction_miss`, ...).
    pub code: String,
    /// Its first line.
    pub message: String,
    /// What it says to do (the error's first hint).
    pub hint: Option<String>,
    /// The current run when it was refused: read commands of a later run
    /// are not stale.
    pub current_run: Option<String>,
    /// UTC, RFC 3339.
    pub at: String,
}

fn path(layout: &StoreLayout) -> std::path::PathBuf {
    layout.cache_dir().join(FILE)
}

/// Records a write that did not publish. Best effort: a record that cannot
/// be written only loses the warning, never the user's work.
pub fn record(layout: &StoreLayout, attempt: &LastAttempt) {
    let Ok(bytes) = serde_json::to_vec_pretty(attempt) else {
        return;
    };
    let dir = layout.cache_dir();
    // Only into an existing store: a refusal before anything was stored
    // (nothing ingested, a newer store) creates nothing.
    if !layout.dir.is_dir() || std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let tmp = dir.join(format!("{FILE}.{}.tmp", std::process::id()));
    if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, path(layout)).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Forgets the record (a write published, or had nothing to do).
pub fn clear(layout: &StoreLayout) {
    let _ = std::fs::remove_file(path(layout));
}

/// The record, if the last write did not publish and the current run is
/// still the one it left (one small read; no walk of the sources).
pub fn stale(layout: &StoreLayout, current_run: Option<&str>) -> Option<LastAttempt> {
    let bytes = std::fs::read(path(layout)).ok()?;
    let attempt: LastAttempt = serde_json::from_slice(&bytes).ok()?;
    (attempt.current_run.as_deref() == current_run).then_some(attempt)
}
