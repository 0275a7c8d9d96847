//! The `git-provenance` stage: reads the repository, reuses the commit
//! records of the base run, and stores the commits, the repository
//! snapshot (refs, selection, authors) and the per-file index as pieces.
//!
//! Pieces (see [`crate::store::piece::PieceKind`]):
//! - `git_commits`: every commit reachable from HEAD ([`CommitRecord`]),
//!   sharded by the sha's first byte. A commit never changes, so a run
//!   after one new commit reads one commit from git and writes one shard;
//!   the other shards are the same bytes as before (shared, not rewritten).
//! - `git_repo`: one piece, [`RepoSnapshot`] and the author identities.
//! - `git_files`: per path, the selected commits that changed it, sharded by
//!   the path's hash.

use super::read::{Repo, WalkCommit};
use super::record::{CommitRecord, FileHistory, RepoSnapshot, Tier};
use super::select;
use crate::config::GitProvenance;
use crate::error::{Error, Result};
use crate::hashing::FieldHasher;
use crate::pipeline::manifest::StageManifest;
use crate::pipeline::postcondition::Scanner;
use crate::redact::Redactor;
use crate::store::id::ObjectId;
use crate::store::layout::StoreLayout;
use crate::store::piece::{self, PieceKind, PieceSink};
use crate::store::table::{ShardTable, bits_for, document_byte};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// Commits per `git_commits` shard, about.
const COMMITS_PER_SHARD: u64 = 64;
/// Paths per `git_files` shard, about.
const FILES_PER_SHARD: u64 = 128;

/// One author identity: one per email (case-folded), every name seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorRecord {
    /// Case-folded email (the identity's key).
    pub email: String,
    /// Every name seen with the email on a selected commit, sorted.
    pub names: Vec<String>,
    /// Selected commits authored.
    pub commits: u32,
}

/// The `git_repo` piece.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoPiece {
    pub snapshot: RepoSnapshot,
    pub authors: Vec<AuthorRecord>,
}

/// What the stage counted (the manifest's `counts`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GitCounts {
    pub head: Option<String>,
    pub head_branch: Option<String>,
    pub shallow: bool,
    /// Commits reachable from HEAD.
    pub commits_walked: u64,
    pub selected: u64,
    pub structural: u64,
    /// Tier-2 candidates and how many were kept.
    pub scored_candidates: u64,
    pub scored_kept: u64,
    pub max_tier2_commits: u32,
    pub authors: u64,
    pub tags: u64,
    pub refs: u64,
    pub files: u64,
    pub links: u64,
    pub submodules: u64,
    /// Hash of what shapes a commit record (reader version, redaction
    /// policy): records of a base run with the same key are reused.
    pub records_key: String,
}

/// How the stage got its commit records (for the command's report; not in
/// the manifest, which depends only on the repository and settings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GitWork {
    pub read: usize,
    pub reused: usize,
}

/// What the stage built: its settings hash, counts and piece tables.
pub struct GitBuilt {
    pub settings_hash: String,
    pub counts: GitCounts,
    pub pieces: BTreeMap<String, ObjectId>,
    pub work: GitWork,
}

/// The repository as a run sees it before building.
pub struct Probe {
    /// The state of the refs, hashed into the run id.
    pub state: String,
    /// Bytes of the repository's object store (packs and loose objects):
    /// the history is a source, so it counts towards the disk budget's base
    /// (never hashed: two clones of a history pack it differently).
    pub object_bytes: u64,
}

/// Reads the refs and sizes the object store.
pub fn probe(root: &Path) -> std::result::Result<Probe, super::GitError> {
    let repo = Repo::open(root)?;
    let object_bytes = object_bytes(&repo.repo.common_dir().join("objects"));
    let refs = repo.refs()?;
    let mut h = FieldHasher::new("git-state");
    // How commits are read: another derivation makes another run.
    h.field(super::GIT_READER_VERSION.to_string());
    h.field(refs.head.map(|h| h.to_string()).unwrap_or_default())
        .field(refs.head_branch.unwrap_or_default())
        .field(if refs.shallow { "shallow" } else { "complete" });
    for b in &refs.branches {
        h.field(&b.name).field(&b.head);
    }
    for t in &refs.tags {
        h.field(&t.name)
            .field(t.target.as_deref().unwrap_or(""))
            .field(if t.annotated { "a" } else { "l" });
    }
    Ok(Probe {
        state: h.finish_hex(),
        object_bytes,
    })
}

