//! The whole pipeline from the binary: stage commands, replay, diff, and
//! the real rust-book corpus.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use serde_json::Value;

#[test]
fn stages_one_at_a_time_equal_a_full_run() {
    let a = Ws::new();
    sample_notes(&a);
    a.json(&["ingest"]);
    // Later stages need their predecessor.
    let run = a.run(&["link"]).code(1);
    assert!(
        run.stderr.contains("has no extract stage"),
        "{}",
        run.stderr
    );
    for stage in ["extract", "link", "index"] {
        let doc = a.json(&[stage]);
        assert_eq!(doc["detail"]["outcome"], "published", "{stage}");
    }
    let again = a.json(&["index"]);
    assert_eq!(again["detail"]["outcome"], "already_published");
    // Without --json the counts read as words, not as a JSON object.
    let human = a.run(&["link"]).ok();
    assert!(
        human.stdout.contains("already done") && human.stdout.contains("entities (ag:note "),
        "{}",
        human.stdout
    );
    assert!(!human.stdout.contains('{'), "{}", human.stdout);

    let b = Ws::new();
    sample_notes(&b);
    b.json(&["run"]);
    let run = a.current_run();
    assert_eq!(run, b.current_run());
    for stage in ["ingest", "extract", "link", "index"] {
        assert_eq!(
            a.manifest(&run, stage)["outputs_hash"],
            b.manifest(&run, stage)["outputs_hash"],
            "{stage}"
        );
    }
    let log = std::fs::read_to_string(a.store().join("runs").join(&run).join("replay-log.jsonl"))
        .unwrap();
    let stages: Vec<String> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["stage"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(stages, vec!["ingest", "extract", "link", "index"]);
    a.run(&["validate-store"]).ok();
}

#[test]
fn stage_manifests_carry_their_hashes() {
    let ws = Ws::new();
    sample_notes(&ws);
    let doc = ws.json(&["run"]);
    let run = doc["detail"]["run_id"].as_str().unwrap();
    let ingest = ws.ingest_with_records(run);
    let extract = ws.manifest(run, "extract");
    let link = ws.manifest(run, "link");
    let index = ws.manifest(run, "index");
    assert_eq!(extract["inputs_hash"], ingest["outputs_hash"]);
    assert_eq!(link["inputs_hash"], extract["outputs_hash"]);
    assert_eq!(index["inputs_hash"], link["outputs_hash"]);
    for m in [&extract, &link, &index] {
        assert_eq!(m["schema_version"], "v3");
        assert_eq!(m["run_id"], run);
        assert_eq!(m["status"], "ok");
        assert_eq!(m["config_hash"], ingest["config_hash"]);
        assert!(m["wall_clock_started_at"].is_string());
        assert!(!m["pieces"].as_object().unwrap().is_empty());
        assert!(m["warnings"].is_array());
    }
    assert_eq!(link["counts"]["entities"]["ag:note"], 3);
}

#[test]
fn replay_reproduces_the_outputs_hash() {
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["run"]);
    let run = ws.current_run();
    let doc = ws.json(&["replay", &run]);
    assert_eq!(doc["detail"]["outputs_match"], true, "{doc}");
    assert_eq!(doc["detail"]["stages"].as_array().unwrap().len(), 4);
    // The configuration changes afterwards; replay still uses the recorded one.
    ws.write("config/pkg.yaml", "profiles:\n  default:\n    ingestion:\n      chunk_tokens: 7\n      chunk_overlap_tokens: 1\n");
    ws.json(&["run"]);
    assert_ne!(ws.current_run(), run);
    // The config file is itself a (skipped) source, so the inputs changed:
    // the replay publishes a new run whose hashes differ, exit 1.
    let replay = ws.run(&["--json", "replay", &run]).code(1);
    assert!(
        replay.stderr.contains("did not reproduce"),
        "{}",
        replay.stderr
    );
    std::fs::remove_file(ws.path("config/pkg.yaml")).unwrap();
    let again = ws.json(&["replay", &run]);
    assert_eq!(again["detail"]["outputs_match"], true, "{again}");
    assert_eq!(again["detail"]["run_id"], run);
}

