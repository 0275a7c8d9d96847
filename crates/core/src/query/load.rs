//! Opening a run for reading: the pieces it is made of, read on demand
//! ([`RunPieces`]), and graphs put together from them: the whole graph
//! ([`open_run`], for exports and `diff`), or the part around some
//! entities ([`RunPieces::subgraph`], for `node`, `neighbors`,
//! `why-connected`, `query` and `list`).

use crate::error::{Error, Result};
use crate::extract::stage::ExtractionGroup;
use crate::graph::assemble::{self, Assembly, DocInput, TechName};
use crate::graph::local::{DocGraph, LinkResolution, doc_graph};
use crate::graph::relates::Relation;
use crate::graph::view::{DocSource, GraphView};
use crate::ingest::IngestRecord;
use crate::link::entries::{DocResolutions, EntityRef, NoteLinks, TechEntry, tech_digest};
use crate::pipeline::Workspace;
use crate::pipeline::manifest::RunManifests;
use crate::store::StoreReader;
use crate::store::piece::{self, PieceKind};
use crate::store::table::{ShardTable, document_byte};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// A whole run's graph, opened for reading.
pub struct LoadedRun {
    pub reader: StoreReader,
    pub run_id: String,
    pub manifests: RunManifests,
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

/// Opens the current run (or `run`, a run id or unique prefix) and puts
/// its whole graph together.
pub fn open_run(ws: &Workspace, run: Option<&str>, need: Need) -> Result<LoadedRun> {
    let pieces = RunPieces::open(ws, run, need)?;
    let view = pieces.whole_graph(ws)?;
    Ok(LoadedRun {
        reader: pieces.reader,
        run_id: pieces.run_id,
        manifests: pieces.manifests,
        view,
    })
}

/// One cached shard read (each piece is read at most once per command).
type Cache<T> = Mutex<HashMap<u8, Arc<T>>>;

/// Where an entity is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Located {
    /// A note, section or reference of this document (its local number).
    Doc { path: String, local: u32 },
    /// A technology.
    Tech { token: String },
}

/// A run opened for reading, its pieces read on demand and cached.
pub struct RunPieces {
    pub reader: StoreReader,
    pub run_id: String,
    pub manifests: RunManifests,
    tables: Mutex<HashMap<PieceKind, Arc<ShardTable>>>,
    extraction: Cache<Option<Arc<ExtractionGroup>>>,
    resolutions: Cache<HashMap<String, Vec<LinkResolution>>>,
    records: Cache<Vec<IngestRecord>>,
    techs: Cache<Vec<TechEntry>>,
    links: Cache<HashMap<String, NoteLinks>>,
    entities: Cache<Vec<EntityRef>>,
}

impl RunPieces {
    /// Opens a run; refuses one without a graph (`need` says whether the
    /// index is needed too).
    pub fn open(ws: &Workspace, run: Option<&str>, need: Need) -> Result<RunPieces> {
        let reader = ws.reader()?;
        let run_id = reader.resolve_run(run)?;
        let manifests = reader.run(&run_id)?;
        manifests.require(crate::extract::stage::STAGE)?;
        manifests.require(crate::link::STAGE)?;
        if need == Need::Index {
            manifests.require(crate::index::stage::STAGE)?;
        }
        Ok(RunPieces {
            reader,
            run_id,
            manifests,
            tables: Mutex::default(),
            extraction: Mutex::default(),
            resolutions: Mutex::default(),
            records: Mutex::default(),
            techs: Mutex::default(),
            links: Mutex::default(),
            entities: Mutex::default(),
        })
    }

    /// The run's table of `kind` (read once).
    pub fn table(&self, kind: PieceKind) -> Result<Arc<ShardTable>> {
        if let Some(t) = self.tables.lock().ok().and_then(|m| m.get(&kind).cloned()) {
            return Ok(t);
        }
        let table = Arc::new(self.manifests.table(&self.reader.layout, kind)?);
        if let Ok(mut m) = self.tables.lock() {
            m.insert(kind, Arc::clone(&table));
        }
        Ok(table)
    }

