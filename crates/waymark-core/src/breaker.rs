//! Circuit breakers, one per external service (seed-000 §4.3; AGENT-TOOLS.md step 7).
//!
//! Closed: calls go through; failures inside the window are counted, and at the threshold the
//! breaker opens. Open: calls fail at once with `service_unavailable`. After the reset time the
//! next caller is let through as the one trial call (half-open); others keep failing until the
//! trial ends. A successful trial closes the breaker; a failed one opens it again.
//!
//! Defaults are the original's: 5 failures in 120 s, reset after 60 s. Time comes from the
//! caller, so the state machine is tested with a virtual clock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use waymark_domain::Timestamp;

use crate::{ErrorCode, ServiceError};

/// A breaker's state; serialized as `closed`, `open` or `half_open`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls fail at once.
    Open,
    /// One trial call is in flight or allowed.
    HalfOpen,
}

impl BreakerState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    /// 0 closed, 1 half-open, 2 open (the `/metrics` gauge).
    pub fn gauge(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

/// Thresholds of a breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Failures inside `window` that open the breaker.
    pub threshold: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long an open breaker waits before a trial call.
    pub reset_after: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self { threshold: 5, window: Duration::from_secs(120), reset_after: Duration::from_secs(60) }
    }
}

#[derive(Debug)]
struct Breaker {
    state: BreakerState,
    failures: VecDeque<Timestamp>,
    opened_at: Option<Timestamp>,
    trial_in_flight: bool,
}

impl Breaker {
    fn new() -> Self {
        Self { state: BreakerState::Closed, failures: VecDeque::new(), opened_at: None, trial_in_flight: false }
    }
}

/// What a breaker said about one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Go ahead.
    Call,
    /// Go ahead as the half-open trial call.
    Trial,
}

/// A breaker's state for status pages.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BreakerStatus {
    /// The service.
    pub service: String,
    /// Its state now.
    pub state: BreakerState,
    /// Failures inside the window.
    pub failures: u32,
    /// Failures that open the breaker.
    pub threshold: u32,
}

/// Every breaker of the process, by service name.
#[derive(Debug, Default)]
pub struct Breakers {
    policy: BreakerPolicy,
    breakers: Mutex<BTreeMap<String, Breaker>>,
}

fn elapsed(since: Timestamp, now: Timestamp) -> Duration {
    (now - since).to_std().unwrap_or_default()
}

impl Breakers {
    /// Breakers with `policy`.
    pub fn new(policy: BreakerPolicy) -> Self {
        Self { policy, breakers: Mutex::default() }
    }

    /// Asks to call `service` at `now`.
    ///
    /// # Errors
    /// `service_unavailable` while open, and while a half-open trial is in flight (the
    /// original's wording: "Service '{s}' is temporarily unavailable. Please try again later.",
    /// "Service '{s}' is being tested. Please try again shortly.").
    pub fn admit(&self, service: &str, now: Timestamp) -> Result<Admit, ServiceError> {
        let mut all = self.breakers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let b = all.entry(service.to_owned()).or_insert_with(Breaker::new);
        if b.state == BreakerState::Open && b.opened_at.is_some_and(|at| elapsed(at, now) >= self.policy.reset_after) {
            b.state = BreakerState::HalfOpen;
            b.trial_in_flight = false;
        }
        match b.state {
            BreakerState::Closed => Ok(Admit::Call),
            BreakerState::HalfOpen if !b.trial_in_flight => {
                b.trial_in_flight = true;
                Ok(Admit::Trial)
            }
            BreakerState::HalfOpen => Err(ServiceError::new(
                ErrorCode::ServiceUnavailable,
                format!("Service '{service}' is being tested. Please try again shortly."),
            )),
            BreakerState::Open => Err(ServiceError::new(
                ErrorCode::ServiceUnavailable,
                format!("Service '{service}' is temporarily unavailable. Please try again later."),
            )
            .with_details(serde_json::json!({ "service": service, "state": "open" }))),
        }
    }

    /// Records how an admitted call ended.
    pub fn record(&self, service: &str, admitted: Admit, succeeded: bool, now: Timestamp) {
        let mut all = self.breakers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let b = all.entry(service.to_owned()).or_insert_with(Breaker::new);
        match (admitted, succeeded) {
            (Admit::Trial, true) => {
                *b = Breaker::new();
            }
            (Admit::Trial, false) => {
                b.state = BreakerState::Open;
                b.opened_at = Some(now);
                b.trial_in_flight = false;
            }
            (Admit::Call, true) => {
                b.failures.pop_front();
            }
            (Admit::Call, false) => {
                b.failures.push_back(now);
                while b.failures.front().is_some_and(|t| elapsed(*t, now) > self.policy.window) {
                    b.failures.pop_front();
                }
                if b.state == BreakerState::Closed && b.failures.len() >= self.policy.threshold as usize {
                    b.state = BreakerState::Open;
                    b.opened_at = Some(now);
                    tracing::warn!(service, "circuit breaker opened");
                }
            }
        }
    }

