//! The JSON bundle: a self-contained, deterministic file described by
//! `schemas/export.schema.json` (JSON Schema draft 2020-12).
//!
//! ```text
//! {
//!   "format": "auditgraph-export",
//!   "format_version": 1,            the bundle layout (this module)
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
//!   "entities":  [ the entity as `node --json` shows it ], sorted by id
//!   "links":     [ {id, from_id, to_id, type, rule_id, confidence,
//!                   authority, evidence: [...], evidence_total} ], by id
//!   "documents": [ {document_id, source_path, source_hash, parser_id,
//!                   size, chunk_count} ], every document an entity or
//!                   link cites, by document_id
//!   "chunks":    [ {chunk_id, document_id, order, text, line_start,
//!                   line_end} ], every chunk a link's evidence cites, by
//!                   chunk_id
//! }
//! ```
//!
//! There is no creation time: the run id identifies the data, and the same
//! run and filters always give the same bytes. Object keys are sorted; the
//! file has one top-level key per line and one array element per line, so
//! two exports diff line by line.

use super::{ExportContext, ExportCounts, Format, Leak, Rendered, SecretScan, type_counts};
use crate::error::{Error, Result};
use crate::ingest::document::DocumentRecord;
use crate::ingest::{self};
use rayon::prelude::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// `format` of every bundle.
pub const BUNDLE_FORMAT: &str = "auditgraph-export";
/// Version of the bundle layout; bumped with `schemas/export.schema.json`.
pub const BUNDLE_FORMAT_VERSION: u32 = 1;

