//! The cheap triggers: which detectors can match a text at all.
//!
//! Every text ingest reads passes through [`Triggers::matches`] once, and
//! the process waits for the triggers to be ready before the first file is
//! parsed, so both their scan and their set-up are on every run's path.
//! They used to be one `regex::RegexSet`: ~2.2 ms to compile and a scan of
//! ~400 MB/s, because two kinds of trigger kept its literal prefilter from
//! working:
//!
//! * the vendor formats (`AKIA…`, `ghp_…`, `sk-…`, 75 of them), many with
//!   short prefixes;
//! * the case-insensitive key words (`password`, `Bearer`, …), whose
//!   Unicode case variants are hundreds of literals.
//!
//! So the triggers are found three ways, each exactly equivalent to the
//! trigger pattern it replaces (the test `the_same_triggers_as_the_regex_set`
//! compares them with the patterns on generated texts):
//!
//! * PEM, JWT, URL credentials and `curl -u`: a small `RegexSet` (their
//!   literal prefilter works);
//! * vendor formats: a table of (literal prefix, character class, minimum
//!   run), its literals searched with SIMD literal search in three groups
//!   (each small enough for the fast packed searcher), each hit checked
//!   against the table;
//! * key words: searched case-sensitively in an ASCII-lowercased copy of
//!   the text. Unicode case folding also maps the Kelvin sign `K` to `k`
//!   and the long s `ſ` to `s`; a text holding either is checked with the
//!   Unicode patterns instead.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use memchr::memmem;
use regex::RegexSet;
use std::cell::RefCell;
use std::sync::OnceLock;

pub(crate) const TRIGGER_PEM: usize = 0;
pub(crate) const TRIGGER_VENDOR: usize = 1;
pub(crate) const TRIGGER_AWS_LABELLED: usize = 2;
pub(crate) const TRIGGER_JWT: usize = 3;
pub(crate) const TRIGGER_BEARER: usize = 4;
pub(crate) const TRIGGER_URL: usize = 5;
pub(crate) const TRIGGER_KV: usize = 6;
pub(crate) const TRIGGER_KV_USER: usize = 7;
const TRIGGERS: usize = 8;

/// The triggers of the regex set, in its order.
const SET_TRIGGERS: [usize; 4] = [TRIGGER_PEM, TRIGGER_JWT, TRIGGER_URL, TRIGGER_KV_USER];
const SET_PATTERNS: [&str; 4] = [
    r"-----BEGIN ",
    r"eyJ[A-Za-z0-9_\-]{10,}\.eyJ",
    r"://[^\s/?#@]*:[^\s/@]*@",
    r"-u[ \t]|--(?:proxy-)?user[ \t=]",
];

/// The key-word triggers as Unicode case-insensitive patterns (used for
/// texts holding a non-ASCII case variant of an ASCII letter).
const WORD_TRIGGERS: [usize; 3] = [TRIGGER_AWS_LABELLED, TRIGGER_BEARER, TRIGGER_KV];
const AWS_LABELLED_TRIGGER: &str = r"(?i:secret[_\-]?(?:access[_\-]?)?key)";
const WORD_PATTERNS: [&str; 3] = [
    AWS_LABELLED_TRIGGER,
    r"(?i:bearer|authorization)",
    super::detectors::KEY_STEM,
];
/// The key words, lower case: the `credential_kv` stems, then the bearer
/// words. `secret` also starts the AWS label.
const KEY_WORDS: [&str; 6] = ["pass", "pwd", "secret", "token", "key", "credential"];
const BEARER_WORDS: [&str; 2] = ["bearer", "authorization"];
/// The non-ASCII characters Unicode case folding equates with an ASCII
/// letter: KELVIN SIGN (k) and LATIN SMALL LETTER LONG S (s).
const FOLDING_INTO_ASCII: [&str; 2] = ["\u{212A}", "\u{17F}"];