    /// Forgets an admitted call that ended without an outcome (its caller went away): a
    /// half-open trial is given back so the next caller can make it.
    pub fn abandon(&self, service: &str, admitted: Admit) {
        if admitted == Admit::Trial {
            let mut all = self.breakers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(b) = all.get_mut(service) {
                b.trial_in_flight = false;
            }
        }
    }

    /// Every breaker's state (known services only).
    pub fn status(&self, now: Timestamp) -> Vec<BreakerStatus> {
        let all = self.breakers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        all.iter()
            .map(|(service, b)| {
                let state = match b.state {
                    BreakerState::Open if b.opened_at.is_some_and(|at| elapsed(at, now) >= self.policy.reset_after) => {
                        BreakerState::HalfOpen
                    }
                    other => other,
                };
                BreakerStatus {
                    service: service.clone(),
                    state,
                    failures: u32::try_from(
                        b.failures.iter().filter(|t| elapsed(**t, now) <= self.policy.window).count(),
                    )
                    .unwrap_or(u32::MAX),
                    threshold: self.policy.threshold,
                }
            })
            .collect()
    }

    /// Makes a service known (so it shows as closed before its first call).
    pub fn register(&self, service: &str) {
        let mut all = self.breakers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        all.entry(service.to_owned()).or_insert_with(Breaker::new);
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::{Admit, BreakerPolicy, Breakers};
    use crate::ErrorCode;

    fn at(seconds: i64) -> waymark_domain::Timestamp {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(seconds)
    }

    fn state(b: &Breakers, now: i64) -> &'static str {
        b.status(at(now)).into_iter().find(|s| s.service == "db").map_or("unknown", |s| s.state.as_str())
    }

    #[test]
    fn five_failures_in_the_window_open_it() {
        let b = Breakers::new(BreakerPolicy::default());
        for i in 0..4 {
            assert_eq!(b.admit("db", at(i)).unwrap(), Admit::Call);
            b.record("db", Admit::Call, false, at(i));
        }
        assert_eq!(state(&b, 4), "closed");
        b.admit("db", at(4)).unwrap();
        b.record("db", Admit::Call, false, at(4));
        assert_eq!(state(&b, 5), "open");
        let refused = b.admit("db", at(5)).unwrap_err();
        assert_eq!(refused.code, ErrorCode::ServiceUnavailable);
        assert_eq!(refused.message, "Service 'db' is temporarily unavailable. Please try again later.");
    }

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let b = Breakers::new(BreakerPolicy::default());
        for i in 0..4 {
            b.record("db", Admit::Call, false, at(i * 60));
        }
        b.record("db", Admit::Call, false, at(4 * 60));
        assert_eq!(state(&b, 240), "closed", "only 3 of 5 failures fall in the last 120 s");
    }

    #[test]
    fn one_trial_after_the_reset_time_decides() {
        let b = Breakers::new(BreakerPolicy::default());
        for _ in 0..5 {
            b.record("db", Admit::Call, false, at(0));
        }
        assert!(b.admit("db", at(59)).is_err());
        assert_eq!(b.admit("db", at(60)).unwrap(), Admit::Trial);
        let second = b.admit("db", at(60)).unwrap_err();
        assert_eq!(second.message, "Service 'db' is being tested. Please try again shortly.");
        b.record("db", Admit::Trial, false, at(61));
        assert!(b.admit("db", at(62)).is_err(), "a failed trial opens it again");
        assert_eq!(b.admit("db", at(121)).unwrap(), Admit::Trial);
        b.record("db", Admit::Trial, true, at(121));
        assert_eq!(state(&b, 121), "closed");
        assert_eq!(b.admit("db", at(122)).unwrap(), Admit::Call);
    }

    #[test]
    fn an_abandoned_trial_lets_the_next_caller_try() {
        let b = Breakers::new(BreakerPolicy::default());
        for _ in 0..5 {
            b.record("db", Admit::Call, false, at(0));
        }
        let trial = b.admit("db", at(60)).unwrap();
        assert_eq!(trial, Admit::Trial);
        assert!(b.admit("db", at(60)).is_err(), "one trial at a time");
        b.abandon("db", trial);
        assert_eq!(b.admit("db", at(61)).unwrap(), Admit::Trial);
    }

    #[test]
    fn successes_wear_down_failures() {
        let b = Breakers::new(BreakerPolicy::default());
        for _ in 0..4 {
            b.record("db", Admit::Call, false, at(0));
        }
        b.record("db", Admit::Call, true, at(1));
        b.record("db", Admit::Call, false, at(2));
        assert_eq!(state(&b, 2), "closed");
    }
}
