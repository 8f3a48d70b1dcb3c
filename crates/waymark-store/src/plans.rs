//! Plans, their phases, tasks and phase checkpoints. Every plan lookup is scoped by workspace;
//! phases, tasks and checkpoints are reached only through a plan the caller already holds.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use waymark_domain::{
    Checkpoint, CheckpointId, JsonText, Phase, PhaseId, PhaseStatus, Plan, PlanId, PlanStatus, Slug, Task, TaskId,
    TaskStatus, Timestamp, WorkspaceId,
};

use crate::convert::{corrupt, to_i32, to_u32};
use crate::entity::{phase_checkpoints as cps, phases, plans, tasks};
use crate::{Backend, Error, Tx};

/// Rows per multi-row insert: well under SQLite's 32,766 bound variables (and PostgreSQL's
/// 65,535 parameters) at a dozen columns a row, so every plan size the schema admits fits.
const ROWS_PER_INSERT: usize = 1000;

/// Which plans `list_plans` returns.
#[derive(Clone, Debug, Default)]
pub struct PlanFilter {
    /// Only plans in this status. `archived` here includes archived plans.
    pub status: Option<PlanStatus>,
    /// Include archived plans when no status is given.
    pub include_archived: bool,
    /// Only plans after this one in the listing order: `(updated_at, id)` of the last plan of
    /// the previous page (keyset paging).
    pub after: Option<(Timestamp, PlanId)>,
    /// Rows to return.
    pub limit: u64,
}

/// One page of plans, most recently updated first.
#[derive(Clone, Debug)]
pub struct PlanPage {
    /// The plans on this page.
    pub plans: Vec<Plan>,
    /// How many plans match the filter in all.
    pub total: u64,
}

