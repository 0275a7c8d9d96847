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
    assert_eq!(doc["schema_version"], "v3");
    assert_eq!(doc["readable_schema_versions"], serde_json::json!(["v3"]));
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
fn argument_errors_with_json_are_documents_too() {
    let ws = Ws::new();
    let run = ws.run(&["--json", "no-such-command"]).code(2);
    let doc = run.json();
    assert_eq!(doc["status"], "error");
    assert_eq!(doc["code"], "usage_error");
    assert_eq!(doc["message"], "unrecognized subcommand 'no-such-command'");
    assert!(
        run.stderr.contains("error: unrecognized subcommand"),
        "{}",
        run.stderr
    );
    let doc = ws
        .run(&["ingest", "--no-such-flag", "--json"])
        .code(2)
        .json();
    assert!(
        doc["message"].as_str().unwrap().contains("--no-such-flag"),
        "{doc}"
    );
    // Without --json, stdout stays empty.
    assert!(ws.run(&["no-such-command"]).code(2).stdout.is_empty());
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
fn init_with_a_profile_sets_that_profile_up() {
    let ws = Ws::new();
    let doc = ws.json(&["init", "--profile", "work"]);
    assert_eq!(doc["profile"], "work");
    let config = std::fs::read_to_string(ws.path("config/pkg.yaml")).unwrap();
    assert!(config.contains("active_profile: \"work\""), "{config}");
    assert!(ws.path(".pkg/profiles/work/store.json").is_file());
    // The written configuration makes `work` the default from now on.
    ws.write("a.md", "# A\n");
    assert_eq!(ws.json(&["ingest"])["detail"]["profile"], "work");
    assert_eq!(
        ws.json(&["init", "--profile", "work"])["created"],
        serde_json::json!([])
    );

    // A name that cannot be a profile is refused before anything is written.
    let ws = Ws::new();
    let run = ws.run(&["init", "--profile", "a/b"]).code(2);
    assert!(run.stderr.contains("--profile 'a/b'"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
    assert!(!ws.path("config").exists());
    assert!(!ws.path(".pkg").exists());
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
