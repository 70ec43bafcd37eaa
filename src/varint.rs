//! LEB128 varints: seven bits per byte, low bits first, the high bit set on every byte but the
//! last. Written by the packed event store (`model::Events`) and by snapshots.

/// Appends `value` as an unsigned varint.
#[inline]
pub(crate) fn put(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// How many bytes [`put`] writes for `value`.
#[inline]
pub(crate) fn len(value: u64) -> usize {
    // Seven bits a byte; zero still takes one.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends `bytes` behind their length as a varint.
#[inline]
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Zigzag: small negative and positive numbers both become small unsigned ones.
#[inline]
pub(crate) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// The inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Reads bytes that this crate wrote itself, front to back. Such bytes are well formed, so the
/// reader does not report errors; it still never reads out of bounds, and would give zeros and
/// empty slices past the end rather than panic.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    #[inline]
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    #[inline]
    pub(crate) fn byte(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&b, rest)) => {
                self.rest = rest;
                b
            }
            None => 0,
        }
    }

    #[inline]
    pub(crate) fn array<const N: usize>(&mut self) -> [u8; N] {
        match self.rest.split_first_chunk::<N>() {
            Some((taken, rest)) => {
                self.rest = rest;
                *taken
            }
            None => [0; N],
        }
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> u64 {
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let Some((&b, rest)) = self.rest.split_first() else {
                return value;
            };
            self.rest = rest;
            value |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            if b < 0x80 {
                return value;
            }
            shift += 7;
        }
    }

    #[inline]
    pub(crate) fn bytes(&mut self) -> &'a [u8] {
        let n = usize::try_from(self.varint()).unwrap_or(usize::MAX);
        let n = n.min(self.rest.len());
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        taken
    }

    /// Text this crate wrote from a `str`; anything else reads as empty.
    #[inline]
    pub(crate) fn str(&mut self) -> &'a str {
        std::str::from_utf8(self.bytes()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzags_round_trip() {
        let mut out = Vec::new();
        let values = [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX];
        for v in values {
            let before = out.len();
            put(&mut out, v);
            assert_eq!(out.len() - before, len(v), "{v}");
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            put(&mut out, zigzag(v));
        }
        put_bytes(&mut out, "héllo".as_bytes());
        let mut r = Reader::new(&out);
        for v in values {
            assert_eq!(r.varint(), v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(r.varint()), v);
        }
        assert_eq!(r.str(), "héllo");
        // Past the end: zeros and empties, no panic.
        assert_eq!((r.byte(), r.varint(), r.str()), (0, 0, ""));
        assert_eq!(r.array::<4>(), [0; 4]);
    }
}
