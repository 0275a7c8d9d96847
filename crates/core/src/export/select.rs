//! Which part of the graph an export holds.
//!
//! * No filter: every entity and every link.
//! * `types` (OR): entities of those types.
//! * `from` + `depth`: entities at most `depth` hops from `from`, following
//!   links in either direction (breadth-first; the set does not depend on
//!   the order edges are visited in). Traversal goes through every entity,
//!   whatever its type; `types`, when also given, then keeps only the
//!   entities of those types (the start entity included).
//! * Links: those whose two ends are both kept.
//!
//! Entities come out sorted by id, links by id.

use crate::error::{Error, Result};
use crate::graph::model::NodeKind;
use crate::graph::view::GraphView;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::VecDeque;

/// The subgraph options of `export` and `export-neo4j`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Filter {
    /// Entity types to keep (sorted, without duplicates); empty = all.
    pub types: Vec<String>,
    /// Start entity of a neighbourhood export.
    pub from: Option<String>,
    /// Hops from `from` (only with `from`).
    pub depth: Option<u32>,
}

impl Filter {
    /// Builds and validates a filter. Unknown types are a usage error that
    /// lists the known ones; `depth` without `from` likewise. `depth`
    /// defaults to 1 when `from` is given.
    pub fn new(types: &[String], from: Option<&str>, depth: Option<u32>) -> Result<Filter> {
        let mut kinds = Vec::new();
        for t in types {
            let t = t.trim();
            let Some(kind) = NodeKind::from_type_name(t) else {
                let known: Vec<&str> = NodeKind::ALL.iter().map(|k| k.type_name()).collect();
                return Err(Error::InvalidArgument {
                    message: format!(
                        "unknown entity type '{t}' for --type; known types: {}",
                        known.join(", ")
                    ),
                });
            };
            kinds.push(kind.type_name().to_string());
        }
        kinds.sort();
        kinds.dedup();
        if depth.is_some() && from.is_none() {
            return Err(Error::InvalidArgument {
                message: "--depth needs --from <entity id>: the depth counts hops from that entity"
                    .to_string(),
            });
        }
        let from = from.map(|f| f.trim().to_string());
        let depth = from.as_ref().map(|_| depth.unwrap_or(1));
        Ok(Filter {
            types: kinds,
            from,
            depth,
        })
    }

    /// True when the export holds the whole graph.
    pub fn is_whole_graph(&self) -> bool {
        self.types.is_empty() && self.from.is_none()
    }

    fn kinds(&self) -> Vec<NodeKind> {
        self.types
            .iter()
            .filter_map(|t| NodeKind::from_type_name(t))
            .collect()
    }
}

/// The entities and links an export holds, each sorted by id.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Node indexes, sorted by entity id.
    pub nodes: Vec<u32>,
    /// Edge indexes, sorted by link id.
    pub edges: Vec<usize>,
}

/// Applies a filter to a run's graph.
pub fn select(view: &GraphView, filter: &Filter) -> Result<Selection> {
    let graph = &view.graph;
    let n = graph.nodes.len();
    let mut keep = vec![true; n];

    if let Some(from) = &filter.from {
        let start = view.find(from).ok_or_else(|| Error::NotFound {
            message: format!(
                "no entity '{from}' in run {}; find entity ids with `auditgraph query <text>` or `auditgraph list`",
                view.run_id
            ),
        })?;
        let depth = filter.depth.unwrap_or(1);
        let mut distance: Vec<Option<u32>> = vec![None; n];
        if let Some(slot) = distance.get_mut(start as usize) {
            *slot = Some(0);
        }
        let mut queue = VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            let d = distance.get(node as usize).copied().flatten().unwrap_or(0);
            if d >= depth {
                continue;
            }
            let neighbours = view
                .outgoing(node)
                .iter()
                .filter_map(|&e| graph.edges.get(e as usize).map(|e| e.to))
                .chain(
                    view.incoming(node)
                        .iter()
                        .filter_map(|&e| graph.edges.get(e as usize).map(|e| e.from)),
                );
            for next in neighbours {
                if let Some(slot) = distance.get_mut(next as usize)
                    && slot.is_none()
                {
                    *slot = Some(d + 1);
                    queue.push_back(next);
                }
            }
        }
        for (k, d) in keep.iter_mut().zip(&distance) {
            *k = d.is_some();
        }
    }

    let kinds = filter.kinds();
    if !kinds.is_empty() {
        for (k, node) in keep.iter_mut().zip(&graph.nodes) {
            *k = *k && kinds.contains(&node.kind);
        }
    }

    let mut nodes: Vec<u32> = (0..n as u32)
        .filter(|&i| keep.get(i as usize).copied().unwrap_or(false))
        .collect();
    // Exports touch every id: compute the table once.
    let ids = view.all_ids();
    let id = |i: u32| ids.get(i as usize).map(String::as_str).unwrap_or("");
    nodes.sort_by(|&a, &b| id(a).cmp(id(b)));

    let mut edges: Vec<(String, usize)> = graph
        .edges
        .par_iter()
        .enumerate()
        .filter(|(_, e)| {
            keep.get(e.from as usize).copied().unwrap_or(false)
                && keep.get(e.to as usize).copied().unwrap_or(false)
        })
        .map(|(i, _)| (view.link_id(i), i))
        .collect();
    edges.sort();
    // Sorted by link id, which the exports then need no more.
    let edges = edges.into_iter().map(|(_, i)| i).collect();
    Ok(Selection { nodes, edges })
}
