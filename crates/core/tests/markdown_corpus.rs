//! Runs `outline` and the `Resolver` over the real corpora in
//! `../shared/corpora` (or `$AUDITGRAPH_CORPORA`), printing totals, every
//! unresolved link and the throughput. Each test skips itself, with a note,
//! when its corpus is absent. For release-mode throughput:
//!
//! ```sh
//! cargo test --release -p auditgraph-core --test markdown_corpus -- --nocapture
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use auditgraph_core::extract::links::{DocKey, Resolution, Resolver, TargetClass, classify};
use auditgraph_core::extract::markdown::{LinkForm, Outline, outline};

fn corpora() -> PathBuf {
    match std::env::var_os("AUDITGRAPH_CORPORA") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora"),
    }
}

/// All `.md` files under `root`, as (posix path relative to root, text), sorted.
fn markdown_files(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                let rel = path.strip_prefix(root).unwrap();
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                let text = fs::read_to_string(&path).unwrap().replace("\r\n", "\n");
                out.push((rel.join("/"), text));
            }
        }
    }
    out.sort();
    out
}

fn body_start(text: &str) -> usize {
    let Some(rest) = text.strip_prefix("---\n") else {
        return 0;
    };
    let mut offset = 4;
    for line in rest.split_inclusive('\n') {
        offset += line.len();
        if line.trim_end() == "---" {
            return offset;
        }
    }
    0
}

struct Run {
    files: Vec<(String, String)>,
    outlines: Vec<Outline>,
    seconds: f64,
}

impl Run {
    fn new(root: &Path) -> Run {
        let files = markdown_files(root);
        let start = Instant::now();
        let outlines: Vec<Outline> = files
            .iter()
            .map(|(_, text)| outline(text, body_start(text)))
            .collect();
        let seconds = start.elapsed().as_secs_f64();
        Run {
            files,
            outlines,
            seconds,
        }
    }

    fn bytes(&self) -> usize {
        self.files.iter().map(|(_, t)| t.len()).sum()
    }

    fn resolver(&self) -> Resolver {
        let docs: Vec<DocKey> = self
            .files
            .iter()
            .zip(&self.outlines)
            .map(|((path, _), o)| DocKey {
                path: path.clone(),
                title: o.first_h1.clone().unwrap_or_default(),
                aliases: Vec::new(),
            })
            .collect();
        Resolver::new(&docs)
    }

    fn print_totals(&self, name: &str) {
        let sections: usize = self.outlines.iter().map(|o| o.sections.len()).sum();
        let code: usize = self.outlines.iter().map(|o| o.code.len()).sum();
        let links: usize = self.outlines.iter().map(|o| o.links.len()).sum();
        let mut forms: BTreeMap<String, usize> = BTreeMap::new();
        for l in self.outlines.iter().flat_map(|o| &o.links) {
            *forms.entry(format!("{:?}", l.form)).or_default() += 1;
        }
        let mb = self.bytes() as f64 / 1e6;
        println!(
            "{name}: {} files, {mb:.2} MB, {sections} sections, {code} code mentions, {links} links {forms:?}",
            self.files.len()
        );
        println!(
            "{name}: outline took {:.3} s = {:.1} MB/s ({} build)",
            self.seconds,
            mb / self.seconds.max(1e-9),
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
        );
    }
}

#[derive(Default)]
struct Counts {
    internal: usize,
    external: usize,
    unresolved: Vec<(String, u32, String, &'static str)>,
    rules: BTreeMap<&'static str, usize>,
}

fn resolve_all(run: &Run) -> Counts {
    let resolver = run.resolver();
    let mut counts = Counts::default();
    for ((path, _), o) in run.files.iter().zip(&run.outlines) {
        for link in &o.links {
            let (resolution, rule) = resolver.resolve_explained(path, link);
            *counts.rules.entry(rule).or_default() += 1;
            match resolution {
                Resolution::Internal { .. } => counts.internal += 1,
                Resolution::External { .. } => counts.external += 1,
                Resolution::Unresolved { reason } => {
                    counts
                        .unresolved
                        .push((path.clone(), link.line, link.target.clone(), reason));
                }
            }
        }
    }
    counts
}

#[test]
fn rust_book_cross_chapter_links_resolve() {
    let root = corpora().join("rust-book");
    if !root.is_dir() {
        println!("SKIPPED: corpus {} not found", root.display());
        return;
    }
    let run = Run::new(&root);
    run.print_totals("rust-book");
    let counts = resolve_all(&run);
    println!(
        "rust-book: internal {}, external {}, unresolved {}; by rule {:?}",
        counts.internal,
        counts.external,
        counts.unresolved.len(),
        counts.rules
    );
    for (path, line, target, reason) in &counts.unresolved {
        println!("  unresolved {path}:{line} {target:?} ({reason})");
    }
    assert!(counts.internal > 0);

    // No link to the rendered page of an existing chapter stays unresolved.
    let sources: std::collections::BTreeSet<&str> =
        run.files.iter().map(|(p, _)| p.as_str()).collect();
    let mut html_links = 0;
    for ((path, _), o) in run.files.iter().zip(&run.outlines) {
        for link in o.links.iter().filter(|l| l.form != LinkForm::Wiki) {
            if let TargetClass::Local { path: target, .. } = classify(path, link)
                && let Some(stem) = target.strip_suffix(".html")
                && sources.contains(format!("{stem}.md").as_str())
            {
                html_links += 1;
                assert!(
                    counts
                        .unresolved
                        .iter()
                        .all(|u| &u.0 != path || u.1 != link.line || u.2 != link.target),
                    "{path}:{} {:?} left unresolved",
                    link.line,
                    link.target
                );
            }
        }
    }
    println!("rust-book: {html_links} links to chapter .html pages, all internal");
    assert!(html_links > 0);
}

#[test]
fn tldr_totals_and_throughput() {
    let root = corpora().join("tldr-en");
    if !root.is_dir() {
        println!("SKIPPED: corpus {} not found", root.display());
        return;
    }
    let run = Run::new(&root);
    run.print_totals("tldr-en");
    let counts = resolve_all(&run);
    println!(
        "tldr-en: internal {}, external {}, unresolved {}; by rule {:?}",
        counts.internal,
        counts.external,
        counts.unresolved.len(),
        counts.rules
    );
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for u in &counts.unresolved {
        *reasons.entry(u.3).or_default() += 1;
    }
    println!("tldr-en: unresolved by reason {reasons:?}");
    for (path, line, target, reason) in counts.unresolved.iter().take(20) {
        println!("  unresolved {path}:{line} {target:?} ({reason})");
    }
    // Every tldr page is one `# command` heading followed by its examples.
    for ((path, _), o) in run.files.iter().zip(&run.outlines) {
        if path.starts_with("pages/") {
            assert_eq!(o.sections.len(), 1, "{path}");
            assert_eq!(o.sections[0].level, 1, "{path}");
        }
    }
}
