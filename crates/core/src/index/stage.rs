//! The index stage: what `query` searches.
//!
//! One search piece per document shard holds two BM25 indexes: over the
//! chunk text of the shard's documents (one index document per chunk) and
//! over the names of their entities (note name with aliases and tags,
//! section titles, reference text with its target; one index document per
//! entity). One technology-search piece per technology shard indexes the
//! technologies' names. A query searches every piece with the statistics
//! of the whole run (`N`, mean length and document frequencies summed over
//! the pieces), so scores are those of one index over everything, and an
//! edit rebuilds the pieces of the shards it touched.
//!
//! Local numbering: a shard's documents in path order; within one, the
//! entities as its graph part numbers them (note, sections, references)
//! and its chunks in order.

use crate::error::Result;
use crate::extract::stage::{DocExtraction, ExtractionGroup};
use crate::graph::local::doc_graph;
use crate::graph::model::{Node, NodeDetail};
use crate::index::{Bm25Builder, Bm25Params};
use crate::ingest::document::DocumentRecord;
use crate::link::entries::TechEntry;
use crate::pipeline::postcondition::Scanner;
use crate::progress::Progress;
use crate::store::id::ObjectId;
use crate::store::layout::StoreLayout;
use crate::store::piece::{self, PieceKind, PieceSink};
use crate::store::table::ShardTable;
use foldhash::HashMap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub const STAGE: &str = "index";
/// Bumped whenever indexing produces something different from the same
/// documents and extraction.
pub const INDEXER_VERSION: &str = "index-2";

pub fn settings_hash() -> String {
    crate::hashing::FieldHasher::new("index-settings")
        .field(INDEXER_VERSION)
        .finish_hex()
}

/// One document of a search piece.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchDoc {
    pub path: String,
    pub sections: u32,
    pub references: u32,
    pub chunks: u32,
}

/// A document shard's search piece.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchPiece {
    pub docs: Vec<SearchDoc>,
    #[serde(with = "serde_bytes")]
    pub names: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub chunks: Vec<u8>,
}

/// A search piece as `query` reads it: its paths and indexes point into
/// the piece's bytes (nothing is copied; the encoding is the
/// [`SearchPiece`]'s).
#[derive(Debug, Deserialize)]
pub struct SearchPieceView<'a> {
    #[serde(borrow)]
    pub docs: Vec<SearchDocView<'a>>,
    pub names: &'a [u8],
    pub chunks: &'a [u8],
}

/// One document of a [`SearchPieceView`].
#[derive(Debug, Deserialize)]
pub struct SearchDocView<'a> {
    pub path: &'a str,
    pub sections: u32,
    pub references: u32,
    pub chunks: u32,
}

impl SearchDocView<'_> {
    /// Its entities: the note, its sections, its references.
    pub fn entities(&self) -> u32 {
        1 + self.sections + self.references
    }
}

impl SearchPieceView<'_> {
    /// (document, local entity) of every entity number.
    pub fn entity_table(&self) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for (d, doc) in self.docs.iter().enumerate() {
            for e in 0..doc.entities() {
                out.push((d as u32, e));
            }
        }
        out
    }

    /// (document, chunk order) of every chunk number.
    pub fn chunk_table(&self) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for (d, doc) in self.docs.iter().enumerate() {
            for c in 0..doc.chunks {
                out.push((d as u32, c));
            }
        }
        out
    }
}

/// A technology shard's search piece: the index of the names of the
/// technologies of the same shard of the technologies pieces (entity
/// number = position in that piece).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TechSearchPiece {
    #[serde(with = "serde_bytes")]
    pub names: Vec<u8>,
}

/// A technology-search piece as `query` reads it (see [`SearchPieceView`]).
#[derive(Debug, Deserialize)]
pub struct TechSearchPieceView<'a> {
    pub names: &'a [u8],
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

