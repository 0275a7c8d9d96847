//! HTML pages (`.html`, `.htm`): the text a reader sees, headings and
//! links.
//!
//! The page is parsed with html5ever (through `scraper`), the HTML5
//! parsing algorithm browsers use, so malformed markup is read as a browser
//! reads it. Then, in document order:
//!
//! * only visible text is kept: `head`, `script`, `style`, `template`,
//!   `noscript`, `iframe`, `object`, and every element with the `hidden`
//!   attribute, `aria-hidden="true"` or an inline `display: none` /
//!   `visibility: hidden` style are left out with all they hold;
//! * block elements (paragraphs, list items, table cells, `div`, ...)
//!   each start a block; `br` is a line break; inside `pre` whitespace is
//!   kept, elsewhere every run of whitespace is one space;
//! * `h1` to `h6` are headings (sections);
//! * `a href` are links, resolved by the extract stage like Markdown
//!   links;
//! * `<title>` is the title, `<meta name="author">` the author and
//!   `<meta name="date">` (or `dcterms.created`, `article:published_time`)
//!   the creation date.
//!
//! The tree is walked without recursion, so a deeply nested page cannot
//! exhaust the stack.

use super::{Block, BlockKind, BlockLink, Extracted, one_line};
use crate::ingest::document::Parsed;
use ego_tree::iter::Edge;
use scraper::{Html, Node};
use std::collections::BTreeMap;

/// Elements left out with everything inside them.
const INVISIBLE: &[&str] = &[
    "head", "script", "style", "template", "noscript", "iframe", "object", "embed", "canvas",
    "datalist", "dialog",
];

/// Elements that start and end a block of text.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "caption",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "header",
    "hr",
    "html",
    "legend",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
];

/// Reads an HTML page (see the module documentation).
pub fn extract(bytes: &[u8]) -> Result<Extracted, Parsed> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let source = std::str::from_utf8(bytes).map_err(|e| Parsed::Failed {
        reason: "invalid_utf8",
        detail: format!(
            "not valid UTF-8 at byte {}; save the page as UTF-8 and run again",
            e.valid_up_to()
        ),
    })?;
    if let Some(depth) = too_deep(source) {
        return Err(Parsed::Failed {
            reason: "too_deeply_nested",
            detail: format!(
                "elements are nested more than {depth} deep (the HTML parser would take hours on it); fix or remove the page"
            ),
        });
    }
    let page = Html::parse_document(source);
    let mut walk = Walk::default();
    let mut metadata = BTreeMap::new();
    for node in page.tree.root().descendants() {
        let Some(el) = node.value().as_element() else {
            continue;
        };
        if el.name() == "title" && !metadata.contains_key("title") {
            let title: String = node
                .children()
                .filter_map(|c| c.value().as_text().map(|t| t.to_string()))
                .collect();
            let title = one_line(&title);
            if !title.is_empty() {
                metadata.insert("title".to_string(), title);
            }
        } else if el.name() == "meta" {
            meta(el, &mut metadata);
        }
    }
    // The element whose subtree is being left out, if any.
    let mut skipping: Option<ego_tree::NodeId> = None;
    for edge in page.tree.root().traverse() {
        match edge {
            Edge::Open(node) => {
                if skipping.is_some() {
                    continue;
                }
                match node.value() {
                    Node::Text(text) => walk.text(text),
                    Node::Element(el) => {
                        let name = el.name();
                        if INVISIBLE.contains(&name) || hidden(el) {
                            skipping = Some(node.id());
                            continue;
                        }
                        walk.open(name, el.attr("href"));
                    }
                    _ => {}
                }
            }
            Edge::Close(node) => {
                if let Some(id) = skipping {
                    if id == node.id() {
                        skipping = None;
                    }
                    continue;
                }
                if let Node::Element(el) = node.value() {
                    walk.close(el.name());
                }
            }
        }
    }
    walk.flush();
    Ok(Extracted {
        blocks: walk.blocks,
        unit: None,
        metadata,
    })
}

/// Deepest element nesting read. The HTML5 tree builder checks the stack
/// of open elements at every tag, so its time grows with the square of the
/// depth: a page of 200,000 nested `div`s takes minutes. Real pages stay
/// far below this.
pub const MAX_DEPTH: usize = 4096;

