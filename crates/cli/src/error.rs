//! The one error type at the CLI edge: a kind (which decides the exit code),
//! a message, hints, and the structured fields of `--json` errors.

use auditgraph_core::{Error, ErrorKind};
use serde_json::{Value, json};

/// Exit codes (documented in the README).
pub mod exit {
    pub const SUCCESS: i32 = 0;
    pub const FAILURE: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const REBUILD_REQUIRED: i32 = 3;
    pub const NEWER_STORE: i32 = 4;
    pub const BUDGET_BLOCKED: i32 = 5;
}

#[derive(Debug)]
pub struct CliError {
    pub exit_code: i32,
    /// Stable machine code for `--json` (`rebuild_required`, ...).
    pub code: &'static str,
    pub message: String,
    pub hints: Vec<String>,
    /// Extra fields for the `--json` error document.
    pub fields: serde_json::Map<String, Value>,
    /// The command already printed its result document (a report that
    /// carries the failure): stdout gets no second document.
    pub result_printed: bool,
}

impl CliError {
    pub fn new(exit_code: i32, code: &'static str, message: impl Into<String>) -> CliError {
        CliError {
            exit_code,
            code,
            message: message.into(),
            hints: Vec::new(),
            fields: serde_json::Map::new(),
            result_printed: false,
        }
    }

    /// Marks the error as following a printed result (see `result_printed`).
    pub fn after_result(mut self) -> CliError {
        self.result_printed = true;
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hints.push(hint.into());
        self
    }

    pub fn field(mut self, key: &str, value: Value) -> CliError {
        self.fields.insert(key.to_string(), value);
        self
    }

    pub fn to_json(&self) -> Value {
        let mut doc = serde_json::Map::new();
        doc.insert("status".into(), json!("error"));
        doc.insert("code".into(), json!(self.code));
        doc.insert("message".into(), json!(self.message));
        for (k, v) in &self.fields {
            doc.insert(k.clone(), v.clone());
        }
        if !self.hints.is_empty() {
            doc.insert("hints".into(), json!(self.hints));
        }
        Value::Object(doc)
    }
}

impl From<auditgraph_bolt::BoltError> for CliError {
    fn from(err: auditgraph_bolt::BoltError) -> CliError {
        use auditgraph_bolt::BoltError as B;
        let (exit_code, code) = match &err {
            B::InvalidUri { .. } => (exit::USAGE, "invalid_uri"),
            B::PlaintextRefused { .. } => (exit::FAILURE, "tls_required"),
            B::Auth { .. } => (exit::FAILURE, "neo4j_auth_failed"),
            B::Connect { .. } | B::Tls { .. } | B::UnsupportedVersion { .. } => {
                (exit::FAILURE, "neo4j_connect_failed")
            }
            B::Timeout { .. } => (exit::FAILURE, "neo4j_timeout"),
            B::Server { .. } => (exit::FAILURE, "neo4j_server_error"),
            B::Io { .. } | B::Protocol(_) | B::Encode(_) | B::Usage(_) => {
                (exit::FAILURE, "neo4j_error")
            }
        };
        CliError::new(exit_code, code, err.to_string())
    }
}

const REBUILD_HINT: &str = "run `auditgraph rebuild`: it writes a fresh run from the sources and leaves every existing artifact untouched";

