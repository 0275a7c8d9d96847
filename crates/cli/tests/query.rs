//! Query and navigation: every flag and operator, ties, pages, unicode,
//! empty stores, other profiles, and the incident/ADR/runbook story.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use serde_json::Value;

/// The bundled example notes (incidents, an ADR, a runbook, notes).
fn story() -> Ws {
    let ws = Ws::new();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/notes");
    copy_dir(&src, ws.root());
    let _ = std::fs::remove_dir_all(ws.path(".pkg"));
    ws.json(&["run"]);
    ws
}

fn ids(doc: &Value) -> Vec<String> {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn one_id(ws: &Ws, args: &[&str]) -> String {
    let mut all = vec!["list"];
    all.extend_from_slice(args);
    let doc = ws.json(&all);
    assert_eq!(doc["total_count"], 1, "{args:?}: {doc}");
    doc["results"][0]["id"].as_str().unwrap().to_string()
}

#[test]
fn a_verbatim_sentence_finds_the_chunk_with_its_hash() {
    let ws = story();
    let sentence = "the nightly VACUUM FULL job was still running against the orders table";
    let doc = ws.json(&["query", "--q", &format!("\"{sentence}\"")]);
    let top = &doc["results"][0];
    assert_eq!(top["type"], "ag:note");
    assert_eq!(top["name"], "Incident: checkout latency spike");
    let snippet = &top["snippets"][0];
    let path = "incidents/2026-03-14-checkout-latency.md";
    assert_eq!(snippet["source_path"], path);
    let bytes = std::fs::read(ws.path(path)).unwrap();
    use sha2::Digest;
    assert_eq!(
        snippet["source_hash"],
        hex::encode(sha2::Sha256::digest(&bytes))
    );
    assert!(snippet["chunk_id"].as_str().unwrap().starts_with("chk_"));
    assert!(snippet["text"].as_str().unwrap().contains("VACUUM FULL"));
    assert!(snippet["line_start"].as_u64().unwrap() >= 1);
    let ex = &top["explanation"];
    assert!(
        ex["matched_terms"]
            .as_array()
            .unwrap()
            .contains(&Value::from("vacuum"))
    );
    assert!(ex["bm25_score"].as_f64().unwrap() > 0.0);
    assert_eq!(ex["tie_break"], top["id"]);
    // Only that note has the phrase.
    assert_eq!(doc["total_count"], 1, "{doc}");
}

#[test]
fn why_connected_explains_incident_and_adr() {
    let ws = story();
    let incident = one_id(
        &ws,
        &["--type", "ag:note", "--where", "name~checkout latency"],
    );
    let adr = one_id(&ws, &["--type", "ag:note", "--where", "name~ADR 7"]);
    let doc = ws.json(&["why-connected", "--from", &incident, "--to", &adr]);
    assert_eq!(doc["connected"], true);
    let path = &doc["paths"][0]["edges"];
    let edge = &path[0];
    assert_eq!(edge["type"], "relates_to");
    assert_eq!(edge["rule_id"], "link.cooccurrence.v1");
    let shared: Vec<&str> = edge["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["via_name"].as_str().unwrap())
        .collect();
    assert!(
        shared.contains(&"postgres") || shared.contains(&"pgbouncer"),
        "{shared:?}"
    );
    let ev = &edge["evidence"][0];
    assert!(ev["chunk_id"].as_str().unwrap().starts_with("chk_"));
    assert!(ev["line_start"].as_u64().unwrap() > 0);
    // Without the co-occurrence shortcut, the path goes through the
    // incident's link to the ADR.
    let via_reference = ws.json(&[
        "why-connected",
        "--from",
        &incident,
        "--to",
        &adr,
        "--edge-type",
        "contains_section",
        "--edge-type",
        "references",
        "--edge-type",
        "resolves_to_document",
    ]);
    assert_eq!(via_reference["connected"], true, "{via_reference}");
    let types: Vec<&str> = via_reference["paths"][0]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"resolves_to_document"), "{types:?}");
    // Human output names the rules and evidence.
    let human = ws
        .run(&["why-connected", "--from", &incident, "--to", &adr])
        .ok();
    assert!(
        human.stdout.contains("rule link.cooccurrence.v1"),
        "{}",
        human.stdout
    );
    assert!(
        human
            .stdout
            .contains("evidence: incidents/2026-03-14-checkout-latency.md:"),
        "{}",
        human.stdout
    );
}

