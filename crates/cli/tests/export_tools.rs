//! Exports read back by the real programs they are meant for: GraphML by
//! networkx, DOT by Graphviz `dot`, the JSON bundle by the `jsonschema`
//! validator against `schemas/export.schema.json`.
//!
//! Python and the programs come as [`common::tools`] finds them: a missing
//! one skips the test with a note, or fails it where tools are required.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::tools::{missing, python_with};
use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn graphviz() -> Option<()> {
    tools::program("dot", "-V", "graphviz")
}

/// Runs a Python script that prints one JSON document.
fn run_python(python: &str, script: &str, args: &[&Path]) -> Value {
    let out = tools::run_script(python, script, args);
    serde_json::from_slice(&out).unwrap_or_else(|e| {
        panic!(
            "python printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out)
        )
    })
}

/// The repository's example notes plus notes whose names, headings, code
/// spans and file names hold quotes, backslashes, `<`, `&`, Graphviz escape
/// sequences and non-ASCII.
fn awkward_ws() -> Ws {
    let ws = Ws::new();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/notes");
    copy_dir(&examples, ws.root());
    ws.write(
        "notes/awkward.md",
        concat!(
            "---\n",
            "title: \"Quotes \\\"q\\\" & <angle> back\\\\slash\"\n",
            "aliases: [\"Zoë 東京\", \"a&b\"]\n",
            "tags: [\"x&y\", \"<t>\"]\n",
            "---\n",
            "# Ünïcödé — Zoë in 東京 ☃\n",
            "\n",
            "Code: `C:\\path\\to\\thing`, `a\"b`, `x<y>&z`, `\\N\\G\\L\\E`, `{curly}|[sq]`, `'single'`.\n",
            "\n",
            // Code that names nothing is no technology: these names reach
            // the graph as section titles.
            "### `C:\\path\\to\\thing`\n\n### `x<y>&z`\n\n### `\\N\\G\\L\\E`\n\n### `a\"b`\n\n",
            "## Back\\\\slash \\ end \\\n",
            "\n",
            "See [the \"other\" note](Zoë%20&%20friends.md) and [[Awkward & more]].\n",
            "\n",
            "## 'Single' \"double\" `x<y>&z` & more\n",
            "\n",
            "```c++\nint main() {}\n```\n",
        ),
    );
    ws.write(
        "notes/Zoë & friends.md",
        "# Zoë & \"friends\" <3\n\nBack to [awkward](awkward.md); uses `x<y>&z` and `postgres`.\n",
    );
    ws.run(&["run"]).ok();
    ws
}

fn export(ws: &Ws, args: &[&str]) -> (Value, PathBuf) {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    let doc = ws.json(&all);
    let path = PathBuf::from(doc["output"].as_str().unwrap());
    (doc, path)
}

/// A JSON bundle, decoded to ids ([`expand_bundle`]).
fn bundle(ws: &Ws, args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let (_, path) = export(ws, &all);
    expand_bundle(&serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
}

/// The whole graph's JSON bundle, decoded to ids.
fn bundle_of(ws: &Ws) -> Value {
    bundle(ws, &[])
}

/// The source path of a bundle entity: its document's (entities point at
/// documents by id; technologies have none).
fn source_path<'a>(bundle: &'a Value, entity: &Value) -> Option<&'a str> {
    let id = entity.get("document_id")?;
    bundle["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| &d["document_id"] == id)
        .map(|d| d["source_path"].as_str().unwrap())
}

/// Total entities and links of the current run, from its link manifest.
fn manifest_counts(ws: &Ws) -> (u64, u64) {
    let link = ws.manifest(&ws.current_run(), "link");
    let sum = |v: &Value| {
        v.as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum()
    };
    (
        sum(&link["counts"]["entities"]),
        sum(&link["counts"]["links"]),
    )
}

