//! Compatibility and upgrades (DESIGN "Upgrades and compatibility"): every
//! outcome of the table, with exit codes, messages, and proof that nothing
//! was modified where nothing may change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use serde_json::Value;

const V1_RUN: &str = "run_5801941ac7c26dbf35377815f19ef274b07594397fb260ab0ca57b2f47f0fc26";

#[track_caller]
fn assert_refused(run: &Run, code: i32, json_code: &str) -> Value {
    assert_eq!(
        run.code, code,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let doc = run.json();
    assert_eq!(doc["status"], "error");
    assert_eq!(doc["code"], json_code, "{doc}");
    assert_eq!(doc["readable_schema_versions"], serde_json::json!(["v3"]));
    assert_eq!(doc["required_schema_version"], "v3");
    doc
}

#[test]
fn python_v1_store_is_refused_and_left_untouched() {
    let ws = fixture_ws("python-v1-workspace");
    let before = ws.pkg_hashes();
    for args in [
        vec!["--json", "ingest"],
        vec!["--json", "import", "notes/first.md"],
        vec!["--json", "gc"],
        vec!["--json", "gc", "--dry-run"],
    ] {
        let run = ws.run(&args);
        let doc = assert_refused(&run, 3, "rebuild_required");
        assert_eq!(doc["found_schema_version"], "v1", "{args:?}");
        assert!(
            doc["file"]
                .as_str()
                .unwrap()
                .ends_with(&format!("{V1_RUN}/ingest-manifest.json"))
        );
        assert!(run.stderr.contains("schema version v1"), "{}", run.stderr);
        assert!(run.stderr.contains("auditgraph rebuild"), "{}", run.stderr);
        assert!(run.stderr.contains("untouched"), "{}", run.stderr);
        assert_eq!(ws.pkg_hashes(), before, "{args:?} modified the v1 store");
    }
    // Read-only views explain instead of failing.
    let status = ws.json(&["status"]);
    assert_eq!(status["state"], "rebuild_required");
    assert_eq!(status["schema_version"], "v1");
    assert_eq!(status["rebuild_required"], true);
    let runs = ws.json(&["runs"]);
    assert_eq!(runs["runs"][0]["run_id"], V1_RUN);
    assert_eq!(runs["runs"][0]["schema_version"], "v1");
    assert_eq!(runs["runs"][0]["readable"], false);
    assert_eq!(ws.pkg_hashes(), before);
}

#[test]
fn rebuild_upgrades_a_v1_store_and_gc_removes_the_old_run() {
    let ws = fixture_ws("python-v1-workspace");
    let before = ws.pkg_hashes();
    let doc = ws.json(&["rebuild"]);
    assert_eq!(doc["detail"]["outcome"], "published");
    let new_run = doc["detail"]["run_id"].as_str().unwrap().to_string();
    assert_eq!(ws.current_run(), new_run);
    assert_eq!(ws.state()["schema_version"], "v3");
    // Every file of the v1 store is still there, byte for byte.
    let after = ws.pkg_hashes();
    for (path, hash) in &before {
        assert_eq!(
            after.get(path),
            Some(hash),
            "{path} was modified by rebuild"
        );
    }
    // Both runs are listed; the old one as an unreadable older layout.
    let runs = ws.json(&["runs"]);
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["run_id"], new_run);
    assert_eq!(runs[0]["current"], true);
    assert_eq!(runs[1]["run_id"], V1_RUN);
    assert_eq!(runs[1]["readable"], false);
    // Writes work again; gc --dry-run changes nothing.
    ws.json(&["ingest"]);
    let snapshot = ws.pkg_hashes();
    let dry = ws.json(&["gc", "--dry-run", "--keep", "0"]);
    assert_eq!(dry["removed_legacy_runs"], serde_json::json!([V1_RUN]));
    assert!(dry["reclaimed_bytes"].as_u64().unwrap() > 0);
    assert_eq!(ws.pkg_hashes(), snapshot, "gc --dry-run modified the store");
    // gc --keep 0 removes the v1 run and the rest of the old layout.
    let gc = ws.json(&["gc", "--keep", "0"]);
    assert_eq!(gc["removed_legacy_runs"], serde_json::json!([V1_RUN]));
    for legacy in [
        "sources",
        "documents",
        "chunks",
        "entities",
        "indexes",
        "provenance",
    ] {
        assert!(!ws.store().join(legacy).exists(), "{legacy} survived gc");
    }
    assert!(!ws.store().join("runs").join(V1_RUN).exists());
    assert!(ws.store().join("runs").join(&new_run).exists());
    let report = ws.json(&["validate-store"]);
    assert_eq!(report["status"], "pass", "{report}");
}

