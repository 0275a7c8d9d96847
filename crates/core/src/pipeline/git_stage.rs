//! The `git-provenance` stage in `run` and `rebuild`: whether it runs (the
//! profile enables it and the workspace is a repository), what it adds to
//! the run id (the state of HEAD, branches and tags), and its manifest.

use super::Workspace;
use super::manifest::{StageHeader, StageManifest};
use crate::error::Result;
use crate::git::stage::{GitInputs, GitWork};
use crate::hashing::FieldHasher;
use crate::store::clock;

/// The repository state of a run with git provenance: `None` when the
/// profile does not enable it, or when the workspace is not a repository
/// (then a warning says so and the run goes on without it).
pub fn probe(ws: &Workspace, warnings: &mut Vec<String>) -> Option<crate::git::stage::Probe> {
    if !ws.config.profile().git_provenance.enabled {
        return None;
    }
    match crate::git::stage::probe(&ws.root) {
        Ok(state) => Some(state),
        Err(e) => {
            warnings.push(format!("git provenance is enabled but skipped: {e}"));
            None
        }
    }
}

/// The inputs hash a run id is derived from: the sources', and with git
/// provenance the repository state (so a new commit makes a new run).
pub fn run_inputs(inputs_hash: &str, git_state: Option<&str>) -> String {
    match git_state {
        None => inputs_hash.to_string(),
        Some(state) => FieldHasher::new("inputs-with-git")
            .field(inputs_hash)
            .field(state)
            .finish_hex(),
    }
}

/// Builds the stage; its inputs hash is the repository state.
pub fn build(
    ws: &Workspace,
    inputs: &GitInputs<'_>,
    git_state: String,
    schema_version: &str,
    run_id: &str,
) -> Result<(StageManifest, GitWork)> {
    let header = StageHeader {
        config: &ws.config,
        schema_version,
        run_id,
        stage: crate::git::STAGE,
        started: clock::now_utc(),
    };
    let built = crate::git::stage::build(inputs)?;
    let counts = serde_json::to_value(&built.counts).unwrap_or_default();
    let manifest = header.manifest(git_state, built.settings_hash, counts, built.pieces);
    Ok((manifest, built.work))
}
