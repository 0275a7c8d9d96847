//! The entries of the link stage's sharded pieces.

use super::sharded::ShardedEntry;
use crate::graph::local::LinkResolution;
use crate::graph::model::NodeKind;
use crate::store::piece::PieceKind;
use crate::store::table::document_byte;
use serde::{Deserialize, Serialize};

/// How the links of one document resolved (documents without links have
/// no entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocResolutions {
    pub path: String,
    /// One per link of the document's outline, in order.
    pub links: Vec<LinkResolution>,
}

impl ShardedEntry for DocResolutions {
    type Key = String;
    const KIND: PieceKind = PieceKind::Resolutions;
    fn key(&self) -> String {
        self.path.clone()
    }
    fn hash_byte(key: &String) -> u8 {
        document_byte(key)
    }
    fn is_empty(&self) -> bool {
        self.links.is_empty()
    }
}

/// A `relates_to` edge as one of its notes records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Related {
    pub other: String,
    /// Shared technologies, by the first 8 bytes of their id's hash (in
    /// token order). Tokens are case-folded code text that the redaction
    /// never saw as such, so pieces hold them only as hashes.
    pub shared: Vec<[u8; 8]>,
    pub confidence: f32,
    /// This note keeps the other among its best candidates.
    pub kept: bool,
}

/// The first 8 bytes of a technology's id hash.
pub fn tech_prefix(token: &str) -> [u8; 8] {
    let d = tech_digest(token);
    let mut p = [0u8; 8];
    p.copy_from_slice(&d[..8]);
    p
}

/// What points at a note from elsewhere, and what `relates_to` needs to
/// know about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoteLinks {
    pub path: String,
    /// How many technologies the note mentions (recorded with its
    /// `relates_to` edges, whose confidence it is part of).
    pub techs: u32,
    /// Links elsewhere that resolve to it: (source document, link order),
    /// sorted.
    pub backlinks: Vec<(String, u32)>,
    /// Its `relates_to` edges, either direction, by the other note's path.
    /// The notes it keeps are among them (an edge exists when either
    /// note keeps the other).
    pub relates: Vec<Related>,
}

impl NoteLinks {
    pub fn new(path: &str) -> NoteLinks {
        NoteLinks {
            path: path.to_string(),
            techs: 0,
            backlinks: Vec::new(),
            relates: Vec::new(),
        }
    }

    /// The notes it keeps.
    pub fn kept(&self) -> Vec<String> {
        self.relates
            .iter()
            .filter(|r| r.kept)
            .map(|r| r.other.clone())
            .collect()
    }
}

impl ShardedEntry for NoteLinks {
    type Key = String;
    const KIND: PieceKind = PieceKind::Links;
    fn key(&self) -> String {
        self.path.clone()
    }
    fn hash_byte(key: &String) -> u8 {
        document_byte(key)
    }
    fn is_empty(&self) -> bool {
        self.backlinks.is_empty() && self.relates.is_empty()
    }
}

/// A technology with every document that mentions it. Its token (the
/// case-folded text, its identity) is not stored: it is the token of its
/// surface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TechEntry {
    /// The name: the first mention in the first document (by path).
    pub surface: String,
    /// By path.
    pub docs: Vec<TechDoc>,
}

/// One document's mentions of a technology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TechDoc {
    pub path: String,
    pub origins: u8,
    pub mentions: u32,
}

impl TechEntry {
    /// The token (identity).
    pub fn token(&self) -> String {
        crate::graph::build::technology_token(self.surface())
    }

    /// The name: the first mention in the first document (by path).
    pub fn surface(&self) -> &str {
        &self.surface
    }

    pub fn origins(&self) -> u8 {
        self.docs.iter().fold(0, |acc, d| acc | d.origins)
    }

    pub fn mentions(&self) -> u32 {
        self.docs.iter().map(|d| d.mentions).sum()
    }

    /// The entity id's SHA-256.
    pub fn digest(&self) -> [u8; 32] {
        tech_digest(&self.token())
    }
}

/// The SHA-256 of a technology's key (`technology:<token>`).
pub fn tech_digest(token: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"technology:");
    h.update(token.as_bytes());
    h.finalize().into()
}

impl ShardedEntry for TechEntry {
    type Key = String;
    const KIND: PieceKind = PieceKind::Technologies;
    fn key(&self) -> String {
        self.token()
    }
    fn hash_byte(key: &String) -> u8 {
        tech_digest(key)[0]
    }
    fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }
}

/// Where a note, section or reference is: the first 8 bytes of its id's
/// hash, the first byte of its document's hash (which finds the document's
/// shard), its kind, and how many entities share these (two ids agreeing
/// on 8 bytes are told apart by loading the document's shard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRef {
    pub prefix: [u8; 8],
    pub doc_byte: u8,
    pub kind: NodeKind,
    pub count: u32,
}

impl ShardedEntry for EntityRef {
    type Key = ([u8; 8], u8, NodeKind);
    const KIND: PieceKind = PieceKind::Entities;
    fn key(&self) -> Self::Key {
        (self.prefix, self.doc_byte, self.kind)
    }
    fn hash_byte(key: &Self::Key) -> u8 {
        key.0[0]
    }
    fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// A resolver key (see [`crate::extract::links::holder_keys`]), by the
/// first 16 bytes of its hash (keys are case-folded names, which the
/// redaction never saw as such), with the documents holding it (shortest
/// path first, then by path) and the documents whose links look it up (by
/// path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    pub key: [u8; 16],
    pub holders: Vec<String>,
    pub lookers: Vec<String>,
}

impl KeyEntry {
    pub fn new(key: [u8; 16]) -> KeyEntry {
        KeyEntry {
            key,
            holders: Vec::new(),
            lookers: Vec::new(),
        }
    }
}

/// The hash a resolver key is stored under.
pub fn key_hash(key: &str) -> [u8; 16] {
    let d = crate::hashing::FieldHasher::new("key").field(key).finish();
    let mut h = [0u8; 16];
    h.copy_from_slice(&d[..16]);
    h
}

impl ShardedEntry for KeyEntry {
    type Key = [u8; 16];
    const KIND: PieceKind = PieceKind::Keys;
    fn key(&self) -> [u8; 16] {
        self.key
    }
    fn hash_byte(key: &[u8; 16]) -> u8 {
        key[0]
    }
    fn is_empty(&self) -> bool {
        self.holders.is_empty() && self.lookers.is_empty()
    }
}

/// Inserts `path` into a list ordered shortest first, then by path.
pub fn insert_holder(list: &mut Vec<String>, path: &str) {
    let key = |p: &str| (p.len(), p.to_string());
    match list.binary_search_by(|p| key(p).cmp(&key(path))) {
        Ok(_) => {}
        Err(at) => list.insert(at, path.to_string()),
    }
}

/// Inserts into a sorted list of unique values.
pub fn insert_sorted<T: Ord>(list: &mut Vec<T>, value: T) {
    if let Err(at) = list.binary_search(&value) {
        list.insert(at, value);
    }
}

/// Removes from a sorted list.
pub fn remove_sorted<T: Ord>(list: &mut Vec<T>, value: &T) {
    if let Ok(at) = list.binary_search(value) {
        list.remove(at);
    }
}
