//! Parsed documents: the artifact the ingest stage stores for every file it
//! can read, and the ids derived from it.
//!
//! Documents are stored one piece per document shard (see
//! [`crate::store::table::document_shard`]): editing one file rewrites one
//! piece and every other piece is shared with the previous run.

use crate::config::Ingestion;
use crate::hashing::{FieldHasher, sha256_hex};
use crate::ingest::formats;
use crate::ingest::text::{self, LineIndex};
use crate::redact::Redactor;
use crate::store::id::ObjectId;
use crate::store::layout::StoreLayout;
use crate::store::piece::{self, PieceKind};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Bumped whenever parsing changes what it produces for the same bytes, so
/// cached documents are re-parsed.
/// `documents-1` added HTML documents, `.doc` refusal, and the page and
/// paragraph citations of documents that have them; `documents-2` DOCX,
/// `documents-3` PDF; `documents-4` PDF metadata, OCR, running headers
/// and footers left out of a PDF's text.
pub const PARSER_VERSION: &str = "documents-4";

/// Object kind of a document group.
pub const DOCUMENTS_KIND: &str = "documents";

/// A parsed (normalized, redacted) Markdown or text file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentRecord {
    /// Derived from the path; not stored (see [`DocumentRecord::identify`]).
    #[serde(skip)]
    pub document_id: String,
    pub path: String,
    /// Recorded in the ingest manifest, not in the document object.
    #[serde(skip)]
    pub source_hash: String,
    /// Recorded in the ingest manifest, not in the document object.
    #[serde(skip)]
    pub size: u64,
    pub parser_id: String,
    /// The whole text: NFC, LF line endings, secrets replaced by markers.
    /// Line numbers in it are those of the source file.
    pub text: String,
    /// Byte offset where the body starts (after front matter).
    pub body_start: usize,
    /// Front-matter fields (redacted), when the file has valid front matter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontmatter: Option<serde_json::Map<String, serde_json::Value>>,
    /// Why delimited front matter could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontmatter_error: Option<String>,
    pub segments: Vec<Segment>,
    pub chunks: Vec<Chunk>,
    /// Secrets replaced, by category.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub redactions: BTreeMap<String, u32>,
    /// Headings and links of a document that is not Markdown (HTML, DOCX),
    /// found by its format's parser; Markdown's are found in its text by
    /// the extract stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structure: Option<Structure>,
    /// The redactor scanned `text` at parse and found nothing: the
    /// postcondition need not scan it again. Not stored (false for a
    /// document read back from an object).
    #[serde(skip)]
    pub text_clean: bool,
}

/// A segment: the front matter or the body of a text document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    pub order: u32,
    pub kind: String,
    pub start: usize,
    pub end: usize,
    pub line_start: u32,
    pub line_end: u32,
    /// The page (PDF) or paragraph (DOCX) the segment is.
    /// (Always encoded: pieces are positional.)
    #[serde(default)]
    pub citation: Option<Citation>,
}

/// A chunk of the body: a byte range of the document text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chunk {
    pub order: u32,
    pub start: usize,
    pub end: usize,
    pub token_count: u32,
    pub overlap_tokens: u32,
    pub line_start: u32,
    pub line_end: u32,
    /// Order of the segment holding the chunk.
    pub segment: u32,
    /// The pages (PDF) or paragraphs (DOCX) the chunk spans.
    /// (Always encoded: pieces are positional.)
    #[serde(default)]
    pub citation: Option<Citation>,
}

impl Chunk {
    /// The chunk of a span of the text, with its lines.
    pub fn of_span(
        order: u32,
        span: &text::ChunkSpan,
        lines: &LineIndex,
        segment: u32,
        citation: Option<Citation>,
    ) -> Chunk {
        Chunk {
            order,
            start: span.start,
            end: span.end,
            token_count: span.token_count,
            overlap_tokens: span.overlap_tokens,
            line_start: lines.line_of(span.start),
            line_end: lines.line_of(span.end.saturating_sub(1)),
            segment,
            citation,
        }
    }
}

