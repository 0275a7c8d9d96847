//! Build and query a BM25 index over a synthetic corpus: 8,000 chunk-like
//! documents of ~200 tokens drawn from a Zipf-like vocabulary of 20,000
//! words, and 60,000 entity-like names of 1-4 words.
//!
//! ```sh
//! cargo bench -p auditgraph-core --bench bm25
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code may panic

use std::hint::black_box;

use auditgraph_core::index::{Bm25Builder, Bm25Index, Bm25Params, tokenize};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A word index skewed towards small values (roughly Zipf-like).
    fn zipf(&mut self, vocab: u64) -> u64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((vocab as f64).powf(u) as u64).saturating_sub(1) % vocab
    }
}

fn word(i: u64) -> String {
    // Distinct, pronounceable-ish words of varying length.
    const SYL: [&str; 16] = [
        "ka", "ro", "mi", "te", "su", "na", "lo", "pe", "di", "gu", "ha", "ve", "zo", "ri", "bu",
        "xe",
    ];
    let mut s = String::new();
    let mut n = i + 1;
    while n > 0 {
        s.push_str(SYL[(n % 16) as usize]);
        n /= 16;
    }
    s
}

fn chunks(n: usize) -> Vec<String> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|_| {
            let len = 150 + rng.next() % 100;
            (0..len)
                .map(|_| word(rng.zipf(20_000)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn names(n: usize) -> Vec<String> {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    (0..n)
        .map(|_| {
            let len = 1 + rng.next() % 4;
            (0..len)
                .map(|_| word(rng.zipf(20_000)))
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

fn build(docs: &[String]) -> Vec<u8> {
    let mut b = Bm25Builder::new(Bm25Params::default());
    for (i, d) in docs.iter().enumerate() {
        b.add(i as u32, d);
    }
    b.build()
}

fn bench(c: &mut Criterion) {
    let chunk_docs = chunks(8_000);
    let name_docs = names(60_000);
    let chunk_index = build(&chunk_docs);
    let name_index = build(&name_docs);
    eprintln!(
        "chunks index: {} bytes; names index: {} bytes",
        chunk_index.len(),
        name_index.len()
    );

    let mut g = c.benchmark_group("build");
    g.sample_size(10);
    g.bench_function("chunks_8000", |b| b.iter(|| build(black_box(&chunk_docs))));
    g.bench_function("names_60000", |b| b.iter(|| build(black_box(&name_docs))));
    g.finish();

    let mut g = c.benchmark_group("open_search");
    // A rare, a mid-frequency and a very common word, and a 3-word query.
    let queries = [
        ("rare", word(15_000)),
        ("mid", word(300)),
        ("common", word(1)),
        ("three", format!("{} {} {}", word(2), word(40), word(900))),
    ];
    for (label, bytes) in [("chunks", &chunk_index), ("names", &name_index)] {
        for (q, text) in &queries {
            let terms = tokenize(text);
            g.bench_function(format!("{label}_{q}"), |b| {
                b.iter(|| {
                    let idx = Bm25Index::open(black_box(bytes)).unwrap();
                    idx.search(&terms, false).unwrap().len()
                })
            });
        }
        g.bench_function(format!("{label}_open"), |b| {
            b.iter(|| Bm25Index::open(black_box(bytes)).unwrap().term_count())
        });
    }
    g.bench_function("chunks_require_all_three", |b| {
        let terms = tokenize(&queries[3].1);
        b.iter_batched(
            || Bm25Index::open(&chunk_index).unwrap(),
            |idx| idx.search(&terms, true).unwrap().len(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
