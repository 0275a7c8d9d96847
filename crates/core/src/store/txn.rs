//! Write transactions: how a run becomes visible all at once.
//!
//! A transaction owns a staging directory, `tmp/<txn>/`. New pieces are
//! compressed and written there as the stages produce them (so a build
//! holds no more than it is working on), and run files are collected in
//! memory; the budget is checked on what was staged before anything is
//! placed. `commit` then:
//!
//! 1. syncs the staged pieces and writes a journal listing every file it
//!    is about to create (`tmp/<txn>/journal.json`);
//! 2. renames each into place and syncs the directories;
//! 3. replaces `store.json` (the commit point) with the new state;
//! 4. removes `tmp/<txn>/`.
//!
//! A crash before step 3 leaves the old `store.json` in charge: readers see
//! the previous state, and the next writer rolls the journal back (deletes
//! the listed files that were never published). A crash after step 3 leaves
//! only a stale staging directory, which recovery removes.
//!
//! A transaction may also delete files (only `gc` does). Deletions happen
//! after the commit point, so a crash in between is rolled *forward*.
//!
//! While a transaction is open its staging directory holds a locked file,
//! `live`: recovery leaves such a directory alone (a build that does not
//! hold the writer lock yet, as `watch` builds, is not an interrupted
//! write).

use crate::error::{Error, IoContext, Result};
use crate::store::fault;
use crate::store::fsutil::{sync_dir, write_synced};
use crate::store::id::ObjectId;
use crate::store::layout::StoreLayout;
use crate::store::piece::{self, PieceKind, PieceSink};
use crate::store::state::StoreState;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Most threads writing and syncing a commit's files at once.
const IO_THREADS: usize = 16;
/// The locked file that marks a staging directory as in use.
const LIVE_FILE: &str = "live";
/// Where staged pieces wait inside the staging directory.
const STAGED_PIECES: &str = "pieces";

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    txn: String,
    /// Store-relative paths this transaction creates.
    creates: Vec<String>,
    /// Store-relative paths this transaction replaces, with the name of the
    /// backup of their previous content inside the staging directory.
    #[serde(default)]
    replaces: Vec<(String, String)>,
    /// Store-relative paths (files or directories) deleted after the commit.
    #[serde(default)]
    deletes: Vec<String>,
}

/// A staged piece: its compressed size.
#[derive(Debug, Clone, Copy)]
struct Staged {
    size: u64,
}

/// A pending write.
#[derive(Debug)]
pub struct Txn {
    id: String,
    layout: StoreLayout,
    staging: PathBuf,
    /// Held (locked) while the transaction is open.
    _live: fs::File,
    /// New pieces staged on disk, by id (pieces the store already holds are
    /// never staged). `None` while a thread is writing it.
    staged: Mutex<BTreeMap<ObjectId, Option<Staged>>>,
    /// New files by store-relative path.
    files: BTreeMap<String, Vec<u8>>,
    /// Files readable only by the owner (the redaction key); not counted in
    /// the store's size.
    private_files: BTreeMap<String, Vec<u8>>,
    /// Files that grow by replacement (the replay log): new content and the
    /// size of the content it replaces.
    replaced: BTreeMap<String, (Vec<u8>, u64)>,
    /// Paths to delete once the new state is committed.
    deletes: BTreeSet<String>,
    committed: bool,
}

