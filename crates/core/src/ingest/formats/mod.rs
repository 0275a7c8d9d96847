//! Documents that are not plain text: HTML, DOCX, PDF (and `.doc`, refused).
//!
//! Each format's module reads a file's bytes into [`Extracted`]: the
//! visible text as a list of [`Block`]s in reading order (headings,
//! paragraphs, table cells, pages), with the page or paragraph each one is,
//! the links in it, and the document's metadata. [`assemble`] turns that
//! into a [`DocumentRecord`] the way every format shares:
//!
//! * each block's text is normalised (NFC, LF) and redacted on its own,
//!   then the blocks are joined one per line (a block may hold several
//!   lines, a heading never does); the joined text is scanned once more
//!   for a secret that runs across blocks;
//! * consecutive blocks of one page or paragraph are a segment (`page`,
//!   `paragraph`), or the whole text is one `body` segment;
//! * chunks are windows of tokens over the whole text, as for Markdown,
//!   and cite the pages or paragraphs of the segments they overlap;
//! * headings and links become the document's [`Structure`], which the
//!   extract stage turns into sections and references;
//! * the metadata (`title`, `author`, `created`) is kept, redacted, where
//!   Markdown keeps front matter, so the note is named from the title.
//!
//! A format's parser never panics and bounds what a hostile file can make
//! it do; every problem is a [`Parsed::Failed`] or [`Parsed::Skipped`]
//! with a reason and a sentence naming the way out.

pub mod bounded;
pub mod docx;
pub mod html;
pub mod ocr;
pub mod page_text;
pub mod pdf;
pub mod pdf_info;

use crate::config::Ingestion;
use crate::ingest::document::{
    Chunk, Citation, CitationUnit, DocLink, DocumentRecord, Heading, Parsed, Segment, Structure,
    document_id,
};
use crate::ingest::text::{self, LineIndex};
use crate::redact::Redactor;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Parser id of `.html` and `.htm` files.
pub const HTML: &str = "text/html";
/// Parser id of `.docx` files.
pub const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
/// Parser id of `.pdf` files.
pub const PDF: &str = "application/pdf";
/// Parser id of `.doc` files (Word 97-2003), which are refused.
pub const DOC: &str = "application/msword";

/// What a block of text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// A heading of level 1 to 6.
    Heading(u8),
    /// A paragraph, list item, table cell, page...
    Text,
}

/// A link found in a block: its target as written and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockLink {
    pub target: String,
    pub text: String,
}

/// A run of visible text in reading order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub kind: BlockKind,
    pub text: String,
    /// The page or paragraph number (1-based) the block is, when the
    /// format cites them.
    pub unit: Option<u32>,
    pub links: Vec<BlockLink>,
}

/// What a format's parser read from a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    pub blocks: Vec<Block>,
    /// What [`Block::unit`] counts, when the format cites pages or
    /// paragraphs.
    pub unit: Option<CitationUnit>,
    /// `title`, `author`, `created`, where the file has them.
    pub metadata: BTreeMap<String, String>,
}

/// Parses the formats of this module; `None` for any other parser id.
pub fn parse(
    path: &str,
    bytes: &[u8],
    source_hash: &str,
    size: u64,
    parser_id: &str,
    ingestion: &Ingestion,
    redactor: &Redactor,
) -> Option<Parsed> {
    let extracted = match parser_id {
        HTML => html::extract(bytes),
        DOCX => docx::extract(bytes),
        PDF => pdf::extract(bytes, &ingestion.ocr_mode),
        DOC => Err(Parsed::Failed {
            reason: "unsupported_doc_format",
            detail: "Word 97-2003 (.doc) files are not read; save it as .docx (Word, LibreOffice: Save As) and run again".to_string(),
        }),
        _ => return None,
    };
    Some(match extracted {
        Ok(extracted) => assemble(
            path,
            source_hash,
            size,
            parser_id,
            extracted,
            ingestion,
            redactor,
        ),
        Err(parsed) => parsed,
    })
}

/// A block as it goes into the text: its redacted text and where it is.
struct Placed {
    kind: BlockKind,
    unit: Option<u32>,
    /// First line (1-based) and number of lines of the block in the text.
    line: u32,
    lines: u32,
    links: Vec<DocLink>,
}

