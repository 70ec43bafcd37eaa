//! The byte-level vocabulary of a snapshot's binary section: LEB128 varints and
//! length-prefixed byte strings, written onto a `Vec` and read back through a [`Cursor`] that
//! checks every bound.
//!
//! A snapshot may come from a damaged disk, so the reader trusts nothing: every read checks
//! that the bytes are there, every length is checked against the bytes left before anything is
//! allocated for it, and every failure is a [`Malformed`] naming what was being read.

use std::borrow::Cow;

/// What was wrong with the bytes; the caller adds where it was.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Malformed(pub(super) Cow<'static, str>);

impl Malformed {
    pub(super) fn new(what: impl Into<Cow<'static, str>>) -> Self {
        Self(what.into())
    }
}

pub(super) use crate::varint::{put as put_varint, put_bytes};

/// Reads a byte slice front to back; no method reads past its end.
pub(super) struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The number of bytes not read yet.
    pub(super) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The next `n` bytes.
    pub(super) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Malformed> {
        match self.rest.split_at_checked(n) {
            Some((taken, rest)) => {
                self.rest = rest;
                Ok(taken)
            }
            None => Err(truncated(what)),
        }
    }

    /// The next `N` bytes, as an array.
    pub(super) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<&'a [u8; N], Malformed> {
        match self.rest.split_first_chunk::<N>() {
            Some((taken, rest)) => {
                self.rest = rest;
                Ok(taken)
            }
            None => Err(truncated(what)),
        }
    }

    /// The next byte.
    pub(super) fn byte(&mut self, what: &'static str) -> Result<u8, Malformed> {
        match self.rest.split_first() {
            Some((&b, rest)) => {
                self.rest = rest;
                Ok(b)
            }
            None => Err(truncated(what)),
        }
    }

    /// A varint as [`put_varint`] writes it. Longer encodings of the same number (trailing
    /// zero groups) and numbers past 64 bits are refused, so each number has one encoding.
    pub(super) fn varint(&mut self, what: &'static str) -> Result<u64, Malformed> {
        // One byte is by far the most common case: counts, lengths and author numbers.
        if let Some((&b, rest)) = self.rest.split_first() {
            if b < 0x80 {
                self.rest = rest;
                return Ok(u64::from(b));
            }
        }
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte(what)?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && b > 1 {
                return Err(Malformed::new(format!(
                    "{what}: varint longer than 64 bits"
                )));
            }
            value |= bits << shift;
            if b < 0x80 {
                if b == 0 && shift > 0 {
                    return Err(Malformed::new(format!(
                        "{what}: varint with a zero last byte"
                    )));
                }
                return Ok(value);
            }
        }
        Err(Malformed::new(format!(
            "{what}: varint longer than 64 bits"
        )))
    }

    /// A varint that counts bytes or items still to come, each at least `unit` bytes long:
    /// refused if the bytes left cannot hold that many, so a damaged count never makes the
    /// reader allocate more than the input could fill.
    pub(super) fn count(&mut self, unit: usize, what: &'static str) -> Result<usize, Malformed> {
        let n = self.varint(what)?;
        let fits = self.rest.len() / unit.max(1);
        match usize::try_from(n) {
            Ok(n) if n <= fits => Ok(n),
            _ => Err(Malformed::new(format!(
                "{what}: {n} does not fit in the {} bytes left",
                self.rest.len()
            ))),
        }
    }

    /// Bytes behind their length, as [`put_bytes`] writes them.
    pub(super) fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], Malformed> {
        let n = self.count(1, what)?;
        self.take(n, what)
    }

    /// UTF-8 text behind its length.
    pub(super) fn str(&mut self, what: &'static str) -> Result<&'a str, Malformed> {
        let bytes = self.bytes(what)?;
        std::str::from_utf8(bytes).map_err(|_| Malformed::new(format!("{what} is not UTF-8")))
    }
}

fn truncated(what: &'static str) -> Malformed {
    Malformed::new(format!("{what}: the section ends early"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_every_width() {
        let mut values = vec![0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX];
        values.extend((0..64).map(|s| 1u64 << s));
        values.extend((1..64).map(|s| (1u64 << s) - 1));
        for v in values {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(
                out.len(),
                (64 - v.leading_zeros() as usize).div_ceil(7).max(1)
            );
            let mut cursor = Cursor::new(&out);
            assert_eq!(cursor.varint("v"), Ok(v), "{v}");
            assert_eq!(cursor.remaining(), 0);
        }
    }

    #[test]
    fn bad_varints_are_refused() {
        for bad in [
            &[][..],
            &[0x80],
            &[0xff; 11],
            &[0x80, 0x00],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
        ] {
            assert!(Cursor::new(bad).varint("v").is_err(), "{bad:?}");
        }
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Cursor::new(&max).varint("v"), Ok(u64::MAX));
    }

    #[test]
    fn lengths_are_checked_before_reading() {
        let mut out = Vec::new();
        put_bytes(&mut out, "żółw".as_bytes());
        assert_eq!(Cursor::new(&out).str("s"), Ok("żółw"));
        for cut in 0..out.len() {
            assert!(Cursor::new(&out[..cut]).str("s").is_err(), "{cut}");
        }
        let mut huge = Vec::new();
        put_varint(&mut huge, u64::MAX);
        let err = Cursor::new(&huge).bytes("text").unwrap_err();
        assert!(err.0.contains("does not fit"), "{err:?}");
        // A count of items of 10 bytes each, with 25 bytes left: 2 fit, 3 do not.
        let mut counted = vec![2];
        counted.extend([0; 25]);
        assert_eq!(Cursor::new(&counted).count(10, "n"), Ok(2));
        counted[0] = 3;
        assert!(Cursor::new(&counted).count(10, "n").is_err());
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let mut out = Vec::new();
        put_bytes(&mut out, &[0x61, 0xff]);
        assert!(Cursor::new(&out).str("s").unwrap_err().0.contains("UTF-8"));
    }
}
