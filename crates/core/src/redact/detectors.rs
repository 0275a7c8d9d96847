//! The six detectors: their patterns and the procedural checks that decide
//! whether a pattern match is a secret. See the module docs of
//! [`crate::redact`] for the rules in prose.

use memchr::memmem;
use regex::Regex;
use std::sync::OnceLock;

use super::heuristics::{
    KEY_QUALIFIERS, MIN_RANDOM_LETTERS, credential_key, has_template_syntax, mask_heavy,
    percent_decode, value_is_secret, vendor_body_ok,
};
use super::triggers::{
    TRIGGER_AWS_LABELLED, TRIGGER_BEARER, TRIGGER_JWT, TRIGGER_KV, TRIGGER_KV_USER, TRIGGER_PEM,
    TRIGGER_URL, TRIGGER_VENDOR, Triggers,
};

/// A detector. The declaration order is the priority used when matches of
/// different detectors overlap: the most specific detector names the merged
/// region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Detector {
    PemPrivateKey,
    VendorToken,
    Jwt,
    BearerToken,
    UrlCredentials,
    CredentialKv,
}

impl Detector {
    pub(crate) const ALL: [Detector; 6] = [
        Detector::PemPrivateKey,
        Detector::VendorToken,
        Detector::Jwt,
        Detector::BearerToken,
        Detector::UrlCredentials,
        Detector::CredentialKv,
    ];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Detector::PemPrivateKey => "pem_private_key",
            Detector::VendorToken => "vendor_token",
            Detector::Jwt => "jwt",
            Detector::BearerToken => "bearer_token",
            Detector::UrlCredentials => "url_credentials",
            Detector::CredentialKv => "credential_kv",
        }
    }

    pub(crate) fn category(self) -> &'static str {
        match self {
            Detector::PemPrivateKey => "private_key",
            Detector::VendorToken => "vendor_token",
            Detector::Jwt => "jwt",
            Detector::BearerToken => "bearer",
            Detector::UrlCredentials => "url_credential",
            Detector::CredentialKv => "credential",
        }
    }

    /// Canonical names and aliases accepted in `security.redaction.detectors`.
    pub(crate) fn from_name(name: &str) -> Option<Detector> {
        match name {
            "cloud_keys" => Some(Detector::VendorToken),
            _ => Detector::ALL.into_iter().find(|d| d.name() == name),
        }
    }
}

/// A byte range (on char boundaries) that one detector wants replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) detector: Detector,
}

/// Pushes `start..end` widened to char boundaries, if non-empty.
fn push(out: &mut Vec<Candidate>, text: &str, start: usize, end: usize, detector: Detector) {
    let mut start = start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = end.min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    if start < end {
        out.push(Candidate {
            start,
            end,
            detector,
        });
    }
}

fn prev_char(text: &str, at: usize) -> Option<char> {
    text.get(..at).and_then(|s| s.chars().next_back())
}

fn next_char(text: &str, at: usize) -> Option<char> {
    text.get(at..).and_then(|s| s.chars().next())
}

/// Minimum count of base64 characters in a PEM body for it to be key
/// material (an example with `...` as its body is not a secret).
const MIN_PEM_BODY: usize = 16;

/// Bytes after an AWS access key id searched for its secret access key.
const AWS_PAIR_WINDOW: usize = 300;

/// Exact match of a redaction marker this module produces.
pub(crate) const MARKER_PATTERN: &str = r"<<redacted:[a-z_]{1,40}:[0-9a-f]{12}>>";

/// The patterns, shared by every [`super::Redactor`], each compiled on
/// first use: most texts trip few triggers, and compiling every automaton
/// up front (the vendor formats alone take milliseconds) was most of a
/// short command's start-up, spent before any file was read.
pub(crate) struct Patterns {
    /// Cheap triggers: a pattern whose trigger does not match cannot
    /// match either, so it is not run (nor compiled).
    triggers: Triggers,
    pem_begin: LazyRegex,
    jwt: LazyRegex,
    bearer: LazyRegex,
    kv: LazyRegex,
    /// [`KEY_STEM`] alone: finds the lines `kv` can match on when the
    /// triggers did not (a text holding a non-ASCII case variant of an
    /// ASCII letter, see `triggers.rs`).
    key_stem: LazyRegex,
    /// `<password>value</password>`
    kv_xml: LazyRegex,
    /// `curl -u user:password`, `--user user:password`
    kv_user: LazyRegex,
    url: LazyRegex,
    vendor: LazyRegex,
    vendor_inner: Vec<(&'static str, LazyRegex)>,
    aws_labelled: LazyRegex,
    aws_secret_run: LazyRegex,
    pub(crate) marker: LazyRegex,
    pub(crate) data_uri: LazyRegex,
}

/// A built-in pattern compiled when first needed. Built-in patterns do not
/// depend on input: the test `every_pattern_compiles` compiles each one, so
/// the panic below is a bug caught before release, never a user's error.
pub(crate) struct LazyRegex {
    detector: &'static str,
    pattern: String,
    compiled: OnceLock<Regex>,
}

impl LazyRegex {
    fn new(detector: &'static str, pattern: impl Into<String>) -> LazyRegex {
        LazyRegex {
            detector,
            pattern: pattern.into(),
            compiled: OnceLock::new(),
        }
    }

