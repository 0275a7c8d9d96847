//! `diff`: what changed between two runs: sources (by path and content
//! hash), entities and links (by id, and by content for the same id).

use crate::error::{Error, Result};
use crate::hashing::sha256_hex;
use crate::ingest::{IngestRecord, ParseStatus};
use crate::pipeline::Workspace;
use crate::query::load::{Need, open_run};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Added, removed and changed items of one kind of thing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SetDiff {
    pub added: Vec<DiffItem>,
    pub removed: Vec<DiffItem>,
    pub changed: Vec<DiffItem>,
    pub counts: DiffCounts,
}

/// One changed thing: its key (path or id) and what it is, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffItem {
    pub key: String,
    pub label: String,
}

/// Key -> (content fingerprint, label).
type Fingerprints = BTreeMap<String, (String, String)>;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DiffCounts {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub unchanged: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub run_a: String,
    pub run_b: String,
    pub sources: SetDiff,
    /// `None` when a run has no graph (only ingested).
    pub entities: Option<SetDiff>,
    pub links: Option<SetDiff>,
}

impl SetDiff {
    /// At most `limit` keys per change kind, with the complete counts.
    pub fn to_json(&self, limit: usize) -> serde_json::Value {
        serde_json::json!({
            "added": self.added.iter().take(limit).collect::<Vec<_>>(),
            "removed": self.removed.iter().take(limit).collect::<Vec<_>>(),
            "changed": self.changed.iter().take(limit).collect::<Vec<_>>(),
            "counts": self.counts,
        })
    }
}

impl DiffReport {
    /// The document `diff --json --limit N` prints (and the MCP tool
    /// `diff` returns).
    pub fn to_json(&self, limit: usize) -> serde_json::Value {
        serde_json::json!({
            "status": "ok",
            "run_a": self.run_a,
            "run_b": self.run_b,
            "sources": self.sources.to_json(limit),
            "entities": self.entities.as_ref().map(|s| s.to_json(limit)),
            "links": self.links.as_ref().map(|s| s.to_json(limit)),
        })
    }
}

fn set_diff(a: &Fingerprints, b: &Fingerprints) -> SetDiff {
    let item = |key: &String, label: &String| DiffItem {
        key: key.clone(),
        label: label.clone(),
    };
    let mut d = SetDiff::default();
    for (key, (value, label)) in b {
        match a.get(key) {
            None => d.added.push(item(key, label)),
            Some((old, _)) if old != value => d.changed.push(item(key, label)),
            Some(_) => d.counts.unchanged += 1,
        }
    }
    for (key, (_, label)) in a {
        if !b.contains_key(key) {
            d.removed.push(item(key, label));
        }
    }
    d.counts.added = d.added.len();
    d.counts.removed = d.removed.len();
    d.counts.changed = d.changed.len();
    d
}

/// Fingerprints of every entity and link of a run (ids -> content hash),
/// ignoring which run produced them.
fn graph_fingerprints(ws: &Workspace, run: &str) -> Result<Option<(Fingerprints, Fingerprints)>> {
    let loaded = match open_run(ws, Some(run), Need::Graph) {
        Ok(l) => l,
        Err(Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let view = &loaded.view;
    let entities: Result<Vec<(String, (String, String))>> = (0..view.graph.nodes.len() as u32)
        .into_par_iter()
        .map(|i| {
            let mut e = view.entity(i)?;
            if let Some(p) = e.get_mut("provenance").and_then(|p| p.as_object_mut()) {
                p.remove("run_id");
            }
            let node = &view.graph.nodes[i as usize];
            let label = format!("{} {}", node.kind.type_name(), node.name);
            Ok((
                view.node_id(i).to_string(),
                (sha256_hex(e.to_string()), label),
            ))
        })
        .collect();
    let links: Vec<(String, (String, String))> = (0..view.graph.edges.len())
        .into_par_iter()
        .map(|e| {
            let link = view.link(e);
            let edge = &view.graph.edges[e];
            let label = format!(
                "{} {} -> {}",
                edge.kind.type_name(),
                view.graph.nodes[edge.from as usize].name,
                view.graph.nodes[edge.to as usize].name
            );
            (view.link_id(e), (sha256_hex(link.to_string()), label))
        })
        .collect();
    Ok(Some((
        entities?.into_iter().collect(),
        links.into_iter().collect(),
    )))
}

fn sources(records: &[IngestRecord]) -> Fingerprints {
    records
        .iter()
        .map(|r| {
            let status = match r.parse_status {
                ParseStatus::Ok => "ok",
                ParseStatus::Skipped => "skipped",
                ParseStatus::Failed => "failed",
            };
            (
                r.path.clone(),
                (
                    format!("{}:{status}", r.sha256.as_deref().unwrap_or("-")),
                    status.to_string(),
                ),
            )
        })
        .collect()
}

/// Compares two runs. Without `run_a`, the run before the current one in
/// the run log; without `run_b`, the current run.
pub fn diff(ws: &Workspace, run_a: Option<&str>, run_b: Option<&str>) -> Result<DiffReport> {
    let reader = ws.reader()?;
    let b = reader.resolve_run(run_b)?;
    let a = match run_a {
        Some(a) => reader.resolve_run(Some(a))?,
        None => {
            // The trail, newest first: the last run made current before `b`.
            let mut found = None;
            for seq in (1..=reader.state.head).rev() {
                let sealed = crate::store::chain::read_entry(&reader.layout, seq)?;
                if let Some(id) = &sealed.entry.current_run
                    && id != &b
                    && reader.state.runs.contains_key(id)
                {
                    found = Some(id.clone());
                    break;
                }
            }
            found.ok_or_else(|| Error::NotFound {
                message: "there is no earlier run to compare with; give --run-a".to_string(),
            })?
        }
    };
    let changes = compare(ws, &reader, Some(&a), &b)?;
    Ok(DiffReport {
        run_a: a,
        run_b: b,
        sources: changes.sources,
        entities: changes.entities,
        links: changes.links,
    })
}

/// What changed from one run to another.
#[derive(Debug, Clone)]
pub struct Changes {
    pub sources: SetDiff,
    /// `None` when a run has no graph (only ingested).
    pub entities: Option<SetDiff>,
    pub links: Option<SetDiff>,
}

/// Compares run `a` with run `b` (both resolved ids). Without `a`, `b` is
/// compared with an empty store: everything in it is added.
pub fn compare(
    ws: &Workspace,
    reader: &crate::store::StoreReader,
    a: Option<&str>,
    b: &str,
) -> Result<Changes> {
    let records = |run: &str| crate::ingest::run_records(reader, run);
    let before = match a {
        Some(a) => sources(&records(a)?),
        None => Fingerprints::new(),
    };
    let sources_diff = set_diff(&before, &sources(&records(b)?));
    let (ga, gb) = rayon::join(
        || match a {
            Some(a) => graph_fingerprints(ws, a),
            None => Ok(Some((Fingerprints::new(), Fingerprints::new()))),
        },
        || graph_fingerprints(ws, b),
    );
    let (entities, links) = match (ga?, gb?) {
        (Some((ea, la)), Some((eb, lb))) => (Some(set_diff(&ea, &eb)), Some(set_diff(&la, &lb))),
        _ => (None, None),
    };
    Ok(Changes {
        sources: sources_diff,
        entities,
        links,
    })
}