    fn cached<T>(
        &self,
        cache: &Cache<T>,
        shard: u8,
        load: impl FnOnce() -> Result<T>,
    ) -> Result<Arc<T>> {
        if let Some(v) = cache.lock().ok().and_then(|m| m.get(&shard).cloned()) {
            return Ok(v);
        }
        let v = Arc::new(load()?);
        if let Ok(mut m) = cache.lock() {
            m.insert(shard, Arc::clone(&v));
        }
        Ok(v)
    }

    /// The extraction piece of a document shard.
    pub fn extraction(&self, shard: u8) -> Result<Option<Arc<ExtractionGroup>>> {
        let table = self.table(PieceKind::Extraction)?;
        self.cached(&self.extraction, shard, || {
            table
                .get(shard)
                .map(|id| crate::extract::stage::read_group(&self.reader.layout, id).map(Arc::new))
                .transpose()
        })
        .map(|v| (*v).clone())
    }

    fn shard_list<E: serde::de::DeserializeOwned>(
        &self,
        kind: PieceKind,
        shard: u8,
    ) -> Result<Vec<E>> {
        let table = self.table(kind)?;
        match table.get(shard) {
            Some(id) => piece::read(&self.reader.layout, kind, id),
            None => Ok(Vec::new()),
        }
    }

    /// How the links of a document resolved.
    pub fn resolutions(&self, path: &str) -> Result<Vec<LinkResolution>> {
        let shard = self
            .table(PieceKind::Resolutions)?
            .shard(document_byte(path));
        let map = self.cached(&self.resolutions, shard, || {
            let list: Vec<DocResolutions> = self.shard_list(PieceKind::Resolutions, shard)?;
            Ok(list.into_iter().map(|d| (d.path, d.links)).collect())
        })?;
        Ok(map.get(path).cloned().unwrap_or_default())
    }

    /// The records of a document shard.
    pub fn records(&self, shard: u8) -> Result<Arc<Vec<IngestRecord>>> {
        let table = self.table(PieceKind::Records)?;
        self.cached(&self.records, shard, || match table.get(shard) {
            Some(id) => crate::ingest::read_records(&self.reader.layout, id),
            None => Ok(Vec::new()),
        })
    }

    /// The SHA-256 of a document's source.
    pub fn source_hash(&self, path: &str) -> Result<String> {
        let shard = self.table(PieceKind::Records)?.shard(document_byte(path));
        let records = self.records(shard)?;
        Ok(records
            .binary_search_by(|r| r.path.as_str().cmp(path))
            .ok()
            .and_then(|i| records[i].sha256.clone())
            .unwrap_or_default())
    }

    /// The technologies of a technology shard.
    pub fn tech_shard(&self, shard: u8) -> Result<Arc<Vec<TechEntry>>> {
        self.cached(&self.techs, shard, || {
            self.shard_list(PieceKind::Technologies, shard)
        })
    }

    /// A technology, by token.
    pub fn tech(&self, token: &str) -> Result<Option<TechEntry>> {
        let shard = self
            .table(PieceKind::Technologies)?
            .shard(tech_digest(token)[0]);
        let entries = self.tech_shard(shard)?;
        Ok(entries
            .binary_search_by(|e| e.token().as_str().cmp(token))
            .ok()
            .map(|i| entries[i].clone()))
    }

    /// What points at a note from elsewhere.
    pub fn note_links(&self, path: &str) -> Result<Option<NoteLinks>> {
        let shard = self.table(PieceKind::Links)?.shard(document_byte(path));
        let map = self.cached(&self.links, shard, || {
            let list: Vec<NoteLinks> = self.shard_list(PieceKind::Links, shard)?;
            Ok(list.into_iter().map(|e| (e.path.clone(), e)).collect())
        })?;
        Ok(map.get(path).cloned())
    }

    /// The entity references of an entity-id shard.
    pub fn entity_shard(&self, shard: u8) -> Result<Arc<Vec<EntityRef>>> {
        self.cached(&self.entities, shard, || {
            self.shard_list(PieceKind::Entities, shard)
        })
    }