    /// The compiled pattern. A thread that needs it while another compiles
    /// it waits; compiling starts no parallel work, so a thread never
    /// waits on itself.
    pub(crate) fn get(&self) -> &Regex {
        self.compiled
            .get_or_init(|| match Regex::new(&self.pattern) {
                Ok(regex) => regex,
                Err(e) => panic!(
                    "internal error: the built-in pattern of redaction detector `{}` does not compile: {e}",
                    self.detector
                ),
            })
    }
}

/// Words that may name a credential key; the key's last word decides
/// ([`credential_key`]).
pub(crate) const KEY_STEM: &str = r"(?i:pass|pwd|secret|token|key|credential)";
const IDENT: &str = r"[A-Za-z0-9_.\-]";
/// From this size on, `credential_kv` is searched for only on the lines
/// holding a key stem (see `Patterns::find_kv_by_lines`): on a chapter of
/// prose that is a fifth faster, while on a short note (a tldr page) the
/// extra stem search costs more than the lines it skips.
const KV_BY_LINES_MIN_BYTES: usize = 4096;
/// Longest value between `<key>` and `</key>` taken as a credential.
const KV_XML_MAX_CHARS: usize = 1024;

const VENDOR_PATTERN: &str = concat!(
    r"(?:AKIA|ASIA)[A-Z0-9]{16}",
    r"|gh[pousr]_[A-Za-z0-9]{36,255}",
    r"|github_pat_[A-Za-z0-9_]{22,255}",
    r"|gl(?:pat|ptt|dt|rt|cbt|soat|ft|imt)-[A-Za-z0-9_\-]{20,255}",
    r"|(?:xoxe\.)?xox[abeprs]-[A-Za-z0-9\-]{10,250}",
    r"|hooks\.slack\.com/(?:services|workflows|triggers)/(?P<slack>[A-Za-z0-9_/\-]{20,255})",
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{16,247}",
    r"|whsec_[A-Za-z0-9+/=]{24,255}",
    r"|AIza[0-9A-Za-z_\-]{35}",
    r"|sk-ant-[a-z]{2,8}[0-9]{2}-[A-Za-z0-9_\-]{32,255}",
    r"|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{32,255}",
    r"|sk-[A-Za-z0-9]{48}",
    r"|npm_[A-Za-z0-9]{36}",
    r"|hf_[A-Za-z0-9]{34}",
    r"|SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}",
    r"|GOCSPX-[A-Za-z0-9_\-]{28}",
    r"|dop_v1_[a-f0-9]{64}",
    r"|shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}",
    r"|pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}",
    r"|discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/(?P<discord>[A-Za-z0-9_\-]{60,80})",
    r"|hv[sb]\.[A-Za-z0-9_\-]{90,}",
    r"|dapi[0-9a-f]{32}(?:-[0-9])?",
    r"|PMAK-[0-9a-f]{24}-[0-9a-f]{34}",
    r"|lin_api_[A-Za-z0-9]{40}",
    r"|glsa_[A-Za-z0-9]{32}_[0-9a-f]{8}",
    r"|sntrys_[A-Za-z0-9+/=_\-]{50,}",
    r"|NRAK-[A-Z0-9]{27}",
    r"|ATATT3[A-Za-z0-9_\-=]{150,}",
    r"|sq0(?:atp|csp)-[0-9A-Za-z_\-]{22,43}",
    r"|SK[0-9a-f]{32}",
    r"|key-[0-9a-f]{32}",
    r"|AGE-SECRET-KEY-1[0-9A-Z]{58}",
    r"|ops_eyJ[A-Za-z0-9+/=_\-]{200,}",
    r"|gsk_[A-Za-z0-9]{52}",
    r"|dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}",
    r"|dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}",
    r"|sk\.eyJ[A-Za-z0-9_\-]{40,}\.[A-Za-z0-9_\-]{20,}",
    r"|lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}",
    r"|pul-[a-f0-9]{40}",
    r"|sgp_(?:[a-fA-F0-9]{16}|local)_[a-fA-F0-9]{40}",
    r"|pscale_(?:tkn|pw|oauth)_[A-Za-z0-9=._\-]{32,64}",
    r"|pnu_[A-Za-z0-9]{36}",
);

/// Vendor formats without a literal prefix (a literal inside them lets the
/// regex engine find them quickly): Telegram bot tokens, Terraform Cloud
/// tokens, Mailchimp API keys.
/// Each with the literal that must occur for it to match.
const VENDOR_INNER_PATTERNS: &[(&str, &str)] = &[
    (":AA", r"[0-9]{8,10}:AA[A-Za-z0-9_\-]{33}"),
    (
        ".atlasv1.",
        r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=\-]{60,}",
    ),
    ("-us", r"[0-9a-f]{32}-us[0-9]{1,2}"),
];