impl From<Error> for CliError {
    fn from(err: Error) -> CliError {
        let message = err.to_string();
        match (&err, err.kind()) {
            (Error::RebuildRequired { found, required, readable, file, .. }, _) => {
                CliError::new(exit::REBUILD_REQUIRED, "rebuild_required", message)
                    .hint(REBUILD_HINT)
                    .field("found_schema_version", json!(found))
                    .field("required_schema_version", json!(required))
                    .field("readable_schema_versions", json!(readable))
                    .field("file", json!(file))
            }
            (Error::ArtifactFormat { file, what, found, readable }, _) => {
                CliError::new(exit::REBUILD_REQUIRED, "rebuild_required", message)
                    .hint(REBUILD_HINT)
                    .field("artifact", json!(what))
                    .field("found_format", json!(found))
                    .field("readable_format", json!(readable))
                    .field("file", json!(file))
            }
            (Error::NewerStore { found, required, readable, file, written_by }, _) => {
                // The writer's version says what to install, unless it is
                // this very version (a marker edited by hand or by a test).
                let needed = written_by
                    .as_deref()
                    .and_then(|w| w.strip_prefix("auditgraph "))
                    .filter(|v| *v != auditgraph_core::version::AUDITGRAPH_VERSION)
                    .map(|v| format!("auditgraph >= {v}"))
                    .unwrap_or_else(|| format!("an auditgraph that reads schema {found}"));
                CliError::new(exit::NEWER_STORE, "newer_store", message)
                    .hint(format!(
                        "this workspace needs {needed}: upgrade auditgraph (see docs/install.md); nothing was written"
                    ))
                    .field("written_by", json!(written_by))
                    .field("found_schema_version", json!(found))
                    .field("required_schema_version", json!(required))
                    .field("readable_schema_versions", json!(readable))
                    .field("file", json!(file))
            }
            (Error::BudgetBlocked(report), _) => {
                let budget = serde_json::to_value(report.as_ref()).unwrap_or(Value::Null);
                let mut err = CliError::new(exit::BUDGET_BLOCKED, "budget_blocked", message);
                for hint in budget_hints(report) {
                    err = err.hint(hint);
                }
                err.field("budget", budget)
            }
            (Error::RedactionMiss(report), _) => {
                let mut err = CliError::new(exit::FAILURE, "redaction_miss", message)
                    .field("redaction_postcondition", serde_json::to_value(report.as_ref()).unwrap_or(Value::Null));
                for m in report.misses.iter().take(10) {
                    err = err.hint(format!("{} ({} x {})", m.file, m.category, m.count));
                }
                err.hint("a detector matched text the redactor did not replace; check the detector configuration (security.redaction.detectors), or pass --allow-redaction-misses to publish and record the misses")
            }
            // Only --profile (there is no AUDITGRAPH_PROFILE) gives these: an
            // unknown active_profile in a file is an Invalid error with its
            // position. The fault is the flag, not the file.
            (
                Error::Config(
                    cfg @ (auditgraph_core::config::ConfigError::UnknownProfile {
                        name,
                        known,
                        config,
                    }
                    | auditgraph_core::config::ConfigError::InvalidProfileName {
                        name,
                        known,
                        config,
                        ..
                    }),
                ),
                _,
            ) => {
                use auditgraph_core::config::{ConfigError, ConfigSource};
                let name_is_valid = !matches!(cfg, ConfigError::InvalidProfileName { .. });
                let why_not = if name_is_valid {
                    String::new()
                } else {
                    format!(", and '{name}' cannot be one: profile names use letters, digits, '-', '_' and '.' (they become directory names under .pkg/profiles)")
                };
                // How to add one: under the name asked for, when it can be one.
                let new_name = if name_is_valid { name.as_str() } else { "work" };
                let add = match config {
                    ConfigSource::File(file) => format!(
                        "to add a profile, add an entry such as `{new_name}:` with its settings (include_paths, ...) under `profiles:` in {}",
                        file.display()
                    ),
                    ConfigSource::Defaults => format!(
                        "to add a profile, write a configuration file with it: `auditgraph init --profile {new_name}` writes config/pkg.yaml with that profile"
                    ),
                };
                CliError::new(exit::USAGE, "config_error", message)
                    .hint(format!(
                        "the --profile flag names a profile the configuration does not define{why_not}; pass one of the configured profiles ({}), or leave --profile out to use the configuration's active_profile",
                        known.join(", ")
                    ))
                    .hint(add)
                    .field("profile", json!(name))
                    .field("configured_profiles", json!(known))
            }
            (Error::Config(auditgraph_core::config::ConfigError::Invalid { .. }), _) => {
                CliError::new(exit::USAGE, "config_error", message)
                    .hint("fix the configuration file; `auditgraph init` in an empty directory writes one with every key documented")
            }
            // A missing, unreadable or directory path: the message says
            // which and what to pass instead.
            (Error::Config(_), _) => CliError::new(exit::USAGE, "config_error", message),
            (Error::Locked { .. }, _) => CliError::new(exit::FAILURE, "locked", message).hint(
                "wait for the other auditgraph command to finish, or set AUDITGRAPH_LOCK_TIMEOUT=<seconds> to wait longer",
            ),
            (Error::WatchRunning { lock, pid }, _) => {
                let stop = match pid {
                    Some(pid) => format!("stop it first (Ctrl-C where it runs, or `kill {pid}`)"),
                    None => "stop it first (Ctrl-C where it runs)".to_string(),
                };
                CliError::new(exit::FAILURE, "watch_running", message)
                    .hint(format!(
                        "{stop}; one watch per workspace and profile is enough: every other command reads its runs"
                    ))
                    .field("lock", json!(lock))
                    .field("pid", json!(pid))
            }
            (Error::NothingIngested { .. }, _) => {
                CliError::new(exit::FAILURE, "nothing_ingested", message)
                    .hint("run `auditgraph run` (or `auditgraph ingest`) first")
            }
            (Error::Corrupt { .. }, _) => CliError::new(exit::FAILURE, "store_damaged", message)
                .hint("run `auditgraph validate-store` for a full report; `auditgraph rebuild` writes a fresh run"),
            (Error::NotFound { .. }, _) => CliError::new(exit::FAILURE, "not_found", message),
            (Error::Git(git), _) => {
                use auditgraph_core::git::GitError;
                let kind = match git.as_ref() {
                    GitError::NotARepository { .. } => "not_a_repository",
                    GitError::Open { .. } | GitError::Read { .. } => "git_read_error",
                    GitError::UnknownFile { .. } => "unknown_file",
                    GitError::NotBuilt { .. } => "git_provenance_not_built",
                };
                CliError::new(exit::FAILURE, kind, message)
            }
            (Error::Io { path, source, .. }, _) => {
                let err = CliError::new(exit::FAILURE, "io_error", message);
                match source.kind() {
                    std::io::ErrorKind::NotADirectory => err.hint(format!(
                        "{} is a file, not a directory: move or rename it, then run the command again",
                        first_file_on_the_way(path).display()
                    )),
                    std::io::ErrorKind::PermissionDenied => err.hint(format!(
                        "check the permissions of {} and of the directories above it",
                        path.display()
                    )),
                    std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                        err.hint("free some disk space (`auditgraph gc --dry-run` shows what old runs would free)")
                    }
                    _ => err,
                }
            }
            (_, ErrorKind::Usage) => CliError::new(exit::USAGE, "usage_error", message),
            _ => CliError::new(exit::FAILURE, "failed", message),
        }
    }
}

