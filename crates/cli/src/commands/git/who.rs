//! `auditgraph git-who FILE`: who wrote a file.

use super::{GitFileArgs, open};
use crate::context::Context;
use crate::error::CliResult;
use auditgraph_core::git::query;

pub fn run(ctx: &Context, args: &GitFileArgs) -> CliResult {
    let opened = open(ctx, args)?;
    let report = query::who(&opened.run, &opened.file)?;
    let json = serde_json::to_value(&report).unwrap_or_default();
    ctx.out.result(&json, || {
        let mut s = format!("{}: {} author(s)\n", report.file, report.authors.len());
        for a in &report.authors {
            s.push_str(&format!(
                "  {:>4}  {} <{}>  {} .. {}\n",
                a.commit_count,
                a.names.join(" / "),
                a.email,
                a.earliest.get(..10).unwrap_or(&a.earliest),
                a.latest.get(..10).unwrap_or(&a.latest),
            ));
        }
        s
    });
    Ok(())
}
