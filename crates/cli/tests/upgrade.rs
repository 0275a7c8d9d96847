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
    assert_eq!(doc["readable_schema_versions"], serde_json::json!(["v2"]));
    assert_eq!(doc["required_schema_version"], "v2");
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
    assert_eq!(ws.state()["schema_version"], "v2");
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
    assert_eq!(ws.state()["schema_version"], "v2");
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
    assert_eq!(ws.state()["schema_version"], "v2");
    ws.json(&["ingest"]);
}

#[test]
fn missing_schema_version_in_a_current_manifest_requires_a_rebuild() {
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["ingest"]);
    let old_run = ws.current_run();
    let path = ws
        .store()
        .join("runs")
        .join(&old_run)
        .join("ingest-manifest.json");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    manifest.as_object_mut().unwrap().remove("schema_version");
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
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
    let rebuilt = ws.json(&["rebuild"]);
    assert_eq!(rebuilt["detail"]["outcome"], "published");
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
    // A "newer" binary: the debug build can simulate writing schema v3.
    ws.run_env(&["ingest"], &[("AUDITGRAPH_SIMULATE_SCHEMA", "v3")])
        .ok();
    assert_eq!(ws.state()["schema_version"], "v3");
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
        assert_eq!(doc["found_schema_version"], "v3", "{args:?}");
        assert!(run.stderr.contains("newer auditgraph"), "{}", run.stderr);
        assert!(run.stderr.contains("upgrade auditgraph"), "{}", run.stderr);
        // The simulated writer has this binary's version string, so the
        // hint names the schema to read, not "auditgraph >= <this version>".
        assert!(
            run.stderr
                .contains("needs an auditgraph that reads schema v3"),
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
    // A store written by this binary (v2), used by a newer one (simulated v3
    // that reads v2 and v3): no warning; writes publish v3 runs; the older
    // run stays byte for byte.
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["ingest"]);
    let old_run = ws.current_run();
    let before = ws.pkg_hashes();
    let newer = [("AUDITGRAPH_SIMULATE_SCHEMA", "v3")];
    let status = ws.run_env(&["--json", "status"], &newer).ok();
    assert_eq!(status.json()["state"], "ok");
    ws.run_env(&["validate-store"], &newer).ok();
    ws.write("notes/new.md", "# New\n");
    let run = ws.run_env(&["--json", "ingest"], &newer).ok();
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let doc = run.json();
    let new_run = doc["detail"]["run_id"].as_str().unwrap();
    assert_eq!(ws.state()["runs"][new_run]["schema_version"], "v3");
    assert_eq!(ws.state()["schema_version"], "v3");
    assert_eq!(ws.manifest(new_run, "ingest")["schema_version"], "v3");
    let after = ws.pkg_hashes();
    for (path, hash) in &before {
        if !path.ends_with("store.json") {
            assert_eq!(after.get(path), Some(hash), "{path}");
        }
    }
    assert_eq!(ws.state()["runs"][&old_run]["schema_version"], "v2");
    // ...and the older binary now refuses the upgraded store.
    assert_refused(&ws.run(&["--json", "ingest"]), 4, "newer_store");
}

