//! `store.json`: the store marker and the state of the store, replaced
//! atomically by every write. It is the single source of truth for which
//! runs exist, which one is current and how big the store is; files on disk
//! that it does not account for are leftovers of interrupted writes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const STORE_FORMAT: &str = "auditgraph-store";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreState {
    pub format: String,
    /// The schema version of the store: the newest version that has written
    /// to it. A binary that cannot read it refuses to touch the store.
    pub schema_version: String,
    pub profile: String,
    /// `auditgraph X.Y.Z` of the last writer (informational).
    pub written_by: String,
    /// The current run: what read commands use and what the next run builds
    /// on. Never derived by sorting run ids.
    pub current_run: Option<String>,
    /// Every published run, by id.
    pub runs: BTreeMap<String, RunEntry>,
    /// The run log: one entry per command that published or re-selected a
    /// run, in order. `seq` increases by one per entry.
    pub log: Vec<LogEntry>,
    /// Bytes and files under `objects/` and `runs/` that published runs
    /// account for, maintained on every write (verified by `validate-store`).
    pub accounting: Accounting,
    /// The id of the last committed write transaction (lets recovery tell a
    /// committed transaction's staging leftovers from an interrupted one).
    pub last_txn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEntry {
    pub schema_version: String,
    /// Log sequence number of the first publication.
    pub seq: u64,
    /// Published stage manifests by stage name.
    pub stages: BTreeMap<String, StageEntry>,
    /// Bytes of the sources this run ingested (the budget's base).
    pub source_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageEntry {
    /// Store-relative path of the stage manifest.
    pub manifest: String,
    /// SHA-256 of the manifest file's bytes.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub seq: u64,
    pub run_id: String,
    pub command: String,
    /// Wall-clock time of publication (never hashed).
    pub wall_clock_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Accounting {
    pub bytes: u64,
    pub files: u64,
}

impl StoreState {
    pub fn new(profile: &str, schema_version: &str) -> StoreState {
        StoreState {
            format: STORE_FORMAT.to_string(),
            schema_version: schema_version.to_string(),
            profile: profile.to_string(),
            written_by: format!("auditgraph {}", crate::version::AUDITGRAPH_VERSION),
            current_run: None,
            runs: BTreeMap::new(),
            log: Vec::new(),
            accounting: Accounting::default(),
            last_txn: None,
        }
    }

    pub fn next_seq(&self) -> u64 {
        self.log.last().map(|e| e.seq + 1).unwrap_or(1)
    }

    /// Runs ordered by first publication, oldest first.
    pub fn runs_in_order(&self) -> Vec<(&String, &RunEntry)> {
        let mut runs: Vec<_> = self.runs.iter().collect();
        runs.sort_by_key(|(id, entry)| (entry.seq, (*id).clone()));
        runs
    }

    /// Wall-clock time a run was last published or selected.
    pub fn last_published_at(&self, run_id: &str) -> Option<&str> {
        self.log
            .iter()
            .rev()
            .find(|e| e.run_id == run_id)
            .map(|e| e.wall_clock_at.as_str())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}
