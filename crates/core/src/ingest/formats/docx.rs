//! Word documents (`.docx`, Office Open XML): paragraphs, table cells,
//! headers and footers, headings, links and core properties.
//!
//! A `.docx` is a zip of XML parts. In order, the text is:
//!
//! 1. the headers the body refers to (`w:headerReference`, each once, in
//!    the order first referred to);
//! 2. the body (`word/document.xml`): every paragraph (`w:p`), those in
//!    table cells and text boxes included, in document order; deleted text
//!    of tracked changes, field codes and the fallback copy of alternate
//!    content are left out;
//! 3. the footers, like the headers.
//!
//! Every paragraph with text is one block, numbered from 1 in that order:
//! the paragraph numbers chunks cite (`paragraph_start`,
//! `paragraph_end`). Paragraphs in a Word heading style (`heading 1` to
//! `heading 9`, named in `word/styles.xml` whatever the style id, or with
//! an outline level; `Title` is a level-1 heading) are headings, levels
//! above 6 counted as 6. Hyperlinks (`w:hyperlink`) to an external target
//! or a bookmark are links. `docProps/core.xml` gives `title`,
//! `author` (`dc:creator`) and `created` (`dcterms:created`).
//!
//! Limits keep a hostile file from exhausting the run: at most
//! [`MAX_ENTRIES`] zip entries, [`MAX_PART_BYTES`] uncompressed bytes a
//! part and [`MAX_TOTAL_BYTES`] in all (counted as the bytes come out of
//! the decompressor, never trusted from the zip's directory), and XML
//! nested at most [`MAX_DEPTH`] elements deep. Past any of them the file is
//! `failed`/`too_large`. A file that is not a readable zip of a Word
//! document is `failed`/`malformed_docx`; an encrypted one (an OLE file,
//! as Word writes password-protected documents) `failed`/`encrypted_docx`.

use super::{Block, BlockKind, BlockLink, Extracted};
use crate::ingest::document::{CitationUnit, Parsed};
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;

/// Most zip entries a `.docx` may hold.
pub const MAX_ENTRIES: usize = 10_000;
/// Most uncompressed bytes of one XML part.
pub const MAX_PART_BYTES: u64 = 64 * 1024 * 1024;
/// Most uncompressed bytes of all the parts read.
pub const MAX_TOTAL_BYTES: u64 = 256 * 1024 * 1024;
/// Deepest XML nesting read.
pub const MAX_DEPTH: usize = 512;

/// Why a `.docx` is not read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocxError {
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Malformed(String),
    #[error(
        "the document is encrypted (password-protected) or an old Word file renamed; save it without a password as .docx and run again"
    )]
    Encrypted,
}

impl From<DocxError> for Parsed {
    fn from(e: DocxError) -> Parsed {
        let reason = match &e {
            DocxError::TooLarge(_) => "too_large",
            DocxError::Malformed(_) => "malformed_docx",
            DocxError::Encrypted => "encrypted_docx",
        };
        let detail = match &e {
            DocxError::TooLarge(what) => format!(
                "{what}; a Word document this large is refused as a possible zip bomb (split the document)"
            ),
            DocxError::Malformed(what) => format!(
                "not a readable Word document: {what}; open and save it again in Word or LibreOffice"
            ),
            DocxError::Encrypted => e.to_string(),
        };
        Parsed::Failed { reason, detail }
    }
}

/// Reads a `.docx` (see the module documentation).
pub fn extract(bytes: &[u8]) -> Result<Extracted, Parsed> {
    read(bytes).map_err(Parsed::from)
}

