//! `auditgraph export-neo4j`: an idempotent Cypher script that loads the
//! graph into Neo4j. All logic lives in `auditgraph_core::export::cypher`.

use super::export::{OutputArgs, SelectArgs};
use crate::context::Context;
use crate::error::CliResult;
use auditgraph_core::export::Format;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct ExportNeo4jArgs {
    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub select: SelectArgs,
}

pub fn run(ctx: &Context, args: ExportNeo4jArgs) -> CliResult {
    super::export::execute(ctx, Format::Cypher, &args.output, &args.select, false)
}
