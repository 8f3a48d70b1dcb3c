//! [`ActivityContext`]: what activity code gets besides its input: who it is, a heartbeat,
//! an idempotency key, cancellation and the engine's clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use crate::ids::{InstanceId, Namespace, RunId};
use crate::time::{self, Clock, Timestamp};

/// Who an activity attempt is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityInfo {
    /// The tenant.
    pub namespace: Namespace,
    /// The workflow instance.
    pub instance_id: InstanceId,
    /// The workflow run.
    pub run_id: RunId,
    /// The activity type.
    pub activity_type: String,
    /// The logical activity, stable across retries.
    pub activity_execution_id: String,
    /// This attempt.
    pub activity_attempt_id: String,
    /// 1 for the first attempt.
    pub attempt_number: u32,
}

/// The handle activity code gets. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ActivityContext {
    info: Arc<ActivityInfo>,
    progress: Arc<Mutex<Option<Value>>>,
    cancelled: watch::Receiver<bool>,
    clock: Arc<dyn Clock>,
}

/// The runtime's side of an [`ActivityContext`]: takes heartbeats, sends cancellation.
#[derive(Debug)]
pub(crate) struct ActivityHandle {
    progress: Arc<Mutex<Option<Value>>>,
    cancel: watch::Sender<bool>,
}

impl ActivityHandle {
    /// The progress reported since the last call, if any.
    pub(crate) fn take_progress(&self) -> Option<Value> {
        self.progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }

    /// Tells the activity it is cancelled.
    pub(crate) fn cancel(&self) {
        let _ = self.cancel.send(true);
    }
}

impl ActivityContext {
    /// A context for an attempt, and the runtime's handle on it. Public so activity code can
    /// be unit-tested without a runtime.
    pub fn new(info: ActivityInfo, clock: Arc<dyn Clock>) -> Self {
        Self::with_handle(info, clock).0
    }

    pub(crate) fn with_handle(info: ActivityInfo, clock: Arc<dyn Clock>) -> (Self, ActivityHandle) {
        let progress = Arc::new(Mutex::new(None));
        let (cancel, cancelled) = watch::channel(false);
        (
            Self { info: Arc::new(info), progress: Arc::clone(&progress), cancelled, clock },
            ActivityHandle { progress, cancel },
        )
    }

    /// Who this attempt is.
    pub fn info(&self) -> &ActivityInfo {
        &self.info
    }

    /// A key stable across retries of this activity (its execution id): pass it to external
    /// systems so an effect is applied once even though the activity may run more than once.
    pub fn idempotency_key(&self) -> &str {
        &self.info.activity_execution_id
    }

    /// Reports progress. The runtime records the latest progress with the next lease renewal
    /// (`ActivityHeartbeatRecorded`); a retry can read where the last attempt got to there.
    pub fn heartbeat(&self, progress: impl Serialize) {
        if let Ok(value) = serde_json::to_value(progress) {
            *self.progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(value);
        }
    }

    /// Whether the workflow gave up on this activity (or the worker is shutting down).
    pub fn is_cancelled(&self) -> bool {
        *self.cancelled.borrow()
    }

    /// Completes when [`ActivityContext::is_cancelled`] becomes true.
    pub async fn cancelled(&self) {
        let mut rx = self.cancelled.clone();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// The engine clock's "now".
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Sleeps on the engine's clock (a virtual clock in tests).
    pub async fn sleep(&self, duration: Duration) {
        let deadline = time::add(self.clock.now(), duration);
        while self.clock.now() < deadline {
            self.clock.sleep_until(deadline).await;
        }
    }
}
