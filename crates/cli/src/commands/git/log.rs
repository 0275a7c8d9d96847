//! `auditgraph git-log FILE`: the commits that changed a file.

use super::{GitFileArgs, commit_line, open};
use crate::context::Context;
use crate::error::CliResult;
use auditgraph_core::git::query;

pub fn run(ctx: &Context, args: &GitFileArgs) -> CliResult {
    let opened = open(ctx, args)?;
    let report = query::log(&opened.run, &opened.file)?;
    let json = serde_json::to_value(&report).unwrap_or_default();
    ctx.out.result(&json, || {
        let mut s = format!("{}: {} commit(s)\n", report.file, report.commits.len());
        for c in &report.commits {
            s.push_str(&format!("  {}\n", commit_line(c)));
        }
        s
    });
    Ok(())
}
