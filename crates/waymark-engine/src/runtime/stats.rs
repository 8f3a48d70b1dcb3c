//! Counters of what this process's engine did, for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the engine's counters. All but `running_activities` only grow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Steps committed (decisions, with the inputs they applied).
    pub steps: u64,
    /// Workflow tasks handled.
    pub workflow_tasks: u64,
    /// Runs replayed from history (cache misses: recovery, eviction, takeover).
    pub replays: u64,
    /// Steps served from the sticky cache.
    pub cache_hits: u64,
    /// Decisions that could not be made (nondeterminism, unknown type, unreadable history).
    pub blocked: u64,
    /// Activity attempts started.
    pub activity_attempts: u64,
    /// Activities completed.
    pub activities_completed: u64,
    /// Activity retries scheduled.
    pub activity_retries: u64,
    /// Activities failed or timed out for good.
    pub activities_failed: u64,
    /// Timers fired.
    pub timers_fired: u64,
    /// Runs closed by this process.
    pub runs_closed: u64,
    /// Activity attempts running in this process now.
    pub running_activities: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) steps: AtomicU64,
    pub(crate) workflow_tasks: AtomicU64,
    pub(crate) replays: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) blocked: AtomicU64,
    pub(crate) activity_attempts: AtomicU64,
    pub(crate) activities_completed: AtomicU64,
    pub(crate) activity_retries: AtomicU64,
    pub(crate) activities_failed: AtomicU64,
    pub(crate) timers_fired: AtomicU64,
    pub(crate) runs_closed: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self, running_activities: u64) -> EngineStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        EngineStats {
            steps: get(&self.steps),
            workflow_tasks: get(&self.workflow_tasks),
            replays: get(&self.replays),
            cache_hits: get(&self.cache_hits),
            blocked: get(&self.blocked),
            activity_attempts: get(&self.activity_attempts),
            activities_completed: get(&self.activities_completed),
            activity_retries: get(&self.activity_retries),
            activities_failed: get(&self.activities_failed),
            timers_fired: get(&self.timers_fired),
            runs_closed: get(&self.runs_closed),
            running_activities,
        }
    }
}