/// Bytes of the files under `objects/` (packs, their indexes, loose
/// objects), one level of directories deep as git lays them out.
fn object_bytes(objects: &Path) -> u64 {
    let size = |dir: &Path| -> u64 {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| e.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    };
    std::fs::read_dir(objects)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| size(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}

/// The settings hash of the stage.
pub fn settings_hash(settings: &GitProvenance) -> String {
    let mut hot = settings.hot_paths.clone();
    hot.sort();
    let mut cold = settings.cold_paths.clone();
    cold.sort();
    let mut h = FieldHasher::new("git-settings");
    h.field(settings.max_tier2_commits.to_string());
    for g in &hot {
        h.field("hot").field(g);
    }
    for g in &cold {
        h.field("cold").field(g);
    }
    h.field(super::GIT_READER_VERSION.to_string());
    h.finish_hex()
}

fn records_key(redactor: &Redactor) -> String {
    let mut h = FieldHasher::new("git-records");
    h.field(super::GIT_READER_VERSION.to_string());
    for d in redactor.detectors() {
        h.field(d);
    }
    h.finish_hex()
}

/// Everything the stage needs.
pub struct GitInputs<'a> {
    pub root: &'a Path,
    pub settings: &'a GitProvenance,
    pub layout: &'a StoreLayout,
    pub sink: &'a dyn PieceSink,
    /// The base run's git manifest, whose commit records may be reused.
    pub base: Option<&'a StageManifest>,
    pub redactor: &'a Redactor,
    pub scan: &'a Scanner<'a>,
}

fn git_err(e: super::GitError) -> Error {
    Error::Git(Box::new(e))
}

/// Runs the stage.
pub fn build(inputs: &GitInputs<'_>) -> Result<GitBuilt> {
    let repo = Repo::open(inputs.root).map_err(git_err)?;
    let mut refs = repo.refs().map_err(git_err)?;
    for tag in &mut refs.tags {
        tag.subject = tag
            .subject
            .as_deref()
            .map(|s| inputs.redactor.redact(s).text.into_owned());
        if let Some(tagger) = &mut tag.tagger {
            tagger.name = inputs.redactor.redact(&tagger.name).text.into_owned();
        }
    }
    let walk: Vec<WalkCommit> = match refs.head {
        Some(head) => repo.walk(head).map_err(git_err)?,
        None => Vec::new(),
    };
    let key = records_key(inputs.redactor);
    let base = load_base(inputs, &key)?;
    let (records, work) = read_records(&repo, &walk, base, inputs.redactor)?;
    let walk_shas: Vec<String> = walk.iter().map(|c| c.sha.to_string()).collect();
    let submodules = match refs.head {
        Some(head) => repo.submodules(head).map_err(git_err)?,
        None => Vec::new(),
    };
    let mut snapshot = RepoSnapshot {
        head: refs.head.map(|h| h.to_string()),
        head_branch: refs.head_branch.clone(),
        shallow: refs.shallow,
        branches: refs.branches.clone(),
        tags: refs.tags.clone(),
        submodules,
        selected: Vec::new(),
    };
    snapshot.selected = select::select(inputs.settings, &walk_shas, &records, &snapshot);
    let authors = authors(&snapshot, &records);
    let files = file_index(&snapshot, &records, &walk_shas);

    let mut pieces = BTreeMap::new();
    pieces.insert(
        PieceKind::GitCommits.name().to_string(),
        store_commits(inputs, &records)?,
    );
    pieces.insert(
        PieceKind::GitFiles.name().to_string(),
        store_files(inputs, &files)?,
    );
    let counts = counts(inputs, &snapshot, &records, &authors, &files, key);
    let repo_piece = RepoPiece { snapshot, authors };
    let id = piece::put(inputs.sink, PieceKind::GitRepo, &repo_piece)?;
    inputs.scan.piece(id, &repo_piece, &|_| false);
    let mut table = ShardTable::empty(0);
    table.set(0, Some(id));
    table.set_items(1);
    pieces.insert(
        PieceKind::GitRepo.name().to_string(),
        table.store(inputs.sink)?,
    );
    Ok(GitBuilt {
        settings_hash: settings_hash(inputs.settings),
        counts,
        pieces,
        work,
    })
}

/// The base run's commit records, when they were read the same way.
fn load_base(inputs: &GitInputs<'_>, key: &str) -> Result<HashMap<String, CommitRecord>> {
    let Some(base) = inputs.base else {
        return Ok(HashMap::new());
    };
    let counts: GitCounts = base.counts_as();
    if counts.records_key != key {
        return Ok(HashMap::new());
    }
    let table = base.table(inputs.layout, PieceKind::GitCommits)?;
    let shards: Vec<ObjectId> = table.pieces().map(|(_, id)| id).collect();
    let groups: Vec<Vec<CommitRecord>> = shards
        .par_iter()
        .map(|id| piece::read(inputs.layout, PieceKind::GitCommits, *id))
        .collect::<Result<_>>()?;
    Ok(groups
        .into_iter()
        .flatten()
        .map(|r| (r.sha.clone(), r))
        .collect())
}

