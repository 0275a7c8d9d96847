//! `auditgraph diff [--run-a A] [--run-b B]`

use crate::context::Context;
use crate::error::CliResult;
use crate::output::short_run;
use auditgraph_core::query::diff::{self, SetDiff};

pub fn run(ctx: &Context, run_a: Option<&str>, run_b: Option<&str>, limit: usize) -> CliResult {
    let ws = ctx.workspace()?;
    let report = diff::diff(&ws, run_a, run_b)?;
    let doc = report.to_json(limit);
    ctx.out.result(&doc, || {
        let mut s = format!(
            "diff {} -> {}\n",
            short_run(&report.run_a),
            short_run(&report.run_b)
        );
        let mut section = |name: &str, set: Option<&SetDiff>| {
            let Some(set) = set else {
                s.push_str(&format!("{name}: (a run has no graph)\n"));
                return;
            };
            s.push_str(&format!(
                "{name}: {} added, {} removed, {} changed, {} unchanged\n",
                set.counts.added, set.counts.removed, set.counts.changed, set.counts.unchanged
            ));
            for (mark, list) in [("+", &set.added), ("-", &set.removed), ("~", &set.changed)] {
                for item in list.iter().take(limit) {
                    s.push_str(&format!("  {mark} {}  {}\n", item.key, item.label));
                }
            }
        };
        section("sources", Some(&report.sources));
        section("entities", report.entities.as_ref());
        section("links", report.links.as_ref());
        s
    });
    Ok(())
}