/// A character class of a vendor token body (all ASCII).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// `[A-Z0-9]`
    UpperDigit,
    /// `[A-Za-z0-9]`
    Alnum,
    /// `[A-Za-z0-9_]`
    AlnumUnderscore,
    /// `[A-Za-z0-9_\-]`
    Base64Url,
    /// `[A-Za-z0-9\-]`
    AlnumDash,
    /// `[A-Za-z0-9_/\-]`
    SlackPath,
    /// `[A-Za-z0-9+/=]`
    Base64,
    /// `[A-Za-z0-9+/=_\-]`
    Base64Any,
    /// `[A-Za-z0-9_\-=]`
    Base64UrlPadded,
    /// `[A-Za-z0-9=._\-]`
    PlanetScale,
    /// `[a-z]`
    Lower,
    /// `[0-9]`
    Digit,
    /// `[a-f0-9]`
    HexLower,
    /// `[a-fA-F0-9]`
    Hex,
}

impl Class {
    fn contains(self, b: u8) -> bool {
        let alnum = b.is_ascii_alphanumeric();
        match self {
            Class::UpperDigit => b.is_ascii_uppercase() || b.is_ascii_digit(),
            Class::Alnum => alnum,
            Class::AlnumUnderscore => alnum || b == b'_',
            Class::Base64Url => alnum || b == b'_' || b == b'-',
            Class::AlnumDash => alnum || b == b'-',
            Class::SlackPath => alnum || matches!(b, b'_' | b'/' | b'-'),
            Class::Base64 => alnum || matches!(b, b'+' | b'/' | b'='),
            Class::Base64Any => alnum || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-'),
            Class::Base64UrlPadded => alnum || matches!(b, b'_' | b'-' | b'='),
            Class::PlanetScale => alnum || matches!(b, b'=' | b'.' | b'_' | b'-'),
            Class::Lower => b.is_ascii_lowercase(),
            Class::Digit => b.is_ascii_digit(),
            Class::HexLower => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
            Class::Hex => b.is_ascii_hexdigit(),
        }
    }

    /// The class in regex syntax (for the tests' reference pattern).
    #[cfg(test)]
    pub(crate) fn regex(self) -> &'static str {
        match self {
            Class::UpperDigit => "[A-Z0-9]",
            Class::Alnum => "[A-Za-z0-9]",
            Class::AlnumUnderscore => "[A-Za-z0-9_]",
            Class::Base64Url => r"[A-Za-z0-9_\-]",
            Class::AlnumDash => r"[A-Za-z0-9\-]",
            Class::SlackPath => r"[A-Za-z0-9_/\-]",
            Class::Base64 => "[A-Za-z0-9+/=]",
            Class::Base64Any => r"[A-Za-z0-9+/=_\-]",
            Class::Base64UrlPadded => r"[A-Za-z0-9_\-=]",
            Class::PlanetScale => r"[A-Za-z0-9=._\-]",
            Class::Lower => "[a-z]",
            Class::Digit => "[0-9]",
            Class::HexLower => "[a-f0-9]",
            Class::Hex => "[a-fA-F0-9]",
        }
    }
}

/// What every vendor format starts with: its literal prefix and the first
/// characters of its body (at most eight). Any match of the vendor
/// patterns contains one of these, so a text without one cannot hold a
/// vendor token (the test `vendor_trigger_matches_every_vendor_format`
/// checks every format). Prefixes alone were tripped by ordinary words
/// (`key-value`, `task-list`).
pub(crate) struct VendorTrigger {
    pub(crate) prefix: &'static str,
    pub(crate) class: Class,
    /// Body characters of `class` needed right after the prefix.
    pub(crate) run: usize,
    /// Where in `prefix` the searched literal starts: a rarer part of it
    /// than its first letters (`lin_api_` is searched as `_api_`, or every
    /// `line` would be a hit to check).
    search_from: usize,
}

const fn vt(prefix: &'static str, class: Class, run: usize) -> VendorTrigger {
    VendorTrigger {
        prefix,
        class,
        run,
        search_from: 0,
    }
}

