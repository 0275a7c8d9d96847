//! A compact, deterministic BM25 index: built once per run into one byte
//! string, read in place by [`Bm25Index`] without decoding it eagerly.
//!
//! The byte format is described in the [parent module](super).
//!
//! # Scoring
//!
//! For a document `d` of `dl` tokens and a query term `t` occurring `tf`
//! times in `d` and in `df` of the `N` documents (`avgdl` the mean document
//! length), the term's contribution is
//!
//! ```text
//! idf(t)   = ln(1 + (N - df + 0.5) / (df + 0.5))             (Lucene's IDF, always > 0)
//! s(t, d)  = idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
//! score(d) = sum of s(t, d) over the distinct query terms in d, in byte order of the terms
//! ```
//!
//! All arithmetic is `f32` in exactly this order (`avgdl` is computed once
//! as `f64` and rounded to `f32`), so a given binary produces the same
//! scores for the same index and query; `ln` comes from the platform's math
//! library, so other platforms may differ in the last bit.

use foldhash::HashMap;
use std::ops::Range;

use super::codec::{
    Packed, ReadError, Reader, bits_for, packed_len, put_packed, put_varint, u32_at, u64_at,
};
use super::tokenize::for_each_token;

/// First eight bytes of every BM25 index.
pub const MAGIC: [u8; 8] = *b"AGBM25\0\0";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 88;
/// Terms per front-coded dictionary block.
const BLOCK_SIZE: u32 = 32;
/// Bytes per entry of the dictionary block index (two `u64`).
const BLOCK_ENTRY_LEN: usize = 16;

const LAYOUT_DENSE: u8 = 0;
const LAYOUT_SPARSE: u8 = 1;

/// BM25 parameters, stored in the index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25Params {
    /// Term-frequency saturation; finite and `>= 0`.
    pub k1: f32,
    /// Length normalization; finite, in `0..=1`.
    pub b: f32,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Bm25Params { k1: 1.2, b: 0.75 }
    }
}

impl Bm25Params {
    /// Whether [`Bm25Index::open`] accepts these parameters. An index built
    /// with invalid parameters fails to open with [`IndexError::Corrupt`].
    pub fn is_valid(&self) -> bool {
        self.k1.is_finite() && self.k1 >= 0.0 && self.b.is_finite() && (0.0..=1.0).contains(&self.b)
    }
}

/// Why an index could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("corrupt BM25 index: {0}")]
    Corrupt(String),
    #[error(
        "unsupported BM25 index format version {0} (this auditgraph reads version {FORMAT_VERSION})"
    )]
    UnsupportedVersion(u32),
}

fn corrupt(msg: impl Into<String>) -> IndexError {
    IndexError::Corrupt(msg.into())
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub doc: u32,
    /// Sum of `term_scores`, added up in their order.
    pub score: f32,
    /// The distinct query terms the document contains, sorted.
    pub matched_terms: Vec<String>,
    /// Each matched term's contribution, in the order of `matched_terms`.
    pub term_scores: Vec<(String, f32)>,
}

/// A hit of [`Bm25Index::search_terms`].
#[derive(Debug, Clone, PartialEq)]
pub struct TermHit {
    pub doc: u32,
    /// Sum of `scores`, added up in their order.
    pub score: f32,
    /// The matched terms: bit `i` for the `i`-th searched term.
    pub terms: u64,
    /// Each matched term's contribution, in term order.
    pub scores: Vec<f32>,
}

impl TermHit {
    /// The matched terms among the searched `terms`, in order.
    pub fn matched<'t>(&self, terms: &'t [&'t str]) -> impl Iterator<Item = &'t str> + 't {
        let bits = self.terms;
        terms
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i < 64 && bits & (1 << i) != 0)
            .map(|(_, t)| *t)
    }

    /// The position of the term that contributed most (the first such).
    pub fn best(&self) -> Option<u8> {
        let mut best: Option<(u8, f32)> = None;
        let positions = (0..64u8).filter(|i| self.terms & (1 << i) != 0);
        for (i, s) in positions.zip(self.scores.iter().copied()) {
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((i, s));
            }
        }
        best.map(|(i, _)| i)
    }
}

/// Collects documents and writes the index bytes.
///
/// Memory is proportional to the number of distinct terms plus the number of
/// distinct (term, document, `add` call) triples. The output depends only on
/// the parameters and on the multiset of `(doc, text)` pairs added, never on
/// the order of the calls.
pub struct Bm25Builder {
    params: Bm25Params,
    /// Term -> provisional id (insertion order; never reaches the output).
    terms: HashMap<Box<str>, u32>,
    /// (term id, doc, tf) per `add` call; merged at build time.
    postings: Vec<(u32, u32, u32)>,
    /// Token count per doc (summed over `add` calls).
    doc_lens: HashMap<u32, u32>,
    scratch: Vec<u32>,
}