fn read(bytes: &[u8]) -> Result<Extracted, DocxError> {
    if bytes.starts_with(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        return Err(DocxError::Encrypted);
    }
    let mut zip = Package::open(bytes)?;
    let rels = zip
        .part("word/_rels/document.xml.rels")?
        .map(|xml| relationships(&xml))
        .transpose()?
        .unwrap_or_default();
    let styles = zip
        .part("word/styles.xml")?
        .map(|xml| heading_styles(&xml))
        .transpose()?
        .unwrap_or_default();
    let body_xml = zip
        .part("word/document.xml")?
        .ok_or_else(|| DocxError::Malformed("it has no word/document.xml".to_string()))?;
    let body = paragraphs(&body_xml, &styles, &rels)?;
    let mut blocks = referenced(&mut zip, &body.references, "header", &styles, &rels)?;
    let footers = referenced(&mut zip, &body.references, "footer", &styles, &rels)?;
    blocks.extend(body.blocks);
    blocks.extend(footers);
    blocks.retain(|b: &Block| !b.text.trim().is_empty());
    for (i, b) in blocks.iter_mut().enumerate() {
        b.unit = Some(i as u32 + 1);
    }
    let metadata = match zip.part("docProps/core.xml")? {
        Some(xml) => core_properties(&xml)?,
        None => BTreeMap::new(),
    };
    Ok(Extracted {
        blocks,
        unit: Some(CitationUnit::Paragraph),
        metadata,
    })
}

/// The paragraphs of the headers (or footers) the body refers to.
fn referenced(
    zip: &mut Package<'_>,
    references: &[(String, String)],
    kind: &str,
    styles: &HashMap<String, u8>,
    rels: &HashMap<String, Relationship>,
) -> Result<Vec<Block>, DocxError> {
    let mut blocks = Vec::new();
    for (_, id) in references.iter().filter(|(k, _)| k == kind) {
        let Some(rel) = rels.get(id) else { continue };
        let path = format!("word/{}", rel.target.trim_start_matches('/'));
        let path = path.replace("word/word/", "word/");
        if let Some(xml) = zip.part(&path)? {
            blocks.extend(paragraphs(&xml, styles, rels)?.blocks);
        }
    }
    Ok(blocks)
}

/// The zip, with the limits on what is read from it.
struct Package<'a> {
    zip: zip::ZipArchive<std::io::Cursor<&'a [u8]>>,
    read: u64,
}

impl<'a> Package<'a> {
    fn open(bytes: &'a [u8]) -> Result<Package<'a>, DocxError> {
        let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| DocxError::Malformed(format!("not a zip archive ({e})")))?;
        if zip.len() > MAX_ENTRIES {
            return Err(DocxError::TooLarge(format!(
                "{} zip entries is over the limit of {MAX_ENTRIES}",
                zip.len()
            )));
        }
        Ok(Package { zip, read: 0 })
    }

    /// The text of a part, `None` when the zip has no such part.
    fn part(&mut self, name: &str) -> Result<Option<String>, DocxError> {
        let mut file = match self.zip.by_name(name) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(DocxError::Malformed(format!("cannot read {name}: {e}"))),
        };
        if file.encrypted() {
            return Err(DocxError::Encrypted);
        }
        let limit = MAX_PART_BYTES.min(MAX_TOTAL_BYTES.saturating_sub(self.read));
        let mut bytes = Vec::new();
        file.by_ref()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| DocxError::Malformed(format!("cannot decompress {name}: {e}")))?;
        self.read += bytes.len() as u64;
        if bytes.len() as u64 > limit {
            return Err(DocxError::TooLarge(format!(
                "{name} decompresses to more than {limit} bytes"
            )));
        }
        let bytes = bytes
            .strip_prefix(b"\xEF\xBB\xBF")
            .map(<[u8]>::to_vec)
            .unwrap_or(bytes);
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| DocxError::Malformed(format!("{name} is not UTF-8 XML")))
    }
}

/// A relationship of the document part.
#[derive(Debug, Clone, Default)]
struct Relationship {
    target: String,
    external: bool,
}

/// The value of an attribute by its local name (prefixes ignored).
fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        (a.key.local_name().as_ref() == name)
            .then(|| {
                a.normalized_value(XmlVersion::Implicit1_0)
                    .ok()
                    .map(|v| v.into_owned())
            })
            .flatten()
    })
}

