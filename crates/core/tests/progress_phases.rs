//! A run reports every stage it goes through, in order, so a terminal
//! shows what the run is doing from the first file walked to the publish
//! (not a bar during reading and then nothing until the end).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use auditgraph_core::pipeline::run_cmd::{Command, execute};
use auditgraph_core::pipeline::{Workspace, WriteOptions};
use auditgraph_core::progress::Progress;
use std::sync::Mutex;

/// Records phase names, and how many units each phase advanced.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<(String, u64, u64)>>,
}

impl Progress for Recorder {
    fn phase(&self, name: &str, total: u64) {
        self.events
            .lock()
            .unwrap()
            .push((name.to_string(), total, 0));
    }
    fn advance(&self, n: u64) {
        if let Some(last) = self.events.lock().unwrap().last_mut() {
            last.2 += n;
        }
    }
    fn finish(&self) {}
}

fn run(dir: &std::path::Path) -> Vec<(String, u64, u64)> {
    let recorder = Recorder::default();
    let opts = WriteOptions {
        lock_timeout: std::time::Duration::from_secs(10),
        on_wait: &|| {},
        progress: &recorder,
        allow_redaction_misses: false,
    };
    let ws = Workspace::open(dir, None, None).unwrap();
    execute(&ws, &opts, Command::Run).unwrap();
    recorder.events.into_inner().unwrap()
}

fn names(events: &[(String, u64, u64)]) -> Vec<&str> {
    events.iter().map(|(n, _, _)| n.as_str()).collect()
}

#[test]
fn every_stage_of_a_run_is_reported_in_order() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..20 {
        std::fs::write(
            dir.path().join(format!("note-{i:02}.md")),
            format!(
                "# Note {i}\n\nUses `tokio` and `serde`. See [[Note {}]].\n",
                (i + 1) % 20
            ),
        )
        .unwrap();
    }
    let cold = run(dir.path());
    let expected = [
        "scan",
        "read",
        "parse",
        "extract",
        "search",
        "link: changes",
        "link: keys",
        "link: resolve",
        "link: documents",
        "link: entities and technologies",
        "link: backlinks",
        "link: relates_to",
        "link: write",
        "index: technologies",
        "check",
        "publish",
    ];
    assert_eq!(names(&cold), expected);
    // Counted phases count what they said they would.
    for (name, total, done) in &cold {
        if *total > 0 {
            assert_eq!(total, done, "{name}");
        }
    }
    let read = cold.iter().find(|(n, _, _)| n == "read").unwrap();
    assert_eq!(read.1, 20);

    // An edit goes through the same stages, counting only what changed.
    std::fs::write(dir.path().join("note-03.md"), "# Note 3\n\nNow `redis`.\n").unwrap();
    let edit = run(dir.path());
    assert_eq!(names(&edit), expected);
    let extract = edit.iter().find(|(n, _, _)| n == "extract").unwrap();
    assert_eq!(extract.1, 1, "{edit:?}");
}
