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
use crate::graph::model::NodeKind;
use crate::graph::view::GraphView;
use crate::index::stage::{SearchDocView, SearchPieceView, TechSearchPieceView};
use crate::index::{Bm25Index, CorpusStats, TermHit, for_each_token, tokenize};
use crate::ingest::document::{Citation, CitationUnit};
use crate::ingest::document::{DocumentRecord, document_id};
use crate::query::load::RunPieces;
use crate::query::select::{Selection, filter, order_and_page, parse_types};
use crate::store::piece::{self, PieceKind};
use foldhash::HashMap;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeSet;

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

/// The citation when it counts `unit`.
fn cited(citation: Option<Citation>, unit: CitationUnit) -> Option<Citation> {
    citation.filter(|c| c.unit == unit)
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
    /// Pages of a PDF chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_start: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_end: Option<u32>,
    /// Paragraphs of a DOCX chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paragraph_start: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paragraph_end: Option<u32>,
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
    /// The note's own sections that matched, folded under it (best first;
    /// absent when none, or when sections were asked for with `--type`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<FoldedSection>,
    pub explanation: Explanation,
}

/// A section folded under its note's hit.
#[derive(Debug, Clone, Serialize)]
pub struct FoldedSection {
    pub id: String,
    pub name: String,
    pub name_score: f64,
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

/// An entity a query found: in a document shard's search piece (the
/// document's position in it, and the entity's local number), or a
/// technology (its shard and position in its search piece).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Handle {
    Doc { shard: u8, doc: u32, local: u32 },
    Tech { shard: u8, local: u32 },
}

/// A matching chunk: shard, document, chunk order, score, matched terms
/// (bits of the query's sorted distinct terms), strongest term (position).
type ChunkHit = (u8, u32, u32, f64, u64, u8);

struct Scored {
    name: f64,
    chunk: f64,
    /// Matched terms, as bits of the query's sorted distinct terms.
    terms: u64,
    /// Best first.
    chunks: Vec<ChunkHit>,
    /// A note's own sections that matched, folded under it, with their
    /// name scores (best first once folded).
    sections: Vec<(Handle, f64)>,
}

impl Scored {
    fn new() -> Scored {
        Scored {
            name: 0.0,
            chunk: 0.0,
            terms: 0,
            chunks: Vec::new(),
            sections: Vec::new(),
        }
    }
}

/// Folds every matched section into its note's hit: the note takes the
/// section's terms and, if higher, its name score, and lists the section
/// (best first); the section is no longer a hit of its own. A person
/// looking for a topic wants the page once, with the part that matched.
fn fold_sections(all: &Searchable, scored: &mut HashMap<Handle, Scored>) {
    let mut sections: Vec<Handle> = scored
        .keys()
        .copied()
        .filter(|h| kind_of(all, *h) == NodeKind::Section)
        .collect();
    sections.sort_unstable();
    for section in sections {
        let Handle::Doc { shard, doc, .. } = section else {
            continue;
        };
        let Some(hit) = scored.remove(&section) else {
            continue;
        };
        let note = scored
            .entry(Handle::Doc {
                shard,
                doc,
                local: 0,
            })
            .or_insert_with(Scored::new);
        note.terms |= hit.terms;
        note.name = note.name.max(hit.name);
        note.sections.push((section, hit.name));
    }
    for s in scored.values_mut() {
        s.sections
            .sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    }
}

