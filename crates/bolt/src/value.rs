//! The values a Bolt client sends and receives.

/// A map as it travels on the wire: keys in order, as sent or received.
///
/// Order matters for some servers (FalkorDB reads the LOGON auth map by
/// position), so maps are kept as ordered pairs rather than sorted. Lookups
/// with [`Value::get`] return the *last* entry with a given key, which is
/// what PackStream says a duplicate key means.
pub type Map = Vec<(String, Value)>;

/// A PackStream value.
///
/// Graph structures received from the server (Node, Relationship,
/// UnboundRelationship, Path) are decoded into their own variants when their
/// fields have the documented shape; any other structure, or a graph
/// structure with unexpected fields, becomes [`Value::Struct`], so decoding
/// never fails because of an unknown or odd structure. Structures are boxed
/// to keep `Value` small (32 bytes).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// PackStream `Null`.
    Null,
    /// PackStream `Boolean`.
    Bool(bool),
    /// PackStream `Integer` (any size class, 64-bit signed).
    Int(i64),
    /// PackStream `Float` (64-bit IEEE 754).
    Float(f64),
    /// PackStream `String` (UTF-8).
    String(String),
    /// PackStream `Bytes`.
    Bytes(Vec<u8>),
    /// PackStream `List`.
    List(Vec<Value>),
    /// PackStream `Dictionary`, keys in wire order.
    Map(Map),
    /// Bolt `Node` structure (tag `0x4E`).
    Node(Box<Node>),
    /// Bolt `Relationship` structure (tag `0x52`).
    Relationship(Box<Relationship>),
    /// Bolt `UnboundRelationship` structure (tag `0x72`), found inside paths.
    UnboundRelationship(Box<UnboundRelationship>),
    /// Bolt `Path` structure (tag `0x50`).
    Path(Box<Path>),
    /// Any other structure (temporal and spatial types, or a graph structure
    /// with unexpected fields): its tag byte and its fields.
    Struct(Box<Structure>),
}

/// A node as returned by the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Legacy numeric id.
    pub id: i64,
    /// Labels in server order.
    pub labels: Vec<String>,
    /// Properties in server order.
    pub properties: Map,
    /// Element id (Bolt 5); `None` when the server sent the 3-field form.
    pub element_id: Option<String>,
}

/// A relationship with its endpoints, as returned by the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Relationship {
    /// Legacy numeric id.
    pub id: i64,
    /// Numeric id of the start node.
    pub start_node_id: i64,
    /// Numeric id of the end node.
    pub end_node_id: i64,
    /// Relationship type.
    pub rel_type: String,
    /// Properties in server order.
    pub properties: Map,
    /// Element ids (Bolt 5): the relationship's, the start node's and the
    /// end node's; `None` when the server sent the 5-field form.
    pub element_ids: Option<(String, String, String)>,
}

/// A relationship without endpoints, as found inside a [`Path`].
#[derive(Debug, Clone, PartialEq)]
pub struct UnboundRelationship {
    /// Legacy numeric id.
    pub id: i64,
    /// Relationship type.
    pub rel_type: String,
    /// Properties in server order.
    pub properties: Map,
    /// Element id (Bolt 5); `None` when the server sent the 3-field form.
    pub element_id: Option<String>,
}

/// A path: its distinct nodes and relationships, and the index sequence that
/// walks them (see the Bolt documentation of the `Path` structure).
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// Distinct nodes of the path.
    pub nodes: Vec<Node>,
    /// Distinct relationships of the path.
    pub relationships: Vec<UnboundRelationship>,
    /// Alternating relationship (1-based, negative for reverse direction)
    /// and node indices.
    pub indices: Vec<i64>,
}

/// A structure the client does not interpret.
#[derive(Debug, Clone, PartialEq)]
pub struct Structure {
    /// Tag byte (for example `0x44` for a Date).
    pub tag: u8,
    /// Fields, at most 15.
    pub fields: Vec<Value>,
}

impl Value {
    /// The value of `key` if `self` is a map holding it (the last entry wins
    /// if the key repeats).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(map) => map_get(map, key),
            _ => None,
        }
    }

    /// The string if `self` is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer if `self` is an integer.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The float if `self` is a float.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The boolean if `self` is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The elements if `self` is a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// Builds a map value from `(key, value)` pairs, keeping their order.
    pub fn map<K: Into<String>, V: Into<Value>>(pairs: impl IntoIterator<Item = (K, V)>) -> Value {
        Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// The value of `key` in an ordered map (the last entry wins if it repeats).
pub fn map_get<'a>(map: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    map.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::String(v.clone())
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
