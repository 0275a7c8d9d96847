//! Cypher literals and identifiers, for sending data in the query text
//! instead of as parameters (FalkorDB crashes on parameter maps over ~4 KiB
//! and mangles strings and floats in parameters).

use std::fmt::Write as _;

use crate::error::BoltError;
use crate::value::Value;

/// 2^600, to write subnormal floats as an exact quotient of normal ones.
const TWO_POW_600: f64 = 4.149515568880993e180;

/// Words a map key must not be written bare as (Cypher keywords and
/// literals); such keys are backtick-quoted.
#[rustfmt::skip]
const RESERVED: &[&str] = &[
    "all", "and", "as", "asc", "ascending", "by", "call", "case", "contains", "create", "delete",
    "desc", "descending", "detach", "distinct", "else", "end", "ends", "exists", "false", "foreach",
    "in", "is", "limit", "load", "match", "merge", "not", "null", "on", "optional", "or", "order",
    "remove", "return", "set", "skip", "starts", "then", "true", "union", "unwind", "when", "where",
    "with", "xor", "yield",
];

/// The Cypher literal for a value, valid for Neo4j 5 and FalkorDB.
///
/// - `null`, `true`, `false`; integers in decimal (`i64::MIN` as
///   `(-9223372036854775807 - 1)`, since `9223372036854775808` is no
///   integer literal);
/// - floats in the shortest form that reads back to the same `f64`
///   (`0.1`, `1e-9`, `-0.0`, always with a `.` or an exponent so they stay
///   floats); subnormal floats as an exact division by 2^600 (the
///   smallest is `(2.0501330894674953e-143 / 4.149515568880993e180)`),
///   since FalkorDB refuses subnormal literals as "Float overflow"; NaN and
///   ±infinity have no literal and are refused;
/// - strings in single quotes, with `\`, `'`, newline, carriage return,
///   tab, backspace and form feed written as `\\`, `\'`, `\n`, `\r`, `\t`,
///   `\b`, `\f`; every other character is written as is (FalkorDB does not
///   understand `\uXXXX` escapes). A NUL character stays raw: valid for
///   Neo4j, but FalkorDB ends the query text there and reports a syntax
///   error;
/// - lists as `[a, b]`; maps as `{key: value}`, keys that are not plain
///   identifiers (ASCII letters, digits, `_`, not starting with a digit, not
///   a keyword) in backticks (see [`cypher_identifier`]).
///
/// Checked against FalkorDB 4.16.3 by a property test: every string without
/// NUL, every finite float, every integer, and lists and maps of them come
/// back from `RETURN <literal>` unchanged.
///
/// Bytes, graph structures (nodes, relationships, paths) and other
/// structures have no literal form: [`BoltError::Encode`].
pub fn cypher_literal(value: &Value) -> Result<String, BoltError> {
    let mut out = String::new();
    write_literal(value, &mut out)?;
    Ok(out)
}

/// Appends the Cypher literal for `value` to `out` (see [`cypher_literal`]).
pub fn write_literal(value: &Value, out: &mut String) -> Result<(), BoltError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i64::MIN) => out.push_str("(-9223372036854775807 - 1)"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => {
            if !f.is_finite() {
                return Err(BoltError::Encode(format!(
                    "{f} has no Cypher literal (only finite floats do)"
                )));
            }
            // `{:?}` is the shortest representation that reads back
            // exactly, and always has a '.' or an exponent.
            if f.is_subnormal() {
                // Scaling by a power of two is exact both ways.
                let _ = write!(out, "({:?} / {TWO_POW_600:?})", f * TWO_POW_600);
            } else {
                let _ = write!(out, "{f:?}");
            }
        }
        Value::String(s) => write_string(s, out),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_literal(item, out)?;
            }
            out.push(']');
        }
        Value::Map(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_key(k, out);
                out.push_str(": ");
                write_literal(v, out)?;
            }
            out.push('}');
        }
        Value::Bytes(_) => {
            return Err(BoltError::Encode("bytes have no Cypher literal".into()));
        }
        Value::Node(_)
        | Value::Relationship(_)
        | Value::UnboundRelationship(_)
        | Value::Path(_)
        | Value::Struct(_) => {
            return Err(BoltError::Encode(
                "graph and temporal structures have no Cypher literal".into(),
            ));
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// Splits `rows` into Cypher list literals (`[row, row, ...]`) of at most
/// `max_rows` rows and, where possible, at most `max_bytes` bytes each (a
/// single row longer than `max_bytes` gets a list of its own), keeping the
/// order. For `UNWIND <list> AS row ...` batches.
///
/// With FalkorDB keep the whole query under about 60 KiB: its Bolt reader
/// mishandles a request that arrives in several TCP reads, which gets more
/// likely as requests grow (see `docs/testing-falkordb.md`).
pub fn list_literal_batches(
    rows: &[Value],
    max_bytes: usize,
    max_rows: usize,
) -> Result<Vec<String>, BoltError> {
    let max_rows = max_rows.max(1);
    let mut batches = Vec::new();
    let mut current = String::from("[");
    let mut in_current = 0usize;
    let mut row_text = String::new();
    for row in rows {
        row_text.clear();
        write_literal(row, &mut row_text)?;
        // "[" + rows joined by ", " + "]"
        let grown = current.len() + row_text.len() + if in_current > 0 { 3 } else { 1 };
        if in_current > 0 && (grown > max_bytes || in_current >= max_rows) {
            current.push(']');
            batches.push(std::mem::replace(&mut current, String::from("[")));
            in_current = 0;
        }
        if in_current > 0 {
            current.push_str(", ");
        }
        current.push_str(&row_text);
        in_current += 1;
    }
    if in_current > 0 {
        current.push(']');
        batches.push(current);
    }
    Ok(batches)
}

/// True for a name that can be written bare as a map key or identifier:
/// ASCII letters, digits and `_`, not starting with a digit, not a keyword.
pub fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name))
}

