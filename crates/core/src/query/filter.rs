//! `--where`, `--sort` and pagination, shared by `query` and `list`.
//!
//! A predicate is `FIELD OP VALUE` with OP one of `=`, `!=`, `>`, `>=`, `<`,
//! `<=`, `~` (contains). FIELD is an entity field, with dots for nested
//! fields (`frontmatter.project`). Numbers compare numerically when both
//! sides are numbers, everything else as strings. On a list field, `=` means
//! "has an element equal to", `!=` "has no element equal to", `~` "has an
//! element containing"; ordering operators are false on lists. A missing
//! field makes every predicate false.

use crate::error::{Error, Result};
use serde_json::Value;
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Contains,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    pub field: String,
    pub op: Op,
    pub value: String,
}

/// Parses `FIELD OP VALUE`. Errors give the position of the problem.
pub fn parse_predicate(text: &str) -> Result<Predicate> {
    let bad = |pos: usize, why: &str| Error::InvalidArgument {
        message: format!(
            "--where '{text}': at character {}: {why}; expected FIELD OP VALUE with OP one of = != > >= < <= ~ (e.g. level>=2, tags=ops, name~postgres)",
            pos + 1
        ),
    };
    let field_end = text
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '.' || *c == ':' || *c == '-'))
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    let field = text[..field_end].trim();
    if field.is_empty() {
        return Err(bad(0, "missing field name"));
    }
    if field.starts_with('.') || field.ends_with('.') || field.contains("..") {
        return Err(bad(0, "malformed field path"));
    }
    let rest = &text[field_end..];
    let (op, len) = if rest.starts_with(">=") {
        (Op::Ge, 2)
    } else if rest.starts_with("<=") {
        (Op::Le, 2)
    } else if rest.starts_with("!=") {
        (Op::Ne, 2)
    } else if rest.starts_with('>') {
        (Op::Gt, 1)
    } else if rest.starts_with('<') {
        (Op::Lt, 1)
    } else if rest.starts_with('~') {
        (Op::Contains, 1)
    } else if rest.starts_with('=') {
        (Op::Eq, 1)
    } else if rest.is_empty() {
        return Err(bad(field_end, "missing operator"));
    } else {
        return Err(bad(field_end, "unknown operator"));
    };
    let value = &rest[len..];
    if value.starts_with(['=', '>', '<', '~', '!']) {
        return Err(bad(field_end + len, "two operators in a row"));
    }
    Ok(Predicate {
        field: field.to_string(),
        op,
        value: value.to_string(),
    })
}

/// A field of an entity (dots go into nested objects).
pub fn lookup<'a>(entity: &'a Value, field: &str) -> Option<&'a Value> {
    let mut v = entity;
    for part in field.split('.') {
        v = v.get(part)?;
    }
    (!v.is_null()).then_some(v)
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        Value::Bool(_) => None,
        _ => None,
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn compare_scalar(field: &Value, op: Op, value: &str) -> bool {
    let text = as_text(field);
    if op == Op::Contains {
        return text.to_lowercase().contains(&value.to_lowercase());
    }
    let ord = match (as_number(field), value.trim().parse::<f64>().ok()) {
        (Some(a), Some(b)) => a.partial_cmp(&b),
        _ => Some(text.as_str().cmp(value)),
    };
    let Some(ord) = ord else {
        return false;
    };
    match op {
        Op::Eq => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Contains => false,
    }
}

impl Predicate {
    /// Evaluates the predicate against a field value (`None` = missing).
    pub fn matches(&self, field: Option<&Value>) -> bool {
        let Some(field) = field else {
            return false;
        };
        match field {
            Value::Array(items) => match self.op {
                Op::Eq => items.iter().any(|i| compare_scalar(i, Op::Eq, &self.value)),
                Op::Ne => !items.iter().any(|i| compare_scalar(i, Op::Eq, &self.value)),
                Op::Contains => items
                    .iter()
                    .any(|i| compare_scalar(i, Op::Contains, &self.value)),
                _ => false,
            },
            Value::Object(_) => false,
            scalar => compare_scalar(scalar, self.op, &self.value),
        }
    }
}

/// Sort key of a field value: numbers before strings, missing last.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum SortKey {
    Number(f64),
    Text(String),
    Missing,
}

pub fn sort_key(field: Option<&Value>) -> SortKey {
    match field {
        None => SortKey::Missing,
        Some(v) => match as_number(v) {
            Some(n) => SortKey::Number(n),
            None => SortKey::Text(as_text(v).to_lowercase()),
        },
    }
}

