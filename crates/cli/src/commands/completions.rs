//! `auditgraph completions` and `auditgraph man`, generated from the CLI
//! definition.

use crate::cli::Cli;
use crate::error::{CliError, CliResult, exit};
use clap::CommandFactory;

pub fn completions(shell: clap_complete::Shell) -> CliResult {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "auditgraph", &mut std::io::stdout());
    Ok(())
}

pub fn man() -> CliResult {
    let cmd = Cli::command();
    clap_mangen::Man::new(cmd)
        .render(&mut std::io::stdout())
        .map_err(|e| {
            CliError::new(
                exit::FAILURE,
                "io_error",
                format!("cannot write the man page: {e}"),
            )
        })
}
