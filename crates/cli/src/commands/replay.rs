//! `auditgraph replay RUN`

use crate::context::Context;
use crate::error::{CliError, CliResult, exit};
use crate::output::{seal_line, short_run};
use auditgraph_core::pipeline::run_cmd::{self, Command};
use auditgraph_core::pipeline::stage_cmd::run_workspace;
use serde_json::json;

pub fn run(ctx: &Context, run: &str) -> CliResult {
    let ws = ctx.workspace()?;
    let reader = ws.reader()?;
    let target = reader.resolve_run(Some(run))?;
    let replay_ws = run_workspace(&ws, &reader, &target)?;
    let report = ctx.with_write_options(|opts| {
        run_cmd::execute(&replay_ws, opts, Command::Replay(target.clone()))
    })?;
    ctx.out.budget(&report.published.budget);
    let comparison = report.comparison.clone().unwrap_or_default();
    let matches = comparison.iter().all(|c| c.matches);
    let doc = json!({
        "stage": "replay",
        "status": if matches { "ok" } else { "mismatch" },
        "detail": {
            "replayed_run": target,
            "run_id": report.run_id,
            "outcome": report.outcome,
            "outputs_match": matches,
            "stages": comparison,
            "differences": report.differences,
        },
        "seal": report.published.seal,
    });
    ctx.out.result(&doc, || {
        let mut s = format!(
            "replayed {} with its recorded configuration into {} ({})\n",
            short_run(&target),
            short_run(&report.run_id),
            report.outcome
        );
        for c in &comparison {
            s.push_str(&format!(
                "  {:<8} {}\n",
                c.stage,
                if c.matches {
                    "outputs hash matches"
                } else {
                    "outputs hash DIFFERS"
                }
            ));
        }
        s.push_str(seal_line(report.published.seal.as_deref()).trim_start());
        s
    });
    if !matches {
        return Err(CliError::new(
            exit::FAILURE,
            "replay_mismatch",
            format!(
                "replaying {target} did not reproduce its outputs (the sources or the stored artifacts changed)"
            ),
        )
        .hint("`auditgraph diff --run-a <replayed> --run-b <new>` shows what differs")
        .after_result());
    }
    Ok(())
}
