//! Errors of git provenance: each names the repository, the object or the
//! file at fault and the way out.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error(
        "{} is not a git repository (no .git there); git provenance reads the repository whose top level is the workspace root: run `git init` there, or pass the repository's top level with --root",
        root.display()
    )]
    NotARepository { root: PathBuf },

    #[error("cannot open the git repository at {}: {detail}", root.display())]
    Open { root: PathBuf, detail: String },

    #[error("cannot read {what} from the git repository at {}: {detail}; check it with `git fsck`", root.display())]
    Read {
        root: PathBuf,
        what: String,
        detail: String,
    },

    #[error(
        "no git provenance for '{file}' in run {run_id}: no selected commit touched it; check the path (relative to the current directory or the workspace root) with `git log -- {file}`"
    )]
    UnknownFile { file: String, run_id: String },

    #[error(
        "run {run_id} has no git provenance; set `git_provenance.enabled: true` in the profile and run `auditgraph run`"
    )]
    NotBuilt { run_id: String },
}
