//! A YAML/JSON document parsed into a tree that remembers where every key and
//! value came from, so configuration errors can name the line and column.
//!
//! JSON is a subset of YAML 1.2, so one parser serves both formats and JSON
//! configurations get positions too.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// A line/column position (both 1-based); `line == 0` means unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

impl Position {
    fn from_spanned<T>(spanned: &Spanned<T>) -> Position {
        Position {
            line: spanned.referenced.line(),
            column: spanned.referenced.column(),
        }
    }
}

/// One node of the tree with its position.
#[derive(Debug, Clone)]
pub struct Node {
    pub position: Position,
    pub value: NodeValue,
}

#[derive(Debug, Clone)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys keep their own positions; order is document order.
    Map(Vec<(String, Position, Node)>),
}

impl Node {
    /// Converts to a `serde_json::Value` for typed deserialization.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                // NaN and infinities have no JSON form; keep them visible as text so
                // the typed layer reports a type error at this position.
                .unwrap_or_else(|| Value::String(f.to_string())),
            NodeValue::Str(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => {
                let mut map = serde_json::Map::new();
                for (key, _, node) in entries {
                    map.insert(key.clone(), node.to_json());
                }
                Value::Object(map)
            }
        }
    }

    /// Finds the position of a dotted path such as `profiles.default.ingestion`
    /// or `profiles.default.include_paths[2]`. With `key_position`, the final
    /// map key's own position is returned (used for unknown-key warnings).
    /// Falls back to the nearest ancestor that exists.
    pub fn position_of(&self, path: &[PathSegment], key_position: bool) -> Position {
        let mut node = self;
        let mut best = self.position;
        for (i, segment) in path.iter().enumerate() {
            let last = i + 1 == path.len();
            match (segment, &node.value) {
                (PathSegment::Key(name), NodeValue::Map(entries)) => {
                    match entries.iter().find(|(k, _, _)| k == name) {
                        Some((_, kpos, child)) => {
                            best = if last && key_position {
                                *kpos
                            } else {
                                child.position
                            };
                            node = child;
                        }
                        None => return best,
                    }
                }
                (PathSegment::Index(idx), NodeValue::Seq(items)) => match items.get(*idx) {
                    Some(child) => {
                        best = child.position;
                        node = child;
                    }
                    None => return best,
                },
                _ => return best,
            }
        }
        best
    }
}

/// One step of a path into the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

/// Renders a path as `a.b[2].c`.
pub fn render_path(path: &[PathSegment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            PathSegment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSegment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Parses `a.b[2].c` back into segments (the inverse of [`render_path`] for
/// keys without dots or brackets, which is all our configuration uses).
pub fn parse_path(text: &str) -> Vec<PathSegment> {
    let mut segments = Vec::new();
    for part in text.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            let key = &rest[..open];
            if !key.is_empty() {
                segments.push(PathSegment::Key(key.to_string()));
            }
            rest = &rest[open..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(close) = stripped.find(']') else {
                    break;
                };
                if let Ok(idx) = stripped[..close].parse() {
                    segments.push(PathSegment::Index(idx));
                }
                rest = &stripped[close + 1..];
            }
        } else {
            segments.push(PathSegment::Key(rest.to_string()));
        }
    }
    segments
}

/// A parse failure with its position.
#[derive(Debug, Clone)]
pub struct ParseFailure {
    pub position: Position,
    pub message: String,
}

/// Parses YAML (or JSON) text into a located tree. An empty document is an
/// empty mapping.
pub fn parse(text: &str) -> Result<Node, ParseFailure> {
    if text.trim().is_empty() {
        return Ok(Node {
            position: Position { line: 1, column: 1 },
            value: NodeValue::Map(Vec::new()),
        });
    }
    // YAML 1.2 core booleans only: a tag `y` or a mode `off` stays a string
    // (YAML 1.1 would turn them into booleans); `007` stays a string too.
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.leading_zero_numbers_as_strings = true;
    let spanned: Spanned<RawNode> =
        serde_saphyr::from_str_with_options(text, options).map_err(|err| {
            let position = err
                .location()
                .map(|loc| Position {
                    line: loc.line(),
                    column: loc.column(),
                })
                .unwrap_or_default();
            ParseFailure {
                position,
                message: first_line(&err.without_snippet().to_string()),
            }
        })?;
    Ok(convert(spanned))
}

/// The first line of a parser message, without the position (we print our
/// own) and without advice about parser options users cannot set.
fn first_line(text: &str) -> String {
    let mut line = text.lines().next().unwrap_or("").trim().to_string();
    if let Some(i) = line.find(", set DuplicateKeyPolicy") {
        line.truncate(i);
    }
    if let Some(i) = line.rfind(" at line ")
        && line[i + 9..]
            .split(", column ")
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    {
        line.truncate(i);
    }
    line
}

fn convert(spanned: Spanned<RawNode>) -> Node {
    let position = Position::from_spanned(&spanned);
    let value = match spanned.value {
        RawNode::Null => NodeValue::Null,
        RawNode::Bool(b) => NodeValue::Bool(b),
        RawNode::Int(i) => NodeValue::Int(i),
        RawNode::Float(f) => NodeValue::Float(f),
        RawNode::Str(s) => NodeValue::Str(s),
        RawNode::Seq(items) => NodeValue::Seq(items.into_iter().map(convert).collect()),
        RawNode::Map(entries) => NodeValue::Map(
            entries
                .into_iter()
                .map(|(key, value)| {
                    let kpos = Position::from_spanned(&key);
                    (key.value.into_text(), kpos, convert(value))
                })
                .collect(),
        ),
    };
    Node { position, value }
}

/// The shape serde-saphyr deserializes into; converted to [`Node`] after.
enum RawNode {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<RawKey>, Spanned<RawNode>)>),
}

