//! Text normalization, front matter and chunking.
//!
//! * Normalization: a UTF-8 BOM is dropped, CRLF and lone CR become LF, and
//!   the text is put in Unicode NFC. Nothing else changes, so line numbers
//!   stay those of the source file.
//! * Front matter: a Markdown file starting with a `---` line and holding a
//!   later `---` (or `...`) line has YAML front matter between them.
//! * Chunks: windows of `chunk_tokens` whitespace-separated tokens of the
//!   body, each overlapping the previous one by `chunk_overlap_tokens`. A
//!   chunk is a byte range of the text, so its text keeps the original
//!   spacing and line breaks.

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// Normalizes decoded text (see module docs). Takes the text by value:
/// most files need no change, and are then not copied.
pub fn normalize(mut text: String) -> String {
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    if memchr::memchr(b'\r', text.as_bytes()).is_some() {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\r' {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            } else {
                out.push(c);
            }
        }
        text = out;
    }
    if is_nfc(&text) {
        text
    } else {
        text.nfc().collect()
    }
}

/// Whether `text` is surely NFC (the quick check says yes). ASCII is NFC
/// and every ASCII character is a starter, so only the runs of non-ASCII
/// characters need checking, each on its own.
fn is_nfc(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(offset) = bytes
        .get(i..)
        .and_then(|rest| rest.iter().position(|b| !b.is_ascii()))
    {
        let start = i + offset;
        let end = bytes
            .get(start..)
            .and_then(|rest| rest.iter().position(u8::is_ascii))
            .map_or(bytes.len(), |n| start + n);
        let run = text.get(start..end).unwrap_or("");
        if is_nfc_quick(run.chars()) != IsNormalized::Yes {
            return false;
        }
        i = end;
    }
    true
}

/// Byte offsets of line starts, for offset -> line lookups.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        LineIndex { starts }
    }

    /// 1-based line number of a byte offset.
    pub fn line_of(&self, offset: usize) -> u32 {
        match self.starts.binary_search(&offset) {
            Ok(i) => i as u32 + 1,
            Err(i) => i as u32,
        }
    }

    pub fn line_count(&self) -> usize {
        self.starts.len()
    }
}

/// Where front matter is, if the text has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontMatterSpan {
    /// The YAML between the delimiters.
    pub yaml_start: usize,
    pub yaml_end: usize,
    /// First byte after the closing delimiter line.
    pub body_start: usize,
}

/// Finds YAML front matter at the very start of a Markdown text.
pub fn front_matter(text: &str) -> Option<FrontMatterSpan> {
    let first_end = text.find('\n')?;
    if text[..first_end].trim_end() != "---" {
        return None;
    }
    let yaml_start = first_end + 1;
    let mut pos = yaml_start;
    while pos <= text.len() {
        let line_end = text[pos..]
            .find('\n')
            .map(|i| pos + i)
            .unwrap_or(text.len());
        let line = text[pos..line_end].trim_end();
        if line == "---" || line == "..." {
            let body_start = (line_end + 1).min(text.len());
            return Some(FrontMatterSpan {
                yaml_start,
                yaml_end: pos,
                body_start,
            });
        }
        if line_end >= text.len() {
            break;
        }
        pos = line_end + 1;
    }
    None
}

/// A chunk as a byte range of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSpan {
    pub start: usize,
    pub end: usize,
    pub token_count: u32,
    pub overlap_tokens: u32,
}

