//! Throughput of the text steps of ingest that run on every byte:
//! normalization (NFC, LF) and chunking into token windows.
//!
//! `cargo bench -p auditgraph-core --bench text`
//!
//! Runs on the chapters of the shared rust-book corpus, one call per file as
//! ingest does (`AUDITGRAPH_CORPORA` overrides `/work/shared/corpora`), or
//! on synthetic prose when the corpus is absent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::PathBuf;

use auditgraph_core::ingest::text;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn documents() -> Vec<String> {
    let root = std::env::var_os("AUDITGRAPH_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/corpora"));
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join("rust-book/src"))
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|e| e == "md"));
    paths.sort();
    let docs: Vec<String> = paths
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    if !docs.is_empty() {
        return docs;
    }
    eprintln!("note: rust-book corpus not found; using synthetic prose");
    let para = "The borrow checker compares scopes to determine whether all borrows are valid.\n\
                Ownership rules: each value has an owner; there can only be one owner at a time.\n\n";
    (0..100).map(|_| para.repeat(120)).collect()
}

fn bench(c: &mut Criterion) {
    let docs = documents();
    let bytes: usize = docs.iter().map(String::len).sum();
    let mut group = c.benchmark_group("text");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("normalize", |b| {
        b.iter(|| {
            docs.iter()
                .map(|d| text::normalize(black_box(d.clone())).len())
                .sum::<usize>()
        })
    });
    group.bench_function("chunk_200_40", |b| {
        b.iter(|| {
            docs.iter()
                .map(|d| text::chunk(black_box(d), 0, 200, 40).len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
