//! `list` without the whole graph: entities in id order, read from the
//! entity and technology pieces (both sharded by the first byte of the
//! id), so that a page reads a few shards and the documents of the
//! entities it shows. Totals come from the link manifest's counts.
//!
//! Only a plain listing (types, offset, limit) takes this path; `--where`,
//! `--sort` and `--group-by` look at every entity and use the whole graph.

use crate::error::Result;
use crate::graph::local::doc_graph;
use crate::graph::model::{NodeKind, node_digest};
use crate::link::entries::EntityRef;
use crate::pipeline::Workspace;
use crate::query::load::{LoadedRun, Need, RunPieces, open_run};
use crate::query::select::{self, Selection, parse_types, summary};
use crate::store::piece::PieceKind;
use crate::store::table::document_byte;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// One page of entities.
#[derive(Debug)]
pub struct Listed {
    /// Each entity as `list --json` shows it.
    pub results: Vec<Value>,
    /// The short form of each (for human output).
    pub summaries: Vec<Value>,
    pub total: usize,
    pub truncated: bool,
}

/// What `list` answers: a count, counts per value of a field, or a page.
#[derive(Debug)]
pub enum ListAnswer {
    Count(usize),
    Groups {
        field: String,
        groups: BTreeMap<String, usize>,
        total: usize,
    },
    Page {
        listed: Listed,
        limit: Option<usize>,
        offset: usize,
    },
}

impl ListAnswer {
    /// The document `list --json` prints (and the MCP tool `list` returns).
    pub fn to_json(&self) -> Value {
        match self {
            ListAnswer::Count(n) => json!({ "count": n }),
            ListAnswer::Groups {
                field,
                groups,
                total,
            } => json!({ "group_by": field, "groups": groups, "total_count": total }),
            ListAnswer::Page {
                listed,
                limit,
                offset,
            } => json!({
                "results": listed.results,
                "total_count": listed.total,
                "limit": limit,
                "offset": offset,
                "truncated": listed.truncated,
            }),
        }
    }
}

/// The run a `list` read: the caller decides when it is dropped (the CLI
/// never drops it: the process exits right after).
pub enum Opened {
    Pieces(RunPieces),
    Run(LoadedRun),
}

impl Opened {
    pub fn run_id(&self) -> &str {
        match self {
            Opened::Pieces(p) => &p.run_id,
            Opened::Run(r) => &r.run_id,
        }
    }
}

/// `list`: entities of the current run (or `run`) chosen by `sel`, their
/// number (`count`) or their number per value of a field (`group_by`).
/// A plain listing reads the entity pieces, not the whole graph.
pub fn list(
    ws: &Workspace,
    run: Option<&str>,
    sel: &Selection,
    count: bool,
    group_by: Option<&str>,
) -> Result<(ListAnswer, Opened)> {
    if group_by.is_none() && (count && sel.wheres.is_empty() || !count && answers(sel)) {
        let pieces = RunPieces::open(ws, run, Need::Graph)?;
        let answer = if count {
            ListAnswer::Count(self::count(&pieces, sel)?)
        } else {
            ListAnswer::Page {
                listed: page(&pieces, &ws.config, sel)?,
                limit: sel.page.limit,
                offset: sel.page.offset,
            }
        };
        return Ok((answer, Opened::Pieces(pieces)));
    }
    let run = open_run(ws, run, Need::Graph)?;
    let view = &run.view;
    let all: Vec<u32> = (0..view.graph.nodes.len() as u32).collect();
    let kept = select::filter(view, all, sel)?;
    let answer = if let Some(field) = group_by {
        ListAnswer::Groups {
            field: field.to_string(),
            groups: select::group_by(view, &kept, field)?,
            total: kept.len(),
        }
    } else if count {
        ListAnswer::Count(kept.len())
    } else {
        let (page, total, truncated) = select::order_and_page(view, kept, sel)?;
        let results = page
            .iter()
            .map(|n| view.entity(*n))
            .collect::<Result<Vec<_>>>()?;
        let summaries: Vec<Value> = page.iter().map(|n| summary(view, *n)).collect();
        ListAnswer::Page {
            listed: Listed {
                results,
                summaries,
                total,
                truncated,
            },
            limit: sel.page.limit,
            offset: sel.page.offset,
        }
    };
    Ok((answer, Opened::Run(run)))
}

/// The most entities a page may skip or show on this path; deeper pages
/// are cheaper on the whole graph.
const MAX_WINDOW: usize = 10_000;

/// True when `sel` is a plain listing this module answers.
pub fn answers(sel: &Selection) -> bool {
    sel.wheres.is_empty()
        && sel.sort.as_deref().is_none_or(|s| s == "id")
        && !sel.desc
        && sel
            .page
            .limit
            .is_some_and(|l| sel.page.offset.saturating_add(l) <= MAX_WINDOW)
}

