//! `auditgraph list`

use crate::cli::SelectArgs;
use crate::commands::query::selection;
use crate::context::Context;
use crate::error::CliResult;
use auditgraph_core::query::list;
use auditgraph_core::query::load::Need;
use auditgraph_core::query::select::{self, Selection, summary};
use serde_json::{Value, json};

pub fn run(ctx: &Context, args: &SelectArgs, count: bool, group_by: Option<&str>) -> CliResult {
    let sel = selection(args, 100)?;
    let ws = ctx.workspace()?;
    let run = args.run.run_id.as_deref();
    // A plain listing reads the entity pieces, not the whole graph.
    if group_by.is_none() && (count && sel.wheres.is_empty() || !count && list::answers(&sel)) {
        let pieces = ctx.open_pieces(&ws, run, Need::Graph)?;
        if count {
            let n = list::count(&pieces, &sel)?;
            ctx.out.result(&json!({ "count": n }), || n.to_string());
            return Ok(());
        }
        let page = list::page(&pieces, &ws.config, &sel)?;
        render_page(
            ctx,
            &sel,
            page.results,
            &page.summaries,
            page.total,
            page.truncated,
        );
        return Ok(());
    }
    let run = ctx.open_run(&ws, run, Need::Graph)?;
    let view = &run.view;
    let all: Vec<u32> = (0..view.graph.nodes.len() as u32).collect();
    let kept = select::filter(view, all, &sel)?;
    if let Some(field) = group_by {
        let groups = select::group_by(view, &kept, field)?;
        let doc = json!({ "group_by": field, "groups": groups, "total_count": kept.len() });
        ctx.out.result(&doc, || {
            let mut s = String::new();
            for (value, n) in &groups {
                s.push_str(&format!("{n:>8}  {value}\n"));
            }
            s.push_str(&format!("{:>8}  total", kept.len()));
            s
        });
        return Ok(());
    }
    if count {
        let doc = json!({ "count": kept.len() });
        ctx.out.result(&doc, || kept.len().to_string());
        return Ok(());
    }
    let (page, total, truncated) = select::order_and_page(view, kept, &sel)?;
    let results = page
        .iter()
        .map(|n| view.entity(*n))
        .collect::<Result<Vec<_>, _>>()?;
    let summaries: Vec<Value> = page.iter().map(|n| summary(view, *n)).collect();
    render_page(ctx, &sel, results, &summaries, total, truncated);
    Ok(())
}

/// One page of entities: the JSON document, or one line per entity.
fn render_page(
    ctx: &Context,
    sel: &Selection,
    results: Vec<Value>,
    summaries: &[Value],
    total: usize,
    truncated: bool,
) {
    let doc = json!({
        "results": results,
        "total_count": total,
        "limit": sel.page.limit,
        "offset": sel.page.offset,
        "truncated": truncated,
    });
    ctx.out.result(&doc, || {
        let mut s = String::new();
        for v in summaries {
            s.push_str(&format!(
                "{:<14} {:<40} {}  {}\n",
                v["type"].as_str().unwrap_or(""),
                truncate(v["name"].as_str().unwrap_or(""), 40),
                v["id"].as_str().unwrap_or(""),
                v["source_path"].as_str().unwrap_or(""),
            ));
        }
        s.push_str(&format!(
            "{} of {} entit{}{}",
            summaries.len(),
            total,
            if total == 1 { "y" } else { "ies" },
            if truncated {
                "; more with --offset/--limit"
            } else {
                ""
            }
        ));
        s
    });
}

/// At most `n` characters, with an ellipsis when cut.
pub fn truncate(text: &str, n: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= n {
        flat
    } else {
        let mut t: String = flat.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
