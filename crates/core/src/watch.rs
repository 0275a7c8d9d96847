//! `auditgraph watch`: the parts that need no file-system notifications.
//!
//! - [`WatchLock`]: one watch per workspace and profile. A second watch is
//!   refused with the first one's pid; the lock is an OS file lock, so a
//!   watch that dies (even by `kill -9`) releases it.
//! - [`Trigger`]: whether a changed path calls for a run: a file discovery
//!   would read, a directory it walks, or the configuration file; never the
//!   store (`.pkg/`) nor `exports/`.
//! - [`Pending`]: the changes seen since the last run, and when they are due:
//!   once the workspace has been quiet for a moment (a burst of saves gives
//!   one run), and at the latest a while after the first change (a file that
//!   never stops changing still gets runs).
//!
//! The run itself is the one `auditgraph run` does
//! ([`crate::pipeline::run_cmd::execute`]); the watch adds nothing to it.

use crate::error::{Error, IoContext, Result};
use crate::export::output::EXPORTS_DIR;
use crate::ingest::discover::Coverage;
use crate::paths::relative_posix;
use crate::pipeline::Workspace;
use crate::store::layout::StoreLayout;
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The watch lock's file name, in the profile's scratch directory `cache/`
/// (which `validate-store` does not audit and `gc` leaves alone).
pub const WATCH_LOCK_FILE: &str = "watch.lock";

/// Held by a running watch; released when dropped or when the process
/// dies. The file holds the watch's pid, for the message a second watch
/// gives; it is never removed (removing a lock file lets two processes
/// lock two different files of the same name).
#[derive(Debug)]
pub struct WatchLock {
    _file: File,
    pub path: PathBuf,
}

impl WatchLock {
    /// Where the watch lock of a profile lives.
    pub fn path(layout: &StoreLayout) -> PathBuf {
        layout.cache_dir().join(WATCH_LOCK_FILE)
    }

    /// Takes the watch lock of `layout`'s profile without waiting: another
    /// watch holding it is [`Error::WatchRunning`]. Creates the profile's
    /// `cache/` directory if it is missing.
    pub fn acquire(layout: &StoreLayout) -> Result<WatchLock> {
        let dir = layout.cache_dir();
        std::fs::create_dir_all(&dir).ctx("create directory", &dir)?;
        let path = Self::path(layout);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .ctx("open watch lock", &path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(Error::WatchRunning {
                    pid: text.trim().parse().ok(),
                    lock: path,
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
        }
        let pid = format!("{}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(pid.as_bytes()))
            .ctx("write", &path)?;
        Ok(WatchLock { _file: file, path })
    }
}

/// What a changed path is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    File,
    Dir,
    /// No longer there; `was_dir` when the notification said what it was.
    Gone {
        was_dir: Option<bool>,
    },
}

/// Decides which changes call for a run, for one configuration.
#[derive(Debug)]
pub struct Trigger {
    root: PathBuf,
    coverage: Coverage,
    config_file: PathBuf,
    ignored: [PathBuf; 2],
}

impl Trigger {
    /// The trigger of `ws` (its root and active profile). `config_file` is
    /// the configuration file the watch reloads (whether it exists or not).
    pub fn new(ws: &Workspace, config_file: &Path) -> Result<Trigger> {
        Ok(Trigger {
            root: ws.root.clone(),
            coverage: Coverage::new(&ws.root, ws.config.profile())?,
            config_file: config_file.to_path_buf(),
            ignored: [ws.root.join(".pkg"), ws.root.join(EXPORTS_DIR)],
        })
    }

    /// The configuration file this trigger watches for.
    pub fn config_file(&self) -> &Path {
        &self.config_file
    }

    /// Whether a change at `path` (absolute, as notifications give it)
    /// calls for a run. A path that is gone and may have been a directory
    /// counts when discovery would walk a directory there.
    pub fn fires(&self, path: &Path, seen: Seen) -> bool {
        if path == self.config_file {
            return true;
        }
        if self.ignored.iter().any(|d| path.starts_with(d)) || !path.starts_with(&self.root) {
            return false;
        }
        match seen {
            Seen::File
            | Seen::Gone {
                was_dir: Some(false),
            } => self.coverage.reads_file(path),
            Seen::Dir
            | Seen::Gone {
                was_dir: Some(true),
            } => self.coverage.walks_dir(path),
            Seen::Gone { was_dir: None } => {
                self.coverage.reads_file(path) || self.coverage.walks_dir(path)
            }
        }
    }

    /// Whether the watch needs notifications from a directory of the root
    /// (`.pkg/` and `exports/` never: a run writing the store must not
    /// notify anyone): discovery walks it, or it holds the configuration.
    pub fn wants_dir(&self, dir: &Path) -> bool {
        self.fires(dir, Seen::Dir) || self.config_file.starts_with(dir)
    }

    /// How a changed path is shown: root-relative posix, else as given.
    pub fn show(&self, path: &Path) -> String {
        relative_posix(&self.root, path)
            .filter(|rel| !rel.is_empty())
            .unwrap_or_else(|| path.display().to_string())
    }
}

/// Changes seen since the last run, and when they are due.
#[derive(Debug)]
pub struct Pending {
    quiet: Duration,
    max_wait: Duration,
    first: Option<Instant>,
    last: Option<Instant>,
    batch: Batch,
}

/// The changes one run answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// The changed paths, as [`Trigger::show`] gives them.
    pub paths: BTreeSet<String>,
    /// The notifications were lost (a queue overflowed): anything may have
    /// changed.
    pub rescan: bool,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && !self.rescan
    }
}

