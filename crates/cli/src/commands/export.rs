//! `auditgraph export`: the graph (or a subgraph) as JSON, DOT or GraphML.
//! All logic lives in `auditgraph_core::export`.

use crate::context::Context;
use crate::error::CliResult;
use crate::output::{human_bytes, short_run};
use auditgraph_core::export::{self, ExportReport, ExportRequest, Filter, Format};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// `--format` of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// A self-contained bundle (schemas/export.schema.json)
    Json,
    /// Graphviz DOT
    Dot,
    /// GraphML (networkx, Gephi, yEd)
    Graphml,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Json => Format::Json,
            FormatArg::Dot => Format::Dot,
            FormatArg::Graphml => Format::Graphml,
        }
    }
}

/// Which part of the graph to export (shared with `export-neo4j`).
#[derive(Debug, Clone, Args)]
pub struct SelectArgs {
    /// Keep only entities of this type (repeat for several)
    #[arg(
        long = "type",
        value_name = "TYPE",
        value_parser = ["ag:note", "ag:section", "ag:technology", "ag:reference"]
    )]
    pub types: Vec<String>,

    /// Keep only entities within --depth links of this entity id (either direction)
    #[arg(long, value_name = "ID")]
    pub from: Option<String>,

    /// Hops from --from [default: 1]
    #[arg(long, value_name = "N", requires = "from")]
    pub depth: Option<u32>,

    /// Export this run (an id or a unique prefix of 8+ characters) instead of the current one
    #[arg(long = "run-id", value_name = "RUN")]
    pub run_id: Option<String>,
}

/// Where to write (shared with `export-neo4j`).
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Output file [default: <root>/exports/graph[-<filters>].<ext>]. A relative
    /// path is resolved against the workspace root and must stay inside it; an
    /// absolute path may point anywhere
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = FormatArg::Json)]
    pub format: FormatArg,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub select: SelectArgs,

    /// JSON only: include the text of every cited chunk and each section's
    /// snippet (without it, chunks are cited by id, document and lines)
    #[arg(long)]
    pub with_text: bool,
}

pub fn run(ctx: &Context, args: ExportArgs) -> CliResult {
    execute(
        ctx,
        args.format.into(),
        &args.output,
        &args.select,
        args.with_text,
    )
}

/// Runs an export in any format and renders its report.
pub fn execute(
    ctx: &Context,
    format: Format,
    output: &OutputArgs,
    select: &SelectArgs,
    with_text: bool,
) -> CliResult {
    let ws = ctx.workspace()?;
    let filter = Filter::new(&select.types, select.from.as_deref(), select.depth)?;
    let request = ExportRequest {
        format,
        filter,
        output: output.output.as_deref(),
        run: select.run_id.as_deref(),
        with_text,
    };
    let report = export::export(&ws, &request)?;
    if select.run_id.is_none() {
        ctx.stale_warning(&ws, &report.run_id);
    }
    if report.counted_in_budget {
        ctx.out.budget(&report.budget);
    }
    let doc = serde_json::to_value(&report).unwrap_or_default();
    ctx.out.result(&doc, || human(&report));
    Ok(())
}

fn human(report: &ExportReport) -> String {
    let c = &report.counts;
    let mut what = format!("{} entities, {} links", c.entities, c.links);
    if let (Some(d), Some(ch)) = (c.documents, c.chunks) {
        what.push_str(&format!(", {d} documents, {ch} chunks"));
    }
    let outside = if report.counted_in_budget {
        ""
    } else {
        "\n  outside the workspace: not counted against its disk budget"
    };
    format!(
        "{}: wrote {} ({what}; {}) from run {}{outside}",
        if report.format == Format::Cypher {
            "export-neo4j"
        } else {
            "export"
        },
        report.output.display(),
        human_bytes(report.bytes),
        short_run(&report.run_id),
    )
}
