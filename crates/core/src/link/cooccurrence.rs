//! `relates_to` in the link stage: computed again for the notes an edit
//! concerns (the changed notes, and every note of a technology whose notes
//! changed), with the rule of [`crate::graph::relates`]. Every other note
//! keeps its candidates and the notes it keeps, so its stored edges stand,
//! but for those with a recomputed note, which are brought up to date.
//!
//! A cold run recomputes every note: paths and technologies are numbered
//! once (interned) and each rare technology's notes are listed once, so
//! the work and the memory grow with the number of candidate pairs, not
//! with copies of their names.

use super::entries::{NoteLinks, Related, TechEntry, tech_prefix};
use super::sharded::Sharded;
use crate::config::Cooccurrence;
use crate::error::Result;
use crate::graph::local::DocGraph;
use crate::graph::relates;
use foldhash::HashMap;
use rayon::prelude::*;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

/// Paths (or tokens) numbered in the order they are first seen.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(name.to_string(), id);
        self.names.push(name.to_string());
        id
    }

    fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

/// Another note sharing rare technologies with a note (numbered).
struct Candidate {
    other: u32,
    /// Shared technologies, in token order.
    shared: Vec<u32>,
}

/// What [`relate`] needs besides the pieces it updates.
pub(super) struct RelateRequest<'a> {
    pub rule: &'a Cooccurrence,
    /// The notes whose extraction changed, with their technologies now
    /// (`None`: the note left the run).
    pub changed: &'a [(&'a str, Option<Vec<String>>)],
    /// Technologies some note started or stopped mentioning.
    pub membership_changed: &'a BTreeSet<String>,
    /// An unchanged note's part (for its technologies).
    pub part_of: &'a (dyn Fn(&str) -> Result<Option<DocGraph>> + Sync),
}

