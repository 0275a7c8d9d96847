//! The index stage: what queries and navigation read.
//!
//! One object per run holding:
//! * a BM25 index over entity names (plus aliases, tags and link targets),
//!   one index document per entity;
//! * a BM25 index over chunk text, one index document per chunk, with the
//!   table from chunk number to (document, chunk order);
//! * the type index (entity numbers per type) and the adjacency index
//!   (outgoing and incoming edge numbers per entity, compressed rows).
//!
//! Entity and edge numbers are positions in the run's graph object, which the
//! index names, so the two always travel together.

use crate::error::{Error, Result};
use crate::extract::stage::{DocExtraction, ExtractionGroup};
use crate::graph::model::{GRAPH_KIND, Graph, Node, NodeDetail, NodeKind};
use crate::index::{Bm25Builder, Bm25Params};
use crate::ingest::document::DocumentRecord;
use crate::ingest::{self, GroupData, IngestManifest};
use crate::pipeline::manifest::{Artifact, StageManifest, outputs_hash};
use crate::store::layout::StoreLayout;
use crate::store::objects::{self, BodyFormat, PreparedObject};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

pub const STAGE: &str = "index";
pub const INDEX_KIND: &str = "index";
pub const INDEX_FORMAT: u32 = 1;
/// Bumped whenever indexing produces something different from the same graph.
pub const INDEXER_VERSION: &str = "index-1";

/// Edge numbers per entity, as compressed rows: the edges of entity `i` are
/// `edges[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
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

/// The index of a run, in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexData {
    /// The graph object the entity and edge numbers refer to.
    pub graph_object: String,
    pub names: Vec<u8>,
    pub chunks: Vec<u8>,
    /// Chunk number -> (document number in the graph, chunk order).
    pub chunk_table: Vec<(u32, u32)>,
    /// Type name -> entity numbers, ascending.
    pub types: Vec<(String, Vec<u32>)>,
    pub outgoing: Rows,
    pub incoming: Rows,
}

/// How the index is stored: sorted number lists as gaps (small numbers
/// encode in one byte), chunk numbers implicit in the table's order.
#[derive(Serialize, Deserialize)]
struct StoredIndex {
    format: u32,
    graph_object: String,
    /// The two BM25 indexes, as bytes (`serde_bytes` encodes them exactly
    /// as a sequence of bytes would be, but decodes them with one copy
    /// instead of one call per byte: ~2 ms of opening tldr-en's index).
    #[serde(with = "serde_bytes")]
    names: Vec<u8>,
    #[serde(with = "serde_bytes")]
    chunks: Vec<u8>,
    /// Chunks per document, in document order (chunk orders are 0..n).
    chunks_per_doc: Vec<u32>,
    types: Vec<(String, Vec<u32>)>,
    /// Row lengths and gap-encoded rows.
    outgoing: (Vec<u32>, Vec<u32>),
    incoming: (Vec<u32>, Vec<u32>),
}

fn gaps(sorted: &[u32]) -> Vec<u32> {
    let mut prev = 0;
    sorted
        .iter()
        .map(|&x| {
            let g = x.wrapping_sub(prev);
            prev = x;
            g
        })
        .collect()
}

fn ungaps(gaps: &[u32]) -> Vec<u32> {
    let mut acc = 0u32;
    gaps.iter()
        .map(|&g| {
            acc = acc.wrapping_add(g);
            acc
        })
        .collect()
}

impl Rows {
    fn to_stored(&self) -> (Vec<u32>, Vec<u32>) {
        let lengths: Vec<u32> = self.offsets.windows(2).map(|w| w[1] - w[0]).collect();
        let mut rows = Vec::with_capacity(self.edges.len());
        for i in 0..lengths.len() {
            rows.extend(gaps(self.row(i as u32)));
        }
        (lengths, rows)
    }

