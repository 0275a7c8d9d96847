//! The JSON bundle: a self-contained, deterministic file described by
//! `schemas/export.schema.json` (JSON Schema draft 2020-12).
//!
//! ```text
//! {
//!   "chunks":    [ {chunk_id, document_ref, order, line_start, line_end,
//!                   page_*|paragraph_*?, text?} ], every chunk a link's
//!                   evidence cites, by chunk_id
//!   "documents": [ {document_id, source_path, source_hash, parser_id,
//!                   size, chunk_count} ], every document the bundle
//!                   names anywhere, by document_id
//!   "entities":  [ the entity of `node --json`, normalized (below) ], by id
//!   "export_metadata": {
//!     "run_id", "profile", "pipeline_version", "config_hash",
//!     "inputs_hash",                 the run's ingest inputs hash (its sources)
//!     "outputs_hash": {"ingest", "extract", "link", "index"},
//!     "auditgraph_version", "created_by": "auditgraph export",
//!     "filters": {"types": [...], "from": id|null, "depth": n|null},
//!     "with_text": bool,             chunk text and section snippets included
//!     "entity_types": {type: {"created_by_rule"}},
//!     "link_types": {type: {"rule_id", "authority"}},
//!     "link_columns": ["from", "to", "type", "confidence",
//!                      "evidence_total", "evidence"],
//!     "evidence_columns": ["document", "chunk", "line_start",
//!                          "line_end", "via"],
//!     "ref_columns": ["document", "start_line", "end_line"],
//!     "counts": {"entities", "links", "documents", "chunks",
//!                "entities_by_type": {...}, "links_by_type": {...}}
//!   },
//!   "format": "auditgraph-export",
//!   "format_version": 3,            the bundle layout (this module)
//!   "links":     [ [from, to, type, confidence, evidence_total,
//!                   [[document, chunk, line_start, line_end, via?], …]] ],
//!                   in link id order
//!   "schema_version": "v3"          the store schema the run was written in
//! }
//! ```
//!
//! # Sized like what it carries (format version 3)
//!
//! A bundle states each fact once and points at it by position:
//!
//! * **Local references.** Every `…_id` field of an entity that names an
//!   item of the bundle (`document_id`, `parent_section_id`, `target_id`,
//!   `target_document_id`, a mention's `origin_id`, …) becomes `…_ref`: the
//!   item's position (from 0) in `entities`, `documents` or `chunks`,
//!   chosen by the id's prefix (`ent_`, `doc_`, `chk_`). An id naming
//!   something the bundle leaves out (a filtered export) stays an id.
//! * **Links are rows** of [`LINK_COLUMNS`]: `from` and `to` are entity
//!   positions; each evidence item is a row of [`EVIDENCE_COLUMNS`] with a
//!   document position, a chunk position (null when the line is outside
//!   the body) and, for `relates_to`, the position of the shared
//!   technology. A link's `rule_id` and `authority` follow from its type
//!   (`export_metadata.link_types`), and its id from its rule and ends:
//!   `lnk_` + SHA-256 of `<rule_id>:<from id>:<to id>`, so neither is
//!   repeated per link.
//! * **Text only on request.** Chunk text and section `body_snippet`s are
//!   included with `with_text` (`export --with-text`); without it, a chunk
//!   is cited by id, document and lines, which `auditgraph node`, the MCP
//!   chunk resource and the source file itself resolve.
//! * **Nothing empty.** A field whose value is null or an empty list is
//!   left out.
//!
//! Against an entity of `node --json`, besides the above:
//!
//! * `source_path` is dropped (the document states it); so is a
//!   reference's `target_path` and a note's `parser_id`.
//! * `refs` are rows of [`REF_COLUMNS`], the document by position.
//! * `provenance` is left out: `created_by_rule` follows from the type
//!   (`export_metadata.entity_types`), `run_id` and `pipeline_version` are
//!   the metadata's, and `input_hash` is the document's `source_hash`, or
//!   for a technology the SHA-256 of the sorted `source_hash`es of its
//!   `refs`' documents joined by `:`.
//! * A technology's `document_count` is the number of its `refs` (one per
//!   document that mentions it). Its `mentions` are the evidence items of
//!   the `mentions_technology` links to it; the entity carries only those
//!   whose origin entity was filtered out, as `unlinked_mentions`
//!   (`{document_ref, line, origin_id}`; absent in an export of the whole
//!   graph).
//!
//! There is no creation time: the run id identifies the data, and the same
//! run and filters always give the same bytes. Object keys are sorted; the
//! file has one top-level key per line and one array element per line, so
//! two exports diff line by line.