#[test]
fn missing_schema_version_in_the_store_marker_requires_a_rebuild() {
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["ingest"]);
    let marker = ws.store().join("store.json");
    let mut state = ws.state();
    state.as_object_mut().unwrap().remove("schema_version");
    std::fs::write(&marker, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    let before = ws.pkg_hashes();
    let run = ws.run(&["--json", "ingest"]);
    let doc = assert_refused(&run, 3, "rebuild_required");
    assert_eq!(doc["found_schema_version"], Value::Null);
    assert!(doc["file"].as_str().unwrap().ends_with("store.json"));
    assert!(run.stderr.contains("(missing)"), "{}", run.stderr);
    assert_eq!(ws.pkg_hashes(), before);
    // rebuild writes a fresh store marker and run; the old marker is kept aside.
    ws.json(&["rebuild"]);
    assert_eq!(ws.state()["schema_version"], "v3");
    assert!(ws.store().join("store.json.superseded").is_file());
    ws.json(&["ingest"]);
}

#[test]
fn a_store_marker_that_is_not_json_says_so_and_rebuild_recovers() {
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["ingest"]);
    std::fs::write(ws.store().join("store.json"), "{\"format\": broken").unwrap();
    let before = ws.pkg_hashes();
    let run = ws.run(&["--json", "ingest"]);
    let doc = assert_refused(&run, 3, "rebuild_required");
    assert!(
        run.stderr
            .contains("store.json is not valid JSON (expected value at line 1"),
        "{}",
        run.stderr
    );
    assert!(doc["message"].as_str().unwrap().contains("not valid JSON"));
    assert_eq!(ws.pkg_hashes(), before);
    let report = ws.run(&["--json", "validate-store"]).code(1).json();
    assert!(
        report.to_string().contains("damaged_store_marker"),
        "{report}"
    );
    ws.json(&["rebuild"]);
    assert_eq!(ws.state()["schema_version"], "v3");
    ws.json(&["ingest"]);
}

#[test]
fn missing_schema_version_in_a_current_manifest_requires_a_rebuild() {
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["ingest"]);
    let old_run = ws.current_run();
    // Every manifest of the run loses its schema version.
    let run_dir = ws.store().join("runs").join(&old_run);
    let path = run_dir.join("ingest-manifest.json");
    let mut manifest = Value::Null;
    for entry in std::fs::read_dir(&run_dir).unwrap() {
        let p = entry.unwrap().path();
        if p.to_string_lossy().ends_with("-manifest.json") {
            let mut m: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            m.as_object_mut().unwrap().remove("schema_version");
            std::fs::write(&p, serde_json::to_vec(&m).unwrap()).unwrap();
            if p == path {
                manifest = m;
            }
        }
    }
    let old_files = |ws: &Ws| -> Vec<(String, String)> {
        ws.pkg_hashes()
            .into_iter()
            .filter(|(p, _)| p.contains(&old_run))
            .collect()
    };
    let old_before = old_files(&ws);
    assert!(old_before.len() >= 3, "{old_before:?}");
    let before = ws.pkg_hashes();
    let run = ws.run(&["--json", "ingest"]);
    let doc = assert_refused(&run, 3, "rebuild_required");
    assert!(
        doc["file"]
            .as_str()
            .unwrap()
            .ends_with("ingest-manifest.json"),
        "{doc}"
    );
    assert_eq!(ws.pkg_hashes(), before);
    // The inputs are unchanged, so the canonical run id is taken by the
    // unreadable run: rebuild publishes under a derived id, never overwriting.
    let human = ws.run(&["rebuild"]).ok();
    assert!(
        human
            .stderr
            .contains("cannot be read; it is kept as it was")
            || human
                .stdout
                .contains("cannot be read; it is kept as it was"),
        "{human:?}"
    );
    assert_eq!(
        old_files(&ws),
        old_before,
        "the old run's files are untouched"
    );
    let rebuilt = ws.json(&["rebuild"]);
    assert_eq!(rebuilt["detail"]["outcome"], "identical");
    let new_run = rebuilt["detail"]["run_id"].as_str().unwrap().to_string();
    assert_ne!(new_run, old_run);
    assert_eq!(ws.current_run(), new_run);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        serde_json::to_vec(&manifest).unwrap()
    );
    ws.json(&["ingest"]);
}

