//! Running the stages after ingest, for `run`/`rebuild` (all at once, in
//! memory) and for the single-stage commands (from stored artifacts).

use super::Workspace;
use super::manifest::StageManifest;
use super::publish::{ReplayLine, StageOutput};
use crate::error::{Error, Result};
use crate::extract::stage::{self as extract, ExtractionGroup};
use crate::graph::model::Graph;
use crate::graph::stage as link;
use crate::index::stage as index;
use crate::ingest::{GroupData, IngestManifest};
use crate::store::clock;
use crate::store::layout::StoreLayout;
use std::sync::Arc;

/// The names of the stages after ingest, in order.
pub const LATER_STAGES: [&str; 3] = [extract::STAGE, link::STAGE, index::STAGE];

/// Everything the later stages of one run produced.
pub struct LaterStages {
    pub outputs: Vec<StageOutput>,
    pub extract: StageManifest,
    pub link: StageManifest,
    pub index: StageManifest,
}

/// Common inputs of the later stages.
pub struct StageInputs<'a> {
    pub ws: &'a Workspace,
    pub layout: &'a StoreLayout,
    pub ingest: &'a IngestManifest,
    /// Document groups this command holds in memory.
    pub groups: &'a [GroupData],
    /// The base run's extract manifest (reuse of unchanged extractions);
    /// `None` for `rebuild`.
    pub base_extract: Option<&'a StageManifest>,
    /// The write's redactor (extraction redacts what it derives).
    pub redactor: &'a crate::redact::Redactor,
    pub schema_version: String,
    pub run_id: String,
}

/// Runs extract, link and index.
pub fn run_later_stages(inputs: &StageInputs<'_>) -> Result<LaterStages> {
    let mut timer = crate::progress::Timer::start();
    // The chunk index needs only the documents: build it alongside.
    let (graph_part, chunks) = rayon::join(
        || -> Result<_> {
            let mut timer = crate::progress::Timer::start();
            let (extract_manifest, extract_out, groups) = run_extract(inputs)?;
            timer.lap("extract");
            let request = link_request(inputs, &extract_manifest, &groups);
            // Building the graph keeps one core busy: the other checks the
            // document groups ingest built and the objects extract wrote for
            // the postcondition.
            let (graph, ()) = rayon::join(
                || link::build_graph(&request),
                || {
                    // Every new ingest object is the payload of a group built
                    // in memory (`groups`), so it is checked there.
                    super::postcondition::prescan_groups(
                        inputs.groups,
                        inputs.layout,
                        inputs.redactor,
                    );
                    super::postcondition::prescan_objects(
                        &extract_out.objects,
                        inputs.layout,
                        inputs.redactor,
                    )
                },
            );
            let graph = Arc::new(graph);
            // The graph is encoded while the index of its names is built.
            let (link, names) = rayon::join(
                || link::store_graph(&request, Arc::clone(&graph)),
                || index::names_index(&graph, &groups),
            );
            let link = link?;
            let (link_manifest, link_out) = finish(link.manifest, link.new_objects, &inputs.run_id);
            timer.lap("link (+ object prescan, names index)");
            Ok((
                extract_manifest,
                extract_out,
                groups,
                link_manifest,
                link_out,
                graph,
                names,
            ))
        },
        || index::chunk_index(inputs.layout, inputs.ingest, inputs.groups),
    );
    let (extract_manifest, extract_out, groups, link_manifest, link_out, graph, names) =
        graph_part?;
    timer.lap("extract + link (+ chunk index)");
    // The graph object is checked for the redaction postcondition while the
    // index is built.
    let (index, ()) = rayon::join(
        || {
            run_index(
                inputs,
                &link_manifest,
                &graph,
                &groups,
                Some(chunks?),
                Some(names),
            )
        },
        || super::postcondition::prescan_objects(&link_out.objects, inputs.layout, inputs.redactor),
    );
    let (index_manifest, index_out) = index?;
    timer.lap("index (+ graph object prescan)");
    Ok(LaterStages {
        outputs: vec![extract_out, link_out, index_out],
        extract: extract_manifest,
        link: link_manifest,
        index: index_manifest,
    })
}

