//! `auditgraph mcp`: the MCP server of `auditgraph-mcp` on stdin/stdout,
//! with this binary's version document and error guidance.

use crate::context::Context;
use crate::error::{CliError, CliResult, exit};
use auditgraph_core::pipeline::run_cmd::Command;
use auditgraph_mcp::{Options, Refusal, Write, Writer};
use std::sync::Arc;

/// A core error as the CLI would report it: same code, message and hints.
fn refusal(err: auditgraph_core::Error) -> Refusal {
    refusal_of(&CliError::from(err))
}

fn refusal_of(err: &CliError) -> Refusal {
    Refusal {
        code: err.code.to_string(),
        message: err.message.clone(),
        data: err.to_json(),
    }
}

pub fn run(ctx: &Context, allow_writes: bool, http: Option<std::net::SocketAddr>) -> CliResult {
    let writer: Option<Writer> = allow_writes.then(|| {
        // Each call gets a context of its own: quiet, no progress bar, and
        // nothing on stdout (the protocol's channel).
        let mut global = ctx.global.clone();
        global.json = true;
        global.quiet = true;
        let root = ctx.root();
        Arc::new(move |write: Write| {
            let ctx = Context::new(&global);
            let command = match write {
                Write::Run => Command::Run,
                Write::Rebuild => Command::Rebuild,
            };
            crate::commands::ingest::run_document(&ctx, command, root.clone())
                .map_err(|e| refusal_of(&e))
        }) as Writer
    });
    let options = Options {
        root: ctx.root(),
        config: ctx.global.config.clone(),
        profile: ctx.global.profile.clone(),
        version: crate::commands::version::document(),
        guidance: refusal,
        // Read when the server starts: a workspace whose configuration
        // cannot be read is reported by every tool anyway.
        git: ctx
            .workspace()
            .is_ok_and(|ws| ws.config.profile().git_provenance.enabled),
        writer,
    };
    let served = match http {
        // The address on stderr, one line, for people and for scripts that
        // asked for port 0.
        Some(addr) => auditgraph_mcp::serve_http(options, addr, |local| {
            eprintln!("auditgraph mcp: serving http://{local}/mcp");
        }),
        None => auditgraph_mcp::serve_stdio(options),
    };
    served.map_err(|e| match e {
        auditgraph_mcp::ServeError::NotLoopback(_) => {
            CliError::new(exit::USAGE, "usage_error", e.to_string())
        }
        _ => CliError::new(exit::FAILURE, "mcp_failed", e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use auditgraph_mcp::AuditgraphServer;
    use clap::CommandFactory;
    use std::collections::BTreeSet;

    /// Every tool is a command of the same name (`_` for `-`) and takes
    /// exactly that command's flags and positionals (`_` for `-`), so the
    /// two never drift apart.
    #[test]
    fn every_tool_takes_the_flags_of_its_command() {
        let cli = crate::cli::Cli::command();
        let tools = AuditgraphServer::tools();
        assert_eq!(tools.len(), 16);
        for tool in tools {
            let command_name = tool.name.replace('_', "-");
            let command = cli
                .find_subcommand(&command_name)
                .unwrap_or_else(|| panic!("tool {} has no command", tool.name));
            let flags: BTreeSet<String> = command
                .get_arguments()
                .filter(|a| !a.is_global_set())
                .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
                // `run DIR` makes DIR the root; the server serves one
                // workspace, so its `run` takes none.
                .filter(|a| !(command_name == "run" && a.get_id() == "dir"))
                .map(|a| match a.get_long() {
                    Some(long) => long.replace('-', "_"),
                    None => a.get_id().to_string(),
                })
                .collect();
            let properties: BTreeSet<String> = tool
                .input_schema
                .get("properties")
                .and_then(|p| p.as_object())
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            assert_eq!(
                properties, flags,
                "tool {} and `auditgraph {command_name}` take different arguments",
                tool.name
            );
            assert!(
                tool.description.as_deref().is_some_and(|d| !d.is_empty()),
                "tool {} has no description",
                tool.name
            );
        }
    }
}
