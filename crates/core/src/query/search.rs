//! `query`: ranked keyword search over entity names and chunk text.
//!
//! The query is split into words and `"quoted phrases"`, each tokenized
//! like the index (lower case, split on anything not alphanumeric). Every
//! token is a search term (a document matches if it has any of them, and
//! ranks higher the more and rarer they are: BM25). A phrase must also
//! appear as consecutive tokens in the name or chunk text.
//!
//! An entity's score is its name score (BM25 over names, aliases, tags and
//! link targets) plus, for a note, the score of its best matching chunk
//! (BM25 over chunk text). Scores are rounded to `search.ranking.
//! score_rounding`; ties are broken by entity id, so results are stable.

use crate::error::{Error, Result};
use crate::extract::stage::EXTRACTION_KIND;
use crate::index::{Bm25Index, for_each_token, tokenize};
use crate::ingest::document::{DocumentGroup, document_id};
use crate::query::load::LoadedRun;
use crate::query::select::{Selection, filter, order_and_page};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedQuery {
    /// Every search term, deduplicated, in order of appearance.
    pub terms: Vec<String>,
    /// Token sequences that must appear contiguously.
    pub phrases: Vec<Vec<String>>,
}

/// Splits a query into terms and `"phrases"` (an unclosed quote runs to the
/// end of the query).
pub fn parse_query(text: &str) -> ParsedQuery {
    let mut terms: Vec<String> = Vec::new();
    let mut phrases = Vec::new();
    for (i, part) in text.split('"').enumerate() {
        let tokens = tokenize(part);
        if i % 2 == 1 && tokens.len() > 1 {
            phrases.push(tokens.clone());
        }
        for t in tokens {
            if !terms.contains(&t) {
                terms.push(t);
            }
        }
    }
    ParsedQuery { terms, phrases }
}

/// True if `text` holds `phrase` as consecutive tokens.
pub fn contains_phrase(text: &str, phrase: &[String]) -> bool {
    if phrase.is_empty() {
        return true;
    }
    let mut tokens: Vec<String> = Vec::new();
    for_each_token(text, |t, _, _| tokens.push(t.to_string()));
    tokens.windows(phrase.len()).any(|w| w == phrase)
}

/// One matching chunk of a result.
#[derive(Debug, Clone, Serialize)]
pub struct Snippet {
    pub chunk_id: String,
    pub document_id: String,
    pub source_path: String,
    pub source_hash: String,
    pub line_start: u32,
    pub line_end: u32,
    pub score: f64,
    pub matched_terms: Vec<String>,
    /// The chunk text around the first matched term.
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub matched_terms: Vec<String>,
    pub bm25_score: f64,
    pub name_score: f64,
    pub chunk_score: f64,
    pub tie_break: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub score: f64,
    pub source_path: Option<String>,
    pub snippets: Vec<Snippet>,
    pub explanation: Explanation,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub query: String,
    pub terms: Vec<String>,
    pub phrases: Vec<Vec<String>>,
    pub results: Vec<SearchHit>,
    pub total_count: usize,
    pub limit: Option<usize>,
    pub offset: usize,
    pub truncated: bool,
}

/// How many chunk snippets a result carries.
pub const SNIPPETS_PER_RESULT: usize = 3;
const SNIPPET_CHARS: usize = 240;

struct Scored {
    name: f64,
    chunk: f64,
    terms: BTreeSet<String>,
    /// (chunk number, score, matched terms, strongest term), best first.
    chunks: Vec<(u32, f64, Vec<String>, String)>,
}

/// Rounds to the decimal places of `step` (0.000001 -> 6 places), dividing
/// by a power of ten so the result prints without binary noise.
fn round(score: f64, step: f64) -> f64 {
    if step > 0.0 && step < 1.0 {
        let places = (-step.log10()).round().clamp(0.0, 15.0);
        let factor = 10f64.powf(places);
        (score * factor).round() / factor
    } else if step >= 1.0 {
        (score / step).round() * step
    } else {
        score
    }
}

