//! Putting documents' parts together: the whole graph of a run (exports,
//! `diff`, `sync-neo4j`), or the part of it a command needs (`node`,
//! `neighbors`, `why-connected`, `query`).
//!
//! Nodes are numbered as in the whole graph: every note (documents in
//! path order), then each document's sections and references, then the
//! technologies by token; edges are sorted by (from, kind, to). A part of
//! the graph keeps that relative order, so anything that walks edges in
//! stored order (`neighbors`, `why-connected`) finds what it would find in
//! the whole graph, as long as the nodes it expands have all their edges.

use crate::config::Cooccurrence;
use crate::error::Result;
use crate::graph::local::{DocGraph, LinkResolution, Target, chunk_for_line, doc_graph};
use crate::graph::model::*;
use crate::graph::relates::{self, CoSource, Relation};
use crate::graph::view::{DocSource, GraphView};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One document to put in a graph.
pub struct DocInput {
    pub path: String,
    pub source: DocSource,
    pub resolutions: Vec<LinkResolution>,
    pub source_hash: String,
}

/// A technology's name and origins, from the run's technology pieces
/// (when the graph holds only part of the documents mentioning it).
#[derive(Debug, Clone)]
pub struct TechName {
    pub surface: String,
    pub origins: u8,
}

/// What to put together.
pub struct Assembly<'a> {
    pub docs: Vec<DocInput>,
    /// `None`: every document of the run is here, so technologies are
    /// named from their mentions and every mentioned one is included.
    /// `Some`: exactly these technologies are included, so named.
    pub techs: Option<BTreeMap<String, TechName>>,
    /// `relates_to` edges; `None` computes them from the documents (a
    /// whole graph).
    pub relations: Option<Vec<Relation>>,
    pub cooccurrence: &'a Cooccurrence,
    pub pipeline_version: String,
    pub run_id: &'a str,
}

/// Technologies, notes and tech counts of whole-graph parts, for
/// `relates_to`.
struct PartsSource<'a> {
    of_note: HashMap<&'a str, Vec<String>>,
    notes_of: HashMap<&'a str, Vec<String>>,
}

impl CoSource for PartsSource<'_> {
    fn techs_of(&self, note: &str) -> Result<Vec<String>> {
        Ok(self.of_note.get(note).cloned().unwrap_or_default())
    }
    fn doc_frequency(&self, token: &str) -> Result<usize> {
        Ok(self.notes_of.get(token).map(Vec::len).unwrap_or(0))
    }
    fn notes_of(&self, token: &str) -> Result<Vec<String>> {
        Ok(self.notes_of.get(token).cloned().unwrap_or_default())
    }
}

