//! A PDF's metadata from its document information dictionary (the
//! trailer's `/Info`): `/Title` as `title`, `/Author` as `author`,
//! `/CreationDate` as `created`.
//!
//! Text strings are decoded as PDF says (UTF-16BE or UTF-8 with a byte
//! order mark, else PDFDocEncoding); blank values are left out and long
//! ones cut at [`MAX_CHARS`] characters. A date (`D:YYYYMMDDHHmmSSOHH'mm'`,
//! every part after the year optional) becomes ISO 8601
//! (`2025-05-01T09:30:00+02:00`); one that is not a PDF date is kept as
//! written.

use pdf_extract::{Document, Object};
use std::collections::BTreeMap;

/// The longest metadata value kept, in characters.
pub const MAX_CHARS: usize = 1000;

/// The metadata of a loaded (and decrypted) PDF.
pub fn metadata(doc: &Document) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(info) = doc
        .trailer
        .get(b"Info")
        .ok()
        .and_then(|o| doc.dereference(o).ok())
        .and_then(|(_, o)| o.as_dict().ok())
    else {
        return out;
    };
    for (key, field) in [
        (&b"Title"[..], "title"),
        (b"Author", "author"),
        (b"CreationDate", "created"),
    ] {
        let Some(value) = info
            .get(key)
            .ok()
            .and_then(|o| doc.dereference(o).ok())
            .map(|(_, o)| o)
            .and_then(text)
        else {
            continue;
        };
        let value = if field == "created" {
            iso_date(&value).unwrap_or(value)
        } else {
            value
        };
        out.insert(field.to_string(), value);
    }
    out
}

/// A text string's value: decoded, whitespace collapsed, cut to
/// [`MAX_CHARS`]; `None` when it is not a string or blank.
fn text(object: &Object) -> Option<String> {
    let decoded = pdf_extract::decode_text_string(object).ok()?;
    let value: String = decoded
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MAX_CHARS)
        .collect();
    (!value.is_empty()).then_some(value)
}

/// A PDF date as ISO 8601 (see the module documentation).
pub fn iso_date(value: &str) -> Option<String> {
    let s = value.trim().strip_prefix("D:").unwrap_or(value.trim());
    let digits: usize = s.chars().take_while(char::is_ascii_digit).count();
    if !(digits >= 4 && digits.is_multiple_of(2) && digits <= 14) {
        return None;
    }
    let part = |from: usize, default: &'static str| {
        s.get(from..from + 2)
            .filter(|_| from + 2 <= digits)
            .unwrap_or(default)
    };
    let year = s.get(..4)?;
    let (month, day) = (part(4, "01"), part(6, "01"));
    let mut out = format!("{year}-{month}-{day}");
    if digits > 8 {
        out.push_str(&format!(
            "T{}:{}:{}",
            part(8, "00"),
            part(10, "00"),
            part(12, "00")
        ));
        let zone = &s[digits..];
        let mut zone_chars = zone.chars();
        match zone_chars.next() {
            Some('Z') => out.push('Z'),
            Some(sign @ ('+' | '-')) => {
                let rest: String = zone_chars.filter(char::is_ascii_digit).collect();
                let hours = rest.get(..2)?;
                let minutes = rest.get(2..4).unwrap_or("00");
                out.push_str(&format!("{sign}{hours}:{minutes}"));
            }
            None => {}
            Some(_) => return None,
        }
    } else if digits < 8 && s.len() > digits {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_dates_become_iso_dates() {
        for (pdf, iso) in [
            ("D:20250501093000+02'00'", Some("2025-05-01T09:30:00+02:00")),
            ("D:20250501093000Z", Some("2025-05-01T09:30:00Z")),
            ("D:20250501093000Z00'00'", Some("2025-05-01T09:30:00Z")),
            ("D:202505010930", Some("2025-05-01T09:30:00")),
            ("D:20250501", Some("2025-05-01")),
            ("D:2025", Some("2025-01-01")),
            ("20250501", Some("2025-05-01")),
            ("D:20250501093000-05", Some("2025-05-01T09:30:00-05:00")),
            ("yesterday", None),
            ("D:2025x", None),
            ("D:123", None),
            ("D:20250501093000+", None),
            ("", None),
        ] {
            assert_eq!(iso_date(pdf).as_deref(), iso, "{pdf}");
        }
    }

    #[test]
    fn text_strings_are_decoded_and_tidied() {
        let utf16: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(
                "Caf\u{e9} \n report"
                    .encode_utf16()
                    .flat_map(u16::to_be_bytes),
            )
            .collect();
        assert_eq!(
            text(&Object::string_literal(utf16)).as_deref(),
            Some("Caf\u{e9} report")
        );
        assert_eq!(text(&Object::string_literal("  ")), None);
        assert_eq!(text(&Object::Integer(3)), None);
        let long = "x".repeat(5000);
        assert_eq!(
            text(&Object::string_literal(long)).unwrap().len(),
            MAX_CHARS
        );
    }
}