impl Bm25Builder {
    pub fn new(params: Bm25Params) -> Self {
        Bm25Builder {
            params,
            terms: HashMap::default(),
            postings: Vec::new(),
            doc_lens: HashMap::default(),
            scratch: Vec::new(),
        }
    }

    /// Adds the tokens of `text` to document `doc`. Calling it again for the
    /// same `doc` adds to its term frequencies and length, as if the texts
    /// were concatenated with a separator in between. A document added with
    /// empty text still counts towards `N`.
    ///
    /// Doc ids should be dense (`0..n`): the length table is a bit-packed
    /// array indexed by doc id unless a sorted sparse table is smaller.
    pub fn add(&mut self, doc: u32, text: &str) {
        let mut ids = std::mem::take(&mut self.scratch);
        ids.clear();
        let terms = &mut self.terms;
        for_each_token(text, |token, _, _| {
            let id = match terms.get(token) {
                Some(&id) => id,
                None => {
                    let id = u32::try_from(terms.len()).unwrap_or(u32::MAX);
                    terms.insert(token.into(), id);
                    id
                }
            };
            ids.push(id);
        });
        let len = self.doc_lens.entry(doc).or_insert(0);
        *len = len.saturating_add(u32::try_from(ids.len()).unwrap_or(u32::MAX));
        ids.sort_unstable();
        for run in ids.chunk_by(|a, b| a == b) {
            let tf = u32::try_from(run.len()).unwrap_or(u32::MAX);
            self.postings.push((run[0], doc, tf));
        }
        self.scratch = ids;
    }