    fn from_stored((lengths, rows): (Vec<u32>, Vec<u32>)) -> Result<Rows, String> {
        let mut offsets = Vec::with_capacity(lengths.len() + 1);
        offsets.push(0u32);
        let mut edges = Vec::with_capacity(rows.len());
        let mut at = 0usize;
        for len in lengths {
            let end = at
                .checked_add(len as usize)
                .filter(|e| *e <= rows.len())
                .ok_or("adjacency rows are truncated")?;
            edges.extend(ungaps(&rows[at..end]));
            at = end;
            offsets.push(edges.len() as u32);
        }
        if at != rows.len() {
            return Err("adjacency rows have trailing data".to_string());
        }
        Ok(Rows { offsets, edges })
    }
}

impl IndexData {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut chunks_per_doc: Vec<u32> = Vec::new();
        for &(doc, _) in &self.chunk_table {
            if chunks_per_doc.len() <= doc as usize {
                chunks_per_doc.resize(doc as usize + 1, 0);
            }
            chunks_per_doc[doc as usize] += 1;
        }
        let stored = StoredIndex {
            format: INDEX_FORMAT,
            graph_object: self.graph_object.clone(),
            names: self.names.clone(),
            chunks: self.chunks.clone(),
            chunks_per_doc,
            types: self
                .types
                .iter()
                .map(|(t, members)| (t.clone(), gaps(members)))
                .collect(),
            outgoing: self.outgoing.to_stored(),
            incoming: self.incoming.to_stored(),
        };
        postcard::to_allocvec(&stored).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<IndexData, String> {
        let stored: StoredIndex = crate::store::objects::decode_binary(bytes)?;
        if stored.format != INDEX_FORMAT {
            return Err(format!(
                "index format {} is not {INDEX_FORMAT}",
                stored.format
            ));
        }
        // Every chunk has at least a length entry in the chunk index, so a
        // table larger than that is damage (and would be a huge allocation).
        let total: u64 = stored.chunks_per_doc.iter().map(|&n| u64::from(n)).sum();
        if total > stored.chunks.len() as u64 {
            return Err(format!(
                "the chunk table counts {total} chunks, more than the chunk index can hold"
            ));
        }
        let mut chunk_table = Vec::new();
        for (doc, n) in stored.chunks_per_doc.iter().enumerate() {
            for order in 0..*n {
                chunk_table.push((doc as u32, order));
            }
        }
        Ok(IndexData {
            graph_object: stored.graph_object,
            names: stored.names,
            chunks: stored.chunks,
            chunk_table,
            types: stored
                .types
                .into_iter()
                .map(|(t, g)| (t, ungaps(&g)))
                .collect(),
            outgoing: Rows::from_stored(stored.outgoing)?,
            incoming: Rows::from_stored(stored.incoming)?,
        })
    }
}

impl IndexData {
    /// Checks that the index's numbers fit `graph` (the graph object it was
    /// built with), so a damaged or mismatched pair is refused instead of
    /// making a lookup panic.
    /// `edges` is the graph's edge count (its edges may not be decoded).
    pub fn check_against(&self, graph: &Graph, edges: usize) -> Result<(), String> {
        let nodes = graph.nodes.len();
        let edges = u32::try_from(edges).unwrap_or(u32::MAX);
        for (name, rows) in [("outgoing", &self.outgoing), ("incoming", &self.incoming)] {
            if rows.offsets.len() != nodes + 1 {
                return Err(format!(
                    "{name} adjacency has {} rows for {nodes} entities",
                    rows.offsets.len().saturating_sub(1)
                ));
            }
            if rows.offsets.windows(2).any(|w| w[0] > w[1])
                || rows
                    .offsets
                    .last()
                    .is_some_and(|&end| end as usize != rows.edges.len())
            {
                return Err(format!("{name} adjacency rows are inconsistent"));
            }
            if rows.edges.iter().any(|&e| e >= edges) {
                return Err(format!(
                    "{name} adjacency names an edge that does not exist"
                ));
            }
        }
        if self
            .types
            .iter()
            .any(|(_, members)| members.iter().any(|&m| m as usize >= nodes))
        {
            return Err("a type list names an entity that does not exist".to_string());
        }
        // Chunk orders are checked where they are used (against the
        // document's extraction); documents here.
        if let Some(&(doc, _)) = self
            .chunk_table
            .iter()
            .find(|(doc, _)| *doc as usize >= graph.docs.len())
        {
            return Err(format!(
                "the chunk table names document {doc}, which the graph does not have"
            ));
        }
        Ok(())
    }
}