pub fn run_extract(
    inputs: &StageInputs<'_>,
) -> Result<(StageManifest, StageOutput, Vec<Arc<ExtractionGroup>>)> {
    let config = &inputs.ws.config;
    let out = extract::extract(&extract::ExtractRequest {
        layout: inputs.layout,
        ingest: inputs.ingest,
        groups: inputs.groups,
        base: inputs.base_extract,
        markdown_enabled: config.profile().extraction.markdown.enabled,
        redactor: inputs.redactor,
        redaction_settings: serde_json::to_value(&config.config.security.redaction)
            .unwrap_or_default(),
        schema_version: inputs.schema_version.clone(),
        started_at: clock::now_utc(),
        config_hash: config.config_hash(),
        pipeline_version: config.config.run_metadata.pipeline_version.clone(),
    })?;
    let (manifest, output) = finish(out.manifest, out.new_objects, &inputs.run_id);
    Ok((manifest, output, out.groups))
}

pub fn run_link(
    inputs: &StageInputs<'_>,
    extract_manifest: &StageManifest,
    groups: &[Arc<ExtractionGroup>],
) -> Result<(StageManifest, StageOutput, Arc<Graph>)> {
    let out = link::link(&link_request(inputs, extract_manifest, groups))?;
    let (manifest, output) = finish(out.manifest, out.new_objects, &inputs.run_id);
    Ok((manifest, output, out.graph))
}

fn link_request<'a>(
    inputs: &'a StageInputs<'_>,
    extract_manifest: &'a StageManifest,
    groups: &'a [Arc<ExtractionGroup>],
) -> link::LinkRequest<'a> {
    let config = &inputs.ws.config;
    link::LinkRequest {
        ingest: inputs.ingest,
        extract: extract_manifest,
        groups,
        cooccurrence: &config.profile().linking.cooccurrence,
        schema_version: inputs.schema_version.clone(),
        pipeline_version: config.config.run_metadata.pipeline_version.clone(),
        config_hash: config.config_hash(),
        started_at: clock::now_utc(),
    }
}

pub fn run_index(
    inputs: &StageInputs<'_>,
    link_manifest: &StageManifest,
    graph: &Graph,
    extractions: &[Arc<ExtractionGroup>],
    chunks: Option<index::ChunkIndex>,
    names: Option<Vec<u8>>,
) -> Result<(StageManifest, StageOutput)> {
    let config = &inputs.ws.config;
    let out = index::index(index::IndexRequest {
        layout: inputs.layout,
        ingest: inputs.ingest,
        groups: inputs.groups,
        link: link_manifest,
        graph,
        extractions,
        chunks,
        names,
        schema_version: inputs.schema_version.clone(),
        pipeline_version: config.config.run_metadata.pipeline_version.clone(),
        config_hash: config.config_hash(),
        started_at: clock::now_utc(),
    })?;
    let (manifest, output) = finish(out.manifest, out.new_objects, &inputs.run_id);
    Ok((manifest, output))
}

/// Stamps a later stage's manifest with the run and its finish time, and
/// makes its publishable output.
fn finish(
    mut manifest: StageManifest,
    objects: Vec<crate::store::objects::PreparedObject>,
    run_id: &str,
) -> (StageManifest, StageOutput) {
    manifest.run_id = run_id.to_string();
    manifest.wall_clock_finished_at = clock::now_utc();
    let output = stage_output(&manifest, objects);
    (manifest, output)
}

/// The publishable output of a later stage.
fn stage_output(
    manifest: &StageManifest,
    objects: Vec<crate::store::objects::PreparedObject>,
) -> StageOutput {
    StageOutput {
        stage: manifest.stage.clone(),
        manifest: super::manifest_bytes(manifest),
        replay: ReplayLine {
            stage: manifest.stage.clone(),
            run_id: manifest.run_id.clone(),
            schema_version: manifest.schema_version.clone(),
            config_hash: manifest.config_hash.clone(),
            inputs_hash: manifest.inputs_hash.clone(),
            outputs_hash: manifest.outputs_hash.clone(),
            wall_clock_started_at: manifest.wall_clock_started_at.clone(),
            wall_clock_finished_at: manifest.wall_clock_finished_at.clone(),
        },
        objects,
    }
}

/// The stage that must exist before `stage` can run.
pub fn prerequisite(stage: &str) -> Option<&'static str> {
    match stage {
        extract::STAGE => Some(crate::ingest::STAGE),
        link::STAGE => Some(extract::STAGE),
        index::STAGE => Some(link::STAGE),
        _ => None,
    }
}

/// Reads a later-stage manifest that must exist.
pub fn required_manifest(
    reader: &crate::store::StoreReader,
    run_id: &str,
    stage: &str,
) -> Result<StageManifest> {
    reader
        .stage_manifest(run_id, stage)?
        .ok_or_else(|| Error::NotFound {
            message: format!(
                "run {run_id} has no {stage} stage yet; run `auditgraph {stage}` (or `auditgraph run`) first"
            ),
        })
}
