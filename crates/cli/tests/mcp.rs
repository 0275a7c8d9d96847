//! `auditgraph mcp` driven end to end by the official Python MCP client
//! (PyPI `mcp`, installed into `.venv` by `scripts/test`): every read tool
//! answers as the CLI's `--json` for the same request, cited chunks read
//! back as resources whose SHA-256 checks out, refusals carry the CLI's
//! guidance, oversized inputs are refused without being echoed, and a run
//! published while the server serves is picked up.
//!
//! Python comes from `AUDITGRAPH_TEST_PYTHON` (the `.venv` of
//! `scripts/test`), else `.venv/bin/python` of the workspace, else
//! `python3`. Without the `mcp` module the test prints a note and passes,
//! unless `AUDITGRAPH_REQUIRE_TEST_TOOLS=1` (set by `scripts/test`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/client.py");

/// A Python interpreter with the `mcp` client, or `None` after a note.
fn python_with_mcp() -> Option<String> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    let candidates = [
        std::env::var("AUDITGRAPH_TEST_PYTHON").ok(),
        venv.exists().then(|| venv.display().to_string()),
        Some("python3".to_string()),
    ];
    for python in candidates.into_iter().flatten().filter(|p| !p.is_empty()) {
        let ok = Command::new(&python)
            .args(["-c", "import mcp.client.stdio"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    if std::env::var("AUDITGRAPH_REQUIRE_TEST_TOOLS").is_ok_and(|v| v == "1") {
        panic!(
            "the Python MCP client is required (AUDITGRAPH_REQUIRE_TEST_TOOLS=1) but not available; scripts/test installs it"
        );
    }
    eprintln!(
        "note: skipping: no Python with the `mcp` package (scripts/test installs it into .venv)"
    );
    None
}

/// Runs the client against `auditgraph --root <ws> mcp` with `plan`.
fn drive(python: &str, ws: &Ws, plan: &Value) -> Value {
    let plan_file = ws.path(".mcp-plan.json");
    std::fs::write(&plan_file, serde_json::to_vec(plan).unwrap()).unwrap();
    let out = Command::new(python)
        .arg(CLIENT)
        .arg(BIN)
        .arg(ws.root())
        .arg(&plan_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the MCP client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the MCP client printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn sha256(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(bytes.as_ref()))
}

/// The sample notes, run twice (an edit between) so that `diff` has two
/// runs to compare.
fn workspace() -> Ws {
    let ws = Ws::new();
    sample_notes(&ws);
    ws.run(&["run"]).ok();
    ws.write(
        "notes/beta.md",
        "# Beta\n\nBeta is short and uses `postgres` too.\n\n## Details\n\nMore words here, see [alpha](alpha.md).\n",
    );
    ws.run(&["run"]).ok();
    ws
}

#[test]
fn every_read_tool_answers_as_the_cli_json() {
    let Some(python) = python_with_mcp() else {
        return;
    };
    let ws = workspace();
    let hits = ws.json(&["query", "--q", "postgres"]);
    let note_of = |path: &str| {
        hits["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == "ag:note" && r["source_path"] == path)
            .unwrap_or_else(|| panic!("no note of {path} in {hits:#}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (alpha, beta) = (note_of("notes/alpha.md"), note_of("notes/beta.md"));
    let snippet = hits["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["snippets"].as_array().unwrap().iter())
        .find(|s| s["source_path"] == "notes/alpha.md")
        .unwrap()
        .clone();
    let chunk = snippet["chunk_id"].as_str().unwrap().to_string();
    let document = snippet["document_id"].as_str().unwrap().to_string();

    // (tool, arguments, the same request on the command line)
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("version", json!({}), vec!["version"]),
        ("status", json!({}), vec!["status"]),
        ("runs", json!({}), vec!["runs"]),
        (
            "query",
            json!({"q": "postgres"}),
            vec!["query", "--q", "postgres"],
        ),
        (
            "query",
            json!({"q": "beta details", "type": ["ag:section", "ag:note"], "limit": 2, "offset": 1}),
            vec![
                "query",
                "--q",
                "beta details",
                "--type",
                "ag:section",
                "--type",
                "ag:note",
                "--limit",
                "2",
                "--offset",
                "1",
            ],
        ),
        ("list", json!({}), vec!["list"]),
        ("list", json!({"count": true}), vec!["list", "--count"]),
        (
            "list",
            json!({"group_by": "type"}),
            vec!["list", "--group-by", "type"],
        ),
        (
            "list",
            json!({"type": ["ag:section"], "sort": "name", "desc": true, "limit": 5}),
            vec![
                "list",
                "--type",
                "ag:section",
                "--sort",
                "name",
                "--desc",
                "--limit",
                "5",
            ],
        ),
        (
            "list",
            json!({"where": ["name~a"], "limit": 3}),
            vec!["list", "--where", "name~a", "--limit", "3"],
        ),
        ("node", json!({"id": alpha}), vec!["node", &alpha]),
        ("node", json!({"id": chunk}), vec!["node", &chunk]),
        ("node", json!({"id": document}), vec!["node", &document]),
        (
            "neighbors",
            json!({"id": alpha, "depth": 2}),
            vec!["neighbors", &alpha, "--depth", "2"],
        ),
        (
            "neighbors",
            json!({"id": beta, "edge_type": ["mentions_technology"], "limit": 1}),
            vec![
                "neighbors",
                &beta,
                "--edge-type",
                "mentions_technology",
                "--limit",
                "1",
            ],
        ),
        (
            "why_connected",
            json!({"from": alpha, "to": beta}),
            vec!["why-connected", "--from", &alpha, "--to", &beta],
        ),
        ("diff", json!({}), vec!["diff"]),
        ("diff", json!({"limit": 1}), vec!["diff", "--limit", "1"]),
    ];
    let plan = json!({
        "calls": cases.iter().map(|(tool, args, _)| json!({"tool": tool, "arguments": args})).collect::<Vec<_>>(),
        "resources": [
            format!("auditgraph://chunk/{chunk}"),
            format!("auditgraph://document/{document}"),
        ],
    });
    let got = drive(&python, &ws, &plan);

    assert_eq!(got["server"]["name"], "auditgraph");
    let mut names: Vec<&str> = got["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "diff",
            "list",
            "neighbors",
            "node",
            "query",
            "runs",
            "status",
            "version",
            "why_connected"
        ],
        "without --allow-writes, no write tool"
    );
    for tool in got["tools"].as_array().unwrap() {
        let a = &tool["annotations"];
        assert_eq!(a["read_only_hint"], true, "{tool}");
        assert_eq!(a["idempotent_hint"], true, "{tool}");
        assert_eq!(a["destructive_hint"], false, "{tool}");
        assert_eq!(tool["input_schema"]["type"], "object", "{tool}");
    }
    let query_schema = &got["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "query")
        .unwrap()["input_schema"];
    assert_eq!(query_schema["additionalProperties"], false);
    assert_eq!(query_schema["properties"]["q"]["maxLength"], 1024);
    assert_eq!(
        got["templates"],
        json!([
            "auditgraph://chunk/{chunk_id}",
            "auditgraph://document/{document_id}"
        ])
    );
    assert_eq!(got["resources"], json!([]));

    for ((tool, args, cli), answer) in cases.iter().zip(got["calls"].as_array().unwrap()) {
        let expected = ws.json(cli);
        assert_eq!(answer["is_error"], false, "{tool} {args}: {answer:#}");
        assert_eq!(
            answer["structured"],
            expected,
            "{tool} {args} differs from `auditgraph --json {}`",
            cli.join(" ")
        );
        // The text content holds the same document, for clients without
        // structured content.
        let text: Value = serde_json::from_str(answer["text"][0].as_str().unwrap()).unwrap();
        assert_eq!(text, expected, "{tool} {args}");
    }

    // The chunk a hit cites, verbatim, with provenance that checks out:
    // the text's SHA-256, and the source file's SHA-256 on disk.
    let read = &got["reads"][0][0];
    assert_eq!(read["uri"], format!("auditgraph://chunk/{chunk}"));
    assert_eq!(read["mime_type"], "text/plain");
    let text = read["text"].as_str().unwrap();
    assert!(text.contains("Alpha talks about `postgres`"), "{text}");
    let meta = &read["meta"];
    assert_eq!(meta["text_sha256"], sha256(text));
    assert_eq!(
        meta["source_sha256"],
        sha256(std::fs::read(ws.path("notes/alpha.md")).unwrap())
    );
    assert_eq!(meta["source_sha256"], snippet["source_hash"]);
    assert_eq!(meta["source_path"], "notes/alpha.md");
    assert_eq!(meta["line_start"], snippet["line_start"]);
    assert_eq!(meta["line_end"], snippet["line_end"]);
    assert_eq!(meta["document_id"], document);
    // The whole document.
    let doc = &got["reads"][1][0];
    let doc_text = doc["text"].as_str().unwrap();
    assert!(doc_text.contains(text), "{doc_text}");
    assert_eq!(doc["meta"]["text_sha256"], sha256(doc_text));
    assert_eq!(doc["meta"]["source_path"], "notes/alpha.md");
}

/// The error of call `i`: (JSON-RPC code, message, data).
fn error_of(got: &Value, i: usize) -> (i64, String, Value) {
    let err = &got["calls"][i]["error"];
    assert!(
        err.is_object(),
        "call {i} did not fail: {:#}",
        got["calls"][i]
    );
    (
        err["code"].as_i64().unwrap(),
        err["message"].as_str().unwrap().to_string(),
        err["data"].clone(),
    )
}

#[test]
fn refusals_carry_the_cli_guidance_and_oversized_inputs_are_refused() {
    let Some(python) = python_with_mcp() else {
        return;
    };
    let ws = workspace();
    let secret = "hunter2-not-for-echo";
    let plan = json!({
        "calls": [
            {"tool": "node", "arguments": {"id": "ent_0000"}},
            {"tool": "query", "arguments": {"q": secret.repeat(100)}},
            {"tool": "neighbors", "arguments": {"id": "ent_0000", "depth": 1000}},
            {"tool": "list", "arguments": {"limit": 1_000_000}},
            {"tool": "list", "arguments": {"type": vec!["ag:note"; 40]}},
            {"tool": "query", "arguments": {"q": "x", "bogus": secret}},
            {"tool": "list", "arguments": {"where": ["no operator here"]}},
            {"tool": "query", "arguments": {"q": "x", "limit": secret}},
        ],
        "resources": [
            format!("auditgraph://chunk/{secret}"),
            format!("auditgraph://chunk/chk_{}", "0".repeat(24)),
        ],
    });
    let got = drive(&python, &ws, &plan);

    // Not found: the CLI's error document, as the error's data.
    let (code, message, data) = error_of(&got, 0);
    let cli = ws.run(&["--json", "node", "ent_0000"]).code(1).json();
    assert_eq!(code, -32602);
    assert_eq!(data, cli);
    assert_eq!(message, cli["message"]);

    // Oversized inputs: refused with the field and the bound, never the value.
    for (i, field) in [(1, "q"), (2, "depth"), (3, "limit"), (4, "type")] {
        let (code, message, data) = error_of(&got, i);
        assert_eq!(code, -32602, "{message}");
        assert_eq!(data["code"], "invalid_input", "{message}");
        assert_eq!(data["field"], field, "{message}");
        assert!(!message.contains(secret), "{message}");
    }
    // An unknown field, or a value of the wrong type, is refused naming
    // the field, not quoting the value.
    for (i, field) in [(5, "unknown field `bogus`"), (7, "`limit`")] {
        let (code, message, data) = error_of(&got, i);
        assert_eq!(code, -32602, "{message}");
        assert_eq!(data["code"], "invalid_input", "{message}");
        assert!(message.contains(field), "{message}");
        assert!(!message.contains(secret), "{message}");
    }
    // A bad predicate: the core's message, as the CLI gives it.
    let (code, _, data) = error_of(&got, 6);
    let cli = ws
        .run(&["--json", "list", "--where", "no operator here"])
        .code(2)
        .json();
    assert_eq!(code, -32602);
    assert_eq!(data, cli);

    // Resources: a malformed URI is refused without echo; an unknown chunk
    // is not found.
    let bad = got["reads"][0]["error"].to_string();
    assert!(bad.contains("invalid_input"), "{bad}");
    assert!(!bad.contains(secret), "{bad}");
    let missing = &got["reads"][1]["error"];
    assert_eq!(missing["data"]["code"], "not_found", "{missing}");
}

#[test]
fn a_run_published_while_serving_is_picked_up() {
    let Some(python) = python_with_mcp() else {
        return;
    };
    let ws = workspace();
    let new_note: PathBuf = ws.path("notes/zeta.md");
    let plan = json!({
        "calls": [
            {"tool": "query", "arguments": {"q": "zebrafish"}},
            {"write": [new_note, "# Zeta\n\nAll about the zebrafish.\n"]},
            {"command": [BIN, "--root", ws.root(), "run", "--quiet"]},
            {"tool": "query", "arguments": {"q": "zebrafish"}},
            {"tool": "runs", "arguments": {}},
        ],
        "resources": [],
    });
    let got = drive(&python, &ws, &plan);
    assert_eq!(got["calls"][0]["structured"]["total_count"], 0);
    let after = &got["calls"][3]["structured"];
    assert!(after["total_count"].as_u64().unwrap() > 0, "{after:#}");
    assert_eq!(after, &ws.json(&["query", "--q", "zebrafish"]));
    assert_eq!(got["calls"][4]["structured"], ws.json(&["runs"]));
}

#[test]
fn a_store_that_needs_a_rebuild_gets_the_cli_guidance() {
    let Some(python) = python_with_mcp() else {
        return;
    };
    let ws = fixture_ws("python-v1-workspace");
    let plan = json!({
        "calls": [
            {"tool": "query", "arguments": {"q": "anything"}},
            {"tool": "status", "arguments": {}},
        ],
        "resources": [],
    });
    let got = drive(&python, &ws, &plan);
    let cli = ws
        .run(&["--json", "query", "--q", "anything"])
        .code(3)
        .json();
    let (code, message, data) = error_of(&got, 0);
    assert_eq!(code, -32000);
    assert_eq!(data["code"], "rebuild_required");
    assert_eq!(data, cli);
    assert_eq!(message, cli["message"]);
    // `status` describes such a store rather than refusing it.
    assert_eq!(got["calls"][1]["structured"], ws.json(&["status"]));
}

#[test]
fn requests_during_a_concurrent_run_are_answered_from_a_consistent_run() {
    let Some(python) = python_with_mcp() else {
        return;
    };
    let ws = workspace();
    let before = ws.json(&["query", "--q", "postgres zebrafish"]);
    for i in 0..30 {
        ws.write(
            &format!("notes/more/zeta{i}.md"),
            format!("# Zeta {i}\n\nThe zebrafish {i} and `postgres`.\n"),
        );
    }
    let query = json!({"tool": "query", "arguments": {"q": "postgres zebrafish"}});
    let mut calls = vec![json!({"spawn": [BIN, "--root", ws.root(), "run", "--quiet"]})];
    calls.extend(std::iter::repeat_n(query.clone(), 40));
    calls.push(json!({"wait": true}));
    calls.push(query);
    let got = drive(&python, &ws, &json!({"calls": calls, "resources": []}));
    let after = ws.json(&["query", "--q", "postgres zebrafish"]);
    assert_ne!(before, after);
    let answers: Vec<&Value> = got["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c.is_null())
        .collect();
    assert_eq!(answers.len(), 41);
    for answer in &answers {
        let doc = &answer["structured"];
        assert!(
            *doc == before || *doc == after,
            "an answer is neither the run before nor the run after: {answer:#}"
        );
    }
    assert_eq!(answers[40]["structured"], after);
    let from_before = answers.iter().filter(|a| a["structured"] == before).count();
    eprintln!(
        "{from_before} answer(s) from the run before, {} from the run after",
        answers.len() - from_before
    );
}

#[test]
fn the_write_tools_are_offered_only_with_allow_writes() {
    let Some(python) = python_with_mcp() else {
        return;
    };
    let ws = workspace();
    let run = json!({"tool": "run", "arguments": {}});
    let before = ws.pkg_hashes();
    let got = drive(&python, &ws, &json!({"calls": [run], "resources": []}));
    assert!(!got["tools"].to_string().contains("\"run\""));
    assert!(!got["tools"].to_string().contains("\"export\""));
    assert!(!got["tools"].to_string().contains("\"rebuild\""));
    assert!(
        got["calls"][0]["error"].is_object(),
        "{:#}",
        got["calls"][0]
    );
    assert_eq!(ws.pkg_hashes(), before, "a refused write wrote");

    ws.write("notes/zeta.md", "# Zeta\n\nAll about the zebrafish.\n");
    let got = drive(
        &python,
        &ws,
        &json!({
            "calls": [
                run,
                {"tool": "query", "arguments": {"q": "zebrafish"}},
                {"tool": "export", "arguments": {"format": "graphml", "output": "exports/g.graphml"}},
                {"tool": "export", "arguments": {"output": "/tmp/elsewhere.json"}},
                {"tool": "export", "arguments": {"output": "exports/../config/pkg.yaml"}},
            ],
            "resources": [],
            "server_args": ["--allow-writes"],
        }),
    );
    let tool = got["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "run")
        .expect("run is offered with --allow-writes");
    assert_eq!(tool["annotations"]["read_only_hint"], false);
    assert_eq!(tool["annotations"]["destructive_hint"], false);
    let doc = &got["calls"][0]["structured"];
    assert_eq!(doc["stage"], "run", "{:#}", got["calls"][0]);
    assert_eq!(doc["detail"]["outcome"], "published");
    let status = ws.json(&["status"]);
    assert_eq!(doc["detail"]["run_id"], status["current_run"]);
    assert_eq!(doc["seal"], status["seal"]);
    // The same document as `auditgraph run --json` (which now finds the
    // run up to date: the same run, nothing parsed).
    let again = ws.json(&["run"]);
    assert_eq!(again["detail"]["outcome"], "up_to_date");
    assert_eq!(again["detail"]["run_id"], doc["detail"]["run_id"]);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(doc), keys(&again));
    assert_eq!(keys(&doc["detail"]), keys(&again["detail"]));
    assert!(
        got["calls"][1]["structured"]["total_count"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn the_write_tools_refuse_a_store_that_needs_a_rebuild_and_rebuild_is_the_way_out() {
    let Some(python) = python_with_mcp() else {
        return;
    };
    let ws = fixture_ws("python-v1-workspace");
    let before = ws.pkg_hashes();
    let got = drive(
        &python,
        &ws,
        &json!({
            "calls": [{"tool": "run", "arguments": {}}],
            "resources": [],
            "server_args": ["--allow-writes"],
        }),
    );
    let (code, message, data) = error_of(&got, 0);
    assert_eq!(ws.pkg_hashes(), before, "a refused run wrote");
    let cli = ws.run(&["--json", "run"]).code(3).json();
    assert_eq!(code, -32000);
    assert_eq!(data, cli);
    assert_eq!(message, cli["message"]);
    assert_eq!(ws.pkg_hashes(), before);

    // The write tool `rebuild` is the way out the guidance names: a fresh
    // run, and every file that was there stays as it was.
    let got = drive(
        &python,
        &ws,
        &json!({
            "calls": [{"tool": "rebuild", "arguments": {}}],
            "resources": [],
            "server_args": ["--allow-writes"],
        }),
    );
    let doc = &got["calls"][0]["structured"];
    assert_eq!(doc["stage"], "rebuild", "{:#}", got["calls"][0]);
    assert_eq!(doc["detail"]["outcome"], "published");
    assert_eq!(doc["detail"]["run_id"], ws.json(&["status"])["current_run"]);
    let after = ws.pkg_hashes();
    for (path, hash) in &before {
        assert_eq!(after.get(path), Some(hash), "{path} changed");
    }
}

#[test]
fn git_tools_answer_as_the_cli_when_the_profile_has_git_provenance() {
    let Some(python) = python_with_mcp() else {
        return;
    };
    // Without git provenance, no git tool.
    let plain = workspace();
    let got = drive(&python, &plain, &json!({"calls": [], "resources": []}));
    assert!(!got["tools"].to_string().contains("git_who"));

    let ws = Ws::new();
    let home = tempfile::tempdir().unwrap();
    let git = |args: &[&str], who: (&str, &str), date: &str| {
        let out = git_cmd(ws.root(), home.path())
            .args(args)
            .env("GIT_AUTHOR_NAME", who.0)
            .env("GIT_AUTHOR_EMAIL", who.1)
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_NAME", who.0)
            .env("GIT_COMMITTER_EMAIL", who.1)
            .env("GIT_COMMITTER_DATE", date)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ada = ("Ada", "ada@example.org");
    let bob = ("Bob", "bob@example.org");
    git(&["init", "-q"], ada, "2024-01-01T10:00:00Z");
    std::fs::write(ws.path(".git/info/exclude"), ".pkg/\nconfig/\n").unwrap();
    ws.write(
        "config/pkg.yaml",
        "profiles:\n  default:\n    git_provenance:\n      enabled: true\n",
    );
    ws.write("notes/a.md", "# A\n\nFirst words.\n");
    git(&["add", "notes/a.md"], ada, "2024-01-01T10:00:00Z");
    git(
        &["commit", "-q", "-m", "add a"],
        ada,
        "2024-01-01T10:00:00Z",
    );
    ws.write("notes/a.md", "# A\n\nFirst words.\n\nMore from Bob.\n");
    git(
        &["commit", "-q", "-am", "edit a"],
        bob,
        "2024-02-01T10:00:00Z",
    );
    ws.run(&["run"]).ok();

    let tools = ["git_who", "git_log", "git_introduced", "git_history"];
    let mut calls: Vec<Value> = tools
        .iter()
        .map(|t| json!({"tool": t, "arguments": {"file": "notes/a.md"}}))
        .collect();
    calls.push(json!({"tool": "git_who", "arguments": {"file": "notes/missing.md"}}));
    let got = drive(&python, &ws, &json!({"calls": calls, "resources": []}));
    for (i, tool) in tools.iter().enumerate() {
        let offered = got["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == *tool)
            .unwrap_or_else(|| panic!("{tool} is offered"));
        assert_eq!(offered["annotations"]["read_only_hint"], true);
        let cli = ws.json(&[&tool.replace('_', "-"), "notes/a.md"]);
        assert_eq!(got["calls"][i]["structured"], cli, "{tool}");
    }
    let who = &got["calls"][0]["structured"];
    assert_eq!(who["authors"].as_array().unwrap().len(), 2, "{who:#}");
    // An unknown file: the CLI's message (exit 1 there).
    let (_, message, _) = error_of(&got, 4);
    let cli = ws
        .run(&["--json", "git-who", "notes/missing.md"])
        .code(1)
        .json();
    assert_eq!(message, cli["message"]);
}

#[test]
fn a_docx_chunk_resource_cites_its_paragraphs() {
    let Some(python) = python_with_mcp() else {
        return;
    };
    let ws = Ws::new();
    ws.write(
        "config/pkg.yaml",
        "profiles:\n  default:\n    ingestion:\n      chunk_tokens: 12\n      chunk_overlap_tokens: 2\n",
    );
    ws.write("notes/policy.docx", policy_docx());
    ws.run(&["run"]).ok();
    // The table cell "Audit logs of the quokka cluster" is paragraph 8.
    let hits = ws.json(&["query", "--q", "quokka"]);
    let chunk = hits.to_string();
    let start = chunk.find("chk_").expect("a chunk is cited");
    let chunk_id = &chunk[start..start + 28];
    let uri = format!("auditgraph://chunk/{chunk_id}");
    let got = drive(&python, &ws, &json!({"calls": [], "resources": [uri]}));
    let read = &got["reads"][0][0];
    assert!(
        read["text"].as_str().unwrap().contains("quokka"),
        "{read:#}"
    );
    let meta = &read["meta"];
    let (first, last) = (
        meta["paragraph_start"].as_u64().unwrap(),
        meta["paragraph_end"].as_u64().unwrap(),
    );
    assert!(first <= 8 && 8 <= last, "{meta:#}");
    assert!(meta.get("page_start").is_none());
}

/// `auditgraph mcp --http 127.0.0.1:0`, killed on drop, and its URL.
struct HttpServer {
    child: std::process::Child,
    url: String,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_server(ws: &Ws) -> HttpServer {
    use std::io::BufRead;
    let mut child = command()
        .arg("--root")
        .arg(ws.root())
        .args(["mcp", "--http", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("auditgraph mcp: serving ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    HttpServer { child, url }
}

#[test]
fn the_http_transport_answers_the_same_and_refuses_foreign_origins_and_hosts() {
    let Some(python) = python_with_mcp() else {
        return;
    };
    let ws = workspace();
    let server = http_server(&ws);
    assert!(
        server.url.starts_with("http://127.0.0.1:") && server.url.ends_with("/mcp"),
        "{}",
        server.url
    );
    let hits = ws.json(&["query", "--q", "postgres"]);
    let chunk = hits["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["snippets"].as_array().unwrap().iter())
        .next()
        .unwrap()["chunk_id"]
        .as_str()
        .unwrap()
        .to_string();
    let got = drive(
        &python,
        &ws,
        &json!({
            "url": server.url,
            "calls": [
                {"tool": "query", "arguments": {"q": "postgres"}},
                {"tool": "status", "arguments": {}},
                {"tool": "query", "arguments": {"q": "x".repeat(5000)}},
            ],
            "resources": [format!("auditgraph://chunk/{chunk}")],
        }),
    );
    assert_eq!(got["foreign_origin"], 403, "{got:#}");
    assert_eq!(got["foreign_host"], 403, "{got:#}");
    assert_eq!(got["own_origin"], 200, "{got:#}");
    assert_eq!(got["calls"][0]["structured"], hits);
    assert_eq!(got["calls"][1]["structured"], ws.json(&["status"]));
    assert_eq!(error_of(&got, 2).2["field"], "q");
    let read = &got["reads"][0][0];
    assert_eq!(
        read["meta"]["text_sha256"],
        sha256(read["text"].as_str().unwrap())
    );
}

#[test]
fn the_http_transport_listens_on_loopback_only() {
    let ws = Ws::new();
    let run = ws.run(&["--json", "mcp", "--http", "0.0.0.0:0"]).code(2);
    assert_eq!(run.json()["code"], "usage_error");
    assert!(run.stderr.contains("loopback"), "{}", run.stderr);
}
