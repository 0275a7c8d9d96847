//! Pieces: the content-addressed files a run is made of.
//!
//! A piece's payload is a header line `agobj <kind> <schema> bin\n` and a
//! body: the kind's format number followed by the value, both postcard. The
//! payload is stored zstd-compressed under `objects/ab/<id>`, where the id
//! is the SHA-256 of the payload ([`ObjectId::of`]): identical content is
//! stored once and shared by every run that holds it, and
//! `validate-store` re-hashes to verify.
//!
//! [`PieceKind`] is the one list of what pieces exist: each kind's name,
//! format number and how its pieces are sharded.

use crate::error::{Error, IoContext, Result};
use crate::store::id::ObjectId;
use crate::store::layout::StoreLayout;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::Read;

/// The schema written in every piece header.
pub const PIECE_SCHEMA: &str = "v3";
const MAGIC: &str = "agobj";

/// Every kind of piece. A run's stages each own some kinds; a sharded kind
/// is stored as up to 256 pieces named by a [`super::table::ShardTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PieceKind {
    /// Ingest records of every discovered file (by document shard).
    Records,
    /// Parsed documents: text, segments, chunks (by document shard).
    Documents,
    /// Per-document extraction: names, outline, chunk ids (by document shard).
    Extraction,
    /// How each document's links resolved (by document shard).
    Resolutions,
    /// What points at each note from elsewhere: references that resolve to
    /// it and `relates_to` partners (by document shard).
    Links,
    /// Technologies with the documents that mention them (by entity id).
    Technologies,
    /// Entity id -> document shard of every note, section and reference
    /// (by entity id).
    Entities,
    /// Resolver keys (stems, titles, aliases, paths) with the documents
    /// holding them and the documents whose links look them up (by key).
    Keys,
    /// BM25 over chunk text and entity names of a document shard.
    Search,
    /// BM25 over technology names (by entity id).
    TechSearch,
    /// A node of a shard table.
    Table,
    /// Git provenance: commit records (by sha).
    GitCommits,
    /// Git provenance: the selected commits that changed each path (by path).
    GitFiles,
    /// Git provenance: refs, selection and author identities (one piece).
    GitRepo,
}

impl PieceKind {
    pub const ALL: [PieceKind; 14] = [
        PieceKind::Records,
        PieceKind::Documents,
        PieceKind::Extraction,
        PieceKind::Resolutions,
        PieceKind::Links,
        PieceKind::Technologies,
        PieceKind::Entities,
        PieceKind::Keys,
        PieceKind::Search,
        PieceKind::TechSearch,
        PieceKind::Table,
        PieceKind::GitCommits,
        PieceKind::GitFiles,
        PieceKind::GitRepo,
    ];

    /// The name in piece headers and manifests.
    pub fn name(self) -> &'static str {
        match self {
            PieceKind::Records => "records",
            PieceKind::Documents => "documents",
            PieceKind::Extraction => "extraction",
            PieceKind::Resolutions => "resolutions",
            PieceKind::Links => "links",
            PieceKind::Technologies => "technologies",
            PieceKind::Entities => "entities",
            PieceKind::Keys => "keys",
            PieceKind::Search => "search",
            PieceKind::TechSearch => "tech_search",
            PieceKind::Table => "table",
            PieceKind::GitCommits => "git_commits",
            PieceKind::GitFiles => "git_files",
            PieceKind::GitRepo => "git_repo",
        }
    }

    pub fn from_name(name: &str) -> Option<PieceKind> {
        PieceKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The format number of the body; bumped whenever the kind's encoding
    /// changes, so that another build's pieces are refused, not misread.
    pub fn format(self) -> u32 {
        match self {
            PieceKind::Documents => crate::ingest::document::DOCUMENTS_FORMAT,
            PieceKind::Extraction => crate::extract::stage::EXTRACTION_FORMAT,
            _ => 1,
        }
    }
}

/// Builds the payload of a piece.
pub fn encode<T: Serialize + ?Sized>(kind: PieceKind, value: &T) -> Vec<u8> {
    let mut out = header(kind);
    // Our values encode infallibly; an error leaves a body that fails to
    // decode (reported as damage, never misread).
    if let Ok(body) = postcard::to_extend(&(kind.format(), value), Vec::new()) {
        out.extend_from_slice(&body);
    }
    out
}

/// The header line of a piece of `kind`.
pub fn header(kind: PieceKind) -> Vec<u8> {
    format!("{MAGIC} {} {PIECE_SCHEMA} bin\n", kind.name()).into_bytes()
}

/// A piece's header and body.
pub struct Split<'a> {
    pub kind: PieceKind,
    pub schema: &'a str,
    /// After the header: the format number, then the value.
    pub body: &'a [u8],
}

