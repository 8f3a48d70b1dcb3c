//! Phase use cases: `phase_get`, `phase_update_status`, `phase_add_checkpoint`, `phase_add`
//! (seed-000 §2.3 with the AGENT-TOOLS.md fixes: the status table, dependencies, timestamps,
//! `current_phase` and plan completion all apply).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use waymark_domain::{Checkpoint, CheckpointId, Phase, PhaseId, PhaseRef, PhaseStatus, PlanStatus, Transition, phase};

use crate::plan::{Loaded, SLACK_BYTES, load, new_tasks, outline};
use crate::view::budget::{RESULT_BUDGET_BYTES, json_len};
use crate::view::{
    CHECKPOINTS_SHOWN, CheckpointView, ITEM_TEXT_BYTES, PhaseArg, PhaseLimits, PhaseTasks, PhaseView, ProgressView,
    Status, TaskCounts, checkpoint_page, cursor, document, phase_view, progress,
};
use crate::{Principal, Service, ServiceError, ids};

/// Bytes of a phase's description and reasons in a single-phase result.
const PHASE_TEXT_BYTES: usize = 4_000;
/// Bytes the checkpoints of a phase result may take.
const CHECKPOINT_BYTES: usize = 12_000;

fn bad_cursor() -> ServiceError {
    ServiceError::validation("cursor is invalid; pass the next_cursor of a previous page of the same list")
}

/// "Phase not found: {phase}" (the original's wording).
pub(crate) fn phase_not_found(phase: &PhaseRef) -> ServiceError {
    ServiceError::not_found(format!("Phase not found: {phase}"))
}

/// The index of the referenced phase in `loaded.phases`.
pub(crate) fn find(loaded: &Loaded, phase: &PhaseRef) -> Result<usize, ServiceError> {
    let found = phase.find(&loaded.phases).ok_or_else(|| phase_not_found(phase))?;
    Ok(loaded.phases.iter().position(|p| p.id == found.id).unwrap_or(0))
}

/// Arguments of `phase_get`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseGetParams {
    /// The plan's slug.
    #[schemars(description = "", length(min = 1, max = 255))]
    pub plan_slug: String,
    /// The phase's 1-based order or its name.
    pub phase: PhaseArg,
    /// Page size in tasks, 1-500 (default 100).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
    /// From `next_cursor` or `tasks_next_cursor`.
    #[schemars(length(max = 1024))]
    pub cursor: Option<String>,
    /// From `checkpoints_next_cursor`.
    #[schemars(length(max = 1024))]
    pub checkpoints_cursor: Option<String>,
}

/// Result of `phase_get`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PhaseGetView {
    /// The phase with a page of its tasks and its newest checkpoints.
    pub phase: PhaseDetailView,
    /// Pass as `cursor` for the tasks after this page; null when the last task is shown.
    pub next_cursor: Option<String>,
    /// True when this result does not hold the whole phase: more tasks (`next_cursor`), older
    /// checkpoints (`checkpoints_next_cursor`), or a clipped text.
    pub truncated: bool,
}

/// A phase with its checkpoints.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PhaseDetailView {
    /// The phase.
    #[serde(flatten)]
    pub phase: PhaseView,
    /// The newest checkpoints (at most 10), oldest first.
    pub checkpoints: Vec<CheckpointView>,
    /// How many checkpoints the phase has.
    pub total_checkpoints: u64,
    /// Pass as `checkpoints_cursor` for the checkpoints before these; null when none are left.
    pub checkpoints_next_cursor: Option<String>,
}

/// Arguments of `phase_update_status`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseUpdateStatusParams {
    /// The plan's slug.
    #[schemars(description = "", length(min = 1, max = 255))]
    pub plan_slug: String,
    /// The phase's 1-based order or its name.
    pub phase: PhaseArg,
    /// The new status.
    #[schemars(description = "")]
    pub status: Status<PhaseStatus>,
    /// Recorded as a checkpoint; for `blocked` and `skipped` also kept as the reason.
    #[schemars(length(max = 65535))]
    pub notes: Option<String>,
}

/// Result of `phase_update_status`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PhaseUpdateStatusView {
    /// The phase after the change.
    pub phase: PhaseStatusChangeView,
    /// The plan after the change (it completes when its last phase finishes).
    pub plan: PlanAfterView,
}

