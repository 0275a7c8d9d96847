//! `auditgraph export` and `export-neo4j`: output shape, determinism,
//! subgraphs, path safety, the budget, secrets and refusals. (The files are
//! read back by real programs in `export_tools.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MIB: f64 = (1u64 << 20) as f64;

/// A workspace holding a copy of the repository's example notes, built.
fn examples_ws() -> Ws {
    let ws = Ws::new();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/notes");
    copy_dir(&examples, ws.root());
    ws.run(&["run"]).ok();
    ws
}

/// Exports with `--json` and returns (report, file bytes).
fn export(ws: &Ws, args: &[&str]) -> (Value, Vec<u8>) {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    let doc = ws.json(&all);
    let bytes = std::fs::read(doc["output"].as_str().unwrap()).unwrap();
    (doc, bytes)
}

fn neo4j(ws: &Ws, args: &[&str]) -> (Value, Vec<u8>) {
    let mut all = vec!["export-neo4j"];
    all.extend_from_slice(args);
    let doc = ws.json(&all);
    let bytes = std::fs::read(doc["output"].as_str().unwrap()).unwrap();
    (doc, bytes)
}

/// A bundle, decoded to ids (see [`expand_bundle`]).
fn bundle(bytes: &[u8]) -> Value {
    expand_bundle(&serde_json::from_slice(bytes).unwrap())
}

fn ids(items: &Value, key: &str) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[key].as_str().unwrap().to_string())
        .collect()
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

