//! PackStream v1: the binary value format inside Bolt messages.
//!
//! The encoder always picks the smallest size class. The decoder accepts every
//! size class, refuses anything that does not fit the input (a length larger
//! than the bytes left, truncated data, trailing bytes, invalid UTF-8, a
//! non-string map key, nesting deeper than [`MAX_DEPTH`]) with
//! [`BoltError::Protocol`], and never allocates more than the input could
//! hold.

use crate::error::BoltError;
use crate::value::{Map, Node, Path, Relationship, Structure, UnboundRelationship, Value};

/// Deepest nesting of lists, maps and structures the decoder accepts.
pub const MAX_DEPTH: usize = 100;

const NULL: u8 = 0xC0;
const FLOAT_64: u8 = 0xC1;
const FALSE: u8 = 0xC2;
const TRUE: u8 = 0xC3;
const INT_8: u8 = 0xC8;
const INT_16: u8 = 0xC9;
const INT_32: u8 = 0xCA;
const INT_64: u8 = 0xCB;
const BYTES_8: u8 = 0xCC;
const BYTES_16: u8 = 0xCD;
const BYTES_32: u8 = 0xCE;
const STRING_8: u8 = 0xD0;
const STRING_16: u8 = 0xD1;
const STRING_32: u8 = 0xD2;
const LIST_8: u8 = 0xD4;
const LIST_16: u8 = 0xD5;
const LIST_32: u8 = 0xD6;
const MAP_8: u8 = 0xD8;
const MAP_16: u8 = 0xD9;
const MAP_32: u8 = 0xDA;

/// Structure tags of the graph types.
pub mod tag {
    /// Node.
    pub const NODE: u8 = 0x4E;
    /// Relationship.
    pub const RELATIONSHIP: u8 = 0x52;
    /// UnboundRelationship.
    pub const UNBOUND_RELATIONSHIP: u8 = 0x72;
    /// Path.
    pub const PATH: u8 = 0x50;
}