/// How many entities of the selected types the run holds.
pub fn count(pieces: &RunPieces, sel: &Selection) -> Result<usize> {
    let kinds = kinds_of(sel)?;
    let counts = &pieces.manifests.require(crate::link::STAGE)?.counts["entities"];
    Ok(kinds
        .iter()
        .map(|k| counts[k.type_name()].as_u64().unwrap_or(0) as usize)
        .sum())
}

fn kinds_of(sel: &Selection) -> Result<Vec<NodeKind>> {
    let kinds = parse_types(&sel.types)?;
    Ok(if kinds.is_empty() {
        NodeKind::ALL.to_vec()
    } else {
        kinds
    })
}

/// A slot in id order: a note, section or reference (its entity
/// reference, by position in the shard), or a technology (its digest).
#[derive(Clone, Copy)]
enum Slot {
    Doc(usize),
    Tech([u8; 32]),
}

/// The page `sel` asks for (see [`answers`]).
pub fn page(
    pieces: &RunPieces,
    config: &crate::config::LoadedConfig,
    sel: &Selection,
) -> Result<Listed> {
    let kinds = kinds_of(sel)?;
    let total = count(pieces, sel)?;
    let limit = sel.page.limit.unwrap_or(usize::MAX);
    let mut skip = sel.page.offset;
    let mut digests: Vec<[u8; 32]> = Vec::new();
    let entities = pieces.table(PieceKind::Entities)?;
    let techs = pieces.table(PieceKind::Technologies)?;
    let want_docs = kinds.iter().any(|k| *k != NodeKind::Technology);
    let want_techs = kinds.contains(&NodeKind::Technology);
    for byte in 0..=255u8 {
        if digests.len() >= limit {
            break;
        }
        let refs = if want_docs {
            Some(pieces.entity_shard(entities.shard(byte))?)
        } else {
            None
        };
        let tech_entries = if want_techs {
            Some(pieces.tech_shard(techs.shard(byte))?)
        } else {
            None
        };
        // Every entity whose id starts with `byte`, one slot each.
        let refs: &[EntityRef] = refs.as_deref().map(Vec::as_slice).unwrap_or(&[]);
        let mut slots: Vec<([u8; 8], Slot)> = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            if r.prefix[0] == byte && kinds.contains(&r.kind) {
                for _ in 0..r.count {
                    slots.push((r.prefix, Slot::Doc(i)));
                }
            }
        }
        for t in tech_entries.iter().flat_map(|t| t.iter()) {
            let digest = t.digest();
            if digest[0] == byte {
                let mut prefix = [0u8; 8];
                prefix.copy_from_slice(&digest[..8]);
                slots.push((prefix, Slot::Tech(digest)));
            }
        }
        if skip >= slots.len() {
            skip -= slots.len();
            continue;
        }
        slots.sort_by_key(|(prefix, _)| *prefix);
        let lo = skip;
        let hi = (lo + (limit - digests.len())).min(slots.len());
        skip = 0;
        // Ids agreeing on 8 bytes are ordered by their whole digest: widen
        // the window to whole runs of equal prefixes, resolve, then cut.
        let mut start = lo;
        while start > 0 && slots[start - 1].0 == slots[lo].0 {
            start -= 1;
        }
        let mut end = hi;
        while end < slots.len() && slots[end].0 == slots[hi - 1].0 {
            end += 1;
        }
        let mut resolved: Vec<[u8; 32]> = Vec::new();
        let mut seen: BTreeSet<usize> = BTreeSet::new();
        for (_, slot) in &slots[start..end] {
            match slot {
                Slot::Tech(d) => resolved.push(*d),
                Slot::Doc(i) => {
                    if seen.insert(*i) {
                        resolved.extend(resolve(pieces, &refs[*i])?);
                    }
                }
            }
        }
        resolved.sort();
        resolved.dedup();
        digests.extend(resolved.into_iter().skip(lo - start).take(hi - lo));
    }
    let ids: Vec<String> = digests
        .iter()
        .map(|d| format!("ent_{}", hex::encode(d)))
        .collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (view, nodes) = crate::query::nav::entities_view(pieces, config, &refs)?;
    let results = nodes
        .iter()
        .map(|n| view.entity(*n))
        .collect::<Result<Vec<_>>>()?;
    let summaries = nodes.iter().map(|n| summary(&view, *n)).collect();
    Ok(Listed {
        results,
        summaries,
        total,
        truncated: sel.page.offset.saturating_add(limit) < total,
    })
}

/// The whole ids of the entities an entity reference stands for: the
/// nodes of its document shard whose id starts with its prefix.
fn resolve(pieces: &RunPieces, r: &EntityRef) -> Result<Vec<[u8; 32]>> {
    let shard = pieces.table(PieceKind::Extraction)?.shard(r.doc_byte);
    let Some(group) = pieces.extraction(shard)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for d in group
        .documents
        .iter()
        .filter(|d| document_byte(&d.path) == r.doc_byte)
    {
        for node in doc_graph(d, &[]).nodes.iter().filter(|n| n.kind == r.kind) {
            let digest = node_digest(&d.path, node);
            if digest[..8] == r.prefix {
                out.push(digest);
            }
        }
    }
    Ok(out)
}
