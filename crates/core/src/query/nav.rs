//! Navigation: `node`, `neighbors` and `why-connected`.

use crate::error::{Error, Result};
use crate::graph::model::{EdgeKind, NodeDetail, NodeKind};
use crate::graph::view::{GraphView, round_confidence};
use crate::ingest::document::Citation;
use crate::query::load::{Located, RunPieces};
use crate::query::select::summary;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// The documents and technologies a partial graph must hold so that some
/// entities have every edge they have in the whole graph: an entity of a
/// document brings the document, the documents its links resolve to, the
/// documents whose links resolve to it or that it `relates_to`, and the
/// technologies it mentions; a technology brings every document that
/// mentions it.
#[derive(Default)]
struct Scope {
    docs: BTreeSet<String>,
    techs: BTreeSet<String>,
    complete: BTreeSet<Located>,
}

impl Scope {
    fn complete(&mut self, pieces: &RunPieces, who: Located) -> Result<()> {
        if !self.complete.insert(who.clone()) {
            return Ok(());
        }
        match who {
            Located::Doc { path, .. } => {
                self.docs.insert(path.clone());
                if let Some(part) = pieces.doc_part(&path)? {
                    self.techs
                        .extend(part.techs.iter().map(|t| t.token.clone()));
                    self.docs.extend(part.targets.iter().flatten().cloned());
                }
                if let Some(links) = pieces.note_links(&path)? {
                    self.docs
                        .extend(links.backlinks.iter().map(|(p, _)| p.clone()));
                    self.docs
                        .extend(links.relates.iter().map(|r| r.other.clone()));
                }
                // The other entities of the document are now complete too.
                self.complete.insert(Located::Doc {
                    path,
                    local: u32::MAX,
                });
            }
            Located::Tech { token } => {
                if let Some(entry) = pieces.tech(&token)? {
                    self.docs.extend(entry.docs.iter().map(|d| d.path.clone()));
                }
                self.techs.insert(token);
            }
        }
        Ok(())
    }

    /// True when `node` of `view` has all its edges here.
    fn is_complete(&self, view: &GraphView, node: u32) -> bool {
        match locate_node(view, node) {
            Located::Doc { path, .. } => self.complete.contains(&Located::Doc {
                path,
                local: u32::MAX,
            }),
            tech => self.complete.contains(&tech),
        }
    }

    fn view(&self, pieces: &RunPieces, config: &crate::config::LoadedConfig) -> Result<GraphView> {
        pieces.subgraph(
            &self.docs,
            &self.techs,
            &config.profile().linking.cooccurrence,
        )
    }
}

/// Where a node of a (partial) graph is.
fn locate_node(view: &GraphView, node: u32) -> Located {
    let n = &view.graph.nodes[node as usize];
    match n.doc.and_then(|d| view.graph.docs.get(d as usize)) {
        Some(doc) => Located::Doc {
            path: doc.path.clone(),
            local: 0,
        },
        None => Located::Tech {
            token: crate::graph::build::technology_token(&n.name),
        },
    }
}

/// Finds an entity by id, or explains how to find one.
pub fn locate(pieces: &RunPieces, id: &str) -> Result<Located> {
    pieces.locate(id)?.ok_or_else(|| not_found(pieces, id))
}

fn not_found(pieces: &RunPieces, id: &str) -> Error {
    Error::NotFound {
        message: format!(
            "no entity '{id}' in run {} of profile '{}'; find ids with `auditgraph query --q <words>` or `auditgraph list`",
            pieces.run_id, pieces.reader.layout.profile
        ),
    }
}

/// A graph in which the entities `ids` have all their edges, and their
/// node numbers in it.
pub fn entities_view(
    pieces: &RunPieces,
    config: &crate::config::LoadedConfig,
    ids: &[&str],
) -> Result<(GraphView, Vec<u32>)> {
    around(pieces, config, ids).map(|(_, view, nodes)| (view, nodes))
}

/// A graph in which `ids` have all their edges, and their node numbers.
fn around(
    pieces: &RunPieces,
    config: &crate::config::LoadedConfig,
    ids: &[&str],
) -> Result<(Scope, GraphView, Vec<u32>)> {
    let mut scope = Scope::default();
    for id in ids {
        scope.complete(pieces, locate(pieces, id)?)?;
    }
    let view = scope.view(pieces, config)?;
    let nodes = ids
        .iter()
        .map(|id| view.find(id).ok_or_else(|| not_found(pieces, id)))
        .collect::<Result<_>>()?;
    Ok((scope, view, nodes))
}

