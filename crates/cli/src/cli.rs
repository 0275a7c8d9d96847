//! Command-line definition. Flags are parsed into these raw values; each
//! command module turns them into validated settings.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Deterministic, explainable, auditable knowledge graphs from folders of notes.
#[derive(Debug, Parser)]
#[command(name = "auditgraph", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Workspace root [default: the current directory]
    #[arg(long, global = true, env = "AUDITGRAPH_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Configuration file [default: <root>/config/pkg.yaml, else built-in defaults]
    #[arg(long, global = true, env = "AUDITGRAPH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Profile to use [default: the configuration's active_profile]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Print one JSON document on stdout instead of human output
    #[arg(long, global = true)]
    pub json: bool,

    /// Print only errors and warnings
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more detail
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the version (with --json: schema versions, target and commit)
    Version,
    /// Write config/pkg.yaml with every default and create the profile's store
    Init,
    /// Run every stage on a folder of notes (DIR becomes the workspace root)
    Run {
        /// The workspace root [default: --root, AUDITGRAPH_ROOT or the current directory]
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Discover, hash and parse the workspace's files into a new run
    Ingest,
    /// Re-ingest only the given files or folders into a new run that carries
    /// everything else of the current run forward
    Import {
        /// Files or folders inside the workspace root
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// Re-derive everything from the sources, ignoring caches, into a new run
    /// (works on any store except one written by a newer auditgraph)
    Rebuild,
    /// Write the graph (or a subgraph) as a JSON bundle, Graphviz DOT or GraphML
    Export(crate::commands::export::ExportArgs),
    /// Write a Cypher script that loads the graph into Neo4j (idempotent)
    #[command(name = "export-neo4j")]
    ExportNeo4j(crate::commands::export_neo4j::ExportNeo4jArgs),
    /// Schema versions, runs, sizes and budget of the store at a glance
    Status,
    /// List every run of the store
    Runs,
    /// Remove old runs and unreferenced artifacts (the only command that deletes)
    Gc {
        /// Show what would be removed without removing anything
        #[arg(long)]
        dry_run: bool,
        /// Also keep this many most recent runs besides the current one
        #[arg(long, default_value_t = 2, value_name = "N")]
        keep: usize,
    },
    /// Print a shell completion script
    Completions {
        /// The shell to generate completions for
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    Man,
    /// Audit the store (read-only): manifests, artifacts, counters, secrets
    #[command(name = "validate-store")]
    ValidateStore {
        /// Validate every profile's store, not just the active one
        #[arg(long, conflicts_with = "profile")]
        all_profiles: bool,
    },
}