/// Splits a payload into its header and body; `origin` names the piece in
/// errors.
pub fn split<'a>(payload: &'a [u8], origin: &std::path::Path) -> Result<Split<'a>> {
    let newline = memchr::memchr(b'\n', &payload[..payload.len().min(128)])
        .ok_or_else(|| Error::corrupt(origin, "the piece has no header line"))?;
    let line = std::str::from_utf8(&payload[..newline])
        .map_err(|_| Error::corrupt(origin, "the piece header is not UTF-8"))?;
    let mut parts = line.split(' ');
    let (Some(MAGIC), Some(kind), Some(schema), Some("bin"), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(Error::corrupt(origin, format!("bad piece header '{line}'")));
    };
    let kind = PieceKind::from_name(kind)
        .ok_or_else(|| Error::corrupt(origin, format!("unknown piece kind '{kind}'")))?;
    Ok(Split {
        kind,
        schema,
        body: &payload[newline + 1..],
    })
}

/// Decodes a piece payload of `kind`, refusing another kind, another
/// format number, or bytes after the value.
pub fn decode<'a, T: Deserialize<'a>>(
    kind: PieceKind,
    payload: &'a [u8],
    origin: &std::path::Path,
) -> Result<T> {
    let split = split(payload, origin)?;
    if split.kind != kind {
        return Err(Error::corrupt(
            origin,
            format!(
                "expected a {} piece, found {}",
                kind.name(),
                split.kind.name()
            ),
        ));
    }
    decode_body(kind, split.body, origin)
}

/// Decodes the body of a piece whose header was checked.
pub fn decode_body<'a, T: Deserialize<'a>>(
    kind: PieceKind,
    body: &'a [u8],
    origin: &std::path::Path,
) -> Result<T> {
    let (format, rest) = postcard::take_from_bytes::<u32>(body)
        .map_err(|e| Error::corrupt(origin, format!("unreadable {} piece: {e}", kind.name())))?;
    if format != kind.format() {
        return Err(Error::ArtifactFormat {
            file: origin.to_path_buf(),
            what: kind.name(),
            found: format,
            readable: kind.format(),
        });
    }
    let (value, rest) = postcard::take_from_bytes::<T>(rest)
        .map_err(|e| Error::corrupt(origin, format!("unreadable {} piece: {e}", kind.name())))?;
    if !rest.is_empty() {
        return Err(Error::corrupt(
            origin,
            format!(
                "unreadable {} piece: {} unexpected byte(s) after the value",
                kind.name(),
                rest.len()
            ),
        ));
    }
    Ok(value)
}

/// Reads a piece's payload (not re-hashed: `validate-store` does that).
pub fn read_payload(layout: &StoreLayout, id: ObjectId) -> Result<Vec<u8>> {
    let path = layout.dir.join(id.rel_path());
    let compressed = std::fs::read(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::corrupt(
                &path,
                "a piece the run names is missing; run `auditgraph validate-store`, then `auditgraph rebuild`",
            )
        } else {
            Error::io("read piece", &path, e)
        }
    })?;
    inflate(&compressed).map_err(|e| Error::corrupt(&path, format!("cannot decompress: {e}")))
}

/// Reads and decodes a piece of `kind`.
pub fn read<T: DeserializeOwned>(layout: &StoreLayout, kind: PieceKind, id: ObjectId) -> Result<T> {
    let payload = read_payload(layout, id)?;
    decode(kind, &payload, &layout.dir.join(id.rel_path()))
}

// --- Compression ----------------------------------------------------------

/// zstd level 1: on a 119k-file cold run, level 3 (the library default)
/// spent ~0.5 s more CPU compressing for objects only 2.5% smaller, and
/// level 9 shrinks our text ~10% more at three times the time. Output is
/// deterministic for a given library version.
const ZSTD_LEVEL: i32 = 1;
/// Level 1 matches with a hash table only; 2^16 entries (its default for
/// large inputs is 2^13) find more of the repeats between a piece's
/// entries, for 224 KiB more per core.
const ZSTD_HASH_LOG: u32 = 16;
/// Refuse to inflate a piece beyond this size (a corrupt or hostile file
/// must not exhaust memory).
const MAX_PAYLOAD: u64 = 4 << 30;
/// A large payload is compressed in independent frames (on every core);
/// the boundaries depend on the length alone, so the bytes do not depend
/// on the thread count. Readers find frames from their own headers.
const MAX_FRAME_BYTES: usize = 1 << 20;
const MIN_FRAME_BYTES: usize = 256 << 10;

fn frame_bytes(len: usize) -> usize {
    len.div_ceil(4).clamp(MIN_FRAME_BYTES, MAX_FRAME_BYTES)
}