/// A path: each edge with whether it was walked from its `from` end.
pub type EdgePath = Vec<(u32, bool)>;

/// What a breadth-first walk reached: each node's depth and the path that
/// first reached it.
pub type Reached = HashMap<u32, (usize, EdgePath)>;

/// Breadth-first from `start` over `depth` levels (edges in both
/// directions, as `incident` gives them): the nodes reached in order, and
/// how.
pub fn breadth_first(
    start: u32,
    depth: usize,
    incident: &dyn Fn(u32) -> Vec<(u32, u32, bool)>,
) -> (Vec<u32>, Reached) {
    let mut seen: Reached = HashMap::new();
    seen.insert(start, (0, Vec::new()));
    let mut order: Vec<u32> = Vec::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        let (d, path) = seen[&node].clone();
        if d >= depth {
            continue;
        }
        for (edge, next, forward) in incident(node) {
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
    (order, seen)
}

/// The shortest paths from `a` to `b` of at most `max_depth` edges (up to
/// `max_paths` of them), each as (edge, walked from its `from` end), and
/// their length; `None` when there is none. `incident` gives a node's
/// edges as (edge, other end, leaves the node), in a stable order.
pub fn shortest_paths(
    a: u32,
    b: u32,
    max_depth: usize,
    max_paths: usize,
    incident: &dyn Fn(u32) -> Vec<(u32, u32, bool)>,
) -> Option<(usize, Vec<EdgePath>)> {
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
        for (edge, next, forward) in incident(node) {
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
    let length = *dist.get(&b)?;
    // Walk back from B, depth first in parent order, collecting up to
    // `max_paths` paths.
    let mut paths: Vec<EdgePath> = Vec::new();
    let mut stack: Vec<(u32, EdgePath)> = vec![(b, Vec::new())];
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
    Some((length, paths))
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
pub fn node(pieces: &RunPieces, config: &crate::config::LoadedConfig, id: &str) -> Result<Value> {
    if id.starts_with("doc_") || id.starts_with("chk_") {
        return document_or_chunk(pieces, id);
    }
    if let Some(entity) = crate::git::graph::node_in_run(pieces, id)? {
        return Ok(entity);
    }
    let (_, view, nodes) = around(pieces, config, &[id])?;
    let view = &view;
    let node = nodes[0];
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

fn document_or_chunk(pieces: &RunPieces, id: &str) -> Result<Value> {
    let chunk_json = |c: &crate::extract::stage::ChunkRef| {
        let mut v = json!({"chunk_id": c.id, "line_start": c.line_start, "line_end": c.line_end});
        Citation::insert_into(c.citation, &mut v);
        v
    };
    let note_id = |path: &str| crate::graph::model::entity_id(&format!("note:{path}"));
    // Documents are found by scanning the run's extraction shard by shard
    // (a document id is a hash of its path, not of something indexed).
    let table = pieces.table(crate::store::piece::PieceKind::Extraction)?;
    for (shard, _) in table.pieces() {
        let Some(group) = pieces.extraction(shard)? else {
            continue;
        };
        for d in &group.documents {
            let doc_id = crate::ingest::document::document_id(&d.path);
            if doc_id == id {
                return Ok(json!({
                    "id": doc_id,
                    "type": "document",
                    "name": d.path,
                    "parser_id": d.parser_id,
                    "source_path": d.path,
                    "source_hash": pieces.source_hash(&d.path)?,
                    "note_id": note_id(&d.path),
                    "chunks": d.chunks.iter().map(chunk_json).collect::<Vec<_>>(),
                }));
            }
            if let Some((order, c)) = d.chunks.iter().enumerate().find(|(_, c)| c.id == id) {
                let mut chunk = json!({
                    "id": c.id,
                    "type": "chunk",
                    "document_id": doc_id,
                    "order": order,
                    "source_path": d.path,
                    "source_hash": pieces.source_hash(&d.path)?,
                    "line_start": c.line_start,
                    "line_end": c.line_end,
                    "note_id": note_id(&d.path),
                });
                Citation::insert_into(c.citation, &mut chunk);
                return Ok(chunk);
            }
        }
    }
    Err(Error::NotFound {
        message: format!(
            "no document or chunk '{id}' in run {}; find ids with `auditgraph query --q <words>`",
            pieces.run_id
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
    pieces: &RunPieces,
    config: &crate::config::LoadedConfig,
    id: &str,
    depth: usize,
    filter: &EdgeFilter,
    limit: Option<usize>,
) -> Result<Value> {
    if filter.types.is_empty()
        && filter.min_confidence.is_none()
        && let Some(answer) = crate::git::graph::neighbors_in_run(pieces, id, depth, limit)?
    {
        return Ok(answer);
    }
    let (mut scope, mut view, mut nodes) = around(pieces, config, &[id])?;
    // Expand until every node the walk goes through has all its edges
    // here (then the walk is the one the whole graph gives).
    loop {
        let missing = walk_gaps(&view, &scope, nodes[0], None, depth, filter);
        if missing.is_empty() {
            break;
        }
        for who in missing {
            scope.complete(pieces, who)?;
        }
        view = scope.view(pieces, config)?;
        nodes = vec![view.find(id).ok_or_else(|| not_found(pieces, id))?];
    }
    let view = &view;
    let start = nodes[0];
    let (order, seen) = breadth_first(start, depth, &|node| incident(view, node, filter));
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

/// The nodes a breadth-first walk from `start` would expand that do not
/// have all their edges in this partial graph: a walk of `depth` levels,
/// or, with a `target`, the search `why-connected` makes for it (which
/// stops a level once the target is reached).
fn walk_gaps(
    view: &GraphView,
    scope: &Scope,
    start: u32,
    target: Option<u32>,
    depth: usize,
    filter: &EdgeFilter,
) -> Vec<Located> {
    let mut dist: HashMap<u32, usize> = HashMap::from([(start, 0)]);
    let mut queue = VecDeque::from([start]);
    let mut missing = BTreeSet::new();
    while let Some(node) = queue.pop_front() {
        let d = dist[&node];
        if Some(node) == target || d >= depth {
            continue;
        }
        if target.and_then(|b| dist.get(&b)).is_some_and(|db| d >= *db) {
            break;
        }
        if !scope.is_complete(view, node) {
            missing.insert(locate_node(view, node));
            continue;
        }
        for (_, next, _) in incident(view, node, filter) {
            if let std::collections::hash_map::Entry::Vacant(e) = dist.entry(next) {
                e.insert(d + 1);
                queue.push_back(next);
            }
        }
    }
    missing.into_iter().collect()
}

/// How many explanation paths `why-connected` shows at most.
pub const MAX_PATHS: usize = 3;

/// `why-connected --from A --to B`: the shortest explanation paths (at
/// most `max_paths`, over edges in either direction, up to `max_depth`
/// edges), each edge with its rule and evidence.
pub fn why_connected(
    pieces: &RunPieces,
    config: &crate::config::LoadedConfig,
    from: &str,
    to: &str,
    max_depth: usize,
    max_paths: usize,
    filter: &EdgeFilter,
) -> Result<Value> {
    // A git entity at either end: the git provenance answers (edge-type
    // filters name knowledge-graph links only).
    if filter.types.is_empty()
        && let Some(answer) =
            crate::git::graph::why_connected_in_run(pieces, from, to, max_depth, max_paths)?
    {
        return Ok(answer);
    }
    let (mut scope, mut view, mut nodes) = around(pieces, config, &[from, to])?;
    loop {
        let missing = walk_gaps(&view, &scope, nodes[0], Some(nodes[1]), max_depth, filter);
        if missing.is_empty() {
            break;
        }
        for who in missing {
            scope.complete(pieces, who)?;
        }
        view = scope.view(pieces, config)?;
        nodes = vec![
            view.find(from).ok_or_else(|| not_found(pieces, from))?,
            view.find(to).ok_or_else(|| not_found(pieces, to))?,
        ];
    }
    let view = &view;
    let (a, b) = (nodes[0], nodes[1]);
    let found = shortest_paths(a, b, max_depth, max_paths, &|node| {
        incident(view, node, filter)
    });
    let Some((length, paths)) = found else {
        return Ok(json!({
            "from": summary(view, a),
            "to": summary(view, b),
            "connected": false,
            "max_depth": max_depth,
            "paths": [],
            "message": format!("not connected within depth {max_depth}"),
        }));
    };
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
