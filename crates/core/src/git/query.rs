//! `git-who`, `git-log`, `git-introduced` and `git-history`: answers from
//! the git-provenance pieces of a run (the current one by default), never
//! from the repository itself, so they show what the run recorded.

use super::error::GitError;
use super::ids::{self, rules};
use super::record::{Change, ChangeKind, CommitRecord, FileHistory, Tier};
use super::stage::RepoPiece;
use super::text;
use crate::error::{Error, Result};
use crate::pipeline::Workspace;
use crate::pipeline::manifest::StageManifest;
use crate::store::id::ObjectId;
use crate::store::layout::StoreLayout;
use crate::store::piece::{self, PieceKind};
use crate::store::table::{ShardTable, document_byte};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

/// A run's git provenance, opened for reading; pieces are read on demand.
pub struct GitRun {
    pub run_id: String,
    pub manifest: StageManifest,
    pub repo: RepoPiece,
    layout: StoreLayout,
    commits: ShardTable,
    files: ShardTable,
    commit_pieces: RefCell<HashMap<ObjectId, Vec<CommitRecord>>>,
    file_pieces: RefCell<HashMap<ObjectId, Vec<FileHistory>>>,
}

fn git_err(e: GitError) -> Error {
    Error::Git(Box::new(e))
}

impl GitRun {
    /// Opens the git provenance of `run` (default: the current run).
    pub fn open(ws: &Workspace, run: Option<&str>) -> Result<GitRun> {
        let reader = ws.reader()?;
        let run_id = reader.resolve_run(run)?;
        GitRun::open_at(&reader, run_id)
    }

    /// Opens the git provenance of `run` for one file, given relative to
    /// `cwd` or to the workspace root (or absolute, inside the root): the
    /// run and the file's repository path. A workspace that is not a
    /// repository, a run without git provenance and a file the history
    /// does not know are errors that say what to do.
    pub fn open_file(
        ws: &Workspace,
        run: Option<&str>,
        cwd: &Path,
        file: &str,
    ) -> Result<(GitRun, String)> {
        if !ws.root.join(".git").exists() {
            return Err(git_err(GitError::NotARepository {
                root: ws.root.clone(),
            }));
        }
        let opened = GitRun::open(ws, run)?;
        let path = opened.resolve(&ws.root, cwd, file)?;
        Ok((opened, path))
    }

    /// Opens the git provenance of the stored run `run_id`.
    pub fn open_at(reader: &crate::store::StoreReader, run_id: String) -> Result<GitRun> {
        let manifests = reader.run(&run_id)?;
        let Some(manifest) = manifests.git.clone() else {
            return Err(git_err(GitError::NotBuilt { run_id }));
        };
        let layout = reader.layout.clone();
        let repo_table = manifest.table(&layout, PieceKind::GitRepo)?;
        let repo_id = repo_table.get(0).ok_or_else(|| {
            Error::corrupt(
                layout.run_dir(&run_id).join("git-provenance-manifest.json"),
                "the git_repo table names no piece",
            )
        })?;
        let repo: RepoPiece = piece::read(&layout, PieceKind::GitRepo, repo_id)?;
        Ok(GitRun {
            commits: manifest.table(&layout, PieceKind::GitCommits)?,
            files: manifest.table(&layout, PieceKind::GitFiles)?,
            run_id,
            manifest,
            repo,
            layout,
            commit_pieces: RefCell::default(),
            file_pieces: RefCell::default(),
        })
    }

    /// The selected commits that changed `path` (`None`: none did).
    pub fn file(&self, path: &str) -> Result<Option<FileHistory>> {
        let Some(id) = self.files.piece_for(document_byte(path)) else {
            return Ok(None);
        };
        let mut cache = self.file_pieces.borrow_mut();
        if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry(id) {
            slot.insert(piece::read(&self.layout, PieceKind::GitFiles, id)?);
        }
        Ok(cache
            .get(&id)
            .and_then(|g| g.iter().find(|f| f.path == path).cloned()))
    }

    /// A commit's record.
    pub fn commit(&self, sha: &str) -> Result<Option<CommitRecord>> {
        let byte = u8::from_str_radix(sha.get(0..2).unwrap_or(""), 16).unwrap_or(0);
        let Some(id) = self.commits.piece_for(byte) else {
            return Ok(None);
        };
        let mut cache = self.commit_pieces.borrow_mut();
        if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry(id) {
            slot.insert(piece::read(&self.layout, PieceKind::GitCommits, id)?);
        }
        Ok(cache.get(&id).and_then(|g| {
            g.binary_search_by(|r| r.sha.as_str().cmp(sha))
                .ok()
                .map(|i| g[i].clone())
        }))
    }