    /// Writes the index. Deterministic: everything is sorted before encoding.
    pub fn build(self) -> Vec<u8> {
        // Terms in byte order; provisional ids -> rank.
        let mut names: Vec<(Box<str>, u32)> = self.terms.into_iter().collect();
        names.sort_unstable();
        let mut rank = vec![0u32; names.len()];
        for (r, (_, id)) in names.iter().enumerate() {
            if let Some(slot) = rank.get_mut(*id as usize) {
                *slot = r as u32;
            }
        }
        let mut postings = self.postings;
        for p in &mut postings {
            p.0 = rank.get(p.0 as usize).copied().unwrap_or(p.0);
        }
        // Sorting whole tuples makes the order of equal (term, doc) pairs
        // irrelevant: they are summed below.
        postings.sort_unstable();

        let mut docs: Vec<(u32, u32)> = self.doc_lens.into_iter().collect();
        docs.sort_unstable();
        let doc_count = u32::try_from(docs.len()).unwrap_or(u32::MAX);
        let total_tokens: u64 = docs.iter().map(|&(_, l)| u64::from(l)).sum();

        // Postings, one list per term in rank order.
        let mut post = Vec::new();
        let mut stats: Vec<(u32, u64)> = Vec::with_capacity(names.len()); // (df, bytes)
        let mut i = 0;
        while i < postings.len() {
            let term = postings[i].0;
            let start = post.len();
            let mut df: u32 = 0;
            let mut prev: Option<u32> = None;
            while i < postings.len() && postings[i].0 == term {
                let doc = postings[i].1;
                let mut tf: u32 = 0;
                while i < postings.len() && postings[i].0 == term && postings[i].1 == doc {
                    tf = tf.saturating_add(postings[i].2);
                    i += 1;
                }
                let gap = match prev {
                    None => doc,
                    Some(p) => doc - p,
                };
                let v = (u64::from(gap) << 1) | u64::from(tf == 1);
                put_varint(&mut post, v);
                if tf != 1 {
                    put_varint(&mut post, u64::from(tf));
                }
                prev = Some(doc);
                df = df.saturating_add(1);
            }
            stats.push((df, (post.len() - start) as u64));
        }

        // Front-coded dictionary blocks and their index.
        let mut dict = Vec::new();
        let mut block_index = Vec::new();
        let mut post_off: u64 = 0;
        for (b, block) in names.chunks(BLOCK_SIZE as usize).enumerate() {
            block_index.extend_from_slice(&(dict.len() as u64).to_le_bytes());
            block_index.extend_from_slice(&post_off.to_le_bytes());
            let mut prev: &[u8] = &[];
            for (k, (name, _)) in block.iter().enumerate() {
                let name = name.as_bytes();
                let shared = if k == 0 { 0 } else { common_prefix(prev, name) };
                put_varint(&mut dict, shared as u64);
                put_varint(&mut dict, (name.len() - shared) as u64);
                dict.extend_from_slice(&name[shared..]);
                let (df, len) = stats
                    .get(b * BLOCK_SIZE as usize + k)
                    .copied()
                    .unwrap_or((0, 0));
                put_varint(&mut dict, u64::from(df));
                put_varint(&mut dict, len);
                post_off += len;
                prev = name;
            }
        }

        // Document lengths: dense by doc id, or sparse (sorted ids + lengths).
        let max_len = docs.iter().map(|&(_, l)| l).max().unwrap_or(0);
        let len_bits = bits_for(max_len);
        let max_doc = docs.last().map_or(0, |&(d, _)| d);
        let id_bits = bits_for(max_doc);
        let slots = if docs.is_empty() {
            0
        } else {
            u64::from(max_doc) + 1
        };
        let n = docs.len() as u64;
        let dense_bytes = packed_len(slots, len_bits).unwrap_or(u64::MAX);
        let sparse_bytes = packed_len(n, id_bits)
            .zip(packed_len(n, len_bits))
            .map_or(u64::MAX, |(a, b)| a + b);
        let mut lengths = Vec::new();
        let (layout, entries, stored_id_bits) = if dense_bytes <= sparse_bytes {
            let mut next = 0u32;
            let mut iter = docs.iter().peekable();
            let values = std::iter::from_fn(|| {
                if u64::from(next) >= slots {
                    return None;
                }
                let d = next;
                next = next.wrapping_add(1);
                match iter.peek() {
                    Some(&&(doc, len)) if doc == d => {
                        iter.next();
                        Some(len)
                    }
                    _ => Some(0),
                }
            });
            if len_bits > 0 {
                put_packed(&mut lengths, values, len_bits);
            }
            (LAYOUT_DENSE, slots, 0u8)
        } else {
            put_packed(&mut lengths, docs.iter().map(|&(d, _)| d), id_bits);
            put_packed(&mut lengths, docs.iter().map(|&(_, l)| l), len_bits);
            (LAYOUT_SPARSE, n, id_bits)
        };

        let mut out = Vec::with_capacity(
            HEADER_LEN + lengths.len() + block_index.len() + dict.len() + post.len(),
        );
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // flags, reserved
        out.extend_from_slice(&self.params.k1.to_bits().to_le_bytes());
        out.extend_from_slice(&self.params.b.to_bits().to_le_bytes());
        out.extend_from_slice(&doc_count.to_le_bytes());
        out.extend_from_slice(&u32::try_from(names.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&total_tokens.to_le_bytes());
        out.extend_from_slice(&entries.to_le_bytes());
        out.push(layout);
        out.push(len_bits);
        out.push(stored_id_bits);
        out.push(BLOCK_SIZE as u8);
        out.extend_from_slice(&0u32.to_le_bytes()); // reserved
        for section in [&lengths, &block_index, &dict, &post] {
            out.extend_from_slice(&(section.len() as u64).to_le_bytes());
        }
        debug_assert_eq!(out.len(), HEADER_LEN);
        out.extend_from_slice(&lengths);
        out.extend_from_slice(&block_index);
        out.extend_from_slice(&dict);
        out.extend_from_slice(&post);
        out
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Document lengths, read in place.
#[derive(Clone, Copy)]
enum Lengths<'a> {
    Dense(Packed<'a>),
    Sparse { ids: Packed<'a>, lens: Packed<'a> },
}

impl Lengths<'_> {
    /// The length of `doc`, `None` if the table does not list it.
    fn get(&self, doc: u32) -> Option<u32> {
        match self {
            Lengths::Dense(p) => p.get(usize::try_from(doc).ok()?),
            Lengths::Sparse { ids, lens } => {
                let (mut lo, mut hi) = (0usize, ids.len());
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    let id = ids.get(mid)?;
                    match id.cmp(&doc) {
                        std::cmp::Ordering::Less => lo = mid + 1,
                        std::cmp::Ordering::Greater => hi = mid,
                        std::cmp::Ordering::Equal => return lens.get(mid),
                    }
                }
                None
            }
        }
    }
}

/// The statistics a score depends on, for a corpus split into several
/// indexes (see [`Bm25Index::search_in`]).
#[derive(Debug, Clone, Default)]
pub struct CorpusStats {
    pub doc_count: u32,
    pub avgdl: f32,
    /// Document frequency per term (`None`: the index's own).
    pub df: Option<std::collections::HashMap<String, u32>>,
}

impl CorpusStats {
    /// Sums the statistics of several indexes for `terms`.
    pub fn sum(indexes: &[Bm25Index<'_>], terms: &[String]) -> Result<CorpusStats, IndexError> {
        let mut doc_count: u64 = 0;
        let mut total: u64 = 0;
        let mut df: std::collections::HashMap<String, u32> = Default::default();
        for index in indexes {
            doc_count += u64::from(index.doc_count);
            total += index.total_tokens;
            for t in terms {
                let d = index.doc_frequency(t)?;
                *df.entry(t.clone()).or_default() += d;
            }
        }
        let doc_count = u32::try_from(doc_count).unwrap_or(u32::MAX);
        Ok(CorpusStats {
            doc_count,
            avgdl: if doc_count == 0 {
                0.0
            } else {
                (total as f64 / f64::from(doc_count)) as f32
            },
            df: Some(df),
        })
    }
}

/// A term's dictionary entry.
#[derive(Debug, Clone)]
struct TermInfo {
    df: u32,
    postings: Range<usize>,
}

/// A BM25 index read in place from its bytes.
#[derive(Clone)]
pub struct Bm25Index<'a> {
    params: Bm25Params,
    doc_count: u32,
    term_count: u32,
    total_tokens: u64,
    avgdl: f32,
    block_size: u32,
    lengths: Lengths<'a>,
    block_index: &'a [u8],
    blocks: usize,
    dict: &'a [u8],
    postings: &'a [u8],
}

impl std::fmt::Debug for Bm25Index<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bm25Index")
            .field("params", &self.params)
            .field("doc_count", &self.doc_count)
            .field("term_count", &self.term_count)
            .field("total_tokens", &self.total_tokens)
            .field(
                "bytes",
                &(HEADER_LEN + self.block_index.len() + self.dict.len() + self.postings.len()),
            )
            .finish_non_exhaustive()
    }
}