/// Loads the documents of the groups holding `docs` (by document number).
struct Texts<'a> {
    run: &'a LoadedRun,
    /// Document number -> (group, position in group).
    slots: Vec<(u32, u32)>,
    groups: HashMap<u32, DocumentGroup>,
}

impl<'a> Texts<'a> {
    fn new(run: &'a LoadedRun) -> Texts<'a> {
        let mut slots = Vec::new();
        for (g, a) in run.extract.artifacts.iter().enumerate() {
            for i in 0..a.documents.unwrap_or(0) {
                slots.push((g as u32, i));
            }
        }
        Texts {
            run,
            slots,
            groups: HashMap::new(),
        }
    }

    /// Loads the document groups holding `docs`, and their extraction
    /// groups, on every core (a page of results touches several groups;
    /// reading them one after the other was most of a query's time after
    /// opening the run).
    fn prefetch(&mut self, docs: &BTreeSet<u32>) -> Result<()> {
        use rayon::prelude::*;
        let mut first_doc_of_group: std::collections::BTreeMap<u32, u32> = Default::default();
        for &doc in docs {
            if let Some(&(group, _)) = self.slots.get(doc as usize)
                && !self.groups.contains_key(&group)
            {
                first_doc_of_group.entry(group).or_insert(doc);
            }
        }
        let run = self.run;
        let loaded: Vec<(u32, DocumentGroup)> = first_doc_of_group
            .into_par_iter()
            .map(|(group, doc)| {
                // Fills the view's cache of this extraction group.
                run.view.doc_extraction(doc)?;
                Ok((group, load_document_group(run, group)?))
            })
            .collect::<Result<_>>()?;
        self.groups.extend(loaded);
        Ok(())
    }

    /// The text of a chunk (loading its document group on first use).
    fn chunk_text(&mut self, doc: u32, order: u32) -> Result<String> {
        let Some(&(group, slot)) = self.slots.get(doc as usize) else {
            return Ok(String::new());
        };
        if !self.groups.contains_key(&group) {
            let loaded = load_document_group(self.run, group)?;
            self.groups.insert(group, loaded);
        }
        let doc = self
            .groups
            .get(&group)
            .and_then(|g| g.documents.get(slot as usize));
        Ok(doc
            .and_then(|d| {
                d.chunks
                    .get(order as usize)
                    .map(|c| d.chunk_text(c).to_string())
            })
            .unwrap_or_default())
    }
}

/// The documents (texts and chunks) of one extraction group.
fn load_document_group(run: &LoadedRun, group: u32) -> Result<DocumentGroup> {
    let object = run
        .extract
        .artifacts
        .get(group as usize)
        .and_then(|a| a.documents_object.as_deref())
        .ok_or_else(|| {
            Error::corrupt(
                run.reader.layout.dir.clone(),
                format!("{EXTRACTION_KIND} artifact without its documents object"),
            )
        })?;
    crate::ingest::document::read_group(&run.reader.layout, object)
}

/// A window of `text` around the first place where `focus` (a phrase, or a
/// single term) occurs.
fn snippet(text: &str, focus: &[String]) -> String {
    let mut tokens: Vec<(String, usize)> = Vec::new();
    for_each_token(text, |t, start, _| tokens.push((t.to_string(), start)));
    let start = if focus.is_empty() {
        0
    } else {
        tokens
            .windows(focus.len())
            .find(|w| w.iter().zip(focus).all(|((t, _), f)| t == f))
            .map(|w| w[0].1)
            .unwrap_or(0)
    };
    // Start a little before the match, on a char boundary.
    let mut from = start.saturating_sub(60);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let collapsed: String = text[from..]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut out: String = collapsed.chars().take(SNIPPET_CHARS).collect();
    if collapsed.chars().count() > SNIPPET_CHARS {
        out.push('…');
    }
    if from > 0 {
        out.insert(0, '…');
    }
    out
}

/// What a snippet centres on: the first phrase, else the chunk's strongest
/// matched term.
fn focus_of(phrases: &[Vec<String>], best_term: &str) -> Vec<String> {
    match phrases.first() {
        Some(p) => p.clone(),
        None => vec![best_term.to_string()],
    }
}

/// Runs a query.
pub fn search(
    run: &LoadedRun,
    text: &str,
    sel: &Selection,
    score_rounding: f64,
) -> Result<SearchResult> {
    let index = run.index.as_ref().ok_or_else(|| Error::NotFound {
        message: format!("run {} has no index; run `auditgraph index`", run.run_id),
    })?;
    let view = &run.view;
    let graph = &view.graph;
    let parsed = parse_query(text);
    let corrupt = |e: crate::index::IndexError| {
        Error::corrupt(
            run.reader.layout.dir.clone(),
            format!("unreadable index: {e}"),
        )
    };
    let mut timer = crate::progress::Timer::start();
    let names = Bm25Index::open(&index.names).map_err(corrupt)?;
    let chunks = Bm25Index::open(&index.chunks).map_err(corrupt)?;
    let require_all = !parsed.phrases.is_empty();
    let (name_hits, chunk_hits) = rayon::join(
        || names.search(&parsed.terms, require_all),
        || chunks.search(&parsed.terms, require_all),
    );
    let name_hits = name_hits.map_err(corrupt)?;
    let chunk_hits = chunk_hits.map_err(corrupt)?;

    timer.lap("search: bm25");
    let mut texts = Texts::new(run);
    let mut scored: HashMap<u32, Scored> = HashMap::new();
    for hit in name_hits {
        let node = hit.doc;
        let Some(n) = graph.nodes.get(node as usize) else {
            continue;
        };
        if !parsed.phrases.is_empty() {
            let haystack = crate::index::stage::searchable_name(
                n,
                n.doc.and_then(|d| view.doc_extraction(d).ok()),
            );
            if !parsed.phrases.iter().all(|p| contains_phrase(&haystack, p)) {
                continue;
            }
        }
        let entry = scored.entry(node).or_insert_with(|| Scored {
            name: 0.0,
            chunk: 0.0,
            terms: BTreeSet::new(),
            chunks: Vec::new(),
        });
        entry.name = f64::from(hit.score);
        entry.terms.extend(hit.matched_terms);
    }
    for hit in chunk_hits {
        let Some(&(doc, order)) = index.chunk_table.get(hit.doc as usize) else {
            continue;
        };
        if !parsed.phrases.is_empty() {
            let t = texts.chunk_text(doc, order)?;
            if !parsed.phrases.iter().all(|p| contains_phrase(&t, p)) {
                continue;
            }
        }
        let Some(gdoc) = graph.docs.get(doc as usize) else {
            continue;
        };
        let entry = scored.entry(gdoc.note).or_insert_with(|| Scored {
            name: 0.0,
            chunk: 0.0,
            terms: BTreeSet::new(),
            chunks: Vec::new(),
        });
        entry.terms.extend(hit.matched_terms.iter().cloned());
        let best = hit
            .term_scores
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            .map(|t| t.0.clone())
            .unwrap_or_default();
        entry
            .chunks
            .push((hit.doc, f64::from(hit.score), hit.matched_terms, best));
    }
    for s in scored.values_mut() {
        s.chunks
            .sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        s.chunk = s.chunks.first().map(|c| c.1).unwrap_or(0.0);
    }

    timer.lap("search: score");
    let candidates: Vec<u32> = scored.keys().copied().collect();
    let kept = filter(view, candidates, sel)?;
    let total = kept.len();
    let score_of = |node: &u32| {
        scored
            .get(node)
            .map(|s| round(s.name + s.chunk, score_rounding))
            .unwrap_or(0.0)
    };
    let (page, truncated) = if sel.sort.is_some() {
        let (page, _, truncated) = order_and_page(view, kept, sel)?;
        (page, truncated)
    } else {
        let ids = crate::query::select::ids_of(view, &kept);
        let mut ranked = kept;
        ranked.sort_by(|a, b| {
            score_of(b)
                .total_cmp(&score_of(a))
                .then_with(|| ids[a].cmp(&ids[b]))
        });
        sel.page.apply(ranked)
    };

    timer.lap("search: filter and rank");
    let snippet_docs: BTreeSet<u32> = page
        .iter()
        .filter_map(|node| scored.get(node))
        .flat_map(|s| s.chunks.iter().take(SNIPPETS_PER_RESULT))
        .filter_map(|(chunk, ..)| index.chunk_table.get(*chunk as usize))
        .map(|&(doc, _)| doc)
        .collect();
    texts.prefetch(&snippet_docs)?;
    let mut results = Vec::with_capacity(page.len());
    for node in page {
        let n = &graph.nodes[node as usize];
        let s = &scored[&node];
        let mut snippets = Vec::new();
        for (chunk, score, terms, best) in s.chunks.iter().take(SNIPPETS_PER_RESULT) {
            let Some(&(doc, order)) = index.chunk_table.get(*chunk as usize) else {
                continue;
            };
            let gdoc = &graph.docs[doc as usize];
            let Some(c) = view.doc_extraction(doc)?.chunks.get(order as usize) else {
                continue;
            };
            let text = texts.chunk_text(doc, order)?;
            snippets.push(Snippet {
                chunk_id: c.id.clone(),
                document_id: document_id(&gdoc.path),
                source_path: gdoc.path.clone(),
                source_hash: view.source_hash(doc).to_string(),
                line_start: c.line_start,
                line_end: c.line_end,
                score: round(*score, score_rounding),
                matched_terms: terms.clone(),
                text: snippet(&text, &focus_of(&parsed.phrases, best)),
            });
        }
        let id = view.node_id(node).to_string();
        results.push(SearchHit {
            id: id.clone(),
            kind: n.kind.type_name().to_string(),
            name: n.name.clone(),
            score: score_of(&node),
            source_path: n.doc.map(|d| graph.docs[d as usize].path.clone()),
            snippets,
            explanation: Explanation {
                matched_terms: s.terms.iter().cloned().collect(),
                bm25_score: score_of(&node),
                name_score: round(s.name, score_rounding),
                chunk_score: round(s.chunk, score_rounding),
                tie_break: id,
            },
        });
    }
    timer.lap("search: snippets");
    Ok(SearchResult {
        query: text.to_string(),
        terms: parsed.terms,
        phrases: parsed.phrases,
        results,
        total_count: total,
        limit: sel.page.limit,
        offset: sel.page.offset,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_terms_and_phrases() {
        let q = parse_query(r#"connection "pool exhaustion" Pool"#);
        assert_eq!(q.terms, vec!["connection", "pool", "exhaustion"]);
        assert_eq!(
            q.phrases,
            vec![vec!["pool".to_string(), "exhaustion".to_string()]]
        );
        let unclosed = parse_query(r#"a "b c"#);
        assert_eq!(
            unclosed.phrases,
            vec![vec!["b".to_string(), "c".to_string()]]
        );
        assert!(parse_query("  ").terms.is_empty());
    }

    #[test]
    fn phrases_need_consecutive_tokens() {
        let p = vec!["pool".to_string(), "exhaustion".to_string()];
        assert!(contains_phrase("found connection-Pool exhaustion here", &p));
        assert!(!contains_phrase("pool of exhaustion", &p));
    }

    #[test]
    fn snippets_center_on_the_match() {
        let text = format!("{} needle {}", "word ".repeat(100), "tail ".repeat(100));
        let s = snippet(&text, &["needle".to_string()]);
        let p = snippet(&text, &["needle".to_string(), "tail".to_string()]);
        assert!(p.contains("needle tail"));
        assert!(s.starts_with('…'));
        assert!(s.contains("needle"));
        assert!(s.chars().count() <= SNIPPET_CHARS + 2);
    }
}
