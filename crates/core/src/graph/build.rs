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
//!   technologies first), so the edge count stays linear in the notes.
//!   Confidence is the overlap coefficient: shared technologies divided by
//!   the smaller note's technology count. Stored once, from the smaller id.

use crate::config::Cooccurrence;
use crate::extract::links::{DocKey, Resolution, Resolver};
use crate::extract::markdown::CodeOrigin;
use crate::extract::stage::{DocExtraction, ExtractionGroup};
use crate::graph::model::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Python-compatible canonical key: trimmed, lower case, spaces as `_`.
pub fn canonical_key(text: &str) -> String {
    text.trim().to_lowercase().replace(' ', "_")
}

/// A technology token: case-folded, trimmed, inner whitespace collapsed.
pub fn technology_token(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

struct TechAcc {
    name: String,
    origins: BTreeSet<&'static str>,
    mentions: Vec<Mention>,
}

/// Builds the graph. `source_hashes[i]` is the source hash of the i-th
/// document in extraction order.
pub fn build(
    groups: &[std::sync::Arc<ExtractionGroup>],
    source_hashes: &[String],
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
    timer.lap("build: resolver");
    let doc_index: HashMap<&str, u32> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| (d.path.as_str(), i as u32))
        .collect();

    let mut nodes: Vec<Node> = Vec::new();
    let mut graph_docs: Vec<GraphDoc> = Vec::with_capacity(docs.len());
    let mut edges: BTreeMap<(u32, EdgeKind, u32), Vec<Evidence>> = BTreeMap::new();
    let mut techs: BTreeMap<String, TechAcc> = BTreeMap::new();
    // (origin node, token, evidence), resolved once technology nodes exist.
    let mut tech_edges: Vec<(u32, String, Evidence)> = Vec::new();
    // Note nodes are created first so references can point at any note.
    for (i, d) in docs.iter().enumerate() {
        let note = nodes.len() as u32;
        nodes.push(Node {
            kind: NodeKind::Note,
            key: format!("note:{}", d.path),
            name: d.name.clone(),
            canonical_key: canonical_key(&d.name),
            aliases: d.aliases.clone(),
            doc: Some(i as u32),
            line_start: 1.min(d.line_count),
            line_end: d.line_count,
            detail: NodeDetail::Note {
                parser_id: d.parser_id.clone(),
                name_source: serde_json::to_value(d.name_source)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                tags: d.tags.clone(),
                frontmatter: d
                    .frontmatter
                    .as_ref()
                    .map(|m| serde_json::Value::Object(m.clone()).to_string()),
            },
        });
        graph_docs.push(GraphDoc {
            path: d.path.clone(),
            source_hash: source_hashes.get(i).cloned().unwrap_or_default(),
            note,
            chunks: d
                .chunks
                .iter()
                .map(|c| GraphChunk {
                    id: c.id.clone(),
                    line_start: c.line_start,
                    line_end: c.line_end,
                })
                .collect(),
        });
    }

    timer.lap("build: notes");
    for (i, d) in docs.iter().enumerate() {
        let doc = i as u32;
        let note = graph_docs[i].note;
        let evidence_at = |line_start: u32, line_end: u32| Evidence {
            doc,
            chunk: chunk_for_line(&graph_docs[i].chunks, line_start),
            line_start,
            line_end,
            via: None,
        };

        // Sections.
        let mut section_nodes: Vec<u32> = Vec::with_capacity(d.outline.sections.len());
        let mut slug_paths: Vec<String> = Vec::with_capacity(d.outline.sections.len());
        let mut seen_slugs: HashMap<String, u32> = HashMap::new();
        for s in &d.outline.sections {
            let parent = s.parent.and_then(|p| section_nodes.get(p as usize).copied());
            let slug_path = match s.parent.and_then(|p| slug_paths.get(p as usize)) {
                Some(parent_path) => format!("{parent_path}/{}", s.slug),
                None => s.slug.clone(),
            };
            let n = seen_slugs.entry(slug_path.clone()).or_insert(0);
            let key = format!("section:{}#{}#{}", d.path, slug_path, n);
            *n += 1;
            let id = nodes.len() as u32;
            nodes.push(Node {
                kind: NodeKind::Section,
                key,
                name: s.title.clone(),
                canonical_key: slug_path.clone(),
                aliases: Vec::new(),
                doc: Some(doc),
                line_start: s.line_start,
                line_end: s.line_end,
                detail: NodeDetail::Section {
                    level: s.level,
                    order: s.order,
                    parent,
                    snippet: s.snippet.clone(),
                },
            });
            edges
                .entry((parent.unwrap_or(note), EdgeKind::ContainsSection, id))
                .or_default()
                .push(evidence_at(s.line_start, s.heading_line_end));
            section_nodes.push(id);
            slug_paths.push(slug_path);
        }
        let origin_of = |section: Option<u32>| {
            section
                .and_then(|s| section_nodes.get(s as usize).copied())
                .unwrap_or(note)
        };

        // Technologies.
        for c in &d.outline.code {
            let token = technology_token(&c.text);
            if token.is_empty() {
                continue;
            }
            let origin = origin_of(c.section);
            let acc = techs.entry(token.clone()).or_insert_with(|| TechAcc {
                name: c.text.trim().to_string(),
                origins: BTreeSet::new(),
                mentions: Vec::new(),
            });
            acc.origins.insert(match c.origin {
                CodeOrigin::Inline => "inline",
                CodeOrigin::FenceInfo => "fence_info",
            });
            acc.mentions.push(Mention {
                doc,
                origin,
                line: c.line,
            });
            tech_edges.push((origin, token, evidence_at(c.line, c.line)));
        }

        // References.
        let mut seen_targets: HashMap<String, u32> = HashMap::new();
        for (order, link) in d.outline.links.iter().enumerate() {
            let n = seen_targets.entry(link.target.clone()).or_insert(0);
            let key = format!("reference:{}#{}#{}", d.path, link.target, n);
            *n += 1;
            let (resolution, rule) = resolver.resolve_explained(&d.path, link);
            let (state, reason, target_path) = match &resolution {
                Resolution::Internal { path, .. } => ("internal", rule.to_string(), Some(path.clone())),
                Resolution::External { scheme } => (
                    "external",
                    if scheme.is_empty() { rule.to_string() } else { format!("{rule}:{scheme}") },
                    None,
                ),
                Resolution::Unresolved { reason } => ("unresolved", reason.to_string(), None),
            };
            let target_doc = target_path.as_deref().and_then(|p| doc_index.get(p).copied());
            let target_note = target_doc.map(|t| graph_docs[t as usize].note);
            let origin = origin_of(link.section);
            let id = nodes.len() as u32;
            nodes.push(Node {
                kind: NodeKind::Reference,
                key,
                name: if link.text.trim().is_empty() {
                    link.target.clone()
                } else {
                    link.text.clone()
                },
                canonical_key: link.target.clone(),
                aliases: Vec::new(),
                doc: Some(doc),
                line_start: link.line,
                line_end: link.line,
                detail: NodeDetail::Reference {
                    target: link.target.clone(),
                    form: serde_json::to_value(link.form)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    fragment: link.fragment.clone(),
                    text: link.text.clone(),
                    resolution: state.to_string(),
                    reason,
                    target_path,
                    target_note,
                    order: order as u32,
                },
            });
            edges
                .entry((origin, EdgeKind::References, id))
                .or_default()
                .push(evidence_at(link.line, link.line));
            if let Some(target) = target_note {
                edges
                    .entry((id, EdgeKind::ResolvesToDocument, target))
                    .or_default()
                    .push(evidence_at(link.line, link.line));
            }
        }
    }

    timer.lap("build: documents");
    // Technology nodes, in token order.
    let mut tech_node: HashMap<String, u32> = HashMap::with_capacity(techs.len());
    for (token, acc) in techs {
        let id = nodes.len() as u32;
        let mut mentions = acc.mentions;
        mentions.sort();
        nodes.push(Node {
            kind: NodeKind::Technology,
            key: format!("technology:{token}"),
            name: acc.name,
            canonical_key: token.clone(),
            aliases: Vec::new(),
            doc: None,
            line_start: 0,
            line_end: 0,
            detail: NodeDetail::Technology {
                origins: acc.origins.into_iter().map(str::to_string).collect(),
                mentions,
            },
        });
        tech_node.insert(token, id);
    }
    for (origin, token, evidence) in tech_edges {
        if let Some(&tech) = tech_node.get(&token) {
            edges
                .entry((origin, EdgeKind::MentionsTechnology, tech))
                .or_default()
                .push(evidence);
        }
    }

    timer.lap("build: technologies");
    let mut edge_list: Vec<Edge> = edges
        .into_iter()
        .map(|((from, kind, to), mut evidence)| {
            evidence.sort();
            evidence.dedup();
            let total = evidence.len() as u32;
            evidence.truncate(EVIDENCE_LIMIT);
            Edge {
                from,
                to,
                kind,
                confidence: 1.0,
                evidence,
                evidence_total: total,
            }
        })
        .collect();
    timer.lap("build: edges");
    if cooccurrence.enabled {
        edge_list.extend(relates_to(&nodes, &graph_docs, cooccurrence));
    }
    timer.lap("build: relates_to");
    edge_list.sort_by(|a, b| (a.from, a.kind, a.to).cmp(&(b.from, b.kind, b.to)));

    Graph {
        format: GRAPH_FORMAT,
        pipeline_version: pipeline_version.to_string(),
        docs: graph_docs,
        nodes,
        edges: edge_list,
    }
}

