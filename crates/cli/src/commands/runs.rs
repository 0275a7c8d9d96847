//! `auditgraph runs`

use crate::context::Context;
use crate::error::CliResult;
use crate::output::{human_bytes, short_run};
use auditgraph_core::info;

pub fn run(ctx: &Context) -> CliResult {
    let ws = ctx.workspace()?;
    let report = info::runs_report(&ws)?;
    let doc = serde_json::to_value(&report).unwrap_or_default();
    let runs = &report.runs;
    ctx.out.result(&doc, || {
        if runs.is_empty() {
            return "no runs yet; `auditgraph run` creates one".to_string();
        }
        let mut s = format!(
            "{:<2} {:<17} {:<6} {:<24} {:>6} {:>6} {:>7} {:>6} {:>10}  stages\n",
            "", "run", "schema", "published (UTC)", "files", "ok", "skipped", "failed", "size"
        );
        for r in runs {
            let opt = |v: Option<usize>| v.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
            s.push_str(&format!(
                "{:<2} {:<17} {:<6} {:<24} {:>6} {:>6} {:>7} {:>6} {:>10}  {}{}\n",
                if r.current { "*" } else { "" },
                short_run(&r.run_id),
                r.schema_version.as_deref().unwrap_or("?"),
                r.published_at.as_deref().unwrap_or("-"),
                opt(r.files),
                opt(r.ok),
                opt(r.skipped),
                opt(r.failed),
                human_bytes(r.bytes),
                r.stages.join(","),
                if r.readable {
                    ""
                } else {
                    "  (older layout; unreadable)"
                },
            ));
        }
        s
    });
    Ok(())
}
