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
    let manifest = ws.ingest_with_records(&run);
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

/// Runs `ingest` with `--config <ws>/<name>` holding `yaml`; expects exit 2.
fn rejected(ws: &Ws, name: &str, yaml: &str, extra: &[&str]) -> Run {
    ws.write(name, yaml);
    let cfg = ws.path(name);
    let mut args = vec!["--config", cfg.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push("ingest");
    let run = ws.run(&args).code(2);
    assert!(
        !ws.path(".pkg").exists(),
        "a rejected config must not create a store"
    );
    run
}

#[test]
fn unknown_active_profile_names_file_line_column_and_expected_form() {
    for yaml in [
        "active_profile: nope\nprofiles:\n  default:\n    include_paths: [\".\"]\n",
        // Without `profiles:` the only profile is the built-in default.
        "active_profile: nope\n",
    ] {
        let ws = Ws::new();
        ws.write("a.md", "# A\n");
        let run = rejected(&ws, "c.yaml", yaml, &[]);
        let err = &run.stderr;
        assert!(
            err.contains("c.yaml:1:17: active_profile:"),
            "{yaml}\n=> {err}"
        );
        assert!(err.contains("unknown profile 'nope'"), "{err}");
        assert!(
            err.contains("expected one of the configured profile names (default)"),
            "{err}"
        );
        assert!(err.contains("`nope:` entry"), "{err}");
        // The fault is in the file, not in a flag.
        assert!(!err.contains("--profile"), "{err}");
    }
    // No active_profile, and no `default` profile: point at `profiles`.
    let ws = Ws::new();
    let run = rejected(
        &ws,
        "c.yaml",
        "pkg_root: .\nprofiles:\n  work:\n    include_paths: [.]\n",
        &[],
    );
    assert!(
        run.stderr.contains("c.yaml:2:1: active_profile:"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("defines only: work"), "{}", run.stderr);
    // An explicit --profile that exists still wins over a stale active_profile.
    ws.write(
        "c.yaml",
        "active_profile: gone\nprofiles:\n  work:\n    include_paths: [.]\n",
    );
    let cfg = ws.path("c.yaml");
    ws.run(&[
        "--config",
        cfg.to_str().unwrap(),
        "--profile",
        "work",
        "ingest",
    ])
    .ok();
}

#[test]
fn unknown_or_invalid_profile_flag_blames_the_flag() {
    let cases: &[(Option<&str>, &str, &str)] = &[
        (None, "nope", "unknown profile 'nope'"),
        (
            None,
            "a/b",
            "invalid profile name 'a/b': must not contain path separators",
        ),
        (
            Some("profiles:\n  default: {}\n  work: {}\n"),
            "nope",
            "unknown profile 'nope'",
        ),
        (
            Some("profiles:\n  default: {}\n  work: {}\n"),
            "a/b",
            "invalid profile name 'a/b'",
        ),
    ];
    for (config, flag, message) in cases {
        let ws = Ws::new();
        ws.write("a.md", "# A\n");
        let configured = match config {
            Some(yaml) => {
                ws.write("config/pkg.yaml", yaml);
                "default, work"
            }
            None => "default",
        };
        let run = ws.run(&["--profile", flag, "ingest"]).code(2);
        let err = &run.stderr;
        assert!(err.contains(message), "{flag}: {err}");
        assert!(
            err.contains("the --profile flag names a profile the configuration does not define"),
            "{flag}: {err}"
        );
        assert!(
            err.contains(&format!(
                "pass one of the configured profiles ({configured})"
            )),
            "{flag}: {err}"
        );
        assert!(err.contains("to add a profile"), "{flag}: {err}");
        match config {
            Some(_) => assert!(err.contains("under `profiles:` in "), "{err}"),
            None => assert!(err.contains("auditgraph init --profile"), "{err}"),
        }
        assert!(!err.contains("fix the configuration file"), "{flag}: {err}");
        let doc = ws
            .run(&["--json", "--profile", flag, "ingest"])
            .code(2)
            .json();
        assert_eq!(doc["profile"], *flag, "{doc}");
        assert!(doc["configured_profiles"].is_array(), "{doc}");
    }
}

#[test]
fn bad_profile_names_are_reported_at_their_own_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "profiles:\n  \"..\":\n    include_paths: [\".\"]\n",
            "c.yaml:2:3: profiles.\"..\": profile name '..' must not start with '.'",
            "",
        ),
        (
            "profiles:\n  default: {}\n  \".hidden\": {}\n",
            "c.yaml:3:3: profiles.\".hidden\": profile name '.hidden'",
            "",
        ),
        (
            // A valid name with a dot: its problems are found under it.
            "profiles:\n  default: {}\n  v1.2:\n    include_paths: ['../x']\n",
            "c.yaml:4:21: profiles.\"v1.2\".include_paths[0]: include path '../x'",
            "",
        ),
    ];
    for (yaml, located, _) in cases {
        let ws = Ws::new();
        let run = rejected(&ws, "c.yaml", yaml, &[]);
        assert!(run.stderr.contains(located), "{yaml}\n=> {}", run.stderr);
        assert!(run.stderr.contains("expected "), "{}", run.stderr);
    }
    // Unknown keys under a profile whose name holds a dot are located too.
    let ws = Ws::new();
    ws.write("a.md", "# A\n");
    ws.write(
        "c.yaml",
        "active_profile: v1.2\nprofiles:\n  v1.2:\n    ingestion:\n      chunk_tokenz: 5\n",
    );
    let cfg = ws.path("c.yaml");
    let run = ws.run(&["--config", cfg.to_str().unwrap(), "ingest"]).ok();
    assert!(
        run.stderr
            .contains("c.yaml:5:7: profiles.\"v1.2\".ingestion.chunk_tokenz: unknown key"),
        "{}",
        run.stderr
    );
}

