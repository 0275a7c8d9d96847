//! `store.json`: the store marker and the head of the store, replaced
//! atomically by every write (the commit point). It names the current run,
//! the newest entry of the trail (its seq and seal, see [`super::chain`])
//! and the size counters; its list of runs is a cache of what the trail
//! says, checked by `validate-store`. Files on disk that it does not account
//! for are leftovers of interrupted writes.

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
    /// Every run the store holds (not removed by `gc`), by id.
    pub runs: BTreeMap<String, RunEntry>,
    /// The seq of the newest trail entry (0: none yet).
    #[serde(default)]
    pub head: u64,
    /// The seal: SHA-256 of the newest trail entry's bytes.
    #[serde(default)]
    pub seal: Option<String>,
    /// Bytes and files under `objects/`, `runs/` and `log/` that the store
    /// accounts for, maintained on every write (verified by `validate-store`).
    pub accounting: Accounting,
    /// The id of the last committed write transaction (lets recovery tell a
    /// committed transaction's staging leftovers from an interrupted one).
    pub last_txn: Option<String>,
    /// Set when this store replaced the marker of an earlier layout, which
    /// was kept under this name (removed with that layout by `gc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_marker: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEntry {
    pub schema_version: String,
    /// Seq of the trail entry that published it.
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
            head: 0,
            seal: None,
            accounting: Accounting::default(),
            last_txn: None,
            retired_marker: None,
        }
    }

    /// Runs ordered by first publication, oldest first.
    pub fn runs_in_order(&self) -> Vec<(&String, &RunEntry)> {
        let mut runs: Vec<_> = self.runs.iter().collect();
        runs.sort_by_key(|(id, entry)| (entry.seq, (*id).clone()));
        runs
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}
