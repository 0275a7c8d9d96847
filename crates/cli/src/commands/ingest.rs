//! `auditgraph ingest`, and the rendering shared by the pipeline commands.

use crate::context::Context;
use crate::error::{CliError, CliResult, exit};
use crate::output::{human_bytes, seal_line, short_run};
use auditgraph_core::ingest::{IngestRecord, ParseStatus};
use auditgraph_core::pipeline::run_cmd::{self, Command, PipelineReport};
use auditgraph_core::store::last_attempt::{self, LastAttempt};
use serde_json::json;

pub fn run(ctx: &Context) -> CliResult {
    pipeline(ctx, Command::Ingest)
}

/// Runs a pipeline command and renders its report.
pub fn pipeline(ctx: &Context, command: Command) -> CliResult {
    pipeline_at(ctx, command, ctx.root())
}

/// `auditgraph run [DIR]`: DIR becomes the workspace root.
pub fn run_all(ctx: &Context, dir: Option<std::path::PathBuf>) -> CliResult {
    pipeline_at(ctx, Command::Run, dir.unwrap_or_else(|| ctx.root()))
}

fn pipeline_at(ctx: &Context, command: Command, root: std::path::PathBuf) -> CliResult {
    let name = command.name();
    let (ws, report) = execute_at(ctx, command, root)?;
    render(ctx, name, &ws.config.profile_name, &report);
    Ok(())
}

/// `auditgraph run --json`'s (or `rebuild --json`'s) document, for the MCP
/// tools `run` and `rebuild`: the same checks (lock, budget,
/// compatibility), refusals and stale record; the warnings go to stderr,
/// nothing to stdout.
pub fn run_document(
    ctx: &Context,
    command: Command,
    root: std::path::PathBuf,
) -> CliResult<serde_json::Value> {
    let name = command.name();
    let (ws, report) = execute_at(ctx, command, root)?;
    for w in &report.warnings {
        ctx.out.warn(w);
    }
    ctx.out.budget(&report.published.budget);
    Ok(document(name, &ws.config.profile_name, &report))
}

/// Runs a pipeline command on the workspace at `root`: its report, or the
/// refusal (recorded for the read commands' stale warning).
fn execute_at(
    ctx: &Context,
    command: Command,
    root: std::path::PathBuf,
) -> CliResult<(auditgraph_core::pipeline::Workspace, PipelineReport)> {
    let ws = ctx.workspace_at(root)?;
    let name = command.name();
    let report = match ctx.with_write_options(|opts| run_cmd::execute(&ws, opts, command)) {
        Ok(report) => {
            last_attempt::clear(&ws.layout);
            report
        }
        Err(e) => {
            let err = CliError::from(e);
            remember_refusal(&ws, name, &err);
            return Err(err);
        }
    };
    if report.outcome == "differs" {
        // One JSON document: the error, carrying the comparison.
        let doc = document(name, &ws.config.profile_name, &report);
        let mut err = CliError::new(
            exit::FAILURE,
            "rebuild_differs",
            format!(
                "the stored run {} differs from a fresh rebuild in {} artifact(s); nothing was overwritten",
                report.run_id,
                report.differences.len()
            ),
        )
        .hint("`auditgraph validate-store` checks every artifact of every run")
        .field("detail", doc["detail"].clone());
        for d in &report.differences {
            err = err.hint(format!("{} {}: {}", d.stage, d.artifact, d.detail));
        }
        return Err(err);
    }
    // Failures are named every run (the run's own records, when this
    // command did not look at the failed files again); `-v` names every
    // file that needs a look.
    let mut report = report;
    if ctx.global.verbose > 0 || report.counts.failed > 0 {
        report.attention = run_cmd::attention(&ws, &report.run_id)?;
    }
    Ok((ws, report))
}