/// `AWS_SECRET_ACCESS_KEY = <40 chars>` and friends.
const AWS_LABELLED_PATTERN: &str = concat!(
    r#"(?i:(?:aws[_\-]?)?secret[_\-]?(?:access[_\-]?)?key)"#,
    r#"(?:\\?["'`])?[ \t]*(?::=|=>|=|:)[ \t]*(?:\\?["'`])?"#,
    r"(?P<v>[A-Za-z0-9/+]{40})",
);

impl Patterns {
    pub(crate) fn new() -> Patterns {
        let kv_pattern = format!(
            concat!(
                r#"(?:(?P<flag>-{ident}*{stem}{ident}*)[ \t]+"#,
                r#"|(?P<key>{ident}*{stem}{ident}*)(?:\\?["'`])?\*{{0,2}}"#,
                r#"(?:[ \t]*(?:===|==|:=|=>|=|:|\|)|[ \t]+(?i:is|was)(?:[ \t]+(?i:set)[ \t]+(?i:to))?:?[ \t]))"#,
                r#"[ \t]*\*{{0,2}}[ \t]*"#,
                r#"(?P<val>\\"(?:[^"\\\n]|\\[^"\n])*\\"|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'"#,
                r#"|`[^`\n]*`|[^\s"'`|<>]+)"#,
            ),
            ident = IDENT,
            stem = KEY_STEM
        );
        // The value is at most `KV_XML_MAX_CHARS` long; that is checked
        // after matching, as a `{1,1024}` repetition of a Unicode class
        // alone took 8 ms to compile.
        let kv_xml = format!(
            r"<(?P<key>{IDENT}*{KEY_STEM}{IDENT}*)>(?P<val>[^<>\s]+)</(?P<close>{IDENT}+)>"
        );
        Patterns {
            triggers: Triggers::new(),
            pem_begin: LazyRegex::new(
                "pem_private_key",
                r"-----BEGIN (?P<label>(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----",
            ),
            jwt: LazyRegex::new(
                "jwt",
                r"eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{16,}",
            ),
            bearer: LazyRegex::new(
                "bearer_token",
                concat!(
                    r#"(?i:(?-u:\b)(?:authorization\\?["']?[ \t]*[:=][ \t]*\\?["']?[ \t]*(?:bearer|basic|token)|bearer))"#,
                    r#"[ \t]+(?P<tok>[^\s"'`]+)"#,
                ),
            ),
            kv: LazyRegex::new("credential_kv", kv_pattern),
            key_stem: LazyRegex::new("credential_kv", KEY_STEM),
            kv_xml: LazyRegex::new("credential_kv", kv_xml),
            kv_user: LazyRegex::new(
                "credential_kv",
                concat!(
                    r#"(?m:^|[\s"'(])(?:-u|--user|--proxy-user)(?:[ \t]+|=)["']?"#,
                    r#"(?P<user>[^\s:"'@/]*):(?P<val>[^\s"'@]+)"#,
                ),
            ),
            url: LazyRegex::new(
                "url_credentials",
                concat!(
                    r#"[A-Za-z][A-Za-z0-9+.\-]{0,30}://(?P<user>[^\s/?#@:\[\]"'<>`]*)"#,
                    r#":(?P<pw>[^\s/@\[\]"'<>`]+)@"#,
                ),
            ),
            vendor: LazyRegex::new("vendor_token", VENDOR_PATTERN),
            aws_labelled: LazyRegex::new("vendor_token", AWS_LABELLED_PATTERN),
            aws_secret_run: LazyRegex::new("vendor_token", r"[A-Za-z0-9/+]{40,}"),
            marker: LazyRegex::new("marker", MARKER_PATTERN),
            data_uri: LazyRegex::new(
                "data_uri",
                r"data:[A-Za-z0-9.+/\-]*(?:;[A-Za-z0-9.=+\-]*)*;base64,[A-Za-z0-9+/=_\-]*",
            ),
            vendor_inner: VENDOR_INNER_PATTERNS
                .iter()
                .map(|&(literal, pattern)| (literal, LazyRegex::new("vendor_token", pattern)))
                .collect(),
        }
    }

    /// Sets the triggers up now, where a core would otherwise wait: the
    /// first text scanned needs them. With `credential_kv` on, its
    /// key-word search and patterns compile meanwhile: nearly every
    /// collection of notes holds a `key`, `token` or `password` somewhere
    /// (and Markdown a `</`), and compiled on first use they held up both
    /// cores parsing (the second waiting for the first to finish compiling).
    pub(crate) fn prepare(&self, enabled: &[bool; 6]) {
        let kv_on = enabled
            .get(Detector::CredentialKv.index())
            .copied()
            .unwrap_or(false);
        rayon::join(
            || {
                self.triggers.prepare();
                if kv_on {
                    self.kv_xml.get();
                }
            },
            || {
                if kv_on {
                    self.kv.get();
                }
            },
        );
    }

