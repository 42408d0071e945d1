//! Time, behind a trait so that tests and demos can control it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// `at` plus `by`, saturating at the last time chrono can represent: date arithmetic on values
/// people choose never panics.
pub fn after(at: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(by).ok().and_then(|by| at.checked_add_signed(by)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `at` minus `by`, saturating at the first time chrono can represent.
pub fn before(at: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(by).ok().and_then(|by| at.checked_sub_signed(by)).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `at` plus `by`, if that is a time chrono can represent.
pub fn checked_after(at: DateTime<Utc>, by: Duration) -> Option<DateTime<Utc>> {
    chrono::Duration::from_std(by).ok().and_then(|by| at.checked_add_signed(by))
}

/// A source of the current time, in UTC.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock, to the millisecond: finer than any person or platform tells apart, and
/// a third shorter in every stored timestamp than nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
    }
}

/// A clock that stands still until it is moved, shared by everything that holds a clone.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self { now: Arc::new(Mutex::new(start)) }
    }

    /// Moves the clock forward by `by` (at most to the last time chrono can represent).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|poison| poison.into_inner());
        *now = after(*now, by);
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|poison| poison.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

/// Times as stored in plugin state: milliseconds since the Unix epoch, half the size of
/// RFC 3339 text. Use it as `#[serde(with = "firebell_core::clock::stored")]`, and
/// [`stored::option`] for an `Option`. Both also read RFC 3339 text, the older form.
pub mod stored {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// The forms a time has been stored in.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Millis(i64),
        Text(DateTime<Utc>),
    }

    impl Stored {
        fn time<E: serde::de::Error>(self) -> Result<DateTime<Utc>, E> {
            match self {
                Stored::Millis(ms) => {
                    DateTime::from_timestamp_millis(ms).ok_or_else(|| E::custom(format!("{ms} ms is out of range")))
                }
                Stored::Text(time) => Ok(time),
            }
        }
    }

    /// Writes `time` as milliseconds since the epoch.
    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(time.timestamp_millis())
    }

    /// Reads milliseconds since the epoch, or RFC 3339 text.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        Stored::deserialize(deserializer)?.time()
    }

    /// The same for an optional time; pair it with `default` and
    /// `skip_serializing_if = "Option::is_none"`.
    pub mod option {
        use super::*;

        /// Writes `time` as milliseconds since the epoch, or `null`.
        pub fn serialize<S: Serializer>(time: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
            match time {
                Some(time) => super::serialize(time, serializer),
                None => serializer.serialize_none(),
            }
        }

        /// Reads milliseconds since the epoch, RFC 3339 text, or `null`.
        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
            Option::<Stored>::deserialize(deserializer)?.map(Stored::time).transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Stamped {
        #[serde(with = "stored")]
        at: DateTime<Utc>,
        #[serde(default, with = "stored::option", skip_serializing_if = "Option::is_none")]
        until: Option<DateTime<Utc>>,
    }

    #[test]
    fn stored_times_are_milliseconds_and_rfc_3339_is_still_read() {
        let at = DateTime::parse_from_rfc3339("2026-11-21T03:00:00.250Z").unwrap().to_utc();
        let stamped = Stamped { at, until: Some(at) };
        let text = serde_json::to_string(&stamped).unwrap();
        assert_eq!(text, r#"{"at":1795230000250,"until":1795230000250}"#);
        assert_eq!(serde_json::from_str::<Stamped>(&text).unwrap(), stamped);
        let old = r#"{"at":"2026-11-21T03:00:00.250Z","until":null}"#;
        assert_eq!(serde_json::from_str::<Stamped>(old).unwrap(), Stamped { at, until: None });
        assert_eq!(serde_json::from_str::<Stamped>(r#"{"at":1795230000250}"#).unwrap().until, None);
        assert!(serde_json::from_str::<Stamped>(r#"{"at":"yesterday"}"#).is_err());
        assert!(serde_json::from_str::<Stamped>(r#"{"at":9223372036854775807}"#).is_err());
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::parse_from_rfc3339("2026-11-21T03:00:00Z").unwrap().to_utc();
        let clock = ManualClock::new(start);
        let shared = clock.clone();
        assert_eq!(clock.now(), start);
        shared.advance(Duration::from_secs(90));
        assert_eq!(clock.now(), start + chrono::Duration::seconds(90));
    }
}
