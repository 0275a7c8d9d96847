//! `auditgraph jobs`: every action on a workspace with three runs, the
//! configuration errors with their positions, path confinement, redaction,
//! the budget, and byte-identical reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use auditgraph_core::jobs::time::{Instant, parse_rfc3339};
use common::Ws;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

const ALPHA_1: &str = "# Alpha\n\nAlpha pools connections with `pgbouncer`.\n\nSee [beta](beta.md) and [the missing one](missing.md).\n\n## Pooling\n\nThe pgbouncer pool runs in transaction mode.\n";
const ALPHA_3: &str = "# Alpha\n\nAlpha pools connections with `pgbouncer`.\n\nSee [beta](beta.md) and [the missing one](missing.md).\n\n## Pooling\n\nThe pgbouncer pool runs in transaction mode.\nIt listens on port 6432 and links to [[Nowhere]].\n";
const BETA_1: &str = "# Beta\n\nBeta is short.\n";
const BETA_2: &str = "# Beta\n\nBeta is short, and uses `pgbouncer` too.\n";
const GAMMA: &str = "# Gamma\n\nGamma never changes.\n";

/// A workspace with three runs: the first with alpha, beta and gamma; the
/// second edits beta and adds delta; the third edits alpha, removes delta
/// and adds epsilon. Returns the runs and the times they were published.
struct Fixture {
    ws: Ws,
    runs: Vec<String>,
    times: Vec<Instant>,
}