    /// Every pattern, compiled (for the tests).
    #[cfg(test)]
    pub(crate) fn compile_all(&self) {
        self.triggers.prepare();
        for re in [
            &self.pem_begin,
            &self.jwt,
            &self.bearer,
            &self.kv,
            &self.key_stem,
            &self.kv_xml,
            &self.kv_user,
            &self.url,
            &self.vendor,
            &self.aws_labelled,
            &self.aws_secret_run,
            &self.marker,
            &self.data_uri,
        ]
        .into_iter()
        .chain(self.vendor_inner.iter().map(|(_, re)| re))
        {
            re.get();
        }
    }

    /// Every candidate of the enabled detectors, unsorted, unmerged.
    pub(crate) fn candidates(&self, text: &str, enabled: &[bool; 6], out: &mut Vec<Candidate>) {
        if !enabled.contains(&true) {
            return;
        }
        let hits = self.triggers.matches(text);
        let on = |d: Detector| enabled.get(d.index()).copied().unwrap_or(false);
        if on(Detector::PemPrivateKey) && hits.matched(TRIGGER_PEM) {
            self.find_pem(text, out);
        }
        if on(Detector::VendorToken) {
            if hits.matched(TRIGGER_VENDOR) {
                self.find_vendor(text, out);
            }
            if hits.matched(TRIGGER_AWS_LABELLED) {
                self.find_aws_labelled(text, out);
            }
        }
        if on(Detector::Jwt) && hits.matched(TRIGGER_JWT) {
            self.find_jwt(text, out);
        }
        if on(Detector::BearerToken) && hits.matched(TRIGGER_BEARER) {
            self.find_bearer(text, out);
        }
        if on(Detector::UrlCredentials) && hits.matched(TRIGGER_URL) {
            self.find_url(text, out);
        }
        if on(Detector::CredentialKv) {
            if hits.matched(TRIGGER_KV) {
                self.find_kv(text, hits.key_words.as_deref(), out);
                if memmem::find(text.as_bytes(), b"</").is_some() {
                    self.find_kv_xml(text, out);
                }
            }
            if hits.matched(TRIGGER_KV_USER) {
                self.find_kv_user(text, out);
            }
        }
    }

    // ---------------------------------------------------------------- PEM

    fn find_pem(&self, text: &str, out: &mut Vec<Candidate>) {
        for caps in self.pem_begin.get().captures_iter(text) {
            let (Some(m), Some(label)) = (caps.get(0), caps.name("label")) else {
                continue;
            };
            if let Some(end) = pem_block_end(text, m.end(), label.as_str()) {
                push(out, text, m.start(), end, Detector::PemPrivateKey);
            }
        }
    }

    // ---------------------------------------------------------------- JWT

    fn find_jwt(&self, text: &str, out: &mut Vec<Candidate>) {
        for m in self.jwt.get().find_iter(text) {
            if prev_char(text, m.start())
                .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            {
                continue;
            }
            push(out, text, m.start(), m.end(), Detector::Jwt);
        }
    }

    // ------------------------------------------------------------- bearer

    fn find_bearer(&self, text: &str, out: &mut Vec<Candidate>) {
        for caps in self.bearer.get().captures_iter(text) {
            let Some(tok) = caps.name("tok") else {
                continue;
            };
            let value = tok
                .as_str()
                .trim_end_matches(['.', ',', ';', ':', ')', ']', '}', '\\']);
            if value_is_secret(value, 12) {
                push(
                    out,
                    text,
                    tok.start(),
                    tok.start() + value.len(),
                    Detector::BearerToken,
                );
            }
        }
    }

    // -------------------------------------------------------- credential_kv

    /// `key_words`: where the triggers found a key word (every start),
    /// if they searched for them.
    fn find_kv(&self, text: &str, key_words: Option<&[usize]>, out: &mut Vec<Candidate>) {
        if text.len() < KV_BY_LINES_MIN_BYTES {
            self.find_kv_in(text, 0, text.len(), out);
        } else {
            self.find_kv_by_lines(text, key_words, out);
        }
    }

    /// A `kv` match never holds a line break (no part of the pattern can
    /// match one) and always holds a key stem, so only the lines holding a
    /// stem are searched, each as the end of the text: the matches are
    /// those of a search of the whole text (test
    /// `kv_by_lines_matches_the_whole_text`), found without running the
    /// pattern over every byte of prose.
    /// The lines are those of `key_words` (from the triggers, which found
    /// them anyway), else of a search for [`KEY_STEM`].
    fn find_kv_by_lines(&self, text: &str, key_words: Option<&[usize]>, out: &mut Vec<Candidate>) {
        let searched: Vec<usize>;
        let starts = match key_words {
            Some(starts) => starts,
            None => {
                searched = self
                    .key_stem
                    .get()
                    .find_iter(text)
                    .map(|m| m.start())
                    .collect();
                &searched
            }
        };
        let mut searched_to = 0;
        for &start in starts {
            if start < searched_to {
                continue;
            }
            // A key word holds no line break: its line ends at the first
            // one after its start.
            let line_start = text
                .get(..start)
                .and_then(|before| before.rfind('\n'))
                .map_or(0, |i| i + 1);
            let line_end = text
                .get(start..)
                .and_then(|after| after.find('\n'))
                .map_or(text.len(), |i| start + i);
            self.find_kv_in(text, line_start, line_end, out);
            searched_to = line_end;
        }
    }

