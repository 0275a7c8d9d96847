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
        for r in &records {
            let id = ids::commit(&r.sha);
            g.node(id.clone(), summary(&id, "commit", &r.subject, None));
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
        for t in &run.repo.snapshot.tags {
            let id = ids::tag(&t.name);
            g.node(id.clone(), summary(&id, "tag", &t.name, None));
        }
        for b in &run.repo.snapshot.branches {
            let id = ids::branch(&b.name);
            g.node(id.clone(), summary(&id, "ref", &b.name, None));
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

    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
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
                        json!({
                            "link_id": l.id,
                            "type": l.kind,
                            "rule_id": l.rule_id,
                            "confidence": l.confidence,
                            "authority": l.authority,
                            "from": self.nodes[from as usize],
                            "to": self.nodes[at as usize],
                            "direction": if forward { "outgoing" } else { "incoming" },
                            "evidence": l.evidence,
                        })
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

/// `why-connected` through the git provenance, when an end is a git entity
/// (or a file id): `None` when neither is (the knowledge graph answers).
pub fn why_connected_in_run(
    pieces: &crate::query::load::RunPieces,
    from: &str,
    to: &str,
    max_depth: usize,
    max_paths: usize,
) -> Result<Option<Value>> {
    let outside = |id: &str| -> Result<bool> {
        Ok(is_git_id(id) || (id.starts_with("ent_") && pieces.locate(id)?.is_none()))
    };
    if pieces.manifests.git.is_none() || !(outside(from)? || outside(to)?) {
        return Ok(None);
    }
    let run = GitRun::open_at(&pieces.reader, pieces.run_id.clone())?;
    let notes: BTreeSet<String> = crate::ingest::run_records(&pieces.reader, &pieces.run_id)?
        .into_iter()
        .filter(|r| r.parse_status == crate::ingest::ParseStatus::Ok)
        .map(|r| r.path)
        .collect();
    let graph = GitGraph::build(&run, &notes)?;
    for id in [from, to] {
        if !graph.contains(id) {
            return Err(crate::error::Error::NotFound {
                message: format!(
                    "'{id}' is in neither the knowledge graph nor the git provenance of run {}; the two meet at notes: pass a note's id or a git entity's (see `auditgraph git-history FILE --json`)",
                    pieces.run_id
                ),
            });
        }
    }
    Ok(graph.why_connected(from, to, max_depth, max_paths))
}
