//! The git provenance as a graph, for `why-connected`: the repository,
//! the selected commits, their authors, tags, branches and the files they
//! changed, with the links of [`super::query`], and each file that is a
//! note of the run linked to its `ag:note` entity. Through that link a
//! note is connected to the commits that changed it and to their authors.
//!
//! It is built from the run's git pieces when `why-connected` names a git
//! entity (or a file id); the knowledge graph itself does not hold git
//! entities.

use super::ids;
use super::query::{
    GitRun, LinkView, authored_link, commit_links, modifies_link, note_source_link,
};
use super::record::{ChangeKind, CommitRecord};
use crate::error::Result;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Whether `id` names a git entity (a file id is an `ent_` id: see
/// [`GitGraph::contains`]).
pub fn is_git_id(id: &str) -> bool {
    ["commit_", "author_", "tag_", "ref_", "repo_"]
        .iter()
        .any(|p| id.starts_with(p))
}

/// Nodes (with their summaries) and links.
pub struct GitGraph {
    nodes: Vec<Value>,
    /// Per node: the entity's own fields (`node ID` shows them).
    details: Vec<Value>,
    index: HashMap<String, u32>,
    links: Vec<LinkView>,
    /// Per node: (link, other node, the link leaves this node).
    adjacent: Vec<Vec<(u32, u32, bool)>>,
}

fn summary(id: &str, kind: &str, name: &str, source_path: Option<&str>) -> Value {
    json!({
        "id": id,
        "type": kind,
        "name": name,
        "canonical_key": Value::Null,
        "source_path": source_path,
        "line_start": Value::Null,
        "line_end": Value::Null,
    })
}

impl GitGraph {
    /// Builds the graph of `run`; `notes` are the paths of the run's notes.
    pub fn build(run: &GitRun, notes: &BTreeSet<String>) -> Result<GitGraph> {
        let mut g = GitGraph {
            nodes: Vec::new(),
            details: Vec::new(),
            index: HashMap::new(),
            links: Vec::new(),
            adjacent: Vec::new(),
        };
        g.node(
            ids::repository(),
            summary(&ids::repository(), "repository", ".", None),
        );
        let mut records: Vec<CommitRecord> = Vec::new();
        for s in &run.repo.snapshot.selected {
            if let Some(r) = run.commit(&s.sha)? {
                records.push(r);
            }
        }
        let names: BTreeMap<&str, &str> = run
            .repo
            .authors
            .iter()
            .map(|a| {
                (
                    a.email.as_str(),
                    a.names.first().map_or(a.email.as_str(), |n| n.as_str()),
                )
            })
            .collect();
        let tiers: HashMap<&str, (&str, f64)> = run
            .repo
            .snapshot
            .selected
            .iter()
            .map(|s| (s.sha.as_str(), (s.tier.name(), s.score)))
            .collect();
        for r in &records {
            let id = ids::commit(&r.sha);
            let n = g.node(id.clone(), summary(&id, "commit", &r.subject, None));
            let (tier, score) = tiers
                .get(r.sha.as_str())
                .copied()
                .unwrap_or(("scored", 0.0));
            g.details[n as usize] = json!({
                "sha": r.sha,
                "subject": r.subject,
                "author_name": r.author.name,
                "author_email": r.author.email,
                "authored_at": super::text::utc(r.author.time),
                "author_tz": super::text::offset(r.author.offset),
                "committed_at": super::text::utc(r.committer.time),
                "is_merge": r.is_merge(),
                "parent_shas": r.parents,
                "grafted": r.grafted,
                "tier": tier,
                "importance_score": score,
            });
            let email = r.author.email.to_lowercase();
            let author = ids::author(&email);
            let name = names.get(email.as_str()).copied().unwrap_or(email.as_str());
            g.node(
                author.clone(),
                summary(&author, "author_identity", name, None),
            );
            for c in &r.changes {
                for path in std::iter::once(&c.path).chain(c.old_path.iter()) {
                    let file = ids::file(path);
                    let base = path.rsplit('/').next().unwrap_or(path);
                    g.node(file.clone(), summary(&file, "file", base, Some(path)));
                }
            }
        }
        for a in &run.repo.authors {
            if let Some(&n) = g.index.get(&ids::author(&a.email)) {
                g.details[n as usize] = json!({ "email": a.email, "name_aliases": a.names });
            }
        }
        for t in &run.repo.snapshot.tags {
            let id = ids::tag(&t.name);
            let n = g.node(id.clone(), summary(&id, "tag", &t.name, None));
            g.details[n as usize] = json!({
                "tag_type": if t.annotated { "annotated" } else { "lightweight" },
                "target_sha": t.target,
                "tagger_name": t.tagger.as_ref().map(|p| &p.name),
                "tagger_email": t.tagger.as_ref().map(|p| &p.email),
                "tagged_at": t.tagger.as_ref().map(|p| super::text::utc(p.time)),
                "subject": t.subject,
            });
        }
        for b in &run.repo.snapshot.branches {
            let id = ids::branch(&b.name);
            let n = g.node(id.clone(), summary(&id, "ref", &b.name, None));
            g.details[n as usize] = json!({ "ref_type": "branch", "head_sha": b.head });
        }
        let refs: Vec<&CommitRecord> = records.iter().collect();
        let mut links = Vec::new();
        for r in &records {
            links.push(authored_link(r));
            for c in &r.changes {
                links.push(modifies_link(r, c));
                if c.kind == ChangeKind::Renamed
                    && let Some(old) = &c.old_path
                {
                    links.push(super::query::link(
                        "succeeded_from",
                        ids::rules::SUCCEEDED_FROM,
                        ids::file(&c.path),
                        ids::file(old),
                        json!([{ "commit_sha": r.sha, "old_path": old, "similarity": c.similarity }]),
                    ));
                }
            }
        }
        links.extend(commit_links(run, &refs));
        for path in notes {
            let file = ids::file(path);
            if g.index.contains_key(&file) {
                let note = crate::graph::model::entity_id(&format!("note:{path}"));
                g.node(note.clone(), summary(&note, "ag:note", path, Some(path)));
                links.push(note_source_link(path, note));
            }
        }
        for l in links {
            g.link(l);
        }
        Ok(g)
    }

    fn node(&mut self, id: String, summary: Value) -> u32 {
        if let Some(&n) = self.index.get(&id) {
            return n;
        }
        let n = self.nodes.len() as u32;
        self.nodes.push(summary);
        self.details.push(Value::Null);
        self.adjacent.push(Vec::new());
        self.index.insert(id, n);
        n
    }

    fn link(&mut self, l: LinkView) {
        let (Some(&from), Some(&to)) = (self.index.get(&l.from_id), self.index.get(&l.to_id))
        else {
            return;
        };
        let e = self.links.len() as u32;
        self.links.push(l);
        self.adjacent[from as usize].push((e, to, true));
        self.adjacent[to as usize].push((e, from, false));
    }

    /// A link as the navigation commands show it, walked forward (from its
    /// `from` end) or not.
    fn link_json(&self, edge: u32, forward: bool) -> Value {
        let l = &self.links[edge as usize];
        json!({
            "link_id": l.id,
            "type": l.kind,
            "rule_id": l.rule_id,
            "confidence": l.confidence,
            "authority": l.authority,
            "from_id": l.from_id,
            "to_id": l.to_id,
            "direction": if forward { "outgoing" } else { "incoming" },
            "evidence": l.evidence,
        })
    }

    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// `neighbors ID`: breadth-first over links in both directions, each
    /// neighbour with the path of links that first reached it.
    pub fn neighbors(&self, id: &str, depth: usize, limit: Option<usize>) -> Option<Value> {
        let &start = self.index.get(id)?;
        let incident = |node: u32| self.adjacent[node as usize].clone();
        let (order, seen) = crate::query::nav::breadth_first(start, depth, &incident);
        let shown: Vec<Value> = order
            .iter()
            .take(limit.unwrap_or(usize::MAX))
            .map(|n| {
                let mut v = self.nodes[*n as usize].clone();
                if let (Some(map), Some((d, path))) = (v.as_object_mut(), seen.get(n)) {
                    map.insert("depth".into(), json!(d));
                    let steps = path
                        .iter()
                        .map(|&(edge, forward)| self.link_json(edge, forward));
                    map.insert("path".into(), Value::Array(steps.collect()));
                }
                v
            })
            .collect();
        Some(json!({
            "center": self.nodes[start as usize],
            "depth": depth,
            "neighbors": shown,
            "total_count": order.len(),
            "truncated": shown.len() < order.len(),
            "graph": "git-provenance",
        }))
    }

    /// `node ID` of a git entity: its summary, its own fields, and its
    /// links (each with its rule and evidence).
    pub fn entity(&self, id: &str) -> Option<Value> {
        let &n = self.index.get(id)?;
        let mut out = self.nodes[n as usize].clone();
        let side = |outgoing: bool| -> Vec<Value> {
            self.adjacent[n as usize]
                .iter()
                .filter(|(_, _, forward)| *forward == outgoing)
                .map(|&(edge, other, _)| {
                    let mut v = self.link_json(edge, outgoing);
                    v["other"] = self.nodes[other as usize].clone();
                    v
                })
                .collect()
        };
        if let Some(map) = out.as_object_mut() {
            if let Some(fields) = self.details[n as usize].as_object() {
                for (k, v) in fields {
                    map.insert(k.clone(), v.clone());
                }
            }
            map.insert(
                "provenance".into(),
                json!({ "created_by_rule": "git.provenance.v1" }),
            );
            map.insert("outgoing".into(), Value::Array(side(true)));
            map.insert("incoming".into(), Value::Array(side(false)));
        }
        Some(out)
    }

    /// The shortest paths from `from` to `to` (up to `max_paths`, at most
    /// `max_depth` links), shaped as `why-connected` answers.
    pub fn why_connected(
        &self,
        from: &str,
        to: &str,
        max_depth: usize,
        max_paths: usize,
    ) -> Option<Value> {
        let (&a, &b) = (self.index.get(from)?, self.index.get(to)?);
        let base = json!({
            "from": self.nodes[a as usize],
            "to": self.nodes[b as usize],
            "max_depth": max_depth,
            "graph": "git-provenance",
        });
        let incident = |node: u32| self.adjacent[node as usize].clone();
        let Some((length, paths)) =
            crate::query::nav::shortest_paths(a, b, max_depth, max_paths, &incident)
        else {
            let mut out = base;
            out["connected"] = json!(false);
            out["paths"] = json!([]);
            out["message"] = json!(format!("not connected within depth {max_depth}"));
            return Some(out);
        };
        let paths: Vec<Value> = paths
            .iter()
            .map(|p| {
                let mut at = a;
                let edges: Vec<Value> = p
                    .iter()
                    .map(|&(edge, forward)| {
                        let l = &self.links[edge as usize];
                        let next = if forward { &l.to_id } else { &l.from_id };
                        let from = at;
                        at = self.index.get(next).copied().unwrap_or(at);
                        let mut v = self.link_json(edge, forward);
                        v["from"] = self.nodes[from as usize].clone();
                        v["to"] = self.nodes[at as usize].clone();
                        v
                    })
                    .collect();
                json!({ "length": p.len(), "edges": edges })
            })
            .collect();
        let mut out = base;
        out["connected"] = json!(true);
        out["length"] = json!(length);
        out["paths"] = json!(paths);
        Some(out)
    }
}

/// Whether `id` belongs to the git provenance of the run `pieces` reads
/// (a git entity, or an `ent_` id the knowledge graph does not hold), and
/// the run has git provenance.
fn in_git(pieces: &crate::query::load::RunPieces, id: &str) -> Result<bool> {
    Ok(pieces.manifests.git.is_some()
        && (is_git_id(id) || (id.starts_with("ent_") && pieces.locate(id)?.is_none())))
}

/// The git graph of the run `pieces` reads, with `ids` checked in it.
fn graph_with(pieces: &crate::query::load::RunPieces, ids: &[&str]) -> Result<GitGraph> {
    let run = GitRun::open_at(&pieces.reader, pieces.run_id.clone())?;
    let notes: BTreeSet<String> = crate::ingest::run_records(&pieces.reader, &pieces.run_id)?
        .into_iter()
        .filter(|r| r.parse_status == crate::ingest::ParseStatus::Ok)
        .map(|r| r.path)
        .collect();
    let graph = GitGraph::build(&run, &notes)?;
    for id in ids {
        if !graph.contains(id) {
            return Err(crate::error::Error::NotFound {
                message: format!(
                    "'{id}' is in neither the knowledge graph nor the git provenance of run {}; the two meet at notes: pass a note's id or a git entity's (see `auditgraph git-history FILE --json`)",
                    pieces.run_id
                ),
            });
        }
    }
    Ok(graph)
}

/// `node ID` of a git entity: `None` when `id` is not one (the knowledge
/// graph answers).
pub fn node_in_run(pieces: &crate::query::load::RunPieces, id: &str) -> Result<Option<Value>> {
    if !in_git(pieces, id)? {
        return Ok(None);
    }
    Ok(graph_with(pieces, &[id])?.entity(id))
}

/// `neighbors ID` of a git entity: `None` when `id` is not one.
pub fn neighbors_in_run(
    pieces: &crate::query::load::RunPieces,
    id: &str,
    depth: usize,
    limit: Option<usize>,
) -> Result<Option<Value>> {
    if !in_git(pieces, id)? {
        return Ok(None);
    }
    Ok(graph_with(pieces, &[id])?.neighbors(id, depth, limit))
}

/// `why-connected` through the git provenance, when an end is a git entity
/// (or a file id): `None` when neither is (the knowledge graph answers).
pub fn why_connected_in_run(
    pieces: &crate::query::load::RunPieces,
    from: &str,
    to: &str,
    max_depth: usize,
    max_paths: usize,
) -> Result<Option<Value>> {
    if !(in_git(pieces, from)? || in_git(pieces, to)?) {
        return Ok(None);
    }
    let graph = graph_with(pieces, &[from, to])?;
    Ok(graph.why_connected(from, to, max_depth, max_paths))
}