/// Walks the elements of an XML part: calls `on` with each event, and
/// fails past [`MAX_DEPTH`] or on malformed XML.
fn walk(xml: &str, mut on: impl FnMut(Xml<'_>)) -> Result<(), DocxError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut depth = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| {
            DocxError::Malformed(format!(
                "XML error at byte {}: {e}",
                reader.buffer_position()
            ))
        })?;
        match event {
            Event::Start(e) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(DocxError::TooLarge(format!(
                        "XML nested more than {MAX_DEPTH} elements deep"
                    )));
                }
                on(Xml::Open(&e, false));
            }
            Event::Empty(e) => on(Xml::Open(&e, true)),
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                on(Xml::Close(e.local_name().as_ref()));
            }
            Event::Text(t) => on(Xml::Text(&t.xml10_content())),
            Event::CData(t) => on(Xml::Text(&t.xml10_content())),
            Event::GeneralRef(r) => {
                let text = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => match r.xml10_content().as_ref() {
                        "amp" => "&".to_string(),
                        "lt" => "<".to_string(),
                        "gt" => ">".to_string(),
                        "quot" => "\"".to_string(),
                        "apos" => "'".to_string(),
                        _ => String::new(),
                    },
                };
                on(Xml::Text(&text));
            }
            Event::Eof if depth > 0 => {
                return Err(DocxError::Malformed(
                    "the XML ends inside an element (is the file truncated?)".to_string(),
                ));
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

enum Xml<'a> {
    /// An element opens; `true` when it is empty (`<x/>`, no close).
    Open(&'a BytesStart<'a>, bool),
    Close(&'a str),
    Text(&'a str),
}

fn relationships(xml: &str) -> Result<HashMap<String, Relationship>, DocxError> {
    let mut out = HashMap::new();
    walk(xml, |ev| {
        if let Xml::Open(e, _) = ev
            && e.local_name().as_ref() == "Relationship"
            && let (Some(id), Some(target)) = (attr(e, "Id"), attr(e, "Target"))
        {
            let external = attr(e, "TargetMode").is_some_and(|m| m == "External");
            out.insert(id, Relationship { target, external });
        }
    })?;
    Ok(out)
}

/// Heading level of each paragraph style id that is a heading.
fn heading_styles(xml: &str) -> Result<HashMap<String, u8>, DocxError> {
    let mut out = HashMap::new();
    let mut current: Option<String> = None;
    walk(xml, |ev| match ev {
        Xml::Open(e, _) => match e.local_name().as_ref() {
            "style" => current = attr(e, "styleId"),
            "name" => {
                if let (Some(id), Some(name)) = (&current, attr(e, "val")) {
                    let name = name.to_ascii_lowercase();
                    let level = if name == "title" {
                        Some(1)
                    } else {
                        name.strip_prefix("heading ")
                            .and_then(|n| n.trim().parse::<u8>().ok())
                    };
                    if let Some(level) = level.filter(|l| *l >= 1) {
                        out.insert(id.clone(), level.min(6));
                    }
                }
            }
            "outlineLvl" => {
                if let (Some(id), Some(level)) = (&current, attr(e, "val"))
                    && let Ok(level) = level.parse::<u8>()
                    && level < 9
                {
                    out.entry(id.clone()).or_insert((level + 1).min(6));
                }
            }
            _ => {}
        },
        Xml::Close("style") => current = None,
        _ => {}
    })?;
    Ok(out)
}

/// The paragraphs of a part and the headers and footers it refers to.
struct Part {
    blocks: Vec<Block>,
    /// (`header` | `footer`, relationship id), each once, in order.
    references: Vec<(String, String)>,
}

/// A paragraph being read.
#[derive(Default)]
struct Para {
    text: String,
    level: Option<u8>,
    links: Vec<BlockLink>,
}

fn paragraphs(
    xml: &str,
    styles: &HashMap<String, u8>,
    rels: &HashMap<String, Relationship>,
) -> Result<Part, DocxError> {
    let mut blocks = Vec::new();
    let mut references: Vec<(String, String)> = Vec::new();
    // Paragraphs nest (a text box inside a paragraph).
    let mut open: Vec<Para> = Vec::new();
    // Inside `w:t`; skipping a subtree (deleted text, field codes, the
    // fallback of alternate content) until its depth closes.
    let mut in_text = false;
    let mut skip_depth = 0usize;
    let mut links: Vec<(String, String)> = Vec::new();
    walk(xml, |ev| {
        if skip_depth > 0 {
            match ev {
                Xml::Open(_, false) => skip_depth += 1,
                Xml::Close(_) => skip_depth -= 1,
                _ => {}
            }
            return;
        }
        match ev {
            Xml::Open(e, empty) => match e.local_name().as_ref() {
                "delText" | "instrText" | "Fallback" | "footnoteReference" if !empty => {
                    skip_depth = 1;
                }
                "p" if !empty => open.push(Para::default()),
                "t" if !empty => in_text = true,
                "tab" | "ptab" => {
                    if let Some(p) = open.last_mut() {
                        p.text.push('\t');
                    }
                }
                "br" | "cr" => {
                    if let Some(p) = open.last_mut() {
                        p.text.push('\n');
                    }
                }
                "pStyle" => {
                    if let (Some(p), Some(id)) = (open.last_mut(), attr(e, "val"))
                        && let Some(level) = styles.get(&id)
                    {
                        p.level = Some(*level);
                    }
                }
                "outlineLvl" => {
                    if let (Some(p), Some(level)) = (open.last_mut(), attr(e, "val"))
                        && let Ok(level) = level.parse::<u8>()
                        && level < 9
                    {
                        p.level = Some((level + 1).min(6));
                    }
                }
                "hyperlink" if !empty => {
                    let target = match (attr(e, "id"), attr(e, "anchor")) {
                        (Some(id), _) => rels
                            .get(&id)
                            .filter(|r| r.external)
                            .map(|r| r.target.clone())
                            .unwrap_or_default(),
                        (None, Some(anchor)) => format!("#{anchor}"),
                        (None, None) => String::new(),
                    };
                    links.push((target, String::new()));
                }
                kind @ ("headerReference" | "footerReference") => {
                    if let Some(id) = attr(e, "id") {
                        let kind = if kind == "headerReference" {
                            "header"
                        } else {
                            "footer"
                        };
                        let entry = (kind.to_string(), id);
                        if !references.contains(&entry) {
                            references.push(entry);
                        }
                    }
                }
                _ => {}
            },
            Xml::Close(name) => match name {
                "t" => in_text = false,
                "hyperlink" => {
                    if let Some((target, text)) = links.pop()
                        && !target.is_empty()
                        && let Some(p) = open.last_mut()
                    {
                        p.links.push(BlockLink { target, text });
                    }
                }
                "p" => {
                    if let Some(p) = open.pop() {
                        blocks.push(Block {
                            kind: match p.level {
                                Some(level) => BlockKind::Heading(level),
                                None => BlockKind::Text,
                            },
                            text: p.text,
                            unit: None,
                            links: p.links,
                        });
                    }
                }
                _ => {}
            },
            Xml::Text(text) => {
                if in_text && let Some(p) = open.last_mut() {
                    p.text.push_str(text);
                    for (_, link_text) in &mut links {
                        link_text.push_str(text);
                    }
                }
            }
        }
    })?;
    Ok(Part { blocks, references })
}

/// `title`, `author` and `created` from `docProps/core.xml`.
fn core_properties(xml: &str) -> Result<BTreeMap<String, String>, DocxError> {
    let mut out = BTreeMap::new();
    let mut field: Option<&'static str> = None;
    walk(xml, |ev| match ev {
        Xml::Open(e, false) => {
            field = match e.local_name().as_ref() {
                "title" => Some("title"),
                "creator" => Some("author"),
                "created" => Some("created"),
                _ => None,
            }
        }
        Xml::Text(text) => {
            if let Some(f) = field {
                out.entry(f.to_string())
                    .or_insert_with(String::new)
                    .push_str(text);
            }
        }
        Xml::Close(_) => field = None,
        _ => {}
    })?;
    out.retain(|_, v| !v.trim().is_empty());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A `.docx` of these parts.
    pub fn docx(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, body) in parts {
            zip.start_file(*name, options).unwrap();
            zip.write_all(body.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
        out.into_inner()
    }

    const W: &str = "xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\" xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"";

    fn sample() -> Vec<u8> {
        let document = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><w:document {W}><w:body>
<w:p><w:pPr><w:pStyle w:val="Kop1"/></w:pPr><w:r><w:t>Scope &amp; aims</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">First </w:t></w:r><w:r><w:t>paragraph</w:t></w:r><w:r><w:delText>gone</w:delText></w:r></w:p>
<w:p/>
<w:tbl><w:tr><w:tc><w:p><w:r><w:t>cell one</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>cell two</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
<w:p><w:hyperlink r:id="rId9"><w:r><w:t>the site</w:t></w:r></w:hyperlink></w:p>
<w:sectPr><w:headerReference w:type="default" r:id="rId7"/><w:footerReference w:type="default" r:id="rId8"/></w:sectPr>
</w:body></w:document>"#
        );
        docx(&[
            ("[Content_Types].xml", "<Types/>"),
            ("word/document.xml", &document),
            (
                "word/styles.xml",
                &format!(
                    r#"<w:styles {W}><w:style w:type="paragraph" w:styleId="Kop1"><w:name w:val="heading 1"/></w:style></w:styles>"#
                ),
            ),
            (
                "word/_rels/document.xml.rels",
                r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId7" Type="x/header" Target="header1.xml"/><Relationship Id="rId8" Type="x/footer" Target="footer1.xml"/><Relationship Id="rId9" Type="x/hyperlink" Target="https://example.org/" TargetMode="External"/></Relationships>"#,
            ),
            (
                "word/header1.xml",
                &format!(r#"<w:hdr {W}><w:p><w:r><w:t>Header text</w:t></w:r></w:p></w:hdr>"#),
            ),
            (
                "word/footer1.xml",
                &format!(r#"<w:ftr {W}><w:p><w:r><w:t>Footer text</w:t></w:r></w:p></w:ftr>"#),
            ),
            (
                "docProps/core.xml",
                r#"<cp:coreProperties xmlns:cp="c" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"><dc:title>Policy</dc:title><dc:creator>Grace</dc:creator><dcterms:created>2025-05-01T00:00:00Z</dcterms:created></cp:coreProperties>"#,
            ),
        ])
    }

    #[test]
    fn paragraphs_cells_headers_and_footers_in_order() {
        let ex = extract(&sample()).unwrap();
        let got: Vec<(BlockKind, &str, Option<u32>)> = ex
            .blocks
            .iter()
            .map(|b| (b.kind, b.text.as_str(), b.unit))
            .collect();
        assert_eq!(
            got,
            vec![
                (BlockKind::Text, "Header text", Some(1)),
                (BlockKind::Heading(1), "Scope & aims", Some(2)),
                (BlockKind::Text, "First paragraph", Some(3)),
                (BlockKind::Text, "cell one", Some(4)),
                (BlockKind::Text, "cell two", Some(5)),
                (BlockKind::Text, "the site", Some(6)),
                (BlockKind::Text, "Footer text", Some(7)),
            ]
        );
        assert_eq!(
            ex.blocks[5].links,
            vec![BlockLink {
                target: "https://example.org/".to_string(),
                text: "the site".to_string()
            }]
        );
        assert_eq!(ex.metadata["title"], "Policy");
        assert_eq!(ex.metadata["author"], "Grace");
        assert_eq!(ex.metadata["created"], "2025-05-01T00:00:00Z");
    }

    fn reason(bytes: &[u8]) -> &'static str {
        match extract(bytes) {
            Err(Parsed::Failed { reason, .. }) => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hostile_files_fail_with_a_reason() {
        assert_eq!(reason(b"not a zip"), "malformed_docx");
        assert_eq!(reason(&docx(&[("a.txt", "x")])), "malformed_docx");
        assert_eq!(
            reason(&docx(&[("word/document.xml", "<w:document><w:body><w:p>")])),
            "malformed_docx"
        );
        assert_eq!(
            reason(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1rest"),
            "encrypted_docx"
        );
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert_eq!(reason(&docx(&[("word/document.xml", &deep)])), "too_large");
        let bomb = " ".repeat(MAX_PART_BYTES as usize + 1);
        assert_eq!(reason(&docx(&[("word/document.xml", &bomb)])), "too_large");
        let mut truncated = sample();
        truncated.truncate(truncated.len() / 2);
        assert_eq!(reason(&truncated), "malformed_docx");
        // Every cut of a good file is read or refused, never a panic.
        let whole = sample();
        for cut in (0..whole.len()).step_by(7) {
            let _ = extract(&whole[..cut]);
        }
    }
}
