//! The text a value holds, for the redaction postcondition: every string
//! and char it serializes (and every string map key), one per line, without
//! field names, variant names or numbers, which come from our code and not
//! from the sources. Walking `Serialize` directly avoids building a
//! `serde_json::Value` of a whole graph only to throw it away.

use serde::Serialize;
use serde::ser;
use std::fmt;

/// Appends the strings of `value` to `out`, each followed by a newline.
pub fn collect<T: Serialize + ?Sized>(value: &T, out: &mut String) {
    let mut blocks = vec![std::mem::take(out)];
    collect_blocks(value, usize::MAX, &|_| false, &mut blocks);
    *out = blocks.concat();
}

/// The strings of `value` in blocks of about `block_size` bytes; a block
/// ends only between two strings, so a multi-line secret (a PEM key) is
/// never cut. Scanning blocks one by one keeps each detector's work local:
/// a detector runs only on blocks its cheap trigger matched.
pub fn blocks<T: Serialize + ?Sized>(value: &T, block_size: usize) -> Vec<String> {
    blocks_skipping(value, block_size, &|_| false)
}

/// [`blocks`] without the strings `skip` accepts.
pub fn blocks_skipping<T: Serialize + ?Sized>(
    value: &T,
    block_size: usize,
    skip: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut blocks = vec![String::new()];
    collect_blocks(value, block_size, skip, &mut blocks);
    blocks.retain(|b| !b.is_empty());
    blocks
}

fn collect_blocks<T: Serialize + ?Sized>(
    value: &T,
    block_size: usize,
    skip: &dyn Fn(&str) -> bool,
    blocks: &mut Vec<String>,
) {
    // Our types serialize infallibly; an error would only come from a
    // custom `Serialize` and leaves what was collected so far.
    let _ = value.serialize(&mut Collector {
        blocks,
        block_size,
        skip,
    });
}

struct Collector<'a> {
    blocks: &'a mut Vec<String>,
    block_size: usize,
    skip: &'a dyn Fn(&str) -> bool,
}

impl Collector<'_> {
    fn push(&mut self, text: &str) {
        if (self.skip)(text) {
            return;
        }
        let full = self
            .blocks
            .last()
            .is_none_or(|b| !b.is_empty() && b.len() + text.len() > self.block_size);
        if full {
            self.blocks
                .push(String::with_capacity(self.block_size.min(1 << 16)));
        }
        if let Some(block) = self.blocks.last_mut() {
            block.push_str(text);
            block.push('\n');
        }
    }
}

#[derive(Debug)]
pub struct CollectError(String);

impl fmt::Display for CollectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CollectError {}

impl ser::Error for CollectError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        CollectError(msg.to_string())
    }
}

type Done = std::result::Result<(), CollectError>;

macro_rules! ignore_scalars {
    ($($method:ident : $ty:ty),* $(,)?) => {$(
        fn $method(self, _: $ty) -> Done {
            Ok(())
        }
    )*};
}

impl<'a, 'b> ser::Serializer for &'a mut Collector<'b> {
    type Ok = ();
    type Error = CollectError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_str(self, v: &str) -> Done {
        // A string holding a JSON object (front matter is stored that way)
        // is walked, so its values are seen unescaped, as the redactor saw
        // them.
        if v.starts_with('{')
            && let Ok(inner @ serde_json::Value::Object(_)) = serde_json::from_str(v)
        {
            return inner.serialize(self);
        }
        self.push(v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Done {
        self.push(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Done {
        // Raw bytes are scanned as text where they are text.
        self.serialize_str(&String::from_utf8_lossy(v))
    }
    // Numbers and booleans hold no text.
    ignore_scalars!(
        serialize_bool: bool,
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_f32: f32,
        serialize_f64: f64,
    );
    fn serialize_none(self) -> Done {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Done {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Done {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Done {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Done {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Done {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Done {
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> std::result::Result<Self, CollectError> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> std::result::Result<Self, CollectError> {
        Ok(self)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self, CollectError> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self, CollectError> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> std::result::Result<Self, CollectError> {
        Ok(self)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self, CollectError> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self, CollectError> {
        Ok(self)
    }
}

/// The compound serializers all walk their elements the same way; only the
/// method name and whether a field name comes first differ.
macro_rules! walk_elements {
    ($($trait:ident :: $method:ident ($($name:ty)?)),* $(,)?) => {$(
        impl ser::$trait for &mut Collector<'_> {
            type Ok = ();
            type Error = CollectError;
            fn $method<T: Serialize + ?Sized>(&mut self, $(_: $name,)? value: &T) -> Done {
                value.serialize(&mut **self)
            }
            fn end(self) -> Done {
                Ok(())
            }
        }
    )*};
}

walk_elements!(
    SerializeSeq::serialize_element(),
    SerializeTuple::serialize_element(),
    SerializeTupleStruct::serialize_field(),
    SerializeTupleVariant::serialize_field(),
    // Field names come from our code, not from the sources: skipped.
    SerializeStruct::serialize_field(&'static str),
    SerializeStructVariant::serialize_field(&'static str),
);

impl ser::SerializeMap for &mut Collector<'_> {
    type Ok = ();
    type Error = CollectError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Done {
        // Map keys can be user data (front matter keys).
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        value.serialize(&mut **self)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    enum Detail {
        Plain,
        Named { target: String, n: u32 },
    }

    #[derive(Serialize)]
    struct Sample {
        name: String,
        count: u32,
        tags: Vec<String>,
        meta: BTreeMap<String, String>,
        detail: Detail,
        other: Detail,
        letter: char,
        front_matter: String,
    }

    #[test]
    fn collects_strings_keys_and_chars_but_not_field_names_or_numbers() {
        let mut meta = BTreeMap::new();
        meta.insert("api_key".to_string(), "value".to_string());
        let sample = Sample {
            name: "line one\nline two".to_string(),
            count: 7,
            tags: vec!["a".to_string(), "b".to_string()],
            meta,
            detail: Detail::Named {
                target: "x.md".to_string(),
                n: 2,
            },
            other: Detail::Plain,
            letter: 'z',
            front_matter: r#"{"note":"a\nb"}"#.to_string(),
        };
        let mut out = String::new();
        collect(&sample, &mut out);
        assert_eq!(
            out,
            "line one\nline two\na\nb\napi_key\nvalue\nx.md\nz\nnote\na\nb\n"
        );
        let blocks = blocks(&sample, 8);
        assert_eq!(blocks.concat(), out);
        assert_eq!(blocks[0], "line one\nline two\n", "a string is never cut");
        assert!(blocks.iter().skip(1).all(|b| b.len() <= 9), "{blocks:?}");
    }
}
