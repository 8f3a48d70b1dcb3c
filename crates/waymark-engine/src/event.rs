//! Typed history events (ENGINE.md "History event types").
//!
//! A run's history is a list of [`HistoryEvent`]s with a per-run `sequence` starting at 1 and
//! contiguous. Each [`Event`] variant is a past-tense fact with a typed payload; its
//! `event_type` string is the seed's PascalCase name and its payload keys follow the seed's
//! `HistoryEventPayloadContract` (reference §3.2), minus PHP class names.
//!
//! Evolution rule (the seed's "parallel primitive only"): a reader ignores keys it does not
//! know, so adding an optional key is compatible; renaming, removing or narrowing a key needs
//! a new event type. Tags are never renamed or reused. The JSON of every variant is pinned by
//! an insta snapshot (`src/snapshots/`), so an accidental change fails the tests.
//!
//! An event type read from storage that this build does not know is [`EventError::UnknownType`]
//! and a payload that does not fit its type is [`EventError::InvalidPayload`]: typed errors,
//! never panics.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{InstanceId, RunId};
use crate::retry::ActivityOptions;
use crate::status::{ClosedReason, CommandOutcome, CommandType, FailureCategory, ParentClosePolicy, TaskProblem};
use crate::time::{Timestamp, iso_ts, iso_ts_opt, secs, secs_opt};

/// Any JSON value carried in history (inputs, outputs, results, signal arguments).
pub type Payload = Value;

/// A string-keyed JSON map with sorted keys (memo, search attributes).
pub type Metadata = BTreeMap<String, Value>;

/// Visibility labels: string to string, sorted keys.
pub type Labels = BTreeMap<String, String>;

/// One row of a run's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// The event's id (a ULID).
    pub id: String,
    /// Its position in the run's history: 1, 2, 3, ... without gaps.
    pub sequence: u64,
    /// When it was recorded.
    #[serde(with = "iso_ts")]
    pub recorded_at: Timestamp,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// A history event that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The stored `event_type` is not one this build knows.
    #[error("unknown history event type {0:?}")]
    UnknownType(String),
    /// The payload does not fit the event type.
    #[error("invalid payload for {event_type}: {message}")]
    InvalidPayload {
        /// The event type.
        event_type: String,
        /// What did not fit.
        message: String,
    },
}

