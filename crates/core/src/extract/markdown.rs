//! Markdown outline extraction: sections, code mentions and links.
//!
//! [`outline`] parses one Markdown document (the body after any YAML front
//! matter) with a single [comrak] pass and returns an [`Outline`]: the heading
//! tree as [`Section`]s, every inline code span and fenced-code language as a
//! [`CodeMention`], and every link as a [`LinkMention`]. The function is pure
//! and deterministic: no I/O, no global state, and the same input always gives
//! the same output. It never panics: a `body_start` that is out of range or not
//! on a char boundary yields an empty outline.
//!
//! # Dialect
//!
//! CommonMark plus these GitHub / wiki extensions: tables, strikethrough, task
//! lists, footnotes (definitions stay where they are written), GFM bare-URL
//! autolinks (`https://…`, `www.…`, bare e-mail addresses) and `[[wikilinks]]`
//! (`[[Page|alias]]`, i.e. the page comes before the pipe). Smart punctuation
//! is off, so text is kept as written.
//!
//! # Decisions
//!
//! * **Headings** follow CommonMark: ATX and setext headings, including those
//!   inside block quotes and list items, are sections; `#` lines inside fenced
//!   or indented code and inside HTML blocks are not. Levels may skip: the
//!   parent is the nearest preceding section with a strictly lower level.
//! * **Titles** are the heading's plain inline text: code spans keep their
//!   text, images contribute their alt text, links their text, raw HTML
//!   nothing; every run of whitespace (including soft and hard breaks) becomes
//!   one space, and the result is trimmed.
//! * **Slugs** follow the Python tool's `_slugify`: lowercase, keep
//!   alphanumeric characters (Unicode-aware) and `_`, turn every other run into
//!   one `-`, trim `-`; an empty slug becomes `section-<order>`. Slugs are not
//!   de-duplicated (order disambiguates).
//! * **Line ranges** are 1-based lines of the whole text (front matter
//!   included). A section runs from its heading to the line before the next
//!   heading of the same or a higher level (lower number), or to the last line
//!   of the text (a trailing newline does not start a new line).
//! * **Snippets** hold the section's *own* body: the content between its
//!   heading and the next heading of any level (sub-sections are not part of
//!   it), as plain text: inline text, code-span and code-block contents, alt
//!   text; raw HTML is dropped. Line structure is kept: a line break of the
//!   source (between blocks, a soft or hard break, a line of a code block)
//!   is one `\n`, every other whitespace run one space; so no line of a
//!   snippet joins two source lines, and the redactor, which saw the source
//!   line by line, sees snippets the same way. The snippet is cut to at most
//!   [`SNIPPET_MAX_CHARS`] characters.
//! * **Code mentions**: every inline code span (content trimmed; empty spans
//!   give nothing) and, for every *fenced* block with an info string, its
//!   language: the first whitespace-separated word of the info string, cut at
//!   the first `,` (mdBook's `rust,ignore`), with leading `{`, `.`, `=` and
//!   trailing `}` removed (Pandoc's `{.python}`). Empty info strings and
//!   indented code give nothing; code bodies are never mined. Code spans
//!   inside headings count (attributed to that heading's section); code inside
//!   an image's alt text does not.
//! * **Links**: inline, reference (full, collapsed and shortcut; the target is
//!   the definition's URL), autolinks (`<https://…>`, `<me@example.org>`, whose
//!   target is `mailto:me@example.org`), bare URLs (GFM: `www.x.org` gets the
//!   target `http://www.x.org`, bare e-mail addresses `mailto:…`) and
//!   wikilinks. Targets are kept as written after CommonMark unescaping
//!   (backslash escapes and entities decoded), including any `#fragment`; the
//!   `fragment` field repeats the part after the first `#` (`None` if empty).
//!   For wikilinks the target is the page part only and the fragment the
//!   heading part. The text is the link's plain text (for wikilinks: the alias,
//!   or the inner text as written, e.g. `Page#Heading`), falling back to the
//!   target when empty. Images, wiki embeds (`![[x]]`) and links inside them
//!   produce nothing; links in code produce nothing. Footnote references are
//!   not links.
//! * **Redaction markers** (`<<redacted:…>>`, written by the ingest stage) are
//!   never links and never code mentions: CommonMark would read
//!   `<redacted:…>` as an autolink with scheme `redacted`; such links are
//!   dropped and their text is kept exactly as written, so titles and snippets
//!   show the whole marker. A link whose target, or a code span whose content,
//!   holds nothing alphanumeric besides markers is dropped too. Markers
//!   embedded in a longer link target (`https://x.org/?token=<<redacted:…>>`)
//!   stay in the target.