fn write_key(key: &str, out: &mut String) {
    if is_plain_identifier(key) {
        out.push_str(key);
    } else {
        write_identifier(key, out);
    }
}

/// A quoted Cypher identifier (label, relationship type, property key,
/// variable): the name in backticks, a backtick inside doubled. Always
/// quoted, so keywords and any characters are safe. An empty name gives
/// ``` `` ```, which servers reject. FalkorDB 4.16 cannot parse a doubled
/// backtick (Neo4j can): names holding a backtick only work with Neo4j.
pub fn cypher_identifier(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    write_identifier(name, &mut out);
    out
}

fn write_identifier(name: &str, out: &mut String) {
    out.push('`');
    for c in name.chars() {
        if c == '`' {
            out.push_str("``");
        } else {
            out.push(c);
        }
    }
    out.push('`');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(v: impl Into<Value>) -> String {
        cypher_literal(&v.into()).unwrap()
    }

    #[test]
    fn scalars() {
        assert_eq!(lit(Value::Null), "null");
        assert_eq!(lit(true), "true");
        assert_eq!(lit(false), "false");
        assert_eq!(lit(0i64), "0");
        assert_eq!(lit(-42i64), "-42");
        assert_eq!(lit(i64::MAX), "9223372036854775807");
        assert_eq!(lit(i64::MIN), "(-9223372036854775807 - 1)");
    }

    #[test]
    fn floats_keep_full_precision_and_stay_floats() {
        assert_eq!(lit(0.1), "0.1");
        assert_eq!(lit(1.0), "1.0");
        assert_eq!(lit(-0.0), "-0.0");
        assert_eq!(lit(0.1234567891), "0.1234567891");
        assert_eq!(lit(1e-9), "1e-9");
        assert_eq!(lit(1e300), "1e300");
        assert_eq!(lit(f64::MAX), "1.7976931348623157e308");
        assert_eq!(TWO_POW_600, 2f64.powi(600));
        assert_eq!(TWO_POW_600.to_bits(), (1023u64 + 600) << 52);
        assert_eq!(
            lit(5e-324),
            "(2.0501330894674953e-143 / 4.149515568880993e180)"
        );
        assert_eq!(lit(-5e-324).chars().nth(1), Some('-'));
        for sub in [5e-324, 1e-310, f64::MIN_POSITIVE / 2.0, -2.5e-320] {
            assert!(sub.is_subnormal());
            assert_eq!((sub * TWO_POW_600) / TWO_POW_600, sub);
        }
        for f in [
            0.1,
            1.0 / 3.0,
            1e-9,
            123_456_789.123_456_78,
            f64::MIN_POSITIVE,
        ] {
            assert_eq!(lit(f).parse::<f64>().unwrap(), f);
        }
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(matches!(
                cypher_literal(&Value::Float(f)),
                Err(BoltError::Encode(_))
            ));
        }
    }

    #[test]
    fn strings_escape_backslash_quote_and_controls() {
        assert_eq!(lit("plain"), "'plain'");
        assert_eq!(lit(""), "''");
        assert_eq!(lit("it's"), r"'it\'s'");
        assert_eq!(lit(r"a\b"), r"'a\\b'");
        assert_eq!(lit(r"\'"), r"'\\\''");
        assert_eq!(lit("\"double\""), "'\"double\"'");
        assert_eq!(lit("l1\nl2\r\tx"), r"'l1\nl2\r\tx'");
        assert_eq!(
            lit("\u{0}\u{1f}\u{7f}\u{8}\u{c}"),
            "'\u{0}\u{1f}\u{7f}\\b\\f'"
        );
        assert_eq!(lit("é ü 漢字 🎉 `x`"), "'é ü 漢字 🎉 `x`'");
        // No unescaped quote can end the literal early.
        let l = lit("'; MATCH (n) DETACH DELETE n //");
        assert_eq!(l, r"'\'; MATCH (n) DETACH DELETE n //'");
    }

    #[test]
    fn lists_and_maps() {
        assert_eq!(lit(Vec::<Value>::new()), "[]");
        assert_eq!(lit(vec!["a", "b'"]), r"['a', 'b\'']");
        let m = Value::map([
            ("id", Value::from("n1")),
            ("a-b", Value::Int(1)),
            ("é", Value::Float(0.5)),
            ("1a", Value::Null),
            ("back`tick", Value::Bool(true)),
            ("match", Value::from(vec![1i64, 2])),
            ("_x9", Value::map([("", Value::Int(0))])),
        ]);
        assert_eq!(
            lit(m),
            "{id: 'n1', `a-b`: 1, `é`: 0.5, `1a`: null, `back``tick`: true, `match`: [1, 2], _x9: {``: 0}}"
        );
        assert_eq!(lit(Value::Map(vec![])), "{}");
    }

    #[test]
    fn no_literal_for_bytes_and_structures() {
        assert!(cypher_literal(&Value::Bytes(vec![1])).is_err());
        assert!(
            cypher_literal(&Value::List(vec![Value::Struct(Box::new(
                crate::value::Structure {
                    tag: 0x44,
                    fields: vec![Value::Int(1)]
                }
            ))]))
            .is_err()
        );
    }

    #[test]
    fn list_batches_respect_bytes_and_rows() {
        let rows: Vec<Value> = (0..10)
            .map(|i| Value::map([("id", Value::String(format!("n{i}")))]))
            .collect();
        let one = cypher_literal(&rows[0]).unwrap();
        assert_eq!(one, "{id: 'n0'}");
        // Everything fits.
        let all = list_literal_batches(&rows, 10_000, 100).unwrap();
        assert_eq!(all, [cypher_literal(&Value::List(rows.clone())).unwrap()]);
        // By rows.
        let by_rows = list_literal_batches(&rows, 10_000, 4).unwrap();
        assert_eq!(by_rows.len(), 3);
        assert_eq!(by_rows[2], "[{id: 'n8'}, {id: 'n9'}]");
        // By bytes: two rows are 2 + 10 + 2 + 10 = 24 bytes.
        let by_bytes = list_literal_batches(&rows, 24, 100).unwrap();
        assert_eq!(by_bytes.len(), 5);
        assert!(by_bytes.iter().all(|b| b.len() <= 24), "{by_bytes:?}");
        // A row larger than the budget goes alone.
        let tiny = list_literal_batches(&rows, 3, 100).unwrap();
        assert_eq!(tiny.len(), 10);
        assert_eq!(tiny[0], "[{id: 'n0'}]");
        // Order and content are kept.
        let joined: Vec<String> = by_bytes
            .iter()
            .flat_map(|b| {
                b.trim_matches(|c| c == '[' || c == ']')
                    .split(", ")
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        let want: Vec<String> = rows.iter().map(|r| cypher_literal(r).unwrap()).collect();
        assert_eq!(joined, want);
        assert!(list_literal_batches(&[], 10, 10).unwrap().is_empty());
        assert!(list_literal_batches(&[Value::Float(f64::NAN)], 10, 10).is_err());
    }

    #[test]
    fn identifiers_are_always_backticked() {
        assert_eq!(cypher_identifier("Note"), "`Note`");
        assert_eq!(cypher_identifier("ag:section"), "`ag:section`");
        assert_eq!(cypher_identifier("a`b"), "`a``b`");
        assert_eq!(cypher_identifier("``"), "``````");
        assert_eq!(cypher_identifier(""), "``");
        assert!(is_plain_identifier("id") && is_plain_identifier("_a1"));
        for bad in ["", "1a", "a-b", "é", "MATCH", "null", "a b"] {
            assert!(!is_plain_identifier(bad), "{bad}");
        }
    }
}