macro_rules! events {
    ($( $(#[$doc:meta])* $variant:ident($payload:ty) ),* $(,)?) => {
        /// What happened: the event type and its typed payload. Serialized adjacently as
        /// `{"event_type": "...", "payload": {...}}`.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "event_type", content = "payload")]
        pub enum Event {
            $( $(#[$doc])* $variant($payload), )*
        }

        impl Event {
            /// Every event type this build knows, in declaration order.
            pub const TYPES: &'static [&'static str] = &[$(stringify!($variant)),*];

            /// The `event_type` string.
            pub fn event_type(&self) -> &'static str {
                match self { $(Self::$variant(_) => stringify!($variant)),* }
            }

            /// The payload as a JSON object.
            pub fn payload(&self) -> Value {
                let value = match self { $(Self::$variant(p) => serde_json::to_value(p)),* };
                value.unwrap_or_else(|_| Value::Object(serde_json::Map::new()))
            }
        }
    };
}

events! {
    // Start and close.
    /// A start command was accepted: a new run (`started_new`) or an existing active one
    /// (`returned_existing_active`, appended to that run).
    StartAccepted(StartRecorded),
    /// A duplicate start was rejected (`rejected_duplicate`), appended to the existing run.
    StartRejected(StartRecorded),
    /// The run began; carries its input and visibility metadata.
    WorkflowStarted(WorkflowStarted),
    /// The workflow returned its output.
    WorkflowCompleted(WorkflowCompleted),
    /// The workflow failed (its code returned an error, or a structural limit was hit).
    WorkflowFailed(WorkflowFailed),
    /// The run or execution timeout passed.
    WorkflowTimedOut(WorkflowTimedOut),
    /// The run closed and a new run of the same instance began.
    WorkflowContinuedAsNew(WorkflowContinuedAsNew),
    // Operator.
    /// Someone asked the workflow to cancel; the workflow sees it and may clean up.
    CancelRequested(OperatorRequest),
    /// The run closed as cancelled.
    WorkflowCancelled(RunClosedByOperator),
    /// Someone asked to terminate the run.
    TerminateRequested(OperatorRequest),
    /// The run was force-closed.
    WorkflowTerminated(RunClosedByOperator),
    /// Someone asked to repair the run (recreate its missing work, retry a blocked task).
    RepairRequested(RepairRequested),
    // Activities.
    /// The workflow asked for an activity.
    ActivityScheduled(ActivityScheduled),
    /// A worker took an attempt of the activity.
    ActivityStarted(ActivityStarted),
    /// The running attempt reported progress.
    ActivityHeartbeatRecorded(ActivityHeartbeatRecorded),
    /// An attempt failed and another is scheduled (the workflow is not woken).
    ActivityRetryScheduled(ActivityRetryScheduled),
    /// The activity returned a result.
    ActivityCompleted(ActivityCompleted),
    /// The activity failed for good (non-retryable, or attempts exhausted).
    ActivityFailed(ActivityFailed),
    /// The activity's schedule-to-close timeout passed.
    ActivityTimedOut(ActivityTimedOut),
    /// The workflow gave up on the activity (it was cancelled).
    ActivityCancelled(ActivityCancelled),
    // Timers.
    /// The workflow started a durable timer.
    TimerScheduled(TimerScheduled),
    /// The timer fired (never before `fire_at`).
    TimerFired(TimerFired),
    /// The workflow gave up on the timer.
    TimerCancelled(TimerCancelled),
    // Messages.
    /// A signal was delivered to the run.
    SignalReceived(SignalReceived),
    /// An update was accepted.
    UpdateAccepted(UpdateAccepted),
    /// An update was rejected by its validator.
    UpdateRejected(UpdateRejected),
    /// An update finished, with a result or a failure.
    UpdateCompleted(UpdateCompleted),
    // Children.
    /// The workflow asked for a child workflow.
    ChildWorkflowScheduled(ChildWorkflowScheduled),
    /// The child's run began.
    ChildRunStarted(ChildRunStarted),
    /// The child completed.
    ChildRunCompleted(ChildRunCompleted),
    /// The child failed.
    ChildRunFailed(ChildRunFailed),
    /// The child was cancelled.
    ChildRunCancelled(ChildRunClosed),
    /// The child was terminated.
    ChildRunTerminated(ChildRunClosed),
    // Markers.
    /// A side effect's result, recorded once and replayed.
    SideEffectRecorded(SideEffectRecorded),
    /// A version marker (`patched`).
    VersionMarkerRecorded(VersionMarkerRecorded),
    /// The workflow upserted search attributes.
    SearchAttributesUpserted(SearchAttributesUpserted),
    /// The workflow upserted memo entries.
    MemoUpserted(MemoUpserted),
    /// Workflow code caught a failed activity or child and went on.
    FailureHandled(FailureHandled),
}

impl Event {
    /// Reads an event back from its stored parts.
    ///
    /// # Errors
    /// [`EventError::UnknownType`] for an event type this build does not know;
    /// [`EventError::InvalidPayload`] when the payload does not fit it.
    pub fn from_parts(event_type: &str, payload: Value) -> Result<Self, EventError> {
        if !Self::TYPES.contains(&event_type) {
            return Err(EventError::UnknownType(event_type.to_owned()));
        }
        let tagged = serde_json::json!({ "event_type": event_type, "payload": payload });
        serde_json::from_value(tagged)
            .map_err(|e| EventError::InvalidPayload { event_type: event_type.to_owned(), message: e.to_string() })
    }

    /// The payload's top-level keys, sorted (`payload_keys` in `get_workflow_history`).
    pub fn payload_keys(&self) -> Vec<String> {
        match self.payload() {
            Value::Object(map) => {
                let mut keys: Vec<String> = map.keys().cloned().collect();
                keys.sort();
                keys
            }
            _ => Vec::new(),
        }
    }
}

/// Payload of `StartAccepted` and `StartRejected`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartRecorded {
    /// The start command's id.
    pub workflow_command_id: String,
    /// The instance.
    pub workflow_instance_id: InstanceId,
    /// The run the event is appended to.
    pub workflow_run_id: RunId,
    /// The workflow type key.
    pub workflow_type: String,
    /// The operator-facing key given with the start.
    pub business_key: Option<String>,
    /// Labels given with the start.
    #[serde(default)]
    pub visibility_labels: Labels,
    /// Memo given with the start.
    #[serde(default)]
    pub memo: Metadata,
    /// Search attributes given with the start.
    #[serde(default)]
    pub search_attributes: Metadata,
    /// `started_new`, `returned_existing_active` or `rejected_duplicate`.
    pub outcome: CommandOutcome,
    /// Why a start was rejected (`instance_already_started`).
    pub rejection_reason: Option<String>,
}

/// Payload of `WorkflowStarted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowStarted {
    /// The workflow type key.
    pub workflow_type: String,
    /// The instance.
    pub workflow_instance_id: InstanceId,
    /// This run.
    pub workflow_run_id: RunId,
    /// The start command, when a command (not continue-as-new) began the run.
    pub workflow_command_id: Option<String>,
    /// 1 for the first run of the instance, +1 per continue-as-new.
    pub run_number: u32,
    /// The workflow's input.
    pub input: Payload,
    /// The operator-facing key.
    pub business_key: Option<String>,
    /// Visibility labels.
    #[serde(default)]
    pub visibility_labels: Labels,
    /// Memo (merged, carried across continue-as-new).
    #[serde(default)]
    pub memo: Metadata,
    /// Search attributes (merged, carried across continue-as-new).
    #[serde(default)]
    pub search_attributes: Metadata,
    /// The execution timeout (spans continue-as-new), in seconds.
    #[serde(with = "secs_opt", default)]
    pub execution_timeout_seconds: Option<Duration>,
    /// The run timeout, in seconds.
    #[serde(with = "secs_opt", default)]
    pub run_timeout_seconds: Option<Duration>,
    /// When the execution times out.
    #[serde(with = "iso_ts_opt", default)]
    pub execution_deadline_at: Option<Timestamp>,
    /// When this run times out.
    #[serde(with = "iso_ts_opt", default)]
    pub run_deadline_at: Option<Timestamp>,
    /// The run this one continues, after continue-as-new.
    pub continued_from_run_id: Option<RunId>,
    /// The signal names the workflow type declares.
    #[serde(default)]
    pub declared_signals: Vec<String>,
}