impl Pending {
    /// Changes are due `quiet` after the last one, and at most `max_wait`
    /// after the first.
    pub fn new(quiet: Duration, max_wait: Duration) -> Pending {
        Pending {
            quiet,
            max_wait,
            first: None,
            last: None,
            batch: Batch::default(),
        }
    }

    fn note(&mut self, at: Instant) {
        self.first = Some(self.first.map_or(at, |f| f.min(at)));
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
    }

    /// A changed path, seen at `at`.
    pub fn add(&mut self, path: String, at: Instant) {
        self.batch.paths.insert(path);
        self.note(at);
    }

    /// Lost notifications, seen at `at`.
    pub fn add_rescan(&mut self, at: Instant) {
        self.batch.rescan = true;
        self.note(at);
    }

    /// Puts back the changes of a run that could not be done (another
    /// writer held the lock), as seen at `at`.
    pub fn restore(&mut self, batch: Batch, at: Instant) {
        if batch.is_empty() {
            return;
        }
        self.batch.paths.extend(batch.paths);
        self.batch.rescan |= batch.rescan;
        self.note(at);
    }

    /// When the pending changes are due (`None`: nothing pending).
    pub fn due_at(&self) -> Option<Instant> {
        let (first, last) = (self.first?, self.last?);
        Some((last + self.quiet).min(first + self.max_wait))
    }