#[test]
fn diff_shows_exactly_the_edit_the_addition_and_the_deletion() {
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["run"]);
    let before = ws.current_run();
    ws.write(
        "notes/beta.md",
        "# Beta\n\nBeta is longer now and mentions `rust`.\n",
    );
    ws.write("notes/delta.md", "# Delta\n\nnew note\n");
    ws.remove("notes/sub/gamma.txt");
    ws.json(&["run"]);
    let after = ws.current_run();
    let diff = ws.json(&["diff", "--run-a", &before, "--run-b", &after]);
    let keys = |set: &Value| -> Vec<String> {
        set.as_array()
            .unwrap()
            .iter()
            .map(|i| i["key"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(keys(&diff["sources"]["added"]), vec!["notes/delta.md"]);
    assert_eq!(
        keys(&diff["sources"]["removed"]),
        vec!["notes/sub/gamma.txt"]
    );
    assert_eq!(keys(&diff["sources"]["changed"]), vec!["notes/beta.md"]);
    assert_eq!(diff["sources"]["counts"]["unchanged"], 2);
    let labels = |set: &Value| -> Vec<String> {
        set.as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_string())
            .collect()
    };
    let added = labels(&diff["entities"]["added"]);
    assert!(added.contains(&"ag:note Delta".to_string()), "{added:?}");
    assert!(
        added.contains(&"ag:technology rust".to_string()),
        "{added:?}"
    );
    let mut removed = labels(&diff["entities"]["removed"]);
    removed.sort();
    // gamma.txt is gone, and the edit removed beta's "Details" section.
    assert_eq!(
        removed,
        vec![
            "ag:note gamma".to_string(),
            "ag:section Details".to_string()
        ]
    );
    // Defaults: the previous run against the current one.
    let default = ws.json(&["diff"]);
    assert_eq!(default["run_a"], before);
    assert_eq!(default["run_b"], after);
}

/// The shared corpora, when present (they are not part of the repository).
fn corpus(name: &str) -> Option<std::path::PathBuf> {
    let base = std::env::var_os("AUDITGRAPH_CORPORA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora")
        });
    let dir = base.join(name);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: corpus {} not found (set AUDITGRAPH_CORPORA)",
            dir.display()
        );
        None
    }
}

#[test]
fn rust_book_cross_chapter_links_resolve_and_images_are_skipped() {
    let Some(book) = corpus("rust-book") else {
        return;
    };
    let ws = Ws::new();
    copy_dir(&book, ws.root());
    let doc = ws.json(&["run"]);
    let run = doc["detail"]["run_id"].as_str().unwrap();
    let ingest = ws.ingest_with_records(run);
    let images: Vec<&Value> = ingest["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            let p = r["path"].as_str().unwrap();
            p.ends_with(".png") || p.ends_with(".svg")
        })
        .collect();
    assert_eq!(images.len(), 28);
    assert!(
        images
            .iter()
            .all(|r| r["parse_status"] == "skipped" && r["reason"] == "unsupported_extension")
    );
    let link = ws.manifest(run, "link");
    let refs = &link["counts"]["references"];
    eprintln!("rust-book references: {refs}");
    let internal = refs["internal"].as_u64().unwrap();
    let unresolved = refs["unresolved"].as_u64().unwrap_or(0);
    assert!(internal >= 290, "{refs}");
    // The unresolved ones point at other books of the documentation site
    // (../std/, ../reference/, ../nomicon/, ...), not at chapters.
    assert!(unresolved <= 40, "{refs}");
    assert!(
        link["counts"]["links"]["resolves_to_document"]
            .as_u64()
            .unwrap()
            >= 280
    );
}