/// Payload of `WorkflowCompleted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowCompleted {
    /// The workflow's output.
    pub output: Payload,
}

/// Payload of `WorkflowFailed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowFailed {
    /// The failure row's id.
    pub failure_id: String,
    /// What failed: `workflow`, `activity`, `child`, `structural_limit`.
    pub source_kind: String,
    /// The failing source's id (an activity execution id, ...), if any.
    pub source_id: Option<String>,
    /// The failure category.
    pub failure_category: FailureCategory,
    /// Whether the error was raised as non-retryable.
    pub non_retryable: bool,
    /// The error's type name.
    pub exception_type: String,
    /// The error's message.
    pub message: String,
    /// For `structural_limit`: which limit (`history_length`, `history_size`, `payload_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structural_limit_kind: Option<String>,
    /// For `structural_limit`: the value that broke it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structural_limit_value: Option<u64>,
    /// For `structural_limit`: the configured limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structural_limit_configured: Option<u64>,
}

/// Payload of `WorkflowTimedOut`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowTimedOut {
    /// The failure row's id.
    pub failure_id: String,
    /// `execution_timeout` or `run_timeout`.
    pub timeout_kind: String,
    /// Always `timeout`.
    pub failure_category: FailureCategory,
    /// What happened, for people.
    pub message: String,
    /// The execution deadline, if any.
    #[serde(with = "iso_ts_opt", default)]
    pub execution_deadline_at: Option<Timestamp>,
    /// The run deadline, if any.
    #[serde(with = "iso_ts_opt", default)]
    pub run_deadline_at: Option<Timestamp>,
}

/// Payload of `WorkflowContinuedAsNew`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowContinuedAsNew {
    /// The workflow command's position.
    pub sequence: u64,
    /// The new run.
    pub continued_to_run_id: RunId,
    /// The new run's number.
    pub continued_to_run_number: u32,
    /// Always `continued`.
    pub closed_reason: ClosedReason,
    /// The new run's input.
    pub input: Payload,
}

