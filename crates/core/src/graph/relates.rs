//! `relates_to` (`link.cooccurrence.v1`, heuristic): notes sharing a
//! technology that at most `max_document_frequency` notes mention.
//!
//! Each note ranks the other notes it shares such technologies with (most
//! shared first, then the other note's id) and keeps its
//! `max_related_per_note` first; a pair is an edge when either note keeps
//! the other. The edge goes from the smaller id to the larger; its
//! confidence is the number of shared technologies divided by the smaller
//! note's count of technologies (all of them, rare or not).
//!
//! Everything here is a function of three questions a [`CoSource`]
//! answers: which technologies a note mentions, which notes mention a
//! technology, and how many technologies a note mentions. The whole graph
//! answers them from memory; the link stage answers them from the pieces of
//! a run, for the few notes an edit concerns.

use crate::config::Cooccurrence;
use crate::error::Result;
use std::collections::BTreeMap;

/// Answers what `relates_to` needs to know.
pub trait CoSource: Sync {
    /// The technologies (tokens) a note mentions, sorted.
    fn techs_of(&self, note: &str) -> Result<Vec<String>>;
    /// How many notes mention a technology.
    fn doc_frequency(&self, token: &str) -> Result<usize>;
    /// The notes (paths) that mention a technology, sorted.
    fn notes_of(&self, token: &str) -> Result<Vec<String>>;
}

/// A note's entity id (`ent_` + SHA-256 of `note:<path>`).
pub fn note_id(path: &str) -> String {
    crate::graph::model::entity_id(&format!("note:{path}"))
}

/// Another note sharing rare technologies with a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub other: String,
    /// Shared technologies (tokens), sorted.
    pub shared: Vec<String>,
}

/// Every other note sharing a rare technology with `note`, best first (most
/// shared, then the other note's id).
pub fn candidates(
    source: &dyn CoSource,
    note: &str,
    rule: &Cooccurrence,
) -> Result<Vec<Candidate>> {
    let mut shared: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for token in source.techs_of(note)? {
        let df = source.doc_frequency(&token)?;
        if df < 2 || df > rule.max_document_frequency as usize {
            continue;
        }
        for other in source.notes_of(&token)? {
            if other != note {
                shared.entry(other).or_default().push(token.clone());
            }
        }
    }
    let mut out: Vec<(String, Candidate)> = shared
        .into_iter()
        .map(|(other, mut shared)| {
            shared.sort();
            (note_id(&other), Candidate { other, shared })
        })
        .collect();
    out.sort_by(|(a_id, a), (b_id, b)| {
        b.shared
            .len()
            .cmp(&a.shared.len())
            .then_with(|| a_id.cmp(b_id))
    });
    Ok(out.into_iter().map(|(_, c)| c).collect())
}

/// The notes `note` keeps (its first `max_related_per_note` candidates).
pub fn kept(candidates: &[Candidate], rule: &Cooccurrence) -> Vec<String> {
    candidates
        .iter()
        .take(rule.max_related_per_note as usize)
        .map(|c| c.other.clone())
        .collect()
}

/// One `relates_to` edge, from the note with the smaller id.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    pub from: String,
    pub to: String,
    /// Shared technologies (tokens), sorted.
    pub shared: Vec<String>,
    pub confidence: f32,
}

/// The edge between `a` and `b` sharing `shared`, given each note's count
/// of technologies.
pub fn relation(a: &str, b: &str, shared: Vec<String>, techs_a: u32, techs_b: u32) -> Relation {
    let (from, to) = if note_id(a) <= note_id(b) {
        (a, b)
    } else {
        (b, a)
    };
    Relation {
        from: from.to_string(),
        to: to.to_string(),
        confidence: confidence(shared.len(), techs_a, techs_b),
        shared,
    }
}

/// The confidence of an edge sharing `shared` technologies between notes
/// mentioning `techs_a` and `techs_b`: the share of the smaller note's
/// technologies the two have in common.
pub fn confidence(shared: usize, techs_a: u32, techs_b: u32) -> f32 {
    shared as f32 / techs_a.min(techs_b).max(1) as f32
}

/// Every `relates_to` edge of a whole graph: `notes` with their counts of
/// technologies, in any order.
pub fn all(
    source: &dyn CoSource,
    notes: &[(String, u32)],
    rule: &Cooccurrence,
) -> Result<Vec<Relation>> {
    if !rule.enabled {
        return Ok(Vec::new());
    }
    use rayon::prelude::*;
    let counts: std::collections::HashMap<&str, u32> =
        notes.iter().map(|(n, c)| (n.as_str(), *c)).collect();
    let per_note: Vec<(String, Vec<Candidate>)> = notes
        .par_iter()
        .filter(|(_, c)| *c > 0)
        .map(|(note, _)| Ok((note.clone(), candidates(source, note, rule)?)))
        .collect::<Result<_>>()?;
    let mut pairs: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (note, cands) in &per_note {
        for c in cands.iter().take(rule.max_related_per_note as usize) {
            let key = if note < &c.other {
                (note.clone(), c.other.clone())
            } else {
                (c.other.clone(), note.clone())
            };
            pairs.entry(key).or_insert_with(|| c.shared.clone());
        }
    }
    Ok(pairs
        .into_iter()
        .map(|((a, b), shared)| {
            let ta = counts.get(a.as_str()).copied().unwrap_or(0);
            let tb = counts.get(b.as_str()).copied().unwrap_or(0);
            relation(&a, &b, shared, ta, tb)
        })
        .collect())
}
