//! Opening a run's graph (and its index) for read commands.

use crate::error::{Error, Result};
use crate::extract::stage as extract;
use crate::graph::model::{DeferredEdges, Graph};
use crate::graph::stage as link;
use crate::graph::view::{Details, GraphView};
use crate::index::stage::{self as index, IndexData};
use crate::pipeline::Workspace;
use crate::pipeline::manifest::StageManifest;
use crate::store::StoreReader;

/// A run opened for reading.
pub struct LoadedRun {
    pub reader: StoreReader,
    pub run_id: String,
    pub extract: StageManifest,
    pub link: StageManifest,
    pub index_manifest: Option<StageManifest>,
    pub index: Option<IndexData>,
    pub view: GraphView,
}

/// What a read command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The graph only (exports, `node`, `neighbors`).
    Graph,
    /// The graph and the index (`query`, `list`).
    Index,
}

/// Opens the current run (or `run`, a run id or unique prefix) of the
/// workspace's active profile.
pub fn open_run(ws: &Workspace, run: Option<&str>, need: Need) -> Result<LoadedRun> {
    let mut timer = crate::progress::Timer::start();
    let reader = ws.reader()?;
    timer.lap("open: store and compatibility");
    let run_id = reader.resolve_run(run)?;
    let missing = |stage: &str| Error::NotFound {
        message: format!(
            "run {run_id} has no {stage} stage yet, so it has no graph to read; `auditgraph run` builds every stage"
        ),
    };
    let extract: StageManifest = reader
        .stage_manifest(&run_id, extract::STAGE)?
        .ok_or_else(|| missing(extract::STAGE))?;
    let link_manifest: StageManifest = reader
        .stage_manifest(&run_id, link::STAGE)?
        .ok_or_else(|| missing(link::STAGE))?;
    let index_manifest: Option<StageManifest> = reader.stage_manifest(&run_id, index::STAGE)?;
    if need == Need::Index && index_manifest.is_none() {
        return Err(missing(index::STAGE));
    }
    // `query` rarely needs the edges (the index holds the adjacency): they
    // stay encoded until something asks for them.
    let defer_edges = need == Need::Index;
    let ((graph, hashes), index) = rayon::join(
        || {
            rayon::join(
                || -> Result<(Graph, Option<DeferredEdges>)> {
                    if defer_edges {
                        let (graph, edges) =
                            link::load_graph_deferring_edges(&reader.layout, &link_manifest)?;
                        Ok((graph, Some(edges)))
                    } else {
                        Ok((link::load_graph(&reader.layout, &link_manifest)?, None))
                    }
                },
                || source_hashes(&reader, &run_id),
            )
        },
        || match (&index_manifest, need) {
            (Some(m), Need::Index) => index::load_index(&reader.layout, m).map(Some),
            _ => Ok(None),
        },
    );
    let (graph, deferred_edges) = graph?;
    let hashes = hashes?;
    let edge_count = deferred_edges
        .as_ref()
        .map_or(graph.edges.len(), DeferredEdges::len);
    let index = index?;
    timer.lap("open: graph and index");
    check_run_parts(
        &reader,
        &extract,
        &link_manifest,
        index_manifest.as_ref(),
        &graph,
        edge_count,
        index.as_ref(),
    )?;
    timer.lap("open: check parts");
    let group_sizes: Vec<u32> = extract
        .artifacts
        .iter()
        .map(|a| a.documents.unwrap_or(0))
        .collect();
    let adjacency = index
        .as_ref()
        .map(|i| (i.outgoing.clone(), i.incoming.clone()));
    let source_hashes: Vec<String> = graph
        .docs
        .iter()
        .map(|d| hashes.get(d.path.as_str()).cloned().unwrap_or_default())
        .collect();
    let mut view = GraphView::new(
        graph,
        &run_id,
        Details::from_manifest(&reader.layout, &extract),
        &group_sizes,
        adjacency,
        source_hashes,
    );
    if let Some(edges) = deferred_edges {
        view = view.with_deferred_edges(edges);
    }
    timer.lap("open: view");
    Ok(LoadedRun {
        reader,
        run_id,
        extract,
        link: link_manifest,
        index_manifest,
        index,
        view,
    })
}

/// The graph, the index and the extraction of a run must describe the same
/// documents and entities; a damaged or mismatched store is refused here,
/// naming the manifest, instead of making a lookup panic later.
fn check_run_parts(
    reader: &crate::store::StoreReader,
    extract: &StageManifest,
    link_manifest: &StageManifest,
    index_manifest: Option<&StageManifest>,
    graph: &Graph,
    edge_count: usize,
    index: Option<&crate::index::stage::IndexData>,
) -> Result<()> {
    let run_file = |stage: &str| {
        reader
            .layout
            .run_dir(&link_manifest.run_id)
            .join(format!("{stage}-manifest.json"))
    };
    let documents: u64 = extract
        .artifacts
        .iter()
        .map(|a| u64::from(a.documents.unwrap_or(0)))
        .sum();
    if documents != graph.docs.len() as u64 {
        return Err(Error::corrupt(
            run_file(extract::STAGE),
            format!(
                "the extraction holds {documents} documents but the graph {}; run `auditgraph validate-store`, then `auditgraph rebuild`",
                graph.docs.len()
            ),
        ));
    }
    if let (Some(index), Some(manifest)) = (index, index_manifest) {
        let graph_object = link_manifest
            .artifacts
            .iter()
            .find(|a| a.kind == crate::graph::model::GRAPH_KIND)
            .map(|a| a.object.as_str());
        let problem = if graph_object != Some(index.graph_object.as_str()) {
            Some("the index was built for another graph".to_string())
        } else {
            index.check_against(graph, edge_count).err()
        };
        if let Some(problem) = problem {
            return Err(Error::corrupt(
                run_file(&manifest.stage),
                format!("{problem}; run `auditgraph validate-store`, then `auditgraph rebuild`"),
            ));
        }
    }
    Ok(())
}

/// Path -> SHA-256 of the run's sources, from its ingest manifest (the one
/// place they are recorded).
fn source_hashes(
    reader: &StoreReader,
    run_id: &str,
) -> Result<std::collections::HashMap<String, String>> {
    #[derive(serde::Deserialize)]
    struct Record {
        path: String,
        sha256: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Records {
        records: Vec<Record>,
    }
    let manifest: Records = reader
        .stage_manifest(run_id, crate::ingest::STAGE)?
        .ok_or_else(|| Error::NotFound {
            message: format!(
                "run {run_id} has no ingest manifest; `auditgraph rebuild` writes a complete run"
            ),
        })?;
    Ok(manifest
        .records
        .into_iter()
        .filter_map(|r| r.sha256.map(|h| (r.path, h)))
        .collect())
}
