//! Unit tests of the redaction API: markers, keys, newline preservation,
//! configuration errors, UTF-8 safety, marker re-scans.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::borrow::Cow;

use auditgraph_core::redact::{
    DEFAULT_DETECTORS, RedactError, RedactionPolicy, Redactor, known_detectors,
};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const KEY: &[u8] = b"unit-test-key";
// Random strings generated for these tests; not real credentials.
const GHP: &str = "ghp_R8k2LmQ9vX4tZp7Wc1Ny6Hs3Jd5Fg0Ba2Ke8";
const AKIA: &str = "AKIA4Q7ZK2M9X3W8T5RB";
const PW: &str = "q7Vt#92LmxPe";

fn redactor() -> Redactor {
    Redactor::new(&RedactionPolicy::default(), KEY).unwrap()
}

fn policy(detectors: &[&str]) -> RedactionPolicy {
    RedactionPolicy {
        detectors: detectors.iter().map(|d| d.to_string()).collect(),
        ..RedactionPolicy::default()
    }
}

fn hmac12(key: &[u8], secret: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(secret.as_bytes());
    hex::encode(mac.finalize().into_bytes())[..12].to_string()
}

fn fake_pem(label: &str, lines: usize) -> String {
    // deterministic base64-looking body
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut body = String::new();
    for _ in 0..lines {
        for _ in 0..64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            body.push(alphabet[(state % 64) as usize] as char);
        }
        body.push('\n');
    }
    format!("-----BEGIN {label}-----\n{body}-----END {label}-----")
}

#[test]
fn default_policy_matches_the_python_defaults() {
    let p = RedactionPolicy::default();
    assert!(p.enabled);
    assert_eq!(p.policy_id, "redaction.policy.v1");
    assert_eq!(p.policy_version, "v1");
    assert_eq!(p.detectors, DEFAULT_DETECTORS);
    for d in DEFAULT_DETECTORS {
        assert!(known_detectors().contains(d));
    }
    assert!(known_detectors().contains(&"cloud_keys"));
}

#[test]
fn marker_format_and_digest() {
    let r = redactor();
    let out = r.redact("password = hunter2\n");
    let expected = format!(
        "password = <<redacted:credential:{}>>\n",
        hmac12(KEY, "hunter2")
    );
    assert_eq!(out.text, expected);
    assert_eq!(out.counts.get("credential"), Some(&1));
    assert_eq!(out.total(), 1);
}

#[test]
fn same_secret_same_marker_different_key_different_marker() {
    let a = redactor();
    let b = Redactor::new(&RedactionPolicy::default(), b"another-key").unwrap();
    let doc1 = format!("GITHUB_TOKEN={GHP}");
    let doc2 = format!("# notes\n\nthe CI uses `{GHP}` now");
    let m1 = a.redact(&doc1).text.into_owned();
    let m2 = a.redact(&doc2).text.into_owned();
    let marker = format!("<<redacted:vendor_token:{}>>", hmac12(KEY, GHP));
    assert!(m1.contains(&marker), "{m1}");
    assert!(m2.contains(&marker), "{m2}");
    let other = b.redact(&doc1).text.into_owned();
    assert!(!other.contains(&marker));
    assert!(other.contains(&format!(
        "<<redacted:vendor_token:{}>>",
        hmac12(b"another-key", GHP)
    )));
    // the secret is not in any output
    for t in [&m1, &m2, &other] {
        assert!(!t.contains(GHP));
    }
}

#[test]
fn only_the_value_is_replaced() {
    let r = redactor();
    let t1 = format!("export DB_PASSWORD=\"{PW}\" # prod");
    let out = r.redact(&t1);
    assert!(
        out.text
            .starts_with("export DB_PASSWORD=\"<<redacted:credential:")
    );
    assert!(out.text.ends_with(">>\" # prod"));
    let t2 = format!("postgres://app:{PW}@db:5432/x");
    let out = r.redact(&t2);
    assert!(
        out.text
            .starts_with("postgres://app:<<redacted:url_credential:")
    );
    assert!(out.text.ends_with(">>@db:5432/x"));
}