/// Elements that never hold others, or whose end tag may be left out
/// (a run of unclosed `<p>` or `<li>` is not deep nesting).
const NOT_NESTING: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead",
    "tbody", "tfoot", "colgroup", "caption", "rb", "rt", "rp", "html", "head", "body",
];

/// `Some(MAX_DEPTH)` when the page's start and end tags nest deeper than
/// [`MAX_DEPTH`]: a quick scan of the tags (comments skipped, and the raw
/// text of `script` and `style`), before the page is parsed.
fn too_deep(source: &str) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(at) = memchr::memchr(b'<', &bytes[i..]) {
        i += at + 1;
        if bytes[i..].starts_with(b"!--") {
            i = memchr::memmem::find(&bytes[i..], b"-->").map_or(bytes.len(), |e| i + e + 3);
            continue;
        }
        let closing = bytes.get(i) == Some(&b'/');
        let start = if closing { i + 1 } else { i };
        let len = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        if len == 0 || !bytes[start].is_ascii_alphabetic() {
            continue;
        }
        let name = source
            .get(start..start + len)
            .unwrap_or("")
            .to_ascii_lowercase();
        let end = memchr::memchr(b'>', &bytes[start..]).map_or(bytes.len(), |e| start + e);
        let self_closing = end > start && bytes.get(end - 1) == Some(&b'/');
        i = end.min(bytes.len());
        if NOT_NESTING.contains(&name.as_str()) || self_closing {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else if name == "script" || name == "style" {
            // Raw text up to the end tag.
            let close = format!("</{name}");
            i = find_ascii_ci(&bytes[i..], close.as_bytes()).map_or(bytes.len(), |e| i + e);
        } else {
            depth += 1;
            if depth > MAX_DEPTH {
                return Some(MAX_DEPTH);
            }
        }
    }
    None
}

/// Where `needle` (lowercase ASCII) is in `hay`, ignoring ASCII case.
fn find_ascii_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// `author` and `created` from a `meta` element.
fn meta(el: &scraper::node::Element, metadata: &mut BTreeMap<String, String>) {
    let key = el
        .attr("name")
        .or_else(|| el.attr("property"))
        .map(str::to_ascii_lowercase);
    let field = match key.as_deref() {
        Some("author" | "dc.creator" | "dcterms.creator") => "author",
        Some("date" | "dc.date" | "dcterms.created" | "article:published_time") => "created",
        _ => return,
    };
    if let Some(content) = el.attr("content").map(one_line)
        && !content.is_empty()
    {
        metadata.entry(field.to_string()).or_insert(content);
    }
}

/// Hidden by an attribute or an inline style.
fn hidden(el: &scraper::node::Element) -> bool {
    if el.attr("hidden").is_some() {
        return true;
    }
    if el
        .attr("aria-hidden")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return true;
    }
    if el.name() == "input" {
        return true;
    }
    el.attr("style").is_some_and(|style| {
        let style: String = style
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        style.contains("display:none") || style.contains("visibility:hidden")
    })
}

/// The blocks found so far and the one being read.
#[derive(Default)]
struct Walk {
    blocks: Vec<Block>,
    text: String,
    heading: Option<u8>,
    links: Vec<BlockLink>,
    /// Links being read: their target and the text so far.
    open_links: Vec<(String, String)>,
    /// Depth of `pre` elements around the text.
    pre: u32,
}

impl Walk {
    fn open(&mut self, name: &str, href: Option<&str>) {
        if let Some(level) = heading_level(name) {
            self.flush();
            self.heading = Some(level);
        } else if BLOCKS.contains(&name) {
            self.flush();
        }
        match name {
            "br" => self.text.push('\n'),
            "pre" => self.pre += 1,
            "a" => self
                .open_links
                .push((href.unwrap_or("").to_string(), String::new())),
            _ => {}
        }
    }

    fn close(&mut self, name: &str) {
        match name {
            "pre" => self.pre = self.pre.saturating_sub(1),
            "a" => {
                if let Some((target, text)) = self.open_links.pop()
                    && !target.trim().is_empty()
                {
                    self.links.push(BlockLink { target, text });
                }
            }
            _ => {}
        }
        if heading_level(name).is_some() || BLOCKS.contains(&name) {
            self.flush();
        }
    }