/// The text an entity is found by: its name, plus a note's aliases and
/// tags and a reference's target.
pub fn searchable_name(node: &Node, extraction: Option<&DocExtraction>) -> String {
    let mut text = node.name.clone();
    match (&node.detail, extraction) {
        (NodeDetail::Note, Some(x)) => {
            for word in x.aliases.iter().chain(x.tags.iter()) {
                text.push(' ');
                text.push_str(word);
            }
        }
        (NodeDetail::Reference { target, .. }, _) => {
            text.push(' ');
            text.push_str(target);
        }
        _ => {}
    }
    text
}

/// The chunk half of the index: it needs only the documents, so `run`
/// builds it while extract and link are still working.
#[derive(Debug, Clone)]
pub struct ChunkIndex {
    pub bm25: Vec<u8>,
    /// Chunk number -> (document number, chunk order).
    pub table: Vec<(u32, u32)>,
}

/// Builds the chunk index over every document of the run, in order.
pub fn chunk_index(
    layout: &StoreLayout,
    ingest: &IngestManifest,
    groups: &[GroupData],
) -> Result<ChunkIndex> {
    let in_memory: HashMap<&str, &Arc<Vec<DocumentRecord>>> = groups
        .iter()
        .filter_map(|g| g.documents.as_ref().map(|d| (g.object.as_str(), d)))
        .collect();
    let records = ingest.records_by_path();
    // Groups not in memory are loaded from the store.
    let loaded: Vec<Result<Option<Vec<DocumentRecord>>>> = ingest
        .document_groups
        .par_iter()
        .map(|g| match in_memory.get(g.object.as_str()) {
            Some(_) => Ok(None),
            None => ingest::load_group(layout, &g.object, &records).map(Some),
        })
        .collect();
    let mut b = Bm25Builder::new(Bm25Params::default());
    let mut table = Vec::new();
    let mut doc = 0u32;
    for (group, loaded) in ingest.document_groups.iter().zip(loaded) {
        let loaded = loaded?;
        let docs: &[DocumentRecord] = match (&loaded, in_memory.get(group.object.as_str())) {
            (Some(l), _) => l,
            (None, Some(m)) => m,
            (None, None) => &[],
        };
        for d in docs {
            for chunk in &d.chunks {
                b.add(table.len() as u32, d.chunk_text(chunk));
                table.push((doc, chunk.order));
            }
            doc += 1;
        }
    }
    Ok(ChunkIndex {
        bm25: b.build(),
        table,
    })
}

pub struct IndexOutput {
    pub manifest: StageManifest,
    pub new_objects: Vec<PreparedObject>,
}

pub struct IndexRequest<'a> {
    pub layout: &'a StoreLayout,
    pub ingest: &'a IngestManifest,
    /// This command's in-memory document groups (others load from the store).
    pub groups: &'a [GroupData],
    pub link: &'a StageManifest,
    pub graph: &'a Graph,
    /// The run's extractions, in document order.
    pub extractions: &'a [Arc<ExtractionGroup>],
    /// The chunk index when it was built ahead (else it is built here).
    pub chunks: Option<ChunkIndex>,
    /// The [`names_index`] when it was built ahead (else it is built here).
    pub names: Option<Vec<u8>>,
    pub schema_version: String,
    pub pipeline_version: String,
    pub config_hash: String,
    pub started_at: String,
}

pub fn settings_hash() -> String {
    crate::hashing::FieldHasher::new("index-settings")
        .field(INDEXER_VERSION)
        .finish_hex()
}

