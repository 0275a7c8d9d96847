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
//! 3. Selects the subgraph (see [`select`]).
//! 4. Checks the source path of every document the export mentions with
//!    the configured secret detectors (`security.redaction`). Note text was
//!    redacted when it was ingested, before anything was stored, but a file
//!    name is not note text: a note named after an access key would carry
//!    the key into every export (as its path, and as its name when it has
//!    no title). Such an export is refused, naming the document id and the
//!    kind of secret, never the secret itself. Text derived from redacted
//!    notes (names, snippets, chunks) is not scanned again: case folding,
//!    truncation and markup stripping turn harmless text into strings the
//!    detectors would take for secrets (`user_pass=COMBO00:COMBO01` of a
//!    tldr page, case-folded in a canonical key), and add nothing.
//! 5. Renders the whole file in memory. Output is deterministic: entities
//!    and links sorted by id, documents and chunks by id, object keys
//!    sorted, no wall-clock time, no absolute path of the workspace. The
//!    same run and filters give the same bytes, in every workspace holding
//!    the same notes, whatever the thread count.
//! 6. Checks the disk footprint budget (see [`budget`]): an export under
//!    the workspace counts what it adds to the store and the earlier
//!    exports in `exports/` (the difference when it replaces a file); one
//!    outside the workspace is reported, not counted. A block writes
//!    nothing.
//! 7. Writes the file atomically (temporary file + rename in the target
//!    directory).
//!
//! Default file names: `exports/graph.<ext>` for the whole graph,
//! `exports/graph-<filters>.<ext>` for a subgraph, where `<filters>` is the
//! first 12 hex characters of the SHA-256 of the filters and `<ext>` is
//! `json`, `dot`, `graphml` or `cypher`. Exporting again, after a run or
//! not, replaces the same file (the run id is inside it), so the exports
//! of a workspace do not pile up run after run; `--output` keeps one.

pub mod budget;
pub mod cypher;
pub mod dot;
pub mod graphml;
pub mod json;
pub mod output;
pub mod select;

use crate::error::{Error, Result};
use crate::graph::model::{EdgeKind, NodeDetail, NodeKind};
use crate::graph::view::GraphView;
use crate::hashing::{FieldHasher, sha256_hex};
use crate::ingest::IngestRecord;
use crate::pipeline::Workspace;
use crate::query::load::{LoadedRun, Need, open_run};
use crate::redact::Redactor;
use crate::store::budget::BudgetReport;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};
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
    /// JSON only: include chunk text and section snippets (see [`json`]).
    pub with_text: bool,
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
    /// The file written (absolute; shown lossily if it is not UTF-8).
    #[serde(serialize_with = "lossy_path")]
    pub output: PathBuf,
    pub bytes: u64,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    pub run_id: String,
    pub profile: String,
    pub counts: ExportCounts,
    pub filters: Filter,
    pub budget: BudgetReport,
    /// False when written outside the workspace: reported, not counted.
    pub counted_in_budget: bool,
}

fn lossy_path<S: serde::Serializer>(path: &Path, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
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
    /// Every record of the run, in path order.
    pub records: &'a [IngestRecord],
    pub filter: &'a Filter,
    pub selection: &'a Selection,
}

impl ExportContext<'_> {
    pub fn view(&self) -> &GraphView {
        &self.run.view
    }
}