/// Orders two sort keys, `desc` reversing present values; missing values
/// always come last.
pub fn compare_keys(a: &SortKey, b: &SortKey, desc: bool) -> Ordering {
    match (a, b) {
        (SortKey::Missing, SortKey::Missing) => Ordering::Equal,
        (SortKey::Missing, _) => Ordering::Greater,
        (_, SortKey::Missing) => Ordering::Less,
        _ => {
            let ord = match (a, b) {
                (SortKey::Number(x), SortKey::Number(y)) => x.total_cmp(y),
                (SortKey::Number(_), SortKey::Text(_)) => Ordering::Less,
                (SortKey::Text(_), SortKey::Number(_)) => Ordering::Greater,
                (SortKey::Text(x), SortKey::Text(y)) => x.cmp(y),
                _ => Ordering::Equal,
            };
            if desc { ord.reverse() } else { ord }
        }
    }
}

/// `--limit` / `--offset` on a list already in order.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: Option<usize>,
    pub offset: usize,
}

impl Page {
    pub fn apply<T>(&self, items: Vec<T>) -> (Vec<T>, bool) {
        let total = items.len();
        let end = match self.limit {
            Some(l) => self.offset.saturating_add(l).min(total),
            None => total,
        };
        let truncated = end < total;
        let page = items
            .into_iter()
            .skip(self.offset)
            .take(end.saturating_sub(self.offset))
            .collect();
        (page, truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_operator() {
        for (text, op, value) in [
            ("level>=2", Op::Ge, "2"),
            ("level<=2", Op::Le, "2"),
            ("name!=x", Op::Ne, "x"),
            ("level>2", Op::Gt, "2"),
            ("level<2", Op::Lt, "2"),
            ("name~post", Op::Contains, "post"),
            ("tags=a=b", Op::Eq, "a=b"),
            ("frontmatter.project=apollo", Op::Eq, "apollo"),
        ] {
            let p = parse_predicate(text).unwrap();
            assert_eq!((p.op, p.value.as_str()), (op, value), "{text}");
        }
    }

    #[test]
    fn malformed_predicates_name_the_position() {
        let err = parse_predicate("level>>2").unwrap_err().to_string();
        assert!(err.contains("character 7"), "{err}");
        let err = parse_predicate("=2").unwrap_err().to_string();
        assert!(err.contains("character 1"), "{err}");
        let err = parse_predicate("level").unwrap_err().to_string();
        assert!(err.contains("missing operator"), "{err}");
        let err = parse_predicate("level^2").unwrap_err().to_string();
        assert!(err.contains("unknown operator"), "{err}");
    }

    #[test]
    fn numbers_compare_numerically_and_lists_by_membership() {
        let p = |s: &str| parse_predicate(s).unwrap();
        assert!(p("level>=10").matches(Some(&json!(12))));
        assert!(!p("level>=10").matches(Some(&json!(9))));
        assert!(!p("name>10").matches(Some(&json!("9"))));
        assert!(p("tags=ops").matches(Some(&json!(["dev", "ops"]))));
        assert!(p("tags!=ops").matches(Some(&json!(["dev"]))));
        assert!(p("tags~op").matches(Some(&json!(["dev", "DevOps"]))));
        assert!(!p("tags>a").matches(Some(&json!(["b"]))));
        assert!(!p("missing=x").matches(None));
        assert!(!p("missing!=x").matches(None));
        assert!(p("name~POST").matches(Some(&json!("postgres"))));
    }

    #[test]
    fn missing_values_sort_last_either_way() {
        let a = sort_key(Some(&json!(1)));
        let m = sort_key(None);
        assert_eq!(compare_keys(&a, &m, false), Ordering::Less);
        assert_eq!(compare_keys(&a, &m, true), Ordering::Less);
    }

    #[test]
    fn pages() {
        let page = Page {
            limit: Some(2),
            offset: 1,
        };
        assert_eq!(page.apply(vec![1, 2, 3, 4]), (vec![2, 3], true));
        assert_eq!(page.apply(vec![1, 2, 3]), (vec![2, 3], false));
        let beyond = Page {
            limit: Some(2),
            offset: 9,
        };
        assert_eq!(beyond.apply(vec![1, 2]), (Vec::<i32>::new(), false));
    }
}
