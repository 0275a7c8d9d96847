//! The single-writer lock.
//!
//! Writers take an exclusive `flock` on the workspace root directory itself
//! for the whole command, before they create anything. Locking the directory
//! means no lock file is ever created or deleted (so a refused or blocked
//! first write leaves the workspace exactly as it was, and there is no
//! stale-lock-file race). Readers never lock: they read `store.json`
//! (replaced atomically) and immutable files.

use crate::error::{Error, IoContext, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Held while writing; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
    pub path: PathBuf,
}

/// Takes the writer lock, waiting up to `timeout` for another writer to
/// finish. `on_wait` is called once if we have to wait.
pub fn acquire(lock_path: &Path, timeout: Duration, on_wait: &dyn Fn()) -> Result<WriterLock> {
    let file = OpenOptions::new()
        .read(true)
        .open(lock_path)
        .ctx("open lock file", lock_path)?;
    let started = Instant::now();
    let mut announced = false;
    loop {
        match file.try_lock() {
            Ok(()) => {
                return Ok(WriterLock {
                    _file: file,
                    path: lock_path.to_path_buf(),
                });
            }
            Err(TryLockError::WouldBlock) => {
                if started.elapsed() >= timeout {
                    return Err(Error::Locked {
                        path: lock_path.to_path_buf(),
                        waited_secs: started.elapsed().as_secs(),
                    });
                }
                if !announced {
                    on_wait();
                    announced = true;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(TryLockError::Error(e)) => return Err(Error::io("lock", lock_path, e)),
        }
    }
}
