//! The ingest stage: records, manifests, caching, runs and the store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use serde_json::Value;

fn record<'a>(manifest: &'a Value, path: &str) -> &'a Value {
    manifest["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == path)
        .unwrap_or_else(|| panic!("no record for {path}: {manifest}"))
}

#[test]
fn ingest_records_every_discovered_file() {
    let ws = Ws::new();
    sample_notes(&ws);
    let doc = ws.json(&["ingest"]);
    assert_eq!(doc["stage"], "ingest");
    assert_eq!(doc["status"], "ok");
    let d = &doc["detail"];
    assert_eq!(d["files"], 4);
    assert_eq!(d["ok"], 3);
    assert_eq!(d["skipped"], 1);
    assert_eq!(d["failed"], 0);
    assert_eq!(d["profile"], "default");
    let run_id = d["run_id"].as_str().unwrap();
    assert!(run_id.starts_with("run_") && run_id.len() == 68);
    assert!(std::path::Path::new(d["manifest"].as_str().unwrap()).is_file());

    let m = ws.ingest_with_records(run_id);
    assert_eq!(m["schema_version"], "v3");
    assert_eq!(m["stage"], "ingest");
    assert_eq!(m["run_id"], run_id);
    assert_eq!(m["pipeline_version"], "v0.1.0");
    for key in ["config_hash", "inputs_hash", "outputs_hash"] {
        assert_eq!(m[key].as_str().unwrap().len(), 64, "{key}");
    }
    assert!(m["wall_clock_started_at"].as_str().unwrap().ends_with('Z'));
    assert!(m["wall_clock_finished_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(m["counts"]["ok"], 3);

    let alpha = record(&m, "notes/alpha.md");
    assert_eq!(alpha["parser_id"], "text/markdown");
    assert_eq!(alpha["parse_status"], "ok");
    assert_eq!(alpha["reason"], Value::Null);
    let bytes = std::fs::read(ws.path("notes/alpha.md")).unwrap();
    assert_eq!(alpha["size"], bytes.len());
    assert_eq!(alpha["sha256"].as_str().unwrap(), sha256(&bytes));
    assert_eq!(record(&m, "notes/sub/gamma.txt")["parser_id"], "text/plain");
    let png = record(&m, "notes/image.png");
    assert_eq!(png["parse_status"], "skipped");
    assert_eq!(png["reason"], "unsupported_extension");

    // Records are sorted by path, and the run has its snapshot and replay log.
    let paths: Vec<&str> = m["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    let run_dir = ws.store().join("runs").join(run_id);
    let snapshot: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("config-snapshot.json")).unwrap())
            .unwrap();
    assert_eq!(snapshot["active_profile"], "default");
    let log = std::fs::read_to_string(run_dir.join("replay-log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 1);
    let line: Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(line["stage"], "ingest");
    assert_eq!(line["outputs_hash"], m["outputs_hash"]);

    // The store marker, the current pointer and the trail.
    let state = ws.state();
    assert_eq!(state["schema_version"], "v3");
    assert_eq!(state["current_run"], run_id);
    assert_eq!(state["head"], 1);
    assert_eq!(state["seal"].as_str().unwrap().len(), 64);
    assert_eq!(state["runs"][run_id]["schema_version"], "v3");
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn unchanged_files_are_not_parsed_again() {
    let ws = Ws::new();
    sample_notes(&ws);
    let first = ws.json(&["ingest"]);
    assert_eq!(first["detail"]["parsed"], 3);
    let before = ws.pkg_hashes();
    let second = ws.json(&["ingest"]);
    assert_eq!(second["detail"]["parsed"], 0);
    assert_eq!(second["detail"]["outcome"], "up_to_date");
    assert_eq!(second["detail"]["run_id"], first["detail"]["run_id"]);
    assert_eq!(
        ws.pkg_hashes(),
        before,
        "a no-change ingest must not write anything"
    );

    ws.write("notes/beta.md", "# Beta\n\nBeta changed.\n");
    let third = ws.json(&["ingest"]);
    assert_eq!(third["detail"]["parsed"], 1);
    assert_eq!(third["detail"]["unchanged"], 2);
    assert_eq!(third["detail"]["outcome"], "published");
    let run = third["detail"]["run_id"].as_str().unwrap();
    let m = ws.ingest_with_records(run);
    // Records say what a file is, not how the run got to it: the same
    // whether the file was parsed again or not.
    assert_eq!(record(&m, "notes/alpha.md")["reason"], Value::Null);
    assert_eq!(record(&m, "notes/beta.md")["reason"], Value::Null);
    // The earlier run is still there, byte for byte.
    for (path, hash) in &before {
        if path.contains("/runs/") || path.contains("/objects/") {
            assert_eq!(ws.pkg_hashes().get(path), Some(hash), "{path} changed");
        }
    }
    // Reverting makes the earlier run current again without writing it anew.
    ws.write(
        "notes/beta.md",
        "# Beta\n\nBeta is short.\n\n## Details\n\nMore words here.\n",
    );
    let back = ws.json(&["ingest"]);
    assert_eq!(back["detail"]["outcome"], "reselected");
    assert_eq!(back["detail"]["run_id"], first["detail"]["run_id"]);
    assert_eq!(
        ws.current_run(),
        first["detail"]["run_id"].as_str().unwrap()
    );
    // Each event is an entry of the trail.
    assert_eq!(ws.state()["head"], 3);
}

#[test]
fn parser_settings_change_reparses_everything() {
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["ingest"]);
    ws.write("config/pkg.yaml", "profiles:\n  default:\n    ingestion:\n      chunk_tokens: 50\n      chunk_overlap_tokens: 5\n");
    let doc = ws.json(&["ingest"]);
    assert_eq!(doc["detail"]["parsed"], 3);
    assert_eq!(doc["detail"]["outcome"], "published");
}

#[test]
fn deleted_files_leave_the_new_run_only() {
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["ingest"]);
    ws.remove("notes/beta.md");
    let doc = ws.json(&["ingest"]);
    assert_eq!(doc["detail"]["ok"], 2);
    let m = ws.ingest_with_records(doc["detail"]["run_id"].as_str().unwrap());
    assert!(
        m["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["path"] != "notes/beta.md")
    );
}

#[test]
fn size_limit_and_exclude_globs() {
    let ws = Ws::new();
    ws.write(
        "config/pkg.yaml",
        "profiles:\n  default:\n    exclude_globs: ['**/drafts/**', '*.log']\n    ingestion:\n      max_file_size_bytes: 100\n",
    );
    ws.write("small.md", "# small\n");
    ws.write("big.md", "x".repeat(101));
    ws.write("drafts/secret-plan.md", "# hidden\n");
    ws.write("a/drafts/b.md", "# hidden too\n");
    ws.write("app.log", "log line\n");
    let doc = ws.json(&["ingest"]);
    let m = ws.ingest_with_records(doc["detail"]["run_id"].as_str().unwrap());
    let paths: Vec<&str> = m["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec!["big.md", "config/pkg.yaml", "small.md"]);
    let big = record(&m, "big.md");
    assert_eq!(big["parse_status"], "skipped");
    assert_eq!(big["reason"], "too_large");
    assert_eq!(big["sha256"], Value::Null, "too-large files are not read");
}

#[test]
fn documents_are_normalized_and_chunked() {
    let ws = Ws::new();
    ws.write(
        "config/pkg.yaml",
        "profiles:\n  default:\n    ingestion:\n      chunk_tokens: 4\n      chunk_overlap_tokens: 1\n",
    );
    // CRLF, a BOM and a decomposed é.
    ws.write(
        "n.md",
        "\u{feff}---\r\ntitle: Cafe\u{301}\r\n---\r\nw1 w2 w3\r\nw4 w5 w6 w7 w8 w9 w10\r\n",
    );
    let doc = ws.json(&["ingest"]);
    let documents = ws.documents(doc["detail"]["run_id"].as_str().unwrap());
    let d = &documents[0];
    assert_eq!(d["frontmatter"]["title"], "Caf\u{e9}");
    let text = d["text"].as_str().unwrap();
    assert!(!text.contains('\r') && !text.contains('\u{feff}'));
    assert_eq!(d["segments"].as_array().unwrap().len(), 2);
    let chunks = d["chunks"].as_array().unwrap();
    // 10 body tokens, windows of 4 stepping 3: [0,4) [3,7) [6,10)
    assert_eq!(chunks.len(), 3);
    let chunk_text = |c: &Value| {
        &text[c["start"].as_u64().unwrap() as usize..c["end"].as_u64().unwrap() as usize]
    };
    assert_eq!(chunk_text(&chunks[0]), "w1 w2 w3\nw4");
    assert_eq!(chunk_text(&chunks[1]), "w4 w5 w6 w7");
    assert_eq!(chunks[0]["line_start"], 4);
    assert_eq!(chunks[1]["line_start"], 5);
    assert_eq!(chunks[1]["overlap_tokens"], 1);
}

#[test]
fn store_accounting_matches_files() {
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["ingest"]);
    ws.write("notes/delta.md", "# Delta\n");
    ws.json(&["ingest"]);
    let state = ws.state();
    let mut bytes = 0;
    let mut files = 0;
    for sub in ["objects", "runs", "log"] {
        for entry in walk(&ws.store().join(sub)) {
            bytes += std::fs::metadata(&entry).unwrap().len();
            files += 1;
        }
    }
    assert_eq!(state["accounting"]["bytes"], bytes);
    assert_eq!(state["accounting"]["files"], files);
    ws.run(&["validate-store"]).ok();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn human_output_summarizes() {
    let ws = Ws::new();
    sample_notes(&ws);
    let run = ws.run(&["ingest"]).ok();
    assert!(
        run.stdout.contains("4 files (3 ok, 1 skipped, 0 failed)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("new run run_"), "{}", run.stdout);
    assert!(
        !run.stderr.contains("budget"),
        "no budget talk below the warn threshold"
    );
}

#[test]
fn failed_files_are_named_and_verbose_lists_every_skipped_one() {
    let ws = Ws::new();
    ws.write("good.md", "# Good\n");
    ws.write("bad.md", b"\xff\xfe not text".as_slice());
    ws.write("new\nline.md", b"\xff".as_slice());
    ws.write("image.png", "not parsed");

    // Failed files are warnings on stderr (also with --quiet and --json);
    // skipped ones are not, unless asked for.
    let run = ws.run(&["-q", "ingest"]).ok();
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("warning: failed: bad.md: invalid_utf8 (not valid UTF-8 at byte 0"),
        "{}",
        run.stderr
    );
    // A newline in a name is quoted, so one file never reads as two lines.
    assert!(
        run.stderr
            .contains(r#"warning: failed: "new\nline.md": invalid_utf8"#),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("image.png"), "{}", run.stderr);
    let run = ws.run(&["--json", "ingest"]).ok();
    run.json();
    assert!(run.stderr.contains("failed: bad.md"), "{}", run.stderr);

    // -v: every file that is not plainly ok, with its reason, after the summary.
    let run = ws.run(&["-v", "ingest"]).ok();
    assert!(
        run.stdout
            .contains("\n  skipped image.png: unsupported_extension"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("\n  failed  bad.md: invalid_utf8"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("good.md"), "{}", run.stdout);
    assert!(!run.stderr.contains("timing:"), "{}", run.stderr);

    // -vv: the phase timings too, on stderr only.
    let run = ws.run(&["-vv", "ingest"]).ok();
    assert!(run.stderr.contains("timing: ingest"), "{}", run.stderr);
    assert!(!run.stdout.contains("timing:"), "{}", run.stdout);
}

#[test]
fn past_twenty_failed_files_the_rest_are_counted() {
    let ws = Ws::new();
    for i in 0..23 {
        ws.write(&format!("bad{i:02}.md"), b"\xff".as_slice());
    }
    let run = ws.run(&["-q", "ingest"]).ok();
    assert_eq!(
        run.stderr.matches("warning: failed: ").count(),
        20,
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("... and 3 more failed file(s): `--verbose` names them all"),
        "{}",
        run.stderr
    );
    let run = ws.run(&["-v", "ingest"]).ok();
    assert_eq!(
        run.stderr.matches("warning: failed: ").count(),
        23,
        "{}",
        run.stderr
    );
}

#[test]
fn a_file_where_the_store_goes_is_named_with_the_way_out() {
    let ws = Ws::new();
    ws.write("a.md", "# A\n");
    ws.write(".pkg", "not a directory\n");
    let run = ws.run(&["ingest"]).code(1);
    assert!(run.stderr.contains("Not a directory"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "hint: {} is a file, not a directory: move or rename it",
            ws.path(".pkg").display()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(ws.path(".pkg")).unwrap(),
        "not a directory\n"
    );
}
