//! Resources: every chunk and document a result cites, readable verbatim
//! as `auditgraph://chunk/<chunk_id>` and `auditgraph://document/<document_id>`,
//! with its path, lines and SHA-256 (of the source file, and of the text
//! returned) in the contents' `_meta`.

use crate::inputs::refuse;
use auditgraph_core::hashing::sha256_hex;
use auditgraph_core::pipeline::Workspace;
use auditgraph_core::query::load::{Need, RunPieces};
use auditgraph_core::query::nav;
use auditgraph_core::query::search::DocumentTexts;
use auditgraph_core::{Error, Result};
use rmcp::ErrorData;
use rmcp::model::{MetaObject, ResourceContents, ResourceTemplate};
use serde_json::json;

pub const CHUNK_PREFIX: &str = "auditgraph://chunk/";
pub const DOCUMENT_PREFIX: &str = "auditgraph://document/";
/// Longest resource URI, in bytes.
const MAX_URI_BYTES: usize = 256;

/// What a resource URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Chunk(String),
    Document(String),
}

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(format!("{CHUNK_PREFIX}{{chunk_id}}"), "chunk")
            .with_title("A chunk of a source, verbatim")
            .with_description(
                "The text of a chunk that a result cites (chk_...), from the current run; \
                 _meta gives its source_path, line_start, line_end, page_start and \
                 page_end (PDF) or paragraph_start and paragraph_end (DOCX), \
                 source_sha256 (the file as ingested) and text_sha256 (the text returned)",
            )
            .with_mime_type("text/plain"),
        ResourceTemplate::new(format!("{DOCUMENT_PREFIX}{{document_id}}"), "document")
            .with_title("A whole source document")
            .with_description(
                "The normalized, redacted text of a document (doc_...), from the current \
                 run; _meta as for chunks",
            )
            .with_mime_type("text/plain"),
    ]
}

/// `prefix` + 24 lower-case hex digits.
fn is_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|hex| {
        hex.len() == 24 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// The chunk or document a URI names; anything else is refused (without
/// echoing the URI).
pub fn parse_uri(uri: &str) -> std::result::Result<Target, ErrorData> {
    if uri.len() > MAX_URI_BYTES {
        return Err(refuse(
            "uri",
            format!(
                "it holds {} bytes, at most {MAX_URI_BYTES} are allowed",
                uri.len()
            ),
        ));
    }
    if let Some(id) = uri.strip_prefix(CHUNK_PREFIX) {
        if is_id(id, "chk_") {
            return Ok(Target::Chunk(id.to_string()));
        }
    } else if let Some(id) = uri.strip_prefix(DOCUMENT_PREFIX)
        && is_id(id, "doc_")
    {
        return Ok(Target::Document(id.to_string()));
    }
    Err(refuse(
        "uri",
        format!(
            "auditgraph serves {CHUNK_PREFIX}chk_<24 hex digits> and {DOCUMENT_PREFIX}doc_<24 hex digits>, as results cite them"
        ),
    ))
}

/// The text of `target` in the current run, with its provenance.
pub fn read(ws: &Workspace, target: &Target, uri: &str) -> Result<ResourceContents> {
    let pieces = RunPieces::open(ws, None, Need::Graph)?;
    let config = pieces.run_config(ws)?;
    let id = match target {
        Target::Chunk(id) | Target::Document(id) => id.as_str(),
    };
    let found = nav::node(&pieces, &config, id)?;
    let path = found["source_path"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let missing = || Error::NotFound {
        message: format!(
            "the text of '{id}' is not in run {}; `auditgraph validate-store` checks the store",
            pieces.run_id
        ),
    };
    let mut texts = DocumentTexts::new(&pieces);
    let record = texts.document(&path)?.ok_or_else(missing)?;
    let (text, line_start, line_end, document_id, citation) = match target {
        Target::Chunk(_) => {
            let order = found["order"].as_u64().unwrap_or(u64::MAX);
            let chunk = usize::try_from(order)
                .ok()
                .and_then(|o| record.chunks.get(o))
                .ok_or_else(missing)?;
            (
                record.chunk_text(chunk).to_string(),
                chunk.line_start,
                chunk.line_end,
                found["document_id"].clone(),
                chunk.citation,
            )
        }
        Target::Document(_) => {
            let lines = record.text.lines().count().max(1);
            (
                record.text.clone(),
                1,
                u32::try_from(lines).unwrap_or(u32::MAX),
                json!(id),
                None,
            )
        }
    };
    let mut meta = json!({
        "run_id": pieces.run_id,
        "id": id,
        "document_id": document_id,
        "source_path": path,
        "line_start": line_start,
        "line_end": line_end,
        "source_sha256": found["source_hash"],
        "text_sha256": sha256_hex(text.as_bytes()),
    });
    // A PDF chunk's pages, a DOCX chunk's paragraphs.
    auditgraph_core::ingest::document::Citation::insert_into(citation, &mut meta);
    let meta = match meta {
        serde_json::Value::Object(map) => MetaObject::from(map),
        _ => MetaObject::default(),
    };
    Ok(ResourceContents::text(text, uri).with_meta(meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_name_a_chunk_or_a_document() {
        let chunk = format!("{CHUNK_PREFIX}chk_{}", "a".repeat(24));
        assert_eq!(
            parse_uri(&chunk).ok(),
            Some(Target::Chunk(format!("chk_{}", "a".repeat(24))))
        );
        let doc = format!("{DOCUMENT_PREFIX}doc_{}", "0".repeat(24));
        assert!(matches!(parse_uri(&doc), Ok(Target::Document(_))));
        for bad in [
            format!("{CHUNK_PREFIX}doc_{}", "a".repeat(24)),
            format!("{CHUNK_PREFIX}chk_{}", "A".repeat(24)),
            format!("{CHUNK_PREFIX}chk_../../etc/passwd"),
            "file:///etc/passwd".to_string(),
            format!("{CHUNK_PREFIX}{}", "x".repeat(10_000)),
        ] {
            let err = parse_uri(&bad);
            assert!(err.is_err(), "{bad}");
            if let Err(e) = err {
                assert!(!e.message.contains("passwd"), "{}", e.message);
            }
        }
    }
}
