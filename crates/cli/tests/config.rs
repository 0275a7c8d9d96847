//! Configuration loading from the installed binary's point of view.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

const PYTHON_CONFIG: &str = include_str!("fixtures/python-auditgraph/pkg.yaml");

#[test]
fn python_config_loads_unchanged() {
    let ws = Ws::new();
    ws.write("config/pkg.yaml", PYTHON_CONFIG);
    ws.write("notes/a.md", "# A\n");
    ws.write("docs/b.md", "# B\n");
    ws.write("elsewhere/c.md", "# C\n");
    let run = ws.run(&["--json", "ingest"]).ok();
    assert!(!run.stderr.contains("unknown key"), "{}", run.stderr);
    let doc = run.json();
    // include_paths notes, repos, auditgraph, docs: only notes and docs exist.
    assert_eq!(doc["detail"]["ok"], 2);
    assert!(run.stderr.contains("include path 'repos' does not exist"));
}

#[test]
fn no_config_ingests_whole_root_but_not_store_git_or_node_modules() {
    let ws = Ws::new();
    ws.write("a.md", "# A\n");
    ws.write("deep/er/b.md", "# B\n");
    ws.write(".git/HEAD.md", "# git\n");
    ws.write("node_modules/pkg/readme.md", "# nm\n");
    ws.write("sub/node_modules/x.md", "# nm2\n");
    ws.json(&["ingest"]);
    ws.write(".pkg/stray.md", "# inside the store dir\n");
    let doc = ws.json(&["ingest"]);
    let run = ws.current_run();
    let manifest = ws.manifest(&run, "ingest");
    let paths: Vec<&str> = manifest["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec!["a.md", "deep/er/b.md"], "{doc}");
}

#[test]
fn unknown_keys_warn_with_path_and_position() {
    let ws = Ws::new();
    ws.write(
        "config/pkg.yaml",
        "storage:\n  footprint_budget:\n    multiplier: 3.0\n    multipler: 2\nprofiles:\n  default:\n    ingestion:\n      chunk_tokenz: 5\n",
    );
    ws.write("a.md", "# A\n");
    let run = ws.run(&["ingest"]).ok();
    assert!(
        run.stderr
            .contains("pkg.yaml:4:5: storage.footprint_budget.multipler: unknown key"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("profiles.default.ingestion.chunk_tokenz"),
        "{}",
        run.stderr
    );
}

#[test]
fn invalid_values_exit_2_with_file_line_and_column() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "storage:\n  footprint_budget:\n    multiplier: -1.5\n",
            "pkg.yaml:3:17",
            "storage.footprint_budget.multiplier",
        ),
        (
            "storage:\n  footprint_budget:\n    warn_threshold: 0.9\n    block_threshold: 0.7\n",
            "pkg.yaml:3:21",
            "warn_threshold 0.9 is above block_threshold 0.7",
        ),
        (
            "profiles:\n  default:\n    ingestion:\n      chunk_tokens: lots\n",
            "pkg.yaml:4:21",
            "profiles.default.ingestion.chunk_tokens",
        ),
        (
            "profiles:\n  default:\n    ingestion:\n      chunk_tokens: 10\n      chunk_overlap_tokens: 10\n",
            "pkg.yaml:5:29",
            "chunk_overlap_tokens 10 is not below chunk_tokens 10",
        ),
        (
            "active_profile: work\nprofiles:\n  work/x:\n    include_paths: [.]\n",
            "pkg.yaml:3:",
            "path separators",
        ),
        (
            "profiles:\n  default:\n    include_paths: ['../outside']\n",
            "pkg.yaml:3:",
            "leaves the workspace root",
        ),
        (
            "security:\n  redaction:\n    detectors: [nope]\n",
            "pkg.yaml:3:",
            "unknown detector 'nope'",
        ),
        ("storage: [1, 2\n", "pkg.yaml:", "not valid YAML"),
        ("- just\n- a list\n", "pkg.yaml:1:1", "not a mapping"),
    ];
    for (yaml, position, text) in cases {
        let ws = Ws::new();
        ws.write("config/pkg.yaml", yaml);
        let run = ws.run(&["ingest"]).code(2);
        assert!(run.stderr.contains(position), "{yaml}\n=> {}", run.stderr);
        assert!(run.stderr.contains(text), "{yaml}\n=> {}", run.stderr);
        assert!(run.stderr.contains("expected"), "{}", run.stderr);
        assert!(
            !ws.path(".pkg").exists(),
            "a rejected config must not create a store"
        );
    }
}

#[test]
fn unknown_profile_is_a_usage_error() {
    let ws = Ws::new();
    ws.write("a.md", "# A\n");
    let run = ws.run(&["--profile", "nope", "ingest"]).code(2);
    assert!(
        run.stderr.contains("unknown profile 'nope'"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("default"), "{}", run.stderr);
    ws.write("config/pkg.yaml", "active_profile: missing\n");
    ws.run(&["ingest"]).code(2);
}

#[test]
fn json_config_via_flag_and_env() {
    let ws = Ws::new();
    ws.write("a.md", "# A\n");
    ws.write("b.txt", "b\n");
    ws.write(
        "cfg.json",
        r#"{"profiles": {"default": {"ingestion": {"allowed_extensions": [".md"]}}}}"#,
    );
    let cfg = ws.path("cfg.json");
    let doc = ws.json(&["--config", cfg.to_str().unwrap(), "ingest"]);
    assert_eq!(doc["detail"]["ok"], 1);
    assert_eq!(doc["detail"]["skipped"], 2);
    let run = ws.run_env(
        &["--json", "ingest"],
        &[("AUDITGRAPH_CONFIG", cfg.to_str().unwrap())],
    );
    assert_eq!(run.ok().json()["detail"]["ok"], 1);
    ws.run(&["--config", "/nonexistent/pkg.yaml", "ingest"])
        .code(2);
}

#[test]
fn profiles_have_separate_stores() {
    let ws = Ws::new();
    ws.write(
        "config/pkg.yaml",
        "profiles:\n  default:\n    include_paths: [a]\n  work:\n    include_paths: [b]\n",
    );
    ws.write("a/x.md", "# X\n");
    ws.write("b/y.md", "# Y\n");
    ws.json(&["ingest"]);
    ws.json(&["--profile", "work", "ingest"]);
    assert!(ws.path(".pkg/profiles/default/store.json").is_file());
    assert!(ws.path(".pkg/profiles/work/store.json").is_file());
    let work: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.path(".pkg/profiles/work/store.json")).unwrap())
            .unwrap();
    assert_ne!(work["current_run"], ws.state()["current_run"]);
}