    /// Whether the pending changes are due at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        self.due_at().is_some_and(|due| due <= now)
    }

    /// Takes the pending changes (leaving nothing pending).
    pub fn take(&mut self) -> Batch {
        self.first = None;
        self.last = None;
        std::mem::take(&mut self.batch)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::pipeline::Workspace;

    fn ws(config: Option<&str>) -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        if let Some(text) = config {
            std::fs::create_dir_all(dir.path().join("config")).unwrap();
            std::fs::write(dir.path().join("config/pkg.yaml"), text).unwrap();
        }
        let ws = Workspace::open(dir.path(), None, None).unwrap();
        (dir, ws)
    }

    #[test]
    fn second_lock_is_refused_with_the_first_ones_pid_and_freed_on_drop() {
        let (_dir, ws) = ws(None);
        let first = WatchLock::acquire(&ws.layout).unwrap();
        assert!(first.path.ends_with("cache/watch.lock"));
        match WatchLock::acquire(&ws.layout) {
            Err(Error::WatchRunning { pid, lock }) => {
                assert_eq!(pid, Some(std::process::id()));
                assert_eq!(lock, first.path);
            }
            other => panic!("expected WatchRunning, got {other:?}"),
        }
        drop(first);
        WatchLock::acquire(&ws.layout).unwrap();
    }

    #[test]
    fn what_fires_with_the_default_configuration() {
        let (_dir, ws) = ws(None);
        let config = ws.root.join("config/pkg.yaml");
        let t = Trigger::new(&ws, &config).unwrap();
        let r = &ws.root;
        assert!(t.fires(&r.join("notes/a.md"), Seen::File));
        assert!(t.fires(
            &r.join("a.txt"),
            Seen::Gone {
                was_dir: Some(false)
            }
        ));
        assert!(t.fires(&r.join("notes"), Seen::Dir));
        assert!(t.fires(&r.join("notes/old"), Seen::Gone { was_dir: None }));
        assert!(t.fires(&config, Seen::File));
        // Not an allowed extension: editor swap and backup files.
        assert!(!t.fires(&r.join("notes/.a.md.swp"), Seen::File));
        assert!(!t.fires(&r.join("notes/a.md~"), Seen::File));
        // The store, exports, and excluded directories.
        assert!(!t.fires(&r.join(".pkg/profiles/default/store.json"), Seen::File));
        assert!(!t.fires(&r.join(".pkg"), Seen::Dir));
        assert!(!t.fires(&r.join("exports/graph.md"), Seen::File));
        assert!(!t.fires(&r.join(".git/HEAD.md"), Seen::File));
        assert!(!t.fires(&r.join("web/node_modules"), Seen::Dir));
        assert!(!t.fires(
            &r.join("web/node_modules/x/readme.md"),
            Seen::Gone { was_dir: None }
        ));
        // Outside the root.
        assert!(!t.fires(Path::new("/elsewhere/a.md"), Seen::File));
        assert_eq!(t.show(&r.join("notes/a.md")), "notes/a.md");
        // The directories the watch asks notifications from.
        assert!(t.wants_dir(&r.join("notes")));
        assert!(t.wants_dir(&r.join("config")));
        assert!(!t.wants_dir(&r.join(".pkg")));
        assert!(!t.wants_dir(&r.join("exports")));
        assert!(!t.wants_dir(&r.join(".git")));
    }

    #[test]
    fn what_fires_follows_include_paths_and_exclude_globs() {
        let (_dir, ws) = ws(Some(
            "profiles:\n  default:\n    include_paths: [notes/work]\n    exclude_globs: [\"**/drafts/**\", \"**/*.tmp.md\"]\n",
        ));
        let t = Trigger::new(&ws, &ws.root.join("config/pkg.yaml")).unwrap();
        let r = &ws.root;
        assert!(t.fires(&r.join("notes/work/a.md"), Seen::File));
        assert!(!t.fires(&r.join("notes/home/a.md"), Seen::File));
        assert!(!t.fires(&r.join("notes/work/x.tmp.md"), Seen::File));
        assert!(!t.fires(&r.join("notes/work/drafts/a.md"), Seen::File));
        assert!(!t.fires(&r.join("notes/work/drafts"), Seen::Dir));
        // A directory above an include path (renamed, say) matters.
        assert!(t.fires(
            &r.join("notes"),
            Seen::Gone {
                was_dir: Some(true)
            }
        ));
        assert!(!t.fires(&r.join("other"), Seen::Dir));
        assert!(!t.wants_dir(&r.join("other")));
        assert!(t.wants_dir(&r.join("config")));
        // The configuration file fires wherever it is.
        assert!(t.fires(&r.join("config/pkg.yaml"), Seen::File));
    }

    #[test]
    fn a_burst_is_due_once_quiet_and_a_stream_at_most_max_wait_after_its_start() {
        let quiet = Duration::from_millis(300);
        let mut p = Pending::new(quiet, Duration::from_secs(2));
        let t0 = Instant::now();
        assert_eq!(p.due_at(), None);
        for i in 0..10 {
            p.add(format!("a{i}.md"), t0 + Duration::from_millis(100 * i));
            assert!(!p.is_due(t0 + Duration::from_millis(100 * i + 99)));
        }
        assert_eq!(p.due_at(), Some(t0 + Duration::from_millis(900) + quiet));
        let batch = p.take();
        assert_eq!(batch.paths.len(), 10);
        assert_eq!(p.due_at(), None);

        // A file that never stops changing.
        for i in 0..30 {
            p.add("log.md".into(), t0 + Duration::from_millis(100 * i));
        }
        assert_eq!(p.due_at(), Some(t0 + Duration::from_secs(2)));

        // Put back after a failed run: due again a quiet period later.
        let batch = p.take();
        let later = t0 + Duration::from_secs(10);
        p.restore(batch.clone(), later);
        assert_eq!(p.due_at(), Some(later + quiet));
        assert_eq!(p.take(), batch);
        p.restore(Batch::default(), later);
        assert_eq!(p.due_at(), None);
        p.add_rescan(later);
        assert!(p.take().rescan);
    }
}