/// What a citation counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CitationUnit {
    /// 1-based pages of a PDF.
    Page,
    /// 1-based paragraphs of a DOCX: every paragraph with text (table
    /// cells, headers and footers included), in document order.
    Paragraph,
}

/// Where in a paged or paragraphed document a chunk or segment is: pages
/// or paragraphs `start..=end` (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    pub unit: CitationUnit,
    pub start: u32,
    pub end: u32,
}

impl Citation {
    /// The citation as the fields every view shows: `page_start` and
    /// `page_end`, or `paragraph_start` and `paragraph_end`.
    pub fn fields(&self) -> [(&'static str, u32); 2] {
        match self.unit {
            CitationUnit::Page => [("page_start", self.start), ("page_end", self.end)],
            CitationUnit::Paragraph => {
                [("paragraph_start", self.start), ("paragraph_end", self.end)]
            }
        }
    }

    /// Adds [`Citation::fields`] of `citation` (when there is one) to a
    /// JSON object.
    pub fn insert_into(citation: Option<Citation>, map: &mut serde_json::Value) {
        if let (Some(c), Some(map)) = (citation, map.as_object_mut()) {
            for (key, value) in c.fields() {
                map.insert(key.to_string(), value.into());
            }
        }
    }
}

/// Headings and links a format's parser found in a document that is not
/// Markdown. Lines are 1-based lines of the document's text, where every
/// heading is a line of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Structure {
    pub headings: Vec<Heading>,
    pub links: Vec<DocLink>,
}

/// A heading: its line and level (1 to 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heading {
    pub line: u32,
    pub level: u8,
}

/// A link: the line of the text it is on, its target as written (redacted)
/// and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocLink {
    pub line: u32,
    pub target: String,
    pub text: String,
}

/// `doc_` + the first 24 hex chars of SHA-256 over `doc` and the path: a
/// document keeps its id across edits and workspace moves.
pub fn document_id(path: &str) -> String {
    let h = FieldHasher::new("doc").field(path).finish_hex();
    format!("doc_{}", &h[..24])
}

impl DocumentRecord {
    /// Fills in the fields a document object does not store: its id (from
    /// the path) and the source hash and size the manifest records.
    pub fn identify(&mut self, source_hash: &str, size: u64) {
        self.document_id = document_id(&self.path);
        self.source_hash = source_hash.to_string();
        self.size = size;
    }

    pub fn chunk_text(&self, chunk: &Chunk) -> &str {
        self.text.get(chunk.start..chunk.end).unwrap_or("")
    }

    /// `chk_` + 24 hex of SHA-256 over the document id, order and text.
    pub fn chunk_id(&self, chunk: &Chunk) -> String {
        let h = FieldHasher::new("chk")
            .field(&self.document_id)
            .field(chunk.order.to_string())
            .field(self.chunk_text(chunk))
            .finish_hex();
        format!("chk_{}", &h[..24])
    }

    /// `seg_` + 24 hex of SHA-256 over the document id, order, kind and text.
    pub fn segment_id(&self, segment: &Segment) -> String {
        let h = FieldHasher::new("seg")
            .field(&self.document_id)
            .field(segment.order.to_string())
            .field(&segment.kind)
            .field(self.text.get(segment.start..segment.end).unwrap_or(""))
            .finish_hex();
        format!("seg_{}", &h[..24])
    }

    pub fn body(&self) -> &str {
        self.text.get(self.body_start..).unwrap_or("")
    }
}

/// Which parser handles a path, by extension.
pub fn parser_for(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rfind('.').map(|i| name[i..].to_lowercase())?;
    match ext.as_str() {
        ".md" | ".markdown" => Some("text/markdown"),
        ".txt" | ".log" => Some("text/plain"),
        ".html" | ".htm" => Some(formats::HTML),
        ".docx" => Some(formats::DOCX),
        ".pdf" => Some(formats::PDF),
        ".doc" => Some(formats::DOC),
        _ => None,
    }
}

