//! Property tests of the tokenizer and the BM25 index: round trips against a
//! straightforward model, order independence, and robustness of `open` and
//! of every read on random, truncated and bit-flipped data.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::collections::{BTreeMap, BTreeSet};

use auditgraph_core::index::{Bm25Builder, Bm25Index, Bm25Params, for_each_token, tokenize};
use proptest::prelude::*;

/// Texts over a small vocabulary (so terms repeat across documents) with
/// mixed case, punctuation and some non-ASCII words.
fn text() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec![
        "alpha",
        "Beta",
        "gamma",
        "DELTA",
        "a",
        "b",
        "x1",
        "2024",
        "café",
        "Straße",
        "数据",
        "привет",
        "ΣΟΦΙΑ",
        "snake_case",
        "kebab-case",
        "dotted.name",
        "",
    ]);
    let sep = prop::sample::select(vec![" ", "  ", ", ", "\n", "-", "/", "!? "]);
    prop::collection::vec((word, sep), 0..12).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(w, s)| format!("{w}{s}"))
            .collect::<String>()
    })
}

fn corpus() -> impl Strategy<Value = Vec<(u32, String)>> {
    prop::collection::vec((0u32..40, text()), 0..40)
}

fn build(docs: &[(u32, String)]) -> Vec<u8> {
    let mut b = Bm25Builder::new(Bm25Params::default());
    for (d, t) in docs {
        b.add(*d, t);
    }
    b.build()
}

/// term -> doc -> tf, and doc -> length, computed naively.
type Model = (BTreeMap<String, BTreeMap<u32, u32>>, BTreeMap<u32, u32>);

fn model(docs: &[(u32, String)]) -> Model {
    let mut terms: BTreeMap<String, BTreeMap<u32, u32>> = BTreeMap::new();
    let mut lens: BTreeMap<u32, u32> = BTreeMap::new();
    for (d, t) in docs {
        let toks = tokenize(t);
        *lens.entry(*d).or_default() += toks.len() as u32;
        for tok in toks {
            *terms.entry(tok).or_default().entry(*d).or_default() += 1;
        }
    }
    (terms, lens)
}

/// BM25 computed in f64 from the model.
fn model_score(m: &Model, term: &str, doc: u32) -> f64 {
    let (terms, lens) = m;
    let n = lens.len() as f64;
    let avgdl = lens.values().map(|&l| f64::from(l)).sum::<f64>() / n;
    let postings = &terms[term];
    let df = postings.len() as f64;
    let tf = f64::from(postings[&doc]);
    let dl = f64::from(lens[&doc]);
    let (k1, b) = (1.2, 0.75);
    let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
    idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * dl / avgdl))
}

