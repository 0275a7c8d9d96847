//! The link stage: builds the run's graph from the extractions.
//!
//! Edges (each with its rule, confidence 1.0 unless stated, and evidence
//! naming the chunk, path and lines that justify it):
//!
//! * `contains_section`: note -> top-level section, section -> subsection.
//! * `mentions_technology`: the innermost section (or the note, for text
//!   before the first heading) -> the technology; one edge per pair, every
//!   mention as evidence.
//! * `references`: section or note -> the reference entity of a link.
//! * `resolves_to_document`: an internal reference -> the note it resolves to.
//! * `relates_to` (`link.cooccurrence.v1`, heuristic): note <-> note sharing
//!   a technology that at most `max_document_frequency` notes mention; each
//!   note keeps its `max_related_per_note` strongest relations (most shared
//!   technologies first, then the other note's id), so there are at most
//!   `max_related_per_note` x notes such edges. Confidence is the overlap
//!   coefficient: shared technologies divided by the smaller note's
//!   technology count. Stored once, from the smaller id to the larger.
//!
//! The work per document runs in parallel; the merge that numbers nodes and
//! edges is sequential and ordered, so the graph is the same for any thread
//! count.

use crate::config::Cooccurrence;
use crate::extract::links::{DocKey, Resolution, Resolver};
use crate::extract::markdown::CodeOrigin;
use crate::extract::stage::{ChunkRef, DocExtraction, ExtractionGroup};
use crate::graph::model::*;
use foldhash::HashMap;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Python-compatible canonical key: trimmed, lower case, spaces as `_`.
pub fn canonical_key(text: &str) -> String {
    text.trim().to_lowercase().replace(' ', "_")
}

/// A technology token: case-folded, trimmed, inner whitespace collapsed.
pub fn technology_token(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        if word.is_ascii() {
            let start = out.len();
            out.push_str(word);
            out[start..].make_ascii_lowercase();
        } else {
            for c in word.chars() {
                out.extend(c.to_lowercase());
            }
        }
    }
    out
}

/// (origin node, document, line) of one technology mention.
type TechMention = (u32, u32, u32);

/// What the merge collects per technology token.
struct TechAcc {
    /// The text of the first mention.
    surface: String,
    /// Bit 0: inline code; bit 1: fence language.
    origins: u8,
    mentions: Vec<TechMention>,
}

/// Nodes and edges of one document, numbered locally: 0 is the note,
/// 1.. are its sections, then its references.
struct DocPart {
    sections: Vec<(Node, u32 /* local parent */, u32, u32)>,
    references: Vec<(Node, u32 /* local origin */, u32 /* line */)>,
    /// (token, surface, local origin, line, origin kind bit)
    code: Vec<(String, String, u32, u32, u8)>,
}