/// Hash of everything that changes what parsing produces from the same
/// bytes; part of the cache key of every parsed document. With OCR on,
/// that includes the OCR engine's identity (see
/// [`formats::ocr::identity`]), so another tesseract parses again.
pub fn parser_settings_hash(ingestion: &Ingestion, redaction: &serde_json::Value) -> String {
    FieldHasher::new("parser-settings")
        .field(PARSER_VERSION)
        .field(ingestion.chunk_tokens.to_string())
        .field(ingestion.chunk_overlap_tokens.to_string())
        .field(redaction.to_string())
        .field(&ingestion.ocr_mode)
        .field(formats::ocr::identity(&ingestion.ocr_mode))
        .finish_hex()
}

/// The result of reading one file's bytes.
#[derive(Debug, Clone)]
pub enum Parsed {
    Document(Box<DocumentRecord>),
    Failed {
        reason: &'static str,
        detail: String,
    },
    Skipped {
        reason: &'static str,
        detail: String,
    },
}

/// Parses a file's bytes. Never panics; every problem becomes a status.
pub fn parse(
    path: &str,
    bytes: &[u8],
    parser_id: &str,
    ingestion: &Ingestion,
    redactor: &Redactor,
) -> Parsed {
    parse_hashed(
        path,
        bytes.to_vec(),
        sha256_hex(bytes),
        parser_id,
        ingestion,
        redactor,
    )
}

/// [`parse`] of bytes whose SHA-256 (`source_hash`) the caller already
/// computed (ingest hashes every file before deciding to parse it). Takes
/// the bytes by value: a file that needs no normalization and holds no
/// secret becomes the document's text without a copy.
pub fn parse_hashed(
    path: &str,
    bytes: Vec<u8>,
    source_hash: String,
    parser_id: &str,
    ingestion: &Ingestion,
    redactor: &Redactor,
) -> Parsed {
    let size = bytes.len() as u64;
    if let Some(parsed) = formats::parse(
        path,
        &bytes,
        &source_hash,
        size,
        parser_id,
        ingestion,
        redactor,
    ) {
        return parsed;
    }
    if memchr::memchr(0, &bytes).is_some() {
        return Parsed::Skipped {
            reason: "binary_content",
            detail: "the file contains NUL bytes; it is not text".to_string(),
        };
    }
    let decoded = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let e = e.utf8_error();
            return Parsed::Failed {
                reason: "invalid_utf8",
                detail: format!(
                    "not valid UTF-8 at byte {}; convert the file to UTF-8",
                    e.valid_up_to()
                ),
            };
        }
    };
    let normalized = text::normalize(decoded);
    let redacted = redactor.redact_unremembered(&normalized);
    let text_clean = redacted.clean;
    let redactions: BTreeMap<String, u32> = redacted
        .counts
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    let full = match redacted.text {
        Cow::Owned(text) => text,
        Cow::Borrowed(_) => normalized,
    };
    let lines = LineIndex::new(&full);

    let mut frontmatter = None;
    let mut frontmatter_error = None;
    let mut body_start = 0;
    if parser_id == "text/markdown"
        && let Some(span) = text::front_matter(&full)
    {
        body_start = span.body_start;
        let yaml = &full[span.yaml_start..span.yaml_end];
        match crate::config::tree::parse(yaml) {
            Ok(tree) => match tree.to_json() {
                serde_json::Value::Object(map) => frontmatter = Some(map),
                _ => {
                    frontmatter_error = Some("front matter is not a mapping of fields".to_string())
                }
            },
            Err(failure) => frontmatter_error = Some(frontmatter_error_message(&failure)),
        }
    }

    let document_id = document_id(path);
    let mut segments = Vec::new();
    if body_start > 0 {
        segments.push(Segment {
            order: 0,
            kind: "frontmatter".to_string(),
            start: 0,
            end: body_start,
            line_start: 1,
            line_end: lines.line_of(body_start.saturating_sub(1)),
            citation: None,
        });
    }
    let body_segment = segments.len() as u32;
    segments.push(Segment {
        order: body_segment,
        kind: "body".to_string(),
        start: body_start,
        end: full.len(),
        line_start: lines.line_of(body_start),
        line_end: lines.line_of(full.len().saturating_sub(1).max(body_start)),
        citation: None,
    });
    let chunks = text::chunk(
        &full,
        body_start,
        ingestion.chunk_tokens,
        ingestion.chunk_overlap_tokens,
    )
    .into_iter()
    .enumerate()
    .map(|(i, span)| Chunk::of_span(i as u32, &span, &lines, body_segment, None))
    .collect();

    Parsed::Document(Box::new(DocumentRecord {
        document_id,
        path: path.to_string(),
        source_hash,
        size,
        parser_id: parser_id.to_string(),
        text: full,
        body_start,
        frontmatter,
        frontmatter_error,
        segments,
        chunks,
        redactions,
        structure: None,
        text_clean,
    }))
}

