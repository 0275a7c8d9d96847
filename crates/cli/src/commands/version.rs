//! `auditgraph version`

use crate::context::Context;
use crate::error::CliResult;
use auditgraph_core::version::{AUDITGRAPH_VERSION, SchemaSupport};
use serde_json::json;

pub fn run(ctx: &Context) -> CliResult {
    ctx.out
        .result(&document(), || format!("auditgraph {AUDITGRAPH_VERSION}"));
    Ok(())
}

/// The document `version --json` prints (and the MCP tool `version`
/// returns): the build's target and commit are known only here.
pub fn document() -> serde_json::Value {
    let support = SchemaSupport::current();
    let commit = env!("AUDITGRAPH_COMMIT");
    json!({
        "version": AUDITGRAPH_VERSION,
        "schema_version": support.writes.to_string(),
        "readable_schema_versions": support.readable_list(),
        "target": env!("AUDITGRAPH_TARGET"),
        "commit": if commit.is_empty() { serde_json::Value::Null } else { json!(commit) },
    })
}
