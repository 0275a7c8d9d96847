//! auditgraph core library.
//!
//! Everything auditgraph does lives here: configuration, the versioned on-disk
//! store, the pipeline stages, the graph model, query and exports. The
//! `auditgraph` binary is a thin layer that parses arguments, calls into this
//! crate and renders the results.
//!
//! The library is synchronous and has no opinion about terminals: it reports
//! progress through the [`progress::Progress`] trait and returns typed errors.

pub mod config;
pub mod error;
pub mod export;
pub mod extract;
pub mod gc;
pub mod git;
pub mod graph;
pub mod hashing;
pub mod index;
pub mod info;
pub mod ingest;
pub mod jobs;
pub mod link;
pub mod paths;
pub mod pipeline;
pub mod progress;
pub mod query;
pub mod redact;
pub mod store;
pub mod validate;
pub mod version;
pub mod watch;

pub use error::{Error, ErrorKind, Result};