    /// The repository path `arg` names: relative to `cwd` when `cwd` is in
    /// the workspace and the path is known there, else relative to the
    /// root (an absolute path inside the root works too).
    pub fn resolve(&self, root: &Path, cwd: &Path, arg: &str) -> Result<String> {
        let mut candidates = Vec::new();
        let given = Path::new(arg);
        if given.is_absolute() {
            if let Some(rel) = normalize(given).and_then(|p| relative_to(&p, root)) {
                candidates.push(rel);
            }
        } else {
            if let Some(rel) = normalize(&cwd.join(given)).and_then(|p| relative_to(&p, root)) {
                candidates.push(rel);
            }
            if let Some(rel) = normalize(&root.join(given)).and_then(|p| relative_to(&p, root)) {
                candidates.push(rel);
            }
        }
        for c in &candidates {
            if self.file(c)?.is_some() {
                return Ok(c.clone());
            }
        }
        Err(git_err(GitError::UnknownFile {
            file: candidates
                .first()
                .cloned()
                .unwrap_or_else(|| arg.to_string()),
            run_id: self.run_id.clone(),
        }))
    }

    fn selection(&self) -> HashMap<&str, (Tier, f64)> {
        self.repo
            .snapshot
            .selected
            .iter()
            .map(|s| (s.sha.as_str(), (s.tier, s.score)))
            .collect()
    }

    fn tags_of(&self) -> HashMap<&str, Vec<String>> {
        let mut out: HashMap<&str, Vec<String>> = HashMap::new();
        for t in &self.repo.snapshot.tags {
            if let Some(target) = &t.target {
                out.entry(target.as_str()).or_default().push(t.name.clone());
            }
        }
        out
    }
}

/// Lexical normalization (`.` and `..`), no file system access.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    Some(out)
}

fn relative_to(path: &Path, root: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// A commit that changed the file, as the file was named then.
#[derive(Debug, Clone)]
pub struct Followed {
    pub record: CommitRecord,
    /// The file's path at this commit.
    pub path: String,
    pub change: Change,
}

/// Newest first: generation (a topological order), then committer time,
/// then sha.
fn order_key(r: &CommitRecord) -> (u32, i64, String) {
    (r.generation, r.committer.time, r.sha.clone())
}

/// The commits that changed `path`, newest first ([`order_key`]),
/// following renames back like `git log --follow`: at a commit that
/// renamed the file, the older commits are those of the old path.
pub fn follow(run: &GitRun, path: &str) -> Result<Vec<Followed>> {
    let mut out = Vec::new();
    let mut current = path.to_string();
    let mut bound: Option<(u32, i64, String)> = None;
    let mut seen_paths = BTreeSet::new();
    while seen_paths.insert((current.clone(), bound.clone())) {
        let Some(history) = run.file(&current)? else {
            break;
        };
        let mut records = Vec::new();
        for sha in &history.commits {
            if let Some(r) = run.commit(sha)? {
                records.push(r);
            }
        }
        records.sort_by_key(|r| std::cmp::Reverse(order_key(r)));
        records.dedup_by(|a, b| a.sha == b.sha);
        let mut next = None;
        for r in records {
            let key = order_key(&r);
            if bound.as_ref().is_some_and(|b| key >= *b) {
                continue;
            }
            let Some(change) = r
                .changes
                .iter()
                .find(|c| c.path == current)
                .or_else(|| {
                    r.changes
                        .iter()
                        .find(|c| c.old_path.as_deref() == Some(&current))
                })
                .cloned()
            else {
                continue;
            };
            let renamed_here = change.kind == ChangeKind::Renamed && change.path == current;
            let old = change.old_path.clone();
            out.push(Followed {
                path: current.clone(),
                record: r,
                change,
            });
            if renamed_here && let Some(old) = old {
                next = Some((old, key));
                break;
            }
        }
        match next {
            Some((old, key)) => {
                current = old;
                bound = Some(key);
            }
            None => break,
        }
    }
    Ok(out)
}

/// A commit as the git commands show it.
#[derive(Debug, Clone, Serialize)]
pub struct CommitView {
    pub id: String,
    pub sha: String,
    pub subject: String,
    pub author_name: String,
    pub author_email: String,
    /// UTC; `author_tz` is the author's offset.
    pub authored_at: String,
    pub author_tz: String,
    pub committer_name: String,
    pub committer_email: String,
    pub committed_at: String,
    pub committer_tz: String,
    pub is_merge: bool,
    pub parent_shas: Vec<String>,
    /// The commit names parents this clone does not have (shallow clone).
    pub grafted: bool,
    pub tags: Vec<String>,
    /// `structural` or `scored`.
    pub tier: &'static str,
    pub importance_score: f64,
    /// The file's path at this commit and what the commit did to it.
    pub path: String,
    pub change: &'static str,
    pub old_path: Option<String>,
    pub similarity: Option<u8>,
    pub lines_added: Option<u32>,
    pub lines_removed: Option<u32>,
}

fn view(
    f: &Followed,
    sel: &HashMap<&str, (Tier, f64)>,
    tags: &HashMap<&str, Vec<String>>,
) -> CommitView {
    let r = &f.record;
    let (tier, score) = sel
        .get(r.sha.as_str())
        .copied()
        .unwrap_or((Tier::Scored, 0.0));
    CommitView {
        id: ids::commit(&r.sha),
        sha: r.sha.clone(),
        subject: r.subject.clone(),
        author_name: r.author.name.clone(),
        author_email: r.author.email.clone(),
        authored_at: text::utc(r.author.time),
        author_tz: text::offset(r.author.offset),
        committer_name: r.committer.name.clone(),
        committer_email: r.committer.email.clone(),
        committed_at: text::utc(r.committer.time),
        committer_tz: text::offset(r.committer.offset),
        is_merge: r.is_merge(),
        parent_shas: r.parents.clone(),
        grafted: r.grafted,
        tags: tags.get(r.sha.as_str()).cloned().unwrap_or_default(),
        tier: tier.name(),
        importance_score: score,
        path: f.path.clone(),
        change: f.change.kind.name(),
        old_path: f.change.old_path.clone(),
        similarity: f.change.similarity,
        lines_added: f.change.added,
        lines_removed: f.change.removed,
    }
}

/// `git-log`: the commits that changed the file, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct LogReport {
    pub status: &'static str,
    pub run_id: String,
    pub file: String,
    pub file_id: String,
    pub commits: Vec<CommitView>,
}

