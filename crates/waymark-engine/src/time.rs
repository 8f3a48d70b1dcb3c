//! Time: the [`Clock`] the engine reads instead of the wall clock, and the serde forms of
//! timestamps (RFC 3339, UTC, milliseconds, `Z`) and durations (seconds, millisecond
//! precision) used in history payloads.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A point in time, UTC.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// A source of "now" and of waiting. The engine never reads the wall clock directly, so a
/// test can drive it with a virtual clock that skips time (`waymark-testkit`).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time, UTC, truncated to milliseconds so it round-trips through both
    /// databases unchanged.
    fn now(&self) -> Timestamp;

    /// Completes at `deadline` on this clock or later. The wall clock sleeps; a virtual clock
    /// completes when it is advanced past `deadline`. Callers re-check `now()` afterwards.
    fn sleep_until(&self, deadline: Timestamp) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let wait = (deadline - self.now()).to_std().unwrap_or(Duration::ZERO);
        Box::pin(tokio::time::sleep(wait))
    }
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        truncate_to_millis(chrono::Utc::now())
    }
}

/// Drops sub-millisecond precision.
pub fn truncate_to_millis(t: Timestamp) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// Formats a timestamp the way every result does: RFC 3339, UTC, milliseconds, `Z`.
pub fn iso(t: Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `t + d`, saturating at the far future instead of overflowing.
pub fn add(t: Timestamp, d: Duration) -> Timestamp {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

/// Serde for [`Timestamp`] fields: [`iso`] out, any RFC 3339 in.
pub(crate) mod iso_ts {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Timestamp;

    pub(crate) fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::iso(*t))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let raw = String::deserialize(d)?;
        chrono::DateTime::parse_from_rfc3339(&raw)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// Serde for `Option<Timestamp>` fields.
pub(crate) mod iso_ts_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Timestamp;

    pub(crate) fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::iso(*t)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|raw| {
                chrono::DateTime::parse_from_rfc3339(&raw)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

/// Serde for [`Duration`] fields as seconds (a JSON number, millisecond precision).
pub(crate) mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        let millis = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if millis % 1000 == 0 { s.serialize_u64(millis / 1000) } else { s.serialize_f64(millis as f64 / 1000.0) }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let seconds = f64::deserialize(d)?;
        if seconds.is_finite() && seconds >= 0.0 {
            Ok(Duration::from_millis((seconds * 1000.0).round() as u64))
        } else {
            Err(serde::de::Error::custom("a duration is a non-negative number of seconds"))
        }
    }
}

/// Serde for `Option<Duration>` fields as seconds.
pub(crate) mod secs_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::secs::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<f64>::deserialize(d)? {
            Some(seconds) if seconds.is_finite() && seconds >= 0.0 => {
                Ok(Some(Duration::from_millis((seconds * 1000.0).round() as u64)))
            }
            Some(_) => Err(serde::de::Error::custom("a duration is a non-negative number of seconds")),
            None => Ok(None),
        }
    }
}
