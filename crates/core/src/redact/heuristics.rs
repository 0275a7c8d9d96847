//! Value and key classification: "does this look like a secret?".
//!
//! These functions are pure and total (no panics on any input); they only
//! ever look at whole `char`s.

/// Shortest value `credential_kv`, `bearer_token` and `url_credentials` accept.
pub(crate) const MIN_SECRET_CHARS: usize = 6;
/// Shortest digits-only value accepted (`password: 123456` is too weak a
/// signal; `pin = 12345678` is accepted).
pub(crate) const MIN_DIGITS_ONLY_CHARS: usize = 8;
/// Shortest letters-only value accepted, and only when it looks random.
pub(crate) const MIN_RANDOM_LETTERS: usize = 16;

/// Values that are never secrets (compared case-insensitively, after the
/// surrounding punctuation has been trimmed). Most of them are already
/// rejected by the letters-only rule; the list documents intent and guards
/// the forms with digits.
const STOP_WORDS: &[&str] = &[
    "null",
    "nil",
    "none",
    "undefined",
    "true",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "required",
    "optional",
    "string",
    "str",
    "int",
    "int32",
    "int64",
    "uint64",
    "i32",
    "i64",
    "u32",
    "u64",
    "integer",
    "number",
    "bool",
    "boolean",
    "object",
    "array",
    "bytes",
    "text",
    "value",
    "secret",
    "password",
    "passwd",
    "token",
    "changeme",
    "change_me",
    "changeit",
    "example",
    "sample",
    "dummy",
    "placeholder",
    "redacted",
    "hidden",
    "masked",
    "default",
    "empty",
    "unset",
    "base64",
    "utf-8",
    "utf8",
    "sha256",
    "sha-256",
    "sha512",
    "hs256",
    "rs256",
    "es256",
    "aes256",
    "aes-256",
    "aes-128",
    "md5",
    "oauth2",
    "x-oauth-basic",
];

/// Substrings that mark a value as a template or an example, never a secret.
const PLACEHOLDER_SUBSTRINGS: &[&str] = &[
    "{{", "}}", "${", "$(", "{%", "%}", "%s", "%d", "%(", "::", "://", "...", "…",
];

/// Words that, followed only by digits, make an example value
/// (`password123`, `token1`, `admin2024`, `abc123`).
///
/// Real-world weak passwords (`admin123`, `welcome1`, `qwerty1`) are NOT in
/// this list: they are redacted.
const EXAMPLE_STEMS: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "secret",
    "token",
    "key",
    "apikey",
    "test",
    "example",
    "sample",
    "abc",
    "abcd",
    "abcdef",
    "foo",
    "bar",
    "foobar",
    "mypassword",
    "mysecret",
    "mytoken",
    "mykey",
];

/// Substrings (lower-cased) that mark a vendor-token-shaped string as a
/// documentation placeholder.
const VENDOR_PLACEHOLDER_WORDS: &[&str] = &[
    "example",
    "xxxx",
    "your",
    "placeholder",
    "redacted",
    "dummy",
    "sample",
];

/// Characters used to mask or elide a value (`********`, `xxxx`, `••••`).
fn is_mask_char(c: char) -> bool {
    matches!(
        c,
        'x' | 'X' | '*' | '•' | '●' | '#' | '.' | '…' | '0' | '-' | '_'
    )
}

/// A masked value: at least half of the characters are mask characters, a
/// single one of them makes up at least 40% and repeats at least three
/// times in a row (`***`, `xxxx-xxxx`, `T00000000/B00000000/XXXX…`), unlike
/// random text that merely contains a few `0`, `x` or `-`.
pub(crate) fn mask_heavy(v: &str) -> bool {
    let total = v.chars().count();
    let masked = v.chars().filter(|&c| is_mask_char(c)).count();
    let mut top = 0;
    for m in ['x', 'X', '*', '•', '●', '#', '.', '…', '0', '-', '_'] {
        top = top.max(v.chars().filter(|&c| c == m).count());
    }
    let mut longest_run = 0;
    let mut run = 0;
    let mut prev = None;
    for c in v.chars() {
        run = if is_mask_char(c) && prev == Some(c) {
            run + 1
        } else {
            1
        };
        if is_mask_char(c) {
            longest_run = longest_run.max(run);
        }
        prev = Some(c);
    }
    total > 0 && masked * 2 >= total && top * 5 >= total * 2 && longest_run >= 3
}

