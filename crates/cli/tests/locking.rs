//! One writer at a time; readers never block.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

fn notes(ws: &Ws, n: usize) {
    for i in 0..n {
        ws.write(
            &format!("n/{i:04}.md"),
            format!("# N{i}\n\n{}\n", "text ".repeat(50)),
        );
    }
}

#[test]
fn a_second_writer_waits_then_fails_with_a_clear_message() {
    let ws = Ws::new();
    notes(&ws, 3);
    ws.json(&["ingest"]);
    let before = ws.pkg_hashes();

    // Hold the writer lock (on the workspace root) as another process would.
    let lock = std::fs::File::open(ws.root()).unwrap();
    lock.lock().unwrap();
    ws.write("n/extra.md", "# extra\n");
    let run = ws
        .run_env(&["ingest"], &[("AUDITGRAPH_LOCK_TIMEOUT", "1")])
        .code(1);
    assert!(
        run.stderr
            .contains("waiting for another auditgraph process"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("another auditgraph process is writing"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("AUDITGRAPH_LOCK_TIMEOUT"),
        "{}",
        run.stderr
    );
    assert_eq!(
        ws.pkg_hashes(),
        before,
        "a refused writer changed the store"
    );

    // Readers do not wait for the lock.
    let started = std::time::Instant::now();
    ws.run(&["validate-store"]).ok();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    drop(lock);
    ws.json(&["ingest"]);
}

#[test]
fn two_ingests_at_once_both_finish_and_the_store_stays_valid() {
    let ws = Ws::new();
    notes(&ws, 300);
    let spawn = || {
        command()
            .arg("--root")
            .arg(ws.root())
            .args(["--json", "ingest"])
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    let a: Run = a.into();
    let b: Run = b.into();
    let a = a.ok().json();
    let b = b.ok().json();
    assert_eq!(a["detail"]["run_id"], b["detail"]["run_id"]);
    let outcomes = [
        a["detail"]["outcome"].clone(),
        b["detail"]["outcome"].clone(),
    ];
    assert!(
        outcomes.contains(&serde_json::json!("published")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&serde_json::json!("up_to_date")),
        "{outcomes:?}"
    );
    let report = ws.json(&["validate-store"]);
    assert_eq!(report["status"], "pass", "{report}");
    assert_eq!(ws.state()["runs"].as_object().unwrap().len(), 1);
}

/// A writer builds without the lock and takes it only to publish: while
/// one `run` is paused after building (as a long build would be), another
/// `run` publishes at once; the paused one then finds the store moved and
/// plans again from what is on disk, never publishing its stale build.
#[test]
fn a_writer_holds_the_lock_only_to_publish() {
    let ws = Ws::new();
    notes(&ws, 20);
    ws.json(&["run"]);
    ws.write("n/0001.md", "# N1\n\nthe first edit\n");
    let slow = command()
        .arg("--root")
        .arg(ws.root())
        .args(["--json", "run"])
        .env("AUDITGRAPH_PAUSE", "publish:before-lock")
        .env("AUDITGRAPH_PAUSE_MS", "4000")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the slow writer has built and paused.
    let started = std::time::Instant::now();
    let staging = ws.store().join("tmp");
    let building = || std::fs::read_dir(&staging).is_ok_and(|mut d| d.next().is_some());
    while !building() && started.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    ws.write("n/0002.md", "# N2\n\nthe second edit\n");
    let fast_started = std::time::Instant::now();
    let fast = ws.json(&["run"]);
    let fast_took = fast_started.elapsed();
    assert_eq!(fast["detail"]["outcome"], "published", "{fast}");
    let slow: Run = slow.wait_with_output().unwrap().into();
    let slow = slow.ok();
    assert!(
        fast_took < std::time::Duration::from_millis(3500),
        "the second writer waited for the paused one ({fast_took:?})"
    );
    let doc = slow.json();
    // The paused writer built a run of the first edit only; back from its
    // pause it found the store moved, planned again from what is on disk
    // (both edits), and found that run published by the other writer.
    let current = ws.current_run();
    assert_eq!(fast["detail"]["run_id"], current.as_str());
    assert_eq!(doc["detail"]["run_id"], current.as_str(), "{doc}");
    assert_eq!(doc["detail"]["outcome"], "up_to_date", "{doc}");
    let hit = ws.json(&["query", "--q", "second edit"]);
    assert!(hit.to_string().contains("n/0002.md"), "{hit}");
    let hit = ws.json(&["query", "--q", "first edit"]);
    assert!(hit.to_string().contains("n/0001.md"), "{hit}");
    let report = ws.json(&["validate-store"]);
    assert_eq!(report["status"], "pass", "{report}");
}
