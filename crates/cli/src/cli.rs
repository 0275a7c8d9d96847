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

    /// Print more detail: -v lists every skipped and failed file with its
    /// reason, -vv adds the time each phase took (on stderr)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Publish a run even if the redaction postcondition finds something a
    /// detector still matches (the misses are recorded in its manifests)
    #[arg(long, global = true)]
    pub allow_redaction_misses: bool,
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
    /// Watch a workspace and publish a new run shortly after every save, one
    /// line per run (with --json, one JSON object per line), until Ctrl-C or
    /// SIGTERM (DIR becomes the workspace root)
    Watch {
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
    /// Extract notes, sections, technologies and references of a run
    Extract(StageArgs),
    /// Build the graph (typed, explained edges) of a run
    Link(StageArgs),
    /// Build the search, type and adjacency indexes of a run
    Index(StageArgs),
    /// Re-run a run's recorded configuration on the current sources into a new
    /// run, and report whether every stage's outputs hash matches
    Replay {
        /// The run to replay (id or unique prefix)
        run_id: String,
    },
    /// What changed between two runs: sources, entities and links
    Diff {
        /// The older run [default: the run before the current one]
        #[arg(long, value_name = "RUN")]
        run_a: Option<String>,
        /// The newer run [default: the current run]
        #[arg(long, value_name = "RUN")]
        run_b: Option<String>,
        /// List at most this many ids per change kind (counts are always complete)
        #[arg(long, default_value_t = 100, value_name = "N")]
        limit: usize,
    },
    /// Ranked search over entity names and chunk text
    Query {
        /// The query: words (any may match) and "quoted phrases" (must match)
        #[arg(long = "q", value_name = "TEXT")]
        q: String,
        #[command(flatten)]
        select: SelectArgs,
    },
    /// Browse entities without a search term
    List {
        #[command(flatten)]
        select: SelectArgs,
        /// Print only the number of matching entities
        #[arg(long, alias = "count-only")]
        count: bool,
        /// Count matching entities per value of a field
        #[arg(long, value_name = "FIELD")]
        group_by: Option<String>,
    },
    /// Show one entity (or document, or chunk) with its edges
    Node {
        /// An entity id (ent_...), document id (doc_...) or chunk id (chk_...)
        id: String,
        #[command(flatten)]
        run: RunArg,
    },
    /// Entities reachable from one entity, breadth first, with the path to each
    Neighbors {
        /// The entity id to start from
        id: String,
        /// How many edges away to go
        #[arg(long, default_value_t = 1, value_name = "N")]
        depth: usize,
        /// Follow only these edge types (repeatable)
        #[arg(long = "edge-type", value_name = "TYPE")]
        edge_types: Vec<String>,
        /// Follow only edges with at least this confidence
        #[arg(long, value_name = "X")]
        min_confidence: Option<f64>,
        /// Show at most this many neighbours
        #[arg(long, default_value_t = 100, value_name = "N")]
        limit: usize,
        #[command(flatten)]
        run: RunArg,
    },
    /// Explain how two entities are connected: the shortest paths, each edge
    /// with its rule and evidence
    #[command(name = "why-connected")]
    WhyConnected {
        /// One entity id
        #[arg(long, value_name = "ID")]
        from: String,
        /// The other entity id
        #[arg(long, value_name = "ID")]
        to: String,
        /// Longest path to look for, in edges
        #[arg(long, default_value_t = 6, value_name = "N")]
        max_depth: usize,
        /// Show at most this many shortest paths
        #[arg(long, default_value_t = 3, value_name = "N")]
        max_paths: usize,
        /// Follow only these edge types (repeatable)
        #[arg(long = "edge-type", value_name = "TYPE")]
        edge_types: Vec<String>,
        #[command(flatten)]
        run: RunArg,
    },
    /// The authors of a file (one per email, every name they used), from
    /// the git-provenance stage, following renames
    #[command(name = "git-who")]
    GitWho(crate::commands::git::GitFileArgs),
    /// The commits that changed a file, newest first, following renames
    #[command(name = "git-log")]
    GitLog(crate::commands::git::GitFileArgs),
    /// The commit that first added a file, following renames back
    #[command(name = "git-introduced")]
    GitIntroduced(crate::commands::git::GitFileArgs),
    /// A file's authors, commits, origin and renames, with the links and
    /// their rules and evidence
    #[command(name = "git-history")]
    GitHistory(crate::commands::git::GitFileArgs),
    /// Write the graph (or a subgraph) as a JSON bundle, Graphviz DOT or GraphML
    Export(crate::commands::export::ExportArgs),
    /// Write a Cypher script that loads the graph into Neo4j (idempotent)
    #[command(name = "export-neo4j")]
    ExportNeo4j(crate::commands::export_neo4j::ExportNeo4jArgs),
    /// Upsert the graph into Neo4j (or another Bolt 5 server) from NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD
    #[command(name = "sync-neo4j")]
    SyncNeo4j(crate::commands::sync_neo4j::SyncNeo4jArgs),
    /// Schema versions, runs, sizes and budget of the store at a glance
    Status,
    /// List every run of the store
    Runs,
    /// Reports a team runs on a schedule, configured in config/jobs.yaml:
    /// changes since a time, broken references, stale notes, evidence
    /// packs, the store budget
    Jobs(crate::commands::jobs::JobsArgs),
    /// Remove old runs and unreferenced artifacts (the only command that deletes)
    Gc {
        /// Show what would be removed without removing anything
        #[arg(long)]
        dry_run: bool,
        /// Also keep this many most recent runs besides the current one
        #[arg(long, default_value_t = auditgraph_core::gc::DEFAULT_KEEP, value_name = "N")]
        keep: usize,
    },
    /// Serve the graph to LLM agents over the Model Context Protocol on
    /// stdin/stdout: read-only tools (the read commands, answering as their
    /// --json) and the chunks and documents results cite as resources
    Mcp {
        /// Also offer the write tool `run` (publishes a new run through the
        /// same lock, budget and compatibility checks as `auditgraph run`)
        #[arg(long)]
        allow_writes: bool,
        /// Serve MCP's streamable HTTP transport at http://ADDR/mcp instead
        /// of stdio (a loopback address, e.g. 127.0.0.1:8765; Host and
        /// Origin are checked against DNS rebinding)
        #[arg(long, value_name = "ADDR")]
        http: Option<std::net::SocketAddr>,
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
        /// Also prove that the store still holds the state this seal (from
        /// `auditgraph status`, recorded earlier) sealed, unchanged: exit 1
        /// if the store was rolled back or its history rewritten
        #[arg(long, value_name = "SEAL", value_parser = parse_seal, conflicts_with = "all_profiles")]
        expect_seal: Option<String>,
    },
}

