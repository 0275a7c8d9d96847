//! Golden test of the graph: entities, links and evidence of a fixture
//! workspace covering every heading kind, code spans and fences, every link
//! form, wikilinks with aliases and headings, front matter, pre-heading
//! content and documents without headings. `UPDATE_GOLDEN=1` rewrites the
//! expected file; review the diff before committing it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use auditgraph_core::pipeline::run_cmd::{self, Command};
use auditgraph_core::pipeline::{Workspace, WriteOptions};
use auditgraph_core::progress::NoProgress;
use auditgraph_core::query::load::{Need, open_run};
use serde_json::{Value, json};
use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub fn build_fixture() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/graph/notes");
    copy_dir(&src, dir.path());
    let ws = Workspace::open(dir.path(), None, None).unwrap();
    let on_wait = || {};
    let opts = WriteOptions {
        lock_timeout: std::time::Duration::from_secs(5),
        on_wait: &on_wait,
        progress: &NoProgress,
    };
    run_cmd::execute(&ws, &opts, Command::Run).unwrap();
    (dir, ws)
}

fn graph_json(ws: &Workspace) -> Value {
    let run = open_run(ws, None, Need::Graph).unwrap();
    let view = &run.view;
    let mut entities: Vec<Value> = (0..view.graph.nodes.len() as u32)
        .map(|i| view.entity(i).unwrap())
        .collect();
    for e in &mut entities {
        e["provenance"]["run_id"] = json!("<run>");
    }
    entities.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let mut links: Vec<Value> = (0..view.graph.edges.len()).map(|e| view.link(e)).collect();
    links.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    json!({ "entities": entities, "links": links })
}

#[test]
fn graph_matches_golden() {
    let (_dir, ws) = build_fixture();
    let actual = graph_json(&ws);
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/graph/expected.json");
    let pretty = serde_json::to_string_pretty(&actual).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &pretty).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&golden).expect("golden file; run with UPDATE_GOLDEN=1");
    assert!(
        pretty == expected,
        "the graph differs from tests/fixtures/graph/expected.json; rerun with UPDATE_GOLDEN=1 and review the diff"
    );
}

/// Finds the one entity of a type with a name.
fn entity<'a>(graph: &'a Value, ty: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = graph["entities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == ty && e["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "{ty} {name}: {found:?}");
    found[0]
}

fn links_between<'a>(graph: &'a Value, from: &Value, to: &Value, ty: &str) -> Vec<&'a Value> {
    graph["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["from_id"] == from["id"] && l["to_id"] == to["id"] && l["type"] == ty)
        .collect()
}

