//! The id of a stored piece: the SHA-256 of its uncompressed payload.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;

/// A content address: 32 bytes, shown as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(pub [u8; 32]);

impl ObjectId {
    /// The id of a payload.
    pub fn of(payload: &[u8]) -> ObjectId {
        ObjectId(Sha256::digest(payload).into())
    }

    /// Parses 64 hex characters.
    pub fn parse(text: &str) -> Option<ObjectId> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(ObjectId(bytes))
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    /// Store-relative path of the piece: `objects/ab/abcd...`.
    pub fn rel_path(self) -> String {
        let hex = self.to_hex();
        format!("{}/{}/{hex}", super::layout::OBJECTS_DIR, &hex[..2])
    }

    /// The id a store-relative piece path names (the inverse of
    /// [`ObjectId::rel_path`]); `None` for any other path.
    pub fn from_rel_path(rel: &str) -> Option<ObjectId> {
        let id = ObjectId::parse(rel.rsplit('/').next()?)?;
        (id.rel_path() == rel).then_some(id)
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.to_hex())
    }
}

/// In JSON (manifests) an id is its hex string; in binary pieces it is
/// the 32 bytes (postcard is not human readable).
impl Serialize for ObjectId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_hex())
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ObjectId, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            ObjectId::parse(&text)
                .ok_or_else(|| serde::de::Error::custom(format!("not an object id: {text:?}")))
        } else {
            <[u8; 32]>::deserialize(d).map(ObjectId)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_json_round_trip() {
        let id = ObjectId::of(b"hello");
        assert_eq!(ObjectId::parse(&id.to_hex()), Some(id));
        assert!(
            id.rel_path()
                .starts_with(&format!("objects/{}/", &id.to_hex()[..2]))
        );
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", id.to_hex()));
        assert_eq!(serde_json::from_str::<ObjectId>(&json).unwrap(), id);
        let bin = postcard::to_allocvec(&id).unwrap();
        assert_eq!(bin.len(), 32);
        assert_eq!(postcard::from_bytes::<ObjectId>(&bin).unwrap(), id);
        assert!(ObjectId::parse("zz").is_none());
    }
}
