//! Builds BM25 indexes over the real tldr-en corpus in `../shared/corpora`
//! (or `$AUDITGRAPH_CORPORA`) and prints build time, size and open + search
//! times. Skips itself, with a note, when the corpus is absent. Times are
//! printed, not asserted. For release-mode figures:
//!
//! ```sh
//! cargo test --release -p auditgraph-core --test index_corpus -- --nocapture
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use auditgraph_core::index::bm25::HEADER_LEN;
use auditgraph_core::index::{Bm25Builder, Bm25Index, Bm25Params, tokenize};

fn corpus_dir() -> PathBuf {
    match std::env::var_os("AUDITGRAPH_CORPORA") {
        Some(dir) => PathBuf::from(dir).join("tldr-en"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/tldr-en"),
    }
}

/// All `.md` files under `root`, as (posix path relative to root, text), sorted by path.
fn markdown_files(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                let rel: Vec<String> = path
                    .strip_prefix(root)
                    .unwrap()
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push((rel.join("/"), fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Short entity-like names: every distinct inline code span and heading,
/// a stand-in for the ~60,000 entity names and aliases of a real run.
fn entity_names(pages: &[(String, String)]) -> Vec<String> {
    let mut names = Vec::new();
    for (_, text) in pages {
        for line in text.lines() {
            if let Some(h) = line.strip_prefix("# ") {
                names.push(h.trim().to_owned());
            }
            let mut parts = line.split('`');
            parts.next();
            while let (Some(code), Some(_)) = (parts.next(), parts.next()) {
                names.push(code.to_owned());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

struct Figures {
    build: Duration,
    bytes: Vec<u8>,
}

fn build(docs: impl IntoIterator<Item = (u32, impl AsRef<str>)>) -> Figures {
    let start = Instant::now();
    let mut b = Bm25Builder::new(Bm25Params::default());
    for (doc, text) in docs {
        b.add(doc, text.as_ref());
    }
    let bytes = b.build();
    Figures {
        build: start.elapsed(),
        bytes,
    }
}

fn report(label: &str, docs: usize, f: &Figures) {
    let compressed = zstd::bulk::compress(&f.bytes, 3).unwrap();
    let idx = Bm25Index::open(&f.bytes).unwrap();
    println!(
        "{label}: {docs} docs, {} terms, {} tokens; build {:.1} ms; index {} bytes raw, {} bytes zstd-3",
        idx.term_count(),
        idx.total_tokens(),
        f.build.as_secs_f64() * 1e3,
        f.bytes.len(),
        compressed.len(),
    );
    // Section sizes from the header (see the format in `index/mod.rs`).
    let section = |at: usize| u64::from_le_bytes(f.bytes[at..at + 8].try_into().unwrap());
    println!(
        "{label}: sections: header {HEADER_LEN}, doc lengths {}, block index {}, dictionary {}, postings {}",
        section(56),
        section(64),
        section(72),
        section(80),
    );
}

/// Times `open` + `search` (best and median of 50), plus a cold path from a
/// file: read, zstd-decompress, open, search.
fn time_queries(label: &str, f: &Figures, queries: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.zst");
    fs::write(&path, zstd::bulk::compress(&f.bytes, 3).unwrap()).unwrap();
    for query in queries {
        let terms = tokenize(query);
        let mut times = Vec::new();
        let mut hits = 0;
        for _ in 0..50 {
            let start = Instant::now();
            let idx = Bm25Index::open(&f.bytes).unwrap();
            hits = idx.search(&terms, false).unwrap().len();
            times.push(start.elapsed());
        }
        times.sort();
        let start = Instant::now();
        let data = zstd::stream::decode_all(fs::File::open(&path).unwrap()).unwrap();
        let idx = Bm25Index::open(&data).unwrap();
        let cold_hits = idx.search(&terms, false).unwrap().len();
        let cold = start.elapsed();
        assert_eq!(cold_hits, hits);
        println!(
            "{label}: {query:?}: {hits} hits; open+search best {:.3} ms, median {:.3} ms; \
             read+unzstd+open+search {:.3} ms",
            times[0].as_secs_f64() * 1e3,
            times[times.len() / 2].as_secs_f64() * 1e3,
            cold.as_secs_f64() * 1e3,
        );
    }
}

#[test]
fn tldr_pages() {
    let root = corpus_dir();
    if !root.is_dir() {
        eprintln!("skipping: corpus {} not found", root.display());
        return;
    }
    let start = Instant::now();
    let mut pages = markdown_files(&root);
    pages.retain(|(path, _)| path.starts_with("pages/"));
    let bytes: usize = pages.iter().map(|(_, t)| t.len()).sum();
    println!(
        "tldr-en: {} files, {bytes} bytes, read in {:.1} ms",
        pages.len(),
        start.elapsed().as_secs_f64() * 1e3
    );

    // One document per page, doc id = position in path order.
    let pages_index = build(pages.iter().enumerate().map(|(i, (_, t))| (i as u32, t)));
    report("pages", pages.len(), &pages_index);
    time_queries(
        "pages",
        &pages_index,
        &["tar", "git commit", "docker run container"],
    );

    let idx = Bm25Index::open(&pages_index.bytes).unwrap();
    let t = Instant::now();
    idx.verify().unwrap();
    println!("pages: verify {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let hits = idx.search(&tokenize("tar"), false).unwrap();
    let path_of = |doc: u32| pages[doc as usize].0.as_str();
    let top: Vec<(&str, f32)> = hits
        .iter()
        .take(5)
        .map(|h| (path_of(h.doc), h.score))
        .collect();
    println!("pages: top 5 for \"tar\": {top:?}");
    assert_eq!(path_of(hits[0].doc), "pages/common/tar.md");
    for query in ["git commit", "docker run container"] {
        let hits = idx.search(&tokenize(query), false).unwrap();
        let top: Vec<(&str, f32)> = hits
            .iter()
            .take(3)
            .map(|h| (path_of(h.doc), h.score))
            .collect();
        println!("pages: top 3 for {query:?}: {top:?}");
    }

    // Determinism on real data: reversed insertion order, same bytes.
    let reversed = build(
        pages
            .iter()
            .enumerate()
            .rev()
            .map(|(i, (_, t))| (i as u32, t)),
    );
    assert_eq!(reversed.bytes, pages_index.bytes);

    // Entity-like short names.
    let names = entity_names(&pages);
    let names_index = build(names.iter().enumerate().map(|(i, n)| (i as u32, n)));
    report("names", names.len(), &names_index);
    time_queries(
        "names",
        &names_index,
        &["tar", "git commit", "docker run container"],
    );
}
