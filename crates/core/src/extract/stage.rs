//! The extract stage: per document, the facts the graph is built from.
//!
//! For every document of the run: the note's name (front-matter `title`,
//! else the first H1, else the file stem), aliases, tags and front matter;
//! its chunk ids and line ranges (so later stages never reload the text);
//! and, for Markdown, the outline (sections, code mentions, links).
//!
//! Results are stored per document group, one extraction object per group
//! object, and reused whenever the group object and the extractor settings
//! are unchanged: an edit re-extracts one group.

use crate::error::Result;
use crate::extract::markdown::{self, Outline};
use crate::hashing::FieldHasher;
use crate::ingest::document::DocumentRecord;
use crate::ingest::{self, GroupData, IngestManifest};
use crate::pipeline::manifest::{Artifact, StageManifest, outputs_hash};
use crate::redact::Redactor;
use crate::store::layout::StoreLayout;
use crate::store::objects::{self, BodyFormat, PreparedObject};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

pub const STAGE: &str = "extract";
pub const EXTRACTION_KIND: &str = "extraction";
/// Bumped whenever extraction produces something different from the same
/// documents.
pub const EXTRACTOR_VERSION: &str = "extract-1";

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
    pub id: String,
    pub line_start: u32,
    pub line_end: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractionGroup {
    pub documents: Vec<DocExtraction>,
}

impl ExtractionGroup {
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> std::result::Result<ExtractionGroup, String> {
        crate::store::objects::decode_binary(bytes)
    }
}

/// Reads one extraction object.
pub fn read_group(layout: &StoreLayout, object: &str) -> Result<ExtractionGroup> {
    let body = objects::read_binary(layout, object, EXTRACTION_KIND)?;
    ExtractionGroup::from_bytes(&body).map_err(|e| {
        crate::error::Error::corrupt(
            layout.object_path(object),
            format!("unreadable extraction: {e}"),
        )
    })
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractCounts {
    pub documents: usize,
    pub sections: usize,
    pub code_mentions: usize,
    pub links: usize,
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
    let outline = if markdown_enabled && doc.parser_id == "text/markdown" {
        markdown::outline(&doc.text, doc.body_start)
    } else {
        Outline::default()
    };
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

/// The extraction of a run: artifacts, new objects, and (in memory) every
/// document's extraction for the next stage.
pub struct ExtractOutput {
    pub manifest: StageManifest,
    pub new_objects: Vec<PreparedObject>,
    pub groups: Vec<Arc<ExtractionGroup>>,
}

/// What the extract stage needs.
pub struct ExtractRequest<'a> {
    pub layout: &'a StoreLayout,
    pub ingest: &'a IngestManifest,
    /// In-memory document groups from this command's ingest (same order as
    /// the manifest's groups); `None` entries are loaded from the store.
    pub groups: &'a [GroupData],
    /// The base run's extract manifest, for reuse.
    pub base: Option<&'a StageManifest>,
    pub markdown_enabled: bool,
    /// Redacts derived text (see [`redact_derived`]).
    pub redactor: &'a Redactor,
    /// The redaction settings, for the cache key.
    pub redaction_settings: serde_json::Value,
    pub schema_version: String,
    pub started_at: String,
    pub config_hash: String,
    pub pipeline_version: String,
}

/// Runs the extract stage.
pub fn extract(req: &ExtractRequest<'_>) -> Result<ExtractOutput> {
    let settings = settings_hash(req.markdown_enabled, &req.redaction_settings);
    let reusable: HashMap<&str, &str> = req
        .base
        .filter(|b| b.settings_hash == settings && b.schema_version == req.schema_version)
        .map(|b| {
            b.artifacts
                .iter()
                .filter_map(|a| {
                    a.documents_object
                        .as_deref()
                        .map(|d| (d, a.object.as_str()))
                })
                .collect()
        })
        .unwrap_or_default();
    let in_memory: HashMap<&str, &Arc<Vec<DocumentRecord>>> = req
        .groups
        .iter()
        .filter_map(|g| g.documents.as_ref().map(|d| (g.object.as_str(), d)))
        .collect();
    let records = req.ingest.records_by_path();

    type Built = Result<(Artifact, Arc<ExtractionGroup>, Option<PreparedObject>)>;
    let built: Vec<Built> = req
        .ingest
        .document_groups
        .par_iter()
        .map(|group| {
            let artifact = |object: String, documents: usize| Artifact {
                kind: EXTRACTION_KIND.to_string(),
                object,
                documents_object: Some(group.object.clone()),
                documents: Some(documents as u32),
            };
            if let Some(object) = reusable.get(group.object.as_str()) {
                let stored = read_group(req.layout, object)?;
                return Ok((
                    artifact(object.to_string(), stored.documents.len()),
                    Arc::new(stored),
                    None,
                ));
            }
            let loaded;
            let docs: &[DocumentRecord] = match in_memory.get(group.object.as_str()) {
                Some(docs) => docs,
                None => {
                    loaded = ingest::load_group(req.layout, &group.object, &records)?;
                    &loaded
                }
            };
            let extraction = ExtractionGroup {
                documents: docs
                    .iter()
                    .map(|d| {
                        let mut ex = extract_document(d, req.markdown_enabled);
                        redact_derived(&mut ex, req.redactor);
                        ex
                    })
                    .collect(),
            };
            let payload = objects::payload(
                EXTRACTION_KIND,
                &req.schema_version,
                BodyFormat::Binary,
                &extraction.to_bytes(),
            );
            let prepared = objects::prepare(payload)?;
            let count = extraction.documents.len();
            Ok((
                artifact(prepared.id.clone(), count),
                Arc::new(extraction),
                Some(prepared),
            ))
        })
        .collect();
    let mut artifacts = Vec::new();
    let mut groups = Vec::new();
    let mut new_objects = Vec::new();
    let mut counts = ExtractCounts::default();
    for item in built {
        let (artifact, group, prepared) = item?;
        for d in &group.documents {
            counts.documents += 1;
            counts.sections += d.outline.sections.len();
            counts.code_mentions += d.outline.code.len();
            counts.links += d.outline.links.len();
        }
        artifacts.push(artifact);
        groups.push(group);
        new_objects.extend(prepared);
    }
    let outputs_hash = outputs_hash(&artifacts);
    Ok(ExtractOutput {
        manifest: StageManifest {
            schema_version: req.schema_version.clone(),
            stage: STAGE.to_string(),
            run_id: String::new(),
            pipeline_version: req.pipeline_version.clone(),
            auditgraph_version: crate::version::AUDITGRAPH_VERSION.to_string(),
            config_hash: req.config_hash.clone(),
            inputs_hash: req.ingest.outputs_hash.clone(),
            outputs_hash,
            settings_hash: settings,
            status: "ok".to_string(),
            counts: serde_json::to_value(&counts).unwrap_or_default(),
            artifacts,
            warnings: Vec::new(),
            wall_clock_started_at: req.started_at.clone(),
            wall_clock_finished_at: String::new(),
        },
        new_objects,
        groups,
    })
}

/// Loads every extraction group of a run.
pub fn load_groups(
    layout: &StoreLayout,
    manifest: &StageManifest,
) -> Result<Vec<Arc<ExtractionGroup>>> {
    manifest
        .artifacts
        .par_iter()
        .map(|a| read_group(layout, &a.object).map(Arc::new))
        .collect()
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