impl Txn {
    /// Opens a transaction with a fresh staging directory.
    pub fn begin(layout: &StoreLayout) -> Result<Txn> {
        // Another writer's recovery removes staging directories whose
        // `live` file is not locked, and an ending transaction removes an
        // empty `tmp/`: both can strike between our mkdir and our lock.
        // Such a loss shows as a missing path or as a `live` file that is
        // no longer the one we locked; start again under a new name.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match Txn::try_begin(layout) {
                Ok(txn) => return Ok(txn),
                Err(e) if attempts < 5 && e.is_not_found() => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn try_begin(layout: &StoreLayout) -> Result<Txn> {
        use std::os::unix::fs::MetadataExt;
        let mut raw = [0u8; 8];
        getrandom::fill(&mut raw).map_err(|e| Error::Failed {
            message: format!("cannot name a write transaction: no randomness available ({e})"),
        })?;
        let id = format!("txn-{}", hex::encode(raw));
        let staging = layout.tmp_dir().join(&id);
        fs::create_dir_all(staging.join(STAGED_PIECES))
            .ctx("create staging directory", &staging)?;
        let live_path = staging.join(LIVE_FILE);
        let live = fs::File::create(&live_path).ctx("create", &live_path)?;
        live.lock().ctx("lock", &live_path)?;
        let ours = live.metadata().ctx("inspect", &live_path)?;
        let there = fs::metadata(&live_path).ctx("inspect", &live_path)?;
        if (ours.dev(), ours.ino()) != (there.dev(), there.ino()) {
            return Err(Error::io(
                "lock",
                &live_path,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
        Ok(Txn {
            id,
            layout: layout.clone(),
            staging,
            _live: live,
            staged: Mutex::new(BTreeMap::new()),
            files: BTreeMap::new(),
            private_files: BTreeMap::new(),
            replaced: BTreeMap::new(),
            deletes: BTreeSet::new(),
            committed: false,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Deletes a store-relative file or directory after the commit.
    pub fn delete(&mut self, rel: String) {
        self.deletes.insert(rel);
    }

    /// Stages a new file at a store-relative path (a run manifest, say).
    pub fn add_file(&mut self, rel: String, bytes: Vec<u8>) {
        self.files.insert(rel, bytes);
    }

    /// Stages a file only the owner may read (mode 0600).
    pub fn add_private_file(&mut self, rel: String, bytes: Vec<u8>) {
        self.private_files.insert(rel, bytes);
    }

    /// Stages new content for an existing file (or a new one, if it does not
    /// exist). Used only for the append-only replay log.
    pub fn replace_file(&mut self, rel: String, bytes: Vec<u8>) {
        let old = fs::metadata(self.layout.dir.join(&rel))
            .map(|m| m.len())
            .unwrap_or(0);
        self.replaced.insert(rel, (bytes, old));
    }

    fn staged_path(&self, id: ObjectId) -> PathBuf {
        self.staging.join(STAGED_PIECES).join(id.to_hex())
    }

    /// Staged pieces, by id.
    fn staged(&self) -> BTreeMap<ObjectId, Staged> {
        self.staged
            .lock()
            .map(|m| m.iter().filter_map(|(id, s)| s.map(|s| (*id, s))).collect())
            .unwrap_or_default()
    }

    /// Bytes this transaction would add to the store.
    pub fn added_bytes(&self) -> u64 {
        let grown: i64 = self
            .replaced
            .values()
            .map(|(new, old)| new.len() as i64 - *old as i64)
            .sum();
        (self.staged().values().map(|s| s.size).sum::<u64>()
            + self.files.values().map(|b| b.len() as u64).sum::<u64>())
        .saturating_add_signed(grown)
    }

    pub fn is_empty(&self) -> bool {
        self.staged().is_empty()
            && self.files.is_empty()
            && self.private_files.is_empty()
            && self.replaced.is_empty()
            && self.deletes.is_empty()
    }

    /// Writes everything and publishes `state`, whose counters are advanced
    /// here by what is placed (unless `exact`: `gc` sets them itself).
    pub fn commit(mut self, mut state: StoreState, exact: bool) -> Result<StoreState> {
        let layout = self.layout.clone();
        let staging = self.staging.clone();
        // Pieces another writer placed since they were staged are not ours
        // to place (or to roll back).
        let pieces: Vec<(ObjectId, Staged)> = self
            .staged()
            .into_iter()
            .filter(|(id, _)| !layout.dir.join(id.rel_path()).is_file())
            .collect();
        if !exact {
            let grown: i64 = self
                .replaced
                .values()
                .map(|(new, old)| new.len() as i64 - *old as i64)
                .sum();
            let added = pieces.iter().map(|(_, s)| s.size).sum::<u64>()
                + self.files.values().map(|b| b.len() as u64).sum::<u64>();
            state.accounting.bytes = state
                .accounting
                .bytes
                .saturating_add(added)
                .saturating_add_signed(grown);
            let new_replaced = self.replaced.values().filter(|(_, old)| *old == 0).count();
            state.accounting.files += (pieces.len() + self.files.len() + new_replaced) as u64;
        }

        let mut creates: Vec<String> = pieces.iter().map(|(id, _)| id.rel_path()).collect();
        creates.extend(self.files.keys().cloned());
        creates.extend(self.private_files.keys().cloned());
        for rel in &creates {
            check_rel(rel)?;
        }
        // Back up the files this transaction replaces before touching them.
        let mut replaces = Vec::new();
        for (i, rel) in self.replaced.keys().enumerate() {
            check_rel(rel)?;
            let target = layout.dir.join(rel);
            if target.is_file() {
                let backup = format!("backup-{i}");
                fs::copy(&target, staging.join(&backup)).ctx("back up", &target)?;
                fs::File::open(staging.join(&backup))
                    .and_then(|f| f.sync_all())
                    .ctx("sync", staging.join(&backup))?;
                replaces.push((rel.clone(), backup));
            } else {
                creates.push(rel.clone());
            }
        }
        for rel in &self.deletes {
            check_rel(rel)?;
        }
        let journal = Journal {
            txn: self.id.clone(),
            creates,
            replaces,
            deletes: self.deletes.iter().cloned().collect(),
        };
        let journal_bytes = serde_json::to_vec(&journal).unwrap_or_default();

        // Staged file -> its place in the store.
        let mut moves: Vec<(PathBuf, String)> = pieces
            .iter()
            .map(|(id, _)| (self.staged_path(*id), id.rel_path()))
            .collect();
        let entries: Vec<(String, &Vec<u8>, bool)> = self
            .files
            .iter()
            .map(|(rel, bytes)| (rel.clone(), bytes, false))
            .chain(
                self.private_files
                    .iter()
                    .map(|(rel, bytes)| (rel.clone(), bytes, true)),
            )
            .chain(
                self.replaced
                    .iter()
                    .map(|(rel, (bytes, _))| (rel.clone(), bytes, false)),
            )
            .collect();
        // The journal and every file are written and synced in the staging
        // directory at once (concurrent syncs share the device's flushes);
        // then the staging directory's entries are synced. Nothing is placed
        // before the journal that undoes it is durable.
        let mut jobs: Vec<IoJob> = vec![IoJob::Write {
            path: staging.join("journal.json"),
            bytes: &journal_bytes,
            private: false,
        }];
        for (n, (rel, bytes, private)) in entries.iter().enumerate() {
            let path = staging.join(format!("file-{n}"));
            jobs.push(IoJob::Write {
                path: path.clone(),
                bytes,
                private: *private,
            });
            moves.push((path, rel.clone()));
        }
        jobs.extend(
            moves
                .iter()
                .take(pieces.len())
                .map(|(p, _)| IoJob::Sync(p.clone())),
        );
        run_io(&jobs)?;
        sync_dir(&staging)?;
        sync_dir(&staging.join(STAGED_PIECES))?;
        fault::point("commit:journal-written");

        let mut touched_dirs = BTreeSet::new();
        for (n, (from, rel)) in moves.iter().enumerate() {
            let target = layout.dir.join(rel);
            let parent = target.parent().unwrap_or(&layout.dir).to_path_buf();
            if !touched_dirs.contains(&parent) {
                fs::create_dir_all(&parent).ctx("create directory", &parent)?;
            }
            fs::rename(from, &target).ctx("publish", &target)?;
            touched_dirs.insert(parent);
            if n == 0 {
                fault::point("commit:first-object-placed");
            }
        }
        // Every directory that gained an entry, the ones above them that may
        // have gained a new directory, and the store's own directory are
        // synced together, while the new state is written in the staging
        // directory (removed with it if the commit is interrupted).
        let parents: Vec<PathBuf> = touched_dirs
            .iter()
            .filter_map(|d| d.parent().map(Path::to_path_buf))
            .collect();
        touched_dirs.extend(parents);
        touched_dirs.insert(layout.dir.clone());
        state.last_txn = Some(self.id.clone());
        let state_bytes = state.to_bytes();
        let staged_state = staging.join("store.json");
        let mut syncs: Vec<IoJob> = vec![IoJob::Write {
            path: staged_state.clone(),
            bytes: &state_bytes,
            private: false,
        }];
        syncs.extend(touched_dirs.into_iter().map(IoJob::SyncDir));
        run_io(&syncs)?;
        fault::point("commit:files-placed");

        // The commit point: `store.json` is replaced by rename.
        let store_file = layout.store_file();
        fs::rename(&staged_state, &store_file).ctx("replace", &store_file)?;
        sync_dir(&layout.dir)?;
        self.committed = true;
        fault::point("commit:state-written");

        for rel in &self.deletes {
            remove_path(&layout.dir.join(rel))?;
        }
        fs::remove_dir_all(&staging).ctx("remove staging directory", &staging)?;
        Ok(state)
    }
}

impl PieceSink for Txn {
    fn put(&self, _kind: PieceKind, payload: Vec<u8>) -> Result<ObjectId> {
        // The kind is in the payload's header; the store needs only bytes.
        let id = ObjectId::of(&payload);
        {
            let mut staged = self.staged.lock().map_err(|_| Error::Failed {
                message: "a thread staging pieces stopped unexpectedly".to_string(),
            })?;
            if staged.contains_key(&id) {
                return Ok(id);
            }
            if self.layout.dir.join(id.rel_path()).is_file() {
                return Ok(id);
            }
            // Claimed: another thread with the same payload returns at once
            // (the file is written before the commit, which waits for every
            // stage to finish).
            staged.insert(id, None);
        }
        let compressed = piece::compress(&payload)?;
        let path = self.staged_path(id);
        fs::write(&path, &compressed).ctx("stage piece", &path)?;
        if let Ok(mut staged) = self.staged.lock() {
            staged.insert(
                id,
                Some(Staged {
                    size: compressed.len() as u64,
                }),
            );
        }
        Ok(id)
    }

    fn read_back(&self, id: ObjectId) -> Result<Option<Vec<u8>>> {
        let staged = self
            .staged
            .lock()
            .map(|s| matches!(s.get(&id), Some(Some(_))))
            .unwrap_or(false);
        if !staged {
            return Ok(None);
        }
        let path = self.staged_path(id);
        let compressed = fs::read(&path).ctx("read staged piece", &path)?;
        piece::inflate(&compressed)
            .map(Some)
            .map_err(|e| Error::corrupt(&path, format!("cannot decompress: {e}")))
    }
}

impl Drop for Txn {
    fn drop(&mut self) {
        // Not committed: nothing was placed (a commit that failed half-way
        // left a journal, which recovery reads, so keep the directory).
        if !self.committed && !self.staging.join("journal.json").exists() {
            let _ = fs::remove_dir_all(&self.staging);
        }
        // `tmp/` itself, when nothing else is staged there.
        if let Some(tmp) = self.staging.parent() {
            let _ = fs::remove_dir(tmp);
        }
    }
}

/// One step of a commit that waits on the disk.
enum IoJob<'a> {
    /// Create `path`, write `bytes` and sync it (mode 0600 if private).
    Write {
        path: PathBuf,
        bytes: &'a [u8],
        private: bool,
    },
    /// Sync a file already written.
    Sync(PathBuf),
    /// Sync a directory's entries.
    SyncDir(PathBuf),
}

impl IoJob<'_> {
    fn run(&self) -> Result<()> {
        match self {
            IoJob::Write {
                path,
                bytes,
                private: true,
            } => write_private(path, bytes),
            IoJob::Write { path, bytes, .. } => write_synced(path, bytes),
            IoJob::Sync(path) => fs::File::open(path)
                .and_then(|f| f.sync_all())
                .ctx("sync", path),
            IoJob::SyncDir(dir) => sync_dir(dir),
        }
    }
}

/// Runs every job at once, each on its own thread up to [`IO_THREADS`]
/// (the jobs wait on the disk, not the CPU, so more threads than cores),
/// and returns an error if any job failed.
fn run_io(jobs: &[IoJob<'_>]) -> Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let worker = || -> Result<()> {
        while let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
            job.run()?;
        }
        Ok(())
    };
    std::thread::scope(|scope| {
        // A thread the system refuses to start leaves its jobs to the others.
        let helpers: Vec<_> = (1..jobs.len().min(IO_THREADS))
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(scope, worker).ok())
            .collect();
        let mine = worker();
        helpers.into_iter().fold(mine, |result, helper| {
            let theirs = helper.join().unwrap_or_else(|_| {
                Err(Error::Failed {
                    message: "a thread writing the store stopped unexpectedly".to_string(),
                })
            });
            result.and(theirs)
        })
    })
}

/// What recovery found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Interrupted transactions rolled back.
    pub rolled_back: Vec<String>,
    /// Files deleted because their transaction never committed.
    pub removed_files: Vec<String>,
}

/// An interrupted transaction found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub txn: String,
    /// True if `store.json` records the transaction as committed (only its
    /// staging directory is left).
    pub committed: bool,
    /// Files it created that are still on disk (never published).
    pub created: Vec<String>,
    /// Files it replaced, with the staged backup of their old content.
    pub replaced: Vec<(String, String)>,
    /// Deletions a committed transaction had not finished (rolled forward).
    pub pending_deletes: Vec<String>,
}

/// True while another transaction holds the staging directory.
fn is_live(staging: &Path) -> bool {
    let Ok(file) = fs::File::open(staging.join(LIVE_FILE)) else {
        return false;
    };
    matches!(file.try_lock(), Err(fs::TryLockError::WouldBlock))
}

/// Leftovers of interrupted transactions: staging directories (not in use)
/// and the files their journals list. Read-only; used by `validate-store`
/// and `status`.
pub fn leftovers(layout: &StoreLayout, state: Option<&StoreState>) -> Result<Vec<Leftover>> {
    let tmp = layout.tmp_dir();
    let mut found = Vec::new();
    if !tmp.is_dir() {
        return Ok(found);
    }
    let mut entries: Vec<_> = fs::read_dir(&tmp)
        .ctx("list", &tmp)?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().to_string();
        if entry.path().is_dir() && is_live(&entry.path()) {
            continue;
        }
        let committed = state.and_then(|s| s.last_txn.as_deref()) == Some(name.as_str());
        let journal = read_journal(&entry.path());
        let (mut created, mut replaced, mut pending_deletes) = (Vec::new(), Vec::new(), Vec::new());
        if let Some(j) = journal {
            if committed {
                pending_deletes = j
                    .deletes
                    .into_iter()
                    .filter(|rel| layout.dir.join(rel).exists())
                    .collect();
            } else {
                created = j
                    .creates
                    .into_iter()
                    .filter(|rel| layout.dir.join(rel).exists())
                    .collect();
                replaced = j
                    .replaces
                    .into_iter()
                    .filter(|(_, backup)| entry.path().join(backup).is_file())
                    .collect();
            }
        }
        found.push(Leftover {
            txn: name,
            committed,
            created,
            replaced,
            pending_deletes,
        });
    }
    Ok(found)
}

