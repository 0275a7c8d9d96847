//! `auditgraph sync-neo4j`: upsert a run's graph into a Neo4j-compatible
//! server over Bolt. The statements come from
//! `auditgraph_core::export::cypher::sync_plan`; this file connects, runs
//! them in order (each batch its own auto-commit transaction) and reports.

use crate::context::Context;
use crate::error::{CliError, CliResult, exit};
use crate::output::short_run;
use auditgraph_bolt::{BoltError, BoltUri, Client, Config, Value};
use auditgraph_core::export::cypher::{SyncGroup, SyncPlan, SyncTarget};
use auditgraph_core::progress::Progress;
use clap::Args;
use serde::Serialize;
use serde_json::json;
use std::time::{Duration, Instant};

/// Rows of literal data per statement stay under this many bytes. FalkorDB
/// 4.16 mishandles large Bolt requests (see `crates/bolt`): a 57 KB
/// relationship batch of the Rust book made it close the connection every
/// time while each half of it went through; 32 KiB leaves a wide margin
/// and costs little throughput.
const MAX_STATEMENT_ROW_BYTES: usize = 32 * 1024;

#[derive(Debug, Clone, Args)]
pub struct SyncNeo4jArgs {
    /// Connect, count what would be created, updated or left unchanged, and write nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Rows per statement (each statement is one transaction)
    #[arg(long, value_name = "N", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,

    /// Refuse a plaintext bolt:// or neo4j:// URI to a host that is not loopback
    #[arg(long)]
    pub require_tls: bool,

    /// Server URI: bolt://, bolt+s://, bolt+ssc://, neo4j://, neo4j+s://, neo4j+ssc://
    #[arg(long, env = "NEO4J_URI", value_name = "URI")]
    pub uri: Option<String>,

    /// User name [env: NEO4J_USER or NEO4J_USERNAME] (the password is read from NEO4J_PASSWORD only)
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// Database to write to (leave unset for FalkorDB)
    #[arg(long, env = "NEO4J_DATABASE", value_name = "NAME")]
    pub database: Option<String>,

    /// Seconds to wait for the connection, and for each server reply
    #[arg(long, value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,

    /// Sync this run (an id or a unique prefix of 8+ characters) instead of the current one
    #[arg(long = "run-id", value_name = "RUN")]
    pub run_id: Option<String>,
}

/// Created / updated / unchanged counts of one kind of row.
#[derive(Debug, Default, Clone, Copy, Serialize)]
struct Tally {
    total: usize,
    created: i64,
    updated: i64,
    unchanged: i64,
}

/// What happened to the schema rules (constraints or indexes on `id`).
#[derive(Debug, Default, Serialize)]
struct SchemaReport {
    constraints: Vec<String>,
    indexes_created: Vec<String>,
    indexes_existing: Vec<String>,
}