    /// A document's extraction, if it is a document of the run.
    pub fn doc_source(&self, path: &str) -> Result<Option<DocSource>> {
        let shard = self
            .table(PieceKind::Extraction)?
            .shard(document_byte(path));
        let Some(group) = self.extraction(shard)? else {
            return Ok(None);
        };
        Ok(group
            .documents
            .binary_search_by(|d| d.path.as_str().cmp(path))
            .ok()
            .map(|index| DocSource { group, index }))
    }

    /// A document's part of the graph.
    pub fn doc_part(&self, path: &str) -> Result<Option<DocGraph>> {
        let Some(source) = self.doc_source(path)? else {
            return Ok(None);
        };
        let resolutions = self.resolutions(path)?;
        Ok(Some(doc_graph(
            &source.group.documents[source.index],
            &resolutions,
        )))
    }

    /// Finds an entity by id.
    pub fn locate(&self, id: &str) -> Result<Option<Located>> {
        let Some(hex_part) = id.strip_prefix("ent_") else {
            return Ok(None);
        };
        let mut digest = [0u8; 32];
        if hex::decode_to_slice(hex_part, &mut digest).is_err() {
            return Ok(None);
        }
        // A technology?
        let shard = self.table(PieceKind::Technologies)?.shard(digest[0]);
        for entry in self.tech_shard(shard)?.iter() {
            if entry.digest() == digest {
                return Ok(Some(Located::Tech {
                    token: entry.token(),
                }));
            }
        }
        // A note, section or reference: its document's shard, then the
        // document.
        let refs = self.entity_shard(self.table(PieceKind::Entities)?.shard(digest[0]))?;
        let extraction = self.table(PieceKind::Extraction)?;
        let shards: BTreeSet<u8> = refs
            .iter()
            .filter(|r| r.prefix[..] == digest[..8])
            .map(|r| extraction.shard(r.doc_byte))
            .collect();
        for shard in shards {
            let Some(group) = self.extraction(shard)? else {
                continue;
            };
            for d in &group.documents {
                let part = doc_graph(d, &[]);
                for (local, node) in part.nodes.iter().enumerate() {
                    if crate::graph::model::node_digest(&d.path, node) == digest {
                        return Ok(Some(Located::Doc {
                            path: d.path.clone(),
                            local: local as u32,
                        }));
                    }
                }
            }
        }
        Ok(None)
    }

    /// A graph holding these documents and these technologies (edges to
    /// anything else are left out), with the `relates_to` edges between
    /// the documents that the links pieces record.
    pub fn subgraph(
        &self,
        docs: &BTreeSet<String>,
        techs: &BTreeSet<String>,
        cooccurrence: &crate::config::Cooccurrence,
    ) -> Result<GraphView> {
        let inputs: Vec<Option<DocInput>> = docs
            .par_iter()
            .map(|path| {
                let Some(source) = self.doc_source(path)? else {
                    return Ok(None);
                };
                Ok(Some(DocInput {
                    path: path.clone(),
                    resolutions: self.resolutions(path)?,
                    source_hash: self.source_hash(path)?,
                    source,
                }))
            })
            .collect::<Result<_>>()?;
        let names: Vec<Option<(String, TechName)>> = techs
            .par_iter()
            .map(|t| {
                Ok(self.tech(t)?.map(|e| {
                    (
                        t.clone(),
                        TechName {
                            surface: e.surface().to_string(),
                            origins: e.origins(),
                        },
                    )
                }))
            })
            .collect::<Result<_>>()?;
        let mut relations: Vec<Relation> = Vec::new();
        if cooccurrence.enabled {
            for path in docs {
                if let Some(entry) = self.note_links(path)? {
                    for r in &entry.relates {
                        if docs.contains(&r.other) && path < &r.other {
                            // The shared technologies, from their hashes:
                            // both notes mention them.
                            let tokens: HashMap<[u8; 8], String> = self
                                .doc_part(path)?
                                .map(|p| {
                                    p.techs
                                        .into_iter()
                                        .map(|t| {
                                            (crate::link::entries::tech_prefix(&t.token), t.token)
                                        })
                                        .collect()
                                })
                                .unwrap_or_default();
                            let mut shared: Vec<String> = r
                                .shared
                                .iter()
                                .filter_map(|p| tokens.get(p).cloned())
                                .collect();
                            shared.sort();
                            let mut rel =
                                crate::graph::relates::relation(path, &r.other, shared, 1, 1);
                            rel.confidence = r.confidence;
                            relations.push(rel);
                        }
                    }
                }
            }
        }
        assemble::assemble(Assembly {
            docs: inputs.into_iter().flatten().collect(),
            techs: Some(names.into_iter().flatten().collect()),
            relations: Some(relations),
            cooccurrence,
            pipeline_version: self.pipeline_version(),
            run_id: &self.run_id,
        })
    }