/// Redacts the pieces of a document, counting what it replaced.
struct Redacting<'a> {
    redactor: &'a Redactor,
    counts: BTreeMap<String, u32>,
}

impl Redacting<'_> {
    fn redact(&mut self, text: &str) -> String {
        let r = self.redactor.redact_unremembered(text);
        for (category, n) in &r.counts {
            *self.counts.entry(category.to_string()).or_default() += n;
        }
        r.text.into_owned()
    }
}

/// Builds the document of a file a format's parser read (see the module
/// documentation).
pub fn assemble(
    path: &str,
    source_hash: &str,
    size: u64,
    parser_id: &str,
    extracted: Extracted,
    ingestion: &Ingestion,
    redactor: &Redactor,
) -> Parsed {
    let mut r = Redacting {
        redactor,
        counts: BTreeMap::new(),
    };
    // The joined text is scanned whole below: clean unless that finds
    // something.
    let mut text_clean = redactor.is_enabled();
    let mut full = String::new();
    let mut placed: Vec<Placed> = Vec::new();
    let mut line = 1u32;
    for block in extracted.blocks {
        let normalized = text::normalize(block.text);
        let trimmed = match block.kind {
            // A heading is one line.
            BlockKind::Heading(_) => normalized.split_whitespace().collect::<Vec<_>>().join(" "),
            BlockKind::Text => tidy_lines(&normalized),
        };
        if trimmed.is_empty() {
            continue;
        }
        let redacted = r.redact(&trimmed);
        if !full.is_empty() {
            full.push('\n');
        }
        full.push_str(&redacted);
        let lines = 1 + memchr::memchr_iter(b'\n', redacted.as_bytes()).count() as u32;
        let links = block
            .links
            .into_iter()
            .filter(|l| !l.target.trim().is_empty())
            .map(|l| {
                let target = r.redact(l.target.trim());
                let text = one_line(&l.text);
                DocLink {
                    line,
                    text: if text.is_empty() {
                        target.clone()
                    } else {
                        r.redact(&text)
                    },
                    target,
                }
            })
            .collect();
        placed.push(Placed {
            kind: block.kind,
            unit: block.unit,
            line,
            lines,
            links,
        });
        line += lines;
    }
    if !full.is_empty() {
        full.push('\n');
    }
    // A secret that runs across blocks (a key pasted as one paragraph a
    // line) is found only in the joined text. Replacing it keeps the lines
    // as they are unless it spans a line break, which would move every
    // citation after it: such a file is refused, never stored unredacted.
    if redactor.is_enabled() && !redactor.scan(&full).is_empty() {
        let whole = redactor.redact_unremembered(&full);
        let before = memchr::memchr_iter(b'\n', full.as_bytes()).count();
        let after = memchr::memchr_iter(b'\n', whole.text.as_bytes()).count();
        if before != after {
            return Parsed::Failed {
                reason: "secret_spans_blocks",
                detail: "a secret runs across several paragraphs, cells or pages; remove it from the file (or keep it on one page or in one paragraph, where it is redacted) and run again".to_string(),
            };
        }
        for (category, n) in &whole.counts {
            *r.counts.entry(category.to_string()).or_default() += n;
        }
        text_clean = false;
        if let Cow::Owned(text) = whole.text {
            full = text;
        }
    }

    let lines = LineIndex::new(&full);
    let starts = line_starts(&full);
    let offset_of = |line: u32| -> usize {
        starts
            .get(line.saturating_sub(1) as usize)
            .copied()
            .unwrap_or(full.len())
    };
    let segments = segments(&placed, extracted.unit, &full, &offset_of, &lines);
    let chunks = text::chunk(
        &full,
        0,
        ingestion.chunk_tokens,
        ingestion.chunk_overlap_tokens,
    )
    .into_iter()
    .enumerate()
    .map(|(i, span)| {
        let last = span.end.saturating_sub(1).max(span.start);
        let covering: Vec<&Segment> = segments
            .iter()
            .filter(|s| s.start <= last && span.start < s.end.max(s.start + 1))
            .collect();
        let citation = match (extracted.unit, covering.first(), covering.last()) {
            (Some(unit), Some(first), Some(last)) => Some(Citation {
                unit,
                start: first.citation.map_or(0, |c| c.start),
                end: last.citation.map_or(0, |c| c.end),
            }),
            _ => None,
        };
        let segment = covering.first().map_or(0, |s| s.order);
        Chunk::of_span(i as u32, &span, &lines, segment, citation)
    })
    .collect();
    let mut structure = Structure::default();
    for p in &mut placed {
        if let BlockKind::Heading(level) = p.kind {
            structure.headings.push(Heading {
                line: p.line,
                level: level.clamp(1, 6),
            });
        }
        structure.links.append(&mut p.links);
    }
    let frontmatter = (!extracted.metadata.is_empty()).then(|| {
        extracted
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(r.redact(&one_line(v)))))
            .collect::<serde_json::Map<_, _>>()
    });
    Parsed::Document(Box::new(DocumentRecord {
        document_id: document_id(path),
        path: path.to_string(),
        source_hash: source_hash.to_string(),
        size,
        parser_id: parser_id.to_string(),
        text: full,
        body_start: 0,
        frontmatter,
        frontmatter_error: None,
        segments,
        chunks,
        redactions: r.counts,
        structure: (!structure.headings.is_empty() || !structure.links.is_empty())
            .then_some(structure),
        text_clean,
    }))
}

