//! The JSON bundle: a self-contained, deterministic file described by
//! `schemas/export.schema.json` (JSON Schema draft 2020-12).
//!
//! ```text
//! {
//!   "format": "auditgraph-export",
//!   "format_version": 2,            the bundle layout (this module)
//!   "schema_version": "v2",         the store schema the run was written in
//!   "export_metadata": {
//!     "run_id", "profile", "pipeline_version", "config_hash",
//!     "inputs_hash",                 the run's ingest inputs hash (its sources)
//!     "outputs_hash": {"ingest", "extract", "link", "index"},
//!     "auditgraph_version", "created_by": "auditgraph export",
//!     "filters": {"types": [...], "from": id|null, "depth": n|null},
//!     "counts": {"entities", "links", "documents", "chunks",
//!                "entities_by_type": {...}, "links_by_type": {...}}
//!   },
//!   "entities":  [ the entity of `node --json`, normalized (below) ], by id
//!   "links":     [ {id, from_id, to_id, type, rule_id, confidence,
//!                   authority, evidence: [{chunk_id, document_id,
//!                   line_start, line_end, via_id?, via_name?}],
//!                   evidence_total} ], by id
//!   "documents": [ {document_id, source_path, source_hash, parser_id,
//!                   size, chunk_count} ], every document the bundle
//!                   names anywhere, by document_id
//!   "chunks":    [ {chunk_id, document_id, order, text, line_start,
//!                   line_end} ], every chunk a link's evidence cites, by
//!                   chunk_id
//! }
//! ```
//!
//! # Normalized (format version 2)
//!
//! Nothing is repeated per item: everything the bundle names points at a
//! document by `document_id` (plus `chunk_id` and lines), and the
//! document's `source_path`, `source_hash` and `parser_id` are stated once,
//! in `documents`; the run id and pipeline version once, in
//! `export_metadata`. Against an entity of `node --json`:
//!
//! * `source_path` is dropped (the entity keeps `document_id`); so is a
//!   reference's `target_path` (it keeps `target_document_id`) and a
//!   note's `parser_id` (its document's).
//! * `refs` are `{document_id, range}`.
//! * `provenance` is `{created_by_rule}`: `run_id` and `pipeline_version`
//!   are the metadata's; `input_hash` is the document's `source_hash`, or
//!   for a technology the SHA-256 of the sorted `source_hash`es of its
//!   `refs`' documents joined by `:`.
//! * A technology's `document_count` is the number of its `refs` (one per
//!   document that mentions it). Its `mentions` are the evidence items of
//!   the `mentions_technology` links to it (origin = `from_id`, line =
//!   `line_start`); those links are in the bundle unless their origin
//!   entity was filtered out, so the entity carries only the others, as
//!   `unlinked_mentions` (`{document_id, line, origin_id}`; empty in an
//!   export of the whole graph).
//!
//! Link evidence drops `source_path` and `source_hash` likewise.
//!
//! There is no creation time: the run id identifies the data, and the same
//! run and filters always give the same bytes. Object keys are sorted; the
//! file has one top-level key per line and one array element per line, so
//! two exports diff line by line.

use super::{ExportContext, ExportCounts, Rendered, type_counts};
use crate::error::{Error, Result};
use crate::ingest::document::DocumentRecord;
use crate::ingest::{self};
use rayon::prelude::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// `format` of every bundle.
pub const BUNDLE_FORMAT: &str = "auditgraph-export";
/// Version of the bundle layout; bumped with `schemas/export.schema.json`.
pub const BUNDLE_FORMAT_VERSION: u32 = 2;

