//! Which commits become entities, as the Python tool selects them.
//!
//! Tier 1 (`structural`, score -1.0), always kept: root commits, merges,
//! tagged commits, branch heads, and commits touching a `hot_paths` glob.
//! Tier 2 (`scored`): every other commit, scored `files + lines / 400`,
//! where `files` counts the changed paths that match no `cold_paths` glob
//! and `lines` the lines added and removed in them (the Python tool summed
//! |new count - old count| over every path, cold or not). The most recent
//! and the earliest tier-2 commits (by author time, then sha) are kept
//! first, then the best scores (ties by sha), up to `max_tier2_commits` in
//! all. Output: tier 1 in walk order, then tier 2 by (-score, sha).

use super::record::{CommitRecord, RepoSnapshot, Selected, Tier};
use crate::config::GitProvenance;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use std::collections::{BTreeSet, HashMap};

/// Globs as fnmatch reads them: `*` also crosses `/`.
fn glob_set(globs: &[String]) -> GlobSet {
    let mut builder = GlobSetBuilder::new();
    for g in globs {
        // Invalid globs are refused when the configuration loads.
        if let Ok(glob) = GlobBuilder::new(g).literal_separator(false).build() {
            builder.add(glob);
        }
    }
    builder.build().unwrap_or_else(|_| GlobSet::empty())
}

/// The tier-2 score of a commit.
pub fn score(record: &CommitRecord, cold: &GlobSet) -> f64 {
    let mut files = 0u64;
    let mut lines = 0u64;
    for change in &record.changes {
        if cold.is_match(&change.path) {
            continue;
        }
        files += 1;
        lines += u64::from(change.added.unwrap_or(0)) + u64::from(change.removed.unwrap_or(0));
    }
    files as f64 + lines as f64 / 400.0
}

/// Selects among `walk` (sha order of the walk) with their records.
pub fn select(
    settings: &GitProvenance,
    walk: &[String],
    records: &HashMap<String, CommitRecord>,
    snapshot: &RepoSnapshot,
) -> Vec<Selected> {
    let hot = glob_set(&settings.hot_paths);
    let cold = glob_set(&settings.cold_paths);
    let tagged: BTreeSet<&str> = snapshot
        .tags
        .iter()
        .filter_map(|t| t.target.as_deref())
        .collect();
    let heads: BTreeSet<&str> = snapshot.branches.iter().map(|b| b.head.as_str()).collect();
    let mut tier1 = Vec::new();
    let mut tier2: Vec<(&CommitRecord, f64)> = Vec::new();
    for sha in walk {
        let Some(record) = records.get(sha) else {
            continue;
        };
        let structural = record.parents.is_empty()
            || record.is_merge()
            || tagged.contains(sha.as_str())
            || heads.contains(sha.as_str())
            || record.changes.iter().any(|c| {
                hot.is_match(&c.path) || c.old_path.as_deref().is_some_and(|p| hot.is_match(p))
            });
        if structural {
            tier1.push(Selected {
                sha: sha.clone(),
                tier: Tier::Structural,
                score: -1.0,
            });
        } else {
            tier2.push((record, score(record, &cold)));
        }
    }
    let budget = settings.max_tier2_commits as usize;
    let mut chosen: BTreeSet<&str> = BTreeSet::new();
    let by_time = |r: &&(&CommitRecord, f64)| (r.0.author.time, r.0.sha.clone());
    let latest = tier2.iter().max_by_key(by_time).map(|r| r.0.sha.as_str());
    let earliest = tier2.iter().min_by_key(by_time).map(|r| r.0.sha.as_str());
    for sha in [latest, earliest].into_iter().flatten() {
        if chosen.len() < budget {
            chosen.insert(sha);
        }
    }
    let mut ranked: Vec<&(&CommitRecord, f64)> = tier2.iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.sha.cmp(&b.0.sha)));
    for r in &ranked {
        if chosen.len() >= budget {
            break;
        }
        chosen.insert(r.0.sha.as_str());
    }
    let mut out = tier1;
    out.extend(
        ranked
            .into_iter()
            .filter(|r| chosen.contains(r.0.sha.as_str()))
            .map(|r| Selected {
                sha: r.0.sha.clone(),
                tier: Tier::Scored,
                score: r.1,
            }),
    );
    out
}