/// The search pieces of a run, read (views into their bytes).
struct Searchable<'a> {
    docs: Vec<(u8, SearchPieceView<'a>)>,
    techs: Vec<(u8, TechSearchPieceView<'a>)>,
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

/// Runs a query over every search piece of a run, with the statistics of
/// the whole run.
pub fn search(
    pieces: &RunPieces,
    config: &crate::config::LoadedConfig,
    text: &str,
    sel: &Selection,
    score_rounding: f64,
) -> Result<SearchResult> {
    let layout = &pieces.reader.layout;
    let parsed = parse_query(text);
    let corrupt = |e: crate::index::IndexError| {
        Error::corrupt(layout.dir.clone(), format!("unreadable index: {e}"))
    };
    let mut timer = crate::progress::Timer::start();
    let search_table = pieces.table(PieceKind::Search)?;
    let tech_table = pieces.table(PieceKind::TechSearch)?;
    let read = |table: &crate::store::table::ShardTable| -> Result<Vec<(u8, Vec<u8>)>> {
        table
            .pieces()
            .collect::<Vec<_>>()
            .par_iter()
            .map(|(s, id)| Ok((*s, piece::read_payload(layout, *id)?)))
            .collect()
    };
    let (doc_bytes, tech_bytes) = rayon::join(|| read(&search_table), || read(&tech_table));
    let (doc_bytes, tech_bytes) = (doc_bytes?, tech_bytes?);
    let origin = |id: Option<crate::store::id::ObjectId>| {
        layout
            .dir
            .join(id.map(|i| i.rel_path()).unwrap_or_default())
    };
    let all = Searchable {
        docs: doc_bytes
            .par_iter()
            .map(|(s, bytes)| {
                Ok((
                    *s,
                    piece::decode(PieceKind::Search, bytes, &origin(search_table.get(*s)))?,
                ))
            })
            .collect::<Result<_>>()?,
        techs: tech_bytes
            .par_iter()
            .map(|(s, bytes)| {
                Ok((
                    *s,
                    piece::decode(PieceKind::TechSearch, bytes, &origin(tech_table.get(*s)))?,
                ))
            })
            .collect::<Result<_>>()?,
    };
    timer.lap("search: read pieces");
    let require_all = !parsed.phrases.is_empty();
    // Open every index and sum the statistics.
    let doc_names: Vec<Bm25Index<'_>> = all
        .docs
        .iter()
        .map(|(_, p)| Bm25Index::open(p.names))
        .collect::<std::result::Result<_, _>>()
        .map_err(corrupt)?;
    let doc_chunks: Vec<Bm25Index<'_>> = all
        .docs
        .iter()
        .map(|(_, p)| Bm25Index::open(p.chunks))
        .collect::<std::result::Result<_, _>>()
        .map_err(corrupt)?;
    let tech_names: Vec<Bm25Index<'_>> = all
        .techs
        .iter()
        .map(|(_, p)| Bm25Index::open(p.names))
        .collect::<std::result::Result<_, _>>()
        .map_err(corrupt)?;
    let mut name_indexes: Vec<Bm25Index<'_>> = doc_names.clone();
    name_indexes.extend(tech_names.iter().cloned());
    let name_stats = CorpusStats::sum(&name_indexes, &parsed.terms).map_err(corrupt)?;
    let chunk_stats = CorpusStats::sum(&doc_chunks, &parsed.terms).map_err(corrupt)?;
    // The query's distinct terms in order: hits name them by position.
    let mut terms: Vec<&str> = parsed.terms.iter().map(String::as_str).collect();
    terms.sort_unstable();
    terms.dedup();
    let terms = &terms[..terms.len().min(64)];
    type Found = (Vec<(Handle, TermHit)>, Vec<(u8, u32, u32, TermHit)>);
    let found: Vec<std::result::Result<Found, crate::index::IndexError>> = (0..all.docs.len())
        .into_par_iter()
        .map(|i| {
            let (shard, piece) = &all.docs[i];
            let entities = piece.entity_table();
            let chunk_table = piece.chunk_table();
            let names = doc_names[i]
                .search_terms(terms, require_all, &name_stats)?
                .into_iter()
                .filter_map(|h| {
                    let &(doc, local) = entities.get(h.doc as usize)?;
                    Some((
                        Handle::Doc {
                            shard: *shard,
                            doc,
                            local,
                        },
                        h,
                    ))
                })
                .collect();
            let chunks = doc_chunks[i]
                .search_terms(terms, require_all, &chunk_stats)?
                .into_iter()
                .filter_map(|h| {
                    let &(doc, order) = chunk_table.get(h.doc as usize)?;
                    Some((*shard, doc, order, h))
                })
                .collect();
            Ok((names, chunks))
        })
        .collect();
    let tech_found: Vec<std::result::Result<Vec<(Handle, TermHit)>, crate::index::IndexError>> = (0
        ..all.techs.len())
        .into_par_iter()
        .map(|i| {
            let shard = all.techs[i].0;
            Ok(tech_names[i]
                .search_terms(terms, require_all, &name_stats)?
                .into_iter()
                .map(|h| {
                    (
                        Handle::Tech {
                            shard,
                            local: h.doc,
                        },
                        h,
                    )
                })
                .collect())
        })
        .collect();
    timer.lap("search: bm25");

    let mut texts = DocumentTexts::new(pieces);
    let mut scored: HashMap<Handle, Scored> = HashMap::default();
    let mut name_hits: Vec<(Handle, TermHit)> = Vec::new();
    let mut chunk_hits: Vec<(u8, u32, u32, TermHit)> = Vec::new();
    for f in found {
        let (n, c) = f.map_err(corrupt)?;
        name_hits.extend(n);
        chunk_hits.extend(c);
    }
    for f in tech_found {
        name_hits.extend(f.map_err(corrupt)?);
    }
    for (handle, hit) in name_hits {
        if !parsed.phrases.is_empty() {
            let haystack = searchable_text(pieces, &all, handle)?;
            if !parsed.phrases.iter().all(|p| contains_phrase(&haystack, p)) {
                continue;
            }
        }
        let entry = scored.entry(handle).or_insert_with(Scored::new);
        entry.name = f64::from(hit.score);
        entry.terms |= hit.terms;
    }
    for (shard, doc, order, hit) in chunk_hits {
        if !parsed.phrases.is_empty() {
            let path = &all_doc(&all, shard, doc).path;
            let t = texts.chunk_text(path, order)?;
            if !parsed.phrases.iter().all(|p| contains_phrase(&t, p)) {
                continue;
            }
        }
        let entry = scored
            .entry(Handle::Doc {
                shard,
                doc,
                local: 0,
            })
            .or_insert_with(Scored::new);
        entry.terms |= hit.terms;
        entry.chunks.push((
            shard,
            doc,
            order,
            f64::from(hit.score),
            hit.terms,
            hit.best().unwrap_or(0),
        ));
    }
    for s in scored.values_mut() {
        // Best first; ties in chunk order (the whole-run chunk number
        // order is shard-independent: by document path, then order).
        s.chunks.sort_by(|a, b| {
            b.3.total_cmp(&a.3)
                .then_with(|| {
                    all_doc(&all, a.0, a.1)
                        .path
                        .cmp(all_doc(&all, b.0, b.1).path)
                })
                .then(a.2.cmp(&b.2))
        });
        s.chunk = s.chunks.first().map(|c| c.3).unwrap_or(0.0);
    }
    timer.lap("search: score");

    let kinds = parse_types(&sel.types)?;
    // Sections are hits of their own only when asked for: by type, or by a
    // filter on entity fields (a section's level, say).
    if kinds.is_empty() && sel.wheres.is_empty() {
        fold_sections(&all, &mut scored);
    }
    let score_of = |h: &Handle| {
        scored
            .get(h)
            .map(|s| round(s.name + s.chunk, score_rounding))
            .unwrap_or(0.0)
    };
    let candidates: Vec<Handle> = scored
        .keys()
        .copied()
        .filter(|h| kinds.is_empty() || kinds.contains(&kind_of(&all, *h)))
        .collect();
    let (page, total, truncated, view, nodes) = if !sel.wheres.is_empty() || sel.sort.is_some() {
        // Filters and sort fields look at whole entities: put the
        // candidates' part of the graph together.
        let (view, nodes) = graph_of(pieces, config, &all, &candidates)?;
        let node_of: HashMap<Handle, u32> = candidates.iter().copied().zip(nodes).collect();
        let by_node: HashMap<u32, Handle> = node_of.iter().map(|(h, n)| (*n, *h)).collect();
        let kept = filter(
            &view,
            candidates
                .iter()
                .filter_map(|h| node_of.get(h).copied())
                .collect(),
            sel,
        )?;
        let total = kept.len();
        let (page, truncated) = if sel.sort.is_some() {
            let (page, _, truncated) = order_and_page(&view, kept, sel)?;
            (page, truncated)
        } else {
            let ids = crate::query::select::ids_of(&view, &kept);
            let mut ranked = kept;
            ranked.sort_by(|a, b| {
                score_of(&by_node[b])
                    .total_cmp(&score_of(&by_node[a]))
                    .then_with(|| ids[a].cmp(&ids[b]))
            });
            sel.page.apply(ranked)
        };
        let handles: Vec<Handle> = page.iter().map(|n| by_node[n]).collect();
        (handles, total, truncated, view, page)
    } else {
        let total = candidates.len();
        // By score; ties by id, computed only where a tie meets the page.
        // Only the candidates up to the page's end are put in order.
        let mut keyed: Vec<(f64, Handle)> = candidates.iter().map(|h| (score_of(h), *h)).collect();
        let order = |a: &(f64, Handle), b: &(f64, Handle)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        let wanted = match sel.page.limit {
            Some(limit) => sel.page.offset.saturating_add(limit).saturating_add(1),
            None => keyed.len(),
        };
        if wanted < keyed.len() {
            keyed.select_nth_unstable_by(wanted, order);
            // Everything tied with the last kept score stays in the window.
            let last = keyed[wanted].0;
            let (head, tail) = keyed.split_at_mut(wanted + 1);
            let mut kept: Vec<(f64, Handle)> = head.to_vec();
            kept.extend(tail.iter().filter(|k| k.0 == last).copied());
            keyed = kept;
        }
        keyed.sort_unstable_by(order);
        let candidates: Vec<Handle> = keyed.into_iter().map(|(_, h)| h).collect();
        let start = sel.page.offset.min(candidates.len());
        let end = match sel.page.limit {
            Some(limit) => (start + limit).min(candidates.len()),
            None => candidates.len(),
        };
        let mut lo = start;
        while lo > 0
            && score_of(&candidates[lo - 1])
                == score_of(&candidates[start.min(candidates.len().saturating_sub(1))])
        {
            lo -= 1;
        }
        let mut hi = end;
        while hi > 0
            && hi < candidates.len()
            && score_of(&candidates[hi]) == score_of(&candidates[hi - 1])
        {
            hi += 1;
        }
        let window: Vec<Handle> = candidates[lo..hi].to_vec();
        let ids = ids_of_handles(pieces, &all, &window)?;
        let mut window = window;
        window.sort_by(|a, b| {
            score_of(b)
                .total_cmp(&score_of(a))
                .then_with(|| ids[a].cmp(&ids[b]))
        });
        let page: Vec<Handle> = window[start - lo..end - lo].to_vec();
        let truncated = end < candidates.len();
        let (view, nodes) = graph_of(pieces, config, &all, &page)?;
        (page, total, truncated, view, nodes)
    };
    timer.lap("search: filter and rank");

    // The folded sections of the page's hits: their ids and names.
    let folded: Vec<Handle> = page
        .iter()
        .flat_map(|h| scored[h].sections.iter().map(|(s, _)| *s))
        .collect();
    let section_ids = ids_of_handles(pieces, &all, &folded)?;
    let section_names: HashMap<Handle, String> = folded
        .iter()
        .map(|h| Ok((*h, section_name(pieces, &all, *h)?)))
        .collect::<Result<_>>()?;
    let mut results = Vec::with_capacity(page.len());
    for (handle, node) in page.iter().zip(&nodes) {
        let n = &view.graph.nodes[*node as usize];
        let s = &scored[handle];
        let mut snippets = Vec::new();
        for (shard, doc, order, score, matched, best) in s.chunks.iter().take(SNIPPETS_PER_RESULT) {
            let path = &all_doc(&all, *shard, *doc).path;
            let Some(source) = pieces.doc_source(path)? else {
                continue;
            };
            let extraction = &source.group.documents[source.index];
            let Some(c) = extraction.chunks.get(*order as usize) else {
                continue;
            };
            let text = texts.chunk_text(path, *order)?;
            snippets.push(Snippet {
                chunk_id: c.id.clone(),
                document_id: document_id(path),
                source_path: path.to_string(),
                source_hash: pieces.source_hash(path)?,
                line_start: c.line_start,
                line_end: c.line_end,
                page_start: cited(c.citation, CitationUnit::Page).map(|c| c.start),
                page_end: cited(c.citation, CitationUnit::Page).map(|c| c.end),
                paragraph_start: cited(c.citation, CitationUnit::Paragraph).map(|c| c.start),
                paragraph_end: cited(c.citation, CitationUnit::Paragraph).map(|c| c.end),
                score: round(*score, score_rounding),
                matched_terms: term_names(terms, *matched),
                text: snippet(
                    &text,
                    &focus_of(
                        &parsed.phrases,
                        terms.get(*best as usize).copied().unwrap_or(""),
                    ),
                ),
            });
        }
        let id = view.node_id(*node).to_string();
        results.push(SearchHit {
            id: id.clone(),
            kind: n.kind.type_name().to_string(),
            name: n.name.clone(),
            score: score_of(handle),
            source_path: n.doc.map(|d| view.graph.docs[d as usize].path.clone()),
            snippets,
            sections: s
                .sections
                .iter()
                .map(|(h, score)| FoldedSection {
                    id: section_ids.get(h).cloned().unwrap_or_default(),
                    name: section_names.get(h).cloned().unwrap_or_default(),
                    name_score: round(*score, score_rounding),
                })
                .collect(),
            explanation: Explanation {
                matched_terms: term_names(terms, s.terms),
                bm25_score: score_of(handle),
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

/// The terms a bit set names (see [`Scored::terms`]), in order.
fn term_names(terms: &[&str], bits: u64) -> Vec<String> {
    terms
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, t)| t.to_string())
        .collect()
}

fn all_doc<'a>(all: &'a Searchable<'_>, shard: u8, doc: u32) -> &'a SearchDocView<'a> {
    let at = all
        .docs
        .binary_search_by_key(&shard, |(s, _)| *s)
        .unwrap_or(0);
    &all.docs[at].1.docs[doc as usize]
}

/// The kind of entity a handle names.
fn kind_of(all: &Searchable, h: Handle) -> NodeKind {
    match h {
        Handle::Tech { .. } => NodeKind::Technology,
        Handle::Doc {
            shard, doc, local, ..
        } => {
            let d = all_doc(all, shard, doc);
            if local == 0 {
                NodeKind::Note
            } else if local <= d.sections {
                NodeKind::Section
            } else {
                NodeKind::Reference
            }
        }
    }
}

/// The token of a technology hit: its entry in the technologies piece of
/// the same shard.
fn token_of(pieces: &RunPieces, shard: u8, local: u32) -> Result<String> {
    Ok(pieces
        .tech_shard(shard)?
        .get(local as usize)
        .map(|e| e.token())
        .unwrap_or_default())
}

/// The text a handle's name index entry was made from (for phrases).
fn searchable_text(pieces: &RunPieces, all: &Searchable, h: Handle) -> Result<String> {
    match h {
        Handle::Tech { shard, local } => Ok(pieces
            .tech(&token_of(pieces, shard, local)?)?
            .map(|e| e.surface().to_string())
            .unwrap_or_default()),
        Handle::Doc { shard, doc, local } => {
            let path = &all_doc(all, shard, doc).path;
            let Some(source) = pieces.doc_source(path)? else {
                return Ok(String::new());
            };
            let x = &source.group.documents[source.index];
            let part = crate::graph::local::doc_graph(x, &[]);
            Ok(part
                .nodes
                .get(local as usize)
                .map(|n| crate::index::stage::searchable_name(n, Some(x)))
                .unwrap_or_default())
        }
    }
}

/// The name of a document's entity (a section's title).
fn section_name(pieces: &RunPieces, all: &Searchable, h: Handle) -> Result<String> {
    let Handle::Doc { shard, doc, local } = h else {
        return Ok(String::new());
    };
    let path = &all_doc(all, shard, doc).path;
    Ok(pieces
        .doc_source(path)?
        .and_then(|s| {
            let part = crate::graph::local::doc_graph(&s.group.documents[s.index], &[]);
            part.nodes.get(local as usize).map(|n| n.name.clone())
        })
        .unwrap_or_default())
}

/// The entity ids of some handles.
fn ids_of_handles(
    pieces: &RunPieces,
    all: &Searchable,
    handles: &[Handle],
) -> Result<HashMap<Handle, String>> {
    handles
        .par_iter()
        .map(|h| {
            let id = match *h {
                Handle::Tech { shard, local } => format!(
                    "ent_{}",
                    hex::encode(crate::link::entries::tech_digest(&token_of(
                        pieces, shard, local
                    )?))
                ),
                Handle::Doc { shard, doc, local } => {
                    let path = &all_doc(all, shard, doc).path;
                    if local == 0 {
                        crate::graph::model::entity_id(&format!("note:{path}"))
                    } else {
                        let source = pieces.doc_source(path)?;
                        let node = source.and_then(|s| {
                            let part =
                                crate::graph::local::doc_graph(&s.group.documents[s.index], &[]);
                            part.nodes.get(local as usize).cloned()
                        });
                        match node {
                            Some(n) => format!(
                                "ent_{}",
                                hex::encode(crate::graph::model::node_digest(path, &n))
                            ),
                            None => String::new(),
                        }
                    }
                }
            };
            Ok((*h, id))
        })
        .collect()
}

/// The part of the graph holding some handles, and their node numbers.
fn graph_of(
    pieces: &RunPieces,
    config: &crate::config::LoadedConfig,
    all: &Searchable,
    handles: &[Handle],
) -> Result<(GraphView, Vec<u32>)> {
    let mut docs = BTreeSet::new();
    let mut techs = BTreeSet::new();
    for h in handles {
        match *h {
            Handle::Doc { shard, doc, .. } => {
                docs.insert(all_doc(all, shard, doc).path.to_string());
            }
            Handle::Tech { shard, local } => {
                techs.insert(token_of(pieces, shard, local)?);
            }
        }
    }
    // A technology's details name the documents that mention it.
    for t in &techs {
        if let Some(entry) = pieces.tech(t)? {
            docs.extend(entry.docs.iter().map(|d| d.path.clone()));
        }
    }
    // A reference's details name its target document.
    for h in handles {
        if let Handle::Doc { shard, doc, local } = *h
            && local > all_doc(all, shard, doc).sections
        {
            let path = &all_doc(all, shard, doc).path;
            if let Some(part) = pieces.doc_part(path)? {
                docs.extend(part.targets.iter().flatten().cloned());
            }
        }
    }
    let view = pieces.subgraph(&docs, &techs, &config.profile().linking.cooccurrence)?;
    let doc_index: HashMap<&str, u32> = view
        .graph
        .docs
        .iter()
        .enumerate()
        .map(|(i, d)| (d.path.as_str(), i as u32))
        .collect();
    // Each document's first section or reference node, and each
    // technology's node.
    let mut first_local: Vec<Option<u32>> = vec![None; view.graph.docs.len()];
    let mut tech_node: HashMap<String, u32> = HashMap::default();
    for (i, n) in view.graph.nodes.iter().enumerate() {
        match n.doc {
            Some(d) if n.kind != NodeKind::Note => {
                if let Some(slot) = first_local.get_mut(d as usize)
                    && slot.is_none()
                {
                    *slot = Some(i as u32);
                }
            }
            None => {
                tech_node.insert(crate::graph::build::technology_token(&n.name), i as u32);
            }
            _ => {}
        }
    }
    let nodes = handles
        .iter()
        .map(|h| -> Result<u32> {
            Ok(match *h {
                Handle::Doc { shard, doc, local } => {
                    let path = all_doc(all, shard, doc).path;
                    let d = doc_index.get(path).copied().unwrap_or(0);
                    match first_local.get(d as usize).copied().flatten() {
                        Some(first) if local > 0 => first + local - 1,
                        _ => d,
                    }
                }
                Handle::Tech { shard, local } => tech_node
                    .get(&token_of(pieces, shard, local)?)
                    .copied()
                    .unwrap_or(0),
            })
        })
        .collect::<Result<_>>()?;
    Ok((view, nodes))
}

/// Documents of a run (their text and chunks), read a documents piece at
/// a time.
pub struct DocumentTexts<'a> {
    pieces: &'a RunPieces,
    shards: HashMap<u8, Vec<DocumentRecord>>,
}

impl<'a> DocumentTexts<'a> {
    pub fn new(pieces: &'a RunPieces) -> DocumentTexts<'a> {
        DocumentTexts {
            pieces,
            shards: HashMap::default(),
        }
    }

    /// The parsed document at `path`, `None` if the run has none there.
    pub fn document(&mut self, path: &str) -> Result<Option<&DocumentRecord>> {
        let table = self.pieces.table(PieceKind::Documents)?;
        let shard = table.shard(crate::store::table::document_byte(path));
        if !self.shards.contains_key(&shard) {
            let docs = match table.get(shard) {
                Some(id) => {
                    let records = self.pieces.records(shard)?;
                    crate::ingest::read_documents(&self.pieces.reader.layout, id, &records)?
                }
                None => Vec::new(),
            };
            self.shards.insert(shard, docs);
        }
        let docs = &self.shards[&shard];
        Ok(docs
            .binary_search_by(|d| d.path.as_str().cmp(path))
            .ok()
            .map(|i| &docs[i]))
    }

    fn chunk_text(&mut self, path: &str, order: u32) -> Result<String> {
        Ok(self
            .document(path)?
            .and_then(|d| {
                d.chunks
                    .get(order as usize)
                    .map(|c| d.chunk_text(c).to_string())
            })
            .unwrap_or_default())
    }
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