/// Records a write that did not publish, for the read commands' stale
/// warning (see [`crate::context::Context::stale_warning`]).
fn remember_refusal(ws: &auditgraph_core::pipeline::Workspace, command: &str, err: &CliError) {
    let current_run = match auditgraph_core::store::inspect(&ws.layout) {
        Ok(auditgraph_core::store::Found::Ours(state)) => state.current_run,
        _ => return,
    };
    last_attempt::record(
        &ws.layout,
        &LastAttempt {
            command: command.to_string(),
            code: err.code.to_string(),
            message: err.message.lines().next().unwrap_or_default().to_string(),
            hint: err.hints.first().cloned(),
            current_run,
            at: auditgraph_core::store::clock::now_utc(),
        },
    );
}

pub(super) fn document(stage: &str, profile: &str, report: &PipelineReport) -> serde_json::Value {
    let c = &report.counts;
    json!({
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
            "differences": report.differences,
            "parsed": report.parsed,
            "unchanged": report.reused,
            "source_bytes": c.source_bytes,
            "added_bytes": report.published.added_bytes,
            "git_commits_read": report.git.map(|g| g.read),
            "git_commits_reused": report.git.map(|g| g.reused),
        },
        "budget": report.published.budget,
        "seal": report.published.seal,
    })
}

/// Failed files named one by one on stderr; past this many, a count (all
/// of them with `--verbose`; the manifest records every one).
const FAILED_NAMED: usize = 20;

fn render(ctx: &Context, stage: &str, profile: &str, report: &PipelineReport) {
    for w in &report.warnings {
        ctx.out.warn(w);
    }
    let failed: Vec<&IngestRecord> = report
        .attention
        .iter()
        .filter(|r| r.parse_status == ParseStatus::Failed)
        .collect();
    let named = if ctx.global.verbose > 0 {
        failed.len()
    } else {
        FAILED_NAMED
    };
    for record in failed.iter().take(named) {
        ctx.out.warn(format!("failed: {}", describe(record)));
    }
    if failed.len() > named {
        ctx.out.warn(format!(
            "... and {} more failed file(s): `--verbose` names them all",
            failed.len() - named
        ));
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
    let doc = document(stage, profile, report);
    ctx.out.result(&doc, || {
        let what = match report.outcome {
            "published" => "new run".to_string(),
            "up_to_date" => "up to date, run".to_string(),
            "identical" => "rebuilt; identical to the stored run".to_string(),
            _ => "earlier run made current:".to_string(),
        };
        let mut text = format!(
            "{stage}: {} files ({} ok, {} skipped, {} failed); parsed {}, unchanged {}\n{what} {} (+{})",
            c.files,
            c.ok,
            c.skipped,
            c.failed,
            report.parsed,
            report.reused,
            short_run(&report.run_id),
            human_bytes(report.published.added_bytes),
        );
        if let Some(g) = report.git {
            text.push_str(&format!(
                "\ngit provenance: {} commit(s) read, {} reused",
                g.read, g.reused
            ));
        }
        text.push_str(&seal_line(report.published.seal.as_deref()));
        if ctx.global.verbose > 0 {
            for record in &report.attention {
                let status = match record.parse_status {
                    ParseStatus::Ok => "ok",
                    ParseStatus::Skipped => "skipped",
                    ParseStatus::Failed => "failed",
                };
                text.push_str(&format!("\n  {status:<7} {}", describe(record)));
            }
        }
        text
    });
}

/// `path: reason (detail)`, the path quoted if it holds control characters
/// (a newline in a file name must not look like two records).
pub(super) fn describe(record: &IngestRecord) -> String {
    let path = if record.path.chars().any(char::is_control) {
        format!("{:?}", record.path)
    } else {
        record.path.clone()
    };
    let reason = record.reason.as_deref().unwrap_or("no reason recorded");
    match &record.detail {
        Some(detail) => format!("{path}: {reason} ({detail})"),
        None => format!("{path}: {reason}"),
    }
}