/// Renders the bundle.
pub fn render(ctx: &ExportContext<'_>) -> Result<Rendered> {
    let view = ctx.view();
    let graph = &view.graph;
    let sel = ctx.selection;

    let entities: Vec<Value> = sel
        .nodes
        .par_iter()
        .map(|&i| view.entity(i))
        .collect::<Result<Vec<_>>>()?;
    let links: Vec<Value> = sel.edges.par_iter().map(|&e| view.link(e)).collect();

    // Documents cited by entities (their own document, the documents of
    // their refs and mentions, a reference's target) and by link evidence.
    let doc_by_path: HashMap<&str, u32> = graph
        .docs
        .iter()
        .enumerate()
        .map(|(i, d)| (d.path.as_str(), i as u32))
        .collect();
    let mut cited_docs: BTreeSet<u32> = BTreeSet::new();
    let mut cite = |path: Option<&str>| {
        if let Some(d) = path.and_then(|p| doc_by_path.get(p)) {
            cited_docs.insert(*d);
        }
    };
    for e in &entities {
        cite(e.get("source_path").and_then(Value::as_str));
        cite(e.get("target_path").and_then(Value::as_str));
        for list in ["refs", "mentions"] {
            for item in e.get(list).and_then(Value::as_array).into_iter().flatten() {
                cite(item.get("source_path").and_then(Value::as_str));
            }
        }
    }
    // Chunks cited by link evidence: (document, chunk order).
    let mut cited_chunks: BTreeSet<(u32, u32)> = BTreeSet::new();
    for &e in &sel.edges {
        let Some(edge) = graph.edges.get(e) else {
            continue;
        };
        for ev in &edge.evidence {
            cited_docs.insert(ev.doc);
            if let Some(c) = ev.chunk {
                cited_chunks.insert((ev.doc, c));
            }
        }
    }

    // The ingest records of the run's documents, in graph order.
    let doc_objects = ctx.ingest.document_objects();
    let record_of = |doc: u32| -> Result<(&ingest::IngestRecord, &str)> {
        let gdoc = graph.docs.get(doc as usize);
        match (doc_objects.get(doc as usize), gdoc) {
            (Some((record, object)), Some(g)) if record.path == g.path => Ok((record, object)),
            _ => Err(Error::corrupt(
                ctx.run.reader.layout.run_dir(&ctx.run.run_id),
                format!(
                    "document {} of the graph does not match the run's ingest manifest; run `auditgraph validate-store`, and `auditgraph rebuild` to write a fresh run",
                    gdoc.map(|g| g.path.as_str()).unwrap_or("?")
                ),
            )),
        }
    };

    let mut documents = Vec::with_capacity(cited_docs.len());
    for &doc in &cited_docs {
        let (record, _) = record_of(doc)?;
        let Some(g) = graph.docs.get(doc as usize) else {
            continue;
        };
        documents.push(json!({
            "document_id": ingest::document::document_id(&g.path),
            "source_path": g.path,
            "source_hash": g.source_hash,
            "parser_id": record.parser_id,
            "size": record.size,
            "chunk_count": g.chunks.len(),
        }));
    }
    documents.sort_by(|a, b| a["document_id"].as_str().cmp(&b["document_id"].as_str()));

    // Chunk texts: load only the document groups that hold cited chunks.
    let mut by_object: BTreeMap<&str, BTreeSet<u32>> = BTreeMap::new();
    for &(doc, _) in &cited_chunks {
        let (_, object) = record_of(doc)?;
        by_object.entry(object).or_default().insert(doc);
    }
    let records = ctx.ingest.records_by_path();
    let loaded: Vec<(u32, DocumentRecord)> = by_object
        .par_iter()
        .map(|(object, docs)| -> Result<Vec<(u32, DocumentRecord)>> {
            let group = ingest::load_group(&ctx.run.reader.layout, object, &records)?;
            let mut out = Vec::new();
            for &doc in docs {
                let path = graph.docs.get(doc as usize).map(|d| d.path.as_str());
                let record = group
                    .iter()
                    .find(|r| Some(r.path.as_str()) == path)
                    .ok_or_else(|| {
                        Error::corrupt(
                            ctx.run.reader.layout.object_path(object),
                            format!(
                                "document {} is missing from its document group; run `auditgraph validate-store`",
                                path.unwrap_or("?")
                            ),
                        )
                    })?;
                out.push((doc, record.clone()));
            }
            Ok(out)
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let loaded: HashMap<u32, DocumentRecord> = loaded.into_iter().collect();

    let mut chunks = Vec::with_capacity(cited_chunks.len());
    for &(doc, order) in &cited_chunks {
        let (Some(g), Some(record)) = (graph.docs.get(doc as usize), loaded.get(&doc)) else {
            continue;
        };
        let (Some(gchunk), Some(chunk)) = (
            g.chunks.get(order as usize),
            record.chunks.get(order as usize),
        ) else {
            return Err(Error::corrupt(
                ctx.run.reader.layout.run_dir(&ctx.run.run_id),
                format!(
                    "chunk {order} of {} is cited by a link but missing from the document; run `auditgraph validate-store`",
                    g.path
                ),
            ));
        };
        let id = record.chunk_id(chunk);
        if id != gchunk.id {
            return Err(Error::corrupt(
                ctx.run.reader.layout.run_dir(&ctx.run.run_id),
                format!(
                    "chunk {order} of {} hashes to {id}, but the graph cites {}; run `auditgraph validate-store`",
                    g.path, gchunk.id
                ),
            ));
        }
        chunks.push(json!({
            "chunk_id": id,
            "document_id": record.document_id,
            "order": chunk.order,
            "text": record.chunk_text(chunk),
            "line_start": chunk.line_start,
            "line_end": chunk.line_end,
        }));
    }
    chunks.sort_by(|a, b| a["chunk_id"].as_str().cmp(&b["chunk_id"].as_str()));

    // Nothing the detectors match may leave the store.
    let mut leaks: Vec<Leak> = Vec::new();
    let scan = |items: &[Value], id_key: &str, what: &str| -> Vec<Leak> {
        items
            .par_iter()
            .flat_map_iter(|item| {
                let id = item
                    .get(id_key)
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string();
                ctx.scanner
                    .value(item)
                    .into_iter()
                    .map(move |(pointer, categories)| Leak {
                        location: format!("{what} {id} ({pointer})"),
                        categories,
                    })
            })
            .collect()
    };
    leaks.extend(scan(&entities, "id", "entity"));
    leaks.extend(scan(&links, "id", "link"));
    leaks.extend(scan(&documents, "document_id", "document"));
    leaks.extend(scan(&chunks, "chunk_id", "chunk"));
    SecretScan::verdict(Format::Json, leaks)?;

    let counts = ExportCounts {
        entities: entities.len(),
        links: links.len(),
        documents: Some(documents.len()),
        chunks: Some(chunks.len()),
    };
    let (entities_by_type, links_by_type) = type_counts(view, sel);
    let stage_hash = |stage: &str| -> Value {
        match stage {
            "extract" => json!(ctx.run.extract.outputs_hash),
            "link" => json!(ctx.run.link.outputs_hash),
            "index" => json!(ctx.run.index_manifest.as_ref().map(|m| &m.outputs_hash)),
            _ => json!(ctx.ingest.outputs_hash),
        }
    };
    let bundle = json!({
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "schema_version": ctx.run.link.schema_version,
        "export_metadata": {
            "run_id": ctx.run.run_id,
            "profile": ctx.ws.config.profile_name,
            "pipeline_version": graph.pipeline_version,
            "config_hash": ctx.run.link.config_hash,
            "inputs_hash": ctx.ingest.inputs_hash,
            "outputs_hash": {
                "ingest": stage_hash("ingest"),
                "extract": stage_hash("extract"),
                "link": stage_hash("link"),
                "index": stage_hash("index"),
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
        },
        "entities": entities,
        "links": links,
        "documents": documents,
        "chunks": chunks,
    });
    Ok(Rendered {
        bytes: bundle_bytes(&bundle),
        counts,
    })
}

/// One top-level key per line, and arrays of objects one element per line
/// (the layout of every manifest; see [`crate::pipeline::manifest_bytes`]),
/// without copying the bundle.
fn bundle_bytes(bundle: &Value) -> Vec<u8> {
    let mut out = String::new();
    let Value::Object(map) = bundle else {
        out.push_str(&bundle.to_string());
        out.push('\n');
        return out.into_bytes();
    };
    out.push('{');
    for (i, (key, item)) in map.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        out.push_str(&Value::String(key.clone()).to_string());
        out.push(':');
        match item {
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
                out.push_str("[\n");
                for (j, element) in items.iter().enumerate() {
                    if j > 0 {
                        out.push_str(",\n");
                    }
                    out.push_str(&element.to_string());
                }
                out.push_str("\n]");
            }
            other => out.push_str(&other.to_string()),
        }
    }
    out.push_str("\n}\n");
    out.into_bytes()
}
