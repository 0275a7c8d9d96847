//! One module per command.

mod completions;
mod diff;
pub mod export;
pub mod export_neo4j;
mod gc;
pub mod git;
mod ingest;
mod init;
pub mod jobs;
mod list;
mod mcp;
mod nav;
mod query;
mod replay;
mod runs;
mod stage;
mod status;
pub mod sync_neo4j;
mod validate_store;
mod version;
mod watch;

use crate::cli::Command;
use crate::context::Context;
use crate::error::CliResult;
use auditgraph_core::pipeline::run_cmd::Command as PipelineCommand;

pub fn dispatch(ctx: &Context, command: Command) -> CliResult {
    match command {
        Command::Version => version::run(ctx),
        Command::Init => init::run(ctx),
        Command::Run { dir } => ingest::run_all(ctx, dir),
        Command::Watch { dir } => watch::run(ctx, dir),
        Command::Ingest => ingest::run(ctx),
        Command::Import { paths } => ingest::pipeline(ctx, PipelineCommand::Import(paths)),
        Command::Rebuild => ingest::pipeline(ctx, PipelineCommand::Rebuild),
        Command::Extract(args) => stage::run(ctx, "extract", args.run_id.as_deref()),
        Command::Link(args) => stage::run(ctx, "link", args.run_id.as_deref()),
        Command::Index(args) => stage::run(ctx, "index", args.run_id.as_deref()),
        Command::Replay { run_id } => replay::run(ctx, &run_id),
        Command::Diff {
            run_a,
            run_b,
            limit,
        } => diff::run(ctx, run_a.as_deref(), run_b.as_deref(), limit),
        Command::Query { q, select } => query::run(ctx, &q, &select),
        Command::List {
            select,
            count,
            group_by,
        } => list::run(ctx, &select, count, group_by.as_deref()),
        Command::Node { id, run } => nav::node(ctx, &id, run.run_id.as_deref()),
        Command::Neighbors {
            id,
            depth,
            edge_types,
            min_confidence,
            limit,
            run,
        } => nav::neighbors(
            ctx,
            &id,
            depth,
            &edge_types,
            min_confidence,
            limit,
            run.run_id.as_deref(),
        ),
        Command::WhyConnected {
            from,
            to,
            max_depth,
            max_paths,
            edge_types,
            run,
        } => nav::why(
            ctx,
            &from,
            &to,
            max_depth,
            max_paths,
            &edge_types,
            run.run_id.as_deref(),
        ),
        Command::GitWho(args) => git::who::run(ctx, &args),
        Command::GitLog(args) => git::log::run(ctx, &args),
        Command::GitIntroduced(args) => git::introduced::run(ctx, &args),
        Command::GitHistory(args) => git::history::run(ctx, &args),
        Command::Export(args) => export::run(ctx, args),
        Command::ExportNeo4j(args) => export_neo4j::run(ctx, args),
        Command::SyncNeo4j(args) => sync_neo4j::run(ctx, args),
        Command::Status => status::run(ctx),
        Command::Runs => runs::run(ctx),
        Command::Jobs(args) => jobs::run(ctx, args),
        Command::Gc { dry_run, keep } => gc::run(ctx, dry_run, keep),
        Command::Mcp { allow_writes, http } => mcp::run(ctx, allow_writes, http),
        Command::Completions { shell } => completions::completions(shell),
        Command::Man => completions::man(),
        Command::ValidateStore {
            all_profiles,
            expect_seal,
        } => validate_store::run(ctx, all_profiles, expect_seal.as_deref()),
    }
}