fn distinct_chars(v: &str) -> usize {
    let mut seen: Vec<char> = Vec::new();
    for c in v.chars() {
        if !seen.contains(&c) {
            seen.push(c);
            if seen.len() >= 16 {
                break;
            }
        }
    }
    seen.len()
}

/// Letters-only text that nevertheless looks random (base62-ish material
/// without digits): long, with upper and lower case in comparable amounts.
/// CamelCase words (`MySuperSecretPassword`) have ~20% capitals and fail.
pub(crate) fn random_letters(core: &str, min_len: usize) -> bool {
    let letters: Vec<char> = core.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() < min_len {
        return false;
    }
    let upper = letters.iter().filter(|c| c.is_uppercase()).count();
    let lower = letters.iter().filter(|c| c.is_lowercase()).count();
    // between 30% and 70% capitals
    upper * 10 >= letters.len() * 3 && lower * 10 >= letters.len() * 3
}

/// Something that reads as a word, an identifier or a dotted path:
/// only letters and the separators `_ - . : /` (no digit, no other symbol).
fn word_like(core: &str) -> bool {
    core.chars()
        .all(|c| c.is_alphabetic() || matches!(c, '_' | '-' | '.' | ':' | '/'))
}

/// `SCREAMING_SNAKE_CASE` names (environment variable names such as
/// `DB_PASSWORD_2`), which are references, not values.
fn screaming_snake(core: &str) -> bool {
    core.contains('_')
        && core
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && core.chars().next().is_some_and(|c| c.is_ascii_uppercase())
}

/// Template, variable, format or code syntax: brackets of any kind
/// (`<password>`, `{{token}}`, `get_token()`, `Token![struct]`),
/// `${`, `$(`, `%s`, `::`, `://`, an ellipsis.
pub(crate) fn has_template_syntax(value: &str) -> bool {
    value.contains(['<', '>', '(', ')', '[', ']', '{', '}'])
        || PLACEHOLDER_SUBSTRINGS.iter().any(|p| value.contains(p))
}