/// A phase's status change.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PhaseStatusChangeView {
    /// Order.
    pub order: u32,
    /// Name.
    pub name: String,
    /// Status now.
    pub status: Status<PhaseStatus>,
    /// Status before the call.
    pub previous_status: Status<PhaseStatus>,
}

/// A plan's state after a change inside it.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PlanAfterView {
    /// Slug.
    pub slug: String,
    /// Status now.
    pub status: Status<PlanStatus>,
    /// Order of the phase most recently started.
    pub current_phase: Option<u32>,
    /// Progress by phases and tasks.
    pub progress: ProgressView,
}

/// Arguments of `phase_add_checkpoint`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseAddCheckpointParams {
    /// The plan's slug.
    #[schemars(description = "", length(min = 1, max = 255))]
    pub plan_slug: String,
    /// The phase's 1-based order or its name.
    pub phase: PhaseArg,
    /// What happened.
    #[schemars(length(min = 1, max = 65535))]
    pub note: String,
    /// Structured detail kept with the note (at most 256 KiB).
    pub context: Option<Map<String, Value>>,
}

/// Result of `phase_add_checkpoint`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PhaseCheckpointsView {
    /// The phase's newest checkpoints (at most 10, ending with the new one), oldest first.
    pub checkpoints: Vec<CheckpointView>,
    /// How many checkpoints the phase has.
    pub total_checkpoints: u64,
    /// Pass as `checkpoints_cursor` to phase_get for the checkpoints before these; null when
    /// none are left.
    pub checkpoints_next_cursor: Option<String>,
    /// True when older checkpoints exist or a checkpoint was clipped.
    pub truncated: bool,
}

/// Arguments of `phase_add`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseAddParams {
    /// The plan's slug.
    #[schemars(description = "", length(min = 1, max = 255))]
    pub plan_slug: String,
    /// Name of the new phase.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// What it covers.
    #[schemars(length(max = 65535))]
    pub description: Option<String>,
    /// Task names in order.
    #[schemars(length(max = 500), inner(length(min = 1, max = 1024)))]
    pub tasks: Option<Vec<String>>,
    /// Earlier phases (by order or name) that must be finished first.
    #[schemars(length(max = 100))]
    pub dependencies: Option<Vec<PhaseArg>>,
}

/// Result of `phase_add`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PhaseAddView {
    /// The new phase (its first tasks when they do not all fit; see `tasks_next_cursor`).
    pub phase: PhaseView,
    /// The plan after the change (a completed plan reopens).
    pub plan: PlanAfterView,
}

pub(crate) fn plan_after(loaded: &Loaded) -> PlanAfterView {
    PlanAfterView {
        slug: loaded.plan.slug.to_string(),
        status: Status(loaded.plan.status),
        current_phase: loaded.plan.current_phase,
        progress: progress(&loaded.phases, &TaskCounts::of(&loaded.tasks)),
    }
}

/// How a single-phase result bounds its phase, given the bytes its tasks may take.
fn single_phase_limits(tasks: usize, task_bytes: usize) -> PhaseLimits {
    PhaseLimits { tasks, task_bytes, task_text_bytes: ITEM_TEXT_BYTES, text_bytes: PHASE_TEXT_BYTES }
}

