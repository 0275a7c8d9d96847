//! `report.stale_notes`: documents of the current run whose source has not
//! changed for at least `older_than`.
//!
//! When a source last changed comes from [`last_changes`]. Today its one
//! source is the store's run history: walking back from the current run
//! through the runs that were current (the trail, [`super::history`]), a
//! document is unchanged since the oldest of them in an unbroken line
//! whose record of it has the same SHA-256. The history reaches as far as
//! the store's first run (`since_first_run`: the note may be older) and
//! stops at a run removed by `gc` (`history_cut`). With `history: git`
//! it is the git provenance of the current run: the committer time of the
//! latest selected commit that changed the source, following renames (a
//! source no selected commit touched, such as an untracked note, is not
//! listed; edits not committed yet do not count).

use super::config::History;
use super::history::timeline;
use super::output::{code, count};
use super::time::{Instant, Span};
use super::{Report, ReportContext};
use crate::error::Result;
use crate::ingest::{ParseStatus, run_records};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaleNotes {
    pub older_than: String,
    /// Notes unchanged since before this time are stale.
    pub threshold: String,
    pub history: String,
    pub documents_checked: usize,
    pub total: usize,
    /// At most `limit` notes are listed, the longest unchanged first.
    pub limit: usize,
    pub notes: Vec<StaleNote>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaleNote {
    pub source_path: String,
    pub document_id: String,
    pub source_hash: String,
    /// When the run that first held this content became current.
    pub unchanged_since: String,
    /// Whole days from `unchanged_since` to the report's time.
    pub age_days: u64,
    /// That run (with git history: the current run).
    pub since_run: String,
    /// With git history: the commit that last changed the source.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub since_commit: Option<String>,
    /// The history reaches the store's first run: the note may be older.
    pub since_first_run: bool,
    /// A run removed by `gc` cut the history short.
    pub history_cut: bool,
}

/// When a document last changed, as far as the history knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastChange {
    pub at: Instant,
    pub at_text: String,
    pub run_id: String,
    /// With git history: the commit that last changed the source.
    pub commit: Option<String>,
    pub since_first_run: bool,
    pub history_cut: bool,
}

