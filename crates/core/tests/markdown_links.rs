//! Link classification and resolution.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use auditgraph_core::extract::links::{DocKey, Resolution, Resolver, TargetClass, classify};
use auditgraph_core::extract::markdown::{LinkForm, LinkMention, outline};

fn link(form: LinkForm, target: &str, fragment: Option<&str>) -> LinkMention {
    LinkMention {
        form,
        target: target.to_string(),
        fragment: fragment.map(str::to_string),
        text: target.to_string(),
        line: 1,
        section: None,
    }
}

fn href(target: &str) -> LinkMention {
    let fragment = target
        .split_once('#')
        .map(|(_, f)| f)
        .filter(|f| !f.is_empty());
    link(LinkForm::Inline, target, fragment)
}

fn local(path: &str, fragment: Option<&str>) -> TargetClass {
    TargetClass::Local {
        path: path.to_string(),
        fragment: fragment.map(str::to_string),
    }
}

fn external(scheme: &str) -> TargetClass {
    TargetClass::External {
        scheme: scheme.to_string(),
    }
}

fn unresolved(reason: &'static str) -> TargetClass {
    TargetClass::Unresolved { reason }
}

#[test]
fn classification() {
    let src = "notes/a/b.md";
    let cases: Vec<(&str, TargetClass)> = vec![
        ("", unresolved("empty_target")),
        ("   ", unresolved("empty_target")),
        ("https://x.org/a#b", external("https")),
        ("HTTP://X.ORG", external("http")),
        ("ftp://x.org", external("ftp")),
        ("ftps://x.org", external("ftps")),
        ("mailto:me@x.org", external("mailto")),
        ("www.x.org/page", external("http")),
        ("//cdn.x.org/lib.js", external("")),
        ("javascript:alert(1)", unresolved("unsupported_scheme")),
        ("file:///etc/passwd", unresolved("unsupported_scheme")),
        ("redacted:credential:0123", unresolved("unsupported_scheme")),
        ("#intro", local("notes/a/b.md", Some("intro"))),
        ("#", local("notes/a/b.md", None)),
        ("?q=1", local("notes/a/b.md", None)),
        ("c.md", local("notes/a/c.md", None)),
        ("./c.md#sec", local("notes/a/c.md", Some("sec"))),
        ("../c.md?x=1#y", local("notes/c.md", Some("y"))),
        ("../../c.md", local("c.md", None)),
        ("../../../c.md", unresolved("outside_root")),
        ("/docs/x.md", local("docs/x.md", None)),
        ("/../x.md", unresolved("outside_root")),
        (
            "sub%20dir/My%20Note.md",
            local("notes/a/sub dir/My Note.md", None),
        ),
        ("bad%ff.md", local("notes/a/bad%ff.md", None)),
        ("sub/", local("notes/a/sub/", None)),
        (".", local("notes/a/", None)),
        ("..", local("notes/", None)),
        ("/", local("", None)),
        ("../..", local("", None)),
        ("C:\\notes\\x.md", local("notes/a/C:\\notes\\x.md", None)),
    ];
    for (target, expected) in cases {
        assert_eq!(classify(src, &href(target)), expected, "target {target:?}");
    }
    // Source at the root.
    assert_eq!(classify("top.md", &href("x.md")), local("x.md", None));
    assert_eq!(
        classify("top.md", &href("../x.md")),
        unresolved("outside_root")
    );
}

fn docs() -> Vec<DocKey> {
    let doc = |path: &str, title: &str, aliases: &[&str]| DocKey {
        path: path.to_string(),
        title: title.to_string(),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
    };
    vec![
        doc("README.md", "Home", &[]),
        doc("src/ch01-00-intro.md", "Introduction", &[]),
        doc("src/index.md", "", &[]),
        doc("guide/README.md", "Guide", &[]),
        doc(
            "guide/setup.markdown",
            "Setup",
            &["install", "Getting  Started"],
        ),
        doc("notes/Meeting Notes.md", "Weekly sync", &[]),
        doc("archive/notes/Meeting Notes.md", "Old sync", &[]),
        doc("zeta/Dup.md", "", &[]),
        doc("alfa/Dup.md", "", &[]),
        doc("log.txt", "", &[]),
        doc("b/page.md", "Shared Title", &[]),
        doc("a/page2.md", "Shared Title", &[]),
    ]
}

fn internal(path: &str, fragment: Option<&str>) -> Resolution {
    Resolution::Internal {
        path: path.to_string(),
        fragment: fragment.map(str::to_string),
    }
}

