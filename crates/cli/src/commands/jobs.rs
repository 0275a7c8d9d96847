//! `auditgraph jobs list`, `jobs run NAME`, `jobs run --all`. All logic
//! lives in `auditgraph_core::jobs`.

use crate::context::Context;
use crate::error::{CliError, CliResult};
use crate::output::{human_bytes, short_run};
use auditgraph_core::Error;
use auditgraph_core::config::ConfigError;
use auditgraph_core::jobs::config::{self as jobs_config, JobsFile, ReportFormat};
use auditgraph_core::jobs::{self, JobOutcome, RunOptions, time};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct JobsArgs {
    /// The jobs file [default: <root>/config/jobs.yaml, else <root>/config/jobs.json]
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: JobsCommand,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List the configured jobs
    List,
    /// Run a job (or every job) and write its report under exports/
    /// (Markdown, or JSON with --json or output.format: json)
    Run {
        /// The job to run
        #[arg(
            value_name = "NAME",
            required_unless_present = "all",
            conflicts_with = "all"
        )]
        name: Option<String>,
        /// Run every job, in name order
        #[arg(long)]
        all: bool,
        /// The time reports resolve durations such as 7d against (RFC 3339,
        /// such as 2026-01-31T12:00:00Z), recorded in each report [default: now]
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
    },
}

pub fn run(ctx: &Context, args: JobsArgs) -> CliResult {
    match args.command {
        JobsCommand::List => list(ctx, args.file),
        JobsCommand::Run { name, all, now } => run_jobs(ctx, args.file, name.as_deref(), all, now),
    }
}

/// Reads the jobs file, printing its warnings.
fn load(ctx: &Context, root: &std::path::Path, file: Option<PathBuf>) -> CliResult<JobsFile> {
    let hint = |err: CliError| {
        let mut err = err;
        err.hints = vec![
            "fix the jobs file; the README's `Jobs` section and examples/config/jobs.yaml show every action and argument".to_string(),
        ];
        err
    };
    let path = jobs_config::locate(root, file.as_deref())
        .map_err(|e| hint(CliError::from(Error::from(e))))?;
    let loaded =
        jobs_config::load(&path).map_err(|e: ConfigError| hint(CliError::from(Error::from(e))))?;
    for warning in &loaded.warnings {
        ctx.out.warn(format!("jobs configuration: {warning}"));
    }
    Ok(loaded)
}

fn list(ctx: &Context, file: Option<PathBuf>) -> CliResult {
    let ws = ctx.workspace()?;
    let loaded = load(ctx, &ws.root, file)?;
    let details: Vec<Value> = loaded
        .jobs
        .iter()
        .map(|j| {
            json!({
                "name": j.name,
                "action": j.action.type_name(),
                "args": j.args,
                "output": j.output_path(j.format).to_string_lossy(),
                "format": j.format,
            })
        })
        .collect();
    let doc = json!({
        "status": "ok",
        "file": loaded.file.to_string_lossy(),
        "jobs": loaded.jobs.iter().map(|j| j.name.as_str()).collect::<Vec<_>>(),
        "details": details,
    });
    ctx.out.result(&doc, || {
        if loaded.jobs.is_empty() {
            return format!("no jobs in {}", loaded.file.display());
        }
        let mut s = String::new();
        for j in &loaded.jobs {
            s.push_str(&format!(
                "{:<24} {:<26} {}\n",
                j.name,
                j.action.type_name(),
                j.output_path(j.format).display()
            ));
        }
        s
    });
    Ok(())
}

fn run_jobs(
    ctx: &Context,
    file: Option<PathBuf>,
    name: Option<&str>,
    all: bool,
    now: Option<String>,
) -> CliResult {
    let now = match now.as_deref() {
        Some(text) => Some(time::parse_rfc3339(text).map_err(|why| {
            CliError::from(Error::InvalidArgument {
                message: format!("--now: {why}"),
            })
        })?),
        None => None,
    };
    let ws = ctx.workspace()?;
    let loaded = load(ctx, &ws.root, file)?;
    let selected: Vec<&jobs_config::Job> = if all {
        loaded.jobs.iter().collect()
    } else {
        let name = name.unwrap_or_default();
        let job = loaded.get(name).ok_or_else(|| {
            let known: Vec<&str> = loaded.jobs.iter().map(|j| j.name.as_str()).collect();
            CliError::from(Error::NotFound {
                message: format!("job not found: {name} (in {})", loaded.file.display()),
            })
            .hint(if known.is_empty() {
                "the jobs file defines no jobs".to_string()
            } else {
                format!("the jobs are: {}", known.join(", "))
            })
        })?;
        vec![job]
    };
    let opts = RunOptions {
        now,
        format: ctx.out.json.then_some(ReportFormat::Json),
    };
    let mut results: Vec<Value> = Vec::new();
    let mut outcomes: Vec<JobOutcome> = Vec::new();
    let mut first_error: Option<CliError> = None;
    for job in &selected {
        match jobs::run(&ws, job, &opts) {
            Ok(outcome) => {
                ctx.out.budget(&outcome.budget);
                let mut v = serde_json::to_value(&outcome).unwrap_or_default();
                if let Some(m) = v.as_object_mut() {
                    m.insert("status".into(), json!("ok"));
                }
                results.push(v);
                outcomes.push(outcome);
            }
            Err(err) => {
                let err = CliError::from(err);
                let mut v = err.to_json();
                if let Some(m) = v.as_object_mut() {
                    m.insert("job".into(), json!(job.name));
                }
                results.push(v);
                if all {
                    eprintln!("error: job {}: {}", job.name, err.message);
                }
                first_error.get_or_insert(err);
            }
        }
    }
    if !all && let Some(err) = first_error {
        return Err(err);
    }
    let doc = if all {
        json!({
            "status": if first_error.is_some() { "error" } else { "ok" },
            "results": results,
        })
    } else {
        results.pop().unwrap_or_default()
    };
    ctx.out.result(&doc, || {
        let mut s = String::new();
        for o in &outcomes {
            s.push_str(&format!(
                "{}: wrote {} ({}; {}) from run {}\n",
                o.job,
                o.output.display(),
                o.action,
                human_bytes(o.bytes),
                short_run(&o.run_id)
            ));
        }
        if selected.is_empty() {
            s.push_str(&format!("no jobs in {}", loaded.file.display()));
        }
        s
    });
    match first_error {
        Some(err) => Err(CliError::new(
            err.exit_code,
            err.code,
            format!(
                "{} of {} jobs failed (first: {})",
                results.len() - outcomes.len(),
                results.len(),
                err.message
            ),
        )
        .after_result()),
        None => Ok(()),
    }
}