#[test]
fn json_report_and_bundle_describe_the_whole_run() {
    let ws = examples_ws();
    let (doc, bytes) = export(&ws, &["--format", "json"]);
    let run = ws.current_run();

    // The --json report.
    assert_eq!(doc["format"], "json");
    assert_eq!(doc["run_id"], run.as_str());
    assert_eq!(doc["bytes"].as_u64().unwrap(), bytes.len() as u64);
    assert_eq!(
        doc["sha256"].as_str().unwrap(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
    );
    assert_eq!(doc["budget"]["status"], "ok");
    assert_eq!(doc["budget"]["operation"], "export");
    assert_eq!(
        doc["budget"]["added_bytes"].as_u64().unwrap(),
        bytes.len() as u64
    );
    let expected_path = ws.root().canonicalize().unwrap().join("exports/graph.json");
    assert_eq!(
        PathBuf::from(doc["output"].as_str().unwrap()),
        expected_path
    );

    // The bundle: the whole graph, sorted, with its provenance.
    let b = bundle(&bytes);
    let (entities, links) = manifest_counts(&ws);
    assert_eq!(b["entities"].as_array().unwrap().len() as u64, entities);
    assert_eq!(b["links"].as_array().unwrap().len() as u64, links);
    assert_eq!(doc["counts"]["entities"].as_u64().unwrap(), entities);
    assert_eq!(doc["counts"]["links"].as_u64().unwrap(), links);
    assert_eq!(b["format"], "auditgraph-export");
    assert_eq!(b["format_version"], 3);
    assert_eq!(b["schema_version"], "v3");
    let meta = &b["export_metadata"];
    assert_eq!(meta["run_id"], run.as_str());
    assert_eq!(meta["profile"], "default");
    assert_eq!(
        meta["inputs_hash"],
        ws.manifest(&run, "ingest")["inputs_hash"]
    );
    for stage in ["ingest", "extract", "link", "index"] {
        assert_eq!(
            meta["outputs_hash"][stage],
            ws.manifest(&run, stage)["outputs_hash"],
            "{stage}"
        );
    }
    for (list, key) in [
        ("entities", "id"),
        ("links", "id"),
        ("documents", "document_id"),
        ("chunks", "chunk_id"),
    ] {
        let got = ids(&b[list], key);
        let mut sorted = got.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(got, sorted, "{list} sorted by {key}, without duplicates");
    }
    // Self-contained and normalized, and its documents are the run's.
    assert_self_contained(&b);
    assert_documents_match_the_ingest_manifest(&b, &ws.ingest_with_records(&run));
    let entity_ids: BTreeSet<String> = ids(&b["entities"], "id").into_iter().collect();
    for link in b["links"].as_array().unwrap() {
        assert!(entity_ids.contains(link["from_id"].as_str().unwrap()));
        assert!(entity_ids.contains(link["to_id"].as_str().unwrap()));
    }
    // Without --with-text, no text; with it, chunk texts are the note's
    // text at the cited lines, and nothing else changes.
    assert!(
        b["chunks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("text").is_none())
    );
    let (_, with_text) = export(&ws, &["--with-text", "--output", "exports/text.json"]);
    let t = bundle(&with_text);
    assert_eq!(t["export_metadata"]["with_text"], true);
    assert_eq!(b["export_metadata"]["with_text"], false);
    assert_eq!(t["links"], b["links"]);
    let chunk = &t["chunks"][0];
    let doc = b["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["document_id"] == chunk["document_id"])
        .unwrap();
    let source = std::fs::read_to_string(ws.path(doc["source_path"].as_str().unwrap())).unwrap();
    let lines: Vec<&str> = source.lines().collect();
    let first = chunk["line_start"].as_u64().unwrap() as usize;
    let chunk_first_line = chunk["text"].as_str().unwrap().lines().next().unwrap();
    assert!(lines[first - 1].contains(chunk_first_line));
    // No wall-clock time anywhere in the bundle.
    let text = String::from_utf8(bytes).unwrap();
    assert!(!text.contains("wall_clock"), "no wall-clock field");
    assert!(!text.contains("created_at"));
    // Nothing about the workspace's absolute location either.
    assert!(!text.contains(ws.root().to_str().unwrap()));
}

/// Every `document_id` the bundle names anywhere (entities, refs, reference
/// targets, unlinked mentions, link evidence, chunks).
fn named_documents(b: &Value) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    let mut add = |v: &Value| {
        if let Some(id) = v.as_str() {
            named.insert(id.to_string());
        }
    };
    for e in b["entities"].as_array().unwrap() {
        add(&e["document_id"]);
        add(&e["target_document_id"]);
        for r in e["refs"].as_array().into_iter().flatten() {
            add(&r["document_id"]);
        }
        for m in e["unlinked_mentions"].as_array().into_iter().flatten() {
            add(&m["document_id"]);
        }
    }
    for l in b["links"].as_array().unwrap() {
        for ev in l["evidence"].as_array().unwrap() {
            add(&ev["document_id"]);
        }
    }
    for c in b["chunks"].as_array().unwrap() {
        add(&c["document_id"]);
    }
    named
}

/// The bundle names each document by id and states its path and hash once:
/// `documents` lists exactly the documents named anywhere, `chunks` exactly
/// the chunks link evidence cites, each evidence item lies inside its chunk,
/// and no path or hash appears outside `documents`.
#[track_caller]
fn assert_self_contained(b: &Value) {
    let docs: BTreeSet<String> = ids(&b["documents"], "document_id").into_iter().collect();
    assert_eq!(named_documents(b), docs, "documents = the documents named");
    let chunks: BTreeMap<&str, &Value> = b["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["chunk_id"].as_str().unwrap(), c))
        .collect();
    let mut cited = BTreeSet::new();
    for link in b["links"].as_array().unwrap() {
        for ev in link["evidence"].as_array().unwrap() {
            let doc = ev["document_id"].as_str().unwrap();
            assert!(docs.contains(doc), "document {doc} named but not exported");
            let Some(c) = ev["chunk_id"].as_str() else {
                continue;
            };
            let chunk = chunks
                .get(c)
                .unwrap_or_else(|| panic!("chunk {c} cited but not exported"));
            assert_eq!(chunk["document_id"], ev["document_id"], "{c}");
            let (start, end) = (ev["line_start"].as_u64(), ev["line_end"].as_u64());
            assert!(chunk["line_start"].as_u64() <= start && end <= chunk["line_end"].as_u64());
            cited.insert(c);
        }
    }
    assert_eq!(
        cited,
        chunks.keys().copied().collect(),
        "chunks = the chunks cited"
    );
    for list in ["entities", "links"] {
        for item in b[list].as_array().unwrap() {
            let line = item.to_string();
            for key in [
                "\"source_path\"",
                "\"source_hash\"",
                "\"run_id\"",
                "\"pipeline_version\"",
            ] {
                assert!(!line.contains(key), "{key} repeated in {line}");
            }
        }
    }
}

/// Each document of the bundle is the run's ingest record of that path.
#[track_caller]
fn assert_documents_match_the_ingest_manifest(b: &Value, ingest: &Value) {
    let records: BTreeMap<&str, &Value> = ingest["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["path"].as_str().unwrap(), r))
        .collect();
    for d in b["documents"].as_array().unwrap() {
        let r = records[d["source_path"].as_str().unwrap()];
        assert_eq!(d["source_hash"], r["sha256"]);
        assert_eq!(d["size"], r["size"]);
        assert_eq!(d["parser_id"], r["parser_id"]);
    }
}

/// An entity of the bundle rebuilt as `node --json` / `list --json` show it,
/// following the schema's descriptions (mentions sorted by document path,
/// line and origin: the order `node --json` uses is not part of the bundle).
fn expand_entity(b: &Value, e: &Value) -> Value {
    let docs: BTreeMap<&str, &Value> = b["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["document_id"].as_str().unwrap(), d))
        .collect();
    let doc = |id: &Value| docs[id.as_str().unwrap()];
    let meta = &b["export_metadata"];
    let mut e = e.clone();
    let m = e.as_object_mut().unwrap();
    let refs: Vec<Value> = m
        .get("refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            let d = doc(&r["document_id"]);
            serde_json::json!({
                "source_path": d["source_path"],
                "source_hash": d["source_hash"],
                "range": r["range"],
            })
        })
        .collect();
    let input_hash = if m["type"] == "ag:technology" {
        let mut hashes: Vec<&str> = refs
            .iter()
            .map(|r| r["source_hash"].as_str().unwrap())
            .collect();
        hashes.sort();
        m.insert("document_count".into(), refs.len().into());
        let mut mentions: Vec<Value> = m
            .remove("unlinked_mentions")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        for l in b["links"].as_array().unwrap() {
            if l["type"] == "mentions_technology" && l["to_id"] == m["id"] {
                for ev in l["evidence"].as_array().unwrap() {
                    mentions.push(serde_json::json!({
                        "document_id": ev["document_id"],
                        "origin_id": l["from_id"],
                        "line": ev["line_start"],
                    }));
                }
            }
        }
        for x in &mut mentions {
            let d = doc(&x["document_id"]);
            x["source_path"] = d["source_path"].clone();
            x["source_hash"] = d["source_hash"].clone();
        }
        m.insert("mentions".into(), Value::Array(sort_mentions(mentions)));
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(hashes.join(":")))
    } else {
        let d = doc(&m["document_id"]);
        m.insert("source_path".into(), d["source_path"].clone());
        if m["type"] == "ag:note" {
            m.insert("parser_id".into(), d["parser_id"].clone());
        }
        if m["type"] == "ag:reference" {
            let target = match m.get("target_document_id") {
                None | Some(Value::Null) => Value::Null,
                Some(id) => doc(id)["source_path"].clone(),
            };
            m.insert("target_path".into(), target);
        }
        d["source_hash"].as_str().unwrap().to_string()
    };
    m.insert("refs".into(), Value::Array(refs));
    let rule = meta["entity_types"][m["type"].as_str().unwrap()]["created_by_rule"].clone();
    m.insert(
        "provenance".into(),
        serde_json::json!({
            "created_by_rule": rule,
            "input_hash": input_hash,
            "pipeline_version": meta["pipeline_version"],
            "run_id": meta["run_id"],
        }),
    );
    e
}

fn sort_mentions(mut mentions: Vec<Value>) -> Vec<Value> {
    let key = |m: &Value| {
        (
            m["source_path"].as_str().unwrap().to_string(),
            m["line"].as_u64().unwrap(),
            m["origin_id"].as_str().unwrap().to_string(),
        )
    };
    mentions.sort_by_key(key);
    mentions
}

/// Every entity of `list --json` (the shape of `node --json`), by id, with
/// technology mentions in the order of [`expand_entity`].
fn listed_entities(ws: &Ws) -> BTreeMap<String, Value> {
    let doc = ws.json(&["list", "--limit", "1000000"]);
    assert_eq!(doc["truncated"], false);
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if let Some(mentions) = e.get_mut("mentions") {
                *mentions = Value::Array(sort_mentions(mentions.as_array().unwrap().clone()));
            }
            (e["id"].as_str().unwrap().to_string(), e)
        })
        .collect()
}

#[test]
fn the_normalized_bundle_holds_everything_node_shows() {
    // Entities rebuilt from the bundle (whole graph, or a subgraph whose
    // technologies keep their mentions as `unlinked_mentions`) are exactly
    // what `node --json` shows; nothing is lost by stating it once.
    let ws = examples_ws();
    let listed = listed_entities(&ws);
    let ingest = ws.ingest_with_records(&ws.current_run());
    let mut technologies = 0;
    let mut unlinked = 0;
    for args in [
        &["--with-text"][..],
        &["--with-text", "--type", "ag:technology"][..],
        &["--with-text", "--type", "ag:note", "--type", "ag:reference"][..],
    ] {
        let (_, bytes) = export(&ws, args);
        let b = bundle(&bytes);
        assert_self_contained(&b);
        assert_documents_match_the_ingest_manifest(&b, &ingest);
        let entities = b["entities"].as_array().unwrap();
        assert!(!entities.is_empty());
        for e in entities {
            let id = e["id"].as_str().unwrap();
            assert_eq!(
                without_empty(&expand_entity(&b, e)),
                without_empty(&listed[id]),
                "{args:?}: {id}"
            );
            if e["type"] == "ag:technology" {
                technologies += 1;
                let n = e["unlinked_mentions"].as_array().map_or(0, Vec::len);
                if args.len() == 1 {
                    assert_eq!(n, 0, "the whole graph links every mention");
                }
                unlinked += n;
            }
        }
    }
    assert!(
        technologies > 0 && unlinked > 0,
        "the test exercises mentions"
    );
}

#[test]
fn every_format_is_byte_identical_across_runs_threads_and_workspaces() {
    let a = examples_ws();
    let b = examples_ws();
    let formats: [&[&str]; 3] = [
        &["--format", "json"],
        &["--format", "dot"],
        &["--format", "graphml"],
    ];
    let mut outputs: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for ws in [&a, &b] {
        for args in formats {
            let (_, first) = export(ws, args);
            // Again, on one thread this time.
            let mut all = vec!["--json", "export"];
            all.extend_from_slice(args);
            let run = ws.run_env(&all, &[("RAYON_NUM_THREADS", "1")]).ok();
            let second = std::fs::read(run.json()["output"].as_str().unwrap()).unwrap();
            assert_eq!(first, second, "{args:?} differs between two exports");
            outputs.entry(args[1].to_string()).or_default().push(first);
        }
        let (_, first) = neo4j(ws, &[]);
        let (_, second) = neo4j(ws, &[]);
        assert_eq!(first, second, "cypher differs between two exports");
        outputs.entry("cypher".into()).or_default().push(first);
        // Subgraphs too.
        let (_, sub1) = export(ws, &["--type", "ag:note", "--type", "ag:section"]);
        let (_, sub2) = export(ws, &["--type", "ag:section", "--type", "ag:note"]);
        assert_eq!(sub1, sub2, "type order does not matter");
        outputs.entry("subgraph".into()).or_default().push(sub1);
    }
    for (format, files) in outputs {
        assert_eq!(files.len(), 2);
        assert!(
            files[0] == files[1],
            "{format} export differs between two workspaces with the same notes"
        );
    }
}

#[test]
fn cypher_script_has_constraints_and_batched_merges() {
    let ws = examples_ws();
    let (doc, bytes) = neo4j(&ws, &[]);
    assert_eq!(doc["format"], "cypher");
    assert!(
        doc["output"]
            .as_str()
            .unwrap()
            .ends_with("exports/graph.cypher")
    );
    let text = String::from_utf8(bytes).unwrap();
    let (entities, links) = manifest_counts(&ws);

    let statements: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("//"))
        .collect();
    for s in &statements {
        assert!(s.ends_with(';'), "one statement per line: {s}");
        assert!(!s.contains(":begin") && !s.contains(":commit"));
    }
    for label in [
        "Auditgraph",
        "AgNote",
        "AgSection",
        "AgTechnology",
        "AgReference",
    ] {
        assert!(
            statements.iter().any(|s| s.starts_with("CREATE CONSTRAINT")
                && s.contains(&format!("FOR (n:{label}) REQUIRE n.id IS UNIQUE"))
                && s.contains("IF NOT EXISTS")),
            "constraint on {label}"
        );
    }
    let node_rows: usize = statements
        .iter()
        .filter(|s| s.starts_with("UNWIND") && s.contains(" MERGE (n:Auditgraph:"))
        .map(|s| s.matches(", id: \"ent_").count())
        .sum();
    assert_eq!(node_rows as u64, entities);
    let rel_rows: usize = statements
        .iter()
        .filter(|s| s.starts_with("UNWIND") && s.contains("MERGE (a)-[r:"))
        .map(|s| s.matches(", id: \"lnk_").count())
        .sum();
    assert_eq!(rel_rows as u64, links);
    for rel in [
        "CONTAINS_SECTION",
        "MENTIONS_TECHNOLOGY",
        "REFERENCES",
        "RESOLVES_TO_DOCUMENT",
        "RELATES_TO",
    ] {
        assert!(text.contains(&format!("[r:{rel} {{id: row.id}}]")), "{rel}");
    }
    // Nothing Neo4j cannot store: the evidence is a JSON string.
    assert!(text.contains("evidence: \"[{\\\"chunk_id\\\""));
    assert!(!text.contains("evidence: [{"));
}