use super::{ExportContext, ExportCounts, Rendered, type_counts};
use crate::error::{Error, Result};
use crate::graph::model::{EdgeKind, Evidence, NodeKind};
use crate::ingest::document::{Citation, DocumentRecord};
use crate::ingest::{self};
use rayon::prelude::*;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// `format` of every bundle.
pub const BUNDLE_FORMAT: &str = "auditgraph-export";
/// Version of the bundle layout; bumped with `schemas/export.schema.json`.
pub const BUNDLE_FORMAT_VERSION: u32 = 3;
/// What each element of a link row holds.
pub const LINK_COLUMNS: [&str; 6] = [
    "from",
    "to",
    "type",
    "confidence",
    "evidence_total",
    "evidence",
];
/// What each element of an entity's `refs` row holds.
pub const REF_COLUMNS: [&str; 3] = ["document", "start_line", "end_line"];
/// What each element of an evidence row holds (`via` only for `relates_to`).
pub const EVIDENCE_COLUMNS: [&str; 5] = ["document", "chunk", "line_start", "line_end", "via"];

/// Positions of the bundle's items, by id: what a `…_ref` holds.
struct Positions<'a> {
    entities: HashMap<&'a str, usize>,
    documents: HashMap<String, usize>,
    chunks: HashMap<String, usize>,
}

impl Positions<'_> {
    /// The position of the item an id names, if the bundle holds it.
    fn of(&self, id: &str) -> Option<usize> {
        if id.starts_with("ent_") {
            self.entities.get(id).copied()
        } else if id.starts_with("doc_") {
            self.documents.get(id).copied()
        } else if id.starts_with("chk_") {
            self.chunks.get(id).copied()
        } else {
            None
        }
    }
}

/// One cited chunk: its document (graph index) and order.
type ChunkKey = (u32, u32);

