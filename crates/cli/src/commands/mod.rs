//! One module per command.

mod completions;
pub mod export;
pub mod export_neo4j;
mod gc;
mod ingest;
mod init;
mod runs;
mod status;
mod validate_store;
mod version;

use crate::cli::Command;
use crate::context::Context;
use crate::error::CliResult;
use auditgraph_core::pipeline::run_cmd::Command as PipelineCommand;

pub fn dispatch(ctx: &Context, command: Command) -> CliResult {
    match command {
        Command::Version => version::run(ctx),
        Command::Init => init::run(ctx),
        Command::Run { dir } => ingest::run_all(ctx, dir),
        Command::Ingest => ingest::run(ctx),
        Command::Import { paths } => ingest::pipeline(ctx, PipelineCommand::Import(paths)),
        Command::Rebuild => ingest::pipeline(ctx, PipelineCommand::Rebuild),
        Command::Export(args) => export::run(ctx, args),
        Command::ExportNeo4j(args) => export_neo4j::run(ctx, args),
        Command::Status => status::run(ctx),
        Command::Runs => runs::run(ctx),
        Command::Gc { dry_run, keep } => gc::run(ctx, dry_run, keep),
        Command::Completions { shell } => completions::completions(shell),
        Command::Man => completions::man(),
        Command::ValidateStore { all_profiles } => validate_store::run(ctx, all_profiles),
    }
}
