//! The run history of a store as reports need it: which run was current
//! from when, read from the sealed trail (`log/<seq>.json`), whose entries
//! carry the wall-clock time of each event and the current run after it.
//!
//! "Latest" never comes from sorting run ids: the trail's order is the
//! order of events.

use crate::error::Result;
use crate::jobs::time::{Instant, parse_rfc3339};
use crate::store::StoreReader;
use crate::store::chain::read_entry;

/// A run became (or stayed) current at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub seq: u64,
    pub at: Instant,
    /// As the trail wrote it.
    pub at_text: String,
    pub run_id: String,
}

/// Every event of the trail that left a current run, oldest first. An
/// entry whose time cannot be read is skipped (it cannot be placed).
pub fn timeline(reader: &StoreReader) -> Result<Vec<Current>> {
    let mut out = Vec::new();
    for seq in 1..=reader.state.head {
        let sealed = read_entry(&reader.layout, seq)?;
        let Some(run_id) = sealed.entry.current_run else {
            continue;
        };
        let Ok(at) = parse_rfc3339(&sealed.entry.wall_clock_at) else {
            continue;
        };
        out.push(Current {
            seq,
            at,
            at_text: sealed.entry.wall_clock_at,
            run_id,
        });
    }
    Ok(out)
}

/// The run that was current at `when`: the current run after the last
/// event at or before it. `None` if the store had no run yet.
pub fn current_at(timeline: &[Current], when: Instant) -> Option<&Current> {
    timeline.iter().rev().find(|c| c.at <= when)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_run_current_at_a_time() {
        let t = |ms, run: &str| Current {
            seq: 0,
            at: Instant(ms),
            at_text: String::new(),
            run_id: run.to_string(),
        };
        let line = vec![t(10, "a"), t(20, "b"), t(30, "c")];
        assert_eq!(current_at(&line, Instant(5)), None);
        assert_eq!(
            current_at(&line, Instant(10)).map(|c| c.run_id.as_str()),
            Some("a")
        );
        assert_eq!(
            current_at(&line, Instant(25)).map(|c| c.run_id.as_str()),
            Some("b")
        );
        assert_eq!(
            current_at(&line, Instant(99)).map(|c| c.run_id.as_str()),
            Some("c")
        );
    }
}