/// Brings the `relates_to` edges of the notes `req` concerns up to date in
/// `links`; returns the change in the number of edges.
pub(super) fn relate(
    req: &RelateRequest<'_>,
    techs: &mut Sharded<TechEntry>,
    links: &mut Sharded<NoteLinks>,
) -> Result<i64> {
    let rule = req.rule;
    let mut paths = Interner::default();
    let mut tokens = Interner::default();

    // The notes to compute again, and their technologies: changed notes'
    // from their new part, the others' from their extraction.
    let mut recompute: BTreeSet<String> = req.changed.iter().map(|(p, _)| p.to_string()).collect();
    for token in req.membership_changed {
        if let Some(entry) = techs.get(token)? {
            recompute.extend(entry.docs.iter().map(|d| d.path.clone()));
        }
    }
    links.preload_keys(recompute.iter())?;
    let new_techs: BTreeMap<&str, &Option<Vec<String>>> =
        req.changed.iter().map(|(p, t)| (*p, t)).collect();
    let others: Vec<&String> = recompute
        .iter()
        .filter(|p| !new_techs.contains_key(p.as_str()))
        .collect();
    let computed: Vec<Option<Vec<String>>> = others
        .par_iter()
        .map(|p| Ok((req.part_of)(p)?.map(|g| g.techs.into_iter().map(|t| t.token).collect())))
        .collect::<Result<_>>()?;
    // Per recomputed note that is in the run: its technologies (numbered).
    let mut of_note: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let mut note_techs = |paths: &mut Interner, p: &str, list: &[String]| {
        let id = paths.id(p);
        let ids = list.iter().map(|t| tokens.id(t)).collect();
        of_note.insert(id, ids);
    };
    for (p, t) in others.iter().zip(&computed) {
        if let Some(t) = t {
            note_techs(&mut paths, p, t);
        }
    }
    for (p, t) in &new_techs {
        if let Some(t) = t {
            note_techs(&mut paths, p, t);
        }
    }
    drop(computed);
    let recompute: Vec<u32> = recompute.iter().map(|p| paths.id(p)).collect();

    // Each of their technologies' notes, when the technology is rare
    // enough to relate notes (mentioned by 2 to max_document_frequency).
    techs.preload_keys(tokens.names.iter())?;
    let mut rare: Vec<Option<Vec<u32>>> = Vec::with_capacity(tokens.names.len());
    for t in 0..tokens.names.len() as u32 {
        let notes = techs.get(&tokens.name(t).to_string())?.and_then(|e| {
            let df = e.docs.len();
            (2..=rule.max_document_frequency as usize)
                .contains(&df)
                .then(|| e.docs.iter().map(|d| d.path.as_str()).collect::<Vec<_>>())
        });
        rare.push(notes.map(|notes| notes.iter().map(|p| paths.id(p)).collect()));
    }
    // Note ids order candidates: each path's digest, once.
    let digest = |p: &str| crate::hashing::sha256_hex(format!("note:{p}"));
    let digests: Vec<String> = paths.names.par_iter().map(|p| digest(p)).collect();

    // Candidates, best first (most shared, then the other note's id), and
    // the notes each keeps.
    let present: Vec<u32> = recompute
        .iter()
        .copied()
        .filter(|p| of_note.contains_key(p))
        .collect();
    let candidates: HashMap<u32, Vec<Candidate>> = present
        .par_iter()
        .map(|&p| {
            let mut shared: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
            for &t in &of_note[&p] {
                for &other in rare[t as usize].iter().flatten() {
                    if other != p {
                        shared.entry(other).or_default().push(t);
                    }
                }
            }
            let mut list: Vec<Candidate> = shared
                .into_iter()
                .map(|(other, mut shared)| {
                    shared.sort_by(|a, b| tokens.name(*a).cmp(tokens.name(*b)));
                    Candidate { other, shared }
                })
                .collect();
            list.sort_by(|a, b| {
                b.shared
                    .len()
                    .cmp(&a.shared.len())
                    .then_with(|| digests[a.other as usize].cmp(&digests[b.other as usize]))
            });
            (p, list)
        })
        .collect();
    drop(rare);
    let kept: HashMap<u32, Vec<u32>> = candidates
        .iter()
        .map(|(p, c)| {
            let keep = c
                .iter()
                .take(rule.max_related_per_note as usize)
                .map(|c| c.other)
                .collect();
            (*p, keep)
        })
        .collect();

    // Partners: candidates now, and the old partners.
    let mut partners: BTreeSet<u32> = BTreeSet::new();
    for c in candidates.values() {
        partners.extend(c.iter().map(|c| c.other));
    }
    for &p in &recompute {
        if let Some(entry) = links.get(&paths.name(p).to_string())? {
            for r in &entry.relates {
                partners.insert(paths.id(&r.other));
            }
        }
    }
    let partner_names: Vec<String> = partners
        .iter()
        .map(|p| paths.name(*p).to_string())
        .collect();
    links.preload_keys(partner_names.iter())?;
    drop(partner_names);
    let recomputed: BTreeSet<u32> = recompute.iter().copied().collect();

    // Technology counts of partners that are not computed again: recorded
    // with their edges, or counted from their extraction; and what they
    // keep, as recorded.
    let mut counts: HashMap<u32, u32> = present
        .iter()
        .map(|p| (*p, of_note[p].len() as u32))
        .collect();
    let mut keeps: HashMap<u32, Vec<u32>> = HashMap::default();
    let mut missing: Vec<u32> = Vec::new();
    for &p in &partners {
        if recomputed.contains(&p) {
            continue;
        }
        let entry = links.get(&paths.name(p).to_string())?;
        if let Entry::Vacant(slot) = counts.entry(p) {
            match entry {
                Some(e) if !e.relates.is_empty() => {
                    slot.insert(e.techs);
                }
                _ => missing.push(p),
            }
        }
        let kept_now: Vec<String> = entry.map(NoteLinks::kept).unwrap_or_default();
        keeps.insert(p, kept_now.iter().map(|k| paths.id(k)).collect());
    }
    let loaded: Vec<(u32, u32)> = missing
        .par_iter()
        .map(|&p| {
            let n = (req.part_of)(paths.name(p))?
                .map(|g| g.techs.len() as u32)
                .unwrap_or(0);
            Ok((p, n))
        })
        .collect::<Result<_>>()?;
    counts.extend(loaded);
    let count_of = |p: u32| counts.get(&p).copied().unwrap_or(0);
    let no_keeps: Vec<u32> = Vec::new();
    let kept_by =
        |p: u32| -> &Vec<u32> { kept.get(&p).or_else(|| keeps.get(&p)).unwrap_or(&no_keeps) };

    // The new edges of each recomputed note.
    let new_edges: Vec<(u32, Vec<Related>)> = recompute
        .par_iter()
        .map(|&p| {
            let mut edges = Vec::new();
            if let Some(cands) = candidates.get(&p) {
                let mine = kept_by(p);
                for c in cands {
                    let keeps = mine.contains(&c.other);
                    if keeps || kept_by(c.other).contains(&p) {
                        edges.push(Related {
                            other: paths.name(c.other).to_string(),
                            shared: c
                                .shared
                                .iter()
                                .map(|t| tech_prefix(tokens.name(*t)))
                                .collect(),
                            confidence: relates::confidence(
                                c.shared.len(),
                                count_of(p),
                                count_of(c.other),
                            ),
                            kept: keeps,
                        });
                    }
                }
            }
            edges.sort_by(|a, b| a.other.cmp(&b.other));
            (p, edges)
        })
        .collect();
    drop(candidates);

    // Apply. What changes follows from each recomputed note's old and new
    // edges (read on every core); the partners not computed again get
    // their side of each edge one by one (an edit's neighbours: few), and
    // the recomputed notes' own entries are replaced in one batch.
    let is_recomputed = |name: &str| paths.get(name).is_some_and(|id| recomputed.contains(&id));
    struct Applied {
        name: String,
        edges: Vec<Related>,
        techs: u32,
        delta: i64,
        /// Partners whose edge to this note went.
        dropped: Vec<String>,
        /// Partners' side of this note's edges, with their counts.
        mirrored: Vec<(String, Related, u32)>,
    }
    let read_only: &Sharded<NoteLinks> = links;
    let applied: Vec<Applied> = new_edges
        .into_par_iter()
        .map(|(p, new)| -> Result<Applied> {
            let name = paths.name(p).to_string();
            let old: &[Related] = read_only
                .get(&name)?
                .map(|e| e.relates.as_slice())
                .unwrap_or(&[]);
            // Count each pair once: from the recomputed note with the
            // smaller path, or from the only recomputed one.
            let counted = |r: &Related| !is_recomputed(&r.other) || name < r.other;
            let delta = new.iter().filter(|r| counted(r)).count() as i64
                - old.iter().filter(|r| counted(r)).count() as i64;
            let dropped = old
                .iter()
                .filter(|r| !is_recomputed(&r.other) && !new.iter().any(|n| n.other == r.other))
                .map(|r| r.other.clone())
                .collect();
            let mirrored = new
                .iter()
                .filter(|r| !is_recomputed(&r.other))
                .map(|r| {
                    let other = paths.get(&r.other).unwrap_or(u32::MAX);
                    let side = Related {
                        other: name.clone(),
                        shared: r.shared.clone(),
                        confidence: r.confidence,
                        kept: kept_by(other).contains(&p),
                    };
                    (r.other.clone(), side, count_of(other))
                })
                .collect();
            // The count is recorded only with edges (it is part of their
            // confidence).
            let techs = if of_note.contains_key(&p) && !new.is_empty() {
                count_of(p)
            } else {
                0
            };
            Ok(Applied {
                name,
                edges: new,
                techs,
                delta,
                dropped,
                mirrored,
            })
        })
        .collect::<Result<_>>()?;
    let mut edge_delta: i64 = 0;
    let mut own = Vec::with_capacity(applied.len());
    for a in applied {
        edge_delta += a.delta;
        for other in a.dropped {
            links.update(other, |e| {
                if let Some(e) = e {
                    e.relates.retain(|x| x.other != a.name);
                    if e.relates.is_empty() {
                        e.techs = 0;
                    }
                }
            })?;
        }
        for (other, side, partner_count) in a.mirrored {
            let name = other.clone();
            links.update(other, |e| {
                let entry = e.get_or_insert_with(|| NoteLinks::new(&name));
                entry.techs = partner_count;
                match entry.relates.binary_search_by(|x| x.other.cmp(&side.other)) {
                    Ok(i) => entry.relates[i] = side,
                    Err(i) => entry.relates.insert(i, side),
                }
            })?;
        }
        own.push((a.name, (a.techs, a.edges)));
    }
    links.update_all(own, |name, e, (techs, edges)| {
        let entry = e.get_or_insert_with(|| NoteLinks::new(name));
        entry.techs = techs;
        entry.relates = edges;
    })?;
    Ok(edge_delta)
}
