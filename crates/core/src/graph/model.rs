//! The graph of a run, as stored: compact, index-based, deterministic.
//!
//! Ids are not stored; they derive from documented keys:
//!
//! | entity | key | id |
//! |---|---|---|
//! | `ag:note` | `note:<path>` | `ent_` + sha256(key) |
//! | `ag:section` | `section:<path>#<slug path>#<n>` | `ent_` + sha256(key) |
//! | `ag:technology` | `technology:<token>` | `ent_` + sha256(key) |
//! | `ag:reference` | `reference:<path>#<target>#<n>` | `ent_` + sha256(key) |
//! | link | `<rule_id>:<from_id>:<to_id>` | `lnk_` + sha256(key) |
//!
//! `<n>` counts earlier sections with the same slug path (references with
//! the same target) in the same document, so ids stay stable when unrelated
//! parts of a note change. `<token>` is the code text case-folded, trimmed,
//! with inner whitespace collapsed: one technology node per token across the
//! whole graph.

use crate::hashing::sha256_hex;
use serde::{Deserialize, Serialize};

pub const GRAPH_KIND: &str = "graph";
/// Version of the stored graph encoding (inside the object).
pub const GRAPH_FORMAT: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum NodeKind {
    Note,
    Section,
    Technology,
    Reference,
}

impl NodeKind {
    pub const ALL: [NodeKind; 4] = [
        NodeKind::Note,
        NodeKind::Section,
        NodeKind::Technology,
        NodeKind::Reference,
    ];

    pub fn type_name(self) -> &'static str {
        match self {
            NodeKind::Note => "ag:note",
            NodeKind::Section => "ag:section",
            NodeKind::Technology => "ag:technology",
            NodeKind::Reference => "ag:reference",
        }
    }

    pub fn from_type_name(name: &str) -> Option<NodeKind> {
        NodeKind::ALL.into_iter().find(|k| k.type_name() == name)
    }

    /// The rule that creates entities of this kind.
    pub fn rule(self) -> &'static str {
        match self {
            NodeKind::Note => "extract.note.v1",
            NodeKind::Section => "extract.markdown.section.v1",
            NodeKind::Technology => "extract.markdown.technology.v1",
            NodeKind::Reference => "extract.markdown.reference.v1",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EdgeKind {
    ContainsSection,
    MentionsTechnology,
    References,
    ResolvesToDocument,
    RelatesTo,
}

impl EdgeKind {
    pub const ALL: [EdgeKind; 5] = [
        EdgeKind::ContainsSection,
        EdgeKind::MentionsTechnology,
        EdgeKind::References,
        EdgeKind::ResolvesToDocument,
        EdgeKind::RelatesTo,
    ];

    pub fn type_name(self) -> &'static str {
        match self {
            EdgeKind::ContainsSection => "contains_section",
            EdgeKind::MentionsTechnology => "mentions_technology",
            EdgeKind::References => "references",
            EdgeKind::ResolvesToDocument => "resolves_to_document",
            EdgeKind::RelatesTo => "relates_to",
        }
    }

    pub fn from_type_name(name: &str) -> Option<EdgeKind> {
        EdgeKind::ALL.into_iter().find(|k| k.type_name() == name)
    }

    pub fn rule(self) -> &'static str {
        match self {
            EdgeKind::ContainsSection => "link.markdown.contains_section.v1",
            EdgeKind::MentionsTechnology => "link.markdown.mentions_technology.v1",
            EdgeKind::References => "link.markdown.references.v1",
            EdgeKind::ResolvesToDocument => "link.markdown.resolves_to_document.v1",
            EdgeKind::RelatesTo => "link.cooccurrence.v1",
        }
    }

    /// `authoritative` for structure read from the text, `heuristic` for
    /// inferred relations.
    pub fn authority(self) -> &'static str {
        match self {
            EdgeKind::RelatesTo => "heuristic",
            _ => "authoritative",
        }
    }
}

/// A document as the graph sees it. Its source hash is the ingest
/// manifest's and its chunks are the extraction's; they are not repeated
/// here (on tldr-en they were a quarter of the graph's stored bytes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphDoc {
    pub path: String,
    /// The note node of this document.
    pub note: u32,
}

/// One entity. Only what the whole graph needs is stored here; the rest of
/// an entity's fields (snippets, front matter, link forms...) stay in the
/// document's extraction and are read when the entity is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub kind: NodeKind,
    pub name: String,
    /// The document it belongs to (every kind but technologies).
    pub doc: Option<u32>,
    /// Position in the document's extraction: the section order or the link
    /// order; 0 for notes and technologies.
    pub item: u32,
    pub line_start: u32,
    pub line_end: u32,
    pub detail: NodeDetail,
}

pub fn entity_id(key: &str) -> String {
    format!("ent_{}", sha256_hex(key))
}

pub fn link_id(rule: &str, from_id: &str, to_id: &str) -> String {
    format!("lnk_{}", sha256_hex(format!("{rule}:{from_id}:{to_id}")))
}

/// How a reference resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReferenceState {
    Internal,
    External,
    Unresolved,
}

