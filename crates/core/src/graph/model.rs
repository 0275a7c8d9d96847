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
/// Version of the stored graph encoding (inside the object). Format 3 stores
/// the nodes and edges in blocks that decode in parallel.
pub const GRAPH_FORMAT: u32 = 3;
/// Nodes per stored block: large enough that a block decodes into one
/// allocation (serde pre-sizes a sequence up to 1 MiB), small enough that
/// tldr-en's 56k nodes spread over every core.
const NODE_BLOCK: usize = 8192;
/// Edges per stored block (an edge is about half a node in memory).
const EDGE_BLOCK: usize = 16384;

/// What precedes the blocks in a stored graph: everything but the nodes
/// and edges, and the byte length of each block. The body is this head
/// (postcard) followed by the node blocks and the edge blocks, each a
/// postcard sequence.
#[derive(Serialize, Deserialize)]
struct GraphHead {
    format: u32,
    pipeline_version: String,
    docs: Vec<GraphDoc>,
    node_blocks: Vec<u32>,
    edge_blocks: Vec<u32>,
}

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
            NodeKind::Technology => "extract.markdown.technology.v2",
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

/// The graph of a run. (Serialize lets the redaction postcondition walk its
/// strings; the stored form is [`Graph::to_bytes`].)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Graph {
    pub format: u32,
    pub pipeline_version: String,
    pub docs: Vec<GraphDoc>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Graph {
    /// The entity id of a node: `ent_` + sha256 of its key.
    pub fn node_id(&self, node: u32) -> String {
        match self.node_digest(node) {
            Some(d) => format!("ent_{}", hex::encode(d)),
            None => String::new(),
        }
    }

    /// The sha256 of a node's key, hashed in pieces (no key string is built).
    pub fn node_digest(&self, node: u32) -> Option<[u8; 32]> {
        let n = self.nodes.get(node as usize)?;
        let path = n
            .doc
            .and_then(|d| self.docs.get(d as usize))
            .map(|d| d.path.as_str())
            .unwrap_or("");
        Some(node_digest(path, n))
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

    /// The stored form (see [`GraphHead`]). Blocks are encoded in parallel;
    /// their boundaries depend only on the counts, so the bytes do not
    /// depend on the thread count.
    pub fn to_bytes(&self) -> Vec<u8> {
        use rayon::prelude::*;
        let (node_blocks, edge_blocks): (Vec<Vec<u8>>, Vec<Vec<u8>>) = rayon::join(
            || {
                self.nodes
                    .par_chunks(NODE_BLOCK)
                    .map(encode_block)
                    .collect()
            },
            || {
                self.edges
                    .par_chunks(EDGE_BLOCK)
                    .map(encode_block)
                    .collect()
            },
        );
        let lengths = |blocks: &[Vec<u8>]| blocks.iter().map(|b| b.len() as u32).collect();
        let head = GraphHead {
            format: self.format,
            pipeline_version: self.pipeline_version.clone(),
            docs: self.docs.clone(),
            node_blocks: lengths(&node_blocks),
            edge_blocks: lengths(&edge_blocks),
        };
        let mut out = postcard::to_allocvec(&head).unwrap_or_default();
        for block in node_blocks.iter().chain(&edge_blocks) {
            out.extend_from_slice(block);
        }
        out
    }

    /// Every number that points into the graph points inside it, so a
    /// damaged object that still decodes is refused here instead of making
    /// a later lookup panic.
    fn check_indexes(&self) -> Result<(), String> {
        let node = |i: u32, what: &str| self.check_node(i, what);
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
        self.check_edges(&self.edges)
    }

    /// `i` is one of the graph's entities.
    fn check_node(&self, i: u32, what: &str) -> Result<(), String> {
        let n = self.nodes.len();
        if (i as usize) < n {
            Ok(())
        } else {
            Err(format!("{what} {i} is not one of the {n} entities"))
        }
    }

    /// Every edge of `edges` points inside this graph.
    fn check_edges(&self, edges: &[Edge]) -> Result<(), String> {
        let node = |i: u32, what: &str| self.check_node(i, what);
        for e in edges {
            node(e.from, "an edge's start")?;
            node(e.to, "an edge's end")?;
            for ev in &e.evidence {
                if (ev.doc as usize) >= self.docs.len() {
                    return Err(format!("evidence document {} does not exist", ev.doc));
                }
                if let Some(via) = ev.via {
                    node(via, "evidence's shared entity")?;
                }
            }
        }
        Ok(())
    }

    /// Decodes [`Graph::to_bytes`], the blocks on every core, and checks
    /// that every number points inside the graph.
    pub fn from_bytes(bytes: &[u8]) -> Result<Graph, String> {
        let layout = StoredLayout::read(bytes)?;
        let (nodes, edges) = rayon::join(
            || decode_blocks::<Node>(layout.blocks(bytes, &layout.node_blocks)),
            || decode_blocks::<Edge>(layout.blocks(bytes, &layout.edge_blocks)),
        );
        let graph = Graph {
            format: layout.head.format,
            pipeline_version: layout.head.pipeline_version,
            docs: layout.head.docs,
            nodes: nodes?,
            edges: edges?,
        };
        graph.check_indexes()?;
        Ok(graph)
    }

    /// Like [`Graph::from_bytes`], but leaves the edges encoded (the
    /// returned graph has none) for [`DeferredEdges::decode`] to decode on
    /// first use: `query` rarely needs them, and they were a third of the
    /// time to decode tldr-en's graph.
    pub fn from_bytes_deferring_edges(bytes: Vec<u8>) -> Result<(Graph, DeferredEdges), String> {
        let layout = StoredLayout::read(&bytes)?;
        let nodes = decode_blocks::<Node>(layout.blocks(&bytes, &layout.node_blocks))?;
        let count = items_in(&layout.blocks(&bytes, &layout.edge_blocks))?;
        let graph = Graph {
            format: layout.head.format,
            pipeline_version: layout.head.pipeline_version,
            docs: layout.head.docs,
            nodes,
            edges: Vec::new(),
        };
        graph.check_indexes()?;
        Ok((
            graph,
            DeferredEdges {
                blocks: layout.edge_blocks,
                body: bytes,
                count,
                origin: std::path::PathBuf::new(),
            },
        ))
    }
}

/// The sha256 of a node's key (see the module docs); `path` is its
/// document's path ("" for technologies).
pub fn node_digest(path: &str, n: &Node) -> [u8; 32] {
    use sha2::{Digest, Sha256};
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
    h.finalize().into()
}

/// A stored graph's head and where its blocks are in the body.
struct StoredLayout {
    head: GraphHead,
    node_blocks: Vec<std::ops::Range<usize>>,
    edge_blocks: Vec<std::ops::Range<usize>>,
}

impl StoredLayout {
    fn read(bytes: &[u8]) -> Result<StoredLayout, String> {
        let (format, _) = postcard::take_from_bytes::<u32>(bytes).map_err(|e| e.to_string())?;
        if format != GRAPH_FORMAT {
            return Err(format!(
                "graph format {format} is not {GRAPH_FORMAT} (written by another build of auditgraph)"
            ));
        }
        let (head, rest) =
            postcard::take_from_bytes::<GraphHead>(bytes).map_err(|e| e.to_string())?;
        let mut at = bytes.len() - rest.len();
        let mut ranges = |lengths: &[u32]| -> Result<Vec<std::ops::Range<usize>>, String> {
            let mut out = Vec::with_capacity(lengths.len());
            for &len in lengths {
                let end = at
                    .checked_add(len as usize)
                    .filter(|&end| end <= bytes.len())
                    .ok_or("a block runs past the end of the graph")?;
                out.push(at..end);
                at = end;
            }
            Ok(out)
        };
        let node_blocks = ranges(&head.node_blocks)?;
        let edge_blocks = ranges(&head.edge_blocks)?;
        if at != bytes.len() {
            return Err(format!(
                "{} unexpected byte(s) after the encoded value (the graph's last block)",
                bytes.len() - at
            ));
        }
        Ok(StoredLayout {
            head,
            node_blocks,
            edge_blocks,
        })
    }

    fn blocks<'a>(&self, bytes: &'a [u8], ranges: &[std::ops::Range<usize>]) -> Vec<&'a [u8]> {
        ranges
            .iter()
            .map(|r| bytes.get(r.clone()).unwrap_or_default())
            .collect()
    }
}

