//! The stages after ingest (extract, link, index), from a run's ingest
//! tables, reusing what a base run holds. `run` calls them right after
//! ingest with its documents in memory; `extract`, `link` and `index`
//! call them on a stored run.

use super::Workspace;
use super::manifest::{RunManifests, StageManifest};
use crate::error::Result;
use crate::extract::stage::{self as extract, ExtractCounts, ExtractionGroup};
use crate::index::stage::{self as index};
use crate::link::{self, LinkCounts, LinkTables};
use crate::pipeline::postcondition::Scanner;
use crate::store::clock;
use crate::store::id::ObjectId;
use crate::store::layout::StoreLayout;
use crate::store::piece::{PieceKind, PieceSink};
use crate::store::table::ShardTable;
use foldhash::{HashMap, HashMapExt};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The names of the stages after ingest, in order.
pub const LATER_STAGES: [&str; 3] = [extract::STAGE, link::STAGE, index::STAGE];

/// A stored run's tables, as a base to build on.
pub struct BaseTables {
    pub run_id: String,
    pub manifests: RunManifests,
    pub records: ShardTable,
    pub documents: ShardTable,
    pub extraction: Option<ShardTable>,
    pub link: Option<LinkTables>,
    pub search: Option<ShardTable>,
    pub tech_search: Option<ShardTable>,
}

impl BaseTables {
    pub fn load(layout: &StoreLayout, manifests: RunManifests) -> Result<BaseTables> {
        let ingest = &manifests.ingest;
        let (records, documents) = rayon::join(
            || ingest.table(layout, PieceKind::Records),
            || ingest.table(layout, PieceKind::Documents),
        );
        let extraction = match &manifests.extract {
            Some(m) => Some(m.table(layout, PieceKind::Extraction)?),
            None => None,
        };
        let link = match &manifests.link {
            Some(m) => Some(LinkTables::load(layout, m)?),
            None => None,
        };
        let (search, tech_search) = match &manifests.index {
            Some(m) => (
                Some(m.table(layout, PieceKind::Search)?),
                Some(m.table(layout, PieceKind::TechSearch)?),
            ),
            None => (None, None),
        };
        Ok(BaseTables {
            run_id: manifests.run_id.clone(),
            records: records?,
            documents: documents?,
            extraction,
            link,
            search,
            tech_search,
            manifests,
        })
    }
}

/// Common inputs of the later stages.
pub struct StageInputs<'a> {
    pub ws: &'a Workspace,
    pub layout: &'a StoreLayout,
    /// The run's ingest manifest (its tables and hashes).
    pub ingest: &'a StageManifest,
    pub records: &'a ShardTable,
    pub documents: &'a ShardTable,
    /// The run to reuse unchanged work of (`None`: from nothing).
    pub base: Option<&'a BaseTables>,
    /// Stages the run already has (not computed again).
    pub existing: Option<&'a RunManifests>,
    pub redactor: &'a crate::redact::Redactor,
    pub progress: &'a dyn crate::progress::Progress,
    pub schema_version: String,
    pub run_id: String,
    /// Stop after this stage.
    pub last: &'static str,
}

/// The manifests of the later stages that were computed.
pub struct LaterStages {
    pub manifests: Vec<StageManifest>,
}

fn manifest(
    inputs: &StageInputs<'_>,
    stage: &str,
    inputs_hash: String,
    settings_hash: String,
    counts: serde_json::Value,
    pieces: BTreeMap<String, ObjectId>,
    started: String,
) -> StageManifest {
    super::manifest::StageHeader {
        config: &inputs.ws.config,
        schema_version: &inputs.schema_version,
        run_id: &inputs.run_id,
        stage,
        started,
    }
    .manifest(inputs_hash, settings_hash, counts, pieces)
}