/// Splits `text[from..]` into windows of `size` whitespace-separated
/// tokens, each starting `size - overlap` tokens after the previous one;
/// the last window ends at the last token.
///
/// One pass over the bytes, without a list of every token (on a 1 MB
/// chapter that list was 3 MB of memory to fault in): a window is opened
/// at every `step`-th token and closed at its `size`-th.
pub fn chunk(text: &str, from: usize, size: u32, overlap: u32) -> Vec<ChunkSpan> {
    let size = size.max(1) as usize;
    let overlap = (overlap as usize).min(size - 1);
    let step = size - overlap;
    let mut chunks: Vec<ChunkSpan> = Vec::new();
    // Windows before this index are closed (they hold `size` tokens).
    let mut closed = 0;
    let mut tokens = 0usize;
    let mut last_end = 0;
    // Token indexes where the next window opens and the oldest open one
    // closes (counters, not a division per token).
    let mut next_open = 0;
    let mut next_close = size - 1;
    for_each_token(text, from, |start, end| {
        let k = tokens;
        tokens += 1;
        last_end = end;
        if k == next_open {
            next_open += step;
            chunks.push(ChunkSpan {
                start,
                end: 0,
                token_count: size as u32,
                overlap_tokens: if k == 0 { 0 } else { overlap as u32 },
            });
        }
        if k == next_close {
            next_close += step;
            if let Some(window) = chunks.get_mut(closed) {
                window.end = end;
                closed += 1;
            }
        }
    });
    // The window that ends exactly at the last token is the last one;
    // otherwise the first open window takes the remaining tokens.
    let ends_at_last = closed > 0 && (closed - 1) * step + size == tokens;
    if !ends_at_last && let Some(window) = chunks.get_mut(closed) {
        window.end = last_end;
        window.token_count = (tokens - closed * step) as u32;
        closed += 1;
    }
    chunks.truncate(closed);
    chunks
}

/// Whether a byte is ASCII whitespace (as `char::is_whitespace`): the
/// space, and tab through carriage return.
fn is_ascii_space(b: u8) -> bool {
    (b == b' ') | (b.wrapping_sub(b'\t') < 5)
}

/// Whether a byte may start a non-ASCII whitespace character: every such
/// character (U+0085, U+00A0, U+1680, U+2000..U+205F, U+3000) starts with
/// 0xC2, 0xE1, 0xE2 or 0xE3.
fn may_start_space(b: u8) -> bool {
    (b == 0xC2) | (b.wrapping_sub(0xE1) < 3)
}

/// Bytes examined at a time by [`for_each_token`].
const BLOCK: usize = 64;

/// Bit masks of a block's bytes (bit `j` for byte `j`): ASCII whitespace,
/// and bytes that may start non-ASCII whitespace.
fn block_masks(block: &[u8]) -> (u64, u64) {
    let mut padded = [0u8; BLOCK];
    let bytes: &[u8; BLOCK] = match block.try_into() {
        Ok(full) => full,
        Err(_) => {
            let n = block.len().min(BLOCK);
            padded[..n].copy_from_slice(&block[..n]);
            &padded
        }
    };
    // fixed length and no branch per byte: compiled to vector compares
    let mut space = [0u8; BLOCK];
    let mut maybe = [0u8; BLOCK];
    for ((s, m), &b) in space.iter_mut().zip(maybe.iter_mut()).zip(bytes) {
        *s = u8::from(is_ascii_space(b));
        *m = u8::from(may_start_space(b));
    }
    (pack_bits(&space), pack_bits(&maybe))
}

/// Packs 64 flags (bytes 0 or 1) into a mask, eight at a time: the
/// multiplication moves byte `k`'s bit to bit `56 + k` without carries.
fn pack_bits(flags: &[u8; BLOCK]) -> u64 {
    flags
        .chunks_exact(8)
        .enumerate()
        .fold(0u64, |mask, (w, eight)| {
            let word = u64::from_le_bytes(eight.try_into().unwrap_or_default());
            mask | ((word.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * w))
        })
}

