//! Secret redaction.
//!
//! Notes contain secrets; nothing auditgraph derives may contain them. The
//! ingest stage runs [`Redactor::redact`] on every document's normalized text
//! (NFC, `\n` line endings) before anything is chunked, hashed or written,
//! and the postcondition / `validate-store` re-scan what was written with
//! [`Redactor::scan`]; a finding there is a miss.
//!
//! # Guarantees
//!
//! * **Marker.** A secret is replaced by `<<redacted:{category}:{digest}>>`,
//!   `digest` = the first 12 hex characters of HMAC-SHA256(key, secret
//!   bytes): same secret and key, same marker; the secret is not recoverable.
//!   A secret spanning `n` newlines (a PEM block) is followed by exactly `n`
//!   `\n`, so the line numbers of the rest of the document do not move. Only
//!   the secret value is replaced (`password = hunter2` keeps `password = `).
//! * **Idempotent.** `redact(redact(x).text) == redact(x).text`, and `scan`
//!   of redacted text finds nothing, also when a chunk boundary cuts a
//!   marker in two. Four rules make this hold: candidates overlapping a
//!   marker (`<<redacted:…:…>>`) are dropped; no value may contain `<`, `>`
//!   or start with one; the category inside a marker is never a
//!   `credential_kv` key (`…redacted:credential:` and the cut-off tail
//!   `…dor_token:0a1b2c3d4e5f>>`); and `redact` repeats detection on its
//!   own output until nothing is found (each round turns at least one
//!   non-marker byte into marker bytes, so it terminates; in practice there
//!   is one round, then one confirming scan).
//! * **Overlaps.** Overlapping candidates of different detectors are merged
//!   into one region, named after the most specific detector (order:
//!   `pem_private_key`, `vendor_token`, `jwt`, `bearer_token`,
//!   `url_credentials`, `credential_kv`), so no part of either survives.
//! * **Exclusions.** Nothing inside a `data:…;base64,…` URI is a secret.
//!
//! # Detectors (`security.redaction.detectors`)
//!
//! Names are validated: an unknown name is [`RedactError::UnknownDetector`].
//! `cloud_keys` is accepted as an alias of `vendor_token`, which holds every
//! vendor and cloud token (the Python tool's default list lacked
//! `cloud_keys`, so AWS/Google/OpenAI keys went through).
//!
//! ## `pem_private_key` → `private_key`
//!
//! `-----BEGIN … PRIVATE KEY-----` (RSA, EC, DSA, OPENSSH, ENCRYPTED,
//! PKCS#8, PGP `… PRIVATE KEY BLOCK`) through the matching `-----END …-----`.
//! The block is walked line by line: header lines (`Proc-Type: …`), blank
//! lines and base64 lines (after stripping indentation, `>`/`#`/`//`
//! prefixes, quotes, `+`, `,` and `\n` escapes) are body. A block whose `END`
//! is missing, or whose body is interrupted by any other line, is redacted
//! from `BEGIN` through its last base64 line: truncated key material never
//! survives. A block with fewer than 16 base64 characters (`...` as body) is
//! an example. One-line forms (a JSON string
//! `"-----BEGIN…\nMII…\n-----END…"`) are handled. Public keys and
//! certificates never match.
//!
//! ## `jwt` → `jwt`
//!
//! `eyJ<10+>.eyJ<10+>.<16+>` in base64url: header and payload both start
//! with `eyJ`, i.e. decode to JSON objects; not preceded by
//! `[A-Za-z0-9_.-]`. Dotted identifiers never match. Unsigned JWTs (empty
//! signature) are not matched.
//!
//! ## `bearer_token` → `bearer`
//!
//! The credential after `Bearer` (any case, word-bounded) or after
//! `Authorization: Bearer|Basic|Token` (also quoted, as in
//! `-H "Authorization: …"` or a headers dict). It is the run up to
//! whitespace or a quote, minus trailing `. , ; : ) ] }`, and must pass the
//! value rule (letters-only tokens: ≥ 12 letters, random-looking).
//! `Bearer {{token}}`, `Bearer $TOKEN`, `Bearer <token>`,
//! `Bearer YOUR_TOKEN`, `Bearer token123`, "bearer tokens" never match.
//!
//! ## `credential_kv` → `credential`
//!
//! Forms: `key: value`, `key = value`, `key := value`, `key => value`,
//! `key == "value"`, `"key": "value"` (also with `\"` escapes inside a shell
//! string), `key | value` (table cells), `--key value`, `--key=value`,
//! `the key is value` / `was` / `is set to` / `is:`, `<key>value</key>`,
//! and `curl -u user:value` / `--user user:value`. Optional quotes or
//! backticks around the key, `**bold**` around key or value.
//!
//! The key names a credential when its LAST word (split on `_ - .` and
//! camelCase) is `password passwd passphrase passcode pwd pass secret token
//! apikey credential(s)`, a glued word ending in `password passwd
//! passphrase pwd secret token apikey secretkey privatekey accesskey`, a
//! keytool-style `storepass`/`keypass`/`dbpass`/…, `key` after one of `api
//! secret private access auth encryption signing master client app account
//! shared subscription license` (`api_key`, `AWS_SECRET_ACCESS_KEY`, also
//! with a space: "API key is …", "secret key: …"), or `secret_key_base`.
//! So `DB_PASSWORD`, `githubToken`, `X-Auth-Token`, `PGPASSWORD` are keys;
//! `password_file`, `token_type`, `secretName`, `max_tokens`, `tokenizer`,
//! `nextPageToken`, `public_key`, `bypass` are not. A key right after `$`,
//! `${` or `%` is a reference, not an assignment; a `--flag` must follow
//! whitespace, a quote or a bracket.
//!
//! Only the value is replaced: the inside of its quotes, or the unquoted
//! run up to whitespace, a quote, `|`, `<`, `>` or the next `&name=` /
//! `;name=` / `,name=` parameter (query and connection strings), without
//! trailing `. , ; : ) ] }` and emphasis `*`. The value must pass the value
//! rule below.
//!
//! ## `url_credentials` → `url_credential`
//!
//! The password of `scheme://user:password@host` (it may contain `#`, `?`,
//! `:`); percent-decoded, it must pass the value rule and differ from the
//! user name (`he%2F%2Fo` is `he//o`, too short).
//! `https://user@host`, `git@github.com:org/repo`, `https://host:8080/x@y`,
//! `scheme://user:{{password}}@host`, `postgres://postgres:postgres@db`
//! never match.
//!
//! ## `vendor_token` → `vendor_token` (alias `cloud_keys`)
//!
//! * AWS: access key ids `AKIA`/`ASIA` + 16 `[A-Z0-9]`; secret access keys
//!   (exactly 40 base64 characters with upper case, lower case and a digit
//!   or `/`/`+`; not hex, so a git sha1 never matches) when labelled
//!   (`aws_secret_access_key = …`, `SecretAccessKey: …`, `secret_key: …`)
//!   or within three lines / 300 bytes after an access key id (CSV exports,
//!   `aws configure` transcripts).
//! * GitHub `ghp_ gho_ ghu_ ghs_ ghr_` + 36.., `github_pat_…`; GitLab
//!   `glpat-` + 20..; Slack `xoxb- xoxp- xoxa- xoxr- xoxs- xoxe-` tokens
//!   (with a digit) and the path of `hooks.slack.com/services/…` webhooks;
//!   Discord webhook tokens; Telegram bot tokens.
//! * Stripe secret and restricted keys, live **and test**
//!   (`sk_live_ rk_live_ sk_test_ rk_test_`): a test key still grants API
//!   access to the account's test data, so it is a secret; publishable
//!   `pk_…` keys are public and never match. Stripe `whsec_` webhook
//!   secrets.
//! * Google `AIza` + 35 and OAuth `GOCSPX-` client secrets; OpenAI `sk-` +
//!   48 and `sk-proj-`/`sk-svcacct-`/`sk-admin-` keys; Anthropic
//!   `sk-ant-api03-…`.
//! * npm `npm_`, PyPI `pypi-AgEIcHlwaS5vcmc…`, Hugging Face `hf_`, SendGrid
//!   `SG.…`, DigitalOcean `dop_v1_`, Shopify `shpat_`/`shpss_`/…, HashiCorp
//!   Vault `hvs.`/`hvb.`, Databricks `dapi…`, Postman `PMAK-`, Linear
//!   `lin_api_`, Grafana `glsa_`, Sentry `sntrys_`, New Relic `NRAK-`,
//!   Atlassian `ATATT3…`, Square `sq0atp-`/`sq0csp-`, Twilio `SK…`, Mailgun
//!   `key-…`, Mailchimp `…-usN`, Terraform Cloud `….atlasv1.…`, age
//!   `AGE-SECRET-KEY-1…`, 1Password `ops_eyJ…`, Groq `gsk_`, Doppler
//!   `dp.pt.`…, Dynatrace `dt0c01.`, Mapbox secret `sk.eyJ…`, LangSmith
//!   `lsv2_`, Pulumi `pul-`, Sourcegraph `sgp_`, PlanetScale `pscale_`,
//!   Prefect `pnu_`; GitLab also `glptt- gldt- glrt- glcbt- glsoat- glft-
//!   glimt-`; Anthropic any `sk-ant-<kind>NN-` (`api03`, `admin01`, `oat01`).
//!
//! A token must stand alone (not inside a longer identifier or base64 run),
//! must not be masked (`ghp_xxxx…`, `T00000000/B00000000/XXXX…`) or contain
//! `example`, `your`, `placeholder`, `dummy`, `sample`, `redacted` or `xxxx`
//! (so AWS's documented `AKIAIOSFODNN7EXAMPLE` is kept), and must look
//! random (a digit and a letter, or mixed case).
//!
//! # The value rule (`credential_kv`, `bearer_token`, `url_credentials`)
//!
//! A value is a secret only if all of these hold, in order:
//!
//! 1. at least 6 characters, no whitespace (quoted prose is not a secret);
//! 2. a crypt(3) password hash (`$2b$12$…`, `$6$…`, `$argon2id$…`) is a
//!    secret (it is crackable offline);
//! 3. no template or code syntax: no brackets `< > ( ) [ ] { }`, no
//!    `${ $( {% %} %s %d %( :: :// ...`, and it does not start with
//!    `$ % : = & @ \` (variables, format strings, `@file` references);
//! 4. not a file path (`/run/secrets/db`, `~/.netrc`, `./token.txt`,
//!    `C:\keys\db.txt`; base64 that merely starts with `/` is still a
//!    secret);
//! 5. once surrounding punctuation is trimmed, not a stop word (`null`,
//!    `none`, `true`, `false`, `required`, `optional`, `string`, `integer`,
//!    `secret`, `password`, `token`, `changeme`, `changeit`, `example`,
//!    `redacted`, `hidden`, `default`, `sha256`, …), not containing
//!    `example`, `your`, `placeholder`, `dummy`, `sample`, `redacted`,
//!    `xxxx`, and not an example word followed by digits (`password123`,
//!    `token1`, `abc123`, `test1234`);
//! 6. not masked (`***`, `xxx`, `********`, `0000`, `xxxx-xxxx`): masked
//!    means at least half of the characters are from `x X * • # . 0 - _`,
//!    one of them making up 40 % and repeated three times in a row; and at
//!    least 4 distinct characters;
//! 7. not word-like: a value made only of letters and `_ - . : /`
//!    (`hunter`, `your-password`, `password_here`, `config.password`,
//!    `process.env.DB_PASSWORD`, `MyPassword`) is a secret only if it is
//!    letters only, at least 16 of them (12 for bearer tokens), with
//!    30–70 % capitals, i.e. random-looking;
//! 8. not an upper-case name: `SCREAMING_SNAKE_CASE` (`DB_PASSWORD_2`, an
//!    env reference) or tool keywords (`FILE0`, `COMBO00:COMBO01`);
//! 9. digits only: at least 8 digits; not a date, time, IP address or
//!    version number or a list of small numbers (`2024-01-01`, `10.0.0.1`,
//!    `v1.2.3-beta`, `1,2,3,4,5`).
//!
//! Judgment calls (documented, tested): dictionary-word passwords
//! (`password: hunter`, `postgres://app:tiger@db`) and well-known example
//! values (`changeme`, `changeit`, `example`, `password123`) are treated as
//! examples and kept; anything with a digit or a symbol (`hunter2`,
//! `P@ssw0rd`, `admin123`, `Passw0rd!`) is redacted, even in a tutorial.
//! Not recognised: passphrases with spaces (`password: "correct horse
//! battery staple"`), short CLI flags (`-pS3cret`, ambiguous with
//! `-p8080:80`), `.netrc` lines (`password hunter2`, no separator), SQL
//! `IDENTIFIED BY '…'`, and free prose such as "the password for the admin
//! account is …".
//!
//! # Performance
//!
//! Each pattern is compiled once per process, when first needed (shared by
//! every [`Redactor`]). Cheap triggers (`triggers.rs`: SIMD literal search
//! and a small regex set) tell which detectors can match at all; only those
//! run, so text without any candidate costs a few linear passes.

