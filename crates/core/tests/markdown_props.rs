//! Property tests: `outline` and the link functions never panic and keep
//! their invariants on arbitrary input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use auditgraph_core::extract::links::{DocKey, Resolver, classify};
use auditgraph_core::extract::markdown::{Outline, SNIPPET_MAX_CHARS, outline};
use proptest::prelude::*;

/// Markdown-ish input: random sequences of syntax fragments and text.
fn markdownish() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "# ",
        "## ",
        "###### ",
        "####### ",
        "#",
        "\n",
        "\n\n",
        "\r",
        "\r\n",
        " ",
        "  ",
        "\t",
        "    ",
        "> ",
        "- ",
        "* ",
        "1. ",
        "[",
        "]",
        "(",
        ")",
        "<",
        ">",
        "`",
        "``",
        "```",
        "~~~",
        "```rust,ignore\n",
        "*",
        "_",
        "**",
        "~~",
        "|",
        "|---|",
        "---",
        "===",
        "[[",
        "]]",
        "|",
        "!",
        "![",
        "#x",
        "[^1]",
        "[^1]: ",
        "[r]: ",
        ": ",
        "\\",
        "&amp;",
        "&#0;",
        "\0",
        "text",
        "a",
        "é",
        "漢字",
        "🚀",
        "\u{301}",
        "https://x.org/p",
        "www.ex.com",
        "me@ex.org",
        "mailto:a@b",
        "<https://a.b>",
        "<<redacted:credential:0123456789ab>>",
        "<redacted:x:y>",
        "<div>",
        "</div>",
        "<!--",
        "-->",
        "{.py}",
        "[a](b.md)",
        "[a][r]",
        "[[P#H|al]]",
        "![[e.png]]",
    ]);
    prop::collection::vec(pieces, 0..80).prop_map(|v| v.concat())
}

fn check_invariants(text: &str, body_start: usize, out: &Outline) {
    let Some(prefix) = text.get(..body_start) else {
        assert_eq!(out, &Outline::default());
        return;
    };
    let first_line = 1 + prefix.matches('\n').count() as u32;
    let max_line = (text.matches(['\n', '\r']).count() as u32 + 1).max(first_line);
    let n = out.sections.len() as u32;
    let mut prev_start = 0;
    for (i, s) in out.sections.iter().enumerate() {
        assert_eq!(s.order, i as u32);
        assert!((1..=6).contains(&s.level));
        if let Some(p) = s.parent {
            assert!(p < s.order);
            assert!(out.sections[p as usize].level < s.level);
        }
        assert!(s.line_start >= prev_start && s.line_start >= first_line);
        prev_start = s.line_start;
        assert!(s.line_start <= s.heading_line_end);
        assert!(s.heading_line_end <= s.line_end, "{s:?}");
        assert!(s.line_end <= max_line, "{s:?} > {max_line}");
        assert!(!s.slug.is_empty());
        assert!(s.snippet.chars().count() <= SNIPPET_MAX_CHARS);
        assert_eq!(s.title.trim(), s.title);
    }
    for c in &out.code {
        assert!(!c.text.is_empty() && c.text.trim() == c.text);
        assert!(c.line >= first_line && c.line <= max_line);
        assert!(c.section.is_none_or(|s| s < n));
    }
    for l in &out.links {
        assert!(l.line >= first_line && l.line <= max_line);
        assert!(l.section.is_none_or(|s| s < n));
        assert!(!l.target.to_ascii_lowercase().starts_with("redacted:"));
    }
}

proptest! {
    // PROPTEST_CASES=100000 for a longer run
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2000)
    ))]

    #[test]
    fn outline_never_panics_on_any_string(text in any::<String>(), at in any::<usize>()) {
        let body_start = if text.is_empty() { at % 2 } else { at % (text.len() + 2) };
        let out = outline(&text, body_start);
        check_invariants(&text, body_start, &out);
    }

    #[test]
    fn outline_never_panics_on_markdownish(text in markdownish(), at in any::<usize>()) {
        let body_start = at % (text.len() + 1);
        let out = outline(&text, body_start);
        check_invariants(&text, body_start, &out);
        if !text.is_char_boundary(body_start) {
            prop_assert_eq!(&out, &Outline::default());
        }
        // Deterministic.
        prop_assert_eq!(&out, &outline(&text, body_start));

        let docs = vec![
            DocKey { path: "a/b.md".into(), title: "P".into(), aliases: vec!["al".into()] },
            DocKey { path: "x.md".into(), title: String::new(), aliases: vec![] },
        ];
        let resolver = Resolver::new(&docs);
        for link in &out.links {
            let _ = classify("a/src.md", link);
            let _ = resolver.resolve("a/src.md", link);
        }
    }

    #[test]
    fn links_never_panic(target in any::<String>(), source in "[a-z./]{0,12}", wiki in any::<bool>()) {
        use auditgraph_core::extract::markdown::{LinkForm, LinkMention};
        let link = LinkMention {
            form: if wiki { LinkForm::Wiki } else { LinkForm::Inline },
            target: target.clone(),
            fragment: None,
            text: target,
            line: 1,
            section: None,
        };
        let docs = vec![DocKey { path: "a.md".into(), title: "A".into(), aliases: vec![] }];
        let _ = classify(&source, &link);
        let _ = Resolver::new(&docs).resolve(&source, &link);
    }
}

#[test]
fn deep_nesting_does_not_overflow_a_small_stack() {
    let cases = [
        ">".repeat(50_000),
        "[".repeat(50_000),
        "![".repeat(20_000) + &"](x)".repeat(20_000),
        (0..1_000)
            .map(|i| format!("{}- a\n", "  ".repeat(i)))
            .collect(),
        "*a ".repeat(20_000) + &"a* ".repeat(20_000),
        "[[".repeat(50_000),
        "<".repeat(50_000),
    ];
    for case in cases {
        let handle = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || outline(&case, 0).sections.len())
            .unwrap();
        handle.join().unwrap();
    }
}
