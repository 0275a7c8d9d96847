//! The documented tokenizer, shared by the index builder and by queries.
//!
//! # Rule
//!
//! 1. A token is a maximal run of characters for which
//!    [`char::is_alphanumeric`] holds (Unicode `Alphabetic` or `Numeric`),
//!    taken from the original text. Everything else (whitespace,
//!    punctuation, symbols, `_`, `-`, `.`, `/`, emoji, combining marks...)
//!    separates tokens and is dropped.
//! 2. Each token is lowercased with [`str::to_lowercase`] (full Unicode
//!    lowercasing, including the word-final `ς` rule for Greek).
//! 3. Empty tokens do not exist by construction; nothing else is removed
//!    (no stop words, no stemming, no length limit, no Unicode normalization:
//!    the ingest stage hands over NFC text already).
//!
//! Consequences worth knowing:
//!
//! - `snake_case`, `kebab-case`, `dotted.names` and `path/to/file` split into
//!   their parts: `snake_case` gives `snake`, `case`.
//! - Digits are letters for this purpose: `v2`, `x86` and `2024` are tokens;
//!   `1.2.3` gives `1`, `2`, `3`.
//! - Accented letters stay inside their word (`Café` gives `café`) as long as
//!   they are precomposed (NFC); a decomposed accent (a combining mark) splits
//!   the word, which is one reason ingest normalizes to NFC first.
//! - Cyrillic and Greek behave like Latin: `Привет, мир` gives `привет`, `мир`.
//! - Scripts written without spaces (Chinese, Japanese, Thai...) are *not*
//!   segmented into words: a run of CJK letters is a single token, so
//!   `数据库连接` is one token and only a query for the whole run matches it.
//!   This is accepted for now; a run separated by punctuation or Latin text
//!   (`数据库 SQL`) still splits there.
//! - Lowercasing happens after splitting, so the rare characters whose
//!   lowercase form contains a combining mark (`İ` becomes `i̇`) keep it
//!   inside the token.
//!
//! Byte offsets reported by [`for_each_token`] refer to the original text.

/// Splits `text` into lowercase tokens; see the [module docs](self) for the rule.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_token(text, |token, _, _| out.push(token.to_owned()));
    out
}

/// Calls `f(token, start, end)` for every token of `text`, in order, where
/// `text[start..end]` is the token as written and `token` its lowercase form.
///
/// A token that is already lowercase (all ASCII runs without capitals, and
/// most CJK, accented or other non-ASCII runs) is passed as a slice of `text`
/// without copying; other tokens are lowercased into a reused buffer.
pub fn for_each_token(text: &str, mut f: impl FnMut(&str, usize, usize)) {
    let bytes = text.as_bytes();
    let mut buf = String::new();
    let mut i = 0;
    while i < bytes.len() {
        // Skip separators.
        let Some(start) = next_alnum(text, i) else {
            return;
        };
        // Extend the run.
        let mut end = start;
        let (mut upper_ascii, mut non_ascii) = (false, false);
        while end < bytes.len() {
            let b = bytes[end];
            if b.is_ascii() {
                if b.is_ascii_lowercase() || b.is_ascii_digit() {
                    end += 1;
                } else if b.is_ascii_uppercase() {
                    upper_ascii = true;
                    end += 1;
                } else {
                    break;
                }
            } else {
                match text[end..].chars().next() {
                    Some(c) if c.is_alphanumeric() => {
                        non_ascii = true;
                        end += c.len_utf8();
                    }
                    _ => break,
                }
            }
        }
        let run = &text[start..end];
        if !upper_ascii && (!non_ascii || lowercase_already(run)) {
            f(run, start, end);
        } else if !non_ascii {
            buf.clear();
            buf.push_str(run);
            buf.make_ascii_lowercase();
            f(&buf, start, end);
        } else {
            buf.clear();
            buf.push_str(&run.to_lowercase());
            f(&buf, start, end);
        }
        i = end;
    }
}

/// Whether `str::to_lowercase` would return `run` unchanged: every
/// character is its own lowercase form, and there is no `Σ` (whose
/// lowercase form depends on its position in the word).
fn lowercase_already(run: &str) -> bool {
    run.chars().all(|c| {
        let mut lower = c.to_lowercase();
        c != 'Σ' && lower.next() == Some(c) && lower.next().is_none()
    })
}