/// A file path (`/run/secrets/db`, `~/.netrc`, `./token.txt`): starts like a
/// path and its segments read as words or file names. Base64 material that
/// happens to start with `/` (`/K7MDENG/bPx…`) has random segments and is
/// not a path.
fn path_like(value: &str) -> bool {
    // Windows: `C:\secrets\db.txt`
    let mut chars = value.chars();
    if let (Some(drive), Some(':'), Some('\\' | '/')) = (chars.next(), chars.next(), chars.next())
        && drive.is_ascii_alphabetic()
    {
        return true;
    }
    let rest = if let Some(r) = value.strip_prefix("~/") {
        r
    } else if let Some(r) = value.strip_prefix("./") {
        r
    } else if let Some(r) = value.strip_prefix("../") {
        r
    } else if let Some(r) = value.strip_prefix('/') {
        r
    } else {
        return false;
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty() {
        return true;
    }
    let wordy = segments
        .iter()
        .filter(|s| {
            // `Documents`, `db2`, `token.txt`, `my-app`; not `bPxRfiCY4ab`
            word_like(s)
                || s.contains('.')
                || s.chars()
                    .all(|c| c.is_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
        })
        .count();
    wordy * 2 > segments.len()
}

/// Upper-case placeholder words with a short number, alone or joined
/// (`FILE0`, `COMBO00:COMBO01`, `USER-1`): tool keywords, not secrets.
fn upper_placeholder(core: &str) -> bool {
    core.split([':', '-', '_', '.', '/']).all(|part| {
        let letters = part.len()
            - part
                .trim_start_matches(|c: char| c.is_ascii_uppercase())
                .len();
        let digits = part.get(letters..).unwrap_or("");
        letters >= 2 && digits.len() <= 3 && digits.chars().all(|c| c.is_ascii_digit())
    })
}

/// Does `value` (already unquoted) look like a secret rather than a
/// placeholder, a reference, a type name or a word of prose?
///
/// `min_random_letters`: letters-only values are accepted only when they are
/// at least this long and look random (see [`random_letters`]).
pub(crate) fn value_is_secret(value: &str, min_random_letters: usize) -> bool {
    let n = value.chars().count();
    if n < MIN_SECRET_CHARS {
        return false;
    }
    if value.chars().any(char::is_whitespace) {
        return false;
    }
    if has_template_syntax(value) {
        return false;
    }
    if crypt_hash(value) {
        return true;
    }
    if let Some(first) = value.chars().next()
        && matches!(first, '$' | '%' | '{' | '[' | ':' | '=' | '&' | '@' | '\\')
    {
        return false;
    }
    if path_like(value) {
        return false;
    }
    let core = value.trim_matches(|c: char| !c.is_alphanumeric());
    if core.chars().count() < MIN_SECRET_CHARS.min(n) || core.is_empty() {
        return false;
    }
    let lower = core.to_lowercase();
    if STOP_WORDS.contains(&lower.as_str()) {
        return false;
    }
    if VENDOR_PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w)) {
        return false;
    }
    // `password123`, `token1`, `admin2024`: an example word plus digits
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit());
    if stem.len() < lower.len() && EXAMPLE_STEMS.contains(&stem) {
        return false;
    }
    if mask_heavy(value) || distinct_chars(core) < 4 {
        return false;
    }
    if word_like(core) {
        // identifiers and paths (`process.env.DB_PASSWORD`, `my-secret`)
        // have separators; random letters-only material has none
        return core.chars().all(char::is_alphabetic) && random_letters(core, min_random_letters);
    }
    if screaming_snake(core) || upper_placeholder(core) {
        return false;
    }
    if core.chars().all(|c| c.is_ascii_digit()) {
        return core.len() >= MIN_DIGITS_ONLY_CHARS;
    }
    if numeric_structured(core) || version_like(core) {
        return false;
    }
    true
}

/// A crypt(3)-style password hash (`$2b$12$…` bcrypt, `$6$…` sha512-crypt,
/// `$argon2id$…`, `$apr1$…`): crackable offline, so redacted although it
/// starts with `$`.
fn crypt_hash(value: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "$2a$",
        "$2b$",
        "$2x$",
        "$2y$",
        "$1$",
        "$5$",
        "$6$",
        "$7$",
        "$y$",
        "$gy$",
        "$apr1$",
        "$argon2i$",
        "$argon2d$",
        "$argon2id$",
        "$pbkdf2",
    ];
    value.len() >= 20
        && PREFIXES.iter().any(|p| value.starts_with(p))
        && !value.contains(['{', '}', '(', ')', '<', '>'])
}

/// Dates, times, IP addresses, phone-like numbers, lists: digits in groups
/// of at most 4, joined by `- : . / + , T Z` (`2024-01-01`, `192.168.1.10`,
/// `10:30:00Z`, `1,2,3,4,5`).
fn numeric_structured(core: &str) -> bool {
    let mut run = 0;
    let mut digits = 0;
    for c in core.chars() {
        if c.is_ascii_digit() {
            run += 1;
            digits += 1;
            if run > 4 {
                return false;
            }
        } else if matches!(c, '-' | ':' | '.' | '/' | '+' | ',' | 'T' | 'Z') {
            run = 0;
        } else {
            return false;
        }
    }
    digits > 0
}

