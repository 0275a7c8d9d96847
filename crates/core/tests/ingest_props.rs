//! Property tests (the fuzz targets of this crate, run by `cargo test`):
//! parsing a file (front matter, normalization, segments, chunks) never
//! panics, and what it returns is well-formed, for any bytes and for
//! inputs shaped like front matter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use auditgraph_core::config::Ingestion;
use auditgraph_core::ingest::document::{DocumentRecord, Parsed, parse};
use auditgraph_core::redact::{RedactionPolicy, Redactor};
use proptest::prelude::*;
use unicode_normalization::UnicodeNormalization;

fn redactor() -> Redactor {
    Redactor::new(&RedactionPolicy::default(), b"props-key").unwrap()
}

fn small_chunks() -> Ingestion {
    Ingestion {
        chunk_tokens: 8,
        chunk_overlap_tokens: 3,
        ..Ingestion::default()
    }
}

/// What every parsed document must satisfy.
fn check(doc: &DocumentRecord) -> Result<(), TestCaseError> {
    let text = &doc.text;
    prop_assert!(!text.contains('\r'), "line endings are LF");
    prop_assert!(text.nfc().eq(text.chars()), "text is NFC");
    prop_assert!(doc.body_start <= text.len() && text.is_char_boundary(doc.body_start));
    prop_assert!(
        doc.frontmatter.is_none() || doc.frontmatter_error.is_none(),
        "front matter is either read or refused"
    );
    let lines = text.lines().count().max(1) as u32;
    let mut at = 0;
    for (i, seg) in doc.segments.iter().enumerate() {
        prop_assert_eq!(seg.order as usize, i);
        prop_assert!(seg.start >= at && seg.start <= seg.end && seg.end <= text.len());
        prop_assert!(text.is_char_boundary(seg.start) && text.is_char_boundary(seg.end));
        prop_assert!(seg.line_start >= 1 && seg.line_start <= seg.line_end);
        at = seg.end;
    }
    for (i, chunk) in doc.chunks.iter().enumerate() {
        prop_assert_eq!(chunk.order as usize, i);
        prop_assert!(
            chunk.start < chunk.end && chunk.end <= text.len(),
            "{chunk:?}"
        );
        prop_assert!(text.is_char_boundary(chunk.start) && text.is_char_boundary(chunk.end));
        prop_assert!(chunk.start >= doc.body_start, "chunks cover the body only");
        prop_assert!(chunk.line_start >= 1 && chunk.line_start <= chunk.line_end);
        prop_assert!(chunk.line_end <= lines + 1, "{chunk:?} past line {lines}");
        prop_assert!(chunk.overlap_tokens <= chunk.token_count);
        prop_assert!((chunk.segment as usize) < doc.segments.len());
        prop_assert!(!doc.chunk_text(chunk).trim().is_empty());
    }
    Ok(())
}

fn parse_both(path: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    for ingestion in [Ingestion::default(), small_chunks()] {
        let parser = if path.ends_with(".md") {
            "text/markdown"
        } else {
            "text/plain"
        };
        let first = parse(path, bytes, parser, &ingestion, &redactor());
        let again = parse(path, bytes, parser, &ingestion, &redactor());
        match (&first, &again) {
            (Parsed::Document(a), Parsed::Document(b)) => {
                prop_assert_eq!(a, b, "parsing is deterministic");
                check(a)?;
            }
            (Parsed::Failed { reason, .. }, Parsed::Failed { reason: r2, .. })
            | (Parsed::Skipped { reason, .. }, Parsed::Skipped { reason: r2, .. }) => {
                prop_assert_eq!(reason, r2);
                prop_assert!(!reason.is_empty());
            }
            _ => prop_assert!(false, "two parses disagree"),
        }
    }
    Ok(())
}

/// Text shaped like a note with front matter: delimiters (sometimes
/// broken), YAML-ish lines (valid or not), then a body.
fn frontmatterish() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("title".to_string()),
        Just("tags".to_string()),
        Just("aliases".to_string()),
        Just("password".to_string()),
        "[a-z_]{1,8}",
        "\\PC{0,6}",
    ];
    let value = prop_oneof![
        Just(String::new()),
        Just("[a, b, \"c\"]".to_string()),
        Just("{x: 1, y: [2, 3]}".to_string()),
        Just("&a [*a]".to_string()),
        Just("!!binary aGVsbG8=".to_string()),
        Just("'unterminated".to_string()),
        Just("|\n  block\n  text".to_string()),
        Just("hunter2-Zq8xL2vN9rT4wK7m".to_string()),
        "\\PC{0,20}",
        "[0-9.eE+-]{1,8}",
    ];
    let line = (
        key,
        prop_oneof![Just(": "), Just(":"), Just(" = "), Just("- ")],
        value,
    )
        .prop_map(|(k, sep, v)| format!("{k}{sep}{v}"));
    let open = prop_oneof![
        Just("---\n"),
        Just("---\r\n"),
        Just("--- \n"),
        Just("\u{feff}---\n"),
        Just("---"),
        Just(""),
    ];
    let close = prop_oneof![
        Just("---\n"),
        Just("...\n"),
        Just("---"),
        Just("--- x\n"),
        Just(""),
    ];
    let body = "(\\PC|\n){0,120}";
    (open, proptest::collection::vec(line, 0..8), close, body).prop_map(
        |(open, lines, close, body)| {
            let mut s = open.to_string();
            for l in lines {
                s.push_str(&l);
                s.push('\n');
            }
            s.push_str(close);
            s.push_str(&body);
            s
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(1500)
    ))]

    #[test]
    fn any_bytes_parse_or_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        parse_both("notes/x.md", &bytes)?;
        parse_both("notes/x.txt", &bytes)?;
    }

    #[test]
    fn any_text_parses_well_formed(text in "(\\PC|[\r\n\t])*") {
        parse_both("notes/x.md", text.as_bytes())?;
    }

    #[test]
    fn front_matter_shapes_parse_well_formed(text in frontmatterish()) {
        parse_both("notes/x.md", text.as_bytes())?;
    }
}
