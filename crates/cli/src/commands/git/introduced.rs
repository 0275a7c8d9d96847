//! `auditgraph git-introduced FILE`: the commit that first added a file,
//! following renames back.

use super::{GitFileArgs, commit_line, open};
use crate::context::Context;
use crate::error::CliResult;
use auditgraph_core::git::query;

pub fn run(ctx: &Context, args: &GitFileArgs) -> CliResult {
    let opened = open(ctx, args)?;
    let report = query::introduced(&opened.run, &opened.file)?;
    let json = serde_json::to_value(&report).unwrap_or_default();
    ctx.out.result(&json, || {
        let mut s = format!(
            "{} was introduced by\n  {}\n",
            report.file,
            commit_line(&report.commit)
        );
        if report.commit.path != report.file {
            s.push_str(&format!("  as {}\n", report.commit.path));
        }
        for step in &report.lineage {
            s.push_str(&format!(
                "  {} <- {} ({}% similar, commit {})\n",
                step.path,
                step.old_path,
                step.similarity,
                &step.commit_sha[..step.commit_sha.len().min(10)]
            ));
        }
        s
    });
    Ok(())
}
