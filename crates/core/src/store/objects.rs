//! Content-addressed objects: the artifacts of every stage.
//!
//! An object is a payload (a one-line header `agobj <kind> <schema> <format>`
//! followed by the body) compressed with zstd. Its id is the SHA-256 of the
//! uncompressed payload, so identical content is stored once and unchanged
//! inputs cost nothing on disk; `validate-store` re-hashes to verify.

use crate::error::{Error, IoContext, Result};
use crate::hashing::sha256_hex;
use crate::store::layout::StoreLayout;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Read;

/// zstd level 3 (the library default): level 9 shrinks our text only ~10%
/// more but is three times slower, which the cold-ingest budget (within 3x
/// of reading and hashing the sources) cannot afford. Output is
/// deterministic for a given library version.
const ZSTD_LEVEL: i32 = 3;
/// Level 3's match-finder tables shrunk from 2^17 / 2^16 entries to 2^16 /
/// 2^14: on our JSON text frames (256 KiB to 1 MiB) objects grow by 0.2-0.7%,
/// while each core's compression context touches 448 KiB less fresh memory
/// and stays in its cache (a cold rust-book ingest faults ~400 pages less
/// and compresses ~15% faster).
const ZSTD_HASH_LOG: u32 = 16;
const ZSTD_CHAIN_LOG: u32 = 14;
const MAGIC: &str = "agobj";
/// Refuse to inflate an object beyond this size (a corrupt or hostile file
/// must not exhaust memory).
const MAX_PAYLOAD: u64 = 4 << 30;

/// How an object's body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Binary,
}

impl BodyFormat {
    /// The format's name in an object header.
    pub fn name(self) -> &'static str {
        match self {
            BodyFormat::Json => "json",
            BodyFormat::Binary => "bin",
        }
    }
}

/// The header of an object payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHeader {
    pub kind: String,
    pub schema_version: String,
    pub format: String,
}

/// An object ready to be placed in the store: its id, its compressed bytes,
/// and until it is published its payload (the redaction postcondition
/// scans it without inflating the compressed bytes again).
#[derive(Debug, Clone)]
pub struct PreparedObject {
    pub id: String,
    pub compressed: Vec<u8>,
    pub payload: std::sync::Arc<Vec<u8>>,
}

