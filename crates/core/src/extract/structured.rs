//! The outline of a document that is not Markdown (HTML, DOCX): sections
//! and links from the [`Structure`] its format's parser found.
//!
//! Sections follow the rules of Markdown sections ([`super::markdown`]):
//! the parent is the nearest preceding heading of a lower level; a section
//! runs to the line before the next heading of the same or a higher level
//! (or to the last line); its snippet is its own text up to the next
//! heading of any level. Every heading is one line of the document's
//! text, which is its title. Links are `inline` links.

use crate::extract::markdown::{
    LinkForm, LinkMention, Outline, SNIPPET_MAX_CHARS, Section, slugify,
};
use crate::ingest::document::Structure;

/// The outline of `text` with the headings and links of `structure`.
pub fn outline(text: &str, structure: &Structure) -> Outline {
    let lines: Vec<&str> = text.lines().collect();
    let last_line = lines.len() as u32;
    let line_text = |line: u32| -> &str {
        lines
            .get(line.saturating_sub(1) as usize)
            .copied()
            .unwrap_or("")
    };
    let mut headings = structure.headings.clone();
    headings.sort_by_key(|h| h.line);
    headings.dedup_by_key(|h| h.line);
    let mut sections: Vec<Section> = Vec::with_capacity(headings.len());
    for (i, h) in headings.iter().enumerate() {
        let order = i as u32;
        let title = line_text(h.line).trim().to_string();
        let parent = sections
            .iter()
            .rev()
            .find(|s| s.level < h.level)
            .map(|s| s.order);
        let line_end = headings[i + 1..]
            .iter()
            .find(|n| n.level <= h.level)
            .map_or(last_line, |n| n.line.saturating_sub(1));
        let own_end = headings
            .get(i + 1)
            .map_or(last_line, |n| n.line.saturating_sub(1));
        let snippet: String = (h.line + 1..=own_end)
            .map(line_text)
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .chars()
            .take(SNIPPET_MAX_CHARS)
            .collect();
        sections.push(Section {
            order,
            level: h.level,
            slug: slugify(&title, order),
            title,
            parent,
            line_start: h.line,
            line_end: line_end.max(h.line),
            heading_line_end: h.line,
            snippet,
        });
    }
    let section_at = |line: u32| -> Option<u32> {
        let i = headings.partition_point(|h| h.line <= line);
        i.checked_sub(1).map(|i| i as u32)
    };
    let links = structure
        .links
        .iter()
        .map(|l| {
            let fragment = l
                .target
                .split_once('#')
                .map(|(_, f)| f.to_string())
                .filter(|f| !f.is_empty());
            LinkMention {
                form: LinkForm::Inline,
                target: l.target.clone(),
                fragment,
                text: if l.text.is_empty() {
                    l.target.clone()
                } else {
                    l.text.clone()
                },
                line: l.line,
                section: section_at(l.line),
            }
        })
        .collect();
    let first_h1 = sections
        .iter()
        .find(|s| s.level == 1 && !s.title.is_empty())
        .map(|s| s.title.clone());
    Outline {
        sections,
        code: Vec::new(),
        links,
        first_h1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::document::{DocLink, Heading};

    #[test]
    fn sections_nest_and_links_find_their_section() {
        let text = "Intro\nTop\nbody a\nSub\nbody b\nNext\nbody c\n";
        let structure = Structure {
            headings: vec![
                Heading { line: 2, level: 1 },
                Heading { line: 4, level: 2 },
                Heading { line: 6, level: 1 },
            ],
            links: vec![
                DocLink {
                    line: 1,
                    target: "a.html".to_string(),
                    text: String::new(),
                },
                DocLink {
                    line: 5,
                    target: "b.html#x".to_string(),
                    text: "B".to_string(),
                },
            ],
        };
        let o = outline(text, &structure);
        let got: Vec<(&str, Option<u32>, u32, u32, &str)> = o
            .sections
            .iter()
            .map(|s| {
                (
                    s.title.as_str(),
                    s.parent,
                    s.line_start,
                    s.line_end,
                    s.snippet.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("Top", None, 2, 5, "body a"),
                ("Sub", Some(0), 4, 5, "body b"),
                ("Next", None, 6, 7, "body c"),
            ]
        );
        assert_eq!(o.first_h1.as_deref(), Some("Top"));
        assert_eq!(o.links[0].section, None);
        assert_eq!(o.links[0].text, "a.html");
        assert_eq!(o.links[1].section, Some(1));
        assert_eq!(o.links[1].fragment.as_deref(), Some("x"));
    }
}
