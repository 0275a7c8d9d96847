//! The link stage: how the documents of a run connect.
//!
//! A document's own part of the graph (its note, sections, references and
//! the edges between them and to technologies) follows from its extraction
//! and from how its links resolved ([`crate::graph::local`]). What connects
//! documents is stored in sharded pieces of its own, so that an edit
//! rewrites only the entries it concerns:
//!
//! | pieces | entries | sharded by |
//! |---|---|---|
//! | `resolutions` | how each document's links resolved | document |
//! | `keys` | resolver keys: who holds them, whose links look them up | key |
//! | `technologies` | each technology with the documents mentioning it | entity id |
//! | `links` | per note: links resolving to it, `relates_to` edges | document |
//! | `entities` | every note, section and reference id -> its shard | entity id |
//!
//! The stage compares the run's extraction with its base run's and applies
//! the difference: keys of changed documents, links that look up a changed
//! key resolved again, technologies and backlinks moved, `relates_to`
//! computed again for the notes whose technologies (or whose technologies'
//! notes) changed. A run without a base is the same computation from
//! nothing, so both give the same pieces.

pub mod entries;
pub mod sharded;

use crate::config::Cooccurrence;
use crate::error::{Error, Result};
use crate::extract::links::{self as resolve, DocKey, DocKeys, Resolution};
use crate::extract::stage::{DocExtraction, ExtractionGroup};
use crate::graph::local::{DocGraph, LinkResolution, doc_graph};
use crate::graph::model::{EdgeKind, NodeKind, ReferenceState, node_digest};
use crate::graph::relates::{self, CoSource};
use crate::hashing::FieldHasher;
use crate::pipeline::postcondition::Scanner;
use crate::progress::Progress;
use crate::store::id::ObjectId;
use crate::store::layout::StoreLayout;
use crate::store::piece::{PieceKind, PieceSink};
use crate::store::table::{ShardTable, document_byte};
use entries::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sharded::{Bits, Sharded};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

pub const STAGE: &str = "link";
/// Bumped whenever linking produces something different from the same
/// extractions.
pub const LINKER_VERSION: &str = "link-2";

pub fn settings_hash(cooccurrence: &Cooccurrence) -> String {
    FieldHasher::new("link-settings")
        .field(LINKER_VERSION)
        .field(serde_json::to_string(cooccurrence).unwrap_or_default())
        .finish_hex()
}

/// The tables of the link stage's pieces.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkTables {
    pub resolutions: ShardTable,
    pub links: ShardTable,
    pub technologies: ShardTable,
    pub entities: ShardTable,
    pub keys: ShardTable,
}

impl LinkTables {
    pub const KINDS: [PieceKind; 5] = [
        PieceKind::Resolutions,
        PieceKind::Links,
        PieceKind::Technologies,
        PieceKind::Entities,
        PieceKind::Keys,
    ];

    pub fn get(&self, kind: PieceKind) -> &ShardTable {
        match kind {
            PieceKind::Resolutions => &self.resolutions,
            PieceKind::Links => &self.links,
            PieceKind::Technologies => &self.technologies,
            PieceKind::Entities => &self.entities,
            _ => &self.keys,
        }
    }

    /// Reads a link manifest's tables.
    pub fn load(
        layout: &StoreLayout,
        manifest: &crate::pipeline::manifest::StageManifest,
    ) -> Result<LinkTables> {
        Ok(LinkTables {
            resolutions: manifest.table(layout, PieceKind::Resolutions)?,
            links: manifest.table(layout, PieceKind::Links)?,
            technologies: manifest.table(layout, PieceKind::Technologies)?,
            entities: manifest.table(layout, PieceKind::Entities)?,
            keys: manifest.table(layout, PieceKind::Keys)?,
        })
    }
}

/// What a run's graph counts (the link manifest's `counts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCounts {
    pub documents: usize,
    pub entities: BTreeMap<String, usize>,
    pub links: BTreeMap<String, usize>,
    /// References by resolution (`internal`, `external`, `unresolved`);
    /// states no reference is in are left out.
    pub references: BTreeMap<String, usize>,
}

/// Signed changes to [`LinkCounts`].
#[derive(Debug, Default)]
struct Delta {
    documents: i64,
    entities: BTreeMap<&'static str, i64>,
    links: BTreeMap<&'static str, i64>,
    references: BTreeMap<&'static str, i64>,
}

impl Delta {
    /// Adds (`sign` 1) or removes (-1) what a document's part counts.
    fn part(&mut self, g: &DocGraph, sign: i64) {
        self.documents += sign;
        for n in &g.nodes {
            *self.entities.entry(n.kind.type_name()).or_default() += sign;
            if let crate::graph::model::NodeDetail::Reference { state, .. } = &n.detail {
                *self.references.entry(state.name()).or_default() += sign;
            }
        }
        for e in &g.edges {
            *self.links.entry(e.kind.type_name()).or_default() += sign;
        }
    }