impl<'a> Bm25Index<'a> {
    /// Checks the header and the section bounds and the block index (16
    /// bytes per 32 terms); decodes nothing else. Never panics: corrupt input
    /// gives [`IndexError::Corrupt`], another format version
    /// [`IndexError::UnsupportedVersion`]. Later calls check what they
    /// decode, so damage `open` cannot see shows up as an error there;
    /// [`Bm25Index::verify`] checks everything up front.
    pub fn open(bytes: &'a [u8]) -> Result<Self, IndexError> {
        if bytes.get(..8) != Some(&MAGIC[..]) {
            return Err(corrupt("not a BM25 index (bad magic)"));
        }
        let version = u32_at(bytes, 8).ok_or_else(|| corrupt("truncated header"))?;
        if version != FORMAT_VERSION {
            return Err(IndexError::UnsupportedVersion(version));
        }
        let header = bytes.get(..HEADER_LEN).ok_or_else(|| {
            corrupt(format!(
                "truncated header: {} bytes, need {HEADER_LEN}",
                bytes.len()
            ))
        })?;
        let h32 = |at| u32_at(header, at).unwrap_or(0);
        let h64 = |at| u64_at(header, at).unwrap_or(0);
        if h32(12) != 0 || h32(52) != 0 {
            return Err(corrupt("reserved header fields are not zero"));
        }
        let params = Bm25Params {
            k1: f32::from_bits(h32(16)),
            b: f32::from_bits(h32(20)),
        };
        if !params.is_valid() {
            return Err(corrupt(format!(
                "invalid parameters k1 = {}, b = {}",
                params.k1, params.b
            )));
        }
        let doc_count = h32(24);
        let term_count = h32(28);
        let total_tokens = h64(32);
        let entries = h64(40);
        let (layout, len_bits, id_bits, block_size) =
            (header[48], header[49], header[50], u32::from(header[51]));
        let section_lens = [h64(56), h64(64), h64(72), h64(80)];

        // Sections follow the header back to back and end the data exactly.
        let mut sections: [&[u8]; 4] = [&[]; 4];
        let mut at = HEADER_LEN;
        for (slot, len) in sections.iter_mut().zip(section_lens) {
            let end = usize::try_from(len)
                .ok()
                .and_then(|len| at.checked_add(len))
                .filter(|&end| end <= bytes.len())
                .ok_or_else(|| {
                    corrupt(format!(
                        "section of {len} bytes at offset {at} runs past the end ({} bytes)",
                        bytes.len()
                    ))
                })?;
            *slot = &bytes[at..end];
            at = end;
        }
        if at != bytes.len() {
            return Err(corrupt(format!(
                "{} trailing bytes after the last section",
                bytes.len() - at
            )));
        }
        let [length_bytes, block_index, dict, postings] = sections;

        // Document lengths.
        if len_bits > 32 || id_bits > 32 {
            return Err(corrupt("bit width above 32"));
        }
        let lengths = match layout {
            LAYOUT_DENSE => {
                if id_bits != 0 || entries > 1 << 32 || entries < u64::from(doc_count) {
                    return Err(corrupt("inconsistent dense length table"));
                }
                if packed_len(entries, len_bits) != Some(length_bytes.len() as u64) {
                    return Err(corrupt("length table size does not match its header"));
                }
                let entries = usize::try_from(entries)
                    .map_err(|_| corrupt("length table too large for this platform"))?;
                Lengths::Dense(Packed::new(length_bytes, len_bits, entries))
            }
            LAYOUT_SPARSE => {
                if entries != u64::from(doc_count) {
                    return Err(corrupt("inconsistent sparse length table"));
                }
                let ids_len = packed_len(entries, id_bits).unwrap_or(u64::MAX);
                let lens_len = packed_len(entries, len_bits).unwrap_or(u64::MAX);
                if ids_len.checked_add(lens_len) != Some(length_bytes.len() as u64) {
                    return Err(corrupt("length table size does not match its header"));
                }
                let n = doc_count as usize;
                let (ids, lens) = length_bytes.split_at(ids_len as usize);
                Lengths::Sparse {
                    ids: Packed::new(ids, id_bits, n),
                    lens: Packed::new(lens, len_bits, n),
                }
            }
            other => return Err(corrupt(format!("unknown length table layout {other}"))),
        };

        // Dictionary block index: both offsets start at 0 and increase strictly.
        if block_size == 0 {
            return Err(corrupt("dictionary block size 0"));
        }
        let blocks = term_count.div_ceil(block_size) as usize;
        if Some(block_index.len()) != blocks.checked_mul(BLOCK_ENTRY_LEN) {
            return Err(corrupt(format!(
                "block index of {} bytes for {term_count} terms",
                block_index.len()
            )));
        }
        if term_count > 0 && (dict.is_empty() || postings.is_empty()) {
            return Err(corrupt("terms without dictionary or postings"));
        }
        if term_count == 0 && !(dict.is_empty() && postings.is_empty()) {
            return Err(corrupt("dictionary or postings without terms"));
        }
        // Every term takes at least 4 dictionary bytes and 1 postings byte.
        if (dict.len() as u64) < 4 * u64::from(term_count)
            || (postings.len() as u64) < u64::from(term_count)
        {
            return Err(corrupt("sections too small for the term count"));
        }
        let mut prev: Option<(u64, u64)> = None;
        for entry in block_index.chunks_exact(BLOCK_ENTRY_LEN) {
            let d = u64_at(entry, 0).unwrap_or(u64::MAX);
            let p = u64_at(entry, 8).unwrap_or(u64::MAX);
            let ok = match prev {
                None => d == 0 && p == 0,
                Some((pd, pp)) => d > pd && p > pp,
            } && d < dict.len() as u64
                && p < postings.len() as u64;
            if !ok {
                return Err(corrupt(
                    "dictionary block index out of order or out of bounds",
                ));
            }
            prev = Some((d, p));
        }

        let avgdl = if doc_count == 0 {
            0.0
        } else {
            (total_tokens as f64 / f64::from(doc_count)) as f32
        };
        Ok(Bm25Index {
            params,
            doc_count,
            term_count,
            total_tokens,
            avgdl,
            block_size,
            lengths,
            block_index,
            blocks,
            dict,
            postings,
        })
    }

