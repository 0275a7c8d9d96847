//! How the graph's entities and edges are made (the rules), and the
//! normalizations of names and tokens they use. Each document's part is
//! built by [`crate::graph::local`]; `relates_to` by
//! [`crate::graph::relates`]; parts are put together by
//! [`crate::graph::assemble`].
//!
//! Edges (each with its rule, confidence 1.0 unless stated, and evidence
//! naming the chunk, path and lines that justify it):
//!
//! * `contains_section`: note -> top-level section, section -> subsection.
//! * `mentions_technology`: the innermost section (or the note, for text
//!   before the first heading) -> the technology; one edge per pair, every
//!   mention as evidence.
//! * `references`: section or note -> the reference entity of a link.
//! * `resolves_to_document`: an internal reference -> the note it resolves to.
//! * `relates_to` (`link.cooccurrence.v1`, heuristic): note <-> note sharing
//!   a technology that at most `max_document_frequency` notes mention; each
//!   note keeps its `max_related_per_note` strongest relations (most shared
//!   technologies first, then the other note's id), so there are at most
//!   `max_related_per_note` x notes such edges. Confidence is the overlap
//!   coefficient: shared technologies divided by the smaller note's
//!   technology count. Stored once, from the smaller id to the larger.
//!
//! The work per document runs in parallel; the merge that numbers nodes and
//! edges is sequential and ordered, so the graph is the same for any thread
//! count.

/// Python-compatible canonical key: trimmed, lower case, spaces as `_`.
pub fn canonical_key(text: &str) -> String {
    text.trim().to_lowercase().replace(' ', "_")
}

/// A technology token: case-folded, trimmed, inner whitespace collapsed.
pub fn technology_token(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        if word.is_ascii() {
            let start = out.len();
            out.push_str(word);
            out[start..].make_ascii_lowercase();
        } else {
            for c in word.chars() {
                out.extend(c.to_lowercase());
            }
        }
    }
    out
}
