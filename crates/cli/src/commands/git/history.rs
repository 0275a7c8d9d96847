//! `auditgraph git-history FILE`: authors, commits, origin and renames of
//! a file, with the links between them.

use super::{GitFileArgs, commit_line, open};
use crate::context::Context;
use crate::error::CliResult;
use auditgraph_core::git::query;

pub fn run(ctx: &Context, args: &GitFileArgs) -> CliResult {
    let opened = open(ctx, args)?;
    let note = query::note_link(&opened.ws, &opened.run.run_id, &opened.file);
    let report = query::history(&opened.run, &opened.file, note)?;
    let json = serde_json::to_value(&report).unwrap_or_default();
    ctx.out.result(&json, || {
        let mut s = format!("{} ({})\n", report.file, report.file_id);
        if let Some(note) = &report.note_id {
            s.push_str(&format!("  note:       {note}\n"));
        }
        if let Some(c) = &report.introduced {
            s.push_str(&format!("  introduced: {}\n", commit_line(c)));
        }
        for step in &report.lineage {
            s.push_str(&format!(
                "  renamed:    {} <- {} ({}%)\n",
                step.path, step.old_path, step.similarity
            ));
        }
        s.push_str(&format!("  authors ({}):\n", report.authors.len()));
        for a in &report.authors {
            s.push_str(&format!(
                "    {:>4}  {} <{}>\n",
                a.commit_count,
                a.names.join(" / "),
                a.email
            ));
        }
        s.push_str(&format!("  commits ({}):\n", report.commits.len()));
        for c in &report.commits {
            s.push_str(&format!("    {}\n", commit_line(c)));
        }
        s
    });
    Ok(())
}