/// The segments of a document: one per page or paragraph (consecutive
/// blocks of one unit), or one `body` segment.
fn segments(
    placed: &[Placed],
    unit: Option<CitationUnit>,
    full: &str,
    offset_of: &dyn Fn(u32) -> usize,
    lines: &LineIndex,
) -> Vec<Segment> {
    let last_line = lines.line_of(full.len().saturating_sub(1));
    let Some(unit) = unit else {
        return vec![Segment {
            order: 0,
            kind: "body".to_string(),
            start: 0,
            end: full.len(),
            line_start: 1,
            line_end: last_line.max(1),
            citation: None,
        }];
    };
    let kind = match unit {
        CitationUnit::Page => "page",
        CitationUnit::Paragraph => "paragraph",
    };
    let mut out: Vec<Segment> = Vec::new();
    for p in placed {
        let number = p.unit.unwrap_or(0);
        let end_line = p.line + p.lines - 1;
        // The block's text ends before the newline that follows it.
        let end = offset_of(end_line + 1)
            .saturating_sub(1)
            .max(offset_of(p.line));
        match out.last_mut() {
            Some(s) if s.citation.is_some_and(|c| c.start == number) => {
                s.end = end;
                s.line_end = end_line;
            }
            _ => out.push(Segment {
                order: out.len() as u32,
                kind: kind.to_string(),
                start: offset_of(p.line),
                end,
                line_start: p.line,
                line_end: end_line,
                citation: Some(Citation {
                    unit,
                    start: number,
                    end: number,
                }),
            }),
        }
    }
    out
}

/// Byte offsets where each line starts.
fn line_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
    starts
}