/// Runs every read operation; none may panic, whatever the bytes.
fn exercise(bytes: &[u8]) {
    if let Ok(idx) = Bm25Index::open(bytes) {
        let _ = idx.doc_count();
        let _ = idx.term_count();
        let consistent = idx.verify().is_ok();
        let terms = idx.terms();
        if consistent {
            assert!(terms.is_ok(), "verify passed but terms() failed");
        }
        let mut queries: Vec<Vec<String>> = vec![
            vec!["alpha".into()],
            vec!["beta".into(), "alpha".into(), "zzz".into()],
            vec!["".into(), "数据".into()],
        ];
        if let Ok(terms) = &terms {
            queries.extend(terms.iter().take(5).map(|(t, _)| vec![t.clone()]));
            queries.push(terms.iter().take(3).map(|(t, _)| t.clone()).collect());
        }
        for query in &queries {
            for all in [false, true] {
                let r = idx.search(query, all);
                if consistent {
                    assert!(r.is_ok(), "verify passed but search failed: {r:?}");
                }
                if let Ok(hits) = r {
                    assert!(hits.iter().all(|h| !h.score.is_nan()));
                }
            }
            for t in query {
                let _ = idx.doc_frequency(t);
            }
        }
        for doc in [0, 1, 39, u32::MAX] {
            let _ = idx.doc_len(doc);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tokenizer_matches_its_definition(
        s in "\\PC{0,40}|[a-zA-Z0-9_. -]{0,40}|[ΣσςΟοİıIiAaÄäßẞǅǆ数据Ⅻ _.\u{301}-]{0,30}"
    ) {
        let expected: Vec<String> = s
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
            .map(str::to_lowercase)
            .collect();
        prop_assert_eq!(tokenize(&s), expected);
        let mut spans = Vec::new();
        for_each_token(&s, |_, start, end| spans.push((start, end)));
        for (start, end) in spans {
            prop_assert!(start < end);
            prop_assert!(s[start..end].chars().all(char::is_alphanumeric));
            let before = s[..start].chars().next_back();
            let after = s[end..].chars().next();
            prop_assert!(!before.is_some_and(char::is_alphanumeric));
            prop_assert!(!after.is_some_and(char::is_alphanumeric));
        }
    }

    #[test]
    fn round_trip_against_model(docs in corpus()) {
        let bytes = build(&docs);
        let idx = Bm25Index::open(&bytes).unwrap();
        idx.verify().unwrap();
        let m = model(&docs);
        let (terms, lens) = &m;
        prop_assert_eq!(idx.doc_count() as usize, lens.len());
        prop_assert_eq!(idx.term_count() as usize, terms.len());
        let listed: Vec<(String, u32)> = terms
            .iter()
            .map(|(t, p)| (t.clone(), p.len() as u32))
            .collect();
        prop_assert_eq!(idx.terms().unwrap(), listed);
        for (doc, len) in lens {
            prop_assert_eq!(idx.doc_len(*doc), Some(*len));
        }
        for (term, postings) in terms {
            prop_assert_eq!(idx.doc_frequency(term).unwrap() as usize, postings.len());
            let hits = idx.search(std::slice::from_ref(term), false).unwrap();
            let docs: BTreeSet<u32> = hits.iter().map(|h| h.doc).collect();
            prop_assert_eq!(docs, postings.keys().copied().collect::<BTreeSet<_>>());
            for h in &hits {
                let expected = model_score(&m, term, h.doc);
                prop_assert!((f64::from(h.score) - expected).abs() < 1e-4 * expected.max(1.0),
                    "{} in doc {}: {} vs {}", term, h.doc, h.score, expected);
            }
            prop_assert!(hits.windows(2).all(|w| w[0].score > w[1].score
                || (w[0].score == w[1].score && w[0].doc < w[1].doc)));
        }
    }

    #[test]
    fn multi_term_queries_against_model(docs in corpus(), query in text()) {
        let bytes = build(&docs);
        let idx = Bm25Index::open(&bytes).unwrap();
        let m = model(&docs);
        let terms: BTreeSet<String> = tokenize(&query).into_iter().collect();
        let known: Vec<&String> = terms.iter().filter(|t| m.0.contains_key(*t)).collect();
        let q = tokenize(&query);
        for all in [false, true] {
            let hits = idx.search(&q, all).unwrap();
            let mut expected: BTreeMap<u32, Vec<&String>> = BTreeMap::new();
            for t in &known {
                for doc in m.0[*t].keys() {
                    expected.entry(*doc).or_default().push(t);
                }
            }
            if all {
                let need = if known.len() == terms.len() { terms.len() } else { usize::MAX };
                expected.retain(|_, ts| ts.len() == need);
            }
            prop_assert_eq!(hits.len(), expected.len());
            for h in &hits {
                let ts = &expected[&h.doc];
                prop_assert_eq!(&h.matched_terms, &ts.iter().map(|t| (*t).clone()).collect::<Vec<_>>());
                let sum = h.term_scores.iter().fold(0.0f32, |a, (_, s)| a + s);
                prop_assert_eq!(h.score.to_bits(), sum.to_bits());
                let model_total: f64 = ts.iter().map(|t| model_score(&m, t, h.doc)).sum();
                prop_assert!((f64::from(h.score) - model_total).abs() < 1e-4 * model_total.max(1.0));
            }
        }
    }

    #[test]
    fn bytes_do_not_depend_on_insertion_order(
        (docs, shuffled) in corpus().prop_flat_map(|d| (Just(d.clone()), Just(d).prop_shuffle()))
    ) {
        prop_assert_eq!(build(&docs), build(&shuffled));
    }

    #[test]
    fn open_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        exercise(&bytes);
    }

    #[test]
    fn open_random_bytes_after_magic(tail in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut bytes = auditgraph_core::index::bm25::MAGIC.to_vec();
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&tail);
        exercise(&bytes);
    }

    #[test]
    fn open_random_bytes_with_valid_header(
        docs in corpus(),
        tail in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        // A real header followed by garbage sections of the right total size.
        let mut bytes = build(&docs);
        let header = auditgraph_core::index::bm25::HEADER_LEN;
        let n = bytes.len() - header;
        for (i, b) in bytes[header..].iter_mut().enumerate() {
            *b = tail.get(i % tail.len().max(1)).copied().unwrap_or(0) ^ (i as u8);
        }
        prop_assert_eq!(bytes.len() - header, n);
        exercise(&bytes);
    }

    #[test]
    fn open_truncated(docs in corpus(), cut in any::<prop::sample::Index>()) {
        let bytes = build(&docs);
        let len = cut.index(bytes.len());
        prop_assert!(Bm25Index::open(&bytes[..len]).is_err());
        exercise(&bytes[..len]);
    }

    #[test]
    fn open_bit_flipped(
        docs in corpus(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
    ) {
        let mut bytes = build(&docs);
        for (at, bit) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        exercise(&bytes);
    }
}