#[test]
fn pem_newlines_are_preserved() {
    let r = redactor();
    let key = fake_pem("RSA PRIVATE KEY", 25);
    let doc = format!("# Keys\n\nline three\n```\n{key}\n```\nafter the key\nlast line\n");
    let out = r.redact(&doc);
    let before: Vec<&str> = doc.lines().collect();
    let after: Vec<&str> = out.text.lines().collect();
    assert_eq!(before.len(), after.len());
    // every line outside the key is at the same line number
    let key_first = before
        .iter()
        .position(|l| l.starts_with("-----BEGIN"))
        .unwrap();
    let key_last = before
        .iter()
        .position(|l| l.starts_with("-----END"))
        .unwrap();
    for (i, line) in before.iter().enumerate() {
        if i < key_first || i > key_last {
            assert_eq!(after[i], *line, "line {i}");
        }
    }
    assert!(after[key_first].starts_with("<<redacted:private_key:"));
    for line in &after[key_first + 1..=key_last] {
        assert_eq!(*line, "");
    }
    assert_eq!(out.counts.get("private_key"), Some(&1));
}

#[test]
fn long_pem_inside_a_long_document_is_fully_replaced() {
    // A 4096-bit-sized key in the middle of ~300 KB of prose: far longer
    // than a chunk (200 tokens), at an odd offset.
    let r = redactor();
    let key = fake_pem("PRIVATE KEY", 52);
    let prose = "Ordinary paragraph about the build system and its caches. ".repeat(2500);
    let doc = format!("{prose}\n\n{key}\n\n{prose}");
    let out = r.redact(&doc);
    for line in key.lines() {
        assert!(!out.text.contains(line), "survived: {line}");
    }
    assert_eq!(out.text.lines().count(), doc.lines().count());
    assert_eq!(out.total(), 1);
    assert!(r.scan(&out.text).is_empty());
}

#[test]
fn truncated_pem_is_redacted_through_its_body() {
    let r = redactor();
    let key = fake_pem("EC PRIVATE KEY", 4);
    let truncated: String = key.lines().take(4).collect::<Vec<_>>().join("\n");
    let doc = format!("{truncated}\n\nThe rest got lost.\n");
    let out = r.redact(&doc);
    for line in truncated.lines() {
        assert!(!out.text.contains(line));
    }
    assert!(out.text.ends_with("\n\nThe rest got lost.\n"));
    assert_eq!(out.text.lines().count(), doc.lines().count());
}

#[test]
fn public_keys_and_certificates_are_not_secrets() {
    let r = redactor();
    for label in ["PUBLIC KEY", "CERTIFICATE", "RSA PUBLIC KEY", "X509 CRL"] {
        let doc = fake_pem(label, 8);
        assert!(r.scan(&doc).is_empty(), "{label}");
    }
}

#[test]
fn nothing_found_borrows_the_input() {
    let r = redactor();
    let text = "plain prose, nothing to see: password is required";
    let out = r.redact(text);
    assert!(matches!(out.text, Cow::Borrowed(_)));
    assert!(out.counts.is_empty());
}

#[test]
fn disabled_policy_is_identity() {
    let p = RedactionPolicy {
        enabled: false,
        ..RedactionPolicy::default()
    };
    // a disabled policy needs no key
    for r in [Redactor::new(&p, b"").unwrap(), Redactor::disabled()] {
        assert!(!r.is_enabled());
        let text = format!("password={PW} {GHP}");
        let out = r.redact(&text);
        assert!(matches!(out.text, Cow::Borrowed(_)));
        assert_eq!(out.text, text);
        assert!(out.counts.is_empty());
        assert!(r.scan(&text).is_empty());
        assert!(r.detectors().is_empty());
    }
    assert!(redactor().is_enabled());
}

#[test]
fn unknown_detector_is_an_error_naming_the_known_ones() {
    let err = Redactor::new(&policy(&["jwt", "aws_keys"]), KEY).unwrap_err();
    match &err {
        RedactError::UnknownDetector { name, known } => {
            assert_eq!(name, "aws_keys");
            for d in DEFAULT_DETECTORS {
                assert!(known.iter().any(|k| k == d));
            }
            assert!(known.iter().any(|k| k == "cloud_keys"));
        }
        other => panic!("unexpected {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("aws_keys"), "{message}");
    assert!(message.contains("credential_kv"), "{message}");
    // also when the policy is disabled: a typo is a config error either way
    let disabled = RedactionPolicy {
        enabled: false,
        ..policy(&["nope"])
    };
    assert!(matches!(
        Redactor::new(&disabled, KEY),
        Err(RedactError::UnknownDetector { .. })
    ));
}

#[test]
fn empty_key_is_an_error() {
    let err = Redactor::new(&RedactionPolicy::default(), b"").unwrap_err();
    assert!(matches!(err, RedactError::EmptyKey));
    assert!(!err.to_string().is_empty());
}

#[test]
fn cloud_keys_is_an_alias_of_vendor_token() {
    let text = format!("aws: {AKIA}");
    let by_alias = Redactor::new(&policy(&["cloud_keys"]), KEY).unwrap();
    let by_name = Redactor::new(&policy(&["vendor_token"]), KEY).unwrap();
    let without = Redactor::new(&policy(&["jwt", "credential_kv"]), KEY).unwrap();
    assert_eq!(by_alias.detectors(), ["vendor_token"]);
    let f = by_alias.scan(&text);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].detector, "vendor_token");
    assert_eq!(&text[f[0].start..f[0].end], AKIA);
    assert_eq!(by_name.scan(&text), f);
    assert!(without.scan(&text).is_empty());
    // the default policy catches cloud keys (the Python tool did not)
    assert_eq!(redactor().scan(&text), f);
}