/// Payload of `CancelRequested` and `TerminateRequested`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatorRequest {
    /// The command's id.
    pub workflow_command_id: String,
    /// The instance.
    pub workflow_instance_id: InstanceId,
    /// The run.
    pub workflow_run_id: RunId,
    /// `cancel` or `terminate`.
    pub command_type: CommandType,
    /// The reason given, if any.
    pub reason: Option<String>,
}

/// Payload of `WorkflowCancelled` and `WorkflowTerminated`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunClosedByOperator {
    /// The command that caused it, if any.
    pub workflow_command_id: Option<String>,
    /// The instance.
    pub workflow_instance_id: InstanceId,
    /// The run.
    pub workflow_run_id: RunId,
    /// The failure row's id.
    pub failure_id: String,
    /// `cancelled` or `terminated`.
    pub failure_category: FailureCategory,
    /// `cancelled` or `terminated`.
    pub closed_reason: ClosedReason,
    /// What happened, for people.
    pub message: String,
    /// The reason given, if any.
    pub reason: Option<String>,
}

/// Payload of `RepairRequested`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepairRequested {
    /// The command's id.
    pub workflow_command_id: String,
    /// The instance.
    pub workflow_instance_id: InstanceId,
    /// The run.
    pub workflow_run_id: RunId,
    /// Always `repair`.
    pub command_type: CommandType,
    /// `repair_dispatched` or `repair_not_needed`.
    pub outcome: CommandOutcome,
    /// The problem that blocked the run, if any.
    pub task_problem: Option<TaskProblem>,
    /// Which kind of task was recreated (`workflow`, `activity`, `timer`), if any.
    pub task_type: Option<String>,
}

/// The activity an activity event is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityRef {
    /// The logical activity, stable across retries: the recommended idempotency key.
    pub activity_execution_id: String,
    /// The activity type key.
    pub activity_type: String,
    /// The workflow command's position.
    pub sequence: u64,
}

/// Payload of `ActivityScheduled`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityScheduled {
    /// The activity.
    #[serde(flatten)]
    pub activity: ActivityRef,
    /// The activity's input.
    pub input: Payload,
    /// Retry policy and timeouts.
    pub options: ActivityOptions,
}

/// Payload of `ActivityStarted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityStarted {
    /// The activity.
    #[serde(flatten)]
    pub activity: ActivityRef,
    /// This attempt's id.
    pub activity_attempt_id: String,
    /// 1 for the first attempt.
    pub attempt_number: u32,
    /// When the worker's lease on the attempt runs out unless renewed.
    #[serde(with = "iso_ts")]
    pub lease_expires_at: Timestamp,
    /// The worker that took it.
    pub worker_id: String,
}

/// Payload of `ActivityHeartbeatRecorded`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityHeartbeatRecorded {
    /// The activity.
    #[serde(flatten)]
    pub activity: ActivityRef,
    /// The attempt.
    pub activity_attempt_id: String,
    /// Its number.
    pub attempt_number: u32,
    /// When the heartbeat arrived.
    #[serde(with = "iso_ts")]
    pub heartbeat_at: Timestamp,
    /// The extended lease.
    #[serde(with = "iso_ts")]
    pub lease_expires_at: Timestamp,
    /// The progress reported.
    pub progress: Payload,
}

/// Payload of `ActivityRetryScheduled`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityRetryScheduled {
    /// The activity.
    #[serde(flatten)]
    pub activity: ActivityRef,
    /// The attempt that failed.
    pub activity_attempt_id: String,
    /// Its number.
    pub attempt_number: u32,
    /// When the next attempt may start.
    #[serde(with = "iso_ts")]
    pub retry_available_at: Timestamp,
    /// The wait, in seconds.
    #[serde(with = "secs")]
    pub retry_backoff_seconds: Duration,
    /// The policy's maximum attempts (0 = unlimited).
    pub max_attempts: u32,
    /// `failed`, `timed_out` or `lease_expired`.
    pub retry_reason: String,
    /// The error's type, when the attempt failed with one.
    pub exception_type: Option<String>,
    /// What went wrong.
    pub message: String,
}

/// Payload of `ActivityCompleted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityCompleted {
    /// The activity.
    #[serde(flatten)]
    pub activity: ActivityRef,
    /// The attempt that completed.
    pub activity_attempt_id: String,
    /// Its number.
    pub attempt_number: u32,
    /// The activity's result.
    pub result: Payload,
}

