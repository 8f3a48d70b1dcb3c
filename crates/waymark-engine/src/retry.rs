//! Activity options: retry policy and timeouts, with Temporal's defaults (ENGINE.md: where the
//! seed is silent, do what Temporal does).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::time::{secs, secs_opt};

/// How an activity is retried after a failed attempt.
///
/// Defaults (Temporal's): first retry after 1 s, each next wait × 2, waits capped at 100 s,
/// unlimited attempts. An error whose type is listed in `non_retryable_error_types`, or raised
/// as non-retryable, is never retried.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// The wait before the first retry, in seconds.
    #[serde(with = "secs")]
    pub initial_interval: Duration,
    /// The factor each next wait is multiplied by (≥ 1).
    pub backoff_coefficient: f64,
    /// The longest wait, in seconds (default 100 × `initial_interval`).
    #[serde(with = "secs_opt", default)]
    pub maximum_interval: Option<Duration>,
    /// The most attempts, counting the first; 0 means unlimited.
    pub maximum_attempts: u32,
    /// Error types (`exception_type`) that fail the activity at once.
    #[serde(default)]
    pub non_retryable_error_types: Vec<String>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_interval: Duration::from_secs(1),
            backoff_coefficient: 2.0,
            maximum_interval: None,
            maximum_attempts: 0,
            non_retryable_error_types: Vec::new(),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries (one attempt).
    pub fn no_retries() -> Self {
        Self { maximum_attempts: 1, ..Self::default() }
    }

    /// The wait before attempt `failed_attempt + 1`, or `None` when no attempt is left or the
    /// error must not be retried.
    pub fn next_backoff(&self, failed_attempt: u32, exception_type: &str, non_retryable: bool) -> Option<Duration> {
        if non_retryable || self.non_retryable_error_types.iter().any(|t| t == exception_type) {
            return None;
        }
        if self.maximum_attempts != 0 && failed_attempt >= self.maximum_attempts {
            return None;
        }
        let cap = self.maximum_interval.unwrap_or(self.initial_interval.saturating_mul(100));
        let exponent = i32::try_from(failed_attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let factor = self.backoff_coefficient.max(1.0).powi(exponent);
        let wait = self.initial_interval.as_secs_f64() * factor;
        let wait = if wait.is_finite() { Duration::from_secs_f64(wait.min(cap.as_secs_f64())) } else { cap };
        Some(Duration::from_millis(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)))
    }
}

/// Everything that governs one activity call: retries and timeouts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityOptions {
    /// How failed attempts are retried.
    pub retry_policy: RetryPolicy,
    /// The longest one attempt may run, in seconds (default 300, the seed's activity lease).
    #[serde(with = "secs")]
    pub start_to_close_timeout: Duration,
    /// The longest the whole activity may take across attempts, in seconds (default none).
    #[serde(with = "secs_opt", default)]
    pub schedule_to_close_timeout: Option<Duration>,
    /// The longest an attempt may go without a heartbeat, in seconds (default none).
    #[serde(with = "secs_opt", default)]
    pub heartbeat_timeout: Option<Duration>,
}

impl Default for ActivityOptions {
    fn default() -> Self {
        Self {
            retry_policy: RetryPolicy::default(),
            start_to_close_timeout: Duration::from_secs(300),
            schedule_to_close_timeout: None,
            heartbeat_timeout: None,
        }
    }
}

impl ActivityOptions {
    /// These options with `policy`.
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// These options with a start-to-close timeout.
    #[must_use]
    pub fn start_to_close(mut self, timeout: Duration) -> Self {
        self.start_to_close_timeout = timeout;
        self
    }

    /// These options with a schedule-to-close timeout.
    #[must_use]
    pub fn schedule_to_close(mut self, timeout: Duration) -> Self {
        self.schedule_to_close_timeout = Some(timeout);
        self
    }

    /// These options with a heartbeat timeout.
    #[must_use]
    pub fn heartbeat(mut self, timeout: Duration) -> Self {
        self.heartbeat_timeout = Some(timeout);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let waits: Vec<_> = (1..=9).map(|n| policy.next_backoff(n, "E", false).unwrap().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 100, 100]);
    }

    #[test]
    fn attempts_and_error_types_end_retries() {
        let policy = RetryPolicy {
            maximum_attempts: 3,
            non_retryable_error_types: vec!["Fatal".into()],
            ..RetryPolicy::default()
        };
        assert!(policy.next_backoff(2, "E", false).is_some());
        assert_eq!(policy.next_backoff(3, "E", false), None);
        assert_eq!(policy.next_backoff(1, "Fatal", false), None);
        assert_eq!(policy.next_backoff(1, "E", true), None);
        assert_eq!(RetryPolicy::no_retries().next_backoff(1, "E", false), None);
    }
}