#[test]
fn config_that_is_a_directory_says_so() {
    let ws = Ws::new();
    ws.write("a.md", "# A\n");
    std::fs::create_dir_all(ws.path("confdir")).unwrap();
    let dir = ws.path("confdir");
    let run = ws
        .run(&["--config", dir.to_str().unwrap(), "ingest"])
        .code(2);
    assert!(
        run.stderr.contains("confdir is a directory, not a file"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("--config (and AUDITGRAPH_CONFIG) take the path of a YAML or JSON file"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("does not exist"), "{}", run.stderr);
    // The default location as a directory is not silently ignored either.
    std::fs::create_dir_all(ws.path("config/pkg.yaml")).unwrap();
    let run = ws.run(&["ingest"]).code(2);
    assert!(
        run.stderr
            .contains("pkg.yaml: it is a directory, not a file"),
        "{}",
        run.stderr
    );
    assert!(!ws.path(".pkg").exists());
    // A missing file says where the path came from.
    let run = ws
        .run(&["--config", "/nonexistent/pkg.yaml", "ingest"])
        .code(2);
    assert!(
        run.stderr
            .contains("does not exist; check the path given to --config"),
        "{}",
        run.stderr
    );
}

#[test]
fn non_finite_numbers_name_the_key_and_the_expected_form() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "storage: {footprint_budget: {multiplier: .nan}}\n",
            "c.yaml:1:42: storage.footprint_budget.multiplier: `.nan` is not a finite number",
            "expected a finite positive number such as 3.0",
        ),
        (
            "storage:\n  footprint_budget:\n    multiplier: 1e400\n",
            "c.yaml:3:17: storage.footprint_budget.multiplier: `1e400` is not a finite number",
            "expected a finite positive number such as 3.0",
        ),
        (
            "storage:\n  footprint_budget:\n    warn_threshold: -.inf\n",
            "c.yaml:3:21: storage.footprint_budget.warn_threshold: `-.inf` is not a finite number",
            "expected a finite positive number such as 0.8",
        ),
        (
            "{\"profiles\": {\"default\": {\"search\": {\"ranking\": {\"w_kw\": 1e999}}}}}\n",
            "c.yaml:1:58: profiles.default.search.ranking.w_kw: `1e999` is not a finite number",
            "expected a finite number such as 1.0",
        ),
    ];
    for (yaml, located, expected) in cases {
        let ws = Ws::new();
        let run = rejected(&ws, "c.yaml", yaml, &[]);
        assert!(run.stderr.contains(located), "{yaml}\n=> {}", run.stderr);
        assert!(run.stderr.contains(expected), "{yaml}\n=> {}", run.stderr);
        assert!(!run.stderr.contains("mapping"), "{}", run.stderr);
    }
}

#[test]
fn comment_only_config_is_the_defaults() {
    for text in [
        "# nothing here\n",
        "\n  # indented\n\n# two\n",
        "---\n# marker\n...\n",
    ] {
        let ws = Ws::new();
        ws.write("a.md", "# A\n");
        ws.write("config/pkg.yaml", text);
        let run = ws.run(&["--json", "ingest"]).ok();
        assert_eq!(run.json()["detail"]["ok"], 1, "{text:?}");
        assert!(run.stderr.is_empty(), "{text:?}: {}", run.stderr);
    }
    // A document that holds a value is still not a configuration.
    let ws = Ws::new();
    let run = rejected(&ws, "c.yaml", "# a comment\nnull\n", &[]);
    assert!(run.stderr.contains("not a mapping"), "{}", run.stderr);
}
