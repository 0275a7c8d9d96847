//! Running stages and publishing their results as runs.
//!
//! A command opens a [`Workspace`], takes the writer lock, builds what
//! changed (staging new pieces as they are made), checks the budget, and
//! publishes everything in one transaction. The run id is derived from the inputs hash, the config hash,
//! the schema version and the binary version, so the same sources and
//! configuration always give the same run, and an upgrade gives a new one.

pub mod git_stage;
pub mod manifest;
pub mod pieces;
pub mod postcondition;
pub mod publish;
pub mod run_cmd;
pub mod stage_cmd;
pub mod stages;
pub mod strings;

use crate::config::{self, LoadedConfig};
use crate::error::{Error, Result};
use crate::hashing::FieldHasher;
use crate::store::layout::StoreLayout;
use crate::store::{StoreReader, StoreWriter};
use crate::version::SchemaSupport;
use std::path::{Path, PathBuf};

/// A workspace root with its configuration and the active profile's store.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Canonical root directory.
    pub root: PathBuf,
    pub config: LoadedConfig,
    pub layout: StoreLayout,
    pub support: SchemaSupport,
}

impl Workspace {
    /// Resolves the root, loads the configuration and selects the profile.
    pub fn open(
        root: &Path,
        config_path: Option<&Path>,
        profile: Option<&str>,
    ) -> Result<Workspace> {
        let canonical = std::fs::canonicalize(root).map_err(|e| Error::InvalidArgument {
            message: format!(
                "workspace root {} is not accessible: {e}; pass an existing directory with --root",
                root.display()
            ),
        })?;
        if !canonical.is_dir() {
            return Err(Error::InvalidArgument {
                message: format!("workspace root {} is not a directory", canonical.display()),
            });
        }
        let config = config::load(&canonical, config_path, profile)?;
        Ok(Workspace::with_config(canonical, config))
    }

    /// A workspace with an already-loaded configuration (`replay`).
    pub fn with_config(root: PathBuf, config: LoadedConfig) -> Workspace {
        let layout = StoreLayout::new(&root, &config.profile_name);
        Workspace {
            root,
            config,
            layout,
            support: SchemaSupport::current(),
        }
    }

    pub fn reader(&self) -> Result<StoreReader> {
        StoreReader::open(self.layout.clone(), self.support)
    }
}

/// Derives a run id: from the schema, the binary and its stages' derivation
/// versions, the configuration, the parser settings (which name the
/// outside programs parsing depends on, such as the OCR engine) and the
/// inputs (see DESIGN invariant 5).
pub fn run_id(
    inputs_hash: &str,
    config_hash: &str,
    settings_hash: &str,
    schema_version: &str,
) -> String {
    // The version of each stage's derivation, so that a build which
    // derives differently from the same inputs never reuses a run.
    let h = FieldHasher::new("run")
        .field(schema_version)
        .field(crate::version::AUDITGRAPH_VERSION)
        .field(crate::ingest::document::PARSER_VERSION)
        .field(crate::extract::stage::EXTRACTOR_VERSION)
        .field(crate::link::LINKER_VERSION)
        .field(crate::index::stage::INDEXER_VERSION)
        .field(config_hash)
        .field(settings_hash)
        .field(inputs_hash)
        .finish_hex();
    format!("run_{h}")
}

/// Options every writing command shares.
pub struct WriteOptions<'a> {
    pub lock_timeout: std::time::Duration,
    /// Called once if another writer holds the lock.
    pub on_wait: &'a dyn Fn(),
    pub progress: &'a dyn crate::progress::Progress,
    /// Record redaction misses and publish anyway (`--allow-redaction-misses`).
    pub allow_redaction_misses: bool,
}

/// A redactor for scanning only (the postcondition and `validate-store`):
/// scanning never computes markers, so it needs no key.
pub fn scanner(ws: &Workspace) -> Result<crate::redact::Redactor> {
    let policy = ws.config.config.security.redaction.policy();
    if !policy.enabled {
        return Ok(crate::redact::Redactor::disabled());
    }
    Ok(crate::redact::Redactor::new(&policy, b"scan-only")?)
}

/// Opens the writer for a command.
pub fn open_writer(
    ws: &Workspace,
    access: crate::store::Access,
    opts: &WriteOptions<'_>,
) -> Result<StoreWriter> {
    StoreWriter::open(
        ws.layout.clone(),
        ws.support,
        access,
        opts.lock_timeout,
        opts.on_wait,
    )
}

/// Serializes a manifest the way every manifest is stored: one top-level key
/// per line, and arrays of objects (the records) one element per line, so
/// the file stays compact yet diffs line by line between runs.
pub fn manifest_bytes<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let value = serde_json::to_value(value).unwrap_or_default();
    let mut out = String::new();
    match &value {
        serde_json::Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                match item {
                    serde_json::Value::Array(items)
                        if !items.is_empty() && items.iter().all(|v| v.is_object()) =>
                    {
                        out.push_str("[\n");
                        for (j, element) in items.iter().enumerate() {
                            if j > 0 {
                                out.push_str(",\n");
                            }
                            out.push_str(&element.to_string());
                        }
                        out.push_str("\n]");
                    }
                    other => out.push_str(&other.to_string()),
                }
            }
            out.push_str("\n}\n");
        }
        other => {
            out.push_str(&other.to_string());
            out.push('\n');
        }
    }
    out.into_bytes()
}