fn fixture() -> Fixture {
    let ws = Ws::new();
    ws.write("notes/alpha.md", ALPHA_1)
        .write("notes/beta.md", BETA_1)
        .write("notes/gamma.md", GAMMA);
    ws.run(&["run"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(30));
    ws.write("notes/beta.md", BETA_2)
        .write("notes/delta.md", "# Delta\n\nShort lived.\n");
    ws.run(&["run"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(30));
    ws.write("notes/alpha.md", ALPHA_3)
        .write("notes/epsilon.md", "# Epsilon\n\nNew in the third run.\n");
    ws.remove("notes/delta.md");
    ws.run(&["run"]).ok();
    let runs_doc = ws.json(&["runs"]);
    let runs: Vec<&Value> = runs_doc["runs"].as_array().unwrap().iter().collect();
    assert_eq!(runs.len(), 3, "{runs_doc}");
    let ids = runs
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect();
    let times = runs
        .iter()
        .map(|r| parse_rfc3339(r["published_at"].as_str().unwrap()).unwrap())
        .collect::<Vec<_>>();
    assert!(times[0] < times[1] && times[1] < times[2], "{runs_doc}");
    Fixture {
        ws,
        runs: ids,
        times,
    }
}

/// Midway between two instants, moved by `ms`.
fn between(a: Instant, b: Instant, ms: i64) -> String {
    Instant((a.0 + b.0) / 2 + ms).to_utc()
}

const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

fn jobs_yaml(ws: &Ws, text: &str) {
    ws.write("config/jobs.yaml", text);
}

/// Runs a job with --now; returns the report file's bytes.
fn run_job(ws: &Ws, name: &str, now: &str) -> Vec<u8> {
    let doc = ws.json(&["jobs", "run", name, "--now", now]);
    assert_eq!(doc["status"], "ok", "{doc}");
    std::fs::read(doc["output"].as_str().unwrap()).unwrap()
}

/// Runs a job without --json (Markdown unless its output says JSON);
/// returns the report at `exports/reports/<name>.md`.
fn run_md(ws: &Ws, name: &str, now: &str) -> String {
    ws.run(&["jobs", "run", name, "--now", now]).ok();
    std::fs::read_to_string(ws.path(&format!("exports/reports/{name}.md"))).unwrap()
}

fn report_json(ws: &Ws, name: &str, now: &str) -> Value {
    let bytes = run_job(ws, name, now);
    serde_json::from_slice(&bytes).unwrap()
}

fn keys(items: &Value) -> BTreeSet<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn changed_since_applies_its_cutoff_between_runs() {
    let f = fixture();
    jobs_yaml(
        &f.ws,
        "jobs:\n  changes:\n    action:\n      type: report.changed_since\n      args: {since: 1h}\n    output: {format: json}\n  by_run:\n    action: {type: report.changed_since, args: {since: RUN1}}\n    output: {format: json}\n"
            .replace("RUN1", &f.runs[0])
            .as_str(),
    );
    // The cutoff falls between the second and the third run: only the
    // third run's changes count (beta changed in the second run).
    let now = between(f.times[1], f.times[2], HOUR);
    let r = report_json(&f.ws, "changes", &now);
    assert_eq!(r["format"], "auditgraph-report");
    assert_eq!(r["header"]["now"], now);
    assert_eq!(r["header"]["now_from"], "--now");
    let body = &r["report"];
    assert_eq!(body["cutoff"], between(f.times[1], f.times[2], 0));
    assert_eq!(body["baseline_run"], f.runs[1].as_str());
    assert_eq!(body["current_run"], f.runs[2].as_str());
    assert_eq!(keys(&body["sources"]["changed"]), set(&["notes/alpha.md"]));
    assert_eq!(keys(&body["sources"]["added"]), set(&["notes/epsilon.md"]));
    assert_eq!(keys(&body["sources"]["removed"]), set(&["notes/delta.md"]));
    assert_eq!(body["sources"]["counts"]["unchanged"], 2);
    assert!(body["entities"]["counts"]["added"].as_u64().unwrap() > 0);
    assert!(body["links"]["counts"]["removed"].as_u64().unwrap() > 0);

    // Between the first and the second run: beta's edit counts too, and
    // delta (added, then removed) is not there at all.
    let now = between(f.times[0], f.times[1], HOUR);
    let body = &report_json(&f.ws, "changes", &now)["report"];
    assert_eq!(body["baseline_run"], f.runs[0].as_str());
    assert_eq!(
        keys(&body["sources"]["changed"]),
        set(&["notes/alpha.md", "notes/beta.md"])
    );
    assert_eq!(keys(&body["sources"]["added"]), set(&["notes/epsilon.md"]));
    assert!(keys(&body["sources"]["removed"]).is_empty());

    // Before the first run: everything is new.
    let body = &report_json(&f.ws, "changes", &Instant(f.times[0].0 - 1 + HOUR).to_utc())["report"];
    assert_eq!(body["baseline_run"], Value::Null);
    assert_eq!(body["sources"]["counts"]["added"], 4);

    // A run id as `since`: the same as the cutoff after the first run.
    let body = &report_json(&f.ws, "by_run", &between(f.times[0], f.times[1], HOUR))["report"];
    assert_eq!(body["baseline_run"], f.runs[0].as_str());
    assert_eq!(
        keys(&body["sources"]["changed"]),
        set(&["notes/alpha.md", "notes/beta.md"])
    );

    // The Markdown report names the cutoff and lists the same changes.
    jobs_yaml(
        &f.ws,
        "jobs:\n  changes:\n    action: {type: report.changed_since, args: {since: 1h}}\n",
    );
    let now = between(f.times[1], f.times[2], HOUR);
    let md = run_md(&f.ws, "changes", &now);
    assert!(md.starts_with("# Changes since 1h\n"), "{md}");
    assert!(md.contains(&format!("- Time: {now} (from --now)")), "{md}");
    assert!(
        md.contains(&format!("Cutoff: {}", between(f.times[1], f.times[2], 0))),
        "{md}"
    );
    assert!(md.contains("- `notes/alpha.md` ok"), "{md}");
    assert!(!md.contains("notes/beta.md"), "{md}");
    assert!(f.ws.path("exports/reports/changes.md").is_file());
}

#[test]
fn broken_references_list_documents_and_lines() {
    let f = fixture();
    jobs_yaml(
        &f.ws,
        "jobs:\n- name: broken\n  action: {type: report.broken_references}\n  output: {path: exports/reports/broken.json, format: json}\n",
    );
    let r = report_json(&f.ws, "broken", "2026-01-31T12:00:00Z");
    let body = &r["report"];
    assert_eq!(body["documents_total"], 1, "{body}");
    let doc = &body["documents"][0];
    assert_eq!(doc["source_path"], "notes/alpha.md");
    let alpha = std::fs::read(f.ws.path("notes/alpha.md")).unwrap();
    assert_eq!(doc["source_hash"], hex::encode(Sha256::digest(&alpha)));
    let refs: Vec<(u64, String)> = doc["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["target"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Each line named holds its target in the source.
    let lines: Vec<&str> = ALPHA_3.lines().collect();
    assert_eq!(refs.len(), 2, "{refs:?}");
    for (line, target) in &refs {
        assert!(
            lines[*line as usize - 1].contains(target.as_str()),
            "{line} {target}"
        );
    }
    assert_eq!(refs[0].0, 5);
    assert_eq!(refs[1].0, 10);
    assert_eq!(body["total"], 2);
}

#[test]
fn stale_notes_come_from_the_run_history() {
    let f = fixture();
    jobs_yaml(
        &f.ws,
        "jobs:\n  stale:\n    action: {type: report.stale_notes, args: {older_than: 1d}}\n    output: {format: json}\n",
    );
    // The threshold falls between the first and the second run: only the
    // notes unchanged since the first run are stale.
    let now = between(f.times[0], f.times[1], DAY);
    let body = &report_json(&f.ws, "stale", &now)["report"];
    let stale: BTreeSet<String> = body["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["source_path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stale, set(&["notes/gamma.md"]), "{body}");
    let gamma = &body["notes"][0];
    assert_eq!(gamma["since_run"], f.runs[0].as_str());
    assert_eq!(gamma["since_first_run"], true);
    assert_eq!(gamma["age_days"], 1);
    assert_eq!(body["documents_checked"], 4);

    // A day after the third run, every note is stale; beta since the
    // second run, alpha since the third.
    let body = &report_json(&f.ws, "stale", &Instant(f.times[2].0 + DAY).to_utc())["report"];
    let since: Vec<(String, String)> = body["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["source_path"].as_str().unwrap().to_string(),
                n["since_run"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        since.contains(&("notes/beta.md".to_string(), f.runs[1].clone())),
        "{since:?}"
    );
    assert!(
        since.contains(&("notes/alpha.md".to_string(), f.runs[2].clone())),
        "{since:?}"
    );
    assert_eq!(body["total"], 4);

    // Git history needs the git provenance stage, which this workspace
    // does not have (see tests/git_provenance.rs for one that has).
    jobs_yaml(
        &f.ws,
        "jobs:\n  stale:\n    action: {type: report.stale_notes, args: {history: git}}\n",
    );
    let out = f.ws.run(&["jobs", "run", "stale"]).code(1);
    assert!(
        out.stderr.contains("has no git provenance"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("git_provenance.enabled: true"),
        "{}",
        out.stderr
    );
}

/// Every quote of a Markdown evidence pack: (path, first line, last line,
/// start, end, sha256, text).
fn quotes(md: &str) -> Vec<(String, usize, usize, usize, usize, String, String)> {
    let mut out = Vec::new();
    let lines: Vec<&str> = md.split('\n').collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let Some(rest) = line.strip_prefix("Quote from `") else {
            continue;
        };
        let (path, rest) = rest.split_once("`, lines ").unwrap();
        let (lines_part, rest) = rest.split_once(", bytes ").unwrap();
        let (bytes_part, rest) = rest.split_once(", SHA-256 `").unwrap();
        let sha = &rest[..64];
        let (a, b) = lines_part.split_once('-').unwrap();
        let (s, e) = bytes_part.split_once('-').unwrap();
        assert_eq!(lines[i], "", "a blank line follows the quote's line");
        let fence = lines[i + 1].strip_suffix("text").unwrap();
        assert!(fence.len() >= 4 && fence.chars().all(|c| c == '~'));
        let start = i + 2;
        let end = (start..lines.len()).find(|&j| lines[j] == fence).unwrap();
        let text = lines[start..end].join("\n");
        out.push((
            path.to_string(),
            a.parse().unwrap(),
            b.parse().unwrap(),
            s.parse().unwrap(),
            e.parse().unwrap(),
            sha.to_string(),
            text,
        ));
        i = end + 1;
    }
    out
}

/// Checks every quote against the source bytes and the SHA-256 it names;
/// returns how many there were.
fn verify_quotes(ws: &Ws, md: &str) -> usize {
    let all = quotes(md);
    for (path, first, last, start, end, sha, text) in &all {
        let bytes = std::fs::read(ws.path(path)).unwrap();
        assert_eq!(&hex::encode(Sha256::digest(&bytes)), sha, "{path}");
        assert_eq!(
            std::str::from_utf8(&bytes[*start..*end]).unwrap(),
            text,
            "{path} bytes {start}-{end}"
        );
        let line_of = |offset: usize| bytes[..offset].iter().filter(|b| **b == b'\n').count() + 1;
        assert!(
            line_of(*start) >= *first,
            "{path}: quote starts before line {first}"
        );
        assert!(
            line_of(*end) <= *last,
            "{path}: quote ends after line {last}"
        );
    }
    all.len()
}

#[test]
fn evidence_pack_quotes_check_against_the_sources() {
    let f = fixture();
    jobs_yaml(
        &f.ws,
        "jobs:\n  pack:\n    action: {type: report.evidence, args: {query: pgbouncer pool, limit: 5}}\n  pack_json:\n    action: {type: report.evidence, args: {query: pgbouncer pool, limit: 5}}\n    output: {format: json}\n",
    );
    let now = "2026-01-31T12:00:00Z";
    let md = run_md(&f.ws, "pack", now);
    let n = verify_quotes(&f.ws, &md);
    let pack = report_json(&f.ws, "pack_json", now);
    let body = &pack["report"];
    let hits = body["hits"].as_array().unwrap();
    assert!(hits.len() >= 3, "{body}");
    let json_quotes: usize = hits
        .iter()
        .map(|h| h["quotes"].as_array().unwrap().len())
        .sum::<usize>()
        + body["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["evidence"].as_array().unwrap().len())
            .sum::<usize>();
    assert_eq!(
        n, json_quotes,
        "every quote of the JSON pack is in the Markdown"
    );
    assert!(n >= hits.len(), "every hit is quoted");
    for h in hits {
        assert_eq!(h["run_id"], f.runs[2].as_str());
        assert!(h["rule_id"].as_str().unwrap().contains('.'));
        if h["type"] != "ag:technology" {
            let path = h["source_path"].as_str().unwrap();
            let bytes = std::fs::read(f.ws.path(path)).unwrap();
            assert_eq!(h["source_hash"], hex::encode(Sha256::digest(&bytes)));
            assert!(h["line_start"].as_u64().unwrap() >= 1);
        }
    }
    // The links between the hits come with their rule and quoted evidence.
    let links = body["links"].as_array().unwrap();
    assert!(!links.is_empty(), "{body}");
    let hit_ids: BTreeSet<&str> = hits.iter().map(|h| h["id"].as_str().unwrap()).collect();
    for l in links {
        assert!(hit_ids.contains(l["from_id"].as_str().unwrap()));
        assert!(hit_ids.contains(l["to_id"].as_str().unwrap()));
        assert!(l["rule_id"].as_str().unwrap().starts_with("link."), "{l}");
        assert!(!l["evidence"].as_array().unwrap().is_empty(), "{l}");
    }
    assert!(md.contains("## Links between the hits"), "{md}");

    // By ids: the same entities, quoted from their own lines.
    let ids: Vec<String> = hits
        .iter()
        .take(2)
        .map(|h| format!("\"{}\"", h["id"].as_str().unwrap()))
        .collect();
    jobs_yaml(
        &f.ws,
        &format!(
            "jobs:\n  by_id:\n    action:\n      type: report.evidence\n      args:\n        ids: [{}]\n",
            ids.join(", ")
        ),
    );
    let md = run_md(&f.ws, "by_id", now);
    assert!(verify_quotes(&f.ws, &md) >= 2, "{md}");
    for id in &ids {
        assert!(md.contains(id.trim_matches('"')), "{md}");
    }

    // An id the run does not hold is an error that names it.
    jobs_yaml(
        &f.ws,
        &format!(
            "jobs:\n  missing:\n    action: {{type: report.evidence, args: {{ids: [ent_{}]}}}}\n",
            "0".repeat(64)
        ),
    );
    let out = f.ws.run(&["jobs", "run", "missing"]).code(1);
    assert!(
        out.stderr.contains(&format!("ent_{}", "0".repeat(64))),
        "{}",
        out.stderr
    );
}

#[test]
fn budget_report_shows_usage_growth_and_gc() {
    let f = fixture();
    jobs_yaml(
        &f.ws,
        "jobs:\n  budget:\n    action: {type: report.budget, args: {keep: 1}}\n    output: {format: json}\n",
    );
    let status = f.ws.json(&["status"]);
    let body = &report_json(&f.ws, "budget", "2026-01-31T12:00:00Z")["report"];
    assert_eq!(body["store_bytes"], status["store_bytes"]);
    assert_eq!(
        body["budget"]["limit_bytes"],
        status["budget"]["limit_bytes"]
    );
    let runs = body["runs"].as_array().unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    assert_eq!(ids, f.runs.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(runs.iter().all(|r| r["added_bytes"].as_u64().unwrap() > 0));
    assert_eq!(runs[2]["current"], true);
    // What gc would reclaim is what `gc --dry-run` says.
    let gc = f.ws.json(&["gc", "--dry-run", "--keep", "1"]);
    assert_eq!(body["gc"]["reclaimed_bytes"], gc["reclaimed_bytes"]);
    assert_eq!(body["gc"]["removed_runs"], gc["removed_runs"]);
    assert_eq!(body["gc"]["removed_runs"][0], f.runs[0].as_str());
    // Nothing was removed.
    assert_eq!(f.ws.json(&["runs"])["runs"].as_array().unwrap().len(), 3);
}

#[test]
fn reports_are_byte_identical_for_the_same_run_and_time() {
    let f = fixture();
    jobs_yaml(
        &f.ws,
        "jobs:\n  a: {action: {type: report.changed_since, args: {since: 7d}}}\n  b: {action: {type: report.broken_references}}\n  c: {action: {type: report.stale_notes, args: {older_than: 1h}}}\n  d: {action: {type: report.evidence, args: {query: pgbouncer}}}\n  e: {action: {type: report.budget}}\n",
    );
    let now = "2026-01-31T12:00:00Z";
    let first = f.ws.json(&["jobs", "run", "--all", "--now", now]);
    assert_eq!(first["status"], "ok", "{first}");
    let results = first["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    let hashes: Vec<String> = results
        .iter()
        .map(|r| r["sha256"].as_str().unwrap().to_string())
        .collect();
    let bytes: Vec<Vec<u8>> = results
        .iter()
        .map(|r| std::fs::read(r["output"].as_str().unwrap()).unwrap())
        .collect();
    for (b, h) in bytes.iter().zip(&hashes) {
        assert_eq!(&hex::encode(Sha256::digest(b)), h);
    }
    // Human output, this time: the same files, the same bytes.
    f.ws.run(&["jobs", "run", "--all", "--now", now]).ok();
    for r in results {
        let again = std::fs::read(r["output"].as_str().unwrap()).unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(&again)),
            r["sha256"].as_str().unwrap()
        );
    }
    // No absolute path of the workspace in a report.
    let root = f.ws.root().to_string_lossy().to_string();
    for b in &bytes {
        assert!(!String::from_utf8_lossy(b).contains(&root));
    }
    // `--json` writes JSON reports next to the Markdown ones.
    let doc = f.ws.json(&["jobs", "run", "b", "--now", now]);
    assert!(
        doc["output"]
            .as_str()
            .unwrap()
            .ends_with("exports/reports/b.json"),
        "{doc}"
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(doc["output"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(report["header"]["job"], "b");
    // Without --now the clock's time is recorded.
    let md = String::from_utf8(std::fs::read(f.ws.path("exports/reports/b.md")).unwrap()).unwrap();
    assert!(md.contains("(from --now)"));
    f.ws.run(&["jobs", "run", "b"]).ok();
    let md = String::from_utf8(std::fs::read(f.ws.path("exports/reports/b.md")).unwrap()).unwrap();
    assert!(md.contains("(from clock)"), "{md}");
}

#[test]
fn jobs_list_reads_mapping_and_list_forms() {
    let ws = Ws::new();
    jobs_yaml(
        &ws,
        "jobs:\n  weekly:\n    action:\n      type: report.changed_since\n      args: {since: 7d}\n    output: {path: exports/weekly.md}\n  audit:\n    action: {type: report.evidence, args: {query: pgbouncer}}\n    output: {format: json}\n",
    );
    let doc = ws.json(&["jobs", "list"]);
    assert_eq!(doc["jobs"], serde_json::json!(["audit", "weekly"]));
    // `jobs run --json` puts a configured Markdown path's JSON beside it.
    ws.write("notes/a.md", "# A\n");
    ws.run(&["run"]).ok();
    let run = ws.json(&["jobs", "run", "weekly"]);
    assert!(
        run["output"]
            .as_str()
            .unwrap()
            .ends_with("exports/weekly.json"),
        "{run}"
    );
    assert_eq!(doc["details"][0]["output"], "exports/reports/audit.json");
    assert_eq!(doc["details"][1]["output"], "exports/weekly.md");
    assert_eq!(doc["details"][1]["args"]["since"], "7d");
    ws.remove("config/jobs.yaml");
    ws.write(
        "config/jobs.json",
        r#"{"jobs": [{"name": "b", "action": {"type": "report.budget"}}, {"name": "a", "action": {"type": "report.broken_references"}}]}"#,
    );
    let doc = ws.json(&["jobs", "list"]);
    assert_eq!(doc["jobs"], serde_json::json!(["a", "b"]));
    // An unknown key is a warning with its position, as in pkg.yaml.
    ws.remove("config/jobs.json");
    jobs_yaml(
        &ws,
        "jobs:\n  a:\n    action: {type: report.budget}\n    schedule: daily\n",
    );
    let out = ws.run(&["jobs", "list"]).ok();
    assert!(
        out.stderr
            .contains("jobs.yaml:4:5: jobs.a.schedule: unknown key"),
        "{}",
        out.stderr
    );
    // A job that is not there.
    let out = ws.run(&["jobs", "run", "nope"]).code(1);
    assert!(out.stderr.contains("job not found: nope"), "{}", out.stderr);
    assert!(out.stderr.contains("the jobs are: a"), "{}", out.stderr);
}

/// Every configuration error, each reported at its file:line:column.
#[test]
fn configuration_errors_name_file_line_and_column() {
    let ws = Ws::new();
    let id = format!("ent_{}", "a".repeat(64));
    let cases: Vec<(String, &str, &str)> = vec![
        ("jobs: [\n".into(), "1:7", "not valid YAML or JSON"),
        ("- a\n- b\n".into(), "1:1", "not a mapping"),
        ("other: 1\n".into(), "1:1", "has no `jobs` section"),
        ("jobs: 3\n".into(), "1:7", "`jobs` is the number `3`"),
        ("jobs:\n- action: {type: report.budget}\n".into(), "2:3", "has no `name`"),
        ("jobs:\n- name: a\n  action: {type: report.budget}\n- name: a\n  action: {type: report.budget}\n".into(), "4:9", "duplicate job name `a`"),
        ("jobs:\n- name: [a]\n  action: {type: report.budget}\n".into(), "2:9", "the job name is a list"),
        ("jobs:\n- 3\n".into(), "2:3", "a job is the number `3`"),
        ("jobs:\n  a: 3\n".into(), "2:6", "job `a` is the number `3`"),
        ("jobs:\n  a/b:\n    action: {type: report.budget}\n".into(), "2:3", "must not contain path separators"),
        ("jobs:\n  a:\n    output: {}\n".into(), "3:5", "job `a` has no `action`"),
        ("jobs:\n  a:\n    action: report.budget\n".into(), "3:13", "`action` is the text"),
        ("jobs:\n  a:\n    action: {args: {}}\n".into(), "3:13", "must define action.type"),
        ("jobs:\n  a:\n    action: {type: 3}\n".into(), "3:20", "`action.type` is the number `3`"),
        ("jobs:\n  a:\n    action: {type: report.nope}\n".into(), "3:20", "unsupported job action `report.nope`"),
        ("jobs:\n  a:\n    action: {type: report.budget, args: [1]}\n".into(), "3:41", "`action.args` is a list"),
        ("jobs:\n  a:\n    action: {type: report.budget, args: {since: 7d}}\n".into(), "3:42", "has no argument `since`"),
        ("jobs:\n  a:\n    action: {type: report.budget, args: {keep: -1}}\n".into(), "3:48", "`keep` is the number `-1`"),
        ("jobs:\n  a:\n    action: {type: report.changed_since, args: {since: 24}}\n".into(), "3:56", "has no unit"),
        ("jobs:\n  a:\n    action: {type: report.changed_since, args: {since: 7y}}\n".into(), "3:56", "is not a duration"),
        ("jobs:\n  a:\n    action: {type: report.changed_since, args: {since: last-tuesday}}\n".into(), "3:56", "neither a duration nor a run id"),
        ("jobs:\n  a:\n    action: {type: report.changed_since, args: {limit: 0}}\n".into(), "3:56", "`limit` is the number `0`"),
        ("jobs:\n  a:\n    action: {type: report.stale_notes, args: {older_than: soon}}\n".into(), "3:59", "is not a duration"),
        ("jobs:\n  a:\n    action: {type: report.stale_notes, args: {history: svn}}\n".into(), "3:56", "unknown history `svn`"),
        ("jobs:\n  a:\n    action: {type: report.evidence}\n".into(), "3:13", "needs `query` or `ids`"),
        (format!("jobs:\n  a:\n    action: {{type: report.evidence, args: {{query: x, ids: [{id}]}}}}\n"), "3:59", "not both"),
        ("jobs:\n  a:\n    action: {type: report.evidence, args: {ids: [ent_1]}}\n".into(), "3:50", "is not an entity id"),
        ("jobs:\n  a:\n    action: {type: report.evidence, args: {ids: []}}\n".into(), "3:49", "`ids` is empty"),
        ("jobs:\n  a:\n    action: {type: report.evidence, args: {query: \" \"}}\n".into(), "3:51", "the query is empty"),
        ("jobs:\n  a:\n    action: {type: report.budget}\n    output: exports/a.md\n".into(), "4:13", "`output` is the text"),
        ("jobs:\n  a:\n    action: {type: report.budget}\n    output: {format: pdf}\n".into(), "4:22", "`output.format` is the text"),
        ("jobs:\n  a:\n    action: {type: report.budget}\n    output: {path: 3}\n".into(), "4:20", "`output.path` is the number `3`"),
        ("jobs:\n  a:\n    action: {type: report.budget}\n    output: {path: /tmp/a.md}\n".into(), "4:20", "is absolute"),
        ("jobs:\n  a:\n    action: {type: report.budget}\n    output: {path: ../a.md}\n".into(), "4:20", "climbs out of the workspace root"),
        ("jobs:\n  a:\n    action: {type: report.budget}\n    output: {path: notes/a.md}\n".into(), "4:20", "is outside exports/"),
        ("jobs:\n  a:\n    action: {type: report.budget}\n    output: {path: exports/../notes/a.md}\n".into(), "4:20", "is outside exports/"),
        ("jobs:\n  a:\n    action: {type: report.budget}\n    output: {path: exports/}\n".into(), "4:20", "names a directory"),
    ];
    for (text, at, message) in &cases {
        jobs_yaml(&ws, text);
        let out = ws.run(&["jobs", "list"]);
        let out = out.code(2);
        let file = ws.path("config/jobs.yaml");
        let expected = format!("{}:{at}:", file.canonicalize().unwrap().display());
        assert!(
            out.stderr.contains(&expected) && out.stderr.contains(message),
            "{text:?}: expected `{expected}` and `{message}` in:\n{}",
            out.stderr
        );
        // The same with --json: one error document with the code.
        let doc = ws.run(&["--json", "jobs", "list"]).code(2).json();
        assert_eq!(doc["code"], "config_error", "{doc}");
    }
    // Several problems are all reported.
    jobs_yaml(
        &ws,
        "jobs:\n  a:\n    action: {type: report.nope}\n  b:\n    action: {type: report.budget, args: {x: 1}}\n",
    );
    let out = ws.run(&["jobs", "list"]).code(2);
    assert!(
        out.stderr.contains(":3:20:") && out.stderr.contains(":5:42:"),
        "{}",
        out.stderr
    );

    // No file at all, and two files.
    ws.remove("config/jobs.yaml");
    let out = ws.run(&["jobs", "list"]).code(2);
    assert!(
        out.stderr.contains("config/jobs.yaml") && out.stderr.contains("does not exist"),
        "{}",
        out.stderr
    );
    jobs_yaml(&ws, "jobs: {}\n");
    ws.write("config/jobs.json", "{\"jobs\": {}}");
    let out = ws.run(&["jobs", "list"]).code(2);
    assert!(
        out.stderr.contains("only one may define the jobs"),
        "{}",
        out.stderr
    );
    // --file names another file; an invalid --now is a usage error.
    ws.write(
        "elsewhere.yaml",
        "jobs:\n  x: {action: {type: report.budget}}\n",
    );
    let elsewhere = ws.path("elsewhere.yaml");
    let doc = ws.json(&["jobs", "--file", elsewhere.to_str().unwrap(), "list"]);
    assert_eq!(doc["jobs"], serde_json::json!(["x"]));
    let out = ws
        .run(&[
            "jobs",
            "--file",
            elsewhere.to_str().unwrap(),
            "run",
            "x",
            "--now",
            "yesterday",
        ])
        .code(2);
    assert!(
        out.stderr.contains("--now") && out.stderr.contains("RFC 3339"),
        "{}",
        out.stderr
    );
}

#[test]
fn reports_stay_under_exports() {
    let f = fixture();
    let ws = &f.ws;
    jobs_yaml(
        ws,
        "jobs:\n  b: {action: {type: report.broken_references}}\n",
    );
    // `exports` is a link out of the workspace: refused, nothing written.
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), ws.path("exports")).unwrap();
    let out = ws.run(&["jobs", "run", "b"]).code(2);
    assert!(out.stderr.contains("refusing to write"), "{}", out.stderr);
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    // `exports` is a link to the notes: refused too.
    std::fs::remove_file(ws.path("exports")).unwrap();
    std::os::unix::fs::symlink(ws.path("notes"), ws.path("exports")).unwrap();
    let out = ws.run(&["jobs", "run", "b"]).code(2);
    assert!(out.stderr.contains("not under"), "{}", out.stderr);
    assert!(!ws.path("notes/reports").exists());
    std::fs::remove_file(ws.path("exports")).unwrap();
    // The report file is a link: never written through.
    std::fs::create_dir_all(ws.path("exports/reports")).unwrap();
    let target = outside.path().join("victim.md");
    std::fs::write(&target, "keep me").unwrap();
    std::os::unix::fs::symlink(&target, ws.path("exports/reports/b.md")).unwrap();
    let out = ws.run(&["jobs", "run", "b"]).code(2);
    assert!(out.stderr.contains("symbolic link"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    std::fs::remove_file(ws.path("exports/reports/b.md")).unwrap();
    // A path outside exports/ in the file is refused before anything runs.
    jobs_yaml(
        ws,
        "jobs:\n  b:\n    action: {type: report.broken_references}\n    output: {path: notes/report.md}\n",
    );
    let out = ws.run(&["jobs", "run", "b"]).code(2);
    assert!(out.stderr.contains("jobs.yaml:4:20:"), "{}", out.stderr);
    assert!(!ws.path("notes/report.md").exists());
}

#[test]
fn reports_are_redacted_and_budget_checked() {
    let f = fixture();
    let ws = &f.ws;
    let token = "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789";
    jobs_yaml(
        ws,
        &format!(
            "jobs:\n  leak:\n    action: {{type: report.evidence, args: {{query: \"pgbouncer {token}\"}}}}\n    output: {{format: json}}\n"
        ),
    );
    let bytes = run_job(ws, "leak", "2026-01-31T12:00:00Z");
    let text = String::from_utf8(bytes).unwrap();
    assert!(!text.contains(token), "{text}");
    assert!(text.contains("<<redacted:vendor_token:"), "{text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    assert!(report["header"]["redactions"].as_u64().unwrap() >= 2);

    // A budget too small to take the report: blocked, nothing written.
    jobs_yaml(ws, "jobs:\n  b: {action: {type: report.budget}}\n");
    ws.write(
        "config/pkg.yaml",
        "storage:\n  footprint_budget:\n    multiplier: 0.001\n",
    );
    let out = ws.run(&["jobs", "run", "b"]).code(5);
    assert!(out.stderr.contains("budget"), "{}", out.stderr);
    assert!(!ws.path("exports/reports/b.md").exists());
}

#[test]
fn run_all_runs_every_job_and_reports_failures() {
    let ws = Ws::new();
    ws.write("notes/alpha.md", ALPHA_1);
    ws.run(&["run"]).ok();
    jobs_yaml(
        &ws,
        &format!(
            "jobs:\n  a_missing:\n    action: {{type: report.evidence, args: {{ids: [ent_{}]}}}}\n  b_budget:\n    action: {{type: report.budget}}\n",
            "0".repeat(64)
        ),
    );
    let out = ws.run(&["--json", "jobs", "run", "--all"]).code(1);
    let doc = out.json();
    assert_eq!(doc["status"], "error", "{doc}");
    assert_eq!(doc["results"][0]["job"], "a_missing");
    assert_eq!(doc["results"][0]["status"], "error");
    assert_eq!(doc["results"][0]["code"], "not_found");
    assert_eq!(doc["results"][1]["status"], "ok");
    assert!(ws.path("exports/reports/b_budget.json").is_file());
    assert!(!ws.path("exports/reports/a_missing.json").exists());
    assert!(out.stderr.contains("1 of 2 jobs failed"), "{}", out.stderr);
    // Nothing ingested yet: a clear error, nothing written.
    let empty = Ws::new();
    jobs_yaml(&empty, "jobs:\n  b: {action: {type: report.budget}}\n");
    let out = empty.run(&["jobs", "run", "b"]).code(1);
    assert!(
        out.stderr.contains("nothing ingested yet"),
        "{}",
        out.stderr
    );
    assert!(!empty.path("exports").exists());
}

#[test]
fn history_removed_by_gc_is_said_not_guessed() {
    let f = fixture();
    let ws = &f.ws;
    ws.run(&["gc", "--keep", "0"]).ok();
    jobs_yaml(
        ws,
        "jobs:\n  changes: {action: {type: report.changed_since, args: {since: 1h}}}\n  stale:\n    action: {type: report.stale_notes, args: {older_than: 1s}}\n    output: {format: json}\n",
    );
    // The run current at the cutoff is gone: an error that says so.
    let now = between(f.times[0], f.times[1], HOUR);
    let out = ws.run(&["jobs", "run", "changes", "--now", &now]).code(1);
    assert!(out.stderr.contains(&f.runs[0]), "{}", out.stderr);
    assert!(
        out.stderr.contains("removed by `auditgraph gc`"),
        "{}",
        out.stderr
    );
    // Stale notes: unchanged at least since the kept run, history cut.
    let body = &report_json(ws, "stale", &Instant(f.times[2].0 + DAY).to_utc())["report"];
    let notes = body["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 4, "{body}");
    for n in notes {
        assert_eq!(n["since_run"], f.runs[2].as_str(), "{n}");
        assert_eq!(n["history_cut"], true, "{n}");
        assert_eq!(n["since_first_run"], false, "{n}");
    }
}
