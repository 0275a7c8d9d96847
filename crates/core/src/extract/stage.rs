//! The extract stage: per document, the facts the graph is built from.
//!
//! For every document of the run: the note's name (front-matter `title`,
//! else the first H1, else the file stem), aliases, tags and front matter;
//! its chunk ids and line ranges (so later stages never reload the text);
//! and, for Markdown, the outline (sections, code mentions, links).
//!
//! Results are stored one extraction piece per document shard, and reused
//! whenever the shard's documents piece and the extractor settings are
//! unchanged: an edit re-extracts one shard.

use crate::error::Result;
use crate::extract::markdown::{self, CodeOrigin, Outline};
use crate::extract::technology;
use crate::hashing::FieldHasher;
use crate::ingest;
use crate::ingest::document::DocumentRecord;
use crate::redact::Redactor;
use crate::store::id::ObjectId;
use crate::store::layout::StoreLayout;
use crate::store::piece::{self, PieceKind, PieceSink};
use crate::store::table::ShardTable;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub const STAGE: &str = "extract";
/// Bumped whenever extraction produces something different from the same
/// documents.
pub const EXTRACTOR_VERSION: &str = "extract-3";

/// The format number of extraction pieces; 2 added chunk citations.
pub const EXTRACTION_FORMAT: u32 = 2;

/// Where a note's name came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSource {
    Title,
    FirstHeading,
    FileStem,
}

/// What one document contributes. Stored in a binary encoding (positional:
/// every field is always present).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocExtraction {
    pub path: String,
    pub parser_id: String,
    pub name: String,
    pub name_source: NameSource,
    pub aliases: Vec<String>,
    pub tags: Vec<String>,
    /// The whole front matter (redacted) as JSON text, when valid.
    pub frontmatter: Option<String>,
    /// Last line of the document (1-based; 0 for an empty file).
    pub line_count: u32,
    pub chunks: Vec<ChunkRef>,
    pub outline: Outline,
}

impl DocExtraction {
    /// The front matter as a JSON object (`null` when absent).
    pub fn frontmatter_value(&self) -> serde_json::Value {
        self.frontmatter
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or(serde_json::Value::Null)
    }
}

/// A chunk's id and lines: enough for evidence without the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    /// `chk_` + 24 hex characters; stored as its 12 bytes.
    #[serde(with = "chunk_id")]
    pub id: String,
    pub line_start: u32,
    pub line_end: u32,
    /// The pages (PDF) or paragraphs (DOCX) the chunk spans.
    pub citation: Option<crate::ingest::document::Citation>,
}