/// The ingest record's detail for front matter that cannot be read.
fn frontmatter_error_message(failure: &crate::config::tree::ParseFailure) -> String {
    if failure.too_complex {
        // A safety limit (an alias bomb): the position points into the
        // expansion, not at anything to fix.
        format!("front matter {}", failure.message)
    } else {
        // Positions inside the YAML are one line below the `---`.
        format!("line {}: {}", failure.position.line + 1, failure.message)
    }
}

/// The documents of one documents piece.
///
/// Stored in binary (`agobj documents <schema> bin`): the body is the
/// format number [`DOCUMENTS_FORMAT`] and the documents, postcard-encoded
/// (strings as raw UTF-8 with their length), the form of every piece
/// ([`crate::store::piece`]); encoded by hand so that each document is
/// encoded on its own core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// Unknown fields are refused: a field this version does not know would
/// otherwise be read past, and never scanned for secrets.
#[serde(deny_unknown_fields)]
pub struct DocumentGroup {
    pub documents: Vec<DocumentRecord>,
}

/// The format number a binary document group's body starts with; bumped
/// whenever [`StoredDocument`] changes.
/// Format 2 added citations to segments and chunks and the structure of
/// documents that are not Markdown.
pub const DOCUMENTS_FORMAT: u32 = 2;

/// A document as a binary group stores it: the stored fields of
/// [`DocumentRecord`], in order, none skipped (postcard is positional), the
/// front matter as JSON text (postcard cannot encode a JSON value of
/// unknown shape).
#[derive(Serialize)]
struct StoredDocumentRef<'a> {
    path: &'a str,
    parser_id: &'a str,
    text: &'a str,
    body_start: usize,
    frontmatter: Option<String>,
    frontmatter_error: Option<&'a str>,
    segments: &'a [Segment],
    chunks: &'a [Chunk],
    redactions: &'a BTreeMap<String, u32>,
    structure: Option<&'a Structure>,
}

/// [`StoredDocumentRef`], decoded.
#[derive(Deserialize)]
struct StoredDocument {
    path: String,
    parser_id: String,
    text: String,
    body_start: usize,
    frontmatter: Option<String>,
    frontmatter_error: Option<String>,
    segments: Vec<Segment>,
    chunks: Vec<Chunk>,
    redactions: BTreeMap<String, u32>,
    structure: Option<Structure>,
}

impl DocumentRecord {
    fn stored(&self) -> StoredDocumentRef<'_> {
        StoredDocumentRef {
            path: &self.path,
            parser_id: &self.parser_id,
            text: &self.text,
            body_start: self.body_start,
            frontmatter: self
                .frontmatter
                .as_ref()
                .map(|fields| serde_json::to_string(fields).unwrap_or_default()),
            frontmatter_error: self.frontmatter_error.as_deref(),
            segments: &self.segments,
            chunks: &self.chunks,
            redactions: &self.redactions,
            structure: self.structure.as_ref(),
        }
    }
}

