//! The sealed trail: one small, immutable file per event that changed the
//! store (a run published or re-selected, a stage added, a `gc`), each
//! naming the previous one by the SHA-256 of its bytes, like the entries of
//! a transparency log.
//!
//! An entry records the SHA-256 and size of every file the event wrote in a
//! run directory (manifests, configuration snapshot, replay log); the stage
//! manifests name the run's shard tables, whose nodes name every piece by
//! its SHA-256. So every byte of every run is covered by hashes that chain
//! up to the newest entry, and the SHA-256 of that entry's bytes, the
//! **seal**, proves the whole history: keep a seal, and `validate-store
//! --expect-seal` later shows that the store still holds that exact state
//! and everything since, unchanged. The replay log only grows: each entry
//! that grows it records the new size and the SHA-256 of the whole file at
//! that size, so every earlier prefix stays verifiable.
//!
//! `gc` removes runs but never entries: a removed run's entries are its
//! tombstone, and the chain still links.

use crate::error::{Error, IoContext, Result};
use crate::hashing::sha256_hex;
use crate::store::layout::StoreLayout;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const LOG_DIR: &str = "log";
pub const ENTRY_FORMAT: &str = "auditgraph-log-entry";

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A new run (its files are listed).
    Publish,
    /// Stages added to an existing run (the new files are listed).
    Complete,
    /// An existing run made current again.
    Select,
    /// Runs removed by `gc`.
    Gc,
}

/// A file's SHA-256 and size when an entry was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSeal {
    pub sha256: String,
    pub size: u64,
}

impl FileSeal {
    pub fn of(bytes: &[u8]) -> FileSeal {
        FileSeal {
            sha256: sha256_hex(bytes),
            size: bytes.len() as u64,
        }
    }
}

/// One entry of the trail (`log/<seq>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEntry {
    pub format: String,
    pub schema_version: String,
    /// 1 for the first entry, then one more per entry.
    pub seq: u64,
    /// The seal before this entry (the SHA-256 of the previous entry's
    /// bytes); `None` for the first.
    pub prev: Option<String>,
    pub event: Event,
    /// The command that wrote it (`run`, `rebuild`, `gc`, ...).
    pub command: String,
    /// The run the event is about (`None` for `gc`).
    pub run_id: Option<String>,
    /// The current run after the event.
    pub current_run: Option<String>,
    /// Store-relative path -> SHA-256 and size of every file the event
    /// wrote or grew.
    pub files: BTreeMap<String, FileSeal>,
    /// Runs the event removed (`gc`).
    pub removed_runs: Vec<String>,
    /// Wall-clock time of the event (never part of a run id or piece).
    pub wall_clock_at: String,
}

impl ChainEntry {
    /// The entry's bytes as stored: compact JSON and a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

/// Store-relative path of entry `seq`.
pub fn entry_rel(seq: u64) -> String {
    format!("{LOG_DIR}/{seq:08}.json")
}

/// An entry read back, with the SHA-256 of its bytes (its seal).
#[derive(Debug, Clone)]
pub struct Sealed {
    pub entry: ChainEntry,
    pub seal: String,
}

/// Reads entry `seq`.
pub fn read_entry(layout: &StoreLayout, seq: u64) -> Result<Sealed> {
    let path = layout.dir.join(entry_rel(seq));
    let bytes = std::fs::read(&path).ctx("read the store's log entry", &path)?;
    let entry: ChainEntry = serde_json::from_slice(&bytes)
        .map_err(|e| Error::corrupt(&path, format!("not a log entry: {e}")))?;
    if entry.seq != seq || entry.format != ENTRY_FORMAT {
        return Err(Error::corrupt(
            &path,
            format!(
                "the file holds entry {} of format {}",
                entry.seq, entry.format
            ),
        ));
    }
    Ok(Sealed {
        seal: sha256_hex(&bytes),
        entry,
    })
}

/// Wall-clock time each run was last published or selected, from the
/// trail (best effort: an unreadable trail gives no times).
pub fn published_at(layout: &StoreLayout, head: u64) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for seq in 1..=head {
        if let Ok(sealed) = read_entry(layout, seq)
            && let Some(run) = &sealed.entry.run_id
        {
            out.insert(run.clone(), sealed.entry.wall_clock_at.clone());
        }
    }
    out
}
