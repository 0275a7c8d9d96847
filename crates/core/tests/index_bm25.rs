//! BM25 index: scores against hand-computed values, ranking, query options,
//! determinism and rejection of damaged or foreign data.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use auditgraph_core::index::bm25::{FORMAT_VERSION, HEADER_LEN, MAGIC};
use auditgraph_core::index::{Bm25Builder, Bm25Index, Bm25Params, Hit, IndexError, tokenize};

fn build(docs: &[(u32, &str)]) -> Vec<u8> {
    build_with(Bm25Params::default(), docs)
}

fn build_with(params: Bm25Params, docs: &[(u32, &str)]) -> Vec<u8> {
    let mut b = Bm25Builder::new(params);
    for &(doc, text) in docs {
        b.add(doc, text);
    }
    b.build()
}

fn q(text: &str) -> Vec<String> {
    tokenize(text)
}

fn docs_scores(hits: &[Hit]) -> Vec<(u32, f32)> {
    hits.iter().map(|h| (h.doc, h.score)).collect()
}

/// N = 4 (doc 3 is empty), total 12 tokens, avgdl = 3.
const SMALL: &[(u32, &str)] = &[
    (0, "The quick brown fox"),
    (1, "the lazy dog"),
    (2, "the quick, QUICK dog jumps"),
    (3, ""),
];

fn assert_close(actual: f32, expected: f64) {
    assert!(
        (f64::from(actual) - expected).abs() < 1e-5,
        "got {actual}, expected {expected}"
    );
}