/// Builds a shard's search piece from its documents and their extraction
/// (both in path order).
pub fn search_piece(documents: &[DocumentRecord], extraction: &ExtractionGroup) -> SearchPiece {
    let mut names = Bm25Builder::new(Bm25Params::default());
    let mut chunks = Bm25Builder::new(Bm25Params::default());
    let texts: HashMap<&str, &DocumentRecord> =
        documents.iter().map(|d| (d.path.as_str(), d)).collect();
    let mut docs = Vec::with_capacity(extraction.documents.len());
    let mut entity = 0u32;
    let mut chunk = 0u32;
    for x in &extraction.documents {
        let part = doc_graph(x, &[]);
        for node in &part.nodes {
            names.add(entity, &searchable_name(node, Some(x)));
            entity += 1;
        }
        let mut count = 0;
        if let Some(d) = texts.get(x.path.as_str()) {
            for c in &d.chunks {
                chunks.add(chunk, d.chunk_text(c));
                chunk += 1;
                count += 1;
            }
        }
        docs.push(SearchDoc {
            path: x.path.clone(),
            sections: part.sections,
            references: part.references(),
            chunks: count,
        });
    }
    SearchPiece {
        docs,
        names: names.build(),
        chunks: chunks.build(),
    }
}

/// Builds a technology shard's search piece.
pub fn tech_search_piece(entries: &[TechEntry]) -> TechSearchPiece {
    let mut names = Bm25Builder::new(Bm25Params::default());
    for (i, t) in entries.iter().enumerate() {
        names.add(i as u32, t.surface());
    }
    TechSearchPiece {
        names: names.build(),
    }
}

/// The base run's tables, for reuse.
pub struct IndexBase<'a> {
    pub documents: &'a ShardTable,
    pub extraction: &'a ShardTable,
    pub technologies: &'a ShardTable,
    pub search: &'a ShardTable,
    pub tech_search: &'a ShardTable,
}

pub struct IndexRequest<'a> {
    pub layout: &'a StoreLayout,
    pub records: &'a ShardTable,
    pub documents: &'a ShardTable,
    pub extraction: &'a ShardTable,
    pub technologies: &'a ShardTable,
    /// Documents and extraction pieces in memory (by shard / by id).
    pub built: &'a BTreeMap<u8, crate::ingest::ShardDocuments>,
    pub groups: &'a HashMap<ObjectId, Arc<ExtractionGroup>>,
    /// Technology shards in memory.
    pub tech_shards: &'a BTreeMap<u8, Vec<TechEntry>>,
    pub base: Option<IndexBase<'a>>,
    pub progress: &'a dyn Progress,
}

