//! Little building blocks of the index formats: LEB128 varints, fixed-width
//! little-endian integers and bit-packed arrays, with checked readers that
//! never panic on hostile input.

/// Appends `v` as an unsigned LEB128 varint (7 bits a byte, low bits first).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A bounds-checked forward reader over a byte slice.
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// Why a read failed; callers turn it into a message with context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// Ran past the end of the slice.
    Eof,
    /// A varint longer than its type allows, or with bits beyond it.
    BadVarint,
}

impl ReadError {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            ReadError::Eof => "unexpected end of data",
            ReadError::BadVarint => "malformed varint",
        }
    }
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        let end = self.pos.checked_add(n).ok_or(ReadError::Eof)?;
        let s = self.bytes.get(self.pos..end).ok_or(ReadError::Eof)?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn varint(&mut self) -> Result<u64, ReadError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = *self.bytes.get(self.pos).ok_or(ReadError::Eof)?;
            self.pos += 1;
            let low = u64::from(b & 0x7f);
            if i == 9 && low > 1 {
                return Err(ReadError::BadVarint);
            }
            v |= low << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ReadError::BadVarint)
    }

    pub(crate) fn varint_u32(&mut self) -> Result<u32, ReadError> {
        u32::try_from(self.varint()?).map_err(|_| ReadError::BadVarint)
    }
}

/// Reads a little-endian `u32` at `at`, if it fits.
pub(crate) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let s = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Reads a little-endian `u64` at `at`, if it fits.
pub(crate) fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let s = bytes.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

/// Bits needed to represent `max` (0 for 0).
pub(crate) fn bits_for(max: u32) -> u8 {
    (32 - max.leading_zeros()) as u8
}

/// Bytes taken by `count` values of `bits` bits each, packed; `None` on overflow.
pub(crate) fn packed_len(count: u64, bits: u8) -> Option<u64> {
    count
        .checked_mul(u64::from(bits))?
        .checked_add(7)
        .map(|b| b / 8)
}

/// Appends `values` packed at `bits` bits each, little-endian bit order
/// (value `i` occupies bits `i*bits .. (i+1)*bits` of the section, bit 0
/// being the lowest bit of the first byte). Values must fit in `bits`.
pub(crate) fn put_packed(out: &mut Vec<u8>, values: impl IntoIterator<Item = u32>, bits: u8) {
    if bits == 0 {
        return;
    }
    let mut acc: u64 = 0;
    let mut filled: u32 = 0;
    for v in values {
        acc |= u64::from(v) << filled;
        filled += u32::from(bits);
        while filled >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            filled -= 8;
        }
    }
    if filled > 0 {
        out.push(acc as u8);
    }
}

/// A read-only view of a bit-packed array (see [`put_packed`]).
#[derive(Clone, Copy)]
pub(crate) struct Packed<'a> {
    bytes: &'a [u8],
    bits: u8,
    len: usize,
}

impl<'a> Packed<'a> {
    /// `bytes` must be exactly `packed_len(len, bits)` long; checked by the caller.
    pub(crate) fn new(bytes: &'a [u8], bits: u8, len: usize) -> Self {
        Packed { bytes, bits, len }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Value `i`, or `None` when out of range.
    pub(crate) fn get(&self, i: usize) -> Option<u32> {
        if i >= self.len {
            return None;
        }
        if self.bits == 0 {
            return Some(0);
        }
        let bit = i.checked_mul(usize::from(self.bits))?;
        let first = bit / 8;
        let shift = bit % 8;
        let mut word = [0u8; 8];
        // At most 5 bytes are needed (shift <= 7, bits <= 32); take what exists.
        let end = first.checked_add(8)?.min(self.bytes.len());
        let src = self.bytes.get(first..end)?;
        word[..src.len()].copy_from_slice(src);
        let v = u64::from_le_bytes(word) >> shift;
        let mask = 1u64
            .checked_shl(u32::from(self.bits))
            .map_or(u64::MAX, |m| m - 1);
        Some((v & mask) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut r = Reader::new(&out);
            assert_eq!(r.varint(), Ok(v));
            assert!(r.is_empty());
        }
    }

    #[test]
    fn varint_rejects_overlong_and_truncated() {
        assert_eq!(Reader::new(&[0x80]).varint(), Err(ReadError::Eof));
        assert_eq!(Reader::new(&[0xff; 11]).varint(), Err(ReadError::BadVarint));
        let mut too_big = vec![0xff; 9];
        too_big.push(0x02);
        assert_eq!(Reader::new(&too_big).varint(), Err(ReadError::BadVarint));
        let mut out = Vec::new();
        put_varint(&mut out, u64::from(u32::MAX) + 1);
        assert_eq!(Reader::new(&out).varint_u32(), Err(ReadError::BadVarint));
    }

    #[test]
    fn packed_round_trip() {
        for bits in 0..=32u8 {
            let max = if bits == 0 {
                0
            } else {
                u32::MAX >> (32 - bits)
            };
            let values: Vec<u32> = (0..37u32)
                .map(|i| i.wrapping_mul(2_654_435_761) & max)
                .chain([max, 0, max])
                .collect();
            let mut out = Vec::new();
            put_packed(&mut out, values.iter().copied(), bits);
            assert_eq!(
                out.len() as u64,
                packed_len(values.len() as u64, bits).unwrap()
            );
            let p = Packed::new(&out, bits, values.len());
            for (i, v) in values.iter().enumerate() {
                assert_eq!(p.get(i), Some(*v), "bits {bits} index {i}");
            }
            assert_eq!(p.get(values.len()), None);
        }
    }

    #[test]
    fn bits_for_values() {
        assert_eq!(bits_for(0), 0);
        assert_eq!(bits_for(1), 1);
        assert_eq!(bits_for(255), 8);
        assert_eq!(bits_for(256), 9);
        assert_eq!(bits_for(u32::MAX), 32);
    }
}
