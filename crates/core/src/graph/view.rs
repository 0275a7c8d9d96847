//! Entities and links as users see them: the JSON shapes of `node`,
//! `query`, `list` and the exports, with the Python tool's field names
//! where the two overlap (`id`, `type`, `name`, `canonical_key`, `aliases`,
//! `refs`, `provenance`; `from_id`, `to_id`, `rule_id`, `confidence`,
//! `evidence`).
//!
//! The stored graph holds what the whole graph needs; an entity's remaining
//! fields (snippets, front matter, link forms...) are read from its
//! document's extraction, loaded on first use.

use crate::error::{Error, Result};
use crate::extract::stage::{ChunkRef, DocExtraction, ExtractionGroup};
use crate::graph::model::*;
use crate::hashing::sha256_hex;
use crate::ingest::document::document_id;
use rayon::prelude::*;
use serde_json::{Map, Value, json};
use std::sync::{Arc, OnceLock};

/// Edge numbers per entity, as compressed rows: the edges of entity `i` are
/// `edges[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rows {
    pub offsets: Vec<u32>,
    pub edges: Vec<u32>,
}

impl Rows {
    pub fn build(n: usize, keys: &[u32]) -> Rows {
        let mut offsets = vec![0u32; n + 1];
        for k in keys {
            if let Some(c) = offsets.get_mut(*k as usize + 1) {
                *c += 1;
            }
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        let mut fill = offsets.clone();
        let mut edges = vec![0u32; keys.len()];
        for (edge, k) in keys.iter().enumerate() {
            if let Some(slot) = fill.get_mut(*k as usize) {
                edges[*slot as usize] = edge as u32;
                *slot += 1;
            }
        }
        Rows { offsets, edges }
    }

    pub fn row(&self, node: u32) -> &[u32] {
        let start = self.offsets.get(node as usize).copied().unwrap_or(0) as usize;
        let end = self.offsets.get(node as usize + 1).copied().unwrap_or(0) as usize;
        self.edges.get(start..end).unwrap_or(&[])
    }
}

/// Where a document's extraction is: a piece (shared by the documents of
/// its shard) and the document's position in it.
#[derive(Debug, Clone)]
pub struct DocSource {
    pub group: Arc<ExtractionGroup>,
    pub index: usize,
}

/// A run's graph (all of it, or the part a command needs) with lazily
/// computed ids and adjacency, and each document's extraction for the
/// details of its entities.
pub struct GraphView {
    pub graph: Graph,
    pub run_id: String,
    /// Per document of the graph.
    docs: Vec<DocSource>,
    ids: OnceLock<Vec<String>>,
    adjacency: OnceLock<(Rows, Rows)>,
    /// Document number -> SHA-256 of its source.
    source_hashes: Vec<String>,
}

impl GraphView {
    /// A view of `graph`; `docs` and `source_hashes` follow `graph.docs`.
    pub fn new(
        graph: Graph,
        run_id: &str,
        docs: Vec<DocSource>,
        source_hashes: Vec<String>,
    ) -> GraphView {
        GraphView {
            graph,
            run_id: run_id.to_string(),
            docs,
            ids: OnceLock::new(),
            adjacency: OnceLock::new(),
            source_hashes,
        }
    }

    /// The graph's edges.
    pub fn edges(&self) -> Result<&[Edge]> {
        Ok(&self.graph.edges)
    }

    /// The SHA-256 of a document's source ("" if unknown).
    pub fn source_hash(&self, doc: u32) -> &str {
        self.source_hashes
            .get(doc as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// A document's chunk (its id and lines), from its extraction; `None`
    /// when the extraction cannot be read (the read commands that need
    /// the extraction report that) or has no such chunk.
    pub fn chunk_ref(&self, doc: u32, order: u32) -> Option<&ChunkRef> {
        self.doc_extraction(doc).ok()?.chunks.get(order as usize)
    }

    fn ids(&self) -> &Vec<String> {
        self.ids.get_or_init(|| {
            (0..self.graph.nodes.len() as u32)
                .into_par_iter()
                .map(|i| self.graph.node_id(i))
                .collect()
        })
    }

    /// The id of a node. Computed on demand (a hash of its key) until a
    /// command asks for every id, then taken from that table.
    pub fn node_id(&self, node: u32) -> std::borrow::Cow<'_, str> {
        match self.ids.get() {
            Some(ids) => {
                std::borrow::Cow::Borrowed(ids.get(node as usize).map(String::as_str).unwrap_or(""))
            }
            None => std::borrow::Cow::Owned(self.graph.node_id(node)),
        }
    }

    /// Every id, computed once (for commands that show or compare all).
    pub fn all_ids(&self) -> &[String] {
        self.ids()
    }

    /// The node with this id: a parallel scan comparing key hashes (no id
    /// table is built for one lookup).
    pub fn find(&self, id: &str) -> Option<u32> {
        let hex_part = id.strip_prefix("ent_")?;
        let mut wanted = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut wanted).ok()?;
        (0..self.graph.nodes.len() as u32)
            .into_par_iter()
            .find_first(|i| self.graph.node_digest(*i) == Some(wanted))
    }