/// Version numbers: `1.2.3`, `v1.2.3-beta`, `2.0.0-rc.1`, `v10.4`.
fn version_like(core: &str) -> bool {
    let body = core.strip_prefix(['v', 'V']).unwrap_or(core);
    let (numbers, suffix) = match body.find(['-', '+']) {
        Some(i) => (body.get(..i).unwrap_or(""), body.get(i + 1..).unwrap_or("")),
        None => (body, ""),
    };
    let parts: Vec<&str> = numbers.split('.').collect();
    (2..=4).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()))
        && suffix.len() <= 16
        && suffix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// `%XX` escapes of a URL component decoded (ASCII only; anything else is
/// kept as written).
pub(crate) fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = String::with_capacity(value.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let Some(hex) = value.get(i + 1..i + 3)
            && let Ok(decoded) = u8::from_str_radix(hex, 16)
            && decoded.is_ascii()
            && !decoded.is_ascii_control()
        {
            out.push(char::from(decoded));
            i += 3;
            continue;
        }
        let ch = value.get(i..).and_then(|r| r.chars().next());
        match ch {
            Some(c) => {
                out.push(c);
                i += c.len_utf8();
            }
            None => break,
        }
    }
    out
}

/// Is a vendor-token body (the part after its fixed prefix) real-looking?
/// Rejects documentation placeholders (`ghp_xxxx…`, `AKIA…EXAMPLE`,
/// `sk-your-key-here…`) and non-random material.
pub(crate) fn vendor_body_ok(body: &str, need_digit: bool) -> bool {
    let lower = body.to_ascii_lowercase();
    if VENDOR_PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w)) {
        return false;
    }
    if mask_heavy(body) || distinct_chars(body) < 6 {
        return false;
    }
    let has_digit = body.chars().any(|c| c.is_ascii_digit());
    let has_letter = body.chars().any(|c| c.is_ascii_alphabetic());
    if need_digit {
        return has_digit && has_letter;
    }
    (has_digit && has_letter) || random_letters(body, 12)
}

/// Splits an identifier into lower-case words: on every non-alphanumeric
/// character and on camelCase boundaries (`dbPassword` → `db`, `password`;
/// `APIKey` stays one word, `apikey`).
pub(crate) fn key_words(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev_lower_or_digit = false;
    for c in key.chars() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower_or_digit = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower_or_digit && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower_or_digit = c.is_ascii_lowercase() || c.is_ascii_digit();
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Last words that name a credential on their own.
const CREDENTIAL_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "pwd",
    "pass",
    "secret",
    "token",
    "apikey",
    "credential",
    "credentials",
];

/// Glued last words (`dbpassword`, `authtoken`, `clientsecret`) end with one
/// of these.
const CREDENTIAL_SUFFIXES: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "apikey",
    "secretkey",
    "privatekey",
    "accesskey",
];

/// Glued words ending in `pass` that are credentials (keytool, .env files);
/// everything else ending in `pass` (`bypass`, `compass`) is not.
const PASS_COMPOUNDS: &[&str] = &[
    "storepass",
    "keypass",
    "srcstorepass",
    "deststorepass",
    "srckeypass",
    "destkeypass",
    "dbpass",
    "userpass",
    "rootpass",
    "adminpass",
    "mailpass",
    "smtppass",
    "ftppass",
];

/// `<qualifier>_key` names a credential for these qualifiers.
pub(crate) const KEY_QUALIFIERS: &[&str] = &[
    "api",
    "secret",
    "private",
    "access",
    "auth",
    "encryption",
    "signing",
    "master",
    "client",
    "app",
    "account",
    "shared",
    "subscription",
    "license",
];

/// Words before `token` that make it a non-credential token (pagination,
/// cancellation).
const TOKEN_NON_SECRET_QUALIFIERS: &[&str] = &["page", "next", "continuation", "cancellation"];

