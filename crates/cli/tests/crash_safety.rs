//! Interrupting a write at every step leaves the previous state readable and
//! valid, and the next write succeeds (fault injection points and real
//! `kill -9`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use std::time::Duration;

const POINTS: &[&str] = &[
    "commit:journal-written",
    "commit:first-object-placed",
    "commit:files-placed",
    "commit:state-written",
];

fn corpus(ws: &Ws, n: usize) {
    for i in 0..n {
        ws.write(
            &format!("notes/{:02}/{i:04}.md", i % 17),
            format!(
                "# Note {i}\n\n{}\n",
                "lorem ipsum dolor ".repeat(i % 40 + 1)
            ),
        );
    }
}

#[test]
fn every_commit_step_can_be_interrupted() {
    for point in POINTS {
        let ws = Ws::new();
        corpus(&ws, 60);
        let first = ws.json(&["ingest"]);
        let run_a = first["detail"]["run_id"].as_str().unwrap().to_string();
        let state_before = std::fs::read(ws.store().join("store.json")).unwrap();
        let hashes_before = ws.pkg_hashes();

        ws.write("notes/new.md", "# New\n\nadded after the first run\n");
        ws.write("notes/00/0000.md", "# Note 0 edited\n");
        let crashed = ws.run_env(&["ingest"], &[("AUDITGRAPH_FAULT", point)]);
        assert_ne!(
            crashed.code, 0,
            "{point}: the fault did not fire\n{}",
            crashed.stderr
        );
        assert!(
            crashed.stderr.contains("injected fault"),
            "{point}: {}",
            crashed.stderr
        );

        // Everything the first run wrote is still there, byte for byte.
        let after = ws.pkg_hashes();
        for (path, hash) in &hashes_before {
            if path.ends_with("store.json") && *point == "commit:state-written" {
                continue;
            }
            assert_eq!(after.get(path), Some(hash), "{point}: {path} changed");
        }
        if *point != "commit:state-written" {
            assert_eq!(
                std::fs::read(ws.store().join("store.json")).unwrap(),
                state_before,
                "{point}: store.json changed before the commit point"
            );
            assert_eq!(ws.current_run(), run_a, "{point}");
        } else {
            assert_ne!(
                ws.current_run(),
                run_a,
                "{point}: the commit point was passed"
            );
        }
        // Readers see a valid store; leftovers are reported, not problems.
        let report = ws.json(&["validate-store"]);
        assert_eq!(report["status"], "pass", "{point}: {report}");

        // The next write recovers and succeeds; nothing is left over.
        let next = ws.json(&["ingest"]);
        assert_eq!(next["status"], "ok");
        let clean = ws.json(&["validate-store"]);
        assert_eq!(clean["status"], "pass", "{point}: {clean}");
        assert_eq!(
            clean["leftovers"],
            serde_json::json!([]),
            "{point}: {clean}"
        );
        assert!(
            !ws.store()
                .join("tmp")
                .read_dir()
                .map(|mut d| d.next().is_some())
                .unwrap_or(false)
        );
    }
}

#[test]
fn interrupting_the_very_first_write_leaves_no_store() {
    for point in &POINTS[..3] {
        let ws = Ws::new();
        corpus(&ws, 5);
        let crashed = ws.run_env(&["ingest"], &[("AUDITGRAPH_FAULT", point)]);
        assert_ne!(crashed.code, 0);
        // Read commands see "nothing ingested" or a valid store, never garbage.
        let report = ws.json(&["validate-store"]);
        assert_eq!(report["status"], "pass", "{point}: {report}");
        ws.json(&["ingest"]);
        let clean = ws.json(&["validate-store"]);
        assert_eq!(
            clean["leftovers"],
            serde_json::json!([]),
            "{point}: {clean}"
        );
    }
}

#[test]
fn kill_9_at_random_moments() {
    let ws = Ws::new();
    corpus(&ws, 400);
    ws.json(&["ingest"]);
    // Deterministic pseudo-random delays spread over a whole ingest.
    let mut delay_ms: u64 = 7;
    for round in 0..12 {
        ws.write(
            &format!("notes/round-{round}.md"),
            format!("# Round {round}\n"),
        );
        ws.write("notes/03/0003.md", format!("# Note 3, edit {round}\n"));
        let mut child = command()
            .arg("--root")
            .arg(ws.root())
            .arg("ingest")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        delay_ms = (delay_ms * 37 + 11) % 250;
        let report = ws.json(&["validate-store"]);
        assert_eq!(report["status"], "pass", "round {round}: {report}");
    }
    ws.json(&["ingest"]);
    let clean = ws.json(&["validate-store"]);
    assert_eq!(clean["status"], "pass", "{clean}");
    assert_eq!(clean["leftovers"], serde_json::json!([]), "{clean}");
}
