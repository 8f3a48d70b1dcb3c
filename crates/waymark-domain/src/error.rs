//! Domain errors: what a rule refused, worded for the agent that asked.

/// A phase that stands in the way of starting or completing another phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocker {
    /// The blocking phase's id.
    pub phase_id: crate::PhaseId,
    /// The blocking phase's 1-based order.
    pub phase_order: u32,
    /// The blocking phase's name.
    pub phase_name: String,
    /// The blocking phase's current status.
    pub status: crate::PhaseStatus,
}

/// A rule of the domain refused a change. Nothing was changed.
///
/// Each variant maps to one stable error code at the service boundary: `InvalidTransition` and
/// `ReadOnly` to `invalid_transition`, `DependencyNotMet` to `dependency_not_met`, `Invalid` to
/// `validation_error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The status table forbids moving from `from` to `to`. The caller should pick one of
    /// `allowed` (empty when `from` is terminal).
    #[error("{message}")]
    InvalidTransition {
        /// What kind of thing was asked to move: `plan`, `phase`, `session`.
        entity: &'static str,
        /// The current status.
        from: &'static str,
        /// The requested status.
        to: &'static str,
        /// The statuses reachable from `from`.
        allowed: Vec<&'static str>,
        /// The full sentence shown to the caller.
        message: String,
    },
    /// The object cannot change in its current state (for example an archived plan).
    #[error("{message}")]
    ReadOnly {
        /// The full sentence shown to the caller.
        message: String,
    },
    /// A phase cannot start or complete while the phases it depends on are unfinished.
    /// The caller should finish or skip `blockers` first.
    #[error("{message}")]
    DependencyNotMet {
        /// The phases that block the change.
        blockers: Vec<Blocker>,
        /// The full sentence shown to the caller.
        message: String,
    },
    /// A value breaks a format rule (a slug, a workspace name, a scope list).
    #[error("{message}")]
    Invalid {
        /// The argument the value came from.
        field: &'static str,
        /// The full sentence shown to the caller.
        message: String,
    },
}

impl DomainError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { field, message: message.into() }
    }
}
