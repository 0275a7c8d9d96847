//! One document's part of the graph, computed from its extraction and the
//! way its links resolved; nothing else is needed, so any reader can build
//! it for just the documents it touches.
//!
//! Local numbering: node 0 is the note, nodes `1..=S` its sections in
//! order, then its references in order. Edges leave one of these nodes
//! (every kind but `relates_to`, which joins notes and is added when the
//! parts are put together) and go to another local node, to one of the
//! document's technologies (by token), or to the note of another document
//! (by path). Each edge carries its evidence, sorted and bounded exactly as
//! in the whole graph.

use crate::extract::markdown::CodeOrigin;
use crate::extract::stage::{ChunkRef, DocExtraction};
use crate::graph::build::technology_token;
use crate::graph::model::*;
use foldhash::{HashMap, HashMapExt};
use serde::{Deserialize, Serialize};

/// How one link of a document resolved (stored by the link stage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkResolution {
    pub state: ReferenceState,
    /// The rule that resolved it, or why it is unresolved.
    pub reason: String,
    /// The document it resolves to (internal links).
    pub target: Option<String>,
}

/// Where a local edge goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// A node of this document.
    Local(u32),
    /// One of this document's technologies (index into [`DocGraph::techs`]).
    Tech(u32),
    /// The note of the document at this path.
    Note(String),
}

/// Evidence inside one document (the document is implied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalEvidence {
    pub chunk: Option<u32>,
    pub line_start: u32,
    pub line_end: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LocalEdge {
    pub from: u32,
    pub kind: EdgeKind,
    pub to: Target,
    pub evidence: Vec<LocalEvidence>,
    pub evidence_total: u32,
}

/// A technology as one document mentions it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocTech {
    pub token: String,
    /// The text of the document's first mention (trimmed).
    pub surface: String,
    /// Bit 0: an inline code span; bit 1: a fence language.
    pub origins: u8,
    /// Line of the first mention.
    pub first_line: u32,
    /// Mentions (evidence of this document's edges to it).
    pub mentions: u32,
}

/// One document's nodes, edges and technologies.
#[derive(Debug, Clone, PartialEq)]
pub struct DocGraph {
    /// `doc` is `None` and indexes are local (see the module docs); a
    /// reference's `target_note` is `None` (see [`DocGraph::targets`]).
    pub nodes: Vec<Node>,
    pub sections: u32,
    /// Per reference (in order): the document it resolves to.
    pub targets: Vec<Option<String>>,
    /// Grouped by (from, kind, to), in that order.
    pub edges: Vec<LocalEdge>,
    /// By token.
    pub techs: Vec<DocTech>,
}

impl DocGraph {
    pub fn references(&self) -> u32 {
        self.nodes.len() as u32 - 1 - self.sections
    }
}

/// The chunk holding a line: the first (in order) whose lines include it.
pub fn chunk_for_line(chunks: &[ChunkRef], line: u32) -> Option<u32> {
    let end = chunks.partition_point(|c| c.line_start <= line);
    chunks[..end]
        .iter()
        .position(|c| c.line_end >= line)
        .map(|i| i as u32)
}