#[test]
fn hand_computed_scores() {
    let bytes = build(SMALL);
    let idx = Bm25Index::open(&bytes).unwrap();
    idx.verify().unwrap();
    assert_eq!(idx.doc_count(), 4);
    assert_eq!(idx.term_count(), 7); // the quick brown fox lazy dog jumps
    assert_eq!(idx.total_tokens(), 12);
    assert_eq!(idx.avg_doc_len(), 3.0);
    assert_eq!(idx.doc_frequency("the").unwrap(), 3);
    assert_eq!(idx.doc_frequency("quick").unwrap(), 2);
    assert_eq!(idx.doc_len(2), Some(5));

    // "quick": df 2 of 4, idf = ln(1 + 2.5/2.5) = ln 2.
    //   doc 2: tf 2, dl 5: ln2 * 2*2.2 / (2 + 1.2*(0.25 + 0.75*5/3)) = ln2 * 4.4/3.8
    //   doc 0: tf 1, dl 4: ln2 * 2.2 / (1 + 1.2*(0.25 + 0.75*4/3))   = ln2 * 2.2/2.5
    let hits = idx.search(&q("quick"), false).unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].doc, 2);
    assert_close(hits[0].score, 0.802_591_472);
    assert_eq!(hits[1].doc, 0);
    assert_close(hits[1].score, 0.609_969_519);

    // "the": df 3, idf = ln(1 + 1.5/3.5) = 0.356675; doc 1 (shortest) first.
    let hits = idx.search(&q("the"), false).unwrap();
    assert_eq!(hits.iter().map(|h| h.doc).collect::<Vec<_>>(), [1, 0, 2]);
    assert_close(hits[0].score, 0.356_674_944); // tf 1, dl = avgdl: idf * 2.2/2.2

    // "quick dog": per-term parts in term order, score = their sum.
    //   dog in doc 2: ln2 * 2.2/(1 + 1.8) = 0.544616; in doc 1: ln2 * 2.2/2.2 = ln 2
    let hits = idx.search(&q("Quick dog"), false).unwrap();
    assert_eq!(hits.iter().map(|h| h.doc).collect::<Vec<_>>(), [2, 1, 0]);
    let top = &hits[0];
    assert_close(top.score, 1.347_207_114);
    assert_eq!(top.matched_terms, ["dog", "quick"]);
    assert_eq!(top.term_scores.len(), 2);
    assert_eq!(top.term_scores[0].0, "dog");
    assert_close(top.term_scores[0].1, 0.544_615_642);
    assert_eq!(top.term_scores[1].0, "quick");
    assert_close(top.term_scores[1].1, 0.802_591_472);
    assert_close(hits[1].score, std::f64::consts::LN_2);
    assert_eq!(hits[1].matched_terms, ["dog"]);
    for h in &hits {
        let sum = h.term_scores.iter().fold(0.0f32, |a, (_, s)| a + s);
        assert_eq!(
            h.score.to_bits(),
            sum.to_bits(),
            "score is the sum of its parts"
        );
        assert_eq!(
            h.matched_terms,
            h.term_scores
                .iter()
                .map(|(t, _)| t.clone())
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn custom_parameters_are_stored_and_used() {
    // k1 = 0: every matching term contributes exactly its idf.
    let params = Bm25Params { k1: 0.0, b: 0.3 };
    let bytes = build_with(params, SMALL);
    let idx = Bm25Index::open(&bytes).unwrap();
    assert_eq!(idx.params(), params);
    let hits = idx.search(&q("quick"), false).unwrap();
    assert_close(hits[0].score, std::f64::consts::LN_2);
    assert_close(hits[1].score, std::f64::consts::LN_2);
    assert_eq!(
        (hits[0].doc, hits[1].doc),
        (0, 2),
        "equal scores: doc id order"
    );

    // b = 0: no length normalization; tf 1 gives idf * (k1+1)/(1+k1) = idf.
    let bytes = build_with(Bm25Params { k1: 1.2, b: 0.0 }, SMALL);
    let idx = Bm25Index::open(&bytes).unwrap();
    let hits = idx.search(&q("the"), false).unwrap();
    assert_eq!(
        docs_scores(&hits).iter().map(|h| h.0).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(hits.windows(2).all(|w| w[0].score == w[1].score));
}

#[test]
fn invalid_parameters_do_not_open() {
    for params in [
        Bm25Params {
            k1: f32::NAN,
            b: 0.75,
        },
        Bm25Params { k1: -1.0, b: 0.75 },
        Bm25Params { k1: 1.2, b: 1.5 },
        Bm25Params {
            k1: f32::INFINITY,
            b: 0.5,
        },
    ] {
        assert!(!params.is_valid());
        let bytes = build_with(params, SMALL);
        assert!(matches!(
            Bm25Index::open(&bytes),
            Err(IndexError::Corrupt(_))
        ));
    }
    assert!(Bm25Params::default().is_valid());
}

#[test]
fn ties_are_broken_by_doc_id() {
    let bytes = build(&[
        (9, "alpha beta"),
        (3, "alpha beta"),
        (7, "beta alpha"),
        (1, "gamma"),
    ]);
    let idx = Bm25Index::open(&bytes).unwrap();
    let hits = idx.search(&q("alpha"), false).unwrap();
    assert_eq!(hits.iter().map(|h| h.doc).collect::<Vec<_>>(), [3, 7, 9]);
    assert!(hits.iter().all(|h| h.score == hits[0].score));
}

#[test]
fn require_all() {
    let bytes = build(SMALL);
    let idx = Bm25Index::open(&bytes).unwrap();
    let any = idx.search(&q("quick dog"), false).unwrap();
    let all = idx.search(&q("quick dog"), true).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0], any[0], "same hit, same score, same explanation");
    assert!(
        idx.search(&q("the fox"), true)
            .unwrap()
            .iter()
            .map(|h| h.doc)
            .eq([0])
    );
    assert!(idx.search(&q("fox lazy"), true).unwrap().is_empty());
    // An unknown term matches nothing under require_all.
    assert!(idx.search(&q("quick zebra"), true).unwrap().is_empty());
    // A single term: require_all changes nothing.
    assert_eq!(
        idx.search(&q("the"), true).unwrap(),
        idx.search(&q("the"), false).unwrap()
    );
}

#[test]
fn unknown_and_empty_queries() {
    let bytes = build(SMALL);
    let idx = Bm25Index::open(&bytes).unwrap();
    assert!(idx.search(&q("zebra"), false).unwrap().is_empty());
    assert!(idx.search(&[], false).unwrap().is_empty());
    assert!(idx.search(&[], true).unwrap().is_empty());
    assert!(idx.search(&["".to_owned()], false).unwrap().is_empty());
    // Terms are used as given: an uppercase term is not in the index.
    assert!(idx.search(&["Quick".to_owned()], false).unwrap().is_empty());
    // Terms before the first and after the last dictionary entry.
    assert!(
        idx.search(&["a".to_owned(), "zzz".to_owned()], false)
            .unwrap()
            .is_empty()
    );
    assert_eq!(idx.doc_frequency("zebra").unwrap(), 0);
    assert_eq!(idx.doc_frequency("").unwrap(), 0);
    // Unknown terms do not change the other terms' scores.
    assert_eq!(
        idx.search(&q("zebra dog"), false).unwrap(),
        idx.search(&q("dog"), false).unwrap()
    );
}

#[test]
fn duplicate_query_terms_count_once() {
    let bytes = build(SMALL);
    let idx = Bm25Index::open(&bytes).unwrap();
    let once = idx.search(&q("quick dog"), false).unwrap();
    assert_eq!(
        idx.search(&q("dog QUICK quick dog dog"), false).unwrap(),
        once
    );
    assert_eq!(
        idx.search(&q("dog dog quick"), true).unwrap(),
        idx.search(&q("quick dog"), true).unwrap()
    );
}

#[test]
fn repeated_adds_concatenate() {
    let split = build(&[(0, "alpha beta"), (1, "beta"), (0, "Alpha"), (1, "")]);
    let whole = build(&[(0, "alpha beta alpha"), (1, "beta")]);
    assert_eq!(split, whole);
    let idx = Bm25Index::open(&whole).unwrap();
    assert_eq!(idx.doc_len(0), Some(3));
    assert_eq!(idx.doc_frequency("alpha").unwrap(), 1);
}

#[test]
fn insertion_order_does_not_matter() {
    let mut docs: Vec<(u32, String)> = (0..300u32)
        .map(|i| {
            let words: Vec<String> = (0..(i % 17 + 1))
                .map(|j| format!("w{}", (i * 31 + j * 7) % 53))
                .collect();
            (i / 2, words.join(" "))
        })
        .collect();
    let reference = {
        let mut b = Bm25Builder::new(Bm25Params::default());
        for (d, t) in &docs {
            b.add(*d, t);
        }
        b.build()
    };
    // A fixed pseudo-random shuffle, several times.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..5 {
        for i in (1..docs.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            docs.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let mut b = Bm25Builder::new(Bm25Params::default());
        for (d, t) in &docs {
            b.add(*d, t);
        }
        assert_eq!(b.build(), reference);
    }
    // Building on other threads gives the same bytes too.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let docs = docs.clone();
            std::thread::spawn(move || {
                let mut b = Bm25Builder::new(Bm25Params::default());
                for (d, t) in docs.iter().rev() {
                    b.add(*d, t);
                }
                b.build()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), reference);
    }
}

