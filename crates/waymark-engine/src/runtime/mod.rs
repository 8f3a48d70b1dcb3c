//! The runtime: the [`Engine`] clients start and steer workflows through, and the worker
//! loops ([`Engine::spawn_workers`]) that decide runs, execute activities and fire timers.
//!
//! Execution model (ENGINE.md "Execution model"):
//! - Work is rows with leases ([`crate::store`]): workflow tasks, activity tasks, timers.
//! - A **step** is one transaction: the inputs it applies (an activity result, a timer
//!   firing, signals), the events the decision makes, the run row, and new tasks commit
//!   together, so an acknowledged step costs at most one fsync.
//! - The run's live state stays in a bounded in-memory cache on the process that last
//!   decided it ("sticky"); a step replays history only when the cache has no entry for the
//!   run or the run moved on elsewhere (another process decided it).
//! - An activity the decision schedules is started in the same step when this process has
//!   a free activity slot (eager dispatch), so a step of a chain of activities is one commit.
//! - Wake-ups are in-process notifications, PostgreSQL `LISTEN/NOTIFY` across processes, and
//!   polling as the fallback.

mod cache;
mod client;
mod stats;
mod step;
mod worker;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

pub use client::{CommandReceipt, StartOutcome, StartRequest};
pub use stats::EngineStats;
pub use worker::WorkerHandle;

use crate::activity::ActivityHandle;
use crate::ids::Namespace;
use crate::store::{EngineStore, StoreError, TaskKind};
use crate::time::Clock;
use crate::workflow::Registry;

/// Limits with Temporal's defaults (ENGINE.md "Limits"). All configurable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A payload (input, output, result, signal, side effect) above this is logged as a warning.
    pub payload_warn_bytes: usize,
    /// A payload above this is rejected (`limit_exceeded` at the door; `structural_limit`
    /// failure inside a run).
    pub payload_max_bytes: usize,
    /// A history longer than this is logged as a warning.
    pub history_warn_events: u64,
    /// A run whose history reaches this many events fails (`structural_limit`), unless it
    /// continued as new.
    pub history_max_events: u64,
    /// A run whose history payloads reach this many bytes fails the same way.
    pub history_max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            payload_warn_bytes: 256 * 1024,
            payload_max_bytes: 2 * 1024 * 1024,
            history_warn_events: 10_240,
            history_max_events: 51_200,
            history_max_bytes: 50 * 1024 * 1024,
        }
    }
}

/// How the engine runs.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// This process's worker id (lease owner), unique per process.
    pub worker_id: String,
    /// How long an activity attempt's lease lasts; renewed every third of it while the
    /// attempt runs, so a dead worker's attempt is taken over within about one lease.
    pub lease: Duration,
    /// How often idle workers look for work when no wake-up arrives.
    pub poll_interval: Duration,
    /// Activities this process runs at once.
    pub activity_concurrency: usize,
    /// Runs kept live in memory (the sticky cache).
    pub cache_capacity: usize,
    /// How often the repair sweep and the deadline watchdog run.
    pub sweep_interval: Duration,
    /// Payload and history limits.
    pub limits: Limits,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            worker_id: default_worker_id(),
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            activity_concurrency: 16,
            cache_capacity: 1024,
            sweep_interval: Duration::from_secs(5),
            limits: Limits::default(),
        }
    }
}

fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned());
    format!("{host}-{}-{}", std::process::id(), &crate::ids::ulid(chrono::Utc::now())[20..])
}