#[test]
fn unknown_schema_version_requires_a_rebuild() {
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["ingest"]);
    let marker = ws.store().join("store.json");
    let mut state = ws.state();
    state["schema_version"] = Value::String("banana".to_string());
    std::fs::write(&marker, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    let doc = assert_refused(&ws.run(&["--json", "ingest"]), 3, "rebuild_required");
    assert_eq!(doc["found_schema_version"], "banana");
}

#[test]
fn a_store_from_a_newer_auditgraph_is_refused_by_every_command() {
    let ws = Ws::new();
    sample_notes(&ws);
    // A "newer" binary: the debug build can simulate writing schema v4.
    ws.run_env(&["ingest"], &[("AUDITGRAPH_SIMULATE_SCHEMA", "v4")])
        .ok();
    assert_eq!(ws.state()["schema_version"], "v4");
    let before = ws.pkg_hashes();
    ws.write("notes/more.md", "# More\n");
    for args in [
        vec!["--json", "ingest"],
        vec!["--json", "rebuild"],
        vec!["--json", "import", "notes/more.md"],
        vec!["--json", "gc", "--keep", "0"],
        vec!["--json", "validate-store"],
    ] {
        let run = ws.run(&args);
        let doc = assert_refused(&run, 4, "newer_store");
        assert_eq!(doc["found_schema_version"], "v4", "{args:?}");
        assert!(run.stderr.contains("newer auditgraph"), "{}", run.stderr);
        assert!(run.stderr.contains("upgrade auditgraph"), "{}", run.stderr);
        // The simulated writer has this binary's version string, so the
        // hint names the schema to read, not "auditgraph >= <this version>".
        assert!(
            run.stderr
                .contains("needs an auditgraph that reads schema v4"),
            "{}",
            run.stderr
        );
        assert_eq!(ws.pkg_hashes(), before, "{args:?} wrote to a newer store");
    }
    let status = ws.json(&["status"]);
    assert_eq!(status["state"], "newer_store");
}

#[test]
fn an_older_readable_store_is_used_and_upgraded_by_writes() {
    // A store written by this binary (v3), used by a newer one (simulated v4
    // that reads v3 and v4): no warning; writes publish v4 runs; the older
    // run stays byte for byte.
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["ingest"]);
    let old_run = ws.current_run();
    let before = ws.pkg_hashes();
    let newer = [("AUDITGRAPH_SIMULATE_SCHEMA", "v4")];
    let status = ws.run_env(&["--json", "status"], &newer).ok();
    assert_eq!(status.json()["state"], "ok");
    ws.run_env(&["validate-store"], &newer).ok();
    ws.write("notes/new.md", "# New\n");
    let run = ws.run_env(&["--json", "ingest"], &newer).ok();
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let doc = run.json();
    let new_run = doc["detail"]["run_id"].as_str().unwrap();
    assert_eq!(ws.state()["runs"][new_run]["schema_version"], "v4");
    assert_eq!(ws.state()["schema_version"], "v4");
    assert_eq!(ws.manifest(new_run, "ingest")["schema_version"], "v4");
    let after = ws.pkg_hashes();
    for (path, hash) in &before {
        if !path.ends_with("store.json") && !path.contains("/cache/") {
            assert_eq!(after.get(path), Some(hash), "{path}");
        }
    }
    assert_eq!(ws.state()["runs"][&old_run]["schema_version"], "v3");
    // ...and the older binary now refuses the upgraded store.
    assert_refused(&ws.run(&["--json", "ingest"]), 4, "newer_store");
}