impl Service {
    /// `phase_get`: one phase with a page of its tasks (from `cursor`) and its newest
    /// checkpoints (or those before `checkpoints_cursor`), bounded by the result budget.
    ///
    /// # Errors
    /// `not_found` for the plan or the phase, `validation_error` for a bad cursor (or one of
    /// another phase).
    pub async fn phase_get(&self, principal: &Principal, params: PhaseGetParams) -> Result<PhaseGetView, ServiceError> {
        let after = cursor::decode_opt::<2>("tasks", params.cursor.as_deref())?;
        let before = cursor::decode_opt::<1>("checkpoints", params.checkpoints_cursor.as_deref())?
            .map(|[id]| CheckpointId::parse(&id).ok_or_else(bad_cursor))
            .transpose()?;
        let limit = params.limit.unwrap_or(100).clamp(1, 500) as usize;
        let tx = self.store().read().await?;
        let o = outline(&tx, principal, &params.plan_slug).await?;
        let phase = params.phase.0.find(&o.phases).ok_or_else(|| phase_not_found(&params.phase.0))?;
        let after = match after {
            Some([id, position]) if id == phase.id.as_str() => {
                Some(u32::try_from(cursor::parse_number(&position)?).map_err(|_| bad_cursor())?)
            }
            Some(_) => {
                return Err(ServiceError::validation(
                    "cursor belongs to another phase; pass it with the phase it came from",
                ));
            }
            None => None,
        };
        let tasks = tx.phase_tasks_page(&phase.id, after, limit as u64 + 1).await?;
        let unfinished = if after.is_some() || o.counts.total_of(&phase.id) > tasks.len() as u64 {
            Some(tx.unfinished_task_names(&phase.id, 21).await?)
        } else {
            None
        };
        let newest = tx.checkpoints_page(&phase.id, before.as_ref(), CHECKPOINTS_SHOWN as u64 + 1).await?;
        let total_checkpoints = tx.checkpoint_count(&phase.id).await?;
        let (checkpoints, checkpoints_next_cursor) = checkpoint_page(&newest, false, CHECKPOINT_BYTES);
        let read = PhaseTasks { tasks, more: false, unfinished };
        let bare = phase_view(phase, &o.phases, &o.counts, read.clone(), single_phase_limits(0, 0));
        let mut detail = PhaseDetailView { phase: bare, checkpoints, total_checkpoints, checkpoints_next_cursor };
        let room = RESULT_BUDGET_BYTES.saturating_sub(json_len(&detail) + SLACK_BYTES);
        detail.phase = phase_view(phase, &o.phases, &o.counts, read, single_phase_limits(limit, room));
        let next_cursor = detail.phase.tasks_next_cursor.clone();
        let truncated = detail.phase.truncated
            || detail.checkpoints_next_cursor.is_some()
            || detail.checkpoints.iter().any(|c| c.truncated);
        Ok(PhaseGetView { phase: detail, next_cursor, truncated })
    }

    /// `phase_update_status`: moves a phase through its table; starting needs finished
    /// dependencies, and finishing the last phase completes the plan, in one transaction.
    ///
    /// # Errors
    /// `not_found`, `invalid_transition`, `dependency_not_met` (with the blockers).
    pub async fn phase_update_status(
        &self,
        principal: &Principal,
        params: PhaseUpdateStatusParams,
    ) -> Result<PhaseUpdateStatusView, ServiceError> {
        let tx = self.store().write().await?;
        let mut loaded = load(&tx, principal, &params.plan_slug).await?;
        let index = find(&loaded, &params.phase.0)?;
        let now = self.now();
        let notes = params.notes.as_deref().map(str::trim).filter(|n| !n.is_empty());
        let previous = loaded.phases[index].status;
        let change = phase::decide_status_change(&loaded.plan, &loaded.phases, index, params.status.0, notes, now)?;
        if let Some(note) = notes {
            tx.insert_checkpoint(&Checkpoint {
                id: CheckpointId::from_ulid(&ids::ulid(now)),
                phase_id: change.phase.id.clone(),
                note: note.to_owned(),
                context: waymark_domain::JsonText::from_trusted(
                    json!({ "status_change": params.status.0.as_str() }).to_string(),
                ),
                created_at: now,
            })
            .await?;
        }
        if change.transition == Transition::Changed {
            tx.update_phase(&change.phase).await?;
            if let Some(status) = change.plan_status {
                loaded.plan.status = status;
            }
            if let Some(order) = change.current_phase {
                loaded.plan.current_phase = Some(order);
            }
            loaded.phases[index] = change.phase.clone();
        }
        if change.transition == Transition::Changed || notes.is_some() {
            loaded.plan.updated_at = now;
            tx.update_plan(&loaded.plan).await?;
            self.commit(tx, principal).await?;
        }
        let phase = &loaded.phases[index];
        Ok(PhaseUpdateStatusView {
            phase: PhaseStatusChangeView {
                order: phase.order,
                name: phase.name.clone(),
                status: Status(phase.status),
                previous_status: Status(previous),
            },
            plan: plan_after(&loaded),
        })
    }