    /// The `kv` candidates starting in `text[from..to]`, matched against
    /// the text up to `to`.
    fn find_kv_in(&self, text: &str, from: usize, to: usize, out: &mut Vec<Candidate>) {
        let haystack = text.get(..to).unwrap_or(text);
        let mut pos = from;
        while pos <= haystack.len() {
            let Some(caps) = self.kv.get().captures_at(haystack, pos) else {
                break;
            };
            let flag = caps.name("flag");
            let Some(key) = flag.or_else(|| caps.name("key")) else {
                break;
            };
            // on rejection, resume right after the key (always progresses:
            // a key holds at least its stem)
            pos = key.end().max(pos + 1);
            let Some(val) = caps.name("val") else {
                continue;
            };
            if !kv_key_context_ok(text, key.start(), flag.is_some()) {
                continue;
            }
            let named = credential_key(key.as_str()) || spaced_qualifier(text, key);
            if !named || marker_fragment(text, key, val) {
                continue;
            }
            let Some((start, end, raw_end)) = kv_value_range(val.as_str()) else {
                continue;
            };
            if val
                .as_str()
                .get(start..raw_end)
                .is_none_or(has_template_syntax)
            {
                continue;
            }
            let (start, end) = (val.start() + start, val.start() + end);
            let Some(value) = text.get(start..end) else {
                continue;
            };
            if value_is_secret(value, MIN_RANDOM_LETTERS) {
                push(out, text, start, end, Detector::CredentialKv);
                pos = val.end().max(pos);
            }
        }
    }

    fn find_kv_xml(&self, text: &str, out: &mut Vec<Candidate>) {
        for caps in self.kv_xml.get().captures_iter(text) {
            let (Some(key), Some(val), Some(close)) =
                (caps.name("key"), caps.name("val"), caps.name("close"))
            else {
                continue;
            };
            if key.as_str() == close.as_str()
                && val.as_str().chars().count() <= KV_XML_MAX_CHARS
                && credential_key(key.as_str())
                && value_is_secret(val.as_str(), MIN_RANDOM_LETTERS)
            {
                push(out, text, val.start(), val.end(), Detector::CredentialKv);
            }
        }
    }

    fn find_kv_user(&self, text: &str, out: &mut Vec<Candidate>) {
        for caps in self.kv_user.get().captures_iter(text) {
            let (Some(user), Some(val)) = (caps.name("user"), caps.name("val")) else {
                continue;
            };
            let Some((start, end, raw_end)) = kv_value_range(val.as_str()) else {
                continue;
            };
            let raw = val.as_str().get(start..raw_end).unwrap_or("");
            let Some(value) = text.get(val.start() + start..val.start() + end) else {
                continue;
            };
            if !has_template_syntax(raw)
                && !value.eq_ignore_ascii_case(user.as_str())
                && value_is_secret(value, MIN_RANDOM_LETTERS)
            {
                push(
                    out,
                    text,
                    val.start() + start,
                    val.start() + end,
                    Detector::CredentialKv,
                );
            }
        }
    }

    // ---------------------------------------------------- url_credentials

    fn find_url(&self, text: &str, out: &mut Vec<Candidate>) {
        for caps in self.url.get().captures_iter(text) {
            let (Some(user), Some(pw)) = (caps.name("user"), caps.name("pw")) else {
                continue;
            };
            let password = percent_decode(pw.as_str());
            if password.eq_ignore_ascii_case(&percent_decode(user.as_str())) {
                continue;
            }
            if value_is_secret(&password, MIN_RANDOM_LETTERS) {
                push(out, text, pw.start(), pw.end(), Detector::UrlCredentials);
            }
        }
    }

    // ------------------------------------------------------- vendor_token