fn document_part(
    doc: u32,
    d: &DocExtraction,
    resolver: &Resolver,
    doc_index: &HashMap<&str, u32>,
) -> DocPart {
    let mut sections = Vec::with_capacity(d.outline.sections.len());
    let mut slug_paths: Vec<String> = Vec::with_capacity(d.outline.sections.len());
    let mut seen_slugs: HashMap<String, u32> = HashMap::default();
    for s in &d.outline.sections {
        let parent_order = s.parent.filter(|p| (*p as usize) < slug_paths.len());
        let slug_path = match parent_order.and_then(|p| slug_paths.get(p as usize)) {
            Some(parent_path) => format!("{parent_path}/{}", s.slug),
            None => s.slug.clone(),
        };
        let n = seen_slugs.entry(slug_path.clone()).or_insert(0);
        let occurrence = *n;
        *n += 1;
        // Local numbering: section with order k is local node k + 1.
        let local_parent = parent_order.map(|p| p + 1).unwrap_or(0);
        sections.push((
            Node {
                kind: NodeKind::Section,
                name: s.title.clone(),
                doc: Some(doc),
                item: s.order,
                line_start: s.line_start,
                line_end: s.line_end,
                detail: NodeDetail::Section {
                    level: s.level,
                    parent: None, // global index, set during the merge
                    slug_path: slug_path.clone(),
                    n: occurrence,
                },
            },
            local_parent,
            s.line_start,
            s.heading_line_end,
        ));
        slug_paths.push(slug_path);
    }
    let origin = |section: Option<u32>| {
        section
            .filter(|s| (*s as usize) < sections.len())
            .map(|s| s + 1)
            .unwrap_or(0)
    };
    let code = d
        .outline
        .code
        .iter()
        .filter_map(|c| {
            let token = technology_token(&c.text);
            (!token.is_empty()).then(|| {
                let bit = match c.origin {
                    CodeOrigin::Inline => 1,
                    CodeOrigin::FenceInfo => 2,
                };
                (
                    token,
                    c.text.trim().to_string(),
                    origin(c.section),
                    c.line,
                    bit,
                )
            })
        })
        .collect();
    let mut references = Vec::with_capacity(d.outline.links.len());
    let mut seen_targets: HashMap<&str, u32> = HashMap::default();
    for (order, link) in d.outline.links.iter().enumerate() {
        let n = seen_targets.entry(link.target.as_str()).or_insert(0);
        let occurrence = *n;
        *n += 1;
        let (resolution, rule) = resolver.resolve_explained(&d.path, link);
        let (state, reason, target_doc) = match &resolution {
            Resolution::Internal { path, .. } => (
                ReferenceState::Internal,
                rule.to_string(),
                doc_index.get(path.as_str()).copied(),
            ),
            Resolution::External { scheme } => (
                ReferenceState::External,
                if scheme.is_empty() {
                    rule.to_string()
                } else {
                    format!("{rule}:{scheme}")
                },
                None,
            ),
            Resolution::Unresolved { reason } => {
                (ReferenceState::Unresolved, reason.to_string(), None)
            }
        };
        references.push((
            Node {
                kind: NodeKind::Reference,
                name: if link.text.trim().is_empty() {
                    link.target.clone()
                } else {
                    link.text.clone()
                },
                doc: Some(doc),
                item: order as u32,
                line_start: link.line,
                line_end: link.line,
                detail: NodeDetail::Reference {
                    target: link.target.clone(),
                    n: occurrence,
                    state,
                    reason,
                    // The target document number for now; the merge turns it
                    // into the target note's node index.
                    target_note: target_doc,
                },
            },
            origin(link.section),
            link.line,
        ));
    }
    DocPart {
        sections,
        references,
        code,
    }
}