/// Runs the later stages up to `inputs.last`, each from the previous one's
/// tables; a stage the run already has is read, not computed.
///
/// `built` holds the documents of the shards this command parsed, in
/// memory: they are read by extraction and (when the run goes on to the
/// index) by the search pieces, which are built right after extraction so
/// that the documents are released before the link stage.
pub fn run_later_stages(
    inputs: &StageInputs<'_>,
    built: BTreeMap<u8, crate::ingest::ShardDocuments>,
    sink: &dyn PieceSink,
    scan: &Scanner<'_>,
) -> Result<LaterStages> {
    let mut timer = crate::progress::Timer::start();
    let layout = inputs.layout;
    let config = &inputs.ws.config;
    let mut out = Vec::new();
    let base = inputs.base;
    let existing = |stage: &str| -> Option<StageManifest> {
        inputs.existing.and_then(|m| m.require(stage).ok().cloned())
    };
    let redaction_settings =
        serde_json::to_value(&config.config.security.redaction).unwrap_or_default();

    // Extract.
    let mut groups: HashMap<ObjectId, Arc<ExtractionGroup>> = HashMap::new();
    let (extract_manifest, extraction) = match existing(extract::STAGE) {
        Some(m) => {
            let table = m.table(layout, PieceKind::Extraction)?;
            (m, table)
        }
        None => {
            let started = clock::now_utc();
            let base_ext = base.and_then(|b| {
                let m = b.manifests.extract.as_ref()?;
                Some(extract::ExtractBase {
                    documents: &b.documents,
                    extraction: b.extraction.as_ref()?,
                    settings_hash: &m.settings_hash,
                    counts: m.counts_as::<ExtractCounts>(),
                })
            });
            let result = extract::extract(
                &extract::ExtractRequest {
                    layout,
                    records: inputs.records,
                    documents: inputs.documents,
                    built: &built,
                    base: base_ext,
                    markdown_enabled: config.profile().extraction.markdown.enabled,
                    redactor: inputs.redactor,
                    redaction_settings,
                    progress: inputs.progress,
                },
                sink,
                scan,
            )?;
            for (shard, change) in &result.changed {
                if let (Some(new), Some(id)) = (&change.new, result.table.get(*shard)) {
                    groups.insert(id, Arc::clone(new));
                }
                if let (Some(old), Some(b)) = (&change.old, base_ext)
                    && let Some(id) = b.extraction.get(*shard)
                {
                    groups.insert(id, Arc::clone(old));
                }
            }
            let top = result.table.store(sink)?;
            let m = manifest(
                inputs,
                extract::STAGE,
                inputs.ingest.outputs_hash.clone(),
                result.settings_hash,
                serde_json::to_value(result.counts).unwrap_or_default(),
                BTreeMap::from([(PieceKind::Extraction.name().to_string(), top)]),
                started,
            );
            out.push(m.clone());
            (m, result.table)
        }
    };
    timer.lap("extract");
    if inputs.last == extract::STAGE {
        return Ok(LaterStages { manifests: out });
    }

    // The search pieces need only the documents and the extraction: built
    // now, while the documents are in memory, which are then released.
    let index_settings = index::settings_hash();
    let index_base = || {
        base.and_then(|b| {
            let m = b.manifests.index.as_ref()?;
            (m.settings_hash == index_settings && m.schema_version == inputs.schema_version)
                .then_some(())?;
            Some(index::IndexBase {
                documents: &b.documents,
                extraction: b.extraction.as_ref()?,
                technologies: &b.link.as_ref()?.technologies,
                search: b.search.as_ref()?,
                tech_search: b.tech_search.as_ref()?,
            })
        })
    };
    let no_techs = ShardTable::default();
    let search = if inputs.last == index::STAGE && existing(index::STAGE).is_none() {
        let table = index::index_documents(
            &index::IndexRequest {
                layout,
                records: inputs.records,
                documents: inputs.documents,
                extraction: &extraction,
                technologies: &no_techs,
                built: &built,
                groups: &groups,
                tech_shards: &BTreeMap::new(),
                base: index_base(),
                progress: inputs.progress,
            },
            sink,
            scan,
        )?;
        timer.lap("index: search pieces");
        Some(table)
    } else {
        None
    };
    drop(built);

    // Link.
    let cooccurrence = &config.profile().linking.cooccurrence;
    let settings = link::settings_hash(cooccurrence);
    let (link_manifest, link_tables, tech_shards) = match existing(link::STAGE) {
        Some(m) => {
            let tables = LinkTables::load(layout, &m)?;
            (m, tables, BTreeMap::new())
        }
        None => {
            let started = clock::now_utc();
            let link_base = base.and_then(|b| {
                let m = b.manifests.link.as_ref()?;
                (m.settings_hash == settings
                    && m.schema_version == inputs.schema_version
                    && b.manifests
                        .extract
                        .as_ref()
                        .is_some_and(|e| e.settings_hash == extract_manifest.settings_hash))
                .then_some(())?;
                Some(link::LinkBase {
                    extraction: b.extraction.as_ref()?,
                    tables: b.link.as_ref()?,
                    counts: m.counts_as::<LinkCounts>(),
                })
            });
            let result = link::link(
                &link::LinkRequest {
                    layout,
                    extraction: &extraction,
                    // Search pieces are built: nothing after the link stage
                    // needs the extractions in memory, and it lets them go.
                    groups: std::sync::Mutex::new(if search.is_some() {
                        std::mem::take(&mut groups)
                    } else {
                        groups.clone()
                    }),
                    base: link_base,
                    cooccurrence,
                    progress: inputs.progress,
                },
                sink,
                scan,
            )?;
            let mut pieces = BTreeMap::new();
            for kind in LinkTables::KINDS {
                pieces.insert(
                    kind.name().to_string(),
                    result.tables.get(kind).store(sink)?,
                );
            }
            let m = manifest(
                inputs,
                link::STAGE,
                extract_manifest.outputs_hash.clone(),
                settings,
                serde_json::to_value(&result.counts).unwrap_or_default(),
                pieces,
                started,
            );
            out.push(m.clone());
            (m, result.tables, result.technology_shards)
        }
    };
    timer.lap("link");
    if inputs.last == link::STAGE {
        return Ok(LaterStages { manifests: out });
    }

    // Index.
    if existing(index::STAGE).is_none() {
        let started = clock::now_utc();
        let request = index::IndexRequest {
            layout,
            records: inputs.records,
            documents: inputs.documents,
            extraction: &extraction,
            technologies: &link_tables.technologies,
            built: &BTreeMap::new(),
            groups: &groups,
            tech_shards: &tech_shards,
            base: index_base(),
            progress: inputs.progress,
        };
        let search = match search {
            Some(table) => table,
            None => index::index_documents(&request, sink, scan)?,
        };
        let tech_search = index::index_technologies(&request, sink, scan)?;
        let result = index::IndexOutput {
            search,
            tech_search,
            counts: Default::default(),
        };
        let link_counts: LinkCounts = link_manifest.counts_as();
        let counts = serde_json::json!({
            "entities": link_counts.entities.values().sum::<usize>(),
            "chunks": extract_manifest.counts.get("chunks").cloned().unwrap_or(serde_json::json!(null)),
            "edges": link_counts.links.values().sum::<usize>(),
            "documents": link_counts.documents,
        });
        let pieces = BTreeMap::from([
            (
                PieceKind::Search.name().to_string(),
                result.search.store(sink)?,
            ),
            (
                PieceKind::TechSearch.name().to_string(),
                result.tech_search.store(sink)?,
            ),
        ]);
        out.push(manifest(
            inputs,
            index::STAGE,
            link_manifest.outputs_hash.clone(),
            index_settings,
            counts,
            pieces,
            started,
        ));
    }
    timer.lap("index");
    Ok(LaterStages { manifests: out })
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