#[test]
fn not_connected_within_depth() {
    let ws = Ws::new();
    ws.write("a.md", "# A\n\nalone\n");
    ws.write("b.md", "# B\n\nalso alone\n");
    ws.json(&["run"]);
    let a = one_id(&ws, &["--type", "ag:note", "--where", "name=A"]);
    let b = one_id(&ws, &["--type", "ag:note", "--where", "name=B"]);
    let doc = ws.json(&[
        "why-connected",
        "--from",
        &a,
        "--to",
        &b,
        "--max-depth",
        "3",
    ]);
    assert_eq!(doc["connected"], false);
    assert_eq!(doc["message"], "not connected within depth 3");
    let human = ws.run(&["why-connected", "--from", &a, "--to", &b]).ok();
    assert!(
        human.stdout.contains("not connected within depth 6"),
        "{}",
        human.stdout
    );
}

fn fixture() -> Ws {
    let ws = Ws::new();
    ws.write("n1.md", "---\ntags: [ops, db]\nproject: apollo\n---\n# One\n\n## Deep\n\n### Deeper\n\n`redis` here\n");
    ws.write(
        "n2.md",
        "---\ntags: [dev]\n---\n# Two\n\n`redis` and `Ünïcödé`\n",
    );
    ws.write("twin-a.md", "# Twin\n\nzebraword\n");
    ws.write("twin-b.md", "# Twin\n\nzebraword\n");
    ws.write("日本.md", "# 日本語のノート\n\n東京 tokyo\n");
    ws.json(&["run"]);
    ws
}