    /// `phase_add_checkpoint`: appends a note (a row; concurrent writers lose nothing).
    ///
    /// # Errors
    /// `not_found`, `invalid_transition` on an archived plan, `validation_error` for an
    /// oversized context.
    pub async fn phase_add_checkpoint(
        &self,
        principal: &Principal,
        params: PhaseAddCheckpointParams,
    ) -> Result<PhaseCheckpointsView, ServiceError> {
        let note = params.note.trim();
        if note.is_empty() {
            return Err(ServiceError::validation("note is required"));
        }
        let context = document("context", params.context.as_ref())?;
        let tx = self.store().write().await?;
        let mut loaded = load(&tx, principal, &params.plan_slug).await?;
        loaded.plan.ensure_writable()?;
        let index = find(&loaded, &params.phase.0)?;
        let now = self.now();
        let phase_id = loaded.phases[index].id.clone();
        tx.insert_checkpoint(&Checkpoint {
            id: CheckpointId::from_ulid(&ids::ulid(now)),
            phase_id: phase_id.clone(),
            note: note.to_owned(),
            context,
            created_at: now,
        })
        .await?;
        loaded.plan.updated_at = now;
        tx.update_plan(&loaded.plan).await?;
        let newest = tx.checkpoints_page(&phase_id, None, CHECKPOINTS_SHOWN as u64 + 1).await?;
        let total_checkpoints = tx.checkpoint_count(&phase_id).await?;
        self.commit(tx, principal).await?;
        let (checkpoints, checkpoints_next_cursor) = checkpoint_page(&newest, false, RESULT_BUDGET_BYTES - SLACK_BYTES);
        let truncated = checkpoints_next_cursor.is_some() || checkpoints.iter().any(|c: &CheckpointView| c.truncated);
        Ok(PhaseCheckpointsView { checkpoints, total_checkpoints, checkpoints_next_cursor, truncated })
    }

    /// `phase_add`: appends a phase (with tasks) at the end of a plan. A completed plan
    /// becomes active again, since it has unfinished work.
    ///
    /// # Errors
    /// `not_found`, `invalid_transition` on an archived plan, `validation_error` for
    /// dependencies that name no earlier phase.
    pub async fn phase_add(&self, principal: &Principal, params: PhaseAddParams) -> Result<PhaseAddView, ServiceError> {
        let name = params.name.trim();
        if name.is_empty() {
            return Err(ServiceError::validation("name is required"));
        }
        let tx = self.store().write().await?;
        let mut loaded = load(&tx, principal, &params.plan_slug).await?;
        loaded.plan.ensure_writable()?;
        let now = self.now();
        let order = loaded.phases.iter().map(|p| p.order).max().unwrap_or(0) + 1;
        let refs: Vec<PhaseRef> = params.dependencies.unwrap_or_default().into_iter().map(|d| d.0).collect();
        let dependencies = phase::resolve_dependencies(&refs, &loaded.phases, order)?;
        let phase = Phase {
            id: PhaseId::from_ulid(&ids::ulid(now)),
            plan_id: loaded.plan.id.clone(),
            order,
            name: name.to_owned(),
            description: params.description,
            status: PhaseStatus::Pending,
            dependencies,
            started_at: None,
            completed_at: None,
            block_reason: None,
            skip_reason: None,
            created_at: now,
            updated_at: now,
        };
        let tasks = new_tasks(&phase.id, &params.tasks.unwrap_or_default(), 0, now);
        tx.insert_phases(std::slice::from_ref(&phase)).await?;
        tx.insert_tasks(&loaded.plan.id, &tasks).await?;
        if loaded.plan.status == PlanStatus::Completed {
            loaded.plan.status = PlanStatus::Active;
        }
        loaded.plan.updated_at = now;
        tx.update_plan(&loaded.plan).await?;
        self.commit(tx, principal).await?;
        let read = PhaseTasks::all_of(&phase.id, &tasks);
        loaded.phases.push(phase);
        loaded.tasks.extend(tasks);
        let plan = plan_after(&loaded);
        let counts = TaskCounts::of(&loaded.tasks);
        let Some(added) = loaded.phases.last() else {
            return Err(ServiceError::validation("phase could not be added"));
        };
        let bare = phase_view(added, &loaded.phases, &counts, read.clone(), single_phase_limits(0, 0));
        let room = RESULT_BUDGET_BYTES.saturating_sub(json_len(&bare) + json_len(&plan) + SLACK_BYTES);
        let phase = phase_view(added, &loaded.phases, &counts, read, single_phase_limits(500, room));
        Ok(PhaseAddView { phase, plan })
    }
}