/// Compresses a payload (pure: the same bytes on every call).
pub fn compress(payload: &[u8]) -> Result<Vec<u8>> {
    use rayon::prelude::*;
    let frames: std::io::Result<Vec<Vec<u8>>> = if payload.len() <= MIN_FRAME_BYTES {
        compress_frame(payload).map(|f| vec![f])
    } else {
        payload
            .par_chunks(frame_bytes(payload.len()))
            .map(compress_frame)
            .collect()
    };
    let frames = frames.map_err(|e| Error::Failed {
        message: format!("cannot compress a piece: {e}"),
    })?;
    Ok(if frames.len() == 1 {
        frames.into_iter().next().unwrap_or_default()
    } else {
        frames.concat()
    })
}

thread_local! {
    /// One compression context per thread, reused (a fresh context's
    /// tables are fresh, page-faulting memory).
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

fn compress_frame(frame: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.try_borrow_mut().map_err(std::io::Error::other)?;
        let compressor = match &mut *slot {
            Some(compressor) => compressor,
            empty => empty.insert(new_compressor()?),
        };
        compressor.compress(frame)
    })
}

fn new_compressor() -> std::io::Result<zstd::bulk::Compressor<'static>> {
    use zstd::stream::raw::CParameter;
    let mut compressor = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
    compressor.set_parameter(CParameter::HashLog(ZSTD_HASH_LOG))?;
    Ok(compressor)
}

fn decompress_frame(frame: &[u8], out: &mut [u8]) -> std::io::Result<usize> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.try_borrow_mut().map_err(std::io::Error::other)?;
        let decompressor = match &mut *slot {
            Some(decompressor) => decompressor,
            empty => empty.insert(zstd::bulk::Decompressor::new()?),
        };
        decompressor.decompress_to_buffer(frame, out)
    })
}

/// Inflates a compressed payload.
pub fn inflate(compressed: &[u8]) -> std::io::Result<Vec<u8>> {
    if let Some(frames) = frame_table(compressed) {
        return inflate_frames(compressed, &frames);
    }
    // Frames that do not record their size (not written by us): stream.
    let mut decoder = zstd::stream::read::Decoder::new(compressed)?;
    let mut payload = Vec::new();
    decoder
        .by_ref()
        .take(MAX_PAYLOAD)
        .read_to_end(&mut payload)?;
    Ok(payload)
}

struct Frame {
    compressed: std::ops::Range<usize>,
    size: usize,
}

/// The frames of `compressed` when each records its size and the total
/// stays within [`MAX_PAYLOAD`]; `None` sends the caller to the streaming
/// decoder, which reports any damage.
fn frame_table(compressed: &[u8]) -> Option<Vec<Frame>> {
    let mut frames = Vec::new();
    let mut at = 0;
    let mut total: u64 = 0;
    while at < compressed.len() {
        let rest = &compressed[at..];
        let size = zstd::zstd_safe::get_frame_content_size(rest).ok()??;
        let len = zstd::zstd_safe::find_frame_compressed_size(rest).ok()?;
        total = total.checked_add(size)?;
        if total > MAX_PAYLOAD || len == 0 {
            return None;
        }
        frames.push(Frame {
            compressed: at..at + len,
            size: usize::try_from(size).ok()?,
        });
        at += len;
    }
    (!frames.is_empty()).then_some(frames)
}

fn inflate_frames(compressed: &[u8], frames: &[Frame]) -> std::io::Result<Vec<u8>> {
    use rayon::prelude::*;
    let total = frames.iter().map(|f| f.size).sum();
    let mut out = vec![0u8; total];
    let mut slots: Vec<(&Frame, &mut [u8])> = Vec::with_capacity(frames.len());
    let mut rest = out.as_mut_slice();
    for frame in frames {
        let (slot, tail) = rest.split_at_mut(frame.size);
        slots.push((frame, slot));
        rest = tail;
    }
    let inflate_one = |(frame, slot): (&Frame, &mut [u8])| {
        let written = decompress_frame(&compressed[frame.compressed.clone()], slot)?;
        if written == slot.len() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "a frame holds {written} bytes but records {}",
                slot.len()
            )))
        }
    };
    if slots.len() == 1 {
        slots.into_iter().try_for_each(inflate_one)?;
    } else {
        slots.into_par_iter().try_for_each(inflate_one)?;
    }
    Ok(out)
}

/// Where new pieces go: a write transaction stages them on disk; tests
/// and `replay` can collect them in memory.
pub trait PieceSink: Sync {
    /// Stores `payload` (a piece of `kind`) unless it is stored already,
    /// and returns its id.
    fn put(&self, kind: PieceKind, payload: Vec<u8>) -> Result<ObjectId>;

    /// The payload of a piece put into this sink and not yet in the store
    /// (`None` if this sink does not have it or keeps no payloads).
    fn read_back(&self, _id: ObjectId) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
}

