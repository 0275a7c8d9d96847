//! Navigation: `node`, `neighbors` and `why-connected`.

use crate::error::{Error, Result};
use crate::graph::model::{EdgeKind, NodeDetail, NodeKind};
use crate::graph::view::{GraphView, round_confidence};
use crate::query::load::LoadedRun;
use crate::query::select::summary;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Finds an entity by id, or explains how to find one.
pub fn find_entity(run: &LoadedRun, id: &str) -> Result<u32> {
    run.view.find(id).ok_or_else(|| Error::NotFound {
        message: format!(
            "no entity '{id}' in run {} of profile '{}'; find ids with `auditgraph query --q <words>` or `auditgraph list`",
            run.run_id, run.reader.layout.profile
        ),
    })
}

/// An edge as seen from one of its ends.
fn edge_view(view: &GraphView, edge: u32, from_side: bool) -> Value {
    let e = &view.graph.edges[edge as usize];
    let other = if from_side { e.to } else { e.from };
    json!({
        "link_id": view.link_id(edge as usize),
        "type": e.kind.type_name(),
        "rule_id": e.kind.rule(),
        "confidence": round_confidence(e.confidence),
        "direction": if from_side { "outgoing" } else { "incoming" },
        "other": summary(view, other),
        "evidence_total": e.evidence_total,
    })
}

/// `node ID`: the entity, its edges, and a note's sections. Also accepts a
/// document id (`doc_...`) or a chunk id (`chk_...`).
pub fn node(run: &LoadedRun, id: &str) -> Result<Value> {
    let view = &run.view;
    if id.starts_with("doc_") || id.starts_with("chk_") {
        return document_or_chunk(run, id);
    }
    let node = find_entity(run, id)?;
    let mut entity = view.entity(node)?;
    let outgoing: Vec<Value> = view
        .outgoing(node)
        .iter()
        .map(|e| edge_view(view, *e, true))
        .collect();
    let incoming: Vec<Value> = view
        .incoming(node)
        .iter()
        .map(|e| edge_view(view, *e, false))
        .collect();
    let sections: Vec<Value> = match view.graph.nodes[node as usize].kind {
        NodeKind::Note => {
            let doc = view.graph.nodes[node as usize].doc;
            view.graph
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.kind == NodeKind::Section && n.doc == doc)
                .map(|(i, n)| {
                    let level = match n.detail {
                        NodeDetail::Section { level, .. } => level,
                        _ => 0,
                    };
                    json!({
                        "id": view.node_id(i as u32),
                        "name": n.name,
                        "level": level,
                        "line_start": n.line_start,
                        "line_end": n.line_end,
                    })
                })
                .collect()
        }
        _ => Vec::new(),
    };
    if let Some(map) = entity.as_object_mut() {
        map.insert("outgoing".into(), Value::Array(outgoing));
        map.insert("incoming".into(), Value::Array(incoming));
        if view.graph.nodes[node as usize].kind == NodeKind::Note {
            map.insert("sections".into(), Value::Array(sections));
        }
    }
    Ok(entity)
}

fn document_or_chunk(run: &LoadedRun, id: &str) -> Result<Value> {
    let view = &run.view;
    let chunk_json = |c: &crate::extract::stage::ChunkRef| json!({"chunk_id": c.id, "line_start": c.line_start, "line_end": c.line_end});
    for (d, doc) in view.graph.docs.iter().enumerate() {
        let doc_id = crate::ingest::document::document_id(&doc.path);
        if doc_id == id {
            let chunks = &view.doc_extraction(d as u32)?.chunks;
            return Ok(json!({
                "id": doc_id,
                "type": "document",
                "name": doc.path,
                "source_path": doc.path,
                "source_hash": view.source_hash(d as u32),
                "note_id": view.node_id(doc.note),
                "chunks": chunks.iter().map(chunk_json).collect::<Vec<_>>(),
            }));
        }
    }
    if id.starts_with("chk_") {
        for (d, doc) in view.graph.docs.iter().enumerate() {
            let chunks = &view.doc_extraction(d as u32)?.chunks;
            if let Some((order, c)) = chunks.iter().enumerate().find(|(_, c)| c.id == id) {
                return Ok(json!({
                    "id": c.id,
                    "type": "chunk",
                    "document_id": crate::ingest::document::document_id(&doc.path),
                    "order": order,
                    "source_path": doc.path,
                    "source_hash": view.source_hash(d as u32),
                    "line_start": c.line_start,
                    "line_end": c.line_end,
                    "note_id": view.node_id(doc.note),
                }));
            }
        }
    }
    Err(Error::NotFound {
        message: format!(
            "no document or chunk '{id}' in run {}; find ids with `auditgraph query --q <words>`",
            run.run_id
        ),
    })
}

