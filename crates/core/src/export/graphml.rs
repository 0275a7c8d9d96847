//! GraphML (<http://graphml.graphdrawing.org/>), as networkx, Gephi and
//! yEd read it.
//!
//! Keys are declared before the graph:
//!
//! | key id | for | attr.name | attr.type |
//! |---|---|---|---|
//! | `d0` | graph | `run_id` | string |
//! | `d1` | node | `entity_id` | string |
//! | `d2` | node | `type` | string |
//! | `d3` | node | `name` | string |
//! | `d4` | node | `source_path` | string (absent for technologies) |
//! | `d5` | edge | `type` | string |
//! | `d6` | edge | `confidence` | double |
//!
//! Readers name attributes by `attr.name`; the key ids are short, as
//! networkx writes them, because every `data` element repeats one.
//!
//! What graph tools use, once each: a node is `n<position>` (its position
//! among the selected entities sorted by id, as in the JSON bundle's
//! `entities`) carrying its entity id, type, name and source path; an edge
//! names its ends by those node ids and carries its type and confidence.
//! A link's rule and authority follow from its type and its evidence is in
//! the JSON bundle, so neither is repeated here. Nodes then edges, in
//! entity id and link id order. Text and attribute values are XML-escaped
//! by [`escape`] (`& < > " '`, and in attributes also tab and line breaks
//! as character references); characters XML 1.0 cannot carry at all (most
//! C0 controls,
//! U+FFFE, U+FFFF) are replaced by U+FFFD.

use super::{ExportContext, ExportCounts, NodeRef, Rendered};
use crate::error::Result;
use std::fmt::Write;

const NS: &str = "http://graphml.graphdrawing.org/xmlns";

/// XML-escapes text for element content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn key(out: &mut String, id: &str, target: &str, name: &str, kind: &str) {
    let _ = writeln!(
        out,
        "  <key id=\"{id}\" for=\"{target}\" attr.name=\"{name}\" attr.type=\"{kind}\"/>"
    );
}

fn data(out: &mut String, key: &str, value: &str) {
    let _ = write!(out, "<data key=\"{key}\">{}</data>", escape(value));
}

/// Renders the GraphML file.
pub fn render(ctx: &ExportContext<'_>) -> Result<Rendered> {
    let nodes = ctx.node_summaries();
    let edges = ctx.edge_summaries();
    let node_ref = |end: &NodeRef<'_>| match end {
        NodeRef::Position(pos) => format!("n{pos}"),
        NodeRef::Id(id) => escape(id),
    };
    let mut out = String::with_capacity(1024 + nodes.len() * 160 + edges.len() * 90);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<graphml xmlns=\"{NS}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"{NS} {NS}/1.0/graphml.xsd\">"
    );
    key(&mut out, "d0", "graph", "run_id", "string");
    key(&mut out, "d1", "node", "entity_id", "string");
    key(&mut out, "d2", "node", "type", "string");
    key(&mut out, "d3", "node", "name", "string");
    key(&mut out, "d4", "node", "source_path", "string");
    key(&mut out, "d5", "edge", "type", "string");
    key(&mut out, "d6", "edge", "confidence", "double");
    out.push_str("  <graph id=\"auditgraph\" edgedefault=\"directed\">\n    ");
    data(&mut out, "d0", &ctx.run.run_id);
    out.push('\n');
    for (pos, n) in nodes.iter().enumerate() {
        let _ = write!(out, "    <node id=\"n{pos}\">");
        data(&mut out, "d1", n.id);
        data(&mut out, "d2", n.kind.type_name());
        data(&mut out, "d3", n.name);
        if let Some(path) = n.source_path {
            data(&mut out, "d4", path);
        }
        out.push_str("</node>\n");
    }
    for e in &edges {
        let _ = write!(
            out,
            "    <edge source=\"{}\" target=\"{}\">",
            node_ref(&e.from),
            node_ref(&e.to)
        );
        data(&mut out, "d5", e.kind.type_name());
        data(&mut out, "d6", &e.confidence.to_string());
        out.push_str("</edge>\n");
    }
    out.push_str("  </graph>\n</graphml>\n");
    Ok(Rendered {
        bytes: out.into_bytes(),
        counts: ExportCounts {
            entities: nodes.len(),
            links: edges.len(),
            documents: None,
            chunks: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escaping() {
        assert_eq!(
            escape("a & b <c> \"d\" 'e'"),
            "a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos;"
        );
        assert_eq!(escape("x\ny\tz\r"), "x&#10;y&#9;z&#13;");
        assert_eq!(escape("bell\u{7}"), "bell\u{fffd}");
        assert_eq!(escape("Zoë 東京"), "Zoë 東京");
    }
}
