//! `sync-neo4j` against a real graph server (FalkorDB over Bolt on
//! 127.0.0.1, started by `scripts/test`; each test gets a server of its own
//! because FalkorDB puts every Bolt write in one graph). Connection and
//! authentication failures need no server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../bolt/tests/common/mod.rs"]
mod servers;

use auditgraph_bolt::{Client, Value};
use common::*;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// A workspace holding the repository's example notes, after `run`.
fn examples_ws() -> Ws {
    let ws = Ws::new();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/notes");
    copy_dir(&examples, ws.root());
    // A local `auditgraph run examples/notes` leaves a store there.
    let _ = std::fs::remove_dir_all(ws.path(".pkg"));
    ws.json(&["run"]);
    ws
}

fn env(server: &servers::Server) -> Vec<(&'static str, String)> {
    vec![
        ("NEO4J_URI", server.uri.clone()),
        ("NEO4J_USER", server.user.clone()),
        ("NEO4J_PASSWORD", server.password.clone()),
    ]
}

fn sync(ws: &Ws, server: &servers::Server, extra: &[&str]) -> Run {
    let env = env(server);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut args = vec!["--json", "sync-neo4j"];
    args.extend_from_slice(extra);
    ws.run_env(&args, &env)
}

fn query(client: &mut Client, q: &str) -> Vec<Vec<Value>> {
    client.run(q, &[]).unwrap().records
}

fn count(client: &mut Client, q: &str) -> i64 {
    query(client, q)[0][0].as_int().unwrap()
}

/// Every entity and relationship in the database with its properties
/// (sorted, without those in `skip`), for comparing two states.
fn dump(client: &mut Client, skip: &[&str]) -> BTreeMap<String, String> {
    let props = |v: &Value| -> String {
        let mut p = match v {
            Value::Map(p) => p.clone(),
            other => panic!("{other:?}"),
        };
        p.retain(|(k, _)| !skip.contains(&k.as_str()));
        p.sort_by(|a, b| a.0.cmp(&b.0));
        format!("{p:?}")
    };
    let mut out = BTreeMap::new();
    for row in query(
        client,
        "MATCH (n:Auditgraph) RETURN n.id, labels(n), properties(n)",
    ) {
        let id = row[0].as_str().unwrap().to_string();
        out.insert(id, format!("{:?} {}", row[1], props(&row[2])));
    }
    for row in query(
        client,
        "MATCH (a)-[r]->(b) RETURN r.id, type(r), a.id, b.id, properties(r)",
    ) {
        let id = row[0].as_str().unwrap().to_string();
        out.insert(
            id,
            format!("{:?} {:?} {:?} {}", row[1], row[2], row[3], props(&row[4])),
        );
    }
    out
}