#[test]
fn type_filter_keeps_only_those_entities_and_the_links_among_them() {
    let ws = examples_ws();
    let (_, all) = export(&ws, &[]);
    let all = bundle(&all);
    let (doc, sub) = export(&ws, &["--type", "ag:note"]);
    let sub = bundle(&sub);
    let notes: BTreeSet<String> = all["entities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "ag:note")
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!notes.is_empty());
    let got: BTreeSet<String> = ids(&sub["entities"], "id").into_iter().collect();
    assert_eq!(got, notes);
    let expected_links: BTreeSet<String> = all["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| {
            notes.contains(l["from_id"].as_str().unwrap())
                && notes.contains(l["to_id"].as_str().unwrap())
        })
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !expected_links.is_empty(),
        "the examples link notes to notes"
    );
    let got_links: BTreeSet<String> = ids(&sub["links"], "id").into_iter().collect();
    assert_eq!(got_links, expected_links);
    assert_eq!(
        sub["export_metadata"]["filters"]["types"],
        serde_json::json!(["ag:note"])
    );
    // A subgraph gets its own default file, next to the whole graph's.
    let out = doc["output"].as_str().unwrap();
    assert!(out.contains("/exports/graph-") && out.ends_with(".json"));
    // The same filter in DOT and GraphML keeps the same counts.
    for format in ["dot", "graphml"] {
        let (d, _) = export(&ws, &["--format", format, "--type", "ag:note"]);
        assert_eq!(
            d["counts"]["entities"].as_u64().unwrap(),
            notes.len() as u64
        );
        assert_eq!(
            d["counts"]["links"].as_u64().unwrap(),
            expected_links.len() as u64
        );
    }
}

