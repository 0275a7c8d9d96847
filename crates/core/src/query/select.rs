//! Choosing entities: `--type`, `--where`, `--sort`, pagination and
//! `--group-by`, over a run's graph.

use crate::error::{Error, Result};
use crate::graph::model::{NodeDetail, NodeKind};
use crate::graph::view::GraphView;
use crate::query::filter::{Page, Predicate, SortKey, compare_keys, lookup, sort_key};
use rayon::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// What to keep and in which order.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Entity types to keep (OR); empty keeps all.
    pub types: Vec<String>,
    /// Predicates that must all hold.
    pub wheres: Vec<Predicate>,
    pub sort: Option<String>,
    pub desc: bool,
    pub page: Page,
}

impl Selection {
    /// A selection from the raw `--type/--where/--sort/--desc/--limit/
    /// --offset` values (as `query` and `list` take them, and the MCP
    /// tools of the same names): checks the types and parses the
    /// predicates; `default_limit` applies when `limit` is `None`.
    pub fn new(
        types: &[String],
        wheres: &[String],
        sort: Option<&str>,
        desc: bool,
        limit: Option<usize>,
        offset: usize,
        default_limit: usize,
    ) -> Result<Selection> {
        let wheres = wheres
            .iter()
            .map(|w| crate::query::filter::parse_predicate(w))
            .collect::<Result<Vec<_>>>()?;
        parse_types(types)?;
        Ok(Selection {
            types: types.to_vec(),
            wheres,
            sort: sort.map(str::to_string),
            desc,
            page: Page {
                limit: Some(limit.unwrap_or(default_limit)),
                offset,
            },
        })
    }
}

