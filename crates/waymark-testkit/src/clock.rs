//! A clock tests move by hand. Waiting on it ([`Clock::sleep_until`]) completes when the test
//! advances it past the deadline, so a workflow's 30-day timer fires as soon as a test skips
//! 30 days, in milliseconds of real time.

use std::future::Future;
use std::pin::Pin;

use chrono::{TimeZone, Utc};
use tokio::sync::watch;
use waymark_core::clock::Clock;

/// Starts at 2026-01-01T12:00:00Z and moves only when told.
#[derive(Debug)]
pub struct VirtualClock {
    now: watch::Sender<chrono::DateTime<Utc>>,
}

impl Default for VirtualClock {
    fn default() -> Self {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).single().expect("valid time");
        Self { now: watch::Sender::new(start) }
    }
}

impl VirtualClock {
    /// Moves time forward, waking everything waiting for a time up to the new "now".
    pub fn advance(&self, by: std::time::Duration) {
        let by = chrono::Duration::from_std(by).expect("duration in range");
        self.now.send_modify(|now| *now += by);
    }

    /// Moves time forward to `at` (never backwards).
    pub fn advance_to(&self, at: chrono::DateTime<Utc>) {
        self.now.send_if_modified(|now| {
            let later = at > *now;
            if later {
                *now = at;
            }
            later
        });
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> chrono::DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline: chrono::DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            let _ = rx.wait_for(|now| *now >= deadline).await;
        })
    }
}