/// Builds the graph and its view.
pub fn assemble(a: Assembly<'_>) -> Result<GraphView> {
    let mut docs = a.docs;
    docs.sort_by(|x, y| x.path.cmp(&y.path));
    let parts: Vec<DocGraph> = docs
        .par_iter()
        .map(|d| {
            let extraction = &d.source.group.documents[d.source.index];
            doc_graph(extraction, &d.resolutions)
        })
        .collect();
    let doc_index: HashMap<&str, u32> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| (d.path.as_str(), i as u32))
        .collect();

    // Technologies, by token.
    let techs: BTreeMap<String, TechName> = match &a.techs {
        Some(t) => t.clone(),
        None => {
            let mut out: BTreeMap<String, TechName> = BTreeMap::new();
            for part in &parts {
                for t in &part.techs {
                    out.entry(t.token.clone())
                        .and_modify(|n| n.origins |= t.origins)
                        .or_insert_with(|| TechName {
                            surface: t.surface.clone(),
                            origins: t.origins,
                        });
                }
            }
            out
        }
    };

    // Nodes: notes, then each document's sections and references, then
    // technologies.
    let notes = docs.len() as u32;
    let mut first_local: Vec<u32> = Vec::with_capacity(docs.len());
    let mut next = notes;
    for part in &parts {
        first_local.push(next);
        next += part.nodes.len() as u32 - 1;
    }
    let tech_base = next;
    let tech_index: HashMap<&str, u32> = techs
        .keys()
        .enumerate()
        .map(|(i, t)| (t.as_str(), tech_base + i as u32))
        .collect();
    let global = |doc: usize, local: u32| -> u32 {
        if local == 0 {
            doc as u32
        } else {
            first_local[doc] + local - 1
        }
    };
    let mut nodes: Vec<Node> = Vec::with_capacity(tech_base as usize + techs.len());
    let mut graph_docs = Vec::with_capacity(docs.len());
    for (i, (d, part)) in docs.iter().zip(&parts).enumerate() {
        let mut note = part.nodes[0].clone();
        note.doc = Some(i as u32);
        nodes.push(note);
        graph_docs.push(GraphDoc {
            path: d.path.clone(),
            note: i as u32,
        });
    }
    for (i, part) in parts.iter().enumerate() {
        let mut reference = 0usize;
        for node in part.nodes.iter().skip(1) {
            let mut node = node.clone();
            node.doc = Some(i as u32);
            match &mut node.detail {
                NodeDetail::Section { parent, .. } => {
                    *parent = parent.map(|p| global(i, p));
                }
                NodeDetail::Reference { target_note, .. } => {
                    *target_note = part
                        .targets
                        .get(reference)
                        .and_then(|t| t.as_deref())
                        .and_then(|t| doc_index.get(t))
                        .copied();
                    reference += 1;
                }
                _ => {}
            }
            nodes.push(node);
        }
    }
    for (token, name) in &techs {
        let _ = token;
        nodes.push(Node {
            kind: NodeKind::Technology,
            name: name.surface.clone(),
            doc: None,
            item: 0,
            line_start: 0,
            line_end: 0,
            detail: NodeDetail::Technology {
                origins: name.origins,
            },
        });
    }

    // Edges.
    let mut edges: Vec<Edge> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        for e in &part.edges {
            let to = match &e.to {
                Target::Local(n) => Some(global(i, *n)),
                Target::Tech(t) => part
                    .techs
                    .get(*t as usize)
                    .and_then(|t| tech_index.get(t.token.as_str()))
                    .copied(),
                Target::Note(path) => doc_index.get(path.as_str()).copied(),
            };
            let Some(to) = to else {
                continue;
            };
            edges.push(Edge {
                from: global(i, e.from),
                to,
                kind: e.kind,
                confidence: 1.0,
                evidence: e
                    .evidence
                    .iter()
                    .map(|ev| Evidence {
                        doc: i as u32,
                        chunk: ev.chunk,
                        line_start: ev.line_start,
                        line_end: ev.line_end,
                        via: None,
                    })
                    .collect(),
                evidence_total: e.evidence_total,
            });
        }
    }

    // relates_to.
    let relations = match a.relations {
        Some(r) => r,
        None if a.cooccurrence.enabled => {
            let mut notes_of: HashMap<&str, Vec<String>> = HashMap::new();
            let mut of_note: HashMap<&str, Vec<String>> = HashMap::new();
            let mut counts: Vec<(String, u32)> = Vec::with_capacity(docs.len());
            for (d, part) in docs.iter().zip(&parts) {
                let tokens: Vec<String> = part.techs.iter().map(|t| t.token.clone()).collect();
                for t in &part.techs {
                    notes_of
                        .entry(t.token.as_str())
                        .or_default()
                        .push(d.path.clone());
                }
                counts.push((d.path.clone(), tokens.len() as u32));
                of_note.insert(d.path.as_str(), tokens);
            }
            relates::all(&PartsSource { of_note, notes_of }, &counts, a.cooccurrence)?
        }
        None => Vec::new(),
    };
    for r in relations {
        let (Some(&from_doc), Some(&to_doc)) =
            (doc_index.get(r.from.as_str()), doc_index.get(r.to.as_str()))
        else {
            continue;
        };
        let mut evidence = Vec::new();
        for token in &r.shared {
            let Some(&via) = tech_index.get(token.as_str()) else {
                continue;
            };
            for doc in [from_doc, to_doc] {
                let part = &parts[doc as usize];
                let extraction =
                    &docs[doc as usize].source.group.documents[docs[doc as usize].source.index];
                if let Ok(at) = part.techs.binary_search_by(|t| t.token.as_str().cmp(token)) {
                    let line = part.techs[at].first_line;
                    evidence.push(Evidence {
                        doc,
                        chunk: chunk_for_line(&extraction.chunks, line),
                        line_start: line,
                        line_end: line,
                        via: Some(via),
                    });
                }
            }
        }
        let total = evidence.len() as u32;
        evidence.truncate(EVIDENCE_LIMIT);
        edges.push(Edge {
            from: from_doc,
            to: to_doc,
            kind: EdgeKind::RelatesTo,
            confidence: r.confidence,
            evidence,
            evidence_total: total,
        });
    }
    edges.par_sort_by_key(|e| (e.from, e.kind, e.to));

    let graph = Graph {
        format: GRAPH_FORMAT,
        pipeline_version: a.pipeline_version,
        docs: graph_docs,
        nodes,
        edges,
    };
    let hashes = docs.iter().map(|d| d.source_hash.clone()).collect();
    let sources = docs.into_iter().map(|d| d.source).collect();
    Ok(GraphView::new(graph, a.run_id, sources, hashes))
}

/// The technologies a set of parts mention.
pub fn mentioned(parts: &[&DocGraph]) -> BTreeSet<String> {
    parts
        .iter()
        .flat_map(|p| p.techs.iter().map(|t| t.token.clone()))
        .collect()
}