    fn apply(self, base: &LinkCounts) -> LinkCounts {
        let add = |map: &BTreeMap<String, usize>, key: &str, d: i64| {
            let now = map.get(key).copied().unwrap_or(0) as i64 + d;
            now.max(0) as usize
        };
        let mut out = LinkCounts {
            documents: (base.documents as i64 + self.documents).max(0) as usize,
            ..LinkCounts::default()
        };
        for k in NodeKind::ALL {
            let name = k.type_name();
            let d = self.entities.get(name).copied().unwrap_or(0);
            out.entities
                .insert(name.to_string(), add(&base.entities, name, d));
        }
        for k in EdgeKind::ALL {
            let name = k.type_name();
            let d = self.links.get(name).copied().unwrap_or(0);
            out.links
                .insert(name.to_string(), add(&base.links, name, d));
        }
        for state in [
            ReferenceState::Internal,
            ReferenceState::External,
            ReferenceState::Unresolved,
        ] {
            let name = state.name();
            let d = self.references.get(name).copied().unwrap_or(0);
            let n = add(&base.references, name, d);
            if n > 0 {
                out.references.insert(name.to_string(), n);
            }
        }
        out
    }
}

/// The base run, when its link stage can be built on.
pub struct LinkBase<'a> {
    pub extraction: &'a ShardTable,
    pub tables: &'a LinkTables,
    pub counts: LinkCounts,
}

/// What the link stage needs.
pub struct LinkRequest<'a> {
    pub layout: &'a StoreLayout,
    /// The run's extraction.
    pub extraction: &'a ShardTable,
    /// Extraction pieces already in memory, by id (the extract stage's new
    /// and base ones); others are read from the store.
    pub groups: &'a HashMap<ObjectId, Arc<ExtractionGroup>>,
    /// `None`: build from nothing.
    pub base: Option<LinkBase<'a>>,
    pub cooccurrence: &'a Cooccurrence,
    pub progress: &'a dyn Progress,
}

/// Entries per shard of the link stage's own kinds.
const TECHNOLOGIES_PER_SHARD: u64 = 128;
const ENTITIES_PER_SHARD: u64 = 512;
const KEYS_PER_SHARD: u64 = 256;

/// What the link stage produced.
pub struct LinkOutput {
    pub tables: LinkTables,
    pub counts: LinkCounts,
    /// Technology shards that changed, with their entries (the index stage
    /// builds their name index again).
    pub technology_shards: BTreeMap<u8, Vec<TechEntry>>,
}

/// One document's extraction before and after.
struct DocChange<'a> {
    path: &'a str,
    old: Option<&'a DocExtraction>,
    new: Option<&'a DocExtraction>,
}

/// The extraction pieces a link run reads, each once.
struct Extractions<'a> {
    layout: &'a StoreLayout,
    memory: &'a HashMap<ObjectId, Arc<ExtractionGroup>>,
    loaded: std::sync::Mutex<HashMap<ObjectId, Arc<ExtractionGroup>>>,
}

impl Extractions<'_> {
    fn group(&self, id: ObjectId) -> Result<Arc<ExtractionGroup>> {
        if let Some(g) = self.memory.get(&id) {
            return Ok(Arc::clone(g));
        }
        if let Some(g) = self.loaded.lock().ok().and_then(|m| m.get(&id).cloned()) {
            return Ok(g);
        }
        let g = Arc::new(crate::extract::stage::read_group(self.layout, id)?);
        if let Ok(mut m) = self.loaded.lock() {
            m.insert(id, Arc::clone(&g));
        }
        Ok(g)
    }
}

/// A document of a group, by path (groups are sorted by path).
fn find_doc<'g>(group: &'g ExtractionGroup, path: &str) -> Option<&'g DocExtraction> {
    group
        .documents
        .binary_search_by(|d| d.path.as_str().cmp(path))
        .ok()
        .map(|i| &group.documents[i])
}

/// The keys of a document (what other documents' links may find it by).
fn doc_keys(d: &DocExtraction) -> Vec<String> {
    resolve::holder_keys(&DocKey {
        path: d.path.clone(),
        title: d.name.clone(),
        aliases: d.aliases.clone(),
    })
}

/// Every key a document's links may look up.
fn doc_lookups(d: &DocExtraction) -> Vec<String> {
    let mut keys: Vec<String> = d
        .outline
        .links
        .iter()
        .flat_map(|l| resolve::lookup_keys(&d.path, l))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Resolves against the keys pieces (their shards must be loaded) and, for
/// paths, the run's documents themselves.
struct KeyLookup<'a> {
    keys: &'a Sharded<KeyEntry>,
    has_path: &'a (dyn Fn(&str) -> bool + Sync),
}

impl KeyLookup<'_> {
    fn holders(&self, key: String) -> Vec<String> {
        self.keys
            .get(&key_hash(&key))
            .ok()
            .flatten()
            .map(|e| e.holders.clone())
            .unwrap_or_default()
    }
}

impl DocKeys for KeyLookup<'_> {
    fn has_path(&self, path: &str) -> bool {
        (self.has_path)(path)
    }
    fn by_stem(&self, stem: &str) -> Vec<String> {
        self.holders(format!("s:{stem}"))
    }
    fn by_title(&self, key: &str) -> Vec<String> {
        self.holders(format!("t:{key}"))
    }
    fn by_alias(&self, key: &str) -> Vec<String> {
        self.holders(format!("a:{key}"))
    }
}