fn prop<'a>(props: &'a Value, key: &str) -> Option<&'a Value> {
    match props {
        Value::Map(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

#[test]
fn sync_loads_the_graph_and_a_second_sync_changes_nothing() {
    let Some(server) = servers::own("sync_loads_the_graph") else {
        return;
    };
    let ws = examples_ws();
    let link = ws.manifest(&ws.current_run(), "link");
    let sum = |v: &Json| -> i64 {
        v.as_object()
            .unwrap()
            .values()
            .map(|n| n.as_i64().unwrap())
            .sum()
    };
    let entities = sum(&link["counts"]["entities"]);
    let links = sum(&link["counts"]["links"]);

    let first = sync(&ws, &server, &[]).ok().json();
    assert_eq!(first["nodes"]["total"], entities);
    assert_eq!(first["nodes"]["created"], entities);
    assert_eq!(first["relationships"]["created"], links);
    assert_eq!(first["dry_run"], false);
    assert!(!first.to_string().contains(&server.password));

    let mut client = Client::connect(&server.config()).unwrap();
    assert_eq!(
        count(&mut client, "MATCH (n:Auditgraph) RETURN count(n)"),
        entities
    );
    assert_eq!(
        count(&mut client, "MATCH ()-[r]->() RETURN count(r)"),
        links
    );
    // Per type, as the manifest counts them.
    for (ty, n) in link["counts"]["entities"].as_object().unwrap() {
        let label = match ty.as_str() {
            "ag:note" => "AgNote",
            "ag:section" => "AgSection",
            "ag:technology" => "AgTechnology",
            "ag:reference" => "AgReference",
            other => panic!("unexpected type {other}"),
        };
        let q = format!("MATCH (n:{label}) RETURN count(n)");
        assert_eq!(count(&mut client, &q), n.as_i64().unwrap(), "{ty}");
    }
    // A sample of properties, as `node --json` shows them.
    let list = ws.json(&["list", "--limit", "200"]);
    for entity in list["results"].as_array().unwrap().iter().step_by(7) {
        let id = entity["id"].as_str().unwrap();
        let shown = ws.json(&["node", id]);
        let rows = query(
            &mut client,
            &format!("MATCH (n:Auditgraph {{id: '{id}'}}) RETURN properties(n)"),
        );
        assert_eq!(rows.len(), 1, "{id} is in the database once");
        let props = &rows[0][0];
        let text = |k: &str| prop(props, k).and_then(Value::as_str).map(str::to_string);
        assert_eq!(
            text("name").as_deref(),
            shown["entity"]["name"].as_str().or(shown["name"].as_str()),
            "{id}"
        );
        assert_eq!(text("type").as_deref(), entity["type"].as_str(), "{id}");
        assert!(text("row_hash").is_some());
        assert!(prop(props, "run_id").is_none(), "entities carry no run id");
    }
    // Relationships keep rule, confidence and evidence references.
    let rels = query(
        &mut client,
        "MATCH ()-[r:CONTAINS_SECTION]->() RETURN r.rule_id, r.confidence, r.evidence, r.evidence_chunk_ids LIMIT 5",
    );
    assert!(!rels.is_empty());
    for r in &rels {
        assert_eq!(r[0].as_str(), Some("link.markdown.contains_section.v1"));
        assert_eq!(r[1].as_float(), Some(1.0));
        let evidence: Json = serde_json::from_str(r[2].as_str().unwrap()).unwrap();
        assert!(
            evidence[0]["document_id"]
                .as_str()
                .unwrap()
                .starts_with("doc_")
        );
    }
    // The run is recorded once.
    let run = query(
        &mut client,
        "MATCH (s:AuditgraphSync) RETURN s.run_id, s.profile",
    );
    assert_eq!(run.len(), 1);
    assert_eq!(run[0][0].as_str(), Some(ws.current_run().as_str()));

    let before = dump(&mut client, &[]);
    let second = sync(&ws, &server, &[]).ok().json();
    assert_eq!(second["nodes"]["created"], 0);
    assert_eq!(second["nodes"]["updated"], 0);
    assert_eq!(second["nodes"]["unchanged"], entities);
    assert_eq!(second["relationships"]["created"], 0);
    assert_eq!(second["relationships"]["updated"], 0);
    assert_eq!(second["relationships"]["unchanged"], links);
    assert_eq!(
        dump(&mut client, &[]),
        before,
        "a second sync changed the database"
    );

    // Small batches give the same database.
    let third = sync(&ws, &server, &["--batch-size", "3"]).ok().json();
    assert_eq!(third["relationships"]["unchanged"], links);
    assert_eq!(dump(&mut client, &[]), before);
}

#[test]
fn an_edit_rewrites_only_what_changed() {
    let Some(server) = servers::own("an_edit_rewrites_only_what_changed") else {
        return;
    };
    let ws = examples_ws();
    sync(&ws, &server, &[]).ok();
    let note = ws.root().join("runbooks");
    let first = std::fs::read_dir(&note)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut text = std::fs::read_to_string(&first).unwrap();
    text.push_str("\n## Added later\n\nNow also mentions `kubectl`.\n");
    std::fs::write(&first, text).unwrap();
    ws.json(&["run"]);

    let dry = sync(&ws, &server, &["--dry-run"]).ok().json();
    let report = sync(&ws, &server, &[]).ok().json();
    for target in ["nodes", "relationships"] {
        for key in ["created", "updated", "unchanged"] {
            assert_eq!(
                dry[target][key], report[target][key],
                "{target}.{key}: dry run and sync agree"
            );
        }
    }
    assert!(
        report["nodes"]["created"].as_i64().unwrap() >= 1,
        "{report}"
    );
    let unchanged = report["nodes"]["unchanged"].as_i64().unwrap();
    let total = report["nodes"]["total"].as_i64().unwrap();
    assert!(
        unchanged * 2 > total,
        "most entities are untouched: {report}"
    );
    let mut client = Client::connect(&server.config()).unwrap();
    let run = query(&mut client, "MATCH (s:AuditgraphSync) RETURN s.run_id");
    assert_eq!(run[0][0].as_str(), Some(ws.current_run().as_str()));
}

#[test]
fn a_dry_run_counts_and_writes_nothing() {
    let Some(server) = servers::own("a_dry_run_counts_and_writes_nothing") else {
        return;
    };
    let ws = examples_ws();
    let mut client = Client::connect(&server.config()).unwrap();
    let before = dump(&mut client, &[]);
    let report = sync(&ws, &server, &["--dry-run"]).ok().json();
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["nodes"]["created"], report["nodes"]["total"]);
    assert_eq!(
        report["relationships"]["created"],
        report["relationships"]["total"]
    );
    assert_eq!(dump(&mut client, &[]), before);
    assert_eq!(count(&mut client, "MATCH (n) RETURN count(n)"), 0);
    let human = {
        let env = env(&server);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        ws.run_env(&["sync-neo4j", "--dry-run"], &env).ok()
    };
    assert!(human.stdout.contains("would sync"), "{}", human.stdout);
    assert_eq!(count(&mut client, "MATCH (n) RETURN count(n)"), 0);
}

/// Runs the `export-neo4j` script on a second server, statement by
/// statement (skipping the constraints FalkorDB does not support), and
/// compares with what `sync-neo4j` wrote.
#[test]
fn the_export_script_and_the_sync_load_the_same_graph() {
    let Some(synced) = servers::own("export_script_vs_sync (sync)") else {
        return;
    };
    let Some(scripted) = servers::own("export_script_vs_sync (script)") else {
        return;
    };
    if !synced.is_own() || !scripted.is_own() {
        eprintln!("note: needs two servers of its own; skipped");
        return;
    }
    let ws = examples_ws();
    sync(&ws, &synced, &[]).ok();
    ws.json(&["export-neo4j", "-o", "graph.cypher"]);
    let script = std::fs::read_to_string(ws.path("graph.cypher")).unwrap();
    let mut client = Client::connect(&scripted.config()).unwrap();
    client
        .execute("CREATE INDEX FOR (n:Auditgraph) ON (n.id)", &[])
        .unwrap();
    let mut statements = 0;
    for line in script.lines() {
        if line.is_empty() || line.starts_with("//") || line.starts_with("CREATE CONSTRAINT") {
            continue;
        }
        client.execute(line.trim_end_matches(';'), &[]).unwrap();
        statements += 1;
    }
    assert!(statements > 0);
    // Same entities and relationships with the same properties, apart from
    // what only one of them writes (run_id in the script, row_hash in the
    // sync).
    let from_script = dump(&mut client, &["run_id", "row_hash"]);
    let mut synced_client = Client::connect(&synced.config()).unwrap();
    let from_sync = dump(&mut synced_client, &["run_id", "row_hash"]);
    assert_eq!(from_script.len(), from_sync.len());
    assert_eq!(from_script, from_sync);
}

#[test]
fn wrong_credentials_and_unreachable_servers_fail_cleanly() {
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["run"]);
    // No server configured: a usage error naming the variables.
    let run = ws.run(&["sync-neo4j"]).code(2);
    assert!(run.stderr.contains("NEO4J_URI"), "{}", run.stderr);
    // An invalid URI.
    let run = ws
        .run_env(&["sync-neo4j"], &[("NEO4J_URI", "http://127.0.0.1:7687")])
        .code(2);
    assert!(run.stderr.contains("invalid Bolt URI"), "{}", run.stderr);
    // --require-tls refuses plaintext to a remote host before connecting.
    let started = Instant::now();
    let run = ws
        .run_env(
            &["--json", "sync-neo4j", "--require-tls"],
            &[("NEO4J_URI", "bolt://graph.example.com:7687")],
        )
        .code(1);
    assert_eq!(run.json()["code"], "tls_required");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Plaintext to a remote host warns (then fails to connect here).
    let run = ws.run_env(
        &["sync-neo4j", "--timeout", "1"],
        &[("NEO4J_URI", "bolt://192.0.2.1:7687")],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("warning: bolt is plaintext"),
        "{}",
        run.stderr
    );
    // A closed port: a quick one-line connection error.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let uri = format!("bolt://127.0.0.1:{closed}");
    let run = ws
        .run_env(&["--json", "sync-neo4j"], &[("NEO4J_URI", uri.as_str())])
        .code(1);
    assert_eq!(run.json()["code"], "neo4j_connect_failed");
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1
    );
    // A server that accepts and never answers: a timeout, not a hang.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("bolt://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let started = Instant::now();
    let run = ws
        .run_env(
            &["--json", "sync-neo4j", "--timeout", "1"],
            &[("NEO4J_URI", uri.as_str())],
        )
        .code(1);
    assert_eq!(run.json()["code"], "neo4j_timeout", "{}", run.stdout);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    drop(silent);

    // Wrong password against a real server.
    let Some(server) = servers::shared("wrong_credentials") else {
        return;
    };
    let run = ws
        .run_env(
            &["--json", "sync-neo4j"],
            &[
                ("NEO4J_URI", server.uri.as_str()),
                ("NEO4J_USERNAME", server.user.as_str()),
                ("NEO4J_PASSWORD", "not-the-password"),
            ],
        )
        .code(1);
    let doc = run.json();
    assert_eq!(doc["code"], "neo4j_auth_failed", "{doc}");
    assert!(!run.stdout.contains("not-the-password") && !run.stderr.contains("not-the-password"));
}