/// The ranked index of entity names (see [`searchable_name`]).
pub fn names_index(graph: &Graph, extractions: &[Arc<ExtractionGroup>]) -> Vec<u8> {
    let extractions: Vec<&DocExtraction> = extractions
        .iter()
        .flat_map(|g| g.documents.iter())
        .collect();
    let mut b = Bm25Builder::new(Bm25Params::default());
    for (i, node) in graph.nodes.iter().enumerate() {
        let x = node.doc.and_then(|d| extractions.get(d as usize).copied());
        b.add(i as u32, &searchable_name(node, x));
    }
    b.build()
}

/// Builds the index of a run.
pub fn index(req: IndexRequest<'_>) -> Result<IndexOutput> {
    let graph = req.graph;
    let graph_object = req
        .link
        .artifacts
        .iter()
        .find(|a| a.kind == GRAPH_KIND)
        .map(|a| a.object.clone())
        .ok_or_else(|| Error::corrupt(&req.layout.dir, "the link manifest names no graph"))?;

    let (names, chunk_index) = rayon::join(
        || match req.names {
            Some(prebuilt) => prebuilt,
            None => names_index(graph, req.extractions),
        },
        || match req.chunks {
            Some(prebuilt) => Ok(prebuilt),
            None => chunk_index(req.layout, req.ingest, req.groups),
        },
    );
    let ChunkIndex {
        bm25: chunks,
        table: chunk_table,
    } = chunk_index?;
    if chunk_table
        .last()
        .is_some_and(|(d, _)| *d as usize >= graph.docs.len())
    {
        return Err(Error::corrupt(
            &req.layout.dir,
            "the chunk index names more documents than the graph has",
        ));
    }
    let types = NodeKind::ALL
        .iter()
        .map(|k| {
            let members: Vec<u32> = graph
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.kind == *k)
                .map(|(i, _)| i as u32)
                .collect();
            (k.type_name().to_string(), members)
        })
        .collect();
    let (outgoing, incoming) = crate::graph::view::adjacency_rows(graph);
    let data = IndexData {
        graph_object,
        names,
        chunks,
        chunk_table,
        types,
        outgoing,
        incoming,
    };
    let payload = objects::payload(
        INDEX_KIND,
        &req.schema_version,
        BodyFormat::Binary,
        &data.to_bytes(),
    );
    let prepared = objects::prepare(payload)?;
    let artifacts = vec![Artifact {
        kind: INDEX_KIND.to_string(),
        object: prepared.id.clone(),
        documents_object: None,
        documents: None,
    }];
    let counts = serde_json::json!({
        "entities": graph.nodes.len(),
        "chunks": data.chunk_table.len(),
        "edges": graph.edges.len(),
    });
    Ok(IndexOutput {
        manifest: StageManifest {
            schema_version: req.schema_version.clone(),
            stage: STAGE.to_string(),
            run_id: String::new(),
            pipeline_version: req.pipeline_version.clone(),
            auditgraph_version: crate::version::AUDITGRAPH_VERSION.to_string(),
            config_hash: req.config_hash.clone(),
            inputs_hash: req.link.outputs_hash.clone(),
            outputs_hash: outputs_hash(&artifacts),
            settings_hash: settings_hash(),
            status: "ok".to_string(),
            counts,
            artifacts,
            warnings: Vec::new(),
            wall_clock_started_at: req.started_at.clone(),
            wall_clock_finished_at: String::new(),
        },
        new_objects: vec![prepared],
    })
}

/// Loads the index an index manifest names.
pub fn load_index(layout: &StoreLayout, manifest: &StageManifest) -> Result<IndexData> {
    let artifact = manifest
        .artifacts
        .iter()
        .find(|a| a.kind == INDEX_KIND)
        .ok_or_else(|| Error::corrupt(&layout.dir, "the index manifest names no index"))?;
    let mut timer = crate::progress::Timer::start();
    let body = objects::read_binary(layout, &artifact.object, INDEX_KIND)?;
    timer.lap("index: read and inflate");
    objects::check_format(layout, &artifact.object, INDEX_KIND, &body, INDEX_FORMAT)?;
    let index = IndexData::from_bytes(&body);
    timer.lap("index: decode");
    index.map_err(|e| {
        Error::corrupt(
            layout.object_path(&artifact.object),
            format!("unreadable index: {e}"),
        )
    })
}
