//! Task use cases: `task_update`, `task_toggle`, `task_add` (seed-000 §2.6). Tasks are rows
//! with stable ids; the original's `phase` + 0-based `task_index` addressing still works.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use waymark_domain::{Task, TaskStatus};

use crate::phase::find;
use crate::plan::{Loaded, load, new_tasks};
use crate::view::{PhaseArg, ProgressView, Status, TASK_TEXT_BYTES, TaskCounts, TaskView, progress};
use crate::{Principal, Service, ServiceError};

/// Arguments of `task_update`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskUpdateParams {
    /// The plan's slug.
    #[schemars(description = "", length(min = 1, max = 255))]
    pub plan_slug: String,
    /// The phase's 1-based order or name (needed with `task_index`).
    pub phase: Option<PhaseArg>,
    /// 0-based position of the task in the phase.
    #[schemars(range(min = 0, max = 100000))]
    pub task_index: Option<u32>,
    /// The task's stable id (`task_…`), instead of `phase` + `task_index`.
    #[schemars(length(min = 1, max = 64))]
    pub task_id: Option<String>,
    /// New status.
    pub status: Option<Status<TaskStatus>>,
    /// Notes to keep on the task (replaces earlier notes).
    #[schemars(length(max = 65535))]
    pub notes: Option<String>,
}

/// Arguments of `task_toggle`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskToggleParams {
    /// The plan's slug.
    #[schemars(description = "", length(min = 1, max = 255))]
    pub plan_slug: String,
    /// The phase's 1-based order or name (needed with `task_index`).
    pub phase: Option<PhaseArg>,
    /// 0-based position of the task in the phase.
    #[schemars(range(min = 0, max = 100000))]
    pub task_index: Option<u32>,
    /// The task's stable id (`task_…`), instead of `phase` + `task_index`.
    #[schemars(length(min = 1, max = 64))]
    pub task_id: Option<String>,
}

/// Arguments of `task_add`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskAddParams {
    /// The plan's slug.
    #[schemars(description = "", length(min = 1, max = 255))]
    pub plan_slug: String,
    /// The phase's 1-based order or name.
    pub phase: PhaseArg,
    /// What to do.
    #[schemars(length(min = 1, max = 1024))]
    pub name: String,
    /// Detail.
    #[schemars(length(max = 65535))]
    pub description: Option<String>,
}

/// Result of every task tool.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct TaskChangeView {
    /// The task after the change.
    pub task: TaskView,
    /// Progress of the whole plan, by phases and tasks.
    pub plan_progress: ProgressView,
}

/// Finds the addressed task's index in `loaded.tasks`.
fn locate(
    loaded: &Loaded,
    phase: Option<&PhaseArg>,
    task_index: Option<u32>,
    task_id: Option<&str>,
) -> Result<usize, ServiceError> {
    if let Some(id) = task_id {
        return loaded
            .tasks
            .iter()
            .position(|t| t.id.as_str() == id)
            .ok_or_else(|| ServiceError::not_found(format!("Task not found: {id}")));
    }
    let (Some(phase), Some(index)) = (phase, task_index) else {
        return Err(ServiceError::validation("phase and task_index are required (or pass task_id)"));
    };
    let phase_index = find(loaded, &phase.0)?;
    let phase_id = &loaded.phases[phase_index].id;
    loaded
        .tasks
        .iter()
        .position(|t| &t.phase_id == phase_id && t.position == index)
        .ok_or_else(|| ServiceError::not_found(format!("Task not found at index: {index}")))
}

fn change_view(loaded: &Loaded, index: usize) -> TaskChangeView {
    TaskChangeView {
        task: TaskView::clipped(&loaded.tasks[index], TASK_TEXT_BYTES),
        plan_progress: progress(&loaded.phases, &TaskCounts::of(&loaded.tasks)),
    }
}

impl Service {
    async fn edit_task(
        &self,
        principal: &Principal,
        plan_slug: &str,
        address: (Option<&PhaseArg>, Option<u32>, Option<&str>),
        edit: impl FnOnce(&mut Task),
    ) -> Result<TaskChangeView, ServiceError> {
        let tx = self.store().write().await?;
        let mut loaded = load(&tx, principal, plan_slug).await?;
        loaded.plan.ensure_writable()?;
        let index = locate(&loaded, address.0, address.1, address.2)?;
        let before = loaded.tasks[index].clone();
        edit(&mut loaded.tasks[index]);
        if loaded.tasks[index] != before {
            let now = self.now();
            loaded.tasks[index].updated_at = now;
            loaded.plan.updated_at = now;
            tx.update_task(&loaded.plan.id, &loaded.tasks[index]).await?;
            tx.update_plan(&loaded.plan).await?;
            self.commit(tx, principal).await?;
        }
        Ok(change_view(&loaded, index))
    }

    /// `task_update`: sets a task's status and/or notes.
    ///
    /// # Errors
    /// `not_found` ("Task not found at index: N"), `validation_error`, `invalid_transition` on
    /// an archived plan.
    pub async fn task_update(
        &self,
        principal: &Principal,
        params: TaskUpdateParams,
    ) -> Result<TaskChangeView, ServiceError> {
        let address = (params.phase.as_ref(), params.task_index, params.task_id.as_deref());
        self.edit_task(principal, &params.plan_slug, address, |task| {
            if let Some(status) = params.status {
                task.status = status.0;
            }
            if let Some(notes) = params.notes {
                task.notes = Some(notes).filter(|n| !n.trim().is_empty());
            }
        })
        .await
    }

    /// `task_toggle`: completed becomes pending, anything else becomes completed.
    ///
    /// # Errors
    /// As [`Service::task_update`].
    pub async fn task_toggle(
        &self,
        principal: &Principal,
        params: TaskToggleParams,
    ) -> Result<TaskChangeView, ServiceError> {
        let address = (params.phase.as_ref(), params.task_index, params.task_id.as_deref());
        self.edit_task(principal, &params.plan_slug, address, |task| task.status = task.status.toggled()).await
    }

    /// `task_add`: appends a task to a phase.
    ///
    /// # Errors
    /// `not_found`, `invalid_transition` on an archived plan.
    pub async fn task_add(&self, principal: &Principal, params: TaskAddParams) -> Result<TaskChangeView, ServiceError> {
        let name = params.name.trim();
        if name.is_empty() {
            return Err(ServiceError::validation("name is required"));
        }
        let tx = self.store().write().await?;
        let mut loaded = load(&tx, principal, &params.plan_slug).await?;
        loaded.plan.ensure_writable()?;
        let phase_index = find(&loaded, &params.phase.0)?;
        let phase_id = loaded.phases[phase_index].id.clone();
        let position =
            loaded.tasks.iter().filter(|t| t.phase_id == phase_id).map(|t| t.position + 1).max().unwrap_or(0);
        let now = self.now();
        let mut task = new_tasks(&phase_id, &[name.to_owned()], position, now).remove(0);
        task.description = params.description;
        tx.insert_tasks(&loaded.plan.id, std::slice::from_ref(&task)).await?;
        loaded.plan.updated_at = now;
        tx.update_plan(&loaded.plan).await?;
        self.commit(tx, principal).await?;
        loaded.tasks.push(task);
        let index = loaded.tasks.len() - 1;
        Ok(change_view(&loaded, index))
    }
}
