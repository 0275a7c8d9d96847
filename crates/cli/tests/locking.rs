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
