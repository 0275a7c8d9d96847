//! Exports: a run's graph (or a subgraph of it) as a file other tools read.
//!
//! | format | file | reader |
//! |---|---|---|
//! | [`Format::Json`] | a self-contained bundle (see [`json`]) described by `schemas/export.schema.json` | any JSON Schema 2020-12 validator |
//! | [`Format::Dot`] | `digraph auditgraph { … }` (see [`dot`]) | Graphviz |
//! | [`Format::Graphml`] | GraphML with declared keys (see [`graphml`]) | networkx, Gephi, yEd |
//! | [`Format::Cypher`] | an idempotent Cypher script (see [`cypher`]) | Neo4j 5 (`cypher-shell`, drivers) |
//!
//! # What every export does, in this order
//!
//! 1. Opens the current run (or `--run-id`) with the compatibility check of
//!    every read command (refusals exit 3/4).
//! 2. Resolves the output path (see [`output`]): refusals are usage errors
//!    and nothing is written.
//! 3. Selects the subgraph (see [`select`]) and renders the whole file in
//!    memory. Output is deterministic: entities and links sorted by id,
//!    documents and chunks by id, object keys sorted, no wall-clock time,
//!    no absolute path of the workspace. The same run and filters give the
//!    same bytes, in every workspace holding the same notes.
//! 4. Scans every string it is about to write with the configured secret
//!    detectors (`security.redaction`). Secrets were redacted when the notes
//!    were ingested, so a finding means the store holds an unredacted secret
//!    (a source path, say): the export is refused, naming the entity or
//!    chunk and the kind of secret, never the secret itself.
//! 5. Checks the disk footprint budget: an export counts the bytes it is
//!    about to write against the workspace budget, wherever the file goes
//!    (earlier export files are not counted: the store's counters do not
//!    track them). A block writes nothing.
//! 6. Writes the file atomically (temporary file + rename in the target
//!    directory).
//!
//! Default file names: `exports/<run>.<ext>` for the whole graph,
//! `exports/<run>-<filters>.<ext>` for a subgraph, where `<run>` is `run_`
//! plus the first 12 hex characters of the run id, `<filters>` the first
//! 12 hex characters of the SHA-256 of the filters, and `<ext>` is `json`,
//! `dot`, `graphml` or `cypher`. Re-exporting the same run with the same
//! filters replaces the same file.

pub mod cypher;
pub mod dot;
pub mod graphml;
pub mod json;
pub mod output;
pub mod select;

use crate::error::{Error, Result};
use crate::graph::model::NodeKind;
use crate::graph::view::GraphView;
use crate::hashing::{FieldHasher, sha256_hex};
use crate::ingest::IngestManifest;
use crate::pipeline::Workspace;
use crate::query::load::{LoadedRun, Need, open_run};
use crate::redact::Redactor;
use crate::store::budget::{BudgetReport, BudgetStatus, check_store};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

pub use select::{Filter, Selection};

/// What an export produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Dot,
    Graphml,
    /// The Cypher script of `export-neo4j`.
    Cypher,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Dot => "dot",
            Format::Graphml => "graphml",
            Format::Cypher => "cypher",
        }
    }

    /// The file extension of the default output.
    pub fn extension(self) -> &'static str {
        self.name()
    }
}

/// One export.
#[derive(Debug, Clone)]
pub struct ExportRequest<'a> {
    pub format: Format,
    pub filter: Filter,
    /// `--output` as typed; `None` for the default under `<root>/exports/`.
    pub output: Option<&'a Path>,
    /// A run id or unique prefix; `None` for the current run.
    pub run: Option<&'a str>,
}

/// What was exported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExportCounts {
    pub entities: usize,
    pub links: usize,
    /// Documents and chunks in a JSON bundle (`None` for other formats).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documents: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunks: Option<usize>,
}

/// The result of [`export`]: the `--json` document of the CLI.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub format: Format,
    /// The file written (absolute).
    pub output: PathBuf,
    pub bytes: u64,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    pub run_id: String,
    pub profile: String,
    pub counts: ExportCounts,
    pub filters: Filter,
    pub budget: BudgetReport,
}

/// A rendered export, not yet written.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub counts: ExportCounts,
}

/// Everything a renderer needs.
pub struct ExportContext<'a> {
    pub ws: &'a Workspace,
    pub run: &'a LoadedRun,
    pub ingest: &'a IngestManifest,
    pub filter: &'a Filter,
    pub selection: &'a Selection,
    pub scanner: &'a SecretScan,
}

impl ExportContext<'_> {
    pub fn view(&self) -> &GraphView {
        &self.run.view
    }
}

