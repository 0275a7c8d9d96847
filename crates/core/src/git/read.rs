//! Reading the repository: refs, the commit walk from HEAD and each
//! commit's record. Read only: the repository is opened isolated (no
//! system or user configuration, no environment overrides) and nothing is
//! written into `.git` (gix writes nothing to read objects and refs).

use super::diff;
use super::error::GitError;
use super::record::{BranchRecord, CommitRecord, Person, TagRecord};
use super::text;
use gix::ObjectId;
use gix::bstr::ByteSlice;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashSet};
use std::path::{Path, PathBuf};

/// An opened repository.
pub struct Repo {
    pub root: PathBuf,
    pub repo: gix::Repository,
}

/// A commit as the walk sees it.
#[derive(Debug, Clone)]
pub struct WalkCommit {
    pub sha: ObjectId,
    /// Parents present in this clone (none for a shallow boundary).
    pub parents: Vec<ObjectId>,
    pub grafted: bool,
    pub time: i64,
}

/// Refs and the walk, read before any commit's content.
pub struct RefState {
    pub head: Option<ObjectId>,
    pub head_branch: Option<String>,
    pub shallow: bool,
    pub branches: Vec<BranchRecord>,
    pub tags: Vec<TagRecord>,
}

impl Repo {
    /// Opens the repository whose top level is `root` (`root/.git` is a
    /// directory, or a file naming the git directory, as in a worktree or
    /// submodule checkout).
    pub fn open(root: &Path) -> Result<Repo, GitError> {
        if !root.join(".git").exists() {
            return Err(GitError::NotARepository {
                root: root.to_path_buf(),
            });
        }
        let repo =
            gix::open_opts(root, gix::open::Options::isolated()).map_err(|e| GitError::Open {
                root: root.to_path_buf(),
                detail: e.to_string(),
            })?;
        Ok(Repo {
            root: root.to_path_buf(),
            repo,
        })
    }

    fn read_err(&self, what: impl Into<String>, detail: impl std::fmt::Display) -> GitError {
        GitError::Read {
            root: self.root.clone(),
            what: what.into(),
            detail: detail.to_string(),
        }
    }

    /// HEAD, branches and tags.
    pub fn refs(&self) -> Result<RefState, GitError> {
        let head = self.repo.head().map_err(|e| self.read_err("HEAD", e))?;
        let head_id = head.id().map(|id| id.detach());
        let head_branch = match &head.kind {
            gix::head::Kind::Symbolic(r) => Some(short_name(r.name.as_bstr(), "refs/heads/")),
            _ => None,
        };
        let shallow = self.repo.is_shallow().unwrap_or(false);
        let mut branches = Vec::new();
        let mut tags = Vec::new();
        let platform = self
            .repo
            .references()
            .map_err(|e| self.read_err("the references", e))?;
        let all = platform
            .all()
            .map_err(|e| self.read_err("the references", e))?;
        for reference in all {
            let mut reference = reference.map_err(|e| self.read_err("a reference", e))?;
            let full = reference.name().as_bstr().to_owned();
            if let Some(name) = full.strip_prefix(b"refs/heads/") {
                let name = text::path(name);
                let id = reference
                    .peel_to_id()
                    .map_err(|e| self.read_err(format!("branch {name}"), e))?;
                branches.push(BranchRecord {
                    name,
                    head: id.detach().to_string(),
                });
            } else if let Some(name) = full.strip_prefix(b"refs/tags/") {
                let name = text::path(name);
                let Some(direct) = reference.target().try_id().map(|id| id.to_owned()) else {
                    continue;
                };
                tags.push(self.tag(name, direct)?);
            }
        }
        branches.sort_by(|a, b| a.name.cmp(&b.name));
        tags.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(RefState {
            head: head_id,
            head_branch: head_branch.filter(|_| head_id.is_some()),
            shallow,
            branches,
            tags,
        })
    }

    /// A tag: an annotated tag's object (peeled through nested tags), or a
    /// lightweight tag naming a commit directly.
    fn tag(&self, name: String, id: ObjectId) -> Result<TagRecord, GitError> {
        let mut record = TagRecord {
            name,
            annotated: false,
            target: None,
            tagger: None,
            subject: None,
        };
        let mut current = id;
        // Tags of tags are rare; a cycle is impossible (ids are hashes), a
        // long chain is cut.
        for depth in 0..16 {
            let Some(object) = self
                .repo
                .try_find_object(current)
                .map_err(|e| self.read_err(format!("tag {}", record.name), e))?
            else {
                return Ok(record);
            };
            match object.kind {
                gix::object::Kind::Tag => {
                    let tag = gix::objs::TagRef::from_bytes(&object.data, self.repo.object_hash())
                        .map_err(|e| self.read_err(format!("tag {}", record.name), e))?;
                    if depth == 0 {
                        record.annotated = true;
                        record.tagger = tag.tagger().ok().flatten().map(|s| person(s, None));
                        record.subject = Some(text::subject(&text::decode(tag.message, None)));
                    }
                    current = tag.target();
                }
                gix::object::Kind::Commit => {
                    record.target = Some(current.to_string());
                    return Ok(record);
                }
                _ => return Ok(record),
            }
        }
        Ok(record)
    }

