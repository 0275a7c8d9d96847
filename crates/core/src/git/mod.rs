//! Git provenance: who changed which file, when, and where a file came from.
//!
//! The `git-provenance` stage reads the workspace's repository (read only:
//! nothing is ever written into `.git`) with gix, and stores per commit what
//! it changed ([`record::CommitRecord`]), a selection of the commits
//! ([`select`]), the tags, branches and HEAD ([`record::RepoSnapshot`]), and
//! a per-file index of the selected commits. Entities and links (commit,
//! author, tag, ref, repository, file; `modifies`, `authored_by`, ...) are
//! derived from those with documented keys ([`ids`]), never from an
//! absolute path, so moving or re-cloning a repository keeps every id.
//!
//! `git-who`, `git-log`, `git-introduced` and `git-history` answer from the
//! stored pieces of the current run ([`query`]).

pub mod diff;
pub mod error;
pub mod graph;
pub mod ids;
pub mod query;
pub mod read;
pub mod record;
pub mod select;
pub mod stage;
pub mod text;

pub use error::GitError;

/// The stage's name (manifest `git-provenance-manifest.json`).
pub const STAGE: &str = "git-provenance";

/// Version of how commits are read and diffed: bumping it makes every
/// cached commit record be read again.
pub const GIT_READER_VERSION: u32 = 1;
