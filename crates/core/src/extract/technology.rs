//! Which inline code spans name a technology.
//!
//! An inline code span becomes an `ag:technology` only when it reads as a
//! name: a tool, command, language, library, module path, API, type or
//! file format (`tar`, `serde_json`, `std::io::Read`, `Vec<T>`, `println!`,
//! `C++`, `.NET`, `@types/node`, `$JAVA_HOME`). Sentences, command lines
//! with arguments, placeholders, flags, paths, numbers, operators and
//! punctuation are code but not technologies: they stay in the text (and
//! in search) without becoming entities. The language of a fenced code
//! block is always a technology.
//!
//! The rule is lexical, so it is the same for every document and run:
//!
//! * one word (no whitespace), [`MIN_CHARS`] to [`MAX_CHARS`] characters;
//! * it starts with a letter or `_`, or with one of `.` `@` `$` followed
//!   by a letter (`.NET`, `@scope/pkg`, `$HOME`); so flags (`-v`,
//!   `--all`), paths (`/etc/x`, `~/x`, `./x`), placeholders (`{{file}}`)
//!   and numbers are out;
//! * its other characters are letters, digits and `_ - . : + #`, with
//!   `/` only after a leading `@` (a scoped package), generic arguments
//!   in balanced `<…>` (`Option<u8>`, `Ref<'a, T>` is out: whitespace),
//!   and a trailing `!` (a macro) or `()` (a call);
//! * it does not end with `.`, `:`, `-` or `::`, and holds no `..`.

/// The shortest technology name, in characters (one letter is a type
/// parameter or a variable: `T`, `x`).
pub const MIN_CHARS: usize = 2;
/// The longest technology name, in characters.
pub const MAX_CHARS: usize = 48;

/// True when an inline code span's (trimmed) text names a technology.
pub fn is_name(text: &str) -> bool {
    let text = text.trim();
    let length = text.chars().count();
    if !(MIN_CHARS..=MAX_CHARS).contains(&length) {
        return false;
    }
    if text.chars().any(char::is_whitespace) || text.contains("..") {
        return false;
    }
    let body = text
        .strip_suffix("()")
        .or_else(|| text.strip_suffix('!'))
        .unwrap_or(text);
    let mut chars = body.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let scoped = first == '@';
    let rest = match first {
        c if c.is_alphabetic() || c == '_' => chars.as_str(),
        '.' | '@' | '$' => {
            let after = chars.as_str();
            if !after.chars().next().is_some_and(char::is_alphabetic) {
                return false;
            }
            after
        }
        _ => return false,
    };
    if body.ends_with(['.', ':', '-', '/']) {
        return false;
    }
    let mut depth = 0usize;
    for c in rest.chars() {
        match c {
            c if c.is_alphanumeric() => {}
            '_' | '-' | '.' | ':' | '+' | '#' => {}
            '/' if scoped => {}
            '<' => depth += 1,
            '>' if depth > 0 => depth -= 1,
            '&' | '\'' | ',' if depth > 0 => {}
            _ => return false,
        }
    }
    depth == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_technologies() {
        for name in [
            "tar",
            "serde_json",
            "std::io::Read",
            "String::to_string",
            "Vec<T>",
            "Option<u8>",
            "HashMap<K,V>",
            "println!",
            "collect()",
            "C++",
            "C#",
            ".NET",
            "@types/node",
            "$JAVA_HOME",
            "base64",
            "i2cget",
            "byobu-enable",
            "Remove-NodeVersion",
            "shard.yml",
            "node.js",
            "_id",
            "Ürün",
            "Go",
        ] {
            assert!(is_name(name), "{name} should name a technology");
        }
    }

    #[test]
    fn code_that_is_not_a_name_is_not_a_technology() {
        for code in [
            "",
            "T",
            "x",
            "tar cf {{target.tar}} {{file}}",
            "let x = 5;",
            "impl Fn(i32) -> i32",
            "Connection established!",
            "{{path/to/file}}",
            "--all",
            "-v",
            "/etc/pamac.conf",
            "~/notes",
            "./configure",
            "path/to/file",
            "12",
            "3.14",
            ">=",
            "<",
            ".",
            "..",
            "let...else",
            "<&T>::...",
            "[0]",
            "expr;",
            "(and",
            "note:",
            "std::",
            ".snapshot*",
            "&rect1",
            "var /= expr",
            "a\"b",
            "x=1",
            "Vec<T",
            "T>",
            "<<redacted:aws_key:0123abcd>>",
            "averyveryveryveryveryveryveryveryverylongidentifiername",
        ] {
            assert!(!is_name(code), "{code:?} should not name a technology");
        }
    }
}
