//! The link stage: builds and stores the run's graph.

use crate::config::Cooccurrence;
use crate::error::Result;
use crate::extract::stage::ExtractionGroup;
use crate::graph::build;
use crate::graph::model::{DeferredEdges, EdgeKind, GRAPH_KIND, Graph, NodeKind};
use crate::hashing::FieldHasher;
use crate::ingest::IngestManifest;
use crate::pipeline::manifest::{Artifact, StageManifest, outputs_hash};
use crate::store::layout::StoreLayout;
use crate::store::objects::{self, BodyFormat, PreparedObject};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const STAGE: &str = "link";
/// Bumped whenever linking produces something different from the same
/// extractions.
pub const LINKER_VERSION: &str = "link-1";

pub fn settings_hash(cooccurrence: &Cooccurrence) -> String {
    FieldHasher::new("link-settings")
        .field(LINKER_VERSION)
        .field(serde_json::to_string(cooccurrence).unwrap_or_default())
        .finish_hex()
}

pub struct LinkOutput {
    pub manifest: StageManifest,
    pub new_objects: Vec<PreparedObject>,
    pub graph: Arc<Graph>,
}

pub struct LinkRequest<'a> {
    pub ingest: &'a IngestManifest,
    pub extract: &'a StageManifest,
    pub groups: &'a [Arc<ExtractionGroup>],
    pub cooccurrence: &'a Cooccurrence,
    pub schema_version: String,
    pub pipeline_version: String,
    pub config_hash: String,
    pub started_at: String,
}

/// Builds the graph and its manifest.
pub fn link(req: &LinkRequest<'_>) -> Result<LinkOutput> {
    store_graph(req, Arc::new(build_graph(req)))
}

/// Builds the graph (the part of [`link`] other work can start from).
pub fn build_graph(req: &LinkRequest<'_>) -> Graph {
    let mut timer = crate::progress::Timer::start();
    let graph = build::build(req.groups, req.cooccurrence, &req.pipeline_version);
    timer.lap("link: build");
    graph
}

/// Encodes a graph [`build_graph`] built and writes its manifest.
pub fn store_graph(req: &LinkRequest<'_>, graph: Arc<Graph>) -> Result<LinkOutput> {
    let mut timer = crate::progress::Timer::start();
    let bytes = graph.to_bytes();
    timer.lap("link: encode");
    let payload = objects::payload(GRAPH_KIND, &req.schema_version, BodyFormat::Binary, &bytes);
    let prepared = objects::prepare(payload)?;
    timer.lap("link: compress");
    let artifacts = vec![Artifact {
        kind: GRAPH_KIND.to_string(),
        object: prepared.id.clone(),
        documents_object: None,
        documents: None,
    }];
    let mut entities: BTreeMap<&str, usize> =
        NodeKind::ALL.iter().map(|k| (k.type_name(), 0)).collect();
    for n in &graph.nodes {
        *entities.entry(n.kind.type_name()).or_default() += 1;
    }
    let mut links: BTreeMap<&str, usize> =
        EdgeKind::ALL.iter().map(|k| (k.type_name(), 0)).collect();
    for e in &graph.edges {
        *links.entry(e.kind.type_name()).or_default() += 1;
    }
    let mut resolution: BTreeMap<String, usize> = BTreeMap::new();
    for n in &graph.nodes {
        if let crate::graph::model::NodeDetail::Reference { state, .. } = &n.detail {
            *resolution.entry(state.name().to_string()).or_default() += 1;
        }
    }
    let counts = serde_json::json!({
        "entities": entities,
        "links": links,
        "references": resolution,
        "documents": graph.docs.len(),
    });
    Ok(LinkOutput {
        manifest: StageManifest {
            schema_version: req.schema_version.clone(),
            stage: STAGE.to_string(),
            run_id: String::new(),
            pipeline_version: req.pipeline_version.clone(),
            auditgraph_version: crate::version::AUDITGRAPH_VERSION.to_string(),
            config_hash: req.config_hash.clone(),
            inputs_hash: req.extract.outputs_hash.clone(),
            outputs_hash: outputs_hash(&artifacts),
            settings_hash: settings_hash(req.cooccurrence),
            status: "ok".to_string(),
            counts,
            artifacts,
            warnings: Vec::new(),
            wall_clock_started_at: req.started_at.clone(),
            wall_clock_finished_at: String::new(),
        },
        new_objects: vec![prepared],
        graph,
    })
}

/// Loads the graph a link manifest names.
pub fn load_graph(layout: &StoreLayout, manifest: &StageManifest) -> Result<Graph> {
    let (object, body) = read_graph_body(layout, manifest)?;
    let mut timer = crate::progress::Timer::start();
    let graph = Graph::from_bytes(&body);
    timer.lap("graph: decode");
    graph.map_err(|e| unreadable(layout, object, e))
}

/// Loads the graph a link manifest names without decoding its edges (see
/// [`Graph::from_bytes_deferring_edges`]).
pub fn load_graph_deferring_edges(
    layout: &StoreLayout,
    manifest: &StageManifest,
) -> Result<(Graph, DeferredEdges)> {
    let (object, body) = read_graph_body(layout, manifest)?;
    let mut timer = crate::progress::Timer::start();
    let loaded = Graph::from_bytes_deferring_edges(body);
    timer.lap("graph: decode (edges deferred)");
    let (graph, edges) = loaded.map_err(|e| unreadable(layout, object, e))?;
    Ok((graph, edges.read_from(layout.object_path(object))))
}

/// The graph object a link manifest names, and its inflated body.
fn read_graph_body<'m>(
    layout: &StoreLayout,
    manifest: &'m StageManifest,
) -> Result<(&'m str, Vec<u8>)> {
    let artifact = manifest
        .artifacts
        .iter()
        .find(|a| a.kind == GRAPH_KIND)
        .ok_or_else(|| {
            crate::error::Error::corrupt(&layout.dir, "the link manifest names no graph")
        })?;
    let mut timer = crate::progress::Timer::start();
    let body = objects::read_binary(layout, &artifact.object, GRAPH_KIND)?;
    timer.lap("graph: read and inflate");
    objects::check_format(
        layout,
        &artifact.object,
        GRAPH_KIND,
        &body,
        crate::graph::model::GRAPH_FORMAT,
    )?;
    Ok((&artifact.object, body))
}

fn unreadable(layout: &StoreLayout, object: &str, problem: String) -> crate::error::Error {
    crate::error::Error::corrupt(
        layout.object_path(object),
        format!("unreadable graph: {problem}"),
    )
}
