//! The text of PDF pages made fit for search, whether it came from the
//! PDF's text or from OCR:
//!
//! * typographic ligatures become their letters by their compatibility
//!   decomposition (NFKC of U+FB00..U+FB06: `ﬃ` -> `ffi`), so a query for
//!   "efficient" finds "eﬃcient"; soft hyphens are dropped;
//! * running headers and footers are removed, so they do not fill every
//!   chunk and every search: a line that is at the same place among the
//!   first or last [`EDGE_LINES`] lines of more than half of the pages
//!   with text (and of at least [`MIN_PAGES`]), its digits ignored so that
//!   "Page 3 of 9" and "Page 4 of 9" are the same line;
//! * a word split by a hyphen at a line end (`configu-` / `ration`) is
//!   joined when the next line goes on in lowercase;
//! * lines are trimmed, runs of spaces made one, blank lines dropped.
//!
//! Everything here is a pure function of the pages' text.

use std::collections::{BTreeMap, BTreeSet};

/// How many lines at the top and at the bottom of a page may be running
/// headers or footers.
pub const EDGE_LINES: usize = 2;
/// The fewest pages a line must repeat on to be a running header or
/// footer.
pub const MIN_PAGES: usize = 3;

/// Cleans every page (see the module documentation); page `i` of the
/// result is page `i` of the input.
pub fn clean_pages(pages: &[String]) -> Vec<String> {
    let lines: Vec<Vec<String>> = pages.iter().map(|p| page_lines(p)).collect();
    let running = running_lines(&lines);
    lines
        .iter()
        .map(|page| {
            let kept: Vec<&str> = page
                .iter()
                .enumerate()
                .filter(|(i, line)| {
                    !edges(*i, page.len())
                        .into_iter()
                        .flatten()
                        .any(|edge| running.contains(&(edge, shape(line))))
                })
                .map(|(_, line)| line.as_str())
                .collect();
            join_hyphenated(&kept)
        })
        .collect()
}

/// Where a line is on its page, counted from the top or from the bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Edge {
    Top(usize),
    Bottom(usize),
}

/// The edge places of line `i` of a page of `n` lines (none in the
/// middle of the page).
fn edges(i: usize, n: usize) -> [Option<Edge>; 2] {
    let from_bottom = n - 1 - i.min(n.saturating_sub(1));
    [
        (i < EDGE_LINES).then_some(Edge::Top(i)),
        (from_bottom < EDGE_LINES).then_some(Edge::Bottom(from_bottom)),
    ]
}

/// A page's lines: ligatures as letters, trimmed, spaces collapsed, blank
/// lines dropped.
fn page_lines(text: &str) -> Vec<String> {
    let mut plain = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{FB00}'..='\u{FB06}' => {
                unicode_normalization::char::decompose_compatible(c, |d| plain.push(d));
            }
            '\u{00AD}' => {}
            c => plain.push(c),
        }
    }
    plain
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

/// A line with every run of digits as `#`, so numbered headers and
/// footers compare equal.
fn shape(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_digits = false;
    for c in line.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

/// The lines (by place and shape) that run at the same place at the top
/// or bottom of most pages.
fn running_lines(pages: &[Vec<String>]) -> BTreeSet<(Edge, String)> {
    let with_text = pages.iter().filter(|p| !p.is_empty()).count();
    if with_text < MIN_PAGES {
        return BTreeSet::new();
    }
    let mut counts: BTreeMap<(Edge, String), usize> = BTreeMap::new();
    for page in pages {
        for (i, line) in page.iter().enumerate() {
            for edge in edges(i, page.len()).into_iter().flatten() {
                *counts.entry((edge, shape(line))).or_default() += 1;
            }
        }
    }
    counts
        .into_iter()
        .filter(|(_, count)| *count >= MIN_PAGES && 2 * count > with_text)
        .map(|(key, _)| key)
        .collect()
}

/// The lines joined by newlines, a word hyphenated at a line end joined
/// with its end on the next line.
fn join_hyphenated(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut joined = false;
    for (i, line) in lines.iter().enumerate() {
        if i > 0 && !joined {
            out.push('\n');
        }
        joined = false;
        let next_lower = lines
            .get(i + 1)
            .and_then(|n| n.chars().next())
            .is_some_and(char::is_lowercase);
        if let Some(stem) = line.strip_suffix('-')
            && stem.chars().last().is_some_and(char::is_alphabetic)
            && next_lower
        {
            out.push_str(stem);
            joined = true;
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(pages: &[&str]) -> Vec<String> {
        clean_pages(&pages.iter().map(|p| p.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn ligatures_and_line_end_hyphens_are_undone() {
        assert_eq!(
            clean(&["an eﬃcient and ﬂuid\nconfigu-\nration step-\nBy Step\n\n  end  \u{ad}"]),
            vec!["an efficient and fluid\nconfiguration step-\nBy Step\nend"]
        );
    }

    #[test]
    fn running_headers_and_footers_are_removed() {
        let pages: Vec<String> = (1..=4)
            .map(|n| {
                format!(
                    "ACME Confidential Handbook\nChapter text about   {0}\nthe {0} live near rivers\nPage {n} of 4",
                    ["otters", "beavers", "minks", "voles"][n - 1]
                )
            })
            .collect();
        let cleaned = clean_pages(&pages);
        assert_eq!(
            cleaned[0],
            "Chapter text about otters\nthe otters live near rivers"
        );
        assert_eq!(
            cleaned[3],
            "Chapter text about voles\nthe voles live near rivers"
        );
        // The title page has no header: its first line is kept.
        let mut pages = pages;
        pages.insert(0, "ACME Handbook\nby the team".to_string());
        assert_eq!(clean_pages(&pages)[0], "ACME Handbook\nby the team");
    }

    #[test]
    fn lines_in_the_middle_or_on_few_pages_are_kept() {
        // Two pages only: nothing is a running line.
        let two = clean(&["Header\nbody one", "Header\nbody two"]);
        assert_eq!(two, vec!["Header\nbody one", "Header\nbody two"]);
        // A line repeated in the middle of pages stays.
        let mid = "top {}\na\nrepeated middle line\nb\nbottom {}";
        let pages: Vec<String> = (0..4)
            .map(|i| mid.replace("{}", ["x", "y", "z", "w"][i]))
            .collect();
        let cleaned = clean_pages(&pages);
        assert!(cleaned.iter().all(|p| p.contains("repeated middle line")));
        // Repeated on two pages of five: not most pages.
        let pages = ["Draft\na", "Draft\nb", "c", "d", "e"];
        assert_eq!(clean(&pages)[0], "Draft\na");
        // Empty pages keep their place.
        assert_eq!(clean(&["", "x"]), vec!["", "x"]);
    }
}
