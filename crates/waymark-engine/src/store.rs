//! The store port: what the engine needs from storage, as traits the store crate implements
//! (`waymark-store` for SQLite and PostgreSQL).
//!
//! Every change the engine makes happens inside one [`EngineTx`]: a step's history events,
//! run row, tasks, activity rows, timers and failures commit together or not at all, so an
//! acknowledged step costs at most one fsync. The engine decides; the store only reads and
//! writes rows.
//!
//! Concurrency contract:
//! - [`EngineTx::lock_run`] and [`EngineTx::lock_instance`] lock the row until commit
//!   (PostgreSQL `FOR UPDATE`; SQLite has one writer), so decisions on one run serialize.
//! - The `claim_*` methods take one due row that no other transaction holds (PostgreSQL
//!   `FOR UPDATE SKIP LOCKED`), so workers in many processes share the work.
//! - [`EngineTx::append_events`] fails with [`StoreError::Conflict`] if a `(run_id, sequence)`
//!   already exists: a concurrent writer gets a conflict, never a duplicate.

use std::time::Duration;

use serde_json::Value;

use crate::event::{Labels, Metadata};
use crate::ids::{InstanceId, Namespace, RunId};
use crate::retry::ActivityOptions;
use crate::status::{
    ClosedReason, CommandOutcome, CommandStatus, CommandType, FailureCategory, RunStatus, TaskProblem, WaitKind,
};
use crate::time::Timestamp;

/// A storage failure, as the engine sees it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (a concurrent writer won); retry the whole transaction.
    #[error("conflict with a concurrent writer")]
    Conflict,
    /// The database cannot be reached.
    #[error("cannot reach the database: {0}")]
    Unreachable(String),
    /// A stored row could not be read back.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
}

/// A workflow instance row.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceRecord {
    /// The tenant.
    pub namespace: Namespace,
    /// The instance id.
    pub instance_id: InstanceId,
    /// The workflow type key it was reserved for.
    pub workflow_type: String,
    /// The newest run, if any (a hint; the newest run by `run_number` is authoritative).
    pub current_run_id: Option<RunId>,
    /// Runs made so far.
    pub run_count: u32,
    /// When it was reserved.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// A workflow run row.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    /// The run id.
    pub run_id: RunId,
    /// The tenant.
    pub namespace: Namespace,
    /// The instance.
    pub instance_id: InstanceId,
    /// 1 for the first run of the instance.
    pub run_number: u32,
    /// The workflow type key.
    pub workflow_type: String,
    /// The status.
    pub status: RunStatus,
    /// Why it closed, once closed.
    pub closed_reason: Option<ClosedReason>,
    /// What it waits for, while waiting.
    pub wait_kind: Option<WaitKind>,
    /// Why its workflow task cannot progress, if it cannot.
    pub task_problem: Option<TaskProblem>,
    /// The input.
    pub input: Value,
    /// The output, once completed.
    pub output: Option<Value>,
    /// The operator-facing key.
    pub business_key: Option<String>,
    /// Visibility labels.
    pub visibility_labels: Labels,
    /// Memo (merged).
    pub memo: Metadata,
    /// Search attributes (merged).
    pub search_attributes: Metadata,
    /// The highest history sequence (= the event count).
    pub last_sequence: u64,
    /// The history's size in bytes of payload JSON.
    pub history_size_bytes: u64,
    /// Signals and cancel requests waiting to be applied by a decision.
    pub pending_commands: u32,
    /// When the run times out.
    pub run_deadline_at: Option<Timestamp>,
    /// When the execution (all runs) times out.
    pub execution_deadline_at: Option<Timestamp>,
    /// The run this one continues.
    pub continued_from_run_id: Option<RunId>,
    /// Created.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Started (the `WorkflowStarted` time).
    pub started_at: Option<Timestamp>,
    /// Closed.
    pub closed_at: Option<Timestamp>,
}