/// Builds the graph from the extraction of every document.
pub fn build(
    groups: &[Arc<ExtractionGroup>],
    cooccurrence: &Cooccurrence,
    pipeline_version: &str,
) -> Graph {
    let mut timer = crate::progress::Timer::start();
    let docs: Vec<&DocExtraction> = groups.iter().flat_map(|g| g.documents.iter()).collect();
    let resolver = Resolver::new(
        &docs
            .iter()
            .map(|d| DocKey {
                path: d.path.clone(),
                title: d.name.clone(),
                aliases: d.aliases.clone(),
            })
            .collect::<Vec<_>>(),
    );
    let doc_index: HashMap<&str, u32> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| (d.path.as_str(), i as u32))
        .collect();
    timer.lap("build: resolver");
    let parts: Vec<DocPart> = docs
        .par_iter()
        .enumerate()
        .map(|(i, d)| document_part(i as u32, d, &resolver, &doc_index))
        .collect();

    timer.lap("build: parts");
    // Notes first (references may point at any note), then each document's
    // sections and references, then technologies in token order.
    let mut nodes: Vec<Node> = Vec::with_capacity(
        docs.len()
            + parts
                .iter()
                .map(|p| p.sections.len() + p.references.len())
                .sum::<usize>(),
    );
    let mut graph_docs: Vec<GraphDoc> = Vec::with_capacity(docs.len());
    let doc_chunks: Vec<&[ChunkRef]> = docs.iter().map(|d| d.chunks.as_slice()).collect();
    for (i, d) in docs.iter().enumerate() {
        graph_docs.push(GraphDoc {
            path: d.path.clone(),
            note: nodes.len() as u32,
        });
        nodes.push(Node {
            kind: NodeKind::Note,
            name: d.name.clone(),
            doc: Some(i as u32),
            item: 0,
            line_start: 1.min(d.line_count),
            line_end: d.line_count,
            detail: NodeDetail::Note,
        });
    }

    let mut edges: Vec<(u32, EdgeKind, u32, Evidence)> = Vec::new();
    // Every code mention in document order; grouped by token below.
    let mut code: Vec<(String, String, u32, u32, u32, u8)> = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        let doc = i as u32;
        let chunks = doc_chunks[i];
        let evidence = |line_start: u32, line_end: u32| Evidence {
            doc,
            chunk: chunk_for_line(chunks, line_start),
            line_start,
            line_end,
            via: None,
        };
        let note = graph_docs[i].note;
        let first_section = nodes.len() as u32;
        // Local number -> global node index.
        let global = |local: u32| {
            if local == 0 {
                note
            } else {
                first_section + local - 1
            }
        };
        for (mut node, local_parent, heading_start, heading_end) in part.sections {
            let id = nodes.len() as u32;
            let parent = global(local_parent);
            if let NodeDetail::Section { parent: p, .. } = &mut node.detail {
                *p = (local_parent != 0).then_some(parent);
            }
            nodes.push(node);
            edges.push((
                parent,
                EdgeKind::ContainsSection,
                id,
                evidence(heading_start, heading_end),
            ));
        }
        for (mut node, local_origin, line) in part.references {
            let id = nodes.len() as u32;
            if let NodeDetail::Reference { target_note, .. } = &mut node.detail {
                *target_note = target_note
                    .and_then(|t| graph_docs.get(t as usize))
                    .map(|t| t.note);
                if let Some(target) = *target_note {
                    edges.push((
                        id,
                        EdgeKind::ResolvesToDocument,
                        target,
                        evidence(line, line),
                    ));
                }
            }
            nodes.push(node);
            edges.push((
                global(local_origin),
                EdgeKind::References,
                id,
                evidence(line, line),
            ));
        }
        for (token, surface, local_origin, line, bit) in part.code {
            code.push((token, surface, global(local_origin), doc, line, bit));
        }
    }
    // A stable sort by token keeps each token's mentions in document order
    // (the first is the surface shown), and is far cheaper than an ordered
    // map of tens of thousands of tokens.
    code.par_sort_by(|a, b| a.0.cmp(&b.0));
    let mut techs: Vec<TechAcc> = Vec::new();
    let mut last_token: Option<String> = None;
    for (token, surface, origin, doc, line, bit) in code {
        match techs.last_mut() {
            Some(acc) if last_token.as_deref() == Some(token.as_str()) => {
                acc.origins |= bit;
                acc.mentions.push((origin, doc, line));
            }
            _ => {
                techs.push(TechAcc {
                    surface,
                    origins: bit,
                    mentions: vec![(origin, doc, line)],
                });
                last_token = Some(token);
            }
        }
    }
    let mut tech_mentions: Vec<(u32, Vec<TechMention>)> = Vec::with_capacity(techs.len());
    for TechAcc {
        surface,
        origins,
        mentions,
    } in techs
    {
        let id = nodes.len() as u32;
        nodes.push(Node {
            kind: NodeKind::Technology,
            name: surface,
            doc: None,
            item: 0,
            line_start: 0,
            line_end: 0,
            detail: NodeDetail::Technology { origins },
        });
        tech_mentions.push((id, mentions));
    }
    for (tech, mentions) in &tech_mentions {
        for &(origin, doc, line) in mentions {
            let chunks = doc_chunks.get(doc as usize).copied().unwrap_or_default();
            edges.push((
                origin,
                EdgeKind::MentionsTechnology,
                *tech,
                Evidence {
                    doc,
                    chunk: chunk_for_line(chunks, line),
                    line_start: line,
                    line_end: line,
                    via: None,
                },
            ));
        }
    }

    timer.lap("build: merge");
    // One edge per (from, kind, to), its evidence sorted and bounded.
    edges.par_sort_unstable();
    let mut edge_list: Vec<Edge> = Vec::new();
    let mut previous: Option<Evidence> = None;
    for (from, kind, to, ev) in edges {
        match edge_list.last_mut() {
            Some(last) if last.from == from && last.kind == kind && last.to == to => {
                // Sorted, so a repeated place (two spans on one line) is adjacent.
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
                edge_list.push(Edge {
                    from,
                    to,
                    kind,
                    confidence: 1.0,
                    evidence: vec![ev],
                    evidence_total: 1,
                })
            }
        }
    }
    timer.lap("build: edges");
    if cooccurrence.enabled {
        edge_list.extend(relates_to(
            (&nodes[..], &graph_docs[..], &doc_chunks[..]),
            &tech_mentions,
            cooccurrence,
        ));
        edge_list.sort_by_key(|e| (e.from, e.kind, e.to));
    }

    timer.lap("build: relates_to");
    Graph {
        format: GRAPH_FORMAT,
        pipeline_version: pipeline_version.to_string(),
        docs: graph_docs,
        nodes,
        edges: edge_list,
    }
}