    fn text(&mut self, text: &str) {
        let piece = if self.pre > 0 {
            text.to_string()
        } else {
            // Whitespace runs as one space, kept at the edges so that
            // words of adjacent elements stay apart.
            let mut out = String::with_capacity(text.len());
            let mut space = false;
            for c in text.chars() {
                if c.is_whitespace() {
                    space = true;
                } else {
                    if space {
                        out.push(' ');
                        space = false;
                    }
                    out.push(c);
                }
            }
            if space {
                out.push(' ');
            }
            out
        };
        for (_, link_text) in &mut self.open_links {
            link_text.push_str(&piece);
        }
        self.text.push_str(&piece);
    }

    /// Ends the block being read.
    fn flush(&mut self) {
        let text = std::mem::take(&mut self.text);
        let kind = match self.heading.take() {
            Some(level) => BlockKind::Heading(level),
            None => BlockKind::Text,
        };
        if text.trim().is_empty() {
            // Links of a block without text go with the next one.
            return;
        }
        self.blocks.push(Block {
            kind,
            text,
            unit: None,
            links: std::mem::take(&mut self.links),
        });
    }
}

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(html: &str) -> Vec<(BlockKind, String)> {
        extract(html.as_bytes())
            .unwrap()
            .blocks
            .into_iter()
            .map(|b| (b.kind, one_line(&b.text)))
            .collect()
    }

    #[test]
    fn only_visible_text_is_kept() {
        let page = r#"<!doctype html><html><head><title> The  Page </title>
            <meta name="author" content="Ada Lovelace"><meta name="date" content="2024-01-02">
            <style>p { color: red }</style><script>var secret = 1;</script></head>
            <body><h1>Top</h1><p>Visible <b>bold</b> text<script>alert(1)</script></p>
            <div hidden>hidden one</div><p aria-hidden="true">hidden two</p>
            <p style="display: none">hidden three</p><template><p>hidden four</p></template>
            <noscript>hidden five</noscript>
            <h2>Sub</h2><ul><li>one</li><li>two<br>lines</li></ul>
            <table><tr><td>cell a</td><td>cell b</td></tr></table></body></html>"#;
        let got = blocks(page);
        assert_eq!(
            got,
            vec![
                (BlockKind::Heading(1), "Top".to_string()),
                (BlockKind::Text, "Visible bold text".to_string()),
                (BlockKind::Heading(2), "Sub".to_string()),
                (BlockKind::Text, "one".to_string()),
                (BlockKind::Text, "two lines".to_string()),
                (BlockKind::Text, "cell a".to_string()),
                (BlockKind::Text, "cell b".to_string()),
            ]
        );
        let all: String = got.iter().map(|(_, t)| t.as_str()).collect();
        assert!(!all.contains("hidden") && !all.contains("secret") && !all.contains("color"));
        let ex = extract(page.as_bytes()).unwrap();
        assert_eq!(ex.metadata["title"], "The Page");
        assert_eq!(ex.metadata["author"], "Ada Lovelace");
        assert_eq!(ex.metadata["created"], "2024-01-02");
    }

    #[test]
    fn links_are_kept_with_their_text() {
        let ex = extract(b"<p>See <a href=\"other.html#part\">the <i>other</i> page</a> and <a>no target</a>.</p>").unwrap();
        assert_eq!(
            ex.blocks[0].links,
            vec![BlockLink {
                target: "other.html#part".to_string(),
                text: "the other page".to_string()
            }]
        );
    }

    #[test]
    fn hostile_pages_do_not_break_the_parser() {
        let deep = "<div>".repeat(1000) + "deep text" + &"</div>".repeat(1000);
        let got = blocks(&deep);
        assert_eq!(got, vec![(BlockKind::Text, "deep text".to_string())]);
        let abyss = "<div><span>".repeat(MAX_DEPTH);
        assert!(matches!(
            extract(abyss.as_bytes()),
            Err(Parsed::Failed {
                reason: "too_deeply_nested",
                ..
            })
        ));
        let many = "<p>unclosed paragraph ".repeat(10_000)
            + &"<div>x</div><br/><img src=a>".repeat(10_000)
            + "<script>if (a<b) { '<div>'.repeat(9999) }</script><!-- <div><div> -->";
        assert_eq!(too_deep(&many), None);
        assert!(matches!(
            extract(b"<p>\xff</p>"),
            Err(Parsed::Failed {
                reason: "invalid_utf8",
                ..
            })
        ));
        assert!(blocks("").is_empty());
        assert!(blocks("<<<>>><p <a =>x</").len() <= 2);
    }
}
