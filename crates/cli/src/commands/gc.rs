//! `auditgraph gc`

use crate::context::Context;
use crate::error::CliResult;
use crate::output::{human_bytes, seal_line, short_run};
use auditgraph_core::pipeline::open_writer;
use auditgraph_core::store::Access;

pub fn run(ctx: &Context, dry_run: bool, keep: usize) -> CliResult {
    let ws = ctx.workspace()?;
    let report = ctx.with_write_options(|opts| -> CliResult<_> {
        let mut writer = open_writer(&ws, Access::Write, opts)?;
        Ok(auditgraph_core::gc::collect(&mut writer, keep, dry_run)?)
    })?;
    let doc = serde_json::to_value(&report).unwrap_or_default();
    ctx.out.result(&doc, || {
        let verb = if dry_run { "would remove" } else { "removed" };
        let mut s = format!(
            "{verb} {} run(s), {} older-layout run(s), {} object(s): {} {}\n",
            report.removed_runs.len(),
            report.removed_legacy_runs.len(),
            report.removed_objects,
            human_bytes(report.reclaimed_bytes),
            if dry_run { "reclaimable" } else { "reclaimed" },
        );
        for r in &report.removed_runs {
            s.push_str(&format!("  run {}\n", short_run(r)));
        }
        for r in &report.removed_legacy_runs {
            s.push_str(&format!("  older-layout run {r}\n"));
        }
        for p in &report.removed_legacy_paths {
            s.push_str(&format!("  older-layout {p}/\n"));
        }
        s.push_str(&format!(
            "kept {} run(s); store is {}",
            report.kept_runs.len(),
            human_bytes(report.store_bytes)
        ));
        s.push_str(&seal_line(report.seal.as_deref()));
        s
    });
    Ok(())
}
