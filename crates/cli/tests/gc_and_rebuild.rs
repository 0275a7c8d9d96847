//! `gc` (keeps the current run and the N most recent, removes the rest and
//! unreferenced objects, reports bytes, survives interruption) and `rebuild`
//! (fresh run, never overwriting; verifies an identical stored run).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

/// Four runs: r0 (oldest) .. r3 (current).
fn four_runs(ws: &Ws) -> Vec<String> {
    sample_notes(ws);
    let mut runs = Vec::new();
    for i in 0..4 {
        ws.write("notes/beta.md", format!("# Beta\n\nversion {i}\n"));
        runs.push(
            ws.json(&["ingest"])["detail"]["run_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    runs
}

#[test]
fn gc_keeps_the_current_and_n_most_recent_runs() {
    let ws = Ws::new();
    let runs = four_runs(&ws);
    let before = ws.pkg_hashes();
    let dry = ws.json(&["gc", "--dry-run", "--keep", "1"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["removed_runs"].as_array().unwrap().len(), 2);
    assert_eq!(ws.pkg_hashes(), before, "--dry-run changed the store");

    let report = ws.json(&["gc", "--keep", "1"]);
    let mut kept: Vec<String> = report["kept_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    kept.sort();
    let mut expected = vec![runs[2].clone(), runs[3].clone()];
    expected.sort();
    assert_eq!(kept, expected);
    assert_eq!(report["reclaimed_bytes"], dry["reclaimed_bytes"]);
    assert!(report["removed_objects"].as_u64().unwrap() >= 2, "{report}");
    assert!(!ws.store().join("runs").join(&runs[0]).exists());
    assert!(ws.store().join("runs").join(&runs[2]).exists());
    // The counters match what is left.
    let clean = ws.json(&["validate-store"]);
    assert_eq!(clean["status"], "pass", "{clean}");
    assert_eq!(clean["leftovers"], serde_json::json!([]));
    let state = ws.state();
    assert_eq!(state["accounting"]["bytes"], report["store_bytes"]);

    // --keep 0 never removes the current run, even when it is not the newest.
    ws.write("notes/beta.md", "# Beta\n\nversion 2\n");
    ws.json(&["ingest"]); // re-selects runs[2]
    assert_eq!(ws.current_run(), runs[2]);
    ws.json(&["gc", "--keep", "0"]);
    let left: Vec<String> = ws.state()["runs"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(left, vec![runs[2].clone()]);
    ws.json(&["validate-store"]);
}

#[test]
fn an_interrupted_gc_is_finished_by_the_next_write() {
    let ws = Ws::new();
    four_runs(&ws);
    let crashed = ws.run_env(
        &["gc", "--keep", "0"],
        &[("AUDITGRAPH_FAULT", "commit:state-written")],
    );
    assert_ne!(crashed.code, 0);
    // Committed: readers already see only the current run, and the store
    // validates (pending deletions are leftovers, not problems).
    assert_eq!(ws.state()["runs"].as_object().unwrap().len(), 1);
    let report = ws.json(&["validate-store"]);
    assert_eq!(report["status"], "pass", "{report}");
    // The next writer finishes the deletions.
    ws.json(&["ingest"]);
    let clean = ws.json(&["validate-store"]);
    assert_eq!(clean["leftovers"], serde_json::json!([]), "{clean}");
    assert_eq!(
        std::fs::read_dir(ws.store().join("runs")).unwrap().count(),
        1
    );
}

#[test]
fn rebuild_publishes_a_new_run_and_leaves_older_runs_alone() {
    let ws = Ws::new();
    sample_notes(&ws);
    let first = ws.json(&["ingest"])["detail"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    ws.write("notes/beta.md", "# Beta\n\nchanged before the rebuild\n");
    let before = ws.pkg_hashes();
    let doc = ws.json(&["rebuild"]);
    assert_eq!(doc["stage"], "rebuild");
    assert_eq!(doc["detail"]["outcome"], "published");
    assert_eq!(doc["detail"]["parsed"], 3, "rebuild must not use the cache");
    let second = doc["detail"]["run_id"].as_str().unwrap();
    assert_ne!(second, first);
    assert_eq!(ws.current_run(), second);
    let after = ws.pkg_hashes();
    for (path, hash) in &before {
        if !path.ends_with("store.json") {
            assert_eq!(after.get(path), Some(hash), "{path}");
        }
    }
}

#[test]
fn rebuild_of_an_existing_run_reports_identical_or_the_differences() {
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["run"]);
    let before = ws.pkg_hashes();
    let doc = ws.json(&["rebuild"]);
    assert_eq!(doc["detail"]["outcome"], "identical");
    assert_eq!(doc["detail"]["differences"], serde_json::json!([]));
    assert_eq!(
        ws.pkg_hashes(),
        before,
        "an identical rebuild wrote something"
    );

    // Tamper with a stored object: rebuild reports it, exits 1, and does not
    // overwrite anything.
    // The first object (in path order) whose payload has an `A` to change.
    let objects = ws.store().join("objects");
    let mut all: Vec<std::path::PathBuf> = std::fs::read_dir(&objects)
        .unwrap()
        .flat_map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap())
        .map(|entry| entry.unwrap().path())
        .collect();
    all.sort();
    let object = all
        .into_iter()
        .find(|path| {
            zstd::decode_all(std::fs::read(path).unwrap().as_slice())
                .unwrap()
                .contains(&b'A')
        })
        .expect("an object with an A");
    let mut bytes = std::fs::read(&object).unwrap();
    let tampered = zstd::encode_all(
        &zstd::decode_all(bytes.as_slice())
            .unwrap()
            .iter()
            .map(|b| if *b == b'A' { b'B' } else { *b })
            .collect::<Vec<u8>>()[..],
        3,
    )
    .unwrap();
    bytes.clone_from(&tampered);
    std::fs::write(&object, &bytes).unwrap();
    let tampered_hashes = ws.pkg_hashes();
    let run = ws.run(&["--json", "rebuild"]).code(1);
    let doc = run.json();
    assert_eq!(doc["status"], "error");
    assert_eq!(doc["code"], "rebuild_differs");
    assert_eq!(doc["detail"]["outcome"], "differs");
    let diffs = doc["detail"]["differences"].as_array().unwrap();
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert!(
        diffs[0]["artifact"]
            .as_str()
            .unwrap()
            .starts_with("objects/")
    );
    assert!(
        run.stderr.contains("differs from a fresh rebuild"),
        "{}",
        run.stderr
    );
    assert_eq!(
        ws.pkg_hashes(),
        tampered_hashes,
        "rebuild overwrote a stored artifact"
    );
}