mod detectors;
mod heuristics;
mod triggers;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use detectors::{Candidate, Detector, Patterns};

/// The detectors of the default policy (the Python tool's default list).
pub const DEFAULT_DETECTORS: &[&str] = &[
    "pem_private_key",
    "jwt",
    "bearer_token",
    "credential_kv",
    "url_credentials",
    "vendor_token",
];

const KNOWN_DETECTORS: &[&str] = &[
    "pem_private_key",
    "jwt",
    "bearer_token",
    "credential_kv",
    "url_credentials",
    "vendor_token",
    "cloud_keys",
];

/// Every detector name accepted in `security.redaction.detectors`: the
/// [`DEFAULT_DETECTORS`] plus aliases (`cloud_keys` = `vendor_token`).
pub fn known_detectors() -> &'static [&'static str] {
    KNOWN_DETECTORS
}

/// `security.redaction` of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RedactionPolicy {
    pub enabled: bool,
    pub policy_id: String,
    pub policy_version: String,
    pub detectors: Vec<String>,
}

impl Default for RedactionPolicy {
    fn default() -> RedactionPolicy {
        RedactionPolicy {
            enabled: true,
            policy_id: "redaction.policy.v1".to_string(),
            policy_version: "v1".to_string(),
            detectors: DEFAULT_DETECTORS.iter().map(|d| d.to_string()).collect(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    #[error(
        "unknown redaction detector `{name}` in security.redaction.detectors (known detectors: {})",
        known.join(", ")
    )]
    UnknownDetector { name: String, known: Vec<String> },
    #[error("the redaction key is empty; delete the key file so a new one is generated")]
    EmptyKey,
}

/// Text after redaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted<'a> {
    /// The redacted text; [`Cow::Borrowed`] when nothing matched.
    pub text: Cow<'a, str>,
    /// Number of secrets replaced, by category.
    pub counts: BTreeMap<&'static str, u32>,
    /// The returned text was scanned and the detectors find nothing in it
    /// (false when redaction is disabled).
    pub clean: bool,
}