#[test]
fn empty_index() {
    let bytes = build(&[]);
    assert_eq!(bytes.len(), HEADER_LEN);
    let idx = Bm25Index::open(&bytes).unwrap();
    idx.verify().unwrap();
    assert_eq!((idx.doc_count(), idx.term_count()), (0, 0));
    assert!(idx.search(&q("anything"), false).unwrap().is_empty());
    assert!(idx.terms().unwrap().is_empty());

    // Only empty documents.
    let bytes = build(&[(0, ""), (5, "  ...  ")]);
    let idx = Bm25Index::open(&bytes).unwrap();
    idx.verify().unwrap();
    assert_eq!((idx.doc_count(), idx.term_count()), (2, 0));
    assert!(idx.search(&q("x"), false).unwrap().is_empty());
}

#[test]
fn sparse_doc_ids_stay_small() {
    let bytes = build(&[
        (0, "alpha"),
        (4_000_000_000, "alpha beta"),
        (u32::MAX, "beta"),
    ]);
    assert!(bytes.len() < 200, "{} bytes", bytes.len());
    let idx = Bm25Index::open(&bytes).unwrap();
    idx.verify().unwrap();
    assert_eq!(idx.doc_count(), 3);
    assert_eq!(idx.doc_len(4_000_000_000), Some(2));
    assert_eq!(idx.doc_len(7), None);
    let hits = idx.search(&q("beta"), false).unwrap();
    assert_eq!(
        hits.iter().map(|h| h.doc).collect::<Vec<_>>(),
        [u32::MAX, 4_000_000_000]
    );
    let hits = idx.search(&q("alpha beta"), true).unwrap();
    assert_eq!(
        hits.iter().map(|h| h.doc).collect::<Vec<_>>(),
        [4_000_000_000]
    );
}

#[test]
fn dense_table_when_ids_are_dense() {
    // 1000 docs with short lengths: the dense table costs ~4 bits a doc.
    let docs: Vec<(u32, String)> = (0..1000u32)
        .map(|i| (i, format!("t{} common", i % 10)))
        .collect();
    let mut b = Bm25Builder::new(Bm25Params::default());
    for (d, t) in &docs {
        b.add(*d, t);
    }
    let bytes = b.build();
    let idx = Bm25Index::open(&bytes).unwrap();
    idx.verify().unwrap();
    assert_eq!(bytes[48], 0, "dense layout");
    assert_eq!(idx.doc_len(999), Some(2));
    assert_eq!(idx.doc_frequency("common").unwrap(), 1000);
    assert_eq!(idx.doc_frequency("t3").unwrap(), 100);
}

#[test]
fn many_terms_span_blocks() {
    // Enough terms for many dictionary blocks; every one must be found.
    let words: Vec<String> = (0..2000u32).map(|i| format!("term{i:05}x")).collect();
    let mut b = Bm25Builder::new(Bm25Params::default());
    for (i, w) in words.iter().enumerate() {
        b.add(i as u32 % 97, w);
    }
    let bytes = b.build();
    let idx = Bm25Index::open(&bytes).unwrap();
    idx.verify().unwrap();
    assert_eq!(idx.term_count(), 2000);
    for w in &words {
        assert_eq!(idx.doc_frequency(w).unwrap(), 1, "{w}");
        // Near misses in all directions.
        assert_eq!(idx.doc_frequency(&format!("{w}y")).unwrap(), 0);
        assert_eq!(idx.doc_frequency(&w[..w.len() - 1]).unwrap(), 0);
    }
    let mut sorted = words.clone();
    sorted.sort();
    let terms: Vec<String> = idx.terms().unwrap().into_iter().map(|(t, _)| t).collect();
    assert_eq!(terms, sorted);
}

