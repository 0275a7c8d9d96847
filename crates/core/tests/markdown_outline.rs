//! Targeted checks of `outline` beyond the golden fixtures.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use auditgraph_core::extract::markdown::{CodeOrigin, LinkForm, Outline, outline};

const BODY: &str = "Intro `x`.\n\n# One\n\ntext [a](a.md)\n\nTwo\n---\n\n```rust\nbody\n```\n";

#[test]
fn line_numbers_follow_body_start() {
    let plain = outline(BODY, 0);
    assert_eq!(plain.sections.len(), 2);
    assert_eq!(
        (plain.sections[0].line_start, plain.sections[0].line_end),
        (3, 12)
    );
    assert_eq!(
        (
            plain.sections[1].line_start,
            plain.sections[1].heading_line_end,
            plain.sections[1].line_end
        ),
        (7, 8, 12)
    );
    assert_eq!(plain.code[0].line, 1);
    assert_eq!(plain.code[1].line, 10);
    assert_eq!(plain.links[0].line, 5);

    for front in [
        "---\ntitle: x\n---\n",
        "---\na: 1\nb: 2\nc: |\n  multi\n  line\n---\n",
    ] {
        let text = format!("{front}{BODY}");
        let shifted = outline(&text, front.len());
        let offset = u32::try_from(front.matches('\n').count()).unwrap();
        for (a, b) in plain.sections.iter().zip(&shifted.sections) {
            assert_eq!(a.line_start + offset, b.line_start);
            assert_eq!(a.heading_line_end + offset, b.heading_line_end);
            assert_eq!(a.line_end + offset, b.line_end);
            assert_eq!(a.title, b.title);
        }
        for (a, b) in plain.code.iter().zip(&shifted.code) {
            assert_eq!(a.line + offset, b.line);
        }
        for (a, b) in plain.links.iter().zip(&shifted.links) {
            assert_eq!(a.line + offset, b.line);
        }
    }
}

#[test]
fn front_matter_is_not_parsed() {
    // The front matter would be a setext heading if it were parsed.
    let text = "---\ntitle: [x](y.md) `code`\n---\nbody\n";
    let start = text.find("body").unwrap();
    let out = outline(text, start);
    assert_eq!(start, 32);
    assert_eq!(out, Outline::default());
}

#[test]
fn body_start_mid_line_counts_whole_lines() {
    let text = "prefix # not a heading\n# H\n";
    let out = outline(text, 7);
    // "# not a heading" starts the parsed body, on line 1 of the text.
    assert_eq!(out.sections[0].line_start, 1);
    assert_eq!(out.sections[1].line_start, 2);
}

#[test]
fn bad_body_start_gives_empty_outline() {
    let text = "# Überschrift\n";
    assert_eq!(outline(text, 3), outline(text, 3)); // 'Ü' spans bytes 2..4
    assert_eq!(outline(text, 3), Outline::default());
    assert_eq!(outline(text, text.len() + 1), Outline::default());
    assert_eq!(outline(text, usize::MAX), Outline::default());
    assert_eq!(outline(text, text.len()), Outline::default());
    assert_eq!(outline("", 0), Outline::default());
}

#[test]
fn no_headings_no_sections() {
    let out = outline("just text with `code` and https://x.org\n", 0);
    assert!(out.sections.is_empty());
    assert_eq!(out.first_h1, None);
    assert_eq!(out.code[0].section, None);
    assert_eq!(out.links[0].section, None);
    assert_eq!(out.links[0].form, LinkForm::BareUrl);
}

#[test]
fn trailing_newlines_extend_the_last_section() {
    assert_eq!(outline("# A\n", 0).sections[0].line_end, 1);
    assert_eq!(outline("# A", 0).sections[0].line_end, 1);
    assert_eq!(outline("# A\n\n\n", 0).sections[0].line_end, 3);
    assert_eq!(outline("# A\nB\n=\n", 0).sections[1].line_end, 3);
    assert_eq!(outline("# A\nB\n=\n", 0).sections[0].line_end, 1);
}

#[test]
fn first_h1_skips_empty_and_lower_levels() {
    let out = outline("## Two\n#\n# Real title\n# Later\n", 0);
    assert_eq!(out.first_h1.as_deref(), Some("Real title"));
}