    /// Every commit reachable from `head`, newest first: a walk that
    /// always takes the commit with the latest committer time next (ties:
    /// the greater sha), so the order depends only on the history.
    pub fn walk(&self, head: ObjectId) -> Result<Vec<WalkCommit>, GitError> {
        let boundary: HashSet<ObjectId> = match self.repo.shallow_commits() {
            Ok(Some(commits)) => commits.iter().copied().collect(),
            _ => HashSet::new(),
        };
        let mut out = Vec::new();
        let mut seen: HashSet<ObjectId> = HashSet::new();
        let mut queue: BinaryHeap<(i64, ObjectId)> = BinaryHeap::new();
        let first = self.header(head, &boundary)?;
        seen.insert(head);
        queue.push((first.time, head));
        let mut headers: BTreeMap<ObjectId, WalkCommit> = BTreeMap::new();
        headers.insert(head, first);
        while let Some((_, sha)) = queue.pop() {
            let Some(commit) = headers.remove(&sha) else {
                continue;
            };
            for parent in &commit.parents {
                if seen.insert(*parent) {
                    let header = self.header(*parent, &boundary)?;
                    queue.push((header.time, *parent));
                    headers.insert(*parent, header);
                }
            }
            out.push(commit);
        }
        Ok(out)
    }

    /// A commit's parents and committer time.
    fn header(&self, sha: ObjectId, boundary: &HashSet<ObjectId>) -> Result<WalkCommit, GitError> {
        let object = self
            .repo
            .find_object(sha)
            .map_err(|e| self.read_err(format!("commit {sha}"), e))?;
        let commit = gix::objs::CommitRef::from_bytes(&object.data, self.repo.object_hash())
            .map_err(|e| self.read_err(format!("commit {sha}"), e))?;
        let listed: Vec<ObjectId> = commit.parents().collect();
        let grafted_here = boundary.contains(&sha);
        let parents: Vec<ObjectId> = if grafted_here {
            Vec::new()
        } else {
            listed
                .iter()
                .copied()
                .filter(|p| self.repo.has_object(p))
                .collect()
        };
        let time = commit.committer().map(|s| s.seconds()).unwrap_or(0);
        Ok(WalkCommit {
            sha,
            grafted: parents.len() != listed.len(),
            parents,
            time,
        })
    }

    /// The full record of a commit: signatures, subject and changes.
    pub fn record(
        &self,
        commit: &WalkCommit,
        redact: &dyn Fn(&str) -> String,
    ) -> Result<CommitRecord, GitError> {
        let sha = commit.sha;
        let what = || format!("commit {sha}");
        let object = self
            .repo
            .find_object(sha)
            .map_err(|e| self.read_err(what(), e))?;
        let decoded = gix::objs::CommitRef::from_bytes(&object.data, self.repo.object_hash())
            .map_err(|e| self.read_err(what(), e))?;
        let encoding = decoded.encoding.map(|e| e.as_bytes());
        let author = decoded.author().map_err(|e| self.read_err(what(), e))?;
        let committer = decoded.committer().map_err(|e| self.read_err(what(), e))?;
        let mut author = person(author, encoding);
        let mut committer = person(committer, encoding);
        author.name = redact(&author.name);
        committer.name = redact(&committer.name);
        let subject = redact(&text::subject(&text::decode(decoded.message, encoding)));
        let tree = decoded.tree();
        let parent_trees: Vec<ObjectId> = commit
            .parents
            .iter()
            .map(|p| self.tree_of(*p))
            .collect::<Result<_, _>>()?;
        let changes = diff::commit_changes(&self.repo, tree, &parent_trees)
            .map_err(|e| self.read_err(what(), e))?;
        Ok(CommitRecord {
            sha: sha.to_string(),
            parents: commit.parents.iter().map(|p| p.to_string()).collect(),
            grafted: commit.grafted,
            generation: 0,
            author,
            committer,
            subject,
            changes,
        })
    }

    fn tree_of(&self, commit: ObjectId) -> Result<ObjectId, GitError> {
        let object = self
            .repo
            .find_object(commit)
            .map_err(|e| self.read_err(format!("commit {commit}"), e))?;
        let decoded = gix::objs::CommitRef::from_bytes(&object.data, self.repo.object_hash())
            .map_err(|e| self.read_err(format!("commit {commit}"), e))?;
        Ok(decoded.tree())
    }

    /// Submodule paths (gitlinks) in HEAD's tree.
    pub fn submodules(&self, head: ObjectId) -> Result<Vec<String>, GitError> {
        let tree = self.tree_of(head)?;
        let mut out = BTreeSet::new();
        diff::gitlinks(&self.repo, tree, "", &mut out)
            .map_err(|e| self.read_err(format!("the tree of {head}"), e))?;
        Ok(out.into_iter().collect())
    }
}

fn short_name(full: &gix::bstr::BStr, prefix: &str) -> String {
    let bytes: &[u8] = full.as_ref();
    text::path(bytes.strip_prefix(prefix.as_bytes()).unwrap_or(bytes))
}

fn person(sig: gix::actor::SignatureRef<'_>, encoding: Option<&[u8]>) -> Person {
    let sig = sig.trim();
    let time = sig.time().unwrap_or_default();
    Person {
        name: text::decode(sig.name, encoding),
        email: text::decode(sig.email, encoding),
        time: time.seconds,
        offset: time.offset,
    }
}