/// The default file name of an export (see the module docs).
pub fn default_file_name(filter: &Filter, format: Format) -> String {
    if filter.is_whole_graph() {
        format!("graph.{}", format.extension())
    } else {
        let mut h = FieldHasher::new("export-filters");
        h.field(filter.types.join(","));
        h.field(filter.from.as_deref().unwrap_or(""));
        h.field(filter.depth.map(|d| d.to_string()).unwrap_or_default());
        let digest = h.finish_hex();
        format!(
            "graph-{}.{}",
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

fn read_ingest(run: &LoadedRun) -> Result<Vec<IngestRecord>> {
    let table = run
        .manifests
        .ingest
        .table(&run.reader.layout, crate::store::piece::PieceKind::Records)?;
    crate::ingest::read_all_records(&run.reader.layout, &table)
}

fn render_run(
    ws: &Workspace,
    run: &LoadedRun,
    records: &[IngestRecord],
    req: &ExportRequest<'_>,
) -> Result<Rendered> {
    let selection = select::select(&run.view, &req.filter)?;
    let ctx = ExportContext {
        ws,
        run,
        records,
        filter: &req.filter,
        selection: &selection,
    };
    let scanner = SecretScan::new(ws)?;
    scanner.check_paths(&ctx, req.format)?;
    let rendered = match req.format {
        Format::Json => json::render(&ctx, req.with_text)?,
        Format::Dot => dot::render(&ctx)?,
        Format::Graphml => graphml::render(&ctx)?,
        Format::Cypher => cypher::render(&ctx)?,
    };
    Ok(rendered)
}

/// Runs an export end to end (see the module docs for the order of checks).
pub fn export(ws: &Workspace, req: &ExportRequest<'_>) -> Result<ExportReport> {
    if req.with_text && req.format != Format::Json {
        return Err(Error::InvalidArgument {
            message: format!(
                "--with-text applies to the json export only (the {} export carries no text); leave it out",
                req.format.name()
            ),
        });
    }
    let run = open_run(ws, req.run, Need::Graph)?;
    let ingest = read_ingest(&run)?;
    let sources: HashSet<&str> = ingest.iter().map(|r| r.path.as_str()).collect();
    let name = default_file_name(&req.filter, req.format);
    let target = output::resolve(&ws.root, req.output, &name, &sources)?;

    let rendered = render_run(ws, &run, &ingest, req)?;

    let len = rendered.bytes.len() as u64;
    let charge = budget::charge(ws, &target, len, "export")?;
    if charge.blocks() {
        return Err(Error::BudgetBlocked(Box::new(charge.report)));
    }
    output::write(&ws.root, &target, &rendered.bytes)?;
    let budget = charge.report;
    Ok(ExportReport {
        counted_in_budget: charge.counted,
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

/// Plans a live sync of a run's whole graph (see [`cypher::sync_plan`]):
/// the same rows as `export-neo4j`, after the same checks.
pub fn plan_sync(ws: &Workspace, run: Option<&str>) -> Result<(LoadedRun, cypher::SyncPlan)> {
    let run = open_run(ws, run, Need::Graph)?;
    let ingest = read_ingest(&run)?;
    let filter = Filter::default();
    let selection = select::select(&run.view, &filter)?;
    let ctx = ExportContext {
        ws,
        run: &run,
        records: &ingest,
        filter: &filter,
        selection: &selection,
    };
    SecretScan::new(ws)?.check_paths(&ctx, Format::Cypher)?;
    let plan = cypher::sync_plan(&ctx)?;
    Ok((run, plan))
}

/// The secret detectors of the configuration, applied to the source paths
/// an export mentions (see the module docs).
pub struct SecretScan {
    redactor: Redactor,
}

impl SecretScan {
    pub fn new(ws: &Workspace) -> Result<SecretScan> {
        // The key only shapes redaction markers, which a scan never makes.
        let policy = ws.config.config.security.redaction.policy();
        let redactor = Redactor::new(&policy, b"auditgraph export scan")?;
        Ok(SecretScan { redactor })
    }

    /// Refuses the export if a path it mentions holds a secret.
    pub fn check_paths(&self, ctx: &ExportContext<'_>, format: Format) -> Result<()> {
        if !self.redactor.is_enabled() {
            return Ok(());
        }
        let graph = &ctx.view().graph;
        let mut by_category: BTreeMap<&str, usize> = BTreeMap::new();
        let mut documents: Vec<String> = Vec::new();
        for doc in ctx.mentioned_documents() {
            let Some(d) = graph.docs.get(doc as usize) else {
                continue;
            };
            let findings = self.redactor.scan(&d.path);
            if findings.is_empty() {
                continue;
            }
            for f in &findings {
                *by_category.entry(f.category).or_default() += 1;
            }
            documents.push(crate::ingest::document::document_id(&d.path));
        }
        if documents.is_empty() {
            return Ok(());
        }
        let summary: Vec<String> = by_category
            .iter()
            .map(|(c, n)| format!("{n} {c}"))
            .collect();
        let shown: Vec<&str> = documents.iter().take(5).map(String::as_str).collect();
        Err(Error::Failed {
            message: format!(
                "the {} export would copy a secret out of the store: the file name of {} document(s) matches the secret detectors ({}): {}{}; nothing was written. Rename the file (`auditgraph node <document id>` shows its path) and run `auditgraph run` again",
                format.name(),
                documents.len(),
                summary.join(", "),
                shown.join(", "),
                if documents.len() > shown.len() {
                    format!(" and {} more", documents.len() - shown.len())
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

/// The id of node `i` in the view's id table.
fn id_of(ids: &[String], i: u32) -> &str {
    ids.get(i as usize).map(String::as_str).unwrap_or("")
}

/// What DOT and GraphML show of an entity, read from the graph alone.
pub struct NodeSummary<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub kind: NodeKind,
    pub source_path: Option<&'a str>,
}

/// An end of a link as DOT and GraphML name it: its position among the
/// selected entities (sorted by id), or its id when the selection leaves
/// it out.
pub enum NodeRef<'a> {
    Position(usize),
    Id(&'a str),
}

/// What DOT and GraphML show of a link, read from the graph alone.
pub struct EdgeSummary<'a> {
    pub from: NodeRef<'a>,
    pub to: NodeRef<'a>,
    pub kind: EdgeKind,
    pub confidence: f64,
}

impl ExportContext<'_> {
    /// The selected entities, sorted by id.
    pub fn node_summaries(&self) -> Vec<NodeSummary<'_>> {
        let view = self.view();
        let graph = &view.graph;
        let ids = view.all_ids();
        self.selection
            .nodes
            .iter()
            .filter_map(|&i| {
                let node = graph.nodes.get(i as usize)?;
                Some(NodeSummary {
                    id: id_of(ids, i),
                    name: &node.name,
                    kind: node.kind,
                    source_path: node
                        .doc
                        .and_then(|d| graph.docs.get(d as usize))
                        .map(|d| d.path.as_str()),
                })
            })
            .collect()
    }

    /// Every document the export mentions: those of the selected entities,
    /// the targets of selected references, the documents mentioning a
    /// selected technology, and those the selected links cite as evidence.
    pub fn mentioned_documents(&self) -> BTreeSet<u32> {
        let view = self.view();
        let graph = &view.graph;
        let mut docs = BTreeSet::new();
        for &i in &self.selection.nodes {
            let Some(node) = graph.nodes.get(i as usize) else {
                continue;
            };
            docs.extend(node.doc);
            match &node.detail {
                NodeDetail::Reference {
                    target_note: Some(t),
                    ..
                } => {
                    docs.extend(graph.nodes.get(*t as usize).and_then(|n| n.doc));
                }
                NodeDetail::Technology { .. } => {
                    for &e in view.incoming(i) {
                        if let Some(edge) = graph.edges.get(e as usize)
                            && edge.kind == EdgeKind::MentionsTechnology
                        {
                            docs.extend(edge.evidence.iter().map(|ev| ev.doc));
                        }
                    }
                }
                _ => {}
            }
        }
        for &e in &self.selection.edges {
            if let Some(edge) = graph.edges.get(e) {
                docs.extend(edge.evidence.iter().map(|ev| ev.doc));
            }
        }
        docs.retain(|&d| (d as usize) < graph.docs.len());
        docs
    }

    /// The selected links, sorted by id.
    pub fn edge_summaries(&self) -> Vec<EdgeSummary<'_>> {
        let view = self.view();
        let ids = view.all_ids();
        let positions: std::collections::HashMap<u32, usize> = self
            .selection
            .nodes
            .iter()
            .enumerate()
            .map(|(pos, &i)| (i, pos))
            .collect();
        let end = |i: u32| match positions.get(&i) {
            Some(&pos) => NodeRef::Position(pos),
            None => NodeRef::Id(id_of(ids, i)),
        };
        self.selection
            .edges
            .iter()
            .filter_map(|&e| {
                let edge = view.graph.edges.get(e)?;
                Some(EdgeSummary {
                    from: end(edge.from),
                    to: end(edge.to),
                    kind: edge.kind,
                    confidence: crate::graph::view::round_confidence(edge.confidence),
                })
            })
            .collect()
    }
}
