//! Text out of git objects: names and messages in whatever encoding the
//! commit declares, and signature times.

/// Decodes bytes of a commit or tag: UTF-8 when they are valid UTF-8 (and
/// the object declares no other encoding), else Latin-1 (ISO-8859-1), where
/// every byte is a character, so nothing is lost or replaced. An object
/// declaring `encoding ISO-8859-1`/`latin1` is decoded as Latin-1 first.
pub fn decode(bytes: &[u8], declared: Option<&[u8]>) -> String {
    let latin_declared = declared.is_some_and(|e| {
        let e = e.to_ascii_lowercase();
        matches!(
            e.as_slice(),
            b"iso-8859-1" | b"iso8859-1" | b"latin1" | b"latin-1" | b"l1"
        )
    });
    if !latin_declared && let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_string();
    }
    bytes.iter().map(|&b| b as char).collect()
}

/// The first line of a message, trimmed.
pub fn subject(message: &str) -> String {
    message.lines().next().unwrap_or("").trim().to_string()
}

/// A signature time as ISO 8601 in UTC (`2024-01-02T03:04:05Z`): sortable
/// and comparable whatever the committer's time zone.
pub fn utc(time: i64) -> String {
    let text = crate::store::clock::format_utc(time, 0);
    // format_utc writes milliseconds; signatures have whole seconds.
    match text.strip_suffix(".000Z") {
        Some(head) => format!("{head}Z"),
        None => text,
    }
}

/// A UTC offset in seconds as `+HHMM` / `-HHMM`, as git prints it.
pub fn offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    format!("{sign}{:02}{:02}", s / 3600, (s % 3600) / 60)
}

/// Repository path bytes as text: UTF-8, or Latin-1 for other bytes.
pub fn path(bytes: &[u8]) -> String {
    decode(bytes, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_utf8_and_latin1() {
        assert_eq!(decode("José".as_bytes(), None), "José");
        assert_eq!(decode(b"Jos\xe9", None), "José");
        assert_eq!(decode("José".as_bytes(), Some(b"ISO-8859-1")), "JosÃ©");
    }

    #[test]
    fn formats_times() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(offset(19800), "+0530");
        assert_eq!(offset(-25200), "-0700");
        assert_eq!(subject("fix: a\n\nbody"), "fix: a");
    }
}