#[derive(Debug, Args, Clone)]
pub struct StageArgs {
    /// The run to work on (id or unique prefix) [default: the current run]
    #[arg(long, value_name = "RUN")]
    pub run_id: Option<String>,
}

/// Which run a read command reads.
#[derive(Debug, Args, Clone)]
pub struct RunArg {
    /// The run to read (id or unique prefix) [default: the current run]
    #[arg(long, value_name = "RUN")]
    pub run_id: Option<String>,
}

/// Filtering, ordering and paging shared by `query` and `list`.
#[derive(Debug, Args, Clone)]
pub struct SelectArgs {
    /// Keep only entities of this type (repeatable; any of them)
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Keep only entities where FIELD OP VALUE holds (repeatable; all of
    /// them). OP: = != > >= < <= ~ (contains)
    #[arg(long = "where", value_name = "EXPR")]
    pub wheres: Vec<String>,
    /// Order by this field (ties by id) [default: query by score, list by id]
    #[arg(long, value_name = "FIELD")]
    pub sort: Option<String>,
    /// Reverse the --sort order (missing values stay last)
    #[arg(long)]
    pub desc: bool,
    /// Show at most this many results [default: query 10, list 100]
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Skip this many results first
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub offset: usize,
    #[command(flatten)]
    pub run: RunArg,
}

/// A seal as `status` prints it: 64 hexadecimal digits (either case),
/// returned in lower case.
fn parse_seal(text: &str) -> Result<String, String> {
    let seal = text.trim().to_ascii_lowercase();
    if seal.len() == 64 && seal.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(seal)
    } else {
        Err(format!(
            "a seal is the 64 hexadecimal digits `auditgraph status` prints after `seal:`; got {} character(s)",
            text.trim().chars().count()
        ))
    }
}