impl Redacted<'_> {
    /// Total number of secrets replaced.
    pub fn total(&self) -> u32 {
        self.counts.values().sum()
    }
}

/// A secret [`Redactor::scan`] found. Never carries the secret itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Finding {
    /// Canonical detector name (`vendor_token` also for `cloud_keys`).
    pub detector: &'static str,
    /// Category, as in the marker.
    pub category: &'static str,
    /// Byte range of the secret value in the scanned text (char boundaries).
    pub start: usize,
    pub end: usize,
}

struct Engine {
    enabled: [bool; 6],
    detectors: Vec<&'static str>,
    mac: Hmac<Sha256>,
    patterns: &'static Patterns,
}

/// Replaces secrets by markers. `Send + Sync`; share it by reference.
pub struct Redactor {
    engine: Option<Engine>,
    /// Digests of texts of at least [`MEMO_MIN_BYTES`] that this redactor
    /// scanned and found clean: what [`redact`](Self::redact) returned, and
    /// what [`scan_and_remember`](Self::scan_and_remember) passed. The
    /// redaction postcondition skips them instead of scanning the same
    /// text with the same detectors a second time.
    clean: std::sync::Mutex<std::collections::HashSet<[u8; 16]>>,
    /// Ids of store objects (sha256 of their payload), and `file:<sha256>`
    /// keys of run files, whose every string this redactor scanned, decoded
    /// from those exact bytes, and found clean. Kept apart from `clean`: a
    /// clean payload and a clean text are different claims about the same
    /// bytes.
    clean_objects: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Texts shorter than this are scanned again rather than remembered.
pub const MEMO_MIN_BYTES: usize = 256;

fn memo_key(text: &str) -> [u8; 16] {
    use sha2::Digest;
    let digest = Sha256::digest(text.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.engine {
            None => f.write_str("Redactor(disabled)"),
            Some(engine) => write!(f, "Redactor({})", engine.detectors.join(", ")),
        }
    }
}

/// The patterns, shared by every redactor of the process (each compiled
/// once, on first use).
fn shared_patterns() -> &'static Patterns {
    static PATTERNS: OnceLock<Patterns> = OnceLock::new();
    PATTERNS.get_or_init(Patterns::new)
}