pub fn log(run: &GitRun, file: &str) -> Result<LogReport> {
    let followed = follow(run, file)?;
    let sel = run.selection();
    let tags = run.tags_of();
    Ok(LogReport {
        status: "ok",
        run_id: run.run_id.clone(),
        file: file.to_string(),
        file_id: ids::file(file),
        commits: followed.iter().map(|f| view(f, &sel, &tags)).collect(),
    })
}

/// One author of a file.
#[derive(Debug, Clone, Serialize)]
pub struct AuthorView {
    pub id: String,
    /// Case-folded (one identity per email).
    pub email: String,
    /// Every name the identity used on a selected commit.
    pub names: Vec<String>,
    /// Commits to this file (following renames).
    pub commit_count: u32,
    pub earliest: String,
    pub latest: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WhoReport {
    pub status: &'static str,
    pub run_id: String,
    pub file: String,
    pub file_id: String,
    pub authors: Vec<AuthorView>,
}

fn authors_of(run: &GitRun, followed: &[Followed]) -> Vec<AuthorView> {
    let aliases: HashMap<&str, &Vec<String>> = run
        .repo
        .authors
        .iter()
        .map(|a| (a.email.as_str(), &a.names))
        .collect();
    let mut by: BTreeMap<String, (u32, i64, i64)> = BTreeMap::new();
    for f in followed {
        let a = &f.record.author;
        let e = by
            .entry(a.email.to_lowercase())
            .or_insert((0, i64::MAX, i64::MIN));
        e.0 += 1;
        e.1 = e.1.min(a.time);
        e.2 = e.2.max(a.time);
    }
    by.into_iter()
        .map(|(email, (n, first, last))| AuthorView {
            id: ids::author(&email),
            names: aliases
                .get(email.as_str())
                .map(|v| (*v).clone())
                .unwrap_or_default(),
            email,
            commit_count: n,
            earliest: text::utc(first),
            latest: text::utc(last),
        })
        .collect()
}

pub fn who(run: &GitRun, file: &str) -> Result<WhoReport> {
    let followed = follow(run, file)?;
    Ok(WhoReport {
        status: "ok",
        run_id: run.run_id.clone(),
        file: file.to_string(),
        file_id: ids::file(file),
        authors: authors_of(run, &followed),
    })
}

/// One rename on the way back to where a file came from.
#[derive(Debug, Clone, Serialize)]
pub struct LineageStep {
    /// `succeeded_from` link: the newer file entity to the older one.
    pub link_id: String,
    pub rule_id: &'static str,
    pub path: String,
    pub old_path: String,
    pub commit_sha: String,
    /// Content similarity in percent.
    pub similarity: u8,
    pub confidence: f64,
    /// `identical_content` or `content_similarity`.
    pub detection_method: &'static str,
}

fn lineage_of(followed: &[Followed]) -> Vec<LineageStep> {
    followed
        .iter()
        .filter(|f| f.change.kind == ChangeKind::Renamed && f.change.path == f.path)
        .filter_map(|f| {
            let old = f.change.old_path.clone()?;
            let similarity = f.change.similarity.unwrap_or(0);
            Some(LineageStep {
                link_id: ids::link(rules::SUCCEEDED_FROM, &ids::file(&f.path), &ids::file(&old)),
                rule_id: rules::SUCCEEDED_FROM,
                path: f.path.clone(),
                old_path: old,
                commit_sha: f.record.sha.clone(),
                similarity,
                confidence: f64::from(similarity) / 100.0,
                detection_method: if similarity == 100 {
                    "identical_content"
                } else {
                    "content_similarity"
                },
            })
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct IntroducedReport {
    pub status: &'static str,
    pub run_id: String,
    pub file: String,
    pub file_id: String,
    /// The commit that first added the file (following renames back); in a
    /// shallow clone, possibly the boundary commit (`grafted`).
    pub commit: CommitView,
    pub lineage: Vec<LineageStep>,
}

pub fn introduced(run: &GitRun, file: &str) -> Result<IntroducedReport> {
    let followed = follow(run, file)?;
    let first = followed
        .iter()
        .rev()
        .find(|f| f.change.kind == ChangeKind::Added && f.change.path == f.path)
        .or_else(|| followed.last())
        .ok_or_else(|| {
            git_err(GitError::UnknownFile {
                file: file.to_string(),
                run_id: run.run_id.clone(),
            })
        })?;
    Ok(IntroducedReport {
        status: "ok",
        run_id: run.run_id.clone(),
        file: file.to_string(),
        file_id: ids::file(file),
        commit: view(first, &run.selection(), &run.tags_of()),
        lineage: lineage_of(&followed),
    })
}

/// A link with its rule and evidence.
#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub rule_id: &'static str,
    pub from_id: String,
    pub to_id: String,
    pub confidence: f64,
    pub authority: &'static str,
    pub evidence: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    pub status: &'static str,
    pub run_id: String,
    pub file: String,
    pub file_id: String,
    pub repository_id: String,
    /// The file's note entity, when the file is a note of the run.
    pub note_id: Option<String>,
    pub authors: Vec<AuthorView>,
    pub commits: Vec<CommitView>,
    pub introduced: Option<CommitView>,
    pub lineage: Vec<LineageStep>,
    /// `modifies`, `authored_by`, `succeeded_from`, and the file's link to
    /// its note.
    pub links: Vec<LinkView>,
}

/// `modifies`: a commit changed a path (evidence: lines added and removed).
pub(crate) fn modifies_link(r: &CommitRecord, change: &Change) -> LinkView {
    link(
        "modifies",
        rules::MODIFIES,
        ids::commit(&r.sha),
        ids::file(&change.path),
        serde_json::json!([{
            "commit_sha": r.sha,
            "source_path": change.path,
            "change": change.kind.name(),
            "lines_added": change.added,
            "lines_removed": change.removed,
        }]),
    )
}

/// `authored_by`: a commit and its author identity.
pub(crate) fn authored_link(r: &CommitRecord) -> LinkView {
    link(
        "authored_by",
        rules::AUTHORED_BY,
        ids::commit(&r.sha),
        ids::author(&r.author.email),
        serde_json::json!([{
            "commit_sha": r.sha,
            "author_email": r.author.email,
        }]),
    )
}

/// The link of a file that is a note of the run to its note entity.
pub(crate) fn note_source_link(path: &str, note_id: String) -> LinkView {
    link(
        "source_of",
        rules::SOURCE_NOTE,
        ids::file(path),
        note_id,
        serde_json::json!([{ "source_path": path }]),
    )
}

pub(crate) fn link(
    kind: &'static str,
    rule: &'static str,
    from: String,
    to: String,
    evidence: serde_json::Value,
) -> LinkView {
    LinkView {
        id: ids::link(rule, &from, &to),
        kind,
        rule_id: rule,
        from_id: from,
        to_id: to,
        confidence: 1.0,
        authority: "authoritative",
        evidence,
    }
}

/// The links of the file's commits to the rest of the history:
/// `contains` (repository -> commit), `parent_of` (commit -> each selected
/// parent), `tags` (tag -> commit) and `on_branch` (branch head -> ref).
pub(crate) fn commit_links(run: &GitRun, records: &[&CommitRecord]) -> Vec<LinkView> {
    let sel = run.selection();
    let snapshot = &run.repo.snapshot;
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for r in records {
        if !seen.insert(r.sha.as_str()) {
            continue;
        }
        let commit = ids::commit(&r.sha);
        out.push(link(
            "contains",
            rules::CONTAINS,
            ids::repository(),
            commit.clone(),
            serde_json::json!([]),
        ));
        for parent in r.parents.iter().filter(|p| sel.contains_key(p.as_str())) {
            out.push(link(
                "parent_of",
                rules::PARENT_OF,
                commit.clone(),
                ids::commit(parent),
                serde_json::json!([{ "child_sha": r.sha, "parent_sha": parent }]),
            ));
        }
        for tag in snapshot
            .tags
            .iter()
            .filter(|t| t.target.as_deref() == Some(&r.sha))
        {
            out.push(link(
                "tags",
                rules::TAGS,
                ids::tag(&tag.name),
                commit.clone(),
                serde_json::json!([{ "tag": tag.name, "commit_sha": r.sha }]),
            ));
        }
        for branch in snapshot.branches.iter().filter(|b| b.head == r.sha) {
            out.push(link(
                "on_branch",
                rules::ON_BRANCH,
                commit.clone(),
                ids::branch(&branch.name),
                serde_json::json!([{ "branch": branch.name, "head_sha": r.sha }]),
            ));
        }
    }
    out
}

/// `git-history`: authors, commits, where the file came from, and the
/// links between them. `note_id` is filled by the caller when the file is
/// a note of the run ([`note_link`]).
pub fn history(run: &GitRun, file: &str, note_id: Option<String>) -> Result<HistoryReport> {
    let followed = follow(run, file)?;
    let sel = run.selection();
    let tags = run.tags_of();
    let commits: Vec<CommitView> = followed.iter().map(|f| view(f, &sel, &tags)).collect();
    let intro = introduced(run, file).ok().map(|r| r.commit);
    let lineage = lineage_of(&followed);
    let mut links = Vec::new();
    for f in &followed {
        links.push(modifies_link(&f.record, &f.change));
        links.push(authored_link(&f.record));
    }
    let records: Vec<&CommitRecord> = followed.iter().map(|f| &f.record).collect();
    links.extend(commit_links(run, &records));
    for step in &lineage {
        links.push(link(
            "succeeded_from",
            rules::SUCCEEDED_FROM,
            ids::file(&step.path),
            ids::file(&step.old_path),
            serde_json::json!([{
                "commit_sha": step.commit_sha,
                "old_path": step.old_path,
                "similarity": step.similarity,
                "detection_method": step.detection_method,
            }]),
        ));
    }
    if let Some(note) = &note_id {
        links.push(note_source_link(file, note.clone()));
    }
    Ok(HistoryReport {
        status: "ok",
        run_id: run.run_id.clone(),
        file: file.to_string(),
        file_id: ids::file(file),
        repository_id: ids::repository(),
        note_id,
        authors: authors_of(run, &followed),
        commits,
        introduced: intro,
        lineage,
        links,
    })
}

/// The note entity of a workspace source, if the run holds one for `path`
/// (the repository's top level is the workspace root, so the paths agree).
pub fn note_link(ws: &Workspace, run_id: &str, path: &str) -> Option<String> {
    let pieces =
        crate::query::load::RunPieces::open(ws, Some(run_id), crate::query::load::Need::Graph)
            .ok()?;
    let id = crate::graph::model::entity_id(&format!("note:{path}"));
    match pieces.locate(&id) {
        Ok(Some(_)) => Some(id),
        _ => None,
    }
}
