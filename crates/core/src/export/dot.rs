//! Graphviz DOT.
//!
//! ```text
//! // auditgraph export of run_… (N entities, M links)
//! digraph auditgraph {
//!   graph [run_id="run_…"];
//!   node [shape=note, type="ag:note"];
//!   n0 [id="ent_…", label="<name>"];
//!   …
//!   edge [type="contains_section", rule="link.…", confidence=1];
//!   n0 -> n5;
//!   edge [type="relates_to", rule="link.…", confidence=1];
//!   n7 -> n9 [confidence=0.25];
//! }
//! ```
//!
//! Every node and every link of the selection, grouped by type: a
//! `node`/`edge` attribute statement gives a group's type (and shape, rule
//! and confidence 1), which Graphviz applies to the statements after it,
//! so each node states only its entity id and label, and each link its
//! ends and a confidence other than 1. A node is `n<position>`, its
//! position among the selected entities sorted by id (the same as in the
//! JSON bundle's `entities`); within a group, nodes and links keep
//! entity id and link id order. Every value is a double-quoted string escaped by
//! [`quote`]: `"` and `\` are backslash-escaped, a line break becomes
//! `\n`, a carriage return is dropped, other control characters become a
//! space; everything else
//! (non-ASCII included) is kept as UTF-8. `label` is a Graphviz escString,
//! in which `\\` is a literal backslash, so names with backslashes render
//! as written.

use super::{ExportContext, ExportCounts, NodeRef, Rendered};
use crate::error::Result;
use crate::graph::model::{EdgeKind, NodeKind};
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
    let name = |end: &NodeRef<'_>| match end {
        NodeRef::Position(pos) => format!("n{pos}"),
        NodeRef::Id(id) => quote(id),
    };
    let mut out = String::with_capacity(64 + nodes.len() * 120 + edges.len() * 24);
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
    for kind in NodeKind::ALL {
        let mut of_kind = nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.kind == kind)
            .peekable();
        if of_kind.peek().is_none() {
            continue;
        }
        let _ = writeln!(
            out,
            "  node [shape={}, type={}];",
            shape(kind),
            quote(kind.type_name())
        );
        for (pos, n) in of_kind {
            let _ = writeln!(
                out,
                "  n{pos} [id={}, label={}];",
                quote(n.id),
                quote(n.name)
            );
        }
    }
    for kind in EdgeKind::ALL {
        let mut of_kind = edges.iter().filter(|e| e.kind == kind).peekable();
        if of_kind.peek().is_none() {
            continue;
        }
        let _ = writeln!(
            out,
            "  edge [type={}, rule={}, confidence=1];",
            quote(kind.type_name()),
            quote(kind.rule())
        );
        for e in of_kind {
            let _ = write!(out, "  {} -> {}", name(&e.from), name(&e.to));
            if e.confidence != 1.0 {
                let _ = write!(out, " [confidence={}]", e.confidence);
            }
            out.push_str(";\n");
        }
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

/// Graphviz shapes by entity type.
fn shape(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Note => "note",
        NodeKind::Section => "box",
        NodeKind::Technology => "ellipse",
        NodeKind::Reference => "cds",
    }
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