    /// Number of distinct documents added (`N`).
    pub fn doc_count(&self) -> u32 {
        self.doc_count
    }

    /// Number of distinct terms.
    pub fn term_count(&self) -> u32 {
        self.term_count
    }

    /// The parameters the index was built with.
    pub fn params(&self) -> Bm25Params {
        self.params
    }

    /// Total number of tokens over all documents.
    pub fn total_tokens(&self) -> u64 {
        self.total_tokens
    }

    /// Mean document length in tokens, as used in scores (0 when empty).
    pub fn avg_doc_len(&self) -> f32 {
        self.avgdl
    }

    /// The length in tokens of `doc` as stored in the length table; `None`
    /// when the table has no slot for it. (A dense table reports 0 for ids
    /// below the largest one that were never added.)
    pub fn doc_len(&self, doc: u32) -> Option<u32> {
        self.lengths.get(doc)
    }

    /// The number of documents containing `term` (0 if none).
    pub fn doc_frequency(&self, term: &str) -> Result<u32, IndexError> {
        Ok(self.lookup(term.as_bytes())?.map_or(0, |t| t.df))
    }

    /// The `(term, doc frequency)` pairs of the whole dictionary, in byte
    /// order. Decodes the dictionary but no postings.
    pub fn terms(&self) -> Result<Vec<(String, u32)>, IndexError> {
        let mut out = Vec::with_capacity(self.term_count as usize);
        for b in 0..self.blocks {
            self.scan_block(b, |term, info| {
                let term =
                    std::str::from_utf8(term).map_err(|_| corrupt("term is not valid UTF-8"))?;
                out.push((term.to_owned(), info.df));
                Ok(true)
            })?;
        }
        Ok(out)
    }

