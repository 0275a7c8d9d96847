//! `report.evidence`: an evidence pack an auditor can check by hand.
//!
//! The hits are the results of a search (`query`, ranked as `auditgraph
//! query` ranks them, at most `limit`) or the entities named by `ids`.
//! Each hit names its source path, lines, the SHA-256 of the source and
//! the run, and quotes the chunks that back it: a search hit the chunks
//! that matched, a note, section or reference the chunks over its lines,
//! a technology the chunks that mention it (at most
//! [`QUOTES_PER_HIT`]). Then every link whose two ends are both hits is
//! listed with its rule, confidence and evidence, each evidence item with
//! the lines it points at quoted.
//!
//! # Checking a quote
//!
//! A quote is the stored text of the document: the source normalized (NFC,
//! LF line endings) with secrets replaced by markers. Its `bytes S-E` are
//! offsets in that text; for a UTF-8 file already in that form (most notes)
//! they are the offsets in the file, so `sha256sum <path>` must print the
//! SHA-256 named and bytes S to E of the file must be the quote. In
//! Markdown, a quote is everything between its `~~~~text` fence and the
//! closing fence, less the newline before the closing fence.

use super::config::EvidenceTarget;
use super::output::{code, count, escape, quote_block};
use super::{Report, ReportContext};
use crate::error::{Error, Result};
use crate::graph::model::{EdgeKind, NodeKind};
use crate::graph::view::{GraphView, round_confidence};
use crate::ingest::document::DocumentRecord;
use crate::query::filter::Page;
use crate::query::load::{Need, RunPieces};
use crate::query::search::{DocumentTexts, search};
use crate::query::select::Selection;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Quotes per hit at most.
pub const QUOTES_PER_HIT: usize = 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvidencePack {
    /// The search, if the hits come from one.
    pub query: Option<String>,
    /// The ids asked for, if the hits were named.
    pub ids: Option<Vec<String>>,
    /// Matches of the search beyond those listed.
    pub total_matches: Option<usize>,
    pub hits: Vec<Hit>,
    /// Links between two hits, by id.
    pub links: Vec<PackLink>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hit {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub rule_id: String,
    pub run_id: String,
    pub source_path: Option<String>,
    pub document_id: Option<String>,
    pub source_hash: Option<String>,
    pub line_start: Option<u32>,
    pub line_end: Option<u32>,
    /// Search hits only.
    pub score: Option<f64>,
    pub matched_terms: Vec<String>,
    pub quotes: Vec<Quote>,
}

/// A stretch of a document's stored text (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    pub source_path: String,
    pub source_hash: String,
    pub chunk_id: Option<String>,
    pub line_start: u32,
    pub line_end: u32,
    pub byte_start: usize,
    pub byte_end: usize,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackLink {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub rule_id: String,
    pub confidence: f64,
    pub authority: String,
    pub from_id: String,
    pub from_name: String,
    pub to_id: String,
    pub to_name: String,
    pub evidence_total: u32,
    pub evidence: Vec<Quote>,
}

/// A hit before it is quoted: node, score, matched terms, and the chunk
/// ids the search matched.
type Found = (u32, Option<f64>, Vec<String>, Vec<String>);

pub fn build(ctx: &ReportContext<'_>, target: &EvidenceTarget) -> Result<EvidencePack> {
    let need = match target {
        EvidenceTarget::Query { .. } => Need::Index,
        EvidenceTarget::Ids(_) => Need::Graph,
    };
    let pieces = RunPieces::open(ctx.ws, Some(&ctx.run_id), need)?;
    let view = pieces.whole_graph(ctx.ws)?;
    let mut texts = DocumentTexts::new(&pieces);
    let mut found: Vec<Found> = Vec::new();
    let mut pack = EvidencePack {
        query: None,
        ids: None,
        total_matches: None,
        hits: Vec::new(),
        links: Vec::new(),
    };
    match target {
        EvidenceTarget::Query { text, limit } => {
            let config = pieces.run_config(ctx.ws)?;
            let rounding = ctx.ws.config.profile().search.ranking.score_rounding;
            let sel = Selection {
                types: Vec::new(),
                wheres: Vec::new(),
                sort: None,
                desc: false,
                page: Page {
                    limit: Some(*limit),
                    offset: 0,
                },
            };
            let result = search(&pieces, &config, text, &sel, rounding)?;
            for hit in result.results {
                let Some(node) = view.find(&hit.id) else {
                    continue;
                };
                let chunks = hit.snippets.iter().map(|s| s.chunk_id.clone()).collect();
                found.push((node, Some(hit.score), hit.explanation.matched_terms, chunks));
            }
            pack.query = Some(text.clone());
            pack.total_matches = Some(result.total_count);
        }
        EvidenceTarget::Ids(ids) => {
            for id in ids {
                let node = view.find(id).ok_or_else(|| Error::NotFound {
                    message: format!(
                        "no entity {id} in the current run {}; `auditgraph query` and `auditgraph list` print the ids of the current run",
                        ctx.run_id
                    ),
                })?;
                if !found.iter().any(|(n, ..)| *n == node) {
                    found.push((node, None, Vec::new(), Vec::new()));
                }
            }
            pack.ids = Some(ids.clone());
        }
    }
    for (node, score, matched_terms, chunk_ids) in &found {
        let quotes = hit_quotes(&view, &mut texts, *node, chunk_ids)?;
        pack.hits
            .push(hit(&view, *node, *score, matched_terms.clone(), quotes));
    }
    let nodes: BTreeSet<u32> = found.iter().map(|(n, ..)| *n).collect();
    pack.links = links(&view, &mut texts, &nodes)?;
    Ok(pack)
}

fn hit(
    view: &GraphView,
    node: u32,
    score: Option<f64>,
    terms: Vec<String>,
    quotes: Vec<Quote>,
) -> Hit {
    let n = &view.graph.nodes[node as usize];
    let doc = n
        .doc
        .and_then(|d| view.graph.docs.get(d as usize).map(|g| (d, g)));
    let has_lines = n.kind != NodeKind::Technology;
    Hit {
        id: view.node_id(node).to_string(),
        kind: n.kind.type_name().to_string(),
        name: n.name.clone(),
        rule_id: n.kind.rule().to_string(),
        run_id: view.run_id.clone(),
        source_path: doc.map(|(_, g)| g.path.clone()),
        document_id: doc.map(|(_, g)| crate::ingest::document::document_id(&g.path)),
        source_hash: doc.map(|(d, _)| view.source_hash(d).to_string()),
        line_start: has_lines.then_some(n.line_start),
        line_end: has_lines.then_some(n.line_end),
        score,
        matched_terms: terms,
        quotes,
    }
}

/// The chunks behind a hit (see the module docs).
fn hit_quotes(
    view: &GraphView,
    texts: &mut DocumentTexts<'_>,
    node: u32,
    chunk_ids: &[String],
) -> Result<Vec<Quote>> {
    let n = &view.graph.nodes[node as usize];
    // (document number, chunk order or id)
    let mut wanted: Vec<(u32, Option<u32>)> = Vec::new();
    if n.kind == NodeKind::Technology {
        let edges = view.edges()?;
        for &e in view.incoming(node) {
            let Some(edge) = edges.get(e as usize) else {
                continue;
            };
            if edge.kind != EdgeKind::MentionsTechnology {
                continue;
            }
            for ev in &edge.evidence {
                if let Some(c) = ev.chunk
                    && !wanted.contains(&(ev.doc, Some(c)))
                {
                    wanted.push((ev.doc, Some(c)));
                }
            }
        }
        wanted.sort_unstable();
    } else if let Some(doc) = n.doc {
        wanted.push((doc, None));
    }
    let mut quotes = Vec::new();
    for (doc, order) in wanted {
        let Some(g) = view.graph.docs.get(doc as usize) else {
            continue;
        };
        let hash = view.source_hash(doc).to_string();
        let Some(d) = texts.document(&g.path)? else {
            continue;
        };
        let chunks: Vec<&crate::ingest::document::Chunk> = match order {
            Some(o) => d.chunks.get(o as usize).into_iter().collect(),
            None if !chunk_ids.is_empty() => chunk_ids
                .iter()
                .filter_map(|id| d.chunks.iter().find(|c| d.chunk_id(c) == *id))
                .collect(),
            None => d
                .chunks
                .iter()
                .filter(|c| c.line_start <= n.line_end && c.line_end >= n.line_start)
                .collect(),
        };
        for c in chunks {
            if quotes.len() == QUOTES_PER_HIT {
                return Ok(quotes);
            }
            quotes.push(Quote {
                source_path: g.path.clone(),
                source_hash: hash.clone(),
                chunk_id: Some(d.chunk_id(c)),
                line_start: c.line_start,
                line_end: c.line_end,
                byte_start: c.start,
                byte_end: c.end,
                text: d.chunk_text(c).to_string(),
            });
        }
    }
    Ok(quotes)
}

/// Byte range of lines `first..=last` (1-based) of `text`, without the
/// last line's newline.
fn line_span(text: &str, first: u32, last: u32) -> Option<(usize, usize)> {
    let mut starts = vec![0usize];
    starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
    let start = *starts.get((first as usize).checked_sub(1)?)?;
    let end = match starts.get(last as usize) {
        Some(next) => next - 1,
        None => text.len(),
    };
    (start <= end).then_some((start, end))
}

fn line_quote(
    d: &DocumentRecord,
    hash: &str,
    chunk: Option<String>,
    first: u32,
    last: u32,
) -> Option<Quote> {
    let (start, end) = line_span(&d.text, first, last)?;
    Some(Quote {
        source_path: d.path.clone(),
        source_hash: hash.to_string(),
        chunk_id: chunk,
        line_start: first,
        line_end: last,
        byte_start: start,
        byte_end: end,
        text: d.text.get(start..end)?.to_string(),
    })
}

/// Every link between two hits, by id, each evidence item quoted.
fn links(
    view: &GraphView,
    texts: &mut DocumentTexts<'_>,
    nodes: &BTreeSet<u32>,
) -> Result<Vec<PackLink>> {
    let edges = view.edges()?;
    let mut out: BTreeMap<String, PackLink> = BTreeMap::new();
    for &from in nodes {
        for &e in view.outgoing(from) {
            let Some(edge) = edges.get(e as usize) else {
                continue;
            };
            if !nodes.contains(&edge.to) || edge.to == from {
                continue;
            }
            let mut evidence = Vec::new();
            for ev in &edge.evidence {
                let Some(g) = view.graph.docs.get(ev.doc as usize) else {
                    continue;
                };
                let hash = view.source_hash(ev.doc).to_string();
                let Some(d) = texts.document(&g.path)? else {
                    continue;
                };
                let chunk = ev
                    .chunk
                    .and_then(|c| d.chunks.get(c as usize))
                    .map(|c| d.chunk_id(c));
                if let Some(q) = line_quote(d, &hash, chunk, ev.line_start, ev.line_end) {
                    evidence.push(q);
                }
            }
            let id = view.link_id(e as usize);
            out.insert(
                id.clone(),
                PackLink {
                    id,
                    kind: edge.kind.type_name().to_string(),
                    rule_id: edge.kind.rule().to_string(),
                    confidence: round_confidence(edge.confidence),
                    authority: edge.kind.authority().to_string(),
                    from_id: view.node_id(edge.from).to_string(),
                    from_name: view.graph.nodes[edge.from as usize].name.clone(),
                    to_id: view.node_id(edge.to).to_string(),
                    to_name: view.graph.nodes[edge.to as usize].name.clone(),
                    evidence_total: edge.evidence_total,
                    evidence,
                },
            );
        }
    }
    Ok(out.into_values().collect())
}

fn quote_markdown(q: &Quote, out: &mut String) {
    out.push_str(&format!(
        "\nQuote from {}, lines {}-{}, bytes {}-{}, SHA-256 {}{}:\n\n",
        code(&q.source_path),
        q.line_start,
        q.line_end,
        q.byte_start,
        q.byte_end,
        code(&q.source_hash),
        q.chunk_id
            .as_deref()
            .map(|c| format!(", chunk {}", code(c)))
            .unwrap_or_default()
    ));
    quote_block(&q.text, out);
}

impl Report for EvidencePack {
    fn title(&self) -> String {
        match (&self.query, &self.ids) {
            (Some(q), _) => format!("Evidence pack: {q}"),
            _ => "Evidence pack".to_string(),
        }
    }

    fn markdown(&self, out: &mut String) {
        out.push_str(
            "\nEach quote is the stored text of its source (normalized to NFC with LF line endings, secrets replaced by markers). For a file already in that form, `sha256sum <path>` prints the SHA-256 named, and bytes S-E of the file (0-based, end excluded) are the quote: everything between the `~~~~text` fence and the closing fence, less the last newline.\n",
        );
        match (&self.query, self.total_matches) {
            (Some(q), Some(total)) => out.push_str(&format!(
                "\nSearch {}: {} listed of {}.\n",
                code(q),
                count(self.hits.len(), "hit", "hits"),
                count(total, "match", "matches")
            )),
            _ => out.push_str(&format!(
                "\n{} asked for by id.\n",
                count(self.hits.len(), "entity", "entities")
            )),
        }
        for (i, h) in self.hits.iter().enumerate() {
            out.push_str(&format!(
                "\n## {}. {} {}\n\n- Entity: {}\n- Rule: {}\n- Run: {}\n",
                i + 1,
                code(&h.kind),
                escape(&h.name),
                code(&h.id),
                code(&h.rule_id),
                code(&h.run_id)
            ));
            if let (Some(path), Some(hash)) = (&h.source_path, &h.source_hash) {
                let lines = match (h.line_start, h.line_end) {
                    (Some(a), Some(b)) => format!(", lines {a}-{b}"),
                    _ => String::new(),
                };
                out.push_str(&format!(
                    "- Source: {}{lines}, SHA-256 {}\n",
                    code(path),
                    code(hash)
                ));
            }
            if let Some(doc) = &h.document_id {
                out.push_str(&format!("- Document: {}\n", code(doc)));
            }
            if let Some(score) = h.score {
                out.push_str(&format!(
                    "- Score: {score} (matched: {})\n",
                    escape(&h.matched_terms.join(", "))
                ));
            }
            for q in &h.quotes {
                quote_markdown(q, out);
            }
        }
        out.push_str(&format!(
            "\n## Links between the hits\n\n{}.\n",
            count(self.links.len(), "link", "links")
        ));
        for l in &self.links {
            out.push_str(&format!(
                "\n### {} {} {}\n\n- From {} to {}\n- Type {}, rule {}, confidence {}, authority {}\n- Evidence: {} of {}\n",
                escape(&l.from_name),
                code(&format!("-{}->", l.kind)),
                escape(&l.to_name),
                code(&l.from_id),
                code(&l.to_id),
                code(&l.kind),
                code(&l.rule_id),
                l.confidence,
                escape(&l.authority),
                l.evidence.len(),
                l.evidence_total
            ));
            out.push_str(&format!("- Link: {}\n", code(&l.id)));
            for q in &l.evidence {
                quote_markdown(q, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_spans() {
        let t = "a\nbb\nccc";
        assert_eq!(line_span(t, 1, 1), Some((0, 1)));
        assert_eq!(line_span(t, 2, 3), Some((2, 8)));
        assert_eq!(line_span(t, 3, 3).map(|(s, e)| &t[s..e]), Some("ccc"));
        assert_eq!(line_span(t, 0, 1), None);
        assert_eq!(line_span(t, 5, 5), None);
    }
}