/// The chunk holding a line: the first (in order) whose lines include it.
fn chunk_for_line(chunks: &[GraphChunk], line: u32) -> Option<u32> {
    let end = chunks.partition_point(|c| c.line_start <= line);
    chunks[..end]
        .iter()
        .position(|c| c.line_end >= line)
        .map(|i| i as u32)
}

/// `relates_to` between notes sharing rare technologies (see module docs).
fn relates_to(nodes: &[Node], docs: &[GraphDoc], rule: &Cooccurrence) -> Vec<Edge> {
    // Technologies per note, and notes per technology (with first mentions).
    let mut note_techs: HashMap<u32, usize> = HashMap::new();
    let mut shared: BTreeMap<(u32, u32), Vec<u32>> = BTreeMap::new();
    let mut first_mention: HashMap<(u32, u32), Mention> = HashMap::new();
    for (tech, node) in nodes.iter().enumerate() {
        let NodeDetail::Technology { mentions, .. } = &node.detail else {
            continue;
        };
        let mut notes: Vec<u32> = Vec::new();
        for m in mentions {
            let note = docs[m.doc as usize].note;
            // Mentions are sorted by document, so one note's are contiguous.
            if notes.last() != Some(&note) {
                notes.push(note);
                first_mention.insert((tech as u32, note), *m);
            }
        }
        for note in &notes {
            *note_techs.entry(*note).or_default() += 1;
        }
        if notes.len() < 2 || notes.len() > rule.max_document_frequency as usize {
            continue;
        }
        notes.sort();
        for (i, a) in notes.iter().enumerate() {
            for b in &notes[i + 1..] {
                shared.entry((*a, *b)).or_default().push(tech as u32);
            }
        }
    }
    // Each note keeps its strongest relations.
    let ids: HashMap<u32, String> = shared
        .keys()
        .flat_map(|(a, b)| [*a, *b])
        .map(|n| (n, nodes[n as usize].id()))
        .collect();
    let mut per_note: HashMap<u32, Vec<(usize, &str, (u32, u32))>> = HashMap::new();
    for (pair, techs) in &shared {
        let (a, b) = *pair;
        per_note.entry(a).or_default().push((techs.len(), &ids[&b], *pair));
        per_note.entry(b).or_default().push((techs.len(), &ids[&a], *pair));
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
                    if let Some(m) = first_mention.get(&(*tech, note)) {
                        let doc = &docs[m.doc as usize];
                        evidence.push(Evidence {
                            doc: m.doc,
                            chunk: chunk_for_line(&doc.chunks, m.line),
                            line_start: m.line,
                            line_end: m.line,
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
