//! `auditgraph query --q TEXT`

use crate::cli::SelectArgs;
use crate::context::Context;
use crate::error::CliResult;
use auditgraph_core::query::load::Need;
use auditgraph_core::query::search;
use auditgraph_core::query::select::Selection;

/// Validated `--type/--where/--sort/--limit/--offset`.
pub fn selection(args: &SelectArgs, default_limit: usize) -> CliResult<Selection> {
    Ok(Selection::new(
        &args.types,
        &args.wheres,
        args.sort.as_deref(),
        args.desc,
        args.limit,
        args.offset,
        default_limit,
    )?)
}

pub fn run(ctx: &Context, q: &str, args: &SelectArgs) -> CliResult {
    let sel = selection(args, 10)?;
    let ws = ctx.workspace()?;
    let run = ctx.open_pieces(&ws, args.run.run_id.as_deref(), Need::Index)?;
    let config = run.run_config(&ws)?;
    let rounding = ws.config.profile().search.ranking.score_rounding;
    let result = search::search(&run, &config, q, &sel, rounding)?;
    let doc = serde_json::to_value(&result).unwrap_or_default();
    ctx.out.result(&doc, || {
        if result.results.is_empty() {
            return format!("no results for {q:?}");
        }
        let mut s = String::new();
        for (i, hit) in result.results.iter().enumerate() {
            s.push_str(&format!(
                "{:>3}. {:<9.4} {:<14} {}\n     {}{}\n",
                result.offset + i + 1,
                hit.score,
                hit.kind,
                hit.name,
                hit.id,
                hit.source_path
                    .as_deref()
                    .map(|p| format!("  {p}"))
                    .unwrap_or_default(),
            ));
            if !hit.sections.is_empty() {
                let names: Vec<&str> = hit.sections.iter().map(|x| x.name.as_str()).collect();
                s.push_str(&format!("     sections: {}\n", names.join("; ")));
            }
            for snip in &hit.snippets {
                // Pages of a PDF and paragraphs of a DOCX are what a reader
                // finds the text by; lines are what a text file has.
                let place = match (
                    snip.page_start,
                    snip.page_end,
                    snip.paragraph_start,
                    snip.paragraph_end,
                ) {
                    (Some(a), Some(b), _, _) if a == b => format!("page {a}"),
                    (Some(a), Some(b), _, _) => format!("pages {a}-{b}"),
                    (_, _, Some(a), Some(b)) if a == b => format!("paragraph {a}"),
                    (_, _, Some(a), Some(b)) => format!("paragraphs {a}-{b}"),
                    _ => format!("{}-{}", snip.line_start, snip.line_end),
                };
                s.push_str(&format!(
                    "       {}:{place} {}\n         {}\n",
                    snip.source_path, snip.chunk_id, snip.text
                ));
            }
        }
        s.push_str(&format!(
            "{} of {} result(s){}",
            result.results.len(),
            result.total_count,
            if result.truncated {
                "; more with --offset/--limit"
            } else {
                ""
            }
        ));
        s
    });
    Ok(())
}
