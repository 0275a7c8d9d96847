//! `auditgraph ingest`

use crate::context::Context;
use crate::error::CliResult;
use crate::output::{human_bytes, short_run};
use auditgraph_core::ingest::IngestMode;
use auditgraph_core::pipeline::ingest_cmd::{self, IngestReport};
use serde_json::json;

pub fn run(ctx: &Context) -> CliResult {
    let ws = ctx.workspace()?;
    let report = ctx.with_write_options(|opts| {
        ingest_cmd::ingest(&ws, opts, IngestMode::Incremental, "ingest")
    })?;
    render(ctx, "ingest", &ws.config.profile_name, &report);
    Ok(())
}

/// Shared by `ingest` and `import`.
pub fn render(ctx: &Context, stage: &str, profile: &str, report: &IngestReport) {
    for w in &report.warnings {
        ctx.out.warn(w);
    }
    if !report.recovery.rolled_back.is_empty() {
        ctx.out.note(format!(
            "recovered from {} interrupted write(s): removed {} unpublished file(s)",
            report.recovery.rolled_back.len(),
            report.recovery.removed_files.len()
        ));
    }
    ctx.out.budget(&report.published.budget);
    let c = &report.counts;
    let doc = json!({
        "stage": stage,
        "status": "ok",
        "detail": {
            "files": c.files,
            "ok": c.ok,
            "skipped": c.skipped,
            "failed": c.failed,
            "run_id": report.run_id,
            "manifest": report.manifest_path,
            "profile": profile,
            "outcome": report.outcome,
            "parsed": report.parsed,
            "unchanged": report.reused,
            "source_bytes": c.source_bytes,
            "added_bytes": report.published.added_bytes,
        },
        "budget": report.published.budget,
    });
    ctx.out.result(&doc, || {
        let what = match report.outcome {
            "published" => "new run",
            "up_to_date" => "up to date, run",
            _ => "earlier run made current:",
        };
        format!(
            "{stage}: {} files ({} ok, {} skipped, {} failed); parsed {}, unchanged {}\n{what} {} (+{})",
            c.files,
            c.ok,
            c.skipped,
            c.failed,
            report.parsed,
            report.reused,
            short_run(&report.run_id),
            human_bytes(report.published.added_bytes),
        )
    });
}
