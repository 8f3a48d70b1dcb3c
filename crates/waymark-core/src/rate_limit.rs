//! Per-key rate limits: a token bucket per API key, in memory per process (AGENT-TOOLS.md step
//! 3). A key allowed `n` calls per minute holds at most `n` tokens and gains `n / 60` per
//! second; each call takes one. Owner access (no key) is not limited.
//!
//! The arithmetic is exact: a bucket's level is kept in token-milliseconds (one token is
//! 60,000 units, and a key of `n` per minute gains `n` units per millisecond), so the HTTP
//! headers (`X-RateLimit-Remaining`, `X-RateLimit-Reset`) and `Retry-After` never drift.
//!
//! Not `governor`: its limiters answer only by taking a token (it has no way to read a key's
//! state without a call), report whole remaining tokens but not when the bucket is full again,
//! and hold one quota per limiter where each key has its own; the headers need all three.

use std::collections::HashMap;
use std::sync::Mutex;

use waymark_domain::{ApiKeyId, Timestamp};

use crate::{Principal, Service};

/// Units of bucket level per token (a token is worth a minute of milliseconds).
const UNIT: u64 = 60_000;

/// A key's bucket, as the HTTP transport reports it in `X-RateLimit-*` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitStatus {
    /// The key's budget in calls per minute, which is also the most calls it may make at once
    /// (`X-RateLimit-Limit`).
    pub limit: u32,
    /// Whole calls the key may make now (`X-RateLimit-Remaining`).
    pub remaining: u32,
    /// Seconds, rounded up, until the bucket is full again, i.e. until `remaining == limit`;
    /// 0 when it is full (`X-RateLimit-Reset`, as delta seconds).
    pub reset_seconds: u64,
}

#[derive(Debug)]
struct Bucket {
    /// Token-milliseconds, at most `per_minute * UNIT`.
    level: u64,
    updated: Timestamp,
}

impl Bucket {
    /// The level at `now` (never lower than it was: a clock that steps back refills nothing).
    fn level_at(&self, per_minute: u64, now: Timestamp) -> u64 {
        let elapsed_ms = u64::try_from((now - self.updated).num_milliseconds()).unwrap_or(0);
        self.level.saturating_add(elapsed_ms.saturating_mul(per_minute)).min(per_minute * UNIT)
    }
}

/// Every key's bucket.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    buckets: Mutex<HashMap<ApiKeyId, Bucket>>,
}

/// `ms` in whole seconds, rounded up.
fn seconds_up(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

impl RateLimiter {
    /// Takes one token from `key`'s bucket at `now`.
    ///
    /// # Errors
    /// The seconds until a token is available, rounded up (at least 1).
    pub(crate) fn take(&self, key: &ApiKeyId, per_minute: u32, now: Timestamp) -> Result<(), u64> {
        let rate = u64::from(per_minute.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets.entry(key.clone()).or_insert(Bucket { level: rate * UNIT, updated: now });
        let level = bucket.level_at(rate, now);
        bucket.updated = bucket.updated.max(now);
        bucket.level = level;
        if level >= UNIT {
            bucket.level -= UNIT;
            Ok(())
        } else {
            Err(seconds_up((UNIT - level).div_ceil(rate)).max(1))
        }
    }

    /// `key`'s bucket at `now`, without taking a token.
    pub(crate) fn status(&self, key: &ApiKeyId, per_minute: u32, now: Timestamp) -> RateLimitStatus {
        let rate = u64::from(per_minute.max(1));
        let full = rate * UNIT;
        let buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let level = buckets.get(key).map_or(full, |b| b.level_at(rate, now));
        RateLimitStatus {
            limit: per_minute.max(1),
            remaining: u32::try_from(level / UNIT).unwrap_or(u32::MAX),
            reset_seconds: seconds_up((full - level).div_ceil(rate)),
        }
    }
}

impl Service {
    /// The caller's rate-limit bucket now, for the HTTP `X-RateLimit-*` headers; `None` for
    /// owner access, which is not limited. Takes no token.
    pub fn rate_limit_status(&self, principal: &Principal) -> Option<RateLimitStatus> {
        let (key, per_minute) = (principal.key_id.as_ref()?, principal.rate_limit_per_minute?);
        Some(self.inner.limiter.status(key, per_minute, self.now()))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};
    use waymark_domain::ApiKeyId;

    use super::{RateLimitStatus, RateLimiter};

    #[test]
    fn a_bucket_allows_its_rate_then_refills() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let key = ApiKeyId::from_ulid("K");
        let limiter = RateLimiter::default();
        for _ in 0..3 {
            assert_eq!(limiter.take(&key, 3, t0), Ok(()));
        }
        assert_eq!(limiter.take(&key, 3, t0), Err(20), "one token per 20 s at 3/min");
        assert_eq!(limiter.take(&key, 3, t0 + Duration::seconds(19)), Err(1));
        assert_eq!(limiter.take(&key, 3, t0 + Duration::seconds(20)), Ok(()));
        let other = ApiKeyId::from_ulid("L");
        assert_eq!(limiter.take(&other, 3, t0), Ok(()), "keys have their own buckets");
    }

    #[test]
    fn status_counts_whole_tokens_and_the_time_to_full() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let key = ApiKeyId::from_ulid("K");
        let limiter = RateLimiter::default();
        let status = |at| limiter.status(&key, 3, at);
        assert_eq!(status(t0), RateLimitStatus { limit: 3, remaining: 3, reset_seconds: 0 }, "an unused key");
        limiter.take(&key, 3, t0).unwrap();
        assert_eq!(status(t0), RateLimitStatus { limit: 3, remaining: 2, reset_seconds: 20 });
        limiter.take(&key, 3, t0).unwrap();
        limiter.take(&key, 3, t0).unwrap();
        assert_eq!(status(t0), RateLimitStatus { limit: 3, remaining: 0, reset_seconds: 60 });
        assert_eq!(limiter.take(&key, 3, t0), Err(20));
        assert_eq!(
            status(t0),
            RateLimitStatus { limit: 3, remaining: 0, reset_seconds: 60 },
            "a refusal takes nothing"
        );
        let later = t0 + Duration::milliseconds(20_001);
        assert_eq!(status(later), RateLimitStatus { limit: 3, remaining: 1, reset_seconds: 40 });
        assert_eq!(status(t0 + Duration::seconds(90)), RateLimitStatus { limit: 3, remaining: 3, reset_seconds: 0 });
        assert_eq!(status(t0 - Duration::seconds(5)).remaining, 0, "a clock stepping back refills nothing");
    }

    #[test]
    fn large_budgets_are_exact() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let key = ApiKeyId::from_ulid("K");
        let limiter = RateLimiter::default();
        for _ in 0..6000 {
            limiter.take(&key, 6000, t0).unwrap();
        }
        assert_eq!(limiter.take(&key, 6000, t0), Err(1), "10 ms to the next token, rounded up to 1 s");
        assert_eq!(limiter.status(&key, 6000, t0 + Duration::milliseconds(10)).remaining, 1);
        assert_eq!(limiter.status(&key, 6000, t0).reset_seconds, 60);
    }
}