/// Checks `--type` values against the known entity types.
pub fn parse_types(types: &[String]) -> Result<Vec<NodeKind>> {
    types
        .iter()
        .map(|t| {
            NodeKind::from_type_name(t).ok_or_else(|| Error::InvalidArgument {
                message: format!(
                    "unknown entity type '{t}'; the types are {}",
                    NodeKind::ALL
                        .iter()
                        .map(|k| k.type_name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
        })
        .collect()
}

/// A field of an entity without materializing the whole entity when the
/// graph has it; `None` means "materialize and look it up".
fn fast_field(view: &GraphView, node: u32, field: &str) -> Option<Option<Value>> {
    let n = &view.graph.nodes[node as usize];
    let doc = n.doc.and_then(|d| view.graph.docs.get(d as usize));
    Some(match (field, &n.detail) {
        ("id", _) => Some(json!(view.node_id(node))),
        ("type", _) => Some(json!(n.kind.type_name())),
        ("name", _) => Some(json!(n.name)),
        ("canonical_key", _) => Some(json!(view.graph.canonical_key(node))),
        ("source_path", _) => doc.map(|d| json!(d.path)),
        ("document_id", _) => doc.map(|d| json!(crate::ingest::document::document_id(&d.path))),
        ("level", NodeDetail::Section { level, .. }) => Some(json!(level)),
        ("level", _) => None,
        ("order", NodeDetail::Section { .. } | NodeDetail::Reference { .. }) => Some(json!(n.item)),
        ("resolution", NodeDetail::Reference { state, .. }) => Some(json!(state.name())),
        ("resolution", _) => None,
        ("target", NodeDetail::Reference { target, .. }) => Some(json!(target)),
        ("target", _) => None,
        _ => return None,
    })
}

/// The value of a field of an entity.
pub fn field_value(view: &GraphView, node: u32, field: &str) -> Result<Option<Value>> {
    if let Some(v) = fast_field(view, node, field) {
        return Ok(v);
    }
    let entity = view.entity(node)?;
    Ok(lookup(&entity, field).cloned())
}

/// Applies `--type` and `--where` to candidate entities (kept in order).
pub fn filter(view: &GraphView, candidates: Vec<u32>, sel: &Selection) -> Result<Vec<u32>> {
    let kinds = parse_types(&sel.types)?;
    let kept: Vec<Result<Option<u32>>> = candidates
        .into_par_iter()
        .map(|node| {
            let n = &view.graph.nodes[node as usize];
            if !kinds.is_empty() && !kinds.contains(&n.kind) {
                return Ok(None);
            }
            for p in &sel.wheres {
                if !p.matches(field_value(view, node, &p.field)?.as_ref()) {
                    return Ok(None);
                }
            }
            Ok(Some(node))
        })
        .collect();
    let mut out = Vec::new();
    for k in kept {
        out.extend(k?);
    }
    Ok(out)
}

/// Sorts by `--sort` (ties and the default by id) and paginates. Returns
/// the page, the total before paging, and whether more remain.
pub fn order_and_page(
    view: &GraphView,
    mut nodes: Vec<u32>,
    sel: &Selection,
) -> Result<(Vec<u32>, usize, bool)> {
    match &sel.sort {
        None => nodes = sort_by_id(view, nodes),
        Some(field) => {
            let keys: Vec<Result<(u32, SortKey)>> = nodes
                .par_iter()
                .map(|n| Ok((*n, sort_key(field_value(view, *n, field)?.as_ref()))))
                .collect();
            let mut keyed = Vec::with_capacity(keys.len());
            for k in keys {
                keyed.push(k?);
            }
            let ids = ids_of(view, &nodes);
            keyed.sort_by(|(a, ka), (b, kb)| {
                compare_keys(ka, kb, sel.desc).then_with(|| ids[a].cmp(&ids[b]))
            });
            nodes = keyed.into_iter().map(|(n, _)| n).collect();
        }
    }
    let total = nodes.len();
    let (page, truncated) = sel.page.apply(nodes);
    Ok((page, total, truncated))
}

/// The ids of some nodes (computed in parallel, once each).
pub fn ids_of(view: &GraphView, nodes: &[u32]) -> std::collections::HashMap<u32, String> {
    nodes
        .par_iter()
        .map(|n| (*n, view.node_id(*n).into_owned()))
        .collect()
}

/// Nodes in id order.
pub fn sort_by_id(view: &GraphView, nodes: Vec<u32>) -> Vec<u32> {
    let mut keyed: Vec<(String, u32)> = nodes
        .par_iter()
        .map(|n| (view.node_id(*n).into_owned(), *n))
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, n)| n).collect()
}

/// Counts per value of a field (each element for list fields; `_missing`
/// when absent).
pub fn group_by(view: &GraphView, nodes: &[u32], field: &str) -> Result<BTreeMap<String, usize>> {
    let mut groups: BTreeMap<String, usize> = BTreeMap::new();
    for &node in nodes {
        match field_value(view, node, field)? {
            None => *groups.entry("_missing".to_string()).or_default() += 1,
            Some(Value::Array(items)) if items.is_empty() => {
                *groups.entry("_missing".to_string()).or_default() += 1
            }
            Some(Value::Array(items)) => {
                for item in items {
                    let key = match item {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    *groups.entry(key).or_default() += 1;
                }
            }
            Some(Value::String(s)) => *groups.entry(s).or_default() += 1,
            Some(other) => *groups.entry(other.to_string()).or_default() += 1,
        }
    }
    Ok(groups)
}

/// The short form of an entity used in result lists.
pub fn summary(view: &GraphView, node: u32) -> Value {
    let n = &view.graph.nodes[node as usize];
    let doc = n.doc.and_then(|d| view.graph.docs.get(d as usize));
    json!({
        "id": view.node_id(node),
        "type": n.kind.type_name(),
        "name": n.name,
        "canonical_key": view.graph.canonical_key(node),
        "source_path": doc.map(|d| d.path.clone()),
        "line_start": doc.map(|_| n.line_start),
        "line_end": doc.map(|_| n.line_end),
    })
}
