//! `auditgraph extract | link | index [--run-id RUN]`

use crate::context::Context;
use crate::error::CliResult;
use crate::output::{seal_line, short_run};
use auditgraph_core::pipeline::stage_cmd;
use serde_json::{Value, json};

pub fn run(ctx: &Context, stage: &str, run: Option<&str>) -> CliResult {
    let ws = ctx.workspace()?;
    let report = ctx.with_write_options(|opts| stage_cmd::run_stage(&ws, opts, stage, run))?;
    if let Some(p) = &report.published {
        ctx.out.budget(&p.budget);
    }
    // The seal after the command (unchanged when the stage was already done).
    let seal = match &report.published {
        Some(p) => p.seal.clone(),
        None => ws.reader().ok().and_then(|r| r.state.seal.clone()),
    };
    let doc = json!({
        "stage": stage,
        "status": "ok",
        "detail": {
            "run_id": report.run_id,
            "outcome": report.outcome,
            "manifest": report.manifest_path,
            "counts": report.counts,
            "added_bytes": report.published.as_ref().map(|p| p.added_bytes).unwrap_or(0),
        },
        "budget": report.published.as_ref().map(|p| &p.budget),
        "seal": seal,
    });
    ctx.out.result(&doc, || {
        let what = if report.outcome == "published" {
            "done"
        } else {
            "already done (stages are never recomputed in place; `auditgraph rebuild` makes a fresh run)"
        };
        format!(
            "{stage} of {}: {what}\n{}{}",
            short_run(&report.run_id),
            human_counts(&report.counts),
            seal_line(seal.as_deref())
        )
    });
    Ok(())
}

/// A stage's counts as a person reads them: `documents 112, sections 543`,
/// a nested group as `entities (ag:note 112, ag:section 543)`.
fn human_counts(counts: &Value) -> String {
    match counts {
        Value::Object(map) => map
            .iter()
            .map(|(key, value)| {
                let key = key.replace('_', " ");
                match value {
                    Value::Object(_) => format!("{key} ({})", human_counts(value)),
                    other => format!("{key} {}", human_counts(other)),
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