    /// Scores every document containing at least one of `terms` (or, with
    /// `require_all`, all of them) with BM25; see the [module docs](self).
    /// Terms are used as given (run queries through
    /// [`tokenize`](super::tokenize::tokenize) first); duplicates count once.
    /// Results are sorted by score, highest first, then by doc id.
    pub fn search(&self, terms: &[String], require_all: bool) -> Result<Vec<Hit>, IndexError> {
        let stats = CorpusStats {
            doc_count: self.doc_count,
            avgdl: self.avgdl,
            df: None,
        };
        self.search_in(terms, require_all, &stats)
    }

    /// [`Bm25Index::search`] with the statistics of a whole corpus this
    /// index is one shard of: `N`, the mean length and each term's
    /// document frequency are the corpus's, so scores are those one index
    /// over the whole corpus would give.
    pub fn search_in(
        &self,
        terms: &[String],
        require_all: bool,
        stats: &CorpusStats,
    ) -> Result<Vec<Hit>, IndexError> {
        let mut uniq: Vec<&str> = terms.iter().map(String::as_str).collect();
        uniq.sort_unstable();
        uniq.dedup();
        let mut hits: Vec<Hit> = self
            .search_terms(&uniq, require_all, stats)?
            .into_iter()
            .map(|h| {
                let term_scores: Vec<(String, f32)> = h
                    .matched(&uniq)
                    .zip(h.scores.iter().copied())
                    .map(|(t, s)| (t.to_owned(), s))
                    .collect();
                Hit {
                    doc: h.doc,
                    score: h.score,
                    matched_terms: term_scores.iter().map(|(t, _)| t.clone()).collect(),
                    term_scores,
                }
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.doc.cmp(&b.doc)));
        Ok(hits)
    }

    /// [`Bm25Index::search_in`] without strings: `terms` sorted and
    /// deduplicated (at most 64), each hit naming its terms as bits of
    /// their positions in `terms`; hits in document order. For searches
    /// with many hits, where a string per matched term per hit costs more
    /// than the scoring.
    pub fn search_terms(
        &self,
        terms: &[&str],
        require_all: bool,
        stats: &CorpusStats,
    ) -> Result<Vec<TermHit>, IndexError> {
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let terms = &terms[..terms.len().min(64)];
        // One (term position, [(doc, contribution)]) list per known term.
        let mut lists: Vec<(u8, Vec<(u32, f32)>)> = Vec::with_capacity(terms.len());
        for (i, term) in terms.iter().enumerate() {
            match self.lookup(term.as_bytes())? {
                Some(info) => {
                    let df = match &stats.df {
                        Some(df) => df.get(*term).copied().unwrap_or(info.df),
                        None => info.df,
                    };
                    lists.push((i as u8, self.score_postings(term, &info, stats, df)?))
                }
                None if require_all => return Ok(Vec::new()),
                None => {}
            }
        }
        let need = if require_all { lists.len() } else { 1 };
        let mut hits = Vec::new();
        let mut cursors = vec![0usize; lists.len()];
        // Merge the lists: take the smallest doc id at any cursor.
        while let Some(doc) = lists
            .iter()
            .zip(&cursors)
            .filter_map(|((_, l), &c)| l.get(c).map(|&(d, _)| d))
            .min()
        {
            let mut hit = TermHit {
                doc,
                score: 0.0,
                terms: 0,
                scores: Vec::new(),
            };
            for ((term, list), cursor) in lists.iter().zip(cursors.iter_mut()) {
                if let Some(&(d, s)) = list.get(*cursor)
                    && d == doc
                {
                    hit.terms |= 1 << term;
                    hit.scores.push(s);
                    *cursor += 1;
                }
            }
            if hit.scores.len() >= need {
                // Added up in term order (see the module docs).
                hit.score = hit.scores.iter().fold(0.0f32, |acc, s| acc + s);
                hits.push(hit);
            }
        }
        Ok(hits)
    }

