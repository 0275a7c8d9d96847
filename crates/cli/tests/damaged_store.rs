//! A damaged store that still decodes is refused with a clear error (exit
//! 1, naming the file), never a panic, by every command that reads it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use auditgraph_core::graph::model::Graph;
use auditgraph_core::index::stage::IndexData;
use common::*;
use serde_json::Value;

/// Replaces the body of the object `kind` of the current run with what
/// `damage` makes of it, keeping the header (and the file name: the
/// content no longer matches its hash, as after bit rot or tampering).
fn damage_object(ws: &Ws, stage: &str, kind: &str, damage: impl Fn(&[u8]) -> Vec<u8>) {
    let run = ws.current_run();
    let manifest = ws.manifest(&run, stage);
    let artifact = manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == kind)
        .unwrap();
    let id = artifact["object"].as_str().unwrap();
    let path = ws.store().join("objects").join(&id[..2]).join(id);
    let payload = zstd::decode_all(std::fs::read(&path).unwrap().as_slice()).unwrap();
    let split = payload.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut out = payload[..split].to_vec();
    out.extend(damage(&payload[split..]));
    std::fs::write(&path, zstd::encode_all(out.as_slice(), 3).unwrap()).unwrap();
}

fn readers(ws: &Ws) -> Vec<Vec<String>> {
    let note = ws.json(&["list", "--type", "ag:note", "--limit", "1"])["results"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    [
        // `query` decodes the graph's edges only when it needs them: a
        // technology's refs come from its `mentions_technology` edges.
        vec!["query", "--q", "postgres", "--where", "refs~alpha"],
        vec!["list"],
        vec!["node", note.as_str()],
        vec!["neighbors", note.as_str(), "--depth", "2"],
        vec![
            "why-connected",
            "--from",
            note.as_str(),
            "--to",
            note.as_str(),
        ],
        vec!["export", "--format", "dot", "-o", "out.dot"],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(String::from).collect())
    .collect()
}

fn assert_refused(ws: &Ws, commands: &[Vec<String>], expect: &str) {
    for args in commands {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = ws.run(&args);
        assert_eq!(
            run.code, 1,
            "{args:?}: expected a clean refusal\nstdout:\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(expect), "{args:?}: {}", run.stderr);
    }
    let report = ws.run(&["--json", "validate-store"]).code(1).json();
    assert!(report.to_string().contains("tampered_artifact"), "{report}");
}

#[test]
fn graph_indexes_pointing_outside_the_graph_are_refused() {
    type Breaker = fn(&mut Graph);
    let breaks: [(&str, Breaker); 4] = [
        ("evidence document", |g| {
            g.edges[0].evidence[0].doc = 9_999;
        }),
        ("edge", |g| {
            let n = g.nodes.len() as u32;
            g.edges[0].to = n + 3;
        }),
        ("section's parent", |g| {
            let n = g.nodes.len() as u32;
            for node in &mut g.nodes {
                if let auditgraph_core::graph::model::NodeDetail::Section { parent, .. } =
                    &mut node.detail
                {
                    *parent = Some(n);
                }
            }
        }),
        ("note", |g| {
            let n = g.nodes.len() as u32;
            g.docs[0].note = n;
        }),
    ];
    for (what, brk) in breaks {
        let ws = Ws::new();
        sample_notes(&ws);
        ws.json(&["run"]);
        let commands = readers(&ws);
        damage_object(&ws, "link", "graph", |body| {
            let mut g = Graph::from_bytes(body).unwrap();
            brk(&mut g);
            g.to_bytes()
        });
        eprintln!("breaking: {what}");
        assert_refused(&ws, &commands, "unreadable graph");
    }
}

#[test]
fn an_index_that_does_not_fit_its_graph_is_refused() {
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["run"]);
    let commands: Vec<Vec<String>> = readers(&ws)
        .into_iter()
        .filter(|c| c[0] == "query")
        .collect();
    damage_object(&ws, "index", "index", |body| {
        let mut index = IndexData::from_bytes(body).unwrap();
        index.outgoing.edges[0] = 1_000_000;
        index.to_bytes()
    });
    assert_refused(
        &ws,
        &commands,
        "adjacency names an edge that does not exist",
    );
}

#[test]
fn trailing_bytes_after_a_binary_object_are_refused() {
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["run"]);
    let commands = readers(&ws);
    damage_object(&ws, "link", "graph", |body| {
        let mut out = body.to_vec();
        out.extend_from_slice(b"appended");
        out
    });
    assert_refused(&ws, &commands, "unexpected byte(s) after the encoded value");
}

/// A graph written by another build of the same schema (here: its format
/// number changed, stored under its own hash as that build would have) is
/// not damage: readers exit 3 naming the object and the command to run,
/// and `run` supersedes the run with a fresh one (the old run can neither
/// be read nor overwritten) without touching it.
#[test]
fn a_graph_in_another_format_asks_for_a_fresh_run() {
    use sha2::Digest;
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["run"]);
    let old_run = ws.current_run();
    // Re-store the graph with format number 2 under its true id and point
    // the link manifest at it.
    let manifest_path = ws
        .store()
        .join("runs")
        .join(&old_run)
        .join("link-manifest.json");
    let mut manifest = ws.manifest(&old_run, "link");
    let id = manifest["artifacts"][0]["object"]
        .as_str()
        .unwrap()
        .to_string();
    let object = |id: &str| ws.store().join("objects").join(&id[..2]).join(id);
    let mut payload = zstd::decode_all(std::fs::read(object(&id)).unwrap().as_slice()).unwrap();
    let body = payload.iter().position(|&b| b == b'\n').unwrap() + 1;
    assert_eq!(payload[body], 3, "the graph format this test starts from");
    payload[body] = 2;
    let other = hex::encode(sha2::Sha256::digest(&payload));
    std::fs::create_dir_all(object(&other).parent().unwrap()).unwrap();
    std::fs::write(
        object(&other),
        zstd::encode_all(payload.as_slice(), 3).unwrap(),
    )
    .unwrap();
    manifest["artifacts"][0]["object"] = Value::String(other.clone());
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();

    let query = ws.run(&["query", "--q", "alpha"]).code(3);
    assert!(
        query.stderr.contains("holds a graph in format 2"),
        "{}",
        query.stderr
    );
    assert!(
        query.stderr.contains("auditgraph rebuild"),
        "{}",
        query.stderr
    );
    let doc = ws.run(&["--json", "node", "ent_x"]).code(3).json();
    assert_eq!(doc["code"], "rebuild_required", "{doc}");
    assert_eq!(doc["found_format"], 2, "{doc}");
    let report = ws.run(&["--json", "validate-store"]).code(1).json();
    assert!(
        report.to_string().contains("unsupported_format"),
        "{report}"
    );

    let other_bytes = std::fs::read(object(&other)).unwrap();
    ws.json(&["run"]);
    let new_run = ws.current_run();
    assert_ne!(new_run, old_run);
    assert_eq!(
        ws.json(&["query", "--q", "alpha"])["results"][0]["name"],
        "Alpha note"
    );
    // the superseded run and its graph are untouched
    assert_eq!(std::fs::read(object(&other)).unwrap(), other_bytes);
    assert!(
        ws.store()
            .join("runs")
            .join(&old_run)
            .join("link-manifest.json")
            .is_file()
    );
}