/// Renders the bundle. Each entity, link, document and chunk is serialized
/// to its line as soon as it is built (in parallel), so memory holds the
/// text of the bundle, not a tree of JSON values.
pub fn render(ctx: &ExportContext<'_>, with_text: bool) -> Result<Rendered> {
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

    // Documents named anywhere, by document id.
    let mut documents: Vec<(String, u32)> = ctx
        .mentioned_documents()
        .into_iter()
        .filter_map(|d| {
            graph
                .docs
                .get(d as usize)
                .map(|g| (ingest::document::document_id(&g.path), d))
        })
        .collect();
    documents.sort();
    let doc_pos: HashMap<u32, usize> = documents
        .iter()
        .enumerate()
        .map(|(pos, (_, d))| (*d, pos))
        .collect();

    // Chunks cited by link evidence, by chunk id.
    let mut cited: BTreeSet<ChunkKey> = BTreeSet::new();
    for &e in &sel.edges {
        if let Some(edge) = graph.edges.get(e) {
            cited.extend(
                edge.evidence
                    .iter()
                    .filter_map(|ev| ev.chunk.map(|c| (ev.doc, c))),
            );
        }
    }
    let mut chunks: Vec<(String, ChunkKey)> =
        cited
            .into_iter()
            .map(|(doc, order)| {
                view.chunk_ref(doc, order)
                .map(|c| (c.id.clone(), (doc, order)))
                .ok_or_else(|| {
                    corrupt(format!(
                        "chunk {order} of {} is cited by a link but missing from the extraction",
                        graph.docs.get(doc as usize).map_or("?", |d| d.path.as_str())
                    ))
                })
            })
            .collect::<Result<_>>()?;
    chunks.sort();
    let chunk_pos: HashMap<ChunkKey, usize> = chunks
        .iter()
        .enumerate()
        .map(|(pos, (_, key))| (*key, pos))
        .collect();

    let ids = view.all_ids();
    let positions = Positions {
        entities: sel
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(pos, &i)| ids.get(i as usize).map(|id| (id.as_str(), pos)))
            .collect(),
        documents: documents
            .iter()
            .enumerate()
            .map(|(pos, (id, _))| (id.clone(), pos))
            .collect(),
        chunks: chunks
            .iter()
            .enumerate()
            .map(|(pos, (id, _))| (id.clone(), pos))
            .collect(),
    };
    let node_pos: HashMap<u32, usize> = sel
        .nodes
        .iter()
        .enumerate()
        .map(|(pos, &i)| (i, pos))
        .collect();

    let entities: Vec<String> = sel
        .nodes
        .par_iter()
        .map(|&i| {
            view.entity(i).map(|v| {
                let v = normalize_entity(v, &positions, with_text);
                localize(v, &positions).to_string()
            })
        })
        .collect::<Result<Vec<_>>>()?;

    // A node as a link row names it: its position, or its id when the
    // bundle leaves it out.
    let node_value = |n: u32| -> Value {
        match node_pos.get(&n) {
            Some(&pos) => pos.into(),
            None => ids
                .get(n as usize)
                .map_or(Value::Null, |id| id.as_str().into()),
        }
    };
    let evidence_row = |ev: &Evidence| -> Value {
        let mut row = vec![
            doc_pos.get(&ev.doc).map_or(Value::Null, |&p| p.into()),
            ev.chunk
                .and_then(|c| chunk_pos.get(&(ev.doc, c)))
                .map_or(Value::Null, |&p| p.into()),
            ev.line_start.into(),
            ev.line_end.into(),
        ];
        if let Some(via) = ev.via {
            row.push(node_value(via));
        }
        Value::Array(row)
    };
    let links: Vec<String> = sel
        .edges
        .par_iter()
        .filter_map(|&e| graph.edges.get(e))
        .map(|edge| {
            json!([
                node_value(edge.from),
                node_value(edge.to),
                edge.kind.type_name(),
                crate::graph::view::round_confidence(edge.confidence),
                edge.evidence_total,
                edge.evidence.iter().map(evidence_row).collect::<Vec<_>>(),
            ])
            .to_string()
        })
        .collect();

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
    let document_lines: Vec<String> = documents
        .iter()
        .map(|(id, doc)| -> Result<String> {
            let record = record_of(*doc)?;
            let path = graph
                .docs
                .get(*doc as usize)
                .map_or("", |g| g.path.as_str());
            Ok(json!({
                "document_id": id,
                "source_path": path,
                "source_hash": record.sha256.as_deref().unwrap_or(""),
                "parser_id": record.parser_id,
                "size": record.size,
                "chunk_count": view.doc_extraction(*doc)?.chunks.len(),
            })
            .to_string())
        })
        .collect::<Result<_>>()?;

    let texts = if with_text {
        chunk_texts(ctx, &chunks, &corrupt)?
    } else {
        HashMap::new()
    };
    let chunk_lines: Vec<String> = chunks
        .iter()
        .map(|(id, (doc, order))| {
            let mut line = json!({
                "chunk_id": id,
                "document_ref": doc_pos.get(doc),
                "order": order,
            });
            if let Some(c) = view.chunk_ref(*doc, *order) {
                line["line_start"] = c.line_start.into();
                line["line_end"] = c.line_end.into();
                Citation::insert_into(c.citation, &mut line);
            }
            if let Some(text) = texts.get(id) {
                line["text"] = text.as_str().into();
            }
            line.to_string()
        })
        .collect();

    let counts = ExportCounts {
        entities: entities.len(),
        links: links.len(),
        documents: Some(document_lines.len()),
        chunks: Some(chunk_lines.len()),
    };
    let (entities_by_type, links_by_type) = type_counts(view, sel);
    let entity_types: Map<String, Value> = NodeKind::ALL
        .iter()
        .map(|k| {
            (
                k.type_name().to_string(),
                json!({"created_by_rule": k.rule()}),
            )
        })
        .collect();
    let link_types: Map<String, Value> = EdgeKind::ALL
        .iter()
        .map(|k| {
            (
                k.type_name().to_string(),
                json!({"rule_id": k.rule(), "authority": k.authority()}),
            )
        })
        .collect();
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
        "with_text": with_text,
        "entity_types": entity_types,
        "link_types": link_types,
        "link_columns": LINK_COLUMNS,
        "evidence_columns": EVIDENCE_COLUMNS,
        "ref_columns": REF_COLUMNS,
        "counts": {
            "entities": counts.entities,
            "links": counts.links,
            "documents": document_lines.len(),
            "chunks": chunk_lines.len(),
            "entities_by_type": entities_by_type,
            "links_by_type": links_by_type,
        },
    });

    // Top-level keys in sorted order, one per line; arrays one element per
    // line (the layout of every manifest).
    let size = [&entities, &links, &document_lines, &chunk_lines]
        .iter()
        .flat_map(|lines| lines.iter())
        .map(|l| l.len() + 2)
        .sum::<usize>()
        + 4096;
    let mut out = String::with_capacity(size);
    out.push_str("{\n");
    array(&mut out, "chunks", chunk_lines.iter().map(String::as_str));
    out.push_str(",\n");
    array(
        &mut out,
        "documents",
        document_lines.iter().map(String::as_str),
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

/// The text of every cited chunk, by chunk id: loads only the documents
/// pieces that hold cited chunks, one piece at a time per thread, and
/// checks each chunk's id against its bytes.
fn chunk_texts(
    ctx: &ExportContext<'_>,
    chunks: &[(String, ChunkKey)],
    corrupt: &(dyn Fn(String) -> Error + Sync),
) -> Result<HashMap<String, String>> {
    let graph = &ctx.view().graph;
    let layout = &ctx.run.reader.layout;
    let documents_table = ctx
        .run
        .manifests
        .ingest
        .table(layout, crate::store::piece::PieceKind::Documents)?;
    let shard_of = |path: &str| documents_table.shard(crate::store::table::document_byte(path));
    let mut by_shard: BTreeMap<u8, BTreeMap<u32, Vec<u32>>> = BTreeMap::new();
    for (_, (doc, order)) in chunks {
        if let Some(g) = graph.docs.get(*doc as usize) {
            by_shard
                .entry(shard_of(&g.path))
                .or_default()
                .entry(*doc)
                .or_default()
                .push(*order);
        }
    }
    let text_of = |record: &DocumentRecord, order: u32| -> Result<(String, String)> {
        let path = record.path.as_str();
        let Some(chunk) = record.chunks.get(order as usize) else {
            return Err(corrupt(format!(
                "chunk {order} of {path} is cited by a link but missing from the document"
            )));
        };
        Ok((record.chunk_id(chunk), record.chunk_text(chunk).to_string()))
    };
    let groups = by_shard
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
            let mut out = Vec::new();
            for (&doc, orders) in docs {
                let path = graph.docs.get(doc as usize).map(|d| d.path.as_str());
                let record = group
                    .iter()
                    .find(|r| Some(r.path.as_str()) == path)
                    .ok_or_else(|| {
                        corrupt(format!(
                            "document {} is missing from its documents piece (shard {shard})",
                            path.unwrap_or("?")
                        ))
                    })?;
                for &order in orders {
                    out.push(text_of(record, order)?);
                }
            }
            Ok(out)
        })
        .collect::<Result<Vec<_>>>()?;
    let texts: HashMap<String, String> = groups.into_iter().flatten().collect();
    // A chunk whose bytes no longer hash to the id the graph cites.
    for (id, _) in chunks {
        if !texts.contains_key(id) {
            return Err(corrupt(format!(
                "chunk {id} is cited by the graph but no chunk of its document hashes to it"
            )));
        }
    }
    Ok(texts)
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
fn normalize_entity(entity: Value, positions: &Positions<'_>, with_text: bool) -> Value {
    let Value::Object(mut m) = entity else {
        return entity;
    };
    m.remove("source_path");
    if !with_text {
        m.remove("body_snippet");
    }
    if let Some(Value::Array(refs)) = m.get_mut("refs") {
        for r in refs.iter_mut() {
            *r = ref_row(r, positions);
        }
    }
    // The rule follows from the type (`export_metadata.entity_types`); the
    // run and pipeline version are the metadata's.
    m.remove("provenance");
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
                        .is_some_and(|origin| positions.entities.contains_key(origin))
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

/// `{source_path, source_hash, range: {start_line, end_line}}` -> the row
/// `[document, start_line, end_line]` ([`REF_COLUMNS`]).
fn ref_row(r: &Value, positions: &Positions<'_>) -> Value {
    let document = r
        .get("source_path")
        .and_then(Value::as_str)
        .map(ingest::document::document_id)
        .map_or(Value::Null, |id| match positions.of(&id) {
            Some(pos) => pos.into(),
            None => id.into(),
        });
    let line = |key: &str| r.get("range").and_then(|range| range.get(key)).cloned();
    json!([
        document,
        line("start_line").unwrap_or(Value::Null),
        line("end_line").unwrap_or(Value::Null)
    ])
}

/// Removes what `documents` states of an item that has a `document_id`.
fn drop_document_fields(item: &mut Value) {
    if let Value::Object(o) = item {
        o.remove("source_path");
        o.remove("source_hash");
    }
}

/// Points `…_id` fields at the bundle's items by position (`…_ref`) and
/// leaves out null and empty fields (see the module docs), at any depth.
fn localize(value: Value, positions: &Positions<'_>) -> Value {
    match value {
        Value::Object(m) => {
            let mut out = Map::with_capacity(m.len());
            for (key, v) in m {
                if v.is_null() || v.as_array().is_some_and(Vec::is_empty) {
                    continue;
                }
                if let (Some(stem), Some(id)) = (key.strip_suffix("_id"), v.as_str())
                    && let Some(pos) = positions.of(id)
                {
                    out.insert(format!("{stem}_ref"), pos.into());
                    continue;
                }
                out.insert(key, localize(v, positions));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| localize(v, positions)).collect())
        }
        other => other,
    }
}
