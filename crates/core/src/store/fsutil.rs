//! Small file-system helpers for atomic, durable writes.

use crate::error::{IoContext, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` and flushes it to disk.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .ctx("create", path)?;
    file.write_all(bytes).ctx("write", path)?;
    file.sync_all().ctx("sync", path)?;
    Ok(())
}

/// Flushes a directory entry list (after a rename into it).
pub fn sync_dir(dir: &Path) -> Result<()> {
    // Directories cannot be fsynced on every platform; where opening one
    // fails there is nothing more we can do, and the data files are synced.
    if let Ok(handle) = File::open(dir) {
        handle.sync_all().ctx("sync directory", dir)?;
    }
    Ok(())
}

/// Total size in bytes of the regular files under `dir` (recursive), and
/// their count. Used only by `gc` and `validate-store`, never on the hot path.
pub fn tree_size(dir: &Path) -> Result<(u64, u64)> {
    let mut bytes = 0;
    let mut files = 0;
    if !dir.exists() {
        return Ok((0, 0));
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).ctx("list", &d)? {
            let entry = entry.ctx("list", &d)?;
            let meta = entry.metadata().ctx("inspect", entry.path())?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                bytes += meta.len();
                files += 1;
            }
        }
    }
    Ok((bytes, files))
}