impl StoredDocument {
    fn into_record(self) -> Result<DocumentRecord, String> {
        let frontmatter = match self.frontmatter {
            None => None,
            Some(json) => Some(serde_json::from_str(&json).map_err(|e| {
                format!(
                    "document {}: front matter is not a JSON object: {e}",
                    self.path
                )
            })?),
        };
        Ok(DocumentRecord {
            document_id: String::new(),
            path: self.path,
            source_hash: String::new(),
            size: 0,
            parser_id: self.parser_id,
            text: self.text,
            body_start: self.body_start,
            frontmatter,
            frontmatter_error: self.frontmatter_error,
            segments: self.segments,
            chunks: self.chunks,
            redactions: self.redactions,
            structure: self.structure,
            text_clean: false,
        })
    }
}

impl DocumentGroup {
    /// The group's object payload (binary, see [`DocumentGroup`]).
    pub fn payload(&self) -> Vec<u8> {
        use rayon::prelude::*;
        let header = piece::header(PieceKind::Documents);
        let empty = || header.clone();
        let stored: Vec<StoredDocumentRef<'_>> =
            self.documents.iter().map(DocumentRecord::stored).collect();
        // The body is the format number and the sequence of documents:
        // its length, then each document's encoding. Each document is
        // encoded on its own core straight into its place in one buffer
        // sized exactly up front (encoding a megabyte group on one core
        // held up its compression by a millisecond).
        let prefix = postcard::to_allocvec(&(DOCUMENTS_FORMAT, stored.len()));
        let sizes: Result<Vec<usize>, postcard::Error> = stored
            .iter()
            .map(postcard::experimental::serialized_size)
            .collect();
        let (Ok(prefix), Ok(sizes)) = (prefix, sizes) else {
            // Our types encode infallibly; should one ever fail, the body
            // is empty and the object fails to decode (reported, never
            // misread).
            return empty();
        };
        let start = header.len() + prefix.len();
        let mut out = header.clone();
        out.extend_from_slice(&prefix);
        out.resize(start + sizes.iter().sum::<usize>(), 0);
        let mut places: Vec<&mut [u8]> = Vec::with_capacity(sizes.len());
        let mut rest = &mut out[start..];
        for size in &sizes {
            let (place, after) = rest.split_at_mut(*size);
            places.push(place);
            rest = after;
        }
        let encoded = stored.par_iter().zip(places).all(|(document, place)| {
            let size = place.len();
            postcard::to_slice(document, place).is_ok_and(|used| used.len() == size)
        });
        if encoded { out } else { empty() }
    }

    /// Decodes a documents piece's payload. Documents come without their
    /// id, source hash and size, which the shard's records hold
    /// ([`DocumentRecord::identify`]).
    pub fn from_payload(payload: &[u8]) -> Result<DocumentGroup, GroupError> {
        let split = piece::split(payload, std::path::Path::new("")).map_err(|e| {
            // the caller names the piece
            GroupError::Damaged(match e {
                crate::error::Error::Corrupt { detail, .. } => detail,
                other => other.to_string(),
            })
        })?;
        if split.kind != PieceKind::Documents {
            return Err(GroupError::Damaged(format!(
                "expected a {DOCUMENTS_KIND} piece, found {}",
                split.kind.name()
            )));
        }
        DocumentGroup::from_body(split.body)
    }

    /// Decodes a documents piece's body.
    pub fn from_body(body: &[u8]) -> Result<DocumentGroup, GroupError> {
        let (format, rest) = postcard::take_from_bytes::<u32>(body)
            .map_err(|e| GroupError::Damaged(e.to_string()))?;
        if format != DOCUMENTS_FORMAT {
            return Err(GroupError::OtherFormat(format));
        }
        let (stored, rest): (Vec<StoredDocument>, &[u8]) =
            postcard::take_from_bytes(rest).map_err(|e| GroupError::Damaged(e.to_string()))?;
        if !rest.is_empty() {
            return Err(GroupError::Damaged(format!(
                "{} unexpected byte(s) after the documents",
                rest.len()
            )));
        }
        let documents = stored
            .into_iter()
            .map(StoredDocument::into_record)
            .collect::<Result<_, _>>()
            .map_err(GroupError::Damaged)?;
        Ok(DocumentGroup { documents })
    }
}