/// The edges of a stored graph, still encoded (see
/// [`Graph::from_bytes_deferring_edges`]).
#[derive(Debug)]
pub struct DeferredEdges {
    body: Vec<u8>,
    blocks: Vec<std::ops::Range<usize>>,
    count: usize,
    /// The object they were read from, named if they turn out unreadable.
    origin: std::path::PathBuf,
}

impl DeferredEdges {
    pub fn origin(&self) -> &std::path::Path {
        &self.origin
    }

    /// How many edges there are (without decoding them).
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Decodes the edges and checks that they point inside `graph` (the
    /// graph they were stored with).
    pub fn decode(&self, graph: &Graph) -> Result<Vec<Edge>, String> {
        let blocks = self
            .blocks
            .iter()
            .map(|r| self.body.get(r.clone()).unwrap_or_default())
            .collect();
        let edges = decode_blocks::<Edge>(blocks)?;
        if edges.len() != self.count {
            return Err(format!(
                "the graph holds {} edges, not the {} its blocks announce",
                edges.len(),
                self.count
            ));
        }
        graph.check_edges(&edges)?;
        Ok(edges)
    }
}

fn encode_block<T: Serialize>(items: &[T]) -> Vec<u8> {
    postcard::to_allocvec(items).unwrap_or_default()
}

/// How many items the blocks announce: each is a postcard sequence, whose
/// length comes first.
fn items_in(blocks: &[&[u8]]) -> Result<usize, String> {
    let mut total = 0usize;
    for block in blocks {
        let (len, _) = postcard::take_from_bytes::<u64>(block).map_err(|e| e.to_string())?;
        total = total.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
    }
    Ok(total)
}

/// Decodes blocks one after the other straight into one vector. Decoding
/// them on every core into a vector each and then joining those cost more
/// than it saved: the copy faulted in a second graph-sized buffer (query on
/// tldr-en: 8.0k -> 7.0k page faults, 47 -> 43 ms). The nodes and the edges
/// still decode side by side.
fn decode_blocks<T>(blocks: Vec<&[u8]>) -> Result<Vec<T>, String>
where
    T: serde::de::DeserializeOwned,
{
    struct AppendTo<'a, T>(&'a mut Vec<T>);
    impl<'de, T: serde::Deserialize<'de>> serde::de::DeserializeSeed<'de> for AppendTo<'_, T> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for AppendTo<'_, T> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a sequence")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(item) = seq.next_element()? {
                self.0.push(item);
            }
            Ok(())
        }
    }
    let total = items_in(&blocks)?;
    // The counts come from the stored bytes: bound the reservation by what
    // the bytes could hold (an item takes at least one byte).
    let mut all = Vec::with_capacity(total.min(blocks.iter().map(|b| b.len()).sum()));
    for block in blocks {
        use serde::de::DeserializeSeed;
        let mut de = postcard::Deserializer::from_bytes(block);
        AppendTo(&mut all)
            .deserialize(&mut de)
            .map_err(|e| e.to_string())?;
        if !de.finalize().map_err(|e| e.to_string())?.is_empty() {
            return Err("unexpected byte(s) after a block".to_string());
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A graph with several node and edge blocks.
    fn big_graph() -> Graph {
        let docs = (0..100)
            .map(|i| GraphDoc {
                path: format!("notes/{i}.md"),
                note: i,
            })
            .collect();
        let nodes = (0..NODE_BLOCK as u32 * 2 + 77)
            .map(|i| Node {
                kind: if i < 100 {
                    NodeKind::Note
                } else {
                    NodeKind::Technology
                },
                name: format!("node {i} ✓"),
                doc: (i < 100).then_some(i),
                item: 0,
                line_start: i,
                line_end: i + 1,
                detail: if i < 100 {
                    NodeDetail::Note
                } else {
                    NodeDetail::Technology { origins: 1 }
                },
            })
            .collect::<Vec<_>>();
        let edges = (0..EDGE_BLOCK as u32 + 5)
            .map(|i| Edge {
                from: i % 100,
                to: 100 + i % 1000,
                kind: EdgeKind::MentionsTechnology,
                confidence: 1.0,
                evidence: vec![Evidence {
                    doc: i % 100,
                    chunk: Some(0),
                    line_start: 1,
                    line_end: 1,
                    via: None,
                }],
                evidence_total: 1,
            })
            .collect();
        Graph {
            format: GRAPH_FORMAT,
            pipeline_version: "v1".into(),
            docs,
            nodes,
            edges,
        }
    }

    #[test]
    fn blocks_round_trip_identically_at_any_thread_count() {
        let graph = big_graph();
        let bytes = graph.to_bytes();
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| graph.to_bytes());
        assert_eq!(bytes, one_thread);
        assert_eq!(Graph::from_bytes(&bytes).unwrap(), graph);
        let (nodes_only, deferred) = Graph::from_bytes_deferring_edges(bytes).unwrap();
        assert!(nodes_only.edges.is_empty());
        assert_eq!(nodes_only.nodes, graph.nodes);
        assert_eq!(deferred.len(), graph.edges.len());
        assert_eq!(deferred.decode(&nodes_only).unwrap(), graph.edges);
    }

    #[test]
    fn deferred_edges_are_checked_when_decoded() {
        let mut graph = big_graph();
        graph.edges[EDGE_BLOCK].to = 9_999_999;
        let (nodes_only, deferred) = Graph::from_bytes_deferring_edges(graph.to_bytes()).unwrap();
        let err = deferred.decode(&nodes_only).unwrap_err();
        assert!(err.contains("an edge's end"), "{err}");
        assert!(Graph::from_bytes(&graph.to_bytes()).is_err());
    }

    #[test]
    fn damaged_blocks_are_errors_not_panics() {
        let bytes = big_graph().to_bytes();
        for cut in [1, 100, bytes.len() / 2, bytes.len() - 1] {
            assert!(Graph::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
            assert!(
                Graph::from_bytes_deferring_edges(bytes[..cut].to_vec()).is_err(),
                "cut at {cut}"
            );
        }
        let mut older = bytes.clone();
        older[0] = 2;
        let err = Graph::from_bytes(&older).unwrap_err();
        assert!(err.contains("graph format 2 is not"), "{err}");
    }
}