/// The store a schema-v2 build wrote (saved before the format changed, see
/// `tests/fixtures/v2-workspace.md`): every command that needs its runs
/// refuses with exit 3 and the way out, touching nothing; `status` and
/// `runs` explain; `rebuild` writes a v3 run beside it, leaving every v2
/// file byte for byte (its marker is kept as `store.v2.json`); the new
/// store validates clean with the v2 files listed as leftovers, and
/// `gc` then removes them.
#[test]
fn a_v2_store_is_refused_left_untouched_and_rebuilt_beside() {
    const V2_RUNS: [&str; 2] = [
        "run_2f0cc298ce04730c056fbc3c124079663c685ec8dd7d27e289a6e6e0573a41c9",
        "run_4e1e5ebf96a9bf75bdf56c6b75878db59f9cb2b52b9c55e12876b461c73d239f",
    ];
    let ws = fixture_ws("v2-workspace");
    let before = ws.pkg_hashes();
    assert_eq!(ws.state()["schema_version"], "v2");
    let v2_current = ws.current_run();
    assert!(v2_current.starts_with(V2_RUNS[1]));
    for args in [
        vec!["--json", "run"],
        vec!["--json", "ingest"],
        vec!["--json", "import", "notes/reading-list.md"],
        vec!["--json", "query", "--q", "postgres"],
        vec!["--json", "list"],
        vec!["--json", "export", "-o", "out.json"],
        vec!["--json", "gc"],
        vec!["--json", "gc", "--dry-run"],
    ] {
        let run = ws.run(&args);
        let doc = assert_refused(&run, 3, "rebuild_required");
        assert_eq!(doc["found_schema_version"], "v2", "{args:?}");
        assert!(run.stderr.contains("auditgraph rebuild"), "{}", run.stderr);
        assert_eq!(ws.pkg_hashes(), before, "{args:?} modified the v2 store");
    }
    let status = ws.json(&["status"]);
    assert_eq!(status["state"], "rebuild_required");
    assert_eq!(status["schema_version"], "v2");
    let runs = ws.json(&["runs"]);
    let listed: Vec<&str> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 2, "{runs}");
    assert!(
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["readable"] == false)
    );
    let report = ws.run(&["--json", "validate-store"]).code(1).json();
    assert!(
        report.to_string().contains("unsupported_schema_version"),
        "{report}"
    );
    assert_eq!(ws.pkg_hashes(), before);

    // rebuild: a v3 run beside; every v2 file as it was.
    let rebuilt = ws.json(&["rebuild"]);
    assert_eq!(rebuilt["detail"]["outcome"], "published");
    let new_run = rebuilt["detail"]["run_id"].as_str().unwrap().to_string();
    assert_eq!(ws.current_run(), new_run);
    assert_eq!(ws.state()["schema_version"], "v3");
    let after = ws.pkg_hashes();
    for (path, hash) in &before {
        let kept = if path.ends_with("profiles/default/store.json") {
            path.replace("store.json", "store.v2.json")
        } else {
            path.clone()
        };
        assert_eq!(
            after.get(&kept),
            Some(hash),
            "{path} was modified by rebuild"
        );
    }
    let report = ws.json(&["validate-store"]);
    assert_eq!(report["status"], "pass", "{report}");
    assert!(
        report["leftovers"].to_string().contains("store.v2.json"),
        "{report}"
    );
    // Everything works on the new run.
    let hit = &ws.json(&["query", "--q", "pgbouncer"])["results"][0];
    assert!(hit["name"].as_str().unwrap().contains("pgbouncer"), "{hit}");
    ws.write("notes/reading-list.md", "# Reading list\n\n- one\n");
    ws.json(&["run"]);

    // gc removes the v2 layout: its runs, objects and marker.
    let gc = ws.json(&["gc", "--keep", "0"]);
    assert_eq!(
        gc["removed_legacy_runs"].as_array().unwrap().len(),
        2,
        "{gc}"
    );
    assert!(!ws.store().join("store.v2.json").exists());
    for run in V2_RUNS {
        assert!(
            !std::fs::read_dir(ws.store().join("runs"))
                .unwrap()
                .any(|e| e.unwrap().file_name().to_string_lossy().starts_with(run))
        );
    }
    let report = ws.json(&["validate-store"]);
    assert_eq!(report["status"], "pass", "{report}");
    assert_eq!(report["leftovers"], serde_json::json!([]), "{report}");
}