    /// The pipeline version the run's graph records.
    pub fn pipeline_version(&self) -> String {
        self.manifests
            .link
            .as_ref()
            .map(|m| m.pipeline_version.clone())
            .unwrap_or_default()
    }

    /// The whole graph of the run.
    pub fn whole_graph(&self, ws: &Workspace) -> Result<GraphView> {
        let extraction = self.table(PieceKind::Extraction)?;
        let shards: Vec<u8> = extraction.pieces().map(|(s, _)| s).collect();
        let per_shard: Vec<Vec<DocInput>> = shards
            .par_iter()
            .map(|&shard| {
                let Some(group) = self.extraction(shard)? else {
                    return Ok(Vec::new());
                };
                let records = self.records(shard)?;
                let resolutions: Vec<DocResolutions> =
                    self.shard_list(PieceKind::Resolutions, shard)?;
                let resolutions: HashMap<String, Vec<LinkResolution>> =
                    resolutions.into_iter().map(|d| (d.path, d.links)).collect();
                let hashes: HashMap<&str, &str> = records
                    .iter()
                    .filter_map(|r| r.sha256.as_deref().map(|h| (r.path.as_str(), h)))
                    .collect();
                Ok(group
                    .documents
                    .iter()
                    .enumerate()
                    .map(|(index, d)| DocInput {
                        path: d.path.clone(),
                        resolutions: resolutions.get(&d.path).cloned().unwrap_or_default(),
                        source_hash: hashes.get(d.path.as_str()).unwrap_or(&"").to_string(),
                        source: DocSource {
                            group: Arc::clone(&group),
                            index,
                        },
                    })
                    .collect())
            })
            .collect::<Result<_>>()?;
        let config = self.run_config(ws)?;
        assemble::assemble(Assembly {
            docs: per_shard.into_iter().flatten().collect(),
            techs: None,
            relations: None,
            cooccurrence: &config.profile().linking.cooccurrence,
            pipeline_version: self.pipeline_version(),
            run_id: &self.run_id,
        })
    }

    /// The configuration the run was made with (its snapshot; the
    /// workspace's when the snapshot cannot be read).
    pub fn run_config(&self, ws: &Workspace) -> Result<crate::config::LoadedConfig> {
        let path = self
            .reader
            .layout
            .run_dir(&self.run_id)
            .join("config-snapshot.json");
        let Ok(bytes) = std::fs::read(&path) else {
            return Ok(ws.config.clone());
        };
        let snapshot: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::corrupt(&path, format!("not valid JSON: {e}")))?;
        Ok(crate::config::from_snapshot(&snapshot, &path)?)
    }

    /// Technology names for a set of tokens.
    pub fn tech_names(&self, tokens: &BTreeSet<String>) -> Result<BTreeMap<String, TechEntry>> {
        let found: Vec<Option<TechEntry>> = tokens
            .par_iter()
            .map(|t| self.tech(t))
            .collect::<Result<_>>()?;
        Ok(found
            .into_iter()
            .flatten()
            .map(|e| (e.token(), e))
            .collect())
    }
}
