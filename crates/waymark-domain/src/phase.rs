//! Phases: the ordered steps of a plan, their status table, and what a status change does to
//! the plan around them.

use crate::status::{self, StatusTable, Transition};
use crate::{Blocker, CheckpointId, DomainError, JsonText, PhaseId, Plan, PlanId, PlanStatus, Timestamp};

/// A phase's status. Wire names are the original's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PhaseStatus {
    /// Not started.
    Pending,
    /// Being worked on.
    InProgress,
    /// Done.
    Completed,
    /// Cannot proceed; the reason is stored.
    Blocked,
    /// Deliberately not done; counts as finished for dependencies and plan completion.
    Skipped,
}

impl StatusTable for PhaseStatus {
    const ENTITY: &'static str = "phase";
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

    /// The phase transition table, next to the plan's in AGENT-TOOLS.md terms:
    ///
    /// | from \ to | pending | in_progress | completed | blocked | skipped |
    /// |---|---|---|---|---|---|
    /// | pending | = | yes | yes | yes | yes |
    /// | in_progress | yes (reset) | = | yes | yes | yes |
    /// | completed | yes (reset) | yes (reopen) | = | – | – |
    /// | blocked | yes | yes | – | = | yes |
    /// | skipped | yes (reset) | yes | – | – | = |
    ///
    /// Moving to `in_progress` or `completed` also needs every dependency finished
    /// ([`decide_status_change`]).
    fn allowed_targets(self) -> &'static [Self] {
        use PhaseStatus::*;
        match self {
            Pending => &[InProgress, Completed, Blocked, Skipped],
            InProgress => &[Pending, Completed, Blocked, Skipped],
            Completed => &[Pending, InProgress],
            Blocked => &[Pending, InProgress, Skipped],
            Skipped => &[Pending, InProgress],
        }
    }
}

impl PhaseStatus {
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

    /// Checks a move through the phase table (dependencies are checked separately).
    ///
    /// # Errors
    /// [`DomainError::InvalidTransition`] naming the allowed targets.
    pub fn transition_to(self, to: Self) -> Result<Transition, DomainError> {
        status::check(self, to)
    }

    /// Completed or skipped: finished for dependencies and for plan completion.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Skipped)
    }
}

/// A phase as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase {
    /// Internal id.
    pub id: PhaseId,
    /// The plan it belongs to.
    pub plan_id: PlanId,
    /// 1-based position in the plan; stable once assigned.
    pub order: u32,
    /// Name, unique enough for agents to address it by.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Current status.
    pub status: PhaseStatus,
    /// Orders of the phases that must be finished before this one starts or completes.
    pub dependencies: Vec<u32>,
    /// When the phase was (last) started.
    pub started_at: Option<Timestamp>,
    /// When the phase was completed.
    pub completed_at: Option<Timestamp>,
    /// Why the phase is blocked (set while `blocked`).
    pub block_reason: Option<String>,
    /// Why the phase was skipped (set while `skipped`).
    pub skip_reason: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// A note recorded against a phase, with an optional JSON context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Internal id.
    pub id: CheckpointId,
    /// The phase it belongs to.
    pub phase_id: PhaseId,
    /// The note text.
    pub note: String,
    /// A JSON object supplied by the agent (`{}` when absent).
    pub context: JsonText,
    /// When it was recorded.
    pub created_at: Timestamp,
}

/// How an agent names a phase: by 1-based order, or by name.
///
/// The original's rule: an integer, or a string of digits, is an order; anything else is a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PhaseRef {
    /// The phase with this order.
    Order(u32),
    /// The phase with this name (exact match first, then case-insensitive).
    Name(String),
}

impl PhaseRef {
    /// Reads a string argument: digits mean an order, anything else a name.
    pub fn parse(raw: &str) -> Self {
        let trimmed = raw.trim();
        match trimmed.parse::<u32>() {
            Ok(order) if trimmed.bytes().all(|b| b.is_ascii_digit()) => Self::Order(order),
            _ => Self::Name(raw.to_owned()),
        }
    }

    /// Finds the referenced phase among `phases`.
    pub fn find<'a>(&self, phases: &'a [Phase]) -> Option<&'a Phase> {
        match self {
            Self::Order(order) => phases.iter().find(|p| p.order == *order),
            Self::Name(name) => phases
                .iter()
                .find(|p| p.name == *name)
                .or_else(|| phases.iter().find(|p| p.name.to_lowercase() == name.to_lowercase())),
        }
    }
}

impl std::fmt::Display for PhaseRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Order(order) => write!(f, "{order}"),
            Self::Name(name) => f.write_str(name),
        }
    }
}

/// Everything a phase status change writes, decided without I/O by [`decide_status_change`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhaseChange {
    /// Whether anything changes (`Unchanged` for an idempotent repeat).
    pub transition: Transition,
    /// The phase as it must be stored afterwards.
    pub phase: Phase,
    /// The plan's new status, when the change completes or reopens the plan.
    pub plan_status: Option<PlanStatus>,
    /// The plan's new `current_phase`, when the phase starts.
    pub current_phase: Option<u32>,
}