/// The chunk holding a line: the first (in order) whose lines include it.
fn chunk_for_line(chunks: &[ChunkRef], line: u32) -> Option<u32> {
    let end = chunks.partition_point(|c| c.line_start <= line);
    chunks[..end]
        .iter()
        .position(|c| c.line_end >= line)
        .map(|i| i as u32)
}

/// `relates_to` between notes sharing rare technologies (see module docs).
fn relates_to(
    (nodes, docs, doc_chunks): (&[Node], &[GraphDoc], &[&[ChunkRef]]),
    tech_mentions: &[(u32, Vec<TechMention>)],
    rule: &Cooccurrence,
) -> Vec<Edge> {
    let mut note_techs: HashMap<u32, u32> = HashMap::default();
    let mut shared: BTreeMap<(u32, u32), Vec<u32>> = BTreeMap::new();
    let mut first_mention: HashMap<(u32, u32), (u32, u32)> = HashMap::default();
    for (tech, mentions) in tech_mentions {
        // Mentions are in document order, so one note's are contiguous.
        let mut notes: Vec<u32> = Vec::new();
        for &(_, doc, line) in mentions {
            let note = docs[doc as usize].note;
            if notes.last() != Some(&note) {
                notes.push(note);
                first_mention.insert((*tech, note), (doc, line));
            }
        }
        for note in &notes {
            *note_techs.entry(*note).or_default() += 1;
        }
        if notes.len() < 2 || notes.len() > rule.max_document_frequency as usize {
            continue;
        }
        for (i, a) in notes.iter().enumerate() {
            for b in &notes[i + 1..] {
                shared.entry((*a, *b)).or_default().push(*tech);
            }
        }
    }
    if shared.is_empty() {
        return Vec::new();
    }
    let key_of = |note: u32| {
        let doc = nodes[note as usize].doc.unwrap_or(0);
        format!("note:{}", docs[doc as usize].path)
    };
    let ids: HashMap<u32, String> = shared
        .keys()
        .flat_map(|(a, b)| [*a, *b])
        .collect::<BTreeSet<u32>>()
        .into_par_iter()
        .map(|n| (n, entity_id(&key_of(n))))
        .collect();
    // Per note: (shared technologies, the other note's id, the pair).
    type Candidate<'a> = (usize, &'a str, (u32, u32));
    let mut per_note: HashMap<u32, Vec<Candidate>> = HashMap::default();
    for (pair, techs) in &shared {
        let (a, b) = *pair;
        per_note
            .entry(a)
            .or_default()
            .push((techs.len(), &ids[&b], *pair));
        per_note
            .entry(b)
            .or_default()
            .push((techs.len(), &ids[&a], *pair));
    }
    let mut kept: BTreeSet<(u32, u32)> = BTreeSet::new();
    for candidates in per_note.values_mut() {
        candidates.sort_by(|x, y| y.0.cmp(&x.0).then_with(|| x.1.cmp(y.1)));
        kept.extend(
            candidates
                .iter()
                .take(rule.max_related_per_note as usize)
                .map(|c| c.2),
        );
    }
    kept.into_iter()
        .map(|(a, b)| {
            let techs = &shared[&(a, b)];
            let (from, to) = if ids[&a] <= ids[&b] { (a, b) } else { (b, a) };
            let smaller = note_techs[&a].min(note_techs[&b]).max(1);
            let mut evidence = Vec::new();
            for tech in techs {
                for note in [from, to] {
                    if let Some(&(doc, line)) = first_mention.get(&(*tech, note)) {
                        evidence.push(Evidence {
                            doc,
                            chunk: chunk_for_line(
                                doc_chunks.get(doc as usize).copied().unwrap_or_default(),
                                line,
                            ),
                            line_start: line,
                            line_end: line,
                            via: Some(*tech),
                        });
                    }
                }
            }
            let total = evidence.len() as u32;
            evidence.truncate(EVIDENCE_LIMIT);
            Edge {
                from,
                to,
                kind: EdgeKind::RelatesTo,
                confidence: techs.len() as f32 / smaller as f32,
                evidence,
                evidence_total: total,
            }
        })
        .collect()
}