/// Payload of `ActivityFailed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityFailed {
    /// The activity.
    #[serde(flatten)]
    pub activity: ActivityRef,
    /// The last attempt.
    pub activity_attempt_id: String,
    /// Its number.
    pub attempt_number: u32,
    /// The failure row's id.
    pub failure_id: String,
    /// `application`, or `activity` when attempts are exhausted.
    pub failure_category: FailureCategory,
    /// Whether the error was raised as non-retryable.
    pub non_retryable: bool,
    /// The error's type.
    pub exception_type: String,
    /// The error's message.
    pub message: String,
}

/// Payload of `ActivityTimedOut`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityTimedOut {
    /// The activity.
    #[serde(flatten)]
    pub activity: ActivityRef,
    /// The last attempt, if one started.
    pub activity_attempt_id: Option<String>,
    /// Attempts made.
    pub attempt_number: u32,
    /// The failure row's id.
    pub failure_id: String,
    /// Always `timeout`.
    pub failure_category: FailureCategory,
    /// `schedule_to_close`, `start_to_close` or `heartbeat`.
    pub timeout_kind: String,
    /// What happened.
    pub message: String,
}

/// Payload of `ActivityCancelled`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityCancelled {
    /// The activity.
    #[serde(flatten)]
    pub activity: ActivityRef,
    /// The running attempt, if one was running.
    pub activity_attempt_id: Option<String>,
    /// Attempts made.
    pub attempt_number: u32,
    /// When it was cancelled.
    #[serde(with = "iso_ts")]
    pub cancelled_at: Timestamp,
}

/// Payload of `TimerScheduled`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimerScheduled {
    /// The timer's id.
    pub timer_id: String,
    /// The workflow command's position.
    pub sequence: u64,
    /// The delay asked for, in seconds.
    #[serde(with = "secs")]
    pub delay_seconds: Duration,
    /// When it fires.
    #[serde(with = "iso_ts")]
    pub fire_at: Timestamp,
}

/// Payload of `TimerFired`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimerFired {
    /// The timer's id.
    pub timer_id: String,
    /// The workflow command's position.
    pub sequence: u64,
    /// The delay asked for, in seconds.
    #[serde(with = "secs")]
    pub delay_seconds: Duration,
    /// When it was due.
    #[serde(with = "iso_ts")]
    pub fire_at: Timestamp,
    /// When it fired (never before `fire_at`).
    #[serde(with = "iso_ts")]
    pub fired_at: Timestamp,
}

/// Payload of `TimerCancelled`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimerCancelled {
    /// The timer's id.
    pub timer_id: String,
    /// The workflow command's position.
    pub sequence: u64,
    /// The delay asked for, in seconds.
    #[serde(with = "secs")]
    pub delay_seconds: Duration,
    /// When it would have fired.
    #[serde(with = "iso_ts")]
    pub fire_at: Timestamp,
    /// When it was cancelled.
    #[serde(with = "iso_ts")]
    pub cancelled_at: Timestamp,
}

/// Payload of `SignalReceived`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignalReceived {
    /// The signal command's id.
    pub workflow_command_id: String,
    /// The signal's id.
    pub signal_id: String,
    /// The instance.
    pub workflow_instance_id: InstanceId,
    /// The run it was delivered to.
    pub workflow_run_id: RunId,
    /// The signal's name.
    pub signal_name: String,
    /// Its arguments.
    pub arguments: Payload,
}

/// Payload of `UpdateAccepted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpdateAccepted {
    /// The update command's id.
    pub workflow_command_id: String,
    /// The update's id.
    pub update_id: String,
    /// The instance.
    pub workflow_instance_id: InstanceId,
    /// The run.
    pub workflow_run_id: RunId,
    /// The update's name.
    pub update_name: String,
    /// Its arguments.
    pub arguments: Payload,
}

/// Payload of `UpdateRejected`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpdateRejected {
    /// The update command's id.
    pub workflow_command_id: String,
    /// The update's id.
    pub update_id: String,
    /// The instance.
    pub workflow_instance_id: InstanceId,
    /// The run.
    pub workflow_run_id: RunId,
    /// The update's name.
    pub update_name: String,
    /// Its arguments.
    pub arguments: Payload,
    /// Why the validator refused it.
    pub validation_errors: Vec<String>,
}