    fn find_vendor(&self, text: &str, out: &mut Vec<Candidate>) {
        for caps in self.vendor.get().captures_iter(text) {
            let Some(m) = caps.get(0) else {
                continue;
            };
            let token = m.as_str();
            if let Some(path) = caps.name("slack").or_else(|| caps.name("discord")) {
                if vendor_body_ok(path.as_str(), true) {
                    push(out, text, path.start(), path.end(), Detector::VendorToken);
                }
                continue;
            }
            let before_ok = !prev_char(text, m.start())
                .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '+' | '.'));
            let after_ok = !next_char(text, m.end())
                .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '+'));
            if !before_ok || !after_ok {
                continue;
            }
            let aws = token.starts_with("AKIA") || token.starts_with("ASIA");
            let ok = if aws {
                aws_key_id_ok(token)
            } else {
                vendor_body_ok(token, token.starts_with("xox"))
            };
            if !ok {
                continue;
            }
            push(out, text, m.start(), m.end(), Detector::VendorToken);
            if aws && let Some((s, e)) = self.aws_companion_secret(text, m.end()) {
                push(out, text, s, e, Detector::VendorToken);
            }
        }
        for (literal, re) in &self.vendor_inner {
            if memmem::find(text.as_bytes(), literal.as_bytes()).is_none() {
                continue;
            }
            for m in re.get().find_iter(text) {
                let before_ok = !prev_char(text, m.start())
                    .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '+' | '.'));
                let after_ok = !next_char(text, m.end())
                    .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '+'));
                if before_ok && after_ok && vendor_body_ok(m.as_str(), false) {
                    push(out, text, m.start(), m.end(), Detector::VendorToken);
                }
            }
        }
    }

    fn find_aws_labelled(&self, text: &str, out: &mut Vec<Candidate>) {
        for caps in self.aws_labelled.get().captures_iter(text) {
            let Some(v) = caps.name("v") else {
                continue;
            };
            if aws_secret_shape_ok(text, v.start(), v.end()) {
                push(out, text, v.start(), v.end(), Detector::VendorToken);
            }
        }
    }

    /// A 40-character AWS secret access key within a few lines after an
    /// access key id (CSV exports, `aws configure` transcripts, tables).
    fn aws_companion_secret(&self, text: &str, from: usize) -> Option<(usize, usize)> {
        let mut limit = (from + AWS_PAIR_WINDOW).min(text.len());
        while !text.is_char_boundary(limit) {
            limit -= 1;
        }
        let window = text.get(from..limit)?;
        // at most three lines further
        let window = match window.match_indices('\n').nth(2) {
            Some((i, _)) => window.get(..i)?,
            None => window,
        };
        self.aws_secret_run
            .get()
            .find_iter(window)
            .map(|m| (from + m.start(), from + m.end()))
            .find(|&(s, e)| aws_secret_shape_ok(text, s, e))
    }
}

/// AWS key id body: not an example (`AKIAIOSFODNN7EXAMPLE`), not masked.
fn aws_key_id_ok(token: &str) -> bool {
    let body = token.get(4..).unwrap_or("");
    vendor_body_ok(body, false)
        || (!mask_heavy(body) && !body.contains("EXAMPLE") && {
            let mut chars: Vec<char> = body.chars().collect();
            chars.sort_unstable();
            chars.dedup();
            chars.len() >= 8 && !body.contains("YOUR")
        })
}

/// 40 base64 characters, exactly (not a prefix of a longer run, not padded
/// base64), with upper case, lower case and a digit or `/`/`+`, not hex
/// (a git sha1 is 40 hex characters), not an example.
fn aws_secret_shape_ok(text: &str, start: usize, end: usize) -> bool {
    let Some(v) = text.get(start..end) else {
        return false;
    };
    if v.len() != 40 {
        return false;
    }
    let boundary = |c: Option<char>| {
        !c.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '+' | '='))
    };
    if !boundary(prev_char(text, start)) && prev_char(text, start) != Some('=') {
        return false;
    }
    if !boundary(next_char(text, end)) {
        return false;
    }
    let upper = v.chars().any(|c| c.is_ascii_uppercase());
    let lower = v.chars().any(|c| c.is_ascii_lowercase());
    let other = v
        .chars()
        .any(|c| c.is_ascii_digit() || c == '/' || c == '+');
    upper && lower && other && vendor_body_ok(v, false)
}

/// The key of a `credential_kv` match must start a word: not a `$VAR` /
/// `${VAR}` / `%VAR%` reference, not the category inside a redaction marker
/// (`<<redacted:vendor_token:…`, which a chunk boundary can cut), and a CLI
/// flag must follow whitespace, a quote or an opening bracket.
fn kv_key_context_ok(text: &str, key_start: usize, is_flag: bool) -> bool {
    let before = text.get(..key_start).unwrap_or("");
    if before.ends_with("redacted:") {
        return false;
    }
    match before.chars().next_back() {
        None => true,
        Some(c) if is_flag => c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '(' | '[' | '{'),
        Some('$' | '%') => false,
        Some('{') => !before.ends_with("${"),
        Some(c) => !c.is_alphanumeric(),
    }
}

/// `API key is …`, `secret key: …`, `Access Key = …`: a bare `key` preceded
/// by a qualifier word and one space.
fn spaced_qualifier(text: &str, key: regex::Match<'_>) -> bool {
    if !key.as_str().eq_ignore_ascii_case("key") {
        return false;
    }
    let Some(before) = text.get(..key.start()).and_then(|b| b.strip_suffix(' ')) else {
        return false;
    };
    let word_start = before
        .rfind(|c: char| !c.is_ascii_alphanumeric())
        .map_or(0, |i| i + 1);
    let word = before.get(word_start..).unwrap_or("").to_ascii_lowercase();
    KEY_QUALIFIERS.contains(&word.as_str())
}

