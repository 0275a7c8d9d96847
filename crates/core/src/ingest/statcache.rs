//! What the last run learnt about each file, so the next one need not read
//! a file whose size, times and inode say it did not change (as git's
//! index does).
//!
//! The cache (`cache/files`) is scratch: it is not part of any run, never
//! sealed or counted against the budget, and deleting it only makes the
//! next run read every file again. It is trusted only for a file whose
//! device, inode, size, modification and status-change times (to the
//! nanosecond) are all as recorded, and a file modified less than
//! [`RACY_WINDOW`] before the run that recorded it is recorded without
//! them: on file systems with coarse timestamps a later write within the
//! same tick would otherwise look unchanged. `rebuild` never uses it.
//!
//! It also records, for every discovered path, the inputs the run hashed
//! (content hash, or size and why the file was not read): when it describes
//! the current run, a run over unchanged files finds that out without
//! reading any piece.

use crate::store::layout::StoreLayout;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

const FILE_NAME: &str = "files";
/// 2: stored uncompressed (a cache of hashes and times compresses to about
/// half, and compressing it cost more than an edit's whole run).
const FORMAT: u32 = 2;
/// Files modified this recently before a run are not trusted by the next.
pub const RACY_WINDOW_NS: i128 = 2_000_000_000;

/// What identifies a file's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStat {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl FileStat {
    pub fn of(meta: &std::fs::Metadata) -> FileStat {
        use std::os::unix::fs::MetadataExt;
        FileStat {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        }
    }
}

/// The inputs of one discovered path, as the inputs hash sees them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InputKey {
    /// Read: the SHA-256 (hex) of its bytes.
    Content(String),
    /// Not read (or not readable): its size and why.
    Unread { size: u64, reason: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    pub input: InputKey,
    /// How the file looked when it was hashed; `None` when it is not to be
    /// trusted (not read, or modified within the racy window).
    pub stat: Option<FileStat>,
}

/// The cache as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatCache {
    /// The run whose inputs `entries` are (every discovered path).
    pub run_id: String,
    /// Its configuration hash.
    pub config_hash: String,
    pub entries: Vec<Entry>,
}

impl StatCache {
    fn path_in(layout: &StoreLayout) -> PathBuf {
        layout.cache_dir().join(FILE_NAME)
    }

    /// Reads the cache; `None` if it is absent or unreadable (which only
    /// costs reading the files again).
    pub fn load(layout: &StoreLayout) -> Option<StatCache> {
        let bytes = std::fs::read(Self::path_in(layout)).ok()?;
        let (format, rest) = postcard::take_from_bytes::<u32>(&bytes).ok()?;
        if format != FORMAT {
            return None;
        }
        postcard::from_bytes(rest).ok()
    }

    /// Writes the cache under a temporary name on a thread of its own,
    /// unless `loaded` (what was read) already says the same (a run over
    /// unchanged files writes nothing). [`PendingSave::publish`] puts it in
    /// place once the run is published; dropped unpublished, the temporary
    /// file is removed, so a refused run leaves the cache as it was.
    pub fn save_in_background(self, layout: StoreLayout, loaded: Option<StatCache>) -> PendingSave {
        let target = Self::path_in(&layout);
        let handle = std::thread::spawn(move || {
            if loaded.as_ref() == Some(&self) {
                return None;
            }
            self.write_temporary(&layout).ok()
        });
        PendingSave {
            handle: Some(handle),
            target,
        }
    }

    /// Replaces the cache (best effort: a failure leaves no cache, which is
    /// safe). Written to a temporary name and renamed, so a reader never
    /// sees half a file.
    pub fn save(&self, layout: &StoreLayout) {
        let saved = self
            .write_temporary(layout)
            .and_then(|tmp| std::fs::rename(&tmp, Self::path_in(layout)));
        if saved.is_err() {
            let _ = std::fs::remove_file(Self::path_in(layout));
        }
    }

    /// Writes the cache beside its place; returns the temporary file.
    fn write_temporary(&self, layout: &StoreLayout) -> std::io::Result<PathBuf> {
        let dir = layout.cache_dir();
        std::fs::create_dir_all(&dir)?;
        let mut bytes = postcard::to_allocvec(&FORMAT).map_err(std::io::Error::other)?;
        bytes.extend(postcard::to_allocvec(self).map_err(std::io::Error::other)?);
        let tmp = dir.join(format!("{FILE_NAME}.{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        Ok(tmp)
    }

    /// For each discovered file (in path order), the stat and content hash
    /// the cache vouches for, if any: the entries are in path order too, so
    /// the two lists are walked side by side.
    pub fn trusted_for<'c>(
        &'c self,
        discovered: &[super::discover::Discovered],
    ) -> Vec<Option<(&'c FileStat, &'c str)>> {
        let mut entries = self.entries.iter().peekable();
        discovered
            .iter()
            .map(|d| {
                while entries.next_if(|e| e.path < d.rel).is_some() {}
                match entries.peek() {
                    Some(e) if e.path == d.rel => match (&e.stat, &e.input) {
                        (Some(stat), InputKey::Content(sha)) => Some((stat, sha.as_str())),
                        _ => None,
                    },
                    _ => None,
                }
            })
            .collect()
    }
}

/// A cache write in progress (see [`StatCache::save_in_background`]).
pub struct PendingSave {
    handle: Option<std::thread::JoinHandle<Option<PathBuf>>>,
    target: PathBuf,
}

impl PendingSave {
    /// Waits for the write and puts the new cache in place.
    pub fn publish(mut self) {
        if let Some(Some(tmp)) = self.handle.take().and_then(|h| h.join().ok())
            && std::fs::rename(&tmp, &self.target).is_err()
        {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

impl Drop for PendingSave {
    fn drop(&mut self) {
        // Not published: the temporary file goes.
        if let Some(Some(tmp)) = self.handle.take().and_then(|h| h.join().ok()) {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// The current time in nanoseconds since the epoch (for the racy window).
pub fn now_ns() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}
