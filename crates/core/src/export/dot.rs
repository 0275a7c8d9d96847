//! Graphviz DOT.
//!
//! ```text
//! // auditgraph export of run_… (N entities, M links)
//! digraph auditgraph {
//!   graph [run_id="run_…"];
//!   node [shape=box];
//!   "ent_…" [id="ent_…", label="<name>", type="ag:note"];
//!   "ent_…" -> "ent_…" [id="lnk_…", type="contains_section", rule="link.…", confidence="1", evidence="1"];
//! }
//! ```
//!
//! Every node and every link of the selection, nodes then links, each
//! sorted by id. Every value is a double-quoted string escaped by
//! [`quote`]: `"` and `\` are backslash-escaped, a line break becomes
//! `\n`, a carriage return is dropped, other control characters become a
//! space; everything else
//! (non-ASCII included) is kept as UTF-8. `label` is a Graphviz escString,
//! in which `\\` is a literal backslash, so names with backslashes render
//! as written.

use super::{ExportContext, ExportCounts, Rendered};
use crate::error::Result;
use std::fmt::Write;

/// A DOT double-quoted string.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders the DOT file.
pub fn render(ctx: &ExportContext<'_>) -> Result<Rendered> {
    let nodes = ctx.node_summaries();
    let edges = ctx.edge_summaries();
    let mut out = String::with_capacity(64 + nodes.len() * 160 + edges.len() * 240);
    // `write!` to a String cannot fail.
    let _ = writeln!(
        out,
        "// auditgraph export of {} ({} entities, {} links)",
        ctx.run.run_id,
        nodes.len(),
        edges.len()
    );
    out.push_str("digraph auditgraph {\n");
    let _ = writeln!(out, "  graph [run_id={}];", quote(&ctx.run.run_id));
    out.push_str("  node [shape=box];\n");
    for n in &nodes {
        let _ = writeln!(
            out,
            "  {} [id={}, label={}, type={}];",
            quote(n.id),
            quote(n.id),
            quote(n.name),
            quote(n.kind.type_name())
        );
    }
    for e in &edges {
        let _ = writeln!(
            out,
            "  {} -> {} [id={}, type={}, rule={}, confidence={}, evidence={}];",
            quote(e.from),
            quote(e.to),
            quote(e.id),
            quote(e.kind.type_name()),
            quote(e.kind.rule()),
            quote(&e.confidence.to_string()),
            quote(&e.evidence_total.to_string())
        );
    }
    out.push_str("}\n");
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
    use super::quote;

    #[test]
    fn quoting() {
        assert_eq!(quote("plain"), "\"plain\"");
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(quote("C:\\notes\\"), "\"C:\\\\notes\\\\\"");
        assert_eq!(quote("a\nb\r\n"), "\"a\\nb\\n\"");
        assert_eq!(quote("tab\there\u{7}"), "\"tab here \"");
        assert_eq!(quote("Zoë <&> 東京"), "\"Zoë <&> 東京\"");
    }
}