/// A history event as stored: its type and payload are still raw, so a reader can show an
/// event this build does not know.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// The event's id.
    pub id: String,
    /// Its run.
    pub run_id: RunId,
    /// Its sequence in the run.
    pub sequence: u64,
    /// The `event_type` string.
    pub event_type: String,
    /// The payload object.
    pub payload: Value,
    /// When it was recorded.
    pub recorded_at: Timestamp,
}

/// A task's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskKind {
    /// A decision is due for the run.
    Workflow,
    /// An activity attempt is due.
    Activity,
}

impl TaskKind {
    /// `workflow` or `activity`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Workflow => "workflow",
            Self::Activity => "activity",
        }
    }

    /// Parses [`TaskKind::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "workflow" => Some(Self::Workflow),
            "activity" => Some(Self::Activity),
            _ => None,
        }
    }
}

/// A task's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// Waiting for `available_at`, then for a worker.
    Ready,
    /// Held by `lease_owner` until `lease_expires_at` (then claimable again).
    Leased,
    /// Done.
    Completed,
    /// No longer needed.
    Cancelled,
    /// Cannot progress (see the run's `task_problem`); a repair makes a new task.
    Failed,
}

impl TaskStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Leased => "leased",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }

    /// Parses [`TaskStatus::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "ready" => Some(Self::Ready),
            "leased" => Some(Self::Leased),
            "completed" => Some(Self::Completed),
            "cancelled" => Some(Self::Cancelled),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    /// Ready or leased.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Ready | Self::Leased)
    }
}

/// A task row: a workflow decision or an activity attempt to run.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRecord {
    /// The task id.
    pub id: String,
    /// The tenant.
    pub namespace: Namespace,
    /// The run.
    pub run_id: RunId,
    /// What to do.
    pub kind: TaskKind,
    /// Its state.
    pub status: TaskStatus,
    /// Not before.
    pub available_at: Timestamp,
    /// The worker holding it.
    pub lease_owner: Option<String>,
    /// When the lease runs out.
    pub lease_expires_at: Option<Timestamp>,
    /// Times claimed.
    pub attempt_count: u32,
    /// For activity tasks: the activity execution.
    pub activity_execution_id: Option<String>,
    /// Created.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// An activity execution's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActivityStatus {
    /// Waiting for an attempt (first or retry).
    Scheduled,
    /// An attempt is running.
    Running,
    /// Returned a result.
    Completed,
    /// Failed for good.
    Failed,
    /// Timed out for good.
    TimedOut,
    /// The workflow gave up on it.
    Cancelled,
}

impl ActivityStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses [`ActivityStatus::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "scheduled" => Some(Self::Scheduled),
            "running" => Some(Self::Running),
            "completed" => Some(Self::Completed),
            "failed" => Some(Self::Failed),
            "timed_out" => Some(Self::TimedOut),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }

    /// Scheduled or running.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Scheduled | Self::Running)
    }
}

/// An activity execution row: the logical activity, stable across attempts.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivityRecord {
    /// The execution id (the idempotency key).
    pub id: String,
    /// The tenant.
    pub namespace: Namespace,
    /// The run.
    pub run_id: RunId,
    /// The instance.
    pub instance_id: InstanceId,
    /// The workflow command's position.
    pub sequence: u64,
    /// The activity type.
    pub activity_type: String,
    /// Its input.
    pub input: Value,
    /// Retry policy and timeouts.
    pub options: ActivityOptions,
    /// Its state.
    pub status: ActivityStatus,
    /// Attempts started.
    pub attempt_count: u32,
    /// The running (or last) attempt.
    pub current_attempt_id: Option<String>,
    /// When it was scheduled.
    pub scheduled_at: Timestamp,
    /// When it closed.
    pub closed_at: Option<Timestamp>,
}

/// An activity attempt's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttemptStatus {
    /// A worker runs it.
    Running,
    /// It returned a result.
    Completed,
    /// It failed.
    Failed,
    /// Its lease ran out (the worker died or stalled); a late result is ignored.
    Expired,
    /// The workflow gave up on it.
    Cancelled,
}

impl AttemptStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses [`AttemptStatus::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "running" => Some(Self::Running),
            "completed" => Some(Self::Completed),
            "failed" => Some(Self::Failed),
            "expired" => Some(Self::Expired),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// An activity attempt row: one try.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptRecord {
    /// The attempt id.
    pub id: String,
    /// The activity execution.
    pub activity_execution_id: String,
    /// 1 for the first attempt.
    pub attempt_number: u32,
    /// Its state.
    pub status: AttemptStatus,
    /// The worker running it.
    pub worker_id: String,
    /// Started.
    pub started_at: Timestamp,
    /// When its lease runs out unless renewed.
    pub lease_expires_at: Timestamp,
    /// Closed.
    pub closed_at: Option<Timestamp>,
    /// Why it failed, if it did (`exception_type: message`).
    pub failure: Option<String>,
}

