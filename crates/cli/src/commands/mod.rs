//! One module per command.

mod ingest;
mod init;
mod validate_store;
mod version;

use crate::cli::Command;
use crate::context::Context;
use crate::error::CliResult;

pub fn dispatch(ctx: &Context, command: Command) -> CliResult {
    match command {
        Command::Version => version::run(ctx),
        Command::Init => init::run(ctx),
        Command::Ingest => ingest::run(ctx),
        Command::ValidateStore { all_profiles } => validate_store::run(ctx, all_profiles),
    }
}