/// Payload of `UpdateCompleted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpdateCompleted {
    /// The update command's id.
    pub workflow_command_id: String,
    /// The update's id.
    pub update_id: String,
    /// The instance.
    pub workflow_instance_id: InstanceId,
    /// The run.
    pub workflow_run_id: RunId,
    /// The update's name.
    pub update_name: String,
    /// The handler's result, when it succeeded.
    pub result: Option<Payload>,
    /// The failure row's id, when it failed.
    pub failure_id: Option<String>,
    /// The error's type, when it failed.
    pub exception_type: Option<String>,
    /// The error's message, when it failed.
    pub message: Option<String>,
}

/// The child workflow a child event is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildRef {
    /// The workflow command's position.
    pub sequence: u64,
    /// The child's instance.
    pub child_workflow_instance_id: InstanceId,
    /// The child's run, once started.
    pub child_workflow_run_id: Option<RunId>,
    /// The child's workflow type.
    pub child_workflow_type: String,
}

/// Payload of `ChildWorkflowScheduled`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChildWorkflowScheduled {
    /// The child.
    #[serde(flatten)]
    pub child: ChildRef,
    /// What happens to it when the parent closes.
    pub parent_close_policy: ParentClosePolicy,
    /// Its input.
    pub input: Payload,
}

/// Payload of `ChildRunStarted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChildRunStarted {
    /// The child.
    #[serde(flatten)]
    pub child: ChildRef,
    /// The child run's number.
    pub child_run_number: u32,
}

/// Payload of `ChildRunCompleted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChildRunCompleted {
    /// The child.
    #[serde(flatten)]
    pub child: ChildRef,
    /// Its output.
    pub output: Payload,
}

/// Payload of `ChildRunFailed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChildRunFailed {
    /// The child.
    #[serde(flatten)]
    pub child: ChildRef,
    /// The failure row's id.
    pub failure_id: String,
    /// Always `child_workflow`.
    pub failure_category: FailureCategory,
    /// The child's error type.
    pub exception_type: String,
    /// The child's error message.
    pub message: String,
}

/// Payload of `ChildRunCancelled` and `ChildRunTerminated`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChildRunClosed {
    /// The child.
    #[serde(flatten)]
    pub child: ChildRef,
    /// The failure row's id.
    pub failure_id: String,
    /// `cancelled` or `terminated`.
    pub failure_category: FailureCategory,
    /// What happened.
    pub message: String,
}

/// Payload of `SideEffectRecorded`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SideEffectRecorded {
    /// The workflow command's position.
    pub sequence: u64,
    /// The recorded value.
    pub result: Payload,
}

/// Payload of `VersionMarkerRecorded`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionMarkerRecorded {
    /// The workflow command's position.
    pub sequence: u64,
    /// The change the marker names.
    pub change_id: String,
    /// The version chosen (1 for `patched`).
    pub version: i32,
    /// The lowest version the code supports (-1 = the code before any marker).
    pub min_supported: i32,
    /// The highest version the code supports.
    pub max_supported: i32,
}

/// Payload of `SearchAttributesUpserted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchAttributesUpserted {
    /// The workflow command's position.
    pub sequence: u64,
    /// The attributes given (a null value deletes the key).
    pub attributes: Metadata,
    /// All attributes after the upsert.
    pub merged: Metadata,
}

/// Payload of `MemoUpserted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoUpserted {
    /// The workflow command's position.
    pub sequence: u64,
    /// The entries given (a null value deletes the key).
    pub entries: Metadata,
    /// The whole memo after the upsert.
    pub merged: Metadata,
}

/// Payload of `FailureHandled`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailureHandled {
    /// The failure row's id.
    pub failure_id: String,
    /// The workflow command's position of the failed call.
    pub sequence: u64,
    /// The failure's category.
    pub failure_category: FailureCategory,
    /// `activity` or `child`.
    pub source_kind: String,
    /// The failed activity execution or child instance.
    pub source_id: String,
    /// The error's type.
    pub exception_type: String,
    /// The error's message.
    pub message: String,
}

#[cfg(test)]
mod tests;