const fn vt_at(
    prefix: &'static str,
    search_from: usize,
    class: Class,
    run: usize,
) -> VendorTrigger {
    VendorTrigger {
        prefix,
        class,
        run,
        search_from,
    }
}

use Class::*;

/// The vendor triggers (see [`VendorTrigger`]).
pub(crate) const VENDOR_TRIGGERS: &[VendorTrigger] = &[
    vt("AKIA", UpperDigit, 8),
    vt("ASIA", UpperDigit, 8),
    vt("ghp_", Alnum, 8),
    vt("gho_", Alnum, 8),
    vt("ghu_", Alnum, 8),
    vt("ghs_", Alnum, 8),
    vt("ghr_", Alnum, 8),
    vt_at("github_pat_", 6, AlnumUnderscore, 8),
    vt("glpat-", Base64Url, 8),
    vt("glptt-", Base64Url, 8),
    vt("gldt-", Base64Url, 8),
    vt("glrt-", Base64Url, 8),
    vt("glcbt-", Base64Url, 8),
    vt("glsoat-", Base64Url, 8),
    vt("glft-", Base64Url, 8),
    vt_at("glimt-", 2, Base64Url, 8),
    vt("xoxa-", AlnumDash, 8),
    vt("xoxb-", AlnumDash, 8),
    vt("xoxe-", AlnumDash, 8),
    vt("xoxp-", AlnumDash, 8),
    vt("xoxr-", AlnumDash, 8),
    vt("xoxs-", AlnumDash, 8),
    vt_at("hooks.slack.com/services/", 5, SlackPath, 8),
    vt_at("hooks.slack.com/workflows/", 5, SlackPath, 8),
    vt_at("hooks.slack.com/triggers/", 5, SlackPath, 8),
    vt("sk_live_", Alnum, 8),
    vt("rk_live_", Alnum, 8),
    vt("sk_test_", Alnum, 8),
    vt("rk_test_", Alnum, 8),
    vt("whsec_", Base64, 8),
    vt("AIza", Base64Url, 8),
    vt("sk-ant-", Lower, 2),
    vt("sk-proj-", Base64Url, 8),
    vt("sk-svcacct-", Base64Url, 8),
    vt("sk-admin-", Base64Url, 8),
    vt("sk-", Alnum, 8),
    vt_at("npm_", 1, Alnum, 8),
    vt("hf_", Alnum, 8),
    vt("SG.", Base64Url, 8),
    vt("GOCSPX-", Base64Url, 8),
    vt_at("dop_v1_", 1, HexLower, 8),
    vt("shpat_", Hex, 8),
    vt("shpss_", Hex, 8),
    vt("shpca_", Hex, 8),
    vt("shppa_", Hex, 8),
    vt_at("pypi-AgEIcHlwaS5vcmc", 4, Alnum, 0),
    vt_at("discord.com/api/webhooks/", 11, Digit, 8),
    vt_at("discordapp.com/api/webhooks/", 14, Digit, 8),
    vt("hvs.", Base64Url, 8),
    vt("hvb.", Base64Url, 8),
    vt("dapi", HexLower, 8),
    vt("PMAK-", HexLower, 8),
    vt_at("lin_api_", 3, Alnum, 8),
    vt("glsa_", Alnum, 8),
    vt("sntrys_", Base64Any, 8),
    vt("NRAK-", UpperDigit, 8),
    vt("ATATT3", Base64UrlPadded, 8),
    vt("sq0atp-", Base64Url, 8),
    vt("sq0csp-", Base64Url, 8),
    vt("SK", HexLower, 8),
    vt_at("key-", 1, HexLower, 8),
    vt("AGE-SECRET-KEY-1", UpperDigit, 8),
    vt_at("ops_eyJ", 2, Base64Any, 8),
    vt("gsk_", Alnum, 8),
    vt("dp.pt.", Alnum, 8),
    vt("dp.st.", Alnum, 8),
    vt("dp.sa.", Alnum, 8),
    vt("dp.ct.", Alnum, 8),
    vt("dp.scim.", Alnum, 8),
    vt("dp.audit.", Alnum, 8),
    vt("dt0c01.", UpperDigit, 8),
    vt("sk.eyJ", Base64Url, 8),
    vt("lsv2_pt_", HexLower, 8),
    vt("lsv2_sk_", HexLower, 8),
    vt_at("pul-", 1, HexLower, 8),
    vt("sgp_", Hex, 8),
    vt("sgp_local_", Alnum, 0),
    vt("pscale_tkn_", PlanetScale, 8),
    vt("pscale_pw_", PlanetScale, 8),
    vt("pscale_oauth_", PlanetScale, 8),
    vt("pnu_", Alnum, 8),
    // The formats without a literal prefix (Telegram bot tokens,
    // Terraform Cloud tokens, Mailchimp keys): a literal inside them.
    vt(":AA", Base64Url, 8),
    vt(".atlasv1.", Base64UrlPadded, 8),
    vt("-us", Digit, 1),
];

