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
    fn name(self) -> &'static str {
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

/// Serializes `value` as a JSON object payload.
pub fn json_payload<T: Serialize>(kind: &str, schema: &str, value: &T) -> Vec<u8> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    payload(kind, schema, BodyFormat::Json, &body)
}

/// Hashes and compresses a payload. Pure: safe to call from many threads.
pub fn prepare(payload: Vec<u8>) -> Result<PreparedObject> {
    let id = sha256_hex(&payload);
    let compressed = zstd::bulk::compress(&payload, ZSTD_LEVEL).map_err(|e| Error::Failed {
        message: format!("cannot compress object {id}: {e}"),
    })?;
    Ok(PreparedObject {
        id,
        compressed,
        payload: std::sync::Arc::new(payload),
    })
}

/// Reads and inflates an object's payload.
pub fn read_payload(layout: &StoreLayout, id: &str) -> Result<Vec<u8>> {
    let path = layout.object_path(id);
    let compressed = std::fs::read(&path).ctx("read object", &path)?;
    // Our frames record their size: inflate in one call into an exact
    // buffer. The size is checked against a bound first: a corrupt or
    // hostile header must not make us allocate absurd amounts.
    if let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(&compressed)
        && size <= MAX_PAYLOAD
    {
        return zstd::bulk::decompress(&compressed, size as usize)
            .map_err(|e| Error::corrupt(&path, format!("cannot decompress: {e}")));
    }
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
    Ok(body.to_vec())
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

    #[test]
    fn bad_headers_are_corruption() {
        assert!(split_payload(b"nonsense", "x").is_err());
        assert!(split_payload(b"agobj a b\n{}", "x").is_err());
    }
}