impl Redactor {
    /// Builds a redactor for `policy` keyed by `key` (the profile's
    /// redaction key). Detector names are validated even when the policy is
    /// disabled; a disabled policy needs no key.
    pub fn new(policy: &RedactionPolicy, key: &[u8]) -> Result<Redactor, RedactError> {
        let mut enabled = [false; 6];
        for name in &policy.detectors {
            let detector =
                Detector::from_name(name.trim()).ok_or_else(|| RedactError::UnknownDetector {
                    name: name.clone(),
                    known: KNOWN_DETECTORS.iter().map(|k| k.to_string()).collect(),
                })?;
            if let Some(slot) = enabled.get_mut(detector.index()) {
                *slot = true;
            }
        }
        if !policy.enabled {
            return Ok(Redactor::disabled());
        }
        if key.is_empty() {
            return Err(RedactError::EmptyKey);
        }
        let mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(key).map_err(|_| RedactError::EmptyKey)?;
        let detectors = Detector::ALL
            .into_iter()
            .filter(|d| enabled.get(d.index()).copied().unwrap_or(false))
            .map(Detector::name)
            .collect();
        Ok(Redactor {
            clean: Default::default(),
            clean_objects: Default::default(),
            engine: Some(Engine {
                enabled,
                detectors,
                mac,
                patterns: shared_patterns(),
            }),
        })
    }