#[test]
fn non_ascii_terms() {
    let bytes = build(&[
        (0, "Café crème"),
        (1, "数据库连接 und Straße"),
        (2, "ΟΔΟΣ και Привет"),
    ]);
    let idx = Bm25Index::open(&bytes).unwrap();
    idx.verify().unwrap();
    for (text, doc) in [
        ("CAFÉ", 0),
        ("数据库连接", 1),
        ("straße", 1),
        ("οδος", 2),
        ("привет", 2),
    ] {
        let hits = idx.search(&q(text), false).unwrap();
        assert_eq!(
            hits.iter().map(|h| h.doc).collect::<Vec<_>>(),
            [doc],
            "{text}"
        );
    }
    // A CJK run is one token: a part of it does not match.
    assert!(idx.search(&q("数据库"), false).unwrap().is_empty());
}

#[test]
fn large_term_frequencies() {
    let text = "spam ".repeat(10_000) + "eggs";
    let bytes = build(&[(0, &text), (1, "eggs spam")]);
    let idx = Bm25Index::open(&bytes).unwrap();
    idx.verify().unwrap();
    assert_eq!(idx.doc_len(0), Some(10_001));
    let hits = idx.search(&q("spam"), false).unwrap();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|h| h.score.is_finite() && h.score > 0.0));
}

#[test]
fn rejects_foreign_and_damaged_data() {
    let bytes = build(SMALL);
    assert_eq!(&bytes[..8], &MAGIC);

    // Not an index at all.
    for junk in [&b""[..], b"AGBM25", b"{\"json\": true}", &[0u8; 200]] {
        assert!(matches!(Bm25Index::open(junk), Err(IndexError::Corrupt(_))));
    }
    // Another version.
    let mut other = bytes.clone();
    other[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    match Bm25Index::open(&other) {
        Err(IndexError::UnsupportedVersion(v)) => assert_eq!(v, FORMAT_VERSION + 1),
        r => panic!("expected UnsupportedVersion, got {r:?}"),
    }
    let msg = IndexError::UnsupportedVersion(2).to_string();
    assert!(
        msg.contains("version 2") && msg.contains("reads version 1"),
        "{msg}"
    );
    // Every truncation and any trailing byte.
    for len in 0..bytes.len() {
        assert!(
            Bm25Index::open(&bytes[..len]).is_err(),
            "prefix of {len} bytes opened"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Bm25Index::open(&longer).is_err());
}

#[test]
fn absurd_header_counts_do_not_allocate() {
    // A header claiming huge counts over tiny sections must fail at open.
    let bytes = build(SMALL);
    let mut bad = bytes.clone();
    bad[28..32].copy_from_slice(&u32::MAX.to_le_bytes()); // term count
    assert!(Bm25Index::open(&bad).is_err());
    let mut bad = bytes.clone();
    bad[40..48].copy_from_slice(&u64::MAX.to_le_bytes()); // length entries
    assert!(Bm25Index::open(&bad).is_err());
    let mut bad = bytes.clone();
    bad[56..64].copy_from_slice(&u64::MAX.to_le_bytes()); // section length
    assert!(Bm25Index::open(&bad).is_err());
    let mut bad = bytes;
    bad[49] = 200; // bits per length
    assert!(Bm25Index::open(&bad).is_err());
}

#[test]
fn every_single_byte_corruption_is_handled() {
    // Flip each bit of a small index: open either fails or gives an index
    // whose every operation returns (Ok or Err) without panicking.
    let bytes = build(SMALL);
    let queries: Vec<Vec<String>> = ["the", "quick dog", "fox lazy jumps brown", "zebra"]
        .iter()
        .map(|t| q(t))
        .collect();
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut bad = bytes.clone();
            bad[i] ^= 1 << bit;
            if let Ok(idx) = Bm25Index::open(&bad) {
                let _ = idx.verify();
                let _ = idx.terms();
                for query in &queries {
                    for all in [false, true] {
                        if let Ok(hits) = idx.search(query, all) {
                            assert!(hits.iter().all(|h| !h.score.is_nan()));
                        }
                    }
                }
                for t in ["the", "quick", "dog", "zebra"] {
                    let _ = idx.doc_frequency(t);
                }
            }
        }
    }
}