/// Which edges a traversal may follow.
#[derive(Debug, Clone)]
pub struct EdgeFilter {
    pub types: Vec<EdgeKind>,
    pub min_confidence: Option<f32>,
}

impl EdgeFilter {
    pub fn parse(types: &[String], min_confidence: Option<f64>) -> Result<EdgeFilter> {
        let kinds = types
            .iter()
            .map(|t| {
                EdgeKind::from_type_name(t).ok_or_else(|| Error::InvalidArgument {
                    message: format!(
                        "unknown edge type '{t}'; the types are {}",
                        EdgeKind::ALL
                            .iter()
                            .map(|k| k.type_name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(c) = min_confidence
            && !(0.0..=1.0).contains(&c)
        {
            return Err(Error::InvalidArgument {
                message: format!("--min-confidence {c} is not between 0 and 1"),
            });
        }
        Ok(EdgeFilter {
            types: kinds,
            min_confidence: min_confidence.map(|c| c as f32),
        })
    }

    fn allows(&self, view: &GraphView, edge: u32) -> bool {
        let e = &view.graph.edges[edge as usize];
        (self.types.is_empty() || self.types.contains(&e.kind))
            && self.min_confidence.is_none_or(|m| e.confidence >= m)
    }
}

/// The edges of a node in both directions: (edge, neighbour, outgoing?),
/// outgoing first, each in stored order.
fn incident(view: &GraphView, node: u32, filter: &EdgeFilter) -> Vec<(u32, u32, bool)> {
    let mut out = Vec::new();
    for &e in view.outgoing(node) {
        if filter.allows(view, e) {
            out.push((e, view.graph.edges[e as usize].to, true));
        }
    }
    for &e in view.incoming(node) {
        if filter.allows(view, e) {
            out.push((e, view.graph.edges[e as usize].from, false));
        }
    }
    out
}

fn step_json(view: &GraphView, edge: u32, forward: bool) -> Value {
    let e = &view.graph.edges[edge as usize];
    json!({
        "link_id": view.link_id(edge as usize),
        "type": e.kind.type_name(),
        "rule_id": e.kind.rule(),
        "confidence": round_confidence(e.confidence),
        "from_id": view.node_id(e.from),
        "to_id": view.node_id(e.to),
        "direction": if forward { "outgoing" } else { "incoming" },
    })
}

/// `neighbors ID`: breadth-first over edges in both directions, each
/// neighbour with the path of edges that first reached it.
pub fn neighbors(
    run: &LoadedRun,
    id: &str,
    depth: usize,
    filter: &EdgeFilter,
    limit: Option<usize>,
) -> Result<Value> {
    let view = &run.view;
    let start = find_entity(run, id)?;
    let mut seen: HashMap<u32, (usize, Vec<(u32, bool)>)> = HashMap::new();
    seen.insert(start, (0, Vec::new()));
    let mut order: Vec<u32> = Vec::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        let (d, path) = seen[&node].clone();
        if d >= depth {
            continue;
        }
        for (edge, next, forward) in incident(view, node, filter) {
            if seen.contains_key(&next) {
                continue;
            }
            let mut p = path.clone();
            p.push((edge, forward));
            seen.insert(next, (d + 1, p));
            order.push(next);
            queue.push_back(next);
        }
    }
    let total = order.len();
    let shown: Vec<Value> = order
        .iter()
        .take(limit.unwrap_or(usize::MAX))
        .map(|n| {
            let (d, path) = &seen[n];
            let mut v = summary(view, *n);
            if let Some(map) = v.as_object_mut() {
                map.insert("depth".into(), json!(d));
                map.insert(
                    "path".into(),
                    Value::Array(path.iter().map(|(e, f)| step_json(view, *e, *f)).collect()),
                );
            }
            v
        })
        .collect();
    Ok(json!({
        "center": summary(view, start),
        "depth": depth,
        "neighbors": shown,
        "total_count": total,
        "truncated": shown.len() < total,
    }))
}

/// How many explanation paths `why-connected` shows at most.
pub const MAX_PATHS: usize = 3;

/// `why-connected --from A --to B`: the shortest explanation paths (at
/// most `max_paths`, over edges in either direction, up to `max_depth`
/// edges), each edge with its rule and evidence.
pub fn why_connected(
    run: &LoadedRun,
    from: &str,
    to: &str,
    max_depth: usize,
    max_paths: usize,
    filter: &EdgeFilter,
) -> Result<Value> {
    let view = &run.view;
    let a = find_entity(run, from)?;
    let b = find_entity(run, to)?;
    // Breadth-first from A, keeping every shortest-path parent of a node.
    let mut dist: HashMap<u32, usize> = HashMap::from([(a, 0)]);
    let mut parents: BTreeMap<u32, Vec<(u32, u32, bool)>> = BTreeMap::new();
    let mut queue = VecDeque::from([a]);
    while let Some(node) = queue.pop_front() {
        let d = dist[&node];
        if node == b || d >= max_depth {
            continue;
        }
        if dist.get(&b).is_some_and(|db| d >= *db) {
            break;
        }
        for (edge, next, forward) in incident(view, node, filter) {
            match dist.get(&next) {
                None => {
                    dist.insert(next, d + 1);
                    parents.entry(next).or_default().push((node, edge, forward));
                    queue.push_back(next);
                }
                Some(&dn) if dn == d + 1 => {
                    parents.entry(next).or_default().push((node, edge, forward));
                }
                _ => {}
            }
        }
    }
    let Some(&length) = dist.get(&b) else {
        return Ok(json!({
            "from": summary(view, a),
            "to": summary(view, b),
            "connected": false,
            "max_depth": max_depth,
            "paths": [],
            "message": format!("not connected within depth {max_depth}"),
        }));
    };
    // Walk back from B, depth first in parent order, collecting up to
    // `max_paths` paths.
    let mut paths: Vec<Vec<(u32, bool)>> = Vec::new();
    let mut stack: Vec<(u32, Vec<(u32, bool)>)> = vec![(b, Vec::new())];
    while let Some((node, suffix)) = stack.pop() {
        if paths.len() >= max_paths {
            break;
        }
        if node == a {
            let mut p = suffix.clone();
            p.reverse();
            paths.push(p);
            continue;
        }
        if let Some(ps) = parents.get(&node) {
            for (parent, edge, forward) in ps.iter().rev() {
                let mut s = suffix.clone();
                s.push((*edge, *forward));
                stack.push((*parent, s));
            }
        }
    }
    let paths_json: Vec<Value> = paths
        .iter()
        .map(|p| {
            let mut current = a;
            let steps: Vec<Value> = p
                .iter()
                .map(|(edge, forward)| {
                    let e = &view.graph.edges[*edge as usize];
                    let next = if *forward { e.to } else { e.from };
                    let step = json!({
                        "link_id": view.link_id(*edge as usize),
                        "type": e.kind.type_name(),
                        "rule_id": e.kind.rule(),
                        "confidence": round_confidence(e.confidence),
                        "authority": e.kind.authority(),
                        "from": summary(view, current),
                        "to": summary(view, next),
                        "direction": if *forward { "outgoing" } else { "incoming" },
                        "evidence": e.evidence.iter().map(|ev| view.evidence(ev)).collect::<Vec<_>>(),
                    });
                    current = next;
                    step
                })
                .collect();
            json!({ "length": p.len(), "edges": steps })
        })
        .collect();
    Ok(json!({
        "from": summary(view, a),
        "to": summary(view, b),
        "connected": true,
        "length": length,
        "max_depth": max_depth,
        "paths": paths_json,
    }))
}
