//! What the stage stores: one record per commit (cached from run to run,
//! since a commit never changes), the repository's refs, the selection and
//! the per-file index.

use serde::{Deserialize, Serialize};

/// An author, committer or tagger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    /// As written in the object (not case-folded; identities group by the
    /// case-folded email).
    pub email: String,
    /// Seconds since the epoch.
    pub time: i64,
    /// The signature's UTC offset in seconds (east positive).
    pub offset: i32,
}

/// How a commit changed a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
    /// Renamed from `old_path` (detected by content similarity).
    Renamed,
    /// The same path changed between file, symlink and submodule.
    TypeChanged,
}

impl ChangeKind {
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
            ChangeKind::Renamed => "renamed",
            ChangeKind::TypeChanged => "type_changed",
        }
    }
}

/// One path a commit changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Repository-relative, `/`-separated (the old path for a deletion).
    pub path: String,
    pub kind: ChangeKind,
    /// For a rename: where the content was before.
    pub old_path: Option<String>,
    /// For a rename: content similarity in percent (100: identical).
    pub similarity: Option<u8>,
    /// Lines added and removed; `None` for binary content and submodules.
    pub added: Option<u32>,
    pub removed: Option<u32>,
}

/// One commit and what it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRecord {
    pub sha: String,
    /// The parents the repository holds (a shallow clone's boundary commit
    /// has none here, as `git log` shows it).
    pub parents: Vec<String>,
    /// The commit names parents this clone does not have (shallow boundary).
    pub grafted: bool,
    /// 1 for a commit without parents, else 1 + the greatest generation of
    /// its parents: a commit's ancestors all have smaller generations, so
    /// sorting by it is a topological order whatever the clocks said.
    pub generation: u32,
    pub author: Person,
    pub committer: Person,
    /// First line of the message (redacted).
    pub subject: String,
    /// Paths changed, by path. A root commit is compared with the empty
    /// tree, any other with its first parent; a merge lists only the paths
    /// that differ from every parent (as `git log` shows merges).
    pub changes: Vec<Change>,
}

impl CommitRecord {
    pub fn is_merge(&self) -> bool {
        self.parents.len() > 1
    }
}

/// A tag: annotated (its own object) or lightweight (a ref to a commit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRecord {
    pub name: String,
    pub annotated: bool,
    /// The commit the tag leads to (after peeling), if it leads to one.
    pub target: Option<String>,
    pub tagger: Option<Person>,
    /// First line of an annotated tag's message (redacted).
    pub subject: Option<String>,
}

/// A branch (`refs/heads/...`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchRecord {
    pub name: String,
    pub head: String,
}

/// Why a commit was selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tier {
    /// Root, merge, tagged, branch head, or touching a hot path.
    Structural,
    /// Kept by score within `max_tier2_commits`.
    Scored,
}

impl Tier {
    pub fn name(self) -> &'static str {
        match self {
            Tier::Structural => "structural",
            Tier::Scored => "scored",
        }
    }
}

/// One selected commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selected {
    pub sha: String,
    pub tier: Tier,
    /// Tier 1: -1.0; tier 2: the score.
    pub score: f64,
}

/// The repository as the run saw it: refs, submodules and the selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoSnapshot {
    /// HEAD's commit (`None`: an empty repository).
    pub head: Option<String>,
    /// The branch HEAD points at (`None`: detached HEAD or no commit).
    pub head_branch: Option<String>,
    pub shallow: bool,
    pub branches: Vec<BranchRecord>,
    pub tags: Vec<TagRecord>,
    /// Submodule paths seen in HEAD's tree (their history is not read).
    pub submodules: Vec<String>,
    /// The selection, in output order.
    pub selected: Vec<Selected>,
}

/// One file's selected commits (the per-file index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHistory {
    pub path: String,
    /// Commits that changed the path, in walk order.
    pub commits: Vec<String>,
}