#[test]
fn only_configured_detectors_run() {
    let text = format!("password={PW}\nGITHUB={GHP}");
    let r = Redactor::new(&policy(&["vendor_token"]), KEY).unwrap();
    let out = r.redact(&text);
    assert!(out.text.contains(PW));
    assert!(!out.text.contains(GHP));
    let none = Redactor::new(&policy(&[]), KEY).unwrap();
    assert!(none.is_enabled());
    assert!(none.scan(&text).is_empty());
}

#[test]
fn findings_point_at_the_secret_and_do_not_carry_it() {
    let r = redactor();
    let text = format!("é password: {PW}\n{GHP} ü");
    let findings = r.scan(&text);
    assert_eq!(findings.len(), 2);
    assert_eq!(&text[findings[0].start..findings[0].end], PW);
    assert_eq!(findings[0].detector, "credential_kv");
    assert_eq!(findings[0].category, "credential");
    assert_eq!(&text[findings[1].start..findings[1].end], GHP);
    assert_eq!(findings[1].category, "vendor_token");
    let json = serde_json::to_string(&findings).unwrap();
    assert!(!json.contains(PW) && !json.contains(GHP));
}

#[test]
fn multibyte_utf8_around_secrets() {
    let r = redactor();
    let cases = [
        format!("Schlüssel: password={PW}ö"),
        format!("🔑{GHP}🔑"),
        format!("«{AKIA}»"),
        format!("日本語のパスワード password: {PW} です"),
        format!("token=ünïcödé-{PW}"),
        format!("Authorization: Bearer {PW}{PW}\u{200b}"),
        format!("ⓐ https://ü:{PW}@例え.jp/"),
    ];
    for text in &cases {
        let out = r.redact(text);
        assert!(out.total() >= 1, "nothing found in {text:?}");
        assert!(!out.text.contains(PW) && !out.text.contains(GHP) && !out.text.contains(AKIA));
        assert!(r.scan(&out.text).is_empty());
        // every char-boundary substring can be scanned without panicking
        let bounds: Vec<usize> = text
            .char_indices()
            .map(|(i, _)| i)
            .chain([text.len()])
            .collect();
        for &a in bounds.iter().step_by(3) {
            for &b in bounds.iter().rev().step_by(5) {
                if a <= b {
                    for f in r.scan(&text[a..b]) {
                        assert!(text[a..b].is_char_boundary(f.start));
                        assert!(text[a..b].is_char_boundary(f.end));
                    }
                }
            }
        }
    }
}

#[test]
fn markers_never_match_again() {
    let r = redactor();
    // the Python tool's defects: re-matching its own markers, double wrapping
    let texts = [
        format!("password={PW}"),
        format!("Authorization: Bearer {PW}{PW}"),
        format!("curl -H \"Authorization: Bearer {GHP}\""),
        format!("secret: {PW}\ntoken: {PW}x\napi_key = \"{PW}y\""),
        format!("{AKIA},{}", "kS9+dPq2Lr7/VbN4xWz1Tt8eYh3Mj6Gc0Ua5Io2F"),
    ];
    for text in &texts {
        let once = r.redact(text);
        assert_eq!(
            once.text.matches("<<redacted:").count(),
            once.total() as usize
        );
        assert!(!once.text.contains("<<redacted:bearer:<<"));
        assert!(r.scan(&once.text).is_empty(), "{}", once.text);
        let twice = r.redact(&once.text);
        assert_eq!(twice.text, once.text);
        assert!(matches!(twice.text, Cow::Borrowed(_)));
    }
    // hand-written markers are left alone too
    for text in [
        "password=<<redacted:credential:0123456789ab>>",
        "Authorization: Bearer <<redacted:bearer:0123456789ab>>",
        "GITHUB_TOKEN=<<redacted:vendor_token:abcdefabcdef>>",
    ] {
        assert!(r.scan(text).is_empty(), "{text}");
    }
}

