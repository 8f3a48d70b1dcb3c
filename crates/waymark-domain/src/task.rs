//! Tasks: the checklist items of a phase, with stable ids.

use crate::status::{self, StatusTable};
use crate::{DomainError, PhaseId, TaskId, Timestamp};

/// A task's status. Any status may follow any other; `task_toggle` flips completed ↔ pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// Not started.
    Pending,
    /// Being worked on.
    InProgress,
    /// Done.
    Completed,
    /// Cannot proceed.
    Blocked,
    /// Deliberately not done; counts as done for progress.
    Skipped,
}

impl StatusTable for TaskStatus {
    const ENTITY: &'static str = "task";
    const ALL: &'static [Self] = &[Self::Pending, Self::InProgress, Self::Completed, Self::Blocked, Self::Skipped];

    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Blocked => "blocked",
            Self::Skipped => "skipped",
        }
    }

    fn allowed_targets(self) -> &'static [Self] {
        use TaskStatus::*;
        match self {
            Pending => &[InProgress, Completed, Blocked, Skipped],
            InProgress => &[Pending, Completed, Blocked, Skipped],
            Completed => &[Pending, InProgress, Blocked, Skipped],
            Blocked => &[Pending, InProgress, Completed, Skipped],
            Skipped => &[Pending, InProgress, Completed, Blocked],
        }
    }
}

impl TaskStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        StatusTable::as_str(self)
    }

    /// Every status in table order.
    pub fn all() -> &'static [Self] {
        Self::ALL
    }

    /// Parses a wire name.
    ///
    /// # Errors
    /// "status must be one of: pending, in_progress, completed, blocked, skipped".
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        status::parse("status", raw)
    }

    /// The status `task_toggle` moves to: `completed` becomes `pending`, anything else
    /// becomes `completed`.
    pub fn toggled(self) -> Self {
        match self {
            Self::Completed => Self::Pending,
            Self::Pending | Self::InProgress | Self::Blocked | Self::Skipped => Self::Completed,
        }
    }
}

/// A task as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// Stable id (`task_<ulid>`).
    pub id: TaskId,
    /// The phase it belongs to.
    pub phase_id: PhaseId,
    /// 0-based position within the phase: the original's `task_index`.
    pub position: u32,
    /// What to do.
    pub name: String,
    /// Optional detail.
    pub description: Option<String>,
    /// Current status.
    pub status: TaskStatus,
    /// Notes left by an agent.
    pub notes: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}