use comrak::arena_tree::NodeEdge;
use comrak::nodes::{AstNode, NodeValue, Sourcepos};
use comrak::{Arena, Options, parse_document};
use serde::{Deserialize, Serialize};

/// Maximum number of characters in [`Section::snippet`].
pub const SNIPPET_MAX_CHARS: usize = 240;

/// Prefix of the redaction markers the ingest stage writes in place of secrets.
pub const REDACTION_MARKER_PREFIX: &str = "<<redacted:";

/// Everything [`outline`] extracts from one Markdown document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outline {
    /// Headings in document order.
    pub sections: Vec<Section>,
    /// Inline code spans and fenced-code languages in document order.
    pub code: Vec<CodeMention>,
    /// Links in document order (by where they start).
    pub links: Vec<LinkMention>,
    /// Title of the first level-1 heading with a non-empty title.
    pub first_h1: Option<String>,
}

/// One heading and the part of the document it governs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// 0-based position among the document's headings.
    pub order: u32,
    /// Heading level, 1 to 6.
    pub level: u8,
    /// Plain inline text of the heading (see the module docs).
    pub title: String,
    /// Slug of the title (Python `_slugify` rules), `section-<order>` if empty.
    pub slug: String,
    /// `order` of the nearest preceding section with a strictly lower level.
    pub parent: Option<u32>,
    /// First line of the heading (1-based, whole text).
    pub line_start: u32,
    /// Last line of the section's content: the line before the next heading of
    /// the same or a higher level, or the last line of the text.
    pub line_end: u32,
    /// Last line of the heading itself (setext headings span 2+ lines).
    pub heading_line_end: u32,
    /// Start of the section's own body as plain text, whitespace collapsed, at
    /// most [`SNIPPET_MAX_CHARS`] characters.
    pub snippet: String,
}

/// Where a [`CodeMention`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeOrigin {
    /// An inline code span.
    Inline,
    /// The language word of a fenced code block's info string.
    FenceInfo,
}

/// An inline code span or the language of a fenced code block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeMention {
    /// Trimmed span content, or the fence language word (see the module docs).
    pub text: String,
    /// Inline span or fence info string.
    pub origin: CodeOrigin,
    /// Line where the span or the opening fence starts (1-based, whole text).
    pub line: u32,
    /// Innermost enclosing section (`order`), `None` before the first heading.
    pub section: Option<u32>,
}

/// The syntactic form of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkForm {
    /// `[text](target)`.
    Inline,
    /// `[text][ref]`, `[text][]` or `[text]` with a matching definition.
    Reference,
    /// `<https://…>` or `<me@example.org>`.
    Autolink,
    /// A bare `https://…`, `www.…` or e-mail address (GFM autolink extension).
    BareUrl,
    /// `[[Page]]`, `[[Page#Heading|alias]]`, ….
    Wiki,
}

/// One link of the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkMention {
    /// Syntactic form.
    pub form: LinkForm,
    /// Destination as written (after CommonMark unescaping), fragment
    /// included; for wikilinks only the page part.
    pub target: String,
    /// The part after the first `#` (wikilinks: the heading), `None` if empty.
    pub fragment: Option<String>,
    /// Plain link text or wikilink alias; the target if empty.
    pub text: String,
    /// Line where the link starts (1-based, whole text).
    pub line: u32,
    /// Innermost enclosing section (`order`), `None` before the first heading.
    pub section: Option<u32>,
}