    fn adjacency(&self) -> &(Rows, Rows) {
        self.adjacency
            .get_or_init(|| rows_for(self.graph.nodes.len(), &self.graph.edges))
    }

    /// Indexes of the edges leaving a node, in stored order.
    pub fn outgoing(&self, node: u32) -> &[u32] {
        self.adjacency().0.row(node)
    }

    /// Indexes of the edges arriving at a node, in stored order.
    pub fn incoming(&self, node: u32) -> &[u32] {
        self.adjacency().1.row(node)
    }

    pub fn link_id(&self, edge: usize) -> String {
        let Some(e) = self.edges().ok().and_then(|edges| edges.get(edge)) else {
            return String::new();
        };
        link_id(e.kind.rule(), &self.node_id(e.from), &self.node_id(e.to))
    }

    /// The extraction of a document.
    pub fn doc_extraction(&self, doc: u32) -> Result<&DocExtraction> {
        self.docs
            .get(doc as usize)
            .and_then(|d| d.group.documents.get(d.index))
            .ok_or_else(|| Error::Failed {
                message: format!("document {doc} is not in the run's extraction"),
            })
    }

    fn doc_ref(&self, doc: u32, line_start: u32, line_end: u32) -> Value {
        let d = &self.graph.docs[doc as usize];
        json!({
            "source_path": d.path,
            "source_hash": self.source_hash(doc),
            "range": {"start_line": line_start, "end_line": line_end},
        })
    }

    /// Mentions of a technology: the evidence of its incoming
    /// `mentions_technology` edges, in document order.
    fn mentions(&self, node: u32) -> Result<(Vec<(u32, &Evidence)>, u32)> {
        let edges = self.edges()?;
        let mut out = Vec::new();
        let mut total = 0;
        for &e in self.incoming(node) {
            let Some(edge) = edges.get(e as usize) else {
                continue;
            };
            if edge.kind == EdgeKind::MentionsTechnology {
                total += edge.evidence_total;
                out.extend(edge.evidence.iter().map(|ev| (edge.from, ev)));
            }
        }
        out.sort_by_key(|(from, ev)| (ev.doc, ev.line_start, *from));
        Ok((out, total))
    }

