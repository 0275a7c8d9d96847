//! Secrets never reach the store; validate-store finds tampering, missing
//! artifacts, missing schema versions and planted secrets, read-only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;

/// Every case of the detector corpus as a note, and the secrets in them.
fn corpus_workspace() -> (Ws, Vec<String>) {
    let text = include_str!("../../core/tests/fixtures/redaction/positives.txt");
    let ws = Ws::new();
    let mut secrets = Vec::new();
    let mut case = 0;
    for block in text.split("\n=== ").skip(1) {
        let body = block.split_once('\n').map(|(_, b)| b).unwrap_or("");
        let mut plain = String::new();
        let mut rest = body;
        while let Some(open) = rest.find('⟦') {
            plain.push_str(&rest[..open]);
            let after = &rest[open + '⟦'.len_utf8()..];
            let close = after.find('⟧').unwrap();
            secrets.push(after[..close].to_string());
            plain.push_str(&after[..close]);
            rest = &after[close + '⟧'.len_utf8()..];
        }
        plain.push_str(rest);
        ws.write(
            &format!("notes/case-{case:03}.md"),
            format!("# Case {case}\n\n{plain}\n"),
        );
        case += 1;
    }
    assert!(case >= 60, "the corpus has {case} cases");
    (ws, secrets)
}

/// The byte strings that must never appear: each secret, and each long line
/// of a multi-line secret (a PEM body line on its own is still key material).
fn needles(secrets: &[String]) -> BTreeSet<Vec<u8>> {
    let mut out = BTreeSet::new();
    for s in secrets {
        out.insert(s.as_bytes().to_vec());
        for line in s.lines() {
            let line = line.trim();
            if line.len() >= 24 && !line.starts_with("-----") {
                out.insert(line.as_bytes().to_vec());
            }
        }
    }
    out
}

/// Every file under `dir`, objects inflated.
fn all_bytes(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    tree_hashes(dir)
        .into_keys()
        .map(|rel| {
            let raw = std::fs::read(dir.join(&rel)).unwrap();
            let bytes = if rel.contains("/objects/") {
                zstd::decode_all(raw.as_slice()).unwrap()
            } else {
                raw
            };
            (rel, bytes)
        })
        .collect()
}

fn assert_no_secret(dir: &std::path::Path, needles: &BTreeSet<Vec<u8>>) {
    for (rel, bytes) in all_bytes(dir) {
        if rel.contains("/secrets/") {
            continue;
        }
        for n in needles {
            assert!(
                !bytes.windows(n.len()).any(|w| w == n.as_slice()),
                "{rel} contains the secret {:?}",
                String::from_utf8_lossy(n)
            );
        }
    }
}

fn markers(dir: &std::path::Path) -> BTreeSet<String> {
    let re = regex_lite_markers();
    let mut out = BTreeSet::new();
    for (_, bytes) in all_bytes(dir) {
        let text = String::from_utf8_lossy(&bytes);
        for m in re(&text) {
            out.insert(m);
        }
    }
    out
}

/// `<<redacted:category:hex12>>` markers in a text (a tiny matcher, to keep
/// the test free of a regex dependency).
fn regex_lite_markers() -> impl Fn(&str) -> Vec<String> {
    |text: &str| {
        let mut found = Vec::new();
        let mut rest = text;
        while let Some(i) = rest.find("<<redacted:") {
            let tail = &rest[i..];
            if let Some(end) = tail.find(">>") {
                found.push(tail[..end + 2].to_string());
                rest = &tail[end + 2..];
            } else {
                break;
            }
        }
        found
    }
}

