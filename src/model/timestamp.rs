//! Points in time, as the protocol counts them: whole seconds since the Unix epoch.

use std::fmt;
use std::ops::{Add, Sub};

use serde::{Deserialize, Serialize};
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
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Self = Self(0);

    /// A timestamp `secs` seconds after the Unix epoch.
    pub const fn from_unix_seconds(secs: i64) -> Self {
        Self(secs)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix_seconds(self) -> i64 {
        self.0
    }

    /// This timestamp plus `secs` seconds, saturating instead of overflowing.
    pub const fn saturating_add(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// The same instant as a `time::OffsetDateTime` in UTC, if it is within `time`'s range.
    pub fn to_offset_date_time(self) -> Option<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp(self.0).ok()
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(t: OffsetDateTime) -> Self {
        Self(t.unix_timestamp())
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
        self.0.saturating_sub(rhs.0)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