/// Builds a document's part. `resolutions` has one entry per link of the
/// extraction's outline, in order (missing entries count as unresolved).
pub fn doc_graph(d: &DocExtraction, resolutions: &[LinkResolution]) -> DocGraph {
    let chunks = d.chunks.as_slice();
    let evidence = |line_start: u32, line_end: u32| LocalEvidence {
        chunk: chunk_for_line(chunks, line_start),
        line_start,
        line_end,
    };
    let mut nodes = Vec::with_capacity(1 + d.outline.sections.len() + d.outline.links.len());
    nodes.push(Node {
        kind: NodeKind::Note,
        name: d.name.clone(),
        doc: None,
        item: 0,
        line_start: 1.min(d.line_count),
        line_end: d.line_count,
        detail: NodeDetail::Note,
    });
    let mut raw: Vec<(u32, EdgeKind, Target, LocalEvidence)> = Vec::new();
    let sections = d.outline.sections.len() as u32;
    let mut slug_paths: Vec<String> = Vec::with_capacity(d.outline.sections.len());
    let mut seen_slugs: HashMap<String, u32> = HashMap::new();
    for s in &d.outline.sections {
        let parent_order = s.parent.filter(|p| (*p as usize) < slug_paths.len());
        let slug_path = match parent_order.and_then(|p| slug_paths.get(p as usize)) {
            Some(parent_path) => format!("{parent_path}/{}", s.slug),
            None => s.slug.clone(),
        };
        let n = seen_slugs.entry(slug_path.clone()).or_insert(0);
        let occurrence = *n;
        *n += 1;
        let local_parent = parent_order.map(|p| p + 1).unwrap_or(0);
        let id = nodes.len() as u32;
        nodes.push(Node {
            kind: NodeKind::Section,
            name: s.title.clone(),
            doc: None,
            item: s.order,
            line_start: s.line_start,
            line_end: s.line_end,
            detail: NodeDetail::Section {
                level: s.level,
                parent: (local_parent != 0).then_some(local_parent),
                slug_path: slug_path.clone(),
                n: occurrence,
            },
        });
        raw.push((
            local_parent,
            EdgeKind::ContainsSection,
            Target::Local(id),
            evidence(s.line_start, s.heading_line_end),
        ));
        slug_paths.push(slug_path);
    }
    let origin = |section: Option<u32>| {
        section
            .filter(|s| *s < sections)
            .map(|s| s + 1)
            .unwrap_or(0)
    };
    let mut targets = Vec::with_capacity(d.outline.links.len());
    let mut seen_targets: HashMap<&str, u32> = HashMap::new();
    for (order, link) in d.outline.links.iter().enumerate() {
        let n = seen_targets.entry(link.target.as_str()).or_insert(0);
        let occurrence = *n;
        *n += 1;
        let resolution = resolutions.get(order);
        let (state, reason, target) = match resolution {
            Some(r) => (r.state, r.reason.clone(), r.target.clone()),
            None => (
                ReferenceState::Unresolved,
                crate::extract::links::NOT_FOUND.to_string(),
                None,
            ),
        };
        let id = nodes.len() as u32;
        nodes.push(Node {
            kind: NodeKind::Reference,
            name: if link.text.trim().is_empty() {
                link.target.clone()
            } else {
                link.text.clone()
            },
            doc: None,
            item: order as u32,
            line_start: link.line,
            line_end: link.line,
            detail: NodeDetail::Reference {
                target: link.target.clone(),
                n: occurrence,
                state,
                reason,
                target_note: None,
            },
        });
        if let Some(path) = &target {
            raw.push((
                id,
                EdgeKind::ResolvesToDocument,
                Target::Note(path.clone()),
                evidence(link.line, link.line),
            ));
        }
        raw.push((
            origin(link.section),
            EdgeKind::References,
            Target::Local(id),
            evidence(link.line, link.line),
        ));
        targets.push(target);
    }
    // Technologies: by token; the first mention (in outline order) gives
    // the surface and the line `relates_to` cites.
    let mut techs: Vec<DocTech> = Vec::new();
    let mut tech_index: HashMap<String, usize> = HashMap::new();
    let mut mentions: Vec<(usize, u32, u32)> = Vec::new(); // (tech, origin, line)
    for c in &d.outline.code {
        let token = technology_token(&c.text);
        if token.is_empty() {
            continue;
        }
        let bit = match c.origin {
            CodeOrigin::Inline => 1,
            CodeOrigin::FenceInfo => 2,
        };
        let at = *tech_index.entry(token.clone()).or_insert_with(|| {
            techs.push(DocTech {
                token,
                surface: c.text.trim().to_string(),
                origins: 0,
                first_line: c.line,
                mentions: 0,
            });
            techs.len() - 1
        });
        techs[at].origins |= bit;
        mentions.push((at, origin(c.section), c.line));
    }
    // Order technologies by token and renumber the mentions.
    let mut order: Vec<usize> = (0..techs.len()).collect();
    order.sort_by(|a, b| techs[*a].token.cmp(&techs[*b].token));
    let mut rank = vec![0u32; techs.len()];
    for (r, i) in order.iter().enumerate() {
        rank[*i] = r as u32;
    }
    let mut sorted: Vec<Option<DocTech>> = techs.into_iter().map(Some).collect();
    let mut techs: Vec<DocTech> = order.iter().filter_map(|i| sorted[*i].take()).collect();
    for (tech, from, line) in mentions {
        raw.push((
            from,
            EdgeKind::MentionsTechnology,
            Target::Tech(rank[tech]),
            evidence(line, line),
        ));
    }

    // One edge per (from, kind, to), evidence sorted, repeated places
    // counted once, at most EVIDENCE_LIMIT kept.
    raw.sort();
    let mut edges: Vec<LocalEdge> = Vec::new();
    let mut previous: Option<LocalEvidence> = None;
    for (from, kind, to, ev) in raw {
        match edges.last_mut() {
            Some(last) if last.from == from && last.kind == kind && last.to == to => {
                if previous != Some(ev) {
                    last.evidence_total += 1;
                    if last.evidence.len() < EVIDENCE_LIMIT {
                        last.evidence.push(ev);
                    }
                }
                previous = Some(ev);
            }
            _ => {
                previous = Some(ev);
                edges.push(LocalEdge {
                    from,
                    kind,
                    to,
                    evidence: vec![ev],
                    evidence_total: 1,
                });
            }
        }
    }
    for e in &edges {
        if let (EdgeKind::MentionsTechnology, Target::Tech(t)) = (e.kind, &e.to)
            && let Some(tech) = techs.get_mut(*t as usize)
        {
            tech.mentions += e.evidence_total;
        }
    }
    DocGraph {
        nodes,
        sections,
        targets,
        edges,
        techs,
    }
}