/// The default file name of an export (see the module docs).
pub fn default_file_name(run_id: &str, filter: &Filter, format: Format) -> String {
    let hex = run_id.strip_prefix("run_").unwrap_or(run_id);
    let short = hex.get(..12).unwrap_or(hex);
    if filter.is_whole_graph() {
        format!("run_{short}.{}", format.extension())
    } else {
        let mut h = FieldHasher::new("export-filters");
        h.field(filter.types.join(","));
        h.field(filter.from.as_deref().unwrap_or(""));
        h.field(filter.depth.map(|d| d.to_string()).unwrap_or_default());
        let digest = h.finish_hex();
        format!(
            "run_{short}-{}.{}",
            digest.get(..12).unwrap_or(&digest),
            format.extension()
        )
    }
}

/// Renders an export in memory: opens the run, selects, renders, scans for
/// secrets. Writes nothing. Returns the run and the rendering.
pub fn render(ws: &Workspace, req: &ExportRequest<'_>) -> Result<(LoadedRun, Rendered)> {
    let run = open_run(ws, req.run, Need::Graph)?;
    let ingest = read_ingest(&run)?;
    let rendered = render_run(ws, &run, &ingest, req)?;
    Ok((run, rendered))
}

fn read_ingest(run: &LoadedRun) -> Result<IngestManifest> {
    run.reader
        .stage_manifest::<IngestManifest>(&run.run_id, crate::ingest::STAGE)?
        .ok_or_else(|| Error::NotFound {
            message: format!(
                "run {} has no ingest manifest; `auditgraph rebuild` writes a complete run",
                run.run_id
            ),
        })
}

fn render_run(
    ws: &Workspace,
    run: &LoadedRun,
    ingest: &IngestManifest,
    req: &ExportRequest<'_>,
) -> Result<Rendered> {
    let selection = select::select(&run.view, &req.filter)?;
    let scanner = SecretScan::new(ws)?;
    let ctx = ExportContext {
        ws,
        run,
        ingest,
        filter: &req.filter,
        selection: &selection,
        scanner: &scanner,
    };
    let rendered = match req.format {
        Format::Json => json::render(&ctx)?,
        Format::Dot => dot::render(&ctx)?,
        Format::Graphml => graphml::render(&ctx)?,
        Format::Cypher => cypher::render(&ctx)?,
    };
    Ok(rendered)
}

/// Runs an export end to end (see the module docs for the order of checks).
pub fn export(ws: &Workspace, req: &ExportRequest<'_>) -> Result<ExportReport> {
    let run = open_run(ws, req.run, Need::Graph)?;
    let ingest = read_ingest(&run)?;
    let sources: HashSet<&str> = ingest.records.iter().map(|r| r.path.as_str()).collect();
    let name = default_file_name(&run.run_id, &req.filter, req.format);
    let target = output::resolve(&ws.root, req.output, &name, &sources)?;

    let rendered = render_run(ws, &run, &ingest, req)?;

    let settings = &ws.config.config.storage.footprint_budget;
    let budget = check_store(&ws.layout, settings, rendered.bytes.len() as u64, "export")?;
    if budget.status == BudgetStatus::Block {
        return Err(Error::BudgetBlocked(Box::new(budget)));
    }
    output::write(&ws.root, &target, &rendered.bytes)?;
    Ok(ExportReport {
        format: req.format,
        output: target.path,
        bytes: rendered.bytes.len() as u64,
        sha256: sha256_hex(&rendered.bytes),
        run_id: run.run_id.clone(),
        profile: ws.config.profile_name.clone(),
        counts: rendered.counts,
        filters: req.filter.clone(),
        budget,
    })
}

/// The secret detectors of the configuration, applied to what an export is
/// about to write (see the module docs).
pub struct SecretScan {
    redactor: Redactor,
}

/// Where an export would have leaked something: a location (an entity,
/// link, document or chunk id, and the field) and the categories found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    pub location: String,
    pub categories: Vec<&'static str>,
}

impl SecretScan {
    pub fn new(ws: &Workspace) -> Result<SecretScan> {
        // The key only shapes redaction markers, which a scan never makes.
        let policy = ws.config.config.security.redaction.policy();
        let redactor = Redactor::new(&policy, b"auditgraph export scan")?;
        Ok(SecretScan { redactor })
    }

    /// A scan that finds nothing (tests, or redaction disabled).
    pub fn disabled() -> SecretScan {
        SecretScan {
            redactor: Redactor::disabled(),
        }
    }

