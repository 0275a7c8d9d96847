//! Jobs: reports from the graph that a team runs on a schedule
//! (`auditgraph jobs list`, `jobs run NAME`, `jobs run --all`), configured
//! in `config/jobs.yaml` (see [`config`]).
//!
//! | action | report | module |
//! |---|---|---|
//! | `report.changed_since` | sources, entities and links added, removed or changed since a time or a run | [`changed_since`] |
//! | `report.broken_references` | unresolved references by document, with their lines | [`broken_references`] |
//! | `report.stale_notes` | notes whose source has not changed for a while | [`stale_notes`] |
//! | `report.evidence` | an evidence pack an auditor can check by hand | [`evidence`] |
//! | `report.budget` | store usage, growth per run, what `gc` would reclaim | [`budget`] |
//!
//! # What every job does, in this order
//!
//! 1. Checks the output path: under `exports/` (default
//!    `exports/reports/<job>.md`, or `.json`), never through a link that
//!    leaves it, never over a source of the run (see [`output`]).
//! 2. Opens the store read-only (a report never locks or writes the store)
//!    and reads the current run.
//! 3. Builds the report. Time-dependent inputs (`since: 7d`) resolve
//!    against one instant, `--now` or the clock, recorded in the header.
//! 4. Redacts every string of the report with the configured detectors
//!    (a source path or a query is not note text, which was redacted at
//!    ingest) and records how many secrets were replaced.
//! 5. Renders Markdown or JSON: sorted, no absolute paths, no time but the
//!    recorded one; the same store, run, configuration and time give the
//!    same bytes.
//! 6. Checks the disk footprint budget for the bytes it adds, and writes
//!    the file atomically.

pub mod broken_references;
pub mod budget;
pub mod changed_since;
pub mod config;
pub mod evidence;
pub mod history;
pub mod output;
pub mod stale_notes;
pub mod time;

use crate::error::Result;
use crate::pipeline::Workspace;
use crate::store::StoreReader;
use crate::store::budget::BudgetReport;
use config::{Action, Job, ReportFormat};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use time::Instant;

/// The `format` field of every JSON report.
pub const REPORT_FORMAT: &str = "auditgraph-report";

/// How to run a job.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// `--now`: the time reports resolve durations against (else the clock).
    pub now: Option<Instant>,
    /// `--json` on `jobs run`: write JSON whatever `output.format` says.
    pub format: Option<ReportFormat>,
}

/// What a report reads from.
pub struct ReportContext<'a> {
    pub ws: &'a Workspace,
    pub reader: StoreReader,
    /// The current run.
    pub run_id: String,
    pub now: Instant,
}

/// The header of every report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub job: String,
    pub action: String,
    /// `action.args` as configured.
    pub args: serde_json::Value,
    pub profile: String,
    /// The run the report reads: the current run when it was made.
    pub run_id: String,
    /// The time the report resolves durations against.
    pub now: String,
    /// `--now` or `clock`.
    pub now_from: String,
    pub auditgraph_version: String,
    /// Secrets the report's redaction replaced (see the module docs).
    pub redactions: u32,
}

/// A report file in JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub format: String,
    pub header: Header,
    pub report: T,
}

/// A report's body: serializable (JSON, and redaction walks its strings)
/// and renderable as Markdown.
pub trait Report: Serialize + DeserializeOwned {
    /// The first heading.
    fn title(&self) -> String;
    /// The Markdown after the header.
    fn markdown(&self, out: &mut String);
}

/// What a job wrote.
#[derive(Debug, Clone, Serialize)]
pub struct JobOutcome {
    pub job: String,
    pub action: String,
    /// The file written (absolute).
    pub output: PathBuf,
    pub format: ReportFormat,
    pub bytes: u64,
    pub sha256: String,
    pub run_id: String,
    pub now: String,
    pub redactions: u32,
    pub budget: BudgetReport,
}

/// Runs one job end to end (see the module docs for the order).
pub fn run(ws: &Workspace, job: &Job, opts: &RunOptions) -> Result<JobOutcome> {
    let format = opts.format.unwrap_or(job.format);
    let rel = job.output_path(format);
    let reader = ws.reader()?;
    let run_id = reader.resolve_run(None)?;
    let target = output::resolve(ws, &reader, &run_id, &job.name, &rel)?;
    let now = opts.now.unwrap_or_else(Instant::now);
    let header = Header {
        job: job.name.clone(),
        action: job.action.type_name().to_string(),
        args: job.args.clone(),
        profile: ws.config.profile_name.clone(),
        run_id: run_id.clone(),
        now: now.to_utc(),
        now_from: if opts.now.is_some() { "--now" } else { "clock" }.to_string(),
        auditgraph_version: crate::version::AUDITGRAPH_VERSION.to_string(),
        redactions: 0,
    };
    let ctx = ReportContext {
        ws,
        reader,
        run_id,
        now,
    };
    let rendered = match &job.action {
        Action::ChangedSince { since, limit } => output::render(
            ws,
            header,
            changed_since::build(&ctx, since, *limit)?,
            format,
        )?,
        Action::BrokenReferences { limit } => {
            output::render(ws, header, broken_references::build(&ctx, *limit)?, format)?
        }
        Action::StaleNotes {
            older_than,
            history,
            limit,
        } => output::render(
            ws,
            header,
            stale_notes::build(&ctx, older_than, *history, *limit)?,
            format,
        )?,
        Action::Evidence(target) => {
            output::render(ws, header, evidence::build(&ctx, target)?, format)?
        }
        Action::Budget { keep } => output::render(ws, header, budget::build(&ctx, *keep)?, format)?,
    };
    let budget = output::write(ws, &target, &rendered.bytes)?;
    Ok(JobOutcome {
        job: job.name.clone(),
        action: job.action.type_name().to_string(),
        output: target.path,
        format,
        bytes: rendered.bytes.len() as u64,
        sha256: crate::hashing::sha256_hex(&rendered.bytes),
        run_id: ctx.run_id,
        now: now.to_utc(),
        redactions: rendered.redactions,
        budget,
    })
}