    /// Checks the whole index: every dictionary block and postings list, term
    /// order, UTF-8, doc ids, term frequencies against document lengths and
    /// the header's totals. Costs a full decode; `open` plus `search` check
    /// only what they touch.
    pub fn verify(&self) -> Result<(), IndexError> {
        // Length table.
        let mut sum: u64 = 0;
        match self.lengths {
            Lengths::Dense(p) => {
                for i in 0..p.len() {
                    sum += u64::from(p.get(i).unwrap_or(0));
                }
            }
            Lengths::Sparse { ids, lens } => {
                let mut prev: Option<u32> = None;
                for i in 0..ids.len() {
                    let id = ids.get(i).unwrap_or(0);
                    if prev.is_some_and(|p| p >= id) {
                        return Err(corrupt("sparse length table is not sorted"));
                    }
                    prev = Some(id);
                    sum += u64::from(lens.get(i).unwrap_or(0));
                }
            }
        }
        if sum != self.total_tokens {
            return Err(corrupt(format!(
                "document lengths add up to {sum}, header says {}",
                self.total_tokens
            )));
        }
        // Dictionary and postings.
        let mut prev_term: Vec<u8> = Vec::new();
        let mut seen: u64 = 0;
        let mut next_postings = 0usize;
        for b in 0..self.blocks {
            self.scan_block(b, |term, info| {
                if std::str::from_utf8(term).is_err() {
                    return Err(corrupt("term is not valid UTF-8"));
                }
                if seen > 0 && term <= prev_term.as_slice() {
                    return Err(corrupt("terms are not in strictly increasing order"));
                }
                if term.is_empty() {
                    return Err(corrupt("empty term"));
                }
                if info.postings.start != next_postings {
                    return Err(corrupt("postings lists are not contiguous"));
                }
                next_postings = info.postings.end;
                self.decode_postings(&info, |doc, tf| {
                    match self.lengths.get(doc) {
                        Some(len) if tf <= len => {}
                        _ => {
                            return Err(corrupt(format!(
                                "doc {doc}: term frequency {tf} exceeds its length"
                            )));
                        }
                    }
                    Ok(())
                })?;
                prev_term.clear();
                prev_term.extend_from_slice(term);
                seen += 1;
                Ok(true)
            })?;
        }
        if seen != u64::from(self.term_count) {
            return Err(corrupt("dictionary holds fewer terms than the header says"));
        }
        if next_postings != self.postings.len() {
            return Err(corrupt("postings section has unreferenced bytes"));
        }
        Ok(())
    }

    /// Postings of `term` turned into `(doc, contribution)`, by doc id.
    fn score_postings(
        &self,
        term: &str,
        info: &TermInfo,
        stats: &CorpusStats,
        df: u32,
    ) -> Result<Vec<(u32, f32)>, IndexError> {
        let Bm25Params { k1, b } = self.params;
        let n = stats.doc_count as f32;
        let df = df as f32;
        let idf = (1.0f32 + (n - df + 0.5) / (df + 0.5)).ln();
        let avgdl = if stats.avgdl > 0.0 { stats.avgdl } else { 1.0 };
        let mut out = Vec::with_capacity(info.df as usize);
        self.decode_postings(info, |doc, tf| {
            let dl = match self.lengths.get(doc) {
                Some(len) if tf <= len => len,
                _ => {
                    return Err(corrupt(format!(
                        "term {term:?}, doc {doc}: term frequency {tf} exceeds its length"
                    )));
                }
            };
            let tf = tf as f32;
            let norm = k1 * (1.0 - b + b * (dl as f32 / avgdl));
            out.push((doc, idf * (tf * (k1 + 1.0)) / (tf + norm)));
            Ok(())
        })?;
        Ok(out)
    }

    /// Decodes one postings list, calling `f(doc, tf)` in doc order.
    fn decode_postings(
        &self,
        info: &TermInfo,
        mut f: impl FnMut(u32, u32) -> Result<(), IndexError>,
    ) -> Result<(), IndexError> {
        let bytes = self
            .postings
            .get(info.postings.clone())
            .ok_or_else(|| corrupt("postings list out of bounds"))?;
        let mut r = Reader::new(bytes);
        let bad = |e: ReadError| corrupt(format!("postings: {}", e.describe()));
        let mut prev: Option<u32> = None;
        for _ in 0..info.df {
            let v = r.varint().map_err(bad)?;
            let gap = u32::try_from(v >> 1).map_err(|_| corrupt("postings: doc gap too large"))?;
            let tf = if v & 1 == 1 {
                1
            } else {
                match r.varint_u32().map_err(bad)? {
                    tf @ 2.. => tf,
                    _ => return Err(corrupt("postings: explicit term frequency below 2")),
                }
            };
            let doc = match prev {
                None => gap,
                Some(_) if gap == 0 => return Err(corrupt("postings: repeated doc id")),
                Some(p) => p
                    .checked_add(gap)
                    .ok_or_else(|| corrupt("postings: doc id overflow"))?,
            };
            f(doc, tf)?;
            prev = Some(doc);
        }
        if !r.is_empty() {
            return Err(corrupt("postings list longer than its document frequency"));
        }
        Ok(())
    }