/// Renders the bundle. Each entity, link, document and chunk is serialized
/// to its line as soon as it is built (in parallel), so memory holds the
/// text of the bundle, not a tree of JSON values.
pub fn render(ctx: &ExportContext<'_>) -> Result<Rendered> {
    let view = ctx.view();
    let graph = &view.graph;
    let sel = ctx.selection;
    let corrupt = |detail: String| {
        Error::corrupt(
            ctx.run.reader.layout.run_dir(&ctx.run.run_id),
            format!(
                "{detail}; run `auditgraph validate-store`, and `auditgraph rebuild` to write a fresh run"
            ),
        )
    };

    let ids = view.all_ids();
    let kept: HashSet<&str> = sel
        .nodes
        .iter()
        .filter_map(|&i| ids.get(i as usize).map(String::as_str))
        .collect();
    let entities: Vec<String> = sel
        .nodes
        .par_iter()
        .map(|&i| {
            view.entity(i)
                .map(|v| normalize_entity(v, &kept).to_string())
        })
        .collect::<Result<Vec<_>>>()?;
    let links: Vec<String> = sel
        .edges
        .par_iter()
        .map(|&e| normalize_link(view.link(e)).to_string())
        .collect();

    // Documents named by entities (their own document, a reference's
    // target, the documents mentioning a technology) and by link evidence:
    // every `document_id` of the bundle.
    let cited_docs: BTreeSet<u32> = ctx.mentioned_documents();
    // Chunks cited by link evidence, by document: chunk orders.
    let mut cited_chunks: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    for &e in &sel.edges {
        let Some(edge) = graph.edges.get(e) else {
            continue;
        };
        for ev in &edge.evidence {
            if let Some(c) = ev.chunk {
                cited_chunks.entry(ev.doc).or_default().insert(c);
            }
        }
    }

    // The ingest record of a document of the graph.
    let record_of = |doc: u32| -> Result<&ingest::IngestRecord> {
        let gdoc = graph.docs.get(doc as usize);
        gdoc.and_then(|g| {
            ctx.records
                .binary_search_by(|r| r.path.as_str().cmp(&g.path))
                .ok()
                .map(|i| &ctx.records[i])
        })
        .ok_or_else(|| {
            corrupt(format!(
                "document {} of the graph has no ingest record in its run",
                gdoc.map(|g| g.path.as_str()).unwrap_or("?")
            ))
        })
    };

    let mut documents: Vec<(String, String)> = Vec::with_capacity(cited_docs.len());
    for &doc in &cited_docs {
        let record = record_of(doc)?;
        let Some(g) = graph.docs.get(doc as usize) else {
            continue;
        };
        let id = ingest::document::document_id(&g.path);
        let line = json!({
            "document_id": id,
            "source_path": g.path,
            "source_hash": record.sha256.as_deref().unwrap_or(""),
            "parser_id": record.parser_id,
            "size": record.size,
            "chunk_count": view.doc_extraction(doc)?.chunks.len(),
        })
        .to_string();
        documents.push((id, line));
    }
    documents.sort();

    // Chunk texts: load only the documents pieces that hold cited chunks,
    // one piece at a time per thread.
    let layout = &ctx.run.reader.layout;
    let documents_table = ctx
        .run
        .manifests
        .ingest
        .table(layout, crate::store::piece::PieceKind::Documents)?;
    let shard_of = |path: &str| documents_table.shard(crate::store::table::document_byte(path));
    let mut by_shard: BTreeMap<u8, Vec<u32>> = BTreeMap::new();
    for &doc in cited_chunks.keys() {
        if let Some(g) = graph.docs.get(doc as usize) {
            by_shard.entry(shard_of(&g.path)).or_default().push(doc);
        }
    }
    let chunk_line = |doc: u32, record: &DocumentRecord, order: u32| -> Result<(String, String)> {
        let path = record.path.as_str();
        let gchunk = view.chunk_ref(doc, order);
        let (Some(gchunk), Some(chunk)) = (gchunk, record.chunks.get(order as usize)) else {
            return Err(corrupt(format!(
                "chunk {order} of {path} is cited by a link but missing from the document"
            )));
        };
        let id = record.chunk_id(chunk);
        if id != gchunk.id {
            return Err(corrupt(format!(
                "chunk {order} of {path} hashes to {id}, but the graph cites {}",
                gchunk.id
            )));
        }
        let mut line = json!({
            "chunk_id": id,
            "document_id": record.document_id,
            "order": chunk.order,
            "text": record.chunk_text(chunk),
            "line_start": chunk.line_start,
            "line_end": chunk.line_end,
        });
        crate::ingest::document::Citation::insert_into(chunk.citation, &mut line);
        let line = line.to_string();
        Ok((id, line))
    };
    let mut chunks: Vec<(String, String)> = by_shard
        .par_iter()
        .map(|(shard, docs)| -> Result<Vec<(String, String)>> {
            let group = match documents_table.get(*shard) {
                Some(id) => {
                    let records: Vec<ingest::IngestRecord> = ctx
                        .records
                        .iter()
                        .filter(|r| shard_of(&r.path) == *shard)
                        .cloned()
                        .collect();
                    ingest::read_documents(layout, id, &records)?
                }
                None => Vec::new(),
            };
            let object = shard;
            let mut out = Vec::new();
            for &doc in docs {
                let path = graph.docs.get(doc as usize).map(|d| d.path.as_str());
                let record = group
                    .iter()
                    .find(|r| Some(r.path.as_str()) == path)
                    .ok_or_else(|| {
                        corrupt(format!(
                            "document {} is missing from its documents piece (shard {object})",
                            path.unwrap_or("?")
                        ))
                    })?;
                for &order in cited_chunks.get(&doc).into_iter().flatten() {
                    out.push(chunk_line(doc, record, order)?);
                }
            }
            Ok(out)
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    chunks.sort();

    let counts = ExportCounts {
        entities: entities.len(),
        links: links.len(),
        documents: Some(documents.len()),
        chunks: Some(chunks.len()),
    };
    let (entities_by_type, links_by_type) = type_counts(view, sel);
    let metadata = json!({
        "run_id": ctx.run.run_id,
        "profile": ctx.ws.config.profile_name,
        "pipeline_version": graph.pipeline_version,
        "config_hash": ctx.run.manifests.ingest.config_hash,
        "inputs_hash": ctx.run.manifests.ingest.inputs_hash,
        "outputs_hash": {
            "ingest": ctx.run.manifests.ingest.outputs_hash,
            "extract": ctx.run.manifests.extract.as_ref().map(|m| &m.outputs_hash),
            "link": ctx.run.manifests.link.as_ref().map(|m| &m.outputs_hash),
            "index": ctx.run.manifests.index.as_ref().map(|m| &m.outputs_hash),
        },
        "auditgraph_version": crate::version::AUDITGRAPH_VERSION,
        "created_by": "auditgraph export",
        "filters": ctx.filter,
        "counts": {
            "entities": counts.entities,
            "links": counts.links,
            "documents": documents.len(),
            "chunks": chunks.len(),
            "entities_by_type": entities_by_type,
            "links_by_type": links_by_type,
        },
    });

    // Top-level keys in sorted order, one per line; arrays one element per
    // line (the layout of every manifest).
    let size = entities
        .iter()
        .chain(&links)
        .map(|l| l.len() + 2)
        .sum::<usize>()
        + documents
            .iter()
            .chain(&chunks)
            .map(|(_, l)| l.len() + 2)
            .sum::<usize>()
        + 4096;
    let mut out = String::with_capacity(size);
    out.push_str("{\n");
    array(&mut out, "chunks", chunks.iter().map(|(_, l)| l.as_str()));
    out.push_str(",\n");
    array(
        &mut out,
        "documents",
        documents.iter().map(|(_, l)| l.as_str()),
    );
    out.push_str(",\n");
    array(&mut out, "entities", entities.iter().map(String::as_str));
    out.push_str(",\n\"export_metadata\":");
    out.push_str(&metadata.to_string());
    out.push_str(",\n\"format\":");
    out.push_str(&Value::from(BUNDLE_FORMAT).to_string());
    out.push_str(",\n\"format_version\":");
    out.push_str(&BUNDLE_FORMAT_VERSION.to_string());
    out.push_str(",\n");
    array(&mut out, "links", links.iter().map(String::as_str));
    out.push_str(",\n\"schema_version\":");
    out.push_str(&Value::from(ctx.run.manifests.ingest.schema_version.as_str()).to_string());
    out.push_str("\n}\n");
    Ok(Rendered {
        bytes: out.into_bytes(),
        counts,
    })
}

/// `"key":[\n<line>,\n<line>\n]`, or `"key":[]` when empty.
fn array<'a>(out: &mut String, key: &str, lines: impl Iterator<Item = &'a str>) {
    out.push('"');
    out.push_str(key);
    out.push_str("\":[");
    let mut any = false;
    for line in lines {
        out.push_str(if any { ",\n" } else { "\n" });
        out.push_str(line);
        any = true;
    }
    out.push_str(if any { "\n]" } else { "]" });
}

/// An entity of `node --json` as the bundle holds it (see the module docs):
/// what the bundle states elsewhere is dropped. `kept` holds the ids of the
/// bundle's entities.
fn normalize_entity(entity: Value, kept: &HashSet<&str>) -> Value {
    let Value::Object(mut m) = entity else {
        return entity;
    };
    m.remove("source_path");
    if let Some(Value::Array(refs)) = m.get_mut("refs") {
        for r in refs.iter_mut() {
            normalize_ref(r);
        }
    }
    if let Some(Value::Object(p)) = m.get_mut("provenance") {
        p.retain(|k, _| k == "created_by_rule");
    }
    match m.get("type").and_then(Value::as_str) {
        Some("ag:note") => {
            m.remove("parser_id");
        }
        Some("ag:reference") => {
            m.remove("target_path");
        }
        Some("ag:technology") => {
            m.remove("document_count");
            let mentions = match m.remove("mentions") {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
            let unlinked: Vec<Value> = mentions
                .into_iter()
                .filter(|mention| {
                    !mention
                        .get("origin_id")
                        .and_then(Value::as_str)
                        .is_some_and(|origin| kept.contains(origin))
                })
                .map(|mut mention| {
                    drop_document_fields(&mut mention);
                    mention
                })
                .collect();
            m.insert("unlinked_mentions".into(), Value::Array(unlinked));
        }
        _ => {}
    }
    Value::Object(m)
}

/// `{source_path, source_hash, range}` -> `{document_id, range}`.
fn normalize_ref(r: &mut Value) {
    let Value::Object(o) = r else {
        return;
    };
    if let Some(Value::String(path)) = o.remove("source_path") {
        o.insert(
            "document_id".into(),
            Value::String(ingest::document::document_id(&path)),
        );
    }
    o.remove("source_hash");
}

/// Removes what `documents` states of an item that has a `document_id`.
fn drop_document_fields(item: &mut Value) {
    if let Value::Object(o) = item {
        o.remove("source_path");
        o.remove("source_hash");
    }
}

/// A link as [`crate::graph::view::GraphView::link`] renders it, normalized:
/// its evidence points at documents by id only.
fn normalize_link(link: Value) -> Value {
    let Value::Object(mut m) = link else {
        return link;
    };
    if let Some(Value::Array(evidence)) = m.get_mut("evidence") {
        for ev in evidence.iter_mut() {
            drop_document_fields(ev);
        }
    }
    Value::Object(m)
}
