//! Where things live inside a workspace's `.pkg` directory.
//!
//! ```text
//! <root>/.pkg/profiles/<profile>/
//!   store.json        store marker + head: schema version, current run,
//!                     the trail's newest entry and seal, size counters
//!                     (replaced atomically; the commit point of every write)
//!   objects/ab/<id>   content-addressed, zstd-compressed pieces
//!   runs/<run_id>/    one directory per run: stage manifests, the config
//!                     snapshot and the replay log
//!   log/<seq>.json    the sealed trail, one entry per event (see `chain`)
//!   secrets/          the redaction key (mode 0600)
//!   cache/            scratch: what the last run learnt about the files
//!                     (sizes, times, SHA-256), and the last write that
//!                     did not publish (`last-attempt.json`); never part
//!                     of a run
//!   tmp/<txn>/        scratch: staging area of a write in progress
//! ```

use std::path::{Path, PathBuf};

pub const STORE_FILE: &str = "store.json";
pub const OBJECTS_DIR: &str = "objects";
pub const RUNS_DIR: &str = "runs";
pub const TMP_DIR: &str = "tmp";
pub const SECRETS_DIR: &str = "secrets";
pub const KEY_FILE: &str = "redaction.key";
pub const LOG_DIR: &str = super::chain::LOG_DIR;
pub const CACHE_DIR: &str = "cache";
/// Where the marker of an earlier layout (schema v2) is kept once a newer
/// store replaced it, until `gc` removes that layout.
pub const RETIRED_MARKER: &str = "store.v2.json";

/// Top-level entries earlier layouts left: the Python tool's store, and
/// the marker of a schema this binary replaced. `validate-store` lists
/// them as leftovers; `gc` removes them.
pub const LEGACY_ENTRIES: &[&str] = &[
    "sources",
    "documents",
    "segments",
    "chunks",
    "entities",
    "claims",
    "links",
    "indexes",
    "provenance",
    "ner",
    "store.json.superseded",
    RETIRED_MARKER,
];

/// Paths of one profile's store.
#[derive(Debug, Clone)]
pub struct StoreLayout {
    pub root: PathBuf,
    pub profile: String,
    pub dir: PathBuf,
}

impl StoreLayout {
    pub fn new(root: &Path, profile: &str) -> StoreLayout {
        StoreLayout {
            root: root.to_path_buf(),
            profile: profile.to_string(),
            dir: root.join(".pkg").join("profiles").join(profile),
        }
    }

    pub fn store_file(&self) -> PathBuf {
        self.dir.join(STORE_FILE)
    }
    /// What writers lock: the workspace root directory (see `store::lock`).
    pub fn lock_target(&self) -> PathBuf {
        self.root.clone()
    }
    pub fn objects_dir(&self) -> PathBuf {
        self.dir.join(OBJECTS_DIR)
    }
    pub fn runs_dir(&self) -> PathBuf {
        self.dir.join(RUNS_DIR)
    }
    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.runs_dir().join(run_id)
    }
    pub fn tmp_dir(&self) -> PathBuf {
        self.dir.join(TMP_DIR)
    }
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join(LOG_DIR)
    }
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.join(CACHE_DIR)
    }
    pub fn key_file(&self) -> PathBuf {
        self.dir.join(SECRETS_DIR).join(KEY_FILE)
    }

    /// Store-relative path of an object (`objects/ab/abcd...`).
    pub fn object_rel(id: &str) -> String {
        let shard = id.get(..2).unwrap_or("00");
        format!("{OBJECTS_DIR}/{shard}/{id}")
    }

    pub fn object_path(&self, id: &str) -> PathBuf {
        self.dir.join(Self::object_rel(id))
    }

    /// Store-relative path of a file in a run directory.
    pub fn run_file_rel(run_id: &str, name: &str) -> String {
        format!("{RUNS_DIR}/{run_id}/{name}")
    }
}
