//! Property tests: on random text mixed with secrets, redaction is
//! idempotent, `scan` finds nothing in its output, line numbers never move,
//! and (when secrets are whitespace-separated from the noise) no secret
//! survives.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::borrow::Cow;

use auditgraph_core::redact::{RedactionPolicy, Redactor};
use proptest::prelude::*;

/// splitmix64: secrets are derived from a seed so that shrinking never
/// turns them into low-entropy strings the detectors rightly ignore.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn string(&mut self, alphabet: &str, n: usize) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        loop {
            let s: String = (0..n)
                .map(|_| chars[(self.next() % chars.len() as u64) as usize])
                .collect();
            let lower = s.to_lowercase();
            let placeholder = [
                "example",
                "xxxx",
                "your",
                "placeholder",
                "redacted",
                "dummy",
                "sample",
            ]
            .iter()
            .any(|w| lower.contains(w));
            let has_digit = s.chars().any(|c| c.is_ascii_digit());
            let has_lower = s.chars().any(|c| c.is_ascii_lowercase());
            let has_upper = s.chars().any(|c| c.is_ascii_uppercase());
            let alpha_ok = !alphabet.contains('a') || (has_lower && has_upper);
            if !placeholder && has_digit && alpha_ok {
                return s;
            }
        }
    }
}

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const UPPER_DIGITS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A fragment of text holding one secret, and the strings that must not
/// survive redaction.
fn secret(kind: u8, seed: u64) -> (String, Vec<String>) {
    let mut rng = Rng(seed);
    match kind % 9 {
        0 => {
            let t = format!("ghp_{}", rng.string(ALNUM, 36));
            (t.clone(), vec![t])
        }
        1 => {
            let t = format!("AKIA{}", rng.string(UPPER_DIGITS, 16));
            (t.clone(), vec![t])
        }
        2 => {
            let t = format!(
                "eyJhbGciOiJIUzI1NiJ9.eyJ{}.{}",
                rng.string(B64URL, 30),
                rng.string(B64URL, 43)
            );
            (t.clone(), vec![t])
        }
        3 => {
            let lines: Vec<String> = (0..1 + rng.next() % 6)
                .map(|_| rng.string(B64, 64))
                .collect();
            let text = format!(
                "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----",
                lines.join("\n")
            );
            (text, lines)
        }
        4 => {
            let n = 8 + (rng.next() % 16) as usize;
            let v = rng.string(ALNUM, n);
            let template = [
                "password: {}",
                "DB_PASSWORD={}",
                "\"api_key\": \"{}\"",
                "--token {}",
                "secret = '{}'",
                "the password is {}",
            ][(rng.next() % 6) as usize];
            (template.replace("{}", &v), vec![v])
        }
        5 => {
            let v = rng.string(ALNUM, 12);
            (format!("https://deploy:{v}@git.example.com/r.git"), vec![v])
        }
        6 => {
            let v = rng.string(ALNUM, 32);
            (format!("Authorization: Bearer {v}"), vec![v])
        }
        7 => {
            let t = format!(
                "xoxb-{}-{}",
                rng.next() % 1_000_000_000_000,
                rng.string(ALNUM, 24)
            );
            (t.clone(), vec![t])
        }
        _ => {
            let t = format!("sk-{}", rng.string(ALNUM, 48));
            (t.clone(), vec![t])
        }
    }
}

/// Text that is not a secret but stresses the detectors: marker pieces,
/// keys without values, placeholders, unicode.
const TRICKY: &[&str] = &[
    "<<redacted:",
    ">>",
    "<<redacted:credential:0123456789ab>>",
    "<<redacted:vendor_token:abcdef012345>>",
    "redacted:",
    "password=",
    "password:",
    "Bearer",
    "Authorization: Bearer",
    "token:",
    ":",
    "=",
    "{{password}}",
    "<password>",
    "$API_KEY",
    "-----BEGIN PRIVATE KEY-----",
    "-----END PRIVATE KEY-----",
    "eyJ",
    "://",
    "@",
    "\n",
    "é",
    "🔑",
    "\\n",
    "\"",
    "'",
    "`",
    "**",
    "|",
    "ghp_",
    "AKIA",
    "data:image/png;base64,",
];

fn noise() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,24}",
        "[a-z ]{0,30}",
        "[A-Za-z0-9+/=_.:-]{0,40}",
        proptest::sample::select(TRICKY).prop_map(str::to_string),
    ]
}

#[derive(Debug, Clone)]
enum Piece {
    Noise(String),
    Secret(u8, u64),
}

fn pieces() -> impl Strategy<Value = Vec<Piece>> {
    proptest::collection::vec(
        prop_oneof![
            3 => noise().prop_map(Piece::Noise),
            2 => (any::<u8>(), any::<u64>()).prop_map(|(k, s)| Piece::Secret(k, s)),
        ],
        0..16,
    )
}

fn redactor() -> Redactor {
    Redactor::new(&RedactionPolicy::default(), b"proptest-key").unwrap()
}

/// The invariants every input must satisfy.
fn check_invariants(r: &Redactor, text: &str) -> Result<String, TestCaseError> {
    for f in r.scan(text) {
        prop_assert!(f.start < f.end && f.end <= text.len());
        prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
    }
    let once = r.redact(text);
    prop_assert_eq!(
        once.text.matches('\n').count(),
        text.matches('\n').count(),
        "line count changed"
    );
    let rescan = r.scan(&once.text);
    prop_assert!(rescan.is_empty(), "scan after redact: {:?}", rescan);
    let twice = r.redact(&once.text);
    prop_assert!(matches!(twice.text, Cow::Borrowed(_)));
    prop_assert_eq!(&twice.text, &once.text);
    prop_assert!(twice.counts.is_empty());
    Ok(once.text.into_owned())
}

proptest! {
    // REDACTION_PROPTEST_CASES=50000 for a longer run
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("REDACTION_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1024)
    ))]

    #[test]
    fn separated_secrets_never_survive(pieces in pieces(), seps in proptest::collection::vec(prop_oneof![Just(" "), Just("\n"), Just("\n\n"), Just(" | "), Just("\t")], 16)) {
        let r = redactor();
        let mut text = String::new();
        let mut secrets = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            if i > 0 {
                text.push_str(seps[i % seps.len()]);
            }
            match piece {
                Piece::Noise(n) => text.push_str(n),
                Piece::Secret(kind, seed) => {
                    let (t, s) = secret(*kind, *seed);
                    text.push_str(&t);
                    secrets.extend(s);
                }
            }
        }
        let redacted = check_invariants(&r, &text)?;
        for s in &secrets {
            prop_assert!(!redacted.contains(s.as_str()), "secret {:?} survived in {:?}", s, redacted);
        }
    }

    #[test]
    fn glued_text_is_idempotent(pieces in pieces()) {
        let r = redactor();
        let mut text = String::new();
        for piece in &pieces {
            match piece {
                Piece::Noise(n) => text.push_str(n),
                Piece::Secret(kind, seed) => text.push_str(&secret(*kind, *seed).0),
            }
        }
        check_invariants(&r, &text)?;
    }

    #[test]
    fn arbitrary_strings_are_safe(text in "\\PC{0,200}|[ -~\n]{0,300}") {
        check_invariants(&redactor(), &text)?;
    }
}