/// Every walked commit's record: reused from the base when its parents
/// are the same (a clone deepened since has new parents), else read.
fn read_records(
    repo: &Repo,
    walk: &[WalkCommit],
    mut base: HashMap<String, CommitRecord>,
    redactor: &Redactor,
) -> Result<(HashMap<String, CommitRecord>, GitWork)> {
    let mut records = HashMap::with_capacity(walk.len());
    let mut missing: Vec<&WalkCommit> = Vec::new();
    for commit in walk {
        let sha = commit.sha.to_string();
        match base.remove(&sha) {
            Some(r)
                if r.grafted == commit.grafted
                    && r.parents.iter().eq(commit
                        .parents
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .iter()) =>
            {
                records.insert(sha, r);
            }
            _ => missing.push(commit),
        }
    }
    let work = GitWork {
        read: missing.len(),
        reused: records.len(),
    };
    let redact = |text: &str| redactor.redact(text).text.into_owned();
    // gix repositories are per thread: each worker opens its own.
    let root = repo.root.clone();
    let read: Vec<CommitRecord> = missing
        .par_iter()
        .map_init(
            || Repo::open(&root),
            |local, commit| match local {
                Ok(local) => local.record(commit, &redact),
                Err(e) => Err(super::GitError::Open {
                    root: root.clone(),
                    detail: e.to_string(),
                }),
            },
        )
        .collect::<std::result::Result<_, _>>()
        .map_err(git_err)?;
    for r in read {
        records.insert(r.sha.clone(), r);
    }
    set_generations(&mut records);
    Ok((records, work))
}

/// Fills every record's generation (parents first, without recursion).
fn set_generations(records: &mut HashMap<String, CommitRecord>) {
    let mut done: HashMap<String, u32> = HashMap::with_capacity(records.len());
    let shas: Vec<String> = {
        let mut v: Vec<String> = records.keys().cloned().collect();
        v.sort();
        v
    };
    for start in shas {
        let mut stack = vec![start];
        while let Some(sha) = stack.last().cloned() {
            if done.contains_key(&sha) {
                stack.pop();
                continue;
            }
            let parents = records
                .get(&sha)
                .map(|r| r.parents.clone())
                .unwrap_or_default();
            let pending: Vec<String> = parents
                .iter()
                .filter(|p| records.contains_key(*p) && !done.contains_key(*p))
                .cloned()
                .collect();
            if pending.is_empty() {
                let g = parents
                    .iter()
                    .filter_map(|p| done.get(p))
                    .max()
                    .copied()
                    .unwrap_or(0)
                    + 1;
                done.insert(sha.clone(), g);
                stack.pop();
            } else {
                stack.extend(pending);
            }
        }
    }
    for (sha, r) in records.iter_mut() {
        r.generation = done.get(sha).copied().unwrap_or(1);
    }
}

fn sha_byte(sha: &str) -> u8 {
    u8::from_str_radix(sha.get(0..2).unwrap_or("00"), 16).unwrap_or(0)
}

/// Stores `items` (each with the first byte of its key's hash) as a sharded
/// kind, about `per_shard` to a piece, each piece in the items' order.
fn store_sharded<T: Serialize + Send + Sync>(
    inputs: &GitInputs<'_>,
    kind: PieceKind,
    per_shard: u64,
    items: Vec<(u8, T)>,
) -> Result<ObjectId> {
    let mut table = ShardTable::empty(bits_for(items.len() as u64, per_shard));
    table.set_items(items.len() as u64);
    let mut shards: BTreeMap<u8, Vec<T>> = BTreeMap::new();
    for (byte, item) in items {
        shards.entry(table.shard(byte)).or_default().push(item);
    }
    let stored: Vec<(u8, ObjectId)> = shards
        .into_par_iter()
        .map(|(shard, group)| {
            let id = piece::put(inputs.sink, kind, &group)?;
            inputs.scan.piece(id, &group, &|_| false);
            Ok((shard, id))
        })
        .collect::<Result<_>>()?;
    for (shard, id) in stored {
        table.set(shard, Some(id));
    }
    table.store(inputs.sink)
}