    /// Compiles what every scan needs first, where a core would otherwise
    /// wait (ingest calls it while it walks the workspace); the rest of
    /// the patterns compile when a text first needs them.
    pub fn prepare(&self) {
        if let Some(engine) = &self.engine {
            engine.patterns.prepare(&engine.enabled);
        }
    }

    /// The identity: `redact` returns its input, `scan` finds nothing.
    pub fn disabled() -> Redactor {
        Redactor {
            engine: None,
            clean: Default::default(),
            clean_objects: Default::default(),
        }
    }

    fn remember_clean(&self, text: &str) {
        if self.engine.is_some()
            && text.len() >= MEMO_MIN_BYTES
            && let Ok(mut clean) = self.clean.lock()
        {
            clean.insert(memo_key(text));
        }
    }

    /// True if this redactor already scanned exactly `text` and found
    /// nothing (see the `clean` field).
    pub fn known_clean(&self, text: &str) -> bool {
        text.len() >= MEMO_MIN_BYTES
            && self
                .clean
                .lock()
                .is_ok_and(|clean| clean.contains(&memo_key(text)))
    }

    /// Records that the object `id` (or run file key) was decoded and every
    /// string in it scanned clean (see
    /// [`crate::pipeline::postcondition::prescan_objects`]).
    pub fn remember_clean_object(&self, id: &str) {
        if self.engine.is_some()
            && let Ok(mut clean) = self.clean_objects.lock()
        {
            clean.insert(id.to_string());
        }
    }

    /// True if the object `id` was already scanned clean by this redactor.
    pub fn known_clean_object(&self, id: &str) -> bool {
        self.clean_objects
            .lock()
            .is_ok_and(|clean| clean.contains(id))
    }

    /// [`scan`](Self::scan), remembering `text` as clean when nothing is
    /// found.
    pub fn scan_and_remember(&self, text: &str) -> Vec<Finding> {
        let found = self.scan(text);
        if found.is_empty() {
            self.remember_clean(text);
        }
        found
    }

    pub fn is_enabled(&self) -> bool {
        self.engine.is_some()
    }

    /// Canonical names of the active detectors, in priority order.
    pub fn detectors(&self) -> &[&'static str] {
        self.engine.as_ref().map_or(&[], |e| e.detectors.as_slice())
    }