/// Extracts the outline of the Markdown document `text`, whose body starts at
/// byte `body_start` (after front matter). Only `text[body_start..]` is
/// parsed; all line numbers are 1-based lines of the whole `text`.
///
/// Returns an empty outline if `body_start` is past the end of `text` or not
/// on a char boundary.
pub fn outline(text: &str, body_start: usize) -> Outline {
    let Some(body) = text.get(body_start..) else {
        return Outline::default();
    };
    let prefix = text.as_bytes().get(..body_start).unwrap_or_default();
    let line_offset = count_line_endings(prefix);
    let last_line = count_lines(text.as_bytes());

    let options = parse_options();
    let arena = Arena::new();
    let root = parse_document(&arena, body, &options);

    let mut walker = Walker::new(body, line_offset);
    for edge in root.traverse() {
        match edge {
            NodeEdge::Start(node) => walker.enter(node),
            NodeEdge::End(node) => walker.leave(node),
        }
    }
    walker.finish(last_line)
}

/// The comrak options `outline` parses with (see the module docs).
fn parse_options() -> Options<'static> {
    let mut options = Options::default();
    options.extension.autolink = true;
    options.extension.table = true;
    options.extension.strikethrough = true;
    options.extension.tasklist = true;
    options.extension.footnotes = true;
    options.extension.wikilinks_title_after_pipe = true;
    options.parse.leave_footnote_definitions = true;
    options
}

/// Number of CommonMark line endings (`\n`, `\r\n`, `\r`) in `bytes`.
fn count_line_endings(bytes: &[u8]) -> usize {
    if memchr::memchr(b'\r', bytes).is_none() {
        return memchr::memchr_iter(b'\n', bytes).count();
    }
    memchr::memchr2_iter(b'\n', b'\r', bytes)
        .filter(|&i| !(bytes[i] == b'\n' && i > 0 && bytes[i - 1] == b'\r'))
        .count()
}

/// Number of lines of `bytes`; a final line ending does not start a new line.
fn count_lines(bytes: &[u8]) -> usize {
    let endings = count_line_endings(bytes);
    match bytes.last() {
        None => 0,
        Some(b'\n' | b'\r') => endings,
        Some(_) => endings + 1,
    }
}

/// Byte offsets where each line of `body` starts (CommonMark line endings).
fn line_starts(body: &str) -> Vec<usize> {
    let bytes = body.as_bytes();
    let mut starts = vec![0];
    for i in memchr::memchr2_iter(b'\n', b'\r', bytes) {
        let crlf = bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n');
        if !crlf {
            starts.push(i + 1);
        }
    }
    starts
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Python `_slugify`: lowercase, keep alphanumerics and `_`, every other run
/// becomes one `-`, trim `-`; empty ⇒ `section-<order>`.
pub fn slugify(title: &str, order: u32) -> String {
    let mut slug = String::with_capacity(title.len());
    let mut dash = false;
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || c == '_' {
            if dash && !slug.is_empty() {
                slug.push('-');
            }
            dash = false;
            slug.push(c);
        } else {
            dash = true;
        }
    }
    if slug.is_empty() {
        format!("section-{order}")
    } else {
        slug
    }
}

/// The language word of a fence info string (see the module docs).
pub fn fence_language(info: &str) -> Option<&str> {
    let word = info.split_whitespace().next()?;
    let word = word.split(',').next().unwrap_or_default();
    let word = word
        .trim_start_matches(['{', '.', '='])
        .trim_end_matches('}');
    (!word.is_empty()).then_some(word)
}