/// Calls `token(start, end)` with the byte range of each token of
/// `text[from..]` (tokens are separated by Unicode whitespace), in order.
///
/// Works on blocks of 64 bytes: a bit mask of the whitespace bytes is
/// computed without a branch per byte, and tokens are read off its edges.
/// A byte-at-a-time loop mispredicted a branch at every token edge, which
/// made chunking cost more than normalizing and hashing the text together.
fn for_each_token(text: &str, from: usize, mut token: impl FnMut(usize, usize)) {
    let Some(body) = text.get(from..) else {
        return;
    };
    let bytes = body.as_bytes();
    // Whitespace bits of a multi-byte character that run into the next block.
    let mut spill: u64 = 0;
    // Whether the byte before the block is whitespace (the text's start is).
    let mut after_space = true;
    let mut open: Option<usize> = None;
    for (index, block) in bytes.chunks(BLOCK).enumerate() {
        let base = index * BLOCK;
        let (mut space, mut maybe) = block_masks(block);
        space |= spill;
        spill = 0;
        while maybe != 0 {
            let j = maybe.trailing_zeros() as usize;
            maybe &= maybe - 1;
            let c = body.get(base + j..).and_then(|rest| rest.chars().next());
            if let Some(c) = c.filter(|c| c.is_whitespace()) {
                // bits j .. j + len, in this block and past its end
                let bits = (1u128 << c.len_utf8()) - 1;
                let wide = bits << j;
                space |= wide as u64;
                spill |= (wide >> BLOCK) as u64;
            }
        }
        let before = (space << 1) | u64::from(after_space);
        // a byte whose whitespace-ness differs from the byte before it
        let mut edges = space ^ before;
        if block.len() < BLOCK {
            // past the text's end (padding, never whitespace) no edge is read
            edges &= (1u64 << block.len()) - 1;
        }
        // edges alternate: a token's first byte, then the whitespace after it
        while edges != 0 {
            let at = base + edges.trailing_zeros() as usize;
            edges &= edges - 1;
            match open.take() {
                None => open = Some(at),
                Some(start) => token(from + start, from + at),
            }
        }
        after_space = (space >> (block.len() - 1)) & 1 == 1;
    }
    if let Some(start) = open {
        token(from + start, text.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_line_endings_bom_and_nfc() {
        let n = |s: &str| normalize(s.to_string());
        assert_eq!(n("\u{feff}a\r\nb\rc\n"), "a\nb\nc\n");
        assert_eq!(n("e\u{301}"), "\u{e9}");
        assert_eq!(n("caf\u{e9} e\u{301}"), "caf\u{e9} \u{e9}");
        assert_eq!(
            n("x \u{e9}\u{301} y"),
            "x \u{e9}\u{301} y".nfc().collect::<String>()
        );
        assert_eq!(n("\u{feff}"), "");
    }

    #[test]
    fn line_numbers() {
        let idx = LineIndex::new("a\nbc\n\nd");
        assert_eq!(idx.line_of(0), 1);
        assert_eq!(idx.line_of(2), 2);
        assert_eq!(idx.line_of(3), 2);
        assert_eq!(idx.line_of(5), 3);
        assert_eq!(idx.line_of(6), 4);
    }

    #[test]
    fn finds_front_matter() {
        let t = "---\ntitle: x\n---\n# Body\n";
        let fm = front_matter(t).unwrap();
        assert_eq!(&t[fm.yaml_start..fm.yaml_end], "title: x\n");
        assert_eq!(&t[fm.body_start..], "# Body\n");
        assert!(front_matter("# no\n---\n").is_none());
        assert!(front_matter("---\nunterminated: yes\n").is_none());
        let end_only = "---\na: 1\n---";
        assert_eq!(front_matter(end_only).unwrap().body_start, end_only.len());
    }

    #[test]
    fn chunk_windows_match_the_python_tool() {
        // 10 tokens, size 4, overlap 1 => [0,4) [3,7) [6,10)
        let text = "t0 t1 t2 t3 t4 t5 t6 t7 t8 t9";
        let chunks = chunk(text, 0, 4, 1);
        let texts: Vec<&str> = chunks.iter().map(|c| &text[c.start..c.end]).collect();
        assert_eq!(texts, vec!["t0 t1 t2 t3", "t3 t4 t5 t6", "t6 t7 t8 t9"]);
        assert_eq!(chunks[0].overlap_tokens, 0);
        assert_eq!(chunks[1].overlap_tokens, 1);
        assert!(chunk("   \n ", 0, 4, 1).is_empty());
    }

    /// The windows as first written: every token listed, then windows
    /// taken from the list.
    fn reference_chunk(text: &str, from: usize, size: u32, overlap: u32) -> Vec<ChunkSpan> {
        let size = size.max(1) as usize;
        let overlap = (overlap as usize).min(size - 1);
        let mut tokens = Vec::new();
        let mut start = None;
        for (i, c) in text[from..].char_indices() {
            if c.is_whitespace() {
                if let Some(s) = start.take() {
                    tokens.push((from + s, from + i));
                }
            } else if start.is_none() {
                start = Some(i);
            }
        }
        if let Some(s) = start {
            tokens.push((from + s, text.len()));
        }
        let mut chunks = Vec::new();
        let mut first = 0;
        while !tokens.is_empty() {
            let last = (first + size).min(tokens.len());
            chunks.push(ChunkSpan {
                start: tokens[first].0,
                end: tokens[last - 1].1,
                token_count: (last - first) as u32,
                overlap_tokens: if first == 0 { 0 } else { overlap as u32 },
            });
            if last == tokens.len() {
                break;
            }
            first += size - overlap;
        }
        chunks
    }

    proptest::proptest! {
        #[test]
        fn normalize_matches_the_reference(
            text in "(\u{feff})?[a-z \r\n\u{e9}\u{301}\u{327}\u{1100}\u{1161}\u{2126}\u{212b}\u{fb01}]{0,40}",
        ) {
            let lf = text
                .strip_prefix('\u{feff}')
                .unwrap_or(&text)
                .replace("\r\n", "\n")
                .replace('\r', "\n");
            proptest::prop_assert_eq!(normalize(text.clone()), lf.nfc().collect::<String>());
        }

        #[test]
        fn chunks_match_the_reference(
            words in proptest::collection::vec(
                "[a-zé©‐、ᚁ\u{85}\u{a0}\u{1680}\u{2003}\u{2028}\u{205f}\u{3000}]{0,3}[ \t\n\u{b}\u{c}\r\u{85}\u{a0}\u{1680}\u{2003}\u{2028}\u{205f}\u{3000}]{0,2}",
                0..60,
            ),
            size in 0u32..8,
            overlap in 0u32..9,
            from in 0usize..4,
        ) {
            let text: String = words.concat();
            let from = (0..=from.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            proptest::prop_assert_eq!(
                chunk(&text, from, size, overlap),
                reference_chunk(&text, from, size, overlap)
            );
        }
    }

    #[test]
    fn every_whitespace_character_starts_with_a_flagged_byte() {
        for c in (0..=char::MAX as u32).filter_map(char::from_u32) {
            let mut buf = [0u8; 4];
            let first = c.encode_utf8(&mut buf).as_bytes()[0];
            if c.is_ascii() {
                assert_eq!(is_ascii_space(first), c.is_whitespace(), "{c:?}");
            } else if c.is_whitespace() {
                assert!(may_start_space(first), "{c:?}");
            }
        }
    }

    #[test]
    fn packs_flags_into_bits() {
        let mut flags = [0u8; BLOCK];
        for (j, f) in flags.iter_mut().enumerate() {
            *f = u8::from(j % 3 == 0 || j == 63);
        }
        let expected = (0..BLOCK)
            .filter(|&j| flags[j] == 1)
            .fold(0u64, |m, j| m | 1 << j);
        assert_eq!(pack_bits(&flags), expected);
        assert_eq!(pack_bits(&[1; BLOCK]), u64::MAX);
        assert_eq!(pack_bits(&[0; BLOCK]), 0);
    }

    #[test]
    fn tokens_across_block_edges() {
        // multi-byte whitespace and tokens straddling the 64-byte blocks
        for pad in 0..70 {
            let text = format!(
                "{}a\u{3000}b\u{2003}\u{a0}cc {}é\u{85}d",
                "x".repeat(pad),
                " ".repeat(pad % 7)
            );
            for from in [0, 1] {
                assert_eq!(
                    chunk(&text, from, 3, 1),
                    reference_chunk(&text, from, 3, 1),
                    "pad {pad}"
                );
            }
        }
    }

    #[test]
    fn chunks_keep_original_spacing() {
        let text = "a  b\n\nc d";
        let chunks = chunk(text, 0, 10, 2);
        assert_eq!(&text[chunks[0].start..chunks[0].end], "a  b\n\nc d");
    }
}