pub fn run(ctx: &Context, args: SyncNeo4jArgs) -> CliResult {
    let settings = Settings::from_args(&args)?;
    if settings.uri.is_plaintext_to_remote() {
        if args.require_tls {
            return Err(CliError::from(BoltError::PlaintextRefused {
                host: settings.uri.host.clone(),
            }));
        }
        ctx.out.warn(format!(
            "{} is plaintext to {}: credentials and data travel unencrypted (use bolt+s:// or neo4j+s://, or --require-tls to refuse)",
            settings.uri.scheme, settings.uri.host
        ));
    }
    let ws = ctx.workspace()?;
    let (run, plan) = auditgraph_core::export::plan_sync(&ws, args.run_id.as_deref())?;
    let started = Instant::now();
    let mut client = Client::connect(&settings.config).map_err(|e| connect_error(e, &settings))?;
    let mut nodes = Tally {
        total: plan.count(SyncTarget::Nodes),
        ..Tally::default()
    };
    let mut relationships = Tally {
        total: plan.count(SyncTarget::Relationships),
        ..Tally::default()
    };
    let mut schema = SchemaReport::default();
    let progress = &ctx.progress;
    progress.phase("sync", (nodes.total + relationships.total) as u64);
    let mut sync = Sync {
        client: &mut client,
        batch_size: args.batch_size as usize,
        dry_run: args.dry_run,
        statements: 0,
        bytes: 0,
        progress,
    };
    let outcome = (|| -> Result<(), BoltError> {
        if !args.dry_run {
            ensure_schema(sync.client, &plan, &mut schema)?;
        }
        for group in &plan.groups {
            let tally = match group.target {
                SyncTarget::Nodes => &mut nodes,
                SyncTarget::Relationships => &mut relationships,
            };
            sync.group(group, tally)?;
        }
        if !args.dry_run {
            record_run(sync.client, &ws.config.profile_name, &run.run_id)?;
        }
        Ok(())
    })();
    progress.finish();
    let (statements, bytes_sent) = (sync.statements, sync.bytes);
    let server = client.server_agent().to_string();
    let (major, minor) = client.protocol_version();
    client.close();
    if let Err(err) = outcome {
        let mut cli = CliError::from(err);
        let written = nodes.created + nodes.updated + relationships.created + relationships.updated;
        if !args.dry_run && written > 0 {
            cli = cli.hint(format!(
                "{written} rows were written before the error; running sync-neo4j again finishes the job (rows already there are skipped)"
            ));
        }
        return Err(cli);
    }
    let seconds = started.elapsed().as_secs_f64();
    let doc = json!({
        "uri": settings.shown_uri,
        "database": args.database,
        "server": server,
        "bolt_version": format!("{major}.{minor}"),
        "run_id": run.run_id,
        "profile": ws.config.profile_name,
        "dry_run": args.dry_run,
        "batch_size": args.batch_size,
        "statements": statements,
        "bytes_sent": bytes_sent,
        "schema": schema,
        "nodes": nodes,
        "relationships": relationships,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "relationships_per_second": if seconds > 0.0 {
            (relationships.total as f64 / seconds).round()
        } else {
            0.0
        },
    });
    ctx.out.result(&doc, || {
        let verb = if args.dry_run { "would sync" } else { "synced" };
        let line = |what: &str, t: &Tally| {
            let (created, updated) = if args.dry_run {
                ("to create", "to update")
            } else {
                ("created", "updated")
            };
            format!(
                "  {what}: {} ({} {created}, {} {updated}, {} unchanged)\n",
                t.total, t.created, t.updated, t.unchanged
            )
        };
        let mut s = format!(
            "{verb} run {} to {} ({server}, Bolt {major}.{minor}) in {seconds:.1} s\n",
            short_run(&run.run_id),
            settings.shown_uri
        );
        s.push_str(&line("nodes", &nodes));
        s.push_str(&line("relationships", &relationships));
        s
    });
    Ok(())
}

/// The connection settings, validated before any work.
struct Settings {
    config: Config,
    uri: BoltUri,
    /// The URI without anything after the authority (never credentials).
    shown_uri: String,
}

impl Settings {
    fn from_args(args: &SyncNeo4jArgs) -> CliResult<Settings> {
        let Some(uri_text) = args.uri.clone().filter(|u| !u.trim().is_empty()) else {
            return Err(CliError::new(
                exit::USAGE,
                "neo4j_not_configured",
                "no server to sync to: NEO4J_URI is not set",
            )
            .hint("set NEO4J_URI (e.g. bolt://127.0.0.1:7687), NEO4J_USER and NEO4J_PASSWORD, or pass --uri"));
        };
        let uri = BoltUri::parse(&uri_text).map_err(CliError::from)?;
        let user = args
            .user
            .clone()
            .or_else(|| std::env::var("NEO4J_USER").ok())
            .or_else(|| std::env::var("NEO4J_USERNAME").ok())
            .unwrap_or_default();
        let password = std::env::var("NEO4J_PASSWORD").unwrap_or_default();
        let mut config = Config::new(uri_text, user, password);
        config.database = args.database.clone().filter(|d| !d.is_empty());
        config.require_tls = args.require_tls;
        config.connect_timeout = Duration::from_secs(args.timeout);
        config.io_timeout = Duration::from_secs(args.timeout.max(60));
        let shown_uri = format!("{}://{}", uri.scheme, uri.authority());
        Ok(Settings {
            config,
            uri,
            shown_uri,
        })
    }
}

fn connect_error(err: BoltError, settings: &Settings) -> CliError {
    let hint = match &err {
        BoltError::Auth { .. } => Some("check NEO4J_USER (or NEO4J_USERNAME) and NEO4J_PASSWORD"),
        BoltError::Connect { .. } | BoltError::Timeout { .. } => Some(
            "is the server running and listening for Bolt at that address? (--timeout sets how long to wait)",
        ),
        BoltError::Tls { .. } => Some(
            "bolt+s:// checks the certificate against the public roots; bolt+ssc:// encrypts without checking it",
        ),
        _ => None,
    };
    let mut cli = CliError::from(err).field("uri", json!(settings.shown_uri));
    if let Some(h) = hint {
        cli = cli.hint(h);
    }
    cli
}

