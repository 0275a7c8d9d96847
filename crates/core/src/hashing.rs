//! Hashing helpers: every id and content hash is SHA-256, rendered as
//! lowercase hex.

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes` as 64 lowercase hex characters.
pub fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(bytes.as_ref()))
}

/// Builds a hash over several fields without ambiguity: each field is
/// length-prefixed, so `("ab", "c")` and `("a", "bc")` differ.
#[derive(Default, Clone)]
pub struct FieldHasher {
    inner: Sha256,
}

impl FieldHasher {
    pub fn new(domain: &str) -> FieldHasher {
        let mut hasher = FieldHasher::default();
        hasher.field(domain);
        hasher
    }

    pub fn field(&mut self, value: impl AsRef<[u8]>) -> &mut FieldHasher {
        let bytes = value.as_ref();
        self.inner.update((bytes.len() as u64).to_le_bytes());
        self.inner.update(bytes);
        self
    }

    pub fn finish_hex(&self) -> String {
        hex::encode(self.finish())
    }

    pub fn finish(&self) -> [u8; 32] {
        self.inner.clone().finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn fields_are_unambiguous() {
        let a = FieldHasher::new("t").field("ab").field("c").finish_hex();
        let b = FieldHasher::new("t").field("a").field("bc").finish_hex();
        assert_ne!(a, b);
    }
}