#[test]
fn list_filters_sorts_and_pages() {
    let ws = fixture();
    // --type, repeatable (OR).
    let notes = ws.json(&["list", "--type", "ag:note"]);
    assert_eq!(notes["total_count"], 5);
    let both = ws.json(&["list", "--type", "ag:note", "--type", "ag:technology"]);
    assert_eq!(both["total_count"], 7);
    // Every operator; numbers numeric; lists by membership.
    for (expr, count) in [
        ("level=2", 1),
        ("level!=1", 2),
        ("level>1", 2),
        ("level>=1", 7),
        ("level<2", 5),
        ("level<=3", 7),
        ("name~twin", 4),
        ("tags=ops", 1),
        // Notes without tags have an empty list: no element equals "ops".
        ("tags!=ops", 4),
        ("tags~e", 1),
        ("frontmatter.project=apollo", 1),
    ] {
        let doc = ws.json(&["list", "--where", expr]);
        assert_eq!(doc["total_count"], count, "{expr}: {doc}");
    }
    // Predicates combine with AND.
    let and = ws.json(&[
        "list",
        "--type",
        "ag:section",
        "--where",
        "level>=2",
        "--where",
        "name~deep",
    ]);
    assert_eq!(and["total_count"], 2);
    // Sort by field, desc; missing values last either way.
    let by_level = ws.json(&["list", "--type", "ag:section", "--sort", "level", "--desc"]);
    let levels: Vec<u64> = by_level["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["level"].as_u64().unwrap())
        .collect();
    assert_eq!(levels[..2], [3, 2]);
    let with_missing = ws.json(&["list", "--sort", "level"]);
    let last = with_missing["results"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        last.get("level").is_none() || last["level"].is_null(),
        "{last}"
    );
    // Pagination boundaries.
    let all = ws.json(&["list", "--type", "ag:note"]);
    let all_ids = ids(&all);
    let p1 = ws.json(&["list", "--type", "ag:note", "--limit", "2"]);
    assert_eq!(ids(&p1), all_ids[..2]);
    assert_eq!(p1["truncated"], true);
    let p3 = ws.json(&["list", "--type", "ag:note", "--limit", "2", "--offset", "4"]);
    assert_eq!(ids(&p3), all_ids[4..]);
    assert_eq!(p3["truncated"], false);
    let exact = ws.json(&["list", "--type", "ag:note", "--limit", "5"]);
    assert_eq!(exact["truncated"], false);
    let beyond = ws.json(&["list", "--type", "ag:note", "--offset", "9"]);
    assert_eq!(ids(&beyond), Vec::<String>::new());
    assert_eq!(beyond["total_count"], 5);
    // Default order is by id.
    let mut sorted = all_ids.clone();
    sorted.sort();
    assert_eq!(all_ids, sorted);
}

#[test]
fn count_and_group_by() {
    let ws = fixture();
    let count = ws.json(&["list", "--type", "ag:technology", "--count"]);
    assert_eq!(count["count"], 2);
    let groups = ws.json(&["list", "--group-by", "type"]);
    assert_eq!(groups["groups"]["ag:note"], 5);
    assert_eq!(groups["groups"]["ag:technology"], 2);
    let tags = ws.json(&["list", "--type", "ag:note", "--group-by", "tags"]);
    assert_eq!(tags["groups"]["ops"], 1);
    assert_eq!(tags["groups"]["_missing"], 3);
    let human = ws.run(&["list", "--group-by", "type", "--count"]).ok();
    assert!(human.stdout.contains("ag:technology"), "{}", human.stdout);
}

#[test]
fn malformed_expressions_and_types_are_usage_errors() {
    let ws = fixture();
    let run = ws.run(&["list", "--where", "level>>2"]).code(2);
    assert!(run.stderr.contains("at character 7"), "{}", run.stderr);
    let run = ws.run(&["query", "--q", "x", "--where", "=3"]).code(2);
    assert!(run.stderr.contains("at character 1"), "{}", run.stderr);
    let run = ws.run(&["list", "--type", "ag:nope"]).code(2);
    assert!(run.stderr.contains("ag:note"), "{}", run.stderr);
    ws.run(&["neighbors", "x", "--edge-type", "nope"]).code(2);
    ws.run(&["neighbors", "x", "--min-confidence", "2"]).code(2);
}

#[test]
fn query_ties_unicode_filters_and_pages() {
    let ws = fixture();
    // Two notes with the same name and text tie; the id breaks the tie.
    let twins = ws.json(&["query", "--q", "zebraword", "--type", "ag:note"]);
    let results = twins["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["score"], results[1]["score"]);
    assert!(results[0]["id"].as_str() < results[1]["id"].as_str());
    // Multi-word queries match per term.
    let either = ws.json(&["query", "--q", "zebraword tokyo", "--type", "ag:note"]);
    assert_eq!(either["total_count"], 3);
    // Unicode terms, case-folded.
    let u = ws.json(&["query", "--q", "ÜNÏCÖDÉ"]);
    assert_eq!(u["results"][0]["type"], "ag:technology");
    let jp = ws.json(&["query", "--q", "東京"]);
    assert_eq!(jp["results"][0]["source_path"], "日本.md");
    // --where and --sort and pages on query results.
    let sections = ws.json(&["query", "--q", "deep deeper", "--where", "level>=3"]);
    assert_eq!(sections["total_count"], 1);
    let paged = ws.json(&[
        "query",
        "--q",
        "twin zebraword redis",
        "--limit",
        "1",
        "--offset",
        "1",
    ]);
    assert_eq!(paged["results"].as_array().unwrap().len(), 1);
    assert_eq!(paged["truncated"], true);
    let sorted = ws.json(&["query", "--q", "twin zebraword", "--sort", "name"]);
    assert!(sorted["total_count"].as_u64().unwrap() >= 2);
    // No match is an empty result, not an error.
    let none = ws.json(&["query", "--q", "qwxzv"]);
    assert_eq!(none["total_count"], 0);
}

#[test]
fn node_and_neighbors() {
    let ws = fixture();
    let one = one_id(&ws, &["--type", "ag:note", "--where", "name=One"]);
    let node = ws.json(&["node", &one]);
    assert_eq!(node["type"], "ag:note");
    assert_eq!(node["refs"][0]["source_path"], "n1.md");
    assert_eq!(node["provenance"]["created_by_rule"], "extract.note.v1");
    assert_eq!(node["sections"].as_array().unwrap().len(), 3);
    assert!(
        node["outgoing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "contains_section")
    );
    assert!(
        node["outgoing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "relates_to")
    );
    // Depth 1 and 2, both directions, each neighbour with its path.
    let d1 = ws.json(&["neighbors", &one]);
    let d2 = ws.json(&["neighbors", &one, "--depth", "2"]);
    assert!(d2["total_count"].as_u64() > d1["total_count"].as_u64());
    for n in d2["neighbors"].as_array().unwrap() {
        assert_eq!(
            n["path"].as_array().unwrap().len() as u64,
            n["depth"].as_u64().unwrap()
        );
    }
    let only = ws.json(&[
        "neighbors",
        &one,
        "--depth",
        "3",
        "--edge-type",
        "contains_section",
    ]);
    assert_eq!(only["total_count"], 3);
    let confident = ws.json(&[
        "neighbors",
        &one,
        "--min-confidence",
        "1.0",
        "--edge-type",
        "relates_to",
    ]);
    let loose = ws.json(&[
        "neighbors",
        &one,
        "--min-confidence",
        "0.1",
        "--edge-type",
        "relates_to",
    ]);
    assert!(loose["total_count"].as_u64() >= confident["total_count"].as_u64());
    // Deterministic order.
    assert_eq!(ws.json(&["neighbors", &one, "--depth", "2"]), d2);
    // Documents and chunks resolve too.
    let doc_id = node["document_id"].as_str().unwrap();
    let doc = ws.json(&["node", doc_id]);
    assert_eq!(doc["type"], "document");
    let chunk = doc["chunks"][0]["chunk_id"].as_str().unwrap();
    assert_eq!(ws.json(&["node", chunk])["type"], "chunk");
}

#[test]
fn unknown_ids_and_other_profiles() {
    let ws = Ws::new();
    ws.write(
        "config/pkg.yaml",
        "profiles:\n  default:\n    include_paths: [a]\n  work:\n    include_paths: [b]\n",
    );
    ws.write("a/x.md", "# X\n");
    ws.write("b/y.md", "# Y\n");
    ws.json(&["run"]);
    ws.json(&["--profile", "work", "run"]);
    let y = ws.json(&["--profile", "work", "list", "--type", "ag:note"])["results"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = ws.run(&["node", &y]).code(1);
    assert!(run.stderr.contains("auditgraph query"), "{}", run.stderr);
    assert!(run.stderr.contains("auditgraph list"), "{}", run.stderr);
    ws.run(&["neighbors", &y]).code(1);
    ws.run(&["--profile", "work", "node", &y]).ok();
    ws.run(&["node", "ent_0000"]).code(1);
}

#[test]
fn an_empty_store_says_nothing_was_ingested() {
    let ws = Ws::new();
    for args in [
        vec!["query", "--q", "x"],
        vec!["list"],
        vec!["node", "ent_x"],
        vec!["neighbors", "ent_x"],
        vec!["why-connected", "--from", "a", "--to", "b"],
    ] {
        let run = ws.run(&args).code(1);
        assert!(
            run.stderr.contains("nothing ingested yet"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("auditgraph run"), "{}", run.stderr);
    }
    // An ingest without the later stages: the graph is missing, say so.
    ws.write("a.md", "# A\n");
    ws.json(&["ingest"]);
    let run = ws.run(&["query", "--q", "a"]).code(1);
    assert!(run.stderr.contains("no extract stage"), "{}", run.stderr);
}

/// The shared corpora, when present (they are not part of the repository).
fn corpus(name: &str) -> Option<std::path::PathBuf> {
    let base = std::env::var_os("AUDITGRAPH_CORPORA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora")
        });
    let dir = base.join(name);
    dir.is_dir().then_some(dir).or_else(|| {
        eprintln!("skipping: corpus {name} not found (set AUDITGRAPH_CORPORA)");
        None
    })
}

#[test]
fn tldr_tar_ranks_first() {
    let Some(tldr) = corpus("tldr-en") else {
        return;
    };
    let ws = Ws::new();
    copy_dir(&tldr, ws.root());
    ws.json(&["run"]);
    let doc = ws.json(&["query", "--q", "tar", "--limit", "5"]);
    for r in doc["results"].as_array().unwrap() {
        eprintln!(
            "tar: {} {} {} {}",
            r["score"], r["type"], r["name"], r["source_path"]
        );
    }
    assert_eq!(doc["results"][0]["source_path"], "pages/common/tar.md");
    assert_eq!(doc["results"][0]["type"], "ag:note");
    let groups = ws.json(&[
        "list",
        "--type",
        "ag:technology",
        "--group-by",
        "type",
        "--count",
    ]);
    // Code spans that name something are technologies; command lines,
    // placeholders and flags are not (3,541 of tldr-en's 34,600 distinct
    // spans qualify).
    let techs = groups["groups"]["ag:technology"].as_u64().unwrap();
    assert!((2_000..6_000).contains(&techs), "{techs} technologies");
    let page = ws.json(&["list", "--type", "ag:technology", "--limit", "500"]);
    for t in page["results"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        assert!(
            !name.contains(char::is_whitespace) && !name.contains("{{") && !name.starts_with('-'),
            "{name} is not a technology name"
        );
    }
}

/// `query` opens the graph without decoding its edges; a filter that needs
/// them (a technology's refs come from its mention edges) decodes them on
/// demand and gets what `list`, which reads every edge, gets.
#[test]
fn filters_that_need_edges_match_list() {
    let ws = story();
    let filter = ["--type", "ag:technology", "--where", "refs~incidents/"];
    let mut query = vec!["query", "--q", "postgres pgbouncer"];
    query.extend_from_slice(&filter);
    let found = ids(&ws.json(&query));
    assert!(!found.is_empty());
    let mut list = vec!["list"];
    list.extend_from_slice(&filter);
    let listed = ids(&ws.json(&list));
    for id in &found {
        assert!(listed.contains(id), "{id} not listed: {listed:?}");
    }
    let node = ws.json(&["node", &found[0]]);
    let refs = node["refs"].to_string();
    assert!(refs.contains("incidents/"), "{refs}");
}

#[test]
fn a_notes_matching_sections_fold_under_its_hit_unless_asked_for() {
    let ws = Ws::new();
    ws.write(
        "guide.md",
        "# Guide\n\nGeneral words.\n\n## Kestrel setup\n\nInstall kestrel first.\n\n## Kestrel tuning\n\nTune it.\n\n## Other\n\nNothing here.\n",
    );
    ws.write("other.md", "# Other page\n\nA kestrel flew by.\n");
    ws.run(&["run"]).ok();
    let folded = ws.json(&["query", "--q", "kestrel"]);
    let results = folded["results"].as_array().unwrap();
    let types: Vec<&str> = results
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert!(!types.contains(&"ag:section"), "{folded}");
    let guide = results
        .iter()
        .find(|r| r["source_path"] == "guide.md")
        .expect("the guide is a hit");
    let sections: Vec<&str> = guide["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(sections.len(), 2, "{guide}");
    assert!(sections.contains(&"Kestrel setup") && sections.contains(&"Kestrel tuning"));
    // Each folded section names its entity, which `node` finds.
    let id = guide["sections"][0]["id"].as_str().unwrap();
    ws.run(&["node", id]).ok();
    // A page appears once; the other page has no sections to fold.
    assert_eq!(
        results
            .iter()
            .filter(|r| r["source_path"] == "guide.md")
            .count(),
        1
    );
    assert!(
        results
            .iter()
            .find(|r| r["source_path"] == "other.md")
            .is_some_and(|r| r.get("sections").is_none())
    );
    // Asked for by type, sections are hits of their own.
    let by_type = ws.json(&["query", "--q", "kestrel", "--type", "ag:section"]);
    assert_eq!(by_type["total_count"], 2, "{by_type}");
    assert!(by_type["results"][0].get("sections").is_none());
}