/// Why an engine call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// No workflow type with this key is registered.
    #[error("unknown workflow type {0:?}")]
    UnknownWorkflowType(String),
    /// The input, an id or visibility metadata is invalid; nothing was written.
    #[error("{0}")]
    InvalidArgument(String),
    /// The instance id is reserved for another workflow type.
    #[error("workflow instance {instance_id} is reserved for workflow type {workflow_type:?}")]
    InstanceTypeMismatch {
        /// The instance.
        instance_id: String,
        /// The type it belongs to.
        workflow_type: String,
    },
    /// A payload or the history is over a limit; nothing was written.
    #[error("{0}")]
    LimitExceeded(String),
    /// No such instance or run in the namespace.
    #[error("workflow {0} not found")]
    NotFound(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The durable-workflow engine: client operations plus, once spawned, the workers. Cheap to
/// clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("worker_id", &self.inner.config.worker_id)
            .field("registry", &self.inner.registry)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn EngineStore>,
    pub(crate) registry: Registry,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: EngineConfig,
    pub(crate) cache: Mutex<cache::RunCache>,
    pub(crate) wake: Wakeups,
    /// Attempts running in this process, by attempt id.
    pub(crate) running: Mutex<std::collections::HashMap<String, ActivityHandle>>,
    /// Free activity slots.
    pub(crate) slots: Arc<tokio::sync::Semaphore>,
    /// Whether workers run in this process (only then are activities started eagerly).
    pub(crate) workers_spawned: std::sync::atomic::AtomicBool,
    /// Counters for metrics.
    pub(crate) stats: stats::Counters,
}

/// In-process wake-ups.
#[derive(Debug, Default)]
pub(crate) struct Wakeups {
    pub(crate) workflow: Notify,
    pub(crate) activity: Notify,
    pub(crate) timer: Notify,
    /// Bumped whenever a run closes in this process (for waiters on a result).
    pub(crate) closed: tokio::sync::watch::Sender<u64>,
}

impl Wakeups {
    pub(crate) fn task(&self, kind: TaskKind) {
        match kind {
            TaskKind::Workflow => self.workflow.notify_one(),
            TaskKind::Activity => self.activity.notify_one(),
        }
    }

    pub(crate) fn run_closed(&self) {
        self.closed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl Engine {
    /// An engine over `store`, running the types in `registry`, reading time from `clock`.
    pub fn new(store: Arc<dyn EngineStore>, registry: Registry, clock: Arc<dyn Clock>, config: EngineConfig) -> Self {
        let slots = Arc::new(tokio::sync::Semaphore::new(config.activity_concurrency.max(1)));
        let cache = Mutex::new(cache::RunCache::new(config.cache_capacity));
        Self {
            inner: Arc::new(Inner {
                store,
                registry,
                clock,
                config,
                cache,
                wake: Wakeups::default(),
                running: Mutex::default(),
                slots,
                workers_spawned: std::sync::atomic::AtomicBool::new(false),
                stats: stats::Counters::default(),
            }),
        }
    }

    /// The registered workflow and activity types.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The storage the engine runs on (for reads: runs, history, failures).
    pub fn store(&self) -> &dyn EngineStore {
        self.inner.store.as_ref()
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// What this process's workers have done so far (for metrics).
    pub fn stats(&self) -> EngineStats {
        self.inner.stats.snapshot(self.inner.running().len() as u64)
    }

    /// "Now" on the engine's clock.
    pub fn now(&self) -> crate::time::Timestamp {
        self.inner.clock.now()
    }

    /// Waits until run `run_id` of `namespace` is closed or `timeout` passes (real time),
    /// and returns the run as last read. Wakes on closes in this process and polls every
    /// 200 ms for closes elsewhere.
    ///
    /// # Errors
    /// [`EngineError::Store`] when a read fails.
    pub async fn wait_closed(
        &self,
        namespace: &Namespace,
        run_id: &crate::ids::RunId,
        timeout: Duration,
    ) -> Result<Option<crate::store::RunRecord>, EngineError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut closed = self.inner.wake.closed.subscribe();
        loop {
            let run = self.inner.store.run(namespace, run_id).await?;
            let done = run.as_ref().is_none_or(|r| r.status.is_terminal());
            if done || tokio::time::Instant::now() >= deadline {
                return Ok(run);
            }
            let poll = tokio::time::sleep(Duration::from_millis(200));
            tokio::select! {
                _ = closed.changed() => {}
                () = poll => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }
}