/// The tail of a redaction marker cut by a chunk boundary:
/// `…acted:vendor_token:df6a20977200>>` reads as `key:value`. Recognised by
/// its exact shape: the key right after `:` (or at the start of the text),
/// `:` with no space, at most 12 lower-case hex digits, then `>` or the end
/// of the text.
fn marker_fragment(text: &str, key: regex::Match<'_>, val: regex::Match<'_>) -> bool {
    let digest = val.as_str();
    text.get(key.end()..val.start()) == Some(":")
        && (key.start() == 0 || prev_char(text, key.start()) == Some(':'))
        && (1..=12).contains(&digest.len())
        && digest
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        && next_char(text, val.end()).is_none_or(|c| c == '>')
}

/// The secret part of a `credential_kv` value match, as byte offsets inside
/// it: `(start, end, raw_end)`. Quoted: the inside of the quotes (`raw_end`
/// = `end`). Unquoted: the run up to the next `&name=` / `;name=` / `,name=`
/// (query strings, connection strings) is the raw value (`raw_end`); the
/// secret is the raw value without trailing `. , ; : ) ] }` and without
/// Markdown emphasis (`**x**`).
fn kv_value_range(val: &str) -> Option<(usize, usize, usize)> {
    for (open, close) in [("\\\"", "\\\""), ("\"", "\""), ("'", "'"), ("`", "`")] {
        if let Some(inner) = val.strip_prefix(open) {
            let inner = inner.strip_suffix(close)?;
            let start = open.len();
            return Some((start, start + inner.len(), start + inner.len()));
        }
    }
    let raw_end = next_parameter(val).unwrap_or(val.len());
    let raw = val.get(..raw_end)?;
    let lead = raw.len() - raw.trim_start_matches('*').len();
    let mut trimmed = raw.trim_end_matches(['.', ',', ';', ':', ')', ']', '}']);
    if lead > 0 {
        let stars = trimmed.len() - trimmed.trim_end_matches('*').len();
        trimmed = trimmed.get(..trimmed.len() - stars.min(lead))?;
    }
    (trimmed.len() > lead).then_some((lead, trimmed.len(), raw_end))
}

/// Offset of the first `&`, `;` or `,` that starts another `name=`
/// parameter.
fn next_parameter(val: &str) -> Option<usize> {
    val.match_indices(['&', ';', ','])
        .map(|(i, _)| i)
        .find(|&i| {
            let rest = val.get(i + 1..).unwrap_or("");
            let name_len = rest.len()
                - rest
                    .trim_start_matches(|c: char| {
                        c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ')
                    })
                    .len();
            name_len > 0 && rest.get(name_len..).is_some_and(|r| r.starts_with('='))
        })
}

// -------------------------------------------------------------- PEM body

fn is_b64(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')
}

/// Body on the header's own line (a JSON string with `\n` escapes, or a
/// flattened key): whitespace-separated pieces that are all base64 (with
/// escapes and quotes), the longest at least [`MIN_PEM_BODY`] long.
fn inline_body_ok(body: &str) -> bool {
    let mut longest = 0;
    for piece in body.split_whitespace() {
        let piece = piece.trim_matches(|c| matches!(c, '"' | '\'' | ',' | '+'));
        if !piece.chars().all(|c| is_b64(c) || c == '\\') {
            return false;
        }
        longest = longest.max(piece.chars().filter(|&c| is_b64(c)).count());
    }
    longest >= MIN_PEM_BODY
}

/// Range of a body line once indentation, blockquote / comment markers,
/// string quotes, concatenation and `\n` escapes are stripped.
fn trim_body_line(line: &str) -> (usize, usize) {
    let start = line.len()
        - line
            .trim_start_matches(|c: char| {
                c.is_whitespace() || matches!(c, '>' | '#' | '/' | '*' | '"' | '\'' | '|')
            })
            .len();
    let mut end = line.len();
    loop {
        let Some(cur) = line.get(start..end) else {
            return (start, start);
        };
        let t = cur.trim_end_matches(|c: char| {
            c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '+' | ';' | '|')
        });
        let t = t
            .strip_suffix("\\n")
            .or_else(|| t.strip_suffix("\\r"))
            .unwrap_or(t);
        if t.len() == cur.len() {
            break;
        }
        end = start + t.len();
    }
    (start, end.max(start))
}

/// `Proc-Type: 4,ENCRYPTED`, `DEK-Info: …`, `Comment: …`, `Version: …`.
fn is_header_line(t: &str) -> bool {
    match t.split_once(": ") {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        }
        None => false,
    }
}

