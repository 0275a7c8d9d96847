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
use crate::extract::stage::{ChunkRef, DocExtraction, ExtractionGroup, read_group};
use crate::graph::model::*;
use crate::hashing::sha256_hex;
use crate::index::stage::Rows;
use crate::ingest::document::document_id;
use crate::pipeline::manifest::StageManifest;
use crate::store::layout::StoreLayout;
use rayon::prelude::*;
use serde_json::{Map, Value, json};
use std::sync::{Arc, OnceLock};

/// Where entity details come from.
pub enum Details {
    /// Extraction groups in memory (during a run).
    Memory(Vec<Arc<ExtractionGroup>>),
    /// Extraction objects of a stored run, loaded one group at a time.
    Store {
        layout: StoreLayout,
        objects: Vec<String>,
        loaded: Vec<OnceLock<Arc<ExtractionGroup>>>,
    },
}

impl Details {
    /// The extraction objects an extract manifest names.
    pub fn from_manifest(layout: &StoreLayout, extract: &StageManifest) -> Details {
        let objects: Vec<String> = extract.artifacts.iter().map(|a| a.object.clone()).collect();
        Details::Store {
            layout: layout.clone(),
            loaded: objects.iter().map(|_| OnceLock::new()).collect(),
            objects,
        }
    }
}

/// A run's graph with lazily computed ids, details and adjacency.
pub struct GraphView {
    pub graph: Graph,
    pub run_id: String,
    details: Details,
    /// Document number -> (group, position in group).
    doc_slots: Vec<(u32, u32)>,
    ids: OnceLock<Vec<String>>,
    adjacency: OnceLock<(Rows, Rows)>,
    /// Document number -> SHA-256 of its source (from the ingest manifest).
    source_hashes: Vec<String>,
    /// The edges, when the graph was opened without them: decoded on first
    /// use (see [`GraphView::with_deferred_edges`]).
    deferred_edges: Option<Deferred>,
}

struct Deferred {
    edges: DeferredEdges,
    decoded: OnceLock<std::result::Result<Vec<Edge>, String>>,
}

impl GraphView {
    /// A view of `graph`. `group_sizes` are the documents per extraction
    /// group (in order); `adjacency` is the index's (outgoing, incoming)
    /// rows when it was loaded, else it is computed on first use.
    pub fn new(
        graph: Graph,
        run_id: &str,
        details: Details,
        group_sizes: &[u32],
        adjacency: Option<(Rows, Rows)>,
        source_hashes: Vec<String>,
    ) -> GraphView {
        let mut doc_slots = Vec::with_capacity(graph.docs.len());
        for (g, size) in group_sizes.iter().enumerate() {
            for i in 0..*size {
                doc_slots.push((g as u32, i));
            }
        }
        let cell = OnceLock::new();
        if let Some(rows) = adjacency {
            let _ = cell.set(rows);
        }
        GraphView {
            graph,
            run_id: run_id.to_string(),
            details,
            doc_slots,
            ids: OnceLock::new(),
            adjacency: cell,
            source_hashes,
            deferred_edges: None,
        }
    }

    /// A view whose graph was loaded without its edges (`query`, which
    /// rarely needs them): they are decoded the first time something asks
    /// for them through [`GraphView::edges`].
    pub fn with_deferred_edges(mut self, edges: DeferredEdges) -> GraphView {
        self.deferred_edges = Some(Deferred {
            edges,
            decoded: OnceLock::new(),
        });
        self
    }

    /// The graph's edges (decoded now if they were deferred). Code that
    /// can run on a `query` view reads edges through this, never through
    /// `graph.edges`.
    pub fn edges(&self) -> Result<&[Edge]> {
        let Some(deferred) = &self.deferred_edges else {
            return Ok(&self.graph.edges);
        };
        match deferred
            .decoded
            .get_or_init(|| deferred.edges.decode(&self.graph))
        {
            Ok(edges) => Ok(edges),
            Err(problem) => Err(Error::corrupt(
                deferred.edges.origin(),
                format!("unreadable graph: {problem}"),
            )),
        }
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
        self.adjacency.get_or_init(|| {
            // Unreadable deferred edges were reported by whoever read them;
            // they have no rows.
            rows_for(self.graph.nodes.len(), self.edges().unwrap_or_default())
        })
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
        let &(group, slot) = self
            .doc_slots
            .get(doc as usize)
            .ok_or_else(|| Error::Failed {
                message: format!("document {doc} is not in the run's extraction"),
            })?;
        let group_ref: &ExtractionGroup = match &self.details {
            Details::Memory(groups) => groups.get(group as usize).map(|g| g.as_ref()),
            Details::Store {
                layout,
                objects,
                loaded,
            } => {
                let (Some(cell), Some(object)) =
                    (loaded.get(group as usize), objects.get(group as usize))
                else {
                    return Err(Error::Failed {
                        message: format!("extraction group {group} is missing"),
                    });
                };
                if cell.get().is_none() {
                    let g = read_group(layout, object)?;
                    let _ = cell.set(Arc::new(g));
                }
                cell.get().map(|g| g.as_ref())
            }
        }
        .ok_or_else(|| Error::Failed {
            message: format!("extraction group {group} is missing"),
        })?;
        group_ref
            .documents
            .get(slot as usize)
            .ok_or_else(|| Error::Failed {
                message: format!("document {doc} is missing from its extraction group"),
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

/// Outgoing and incoming edge rows of a graph.
pub fn adjacency_rows(graph: &Graph) -> (Rows, Rows) {
    rows_for(graph.nodes.len(), &graph.edges)
}

fn rows_for(nodes: usize, edges: &[Edge]) -> (Rows, Rows) {
    let from: Vec<u32> = edges.iter().map(|e| e.from).collect();
    let to: Vec<u32> = edges.iter().map(|e| e.to).collect();
    (Rows::build(nodes, &from), Rows::build(nodes, &to))
}