/// Literals searched per packed searcher: up to this many keeps each group
/// on the fast SIMD path (one group of all of them ran at half the speed
/// of three).
const VENDOR_GROUP: usize = 26;

/// Searched literals shorter than this are found with `memmem` instead
/// (a two-byte literal slows the packed searcher down for all of them).
const PACKED_MIN: usize = 3;

/// Every trigger, each set up when first needed (see [`Triggers::prepare`]).
pub(crate) struct Triggers {
    set: OnceLock<RegexSet>,
    vendor: OnceLock<VendorSearch>,
    words: OnceLock<AhoCorasick>,
    unicode_words: OnceLock<RegexSet>,
}

/// The vendor literals, searched in groups.
struct VendorSearch {
    /// Each searcher with the triggers whose literal it holds, by pattern.
    groups: Vec<(AhoCorasick, Vec<&'static VendorTrigger>)>,
    /// Triggers searched with `memmem`.
    short: Vec<(memmem::Finder<'static>, &'static VendorTrigger)>,
}

/// Which triggers a text holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TriggerHits {
    /// By `TRIGGER_*` index.
    matched: [bool; TRIGGERS],
    /// Where a `credential_kv` key word starts (every start, in order),
    /// when the text was searched for them as ASCII: `credential_kv`
    /// searches only the lines holding one.
    pub(crate) key_words: Option<Vec<usize>>,
}

impl TriggerHits {
    pub(crate) fn matched(&self, trigger: usize) -> bool {
        self.matched.get(trigger).copied().unwrap_or(false)
    }
}

thread_local! {
    /// The lowercased copy of the text being checked, reused (a fresh
    /// buffer per text faulted in a megabyte of pages per run).
    static LOWERED: RefCell<String> = const { RefCell::new(String::new()) };
}

impl Triggers {
    pub(crate) fn new() -> Triggers {
        Triggers {
            set: OnceLock::new(),
            vendor: OnceLock::new(),
            words: OnceLock::new(),
            unicode_words: OnceLock::new(),
        }
    }

    /// Sets every trigger up now (each takes well under a millisecond).
    pub(crate) fn prepare(&self) {
        self.set();
        self.vendor();
        self.words();
    }

    fn set(&self) -> &RegexSet {
        self.set.get_or_init(|| built_in_set(&SET_PATTERNS))
    }

    fn unicode_words(&self) -> &RegexSet {
        self.unicode_words
            .get_or_init(|| built_in_set(&WORD_PATTERNS))
    }

    fn vendor(&self) -> &VendorSearch {
        self.vendor.get_or_init(|| {
            let (packed, short): (Vec<&VendorTrigger>, Vec<&VendorTrigger>) = VENDOR_TRIGGERS
                .iter()
                .partition(|t| t.searched().len() >= PACKED_MIN);
            let groups = packed
                .chunks(VENDOR_GROUP)
                .map(|group| {
                    let literals: Vec<&str> = group.iter().map(|t| t.searched()).collect();
                    (literal_searcher(&literals), group.to_vec())
                })
                .collect();
            let short = short
                .into_iter()
                .map(|t| (memmem::Finder::new(t.searched().as_bytes()), t))
                .collect();
            VendorSearch { groups, short }
        })
    }

