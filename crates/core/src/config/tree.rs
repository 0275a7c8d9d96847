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

    /// The node at `path`, if every step exists.
    pub fn get(&self, path: &[PathSegment]) -> Option<&Node> {
        let mut node = self;
        for segment in path {
            node = match (segment, &node.value) {
                (PathSegment::Key(name), NodeValue::Map(entries)) => {
                    &entries.iter().find(|(k, _, _)| k == name)?.2
                }
                (PathSegment::Index(idx), NodeValue::Seq(items)) => items.get(*idx)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The first number in document order that is NaN or infinite
    /// (`.nan`, `.inf`, `1e400`), with its path. Only [`parse_config`] keeps
    /// such numbers; [`parse`] rejects them.
    pub fn first_non_finite(&self) -> Option<(Vec<PathSegment>, &Node)> {
        fn walk<'a>(node: &'a Node, path: &mut Vec<PathSegment>) -> Option<&'a Node> {
            match &node.value {
                NodeValue::Float(f) if !f.is_finite() => Some(node),
                NodeValue::Seq(items) => {
                    for (i, item) in items.iter().enumerate() {
                        path.push(PathSegment::Index(i));
                        if let Some(found) = walk(item, path) {
                            return Some(found);
                        }
                        path.pop();
                    }
                    None
                }
                NodeValue::Map(entries) => {
                    for (key, _, child) in entries {
                        path.push(PathSegment::Key(key.clone()));
                        if let Some(found) = walk(child, path) {
                            return Some(found);
                        }
                        path.pop();
                    }
                    None
                }
                _ => None,
            }
        }
        let mut path = Vec::new();
        walk(self, &mut path).map(|node| (path, node))
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

/// Renders a path as `a.b[2].c`. A key that would be ambiguous in that
/// form (empty, or holding `.`, `[`, `]`, `"` or whitespace, such as a
/// profile named `..`) is quoted: `profiles."..".include_paths`.
pub fn render_path(path: &[PathSegment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            PathSegment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                let plain = !k.is_empty()
                    && !k.contains(['.', '[', ']', '"'])
                    && !k.contains(char::is_whitespace);
                if plain {
                    out.push_str(k);
                } else {
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                }
            }
            PathSegment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A parse failure with its position.
#[derive(Debug, Clone)]
pub struct ParseFailure {
    pub position: Position,
    /// A sentence without a subject for [`Self::too_complex`] failures
    /// ("expands to more than ... nodes ..."), so callers can say what expands
    /// ("front matter", "the configuration"); otherwise the parser's message.
    pub message: String,
    /// The text hit one of the parser's safety limits (an alias bomb, very
    /// deep nesting, ...) rather than a syntax error; the position is then
    /// of little use and `line` may be 0.
    pub too_complex: bool,
}

/// Parses YAML (or JSON) text into a located tree. An empty document is an
/// empty mapping; NaN and infinite numbers (`.nan`, `1e400`) are errors.
pub fn parse(text: &str) -> Result<Node, ParseFailure> {
    parse_with(text, false)
}

/// Parses a configuration file: like [`parse`], but a document of nothing
/// but whitespace, comments and `---` markers is an empty mapping (as an empty
/// one is), and NaN or infinite numbers are kept as [`NodeValue::Float`] so
/// the caller can name their key (see [`Node::first_non_finite`]).
pub fn parse_config(text: &str) -> Result<Node, ParseFailure> {
    let node = parse_with(text, true)?;
    if matches!(node.value, NodeValue::Null) && is_blank_document(text) {
        return Ok(empty_map());
    }
    Ok(node)
}

fn empty_map() -> Node {
    Node {
        position: Position { line: 1, column: 1 },
        value: NodeValue::Map(Vec::new()),
    }
}

/// Whether every line is blank, a comment, or a document marker.
fn is_blank_document(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        let rest = line
            .strip_prefix("---")
            .or_else(|| line.strip_prefix("..."))
            .map(str::trim_start)
            .unwrap_or(line);
        rest.is_empty() || rest.starts_with('#')
    })
}

fn parse_with(text: &str, keep_non_finite: bool) -> Result<Node, ParseFailure> {
    if text.trim().is_empty() {
        return Ok(empty_map());
    }
    // YAML 1.2 core booleans only: a tag `y` or a mode `off` stays a string
    // (YAML 1.1 would turn them into booleans); `007` stays a string too.
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.leading_zero_numbers_as_strings = true;
    let budget = serde_saphyr::Budget::default();
    options.budget = Some(budget.clone());
    if keep_non_finite {
        options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::PassThrough;
    }
    let spanned: Spanned<RawNode> =
        serde_saphyr::from_str_with_options(text, options).map_err(|err| {
            let position = err
                .location()
                .map(|loc| Position {
                    line: loc.line(),
                    column: loc.column(),
                })
                .unwrap_or_default();
            match budget_breach(&err) {
                Some(breach) => ParseFailure {
                    position,
                    message: describe_breach(breach, &budget),
                    too_complex: true,
                },
                None => ParseFailure {
                    position,
                    message: first_line(&err.without_snippet().to_string()),
                    too_complex: false,
                },
            }
        })?;
    Ok(convert(spanned))
}

/// The safety limit an error reports, looking through the wrappers that
/// add alias locations or a source snippet.
fn budget_breach(err: &serde_saphyr::Error) -> Option<&serde_saphyr::budget::BudgetBreach> {
    use serde_saphyr::Error as E;
    let mut err = err;
    loop {
        match err {
            E::AliasError { error, .. } | E::WithSnippet { error, .. } => err = error,
            E::Budget { breach, .. } => return Some(breach),
            _ => return None,
        }
    }
}

/// A readable sentence (without a subject) for a safety limit.
fn describe_breach(
    breach: &serde_saphyr::budget::BudgetBreach,
    budget: &serde_saphyr::Budget,
) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    const SHORTEN: &str = "write the repeated values out or shorten it";
    match breach {
        B::Nodes { .. } => format!(
            "expands to more than {} YAML nodes (anchors and aliases repeat content); {SHORTEN}",
            budget.max_nodes
        ),
        B::Events { .. } => format!(
            "expands to more than {} YAML events (anchors and aliases repeat content); {SHORTEN}",
            budget.max_events
        ),
        B::Aliases { .. } => format!(
            "uses more than {} aliases (`*name`); {SHORTEN}",
            budget.max_aliases
        ),
        B::AliasAnchorRatio { aliases, anchors } => format!(
            "uses {aliases} aliases for {anchors} anchors, which is how YAML alias bombs \
             are built; {SHORTEN}"
        ),
        B::Anchors { .. } => format!(
            "defines more than {} anchors (`&name`); shorten it",
            budget.max_anchors
        ),
        B::RecordedAnchorEvents { .. } | B::RecordedAnchorBytes { .. } => {
            format!("repeats too much content through anchors and aliases; {SHORTEN}")
        }
        B::Depth { .. } => format!(
            "nests more than {} levels deep; flatten it",
            budget.max_depth
        ),
        B::ScalarBytes { .. } => "holds too much text for YAML that is read in one piece; \
             shorten it"
            .to_string(),
        B::Documents { .. } => format!(
            "holds more than {} YAML documents (`---` separators); keep one",
            budget.max_documents
        ),
        B::MergeKeys { .. } => format!(
            "uses more than {} merge keys (`<<`); shorten it",
            budget.max_merge_keys
        ),
        _ => "is too large or too deeply nested to read safely; shorten it".to_string(),
    }
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

/// "Billion laughs" YAML for tests: `levels` anchors, each a list of ten
/// aliases of the one before, so it expands to 10^levels nodes.
#[cfg(test)]
pub(crate) fn alias_bomb(levels: u32) -> String {
    let names: Vec<char> = ('a'..='z').take(levels as usize).collect();
    let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for pair in names.windows(2) {
        let refs = vec![format!("*{}", pair[0]); 10].join(", ");
        text.push_str(&format!("{0}: &{0} [{refs}]\n", pair[1]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `a.b[2].c` into segments (the inverse of [`render_path`] for
    /// plain keys): how these tests name a path.
    fn parse_path(text: &str) -> Vec<PathSegment> {
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
    fn comment_only_config_is_empty_map_but_not_for_front_matter() {
        let tree = parse_config("# only\n# comments\n").unwrap();
        assert!(matches!(tree.value, NodeValue::Map(ref m) if m.is_empty()));
        assert!(matches!(parse("# only\n").unwrap().value, NodeValue::Null));
        assert!(matches!(
            parse_config("null\n").unwrap().value,
            NodeValue::Null
        ));
    }

    #[test]
    fn non_finite_numbers_are_kept_for_configs_only() {
        let tree = parse_config("a:\n  b: [1, .inf]\n").unwrap();
        let (path, node) = tree.first_non_finite().unwrap();
        assert_eq!(render_path(&path), "a.b[1]");
        assert_eq!((node.position.line, node.position.column), (2, 10));
        assert!(parse("a: .nan\n").is_err());
    }

    #[test]
    fn alias_bombs_are_described_in_words() {
        let failure = parse(&alias_bomb(7)).unwrap_err();
        assert!(failure.too_complex);
        assert!(
            failure
                .message
                .starts_with("expands to more than 250000 YAML nodes"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn ambiguous_keys_are_quoted() {
        let path = vec![
            PathSegment::Key("profiles".to_string()),
            PathSegment::Key("..".to_string()),
            PathSegment::Key("include_paths".to_string()),
            PathSegment::Index(0),
        ];
        assert_eq!(render_path(&path), "profiles.\"..\".include_paths[0]");
    }

    #[test]
    fn paths_round_trip() {
        let path = parse_path("profiles.default.include_paths[2]");
        assert_eq!(render_path(&path), "profiles.default.include_paths[2]");
    }
}