fn read_journal(staging: &Path) -> Option<Journal> {
    let bytes = fs::read(staging.join("journal.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Rolls back interrupted transactions. Must run under the writer lock,
/// before a new transaction starts.
pub fn recover(layout: &StoreLayout, state: Option<&StoreState>) -> Result<Recovery> {
    let mut recovery = Recovery::default();
    for leftover in leftovers(layout, state)? {
        let txn = leftover.txn;
        for rel in &leftover.pending_deletes {
            if check_rel(rel).is_ok() {
                remove_path(&layout.dir.join(rel))?;
                recovery.removed_files.push(rel.clone());
            }
        }
        for (rel, backup) in &leftover.replaced {
            if check_rel(rel).is_err() {
                continue;
            }
            let staged = layout.tmp_dir().join(&txn).join(backup);
            let target = layout.dir.join(rel);
            fs::rename(&staged, &target).ctx("restore", &target)?;
            recovery.removed_files.push(rel.clone());
        }
        for rel in leftover.created {
            // Only ever delete inside the store, whatever a journal says.
            if check_rel(&rel).is_err() {
                continue;
            }
            let path = layout.dir.join(&rel);
            if path.is_file() {
                fs::remove_file(&path).ctx("roll back", &path)?;
                recovery.removed_files.push(rel.clone());
                if let Some(parent) = path.parent() {
                    // Remove a run directory the interrupted write created.
                    let _ = fs::remove_dir(parent);
                }
            }
        }
        let staging = layout.tmp_dir().join(&txn);
        if staging.is_dir() {
            fs::remove_dir_all(&staging).ctx("remove staging directory", &staging)?;
        } else if staging.exists() {
            fs::remove_file(&staging).ctx("remove", &staging)?;
        }
        if !leftover.committed {
            recovery.rolled_back.push(txn);
        }
    }
    Ok(recovery)
}

/// Removes a file or a directory tree; a missing path is fine.
fn remove_path(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).ctx("remove", path),
        Ok(_) => {
            fs::remove_file(path).ctx("remove", path)?;
            // Drop an object shard or run directory left empty.
            if let Some(parent) = path.parent() {
                let _ = fs::remove_dir(parent);
            }
            Ok(())
        }
        Err(_) => Ok(()),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .ctx("create", path)?;
    file.write_all(bytes).ctx("write", path)?;
    file.sync_all().ctx("sync", path)?;
    Ok(())
}

/// Fails if a staged file would be written outside the store.
pub fn check_rel(rel: &str) -> Result<()> {
    if rel.starts_with('/') || rel.split('/').any(|p| p == ".." || p.is_empty()) {
        return Err(Error::Failed {
            message: format!("refusing to write outside the store: {rel}"),
        });
    }
    Ok(())
}