    fn words(&self) -> &AhoCorasick {
        self.words.get_or_init(|| {
            let words: Vec<&str> = KEY_WORDS.iter().chain(&BEARER_WORDS).copied().collect();
            literal_searcher(&words)
        })
    }

    /// The triggers `text` holds.
    pub(crate) fn matches(&self, text: &str) -> TriggerHits {
        let mut hits = [false; TRIGGERS];
        let set = self.set().matches(text);
        for (i, trigger) in SET_TRIGGERS.iter().enumerate() {
            hits[*trigger] = set.matched(i);
        }
        hits[TRIGGER_VENDOR] = self.vendor().occurs_in(text);
        let folding = FOLDING_INTO_ASCII
            .iter()
            .any(|c| memmem::find(text.as_bytes(), c.as_bytes()).is_some());
        let mut key_words = None;
        if folding {
            let words = self.unicode_words().matches(text);
            for (i, trigger) in WORD_TRIGGERS.iter().enumerate() {
                hits[*trigger] = words.matched(i);
            }
        } else {
            let (aws, bearer, starts) = self.ascii_words(text);
            hits[TRIGGER_AWS_LABELLED] = aws;
            hits[TRIGGER_BEARER] = bearer;
            hits[TRIGGER_KV] = !starts.is_empty();
            key_words = Some(starts);
        }
        TriggerHits {
            matched: hits,
            key_words,
        }
    }

    /// (AWS label, bearer word, key word starts) in a text whose only case
    /// variants of ASCII letters are ASCII.
    fn ascii_words(&self, text: &str) -> (bool, bool, Vec<usize>) {
        LOWERED.with(|cell| {
            let mut owned = String::new();
            let mut borrowed = cell.try_borrow_mut();
            let lowered = match &mut borrowed {
                Ok(buffer) => &mut **buffer,
                // Only re-entrance could get here; a fresh buffer is right.
                Err(_) => &mut owned,
            };
            lowered.clear();
            lowered.push_str(text);
            lowered.make_ascii_lowercase();
            let (mut aws, mut bearer, mut key_words) = (false, false, Vec::new());
            for (word, at) in all_starts(self.words(), lowered) {
                // The searcher's words: `KEY_WORDS`, then `BEARER_WORDS`.
                match KEY_WORDS.get(word) {
                    Some(&"secret") => {
                        key_words.push(at);
                        aws = aws || aws_label_at(lowered, at);
                    }
                    Some(_) => key_words.push(at),
                    None => bearer = true,
                }
            }
            (aws, bearer, key_words)
        })
    }
}

impl VendorTrigger {
    /// The literal searched for.
    fn searched(&self) -> &'static str {
        self.prefix.get(self.search_from..).unwrap_or(self.prefix)
    }

    /// Whether the trigger matches with its searched literal starting at
    /// `found` (its prefix starting `search_from` bytes before).
    fn matches_at(&self, text: &[u8], found: usize) -> bool {
        let Some(start) = found.checked_sub(self.search_from) else {
            return false;
        };
        let Some(rest) = text
            .get(start..)
            .and_then(|t| t.strip_prefix(self.prefix.as_bytes()))
        else {
            return false;
        };
        rest.get(..self.run)
            .is_some_and(|body| body.iter().all(|&b| self.class.contains(b)))
    }
}

impl VendorSearch {
    fn occurs_in(&self, text: &str) -> bool {
        let bytes = text.as_bytes();
        let packed = self.groups.iter().any(|(searcher, triggers)| {
            // A position may start several literals of the group (`sk-`,
            // `sk-ant-`): each trigger is checked at every position found.
            all_starts(searcher, text)
                .any(|(_, at)| triggers.iter().any(|t| t.matches_at(bytes, at)))
        });
        packed
            || self.short.iter().any(|(finder, trigger)| {
                finder
                    .find_iter(bytes)
                    .any(|at| trigger.matches_at(bytes, at))
            })
    }
}