const READ_GRAPHML: &str = r#"
import json, sys
import networkx as nx
g = nx.read_graphml(sys.argv[1])
# Nodes are n<position>; name them by the entity id they carry.
g = nx.relabel_nodes(g, {n: d["entity_id"] for n, d in g.nodes(data=True)})
edges = []
if g.is_multigraph():
    for u, v, k, d in g.edges(keys=True, data=True):
        edges.append(dict(d, source=u, target=v, key=k))
else:
    for u, v, d in g.edges(data=True):
        edges.append(dict(d, source=u, target=v))
print(json.dumps({
    "directed": g.is_directed(),
    "nodes": g.number_of_nodes(),
    "edges": g.number_of_edges(),
    "graph": {k: v for k, v in g.graph.items() if isinstance(v, str)},
    "node_attrs": {n: d for n, d in g.nodes(data=True)},
    "edge_attrs": edges,
}))
"#;

#[test]
fn graphml_is_read_by_networkx_with_the_stores_counts_and_names() {
    let Some(python) = python_with(&["networkx"]) else {
        return;
    };
    let ws = awkward_ws();
    let (entities, links) = manifest_counts(&ws);
    let full = bundle(&ws, &[]);
    let (doc, path) = export(&ws, &["--format", "graphml"]);
    assert_eq!(doc["counts"]["entities"].as_u64().unwrap(), entities);
    assert_eq!(doc["counts"]["links"].as_u64().unwrap(), links);

    let g = run_python(&python, READ_GRAPHML, &[&path]);
    assert_eq!(g["directed"], true);
    assert_eq!(
        g["nodes"].as_u64().unwrap(),
        entities,
        "networkx node count"
    );
    assert_eq!(g["edges"].as_u64().unwrap(), links, "networkx edge count");
    assert_eq!(g["graph"]["run_id"], ws.current_run().as_str());

    // Every entity's type, name and source path round-trip exactly, the
    // awkward ones included.
    let nodes = g["node_attrs"].as_object().unwrap();
    for e in full["entities"].as_array().unwrap() {
        let n = &nodes[e["id"].as_str().unwrap()];
        assert_eq!(n["type"], e["type"], "{}", e["id"]);
        assert_eq!(n["name"], e["name"], "{}", e["id"]);
        assert_eq!(n["entity_id"], e["id"]);
        match source_path(&full, e) {
            Some(p) => assert_eq!(n["source_path"], p, "{}", e["id"]),
            None => assert!(n.get("source_path").is_none(), "{}", e["id"]),
        }
    }
    let names: BTreeSet<&str> = nodes
        .values()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    for awkward in [
        "Quotes \"q\" & <angle> back\\slash",
        "Ünïcödé — Zoë in 東京 ☃",
        "C:\\path\\to\\thing",
        "x<y>&z",
        "Zoë & \"friends\" <3",
    ] {
        assert!(names.contains(awkward), "{awkward} missing from {names:?}");
    }
    // Edges: type and confidence, per link (its rule and authority follow
    // from its type; its evidence is in the JSON bundle).
    let mut by_pair: BTreeMap<(String, String, String), &Value> = BTreeMap::new();
    for e in g["edge_attrs"].as_array().unwrap() {
        let key = (
            e["source"].as_str().unwrap().to_string(),
            e["target"].as_str().unwrap().to_string(),
            e["type"].as_str().unwrap().to_string(),
        );
        by_pair.insert(key, e);
    }
    for l in full["links"].as_array().unwrap() {
        let key = (
            l["from_id"].as_str().unwrap().to_string(),
            l["to_id"].as_str().unwrap().to_string(),
            l["type"].as_str().unwrap().to_string(),
        );
        let e = by_pair
            .get(&key)
            .unwrap_or_else(|| panic!("no edge for {key:?}"));
        let (a, b) = (
            e["confidence"].as_f64().unwrap(),
            l["confidence"].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }
    // A sample node, as the brief asks: a note with its type and name.
    let note = full["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "ag:note")
        .unwrap();
    let n = &nodes[note["id"].as_str().unwrap()];
    assert_eq!(n["type"], "ag:note");
    assert_eq!(n["name"], note["name"]);

    // A subgraph too.
    let (sub, sub_path) = export(&ws, &["--format", "graphml", "--type", "ag:technology"]);
    let g = run_python(&python, READ_GRAPHML, &[&sub_path]);
    assert_eq!(g["nodes"], sub["counts"]["entities"]);
    assert_eq!(g["edges"], sub["counts"]["links"]);
}

#[test]
fn dot_is_rendered_by_graphviz_without_complaint() {
    let Some(()) = graphviz() else {
        return;
    };
    let ws = awkward_ws();
    let (entities, links) = manifest_counts(&ws);
    let (doc, path) = export(&ws, &["--format", "dot"]);
    assert_eq!(doc["counts"]["entities"].as_u64().unwrap(), entities);
    let svg_path = ws.path("graph.svg");
    let out = Command::new("dot")
        .arg("-Tsvg")
        .arg(&path)
        .arg("-o")
        .arg(&svg_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dot failed: {stderr}");
    assert!(stderr.trim().is_empty(), "dot complained: {stderr}");
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    // Every node and edge was drawn.
    assert_eq!(svg.matches("class=\"node\"").count() as u64, entities);
    assert_eq!(svg.matches("class=\"edge\"").count() as u64, links);
    // Names render as written: backslashes single (DOT's `\\`), Graphviz
    // escapes like `\N` not interpreted, quotes and `<&>` as text, UTF-8 kept.
    for rendered in [
        "C:\\path\\to\\thing",
        "\\N\\G\\L\\E",
        "Back\\slash \\ end \\",
        "a&quot;b",
        "x&lt;y&gt;&amp;z",
        "Ünïcödé — Zoë in 東京 ☃",
        "Zoë &amp; &quot;friends&quot; &lt;3",
    ] {
        assert!(svg.contains(rendered), "{rendered} not in the SVG");
    }

    // The subgraph of one note renders too.
    let full = bundle(&ws, &[]);
    let note = full["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "ag:note" && source_path(&full, e) == Some("notes/awkward.md"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, sub) = export(&ws, &["--format", "dot", "--from", &note, "--depth", "2"]);
    let out = Command::new("dot").arg("-Tsvg").arg(&sub).output().unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const VALIDATE: &str = r#"
import copy, json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1], encoding="utf-8"))
Draft202012Validator.check_schema(schema)
validator = Draft202012Validator(schema)
def errors(doc):
    return [f"{e.json_path}: {e.message}"[:300] for e in validator.iter_errors(doc)]
result = {}
for path in sys.argv[2:]:
    doc = json.load(open(path, encoding="utf-8"))
    result[path] = errors(doc)
# Deliberately broken copies of the first bundle must fail.
base = json.load(open(sys.argv[2], encoding="utf-8"))
def broken(name, change):
    doc = copy.deepcopy(base)
    change(doc)
    result["broken:" + name] = errors(doc)
broken("no_links", lambda d: d.pop("links"))
broken("bad_entity_id", lambda d: d["entities"][0].__setitem__("id", "ent_123"))
broken("entity_without_type", lambda d: d["entities"][0].pop("type"))
broken("confidence_above_1", lambda d: d["links"][0].__setitem__(3, 2))
broken("link_row_too_short", lambda d: d["links"][0].pop())
broken("link_type_not_string", lambda d: d["links"][0].__setitem__(2, 7))
broken("bad_authority", lambda d: next(iter(d["export_metadata"]["link_types"].values())).__setitem__("authority", "guess"))
broken("chunk_text_not_string", lambda d: d["chunks"][0].__setitem__("text", 5))
broken("document_without_hash", lambda d: d["documents"][0].pop("source_hash"))
broken("wrong_format", lambda d: d.__setitem__("format", "something-else"))
broken("unknown_top_level_key", lambda d: d.__setitem__("created_at", "2024-01-01T00:00:00Z"))
broken("metadata_without_run_id", lambda d: d["export_metadata"].pop("run_id"))
broken("metadata_without_link_types", lambda d: d["export_metadata"].pop("link_types"))
broken("section_without_level", lambda d: [e.pop("level") for e in d["entities"] if e["type"] == "ag:section"])
# Format 3 states paths, hashes, the run, ids and derivable counts once:
# the repeated fields of formats 1 and 2 must not come back.
def first(d, kind):
    return next(e for e in d["entities"] if e["type"] == kind)
broken("format_version_2", lambda d: d.__setitem__("format_version", 2))
broken("evidence_row_too_long", lambda d: d["links"][0][5][0].extend([0, 1]))
broken("evidence_document_not_a_position", lambda d: d["links"][0][5][0].__setitem__(0, "doc_x"))
broken("ref_with_source_hash", lambda d: d["entities"][0]["refs"][0].append("0" * 64))
broken("ref_as_object", lambda d: d["entities"][0]["refs"].__setitem__(0, {"document_ref": 0}))
broken("entity_with_source_path", lambda d: first(d, "ag:note").__setitem__("source_path", "notes/x.md"))
broken("entity_with_document_id", lambda d: first(d, "ag:note").__setitem__("document_id", "doc_0123456789abcdef01234567"))
broken("entity_with_provenance", lambda d: d["entities"][0].__setitem__("provenance", {"created_by_rule": "extract.note.v1"}))
broken("technology_with_mentions", lambda d: first(d, "ag:technology").__setitem__("mentions", []))
broken("reference_with_target_path", lambda d: first(d, "ag:reference").__setitem__("target_path", None))
broken("note_with_parser_id", lambda d: first(d, "ag:note").__setitem__("parser_id", "text/markdown"))
broken("chunk_without_document_ref", lambda d: d["chunks"][0].pop("document_ref"))
print(json.dumps(result))
"#;

#[test]
fn json_bundles_validate_against_the_published_schema() {
    let Some(python) = python_with(&["jsonschema"]) else {
        return;
    };
    let ws = awkward_ws();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/export.schema.json");
    let (_, whole) = export(&ws, &["--format", "json"]);
    let (_, text) = export(&ws, &["--with-text", "--output", "exports/text.json"]);
    let (_, notes) = export(&ws, &["--type", "ag:note"]);
    let full = bundle(&ws, &[]);
    let tech = full["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "ag:technology")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, neighbourhood) = export(&ws, &["--from", &tech, "--depth", "2"]);
    // An empty selection is still a valid bundle.
    let (empty_doc, empty) = export(&ws, &["--from", &tech, "--depth", "0", "--type", "ag:note"]);
    assert_eq!(
        empty_doc["counts"],
        json!({"entities": 0, "links": 0, "documents": 0, "chunks": 0})
    );

    let result = run_python(
        &python,
        VALIDATE,
        &[&schema, &whole, &text, &notes, &neighbourhood, &empty],
    );
    let result = result.as_object().unwrap();
    for path in [&whole, &text, &notes, &neighbourhood, &empty] {
        let errors = &result[path.to_str().unwrap()];
        assert_eq!(errors, &json!([]), "{} does not validate", path.display());
    }
    let broken: Vec<(&String, &Value)> = result
        .iter()
        .filter(|(k, _)| k.starts_with("broken:"))
        .collect();
    assert_eq!(broken.len(), 26);
    for (name, errors) in broken {
        assert!(
            !errors.as_array().unwrap().is_empty(),
            "{name} validated but must not"
        );
    }
}

const LOAD_CYPHER: &str = r#"
import json, os, sys
from falkordb import FalkorDB
port, graph_name, script, bundle_path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
bundle = json.load(open(bundle_path, encoding="utf-8"))
g = FalkorDB(host="127.0.0.1", port=port,
             password=os.environ.get("AUDITGRAPH_TEST_REDIS_PASSWORD") or None).select_graph(graph_name)
# The script's contract: every non-comment line is one statement ending in ';'.
statements, skipped = [], 0
for line in open(script, encoding="utf-8"):
    line = line.rstrip("\n")
    if not line or line.startswith("//"):
        continue
    assert line.endswith(";"), line[:80]
    if line.startswith("CREATE CONSTRAINT"):
        skipped += 1  # Neo4j 5 syntax; FalkorDB uses indexes + GRAPH.CONSTRAINT
        continue
    statements.append(line[:-1])
g.query("CREATE INDEX FOR (n:Auditgraph) ON (n.id)")
def counts():
    n = g.ro_query("MATCH (n:Auditgraph) RETURN count(n)").result_set[0][0]
    r = g.ro_query("MATCH ()-[r]->() RETURN count(r)").result_set[0][0]
    return [n, r]
runs = []
try:
    for _ in range(2):
        for s in statements:
            g.query(s)
        runs.append(counts())
    mismatches = []
    # Both name documents by id; the script keeps where each evidence item
    # is (no names: via_name is the bundle's convenience).
    docs = {d["document_id"]: d for d in bundle["documents"]}
    kept = ("chunk_id", "document_id", "line_start", "line_end", "via_id")
    def where(ev):
        return {k: v for k, v in ev.items() if k in kept}
    for e in bundle["entities"]:
        rows = g.ro_query(
            "MATCH (n:Auditgraph {id: $id}) RETURN n.name, n.type, n.source_path, labels(n)",
            {"id": e["id"]},
        ).result_set
        if len(rows) != 1 or rows[0][0] != e["name"] or rows[0][1] != e["type"] \
                or rows[0][2] != (docs[e["document_id"]]["source_path"] if "document_id" in e else None):
            mismatches.append(e["id"])
    for l in bundle["links"]:
        rows = g.ro_query(
            "MATCH (a)-[r {id: $id}]->(b) RETURN a.id, b.id, r.rule_id, r.confidence, r.evidence, type(r)",
            {"id": l["id"]},
        ).result_set
        if len(rows) != 1 or rows[0][0] != l["from_id"] or rows[0][1] != l["to_id"] \
                or rows[0][2] != l["rule_id"] or abs(rows[0][3] - l["confidence"]) > 1e-9 \
                or json.loads(rows[0][4]) != [where(ev) for ev in l["evidence"]] \
                or rows[0][5] != l["type"].upper():
            mismatches.append(l["id"])
finally:
    g.delete()
print(json.dumps({"runs": runs, "skipped": skipped, "statements": len(statements),
                  "mismatches": mismatches[:10], "mismatch_count": len(mismatches)}))
"#;

#[test]
fn cypher_script_loads_into_a_real_graph_server_twice_with_the_same_result() {
    // FalkorDB, started by scripts/test (AUDITGRAPH_TEST_REDIS_PORT). Loaded
    // through its Redis port into a graph of our own, so tests sharing the
    // server do not see each other.
    let port = match std::env::var("AUDITGRAPH_TEST_REDIS_PORT") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            let _ = missing::<()>("a FalkorDB server (AUDITGRAPH_TEST_REDIS_PORT)");
            return;
        }
    };
    let Some(python) = python_with(&["falkordb"]) else {
        return;
    };
    let ws = awkward_ws();
    let (entities, links) = manifest_counts(&ws);
    let doc = ws.json(&["export-neo4j"]);
    let script = PathBuf::from(doc["output"].as_str().unwrap());
    // The bundle decoded to ids, which the script names entities and links by.
    let bundle = ws.path("bundle-by-id.json");
    std::fs::write(&bundle, bundle_of(&ws).to_string()).unwrap();
    let graph = format!("ag_export_test_{}", std::process::id());
    let out = Command::new(&python)
        .arg("-c")
        .arg(LOAD_CYPHER)
        .arg(&port)
        .arg(&graph)
        .arg(&script)
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "loading failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = json!([entities, links]);
    assert_eq!(result["runs"], json!([want, want]), "{result}");
    assert_eq!(result["mismatch_count"], 0, "{result}");
    assert_eq!(result["skipped"], 5, "constraints: Auditgraph + 4 types");
}
