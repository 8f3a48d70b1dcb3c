//! Plans: a titled piece of work with ordered phases, addressed by slug within a workspace.

use crate::status::{self, StatusTable, Transition};
use crate::{DomainError, JsonText, PlanId, Slug, Timestamp, WorkspaceId};

/// A plan's status. Wire names are the original's: `draft`, `active`, `paused`, `completed`,
/// `archived`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlanStatus {
    /// Being written; phases cannot start yet. New plans start here.
    Draft,
    /// Being worked on.
    Active,
    /// Work is on hold; phases cannot start.
    Paused,
    /// Every phase is completed or skipped, or an agent declared the plan done.
    Completed,
    /// Retired and read-only. Reached only through `plan_archive`.
    Archived,
}

impl StatusTable for PlanStatus {
    const ENTITY: &'static str = "plan";
    const ALL: &'static [Self] = &[Self::Draft, Self::Active, Self::Paused, Self::Completed, Self::Archived];

    fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Archived => "archived",
        }
    }

    /// The plan transition table (AGENT-TOOLS.md, "Plans"):
    ///
    /// | from \ to | draft | active | paused | completed | archived |
    /// |---|---|---|---|---|---|
    /// | draft | = | yes | – | – | yes |
    /// | active | – | = | yes | yes | yes |
    /// | paused | – | yes | = | yes | yes |
    /// | completed | – | yes (reopen) | – | = | yes |
    /// | archived | – | – | – | – | = |
    fn allowed_targets(self) -> &'static [Self] {
        use PlanStatus::*;
        match self {
            Draft => &[Active, Archived],
            Active => &[Paused, Completed, Archived],
            Paused => &[Active, Completed, Archived],
            Completed => &[Active, Archived],
            Archived => &[],
        }
    }
}

impl PlanStatus {
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
    /// "status must be one of: draft, active, paused, completed, archived".
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        status::parse("status", raw)
    }

    /// Checks a move through the plan table.
    ///
    /// # Errors
    /// [`DomainError::InvalidTransition`] naming the allowed targets.
    pub fn transition_to(self, to: Self) -> Result<Transition, DomainError> {
        status::check(self, to)
    }

    /// Whether the plan may still change (everything but `archived`).
    pub fn is_writable(self) -> bool {
        self != Self::Archived
    }
}

/// A plan as stored. Phases and tasks are separate values linked by id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Internal id.
    pub id: PlanId,
    /// The owning workspace; every lookup is scoped by it.
    pub workspace_id: WorkspaceId,
    /// The public handle, unique within the workspace.
    pub slug: Slug,
    /// Human title, 1–255 characters.
    pub title: String,
    /// Optional longer description.
    pub description: Option<String>,
    /// Client-owned JSON object; templates put their generated markdown under `markdown`.
    pub context: JsonText,
    /// Current status.
    pub status: PlanStatus,
    /// The order of the phase most recently started, if any.
    pub current_phase: Option<u32>,
    /// Server-owned JSON object (archive reason, template provenance).
    pub metadata: JsonText,
    /// When the plan was archived.
    pub archived_at: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change to the plan or anything in it.
    pub updated_at: Timestamp,
}

impl Plan {
    /// Refuses any change when the plan is archived.
    ///
    /// # Errors
    /// [`DomainError::ReadOnly`]: "Plan '{slug}' is archived and read-only".
    pub fn ensure_writable(&self) -> Result<(), DomainError> {
        if self.status.is_writable() {
            Ok(())
        } else {
            Err(DomainError::ReadOnly { message: format!("Plan '{}' is archived and read-only", self.slug) })
        }
    }
}

#[cfg(test)]
mod tests;
