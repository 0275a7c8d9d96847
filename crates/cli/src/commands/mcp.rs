//! `auditgraph mcp`: the MCP server of `auditgraph-mcp` on stdin/stdout,
//! with this binary's version document and error guidance.

use crate::context::Context;
use crate::error::{CliError, CliResult, exit};
use auditgraph_mcp::{Options, Refusal};

/// A core error as the CLI would report it: same code, message and hints.
fn refusal(err: auditgraph_core::Error) -> Refusal {
    let err = CliError::from(err);
    Refusal {
        code: err.code.to_string(),
        message: err.message.clone(),
        data: err.to_json(),
    }
}

pub fn run(ctx: &Context) -> CliResult {
    let options = Options {
        root: ctx.root(),
        config: ctx.global.config.clone(),
        profile: ctx.global.profile.clone(),
        version: crate::commands::version::document(),
        guidance: refusal,
    };
    auditgraph_mcp::serve_stdio(options)
        .map_err(|e| CliError::new(exit::FAILURE, "mcp_failed", e.to_string()))
}
