//! Points in time, as the protocol counts them: whole seconds since the Unix epoch.

use std::fmt;
use std::num::NonZeroU64;
use std::ops::{Add, Sub};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

/// A point in time in whole Unix seconds, the resolution of every chat.io timestamp.
///
/// The engine never reads a clock: the host passes a `Timestamp` with each call.
///
/// ```
/// use chatio::Timestamp;
/// let t = Timestamp::from_unix_seconds(1_473_433_500);
/// assert_eq!((t + 60).unix_seconds(), 1_473_433_560);
/// ```
///
/// The range is `i64::MIN + 1` to `i64::MAX` seconds: the one value left out lets an
/// `Option<Timestamp>` take 8 bytes instead of 16, and a chat keeps a dozen of them. Arithmetic
/// saturates at the ends of the range, and [`from_unix_seconds`](Self::from_unix_seconds)
/// takes `i64::MIN` as the earliest time there is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(
    // The seconds in offset binary (the sign bit flipped), so that the order of the stored
    // numbers is the order of the times, and zero, which is `i64::MIN`, is free for `None`.
    NonZeroU64,
);

/// The sign bit.
const SIGN: u64 = 1 << 63;

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Self = Self::from_unix_seconds(0);

    /// The earliest time there is: `i64::MIN + 1` seconds.
    pub const MIN: Self = Self::from_unix_seconds(i64::MIN);

    /// The latest time there is: `i64::MAX` seconds.
    pub const MAX: Self = Self::from_unix_seconds(i64::MAX);

    /// A timestamp `secs` seconds after the Unix epoch; `i64::MIN` is taken as
    /// [`Timestamp::MIN`].
    pub const fn from_unix_seconds(secs: i64) -> Self {
        match NonZeroU64::new(secs as u64 ^ SIGN) {
            Some(bits) => Self(bits),
            None => Self(NonZeroU64::MIN),
        }
    }

    /// Seconds since the Unix epoch.
    pub const fn unix_seconds(self) -> i64 {
        (self.0.get() ^ SIGN) as i64
    }

    /// This timestamp plus `secs` seconds, saturating instead of overflowing.
    pub const fn saturating_add(self, secs: i64) -> Self {
        Self::from_unix_seconds(self.unix_seconds().saturating_add(secs))
    }

    /// The same instant as a `time::OffsetDateTime` in UTC, if it is within `time`'s range.
    pub fn to_offset_date_time(self) -> Option<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp(self.unix_seconds()).ok()
    }
}

/// The epoch.
impl Default for Timestamp {
    fn default() -> Self {
        Self::EPOCH
    }
}

/// As its Unix seconds.
impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.unix_seconds())
    }
}

/// From Unix seconds; `i64::MIN`, the one value outside the range, is refused so that every
/// timestamp read has one meaning and writes back the same.
impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match i64::deserialize(d)? {
            i64::MIN => Err(serde::de::Error::custom(
                "timestamp out of range: the earliest is i64::MIN + 1",
            )),
            secs => Ok(Self::from_unix_seconds(secs)),
        }
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(t: OffsetDateTime) -> Self {
        Self::from_unix_seconds(t.unix_timestamp())
    }
}

impl Add<i64> for Timestamp {
    type Output = Self;

    fn add(self, secs: i64) -> Self {
        self.saturating_add(secs)
    }
}

impl Sub for Timestamp {
    type Output = i64;

    /// Seconds from `rhs` to `self`, saturating.
    fn sub(self, rhs: Self) -> i64 {
        self.unix_seconds().saturating_sub(rhs.unix_seconds())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.unix_seconds())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.unix_seconds(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_optional_timestamp_takes_eight_bytes() {
        assert_eq!(std::mem::size_of::<Option<Timestamp>>(), 8);
    }

    #[test]
    fn order_and_arithmetic_follow_the_seconds() {
        let times = [i64::MIN + 1, -1, 0, 1, 1_700_000_000, i64::MAX];
        for w in times.windows(2) {
            let (a, b) = (
                Timestamp::from_unix_seconds(w[0]),
                Timestamp::from_unix_seconds(w[1]),
            );
            assert!(a < b, "{w:?}");
            assert_eq!(a.unix_seconds(), w[0]);
        }
        assert_eq!(Timestamp::from_unix_seconds(i64::MIN), Timestamp::MIN);
        assert_eq!(Timestamp::MIN.saturating_add(-5), Timestamp::MIN);
        assert_eq!(Timestamp::MAX + 5, Timestamp::MAX);
        assert_eq!(Timestamp::MAX - Timestamp::MIN, i64::MAX);
        assert_eq!(Timestamp::default(), Timestamp::EPOCH);
    }

    #[test]
    fn serde_writes_seconds_and_refuses_the_value_outside_the_range() {
        let t = Timestamp::from_unix_seconds(-42);
        assert_eq!(serde_json::to_string(&t).expect("serializes"), "-42");
        assert_eq!(serde_json::from_str::<Timestamp>("-42").expect("reads"), t);
        assert!(serde_json::from_str::<Timestamp>(&i64::MIN.to_string()).is_err());
    }
}