/// When each of `docs` (path -> current SHA-256) last changed.
pub fn last_changes(
    ctx: &ReportContext<'_>,
    history: History,
    docs: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, LastChange>> {
    match history {
        History::Runs => from_runs(ctx, docs),
        History::Git => from_git(ctx, docs),
    }
}

fn from_git(
    ctx: &ReportContext<'_>,
    docs: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, LastChange>> {
    use crate::git::query::{GitRun, follow};
    let run = GitRun::open(ctx.ws, Some(&ctx.run_id))?;
    let mut out = BTreeMap::new();
    for path in docs.keys() {
        if run.file(path)?.is_none() {
            continue;
        }
        let Some(latest) = follow(&run, path)?.into_iter().next() else {
            continue;
        };
        let time = latest.record.committer.time;
        out.insert(
            path.clone(),
            LastChange {
                at: Instant(time.saturating_mul(1000)),
                at_text: crate::git::text::utc(time),
                run_id: ctx.run_id.clone(),
                commit: Some(latest.record.sha),
                since_first_run: false,
                history_cut: false,
            },
        );
    }
    Ok(out)
}

fn from_runs(
    ctx: &ReportContext<'_>,
    docs: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, LastChange>> {
    let line = timeline(&ctx.reader)?;
    // Path -> SHA-256 of each run the walk reaches, read once.
    let mut cache: HashMap<String, HashMap<String, Option<String>>> = HashMap::new();
    let mut open: Vec<(&String, &String)> = docs.iter().collect();
    let mut out: BTreeMap<String, LastChange> = BTreeMap::new();
    let mut last: Option<&super::history::Current> = None;
    for entry in line.iter().rev() {
        if open.is_empty() {
            break;
        }
        if !ctx.reader.state.runs.contains_key(&entry.run_id) {
            for (path, _) in open.drain(..) {
                if let Some(l) = last {
                    out.insert(path.clone(), change(l, false, true));
                }
            }
            break;
        }
        if !cache.contains_key(&entry.run_id) {
            let records = run_records(&ctx.reader, &entry.run_id)?;
            let map = records.into_iter().map(|r| (r.path, r.sha256)).collect();
            cache.insert(entry.run_id.clone(), map);
        }
        let hashes = &cache[&entry.run_id];
        open.retain(|(path, sha)| {
            let same = hashes
                .get(path.as_str())
                .is_some_and(|h| h.as_deref() == Some(sha.as_str()));
            if !same && let Some(l) = last {
                out.insert((*path).clone(), change(l, false, false));
            }
            same
        });
        last = Some(entry);
    }
    if let Some(l) = last {
        for (path, _) in open {
            out.insert(path.clone(), change(l, true, false));
        }
    }
    Ok(out)
}

fn change(c: &super::history::Current, first: bool, cut: bool) -> LastChange {
    LastChange {
        at: c.at,
        at_text: c.at_text.clone(),
        run_id: c.run_id.clone(),
        commit: None,
        since_first_run: first,
        history_cut: cut,
    }
}

pub fn build(
    ctx: &ReportContext<'_>,
    older_than: &Span,
    history: History,
    limit: usize,
) -> Result<StaleNotes> {
    let records = run_records(&ctx.reader, &ctx.run_id)?;
    let docs: BTreeMap<String, String> = records
        .into_iter()
        .filter(|r| r.parse_status == ParseStatus::Ok)
        .filter_map(|r| Some((r.path, r.sha256?)))
        .collect();
    let threshold = ctx.now.minus(older_than.seconds);
    let changes = last_changes(ctx, history, &docs)?;
    let mut notes: Vec<StaleNote> = changes
        .into_iter()
        .filter(|(_, c)| c.at <= threshold)
        .map(|(path, c)| StaleNote {
            document_id: crate::ingest::document::document_id(&path),
            source_hash: docs.get(&path).cloned().unwrap_or_default(),
            source_path: path,
            unchanged_since: c.at_text,
            age_days: u64::try_from((ctx.now.0 - c.at.0) / 86_400_000).unwrap_or(0),
            since_run: c.run_id,
            since_commit: c.commit,
            since_first_run: c.since_first_run,
            history_cut: c.history_cut,
        })
        .collect();
    notes.sort_by(|a, b| {
        (&a.unchanged_since, &a.source_path).cmp(&(&b.unchanged_since, &b.source_path))
    });
    let total = notes.len();
    notes.truncate(limit);
    Ok(StaleNotes {
        older_than: older_than.text.clone(),
        threshold: threshold.to_utc(),
        history: match history {
            History::Runs => "runs",
            History::Git => "git",
        }
        .to_string(),
        documents_checked: docs.len(),
        total,
        limit,
        notes,
    })
}

impl Report for StaleNotes {
    fn title(&self) -> String {
        format!("Notes unchanged for {} or more", self.older_than)
    }

    fn markdown(&self, out: &mut String) {
        out.push_str(&format!(
            "\n{} of {} unchanged since before {} (history: {}).\n",
            count(self.total, "note", "notes"),
            count(self.documents_checked, "document", "documents"),
            self.threshold,
            if self.history == "git" {
                "the commits that changed them"
            } else {
                "the store's runs"
            }
        ));
        if self.notes.is_empty() {
            return;
        }
        let since_what = if self.history == "git" {
            "since commit"
        } else {
            "since run"
        };
        out.push_str(&format!(
            "\n| source | unchanged since | days | SHA-256 | {since_what} |\n|---|---|---:|---|---|\n",
        ));
        for n in &self.notes {
            let mut since = n.unchanged_since.clone();
            if n.since_first_run {
                since.push_str(" (first run; may be older)");
            }
            if n.history_cut {
                since.push_str(" (older runs removed by gc)");
            }
            out.push_str(&format!(
                "| {} | {since} | {} | {} | {} |\n",
                code(&n.source_path),
                n.age_days,
                code(&n.source_hash),
                code(n.since_commit.as_deref().unwrap_or(&n.since_run))
            ));
        }
        if self.total > self.notes.len() {
            out.push_str(&format!(
                "\n… and {} more (raise `limit`)\n",
                count(self.total - self.notes.len(), "note", "notes")
            ));
        }
    }
}