/// Removes every redaction marker (`<<redacted:…>>`) from `s`.
fn strip_markers(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(REDACTION_MARKER_PREFIX) {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        match after.find(">>") {
            Some(end) => rest = &after[end + 2..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// True if `s` holds a redaction marker and nothing alphanumeric besides.
fn is_only_markers(s: &str) -> bool {
    s.contains(REDACTION_MARKER_PREFIX) && !strip_markers(s).chars().any(char::is_alphanumeric)
}

/// True if `url` uses the `redacted:` pseudo-scheme of a marker read as an autolink.
fn is_marker_url(url: &str) -> bool {
    url.get(..9)
        .is_some_and(|p| p.eq_ignore_ascii_case("redacted:"))
}

/// Splits `s` at the first `#`: (before, non-empty fragment).
fn split_fragment(s: &str) -> (&str, Option<String>) {
    match s.split_once('#') {
        Some((before, frag)) => (before, (!frag.is_empty()).then(|| frag.to_string())),
        None => (s, None),
    }
}

/// A plain-text accumulator that collapses whitespace and can be capped.
#[derive(Debug, Default)]
struct TextBuf {
    text: String,
    chars: usize,
    pending: Pending,
    limit: Option<usize>,
    /// Keep line breaks (`\n`) instead of collapsing them into spaces.
    keep_lines: bool,
}

/// Whitespace seen since the last character, not yet written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Pending {
    #[default]
    Nothing,
    Space,
    LineBreak,
}

impl TextBuf {
    fn capped(limit: usize) -> Self {
        TextBuf {
            limit: Some(limit),
            ..TextBuf::default()
        }
    }

    /// A snippet: capped, keeping line breaks.
    fn snippet(limit: usize) -> Self {
        TextBuf {
            keep_lines: true,
            ..TextBuf::capped(limit)
        }
    }

    fn pend(&mut self, what: Pending) {
        let what = if self.keep_lines {
            what
        } else {
            what.min(Pending::Space)
        };
        self.pending = self.pending.max(what);
    }

    fn full(&self) -> bool {
        self.limit.is_some_and(|l| self.chars >= l)
    }

    fn push_str(&mut self, s: &str) {
        for c in s.chars() {
            if c.is_whitespace() {
                self.pend(if c == '\n' {
                    Pending::LineBreak
                } else {
                    Pending::Space
                });
                continue;
            }
            if self.full() {
                return;
            }
            let gap = match self.pending {
                _ if self.text.is_empty() => None,
                Pending::Nothing => None,
                Pending::Space => Some(' '),
                Pending::LineBreak => Some('\n'),
            };
            if let Some(gap) = gap {
                self.text.push(gap);
                self.chars += 1;
                if self.full() {
                    return;
                }
            }
            self.pending = Pending::Nothing;
            self.text.push(c);
            self.chars += 1;
        }
    }

    fn space(&mut self) {
        self.pend(Pending::Space);
    }

    fn line_break(&mut self) {
        self.pend(Pending::LineBreak);
    }

    fn finish(self) -> String {
        let mut text = self.text;
        // A cap can leave a trailing gap.
        while text.ends_with([' ', '\n']) {
            text.pop();
        }
        text
    }
}

/// An open link while its children are visited.
enum LinkFrame {
    /// A recorded link: index into `Outline::links` and its text so far.
    Mention {
        index: usize,
        pos: Sourcepos,
        text: TextBuf,
    },
    /// A link that produces nothing; `close` is written after its children.
    Dropped { close: Option<&'static str> },
}

/// State of one traversal of the comrak tree.
struct Walker<'t> {
    body: &'t str,
    line_offset: usize,
    line_starts: Option<Vec<usize>>,
    out: Outline,
    snippets: Vec<TextBuf>,
    /// Open sections for parent lookup: (level, order).
    open: Vec<(u8, u32)>,
    current: Option<u32>,
    title: Option<TextBuf>,
    links: Vec<LinkFrame>,
    image_depth: usize,
}

impl<'t> Walker<'t> {
    fn new(body: &'t str, line_offset: usize) -> Self {
        Walker {
            body,
            line_offset,
            line_starts: None,
            out: Outline::default(),
            snippets: Vec::new(),
            open: Vec::new(),
            current: None,
            title: None,
            links: Vec::new(),
            image_depth: 0,
        }
    }

    fn line(&self, body_line: usize) -> u32 {
        to_u32(body_line.saturating_add(self.line_offset))
    }

    /// The byte of the body at a comrak (line, column), both 1-based.
    fn byte_at(&mut self, line: usize, column: usize) -> Option<u8> {
        let body = self.body;
        let starts = self.line_starts.get_or_insert_with(|| line_starts(body));
        let start = *starts.get(line.checked_sub(1)?)?;
        let at = start.checked_add(column.checked_sub(1)?)?;
        body.as_bytes().get(at).copied()
    }

    /// The form of a (non-wiki) link, from the source bytes at its position.
    ///
    /// comrak's columns can be off inside table cells with escaped pipes, so
    /// a position that shows neither `<`, `[` nor the link's own text falls
    /// back to comparing the text with the URL.
    fn link_form(&mut self, pos: Sourcepos, url: &str, text: &str) -> LinkForm {
        match self.byte_at(pos.start.line, pos.start.column) {
            Some(b'<') => return LinkForm::Autolink,
            Some(b'[') => {
                return match self.byte_at(pos.end.line, pos.end.column) {
                    Some(b']') => LinkForm::Reference,
                    _ => LinkForm::Inline,
                };
            }
            _ => {}
        }
        if !text.is_empty() && self.source_at(pos).is_some_and(|s| s.starts_with(text)) {
            return LinkForm::BareUrl;
        }
        let bare = url == text
            || url.strip_prefix("http://") == Some(text)
            || url.strip_prefix("mailto:") == Some(text);
        if bare {
            LinkForm::BareUrl
        } else {
            LinkForm::Inline
        }
    }

    /// The body from a comrak (line, column) to the end of that line.
    fn source_at(&mut self, pos: Sourcepos) -> Option<&'t str> {
        let body = self.body;
        let starts = self.line_starts.get_or_insert_with(|| line_starts(body));
        let start = *starts.get(pos.start.line.checked_sub(1)?)?;
        let end = starts.get(pos.start.line).copied().unwrap_or(body.len());
        let at = start.checked_add(pos.start.column.checked_sub(1)?)?;
        body.get(at..end)
    }

    /// Text that belongs to the open heading title or section snippet and to
    /// every open link.
    fn text(&mut self, s: &str) {
        if let Some(title) = &mut self.title {
            title.push_str(s);
        } else if let Some(snippet) = self.current_snippet() {
            snippet.push_str(s);
        }
        for frame in &mut self.links {
            if let LinkFrame::Mention { text, .. } = frame {
                text.push_str(s);
            }
        }
    }

    /// A soft or hard break: a space in titles and link texts, a line break
    /// in snippets.
    fn space(&mut self) {
        if let Some(title) = &mut self.title {
            title.space();
        } else if let Some(snippet) = self.current_snippet() {
            snippet.line_break();
        }
        for frame in &mut self.links {
            if let LinkFrame::Mention { text, .. } = frame {
                text.space();
            }
        }
    }

    fn current_snippet(&mut self) -> Option<&mut TextBuf> {
        let current = usize::try_from(self.current?).ok()?;
        self.snippets.get_mut(current)
    }

    fn enter(&mut self, node: &AstNode<'_>) {
        let data = node.data();
        let pos = data.sourcepos;
        match &data.value {
            NodeValue::Heading(heading) => self.start_heading(heading.level, pos),
            NodeValue::Text(t) => self.text(t),
            NodeValue::SoftBreak | NodeValue::LineBreak => self.space(),
            NodeValue::Code(code) => {
                self.text(&code.literal);
                if self.image_depth == 0 {
                    self.code_mention(&code.literal, CodeOrigin::Inline, pos);
                }
            }
            NodeValue::CodeBlock(block) => {
                if let Some(snippet) = self.current_snippet() {
                    snippet.line_break();
                    snippet.push_str(&block.literal);
                    snippet.line_break();
                }
                if block.fenced
                    && let Some(lang) = fence_language(&block.info)
                {
                    self.code_mention(lang, CodeOrigin::FenceInfo, pos);
                }
            }
            NodeValue::Link(link) => self.start_link(&link.url, pos),
            NodeValue::WikiLink(wiki) => {
                if wiki.embed {
                    self.image_depth += 1;
                } else {
                    self.start_wiki(&wiki.url, pos);
                }
            }
            NodeValue::Image(_) => self.image_depth += 1,
            value if value.block() => {
                if let Some(snippet) = self.current_snippet() {
                    snippet.line_break();
                }
            }
            _ => {}
        }
    }

    fn leave(&mut self, node: &AstNode<'_>) {
        let data = node.data();
        match &data.value {
            NodeValue::Heading(_) => self.finish_heading(),
            NodeValue::Link(_) => self.finish_link(),
            NodeValue::WikiLink(wiki) => {
                if wiki.embed {
                    self.image_depth = self.image_depth.saturating_sub(1);
                } else {
                    self.finish_link();
                }
            }
            NodeValue::Image(_) => self.image_depth = self.image_depth.saturating_sub(1),
            _ => {}
        }
    }

    fn start_heading(&mut self, level: u8, pos: Sourcepos) {
        let level = level.clamp(1, 6);
        while self.open.last().is_some_and(|&(l, _)| l >= level) {
            self.open.pop();
        }
        let order = to_u32(self.out.sections.len());
        let line_start = self.line(pos.start.line);
        let heading_line_end = self.line(pos.end.line).max(line_start);
        self.out.sections.push(Section {
            order,
            level,
            title: String::new(),
            slug: String::new(),
            parent: self.open.last().map(|&(_, o)| o),
            line_start,
            line_end: heading_line_end,
            heading_line_end,
            snippet: String::new(),
        });
        self.snippets.push(TextBuf::snippet(SNIPPET_MAX_CHARS));
        self.open.push((level, order));
        self.current = Some(order);
        self.title = Some(TextBuf::default());
    }

    fn finish_heading(&mut self) {
        let title = self.title.take().map(TextBuf::finish).unwrap_or_default();
        if let Some(section) = self.out.sections.last_mut() {
            section.slug = slugify(&title, section.order);
            if section.level == 1 && self.out.first_h1.is_none() && !title.is_empty() {
                self.out.first_h1 = Some(title.clone());
            }
            section.title = title;
        }
    }

    fn code_mention(&mut self, text: &str, origin: CodeOrigin, pos: Sourcepos) {
        let text = text.trim();
        if text.is_empty() || is_only_markers(text) {
            return;
        }
        self.out.code.push(CodeMention {
            text: text.to_string(),
            origin,
            line: self.line(pos.start.line),
            section: self.current,
        });
    }

    fn start_link(&mut self, url: &str, pos: Sourcepos) {
        if is_marker_url(url) || is_only_markers(url) || self.image_depth > 0 {
            // Keep a marker read as an autolink exactly as written.
            let autolink = self.byte_at(pos.start.line, pos.start.column) == Some(b'<');
            let close = if autolink && self.image_depth == 0 {
                self.text("<");
                Some(">")
            } else {
                None
            };
            self.links.push(LinkFrame::Dropped { close });
            return;
        }
        let (_, fragment) = split_fragment(url);
        // The form needs the link text; `finish_link` decides it.
        self.push_link(LinkForm::Inline, url.to_string(), fragment, pos);
    }

    fn start_wiki(&mut self, url: &str, pos: Sourcepos) {
        let (page, fragment) = split_fragment(url);
        let page = page.trim();
        let fragment = fragment
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty());
        if self.image_depth > 0 || (page.is_empty() && fragment.is_none()) || is_only_markers(url) {
            self.links.push(LinkFrame::Dropped { close: None });
            return;
        }
        self.push_link(LinkForm::Wiki, page.to_string(), fragment, pos);
    }

    fn push_link(
        &mut self,
        form: LinkForm,
        target: String,
        fragment: Option<String>,
        pos: Sourcepos,
    ) {
        let index = self.out.links.len();
        self.out.links.push(LinkMention {
            form,
            target,
            fragment,
            text: String::new(),
            line: self.line(pos.start.line),
            section: self.current,
        });
        self.links.push(LinkFrame::Mention {
            index,
            pos,
            text: TextBuf::default(),
        });
    }

    fn finish_link(&mut self) {
        match self.links.pop() {
            Some(LinkFrame::Mention { index, pos, text }) => {
                let text = text.finish();
                let form = match self.out.links.get(index) {
                    Some(link) if link.form != LinkForm::Wiki => {
                        let url = link.target.clone();
                        self.link_form(pos, &url, &text)
                    }
                    _ => LinkForm::Wiki,
                };
                if let Some(link) = self.out.links.get_mut(index) {
                    link.form = form;
                    link.text = if text.is_empty() {
                        link.target.clone()
                    } else {
                        text
                    };
                }
            }
            Some(LinkFrame::Dropped { close: Some(close) }) => self.text(close),
            Some(LinkFrame::Dropped { close: None }) | None => {}
        }
    }

    fn finish(mut self, last_line: usize) -> Outline {
        let last_line = to_u32(last_line);
        // Close sections: each ends before the next heading of level <= own.
        let mut open: Vec<usize> = Vec::new();
        let starts: Vec<(u8, u32)> = self
            .out
            .sections
            .iter()
            .map(|s| (s.level, s.line_start))
            .collect();
        for (i, &(level, line_start)) in starts.iter().enumerate() {
            while let Some(&j) = open.last() {
                if starts.get(j).is_some_and(|&(l, _)| l >= level) {
                    open.pop();
                    if let Some(section) = self.out.sections.get_mut(j) {
                        section.line_end =
                            line_start.saturating_sub(1).max(section.heading_line_end);
                    }
                } else {
                    break;
                }
            }
            open.push(i);
        }
        for j in open {
            if let Some(section) = self.out.sections.get_mut(j) {
                section.line_end = last_line.max(section.heading_line_end);
            }
        }
        for (section, snippet) in self.out.sections.iter_mut().zip(self.snippets) {
            section.snippet = snippet.finish();
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugify_matches_python_rules() {
        assert_eq!(slugify("Hello, World!", 0), "hello-world");
        assert_eq!(slugify("  snake_case & more ", 0), "snake_case-more");
        assert_eq!(slugify("Ünïcödé Straße", 0), "ünïcödé-straße");
        assert_eq!(slugify("!!!", 3), "section-3");
        assert_eq!(slugify("", 0), "section-0");
    }

    #[test]
    fn fence_language_rules() {
        assert_eq!(fence_language("rust,ignore"), Some("rust"));
        assert_eq!(fence_language("  python title=\"x\""), Some("python"));
        assert_eq!(fence_language("{.haskell .numberLines}"), Some("haskell"));
        assert_eq!(fence_language("{r, echo=FALSE}"), Some("r"));
        assert_eq!(fence_language("{=html}"), Some("html"));
        assert_eq!(fence_language("c++"), Some("c++"));
        assert_eq!(fence_language(""), None);
        assert_eq!(fence_language(",x"), None);
        assert_eq!(fence_language("{}"), None);
    }

    #[test]
    fn markers_are_recognised() {
        assert!(is_only_markers("<<redacted:credential:0123456789ab>>"));
        assert!(is_only_markers("\"<<redacted:a:b>>\" <<redacted:c:d>>"));
        assert!(!is_only_markers("TOKEN=<<redacted:a:b>>"));
        assert!(!is_only_markers("plain"));
        assert!(is_marker_url("redacted:credential:0123"));
        assert!(is_marker_url("REDACTED:x"));
        assert!(!is_marker_url("https://x"));
        assert!(!is_marker_url("redact"));
        assert_eq!(strip_markers("a<<redacted:x>>b<<redacted:y"), "ab");
    }

    #[test]
    fn text_buf_collapses_and_caps() {
        let mut b = TextBuf::capped(5);
        b.push_str("  ab \n\t c d e f");
        assert_eq!(b.finish(), "ab c");
        let mut b = TextBuf::default();
        b.push_str(" a ");
        b.space();
        b.push_str(" b ");
        assert_eq!(b.finish(), "a b");
    }

    #[test]
    fn snippets_keep_line_breaks() {
        let mut b = TextBuf::snippet(100);
        b.push_str("client credentials:");
        b.line_break();
        b.space();
        b.push_str("  oauth2c  {{x}} \n\n  next");
        b.line_break();
        assert_eq!(b.finish(), "client credentials:\noauth2c {{x}}\nnext");
    }

    #[test]
    fn line_counting() {
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"a"), 1);
        assert_eq!(count_lines(b"a\n"), 1);
        assert_eq!(count_lines(b"a\n\n"), 2);
        assert_eq!(count_lines(b"a\r\nb\rc"), 3);
        assert_eq!(line_starts("a\r\nb\rc\n"), vec![0, 3, 5, 7]);
    }
}