#[test]
fn no_secret_reaches_the_store_and_markers_are_stable() {
    let (ws, secrets) = corpus_workspace();
    let doc = ws.json(&["run"]);
    assert_eq!(doc["detail"]["failed"], 0);
    let needles = needles(&secrets);
    assert_no_secret(&ws.path(".pkg"), &needles);

    let run = ws.current_run();
    let index = ws.manifest(&run, "index");
    assert_eq!(index["redaction_postcondition"]["status"], "pass");
    assert!(
        index["redaction_postcondition"]["scanned_objects"]
            .as_u64()
            .unwrap()
            > 0
    );

    // Markers are keyed per profile and stable: a rebuild is identical, and
    // an unrelated edit keeps every marker.
    let before = markers(&ws.path(".pkg"));
    assert!(
        before.len() >= secrets.len() / 2,
        "{} markers",
        before.len()
    );
    assert_eq!(ws.json(&["rebuild"])["detail"]["outcome"], "identical");
    ws.write("notes/unrelated.md", "# Unrelated\n");
    ws.json(&["run"]);
    let after = markers(&ws.path(".pkg"));
    assert!(before.is_subset(&after));
    // Every export format: markers, never secrets.
    for (args, file) in [
        (
            vec!["export", "--format", "json", "-o", "out/x.json"],
            "out/x.json",
        ),
        (
            vec!["export", "--with-text", "-o", "out/text.json"],
            "out/text.json",
        ),
        (
            vec!["export", "--format", "dot", "-o", "out/x.dot"],
            "out/x.dot",
        ),
        (
            vec!["export", "--format", "graphml", "-o", "out/x.graphml"],
            "out/x.graphml",
        ),
        (vec!["export-neo4j", "-o", "out/x.cypher"], "out/x.cypher"),
    ] {
        ws.json(&args);
        let bytes = std::fs::read(ws.path(file)).unwrap();
        for n in &needles {
            assert!(
                !bytes.windows(n.len()).any(|w| w == n.as_slice()),
                "{file} contains the secret {:?}",
                String::from_utf8_lossy(n)
            );
        }
    }
    let exported = std::fs::read_to_string(ws.path("out/text.json")).unwrap();
    assert!(
        exported.contains("<<redacted:"),
        "the bundle with text shows the markers"
    );
    // Queries and node views show markers, never secrets.
    let q = ws.run(&["--json", "query", "--q", "password"]).ok();
    for n in &needles {
        assert!(
            !q.stdout
                .as_bytes()
                .windows(n.len())
                .any(|w| w == n.as_slice())
        );
    }
    ws.run(&["validate-store"]).ok();
}