#[test]
fn from_a_note_at_depth_one_gives_the_note_and_its_direct_neighbours() {
    let ws = examples_ws();
    let (_, all) = export(&ws, &[]);
    let all = bundle(&all);
    let links = all["links"].as_array().unwrap();
    // The note with the most links, so the test means something.
    let note = all["entities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "ag:note")
        .max_by_key(|e| {
            links
                .iter()
                .filter(|l| l["from_id"] == e["id"] || l["to_id"] == e["id"])
                .count()
        })
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut expected: BTreeSet<String> = BTreeSet::from([note.clone()]);
    for l in links {
        let (f, t) = (l["from_id"].as_str().unwrap(), l["to_id"].as_str().unwrap());
        if f == note {
            expected.insert(t.to_string());
        }
        if t == note {
            expected.insert(f.to_string());
        }
    }
    assert!(expected.len() > 2);
    let (_, sub) = export(&ws, &["--from", &note, "--depth", "1"]);
    let sub = bundle(&sub);
    let got: BTreeSet<String> = ids(&sub["entities"], "id").into_iter().collect();
    assert_eq!(got, expected);
    let expected_links: BTreeSet<String> = links
        .iter()
        .filter(|l| {
            expected.contains(l["from_id"].as_str().unwrap())
                && expected.contains(l["to_id"].as_str().unwrap())
        })
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    let got_links: BTreeSet<String> = ids(&sub["links"], "id").into_iter().collect();
    assert_eq!(got_links, expected_links);
    assert_eq!(sub["export_metadata"]["filters"]["from"], note.as_str());
    assert_eq!(sub["export_metadata"]["filters"]["depth"], 1);
    // --depth defaults to 1; depth 0 is the entity alone.
    let (_, default_depth) = export(&ws, &["--from", &note]);
    assert_eq!(bundle(&default_depth)["entities"], sub["entities"]);
    let (_, alone) = export(&ws, &["--from", &note, "--depth", "0"]);
    assert_eq!(ids(&bundle(&alone)["entities"], "id"), vec![note.clone()]);
    // A larger depth reaches at least as far.
    let (_, two) = export(&ws, &["--from", &note, "--depth", "2"]);
    let two: BTreeSet<String> = ids(&bundle(&two)["entities"], "id").into_iter().collect();
    assert!(two.is_superset(&expected));
}

#[test]
fn bad_arguments_are_refused_before_anything_is_written() {
    let ws = examples_ws();
    let before = ws.pkg_hashes();

    // An unknown format is a usage error, never a silent JSON file.
    let r = ws.run(&["export", "--format", "yaml"]).code(2);
    assert!(
        r.stderr.contains("yaml") && r.stderr.contains("json"),
        "{}",
        r.stderr
    );
    ws.run(&["export", "--type", "ag:nope"]).code(2);
    ws.run(&["export", "--depth", "2"]).code(2);
    ws.run(&["export", "--depth", "x", "--from", "ent_0"])
        .code(2);

    // An unknown entity: exit 1, pointing at query / list.
    let r = ws.run(&["export", "--from", "ent_doesnotexist"]).code(1);
    assert!(r.stderr.contains("ent_doesnotexist"), "{}", r.stderr);
    assert!(r.stderr.contains("auditgraph query"), "{}", r.stderr);
    assert!(r.stderr.contains("auditgraph list"), "{}", r.stderr);
    let r = ws
        .run(&["--json", "export-neo4j", "--from", "ent_doesnotexist"])
        .code(1);
    assert_eq!(r.json()["code"], "not_found");

    // An unknown run.
    ws.run(&["export", "--run-id", "run_0123456789abcdef"])
        .code(1);

    assert!(!ws.path("exports").exists(), "nothing may be written");
    assert_eq!(ws.pkg_hashes(), before);
}

#[test]
fn exports_are_read_only_and_work_on_an_earlier_run() {
    let ws = examples_ws();
    let first_run = ws.current_run();
    ws.write("extra.md", "# Extra\n\nAbout `tokio`.\n");
    ws.run(&["run"]).ok();
    assert_ne!(ws.current_run(), first_run);
    let before = ws.pkg_hashes();
    let (doc, bytes) = export(&ws, &["--run-id", &first_run[..16]]);
    assert_eq!(doc["run_id"], first_run.as_str());
    assert_eq!(
        bundle(&bytes)["export_metadata"]["run_id"],
        first_run.as_str()
    );
    // The default path is the workspace's, whatever the run: exporting the
    // current run replaces the file (the run id is inside).
    let (current, bytes) = export(&ws, &[]);
    assert_eq!(current["output"], doc["output"]);
    assert_eq!(
        bundle(&bytes)["export_metadata"]["run_id"],
        ws.current_run().as_str()
    );
    assert_eq!(ws.pkg_hashes(), before, "exports never touch the store");
}

#[test]
fn refusals_of_the_store() {
    // Nothing ingested yet.
    let ws = Ws::new();
    ws.write("a.md", "# A\n");
    let r = ws.run(&["--json", "export"]).code(1);
    assert_eq!(r.json()["code"], "nothing_ingested");
    assert!(!ws.path("exports").exists());

    // A store of the Python tool: the compatibility check refuses (exit 3).
    let legacy = fixture_ws("python-v1-workspace");
    let before = legacy.pkg_hashes();
    let r = legacy
        .run(&["--json", "export", "--format", "graphml"])
        .code(3);
    assert_eq!(r.json()["code"], "rebuild_required");
    legacy.run(&["export-neo4j"]).code(3);
    assert!(!legacy.path("exports").exists());
    assert_eq!(legacy.pkg_hashes(), before);
}

// --- path safety --------------------------------------------------------------

/// Every file under `dir` (relative paths), following nothing.
fn files_under(dir: &Path) -> BTreeSet<String> {
    tree_hashes(dir).into_keys().collect()
}

#[test]
fn relative_outputs_resolve_against_the_root_and_may_not_leave_it() {
    let ws = examples_ws();
    let parent = ws.root().parent().unwrap().to_path_buf();
    let before = files_under(ws.root());

    for out in [
        "../ag-escaped-export.json",
        "sub/../../ag-escaped-export.json",
        "./../ag-escaped-export.json",
        "a/b/../../../ag-escaped-export.json",
    ] {
        let r = ws.run(&["export", "--output", out]).code(2);
        assert!(
            r.stderr.contains("leaves the workspace root"),
            "{out}: {}",
            r.stderr
        );
        let r = ws.run(&["--json", "export-neo4j", "--output", out]).code(2);
        assert_eq!(r.json()["code"], "usage_error");
    }
    // Not a file name, a directory, the store, a source note.
    for (out, why) in [
        (".", "file name"),
        ("sub/..", "file name"),
        ("exports/", "directory"),
        ("notes", "directory"),
        (".pkg/graph.json", "store"),
        (".pkg/profiles/default/store.json", "store"),
        ("README.md", "source file"),
        ("runbooks/postgres-maintenance.md", "source file"),
    ] {
        let r = ws
            .run(&["export", "--format", "dot", "--output", out])
            .code(2);
        assert!(r.stderr.contains(why), "{out}: {}", r.stderr);
    }
    assert_eq!(
        files_under(ws.root()),
        before,
        "nothing written in the root"
    );
    assert!(
        !parent.join("ag-escaped-export.json").exists(),
        "nothing written above the root"
    );

    // Inside the root it works, creating directories; relative to the root,
    // not to the current directory.
    let cwd = tempfile::tempdir().unwrap();
    let run = command()
        .current_dir(cwd.path())
        .args(["--root", ws.root().to_str().unwrap(), "--json", "export"])
        .args(["--output", "out/deeper/../graph.json"])
        .output()
        .unwrap();
    let run = Run::from(run).ok();
    assert!(ws.path("out/graph.json").is_file());
    assert!(!ws.path("out/deeper").exists());
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0);
    let output = PathBuf::from(run.json()["output"].as_str().unwrap());
    assert_eq!(
        output,
        ws.root().canonicalize().unwrap().join("out/graph.json")
    );
    // Replacing an earlier export is fine, and leaves no temporary file.
    ws.json(&["export", "--format", "dot", "--output", "out/graph.json"]);
    let names: Vec<String> = std::fs::read_dir(ws.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(names, vec!["graph.json".to_string()]);
    assert!(
        std::fs::read(ws.path("out/graph.json"))
            .unwrap()
            .starts_with(b"// auditgraph")
    );
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_root_are_never_followed() {
    use std::os::unix::fs::symlink;
    let ws = examples_ws();
    let outside = tempfile::tempdir().unwrap();
    symlink(outside.path(), ws.path("linked")).unwrap();
    std::fs::create_dir(ws.path("real")).unwrap();
    symlink(outside.path(), ws.path("real/nested")).unwrap();
    // A file link pointing outside, at a name an export would use.
    std::fs::create_dir(ws.path("exports")).unwrap();
    let target = outside.path().join("victim.json");
    std::fs::write(&target, "precious").unwrap();
    symlink(&target, ws.path("exports/x.json")).unwrap();
    // `exports` itself a link out of the root: the default output is refused.
    let ws2 = examples_ws();
    symlink(outside.path(), ws2.path("exports")).unwrap();

    for out in [
        "linked/x.json",
        "linked/sub/x.json",
        "real/nested/x.json",
        "real/../linked/x.json",
    ] {
        let r = ws.run(&["export", "--output", out]).code(2);
        assert!(r.stderr.contains("symbolic link"), "{out}: {}", r.stderr);
    }
    let r = ws.run(&["export", "--output", "exports/x.json"]).code(2);
    assert!(r.stderr.contains("symbolic link"), "{}", r.stderr);
    // Given as an absolute path through the root, the link is refused too.
    let abs = ws.root().canonicalize().unwrap().join("linked/abs.json");
    ws.run(&["export", "--output", abs.to_str().unwrap()])
        .code(2);
    let r = ws2.run(&["export-neo4j"]).code(2);
    assert!(r.stderr.contains("symbolic link"), "{}", r.stderr);

    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    let outside_files = files_under(outside.path());
    assert_eq!(outside_files, BTreeSet::from(["victim.json".to_string()]));

    // A link that stays inside the root is fine.
    symlink(ws.path("real"), ws.path("inside-link")).unwrap();
    ws.json(&["export", "--output", "inside-link/ok.json"]);
    assert!(ws.path("real/ok.json").is_file());
}

#[test]
fn an_explicit_absolute_path_outside_the_root_is_accepted() {
    let ws = examples_ws();
    let outside = tempfile::tempdir().unwrap();
    let path = outside.path().join("graph.graphml");
    let doc = ws.json(&[
        "export",
        "--format",
        "graphml",
        "--output",
        path.to_str().unwrap(),
    ]);
    assert!(path.is_file());
    assert_eq!(
        PathBuf::from(doc["output"].as_str().unwrap()),
        outside.path().canonicalize().unwrap().join("graph.graphml")
    );
    let cypher = outside.path().join("load.cypher");
    ws.json(&["export-neo4j", "--output", cypher.to_str().unwrap()]);
    assert!(cypher.is_file());
    assert!(!ws.path("exports").exists());
    // Its directory must exist: no directories are created outside the root.
    let missing = outside.path().join("no/such/dir/x.json");
    let r = ws
        .run(&["export", "--output", missing.to_str().unwrap()])
        .code(2);
    assert!(r.stderr.contains("not accessible"), "{}", r.stderr);
    assert!(!outside.path().join("no").exists());
}

// --- budget -------------------------------------------------------------------

/// A config file outside the root with this multiplier.
fn budget_config(dir: &Path, multiplier: f64) -> String {
    let path = dir.join(format!("pkg-{multiplier}.yaml"));
    std::fs::write(
        &path,
        format!("storage:\n  footprint_budget:\n    multiplier: {multiplier}\n"),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn an_export_that_alone_exceeds_the_budget_is_blocked() {
    let ws = examples_ws();
    let cfg_dir = tempfile::tempdir().unwrap();
    // The sizes of the exports below, written outside the root.
    let sizes = tempfile::tempdir().unwrap();
    let mut smallest = u64::MAX;
    let mut current = 0;
    for (command, format) in [
        ("export", "json"),
        ("export", "graphml"),
        ("export-neo4j", ""),
    ] {
        let out = sizes.path().join(format!("x.{format}"));
        let mut args = vec![command, "--output", out.to_str().unwrap()];
        if !format.is_empty() {
            args.extend(["--format", format]);
        }
        let doc = ws.json(&args);
        smallest = smallest.min(doc["bytes"].as_u64().unwrap());
        current = doc["budget"]["current_bytes"].as_u64().unwrap();
    }
    // The store fits; the store plus any of these exports does not.
    let cfg = budget_config(
        cfg_dir.path(),
        (current as f64 + smallest as f64 / 2.0) / MIB,
    );
    let before = ws.pkg_hashes();
    let outside = tempfile::tempdir().unwrap();
    let abs = outside.path().join("x.json");

    for args in [vec!["export"], vec!["export", "--format", "graphml"]] {
        let mut all = vec!["--json", "--config", &cfg];
        all.extend(args.iter().copied());
        let r = ws.run(&all).code(5);
        let err = r.json();
        assert_eq!(err["code"], "budget_blocked");
        assert_eq!(err["budget"]["status"], "block");
        assert_eq!(err["budget"]["operation"], "export");
        assert!(r.stderr.contains("budget: block"), "{}", r.stderr);
        assert!(r.stderr.contains("auditgraph gc"), "{}", r.stderr);
        assert!(r.stderr.contains("multiplier"), "{}", r.stderr);
    }
    let r = ws.run(&["--config", &cfg, "export-neo4j"]).code(5);
    assert!(r.stderr.contains("nothing was written"), "{}", r.stderr);

    assert!(!ws.path("exports").exists(), "no file, no directory");
    assert_eq!(
        ws.pkg_hashes(),
        before,
        "the store is byte for byte as before"
    );
    // Outside the workspace it is reported, not counted: written.
    let outside_doc = ws
        .run(&[
            "--json",
            "--config",
            &cfg,
            "export",
            "--output",
            abs.to_str().unwrap(),
        ])
        .ok()
        .json();
    assert_eq!(outside_doc["counted_in_budget"], false);
    assert!(abs.exists());
    assert_eq!(ws.pkg_hashes(), before, "exports never touch the store");

    // A smaller export still fits under the same budget.
    let small = ws.run(&[
        "--json", "--config", &cfg, "export", "--type", "ag:note", "--format", "dot",
    ]);
    let small = small.ok().json();
    assert_eq!(small["budget"]["status"], "ok");
}

#[test]
fn an_export_near_the_budget_warns_and_proceeds() {
    let ws = examples_ws();
    let cfg_dir = tempfile::tempdir().unwrap();
    let (doc, _) = export(&ws, &["--format", "dot"]);
    let current = doc["budget"]["current_bytes"].as_u64().unwrap() as f64;
    let bytes = doc["bytes"].as_u64().unwrap() as f64;
    // Usage after the export at 90% of the limit.
    let cfg = budget_config(cfg_dir.path(), (current + bytes) / 0.9 / MIB);
    let r = ws
        .run(&["--config", &cfg, "export", "--format", "dot"])
        .ok();
    assert!(r.stderr.contains("budget: warn usage="), "{}", r.stderr);
    assert!(r.stdout.contains("export: wrote"), "{}", r.stdout);
    let r = ws
        .run(&["--json", "--config", &cfg, "export", "--format", "dot"])
        .ok();
    let doc = r.json();
    assert_eq!(doc["budget"]["status"], "warn");
    let ratio = doc["budget"]["usage_ratio"].as_f64().unwrap();
    assert!((0.8..1.0).contains(&ratio), "{ratio}");
    assert!(r.stderr.contains("budget: warn"), "{}", r.stderr);
}

// --- secrets ------------------------------------------------------------------

const PASSWORD: &str = "Tr0ub4dor&3xyz";
const AWS_KEY: &str = "AKIAZ7Q2WERTY4UIOP3X";

#[test]
fn secrets_in_notes_never_reach_an_export() {
    let ws = Ws::new();
    ws.write(
        "notes/secrets.md",
        format!(
            "---\ntitle: Deploy notes\napi_key: {AWS_KEY}\n---\n# Deploy\n\nThe database `password = \"{PASSWORD}\"` was rotated.\n\npassword = \"{PASSWORD}\"\n\n## Keys\n\nOld key {AWS_KEY} was revoked; see [other](other.md).\n\n- `aws_access_key_id={AWS_KEY}`\n"
        ),
    );
    ws.write(
        "notes/other.md",
        "# Other\n\nLinks back to [secrets](secrets.md) and `postgres`.\n",
    );
    ws.run(&["run"]).ok();
    let mut files = Vec::new();
    for format in ["json", "dot", "graphml"] {
        files.push(export(&ws, &["--format", format]).1);
    }
    files.push(neo4j(&ws, &[]).1);
    for bytes in &files {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains(PASSWORD), "password leaked");
        assert!(!text.contains("Tr0ub4dor"), "password leaked");
        assert!(!text.contains(AWS_KEY), "AWS key leaked");
        assert!(!text.contains("Z7Q2WERTY4UIOP3X"), "AWS key leaked");
    }
    // The redaction markers are there instead (the chunks of the bundle).
    assert!(String::from_utf8_lossy(&files[0]).contains("<<redacted:"));
}

#[test]
fn a_secret_that_slipped_into_the_store_blocks_the_export() {
    // A file name is not note text; if it reaches the store unredacted the
    // export refuses rather than copying it out.
    let ws = Ws::new();
    ws.write(&format!("notes/{AWS_KEY}.md"), "plain body\n");
    ws.write("notes/b.md", "# B\n\nSee `postgres`.\n");
    ws.run(&["run"]).ok();
    for args in [
        vec!["export", "--format", "json"],
        vec!["export", "--format", "dot"],
        vec!["export", "--format", "graphml"],
        vec!["export-neo4j"],
    ] {
        let r = ws.run(&args);
        if r.code == 0 {
            continue;
        }
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("vendor_token"), "{}", r.stderr);
        assert!(r.stderr.contains("nothing was written"), "{}", r.stderr);
        assert!(
            !r.stderr.contains(AWS_KEY),
            "the message never shows the secret"
        );
    }
    for (path, _) in tree_hashes(&ws.path("exports")) {
        let text = std::fs::read_to_string(ws.path("exports").join(&path)).unwrap();
        assert!(!text.contains(AWS_KEY), "{path} holds the key");
    }
}

#[test]
fn placeholders_that_look_like_secrets_once_case_folded_do_not_block() {
    // From tldr-en: upper-case tool keywords are not secrets, but their
    // case-folded canonical key (`combo00:combo01`) and a truncated snippet
    // (`--client-secret {{client_secret}`) look like ones on their own.
    let ws = Ws::new();
    ws.write(
        "pages/patator.md",
        "# patator\n\n- Brute-force HTTP basic auth:\n\n`patator http_fuzz url={{http://host:port}} auth_type=basic user_pass=COMBO00:COMBO01 0={{path/to/userpass.txt}} -x ignore:code=401`\n",
    );
    ws.write(
        "pages/oauth2c.md",
        "# oauth2c\n\n> Interact with OAuth 2.0 authorization servers.\n> More information: <https://github.com/cloudentity/oauth2c#usage>.\n\n- Fetch an access token using client credentials:\n\n`oauth2c {{issuer_url}} --client-id {{client_id}} --client-secret {{client_secret}} --grant-type client_credentials --auth-method client_secret_basic --response-types code --response-mode query`\n",
    );
    ws.run(&["run"]).ok();
    for format in ["json", "dot", "graphml"] {
        export(&ws, &["--format", format]);
    }
    neo4j(&ws, &[]);
    ws.run(&["validate-store"]).ok();
}