/// `secret[_\-]?(?:access[_\-]?)?key` at `at` of a lowercased text.
fn aws_label_at(lowered: &str, at: usize) -> bool {
    /// `r`, and `r` after a separator if it starts with one.
    fn with_and_without_separator(r: &str) -> [Option<&str>; 2] {
        [Some(r), r.strip_prefix(['_', '-'])]
    }
    let Some(rest) = lowered.get(at..).and_then(|r| r.strip_prefix("secret")) else {
        return false;
    };
    with_and_without_separator(rest)
        .into_iter()
        .flatten()
        .any(|r| {
            r.starts_with("key")
                || r.strip_prefix("access").is_some_and(|r| {
                    with_and_without_separator(r)
                        .into_iter()
                        .flatten()
                        .any(|r| r.starts_with("key"))
                })
        })
}

/// Every position where one of the searcher's literals starts, with the
/// literal found there first: a leftmost search resumed one byte after each
/// start, so overlapping literals are not skipped.
fn all_starts<'a>(
    searcher: &'a AhoCorasick,
    text: &'a str,
) -> impl Iterator<Item = (usize, usize)> + 'a {
    let mut from = 0;
    std::iter::from_fn(move || {
        let found = searcher.find(aho_corasick::Input::new(text).span(from..text.len()))?;
        from = found.start() + 1;
        Some((found.pattern().as_usize(), found.start()))
    })
}

/// A leftmost-first literal searcher (built in microseconds: the packed
/// SIMD searcher does the scanning, the NFA only confirms).
fn literal_searcher(literals: &[&str]) -> AhoCorasick {
    match AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .kind(Some(AhoCorasickKind::NoncontiguousNFA))
        .build(literals)
    {
        Ok(searcher) => searcher,
        // Built-in literals: the test `triggers_build` builds them.
        Err(e) => panic!("internal error: the built-in redaction literals do not build: {e}"),
    }
}