/// Commit records by sha (each piece sorted by sha).
fn store_commits(
    inputs: &GitInputs<'_>,
    records: &HashMap<String, CommitRecord>,
) -> Result<ObjectId> {
    let mut sorted: Vec<&CommitRecord> = records.values().collect();
    sorted.sort_by(|a, b| a.sha.cmp(&b.sha));
    let items = sorted.into_iter().map(|r| (sha_byte(&r.sha), r)).collect();
    store_sharded(inputs, PieceKind::GitCommits, COMMITS_PER_SHARD, items)
}

/// The per-file index by path (each piece sorted by path).
fn store_files(inputs: &GitInputs<'_>, files: &BTreeMap<String, Vec<String>>) -> Result<ObjectId> {
    let items = files
        .iter()
        .map(|(path, commits)| {
            (
                document_byte(path),
                FileHistory {
                    path: path.clone(),
                    commits: commits.clone(),
                },
            )
        })
        .collect();
    store_sharded(inputs, PieceKind::GitFiles, FILES_PER_SHARD, items)
}

/// Author identities of the selected commits, by case-folded email.
fn authors(snapshot: &RepoSnapshot, records: &HashMap<String, CommitRecord>) -> Vec<AuthorRecord> {
    let mut by_email: BTreeMap<String, (BTreeSet<String>, u32)> = BTreeMap::new();
    for s in &snapshot.selected {
        let Some(r) = records.get(&s.sha) else {
            continue;
        };
        let entry = by_email.entry(r.author.email.to_lowercase()).or_default();
        if !r.author.name.is_empty() {
            entry.0.insert(r.author.name.clone());
        }
        entry.1 += 1;
    }
    by_email
        .into_iter()
        .map(|(email, (names, commits))| AuthorRecord {
            email,
            names: names.into_iter().collect(),
            commits,
        })
        .collect()
}

/// Path -> selected commits that changed it (a rename counts for both
/// paths), in walk order.
fn file_index(
    snapshot: &RepoSnapshot,
    records: &HashMap<String, CommitRecord>,
    walk: &[String],
) -> BTreeMap<String, Vec<String>> {
    let selected: BTreeSet<&str> = snapshot.selected.iter().map(|s| s.sha.as_str()).collect();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for sha in walk.iter().filter(|s| selected.contains(s.as_str())) {
        let Some(r) = records.get(sha) else { continue };
        for c in &r.changes {
            out.entry(c.path.clone()).or_default().push(sha.clone());
            if let Some(old) = &c.old_path {
                out.entry(old.clone()).or_default().push(sha.clone());
            }
        }
    }
    out
}

fn counts(
    inputs: &GitInputs<'_>,
    snapshot: &RepoSnapshot,
    records: &HashMap<String, CommitRecord>,
    authors: &[AuthorRecord],
    files: &BTreeMap<String, Vec<String>>,
    records_key: String,
) -> GitCounts {
    let structural = snapshot
        .selected
        .iter()
        .filter(|s| s.tier == Tier::Structural)
        .count() as u64;
    let selected: BTreeSet<&str> = snapshot.selected.iter().map(|s| s.sha.as_str()).collect();
    let mut links = 0u64;
    for s in &snapshot.selected {
        let Some(r) = records.get(&s.sha) else {
            continue;
        };
        // modifies + succeeded_from, authored_by, contains, parent_of
        links += r.changes.len() as u64;
        links += r.changes.iter().filter(|c| c.old_path.is_some()).count() as u64;
        links += 2;
        links += r
            .parents
            .iter()
            .filter(|p| selected.contains(p.as_str()))
            .count() as u64;
    }
    links += snapshot
        .tags
        .iter()
        .filter(|t| t.target.as_deref().is_some_and(|t| selected.contains(t)))
        .count() as u64;
    links += snapshot
        .branches
        .iter()
        .filter(|b| selected.contains(b.head.as_str()))
        .count() as u64;
    let candidates = records.len() as u64 - structural.min(records.len() as u64);
    GitCounts {
        head: snapshot.head.clone(),
        head_branch: snapshot.head_branch.clone(),
        shallow: snapshot.shallow,
        commits_walked: records.len() as u64,
        selected: snapshot.selected.len() as u64,
        structural,
        scored_candidates: candidates,
        scored_kept: snapshot.selected.len() as u64 - structural,
        max_tier2_commits: inputs.settings.max_tier2_commits,
        authors: authors.len() as u64,
        tags: snapshot.tags.len() as u64,
        refs: snapshot.branches.len() as u64,
        files: files.len() as u64,
        links,
        submodules: snapshot.submodules.len() as u64,
        records_key,
    }
}