/// The first component of `path` that exists as something other than a
/// directory (the file in the way of a "not a directory" error), else `path`.
fn first_file_on_the_way(path: &std::path::Path) -> std::path::PathBuf {
    path.ancestors()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find(|p| p.exists() && !p.is_dir())
        .unwrap_or(path)
        .to_path_buf()
}

pub type CliResult<T = ()> = Result<T, CliError>;

/// The ways out of a budget refusal, each computed to free enough: the
/// `gc` that reclaims what is needed (or what even `gc --keep 0` would
/// not), earlier exports, and the multiplier that lets it through.
fn budget_hints(report: &auditgraph_core::store::budget::BudgetReport) -> Vec<String> {
    use crate::output::human_bytes;
    use auditgraph_core::gc::DEFAULT_KEEP;
    let Some(way) = &report.way_out else {
        return vec![
            "run `auditgraph gc` to remove old runs (try `auditgraph gc --dry-run` first)"
                .to_string(),
            format!(
                "or raise storage.footprint_budget.multiplier in the configuration (now {})",
                report.multiplier
            ),
        ];
    };
    let mut hints = Vec::new();
    let needed = human_bytes(way.needed_bytes);
    match way.gc_keep {
        Some(keep) => {
            let command = if keep == DEFAULT_KEEP {
                "auditgraph gc".to_string()
            } else {
                format!("auditgraph gc --keep {keep}")
            };
            hints.push(format!(
                "run `{command}`: it frees {} of old runs, and {needed} is needed (add --dry-run to see what goes)",
                human_bytes(way.gc_frees_bytes)
            ));
        }
        None if way.gc_frees_bytes > 0 => hints.push(format!(
            "`auditgraph gc --keep 0` would free only {} of the {needed} needed",
            human_bytes(way.gc_frees_bytes)
        )),
        None => hints.push(format!(
            "`auditgraph gc` has nothing to free; {needed} is needed"
        )),
    }
    if let Some(bytes) = way.exports_bytes.filter(|b| *b > 0) {
        hints.push(format!(
            "or delete earlier exports in exports/ ({} counted; `auditgraph status` lists them)",
            human_bytes(bytes)
        ));
    }
    if report.operation == "export" {
        hints.push(
            "or write the export outside the workspace (`-o /some/dir/file`): it is reported, not counted"
                .to_string(),
        );
    }
    hints.push(format!(
        "or raise storage.footprint_budget.multiplier in the configuration to at least {} (now {})",
        way.multiplier_needed, report.multiplier
    ));
    hints
}
