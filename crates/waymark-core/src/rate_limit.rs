//! Per-key rate limits: a token bucket per API key, in memory per process (AGENT-TOOLS.md step
//! 3). A key allowed `n` calls per minute holds at most `n` tokens and gains `n / 60` per
//! second; each call takes one. Owner access (no key) is not limited.

use std::collections::HashMap;
use std::sync::Mutex;

use waymark_domain::{ApiKeyId, Timestamp};

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Timestamp,
}

/// Every key's bucket.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    buckets: Mutex<HashMap<ApiKeyId, Bucket>>,
}

impl RateLimiter {
    /// Takes one token from `key`'s bucket at `now`.
    ///
    /// # Errors
    /// The seconds until a token is available, rounded up (at least 1).
    pub(crate) fn take(&self, key: &ApiKeyId, per_minute: u32, now: Timestamp) -> Result<(), u64> {
        let capacity = f64::from(per_minute.max(1));
        let per_ms = capacity / 60_000.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets.entry(key.clone()).or_insert(Bucket { tokens: capacity, updated: now });
        let elapsed_ms = (now - bucket.updated).num_milliseconds().max(0) as f64;
        bucket.tokens = (bucket.tokens + elapsed_ms * per_ms).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait_ms = (1.0 - bucket.tokens) / per_ms;
            Err(((wait_ms / 1000.0).ceil() as u64).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};
    use waymark_domain::ApiKeyId;

    use super::RateLimiter;

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
}
