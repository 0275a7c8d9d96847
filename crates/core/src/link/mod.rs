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

mod cooccurrence;
pub mod entries;
pub mod sharded;

use crate::config::Cooccurrence;
use crate::error::{Error, Result};
use crate::extract::links::{self as resolve, DocKey, DocKeys, Resolution};
use crate::extract::stage::{DocExtraction, ExtractionGroup};
use crate::graph::local::{DocGraph, DocTech, LinkResolution, doc_graph};
use crate::graph::model::{EdgeKind, NodeKind, ReferenceState, node_digest};
use crate::hashing::FieldHasher;
use crate::pipeline::postcondition::Scanner;
use crate::progress::Progress;
use crate::store::id::ObjectId;
use crate::store::layout::StoreLayout;
use crate::store::piece::{self, PieceKind, PieceSink};
use crate::store::table::{ShardTable, document_byte};
use entries::*;
use foldhash::{HashMap, HashMapExt};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sharded::{Bits, Sharded};
use std::collections::{BTreeMap, BTreeSet};
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

    /// Adds another delta to this one.
    fn merge(&mut self, other: Delta) {
        self.documents += other.documents;
        for (mine, theirs) in [
            (&mut self.entities, other.entities),
            (&mut self.links, other.links),
            (&mut self.references, other.references),
        ] {
            for (k, v) in theirs {
                *mine.entry(k).or_default() += v;
            }
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
    /// and base ones); others are read from the store, or read back from
    /// the sink they were put into. The link stage lets go of them once it
    /// has each document's part, so a cold run does not hold every
    /// extraction while it builds the tables.
    pub groups: std::sync::Mutex<HashMap<ObjectId, Arc<ExtractionGroup>>>,
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
    sink: &'a dyn PieceSink,
    memory: &'a std::sync::Mutex<HashMap<ObjectId, Arc<ExtractionGroup>>>,
    loaded: std::sync::Mutex<HashMap<ObjectId, Arc<ExtractionGroup>>>,
}

impl Extractions<'_> {
    fn group(&self, id: ObjectId) -> Result<Arc<ExtractionGroup>> {
        if let Some(g) = self.memory.lock().ok().and_then(|m| m.get(&id).cloned()) {
            return Ok(g);
        }
        if let Some(g) = self.loaded.lock().ok().and_then(|m| m.get(&id).cloned()) {
            return Ok(g);
        }
        let g = Arc::new(piece::read_via(
            self.layout,
            self.sink,
            PieceKind::Extraction,
            id,
        )?);
        if let Ok(mut m) = self.loaded.lock() {
            m.insert(id, Arc::clone(&g));
        }
        Ok(g)
    }

    /// Lets go of the groups held in memory from the extract stage; later
    /// lookups (few: documents whose technologies were renamed, partners
    /// of changed notes) read them back.
    fn release(&self) {
        if let Ok(mut m) = self.memory.lock() {
            m.clear();
            m.shrink_to_fit();
        }
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

/// A document whose part of the graph changed in this run.
struct Affected {
    path: String,
    old: Option<PartSummary>,
    new: Option<PartSummary>,
    /// Its extraction changed (not only how its links resolved).
    extraction_changed: bool,
}

/// What the link stage needs of a document's part once it is counted:
/// its entity ids, technologies and link targets.
#[derive(Debug, Clone, PartialEq)]
struct PartSummary {
    /// Entity ids with their kinds (only when the extraction changed: an
    /// unchanged document keeps its ids).
    entities: Vec<([u8; 32], NodeKind)>,
    techs: Vec<DocTech>,
    /// (reference order, document) of each reference that resolves to one.
    targets: Vec<(u32, String)>,
}

impl PartSummary {
    fn of(path: &str, g: DocGraph, with_entities: bool) -> PartSummary {
        PartSummary {
            entities: if with_entities {
                entity_digests(path, &g)
            } else {
                Vec::new()
            },
            targets: g
                .targets
                .into_iter()
                .enumerate()
                .filter_map(|(i, t)| t.map(|t| (i as u32, t)))
                .collect(),
            techs: g.techs,
        }
    }
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
        sink,
        memory: &req.groups,
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
    req.progress.step("link: changes");
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

    req.progress.step("link: keys");
    // 2. Keys: who holds them and whose links look them up.
    let mut keys: Sharded<KeyEntry> = Sharded::new(
        layout,
        base_tables.keys.clone(),
        Bits::PerShard(KEYS_PER_SHARD),
    );
    // Keys by their hash, computed once on every core; a path key is held
    // by the document at that path: its holders are not stored (resolution
    // asks the run's documents), only who looks it up.
    type Hashed = Vec<([u8; 16], bool)>;
    let hashed = |keys: Vec<String>| -> Hashed {
        keys.iter()
            .map(|k| (key_hash(k), k.starts_with("p:")))
            .collect()
    };
    struct KeyChange {
        old_holds: Hashed,
        new_holds: Hashed,
        old_looks: Hashed,
        new_looks: Hashed,
    }
    let key_changes: Vec<KeyChange> = changes
        .par_iter()
        .map(|c| KeyChange {
            old_holds: hashed(c.old.map(doc_keys).unwrap_or_default()),
            new_holds: hashed(c.new.map(doc_keys).unwrap_or_default()),
            old_looks: hashed(c.old.map(doc_lookups).unwrap_or_default()),
            new_looks: hashed(c.new.map(doc_lookups).unwrap_or_default()),
        })
        .collect();
    keys.preload_keys(
        key_changes
            .iter()
            .flat_map(|k| {
                k.old_holds
                    .iter()
                    .chain(&k.new_holds)
                    .chain(&k.old_looks)
                    .chain(&k.new_looks)
            })
            .map(|(hash, _)| hash),
    )?;
    enum KeyOp<'p> {
        Unhold(&'p str),
        Hold(&'p str),
        Unlook(&'p str),
        Look(&'p str),
    }
    let mut changed_keys: BTreeSet<[u8; 16]> = BTreeSet::new();
    let mut key_ops: Vec<([u8; 16], KeyOp<'_>)> = Vec::new();
    for (c, k) in changes.iter().zip(&key_changes) {
        for (hash, is_path) in k.old_holds.iter().filter(|h| !k.new_holds.contains(h)) {
            if !is_path {
                key_ops.push((*hash, KeyOp::Unhold(c.path)));
            }
            changed_keys.insert(*hash);
        }
        for (hash, is_path) in k.new_holds.iter().filter(|h| !k.old_holds.contains(h)) {
            if !is_path {
                key_ops.push((*hash, KeyOp::Hold(c.path)));
            }
            changed_keys.insert(*hash);
        }
        for (hash, _) in k.old_looks.iter().filter(|h| !k.new_looks.contains(h)) {
            key_ops.push((*hash, KeyOp::Unlook(c.path)));
        }
        for (hash, _) in k.new_looks.iter().filter(|h| !k.old_looks.contains(h)) {
            key_ops.push((*hash, KeyOp::Look(c.path)));
        }
    }
    keys.update_all(key_ops, |hash, e, op| match op {
        KeyOp::Unhold(path) => {
            if let Some(e) = e {
                e.holders.retain(|p| p != path);
            }
        }
        KeyOp::Hold(path) => insert_holder(
            &mut e.get_or_insert_with(|| KeyEntry::new(*hash)).holders,
            path,
        ),
        KeyOp::Unlook(path) => {
            if let Some(e) = e {
                remove_sorted(&mut e.lookers, &path.to_string());
            }
        }
        KeyOp::Look(path) => insert_sorted(
            &mut e.get_or_insert_with(|| KeyEntry::new(*hash)).lookers,
            path.to_string(),
        ),
    })?;
    // What the keys were computed from is not needed any more.
    drop(key_changes);
    timer.lap("link: keys");

    req.progress.step("link: resolve");
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
            .par_iter()
            .filter_map(|(p, g)| find_doc(g, p))
            .flat_map_iter(|d| doc_lookups(d).into_iter().map(|k| key_hash(&k)))
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
    drop(resolving);
    drop(changed_keys);
    // Every lookup is answered: the keys pieces are written now rather than
    // held through the steps below (at 120k documents they are the largest
    // of the link stage's tables).
    let keys_written = keys.finish(sink, scan)?;
    let doc_bits = Bits::Fixed(req.extraction.bits());
    let mut resolutions: Sharded<DocResolutions> =
        Sharded::new(layout, base_tables.resolutions.clone(), doc_bits);
    // `to_resolve` holds every changed document still present; those
    // that left the run are added.
    let gone: Vec<String> = changes
        .iter()
        .filter(|c| c.new.is_none())
        .map(|c| c.path.to_string())
        .collect();
    resolutions.preload_keys(to_resolve.iter().chain(&gone))?;
    drop(gone);
    timer.lap("link: resolve");

    req.progress.step("link: documents");
    // 4. Each affected document's part, before and after, summarized for
    // the steps below (the parts themselves are not kept: a cold run would
    // hold every document's graph), and what the parts count.
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
    let paths: Vec<&String> = affected_paths.iter().collect();
    let (affected, mut delta) = paths
        .par_iter()
        .map(|path| -> Result<(Option<Affected>, Delta)> {
            let change = changed_paths.get(path.as_str());
            let new_res = new_resolutions.get(*path);
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
            let mut delta = Delta::default();
            if old == new && change.is_none() {
                return Ok((None, delta));
            }
            if let Some(g) = &old {
                delta.part(g, -1);
            }
            if let Some(g) = &new {
                delta.part(g, 1);
            }
            let extraction_changed = change.is_some();
            let summary =
                |g: Option<DocGraph>| g.map(|g| PartSummary::of(path, g, extraction_changed));
            Ok((
                Some(Affected {
                    path: (*path).clone(),
                    old: summary(old),
                    new: summary(new),
                    extraction_changed,
                }),
                delta,
            ))
        })
        .try_fold(
            || (Vec::new(), Delta::default()),
            |(mut list, mut total), item| -> Result<(Vec<Affected>, Delta)> {
                let (a, d) = item?;
                list.extend(a);
                total.merge(d);
                Ok((list, total))
            },
        )
        .try_reduce(
            || (Vec::new(), Delta::default()),
            |(mut list, mut total), (more, d)| -> Result<(Vec<Affected>, Delta)> {
                list.extend(more);
                total.merge(d);
                Ok((list, total))
            },
        )?;
    drop(paths);
    let mut new_resolutions = new_resolutions;
    let resolution_updates: Vec<(String, Option<Vec<LinkResolution>>)> = affected
        .iter()
        .map(|a| {
            let links = new_resolutions.remove(&a.path).unwrap_or_default();
            (a.path.clone(), a.new.is_some().then_some(links))
        })
        .collect();
    drop(new_resolutions);
    resolutions.update_all(resolution_updates, |path, e, links| {
        *e = links.map(|links| DocResolutions {
            path: path.clone(),
            links,
        });
    })?;
    // The documents' parts are summarized: their extractions can go.
    drop(changed_paths);
    drop(changes);
    drop(pairs);
    extractions.release();
    timer.lap("link: document parts");

    req.progress.step("link: entities and technologies");
    // 5 and 6 are independent: each on its own core (the entities'
    // pieces are written as soon as they are complete).
    let (entities_t, techs_done) = rayon::join(
        || update_entities(layout, &base_tables.entities, &affected, sink, scan),
        || update_technologies(layout, &base_tables.technologies, &affected, &current),
    );
    let entities_t = entities_t?;
    let TechUpdate {
        mut techs,
        delta: tech_delta,
        membership_changed,
    } = techs_done?;
    *delta
        .entities
        .entry(NodeKind::Technology.type_name())
        .or_default() += tech_delta;
    timer.lap("link: entities and technologies");

    req.progress.step("link: backlinks");
    // 7. Links elsewhere that resolve to each note.
    let mut links: Sharded<NoteLinks> = Sharded::new(layout, base_tables.links.clone(), doc_bits);
    // (source note, reference order) and whether it was added.
    type Backlink = ((String, u32), bool);
    let mut backlink_updates: Vec<(String, Backlink)> = Vec::new();
    for a in &affected {
        let targets = |g: &Option<PartSummary>| -> BTreeSet<(u32, String)> {
            g.iter().flat_map(|g| g.targets.iter().cloned()).collect()
        };
        let (old, new) = (targets(&a.old), targets(&a.new));
        for (i, t) in old.difference(&new) {
            backlink_updates.push((t.clone(), ((a.path.clone(), *i), false)));
        }
        for (i, t) in new.difference(&old) {
            backlink_updates.push((t.clone(), ((a.path.clone(), *i), true)));
        }
    }
    links.update_all(backlink_updates, |target, e, (source, add)| {
        let entry = e.get_or_insert_with(|| NoteLinks::new(target));
        if add {
            insert_sorted(&mut entry.backlinks, source);
        } else {
            remove_sorted(&mut entry.backlinks, &source);
        }
    })?;
    timer.lap("link: backlinks");

    req.progress.step("link: relates_to");
    // 8. relates_to, for the notes whose technologies, or whose
    // technologies' notes, changed.
    if req.cooccurrence.enabled {
        let changed: Vec<(&str, Option<Vec<String>>)> = affected
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
            .collect();
        let part_of = |path: &str| -> Result<Option<DocGraph>> {
            let g = current(path)?;
            Ok(g.and_then(|g| find_doc(&g, path).map(|d| doc_graph(d, &[]))))
        };
        let edges = cooccurrence::relate(
            &cooccurrence::RelateRequest {
                rule: req.cooccurrence,
                changed: &changed,
                membership_changed: &membership_changed,
                part_of: &part_of,
            },
            &mut techs,
            &mut links,
        )?;
        *delta
            .links
            .entry(EdgeKind::RelatesTo.type_name())
            .or_default() += edges;
    }
    // Notes that left the run take their entries with them.
    for a in affected.iter().filter(|a| a.new.is_none()) {
        links.update(a.path.clone(), |e| *e = None)?;
    }
    timer.lap("link: relates_to");

    req.progress.step("link: write");
    let counts = delta.apply(&base_counts);
    let ((resolutions_t, links_t), techs_t) = rayon::join(
        || {
            rayon::join(
                || resolutions.finish(sink, scan),
                || links.finish(sink, scan),
            )
        },
        || techs.finish(sink, scan),
    );
    let techs_t = techs_t?;
    req.progress.finish();
    timer.lap("link: write pieces");
    Ok(LinkOutput {
        tables: LinkTables {
            resolutions: resolutions_t?.table,
            links: links_t?.table,
            technologies: techs_t.table,
            entities: entities_t.table,
            keys: keys_written.table,
        },
        counts,
        technology_shards: techs_t.shards,
    })
}

/// Step 5 of [`link`]: the entity-id pieces, updated by the changed
/// documents' ids and written.
fn update_entities(
    layout: &StoreLayout,
    base: &ShardTable,
    affected: &[Affected],
    sink: &dyn PieceSink,
    scan: &Scanner<'_>,
) -> Result<sharded::Written<EntityRef>> {
    // 5. Entity ids.
    let mut entities: Sharded<EntityRef> =
        Sharded::new(layout, base.clone(), Bits::PerShard(ENTITIES_PER_SHARD));
    // Each changed document's entity ids, before and after.
    type Ids = Vec<([u8; 32], NodeKind)>;
    let no_ids: Ids = Vec::new();
    let id_changes: Vec<(&Ids, &Ids)> = affected
        .iter()
        .filter(|a| a.extraction_changed)
        .map(|a| {
            (
                a.old.as_ref().map_or(&no_ids, |p| &p.entities),
                a.new.as_ref().map_or(&no_ids, |p| &p.entities),
            )
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
        for (d, k) in old.iter() {
            id_updates.push((key(d, *k), -1));
        }
        for (d, k) in new.iter() {
            id_updates.push((key(d, *k), 1));
        }
    }
    entities.update_all(id_updates, |key, e, d| {
        let entry = e.get_or_insert_with(|| EntityRef {
            prefix: key.0,
            doc_byte: key.1,
            kind: key.2,
            count: 0,
        });
        entry.count = (i64::from(entry.count) + d).max(0) as u32;
    })?;
    entities.finish(sink, scan)
}

/// What step 6 of [`link`] leaves for the steps after it.
struct TechUpdate {
    techs: Sharded<TechEntry>,
    /// The change in the number of technologies.
    delta: i64,
    /// Technologies a document started or stopped mentioning.
    membership_changed: BTreeSet<String>,
}

/// Step 6 of [`link`]: each document's mentions of each technology, and
/// the technology's name (the first document's first mention).
fn update_technologies(
    layout: &StoreLayout,
    base: &ShardTable,
    affected: &[Affected],
    current: &(dyn Fn(&str) -> Result<Option<Arc<ExtractionGroup>>> + Sync),
) -> Result<TechUpdate> {
    // 6. Technologies: each document's mentions, and the name (the first
    // document's first mention).
    let mut techs: Sharded<TechEntry> =
        Sharded::new(layout, base.clone(), Bits::PerShard(TECHNOLOGIES_PER_SHARD));
    let doc_techs = |g: &Option<PartSummary>| -> BTreeMap<String, (String, TechDoc)> {
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
    // A document's mentions of a technology now, and the surface of its
    // first mention (none: it no longer mentions it).
    type TechChange = (String, Option<(String, TechDoc)>);
    let mut tech_updates: Vec<(String, TechChange)> = Vec::new();
    // Technologies a document started or stopped mentioning.
    let mut membership_changed: BTreeSet<String> = BTreeSet::new();
    for a in affected.iter().filter(|a| a.extraction_changed) {
        let old = doc_techs(&a.old);
        let new = doc_techs(&a.new);
        for token in old.keys().chain(new.keys()).collect::<BTreeSet<_>>() {
            let (o, n) = (old.get(token), new.get(token));
            if o != n {
                if o.is_some() != n.is_some() {
                    membership_changed.insert(token.clone());
                }
                let now = n.cloned().map(|(surface, mut d)| {
                    d.path = a.path.clone();
                    (surface, d)
                });
                tech_updates.push((token.clone(), (a.path.clone(), now)));
            }
        }
    }
    // Technologies whose first document went: named from the next one.
    let renamed: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());
    let techs_before = techs.entry_count();
    techs.update_all(tech_updates, |token, e, (path, now)| {
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
                if was_first && !entry.docs.is_empty() {
                    // A poisoned lock only means another shard panicked.
                    if let Ok(mut renamed) = renamed.lock() {
                        renamed.insert(token.clone());
                    }
                }
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
    let tech_delta = techs.entry_count() - techs_before;
    let renamed = renamed.into_inner().unwrap_or_default();
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
        let first_techs: Option<Vec<DocTech>> = match affected.iter().find(|a| a.path == first) {
            Some(a) => a.new.as_ref().map(|p| p.techs.clone()),
            None => {
                current(&first)?.and_then(|g| find_doc(&g, &first).map(|d| doc_graph(d, &[]).techs))
            }
        };
        let surface = first_techs
            .and_then(|techs| techs.into_iter().find(|t| t.token == token))
            .map(|t| t.surface);
        if let Some(surface) = surface {
            techs.update(token.clone(), |e| {
                if let Some(e) = e {
                    e.surface = surface;
                }
            })?;
        }
    }
    Ok(TechUpdate {
        techs,
        delta: tech_delta,
        membership_changed,
    })
}

/// An error for an entity the link pieces do not know.
pub fn missing(what: &str) -> Error {
    Error::Failed {
        message: format!("internal: {what}"),
    }
}