/// A built-in regex set (see `LazyRegex` for why a failure is a bug).
fn built_in_set(patterns: &[&str]) -> RegexSet {
    match RegexSet::new(patterns) {
        Ok(set) => set,
        Err(e) => panic!("internal error: the built-in redaction triggers do not compile: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The triggers as they were first defined: one regex set, indexed by
    /// the `TRIGGER_*` constants. The vendor trigger is the table's
    /// alternatives (`vendor_table_is_the_documented_pattern` pins those).
    fn reference() -> RegexSet {
        let vendor: Vec<String> = VENDOR_TRIGGERS
            .iter()
            .map(|t| {
                format!(
                    "{}{}{{{}}}",
                    regex::escape(t.prefix),
                    t.class.regex(),
                    t.run
                )
            })
            .collect();
        RegexSet::new([
            SET_PATTERNS[0].to_string(),
            vendor.join("|"),
            AWS_LABELLED_TRIGGER.to_string(),
            SET_PATTERNS[1].to_string(),
            WORD_PATTERNS[1].to_string(),
            SET_PATTERNS[2].to_string(),
            WORD_PATTERNS[2].to_string(),
            SET_PATTERNS[3].to_string(),
        ])
        .unwrap()
    }

    fn expected(reference: &RegexSet, text: &str) -> [bool; TRIGGERS] {
        let m = reference.matches(text);
        let mut hits = [false; TRIGGERS];
        for (i, hit) in hits.iter_mut().enumerate() {
            *hit = m.matched(i);
        }
        hits
    }

    /// The lowercased copy is right for every text without these: no other
    /// non-ASCII character is a case variant of an ASCII letter.
    #[test]
    fn only_kelvin_and_long_s_fold_into_ascii_letters() {
        let letter = regex::Regex::new("^(?i:[a-z])$").unwrap();
        let folding: Vec<char> = (0x80..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|c| letter.is_match(c.encode_utf8(&mut [0; 4])))
            .collect();
        // U+017F, U+212A in code point order
        let expected: Vec<char> = FOLDING_INTO_ASCII
            .iter()
            .rev()
            .filter_map(|c| c.chars().next())
            .collect();
        assert_eq!(folding, expected);
    }

    #[test]
    fn triggers_build() {
        Triggers::new().prepare();
        Triggers::new().unicode_words();
    }

    /// The vendor alternatives of the single pattern this table replaced,
    /// written out: the table must say the same.
    #[test]
    fn vendor_table_is_the_documented_pattern() {
        let documented = concat!(
            r"(?:AKIA|ASIA)[A-Z0-9]{8}|gh[pousr]_[A-Za-z0-9]{8}|github_pat_[A-Za-z0-9_]{8}",
            r"|gl(?:pat|ptt|dt|rt|cbt|soat|ft|imt)-[A-Za-z0-9_\-]{8}|xox[abeprs]-[A-Za-z0-9\-]{8}",
            r"|hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/\-]{8}",
            r"|[sr]k_(?:live|test)_[A-Za-z0-9]{8}|whsec_[A-Za-z0-9+/=]{8}|AIza[0-9A-Za-z_\-]{8}",
            r"|sk-ant-[a-z]{2}|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{8}|sk-[A-Za-z0-9]{8}",
            r"|npm_[A-Za-z0-9]{8}|hf_[A-Za-z0-9]{8}|SG\.[A-Za-z0-9_\-]{8}|GOCSPX-[A-Za-z0-9_\-]{8}",
            r"|dop_v1_[a-f0-9]{8}|shp(?:at|ss|ca|pa)_[a-fA-F0-9]{8}|pypi-AgEIcHlwaS5vcmc",
            r"|discord(?:app)?\.com/api/webhooks/[0-9]{8}|hv[sb]\.[A-Za-z0-9_\-]{8}|dapi[0-9a-f]{8}",
            r"|PMAK-[0-9a-f]{8}|lin_api_[A-Za-z0-9]{8}|glsa_[A-Za-z0-9]{8}|sntrys_[A-Za-z0-9+/=_\-]{8}",
            r"|NRAK-[A-Z0-9]{8}|ATATT3[A-Za-z0-9_\-=]{8}|sq0(?:atp|csp)-[0-9A-Za-z_\-]{8}|SK[0-9a-f]{8}",
            r"|key-[0-9a-f]{8}|AGE-SECRET-KEY-1[0-9A-Z]{8}|ops_eyJ[A-Za-z0-9+/=_\-]{8}|gsk_[A-Za-z0-9]{8}",
            r"|dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{8}|dt0c01\.[A-Z0-9]{8}|sk\.eyJ[A-Za-z0-9_\-]{8}",
            r"|lsv2_(?:pt|sk)_[a-f0-9]{8}|pul-[a-f0-9]{8}|sgp_(?:[a-fA-F0-9]{8}|local_)",
            r"|pscale_(?:tkn|pw|oauth)_[A-Za-z0-9=._\-]{8}|pnu_[A-Za-z0-9]{8}",
            r"|:AA[A-Za-z0-9_\-]{8}|\.atlasv1\.[A-Za-z0-9_=\-]{8}|-us[0-9]",
        );
        let documented = regex::Regex::new(&format!("^(?:{documented})")).unwrap();
        let table = reference();
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        for t in VENDOR_TRIGGERS {
            // Each table entry's matches are documented matches...
            let entry = format!(
                "{}{}{{{}}}",
                regex::escape(t.prefix),
                t.class.regex(),
                t.run
            );
            let strategy = proptest::string::string_regex(&entry).unwrap();
            for _ in 0..50 {
                use proptest::strategy::ValueTree;
                let token = strategy.new_tree(&mut runner).unwrap().current();
                assert!(documented.is_match(&token), "{token:?} ({entry})");
            }
        }
        // ... and each documented match is a table match.
        let strategy = proptest::string::string_regex(&documented.as_str()[1..]).unwrap();
        for _ in 0..5000 {
            use proptest::strategy::ValueTree;
            let token = strategy.new_tree(&mut runner).unwrap().current();
            assert!(table.matches(&token).matched(TRIGGER_VENDOR), "{token:?}");
        }
        assert!(
            VENDOR_TRIGGERS
                .iter()
                .all(|t| t.search_from < t.prefix.len())
        );
    }

    /// Pieces texts are made of: every literal and its first letters, body
    /// characters of every class, separators, key words in mixed case, the
    /// non-ASCII case variants of `k` and `s`, and prose.
    fn pieces() -> Vec<String> {
        let mut pieces: Vec<String> = Vec::new();
        for t in VENDOR_TRIGGERS {
            pieces.push(t.prefix.to_string());
            pieces.push(t.prefix[..t.prefix.len() - 1].to_string());
            pieces.push(t.searched().to_string());
        }
        for word in KEY_WORDS.iter().chain(&BEARER_WORDS) {
            pieces.push(word.to_string());
            pieces.push(word.to_uppercase());
            let mut mixed = word.to_string();
            mixed[..1].make_ascii_uppercase();
            pieces.push(mixed);
        }
        for p in [
            "aws_",
            "access",
            "ACCESS",
            "_",
            "-",
            ".",
            ":",
            "/",
            "@",
            "?",
            "#",
            "=",
            "+",
            " ",
            "\t",
            "\n",
            "\u{a0}",
            "\u{212A}",
            "\u{17F}",
            "se\u{17F}",
            "\u{212A}ey",
            "ſecret",
            "-----BEGIN ",
            "eyJ",
            "eyJabcdefghij",
            "://",
            "user:pw@",
            "-u ",
            "--user=",
            "--proxy-user ",
            "0123456789",
            "abcdef",
            "ABCDEF",
            "a1B2c3D4",
            "the ",
            "prose, ",
            "é",
            "日本",
        ] {
            pieces.push(p.to_string());
        }
        pieces
    }

    /// The pieces key-word triggers are made of, drawn from more often
    /// (`secret`, `_`, `access`, `-`, `key` must meet in a row).
    const WORD_PIECES: &[&str] = &[
        "secret",
        "SECRET",
        "Secret",
        "access",
        "Access",
        "key",
        "KEY",
        "Key",
        "_",
        "-",
        " ",
        "aws_",
        "bearer",
        "Authorization",
        "\u{212A}",
        "\u{17F}",
        "ſecret",
        "\u{212A}ey",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn the_same_triggers_as_the_regex_set(
            picks in prop::collection::vec((any::<bool>(), 0usize..1000), 0..24)
        ) {
            let pieces = pieces();
            let text: String = picks
                .iter()
                .map(|&(word, i)| {
                    if word {
                        WORD_PIECES[i % WORD_PIECES.len()]
                    } else {
                        pieces[i % pieces.len()].as_str()
                    }
                })
                .collect();
            let reference = reference();
            prop_assert_eq!(Triggers::new().matches(&text).matched, expected(&reference, &text), "{:?}", text);
        }
    }

    #[test]
    fn the_same_triggers_on_hand_picked_texts() {
        let reference = reference();
        let triggers = Triggers::new();
        for text in [
            "",
            "AWS_SECRET_ACCESS_KEY=x",
            "secret-access_key",
            "secretaccess-key",
            "SecretKey",
            "secret__key",
            "ſecret_key",
            "\u{212A}EY: value",
            "Authorization: Bearer abc",
            "sk-ant-ab",
            "sk-antab12345678",
            "xoxe.xoxb-12345678",
            "discordapp.com/api/webhooks/12345678",
            "https://user:pass@host",
            "http://u@h",
            "curl -u user:pw",
            "--proxy-user=me",
            "eyJabcdefghij.eyJ",
            "-----BEGIN RSA",
            "key-0123abcd",
            "SK0123abcd",
            "line-us1",
            "the pulse of pul-0123abcd",
        ] {
            assert_eq!(
                triggers.matches(text).matched,
                expected(&reference, text),
                "{text:?}"
            );
        }
    }
}