    /// The dictionary entry of `term`, if present.
    fn lookup(&self, term: &[u8]) -> Result<Option<TermInfo>, IndexError> {
        if self.blocks == 0 || term.is_empty() {
            return Ok(None);
        }
        // Last block whose first term is <= `term`.
        let (mut lo, mut hi) = (0usize, self.blocks);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.first_term(mid)? <= term {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo == 0 {
            return Ok(None);
        }
        let mut found = None;
        self.scan_block(lo - 1, |t, info| match t.cmp(term) {
            std::cmp::Ordering::Less => Ok(true),
            std::cmp::Ordering::Equal => {
                found = Some(info);
                Ok(false)
            }
            std::cmp::Ordering::Greater => Ok(false),
        })?;
        Ok(found)
    }

    /// Byte range of block `b` within the dictionary, and its first postings offset.
    fn block_bounds(&self, b: usize) -> Result<(Range<usize>, usize), IndexError> {
        let entry = |i: usize| -> Option<(u64, u64)> {
            let at = i.checked_mul(BLOCK_ENTRY_LEN)?;
            Some((
                u64_at(self.block_index, at)?,
                u64_at(self.block_index, at + 8)?,
            ))
        };
        let (start, post) = entry(b).ok_or_else(|| corrupt("block index out of range"))?;
        let end = if b + 1 < self.blocks {
            entry(b + 1).map_or(u64::MAX, |(d, _)| d)
        } else {
            self.dict.len() as u64
        };
        // `open` checked these are increasing and inside the sections.
        let to = |v: u64| usize::try_from(v).map_err(|_| corrupt("offset too large"));
        Ok((to(start)?..to(end)?, to(post)?))
    }

    /// The first (fully stored) term of block `b`.
    fn first_term(&self, b: usize) -> Result<&'a [u8], IndexError> {
        let (range, _) = self.block_bounds(b)?;
        let block = self
            .dict
            .get(range)
            .ok_or_else(|| corrupt("dictionary block out of bounds"))?;
        let mut r = Reader::new(block);
        let bad = |e: ReadError| corrupt(format!("dictionary block {b}: {}", e.describe()));
        if r.varint().map_err(bad)? != 0 {
            return Err(corrupt(format!(
                "dictionary block {b}: first term is prefix-coded"
            )));
        }
        let len =
            usize::try_from(r.varint().map_err(bad)?).map_err(|_| corrupt("term too long"))?;
        r.take(len).map_err(bad)
    }

    /// Decodes block `b` term by term, calling `f(term, info)` until it
    /// returns `Ok(false)`. Checks what it decodes; a fully scanned block
    /// must be consumed exactly and end where the next block's postings start.
    fn scan_block(
        &self,
        b: usize,
        mut f: impl FnMut(&[u8], TermInfo) -> Result<bool, IndexError>,
    ) -> Result<(), IndexError> {
        let (range, mut post) = self.block_bounds(b)?;
        let block = self
            .dict
            .get(range)
            .ok_or_else(|| corrupt("dictionary block out of bounds"))?;
        let first = b as u64 * u64::from(self.block_size);
        let count = u64::from(self.term_count)
            .saturating_sub(first)
            .min(u64::from(self.block_size));
        let post_end = if b + 1 < self.blocks {
            self.block_bounds(b + 1)?.1
        } else {
            self.postings.len()
        };
        let bad = |e: ReadError| corrupt(format!("dictionary block {b}: {}", e.describe()));
        let mut r = Reader::new(block);
        let mut term: Vec<u8> = Vec::new();
        for k in 0..count {
            let shared = r.varint().map_err(bad)?;
            let suffix = r.varint().map_err(bad)?;
            let ordered = if k == 0 {
                shared == 0
            } else {
                // Strictly greater than the previous term.
                match usize::try_from(shared) {
                    Ok(s) if s < term.len() => {
                        suffix > 0 && block.get(r.pos()).is_some_and(|&c| Some(&c) > term.get(s))
                    }
                    Ok(s) if s == term.len() => suffix > 0,
                    _ => false,
                }
            };
            if !ordered {
                return Err(corrupt(format!("dictionary block {b}: terms out of order")));
            }
            term.truncate(shared as usize);
            let suffix = usize::try_from(suffix).map_err(|_| corrupt("term too long"))?;
            term.extend_from_slice(r.take(suffix).map_err(bad)?);
            let df = r.varint_u32().map_err(bad)?;
            let len = r.varint().map_err(bad)?;
            if df == 0 || df > self.doc_count {
                return Err(corrupt(format!(
                    "dictionary block {b}: document frequency {df} outside 1..={}",
                    self.doc_count
                )));
            }
            let end = usize::try_from(len)
                .ok()
                .filter(|&len| len >= df as usize)
                .and_then(|len| post.checked_add(len))
                .filter(|&end| end <= post_end)
                .ok_or_else(|| {
                    corrupt(format!("dictionary block {b}: postings list out of bounds"))
                })?;
            let info = TermInfo {
                df,
                postings: post..end,
            };
            post = end;
            if !f(&term, info)? {
                return Ok(());
            }
        }
        if !r.is_empty() || post != post_end {
            return Err(corrupt(format!("dictionary block {b}: size mismatch")));
        }
        Ok(())
    }
}