fn plan_from_row(row: plans::Model) -> Result<Plan, Error> {
    let bad = |detail: String| corrupt("plans", &row.id, detail);
    Ok(Plan {
        id: PlanId::parse(&row.id).ok_or_else(|| bad("bad id".into()))?,
        workspace_id: WorkspaceId::parse(&row.workspace_id).ok_or_else(|| bad("bad workspace id".into()))?,
        slug: Slug::parse(&row.slug).map_err(|e| bad(e.to_string()))?,
        status: PlanStatus::parse(&row.status).map_err(|e| bad(e.to_string()))?,
        current_phase: row.current_phase.map(|v| to_u32("plans", &row.id, "current_phase", v)).transpose()?,
        title: row.title,
        description: row.description,
        context: JsonText::from_trusted(row.context),
        metadata: JsonText::from_trusted(row.metadata),
        archived_at: row.archived_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn plan_to_row(plan: &Plan) -> plans::ActiveModel {
    plans::ActiveModel {
        id: Set(plan.id.to_string()),
        workspace_id: Set(plan.workspace_id.to_string()),
        slug: Set(plan.slug.to_string()),
        title: Set(plan.title.clone()),
        description: Set(plan.description.clone()),
        context: Set(plan.context.as_str().to_owned()),
        status: Set(plan.status.as_str().to_owned()),
        current_phase: Set(plan.current_phase.map(to_i32)),
        metadata: Set(plan.metadata.as_str().to_owned()),
        archived_at: Set(plan.archived_at),
        created_at: Set(plan.created_at),
        updated_at: Set(plan.updated_at),
    }
}

fn phase_from_row(row: phases::Model) -> Result<Phase, Error> {
    let bad = |detail: String| corrupt("phases", &row.id, detail);
    Ok(Phase {
        id: PhaseId::parse(&row.id).ok_or_else(|| bad("bad id".into()))?,
        plan_id: PlanId::parse(&row.plan_id).ok_or_else(|| bad("bad plan id".into()))?,
        order: to_u32("phases", &row.id, "phase_order", row.phase_order)?,
        status: PhaseStatus::parse(&row.status).map_err(|e| bad(e.to_string()))?,
        dependencies: serde_json::from_str(&row.dependencies).map_err(|e| bad(format!("dependencies: {e}")))?,
        name: row.name,
        description: row.description,
        started_at: row.started_at,
        completed_at: row.completed_at,
        block_reason: row.block_reason,
        skip_reason: row.skip_reason,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn phase_to_row(phase: &Phase) -> phases::ActiveModel {
    phases::ActiveModel {
        id: Set(phase.id.to_string()),
        plan_id: Set(phase.plan_id.to_string()),
        phase_order: Set(to_i32(phase.order)),
        name: Set(phase.name.clone()),
        description: Set(phase.description.clone()),
        status: Set(phase.status.as_str().to_owned()),
        dependencies: Set(serde_json::Value::from(phase.dependencies.clone()).to_string()),
        started_at: Set(phase.started_at),
        completed_at: Set(phase.completed_at),
        block_reason: Set(phase.block_reason.clone()),
        skip_reason: Set(phase.skip_reason.clone()),
        created_at: Set(phase.created_at),
        updated_at: Set(phase.updated_at),
    }
}

fn task_from_row(row: tasks::Model) -> Result<Task, Error> {
    let bad = |detail: String| corrupt("tasks", &row.id, detail);
    Ok(Task {
        id: TaskId::parse(&row.id).ok_or_else(|| bad("bad id".into()))?,
        phase_id: PhaseId::parse(&row.phase_id).ok_or_else(|| bad("bad phase id".into()))?,
        position: to_u32("tasks", &row.id, "position", row.position)?,
        status: TaskStatus::parse(&row.status).map_err(|e| bad(e.to_string()))?,
        name: row.name,
        description: row.description,
        notes: row.notes,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn task_to_row(plan_id: &PlanId, task: &Task) -> tasks::ActiveModel {
    tasks::ActiveModel {
        id: Set(task.id.to_string()),
        plan_id: Set(plan_id.to_string()),
        phase_id: Set(task.phase_id.to_string()),
        position: Set(to_i32(task.position)),
        name: Set(task.name.clone()),
        description: Set(task.description.clone()),
        status: Set(task.status.as_str().to_owned()),
        notes: Set(task.notes.clone()),
        created_at: Set(task.created_at),
        updated_at: Set(task.updated_at),
    }
}

fn checkpoint_from_row(row: cps::Model) -> Result<Checkpoint, Error> {
    let bad = |detail: &str| corrupt("phase_checkpoints", &row.id, detail);
    Ok(Checkpoint {
        id: CheckpointId::parse(&row.id).ok_or_else(|| bad("bad id"))?,
        phase_id: PhaseId::parse(&row.phase_id).ok_or_else(|| bad("bad phase id"))?,
        note: row.note,
        context: JsonText::from_trusted(row.context),
        created_at: row.created_at,
    })
}

impl Tx {
    /// Inserts a plan.
    ///
    /// # Errors
    /// [`Error::Conflict`] when the slug is taken in the workspace.
    pub async fn insert_plan(&self, plan: &Plan) -> Result<(), Error> {
        plans::Entity::insert(plan_to_row(plan)).exec(self.db()).await?;
        Ok(())
    }

    /// Finds a plan by slug within a workspace. In a write transaction on PostgreSQL the row
    /// is locked (`FOR UPDATE`) so concurrent changes to one plan serialize; SQLite serializes
    /// all writers already.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn plan_by_slug(&self, workspace: &WorkspaceId, slug: &Slug) -> Result<Option<Plan>, Error> {
        let mut query = plans::Entity::find()
            .filter(plans::Column::WorkspaceId.eq(workspace.as_str()))
            .filter(plans::Column::Slug.eq(slug.as_str()));
        if self.backend == Backend::Postgres {
            query = query.lock_exclusive();
        }
        query.one(self.db()).await?.map(plan_from_row).transpose()
    }

    /// Finds a plan by id within a workspace (no lock).
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn plan_by_id(&self, workspace: &WorkspaceId, id: &PlanId) -> Result<Option<Plan>, Error> {
        plans::Entity::find()
            .filter(plans::Column::WorkspaceId.eq(workspace.as_str()))
            .filter(plans::Column::Id.eq(id.as_str()))
            .one(self.db())
            .await?
            .map(plan_from_row)
            .transpose()
    }

    /// Writes every mutable field of a plan (matched by id and workspace).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn update_plan(&self, plan: &Plan) -> Result<(), Error> {
        plans::Entity::update_many()
            .set(plan_to_row(plan))
            .filter(plans::Column::Id.eq(plan.id.as_str()))
            .filter(plans::Column::WorkspaceId.eq(plan.workspace_id.as_str()))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// A page of a workspace's plans, most recently updated first.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn list_plans(&self, workspace: &WorkspaceId, filter: &PlanFilter) -> Result<PlanPage, Error> {
        let mut query = plans::Entity::find().filter(plans::Column::WorkspaceId.eq(workspace.as_str()));
        query = match filter.status {
            Some(status) => query.filter(plans::Column::Status.eq(status.as_str())),
            None if filter.include_archived => query,
            None => query.filter(plans::Column::Status.ne(PlanStatus::Archived.as_str())),
        };
        let total = query.clone().count(self.db()).await?;
        if let Some((at, id)) = &filter.after {
            query =
                query.filter(Condition::any().add(plans::Column::UpdatedAt.lt(*at)).add(
                    Condition::all().add(plans::Column::UpdatedAt.eq(*at)).add(plans::Column::Id.lt(id.as_str())),
                ));
        }
        let plans = query
            .order_by_desc(plans::Column::UpdatedAt)
            .order_by_desc(plans::Column::Id)
            .limit(filter.limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(plan_from_row)
            .collect::<Result<_, _>>()?;
        Ok(PlanPage { plans, total })
    }

    /// Inserts phases.
    ///
    /// # Errors
    /// [`Error::Conflict`] on a duplicate order within a plan.
    pub async fn insert_phases(&self, phases: &[Phase]) -> Result<(), Error> {
        if phases.is_empty() {
            return Ok(());
        }
        for chunk in phases.chunks(ROWS_PER_INSERT) {
            phases::Entity::insert_many(chunk.iter().map(phase_to_row)).exec_without_returning(self.db()).await?;
        }
        Ok(())
    }

    /// Writes every mutable field of a phase.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn update_phase(&self, phase: &Phase) -> Result<(), Error> {
        phases::Entity::update_many()
            .set(phase_to_row(phase))
            .filter(phases::Column::Id.eq(phase.id.as_str()))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// The phases of a plan, by order.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn phases_of(&self, plan: &PlanId) -> Result<Vec<Phase>, Error> {
        phases::Entity::find()
            .filter(phases::Column::PlanId.eq(plan.as_str()))
            .order_by_asc(phases::Column::PhaseOrder)
            .all(self.db())
            .await?
            .into_iter()
            .map(phase_from_row)
            .collect()
    }

    /// `(plan, phase, status)` of every phase of several plans, for progress in listings.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn phase_statuses_of(&self, plans: &[PlanId]) -> Result<Vec<(PlanId, PhaseId, PhaseStatus)>, Error> {
        if plans.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, String, String)> = phases::Entity::find()
            .select_only()
            .column(phases::Column::PlanId)
            .column(phases::Column::Id)
            .column(phases::Column::Status)
            .filter(phases::Column::PlanId.is_in(plans.iter().map(PlanId::as_str)))
            .into_tuple()
            .all(self.db())
            .await?;
        rows.into_iter()
            .map(|(plan, phase, status)| {
                let id = PlanId::parse(&plan).ok_or_else(|| corrupt("phases", &phase, "bad plan id"))?;
                let phase_id = PhaseId::parse(&phase).ok_or_else(|| corrupt("phases", &phase, "bad id"))?;
                let status = PhaseStatus::parse(&status).map_err(|e| corrupt("phases", &phase, e))?;
                Ok((id, phase_id, status))
            })
            .collect()
    }

    /// Inserts tasks of one plan.
    ///
    /// # Errors
    /// [`Error::Conflict`] on a duplicate position within a phase.
    pub async fn insert_tasks(&self, plan: &PlanId, tasks: &[Task]) -> Result<(), Error> {
        if tasks.is_empty() {
            return Ok(());
        }
        for chunk in tasks.chunks(ROWS_PER_INSERT) {
            tasks::Entity::insert_many(chunk.iter().map(|t| task_to_row(plan, t)))
                .exec_without_returning(self.db())
                .await?;
        }
        Ok(())
    }

    /// Writes every mutable field of a task.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn update_task(&self, plan: &PlanId, task: &Task) -> Result<(), Error> {
        tasks::Entity::update_many()
            .set(task_to_row(plan, task))
            .filter(tasks::Column::Id.eq(task.id.as_str()))
            .filter(tasks::Column::PlanId.eq(plan.as_str()))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// The tasks of a plan, by phase then position (group them by `phase_id`).
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn tasks_of(&self, plan: &PlanId) -> Result<Vec<Task>, Error> {
        tasks::Entity::find()
            .filter(tasks::Column::PlanId.eq(plan.as_str()))
            .order_by_asc(tasks::Column::PhaseId)
            .order_by_asc(tasks::Column::Position)
            .all(self.db())
            .await?
            .into_iter()
            .map(task_from_row)
            .collect()
    }

    /// `(plan, phase, status)` of every task of several plans, for progress in listings.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn task_statuses_of(&self, plans: &[PlanId]) -> Result<Vec<(PlanId, PhaseId, TaskStatus)>, Error> {
        if plans.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, String, String)> = tasks::Entity::find()
            .select_only()
            .column(tasks::Column::PlanId)
            .column(tasks::Column::PhaseId)
            .column(tasks::Column::Status)
            .filter(tasks::Column::PlanId.is_in(plans.iter().map(PlanId::as_str)))
            .into_tuple()
            .all(self.db())
            .await?;
        rows.into_iter()
            .map(|(plan, phase, status)| {
                let id = PlanId::parse(&plan).ok_or_else(|| corrupt("tasks", &plan, "bad plan id"))?;
                let phase_id = PhaseId::parse(&phase).ok_or_else(|| corrupt("tasks", &plan, "bad phase id"))?;
                let status = TaskStatus::parse(&status).map_err(|e| corrupt("tasks", &plan, e))?;
                Ok((id, phase_id, status))
            })
            .collect()
    }

    /// Appends a checkpoint row.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn insert_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), Error> {
        cps::Entity::insert(cps::ActiveModel {
            id: Set(checkpoint.id.to_string()),
            phase_id: Set(checkpoint.phase_id.to_string()),
            note: Set(checkpoint.note.clone()),
            context: Set(checkpoint.context.as_str().to_owned()),
            created_at: Set(checkpoint.created_at),
        })
        .exec(self.db())
        .await?;
        Ok(())
    }

    /// The checkpoints of a phase, oldest first.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn checkpoints_of(&self, phase: &PhaseId) -> Result<Vec<Checkpoint>, Error> {
        cps::Entity::find()
            .filter(cps::Column::PhaseId.eq(phase.as_str()))
            .order_by_asc(cps::Column::CreatedAt)
            .order_by_asc(cps::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(checkpoint_from_row)
            .collect()
    }
}

/// Paged reads of a plan's tasks and checkpoints, for results that must stay small however
/// large the plan is.
impl Tx {
    /// How many tasks of each status each phase of a plan has (`(phase, status, count)`).
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn task_counts_of(&self, plan: &PlanId) -> Result<Vec<(PhaseId, TaskStatus, u64)>, Error> {
        let rows: Vec<(String, String, i64)> = tasks::Entity::find()
            .select_only()
            .column(tasks::Column::PhaseId)
            .column(tasks::Column::Status)
            .column_as(tasks::Column::Id.count(), "count")
            .filter(tasks::Column::PlanId.eq(plan.as_str()))
            .group_by(tasks::Column::PhaseId)
            .group_by(tasks::Column::Status)
            .into_tuple()
            .all(self.db())
            .await?;
        rows.into_iter()
            .map(|(phase, status, count)| {
                let phase_id = PhaseId::parse(&phase).ok_or_else(|| corrupt("tasks", &phase, "bad phase id"))?;
                let status = TaskStatus::parse(&status).map_err(|e| corrupt("tasks", &phase, e))?;
                Ok((phase_id, status, u64::try_from(count).unwrap_or(0)))
            })
            .collect()
    }

    /// How many tasks of each status each phase of several plans has
    /// (`(plan, phase, status, count)`), for progress in listings.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn task_counts_of_plans(
        &self,
        plans: &[PlanId],
    ) -> Result<Vec<(PlanId, PhaseId, TaskStatus, u64)>, Error> {
        if plans.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, String, String, i64)> = tasks::Entity::find()
            .select_only()
            .column(tasks::Column::PlanId)
            .column(tasks::Column::PhaseId)
            .column(tasks::Column::Status)
            .column_as(tasks::Column::Id.count(), "count")
            .filter(tasks::Column::PlanId.is_in(plans.iter().map(PlanId::as_str)))
            .group_by(tasks::Column::PlanId)
            .group_by(tasks::Column::PhaseId)
            .group_by(tasks::Column::Status)
            .into_tuple()
            .all(self.db())
            .await?;
        rows.into_iter()
            .map(|(plan, phase, status, count)| {
                let plan_id = PlanId::parse(&plan).ok_or_else(|| corrupt("tasks", &plan, "bad plan id"))?;
                let phase_id = PhaseId::parse(&phase).ok_or_else(|| corrupt("tasks", &phase, "bad phase id"))?;
                let status = TaskStatus::parse(&status).map_err(|e| corrupt("tasks", &phase, e))?;
                Ok((plan_id, phase_id, status, u64::try_from(count).unwrap_or(0)))
            })
            .collect()
    }

    /// Up to `limit` tasks of a phase by position, only those after position `after`.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn phase_tasks_page(&self, phase: &PhaseId, after: Option<u32>, limit: u64) -> Result<Vec<Task>, Error> {
        let mut query = tasks::Entity::find().filter(tasks::Column::PhaseId.eq(phase.as_str()));
        if let Some(after) = after {
            query = query.filter(tasks::Column::Position.gt(to_i32(after)));
        }
        query
            .order_by_asc(tasks::Column::Position)
            .limit(limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(task_from_row)
            .collect()
    }

    /// The tasks of several phases whose position is below `below`, by phase then position
    /// (the first tasks of each phase, in one query).
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn first_tasks_of(&self, phases: &[PhaseId], below: u32) -> Result<Vec<Task>, Error> {
        if phases.is_empty() || below == 0 {
            return Ok(Vec::new());
        }
        tasks::Entity::find()
            .filter(tasks::Column::PhaseId.is_in(phases.iter().map(PhaseId::as_str)))
            .filter(tasks::Column::Position.lt(to_i32(below)))
            .order_by_asc(tasks::Column::PhaseId)
            .order_by_asc(tasks::Column::Position)
            .all(self.db())
            .await?
            .into_iter()
            .map(task_from_row)
            .collect()
    }

    /// Up to `limit` names of a phase's tasks that are neither completed nor skipped, by
    /// position.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn unfinished_task_names(&self, phase: &PhaseId, limit: u64) -> Result<Vec<String>, Error> {
        Ok(tasks::Entity::find()
            .select_only()
            .column(tasks::Column::Name)
            .filter(tasks::Column::PhaseId.eq(phase.as_str()))
            .filter(tasks::Column::Status.is_not_in([TaskStatus::Completed.as_str(), TaskStatus::Skipped.as_str()]))
            .order_by_asc(tasks::Column::Position)
            .limit(limit)
            .into_tuple()
            .all(self.db())
            .await?)
    }

    /// Up to `limit` checkpoints of a phase, newest first, only those older than the
    /// checkpoint `before` (keyset paging by id, which follows time).
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn checkpoints_page(
        &self,
        phase: &PhaseId,
        before: Option<&CheckpointId>,
        limit: u64,
    ) -> Result<Vec<Checkpoint>, Error> {
        let mut query = cps::Entity::find().filter(cps::Column::PhaseId.eq(phase.as_str()));
        if let Some(before) = before {
            query = query.filter(cps::Column::Id.lt(before.as_str()));
        }
        query
            .order_by_desc(cps::Column::Id)
            .limit(limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(checkpoint_from_row)
            .collect()
    }

    /// How many checkpoints a phase has.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn checkpoint_count(&self, phase: &PhaseId) -> Result<u64, Error> {
        Ok(cps::Entity::find().filter(cps::Column::PhaseId.eq(phase.as_str())).count(self.db()).await?)
    }
}
