//! Entities and links as users see them: the JSON shapes of `node`,
//! `query`, `list` and the exports, with the Python tool's field names
//! where the two overlap (`id`, `type`, `name`, `canonical_key`, `aliases`,
//! `refs`, `provenance`; `from_id`, `to_id`, `rule_id`, `confidence`,
//! `evidence`).

use crate::graph::model::*;
use crate::hashing::sha256_hex;
use crate::index::stage::Rows;
use crate::ingest::document::document_id;
use rayon::prelude::*;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::OnceLock;

/// A run's graph with lazily computed ids and its adjacency.
pub struct GraphView {
    pub graph: Graph,
    pub run_id: String,
    ids: OnceLock<Vec<String>>,
    by_id: OnceLock<HashMap<String, u32>>,
    adjacency: OnceLock<(Rows, Rows)>,
}

impl GraphView {
    /// A view of `graph`; `adjacency` is the index's (outgoing, incoming)
    /// rows when it was loaded, else it is computed on first use.
    pub fn new(graph: Graph, run_id: &str, adjacency: Option<(Rows, Rows)>) -> GraphView {
        let cell = OnceLock::new();
        if let Some(rows) = adjacency {
            let _ = cell.set(rows);
        }
        GraphView {
            graph,
            run_id: run_id.to_string(),
            ids: OnceLock::new(),
            by_id: OnceLock::new(),
            adjacency: cell,
        }
    }

    fn ids(&self) -> &Vec<String> {
        self.ids
            .get_or_init(|| self.graph.nodes.par_iter().map(Node::id).collect())
    }

    pub fn node_id(&self, node: u32) -> &str {
        self.ids().get(node as usize).map(String::as_str).unwrap_or("")
    }

    /// The node with this id.
    pub fn find(&self, id: &str) -> Option<u32> {
        self.by_id
            .get_or_init(|| {
                self.ids()
                    .iter()
                    .enumerate()
                    .map(|(i, id)| (id.clone(), i as u32))
                    .collect()
            })
            .get(id)
            .copied()
    }

    fn adjacency(&self) -> &(Rows, Rows) {
        self.adjacency.get_or_init(|| adjacency_rows(&self.graph))
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
        let e = &self.graph.edges[edge];
        link_id(e.kind.rule(), self.node_id(e.from), self.node_id(e.to))
    }

    fn doc_ref(&self, doc: u32, line_start: u32, line_end: u32) -> Value {
        let d = &self.graph.docs[doc as usize];
        json!({
            "source_path": d.path,
            "source_hash": d.source_hash,
            "range": {"start_line": line_start, "end_line": line_end},
        })
    }

    /// The entity as JSON.
    pub fn entity(&self, node: u32) -> Value {
        let n = &self.graph.nodes[node as usize];
        let mut m = Map::new();
        m.insert("id".into(), json!(self.node_id(node)));
        m.insert("type".into(), json!(n.kind.type_name()));
        m.insert("name".into(), json!(n.name));
        m.insert("canonical_key".into(), json!(n.canonical_key));
        m.insert("aliases".into(), json!(n.aliases));
        let (refs, input_hash) = match (&n.detail, n.doc) {
            (NodeDetail::Technology { mentions, .. }, _) => {
                let mut refs = Vec::new();
                let mut hashes: Vec<&str> = Vec::new();
                let mut last_doc = None;
                for mention in mentions {
                    if last_doc != Some(mention.doc) {
                        refs.push(self.doc_ref(mention.doc, mention.line, mention.line));
                        hashes.push(&self.graph.docs[mention.doc as usize].source_hash);
                        last_doc = Some(mention.doc);
                    }
                }
                hashes.sort();
                (refs, sha256_hex(hashes.join(":")))
            }
            (_, Some(doc)) => (
                vec![self.doc_ref(doc, n.line_start, n.line_end)],
                self.graph.docs[doc as usize].source_hash.clone(),
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
            m.insert(
                "document_id".into(),
                json!(document_id(&self.graph.docs[doc as usize].path)),
            );
            m.insert("source_path".into(), json!(self.graph.docs[doc as usize].path));
        }
        match &n.detail {
            NodeDetail::Note {
                parser_id,
                name_source,
                tags,
                frontmatter,
            } => {
                m.insert("tags".into(), json!(tags));
                m.insert("name_source".into(), json!(name_source));
                m.insert("parser_id".into(), json!(parser_id));
                let fm = frontmatter
                    .as_deref()
                    .and_then(|t| serde_json::from_str::<Value>(t).ok())
                    .unwrap_or(Value::Null);
                m.insert("frontmatter".into(), fm);
            }
            NodeDetail::Section {
                level,
                order,
                parent,
                snippet,
            } => {
                m.insert("level".into(), json!(level));
                m.insert("order".into(), json!(order));
                m.insert(
                    "parent_section_id".into(),
                    json!(parent.map(|p| self.node_id(p).to_string())),
                );
                m.insert("body_snippet".into(), json!(snippet));
            }
            NodeDetail::Technology { origins, mentions } => {
                let documents = {
                    let mut docs: Vec<u32> = mentions.iter().map(|x| x.doc).collect();
                    docs.dedup();
                    docs.len()
                };
                m.insert("origin".into(), json!(origins));
                m.insert("mention_count".into(), json!(mentions.len()));
                m.insert("document_count".into(), json!(documents));
                m.insert(
                    "mentions".into(),
                    Value::Array(
                        mentions
                            .iter()
                            .map(|x| {
                                let d = &self.graph.docs[x.doc as usize];
                                json!({
                                    "document_id": document_id(&d.path),
                                    "source_path": d.path,
                                    "source_hash": d.source_hash,
                                    "origin_id": self.node_id(x.origin),
                                    "line": x.line,
                                })
                            })
                            .collect(),
                    ),
                );
            }
            NodeDetail::Reference {
                target,
                form,
                fragment,
                text,
                resolution,
                reason,
                target_path,
                target_note,
                order,
            } => {
                m.insert("target".into(), json!(target));
                m.insert("form".into(), json!(form));
                m.insert("fragment".into(), json!(fragment));
                m.insert("text".into(), json!(text));
                m.insert("resolution".into(), json!(resolution));
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
                m.insert("order".into(), json!(order));
            }
        }
        Value::Object(m)
    }

    /// One evidence item as JSON.
    pub fn evidence(&self, ev: &Evidence) -> Value {
        let d = &self.graph.docs[ev.doc as usize];
        let mut m = Map::new();
        m.insert(
            "chunk_id".into(),
            json!(ev.chunk.and_then(|c| d.chunks.get(c as usize)).map(|c| c.id.clone())),
        );
        m.insert("document_id".into(), json!(document_id(&d.path)));
        m.insert("source_path".into(), json!(d.path));
        m.insert("source_hash".into(), json!(d.source_hash));
        m.insert("line_start".into(), json!(ev.line_start));
        m.insert("line_end".into(), json!(ev.line_end));
        if let Some(via) = ev.via {
            m.insert("via_id".into(), json!(self.node_id(via)));
            m.insert("via_name".into(), json!(self.graph.nodes[via as usize].name));
        }
        Value::Object(m)
    }

    /// The link as JSON.
    pub fn link(&self, edge: usize) -> Value {
        let e = &self.graph.edges[edge];
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
    let from: Vec<u32> = graph.edges.iter().map(|e| e.from).collect();
    let to: Vec<u32> = graph.edges.iter().map(|e| e.to).collect();
    (
        Rows::build(graph.nodes.len(), &from),
        Rows::build(graph.nodes.len(), &to),
    )
}
