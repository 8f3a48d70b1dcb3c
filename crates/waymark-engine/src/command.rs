//! What workflow code asks for: the commands a decision produces. The runtime turns each into
//! history events and work (tasks, timers); on replay each is matched with the event recorded
//! for it.

use std::time::Duration;

use serde_json::Value;

use crate::event::{Event, Metadata};
use crate::retry::ActivityOptions;
use crate::status::FailureCategory;
use crate::time::Timestamp;

/// A request made by workflow code, numbered by its position `seq` among the run's commands.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Run an activity.
    ScheduleActivity {
        /// The command's position.
        seq: u64,
        /// The activity type.
        activity_type: String,
        /// Its input.
        input: Value,
        /// Retry policy and timeouts.
        options: ActivityOptions,
    },
    /// Give up on a scheduled activity (after a cancel request).
    CancelActivity {
        /// The activity's command position.
        seq: u64,
        /// The activity type.
        activity_type: String,
    },
    /// Start a durable timer.
    StartTimer {
        /// The command's position.
        seq: u64,
        /// The delay asked for.
        delay: Duration,
        /// When it fires.
        fire_at: Timestamp,
    },
    /// Give up on a timer (after a cancel request).
    CancelTimer {
        /// The timer's command position.
        seq: u64,
    },
    /// Record a side effect's value.
    RecordSideEffect {
        /// The command's position.
        seq: u64,
        /// The value.
        result: Value,
    },
    /// Record a version marker.
    RecordVersionMarker {
        /// The command's position.
        seq: u64,
        /// The change.
        change_id: String,
    },
    /// Upsert search attributes.
    UpsertSearchAttributes {
        /// The command's position.
        seq: u64,
        /// The attributes given.
        attributes: Metadata,
        /// All attributes after the upsert.
        merged: Metadata,
    },
    /// Upsert memo entries.
    UpsertMemo {
        /// The command's position.
        seq: u64,
        /// The entries given.
        entries: Metadata,
        /// The whole memo after the upsert.
        merged: Metadata,
    },
    /// Close the run with an output.
    CompleteWorkflow {
        /// The output.
        output: Value,
    },
    /// Close the run with a failure.
    FailWorkflow(Failure),
    /// Close the run and start a new one of the same instance.
    ContinueAsNew {
        /// The command's position.
        seq: u64,
        /// The new run's input.
        input: Value,
    },
    /// Close the run as cancelled (the workflow let a cancel request end it).
    CancelWorkflow,
}

/// A failure as recorded in history and the failures table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// `workflow` or `activity`.
    pub source_kind: String,
    /// The failing activity execution, if any.
    pub source_id: Option<String>,
    /// The category.
    pub category: FailureCategory,
    /// The error's type.
    pub exception_type: String,
    /// The error's message.
    pub message: String,
    /// Whether it was raised as non-retryable.
    pub non_retryable: bool,
}