/// Builds the payload of an object.
pub fn payload(kind: &str, schema: &str, format: BodyFormat, body: &[u8]) -> Vec<u8> {
    let header = format!("{MAGIC} {kind} {schema} {}\n", format.name());
    let mut out = Vec::with_capacity(header.len() + body.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

/// Serializes `value` as a JSON object payload, straight after the header
/// (the document groups are most of a run's bytes: no second copy of them).
pub fn json_payload<T: Serialize>(kind: &str, schema: &str, value: &T) -> Vec<u8> {
    let mut out = payload(kind, schema, BodyFormat::Json, b"");
    let header_len = out.len();
    if serde_json::to_writer(&mut out, value).is_err() {
        // as before: a value that does not serialize has an empty body
        out.truncate(header_len);
    }
    out
}

/// Payloads are compressed in independent zstd frames (the last one
/// shorter), so a large object is compressed and inflated on every core.
/// A payload is cut in four frames of at least [`MIN_FRAME_BYTES`] and at
/// most [`MAX_FRAME_BYTES`]: a 1.2 MB document group compresses on two
/// cores at once instead of one frame finishing alone. The boundaries
/// depend on the payload length alone, so the bytes are the same at any
/// thread count. Readers find the frames from their own headers, so the
/// frame size is not part of the format.
const MAX_FRAME_BYTES: usize = 1 << 20;
/// Below this a frame costs compression (it cannot refer back into the
/// previous one) without saving time worth having.
const MIN_FRAME_BYTES: usize = 256 << 10;

/// The frame size for a payload of `len` bytes.
fn frame_bytes(len: usize) -> usize {
    len.div_ceil(4).clamp(MIN_FRAME_BYTES, MAX_FRAME_BYTES)
}

/// Hashes and compresses a payload. Pure: safe to call from many threads.
pub fn prepare(payload: Vec<u8>) -> Result<PreparedObject> {
    prepare_alongside(payload, || ()).map(|(prepared, ())| prepared)
}

/// [`prepare`], with `alongside` run meanwhile (on another core when one
/// is free): the redaction postcondition checks a new document group while
/// its payload is compressed.
pub fn prepare_alongside<R: Send>(
    payload: Vec<u8>,
    alongside: impl FnOnce() -> R + Send,
) -> Result<(PreparedObject, R)> {
    use rayon::prelude::*;
    let ((id, frames), extra) = rayon::join(
        || {
            rayon::join(
                || sha256_hex(&payload),
                || {
                    payload
                        .par_chunks(frame_bytes(payload.len()))
                        .map(compress_frame)
                        .collect::<std::io::Result<Vec<Vec<u8>>>>()
                },
            )
        },
        alongside,
    );
    let frames = frames.map_err(|e| Error::Failed {
        message: format!("cannot compress object {id}: {e}"),
    })?;
    let compressed = if frames.len() == 1 {
        frames.into_iter().next().unwrap_or_default()
    } else {
        frames.concat()
    };
    Ok((
        PreparedObject {
            id,
            compressed,
            payload: std::sync::Arc::new(payload),
        },
        extra,
    ))
}

thread_local! {
    /// One compression context per thread, reused: zstd allocates a
    /// context's tables with the C allocator, which hands back fresh
    /// (page-faulting) memory for each new context of this size.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    /// The same for inflating.
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// Compresses one frame (every call starts a fresh frame with the same
/// parameters, so the bytes depend only on the frame).
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
    compressor.set_parameter(CParameter::ChainLog(ZSTD_CHAIN_LOG))?;
    Ok(compressor)
}

/// Inflates one frame into `out`, returning the bytes written.
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

/// Reads and inflates an object's payload.
pub fn read_payload(layout: &StoreLayout, id: &str) -> Result<Vec<u8>> {
    let path = layout.object_path(id);
    let compressed = std::fs::read(&path).ctx("read object", &path)?;
    if let Some(frames) = frame_table(&compressed) {
        return inflate_frames(&compressed, &frames)
            .map_err(|e| Error::corrupt(&path, format!("cannot decompress: {e}")));
    }
    // Frames that do not record their size (not written by us): stream.
    let mut decoder =
        zstd::stream::read::Decoder::new(compressed.as_slice()).ctx("open object", &path)?;
    let mut payload = Vec::new();
    decoder
        .by_ref()
        .take(MAX_PAYLOAD)
        .read_to_end(&mut payload)
        .map_err(|e| Error::corrupt(&path, format!("cannot decompress: {e}")))?;
    Ok(payload)
}

/// One zstd frame of an object: where its compressed bytes are and how many
/// payload bytes it holds.
struct Frame {
    compressed: std::ops::Range<usize>,
    size: usize,
}

/// The frames of `compressed`, when each records its content size and the
/// total stays within [`MAX_PAYLOAD`] (a corrupt or hostile header must not
/// make us allocate absurd amounts); `None` sends the caller to the
/// streaming decoder, which reports any damage.
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

/// Inflates every frame into its place in one exact buffer, in parallel.
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
    slots.into_par_iter().try_for_each(|(frame, slot)| {
        let written = decompress_frame(&compressed[frame.compressed.clone()], slot)?;
        if written == slot.len() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "a frame holds {written} bytes but records {}",
                slot.len()
            )))
        }
    })?;
    Ok(out)
}

/// Splits a payload into its header and body.
pub fn split_payload<'a>(payload: &'a [u8], origin: &str) -> Result<(ObjectHeader, &'a [u8])> {
    let newline = memchr::memchr(b'\n', payload)
        .ok_or_else(|| Error::corrupt(origin, "object has no header line"))?;
    let header = std::str::from_utf8(&payload[..newline])
        .map_err(|_| Error::corrupt(origin, "object header is not UTF-8"))?;
    let mut parts = header.split(' ');
    let (Some(MAGIC), Some(kind), Some(schema), Some(format), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(Error::corrupt(
            origin,
            format!("bad object header '{header}'"),
        ));
    };
    Ok((
        ObjectHeader {
            kind: kind.to_string(),
            schema_version: schema.to_string(),
            format: format.to_string(),
        },
        &payload[newline + 1..],
    ))
}

