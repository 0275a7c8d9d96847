//! Times and durations of reports: the `--now` instant (RFC 3339), the
//! trail's `wall_clock_at` stamps, and durations such as `7d` or `24h`.
//!
//! Every instant is kept as milliseconds since the Unix epoch (UTC) and
//! written back with [`crate::store::clock::format_utc`], the fixed-width
//! form of the trail, so report times and trail times compare as text too.

use crate::store::clock::format_utc;

/// An instant: milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(pub i64);

impl Instant {
    /// The current wall-clock time (milliseconds dropped below 1 ms).
    pub fn now() -> Instant {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Instant(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`, as the trail writes its times.
    pub fn to_utc(self) -> String {
        format_utc(self.0.div_euclid(1000), self.0.rem_euclid(1000) as u32)
    }

    /// This instant minus `seconds` (saturating).
    pub fn minus(self, seconds: u64) -> Instant {
        let ms = i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        Instant(self.0.saturating_sub(ms))
    }
}

/// Parses an RFC 3339 instant: `2026-01-31T12:00:00Z`,
/// `2026-01-31T12:00:00.250+01:00`, `2026-01-31 12:00:00z`. Fractions
/// beyond milliseconds are dropped. The error says what is wrong.
pub fn parse_rfc3339(text: &str) -> Result<Instant, String> {
    let bad = |why: &str| {
        format!("`{text}` is not an RFC 3339 time ({why}); write it like 2026-01-31T12:00:00Z")
    };
    let b = text.trim().as_bytes();
    if b.len() < 20 {
        return Err(bad("too short"));
    }
    let digits = |from: usize, len: usize| -> Result<i64, String> {
        let part = b.get(from..from + len).ok_or_else(|| bad("too short"))?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(bad("a digit is expected"));
        }
        Ok(part
            .iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
    };
    let sep = |at: usize, allowed: &[u8]| -> Result<(), String> {
        match b.get(at) {
            Some(c) if allowed.contains(c) => Ok(()),
            _ => Err(bad("a separator is missing")),
        }
    };
    let year = digits(0, 4)?;
    sep(4, b"-")?;
    let month = digits(5, 2)?;
    sep(7, b"-")?;
    let day = digits(8, 2)?;
    sep(10, b"Tt ")?;
    let hour = digits(11, 2)?;
    sep(13, b":")?;
    let minute = digits(14, 2)?;
    sep(16, b":")?;
    let second = digits(17, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(bad("no such date"));
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(bad("no such time of day"));
    }
    let mut at = 19;
    let mut millis = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 3 {
                millis = millis * 10 + i64::from(b[at] - b'0');
            }
            at += 1;
        }
        if at == start {
            return Err(bad("a fraction of a second needs digits"));
        }
        for _ in (at - start)..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match b.get(at) {
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if at + 6 == b.len() => {
            sep(at + 3, b":")?;
            let h = digits(at + 1, 2)?;
            let m = digits(at + 4, 2)?;
            if h > 23 || m > 59 {
                return Err(bad("no such UTC offset"));
            }
            let total = h * 60 + m;
            if *sign == b'-' { -total } else { total }
        }
        _ => return Err(bad("it must end with Z or a UTC offset such as +02:00")),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_minutes * 60;
    Ok(Instant(secs * 1000 + millis))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm, the inverse of the one in [`crate::store::clock`]).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A span of time written as a number and a unit: `90s`, `15m`, `24h`,
/// `7d`, `2w`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// As written (shown in reports).
    pub text: String,
    pub seconds: u64,
}

/// Parses a [`Span`]; the error says what is expected.
pub fn parse_span(text: &str) -> Result<Span, String> {
    let t = text.trim();
    let unit_at = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{t}` has no unit: write `{t}h` for hours or `{t}d` for days"))?;
    let (number, unit) = t.split_at(unit_at);
    let per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Err(format!(
                "`{t}` is not a duration: a whole number and one of the units s, m, h, d, w (such as 24h or 7d)"
            ));
        }
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{t}` is not a duration: it must start with a whole number"))?;
    let seconds = n
        .checked_mul(per)
        .filter(|s| *s <= 100 * 366 * 86_400)
        .ok_or_else(|| format!("`{t}` is longer than a hundred years"))?;
    Ok(Span {
        text: t.to_string(),
        seconds,
    })
}

/// Whether `text` looks like a duration (digits then a letter), so that
/// `since` can tell a duration from a run id.
pub fn looks_like_span(text: &str) -> bool {
    let t = text.trim();
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && t.len() == digits + 1 && t.chars().last().is_some_and(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_instants() {
        let t = parse_rfc3339("2026-01-31T12:00:00Z").unwrap();
        assert_eq!(t.to_utc(), "2026-01-31T12:00:00.000Z");
        let t = parse_rfc3339("2026-01-31T13:30:00.25+01:30").unwrap();
        assert_eq!(t.to_utc(), "2026-01-31T12:00:00.250Z");
        assert_eq!(
            parse_rfc3339("2000-02-29t00:00:00.005123z")
                .unwrap()
                .to_utc(),
            "2000-02-29T00:00:00.005Z"
        );
        assert_eq!(
            parse_rfc3339("1969-12-31T23:59:59Z").unwrap(),
            Instant(-1000)
        );
        for bad in [
            "",
            "2026-01-31",
            "2026-02-30T00:00:00Z",
            "2026-01-31T24:00:00Z",
            "2026-01-31T12:00:00",
            "2026-01-31T12:00:00+0100",
            "2026-01-31T12:00:00.Z",
            "２026-01-31T12:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_spans() {
        assert_eq!(parse_span("24h").unwrap().seconds, 86_400);
        assert_eq!(parse_span("7d").unwrap().seconds, 604_800);
        assert_eq!(parse_span("2w").unwrap().seconds, 1_209_600);
        assert!(parse_span("24").unwrap_err().contains("no unit"));
        assert!(parse_span("h").is_err());
        assert!(parse_span("3y").is_err());
        assert!(parse_span("99999999999999999999d").is_err());
        assert!(looks_like_span("7d"));
        assert!(!looks_like_span("run_0123abcd"));
        assert!(!looks_like_span("0123abcd"));
    }

    proptest::proptest! {
        #[test]
        fn never_panic_and_round_trip(text in "[0-9TZtz:.+ -]{0,32}|\\PC{0,32}", ms in -10_000_000_000_000i64..10_000_000_000_000) {
            let _ = parse_rfc3339(&text);
            let _ = parse_span(&text);
            let t = Instant(ms);
            proptest::prop_assert_eq!(parse_rfc3339(&t.to_utc()), Ok(t));
        }
    }
}