impl Command {
    /// Whether it closes the run.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::CompleteWorkflow { .. } | Self::FailWorkflow(_) | Self::ContinueAsNew { .. } | Self::CancelWorkflow
        )
    }

    /// A short description for nondeterminism reports.
    pub fn describe(&self) -> String {
        match self {
            Self::ScheduleActivity { seq, activity_type, .. } => {
                format!("ActivityScheduled({activity_type}) at command {seq}")
            }
            Self::CancelActivity { seq, .. } => format!("ActivityCancelled at command {seq}"),
            Self::StartTimer { seq, .. } => format!("TimerScheduled at command {seq}"),
            Self::CancelTimer { seq } => format!("TimerCancelled at command {seq}"),
            Self::RecordSideEffect { seq, .. } => format!("SideEffectRecorded at command {seq}"),
            Self::RecordVersionMarker { seq, change_id } => {
                format!("VersionMarkerRecorded({change_id}) at command {seq}")
            }
            Self::UpsertSearchAttributes { seq, .. } => format!("SearchAttributesUpserted at command {seq}"),
            Self::UpsertMemo { seq, .. } => format!("MemoUpserted at command {seq}"),
            Self::CompleteWorkflow { .. } => "WorkflowCompleted".to_owned(),
            Self::FailWorkflow(_) => "WorkflowFailed".to_owned(),
            Self::ContinueAsNew { seq, .. } => format!("WorkflowContinuedAsNew at command {seq}"),
            Self::CancelWorkflow => "WorkflowCancelled".to_owned(),
        }
    }

    /// Whether `event` is the history record of this command (the replay match).
    pub fn matches(&self, event: &Event) -> bool {
        match (self, event) {
            (Self::ScheduleActivity { seq, activity_type, .. }, Event::ActivityScheduled(e)) => {
                e.activity.sequence == *seq && &e.activity.activity_type == activity_type
            }
            (Self::CancelActivity { seq, .. }, Event::ActivityCancelled(e)) => e.activity.sequence == *seq,
            (Self::StartTimer { seq, .. }, Event::TimerScheduled(e)) => e.sequence == *seq,
            (Self::CancelTimer { seq }, Event::TimerCancelled(e)) => e.sequence == *seq,
            (Self::RecordSideEffect { seq, .. }, Event::SideEffectRecorded(e)) => e.sequence == *seq,
            (Self::RecordVersionMarker { seq, change_id }, Event::VersionMarkerRecorded(e)) => {
                e.sequence == *seq && &e.change_id == change_id
            }
            (Self::UpsertSearchAttributes { seq, .. }, Event::SearchAttributesUpserted(e)) => e.sequence == *seq,
            (Self::UpsertMemo { seq, .. }, Event::MemoUpserted(e)) => e.sequence == *seq,
            (Self::CompleteWorkflow { .. }, Event::WorkflowCompleted(_))
            | (Self::FailWorkflow(_), Event::WorkflowFailed(_))
            | (Self::CancelWorkflow, Event::WorkflowCancelled(_)) => true,
            (Self::ContinueAsNew { seq, .. }, Event::WorkflowContinuedAsNew(e)) => e.sequence == *seq,
            _ => false,
        }
    }
}

/// How replay treats a recorded event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventRole {
    /// A fact the workflow reacts to (a result, a timer firing, a signal, a cancel request):
    /// applied, then the workflow is polled.
    Input,
    /// The record of a command; matched with what the code asks for.
    Command,
    /// A closing fact not made by workflow code (terminate, timeout, structural limit).
    Close,
    /// Informational (starts, attempts, heartbeats, retries, repairs): ignored by replay.
    Info,
}

impl EventRole {
    pub(crate) fn of(event: &Event) -> Self {
        match event {
            Event::ActivityCompleted(_)
            | Event::ActivityFailed(_)
            | Event::ActivityTimedOut(_)
            | Event::TimerFired(_)
            | Event::SignalReceived(_)
            | Event::CancelRequested(_)
            | Event::ChildRunCompleted(_)
            | Event::ChildRunFailed(_)
            | Event::ChildRunCancelled(_)
            | Event::ChildRunTerminated(_) => Self::Input,
            Event::ActivityScheduled(_)
            | Event::ActivityCancelled(_)
            | Event::TimerScheduled(_)
            | Event::TimerCancelled(_)
            | Event::SideEffectRecorded(_)
            | Event::VersionMarkerRecorded(_)
            | Event::SearchAttributesUpserted(_)
            | Event::MemoUpserted(_)
            | Event::WorkflowCompleted(_)
            | Event::WorkflowContinuedAsNew(_)
            | Event::WorkflowCancelled(_)
            | Event::ChildWorkflowScheduled(_) => Self::Command,
            Event::WorkflowFailed(e) if e.source_kind == "workflow" || e.source_kind == "activity" => Self::Command,
            Event::WorkflowFailed(_) | Event::WorkflowTerminated(_) | Event::WorkflowTimedOut(_) => Self::Close,
            Event::StartAccepted(_)
            | Event::StartRejected(_)
            | Event::WorkflowStarted(_)
            | Event::TerminateRequested(_)
            | Event::RepairRequested(_)
            | Event::ActivityStarted(_)
            | Event::ActivityHeartbeatRecorded(_)
            | Event::ActivityRetryScheduled(_)
            | Event::UpdateAccepted(_)
            | Event::UpdateRejected(_)
            | Event::UpdateCompleted(_)
            | Event::ChildRunStarted(_)
            | Event::FailureHandled(_) => Self::Info,
        }
    }
}