/// How each link of `d` resolves against `keys`.
pub fn resolve_document(keys: &dyn DocKeys, d: &DocExtraction) -> Vec<LinkResolution> {
    d.outline
        .links
        .iter()
        .map(|link| {
            let (resolution, rule) = resolve::resolve_explained(keys, &d.path, link);
            match resolution {
                Resolution::Internal { path, .. } => LinkResolution {
                    state: ReferenceState::Internal,
                    reason: rule.to_string(),
                    target: Some(path),
                },
                Resolution::External { scheme } => LinkResolution {
                    state: ReferenceState::External,
                    reason: if scheme.is_empty() {
                        rule.to_string()
                    } else {
                        format!("{rule}:{scheme}")
                    },
                    target: None,
                },
                Resolution::Unresolved { reason } => LinkResolution {
                    state: ReferenceState::Unresolved,
                    reason: reason.to_string(),
                    target: None,
                },
            }
        })
        .collect()
}

/// The SHA-256 of every entity id of a document's part, with its kind.
pub fn entity_digests(path: &str, g: &DocGraph) -> Vec<([u8; 32], NodeKind)> {
    g.nodes
        .iter()
        .map(|n| (node_digest(path, n), n.kind))
        .collect()
}

/// Runs the link stage.
pub fn link(req: &LinkRequest<'_>, sink: &dyn PieceSink, scan: &Scanner<'_>) -> Result<LinkOutput> {
    let mut timer = crate::progress::Timer::start();
    let layout = req.layout;
    let empty_tables = LinkTables::default();
    let base_tables = req.base.as_ref().map(|b| b.tables).unwrap_or(&empty_tables);
    let base_counts = req
        .base
        .as_ref()
        .map(|b| b.counts.clone())
        .unwrap_or_default();
    let extractions = Extractions {
        layout,
        memory: req.groups,
        loaded: std::sync::Mutex::new(HashMap::new()),
    };

    // 1. Documents whose extraction changed.
    let empty = ShardTable::default();
    let base_extraction = req.base.as_ref().map(|b| b.extraction).unwrap_or(&empty);
    // Shard by shard where both runs shard documents alike; otherwise (the
    // number of shards changed) every document is compared.
    type Pair = (Vec<Arc<ExtractionGroup>>, Vec<Arc<ExtractionGroup>>);
    let pairs: Vec<Pair> = if base_extraction.bits() == req.extraction.bits() {
        let mut shards: BTreeSet<u8> = req.extraction.pieces().map(|(s, _)| s).collect();
        shards.extend(base_extraction.pieces().map(|(s, _)| s));
        let changed_shards: Vec<u8> = shards
            .into_iter()
            .filter(|s| req.extraction.get(*s) != base_extraction.get(*s))
            .collect();
        changed_shards
            .par_iter()
            .map(|s| {
                let old = base_extraction
                    .get(*s)
                    .map(|id| extractions.group(id))
                    .transpose()?;
                let new = req
                    .extraction
                    .get(*s)
                    .map(|id| extractions.group(id))
                    .transpose()?;
                Ok((old.into_iter().collect(), new.into_iter().collect()))
            })
            .collect::<Result<_>>()?
    } else {
        let load = |t: &ShardTable| -> Result<Vec<Arc<ExtractionGroup>>> {
            t.pieces()
                .collect::<Vec<_>>()
                .par_iter()
                .map(|(_, id)| extractions.group(*id))
                .collect()
        };
        vec![(load(base_extraction)?, load(req.extraction)?)]
    };
    req.progress.phase("link", 0);
    let mut changes: Vec<DocChange<'_>> = Vec::new();
    for (old, new) in &pairs {
        let old_docs: BTreeMap<&str, &DocExtraction> = old
            .iter()
            .flat_map(|g| g.documents.iter())
            .map(|d| (d.path.as_str(), d))
            .collect();
        let new_docs: BTreeMap<&str, &DocExtraction> = new
            .iter()
            .flat_map(|g| g.documents.iter())
            .map(|d| (d.path.as_str(), d))
            .collect();
        let paths: BTreeSet<&str> = old_docs.keys().chain(new_docs.keys()).copied().collect();
        for path in paths {
            let (o, n) = (old_docs.get(path).copied(), new_docs.get(path).copied());
            if o != n {
                changes.push(DocChange {
                    path,
                    old: o,
                    new: n,
                });
            }
        }
    }
    changes.sort_by(|a, b| a.path.cmp(b.path));
    timer.lap("link: changed documents");

    // 2. Keys: who holds them and whose links look them up.
    let mut keys: Sharded<KeyEntry> = Sharded::new(
        layout,
        base_tables.keys.clone(),
        Bits::PerShard(KEYS_PER_SHARD),
    );
    struct KeyChange {
        old_holds: Vec<String>,
        new_holds: Vec<String>,
        old_looks: Vec<String>,
        new_looks: Vec<String>,
    }
    let key_changes: Vec<KeyChange> = changes
        .par_iter()
        .map(|c| KeyChange {
            old_holds: c.old.map(doc_keys).unwrap_or_default(),
            new_holds: c.new.map(doc_keys).unwrap_or_default(),
            old_looks: c.old.map(doc_lookups).unwrap_or_default(),
            new_looks: c.new.map(doc_lookups).unwrap_or_default(),
        })
        .collect();
    let hashes: Vec<[u8; 16]> = key_changes
        .iter()
        .flat_map(|k| {
            k.old_holds
                .iter()
                .chain(&k.new_holds)
                .chain(&k.old_looks)
                .chain(&k.new_looks)
        })
        .map(|k| key_hash(k))
        .collect();
    keys.preload_keys(hashes.iter())?;
    // A path is held by the document at that path: its holders are not
    // stored (resolution asks the run's documents), only who looks it up.
    let mut changed_keys: BTreeSet<[u8; 16]> = BTreeSet::new();
    for (c, k) in changes.iter().zip(&key_changes) {
        for key in k.old_holds.iter().filter(|h| !k.new_holds.contains(h)) {
            let hash = key_hash(key);
            if !key.starts_with("p:") {
                keys.update(hash, |e| {
                    if let Some(e) = e {
                        e.holders.retain(|p| p != c.path);
                    }
                })?;
            }
            changed_keys.insert(hash);
        }
        for key in k.new_holds.iter().filter(|h| !k.old_holds.contains(h)) {
            let hash = key_hash(key);
            if !key.starts_with("p:") {
                keys.update(hash, |e| {
                    insert_holder(
                        &mut e.get_or_insert_with(|| KeyEntry::new(hash)).holders,
                        c.path,
                    )
                })?;
            }
            changed_keys.insert(hash);
        }
        for key in k.old_looks.iter().filter(|h| !k.new_looks.contains(h)) {
            keys.update(key_hash(key), |e| {
                if let Some(e) = e {
                    remove_sorted(&mut e.lookers, &c.path.to_string());
                }
            })?;
        }
        for key in k.new_looks.iter().filter(|h| !k.old_looks.contains(h)) {
            let key = key_hash(key);
            keys.update(key, |e| {
                insert_sorted(
                    &mut e.get_or_insert_with(|| KeyEntry::new(key)).lookers,
                    c.path.to_string(),
                )
            })?;
        }
    }
    timer.lap("link: keys");

    // 3. Documents to resolve again: the changed ones, and those whose
    // links look up a key whose holders changed.
    let changed_paths: HashMap<&str, &DocChange<'_>> =
        changes.iter().map(|c| (c.path, c)).collect();
    let mut to_resolve: BTreeSet<String> = changes
        .iter()
        .filter(|c| c.new.is_some())
        .map(|c| c.path.to_string())
        .collect();
    for key in &changed_keys {
        if let Some(entry) = keys.get(key)? {
            to_resolve.extend(entry.lookers.iter().cloned());
        }
    }
    // The current extraction of each document to resolve.
    let current = |path: &str| -> Result<Option<Arc<ExtractionGroup>>> {
        match req.extraction.piece_for(document_byte(path)) {
            Some(id) => extractions.group(id).map(Some),
            None => Ok(None),
        }
    };
    let resolving: Vec<(String, Arc<ExtractionGroup>)> = to_resolve
        .par_iter()
        .filter_map(|path| match current(path) {
            Ok(Some(g)) => find_doc(&g, path).is_some().then(|| Ok((path.clone(), g))),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<_>>()?;
    keys.preload_keys(
        resolving
            .iter()
            .filter_map(|(p, g)| find_doc(g, p))
            .flat_map(doc_lookups)
            .map(|k| key_hash(&k))
            .collect::<Vec<_>>()
            .iter(),
    )?;
    let has_path = |path: &str| -> bool {
        matches!(current(path), Ok(Some(g)) if find_doc(&g, path).is_some())
    };
    let lookup = KeyLookup {
        keys: &keys,
        has_path: &has_path,
    };
    let new_resolutions: HashMap<String, Vec<LinkResolution>> = resolving
        .par_iter()
        .filter_map(|(path, g)| {
            find_doc(g, path).map(|d| (path.clone(), resolve_document(&lookup, d)))
        })
        .collect();
    let doc_bits = Bits::Fixed(req.extraction.bits());
    let mut resolutions: Sharded<DocResolutions> =
        Sharded::new(layout, base_tables.resolutions.clone(), doc_bits);
    let mut resolution_paths: Vec<String> = to_resolve.iter().cloned().collect();
    resolution_paths.extend(changes.iter().map(|c| c.path.to_string()));
    resolutions.preload_keys(resolution_paths.iter())?;
    timer.lap("link: resolve");

    // 4. Each affected document's part, before and after.
    struct Affected {
        path: String,
        old: Option<DocGraph>,
        new: Option<DocGraph>,
        /// Its extraction changed (not only how its links resolved).
        extraction_changed: bool,
    }
    let mut affected_paths: BTreeSet<String> = to_resolve;
    affected_paths.extend(changes.iter().map(|c| c.path.to_string()));
    let old_resolution = |path: &str| -> Vec<LinkResolution> {
        resolutions
            .get(&path.to_string())
            .ok()
            .flatten()
            .map(|r| r.links.clone())
            .unwrap_or_default()
    };
    let affected: Vec<Affected> = affected_paths
        .par_iter()
        .map(|path| {
            let change = changed_paths.get(path.as_str());
            let new_res = new_resolutions.get(path);
            let old_res = old_resolution(path);
            let group = match change {
                Some(_) => None,
                None => current(path)?,
            };
            let unchanged_doc = group.as_ref().and_then(|g| find_doc(g, path));
            let old = match change {
                Some(c) => c.old.map(|d| doc_graph(d, &old_res)),
                None => unchanged_doc.map(|d| doc_graph(d, &old_res)),
            };
            let new = match change {
                Some(c) => c
                    .new
                    .map(|d| doc_graph(d, new_res.map(Vec::as_slice).unwrap_or(&[]))),
                None => match (unchanged_doc, new_res) {
                    (Some(d), Some(res)) if *res != old_res => Some(doc_graph(d, res)),
                    _ => old.clone(),
                },
            };
            Ok(Affected {
                path: path.clone(),
                old,
                new,
                extraction_changed: change.is_some(),
            })
        })
        .collect::<Result<_>>()?;
    let affected: Vec<Affected> = affected
        .into_iter()
        .filter(|a| a.old != a.new || a.extraction_changed)
        .collect();
    for a in &affected {
        let links = new_resolutions.get(&a.path).cloned().unwrap_or_default();
        let present = a.new.is_some();
        resolutions.update(a.path.clone(), |e| {
            *e = present.then(|| DocResolutions {
                path: a.path.clone(),
                links,
            });
        })?;
    }
    let mut delta = Delta::default();
    for a in &affected {
        if let Some(g) = &a.old {
            delta.part(g, -1);
        }
        if let Some(g) = &a.new {
            delta.part(g, 1);
        }
    }
    timer.lap("link: document parts");

    // 5. Entity ids.
    let mut entities: Sharded<EntityRef> = Sharded::new(
        layout,
        base_tables.entities.clone(),
        Bits::PerShard(ENTITIES_PER_SHARD),
    );
    // Each changed document's entity ids, before and after.
    type Ids = Vec<([u8; 32], NodeKind)>;
    let id_changes: Vec<(Ids, Ids)> = affected
        .par_iter()
        .filter(|a| a.extraction_changed)
        .map(|a| {
            let ids = |g: &Option<DocGraph>| {
                g.as_ref()
                    .map(|g| entity_digests(&a.path, g))
                    .unwrap_or_default()
            };
            (ids(&a.old), ids(&a.new))
        })
        .collect();
    let shard_of = |path: &str| document_byte(path);
    // (id prefix, document byte, kind) and the change of its count.
    type EntityKey = ([u8; 8], u8, NodeKind);
    let mut id_updates: Vec<(EntityKey, i64)> = Vec::new();
    for ((old, new), a) in id_changes
        .iter()
        .zip(affected.iter().filter(|a| a.extraction_changed))
    {
        let shard = shard_of(&a.path);
        let key = |d: &[u8; 32], k: NodeKind| {
            let mut prefix = [0u8; 8];
            prefix.copy_from_slice(&d[..8]);
            (prefix, shard, k)
        };
        for (d, k) in old {
            id_updates.push((key(d, *k), -1));
        }
        for (d, k) in new {
            id_updates.push((key(d, *k), 1));
        }
    }
    entities.preload_keys(id_updates.iter().map(|(k, _)| k))?;
    for (key, d) in id_updates {
        entities.update(key, |e| {
            let entry = e.get_or_insert_with(|| EntityRef {
                prefix: key.0,
                doc_byte: key.1,
                kind: key.2,
                count: 0,
            });
            entry.count = (i64::from(entry.count) + d).max(0) as u32;
        })?;
    }
    timer.lap("link: entities");

    // 6. Technologies: each document's mentions, and the name (the first
    // document's first mention).
    let mut techs: Sharded<TechEntry> = Sharded::new(
        layout,
        base_tables.technologies.clone(),
        Bits::PerShard(TECHNOLOGIES_PER_SHARD),
    );
    let doc_techs = |g: &Option<DocGraph>| -> BTreeMap<String, (String, TechDoc)> {
        g.iter()
            .flat_map(|g| g.techs.iter())
            .map(|t| {
                (
                    t.token.clone(),
                    (
                        t.surface.clone(),
                        TechDoc {
                            path: String::new(),
                            origins: t.origins,
                            mentions: t.mentions,
                        },
                    ),
                )
            })
            .collect()
    };
    // (token, document, its mentions now and the surface of its first).
    type TechUpdate = (String, String, Option<(String, TechDoc)>, bool);
    let mut tech_updates: Vec<TechUpdate> = Vec::new();
    for a in affected.iter().filter(|a| a.extraction_changed) {
        let old = doc_techs(&a.old);
        let new = doc_techs(&a.new);
        for token in old.keys().chain(new.keys()).collect::<BTreeSet<_>>() {
            let (o, n) = (old.get(token), new.get(token));
            if o != n {
                let membership = o.is_some() != n.is_some();
                let now = n.cloned().map(|(surface, mut d)| {
                    d.path = a.path.clone();
                    (surface, d)
                });
                tech_updates.push((token.clone(), a.path.clone(), now, membership));
            }
        }
    }
    techs.preload_keys(tech_updates.iter().map(|(t, ..)| t))?;
    let mut membership_changed: BTreeSet<String> = BTreeSet::new();
    // Technologies whose first document went: named from the next one.
    let mut renamed: BTreeSet<String> = BTreeSet::new();
    let mut tech_delta: i64 = 0;
    for (token, path, now, membership) in tech_updates {
        if membership {
            membership_changed.insert(token.clone());
        }
        let existed = techs.get(&token)?.is_some();
        let mut lost_first = false;
        techs.update(token.clone(), |e| {
            let entry = e.get_or_insert_with(|| TechEntry {
                surface: String::new(),
                docs: Vec::new(),
            });
            let was_first = entry.docs.first().is_some_and(|d| d.path == path);
            let at = entry.docs.binary_search_by(|d| d.path.as_str().cmp(&path));
            match (at, now) {
                (Ok(i), Some((surface, d))) => {
                    entry.docs[i] = d;
                    if i == 0 {
                        entry.surface = surface;
                    }
                }
                (Ok(i), None) => {
                    entry.docs.remove(i);
                    lost_first = was_first && !entry.docs.is_empty();
                }
                (Err(i), Some((surface, d))) => {
                    entry.docs.insert(i, d);
                    if i == 0 {
                        entry.surface = surface;
                    }
                }
                (Err(_), None) => {}
            }
        })?;
        if lost_first {
            renamed.insert(token.clone());
        }
        let exists = techs.get(&token)?.is_some();
        tech_delta += i64::from(exists) - i64::from(existed);
    }
    for token in renamed {
        let Some(first) = techs
            .get(&token)?
            .and_then(|e| e.docs.first())
            .map(|d| d.path.clone())
        else {
            continue;
        };
        // The new first document: changed in this run (its new part is
        // here) or not (its part is built from its extraction).
        let part = match affected.iter().find(|a| a.path == first) {
            Some(a) => a.new.clone(),
            None => current(&first)?.and_then(|g| find_doc(&g, &first).map(|d| doc_graph(d, &[]))),
        };
        let surface = part
            .and_then(|p| p.techs.into_iter().find(|t| t.token == token))
            .map(|t| t.surface);
        if let Some(surface) = surface {
            techs.update(token.clone(), |e| {
                if let Some(e) = e {
                    e.surface = surface;
                }
            })?;
        }
    }
    *delta
        .entities
        .entry(NodeKind::Technology.type_name())
        .or_default() += tech_delta;
    timer.lap("link: technologies");

    // 7. Links elsewhere that resolve to each note.
    let mut links: Sharded<NoteLinks> = Sharded::new(layout, base_tables.links.clone(), doc_bits);
    let mut backlink_updates: Vec<(String, (String, u32), bool)> = Vec::new();
    for a in &affected {
        let targets = |g: &Option<DocGraph>| -> BTreeSet<(u32, String)> {
            g.iter()
                .flat_map(|g| {
                    g.targets
                        .iter()
                        .enumerate()
                        .filter_map(|(i, t)| t.clone().map(|t| (i as u32, t)))
                })
                .collect()
        };
        let (old, new) = (targets(&a.old), targets(&a.new));
        for (i, t) in old.difference(&new) {
            backlink_updates.push((t.clone(), (a.path.clone(), *i), false));
        }
        for (i, t) in new.difference(&old) {
            backlink_updates.push((t.clone(), (a.path.clone(), *i), true));
        }
    }
    links.preload_keys(backlink_updates.iter().map(|(t, ..)| t))?;
    for (target, source, add) in backlink_updates {
        links.update(target.clone(), |e| {
            let entry = e.get_or_insert_with(|| NoteLinks::new(&target));
            if add {
                insert_sorted(&mut entry.backlinks, source);
            } else {
                remove_sorted(&mut entry.backlinks, &source);
            }
        })?;
    }
    timer.lap("link: backlinks");

    // 8. relates_to, for the notes whose technologies, or whose
    // technologies' notes, changed.
    if req.cooccurrence.enabled {
        relate(
            req,
            &affected
                .iter()
                .filter(|a| a.extraction_changed)
                .map(|a| {
                    (
                        a.path.as_str(),
                        a.new
                            .as_ref()
                            .map(|g| g.techs.iter().map(|t| t.token.clone()).collect()),
                    )
                })
                .collect::<Vec<_>>(),
            &membership_changed,
            &mut techs,
            &mut links,
            &mut delta,
            &|path| {
                let g = current(path)?;
                Ok(g.and_then(|g| find_doc(&g, path).map(|d| doc_graph(d, &[]))))
            },
        )?;
    }
    // Notes that left the run take their entries with them.
    for a in affected.iter().filter(|a| a.new.is_none()) {
        links.update(a.path.clone(), |e| *e = None)?;
    }
    timer.lap("link: relates_to");

    let counts = delta.apply(&base_counts);
    let ((resolutions_t, links_t), ((techs_t, entities_t), keys_t)) = rayon::join(
        || {
            rayon::join(
                || resolutions.finish(sink, scan),
                || links.finish(sink, scan),
            )
        },
        || {
            rayon::join(
                || rayon::join(|| techs.finish(sink, scan), || entities.finish(sink, scan)),
                || keys.finish(sink, scan),
            )
        },
    );
    let techs_t = techs_t?;
    req.progress.finish();
    timer.lap("link: write pieces");
    Ok(LinkOutput {
        tables: LinkTables {
            resolutions: resolutions_t?.table,
            links: links_t?.table,
            technologies: techs_t.table,
            entities: entities_t?.table,
            keys: keys_t?.table,
        },
        counts,
        technology_shards: techs_t.shards,
    })
}

/// A note's technologies for `relates_to`: the new ones of changed notes,
/// the others' computed from their extraction.
struct RelateSource<'a> {
    techs: &'a Sharded<TechEntry>,
    of_note: &'a HashMap<String, Vec<String>>,
}

impl CoSource for RelateSource<'_> {
    fn techs_of(&self, note: &str) -> Result<Vec<String>> {
        Ok(self.of_note.get(note).cloned().unwrap_or_default())
    }
    fn doc_frequency(&self, token: &str) -> Result<usize> {
        Ok(self
            .techs
            .get(&token.to_string())?
            .map(|e| e.docs.len())
            .unwrap_or(0))
    }
    fn notes_of(&self, token: &str) -> Result<Vec<String>> {
        Ok(self
            .techs
            .get(&token.to_string())?
            .map(|e| e.docs.iter().map(|d| d.path.clone()).collect())
            .unwrap_or_default())
    }
}

