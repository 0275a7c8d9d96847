//! The library's error type. Every variant names the file or value at fault;
//! the CLI maps [`ErrorKind`] to an exit code and adds hints.

use crate::config::ConfigError;
use crate::store::budget::BudgetReport;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Runtime failure (I/O, corrupt store, missing id, ...): exit 1.
    Runtime,
    /// Usage or configuration error: exit 2.
    Usage,
    /// The store holds artifacts this version cannot use: exit 3.
    RebuildRequired,
    /// The store was written by a newer auditgraph: exit 4.
    NewerStore,
    /// The disk footprint budget would be exceeded: exit 5.
    BudgetBlocked,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),

    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "rebuild required: {} {}, this auditgraph reads {}",
        file.display(),
        match problem {
            Some(problem) => problem.to_string(),
            None => format!("has schema version {}", found.as_deref().unwrap_or("(missing)")),
        },
        readable.join(", ")
    )]
    RebuildRequired {
        /// The version found, `None` when the field is missing.
        found: Option<String>,
        required: String,
        readable: Vec<String>,
        file: PathBuf,
        /// What is wrong with the file beyond its version (not valid JSON...).
        /// Boxed: it keeps every `Result` of the library small.
        problem: Option<Box<str>>,
    },

    #[error(
        "{} was written by a newer auditgraph ({}schema {found}); this auditgraph {} reads up to {required}",
        file.display(),
        written_by.as_deref().map(|w| format!("{w}, ")).unwrap_or_default(),
        crate::version::AUDITGRAPH_VERSION
    )]
    NewerStore {
        found: String,
        required: String,
        readable: Vec<String>,
        file: PathBuf,
        /// `auditgraph X.Y.Z` of the writer, when the store records it.
        written_by: Option<String>,
    },

    #[error("{0}")]
    BudgetBlocked(Box<BudgetReport>),

    #[error(
        "another auditgraph process is writing to {} (waited {waited_secs}s for its lock)",
        path.display()
    )]
    Locked { path: PathBuf, waited_secs: u64 },

    #[error(
        "another auditgraph watch{} is already watching this profile (it holds the lock {})",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        lock.display()
    )]
    WatchRunning { lock: PathBuf, pid: Option<u32> },

    #[error("nothing ingested yet in profile '{profile}' ({})", store.display())]
    NothingIngested { profile: String, store: PathBuf },

    #[error("the store is damaged: {}: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },

    /// An artifact encoded in a format this binary does not read, inside a
    /// store whose schema it does read (written by another development
    /// build of the same schema): not damage, but a run to rebuild.
    #[error(
        "rebuild required: {} holds a {what} in format {found}; this auditgraph reads {what} format {readable}",
        file.display()
    )]
    ArtifactFormat {
        file: PathBuf,
        what: &'static str,
        found: u32,
        readable: u32,
    },

    #[error("{message}")]
    NotFound { message: String },

    #[error("{message}")]
    InvalidArgument { message: String },

    #[error("redaction: {0}")]
    Redaction(#[from] crate::redact::RedactError),

    #[error(
        "redaction postcondition failed: detectors still match {} place(s) in what this run would write; nothing was written",
        .0.misses.iter().map(|m| m.count).sum::<usize>()
    )]
    RedactionMiss(Box<crate::pipeline::postcondition::Postcondition>),

    #[error("{message}")]
    Failed { message: String },

    /// Git provenance (boxed: it keeps every `Result` small).
    #[error(transparent)]
    Git(Box<crate::git::GitError>),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) | Error::InvalidArgument { .. } => ErrorKind::Usage,
            Error::Redaction(crate::redact::RedactError::UnknownDetector { .. }) => {
                ErrorKind::Usage
            }
            Error::RebuildRequired { .. } | Error::ArtifactFormat { .. } => {
                ErrorKind::RebuildRequired
            }
            Error::NewerStore { .. } => ErrorKind::NewerStore,
            Error::BudgetBlocked(_) => ErrorKind::BudgetBlocked,
            _ => ErrorKind::Runtime,
        }
    }

    /// Builds an I/O error that names the path and what was attempted.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// An I/O error because a path does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    pub fn corrupt(path: impl Into<PathBuf>, detail: impl Into<String>) -> Error {
        Error::Corrupt {
            path: path.into(),
            detail: detail.into(),
        }
    }
}

/// Adds path context to `std::io::Result`.
pub trait IoContext<T> {
    fn ctx(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(action, path, e))
    }
}