/// A chunk id (`chk_` + 24 hex) as its 12 bytes in binary pieces.
mod chunk_id {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &str, s: S) -> Result<S::Ok, S::Error> {
        let mut bytes = [0u8; 12];
        match id
            .strip_prefix("chk_")
            .map(|h| hex::decode_to_slice(h, &mut bytes))
        {
            Some(Ok(())) => s.serialize_bytes(&bytes),
            _ => Err(serde::ser::Error::custom(format!("not a chunk id: {id}"))),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let bytes: &[u8] = <&[u8]>::deserialize(d)?;
        if bytes.len() != 12 {
            return Err(serde::de::Error::custom("a chunk id of another length"));
        }
        Ok(format!("chk_{}", hex::encode(bytes)))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractionGroup {
    pub documents: Vec<DocExtraction>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractCounts {
    pub documents: usize,
    pub sections: usize,
    pub code_mentions: usize,
    pub links: usize,
    #[serde(default)]
    pub chunks: usize,
}

/// Hash of the extractor settings (part of every extraction's cache key).
/// The redaction settings are part of it: derived text is redacted too.
pub fn settings_hash(markdown_enabled: bool, redaction: &serde_json::Value) -> String {
    FieldHasher::new("extract-settings")
        .field(EXTRACTOR_VERSION)
        .field(if markdown_enabled {
            "markdown"
        } else {
            "no-markdown"
        })
        .field(redaction.to_string())
        .finish_hex()
}

/// Redacts the text extraction derives from a document. The document text
/// was redacted at ingest, but derived text is not a substring of it: a
/// snippet joins lines (`credentials:` + newline + `oauth2c` reads as a
/// key and its value once joined), a heading's plain text drops markup.
/// What a detector matches in derived text is replaced like any secret, so
/// the redaction postcondition holds for everything extraction writes.
pub fn redact_derived(ex: &mut DocExtraction, redactor: &Redactor) {
    if !redactor.is_enabled() {
        return;
    }
    // Fast path: one scan over every string; nearly all documents pass.
    let mut text = String::new();
    crate::pipeline::strings::collect(&*ex, &mut text);
    if redactor.scan_and_remember(&text).is_empty() {
        return;
    }
    let fix = |s: &mut String| {
        if let std::borrow::Cow::Owned(redacted) = redactor.redact(s).text {
            *s = redacted;
        }
    };
    fix(&mut ex.name);
    ex.aliases.iter_mut().for_each(fix);
    ex.tags.iter_mut().for_each(fix);
    if let Some(first_h1) = ex.outline.first_h1.as_mut() {
        fix(first_h1);
    }
    for section in &mut ex.outline.sections {
        fix(&mut section.title);
        fix(&mut section.slug);
        fix(&mut section.snippet);
    }
    for code in &mut ex.outline.code {
        fix(&mut code.text);
    }
    for link in &mut ex.outline.links {
        fix(&mut link.target);
        fix(&mut link.text);
        if let Some(fragment) = link.fragment.as_mut() {
            fix(fragment);
        }
    }
}

/// Extracts one document.
pub fn extract_document(doc: &DocumentRecord, markdown_enabled: bool) -> DocExtraction {
    let fm = doc.frontmatter.as_ref();
    let mut outline = if markdown_enabled && doc.parser_id == "text/markdown" {
        markdown::outline(&doc.text, doc.body_start)
    } else if let Some(structure) = &doc.structure {
        crate::extract::structured::outline(&doc.text, structure)
    } else {
        Outline::default()
    };
    // Only code that names something is a technology (see
    // [`technology`]); the rest stays in the text and the index.
    outline
        .code
        .retain(|c| c.origin == CodeOrigin::FenceInfo || technology::is_name(&c.text));
    let title = fm
        .and_then(|m| m.get("title"))
        .and_then(scalar_text)
        .filter(|t| !t.trim().is_empty());
    let (name, name_source) = if let Some(title) = title {
        (title.trim().to_string(), NameSource::Title)
    } else if let Some(h1) = outline.first_h1.clone().filter(|h| !h.trim().is_empty()) {
        (h1, NameSource::FirstHeading)
    } else {
        (file_stem(&doc.path).to_string(), NameSource::FileStem)
    };
    let list = |key: &str| -> Vec<String> {
        match fm.and_then(|m| m.get(key)) {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(scalar_text)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            Some(v) => scalar_text(v)
                .map(|s| {
                    s.split(',')
                        .map(|p| p.trim().to_string())
                        .filter(|p| !p.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            None => Vec::new(),
        }
    };
    let line_count = if doc.text.is_empty() {
        0
    } else {
        crate::ingest::text::LineIndex::new(&doc.text).line_of(doc.text.len().saturating_sub(1))
    };
    DocExtraction {
        path: doc.path.clone(),
        parser_id: doc.parser_id.clone(),
        name,
        name_source,
        aliases: list("aliases"),
        tags: list("tags"),
        frontmatter: doc
            .frontmatter
            .as_ref()
            .map(|m| serde_json::Value::Object(m.clone()).to_string()),
        line_count,
        chunks: doc
            .chunks
            .iter()
            .map(|c| ChunkRef {
                id: doc.chunk_id(c),
                line_start: c.line_start,
                line_end: c.line_end,
                citation: c.citation,
            })
            .collect(),
        outline,
    }
}

fn scalar_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn file_stem(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rfind('.') {
        Some(i) if i > 0 => &name[..i],
        _ => name,
    }
}

/// What the extract stage needs.
pub struct ExtractRequest<'a> {
    pub layout: &'a StoreLayout,
    /// The run's records and documents.
    pub records: &'a ShardTable,
    pub documents: &'a ShardTable,
    /// Documents of shards this command built, in memory (identified).
    pub built: &'a BTreeMap<u8, crate::ingest::ShardDocuments>,
    /// The base run's documents and extraction (reused where the documents
    /// piece is the same), with the extractor settings it used.
    pub base: Option<ExtractBase<'a>>,
    pub markdown_enabled: bool,
    /// Redacts derived text (see [`redact_derived`]).
    pub redactor: &'a Redactor,
    /// The redaction settings, for the cache key.
    pub redaction_settings: serde_json::Value,
    pub progress: &'a dyn crate::progress::Progress,
}

/// The base run's tables, for reuse.
#[derive(Clone, Copy)]
pub struct ExtractBase<'a> {
    pub documents: &'a ShardTable,
    pub extraction: &'a ShardTable,
    pub settings_hash: &'a str,
    pub counts: ExtractCounts,
}

/// The extraction of a run.
pub struct ExtractOutput {
    pub table: ShardTable,
    pub counts: ExtractCounts,
    pub settings_hash: String,
    /// Shards extracted again: their new extraction, and the base run's
    /// (when it had one), for the link stage to compare.
    pub changed: BTreeMap<u8, ShardChange>,
}

/// One shard's extraction before and after.
pub struct ShardChange {
    pub old: Option<Arc<ExtractionGroup>>,
    pub new: Option<Arc<ExtractionGroup>>,
}

/// Reads one extraction piece.
pub fn read_group(layout: &StoreLayout, id: ObjectId) -> Result<ExtractionGroup> {
    piece::read(layout, PieceKind::Extraction, id)
}

impl ExtractCounts {
    fn of(group: &ExtractionGroup) -> ExtractCounts {
        let mut c = ExtractCounts::default();
        for d in &group.documents {
            c.documents += 1;
            c.sections += d.outline.sections.len();
            c.code_mentions += d.outline.code.len();
            c.links += d.outline.links.len();
            c.chunks += d.chunks.len();
        }
        c
    }

    fn add(&mut self, o: &ExtractCounts) {
        self.documents += o.documents;
        self.sections += o.sections;
        self.code_mentions += o.code_mentions;
        self.links += o.links;
        self.chunks += o.chunks;
    }

    fn sub(&mut self, o: &ExtractCounts) {
        self.documents = self.documents.saturating_sub(o.documents);
        self.sections = self.sections.saturating_sub(o.sections);
        self.code_mentions = self.code_mentions.saturating_sub(o.code_mentions);
        self.links = self.links.saturating_sub(o.links);
        self.chunks = self.chunks.saturating_sub(o.chunks);
    }
}

/// Runs the extract stage: every shard whose documents piece differs from
/// the base run's is extracted again; the others are the base run's.
pub fn extract(
    req: &ExtractRequest<'_>,
    sink: &dyn PieceSink,
    scan: &crate::pipeline::postcondition::Scanner<'_>,
) -> Result<ExtractOutput> {
    let settings = settings_hash(req.markdown_enabled, &req.redaction_settings);
    // The base is reused shard by shard, so only when it shards alike.
    let base = req.base.filter(|b| {
        b.settings_hash == settings
            && b.documents.bits() == req.documents.bits()
            && b.extraction.bits() == req.documents.bits()
    });
    let mut shards: BTreeSet<u8> = req.documents.pieces().map(|(s, _)| s).collect();
    if let Some(b) = base {
        shards.extend(b.extraction.pieces().map(|(s, _)| s));
    }
    let changed: Vec<u8> = shards
        .into_iter()
        .filter(|s| match base {
            Some(b) => {
                b.documents.get(*s) != req.documents.get(*s)
                    || b.extraction.get(*s).is_some() != req.documents.get(*s).is_some()
            }
            None => true,
        })
        .collect();
    req.progress.phase("extract", changed.len() as u64);
    type Built = Result<(u8, Option<ObjectId>, ShardChange)>;
    let built: Vec<Built> = changed
        .par_iter()
        .map(|&shard| {
            let old = match base.and_then(|b| b.extraction.get(shard)) {
                Some(id) => Some(Arc::new(read_group(req.layout, id)?)),
                None => None,
            };
            let new = match req.documents.get(shard) {
                None => None,
                Some(doc_id) => {
                    let loaded;
                    let docs: &[DocumentRecord] = match req.built.get(&shard) {
                        Some(docs) => docs,
                        None => {
                            let records = match req.records.get(shard) {
                                Some(r) => ingest::read_records(req.layout, r)?,
                                None => Vec::new(),
                            };
                            loaded = ingest::read_documents(req.layout, doc_id, &records)?;
                            &loaded
                        }
                    };
                    Some(Arc::new(ExtractionGroup {
                        documents: docs
                            .iter()
                            .map(|d| {
                                let mut ex = extract_document(d, req.markdown_enabled);
                                redact_derived(&mut ex, req.redactor);
                                ex
                            })
                            .collect(),
                    }))
                }
            };
            let id = match &new {
                Some(group) => {
                    let id = piece::put(sink, PieceKind::Extraction, group.as_ref())?;
                    scan.piece(id, group.as_ref(), &|_| false);
                    Some(id)
                }
                None => None,
            };
            req.progress.advance(1);
            Ok((shard, id, ShardChange { old, new }))
        })
        .collect();
    req.progress.finish();
    let mut table = match base {
        Some(b) => b.extraction.clone(),
        None => ShardTable::empty(req.documents.bits()),
    };
    let mut counts = base.map(|b| b.counts).unwrap_or_default();
    let mut changes = BTreeMap::new();
    for item in built {
        let (shard, id, change) = item?;
        table.set(shard, id);
        if base.is_some()
            && let Some(old) = &change.old
        {
            counts.sub(&ExtractCounts::of(old));
        }
        if let Some(new) = &change.new {
            counts.add(&ExtractCounts::of(new));
        }
        changes.insert(shard, change);
    }
    table.set_items(counts.documents as u64);
    Ok(ExtractOutput {
        table,
        counts,
        settings_hash: settings,
        changed: changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Ingestion;
    use crate::ingest::document::{Parsed, parse};
    use crate::redact::Redactor;

    fn doc(path: &str, text: &str) -> DocumentRecord {
        let parser = crate::ingest::document::parser_for(path).unwrap_or("text/plain");
        match parse(
            path,
            text.as_bytes(),
            parser,
            &Ingestion::default(),
            &Redactor::disabled(),
        ) {
            Parsed::Document(d) => *d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn note_names_come_from_title_then_heading_then_stem() {
        let a = extract_document(&doc("a.md", "---\ntitle: \"The Title\"\n---\n# H1\n"), true);
        assert_eq!(
            (a.name.as_str(), a.name_source),
            ("The Title", NameSource::Title)
        );
        let b = extract_document(&doc("b.md", "text\n\n# Heading One\n"), true);
        assert_eq!(
            (b.name.as_str(), b.name_source),
            ("Heading One", NameSource::FirstHeading)
        );
        let c = extract_document(&doc("dir/c.note.md", "no headings\n"), true);
        assert_eq!(
            (c.name.as_str(), c.name_source),
            ("c.note", NameSource::FileStem)
        );
        let t = extract_document(&doc("x.txt", "# not markdown\n"), true);
        assert_eq!(t.name, "x");
        assert!(t.outline.sections.is_empty());
    }

    fn redactor() -> Redactor {
        Redactor::new(&crate::redact::RedactionPolicy::default(), b"test-key").unwrap()
    }

    /// Parses with redaction on, as ingest does.
    fn redacted_doc(path: &str, text: &str) -> DocumentRecord {
        match parse(
            path,
            text.as_bytes(),
            "text/markdown",
            &Ingestion::default(),
            &redactor(),
        ) {
            Parsed::Document(d) => *d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn derived_text_that_forms_a_secret_is_redacted() {
        // Each source line hides the pair from the detectors (a link, inline
        // HTML, a character reference); the heading's plain text shows it.
        for source in [
            "# [db_password](https://x.org/a): Zq8xL2vN9rT4wK7m\n\nbody\n",
            "# password: <b>Zq8xL2vN9rT4wK7m</b>\n\nbody\n",
            "# db_password&#58; Zq8xL2vN9rT4wK7m\n\nbody\n",
        ] {
            let d = redacted_doc("a.md", source);
            assert!(
                d.text.contains("Zq8xL2vN9rT4wK7m"),
                "ingest redacted {source:?}"
            );
            let mut ex = extract_document(&d, true);
            assert!(ex.outline.sections[0].title.contains("Zq8xL2vN9rT4wK7m"));
            redact_derived(&mut ex, &redactor());
            let mut all = String::new();
            crate::pipeline::strings::collect(&ex, &mut all);
            assert!(!all.contains("Zq8xL2vN9rT4wK7m"), "{all}");
            let title = &ex.outline.sections[0].title;
            assert!(title.contains("<<redacted:credential:"), "{title}");
            assert!(ex.name.contains("<<redacted:credential:"), "{}", ex.name);
        }
    }

    #[test]
    fn derived_text_without_secrets_is_left_alone() {
        // Snippets keep the source's line breaks, so a label and the next
        // block never join into `key: value`.
        let source = "# Tool\n\nFetch a token using client credentials:\n\n`oauth2c {{issuer}} --client-id {{id}}`\n";
        let d = redacted_doc("a.md", source);
        let mut ex = extract_document(&d, true);
        let before = ex.clone();
        redact_derived(&mut ex, &redactor());
        assert_eq!(ex, before);
        assert!(
            ex.outline.sections[0]
                .snippet
                .contains("credentials:\noauth2c")
        );
    }

    #[test]
    fn aliases_and_tags_accept_lists_and_strings() {
        let d = extract_document(
            &doc(
                "a.md",
                "---\naliases: [One, \" Two \"]\ntags: x, y ,z\n---\nbody\n",
            ),
            true,
        );
        assert_eq!(d.aliases, vec!["One", "Two"]);
        assert_eq!(d.tags, vec!["x", "y", "z"]);
    }

    #[test]
    fn front_matter_is_not_parsed_as_markdown() {
        let d = extract_document(&doc("a.md", "---\ntitle: T\n---\n# Body\n"), true);
        assert_eq!(d.outline.sections.len(), 1);
        assert_eq!(d.outline.sections[0].title, "Body");
        assert_eq!(d.outline.sections[0].line_start, 4);
    }
}