    /// Replaces every secret by its marker.
    pub fn redact<'a>(&self, text: &'a str) -> Redacted<'a> {
        self.redact_remembering(text, true)
    }

    /// [`redact`](Self::redact) for a text whose caller keeps track of it
    /// (a document's text: the ingest groups carry [`Redacted::clean`]),
    /// so it is not digested for the memo of clean texts.
    pub fn redact_unremembered<'a>(&self, text: &'a str) -> Redacted<'a> {
        self.redact_remembering(text, false)
    }

    fn redact_remembering<'a>(&self, text: &'a str, remember: bool) -> Redacted<'a> {
        let mut counts = BTreeMap::new();
        let Some(engine) = &self.engine else {
            return Redacted {
                text: Cow::Borrowed(text),
                counts,
                clean: false,
            };
        };
        let findings = engine.scan(text);
        if findings.is_empty() {
            if remember {
                self.remember_clean(text);
            }
            return Redacted {
                text: Cow::Borrowed(text),
                counts,
                clean: true,
            };
        }
        let mut current = engine.apply(text, &findings, &mut counts);
        let mut clean = false;
        // Each round turns at least one non-marker byte into marker bytes,
        // so this ends after at most `text.len()` rounds (in practice one).
        for _ in 0..=text.len() {
            let findings = engine.scan(&current);
            if findings.is_empty() {
                if remember {
                    self.remember_clean(&current);
                }
                clean = true;
                break;
            }
            current = engine.apply(&current, &findings, &mut counts);
        }
        Redacted {
            text: Cow::Owned(current),
            counts,
            clean,
        }
    }

    /// What [`redact`](Self::redact) would replace (its first round), sorted
    /// by position, without replacing anything. Redaction markers and the
    /// text around them are never findings.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        self.engine.as_ref().map_or_else(Vec::new, |e| e.scan(text))
    }
}

impl Engine {
    fn scan(&self, text: &str) -> Vec<Finding> {
        let mut candidates: Vec<Candidate> = Vec::new();
        self.patterns
            .candidates(text, &self.enabled, &mut candidates);
        if candidates.is_empty() {
            return Vec::new();
        }
        let mut excluded: Vec<(usize, usize)> = Vec::new();
        // memmem: SIMD, where `str::contains` is not.
        if memchr::memmem::find(text.as_bytes(), b"<<redacted:").is_some() {
            excluded.extend(
                self.patterns
                    .marker
                    .get()
                    .find_iter(text)
                    .map(|m| (m.start(), m.end())),
            );
        }
        if memchr::memmem::find(text.as_bytes(), b";base64,").is_some() {
            excluded.extend(
                self.patterns
                    .data_uri
                    .get()
                    .find_iter(text)
                    .map(|m| (m.start(), m.end())),
            );
        }
        if !excluded.is_empty() {
            candidates.retain(|c| !excluded.iter().any(|&(s, e)| c.start < e && s < c.end));
        }
        candidates.sort_by_key(|c| (c.start, c.detector, std::cmp::Reverse(c.end)));
        let mut merged: Vec<Candidate> = Vec::with_capacity(candidates.len());
        for c in candidates {
            if let Some(last) = merged.last_mut()
                && c.start < last.end
            {
                last.end = last.end.max(c.end);
                last.detector = last.detector.min(c.detector);
                continue;
            }
            merged.push(c);
        }
        merged
            .into_iter()
            .map(|c| Finding {
                detector: c.detector.name(),
                category: c.detector.category(),
                start: c.start,
                end: c.end,
            })
            .collect()
    }

    fn digest(&self, secret: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(secret.as_bytes());
        let bytes = mac.finalize().into_bytes();
        hex::encode(bytes.get(..6).unwrap_or(&[]))
    }

    /// Replaces `findings` (sorted, disjoint, on char boundaries) in `text`.
    fn apply(
        &self,
        text: &str,
        findings: &[Finding],
        counts: &mut BTreeMap<&'static str, u32>,
    ) -> String {
        let mut out = String::with_capacity(text.len() + findings.len() * 40);
        let mut last = 0;
        for f in findings {
            let (Some(before), Some(secret)) = (text.get(last..f.start), text.get(f.start..f.end))
            else {
                continue;
            };
            out.push_str(before);
            out.push_str("<<redacted:");
            out.push_str(f.category);
            out.push(':');
            out.push_str(&self.digest(secret));
            out.push_str(">>");
            let newlines = secret.bytes().filter(|&b| b == b'\n').count();
            out.extend(std::iter::repeat_n('\n', newlines));
            *counts.entry(f.category).or_insert(0) += 1;
            last = f.end;
        }
        out.push_str(text.get(last..).unwrap_or(""));
        out
    }
}
