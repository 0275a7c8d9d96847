//! `version`, `init`, global flags and exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

#[test]
fn version_prints_one_line() {
    let run = Ws::new().run(&["version"]).ok();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(run.stdout, format!("auditgraph {version}\n"));
    let flag: Run = command().arg("--version").output().unwrap().into();
    assert_eq!(flag.code, 0);
    assert_eq!(flag.stdout, format!("auditgraph {version}\n"));
}

#[test]
fn version_json_has_schema_and_target() {
    let doc = Ws::new().json(&["version"]);
    assert_eq!(doc["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["schema_version"], "v2");
    assert_eq!(doc["readable_schema_versions"], serde_json::json!(["v2"]));
    let target = doc["target"].as_str().unwrap();
    assert!(
        target.contains("linux") || target.contains("darwin"),
        "{target}"
    );
    assert!(doc.get("commit").is_some());
}

#[test]
fn usage_errors_exit_2() {
    let ws = Ws::new();
    ws.run(&["no-such-command"]).code(2);
    ws.run(&["ingest", "--no-such-flag"]).code(2);
}

#[test]
fn init_writes_commented_defaults_and_is_idempotent() {
    let ws = Ws::new();
    let first = ws.json(&["init"]);
    assert_eq!(first["created"].as_array().unwrap().len(), 2, "{first}");
    let config = std::fs::read_to_string(ws.path("config/pkg.yaml")).unwrap();
    for key in [
        "pkg_root",
        "active_profile",
        "pipeline_version",
        "redaction",
        "footprint_budget",
        "multiplier: 3.0",
        "warn_threshold: 0.8",
        "block_threshold: 1.0",
        "include_paths",
        "exclude_globs",
        "allowed_extensions",
        "max_file_size_bytes",
        "chunk_tokens: 200",
        "chunk_overlap_tokens: 40",
        "ocr_mode",
        "frontmatter_schema",
    ] {
        assert!(config.contains(key), "init config lacks {key}");
    }
    assert!(
        config
            .lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .count()
            > 10
    );
    assert!(ws.store().join("store.json").is_file());

    let before = ws.pkg_hashes();
    let second = ws.json(&["init"]);
    assert_eq!(second["created"], serde_json::json!([]));
    assert_eq!(ws.pkg_hashes(), before, "a second init changed the store");

    // An edited config is never overwritten.
    ws.write("config/pkg.yaml", "active_profile: default\n");
    ws.run(&["init"]).ok();
    assert_eq!(
        std::fs::read_to_string(ws.path("config/pkg.yaml")).unwrap(),
        "active_profile: default\n"
    );
}

#[test]
fn root_comes_from_env_when_no_flag() {
    let ws = Ws::new();
    sample_notes(&ws);
    let run: Run = command()
        .env("AUDITGRAPH_ROOT", ws.root())
        .args(["--json", "ingest"])
        .output()
        .unwrap()
        .into();
    let doc = run.ok().json();
    assert_eq!(doc["detail"]["ok"], 3);
}

#[test]
fn json_errors_are_documents_on_stdout() {
    let ws = Ws::new();
    let run = ws.run(&["--json", "--profile", "a/b", "ingest"]).code(2);
    let doc = run.json();
    assert_eq!(doc["status"], "error");
    assert!(doc["message"].as_str().unwrap().contains("a/b"));
    assert!(run.stderr.contains("error:"));
}

#[test]
fn quiet_suppresses_human_output() {
    let ws = Ws::new();
    sample_notes(&ws);
    let run = ws.run(&["-q", "ingest"]).ok();
    assert_eq!(run.stdout, "");
}