/// Computes `relates_to` again for the notes an edit concerns (see the
/// module docs of [`crate::graph::relates`]): the changed notes, and every
/// note of a technology whose notes changed. Every other note keeps its
/// candidates and the notes it keeps, so its stored edges stand, but for
/// those with a recomputed note, which are brought up to date.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn relate(
    req: &LinkRequest<'_>,
    changed: &[(&str, Option<Vec<String>>)],
    membership_changed: &BTreeSet<String>,
    techs: &mut Sharded<TechEntry>,
    links: &mut Sharded<NoteLinks>,
    delta: &mut Delta,
    part_of: &(dyn Fn(&str) -> Result<Option<DocGraph>> + Sync),
) -> Result<()> {
    let rule = req.cooccurrence;
    // The notes to compute again.
    let mut recompute: BTreeSet<String> = changed.iter().map(|(p, _)| p.to_string()).collect();
    for token in membership_changed {
        if let Some(entry) = techs.get(token)? {
            recompute.extend(entry.docs.iter().map(|d| d.path.clone()));
        }
    }
    links.preload_keys(recompute.iter())?;
    // Their technologies: changed notes' from their new part, the others'
    // from their extraction.
    let mut of_note: HashMap<String, Vec<String>> = HashMap::new();
    let new_techs: HashMap<&str, &Option<Vec<String>>> =
        changed.iter().map(|(p, t)| (*p, t)).collect();
    let others: Vec<&String> = recompute
        .iter()
        .filter(|p| !new_techs.contains_key(p.as_str()))
        .collect();
    let computed: Vec<(String, Option<Vec<String>>)> = others
        .par_iter()
        .map(|p| {
            let techs = part_of(p)?.map(|g| g.techs.into_iter().map(|t| t.token).collect());
            Ok(((*p).clone(), techs))
        })
        .collect::<Result<_>>()?;
    of_note.extend(computed.into_iter().filter_map(|(p, t)| t.map(|t| (p, t))));
    for (p, t) in &new_techs {
        if let Some(t) = t {
            of_note.insert(p.to_string(), t.clone());
        }
    }
    techs.preload_keys(of_note.values().flatten())?;
    let present: BTreeSet<&String> = recompute
        .iter()
        .filter(|p| of_note.contains_key(*p))
        .collect();
    let source = RelateSource {
        techs,
        of_note: &of_note,
    };
    let candidates: HashMap<String, Vec<relates::Candidate>> = present
        .par_iter()
        .map(|p| Ok(((*p).clone(), relates::candidates(&source, p, rule)?)))
        .collect::<Result<_>>()?;
    let kept: HashMap<&String, Vec<String>> = candidates
        .iter()
        .map(|(p, c)| (p, relates::kept(c, rule)))
        .collect();
    // Partners: candidates now, and the old partners.
    let mut partners: BTreeSet<String> = BTreeSet::new();
    for c in candidates.values() {
        partners.extend(c.iter().map(|c| c.other.clone()));
    }
    for p in &recompute {
        if let Some(entry) = links.get(p)? {
            partners.extend(entry.relates.iter().map(|r| r.other.clone()));
        }
    }
    links.preload_keys(partners.iter())?;
    // Technology counts of partners that are not computed again: recorded
    // with their edges, or counted from their extraction.
    let mut counts: HashMap<String, u32> = present
        .iter()
        .map(|p| ((*p).clone(), of_note[*p].len() as u32))
        .collect();
    let unknown: Vec<&String> = partners
        .iter()
        .filter(|p| !counts.contains_key(*p))
        .collect();
    let mut missing: Vec<&String> = Vec::new();
    for p in unknown {
        match links.get(p)? {
            Some(entry) if !entry.relates.is_empty() => {
                counts.insert(p.clone(), entry.techs);
            }
            _ => missing.push(p),
        }
    }
    let loaded: Vec<(String, u32)> = missing
        .par_iter()
        .map(|p| {
            Ok((
                (*p).clone(),
                part_of(p)?.map(|g| g.techs.len() as u32).unwrap_or(0),
            ))
        })
        .collect::<Result<_>>()?;
    counts.extend(loaded);
    let count_of = |p: &str| counts.get(p).copied().unwrap_or(0);
    // What each note keeps: computed, or (partners not computed again) as
    // recorded.
    let mut keeps: HashMap<String, Vec<String>> = HashMap::new();
    for p in &partners {
        if !recompute.contains(p) {
            keeps.insert(
                p.clone(),
                links.get(p)?.map(|e| e.kept()).unwrap_or_default(),
            );
        }
    }
    let kept_by = |p: &str| -> Result<Vec<String>> {
        Ok(match kept.get(&p.to_string()) {
            Some(k) => k.clone(),
            None => keeps.get(p).cloned().unwrap_or_default(),
        })
    };
    // The new edges of each recomputed note.
    let mut new_edges: BTreeMap<String, Vec<Related>> = BTreeMap::new();
    for p in &recompute {
        let mut edges = Vec::new();
        if let Some(cands) = candidates.get(p) {
            let mine = kept_by(p)?;
            for c in cands {
                let keeps = mine.contains(&c.other);
                if keeps || kept_by(&c.other)?.contains(p) {
                    let r = relates::relation(
                        p,
                        &c.other,
                        c.shared.clone(),
                        count_of(p),
                        count_of(&c.other),
                    );
                    edges.push(Related {
                        other: c.other.clone(),
                        shared: r.shared.iter().map(|t| tech_prefix(t)).collect(),
                        confidence: r.confidence,
                        kept: keeps,
                    });
                }
            }
        }
        edges.sort_by(|a, b| a.other.cmp(&b.other));
        new_edges.insert(p.clone(), edges);
    }
    // Apply: each recomputed note's entry, and its partners' side of every
    // edge that appeared, changed or went.
    let mut edge_delta: i64 = 0;
    for p in &recompute {
        let old: Vec<Related> = links.get(p)?.map(|e| e.relates.clone()).unwrap_or_default();
        let new = new_edges.remove(p).unwrap_or_default();
        // Count each pair once: from the recomputed note with the smaller
        // path, or from the only recomputed one.
        for r in &old {
            if !recompute.contains(&r.other) || p < &r.other {
                edge_delta -= 1;
            }
        }
        for r in &new {
            if !recompute.contains(&r.other) || p < &r.other {
                edge_delta += 1;
            }
        }
        for r in &old {
            if !recompute.contains(&r.other) && !new.iter().any(|n| n.other == r.other) {
                links.update(r.other.clone(), |e| {
                    if let Some(e) = e {
                        e.relates.retain(|x| &x.other != p);
                        if e.relates.is_empty() {
                            e.techs = 0;
                        }
                    }
                })?;
            }
        }
        for r in &new {
            if !recompute.contains(&r.other) {
                let partner_keeps = kept_by(&r.other)?.contains(p);
                let partner_count = count_of(&r.other);
                let mirrored = Related {
                    other: p.clone(),
                    shared: r.shared.clone(),
                    confidence: r.confidence,
                    kept: partner_keeps,
                };
                links.update(r.other.clone(), |e| {
                    let entry = e.get_or_insert_with(|| NoteLinks::new(&r.other));
                    entry.techs = partner_count;
                    match entry.relates.binary_search_by(|x| x.other.cmp(p)) {
                        Ok(i) => entry.relates[i] = mirrored,
                        Err(i) => entry.relates.insert(i, mirrored),
                    }
                })?;
            }
        }
        // The count is recorded only with edges (it is part of their
        // confidence).
        let techs_now = if present.contains(p) && !new.is_empty() {
            count_of(p)
        } else {
            0
        };
        links.update(p.clone(), |e| {
            let entry = e.get_or_insert_with(|| NoteLinks::new(p));
            entry.techs = techs_now;
            entry.relates = new;
        })?;
    }
    *delta
        .links
        .entry(EdgeKind::RelatesTo.type_name())
        .or_default() += edge_delta;
    Ok(())
}

/// An error for an entity the link pieces do not know.
pub fn missing(what: &str) -> Error {
    Error::Failed {
        message: format!("internal: {what}"),
    }
}
