//! Ranked keyword index.
//!
//! [`tokenize`](mod@tokenize) is the documented tokenizer shared by indexing and queries;
//! [`bm25`] builds and reads a compact BM25 index stored as one object.
//!
//! # BM25 index byte format (version 1)
//!
//! All integers are little-endian; "varint" is unsigned LEB128. The data is
//! an 88-byte header followed by four sections, back to back, that end the
//! data exactly:
//!
//! ```text
//! offset size header field
//!      0    8 magic "AGBM25\0\0"
//!      8    4 format version (1)
//!     12    4 flags (0)
//!     16    4 k1 (f32 bits)
//!     20    4 b  (f32 bits)
//!     24    4 N: number of distinct documents added
//!     28    4 number of distinct terms
//!     32    8 total tokens over all documents (avgdl = total / N)
//!     40    8 entries in the length table
//!     48    1 length table layout: 0 dense, 1 sparse
//!     49    1 bits per document length
//!     50    1 bits per doc id (sparse layout; 0 for dense)
//!     51    1 terms per dictionary block (32)
//!     52    4 reserved (0)
//!     56   32 byte lengths of the four sections, u64 each
//!
//! 1. length table   dense: the length of doc i at bits [i*w, (i+1)*w), for
//!                   i in 0..=max doc id (0 for ids never added);
//!                   sparse: the sorted doc ids bit-packed, then their lengths
//!                   bit-packed (each array padded to a whole byte).
//!                   The builder picks whichever is smaller (dense on a tie).
//! 2. block index    per dictionary block: u64 offset of the block in the
//!                   dictionary, u64 offset of its first postings list.
//! 3. dictionary     terms sorted by bytes, in blocks of 32, front-coded:
//!                   per term varint shared-prefix length (0 for a block's
//!                   first term), varint suffix length, suffix bytes,
//!                   varint df, varint byte length of its postings list.
//! 4. postings       per term, in dictionary order, per document by
//!                   increasing id: varint (gap << 1 | (tf == 1)), then
//!                   varint tf if tf != 1. The gap is the doc id for the
//!                   first posting, the difference to the previous id after.
//! ```
//!
//! Nothing in the bytes depends on hash-map order, thread count or the
//! order documents were added in; the same input gives the same bytes.
//! Opening reads the header and the block index; a lookup binary-searches
//! the blocks' first terms and scans one block; a search decodes only the
//! query terms' postings.

pub mod bm25;
mod codec;
pub mod stage;
pub mod tokenize;

pub use bm25::{Bm25Builder, Bm25Index, Bm25Params, CorpusStats, Hit, IndexError, TermHit};
pub use tokenize::{for_each_token, tokenize};