/// Reads and decodes a piece of `kind` from `sink` if it was put there
/// (not published yet), else from the store.
pub fn read_via<T: DeserializeOwned>(
    layout: &StoreLayout,
    sink: &dyn PieceSink,
    kind: PieceKind,
    id: ObjectId,
) -> Result<T> {
    match sink.read_back(id)? {
        Some(payload) => decode(kind, &payload, &layout.dir.join(id.rel_path())),
        None => read(layout, kind, id),
    }
}

/// Encodes `value` as a piece of `kind` and puts it into `sink`.
pub fn put<T: Serialize + ?Sized>(
    sink: &dyn PieceSink,
    kind: PieceKind,
    value: &T,
) -> Result<ObjectId> {
    sink.put(kind, encode(kind, value))
}

/// A sink that keeps payloads in memory (tests, and `replay`, which only
/// compares ids).
#[derive(Default)]
pub struct MemorySink {
    pub pieces: std::sync::Mutex<std::collections::BTreeMap<ObjectId, (PieceKind, Vec<u8>)>>,
    /// Keep payloads (false: ids only).
    pub keep: bool,
}

impl MemorySink {
    pub fn keeping() -> MemorySink {
        MemorySink {
            keep: true,
            ..MemorySink::default()
        }
    }
}

impl PieceSink for MemorySink {
    fn put(&self, kind: PieceKind, payload: Vec<u8>) -> Result<ObjectId> {
        let id = ObjectId::of(&payload);
        let kept = if self.keep { payload } else { Vec::new() };
        if let Ok(mut pieces) = self.pieces.lock() {
            pieces.entry(id).or_insert((kind, kept));
        }
        Ok(id)
    }

    fn read_back(&self, id: ObjectId) -> Result<Option<Vec<u8>>> {
        Ok(self.pieces.lock().ok().and_then(|pieces| {
            pieces
                .get(&id)
                .filter(|_| self.keep)
                .map(|(_, payload)| payload.clone())
        }))
    }
}

/// Checks that a file read from disk is the piece `id` names: inflates it
/// and re-hashes the payload. Returns the payload.
pub fn verify(layout: &StoreLayout, id: ObjectId) -> std::result::Result<Vec<u8>, Damaged> {
    let path = layout.dir.join(id.rel_path());
    let compressed = std::fs::read(&path)
        .ctx("read", &path)
        .map_err(|e| Damaged::unreadable(e.to_string()))?;
    let payload =
        inflate(&compressed).map_err(|e| Damaged::unreadable(format!("cannot decompress: {e}")))?;
    if ObjectId::of(&payload) != id {
        return Err(Damaged {
            detail: "its content no longer hashes to its id".to_string(),
            payload: Some(payload),
        });
    }
    Ok(payload)
}

/// Why a stored piece failed verification, with its decompressed bytes
/// when they could be read (a validator still scans them for secrets).
#[derive(Debug)]
pub struct Damaged {
    pub detail: String,
    pub payload: Option<Vec<u8>>,
}

impl Damaged {
    fn unreadable(detail: String) -> Self {
        Damaged {
            detail,
            payload: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_round_trip_and_refuse_other_kinds_and_formats() {
        let value = vec!["a".to_string(), "b".to_string()];
        let payload = encode(PieceKind::Keys, &value);
        assert!(payload.starts_with(b"agobj keys v3 bin\n"));
        let origin = std::path::Path::new("x");
        let back: Vec<String> = decode(PieceKind::Keys, &payload, origin).unwrap();
        assert_eq!(back, value);
        assert!(decode::<Vec<String>>(PieceKind::Links, &payload, origin).is_err());
        let mut other = payload.clone();
        let body = other.iter().position(|&b| b == b'\n').unwrap() + 1;
        other[body] = 9;
        assert!(matches!(
            decode::<Vec<String>>(PieceKind::Keys, &other, origin),
            Err(Error::ArtifactFormat { found: 9, .. })
        ));
        let mut longer = payload.clone();
        longer.push(0);
        assert!(decode::<Vec<String>>(PieceKind::Keys, &longer, origin).is_err());
        for cut in 0..payload.len() {
            assert!(decode::<Vec<String>>(PieceKind::Keys, &payload[..cut], origin).is_err());
        }
    }

    #[test]
    fn compression_is_deterministic_and_round_trips() {
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        for payload in [b"small".to_vec(), big] {
            let a = compress(&payload).unwrap();
            let one = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap()
                .install(|| compress(&payload).unwrap());
            assert_eq!(a, one);
            assert_eq!(inflate(&a).unwrap(), payload);
        }
        assert!(inflate(b"not zstd").is_err());
    }
}