#[test]
fn graph_facts() {
    let (_dir, ws) = build_fixture();
    let g = graph_json(&ws);

    // Notes: title, first H1, or file stem; aliases and tags kept.
    let headings = entity(&g, "ag:note", "Headings of every kind");
    assert_eq!(
        headings["aliases"],
        json!(["Heading tour", "all the headings"])
    );
    assert_eq!(headings["tags"], json!(["fixture", "headings"]));
    assert_eq!(headings["frontmatter"]["project"], "apollo");
    assert_eq!(headings["name_source"], "title");
    assert!(headings["id"].as_str().unwrap().starts_with("ent_"));
    assert_eq!(headings["refs"][0]["source_path"], "headings.md");
    assert_eq!(headings["provenance"]["created_by_rule"], "extract.note.v1");
    entity(&g, "ag:note", "Code");
    entity(&g, "ag:note", "deep");
    entity(&g, "ag:note", "plain");

    // Sections: ATX and setext, every level, parents, duplicates.
    let sections: Vec<&Value> = g["entities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "ag:section" && e["source_path"] == "headings.md")
        .collect();
    let titles: Vec<&str> = sections
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for t in [
        "Level one",
        "Setext level one",
        "Level three",
        "Level four",
        "Level five",
        "Level six",
        "Setext level two",
    ] {
        assert!(titles.contains(&t), "{t} missing from {titles:?}");
    }
    assert_eq!(titles.iter().filter(|t| **t == "Level two").count(), 2);
    let six = entity(&g, "ag:section", "Level six");
    assert_eq!(six["level"], 6);
    let five = entity(&g, "ag:section", "Level five");
    assert_eq!(six["parent_section_id"], five["id"]);
    let setext_one = entity(&g, "ag:section", "Setext level one");
    assert_eq!(setext_one["level"], 1);
    assert_eq!(setext_one["refs"][0]["range"]["start_line"], 13);
    assert_eq!(
        links_between(
            &g,
            headings,
            entity(&g, "ag:section", "Level one"),
            "contains_section"
        )
        .len(),
        1
    );

    // Technologies: one node per case-folded token across documents.
    // Named after its first mention (code.md comes first).
    let postgres = entity(&g, "ag:technology", "postgres");
    assert_eq!(postgres["canonical_key"], "postgres");
    assert_eq!(postgres["document_count"], 3, "{postgres}");
    // A mention is a line where the token appears: the three spellings on
    // one line of headings.md count once.
    assert_eq!(postgres["mention_count"], 3);
    entity(&g, "ag:technology", "rust");
    entity(&g, "ag:technology", "python");
    entity(&g, "ag:technology", "pre-heading");
    let techs: Vec<&str> = g["entities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "ag:technology")
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(!techs.iter().any(|t| t.contains("indented")), "{techs:?}");
    assert!(!techs.contains(&"not code"), "text files are not Markdown");
    // Pre-heading content hangs off the note.
    assert_eq!(
        links_between(
            &g,
            headings,
            entity(&g, "ag:technology", "pre-heading"),
            "mentions_technology"
        )
        .len(),
        1
    );

    // References: classification and resolution.
    let reference = |name: &str| entity(&g, "ag:reference", name);
    let code_note = entity(&g, "ag:note", "Code");
    for (name, resolution) in [
        ("to code", "internal"),
        ("with anchor", "internal"),
        ("ref link", "internal"),
        ("collapsed", "external"),
        ("shortcut", "unresolved"),
        ("https://example.org/autolink", "external"),
        ("https://example.org/bare", "external"),
        ("nowhere", "unresolved"),
        ("Missing Page", "unresolved"),
        ("headings", "internal"),
        ("the tour", "internal"),
        ("top", "internal"),
    ] {
        assert_eq!(reference(name)["resolution"], resolution, "{name}");
    }
    assert_eq!(reference("to code")["target_id"], code_note["id"]);
    assert_eq!(
        links_between(&g, reference("to code"), code_note, "resolves_to_document").len(),
        1
    );
    assert_eq!(reference("the tour")["target_id"], headings["id"]);
    assert_eq!(reference("shortcut")["reason"], "outside_root");
    assert!(
        !g["entities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "an image"),
        "images produce nothing"
    );

    // Evidence names the chunk, path, hash and line.
    let l = &links_between(
        &g,
        entity(&g, "ag:section", "Links"),
        reference("to code"),
        "references",
    )[0];
    let ev = &l["evidence"][0];
    assert_eq!(ev["source_path"], "links.md");
    assert_eq!(ev["line_start"], 3);
    assert!(ev["chunk_id"].as_str().unwrap().starts_with("chk_"));
    assert_eq!(ev["source_hash"].as_str().unwrap().len(), 64);
    assert_eq!(l["rule_id"], "link.markdown.references.v1");
    assert_eq!(l["confidence"], 1.0);
    assert!(l["id"].as_str().unwrap().starts_with("lnk_"));

    // relates_to: notes sharing a rare technology, with the shared one as evidence.
    let related: Vec<&Value> = g["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["type"] == "relates_to")
        .collect();
    assert!(!related.is_empty());
    assert!(
        related
            .iter()
            .all(|l| l["rule_id"] == "link.cooccurrence.v1")
    );
    assert!(
        related
            .iter()
            .all(|l| l["evidence"][0]["via_name"].is_string())
    );
}