#[test]
fn markers_cut_by_chunk_boundaries_do_not_match() {
    let r = redactor();
    let text = format!(
        "vendor {GHP}\nkey:\n{}\npassword: {PW}\nAuthorization: Bearer {PW}{PW}\nhttps://u:{PW}@h/\n",
        fake_pem("PRIVATE KEY", 3)
    );
    let redacted = r.redact(&text).text.into_owned();
    let mut checked = 0;
    for (start, _) in redacted.match_indices("<<redacted:") {
        let end = start + redacted[start..].find(">>").unwrap() + 2;
        for cut in start..=end {
            assert!(
                r.scan(&redacted[..cut]).is_empty(),
                "{:?}",
                &redacted[..cut]
            );
            assert!(
                r.scan(&redacted[cut..]).is_empty(),
                "{:?}",
                &redacted[cut..]
            );
            // a chunk that is only a slice of the marker and its key
            let from = redacted[..start].rfind('\n').map_or(0, |i| i + 1);
            assert!(r.scan(&redacted[from..cut]).is_empty());
            checked += 1;
        }
    }
    assert!(checked > 150);
}

#[test]
fn redactor_is_send_sync_and_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Redactor>();
    let r = redactor();
    let text = format!("password={PW}");
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| r.redact(&text).text.into_owned()))
            .collect();
        let outs: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(outs.windows(2).all(|w| w[0] == w[1]));
    });
}

#[test]
fn overlapping_detectors_merge_into_one_marker() {
    let r = redactor();
    // credential_kv and vendor_token on the same value: one marker, vendor wins
    let t3 = format!("github_token: \"{GHP}\"");
    let out = r.redact(&t3);
    assert_eq!(out.total(), 1);
    assert_eq!(out.counts.get("vendor_token"), Some(&1));
    // a URL password that is also a vendor token
    let t4 = format!("https://bot:{GHP}@github.com/org/repo.git");
    let out = r.redact(&t4);
    assert_eq!(out.total(), 1);
    assert_eq!(out.counts.get("vendor_token"), Some(&1));
    assert!(out.text.ends_with(">>@github.com/org/repo.git"));
}

#[test]
fn clean_texts_are_remembered_and_dirty_ones_are_not() {
    let r = Redactor::new(&RedactionPolicy::default(), b"memo-key").unwrap();
    let prose = "An ordinary paragraph about tar archives and compression. ".repeat(8);
    assert!(!r.known_clean(&prose));
    assert!(r.redact(&prose).counts.is_empty());
    assert!(r.known_clean(&prose), "a clean text is remembered");
    let dirty =
        format!("{prose}\naws_secret_access_key = \"Zq8xL2vN9rT4wK7mA1bC3dE5fG7hJ9kL2mN4pQ6r\"\n");
    let out = r.redact(&dirty).text.into_owned();
    assert!(
        !r.known_clean(&dirty),
        "a text with a secret is never remembered"
    );
    assert!(r.known_clean(&out), "the redacted output is clean");
    assert!(!r.scan_and_remember(&dirty).is_empty());
    assert!(!r.known_clean(&dirty));
    let short = "too short to remember";
    assert!(r.scan_and_remember(short).is_empty());
    assert!(!r.known_clean(short));
    // Another redactor (another configuration) knows nothing of it.
    let other = Redactor::new(&RedactionPolicy::default(), b"memo-key").unwrap();
    assert!(!other.known_clean(&prose));
}

#[test]
fn xml_credential_values_are_taken_up_to_1024_characters() {
    let r = Redactor::new(&RedactionPolicy::default(), b"xml-key").unwrap();
    let value = |n: usize| -> String {
        let alphabet = b"Zq8xL2vN9rT4wK7mA1bC3dE5fG7hJ9kP";
        (0..n)
            .map(|i| alphabet[(i * 7 + i / 32) % alphabet.len()] as char)
            .collect()
    };
    let at_limit = format!("<db_password>{}</db_password>", value(1024));
    assert!(
        !r.scan(&at_limit).is_empty(),
        "1024 characters are a credential"
    );
    let over = format!("<db_password>{}</db_password>", value(1025));
    assert!(
        r.scan(&over).iter().all(|f| f.detector != "credential_kv"),
        "longer values are not taken by the XML form"
    );
}