/// Why a document group object cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupError {
    /// Written by another build of this schema, in a format this one does
    /// not read.
    OtherFormat(u32),
    Damaged(String),
}

impl std::fmt::Display for GroupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupError::OtherFormat(found) => write!(
                f,
                "documents in format {found}; this build reads format {DOCUMENTS_FORMAT}"
            ),
            GroupError::Damaged(problem) => f.write_str(problem),
        }
    }
}

/// Reads a documents piece.
pub fn read_group(layout: &StoreLayout, id: ObjectId) -> crate::error::Result<DocumentGroup> {
    let payload = piece::read_payload(layout, id)?;
    let path = layout.dir.join(id.rel_path());
    DocumentGroup::from_payload(&payload).map_err(|e| match e {
        GroupError::OtherFormat(found) => crate::error::Error::ArtifactFormat {
            file: path,
            what: "documents",
            found,
            readable: DOCUMENTS_FORMAT,
        },
        GroupError::Damaged(problem) => {
            crate::error::Error::corrupt(path, format!("invalid {DOCUMENTS_KIND} piece: {problem}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Documents of every shape a group holds: front matter (with quotes
    /// and escapes), malformed front matter, a redacted secret, odd paths.
    fn sample_documents() -> Vec<DocumentRecord> {
        let redactor = Redactor::new(&crate::redact::RedactionPolicy::default(), b"test key")
            .expect("the default policy");
        [
            (
                "a.md",
                "---\ntitle: \"Q\\u00e9\"\ntags: [a, b]\n---\n# H\n\"quoted\" \\ back\ttab\n",
            ),
            ("b/c.md", "---\ntitle: [unclosed\n---\nbody\n"),
            ("d \"e\".md", "password = hunter2x9\nline two\n"),
            ("empty.txt", ""),
        ]
        .iter()
        .filter_map(|(path, src)| {
            match parse(
                path,
                src.as_bytes(),
                parser_for(path).unwrap_or("text/plain"),
                &ingestion(),
                &redactor,
            ) {
                Parsed::Document(doc) => Some(*doc),
                _ => None,
            }
        })
        .collect()
    }

    /// What a document read back from an object holds: no id, source
    /// hash, size or clean flag (the manifest and the redactor keep those).
    fn as_stored(mut doc: DocumentRecord) -> DocumentRecord {
        doc.document_id = String::new();
        doc.source_hash = String::new();
        doc.size = 0;
        doc.text_clean = false;
        doc
    }

    #[test]
    fn group_payload_round_trips_in_binary() {
        let docs = sample_documents();
        assert_eq!(docs.len(), 4);
        assert!(docs.iter().any(|d| d.frontmatter.is_some()));
        assert!(docs.iter().any(|d| d.frontmatter_error.is_some()));
        assert!(docs.iter().any(|d| !d.redactions.is_empty()));
        for n in 0..=docs.len() {
            let group = DocumentGroup {
                documents: docs[..n].to_vec(),
            };
            let payload = group.payload();
            assert!(payload.starts_with(b"agobj documents v3 bin\n"));
            let back = DocumentGroup::from_payload(&payload).unwrap();
            let expected: Vec<DocumentRecord> =
                group.documents.into_iter().map(as_stored).collect();
            assert_eq!(back.documents, expected);
        }
    }

    #[test]
    fn another_format_or_damage_is_refused() {
        let group = DocumentGroup {
            documents: sample_documents(),
        };
        let payload = group.payload();
        let body = payload.iter().position(|&b| b == b'\n').unwrap() + 1;
        let mut other = payload.clone();
        other[body] = 7;
        assert_eq!(
            DocumentGroup::from_payload(&other),
            Err(GroupError::OtherFormat(7))
        );
        let mut longer = payload.clone();
        longer.extend_from_slice(b"planted");
        assert!(matches!(
            DocumentGroup::from_payload(&longer),
            Err(GroupError::Damaged(_))
        ));
        assert_eq!(
            DocumentGroup::from_payload(b"no header line"),
            Err(GroupError::Damaged(
                "the piece has no header line".to_string()
            ))
        );
        let mut shorter = payload;
        shorter.truncate(shorter.len() - 3);
        assert!(matches!(
            DocumentGroup::from_payload(&shorter),
            Err(GroupError::Damaged(_))
        ));
    }

    fn ingestion() -> Ingestion {
        Ingestion {
            chunk_tokens: 4,
            chunk_overlap_tokens: 1,
            ..Ingestion::default()
        }
    }

    /// Parses Markdown text with the test settings and no redaction.
    fn markdown(path: &str, src: &str) -> DocumentRecord {
        match parse(
            path,
            src.as_bytes(),
            "text/markdown",
            &ingestion(),
            &Redactor::disabled(),
        ) {
            Parsed::Document(doc) => *doc,
            _ => panic!("{path} not parsed"),
        }
    }

    #[test]
    fn parses_markdown_with_front_matter() {
        let src = "---\r\ntitle: Hello\r\ntags: [a, b]\r\n---\r\n# Heading\r\none two three four five\r\n";
        let doc = markdown("notes/x.md", src);
        assert_eq!(doc.frontmatter.as_ref().unwrap()["title"], "Hello");
        assert_eq!(doc.body(), "# Heading\none two three four five\n");
        assert_eq!(doc.segments.len(), 2);
        assert_eq!(doc.segments[1].line_start, 5);
        assert_eq!(doc.chunks[0].line_start, 5);
        assert_eq!(doc.chunk_text(&doc.chunks[0]), "# Heading\none two");
        assert!(doc.chunk_id(&doc.chunks[0]).starts_with("chk_"));
        assert_eq!(doc.document_id, document_id("notes/x.md"));
    }

    #[test]
    fn malformed_front_matter_is_reported() {
        let src = "---\ntitle: [unclosed\n---\nbody\n";
        let doc = markdown("a.md", src);
        assert!(doc.frontmatter.is_none());
        assert!(doc.frontmatter_error.is_some());
        assert_eq!(doc.body(), "body\n");
    }

    #[test]
    fn alias_bomb_front_matter_is_reported_as_a_sentence() {
        let src = format!("---\n{}---\nbody\n", crate::config::tree::alias_bomb(10));
        let doc = markdown("bomb.md", &src);
        assert!(doc.frontmatter.is_none());
        let detail = doc.frontmatter_error.clone().unwrap();
        assert!(
            detail.starts_with("front matter expands to more than 250000 YAML nodes"),
            "{detail}"
        );
        assert!(detail.contains("shorten it"), "{detail}");
        assert!(
            !detail.contains('{') && !detail.contains("Nodes"),
            "{detail}"
        );
        assert_eq!(doc.body(), "body\n");
    }

    #[test]
    fn binary_and_invalid_utf8() {
        let r = Redactor::disabled();
        assert!(matches!(
            parse("a.md", b"ab\0cd", "text/markdown", &ingestion(), &r),
            Parsed::Skipped {
                reason: "binary_content",
                ..
            }
        ));
        assert!(matches!(
            parse("a.md", b"ab\xffcd", "text/markdown", &ingestion(), &r),
            Parsed::Failed {
                reason: "invalid_utf8",
                ..
            }
        ));
        let Parsed::Document(doc) = parse("a.md", b"", "text/markdown", &ingestion(), &r) else {
            panic!("empty file should parse");
        };
        assert!(doc.chunks.is_empty());
    }

    #[test]
    fn parser_routing() {
        assert_eq!(parser_for("a/B.MD"), Some("text/markdown"));
        assert_eq!(parser_for("x.log"), Some("text/plain"));
        assert_eq!(parser_for("x.pdf"), Some(formats::PDF));
        assert_eq!(parser_for("x.HTM"), Some(formats::HTML));
        assert_eq!(parser_for("x.docx"), Some(formats::DOCX));
        assert_eq!(parser_for("x.doc"), Some(formats::DOC));
        assert_eq!(parser_for("README"), None);
    }
}