/// Creates the uniqueness rules on `id`: Neo4j constraints, or indexes on
/// servers that have no constraints (FalkorDB).
fn ensure_schema(
    client: &mut Client,
    plan: &SyncPlan,
    report: &mut SchemaReport,
) -> Result<(), BoltError> {
    for rule in &plan.schema {
        match client.execute(&rule.constraint, &[]) {
            Ok(_) => report.constraints.push(rule.label.clone()),
            Err(BoltError::Server { .. }) => match client.execute(&rule.index, &[]) {
                Ok(_) => report.indexes_created.push(rule.label.clone()),
                Err(BoltError::Server { message, .. }) if message.contains("already indexed") => {
                    report.indexes_existing.push(rule.label.clone());
                }
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A value as a count (counts come back as integers, sums as floats on
/// FalkorDB).
fn number(value: Option<&Value>) -> i64 {
    match value {
        Some(Value::Int(i)) => *i,
        Some(Value::Float(f)) => f.round() as i64,
        _ => 0,
    }
}

/// One sync in progress.
struct Sync<'a> {
    client: &'a mut Client,
    batch_size: usize,
    dry_run: bool,
    statements: usize,
    /// Bytes of statement text sent.
    bytes: usize,
    progress: &'a dyn Progress,
}

impl Sync<'_> {
    fn run(&mut self, statement: &str) -> Result<auditgraph_bolt::QueryResult, BoltError> {
        self.statements += 1;
        self.bytes += statement.len();
        self.client.run(statement, &[])
    }
}

impl Sync<'_> {
    /// Probes a group for the rows that are missing or differ, then (unless
    /// dry-running) writes those.
    fn group(&mut self, group: &SyncGroup, tally: &mut Tally) -> Result<(), BoltError> {
        let mut to_write: Vec<usize> = Vec::new();
        let mut missing = 0i64;
        let present = self.run(group.presence())?;
        let probes = if number(present.records.first().and_then(|r| r.first())) == 0 {
            // Nothing of this kind there yet: every row is missing.
            to_write.extend(0..group.rows.len());
            missing = group.rows.len() as i64;
            if self.dry_run {
                self.progress.advance(group.rows.len() as u64);
            }
            Vec::new()
        } else {
            // Probe rows are small ({id, from_id, row_hash}): several
            // batches' worth fit one statement.
            group.probes(self.batch_size * 4, MAX_STATEMENT_ROW_BYTES)
        };
        for (rows, probe) in probes {
            let result = self.run(&probe)?;
            for record in &result.records {
                let id = record.first().and_then(Value::as_str).unwrap_or("");
                if let Some(i) = group.position(id) {
                    to_write.push(i);
                    if record.get(1).and_then(Value::as_bool) == Some(true) {
                        missing += 1;
                    }
                }
            }
            if self.dry_run {
                self.progress.advance(rows as u64);
            }
        }
        to_write.sort_unstable();
        to_write.dedup();
        let differ = to_write.len() as i64;
        tally.unchanged += group.rows.len() as i64 - differ;
        if self.dry_run {
            tally.created += missing;
            tally.updated += differ - missing;
            return Ok(());
        }
        self.progress
            .advance((group.rows.len() - to_write.len()) as u64);
        for (rows, write) in group.writes(&to_write, self.batch_size, MAX_STATEMENT_ROW_BYTES) {
            let result = self.run(&write)?;
            let written = number(result.records.first().and_then(|r| r.first()));
            let created = match group.target {
                SyncTarget::Nodes => result.summary.stat("nodes-created"),
                SyncTarget::Relationships => result.summary.stat("relationships-created"),
            };
            tally.created += created;
            tally.updated += written - created;
            // A row the probe saw differ but that matched by the time it was
            // written (another writer) is unchanged after all.
            tally.unchanged += rows as i64 - written;
            self.progress.advance(rows as u64);
        }
        Ok(())
    }
}

/// Records which run the database now holds, once, on a node of its own
/// (entities carry no run id, so an unchanged entity is not rewritten by
/// every new run).
fn record_run(client: &mut Client, profile: &str, run_id: &str) -> Result<(), BoltError> {
    let literal = |s: &str| auditgraph_bolt::cypher_literal(&Value::String(s.to_string()));
    let statement = format!(
        "MERGE (s:AuditgraphSync {{profile: {}}}) SET s.run_id = {}, s.auditgraph_version = {}",
        literal(profile)?,
        literal(run_id)?,
        literal(auditgraph_core::version::AUDITGRAPH_VERSION)?
    );
    client.execute(&statement, &[])?;
    Ok(())
}
