//! The manifest of the stages after ingest (extract, link, index).

use serde::{Deserialize, Serialize};

/// `runs/<run_id>/<stage>-manifest.json` for extract, link and index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageManifest {
    pub schema_version: String,
    pub stage: String,
    pub run_id: String,
    pub pipeline_version: String,
    pub auditgraph_version: String,
    pub config_hash: String,
    /// The previous stage's outputs hash.
    pub inputs_hash: String,
    /// Hash of this stage's artifact list (every artifact is content-addressed).
    pub outputs_hash: String,
    /// Hash of the settings that shape this stage's output.
    pub settings_hash: String,
    pub status: String,
    pub counts: serde_json::Value,
    pub artifacts: Vec<Artifact>,
    pub warnings: Vec<String>,
    pub wall_clock_started_at: String,
    pub wall_clock_finished_at: String,
}

/// One object a stage produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub kind: String,
    pub object: String,
    /// For extraction objects: the document group they were made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents_object: Option<String>,
    /// For extraction objects: how many documents they hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents: Option<u32>,
}

/// The outputs hash of an artifact list.
pub fn outputs_hash(artifacts: &[Artifact]) -> String {
    crate::hashing::sha256_hex(serde_json::to_string(artifacts).unwrap_or_default())
}