/// The byte offset of the first alphanumeric character at or after `from`.
fn next_alnum(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii() {
            if b.is_ascii_alphanumeric() {
                return Some(i);
            }
            i += 1;
        } else {
            let c = text[i..].chars().next()?;
            if c.is_alphanumeric() {
                return Some(i);
            }
            i += c.len_utf8();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<String> {
        tokenize(text)
    }

    #[test]
    fn ascii_words_are_lowercased() {
        assert_eq!(toks("Hello World"), ["hello", "world"]);
        assert_eq!(
            toks("  leading and trailing  "),
            ["leading", "and", "trailing"]
        );
        assert_eq!(toks("MiXeD CASE"), ["mixed", "case"]);
    }

    #[test]
    fn punctuation_separates() {
        assert_eq!(
            toks("tar -xvf archive.tar.gz"),
            ["tar", "xvf", "archive", "tar", "gz"]
        );
        assert_eq!(toks("(a), [b]; {c}! \"d\" 'e'"), ["a", "b", "c", "d", "e"]);
        assert_eq!(toks("--- *** ..."), Vec::<String>::new());
    }

    #[test]
    fn identifiers_split() {
        assert_eq!(toks("snake_case_name"), ["snake", "case", "name"]);
        assert_eq!(toks("kebab-case-name"), ["kebab", "case", "name"]);
        assert_eq!(toks("dotted.names.here"), ["dotted", "names", "here"]);
        assert_eq!(toks("src/main.rs"), ["src", "main", "rs"]);
        assert_eq!(toks("CamelCase"), ["camelcase"]);
    }

    #[test]
    fn digits_are_token_characters() {
        assert_eq!(
            toks("v2 x86_64 2024-05-03"),
            ["v2", "x86", "64", "2024", "05", "03"]
        );
        assert_eq!(toks("1.2.3"), ["1", "2", "3"]);
        // Other numeric characters count too.
        assert_eq!(toks("Ⅻ ½ ٣"), ["ⅻ", "½", "٣"]);
    }

    #[test]
    fn accented_latin_stays_together() {
        assert_eq!(toks("Café CRÈME brûlée"), ["café", "crème", "brûlée"]);
        assert_eq!(toks("Straße"), ["straße"]);
        // A decomposed accent (combining mark) is not alphanumeric and splits.
        assert_eq!(toks("Cafe\u{301}"), ["cafe"]);
    }

    #[test]
    fn cyrillic_and_greek() {
        assert_eq!(toks("Привет, МИР!"), ["привет", "мир"]);
        // Word-final sigma follows str::to_lowercase.
        assert_eq!(toks("ΟΔΟΣ Σοφία"), ["οδος", "σοφία"]);
    }

    #[test]
    fn cjk_runs_are_single_tokens() {
        assert_eq!(toks("数据库连接"), ["数据库连接"]);
        assert_eq!(toks("数据库，连接"), ["数据库", "连接"]);
        assert_eq!(toks("数据库SQL连接"), ["数据库sql连接"]);
        assert_eq!(toks("数据库 SQL"), ["数据库", "sql"]);
        assert_eq!(toks("ひらがなカタカナ"), ["ひらがなカタカナ"]);
    }

    #[test]
    fn empty_and_separator_only() {
        assert!(toks("").is_empty());
        assert!(toks(" \t\n").is_empty());
        assert!(toks("_-_ 🎉 ✓").is_empty());
    }

    #[test]
    fn lowercase_after_split() {
        // U+0130 lowercases to "i" + U+0307 (a combining mark), kept inside.
        assert_eq!(toks("İstanbul"), ["i\u{307}stanbul"]);
        // Titlecase digraph.
        assert_eq!(toks("ǅemal"), ["ǆemal"]);
    }

    #[test]
    fn offsets_point_into_original_text() {
        let text = "Ünïcode-Text x_Y 数据";
        let mut seen = Vec::new();
        for_each_token(text, |t, s, e| seen.push((t.to_owned(), &text[s..e])));
        assert_eq!(
            seen,
            [
                ("ünïcode".to_owned(), "Ünïcode"),
                ("text".to_owned(), "Text"),
                ("x".to_owned(), "x"),
                ("y".to_owned(), "Y"),
                ("数据".to_owned(), "数据"),
            ]
        );
    }

    #[test]
    fn matches_reference_definition() {
        // The straightforward definition of the rule, for comparison.
        fn reference(text: &str) -> Vec<String> {
            text.split(|c: char| !c.is_alphanumeric())
                .filter(|t| !t.is_empty())
                .map(str::to_lowercase)
                .collect()
        }
        for text in [
            "",
            "a",
            "A-b_C.d/e",
            "Grüße, Jürgen! ΣΊΣΥΦΟΣ",
            "x\u{301}y \u{200b}z",
            "tab\there\r\nnew",
            "数据库SQL连接",
        ] {
            assert_eq!(tokenize(text), reference(text), "{text:?}");
        }
    }
}
