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

/// Normalizes decoded text (see module docs).
pub fn normalize(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lf = if text.contains('\r') {
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
        out
    } else {
        text.to_string()
    };
    match is_nfc_quick(lf.chars()) {
        IsNormalized::Yes => lf,
        _ => lf.nfc().collect(),
    }
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

/// Whether each ASCII byte is whitespace (as `char::is_whitespace`).
const ASCII_WHITESPACE: [bool; 128] = {
    let mut table = [false; 128];
    let mut b = 0;
    while b < 128 {
        table[b] = (b as u8 as char).is_whitespace();
        b += 1;
    }
    table
};

/// Calls `token(start, end)` with the byte range of each token of
/// `text[from..]` (tokens are separated by Unicode whitespace), in order.
fn for_each_token(text: &str, from: usize, mut token: impl FnMut(usize, usize)) {
    let Some(body) = text.get(from..) else {
        return;
    };
    let bytes = body.as_bytes();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let (space, len) = match ASCII_WHITESPACE.get(b as usize) {
            Some(&space) => (space, 1),
            None => body
                .get(i..)
                .and_then(|rest| rest.chars().next())
                .map_or((false, 1), |c| (c.is_whitespace(), c.len_utf8())),
        };
        if space {
            if let Some(s) = start.take() {
                token(from + s, from + i);
            }
        } else if start.is_none() {
            start = Some(i);
        }
        i += len;
    }
    if let Some(s) = start {
        token(from + s, text.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_line_endings_bom_and_nfc() {
        assert_eq!(normalize("\u{feff}a\r\nb\rc\n"), "a\nb\nc\n");
        assert_eq!(normalize("e\u{301}"), "\u{e9}");
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
        fn chunks_match_the_reference(
            words in proptest::collection::vec("[a-zé]{0,3}[ \t\n\u{a0}\u{2003}\u{b}]{0,2}", 0..60),
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
    fn chunks_keep_original_spacing() {
        let text = "a  b\n\nc d";
        let chunks = chunk(text, 0, 10, 2);
        assert_eq!(&text[chunks[0].start..chunks[0].end], "a  b\n\nc d");
    }
}