/// A timer's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimerStatus {
    /// Not fired yet.
    Pending,
    /// Fired.
    Fired,
    /// Given up.
    Cancelled,
}

impl TimerStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Fired => "fired",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses [`TimerStatus::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "fired" => Some(Self::Fired),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// A durable timer row; it is its own task (claimable once `fire_at` passed).
#[derive(Clone, Debug, PartialEq)]
pub struct TimerRecord {
    /// The timer id.
    pub id: String,
    /// The tenant.
    pub namespace: Namespace,
    /// The run.
    pub run_id: RunId,
    /// The workflow command's position.
    pub sequence: u64,
    /// The delay asked for.
    pub delay: Duration,
    /// When it fires.
    pub fire_at: Timestamp,
    /// Its state.
    pub status: TimerStatus,
    /// Created.
    pub created_at: Timestamp,
}

/// An external command row (start, signal, cancel, terminate, repair) with its outcome. Signal
/// and cancel commands also wait here until a decision applies them (`applied_at`).
#[derive(Clone, Debug, PartialEq)]
pub struct CommandRecord {
    /// The command id.
    pub id: String,
    /// The tenant.
    pub namespace: Namespace,
    /// The instance.
    pub instance_id: InstanceId,
    /// The run it resolved to, if any.
    pub run_id: Option<RunId>,
    /// What was asked.
    pub command_type: CommandType,
    /// Accepted or rejected.
    pub status: CommandStatus,
    /// What it did.
    pub outcome: Option<CommandOutcome>,
    /// Why it was rejected.
    pub rejection_reason: Option<String>,
    /// Who asked: `mcp`, `cli`, `library`, `workflow`.
    pub source: String,
    /// The command's data (signal name and arguments, a reason).
    pub payload: Value,
    /// When it was recorded.
    pub created_at: Timestamp,
    /// When a decision applied it (signals and cancel requests).
    pub applied_at: Option<Timestamp>,
}

/// A failure row (`failures[]` in `get_workflow_history`, `error` in `get_workflow_result`).
#[derive(Clone, Debug, PartialEq)]
pub struct FailureRecord {
    /// The failure id.
    pub id: String,
    /// The run.
    pub run_id: RunId,
    /// `workflow`, `activity`, `workflow_task`, `structural_limit`, `timeout`, `operator`.
    pub source_kind: String,
    /// The failing source's id, if any.
    pub source_id: Option<String>,
    /// The category.
    pub category: FailureCategory,
    /// The error's type.
    pub exception_type: String,
    /// The error's message.
    pub message: String,
    /// Raised as non-retryable.
    pub non_retryable: bool,
    /// Caught by workflow code.
    pub handled: bool,
    /// Recorded.
    pub created_at: Timestamp,
}

/// Which runs [`EngineStore::list_runs`] returns.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Only runs of this workflow type.
    pub workflow_type: Option<String>,
    /// Only runs after this one in the listing order: `(updated_at, run_id)` of the last run of
    /// the previous page (keyset paging).
    pub after: Option<(Timestamp, RunId)>,
    /// At most this many (most recently updated first).
    pub limit: u64,
}

/// One write transaction. Dropping it without [`EngineTx::commit`] rolls everything back.
#[async_trait::async_trait]
pub trait EngineTx: Send {
    /// Inserts the instance unless it exists, then locks and returns it; `true` when this call
    /// created it.
    async fn reserve_instance(&mut self, record: &InstanceRecord) -> Result<(InstanceRecord, bool), StoreError>;
    /// Locks and returns an instance.
    async fn lock_instance(
        &mut self,
        namespace: &Namespace,
        id: &InstanceId,
    ) -> Result<Option<InstanceRecord>, StoreError>;
    /// Updates an instance (by namespace and id).
    async fn update_instance(&mut self, record: &InstanceRecord) -> Result<(), StoreError>;

    /// Inserts a run.
    async fn insert_run(&mut self, run: &RunRecord) -> Result<(), StoreError>;
    /// Locks and returns a run of any namespace (the engine checks the namespace).
    async fn lock_run(&mut self, run_id: &RunId) -> Result<Option<RunRecord>, StoreError>;
    /// The newest run of an instance (highest `run_number`), locked.
    async fn lock_current_run(
        &mut self,
        namespace: &Namespace,
        id: &InstanceId,
    ) -> Result<Option<RunRecord>, StoreError>;
    /// Updates a run (by run id).
    async fn update_run(&mut self, run: &RunRecord) -> Result<(), StoreError>;

    /// Appends events to a run's history, in order.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if a `(run_id, sequence)` exists.
    async fn append_events(&mut self, events: &[StoredEvent]) -> Result<(), StoreError>;
    /// A run's whole history, by sequence.
    async fn history(&mut self, run_id: &RunId) -> Result<Vec<StoredEvent>, StoreError>;

    /// Inserts an external command.
    async fn insert_command(&mut self, command: &CommandRecord) -> Result<(), StoreError>;
    /// A run's signal and cancel commands not yet applied, oldest first.
    async fn unapplied_commands(&mut self, run_id: &RunId) -> Result<Vec<CommandRecord>, StoreError>;
    /// Marks commands applied.
    async fn mark_commands_applied(&mut self, ids: &[String], at: Timestamp) -> Result<(), StoreError>;

    /// Inserts a task.
    async fn insert_task(&mut self, task: &TaskRecord) -> Result<(), StoreError>;
    /// Takes one task of `kind` that is ready and due, or leased with an expired lease, and
    /// that no other transaction holds; oldest `available_at` first. Does not change it.
    async fn claim_task(&mut self, kind: TaskKind, now: Timestamp) -> Result<Option<TaskRecord>, StoreError>;
    /// The run's live (ready or leased) workflow task, if any.
    async fn live_workflow_task(&mut self, run_id: &RunId) -> Result<Option<TaskRecord>, StoreError>;
    /// The live task of an activity execution, if any.
    async fn live_activity_task(&mut self, activity_execution_id: &str) -> Result<Option<TaskRecord>, StoreError>;
    /// Updates a task (by id).
    async fn update_task(&mut self, task: &TaskRecord) -> Result<(), StoreError>;
    /// Sets every live task of the run to `status`.
    async fn close_live_tasks(&mut self, run_id: &RunId, status: TaskStatus, now: Timestamp) -> Result<(), StoreError>;

    /// Inserts an activity execution.
    async fn insert_activity(&mut self, activity: &ActivityRecord) -> Result<(), StoreError>;
    /// An activity execution.
    async fn activity(&mut self, id: &str) -> Result<Option<ActivityRecord>, StoreError>;
    /// The run's open (scheduled or running) activity executions.
    async fn open_activities(&mut self, run_id: &RunId) -> Result<Vec<ActivityRecord>, StoreError>;
    /// Updates an activity execution (by id).
    async fn update_activity(&mut self, activity: &ActivityRecord) -> Result<(), StoreError>;
    /// Inserts an attempt.
    async fn insert_attempt(&mut self, attempt: &AttemptRecord) -> Result<(), StoreError>;
    /// An attempt.
    async fn attempt(&mut self, id: &str) -> Result<Option<AttemptRecord>, StoreError>;
    /// Updates an attempt (by id).
    async fn update_attempt(&mut self, attempt: &AttemptRecord) -> Result<(), StoreError>;

    /// Inserts a timer.
    async fn insert_timer(&mut self, timer: &TimerRecord) -> Result<(), StoreError>;
    /// Takes one pending timer whose `fire_at` passed and that no other transaction holds.
    async fn claim_due_timer(&mut self, now: Timestamp) -> Result<Option<TimerRecord>, StoreError>;
    /// The run's pending timers.
    async fn pending_timers(&mut self, run_id: &RunId) -> Result<Vec<TimerRecord>, StoreError>;
    /// Updates a timer (by id).
    async fn update_timer(&mut self, timer: &TimerRecord) -> Result<(), StoreError>;

    /// Inserts a failure.
    async fn insert_failure(&mut self, failure: &FailureRecord) -> Result<(), StoreError>;
    /// Replaces the run's indexed search attributes with `attributes`.
    async fn replace_search_attributes(&mut self, run_id: &RunId, attributes: &Metadata) -> Result<(), StoreError>;

    /// Open runs whose run or execution deadline passed, locked, at most `limit`.
    async fn overdue_runs(&mut self, now: Timestamp, limit: u64) -> Result<Vec<RunRecord>, StoreError>;
    /// Open runs with no task problem that need a decision (status `pending`, or commands
    /// waiting) but have no live workflow task; at most `limit`.
    async fn runs_missing_workflow_task(&mut self, limit: u64) -> Result<Vec<RunRecord>, StoreError>;
    /// Open activity executions with no live task whose run is open; at most `limit`.
    async fn activities_missing_task(&mut self, limit: u64) -> Result<Vec<ActivityRecord>, StoreError>;

    /// Wakes other processes' workers for `kind` after commit (PostgreSQL `NOTIFY`; a no-op
    /// where there is no cross-process channel).
    async fn notify(&mut self, kind: TaskKind) -> Result<(), StoreError>;

    /// Commits.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] or another error; nothing is committed then.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// The storage the engine runs on.
#[async_trait::async_trait]
pub trait EngineStore: Send + Sync + std::fmt::Debug + 'static {
    /// Opens a write transaction (on SQLite, waits for the single writer).
    async fn begin(&self) -> Result<Box<dyn EngineTx>, StoreError>;

    /// An instance.
    async fn instance(&self, namespace: &Namespace, id: &InstanceId) -> Result<Option<InstanceRecord>, StoreError>;
    /// A run, if it belongs to `namespace`.
    async fn run(&self, namespace: &Namespace, run_id: &RunId) -> Result<Option<RunRecord>, StoreError>;
    /// The newest run of an instance.
    async fn current_run(&self, namespace: &Namespace, id: &InstanceId) -> Result<Option<RunRecord>, StoreError>;
    /// Runs of the namespace, newest first (by `updated_at`, then `created_at`).
    async fn list_runs(&self, namespace: &Namespace, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError>;
    /// The last `limit` events of a run with `sequence < before` (all when `None`), ascending.
    async fn history_page(
        &self,
        run_id: &RunId,
        before: Option<u64>,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// Events of a run with `sequence > after`, ascending, at most `limit`.
    async fn history_after(&self, run_id: &RunId, after: u64, limit: u64) -> Result<Vec<StoredEvent>, StoreError>;
    /// The run's latest failures, newest first.
    async fn failures(&self, run_id: &RunId, limit: u64) -> Result<Vec<FailureRecord>, StoreError>;
    /// The run's activity attempts (for the CLI's `workflow show`), by execution then number.
    async fn attempts(&self, run_id: &RunId) -> Result<Vec<(ActivityRecord, Vec<AttemptRecord>)>, StoreError>;

    /// A channel of cross-process wake-ups (PostgreSQL `LISTEN`), or `None` where the store
    /// has none (the runtime then relies on in-process wake-ups and polling).
    async fn listen(&self) -> Result<Option<tokio::sync::mpsc::Receiver<TaskKind>>, StoreError>;
}