#[test]
fn resolution_of_paths() {
    let r = Resolver::new(&docs());
    let src = "src/ch02.md";
    let cases: Vec<(&str, Resolution, &str)> = vec![
        (
            "ch01-00-intro.md",
            internal("src/ch01-00-intro.md", None),
            "exact_path",
        ),
        (
            "ch01-00-intro.html#x",
            internal("src/ch01-00-intro.md", Some("x")),
            "html_source",
        ),
        (
            "ch01-00-intro",
            internal("src/ch01-00-intro.md", None),
            "append_extension",
        ),
        ("index.html", internal("src/index.md", None), "html_source"),
        (
            "../guide/index.html",
            internal("guide/README.md", None),
            "html_source",
        ),
        (
            "../guide/setup.html",
            internal("guide/setup.markdown", None),
            "html_source",
        ),
        (
            "../guide/setup",
            internal("guide/setup.markdown", None),
            "append_extension",
        ),
        (
            "../guide/",
            internal("guide/README.md", None),
            "directory_index",
        ),
        (
            "../guide",
            internal("guide/README.md", None),
            "directory_index",
        ),
        ("/", internal("README.md", None), "directory_index"),
        ("..", internal("README.md", None), "directory_index"),
        (".", internal("src/index.md", None), "directory_index"),
        ("/log.txt", internal("log.txt", None), "exact_path"),
        (
            "#top",
            internal("src/ch02.md", Some("top")),
            "same_document",
        ),
        (
            "https://x.org",
            Resolution::External {
                scheme: "https".into(),
            },
            "external_scheme",
        ),
        (
            "missing.md",
            Resolution::Unresolved {
                reason: "not_found",
            },
            "unresolved",
        ),
        (
            "missing.html",
            Resolution::Unresolved {
                reason: "not_found",
            },
            "unresolved",
        ),
        (
            "../log.html",
            Resolution::Unresolved {
                reason: "not_found",
            },
            "unresolved",
        ),
        (
            "img.png",
            Resolution::Unresolved {
                reason: "not_found",
            },
            "unresolved",
        ),
        (
            "../../x.md",
            Resolution::Unresolved {
                reason: "outside_root",
            },
            "unresolved",
        ),
        (
            "",
            Resolution::Unresolved {
                reason: "empty_target",
            },
            "unresolved",
        ),
        (
            "ftp2://x",
            Resolution::Unresolved {
                reason: "unsupported_scheme",
            },
            "unresolved",
        ),
    ];
    for (target, expected, rule) in cases {
        let got = r.resolve_explained(src, &href(target));
        assert_eq!(got, (expected, rule), "target {target:?}");
        assert_eq!(r.resolve(src, &href(target)), got.0);
    }
}

#[test]
fn resolution_of_wikilinks() {
    let r = Resolver::new(&docs());
    let src = "notes/today.md";
    let wiki = |t: &str, f: Option<&str>| link(LinkForm::Wiki, t, f);
    let cases: Vec<(LinkMention, Resolution, &str)> = vec![
        (
            wiki("guide/README.md", None),
            internal("guide/README.md", None),
            "wiki_path",
        ),
        (
            wiki("guide/README", Some("h")),
            internal("guide/README.md", Some("h")),
            "wiki_path",
        ),
        (
            wiki("./Meeting Notes", None),
            internal("notes/Meeting Notes.md", None),
            "wiki_path",
        ),
        (
            wiki("Meeting Notes", None),
            internal("notes/Meeting Notes.md", None),
            "wiki_path",
        ),
        (
            wiki("../README", None),
            internal("README.md", None),
            "wiki_path",
        ),
        (
            wiki("meeting  notes", None),
            internal("notes/Meeting Notes.md", None),
            "wiki_stem",
        ),
        (
            wiki("notes/meeting notes.md", None),
            internal("notes/Meeting Notes.md", None),
            "wiki_stem",
        ),
        (
            wiki("archive/notes/Meeting Notes", None),
            internal("archive/notes/Meeting Notes.md", None),
            "wiki_path",
        ),
        (
            wiki("ARCHIVE/notes/meeting notes", None),
            internal("archive/notes/Meeting Notes.md", None),
            "wiki_stem",
        ),
        (
            wiki("ch01-00-INTRO", None),
            internal("src/ch01-00-intro.md", None),
            "wiki_stem",
        ),
        (
            wiki("dup", None),
            internal("alfa/Dup.md", None),
            "wiki_stem",
        ),
        (
            wiki("setup", None),
            internal("guide/setup.markdown", None),
            "wiki_stem",
        ),
        (
            wiki("introduction", Some("Part")),
            internal("src/ch01-00-intro.md", Some("Part")),
            "wiki_title",
        ),
        (
            wiki("weekly SYNC", None),
            internal("notes/Meeting Notes.md", None),
            "wiki_title",
        ),
        (
            wiki("shared title", None),
            internal("b/page.md", None),
            "wiki_title",
        ), // shortest path beats lexicographic order
        (
            wiki("Install", None),
            internal("guide/setup.markdown", None),
            "wiki_alias",
        ),
        (
            wiki("getting started", None),
            internal("guide/setup.markdown", None),
            "wiki_alias",
        ),
        (
            wiki("", Some("Heading")),
            internal("notes/today.md", Some("Heading")),
            "same_document",
        ),
        (
            wiki("https://x.org/p", None),
            Resolution::External {
                scheme: "https".into(),
            },
            "external_scheme",
        ),
        (
            wiki("Nowhere", None),
            Resolution::Unresolved {
                reason: "not_found",
            },
            "unresolved",
        ),
        (
            wiki("", None),
            Resolution::Unresolved {
                reason: "empty_target",
            },
            "unresolved",
        ),
    ];
    for (l, expected, rule) in cases {
        assert_eq!(r.resolve_explained(src, &l), (expected, rule), "{l:?}");
    }
}

#[test]
fn resolver_is_independent_of_document_order() {
    let mut reversed = docs();
    reversed.reverse();
    let a = Resolver::new(&docs());
    let b = Resolver::new(&reversed);
    for t in ["dup", "shared title", "Meeting Notes", "setup", "install"] {
        let l = link(LinkForm::Wiki, t, None);
        assert_eq!(a.resolve("x.md", &l), b.resolve("x.md", &l), "{t}");
    }
}

#[test]
fn outline_links_resolve_end_to_end() {
    let text =
        "# T\n\nSee [intro](ch01-00-intro.html#start), [[Install]], <https://x.org>, [self](#t).\n";
    let r = Resolver::new(&docs());
    let out = outline(text, 0);
    let got: Vec<Resolution> = out
        .links
        .iter()
        .map(|l| r.resolve("src/ch02.md", l))
        .collect();
    assert_eq!(
        got,
        vec![
            internal("src/ch01-00-intro.md", Some("start")),
            internal("guide/setup.markdown", None),
            Resolution::External {
                scheme: "https".into()
            },
            internal("src/ch02.md", Some("t")),
        ]
    );
}