/// End (exclusive) of a private key block whose header ends at
/// `header_end`, or `None` when there is no key material.
///
/// * `END` on the header's line: through the `END` marker.
/// * Otherwise line by line: headers, blank lines and base64 lines are body;
///   the matching `END` line closes the block; any other line means the
///   block was truncated and the secret ends with the last base64 line.
fn pem_block_end(text: &str, header_end: usize, label: &str) -> Option<usize> {
    let end_marker = format!("-----END {label}-----");
    let rest = text.get(header_end..)?;
    let first_len = rest.find('\n').unwrap_or(rest.len());
    let first_line = rest.get(..first_len)?;
    if let Some(i) = first_line.find(&end_marker) {
        let body = first_line.get(..i)?;
        return inline_body_ok(body).then_some(header_end + i + end_marker.len());
    }
    let (ts, te) = trim_body_line(first_line);
    if te > ts {
        let body = first_line.get(ts..te)?;
        if inline_body_ok(body) {
            let kept = body.trim_end_matches(|c: char| !is_b64(c));
            return Some(header_end + ts + kept.len());
        }
        return None;
    }
    let mut pos = header_end + first_len; // at '\n' or the end of text
    let mut body_chars = 0usize;
    let mut last_body_end = None;
    while pos < text.len() {
        let line_start = pos + 1;
        let rest = text.get(line_start..)?;
        let len = rest.find('\n').unwrap_or(rest.len());
        let line = rest.get(..len)?;
        pos = line_start + len;
        if let Some(i) = line.find(&end_marker) {
            return (body_chars >= MIN_PEM_BODY).then_some(line_start + i + end_marker.len());
        }
        let (s, e) = trim_body_line(line);
        let t = line.get(s..e).unwrap_or("");
        if t.is_empty() {
            continue;
        }
        if body_chars == 0 && is_header_line(t) {
            continue;
        }
        if t.chars().all(is_b64) {
            body_chars += t.len();
            last_body_end = Some(line_start + e);
            continue;
        }
        break;
    }
    if body_chars >= MIN_PEM_BODY {
        last_body_end
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    /// Patterns compile on first use at run time, where a pattern that did
    /// not compile would be a panic: every one of them compiles here.
    #[test]
    fn every_pattern_compiles() {
        super::Patterns::new().compile_all();
    }

    proptest::proptest! {
        #[test]
        fn kv_by_lines_matches_the_whole_text(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "password", "api_key", "Token", "secret", "-p", "--pass", "KEY", "pwd",
                " = ", ": ", " is ", " was set to ", "=", "\"", "'", "`", "\\", "\n", "\n\n",
                " ", "\t", "Xy9kQ2mZ7pLw", "hunter2", "s3cr3tV4lu3zz", "${VAR}", "{{x}}", "é", "\u{a0}",
                "**", "<", ">", "|", "x", "-", "\u{17F}ecret", "\u{212A}ey",
            ]), 0..40),
        ) {
            let text: String = parts.concat();
            let patterns = super::Patterns::new();
            let mut by_lines = Vec::new();
            patterns.find_kv_by_lines(&text, None, &mut by_lines);
            let mut by_trigger_lines = Vec::new();
            let key_words = patterns.triggers.matches(&text).key_words;
            patterns.find_kv_by_lines(&text, key_words.as_deref(), &mut by_trigger_lines);
            let mut whole = Vec::new();
            patterns.find_kv_in(&text, 0, text.len(), &mut whole);
            proptest::prop_assert_eq!(&by_lines, &whole);
            proptest::prop_assert_eq!(by_trigger_lines, whole);
        }
    }

    /// The vendor formats, one by one (the alternatives of the pattern,
    /// which has one per line, and the inner patterns).
    fn vendor_formats() -> Vec<&'static str> {
        let mut formats = split_top_level(super::VENDOR_PATTERN);
        formats.extend(super::VENDOR_INNER_PATTERNS.iter().map(|(_, p)| *p));
        formats
    }

    /// `pattern` split at `|` outside groups and classes.
    fn split_top_level(pattern: &'static str) -> Vec<&'static str> {
        let mut out = Vec::new();
        let (mut depth, mut class, mut start) = (0i32, false, 0);
        let bytes = pattern.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 1,
                b'[' if !class => class = true,
                b']' if class => class = false,
                b'(' if !class => depth += 1,
                b')' if !class => depth -= 1,
                b'|' if !class && depth == 0 => {
                    out.push(&pattern[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        out.push(&pattern[start..]);
        out
    }

    #[test]
    fn every_vendor_format_is_listed() {
        let formats = vendor_formats();
        assert_eq!(formats.len(), 45, "{formats:#?}");
        for f in &formats {
            regex::Regex::new(f).unwrap();
        }
    }

    #[test]
    fn vendor_trigger_matches_every_vendor_format() {
        use proptest::strategy::{Strategy, ValueTree};
        use proptest::test_runner::TestRunner;
        let triggers = super::Triggers::new();
        let mut runner = TestRunner::deterministic();
        for format in vendor_formats() {
            let strategy = proptest::string::string_regex(format).unwrap();
            for _ in 0..200 {
                let token = strategy.new_tree(&mut runner).unwrap().current();
                assert!(
                    triggers.matches(&token).matched(super::TRIGGER_VENDOR),
                    "the vendor trigger misses {token:?}, a match of {format}"
                );
            }
        }
    }
}
