//! Stage manifests: `runs/<run_id>/<stage>-manifest.json`.
//!
//! A manifest is small whatever the size of the collection: what the stage
//! is (versions, hashes, settings), what it counted, and the top of the
//! shard table of each kind of piece it produced. Its outputs hash is the
//! hash of those tops, which cover every piece, so it depends only on what
//! the stage produced, never on how (a cold run and a run reached through
//! a hundred edits of the same sources have the same outputs hash).

use crate::error::{Error, Result};
use crate::hashing::FieldHasher;
use crate::store::id::ObjectId;
use crate::store::layout::StoreLayout;
use crate::store::piece::PieceKind;
use crate::store::state::StoreState;
use crate::store::table::ShardTable;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The manifest of one stage of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageManifest {
    pub schema_version: String,
    pub stage: String,
    pub run_id: String,
    pub pipeline_version: String,
    pub auditgraph_version: String,
    pub config_hash: String,
    /// The previous stage's outputs hash (for ingest: the hash of every
    /// discovered path with its content hash, or size and why it was not
    /// read).
    pub inputs_hash: String,
    /// Hash of [`StageManifest::pieces`].
    pub outputs_hash: String,
    /// Hash of the settings that shape this stage's output.
    pub settings_hash: String,
    pub status: String,
    pub counts: serde_json::Value,
    /// Piece kind -> top of its shard table.
    pub pieces: BTreeMap<String, ObjectId>,
    pub warnings: Vec<String>,
    pub wall_clock_started_at: String,
    pub wall_clock_finished_at: String,
}

impl StageManifest {
    /// The shard table of `kind` this stage produced.
    pub fn table(&self, layout: &StoreLayout, kind: PieceKind) -> Result<ShardTable> {
        let top = self.pieces.get(kind.name()).ok_or_else(|| {
            Error::corrupt(
                layout
                    .run_dir(&self.run_id)
                    .join(format!("{}-manifest.json", self.stage)),
                format!(
                    "the {} manifest names no {} pieces",
                    self.stage,
                    kind.name()
                ),
            )
        })?;
        ShardTable::load(layout, *top)
    }

    /// The counts, typed.
    pub fn counts_as<T: serde::de::DeserializeOwned + Default>(&self) -> T {
        serde_json::from_value(self.counts.clone()).unwrap_or_default()
    }
}

/// What every stage manifest of a run shares.
pub struct StageHeader<'a> {
    pub config: &'a crate::config::LoadedConfig,
    pub schema_version: &'a str,
    pub run_id: &'a str,
    pub stage: &'a str,
    /// Wall clock at the stage's start.
    pub started: String,
}

impl StageHeader<'_> {
    /// The manifest of a stage that finished now.
    pub fn manifest(
        self,
        inputs_hash: String,
        settings_hash: String,
        counts: serde_json::Value,
        pieces: BTreeMap<String, ObjectId>,
    ) -> StageManifest {
        StageManifest {
            schema_version: self.schema_version.to_string(),
            stage: self.stage.to_string(),
            run_id: self.run_id.to_string(),
            pipeline_version: self.config.config.run_metadata.pipeline_version.clone(),
            auditgraph_version: crate::version::AUDITGRAPH_VERSION.to_string(),
            config_hash: self.config.config_hash(),
            inputs_hash,
            outputs_hash: outputs_hash(&pieces),
            settings_hash,
            status: "ok".to_string(),
            counts,
            pieces,
            warnings: Vec::new(),
            wall_clock_started_at: self.started,
            wall_clock_finished_at: crate::store::clock::now_utc(),
        }
    }
}

/// The outputs hash of a stage: its kinds and table tops, in name order.
pub fn outputs_hash(pieces: &BTreeMap<String, ObjectId>) -> String {
    let mut h = FieldHasher::new("stage-outputs");
    for (kind, top) in pieces {
        h.field(kind).field(top.0);
    }
    h.finish_hex()
}

/// Every manifest of a run.
#[derive(Debug, Clone)]
pub struct RunManifests {
    pub run_id: String,
    pub ingest: StageManifest,
    pub extract: Option<StageManifest>,
    pub link: Option<StageManifest>,
    pub index: Option<StageManifest>,
    /// `git-provenance`, when the profile enables it and the workspace is a
    /// repository.
    pub git: Option<StageManifest>,
}

impl RunManifests {
    /// Reads the manifests `state` records for a run.
    pub fn read(layout: &StoreLayout, state: &StoreState, run_id: &str) -> Result<RunManifests> {
        let read = |stage: &str| {
            crate::store::read_stage_manifest::<StageManifest>(layout, state, run_id, stage)
        };
        let ingest = read(crate::ingest::STAGE)?.ok_or_else(|| Error::NotFound {
            message: format!(
                "run {run_id} has no ingest manifest; `auditgraph rebuild` writes a complete run"
            ),
        })?;
        Ok(RunManifests {
            run_id: run_id.to_string(),
            ingest,
            extract: read(crate::extract::stage::STAGE)?,
            link: read(crate::link::STAGE)?,
            index: read(crate::index::stage::STAGE)?,
            git: read(crate::git::STAGE)?,
        })
    }

    /// The manifest of `stage`, or a "not found" naming the command to run.
    pub fn require(&self, stage: &str) -> Result<&StageManifest> {
        let found = match stage {
            s if s == crate::ingest::STAGE => Some(&self.ingest),
            s if s == crate::extract::stage::STAGE => self.extract.as_ref(),
            s if s == crate::link::STAGE => self.link.as_ref(),
            s if s == crate::index::stage::STAGE => self.index.as_ref(),
            s if s == crate::git::STAGE => self.git.as_ref(),
            _ => None,
        };
        found.ok_or_else(|| Error::NotFound {
            message: format!(
                "run {} has no {stage} stage yet; `auditgraph run` builds every stage",
                self.run_id
            ),
        })
    }

    /// The table of `kind`, from the stage that produces it.
    pub fn table(&self, layout: &StoreLayout, kind: PieceKind) -> Result<ShardTable> {
        self.require(stage_of(kind))?.table(layout, kind)
    }

    /// Every stage manifest the run has.
    pub fn all(&self) -> Vec<&StageManifest> {
        let mut out = vec![&self.ingest];
        out.extend(self.extract.iter());
        out.extend(self.link.iter());
        out.extend(self.index.iter());
        out.extend(self.git.iter());
        out
    }
}

/// The stage that produces pieces of `kind`.
pub fn stage_of(kind: PieceKind) -> &'static str {
    match kind {
        PieceKind::Records | PieceKind::Documents => crate::ingest::STAGE,
        PieceKind::Extraction => crate::extract::stage::STAGE,
        PieceKind::Resolutions
        | PieceKind::Links
        | PieceKind::Technologies
        | PieceKind::Entities
        | PieceKind::Keys => crate::link::STAGE,
        PieceKind::Search | PieceKind::TechSearch => crate::index::stage::STAGE,
        PieceKind::GitCommits | PieceKind::GitFiles | PieceKind::GitRepo => crate::git::STAGE,
        PieceKind::Table => "",
    }
}
