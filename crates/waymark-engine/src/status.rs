//! The engine's closed vocabularies: run statuses, close reasons, wait kinds, failure
//! categories, commands and their outcomes. Every string is the seed's (reference §2.3, §3.3,
//! §3.8); serde and `as_str` agree, and `ALL` lists each set in the seed's order.

use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    (
        $(#[$doc:meta])*
        pub enum $name:ident { $( $(#[$vdoc:meta])* $variant:ident => $text:literal ),* $(,)? }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $( $(#[$vdoc])* #[serde(rename = $text)] $variant ),* }

        impl $name {
            /// Every value, in the seed's order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }

            /// Parses a wire name.
            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($text => Some(Self::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// A run's status (`status`). `status_values` lists them in this order (the seed's
    /// `RunStatus::cases()`). An instance without a run reports [`RESERVED`] instead.
    pub enum RunStatus {
        /// The run exists and needs a decision from a worker.
        Pending => "pending",
        /// A workflow task is being decided by a worker.
        Running => "running",
        /// Blocked on a durable resume source (activity, timer, signal, ...); see `wait_kind`.
        Waiting => "waiting",
        /// Closed by a cancel request.
        Cancelled => "cancelled",
        /// Force-closed by an operator.
        Terminated => "terminated",
        /// Closed with an output.
        Completed => "completed",
        /// Closed with a failure (including `closed_reason = timed_out`).
        Failed => "failed",
    }
}

/// The pseudo-status of an instance reserved without a run (the seed's `reserved`).
pub const RESERVED: &str = "reserved";

impl RunStatus {
    /// True for `pending`, `running` and `waiting` (the seed's `running` boolean).
    pub fn is_running(self) -> bool {
        matches!(self, Self::Pending | Self::Running | Self::Waiting)
    }

    /// True for `cancelled`, `terminated`, `completed` and `failed`.
    pub fn is_terminal(self) -> bool {
        !self.is_running()
    }
}

string_enum! {
    /// Why a run closed (`closed_reason`).
    pub enum ClosedReason {
        /// The workflow returned an output.
        Completed => "completed",
        /// The workflow continued as new; the run's status is `completed`.
        Continued => "continued",
        /// The workflow failed.
        Failed => "failed",
        /// A cancel request closed it.
        Cancelled => "cancelled",
        /// An operator terminated it.
        Terminated => "terminated",
        /// Its run or execution timeout passed; the status is `failed`.
        TimedOut => "timed_out",
    }
}

string_enum! {
    /// What a `waiting` run waits for (`wait_kind`).
    pub enum WaitKind {
        /// An activity result.
        Activity => "activity",
        /// A durable timer.
        Timer => "timer",
        /// A signal.
        Signal => "signal",
        /// An update.
        Update => "update",
        /// A child workflow.
        Child => "child",
        /// A condition.
        Condition => "condition",
    }
}

string_enum! {
    /// Why a run's workflow task cannot make progress (`task_problem`). The run stays open;
    /// a repair after a fix resumes it.
    pub enum TaskProblem {
        /// Replayed code asked for something other than what history recorded.
        Nondeterminism => "nondeterminism",
        /// The run's workflow type is not registered in the process that claimed it.
        WorkflowUnavailable => "workflow_unavailable",
        /// The recorded history could not be read (an unknown event type, a bad payload).
        HistoryUnreadable => "history_unreadable",
    }
}

string_enum! {
    /// The failure taxonomy (`failure_category`, reference §3.8).
    pub enum FailureCategory {
        /// An error raised by workflow or activity code (the default).
        Application => "application",
        /// A cancel request.
        Cancelled => "cancelled",
        /// An operator's terminate.
        Terminated => "terminated",
        /// A timeout (activity or workflow).
        Timeout => "timeout",
        /// An activity's retries are exhausted.
        Activity => "activity",
        /// A child workflow failed.
        ChildWorkflow => "child_workflow",
        /// Replay or determinism problems, invalid command shapes.
        TaskFailure => "task_failure",
        /// Database, queue or worker crash.
        Internal => "internal",
        /// A structural limit (payload size, history length) was exceeded.
        StructuralLimit => "structural_limit",
    }
}

string_enum! {
    /// A request from outside the workflow, recorded with its outcome.
    pub enum CommandType {
        /// `start_workflow`.
        Start => "start",
        /// A signal.
        Signal => "signal",
        /// An update.
        Update => "update",
        /// A repair request.
        Repair => "repair",
        /// A cancel request.
        Cancel => "cancel",
        /// A terminate request.
        Terminate => "terminate",
    }
}

string_enum! {
    /// Whether a command was accepted.
    pub enum CommandStatus {
        /// Accepted; see its outcome.
        Accepted => "accepted",
        /// Rejected; see `rejection_reason`.
        Rejected => "rejected",
    }
}

string_enum! {
    /// What a command did (the seed's `CommandOutcome`).
    pub enum CommandOutcome {
        /// A start made a new run.
        StartedNew => "started_new",
        /// A start found an active run and returned it (`return_existing_active`).
        ReturnedExistingActive => "returned_existing_active",
        /// A start found the instance already started (`reject_duplicate`, or a closed run).
        RejectedDuplicate => "rejected_duplicate",
        /// A signal was recorded.
        SignalReceived => "signal_received",
        /// A repair recreated the run's work.
        RepairDispatched => "repair_dispatched",
        /// A repair found nothing to do.
        RepairNotNeeded => "repair_not_needed",
        /// A cancel request was recorded.
        Cancelled => "cancelled",
        /// A terminate closed the run.
        Terminated => "terminated",
        /// The run is closed.
        RejectedNotActive => "rejected_not_active",
        /// The signal name is not declared by the workflow type.
        RejectedUnknownSignal => "rejected_unknown_signal",
    }
}

string_enum! {
    /// What a second start of a started instance does (`duplicate_start_policy`; seed §2.5).
    pub enum DuplicateStartPolicy {
        /// Reject the start (`rejected_duplicate`), recording `StartRejected` on the existing run.
        RejectDuplicate => "reject_duplicate",
        /// When the current run is still running, return it (`returned_existing_active`,
        /// recording `StartAccepted` on it); otherwise reject as above.
        ReturnExistingActive => "return_existing_active",
    }
}

// The enum comes from `string_enum!`, which derives no `Default`.
#[allow(clippy::derivable_impls)]
impl Default for DuplicateStartPolicy {
    fn default() -> Self {
        Self::RejectDuplicate
    }
}

string_enum! {
    /// What happens to a child workflow when its parent closes (Temporal's `ParentClosePolicy`).
    pub enum ParentClosePolicy {
        /// Terminate the child.
        Terminate => "terminate",
        /// Ask the child to cancel.
        RequestCancel => "request_cancel",
        /// Leave the child running.
        Abandon => "abandon",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_values_are_the_seeds_in_the_seeds_order() {
        let names: Vec<_> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["pending", "running", "waiting", "cancelled", "terminated", "completed", "failed"]);
        let running: Vec<_> = RunStatus::ALL.iter().filter(|s| s.is_running()).map(|s| s.as_str()).collect();
        assert_eq!(running, ["pending", "running", "waiting"]);
    }

    #[test]
    fn serde_and_as_str_agree() {
        for status in RunStatus::ALL {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
            assert_eq!(RunStatus::parse(status.as_str()), Some(*status));
        }
        for category in FailureCategory::ALL {
            assert_eq!(serde_json::to_value(category).unwrap(), category.as_str());
        }
        assert_eq!(DuplicateStartPolicy::default().as_str(), "reject_duplicate");
    }
}
