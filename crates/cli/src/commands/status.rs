//! `auditgraph status`

use crate::context::Context;
use crate::error::CliResult;
use crate::output::{human_bytes, short_run, trail_entries};
use auditgraph_core::info;

pub fn run(ctx: &Context) -> CliResult {
    let ws = ctx.workspace()?;
    let report = info::status(&ws)?;
    let doc = serde_json::to_value(&report).unwrap_or_default();
    ctx.out.result(&doc, || {
        let mut s = format!(
            "profile:        {}\nstore:          {}\nstore schema:   {}\nthis binary:    auditgraph {} (writes {}, reads {})\n",
            report.profile,
            report.store.display(),
            report.schema_version.as_deref().unwrap_or("-"),
            report.binary.version,
            report.binary.schema_version,
            report.binary.readable_schema_versions.join(", "),
        );
        s.push_str(&format!(
            "current run:    {}\nruns:           {}\nsource bytes:   {}\nstore bytes:    {} in {} files\n",
            report.current_run.as_deref().map(short_run).unwrap_or_else(|| "-".to_string()),
            report.runs,
            human_bytes(report.source_bytes),
            human_bytes(report.store_bytes),
            report.store_files,
        ));
        if let Some(b) = &report.budget {
            s.push_str(&format!(
                "budget:         {} of {} ({:.1}%; warn at {:.0}%, block at {:.0}%) - {:?}\n",
                human_bytes(b.projected_bytes),
                human_bytes(b.limit_bytes),
                b.usage_ratio * 100.0,
                b.warn_threshold * 100.0,
                b.block_threshold * 100.0,
                b.status
            ));
        }
        if !report.exports.is_empty() {
            // Counted against the budget of later exports, not of runs.
            s.push_str(&format!(
                "exports:        {} in {} file(s) in exports/ (counted by later exports)\n",
                human_bytes(report.exports.values().sum()),
                report.exports.len()
            ));
            for (path, bytes) in &report.exports {
                s.push_str(&format!("  {path} ({})\n", human_bytes(*bytes)));
            }
        }
        if let Some(seal) = &report.seal {
            s.push_str(&format!(
                "seal:           {seal} ({})\n",
                trail_entries(report.trail_entries)
            ));
        }
        s.push_str(&format!(
            "rebuild needed: {}\n",
            if report.rebuild_required { "yes" } else { "no" }
        ));
        if report.leftovers > 0 {
            s.push_str(&format!(
                "leftovers:      {} interrupted write(s); the next write or `auditgraph gc` cleans up\n",
                report.leftovers
            ));
        }
        if let Some(m) = &report.message {
            s.push_str(&format!("note:           {m}\n"));
        }
        s
    });
    Ok(())
}