#[test]
fn parents_with_skipped_levels() {
    let out = outline("### c\n# a\n### c2\n## b\n#### d\n## b2\n", 0);
    let parents: Vec<Option<u32>> = out.sections.iter().map(|s| s.parent).collect();
    assert_eq!(
        parents,
        vec![None, None, Some(1), Some(1), Some(3), Some(1)]
    );
    let ends: Vec<u32> = out.sections.iter().map(|s| s.line_end).collect();
    assert_eq!(ends, vec![1, 6, 3, 5, 5, 6]);
}

#[test]
fn redaction_markers_never_become_anything() {
    let marker = "<<redacted:credential:0123456789ab>>";
    let cases = [
        format!("{marker}\n"),
        format!("# {marker}\n"),
        "<redacted:credential:0123456789ab>\n".to_string(),
        format!("`{marker}`\n"),
        format!("``` {marker}\n```\n"),
        format!("[[{marker}]]\n"),
        format!("[x]({marker})\n"),
        format!("[x][r]\n\n[r]: {marker}\n"),
        format!("[{marker}]\n\n[{marker}]: {marker}\n"),
        format!("https://{marker}\n"),
        format!("www.{marker}\n"),
        format!("a@{marker}\n"),
    ];
    for case in &cases {
        let out = outline(case, 0);
        assert!(out.code.is_empty(), "{case:?}: {:?}", out.code);
        for link in &out.links {
            assert!(
                !link.target.contains("redacted") && !link.text.contains("redacted:credential"),
                "{case:?}: {link:?}"
            );
        }
    }
    // Titles and snippets keep the marker verbatim.
    let out = outline(&format!("# A {marker} b\n\nx {marker} y\n"), 0);
    assert_eq!(out.sections[0].title, format!("A {marker} b"));
    assert_eq!(out.sections[0].snippet, format!("x {marker} y"));
    assert!(out.links.is_empty());
}

#[test]
fn snippet_is_capped_on_char_boundary() {
    let body = "é".repeat(500);
    let out = outline(&format!("# T\n\n{body}\n"), 0);
    assert_eq!(out.sections[0].snippet.chars().count(), 240);
    let out = outline(&format!("# T\n\n{}\n", "ab ".repeat(200)), 0);
    assert!(out.sections[0].snippet.chars().count() <= 240);
    assert!(!out.sections[0].snippet.ends_with(' '));
}

#[test]
fn snippet_is_own_body_only() {
    let out = outline("# A\n\nown text\n\n## B\n\nchild text\n", 0);
    assert_eq!(out.sections[0].snippet, "own text");
    assert_eq!(out.sections[1].snippet, "child text");
}

#[test]
fn code_mentions_in_headings_and_fences() {
    let out = outline(
        "# Use `serde` now\n\n```rust,ignore\nlet x = `y`;\n```\n",
        0,
    );
    assert_eq!(out.sections[0].title, "Use serde now");
    let code: Vec<(&str, CodeOrigin, u32, Option<u32>)> = out
        .code
        .iter()
        .map(|c| (c.text.as_str(), c.origin, c.line, c.section))
        .collect();
    assert_eq!(
        code,
        vec![
            ("serde", CodeOrigin::Inline, 1, Some(0)),
            ("rust", CodeOrigin::FenceInfo, 3, Some(0)),
        ]
    );
}

#[test]
fn lone_carriage_returns_are_line_endings() {
    let text = "a\rb\r\n# H\rc\n";
    let out = outline(text, 0);
    assert_eq!(out.sections[0].line_start, 3);
    assert_eq!(out.sections[0].line_end, 4);
    let out = outline(text, 2);
    assert_eq!(out.sections[0].line_start, 3);
}

#[test]
fn link_forms_in_containers() {
    let text = "> - [a](a.md) [b][] <https://c.org> https://d.org [[E]]\n>\t[f](f.md)\n\n| [g](g.md) | [h] |\n|---|---|\n| x \\| y [i](i.md) | z |\n\n[b]: b.md\n[h]: h.md\n";
    let out = outline(text, 0);
    let forms: Vec<(&str, LinkForm, u32)> = out
        .links
        .iter()
        .map(|l| (l.target.as_str(), l.form, l.line))
        .collect();
    assert_eq!(
        forms,
        vec![
            ("a.md", LinkForm::Inline, 1),
            ("b.md", LinkForm::Reference, 1),
            ("https://c.org", LinkForm::Autolink, 1),
            ("https://d.org", LinkForm::BareUrl, 1),
            ("E", LinkForm::Wiki, 1),
            ("f.md", LinkForm::Inline, 2),
            ("g.md", LinkForm::Inline, 4),
            ("h.md", LinkForm::Reference, 4),
            ("i.md", LinkForm::Inline, 6),
        ]
    );
}