/// Does this key name a credential? The decision is made on the key's LAST
/// word (`DB_PASSWORD`, `githubToken`, `AWS_SECRET_ACCESS_KEY`,
/// `secret_key_base`), so `password_file`, `token_type`, `secretName`,
/// `max_tokens` and `tokenizer` are not credential keys.
pub(crate) fn credential_key(key: &str) -> bool {
    let words = key_words(key);
    let Some(last) = words.last().map(String::as_str) else {
        return false;
    };
    let prev = words
        .len()
        .checked_sub(2)
        .and_then(|i| words.get(i))
        .map(String::as_str);
    if last == "token" && prev.is_some_and(|p| TOKEN_NON_SECRET_QUALIFIERS.contains(&p)) {
        return false;
    }
    if CREDENTIAL_WORDS.contains(&last) || PASS_COMPOUNDS.contains(&last) {
        return true;
    }
    if last == "key" {
        return prev.is_some_and(|p| KEY_QUALIFIERS.contains(&p));
    }
    if last == "base" {
        // Rails' secret_key_base
        return words.len() >= 3
            && words.get(words.len() - 2).is_some_and(|w| w == "key")
            && words.get(words.len() - 3).is_some_and(|w| w == "secret");
    }
    CREDENTIAL_SUFFIXES.iter().any(|s| last.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for k in [
            "password",
            "DB_PASSWORD",
            "github_token",
            "AWS_SECRET_ACCESS_KEY",
            "apiKey",
            "APIKey",
            "api-key",
            "client_secret",
            "clientSecret",
            "--password",
            "spring.datasource.password",
            "secret_key_base",
            "authtoken",
            "X-Auth-Token",
            "storepass",
            "AccountKey",
            "pwd",
            "credentials",
        ] {
            assert!(credential_key(k), "{k}");
        }
        for k in [
            "password_file",
            "token_type",
            "secretName",
            "max_tokens",
            "tokenizer",
            "key",
            "bypass",
            "compass",
            "nextPageToken",
            "public_key",
            "passwordHash",
            "monkey",
            "",
            "---",
        ] {
            assert!(!credential_key(k), "{k}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("he%2F%2Fo"), "he//o");
        assert_eq!(percent_decode("p%40ss%"), "p@ss%");
        assert_eq!(percent_decode("%zz%41é"), "%zzAé");
    }

    #[test]
    fn values() {
        for v in [
            "hunter2",
            "s3cr3t!x",
            "8f14e45fceea167a5a36dedd4bea2543",
            "Tr0ub4dor&3",
            "P@ssw0rd",
            "12345678",
            "aBcDeFgHiJkLmNoPqRsT",
            "Admin123",
            "$2b$12$KIXQJvY8.OSFnMEpq0mV5uJ7y0dA0nXQ5k1RZ8pG7eS4oZ9r2cT6W",
            "X7KD-92LM-QQ4P-8ZT1",
        ] {
            assert!(value_is_secret(v, MIN_RANDOM_LETTERS), "{v}");
        }
        for v in [
            "",
            "{{password}}",
            "<password>",
            "$PASSWORD",
            "${DB_PASSWORD}",
            "%s",
            "***",
            "********",
            "xxx",
            "xxxxxxxxxx",
            "...",
            "null",
            "none",
            "true",
            "password_here",
            "your-password",
            "changeme",
            "required",
            "string",
            "Do",
            "MySuperSecretPassword",
            "process.env.DB_PASSWORD",
            "DB_PASSWORD_2",
            "os.environ",
            "get_password()",
            "/run/secrets/db",
            "https://example.com",
            "!vault",
            "1234",
            "2024-01-01",
            "192.168.1.10",
            "10:30:00Z",
            "1,2,3,4,5",
            "v1.2.3-beta",
            "2.0.0-rc.1",
            "C:\\secrets\\x.txt",
            "password123",
            "token1",
            "String::new()",
            "<<redacted:credential:0123456789ab>>",
            "ümlaut",
        ] {
            assert!(!value_is_secret(v, MIN_RANDOM_LETTERS), "{v}");
        }
    }
}
