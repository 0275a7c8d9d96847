//! GraphML (<http://graphml.graphdrawing.org/>), as networkx, Gephi and
//! yEd read it.
//!
//! Keys are declared before the graph:
//!
//! | key id | for | attr.name | attr.type |
//! |---|---|---|---|
//! | `g_run_id` | graph | `run_id` | string |
//! | `n_type` | node | `type` | string |
//! | `n_name` | node | `name` | string |
//! | `n_canonical_key` | node | `canonical_key` | string |
//! | `n_source_path` | node | `source_path` | string (absent for technologies) |
//! | `e_type` | edge | `type` | string |
//! | `e_rule` | edge | `rule` | string |
//! | `e_confidence` | edge | `confidence` | double |
//! | `e_authority` | edge | `authority` | string |
//! | `e_evidence_count` | edge | `evidence_count` | int (evidence items before the per-link limit) |
//!
//! Node ids are entity ids, edge ids link ids; nodes then edges, each
//! sorted by id. Text and attribute values are XML-escaped by [`escape`]
//! (`& < > " '`, and in attributes also tab and line breaks as character
//! references); characters XML 1.0 cannot carry at all (most C0 controls,
//! U+FFFE, U+FFFF) are replaced by U+FFFD.

use super::{ExportContext, ExportCounts, Rendered};
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
    let mut out = String::with_capacity(1024 + nodes.len() * 300 + edges.len() * 400);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<graphml xmlns=\"{NS}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"{NS} {NS}/1.0/graphml.xsd\">"
    );
    key(&mut out, "g_run_id", "graph", "run_id", "string");
    key(&mut out, "n_type", "node", "type", "string");
    key(&mut out, "n_name", "node", "name", "string");
    key(
        &mut out,
        "n_canonical_key",
        "node",
        "canonical_key",
        "string",
    );
    key(&mut out, "n_source_path", "node", "source_path", "string");
    key(&mut out, "e_type", "edge", "type", "string");
    key(&mut out, "e_rule", "edge", "rule", "string");
    key(&mut out, "e_confidence", "edge", "confidence", "double");
    key(&mut out, "e_authority", "edge", "authority", "string");
    key(
        &mut out,
        "e_evidence_count",
        "edge",
        "evidence_count",
        "int",
    );
    out.push_str("  <graph id=\"auditgraph\" edgedefault=\"directed\">\n    ");
    data(&mut out, "g_run_id", &ctx.run.run_id);
    out.push('\n');
    for n in &nodes {
        let _ = write!(out, "    <node id=\"{}\">", escape(n.id));
        data(&mut out, "n_type", n.kind.type_name());
        data(&mut out, "n_name", n.name);
        data(&mut out, "n_canonical_key", &n.canonical_key);
        if let Some(path) = n.source_path {
            data(&mut out, "n_source_path", path);
        }
        out.push_str("</node>\n");
    }
    for e in &edges {
        let _ = write!(
            out,
            "    <edge id=\"{}\" source=\"{}\" target=\"{}\">",
            escape(e.id),
            escape(e.from),
            escape(e.to)
        );
        data(&mut out, "e_type", e.kind.type_name());
        data(&mut out, "e_rule", e.kind.rule());
        data(&mut out, "e_confidence", &e.confidence.to_string());
        data(&mut out, "e_authority", e.kind.authority());
        data(&mut out, "e_evidence_count", &e.evidence_total.to_string());
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