/// Every line trimmed, blank lines dropped.
fn tidy_lines(text: &str) -> String {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every run of whitespace as one space, trimmed.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(kind: BlockKind, text: &str, unit: Option<u32>) -> Block {
        Block {
            kind,
            text: text.to_string(),
            unit,
            links: Vec::new(),
        }
    }

    fn ingestion() -> Ingestion {
        Ingestion {
            chunk_tokens: 4,
            chunk_overlap_tokens: 1,
            ..Ingestion::default()
        }
    }

    fn doc(extracted: Extracted, redactor: &Redactor) -> DocumentRecord {
        match assemble("a.docx", "h", 1, DOCX, extracted, &ingestion(), redactor) {
            Parsed::Document(d) => *d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn paragraphs_become_cited_segments_and_chunks() {
        let d = doc(
            Extracted {
                blocks: vec![
                    block(BlockKind::Heading(1), " Title\n here ", Some(1)),
                    block(BlockKind::Text, "one two three", Some(2)),
                    block(BlockKind::Text, "   ", Some(3)),
                    block(BlockKind::Text, "four five\n\nsix", Some(4)),
                ],
                unit: Some(CitationUnit::Paragraph),
                metadata: BTreeMap::from([("title".to_string(), "T".to_string())]),
            },
            &Redactor::disabled(),
        );
        assert_eq!(d.text, "Title here\none two three\nfour five\nsix\n");
        assert_eq!(d.segments.len(), 3);
        assert_eq!(
            &d.text[d.segments[2].start..d.segments[2].end],
            "four five\nsix"
        );
        assert_eq!(d.segments[2].line_start, 3);
        assert_eq!(d.segments[2].line_end, 4);
        let cites: Vec<(u32, u32)> = d
            .chunks
            .iter()
            .map(|c| c.citation.map(|c| (c.start, c.end)).unwrap())
            .collect();
        assert_eq!(cites, vec![(1, 2), (2, 4), (4, 4)]);
        let s = d.structure.unwrap();
        assert_eq!(s.headings, vec![Heading { line: 1, level: 1 }]);
        assert_eq!(d.frontmatter.unwrap()["title"], "T");
    }

    #[test]
    fn secrets_are_redacted_in_text_links_and_metadata() {
        let redactor = Redactor::new(&crate::redact::RedactionPolicy::default(), b"key").unwrap();
        let secret = "password = hunter2x9q";
        let mut b = block(BlockKind::Text, secret, None);
        b.links.push(BlockLink {
            target: "https://user:pa55w0rdZ@example.org/x".to_string(),
            text: String::new(),
        });
        let d = doc(
            Extracted {
                blocks: vec![b],
                unit: None,
                metadata: BTreeMap::from([("author".to_string(), secret.to_string())]),
            },
            &redactor,
        );
        let mut all = String::new();
        crate::pipeline::strings::collect(&d, &mut all);
        assert!(!all.contains("hunter2x9q"), "{all}");
        assert!(!all.contains("pa55w0rdZ"), "{all}");
        assert!(!d.redactions.is_empty());
    }

    #[test]
    fn a_secret_across_blocks_is_redacted_in_the_joined_text() {
        let redactor = Redactor::new(&crate::redact::RedactionPolicy::default(), b"key").unwrap();
        let lines = [
            "Keys",
            "-----BEGIN RSA PRIVATE KEY-----",
            "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
            "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
            "-----END RSA PRIVATE KEY-----",
        ];
        let blocks = lines
            .iter()
            .enumerate()
            .map(|(i, l)| block(BlockKind::Text, l, Some(i as u32 + 1)))
            .collect();
        let parsed = assemble(
            "k.docx",
            "h",
            1,
            DOCX,
            Extracted {
                blocks,
                unit: Some(CitationUnit::Paragraph),
                metadata: BTreeMap::new(),
            },
            &ingestion(),
            &redactor,
        );
        // The key spans five paragraphs; each alone is no secret, the
        // joined text is. Its marker keeps the line breaks, so every
        // paragraph keeps its line and citation.
        let Parsed::Document(d) = parsed else {
            panic!("{parsed:?}");
        };
        assert!(!d.text.contains("MIIEow"), "{}", d.text);
        assert!(d.text.starts_with("Keys\n<<redacted:private_key:"));
        assert_eq!(d.redactions["private_key"], 1);
        assert!(!d.text_clean);
        assert_eq!(d.text.lines().count(), lines.len());
        assert_eq!(d.segments.len(), 5);
        assert_eq!(d.segments[4].line_start, 5);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// No parser panics (or hangs) on random bytes, or on random bytes
        /// behind each format's magic.
        #[test]
        fn no_parser_panics_on_random_bytes(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096)
        ) {
            for (parser, magic) in [
                (HTML, &b"<html>"[..]),
                (DOCX, b"PK\x03\x04"),
                (PDF, b"%PDF-1.7\n"),
                (DOC, b""),
            ] {
                for input in [bytes.clone(), [magic, &bytes[..]].concat()] {
                    let parsed = parse(
                        "x",
                        &input,
                        "h",
                        input.len() as u64,
                        parser,
                        &ingestion(),
                        &Redactor::disabled(),
                    );
                    proptest::prop_assert!(parsed.is_some());
                }
            }
        }
    }
}