pub struct IndexOutput {
    pub search: ShardTable,
    pub tech_search: ShardTable,
    pub counts: IndexCounts,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexCounts {
    pub documents: usize,
    pub chunks: usize,
    pub technologies: usize,
}

/// Builds the search pieces of the shards whose documents or extraction
/// changed, and the technology-search pieces of the technology shards that
/// changed; the others are the base run's.
pub fn index(
    req: &IndexRequest<'_>,
    sink: &dyn PieceSink,
    scan: &Scanner<'_>,
) -> Result<IndexOutput> {
    let search = index_documents(req, sink, scan)?;
    let tech_search = index_technologies(req, sink, scan)?;
    Ok(IndexOutput {
        search,
        tech_search,
        counts: IndexCounts::default(),
    })
}

/// The search table: the pieces of the document shards whose documents
/// or extraction changed are built, the others are the base run's. Needs
/// only the ingest and extract stages (`technologies` is not read), so a
/// run builds it while the documents are still in memory.
pub fn index_documents(
    req: &IndexRequest<'_>,
    sink: &dyn PieceSink,
    scan: &Scanner<'_>,
) -> Result<ShardTable> {
    let base = req.base.as_ref();
    // The base is reused shard by shard, so only where it shards alike.
    let aligned = base.is_some_and(|b| {
        b.search.bits() == req.extraction.bits() && b.documents.bits() == req.documents.bits()
    });
    let mut shards: BTreeSet<u8> = req.extraction.pieces().map(|(s, _)| s).collect();
    if let Some(b) = base.filter(|_| aligned) {
        shards.extend(b.search.pieces().map(|(s, _)| s));
    }
    let shards: Vec<u8> = shards
        .into_iter()
        .filter(|s| match base {
            Some(b) if aligned => {
                b.documents.get(*s) != req.documents.get(*s)
                    || b.extraction.get(*s) != req.extraction.get(*s)
            }
            _ => true,
        })
        .collect();
    req.progress.phase("search", shards.len() as u64);
    let built: Vec<(u8, Option<ObjectId>)> = shards
        .par_iter()
        .map(|&shard| {
            let id = match req.extraction.get(shard) {
                None => None,
                Some(ext_id) => {
                    let extraction = match req.groups.get(&ext_id) {
                        Some(g) => Arc::clone(g),
                        None => Arc::new(crate::extract::stage::read_group(req.layout, ext_id)?),
                    };
                    let loaded;
                    let documents: &[DocumentRecord] =
                        match (req.built.get(&shard), req.documents.get(shard)) {
                            (Some(d), _) => d,
                            (None, Some(doc_id)) => {
                                let records = match req.records.get(shard) {
                                    Some(r) => crate::ingest::read_records(req.layout, r)?,
                                    None => Vec::new(),
                                };
                                loaded =
                                    crate::ingest::read_documents(req.layout, doc_id, &records)?;
                                &loaded
                            }
                            (None, None) => &[],
                        };
                    let piece_value = search_piece(documents, &extraction);
                    let id = piece::put(sink, PieceKind::Search, &piece_value)?;
                    scan.piece(id, &search_strings(&piece_value), &|_| false);
                    Some(id)
                }
            };
            req.progress.advance(1);
            Ok((shard, id))
        })
        .collect::<Result<_>>()?;
    req.progress.finish();
    let mut search = match base {
        Some(b) if aligned => b.search.clone(),
        _ => ShardTable::empty(req.extraction.bits()),
    };
    for (s, id) in built {
        search.set(s, id);
    }
    search.set_items(req.extraction.items());
    Ok(search)
}

/// The technology-search table: the pieces of the technology shards that
/// changed are built, the others are the base run's.
pub fn index_technologies(
    req: &IndexRequest<'_>,
    sink: &dyn PieceSink,
    scan: &Scanner<'_>,
) -> Result<ShardTable> {
    req.progress.step("index: technologies");
    let base = req.base.as_ref();
    let aligned = base.is_some_and(|b| b.tech_search.bits() == req.technologies.bits());
    let mut shards: BTreeSet<u8> = req.technologies.pieces().map(|(s, _)| s).collect();
    if let Some(b) = base.filter(|_| aligned) {
        shards.extend(b.tech_search.pieces().map(|(s, _)| s));
    }
    let shards: Vec<u8> = shards
        .into_iter()
        .filter(|s| match base {
            Some(b) if aligned => b.technologies.get(*s) != req.technologies.get(*s),
            _ => true,
        })
        .collect();
    let built: Vec<(u8, Option<ObjectId>)> = shards
        .par_iter()
        .map(|&shard| {
            let id = match req.technologies.get(shard) {
                None => None,
                Some(tech_id) => {
                    let loaded;
                    let entries: &[TechEntry] = match req.tech_shards.get(&shard) {
                        Some(e) => e,
                        None => {
                            loaded = piece::read::<Vec<TechEntry>>(
                                req.layout,
                                PieceKind::Technologies,
                                tech_id,
                            )?;
                            &loaded
                        }
                    };
                    let piece_value = tech_search_piece(entries);
                    let id = piece::put(sink, PieceKind::TechSearch, &piece_value)?;
                    scan.piece(id, &tech_search_strings(&piece_value), &|_| false);
                    Some(id)
                }
            };
            Ok((shard, id))
        })
        .collect::<Result<_>>()?;
    let mut tech_search = match base {
        Some(b) if aligned => b.tech_search.clone(),
        _ => ShardTable::empty(req.technologies.bits()),
    };
    for (s, id) in built {
        tech_search.set(s, id);
    }
    tech_search.set_items(req.technologies.items());
    Ok(tech_search)
}

/// The strings of a search piece a detector should see: paths and terms.
pub fn search_strings(piece: &SearchPiece) -> Vec<String> {
    let mut out: Vec<String> = piece.docs.iter().map(|d| d.path.clone()).collect();
    for bytes in [&piece.names, &piece.chunks] {
        if let Ok(index) = crate::index::Bm25Index::open(bytes)
            && let Ok(terms) = index.terms()
        {
            out.extend(terms.into_iter().map(|(t, _)| t));
        }
    }
    out
}

/// The strings of a technology-search piece a detector should see: terms.
pub fn tech_search_strings(piece: &TechSearchPiece) -> Vec<String> {
    crate::index::Bm25Index::open(&piece.names)
        .and_then(|i| i.terms())
        .map(|t| t.into_iter().map(|(t, _)| t).collect())
        .unwrap_or_default()
}

/// Reads a search piece.
pub fn read_search(layout: &StoreLayout, id: ObjectId) -> Result<SearchPiece> {
    piece::read(layout, PieceKind::Search, id)
}

/// Reads a technology-search piece.
pub fn read_tech_search(layout: &StoreLayout, id: ObjectId) -> Result<TechSearchPiece> {
    piece::read(layout, PieceKind::TechSearch, id)
}