    /// Categories of secrets in one string.
    pub fn text(&self, text: &str) -> Vec<&'static str> {
        if !self.redactor.is_enabled() {
            return Vec::new();
        }
        let mut cats: Vec<&'static str> = self
            .redactor
            .scan(text)
            .iter()
            .map(|f| f.category)
            .collect();
        cats.sort();
        cats.dedup();
        cats
    }

    /// Scans every string (and object key) of a JSON value; returns the
    /// JSON pointer of each string with a finding.
    pub fn value(&self, value: &Value) -> Vec<(String, Vec<&'static str>)> {
        let mut out = Vec::new();
        if self.redactor.is_enabled() {
            self.walk(value, &mut String::new(), &mut out);
        }
        out
    }

    fn walk(
        &self,
        value: &Value,
        pointer: &mut String,
        out: &mut Vec<(String, Vec<&'static str>)>,
    ) {
        match value {
            Value::String(s) => {
                let cats = self.text(s);
                if !cats.is_empty() {
                    out.push((pointer.clone(), cats));
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push_str(&format!("/{i}"));
                    self.walk(item, pointer, out);
                    pointer.truncate(len);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                    let cats = self.text(key);
                    if !cats.is_empty() {
                        out.push((format!("{pointer} (key)"), cats));
                    }
                    self.walk(item, pointer, out);
                    pointer.truncate(len);
                }
            }
            _ => {}
        }
    }

    /// Turns findings into the refusal (or `Ok` when there are none).
    pub fn verdict(format: Format, leaks: Vec<Leak>) -> Result<()> {
        if leaks.is_empty() {
            return Ok(());
        }
        let mut by_category: BTreeMap<&str, usize> = BTreeMap::new();
        for leak in &leaks {
            for c in &leak.categories {
                *by_category.entry(c).or_default() += 1;
            }
        }
        let summary: Vec<String> = by_category
            .iter()
            .map(|(c, n)| format!("{n} {c}"))
            .collect();
        let mut sorted = leaks;
        sorted.sort_by(|a, b| a.location.cmp(&b.location));
        let shown: Vec<&str> = sorted.iter().take(5).map(|l| l.location.as_str()).collect();
        Err(Error::Failed {
            message: format!(
                "the {} export would contain text the secret detectors match ({}) at {}{}; nothing was written. Run `auditgraph validate-store` to check the store; remove the secret from the source (or rename the file) and run `auditgraph run` again",
                format.name(),
                summary.join(", "),
                shown.join(", "),
                if sorted.len() > shown.len() {
                    format!(" and {} more", sorted.len() - shown.len())
                } else {
                    String::new()
                }
            ),
        })
    }
}

/// Per-type counts of the selected entities and links.
pub fn type_counts(view: &GraphView, selection: &Selection) -> (Value, Value) {
    let mut entities: BTreeMap<&str, usize> = BTreeMap::new();
    for &n in &selection.nodes {
        if let Some(node) = view.graph.nodes.get(n as usize) {
            *entities.entry(node.kind.type_name()).or_default() += 1;
        }
    }
    let mut links: BTreeMap<&str, usize> = BTreeMap::new();
    for &e in &selection.edges {
        if let Some(edge) = view.graph.edges.get(e) {
            *links.entry(edge.kind.type_name()).or_default() += 1;
        }
    }
    (
        serde_json::to_value(entities).unwrap_or_default(),
        serde_json::to_value(links).unwrap_or_default(),
    )
}

/// What DOT and GraphML show of an entity, read from the graph alone.
pub struct NodeSummary<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub kind: NodeKind,
    pub canonical_key: String,
    pub source_path: Option<&'a str>,
}

/// What DOT, GraphML and Cypher show of a link, read from the graph alone.
pub struct EdgeSummary<'a> {
    pub id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub kind: crate::graph::model::EdgeKind,
    pub confidence: f64,
    pub evidence_total: u32,
}

impl ExportContext<'_> {
    /// The selected entities, sorted by id, scanned for secrets.
    pub fn node_summaries(&self, format: Format) -> Result<Vec<NodeSummary<'_>>> {
        let view = self.view();
        let graph = &view.graph;
        let mut out = Vec::with_capacity(self.selection.nodes.len());
        let mut leaks = Vec::new();
        for &i in &self.selection.nodes {
            let Some(node) = graph.nodes.get(i as usize) else {
                continue;
            };
            let summary = NodeSummary {
                id: view.node_id(i),
                name: &node.name,
                kind: node.kind,
                canonical_key: graph.canonical_key(i),
                source_path: node
                    .doc
                    .and_then(|d| graph.docs.get(d as usize))
                    .map(|d| d.path.as_str()),
            };
            for (field, text) in [
                ("name", summary.name),
                ("canonical_key", summary.canonical_key.as_str()),
                ("source_path", summary.source_path.unwrap_or("")),
            ] {
                let categories = self.scanner.text(text);
                if !categories.is_empty() {
                    leaks.push(Leak {
                        location: format!("entity {} ({field})", summary.id),
                        categories,
                    });
                }
            }
            out.push(summary);
        }
        SecretScan::verdict(format, leaks)?;
        Ok(out)
    }

    /// The selected links, sorted by id.
    pub fn edge_summaries(&self) -> Vec<EdgeSummary<'_>> {
        let view = self.view();
        self.selection
            .edges
            .iter()
            .zip(&self.selection.link_ids)
            .filter_map(|(&e, id)| {
                let edge = view.graph.edges.get(e)?;
                Some(EdgeSummary {
                    id,
                    from: view.node_id(edge.from),
                    to: view.node_id(edge.to),
                    kind: edge.kind,
                    confidence: crate::graph::view::round_confidence(edge.confidence),
                    evidence_total: edge.evidence_total,
                })
            })
            .collect()
    }
}