    /// The entity as JSON.
    pub fn entity(&self, node: u32) -> Result<Value> {
        let n = &self.graph.nodes[node as usize];
        let mut m = Map::new();
        m.insert("id".into(), json!(self.node_id(node)));
        m.insert("type".into(), json!(n.kind.type_name()));
        m.insert("name".into(), json!(n.name));
        m.insert(
            "canonical_key".into(),
            json!(self.graph.canonical_key(node)),
        );
        let extraction = match n.doc {
            Some(doc) => Some(self.doc_extraction(doc)?),
            None => None,
        };
        let aliases = match (&n.detail, extraction) {
            (NodeDetail::Note, Some(x)) => x.aliases.clone(),
            _ => Vec::new(),
        };
        m.insert("aliases".into(), json!(aliases));
        let (refs, input_hash) = match (&n.detail, n.doc) {
            (NodeDetail::Technology { .. }, _) => {
                let (mentions, _) = self.mentions(node)?;
                let mut refs = Vec::new();
                let mut hashes: Vec<&str> = Vec::new();
                let mut last_doc = None;
                for (_, ev) in &mentions {
                    if last_doc != Some(ev.doc) {
                        refs.push(self.doc_ref(ev.doc, ev.line_start, ev.line_end));
                        hashes.push(self.source_hash(ev.doc));
                        last_doc = Some(ev.doc);
                    }
                }
                hashes.sort();
                (refs, sha256_hex(hashes.join(":")))
            }
            (_, Some(doc)) => (
                vec![self.doc_ref(doc, n.line_start, n.line_end)],
                self.source_hash(doc).to_string(),
            ),
            _ => (Vec::new(), String::new()),
        };
        m.insert("refs".into(), Value::Array(refs));
        m.insert(
            "provenance".into(),
            json!({
                "created_by_rule": n.kind.rule(),
                "input_hash": input_hash,
                "pipeline_version": self.graph.pipeline_version,
                "run_id": self.run_id,
            }),
        );
        if let Some(doc) = n.doc {
            let path = &self.graph.docs[doc as usize].path;
            m.insert("document_id".into(), json!(document_id(path)));
            m.insert("source_path".into(), json!(path));
        }
        match (&n.detail, extraction) {
            (NodeDetail::Note, Some(x)) => {
                m.insert("tags".into(), json!(x.tags));
                m.insert("name_source".into(), json!(x.name_source));
                m.insert("parser_id".into(), json!(x.parser_id));
                m.insert("frontmatter".into(), x.frontmatter_value());
            }
            (
                NodeDetail::Section {
                    level,
                    parent,
                    n: _,
                    ..
                },
                Some(x),
            ) => {
                let section = x.outline.sections.get(n.item as usize);
                m.insert("level".into(), json!(level));
                m.insert("order".into(), json!(n.item));
                m.insert(
                    "parent_section_id".into(),
                    json!(parent.map(|p| self.node_id(p).to_string())),
                );
                m.insert(
                    "body_snippet".into(),
                    json!(section.map(|s| s.snippet.as_str()).unwrap_or("")),
                );
                m.insert(
                    "heading_line_end".into(),
                    json!(section.map(|s| s.heading_line_end)),
                );
            }
            (NodeDetail::Technology { origins }, _) => {
                let (mentions, total) = self.mentions(node)?;
                let mut docs: Vec<u32> = mentions.iter().map(|(_, ev)| ev.doc).collect();
                docs.dedup();
                let mut origin = Vec::new();
                if origins & 1 != 0 {
                    origin.push("inline");
                }
                if origins & 2 != 0 {
                    origin.push("fence_info");
                }
                m.insert("origin".into(), json!(origin));
                m.insert("mention_count".into(), json!(total));
                m.insert("document_count".into(), json!(docs.len()));
                m.insert(
                    "mentions".into(),
                    Value::Array(
                        mentions
                            .iter()
                            .map(|(from, ev)| {
                                let d = &self.graph.docs[ev.doc as usize];
                                json!({
                                    "document_id": document_id(&d.path),
                                    "source_path": d.path,
                                    "source_hash": self.source_hash(ev.doc),
                                    "origin_id": self.node_id(*from),
                                    "line": ev.line_start,
                                })
                            })
                            .collect(),
                    ),
                );
            }
            (
                NodeDetail::Reference {
                    target,
                    state,
                    reason,
                    target_note,
                    ..
                },
                Some(x),
            ) => {
                let link = x.outline.links.get(n.item as usize);
                let target_path = target_note
                    .and_then(|t| self.graph.nodes.get(t as usize))
                    .and_then(|t| t.doc)
                    .map(|d| self.graph.docs[d as usize].path.clone());
                m.insert("target".into(), json!(target));
                m.insert("form".into(), json!(link.map(|l| l.form)));
                m.insert(
                    "fragment".into(),
                    json!(link.and_then(|l| l.fragment.clone())),
                );
                m.insert("text".into(), json!(link.map(|l| l.text.as_str())));
                m.insert("resolution".into(), json!(state.name()));
                m.insert("reason".into(), json!(reason));
                m.insert("target_path".into(), json!(target_path));
                m.insert(
                    "target_document_id".into(),
                    json!(target_path.as_deref().map(document_id)),
                );
                m.insert(
                    "target_id".into(),
                    json!(target_note.map(|t| self.node_id(t).to_string())),
                );
                m.insert("order".into(), json!(n.item));
            }
            _ => {}
        }
        Ok(Value::Object(m))
    }

    /// One evidence item as JSON.
    pub fn evidence(&self, ev: &Evidence) -> Value {
        let d = &self.graph.docs[ev.doc as usize];
        let mut m = Map::new();
        m.insert(
            "chunk_id".into(),
            json!(
                ev.chunk
                    .and_then(|c| self.chunk_ref(ev.doc, c))
                    .map(|c| c.id.clone())
            ),
        );
        m.insert("document_id".into(), json!(document_id(&d.path)));
        m.insert("source_path".into(), json!(d.path));
        m.insert("source_hash".into(), json!(self.source_hash(ev.doc)));
        m.insert("line_start".into(), json!(ev.line_start));
        m.insert("line_end".into(), json!(ev.line_end));
        if let Some(via) = ev.via {
            m.insert("via_id".into(), json!(self.node_id(via)));
            m.insert(
                "via_name".into(),
                json!(self.graph.nodes[via as usize].name),
            );
        }
        Value::Object(m)
    }

    /// The link as JSON.
    pub fn link(&self, edge: usize) -> Value {
        let Some(e) = self.edges().ok().and_then(|edges| edges.get(edge)) else {
            return Value::Null;
        };
        json!({
            "id": self.link_id(edge),
            "from_id": self.node_id(e.from),
            "to_id": self.node_id(e.to),
            "type": e.kind.type_name(),
            "rule_id": e.kind.rule(),
            "confidence": round_confidence(e.confidence),
            "authority": e.kind.authority(),
            "evidence": e.evidence.iter().map(|ev| self.evidence(ev)).collect::<Vec<_>>(),
            "evidence_total": e.evidence_total,
        })
    }
}

/// Confidence rounded to 4 decimals so JSON output is stable and readable.
pub fn round_confidence(c: f32) -> f64 {
    (f64::from(c) * 10_000.0).round() / 10_000.0
}

fn rows_for(nodes: usize, edges: &[Edge]) -> (Rows, Rows) {
    let from: Vec<u32> = edges.iter().map(|e| e.from).collect();
    let to: Vec<u32> = edges.iter().map(|e| e.to).collect();
    (Rows::build(nodes, &from), Rows::build(nodes, &to))
}