/// Reads a JSON object and checks its kind.
pub fn read_json<T: DeserializeOwned>(layout: &StoreLayout, id: &str, kind: &str) -> Result<T> {
    let payload = read_payload(layout, id)?;
    let origin = StoreLayout::object_rel(id);
    let (header, body) = split_payload(&payload, &origin)?;
    if header.kind != kind {
        return Err(Error::corrupt(
            layout.object_path(id),
            format!("expected a {kind} object, found {}", header.kind),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        Error::corrupt(
            layout.object_path(id),
            format!("invalid {kind} object: {e}"),
        )
    })
}

/// Reads a binary object's body and checks its kind.
pub fn read_binary(layout: &StoreLayout, id: &str, kind: &str) -> Result<Vec<u8>> {
    let payload = read_payload(layout, id)?;
    let origin = StoreLayout::object_rel(id);
    let (header, body) = split_payload(&payload, &origin)?;
    if header.kind != kind || header.format != BodyFormat::Binary.name() {
        return Err(Error::corrupt(
            layout.object_path(id),
            format!(
                "expected a binary {kind} object, found {} {}",
                header.kind, header.format
            ),
        ));
    }
    // Drop the header in place: copying the body out allocated (and
    // faulted in) a second buffer the size of the graph.
    let header_len = payload.len() - body.len();
    let mut payload = payload;
    payload.drain(..header_len);
    Ok(payload)
}

/// Refuses a binary body whose leading format number (every binary
/// artifact starts with one) is not `readable`, as a run to rebuild rather
/// than damage.
pub fn check_format(
    layout: &StoreLayout,
    id: &str,
    what: &'static str,
    body: &[u8],
    readable: u32,
) -> Result<()> {
    match postcard::take_from_bytes::<u32>(body) {
        Ok((found, _)) if found != readable => Err(Error::ArtifactFormat {
            file: layout.object_path(id),
            what,
            found,
            readable,
        }),
        _ => Ok(()),
    }
}

/// The leading format number of a binary object's body, reading only the
/// start of the object (`None` if it has none or cannot be read: callers
/// that need the object report that when they read it).
pub fn peek_format(layout: &StoreLayout, id: &str) -> Option<u32> {
    let file = std::fs::File::open(layout.object_path(id)).ok()?;
    let decoder = zstd::stream::read::Decoder::new(file).ok()?;
    // The header line is short; the format follows it.
    let mut start = Vec::with_capacity(512);
    decoder.take(512).read_to_end(&mut start).ok()?;
    let newline = memchr::memchr(b'\n', &start)?;
    let body = start.get(newline + 1..)?;
    postcard::take_from_bytes::<u32>(body).ok().map(|(f, _)| f)
}

/// Decodes a binary (postcard) body, refusing bytes after the value: a
/// decoder that stopped early would hide whatever was appended.
pub fn decode_binary<T: DeserializeOwned>(body: &[u8]) -> std::result::Result<T, String> {
    let (value, rest) = postcard::take_from_bytes(body).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!(
            "{} unexpected byte(s) after the encoded value",
            rest.len()
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip() {
        let p = payload("documents", "v2", BodyFormat::Json, b"{\"a\":1}");
        let (header, body) = split_payload(&p, "x").unwrap();
        assert_eq!(header.kind, "documents");
        assert_eq!(header.schema_version, "v2");
        assert_eq!(header.format, "json");
        assert_eq!(body, b"{\"a\":1}");
    }

    #[test]
    fn prepared_objects_are_deterministic() {
        let p = payload("x", "v2", BodyFormat::Json, &vec![b'a'; 10_000]);
        let a = prepare(p.clone()).unwrap();
        let b = prepare(p.clone()).unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(a.compressed, b.compressed);
        assert!(a.compressed.len() < 200);
    }

    /// Small payloads are one frame; larger ones four, up to 1 MiB each.
    #[test]
    fn frame_sizes_follow_the_payload_length() {
        assert_eq!(frame_bytes(10), MIN_FRAME_BYTES);
        assert_eq!(frame_bytes(MIN_FRAME_BYTES * 4), MIN_FRAME_BYTES);
        assert_eq!(frame_bytes(1_200_000), 300_000);
        assert_eq!(frame_bytes(MAX_FRAME_BYTES * 4 + 1), MAX_FRAME_BYTES);
        assert_eq!(frame_bytes(usize::MAX), MAX_FRAME_BYTES);
    }

    /// Large payloads are split into frames at fixed offsets: the bytes do
    /// not depend on the thread count, and they inflate back exactly (also
    /// with the plain streaming decoder other tools use).
    #[test]
    fn large_payloads_are_framed_deterministically() {
        let body: Vec<u8> = (0..(MAX_FRAME_BYTES * 5 + 12_345) as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let p = payload("x", "v2", BodyFormat::Binary, &body);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| prepare(p.clone()).unwrap());
        let many = prepare(p.clone()).unwrap();
        assert_eq!(one.compressed, many.compressed);
        let frames = frame_table(&many.compressed).unwrap();
        assert_eq!(frames.len(), 6);
        assert_eq!(inflate_frames(&many.compressed, &frames).unwrap(), p);
        assert_eq!(zstd::decode_all(many.compressed.as_slice()).unwrap(), p);
    }

    #[test]
    fn damaged_frames_are_errors() {
        let p = payload(
            "x",
            "v2",
            BodyFormat::Binary,
            &vec![7u8; MAX_FRAME_BYTES + 10],
        );
        let mut c = prepare(p).unwrap().compressed;
        let frames = frame_table(&c).unwrap();
        // Break the second frame's body: the table still reads, inflating fails.
        let mid = frames[1].compressed.start + frames[1].compressed.len() / 2;
        c[mid] ^= 0xff;
        assert!(frame_table(&c).is_none_or(|f| inflate_frames(&c, &f).is_err()));
        // A truncated object has no complete frame table.
        assert!(frame_table(&c[..c.len() - 3]).is_none());
    }

    #[test]
    fn bad_headers_are_corruption() {
        assert!(split_payload(b"nonsense", "x").is_err());
        assert!(split_payload(b"agobj a b\n{}", "x").is_err());
    }
}