/// Decides what moving `phases[index]` to `to` does, following the phase table and these rules:
///
/// - an archived plan is read-only;
/// - a draft plan must be published before a phase starts or completes;
/// - a paused plan must be resumed before a phase starts;
/// - starting or completing needs every dependency completed or skipped;
/// - starting sets `started_at` and the plan's `current_phase`; completing sets `completed_at`;
///   resetting to `pending` clears both; `blocked` and `skipped` store `reason`;
/// - when every phase is finished, an active or paused plan becomes `completed`; when a finished
///   phase of a completed plan is reopened, the plan becomes `active` again.
///
/// # Errors
/// [`DomainError::ReadOnly`], [`DomainError::InvalidTransition`] or
/// [`DomainError::DependencyNotMet`]; nothing is to be written in that case.
pub fn decide_status_change(
    plan: &Plan,
    phases: &[Phase],
    index: usize,
    to: PhaseStatus,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<PhaseChange, DomainError> {
    plan.ensure_writable()?;
    let current = &phases[index];
    let transition = current.status.transition_to(to)?;
    if transition == Transition::Unchanged {
        return Ok(PhaseChange { transition, phase: current.clone(), plan_status: None, current_phase: None });
    }
    let starts_or_completes = matches!(to, PhaseStatus::InProgress | PhaseStatus::Completed);
    if starts_or_completes && plan.status == PlanStatus::Draft {
        return Err(DomainError::InvalidTransition {
            entity: "phase",
            from: current.status.as_str(),
            to: to.as_str(),
            allowed: vec![],
            message: format!(
                "Plan '{}' is a draft: publish it (plan_publish) before starting or completing phases",
                plan.slug
            ),
        });
    }
    if to == PhaseStatus::InProgress && plan.status == PlanStatus::Paused {
        return Err(DomainError::InvalidTransition {
            entity: "phase",
            from: current.status.as_str(),
            to: to.as_str(),
            allowed: vec![],
            message: format!(
                "Plan '{}' is paused: set it active (plan_update_status) before starting phases",
                plan.slug
            ),
        });
    }
    if starts_or_completes {
        let blockers = blockers(current, phases);
        if !blockers.is_empty() {
            let names: Vec<String> = blockers
                .iter()
                .map(|b| format!("Phase {}: {} ({})", b.phase_order, b.phase_name, b.status.as_str()))
                .collect();
            return Err(DomainError::DependencyNotMet {
                message: format!(
                    "Phase {} ({}) depends on unfinished phases: {}",
                    current.order,
                    current.name,
                    names.join("; ")
                ),
                blockers,
            });
        }
    }

    let mut phase = current.clone();
    phase.status = to;
    phase.updated_at = now;
    if current.status == PhaseStatus::Blocked {
        phase.block_reason = None;
    }
    if current.status == PhaseStatus::Skipped {
        phase.skip_reason = None;
    }
    let mut current_phase = None;
    match to {
        PhaseStatus::Pending => {
            phase.started_at = None;
            phase.completed_at = None;
        }
        PhaseStatus::InProgress => {
            phase.started_at = Some(phase.started_at.unwrap_or(now));
            phase.completed_at = None;
            current_phase = Some(phase.order);
        }
        PhaseStatus::Completed => {
            phase.started_at = Some(phase.started_at.unwrap_or(now));
            phase.completed_at = Some(now);
        }
        PhaseStatus::Blocked => {
            phase.block_reason = reason.map(str::to_owned);
        }
        PhaseStatus::Skipped => {
            phase.skip_reason = reason.map(str::to_owned);
        }
    }

    let all_finished =
        phases.iter().enumerate().all(|(i, p)| if i == index { to.is_finished() } else { p.status.is_finished() });
    let plan_status = match plan.status {
        PlanStatus::Active | PlanStatus::Paused if all_finished => Some(PlanStatus::Completed),
        PlanStatus::Completed if !to.is_finished() => Some(PlanStatus::Active),
        PlanStatus::Draft | PlanStatus::Active | PlanStatus::Paused | PlanStatus::Completed | PlanStatus::Archived => {
            None
        }
    };
    Ok(PhaseChange { transition, phase, plan_status, current_phase })
}

/// The dependencies of `phase` that are not finished, in dependency order.
pub fn blockers(phase: &Phase, phases: &[Phase]) -> Vec<Blocker> {
    phase
        .dependencies
        .iter()
        .filter_map(|order| phases.iter().find(|p| p.order == *order))
        .filter(|dep| !dep.status.is_finished())
        .map(|dep| Blocker {
            phase_id: dep.id.clone(),
            phase_order: dep.order,
            phase_name: dep.name.clone(),
            status: dep.status,
        })
        .collect()
}

/// Resolves the dependency references of a new phase to orders of earlier phases.
///
/// A phase may only depend on phases that come before it (orders lower than `new_order`), so
/// dependency cycles cannot be built.
///
/// # Errors
/// [`DomainError::Invalid`] naming the reference that matches no earlier phase.
pub fn resolve_dependencies(refs: &[PhaseRef], earlier: &[Phase], new_order: u32) -> Result<Vec<u32>, DomainError> {
    let mut orders = Vec::with_capacity(refs.len());
    for r in refs {
        let order = match r.find(earlier) {
            Some(p) if p.order < new_order => p.order,
            Some(_) | None => {
                return Err(DomainError::invalid(
                    "dependencies",
                    format!("dependencies: phase '{r}' must name an earlier phase of the plan (by order or name)"),
                ));
            }
        };
        if !orders.contains(&order) {
            orders.push(order);
        }
    }
    Ok(orders)
}

#[cfg(test)]
mod tests;
