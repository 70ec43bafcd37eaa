//! The license (tenant) an engine serves, as the agent's `login` shows it.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// The license an [`Engine`](crate::Engine) serves: what the Agent API's `login` response
/// shows as its `license` object, and when the license stops serving requests.
///
/// It is part of the [`EngineConfig`](crate::EngineConfig) (`EngineConfig::license`), set by the
/// host. With an [`expiration_timestamp`](Self::expiration_timestamp), every Agent API and
/// Customer API call made at or after that moment is refused with
/// [`ErrorKind::LicenseExpired`](crate::ErrorKind::LicenseExpired); host calls are not.
///
/// ```
/// use chatio::{EngineConfig, License, Timestamp};
/// let created = Timestamp::from_unix_seconds(1_700_000_000);
/// let license = License::new("104130623", "enterprise", created)
///     .expiration_timestamp(Some(created + 30 * 24 * 3600))
///     .in_trial(true);
/// assert!(!license.is_expired_at(created + 60));
/// assert!(license.is_expired_at(created + 30 * 24 * 3600));
/// let config = EngineConfig::with_seed(7).license(license);
/// assert_eq!(config.license.unwrap().plan, "enterprise");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct License {
    /// The license's id (chat.io's `license_id`).
    pub id: String,
    /// The plan the license is on, e.g. `"enterprise"`; the engine only shows it.
    pub plan: String,
    /// When the license was created.
    pub creation_timestamp: Timestamp,
    /// When the license expires, if it does: from this moment on (inclusive) the engine refuses
    /// every Agent API and Customer API call. `None`: it never expires.
    #[serde(default)]
    pub expiration_timestamp: Option<Timestamp>,
    /// Whether the license is in its trial period; the engine only shows it.
    #[serde(default)]
    pub in_trial: bool,
}

impl License {
    /// A license that never expires and is not in trial.
    pub fn new(
        id: impl Into<String>,
        plan: impl Into<String>,
        creation_timestamp: Timestamp,
    ) -> Self {
        Self {
            id: id.into(),
            plan: plan.into(),
            creation_timestamp,
            expiration_timestamp: None,
            in_trial: false,
        }
    }

    /// Sets when the license expires (`None`: never).
    pub fn expiration_timestamp(mut self, expiration: Option<Timestamp>) -> Self {
        self.expiration_timestamp = expiration;
        self
    }

    /// Sets whether the license is in its trial period.
    pub fn in_trial(mut self, in_trial: bool) -> Self {
        self.in_trial = in_trial;
        self
    }

    /// Whether the license has expired at `now`: it has an expiration time and `now` is at or
    /// after it.
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        self.expiration_timestamp.is_some_and(|end| now >= end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_unix_seconds(secs)
    }

    #[test]
    fn a_new_license_never_expires_and_is_not_in_trial() {
        let license = License::new("1", "basic", at(100));
        assert_eq!(license.expiration_timestamp, None);
        assert!(!license.in_trial);
        for now in [i64::MIN, 0, 100, i64::MAX] {
            assert!(!license.is_expired_at(at(now)), "at {now}");
        }
    }

    #[test]
    fn a_license_expires_at_its_expiration_timestamp_not_a_second_before() {
        let license = License::new("1", "basic", at(100)).expiration_timestamp(Some(at(200)));
        assert!(!license.is_expired_at(at(199)));
        assert!(license.is_expired_at(at(200)));
        assert!(license.is_expired_at(at(201)));
        assert!(license.is_expired_at(at(i64::MAX)));
        // Setting it back to `None` lifts the expiry.
        assert!(
            !license
                .expiration_timestamp(None)
                .is_expired_at(at(i64::MAX))
        );
    }

    #[test]
    fn the_optional_fields_may_be_missing_from_json() {
        let license: License =
            serde_json::from_str(r#"{"id":"7","plan":"team","creation_timestamp":5}"#).unwrap();
        assert_eq!(license, License::new("7", "team", at(5)));
        let full = License::new("7", "team", at(5))
            .expiration_timestamp(Some(at(9)))
            .in_trial(true);
        let text = serde_json::to_string(&full).unwrap();
        assert_eq!(serde_json::from_str::<License>(&text).unwrap(), full);
    }
}