#[test]
fn a_file_named_after_a_secret_is_skipped_under_its_redacted_path() {
    let ws = Ws::new();
    ws.write("notes/a.md", "# A\n");
    let token = format!("ghp_{}", "mz6oNQGp3KxsnzjLzCdWjehmLKeZbcYglqOh");
    ws.write(&format!("notes/{token}.md"), "# named after a token\n");
    ws.write(&format!("img/{token}.png"), "not really a png");
    let run = ws.run(&["--json", "run"]).ok();
    assert!(!run.stdout.contains(&token) && !run.stderr.contains(&token));
    assert!(run.stderr.contains("rename the file"), "{}", run.stderr);
    let doc = run.json();
    let ingest = ws.ingest_with_records(doc["detail"]["run_id"].as_str().unwrap());
    let skipped: Vec<&Value> = ingest["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["reason"] == "secret_in_path")
        .collect();
    assert_eq!(skipped.len(), 2, "{ingest}");
    for r in skipped {
        let path = r["path"].as_str().unwrap();
        assert!(path.contains("<<redacted:vendor_token:"), "{path}");
        assert_eq!(r["parse_status"], "skipped");
    }
    assert_no_secret(&ws.path(".pkg"), &needles(&[token]));
    assert_eq!(ws.json(&["validate-store"])["status"], "pass");
}

#[test]
fn a_secret_the_redactor_cannot_reach_fails_the_postcondition_and_writes_nothing() {
    let ws = Ws::new();
    ws.write("notes/a.md", "# A\n");
    ws.json(&["run"]);
    let before = ws.pkg_hashes();
    // Configuration values are copied into every manifest verbatim.
    let token = format!("ghp_{}", "mz6oNQGp3KxsnzjLzCdWjehmLKeZbcYglqOh");
    ws.write(
        "config/pkg.yaml",
        format!("run_metadata:\n  pipeline_version: \"{token}\"\n"),
    );
    ws.write("notes/b.md", "# B\n");
    let run = ws.run(&["--json", "run"]).code(1);
    let doc = run.json();
    assert_eq!(doc["code"], "redaction_miss");
    let misses = doc["redaction_postcondition"]["misses"].as_array().unwrap();
    assert!(
        misses.iter().any(|m| m["file"]
            .as_str()
            .unwrap()
            .ends_with("ingest-manifest.json")),
        "{doc}"
    );
    assert!(!run.stdout.contains(&token) && !run.stderr.contains(&token));
    assert!(
        run.stderr.contains("--allow-redaction-misses"),
        "{}",
        run.stderr
    );
    assert_eq!(
        ws.pkg_hashes(),
        before,
        "a failed postcondition wrote something"
    );
    // Allowed: published, and the misses are on record.
    let doc = ws.json(&["--allow-redaction-misses", "run"]);
    let m = ws.manifest(doc["detail"]["run_id"].as_str().unwrap(), "index");
    assert_eq!(m["redaction_postcondition"]["status"], "tolerated");
    assert!(
        !m["redaction_postcondition"]["misses"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // validate-store sees what was let through.
    let report = ws.run(&["--json", "validate-store"]).code(1).json();
    assert!(report.to_string().contains("secret_found"), "{report}");
}

#[test]
fn secrets_that_only_markup_hides_are_redacted_in_derived_text() {
    let ws = Ws::new();
    let secret = "Zq8xL2vN9rT4wK7m";
    ws.write(
        "notes/a.md",
        format!(
            "# [db_password](https://x.org/a): {secret}\n\nbody\n\n## password: <b>{secret}</b>\n"
        ),
    );
    let doc = ws.json(&["run"]);
    assert_eq!(doc["detail"]["failed"], 0);
    let run = doc["detail"]["run_id"].as_str().unwrap().to_string();
    // The plain text extraction derives (names, titles, snippets) reads as
    // `key: value` and is redacted. The document's own text keeps the
    // source lines, where no detector sees a pair (a known limit: the
    // detectors read source lines, markup included).
    for (rel, bytes) in all_bytes(&ws.path(".pkg")) {
        let derived = bytes.starts_with(b"agobj extraction") || bytes.starts_with(b"agobj graph");
        if derived {
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(secret), "{rel} holds the secret");
        }
    }
    let m = ws.manifest(&run, "index");
    assert_eq!(m["redaction_postcondition"]["status"], "pass");
    let node = ws.run(&["--json", "list", "--type", "ag:section"]).ok();
    assert!(!node.stdout.contains(secret), "{}", node.stdout);
    assert!(
        node.stdout.contains("<<redacted:credential:"),
        "{}",
        node.stdout
    );
}

fn problem_kinds(report: &Value) -> Vec<String> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect()
}

fn first_object(ws: &Ws) -> std::path::PathBuf {
    let objects = ws.store().join("objects");
    let mut all: Vec<_> = walkdir(&objects);
    all.sort();
    all.remove(0)
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn validated(ws: &Ws) -> Value {
    let before = ws.pkg_hashes();
    let run = ws.run(&["--json", "validate-store"]);
    assert_eq!(ws.pkg_hashes(), before, "validate-store modified the store");
    assert_eq!(run.code, 1, "expected problems\n{}", run.stdout);
    // One JSON document: the report carries the problems.
    run.json()
}

#[test]
fn validate_store_reports_each_kind_of_damage_without_touching_anything() {
    let make = || {
        let ws = Ws::new();
        sample_notes(&ws);
        ws.json(&["run"]);
        ws
    };
    // Clean.
    let clean = make();
    let report = clean.json(&["validate-store"]);
    assert_eq!(report["status"], "pass");
    assert!(report["scanned_for_secrets"].as_bool().unwrap());

    // A tampered artifact.
    let ws = make();
    let object = first_object(&ws);
    let mut payload = zstd::decode_all(std::fs::read(&object).unwrap().as_slice()).unwrap();
    payload.extend_from_slice(b" tampered");
    std::fs::write(&object, zstd::encode_all(payload.as_slice(), 3).unwrap()).unwrap();
    let report = validated(&ws);
    assert!(
        problem_kinds(&report).contains(&"tampered_artifact".to_string()),
        "{report}"
    );

    // A deleted artifact.
    let ws = make();
    std::fs::remove_file(first_object(&ws)).unwrap();
    let report = validated(&ws);
    assert!(
        problem_kinds(&report).contains(&"missing_artifact".to_string()),
        "{report}"
    );

    // A manifest without schema_version.
    let ws = make();
    let run = ws.current_run();
    let path = ws
        .store()
        .join("runs")
        .join(&run)
        .join("link-manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m.as_object_mut().unwrap().remove("schema_version");
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
    let report = validated(&ws);
    let kinds = problem_kinds(&report);
    assert!(
        kinds.contains(&"missing_schema_version".to_string()),
        "{report}"
    );
    assert!(kinds.contains(&"tampered_file".to_string()), "{report}");

    // A planted secret.
    let ws = make();
    let object = first_object(&ws);
    let mut payload = zstd::decode_all(std::fs::read(&object).unwrap().as_slice()).unwrap();
    payload.extend_from_slice(
        b"\naws_secret_access_key = \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8Lr3Nw2p\"\n",
    );
    std::fs::write(&object, zstd::encode_all(payload.as_slice(), 3).unwrap()).unwrap();
    let report = validated(&ws);
    let secret = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "secret_found")
        .unwrap_or_else(|| panic!("{report}"));
    assert!(
        !secret.to_string().contains("wJalrXUtnFEMI"),
        "the report must not echo the secret"
    );
    let human = ws.run(&["validate-store"]).code(1);
    assert!(human.stdout.contains("secret_found"), "{}", human.stdout);
}

#[test]
fn validate_store_all_profiles() {
    let ws = Ws::new();
    ws.write("config/pkg.yaml", "profiles:\n  default: {}\n  work: {}\n");
    ws.write("a.md", "# A\n");
    ws.json(&["run"]);
    ws.json(&["--profile", "work", "run"]);
    let report = ws.json(&["validate-store", "--all-profiles"]);
    assert_eq!(report["status"], "pass");
    assert_eq!(report["profiles"].as_array().unwrap().len(), 2);
}
