//! `auditgraph list`

use crate::cli::SelectArgs;
use crate::commands::query::selection;
use crate::context::Context;
use crate::error::CliResult;
use auditgraph_core::query::list::{self, ListAnswer};

pub fn run(ctx: &Context, args: &SelectArgs, count: bool, group_by: Option<&str>) -> CliResult {
    let sel = selection(args, 100)?;
    let ws = ctx.workspace()?;
    let run = args.run.run_id.as_deref();
    let (answer, opened) = list::list(&ws, run, &sel, count, group_by)?;
    if run.is_none() {
        ctx.stale_warning(&ws, opened.run_id());
    }
    // Never dropped, as `Context::open_pieces`.
    let _opened = std::mem::ManuallyDrop::new(opened);
    let doc = answer.to_json();
    ctx.out.result(&doc, || match &answer {
        ListAnswer::Count(n) => n.to_string(),
        ListAnswer::Groups { groups, total, .. } => {
            let mut s = String::new();
            for (value, n) in groups {
                s.push_str(&format!("{n:>8}  {value}\n"));
            }
            s.push_str(&format!("{total:>8}  total"));
            s
        }
        ListAnswer::Page { listed, .. } => {
            let mut s = String::new();
            for v in &listed.summaries {
                s.push_str(&format!(
                    "{:<14} {:<40} {}  {}\n",
                    v["type"].as_str().unwrap_or(""),
                    truncate(v["name"].as_str().unwrap_or(""), 40),
                    v["id"].as_str().unwrap_or(""),
                    v["source_path"].as_str().unwrap_or(""),
                ));
            }
            let total = listed.total;
            s.push_str(&format!(
                "{} of {} entit{}{}",
                listed.summaries.len(),
                total,
                if total == 1 { "y" } else { "ies" },
                if listed.truncated {
                    "; more with --offset/--limit"
                } else {
                    ""
                }
            ));
            s
        }
    });
    Ok(())
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