impl ReferenceState {
    pub fn name(self) -> &'static str {
        match self {
            ReferenceState::Internal => "internal",
            ReferenceState::External => "external",
            ReferenceState::Unresolved => "unresolved",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NodeDetail {
    Note,
    Section {
        level: u8,
        parent: Option<u32>,
        /// Slugs of the section and its ancestors, joined by `/`.
        slug_path: String,
        /// Earlier sections of the document with the same slug path.
        n: u32,
    },
    Technology {
        /// Bit 0: seen as an inline code span; bit 1: as a fence language.
        origins: u8,
    },
    Reference {
        target: String,
        /// Earlier links of the document with the same target.
        n: u32,
        state: ReferenceState,
        /// Why it is unresolved, or which rule resolved it.
        reason: String,
        target_note: Option<u32>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    pub from: u32,
    pub to: u32,
    pub kind: EdgeKind,
    pub confidence: f32,
    /// At most [`EVIDENCE_LIMIT`] items, in document order.
    pub evidence: Vec<Evidence>,
    /// How many evidence items there were before the limit.
    pub evidence_total: u32,
}

/// Evidence items kept per edge.
pub const EVIDENCE_LIMIT: usize = 10;

/// A place in a document that justifies an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Evidence {
    pub doc: u32,
    /// Order of the chunk holding the line, if the line is in the body.
    pub chunk: Option<u32>,
    pub line_start: u32,
    pub line_end: u32,
    /// For `relates_to`: the shared technology.
    pub via: Option<u32>,
}

/// The graph of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub format: u32,
    pub pipeline_version: String,
    pub docs: Vec<GraphDoc>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Graph {
    /// The documented key an entity's id is the hash of (see module docs).
    pub fn node_key(&self, node: u32) -> String {
        let Some(n) = self.nodes.get(node as usize) else {
            return String::new();
        };
        let path = n
            .doc
            .and_then(|d| self.docs.get(d as usize))
            .map(|d| d.path.as_str())
            .unwrap_or("");
        match &n.detail {
            NodeDetail::Note => format!("note:{path}"),
            NodeDetail::Section { slug_path, n, .. } => format!("section:{path}#{slug_path}#{n}"),
            NodeDetail::Technology { .. } => {
                format!(
                    "technology:{}",
                    crate::graph::build::technology_token(&n.name)
                )
            }
            NodeDetail::Reference { target, n, .. } => format!("reference:{path}#{target}#{n}"),
        }
    }

    /// The entity id of a node: `ent_` + sha256 of its key.
    pub fn node_id(&self, node: u32) -> String {
        match self.node_digest(node) {
            Some(d) => format!("ent_{}", hex::encode(d)),
            None => String::new(),
        }
    }

    /// The sha256 of a node's key, hashed in pieces (no key string is built).
    pub fn node_digest(&self, node: u32) -> Option<[u8; 32]> {
        use sha2::{Digest, Sha256};
        let n = self.nodes.get(node as usize)?;
        let path = n
            .doc
            .and_then(|d| self.docs.get(d as usize))
            .map(|d| d.path.as_str())
            .unwrap_or("");
        let mut h = Sha256::new();
        match &n.detail {
            NodeDetail::Note => {
                h.update(b"note:");
                h.update(path.as_bytes());
            }
            NodeDetail::Section { slug_path, n, .. } => {
                h.update(b"section:");
                h.update(path.as_bytes());
                h.update(b"#");
                h.update(slug_path.as_bytes());
                h.update(b"#");
                h.update(n.to_string().as_bytes());
            }
            NodeDetail::Technology { .. } => {
                h.update(b"technology:");
                h.update(crate::graph::build::technology_token(&n.name).as_bytes());
            }
            NodeDetail::Reference { target, n, .. } => {
                h.update(b"reference:");
                h.update(path.as_bytes());
                h.update(b"#");
                h.update(target.as_bytes());
                h.update(b"#");
                h.update(n.to_string().as_bytes());
            }
        }
        Some(h.finalize().into())
    }

    /// The canonical key shown to users: the Python tool's for notes
    /// (trimmed, lower case, spaces as `_`), the slug path of a section,
    /// the token of a technology, the target of a reference.
    pub fn canonical_key(&self, node: u32) -> String {
        let Some(n) = self.nodes.get(node as usize) else {
            return String::new();
        };
        match &n.detail {
            NodeDetail::Note => crate::graph::build::canonical_key(&n.name),
            NodeDetail::Section { slug_path, .. } => slug_path.clone(),
            NodeDetail::Technology { .. } => crate::graph::build::technology_token(&n.name),
            NodeDetail::Reference { target, .. } => target.clone(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Every number that points into the graph points inside it, so a
    /// damaged object that still decodes is refused here instead of making
    /// a later lookup panic.
    fn check_indexes(&self) -> Result<(), String> {
        let n = self.nodes.len() as u32;
        let node = |i: u32, what: &str| {
            if i < n {
                Ok(())
            } else {
                Err(format!("{what} {i} is not one of the {n} entities"))
            }
        };
        let has_doc = |doc: u32| (doc as usize) < self.docs.len();
        for doc in &self.docs {
            node(doc.note, "a document's note")?;
        }
        for x in &self.nodes {
            if let Some(doc) = x.doc
                && !has_doc(doc)
            {
                return Err(format!("entity document {doc} does not exist"));
            }
            match &x.detail {
                NodeDetail::Section {
                    parent: Some(p), ..
                } => node(*p, "a section's parent")?,
                NodeDetail::Reference {
                    target_note: Some(t),
                    ..
                } => node(*t, "a reference's target note")?,
                _ => {}
            }
        }
        for e in &self.edges {
            node(e.from, "an edge's start")?;
            node(e.to, "an edge's end")?;
            for ev in &e.evidence {
                if !has_doc(ev.doc) {
                    return Err(format!("evidence document {} does not exist", ev.doc));
                }
                if let Some(via) = ev.via {
                    node(via, "evidence's shared entity")?;
                }
            }
        }
        Ok(())
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Graph, String> {
        let graph: Graph = crate::store::objects::decode_binary(bytes)?;
        if graph.format != GRAPH_FORMAT {
            return Err(format!(
                "graph format {} is not {GRAPH_FORMAT}",
                graph.format
            ));
        }
        graph.check_indexes()?;
        Ok(graph)
    }
}
