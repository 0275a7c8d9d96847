//! `report.changed_since`: sources, entities and links added, removed or
//! changed since a time or a run.
//!
//! With a duration (`since: 7d`), the cutoff is the report's time minus
//! the duration, and the baseline is the run that was current at the
//! cutoff, read from the trail ([`super::history`]); the report compares
//! that run with the current one, as `auditgraph diff` does. (The Python
//! tool printed the cutoff and listed every run, whatever its time.) If
//! the store had no run yet at the cutoff, everything the current run
//! holds is new. With a run id (`since: run_ab12cd34`), that run is the
//! baseline.

use super::config::Since;
use super::history::{current_at, timeline};
use super::output::{code, count, escape};
use super::{Report, ReportContext};
use crate::error::{Error, Result};
use crate::query::diff::{SetDiff, compare};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangedSince {
    /// `since` as configured.
    pub since: String,
    /// The cutoff time (durations only).
    pub cutoff: Option<String>,
    /// The run compared with (`None`: the store had no run at the cutoff).
    pub baseline_run: Option<String>,
    /// When the baseline became current (trail time), if known.
    pub baseline_since: Option<String>,
    pub current_run: String,
    /// Lists hold at most this many items per change kind; counts are
    /// complete.
    pub limit: usize,
    pub sources: SetDiff,
    /// `None` when a run has no graph.
    pub entities: Option<SetDiff>,
    pub links: Option<SetDiff>,
}

fn truncate(mut set: SetDiff, limit: usize) -> SetDiff {
    set.added.truncate(limit);
    set.removed.truncate(limit);
    set.changed.truncate(limit);
    set
}

pub fn build(ctx: &ReportContext<'_>, since: &Since, limit: usize) -> Result<ChangedSince> {
    let (since_text, cutoff, baseline, baseline_since) = match since {
        Since::Span(span) => {
            let cutoff = ctx.now.minus(span.seconds);
            let line = timeline(&ctx.reader)?;
            let at = current_at(&line, cutoff);
            (
                span.text.clone(),
                Some(cutoff.to_utc()),
                at.map(|c| c.run_id.clone()),
                at.map(|c| c.at_text.clone()),
            )
        }
        Since::Run(run) => {
            let id = ctx.reader.resolve_run(Some(run))?;
            (run.clone(), None, Some(id), None)
        }
    };
    if let Some(id) = &baseline
        && !ctx.reader.state.runs.contains_key(id)
    {
        return Err(Error::NotFound {
            message: format!(
                "the run that was current at the cutoff ({id}) was removed by `auditgraph gc`, so the changes since {since_text} cannot be computed; use a shorter duration or name a kept run as `since` (`auditgraph runs` lists them)"
            ),
        });
    }
    let changes = compare(ctx.ws, &ctx.reader, baseline.as_deref(), &ctx.run_id)?;
    Ok(ChangedSince {
        since: since_text,
        cutoff,
        baseline_run: baseline,
        baseline_since,
        current_run: ctx.run_id.clone(),
        limit,
        sources: truncate(changes.sources, limit),
        entities: changes.entities.map(|s| truncate(s, limit)),
        links: changes.links.map(|s| truncate(s, limit)),
    })
}

impl Report for ChangedSince {
    fn title(&self) -> String {
        format!("Changes since {}", self.since)
    }

    fn markdown(&self, out: &mut String) {
        out.push('\n');
        if let Some(cutoff) = &self.cutoff {
            out.push_str(&format!("Cutoff: {cutoff}\n\n"));
        }
        match (&self.baseline_run, &self.baseline_since) {
            (Some(run), _) if *run == self.current_run => out.push_str(&format!(
                "The current run {} was already current then: nothing changed since.\n",
                code(run)
            )),
            (Some(run), Some(at)) => out.push_str(&format!(
                "Compared with run {}, current since {at}, and the current run {}.\n",
                code(run),
                code(&self.current_run)
            )),
            (Some(run), None) => out.push_str(&format!(
                "Compared with run {} and the current run {}.\n",
                code(run),
                code(&self.current_run)
            )),
            (None, _) => out.push_str(&format!(
                "The store had no run at the cutoff: everything in the current run {} is new.\n",
                code(&self.current_run)
            )),
        }
        for (name, set) in [
            ("Sources", Some(&self.sources)),
            ("Entities", self.entities.as_ref()),
            ("Links", self.links.as_ref()),
        ] {
            out.push_str(&format!("\n## {name}\n\n"));
            let Some(set) = set else {
                out.push_str("(a run has no graph)\n");
                continue;
            };
            let c = &set.counts;
            out.push_str(&format!(
                "{} added, {} removed, {} changed, {} unchanged.\n",
                c.added, c.removed, c.changed, c.unchanged
            ));
            for (label, items, total) in [
                ("Added", &set.added, c.added),
                ("Removed", &set.removed, c.removed),
                ("Changed", &set.changed, c.changed),
            ] {
                if items.is_empty() {
                    continue;
                }
                out.push_str(&format!("\n{label}:\n\n"));
                for item in items {
                    out.push_str(&format!("- {} {}\n", code(&item.key), escape(&item.label)));
                }
                if total > items.len() {
                    out.push_str(&format!(
                        "- … and {} more (raise `limit`)\n",
                        count(total - items.len(), "other", "others")
                    ));
                }
            }
        }
    }
}