/// Document groups that earlier builds of schema v2 wrote as JSON (before
/// groups were stored in binary) are read by every command, validate
/// clean, and are built on: `run` adds the later stages from them, and an
/// ingest after an edit reuses their unchanged documents in a new (binary)
/// group. The store is made as such a build left it: each group object
/// replaced by its JSON form under its own hash, the manifest pointing at
/// it, and store.json's checksum and counters to match.
#[test]
fn json_document_groups_of_earlier_builds_are_read_and_built_on() {
    use auditgraph_core::ingest::document::{DOCUMENTS_KIND, DocumentGroup};
    use sha2::Digest;
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["ingest"]);
    let run = ws.current_run();
    let object = |id: &str| ws.object(id);
    let header = |id: &str| {
        let payload = zstd::decode_all(std::fs::read(object(id)).unwrap().as_slice()).unwrap();
        let end = payload.iter().position(|&b| b == b'\n').unwrap();
        String::from_utf8(payload[..end].to_vec()).unwrap()
    };

    let mut manifest = ws.manifest(&run, "ingest");
    let mut grown: i64 = 0;
    let mut json_groups = Vec::new();
    for group in manifest["document_groups"].as_array_mut().unwrap() {
        let id = group["object"].as_str().unwrap().to_string();
        let packed = std::fs::read(object(&id)).unwrap();
        let payload = zstd::decode_all(packed.as_slice()).unwrap();
        let documents = DocumentGroup::from_payload(&payload).unwrap();
        let json = auditgraph_core::store::objects::json_payload(DOCUMENTS_KIND, "v2", &documents);
        let json_id = hex::encode(sha2::Sha256::digest(&json));
        let json_packed = zstd::encode_all(json.as_slice(), 3).unwrap();
        std::fs::create_dir_all(object(&json_id).parent().unwrap()).unwrap();
        std::fs::write(object(&json_id), &json_packed).unwrap();
        std::fs::remove_file(object(&id)).unwrap();
        grown += json_packed.len() as i64 - packed.len() as i64;
        group["object"] = Value::String(json_id.clone());
        json_groups.push(json_id);
    }
    assert_eq!(header(&json_groups[0]), "agobj documents v2 json");
    let manifest_path = ws
        .store()
        .join("runs")
        .join(&run)
        .join("ingest-manifest.json");
    let bytes = auditgraph_core::pipeline::manifest_bytes(&manifest);
    grown += bytes.len() as i64 - std::fs::metadata(&manifest_path).unwrap().len() as i64;
    std::fs::write(&manifest_path, &bytes).unwrap();
    let mut state = ws.state();
    state["runs"][&run]["stages"]["ingest"]["sha256"] =
        Value::String(hex::encode(sha2::Sha256::digest(&bytes)));
    let counted = state["accounting"]["bytes"].as_i64().unwrap();
    state["accounting"]["bytes"] = Value::from(counted + grown);
    std::fs::write(
        ws.store().join("store.json"),
        serde_json::to_vec_pretty(&state).unwrap(),
    )
    .unwrap();

    assert_eq!(ws.json(&["validate-store"])["status"], "pass");
    // `ingest` with nothing changed: the same run, nothing written.
    let again = ws.json(&["ingest"]);
    assert_eq!(again["detail"]["run_id"], run.as_str());
    assert_eq!(again["detail"]["parsed"], 0);
    // `run` adds the later stages to the same run, from the JSON groups.
    let full = ws.json(&["run"]);
    assert_eq!(full["detail"]["run_id"], run.as_str(), "{full}");
    let hit = &ws.json(&["query", "--q", "alpha"])["results"][0];
    assert_eq!(hit["name"], "Alpha note", "{hit}");
    assert!(hit.to_string().contains("postgres"), "a snippet: {hit}");
    assert_eq!(ws.json(&["validate-store"])["status"], "pass");
    for id in &json_groups {
        assert_eq!(header(id), "agobj documents v2 json", "left as it was");
    }

    // An edit: the unchanged documents come from the JSON groups into a
    // new group, written in binary.
    ws.write(
        "notes/beta.md",
        "# Beta\n\nBeta is longer now.\n\n## Details\n\nMore words here.\n",
    );
    let edited = ws.json(&["ingest"]);
    assert_eq!(edited["detail"]["parsed"], 1, "{edited}");
    assert_eq!(edited["detail"]["unchanged"], 2, "{edited}");
    let new_run = ws.current_run();
    assert_ne!(new_run, run);
    let groups = ws.manifest(&new_run, "ingest")["document_groups"].clone();
    for group in groups.as_array().unwrap() {
        let id = group["object"].as_str().unwrap();
        assert_eq!(header(id), "agobj documents v2 bin");
        for document in group_documents(&ws, id) {
            assert!(!document["text"].as_str().unwrap().is_empty());
        }
    }
    let texts: Vec<String> = groups
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| group_documents(&ws, g["object"].as_str().unwrap()))
        .map(|d| d["text"].as_str().unwrap().to_string())
        .collect();
    assert!(texts.iter().any(|t| t.contains("Alpha talks about")));
    assert!(texts.iter().any(|t| t.contains("Beta is longer now")));
    assert_eq!(ws.json(&["validate-store"])["status"], "pass");
}