/// Mapping keys: YAML allows non-string scalars as keys (`1: x`, `true: y`);
/// they are kept as their text so the unknown-key check can report them.
enum RawKey {
    Text(String),
}

impl RawKey {
    fn into_text(self) -> String {
        match self {
            RawKey::Text(t) => t,
        }
    }
}

impl<'de> Deserialize<'de> for RawKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = RawKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawKey, E> {
                Ok(RawKey::Text(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<RawKey, E> {
                Ok(RawKey::Text(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawKey, E> {
                Ok(RawKey::Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawKey, E> {
                Ok(RawKey::Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawKey, E> {
                Ok(RawKey::Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawKey, E> {
                Ok(RawKey::Text(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawKey, E> {
                Ok(RawKey::Text("null".to_string()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = RawNode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawNode, E> {
                Ok(RawNode::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<RawNode, E> {
                Ok(RawNode::Null)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<RawNode, D2::Error> {
                RawNode::deserialize(d)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawNode, E> {
                Ok(RawNode::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawNode, E> {
                Ok(RawNode::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawNode, E> {
                Ok(match i64::try_from(v) {
                    Ok(i) => RawNode::Int(i),
                    Err(_) => RawNode::Float(v as f64),
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawNode, E> {
                Ok(RawNode::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawNode, E> {
                Ok(RawNode::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<RawNode, E> {
                Ok(RawNode::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNode, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<RawNode>>()? {
                    items.push(item);
                }
                Ok(RawNode::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNode, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<Spanned<RawKey>, Spanned<RawNode>>()? {
                    entries.push((k, v));
                }
                Ok(RawNode::Map(entries))
            }
        }
        deserializer.deserialize_any(NodeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_nested_values() {
        let text = "a:\n  b: 1\n  c:\n    - x\n    - y\n";
        let tree = parse(text).unwrap();
        let p = tree.position_of(&parse_path("a.c[1]"), false);
        assert_eq!((p.line, p.column), (5, 7));
        let k = tree.position_of(&parse_path("a.b"), true);
        assert_eq!((k.line, k.column), (2, 3));
        let v = tree.position_of(&parse_path("a.b"), false);
        assert_eq!(v.line, 2);
    }

    #[test]
    fn json_is_accepted() {
        let tree = parse("{\n  \"a\": {\"b\": [1, 2.5, \"x\", true, null]}\n}\n").unwrap();
        let json = tree.to_json();
        assert_eq!(json["a"]["b"][1], serde_json::json!(2.5));
        let p = tree.position_of(&parse_path("a.b"), false);
        assert_eq!(p.line, 2);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a: [1, 2\nb: c\n").unwrap_err();
        assert!(err.position.line >= 1, "{err:?}");
        assert!(!err.message.is_empty());
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse("a: 1\nb:\n  c: 1\n  c: 2\n").unwrap_err();
        assert_eq!(err.position.line, 4);
        assert_eq!(err.message, "duplicate mapping key: c");
    }

    #[test]
    fn empty_document_is_empty_map() {
        let tree = parse("  \n").unwrap();
        assert!(matches!(tree.value, NodeValue::Map(ref m) if m.is_empty()));
    }

    #[test]
    fn paths_round_trip() {
        let path = parse_path("profiles.default.include_paths[2]");
        assert_eq!(render_path(&path), "profiles.default.include_paths[2]");
    }
}