/// Encodes one value.
pub fn encode(value: &Value) -> Result<Vec<u8>, BoltError> {
    let mut out = Vec::new();
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Appends the encoding of `value` to `out`.
pub fn encode_into(value: &Value, out: &mut Vec<u8>) -> Result<(), BoltError> {
    match value {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Int(i) => encode_int(*i, out),
        Value::Float(f) => {
            out.push(FLOAT_64);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::String(s) => encode_string(s, out)?,
        Value::Bytes(b) => {
            let len = b.len();
            if let Ok(n) = u8::try_from(len) {
                out.extend_from_slice(&[BYTES_8, n]);
            } else if let Ok(n) = u16::try_from(len) {
                out.push(BYTES_16);
                out.extend_from_slice(&n.to_be_bytes());
            } else {
                out.push(BYTES_32);
                out.extend_from_slice(&len_u32(len, "byte array")?.to_be_bytes());
            }
            out.extend_from_slice(b);
        }
        Value::List(items) => {
            encode_header(items.len(), 0x90, LIST_8, "list", out)?;
            for item in items {
                encode_into(item, out)?;
            }
        }
        Value::Map(map) => encode_map(map, out)?,
        Value::Node(n) => {
            let mut fields = vec![
                Value::Int(n.id),
                Value::List(n.labels.iter().map(Value::from).collect()),
                Value::Map(n.properties.clone()),
            ];
            if let Some(e) = &n.element_id {
                fields.push(Value::from(e));
            }
            encode_struct(tag::NODE, &fields, out)?;
        }
        Value::Relationship(r) => {
            let mut fields = vec![
                Value::Int(r.id),
                Value::Int(r.start_node_id),
                Value::Int(r.end_node_id),
                Value::from(&r.rel_type),
                Value::Map(r.properties.clone()),
            ];
            if let Some((e, s, t)) = &r.element_ids {
                fields.extend([Value::from(e), Value::from(s), Value::from(t)]);
            }
            encode_struct(tag::RELATIONSHIP, &fields, out)?;
        }
        Value::UnboundRelationship(r) => {
            encode_struct(tag::UNBOUND_RELATIONSHIP, &unbound_fields(r), out)?;
        }
        Value::Path(p) => {
            let fields = [
                Value::List(
                    p.nodes
                        .iter()
                        .map(|n| Value::Node(Box::new(n.clone())))
                        .collect(),
                ),
                Value::List(
                    p.relationships
                        .iter()
                        .map(|r| Value::UnboundRelationship(Box::new(r.clone())))
                        .collect(),
                ),
                Value::List(p.indices.iter().copied().map(Value::Int).collect()),
            ];
            encode_struct(tag::PATH, &fields, out)?;
        }
        Value::Struct(s) => encode_struct(s.tag, &s.fields, out)?,
    }
    Ok(())
}

fn unbound_fields(r: &UnboundRelationship) -> Vec<Value> {
    let mut fields = vec![
        Value::Int(r.id),
        Value::from(&r.rel_type),
        Value::Map(r.properties.clone()),
    ];
    if let Some(e) = &r.element_id {
        fields.push(Value::from(e));
    }
    fields
}

/// Appends a structure (also used for Bolt messages: tag = signature).
pub fn encode_struct(tag: u8, fields: &[Value], out: &mut Vec<u8>) -> Result<(), BoltError> {
    let n = u8::try_from(fields.len())
        .ok()
        .filter(|n| *n <= 15)
        .ok_or_else(|| {
            BoltError::Encode(format!(
                "a structure has at most 15 fields, got {}",
                fields.len()
            ))
        })?;
    out.extend_from_slice(&[0xB0 | n, tag]);
    for f in fields {
        encode_into(f, out)?;
    }
    Ok(())
}

/// Appends a map in the given order.
pub fn encode_map(map: &[(String, Value)], out: &mut Vec<u8>) -> Result<(), BoltError> {
    encode_header(map.len(), 0xA0, MAP_8, "map", out)?;
    for (k, v) in map {
        encode_string(k, out)?;
        encode_into(v, out)?;
    }
    Ok(())
}

fn encode_int(i: i64, out: &mut Vec<u8>) {
    if (-16..=127).contains(&i) {
        // Tiny int: the marker byte is the value itself (two's complement).
        out.push(i.to_be_bytes()[7]);
    } else if let Ok(v) = i8::try_from(i) {
        out.push(INT_8);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = i16::try_from(i) {
        out.push(INT_16);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = i32::try_from(i) {
        out.push(INT_32);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(INT_64);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

fn encode_string(s: &str, out: &mut Vec<u8>) -> Result<(), BoltError> {
    encode_header(s.len(), 0x80, STRING_8, "string", out)?;
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// Size header for strings, lists and maps: tiny marker (`tiny | len`) below
/// 16, then the 8-, 16- and 32-bit markers `marker8`, `marker8 + 1`,
/// `marker8 + 2`.
fn encode_header(
    len: usize,
    tiny: u8,
    marker8: u8,
    what: &str,
    out: &mut Vec<u8>,
) -> Result<(), BoltError> {
    if let Ok(n) = u8::try_from(len) {
        if n < 16 {
            out.push(tiny | n);
        } else {
            out.extend_from_slice(&[marker8, n]);
        }
    } else if let Ok(n) = u16::try_from(len) {
        out.push(marker8 + 1);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(marker8 + 2);
        out.extend_from_slice(&len_u32(len, what)?.to_be_bytes());
    }
    Ok(())
}

fn len_u32(len: usize, what: &str) -> Result<u32, BoltError> {
    u32::try_from(len).map_err(|_| {
        BoltError::Encode(format!(
            "{what} of {len} elements/bytes is larger than PackStream allows (4 GiB)"
        ))
    })
}

/// Memory charged for each decoded value (plus the bytes of strings, byte
/// arrays and map keys, and the size of boxed structures).
pub const VALUE_COST: usize = std::mem::size_of::<Value>();

/// Decodes exactly one value that fills all of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value, BoltError> {
    let mut d = Decoder::new(bytes, usize::MAX);
    let v = d.value(0)?;
    d.finish()?;
    Ok(v)
}

/// Decodes a Bolt message body: one structure whose tag is the message
/// signature. Returns the signature and the fields.
pub fn decode_message(bytes: &[u8]) -> Result<(u8, Vec<Value>), BoltError> {
    decode_message_limited(bytes, usize::MAX).map(|(s, f, _)| (s, f))
}

/// Like [`decode_message`], but refuses (with [`BoltError::Protocol`]) a
/// message whose decoded values would take more than `limit` bytes of
/// memory ([`VALUE_COST`] per value plus string and byte contents). A small
/// message of many tiny values cannot blow up in memory this way. Also
/// returns the memory charged.
pub fn decode_message_limited(
    bytes: &[u8],
    limit: usize,
) -> Result<(u8, Vec<Value>, usize), BoltError> {
    let mut d = Decoder::new(bytes, limit);
    let marker = d.byte()?;
    if marker & 0xF0 != 0xB0 {
        return Err(BoltError::Protocol(format!(
            "a message must be a structure, got marker 0x{marker:02X}"
        )));
    }
    let signature = d.byte()?;
    let mut fields = Vec::with_capacity(usize::from(marker & 0x0F));
    for _ in 0..(marker & 0x0F) {
        fields.push(d.value(1)?);
    }
    d.finish()?;
    Ok((signature, fields, limit - d.budget))
}

/// A PackStream reader over a complete message.
struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Memory the values decoded from here on may still take.
    budget: usize,
    limit: usize,
}

impl<'a> Decoder<'a> {
    fn new(buf: &'a [u8], limit: usize) -> Self {
        Decoder {
            buf,
            pos: 0,
            budget: limit,
            limit,
        }
    }

    fn charge(&mut self, bytes: usize) -> Result<(), BoltError> {
        self.budget = self.budget.checked_sub(bytes).ok_or_else(|| {
            BoltError::Protocol(format!(
                "the decoded values would take more than the limit of {} bytes",
                self.limit
            ))
        })?;
        Ok(())
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn finish(&self) -> Result<(), BoltError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(BoltError::Protocol(format!(
                "{n} unexpected bytes after the value"
            ))),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], BoltError> {
        if n > self.remaining() {
            return Err(BoltError::Protocol(format!(
                "truncated data: need {n} bytes at offset {}, {} left",
                self.pos,
                self.remaining()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, BoltError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BoltError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// Reads a length field of `width` bytes (1, 2 or 4).
    fn len(&mut self, width: u8) -> Result<usize, BoltError> {
        let n = match width {
            1 => u32::from(self.byte()?),
            2 => u32::from(u16::from_be_bytes(self.array()?)),
            _ => u32::from_be_bytes(self.array()?),
        };
        usize::try_from(n).map_err(|_| BoltError::Protocol("length does not fit in memory".into()))
    }

    /// Refuses a count of elements that cannot fit in what is left, when each
    /// element needs at least `min_bytes` bytes.
    fn check_count(&self, count: usize, min_bytes: usize, what: &str) -> Result<(), BoltError> {
        if count.saturating_mul(min_bytes) > self.remaining() {
            return Err(BoltError::Protocol(format!(
                "{what} claims {count} elements but only {} bytes are left",
                self.remaining()
            )));
        }
        Ok(())
    }

    fn string(&mut self, len: usize) -> Result<String, BoltError> {
        self.charge(len)?;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|e| BoltError::Protocol(format!("invalid UTF-8 in a string: {e}")))
    }

    fn value(&mut self, depth: usize) -> Result<Value, BoltError> {
        self.charge(VALUE_COST)?;
        let marker = self.byte()?;
        match marker {
            0x00..=0x7F => Ok(Value::Int(i64::from(marker))),
            0xF0..=0xFF => Ok(Value::Int(i64::from(i8::from_be_bytes([marker])))),
            NULL => Ok(Value::Null),
            FALSE => Ok(Value::Bool(false)),
            TRUE => Ok(Value::Bool(true)),
            FLOAT_64 => Ok(Value::Float(f64::from_be_bytes(self.array()?))),
            INT_8 => Ok(Value::Int(i64::from(i8::from_be_bytes(self.array()?)))),
            INT_16 => Ok(Value::Int(i64::from(i16::from_be_bytes(self.array()?)))),
            INT_32 => Ok(Value::Int(i64::from(i32::from_be_bytes(self.array()?)))),
            INT_64 => Ok(Value::Int(i64::from_be_bytes(self.array()?))),
            BYTES_8 | BYTES_16 | BYTES_32 => {
                let len = self.len(1 << (marker - BYTES_8))?;
                self.charge(len)?;
                Ok(Value::Bytes(self.take(len)?.to_vec()))
            }
            0x80..=0x8F => Ok(Value::String(self.string(usize::from(marker & 0x0F))?)),
            STRING_8 | STRING_16 | STRING_32 => {
                let len = self.len(1 << (marker - STRING_8))?;
                Ok(Value::String(self.string(len)?))
            }
            0x90..=0x9F => self.list(usize::from(marker & 0x0F), depth),
            LIST_8 | LIST_16 | LIST_32 => {
                let len = self.len(1 << (marker - LIST_8))?;
                self.list(len, depth)
            }
            0xA0..=0xAF => self.map(usize::from(marker & 0x0F), depth),
            MAP_8 | MAP_16 | MAP_32 => {
                let len = self.len(1 << (marker - MAP_8))?;
                self.map(len, depth)
            }
            0xB0..=0xBF => {
                let n = usize::from(marker & 0x0F);
                let tag = self.byte()?;
                self.structure(tag, n, depth)
            }
            _ => Err(BoltError::Protocol(format!(
                "unknown PackStream marker 0x{marker:02X} at offset {}",
                self.pos - 1
            ))),
        }
    }

    fn enter(depth: usize) -> Result<usize, BoltError> {
        if depth >= MAX_DEPTH {
            return Err(BoltError::Protocol(format!(
                "values nested deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(depth + 1)
    }

    fn list(&mut self, len: usize, depth: usize) -> Result<Value, BoltError> {
        let depth = Self::enter(depth)?;
        self.check_count(len, 1, "list")?;
        let mut items = Vec::with_capacity(len.min(self.budget / VALUE_COST));
        for _ in 0..len {
            items.push(self.value(depth)?);
        }
        Ok(Value::List(items))
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<Value, BoltError> {
        Ok(Value::Map(self.map_entries(len, depth)?))
    }

    fn map_entries(&mut self, len: usize, depth: usize) -> Result<Map, BoltError> {
        let depth = Self::enter(depth)?;
        self.check_count(len, 2, "map")?;
        let mut entries = Vec::with_capacity(len.min(self.budget / (2 * VALUE_COST)));
        for _ in 0..len {
            let key = match self.value(depth)? {
                Value::String(s) => s,
                other => {
                    return Err(BoltError::Protocol(format!(
                        "map key is not a string: {}",
                        kind(&other)
                    )));
                }
            };
            let value = self.value(depth)?;
            entries.push((key, value));
        }
        Ok(entries)
    }

    fn structure(&mut self, tag: u8, n: usize, depth: usize) -> Result<Value, BoltError> {
        let depth = Self::enter(depth)?;
        self.check_count(n, 1, "structure")?;
        self.charge(std::mem::size_of::<Relationship>())?;
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            fields.push(self.value(depth)?);
        }
        Ok(graph_value(tag, fields))
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Int(_) => "integer",
        Value::Float(_) => "float",
        Value::String(_) => "string",
        Value::Bytes(_) => "bytes",
        Value::List(_) => "list",
        Value::Map(_) => "map",
        Value::Node(_) => "node",
        Value::Relationship(_) => "relationship",
        Value::UnboundRelationship(_) => "unbound relationship",
        Value::Path(_) => "path",
        Value::Struct(_) => "structure",
    }
}

/// Interprets the graph structures; anything else (or a graph structure of
/// the wrong shape) stays a generic [`Structure`].
fn graph_value(tag: u8, fields: Vec<Value>) -> Value {
    let typed = match tag {
        tag::NODE => as_node(&fields).map(|v| Value::Node(Box::new(v))),
        tag::RELATIONSHIP => as_relationship(&fields).map(|v| Value::Relationship(Box::new(v))),
        tag::UNBOUND_RELATIONSHIP => {
            as_unbound(&fields).map(|v| Value::UnboundRelationship(Box::new(v)))
        }
        tag::PATH => as_path(&fields).map(|v| Value::Path(Box::new(v))),
        _ => None,
    };
    typed.unwrap_or_else(|| Value::Struct(Box::new(Structure { tag, fields })))
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_list()?
        .iter()
        .map(|x| x.as_str().map(str::to_owned))
        .collect()
}

fn props(v: &Value) -> Option<Map> {
    match v {
        Value::Map(m) => Some(m.clone()),
        _ => None,
    }
}

fn opt_str(v: Option<&Value>) -> Option<Option<String>> {
    match v {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => None,
    }
}

fn as_node(f: &[Value]) -> Option<Node> {
    if !(3..=4).contains(&f.len()) {
        return None;
    }
    Some(Node {
        id: f[0].as_int()?,
        labels: strings(&f[1])?,
        properties: props(&f[2])?,
        element_id: opt_str(f.get(3))?,
    })
}

fn as_relationship(f: &[Value]) -> Option<Relationship> {
    let element_ids = match f.len() {
        5 => None,
        8 => Some((
            f[5].as_str()?.to_owned(),
            f[6].as_str()?.to_owned(),
            f[7].as_str()?.to_owned(),
        )),
        _ => return None,
    };
    Some(Relationship {
        id: f[0].as_int()?,
        start_node_id: f[1].as_int()?,
        end_node_id: f[2].as_int()?,
        rel_type: f[3].as_str()?.to_owned(),
        properties: props(&f[4])?,
        element_ids,
    })
}

fn as_unbound(f: &[Value]) -> Option<UnboundRelationship> {
    if !(3..=4).contains(&f.len()) {
        return None;
    }
    Some(UnboundRelationship {
        id: f[0].as_int()?,
        rel_type: f[1].as_str()?.to_owned(),
        properties: props(&f[2])?,
        element_id: opt_str(f.get(3))?,
    })
}

fn as_path(f: &[Value]) -> Option<Path> {
    if f.len() != 3 {
        return None;
    }
    let nodes = f[0]
        .as_list()?
        .iter()
        .map(|v| match v {
            Value::Node(n) => Some((**n).clone()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    let relationships = f[1]
        .as_list()?
        .iter()
        .map(|v| match v {
            Value::UnboundRelationship(r) => Some((**r).clone()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    let indices = f[2]
        .as_list()?
        .iter()
        .map(Value::as_int)
        .collect::<Option<Vec<_>>>()?;
    Some(Path {
        nodes,
        relationships,
        indices,
    })
}
