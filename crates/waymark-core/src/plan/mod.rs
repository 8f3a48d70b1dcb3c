//! Plan use cases: `plan_create`, `plan_get`, `plan_list`, `plan_update_status`,
//! `plan_archive`, `plan_publish` (seed-000 §2.2 with the AGENT-TOOLS.md fixes).

mod markdown;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use waymark_domain::{
    JsonText, Phase, PhaseId, PhaseRef, Plan, PlanId, PlanStatus, Slug, Task, TaskId, TaskStatus, Transition, phase,
};
use waymark_store::{PlanFilter, Tx};

use crate::clock::iso;
use crate::view::budget::{RESULT_BUDGET_BYTES, clip_opt, fill_by, json_len};
use crate::view::{
    PhaseArg, PhaseLimits, PhaseTasks, PhaseView, ProgressView, Status, TaskCounts, clipped_object, cursor, document,
    object, phase_view, progress,
};
use crate::{ErrorCode, Principal, Service, ServiceError, ids};

/// A plan with its phases and tasks, read in one transaction.
pub(crate) struct Loaded {
    pub(crate) plan: Plan,
    pub(crate) phases: Vec<Phase>,
    pub(crate) tasks: Vec<Task>,
}

/// A plan with its phases and task counts, but not its tasks: what a read needs to show a
/// plan of any size.
pub(crate) struct Outline {
    pub(crate) plan: Plan,
    pub(crate) phases: Vec<Phase>,
    pub(crate) counts: TaskCounts,
}

/// Finds a plan of the caller's workspace without its phases or tasks (locked for update in
/// a PostgreSQL write).
pub(crate) async fn find(tx: &Tx, principal: &Principal, slug: &str) -> Result<Plan, ServiceError> {
    let parsed = Slug::parse(slug).map_err(|_| plan_not_found(slug))?;
    tx.plan_by_slug(&principal.workspace_id, &parsed).await?.ok_or_else(|| plan_not_found(slug))
}

/// The most items a listing page holds: `limit`, but never more than could fit the budget at
/// 200 bytes each (320), so a page never reads rows it cannot show.
pub(crate) fn page_limit(limit: u32) -> usize {
    (limit as usize).min(RESULT_BUDGET_BYTES / 200)
}

/// Loads a plan's outline (no lock).
pub(crate) async fn outline(tx: &Tx, principal: &Principal, slug: &str) -> Result<Outline, ServiceError> {
    let parsed = Slug::parse(slug).map_err(|_| plan_not_found(slug))?;
    let plan = tx.plan_by_slug(&principal.workspace_id, &parsed).await?.ok_or_else(|| plan_not_found(slug))?;
    let phases = tx.phases_of(&plan.id).await?;
    let counts = TaskCounts::new(tx.task_counts_of(&plan.id).await?);
    Ok(Outline { plan, phases, counts })
}

/// "Plan not found: {slug}" (the original's wording).
pub(crate) fn plan_not_found(slug: &str) -> ServiceError {
    ServiceError::not_found(format!("Plan not found: {slug}"))
}

/// Loads a plan of the caller's workspace (locked for update in a PostgreSQL write).
pub(crate) async fn load(tx: &Tx, principal: &Principal, slug: &str) -> Result<Loaded, ServiceError> {
    let parsed = Slug::parse(slug).map_err(|_| plan_not_found(slug))?;
    let plan = tx.plan_by_slug(&principal.workspace_id, &parsed).await?.ok_or_else(|| plan_not_found(slug))?;
    let phases = tx.phases_of(&plan.id).await?;
    let tasks = tx.tasks_of(&plan.id).await?;
    Ok(Loaded { plan, phases, tasks })
}

/// Arguments of `plan_create`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanCreateParams {
    /// Plan title, 1-255 characters.
    #[schemars(length(min = 1, max = 255))]
    pub title: String,
    /// URL-safe handle (lowercase letters, digits, hyphens), unique in the workspace. Generated from the title when absent.
    #[schemars(length(min = 1, max = 255), pattern(r"^[a-z0-9-]+$"))]
    pub slug: Option<String>,
    /// What the plan is for.
    #[schemars(length(max = 65535))]
    pub description: Option<String>,
    /// Free-form JSON object the agent keeps with the plan (at most 256 KiB).
    pub context: Option<Map<String, Value>>,
    /// Phases in order, each with its tasks.
    #[schemars(length(max = 100))]
    pub phases: Option<Vec<PhaseInput>>,
}

/// A phase to create.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseInput {
    /// Phase name; "Phase N" when absent.
    #[schemars(length(min = 1, max = 255))]
    pub name: Option<String>,
    /// What the phase covers.
    #[schemars(length(max = 65535))]
    pub description: Option<String>,
    /// Task names in order.
    #[schemars(length(max = 500), inner(length(min = 1, max = 1024)))]
    pub tasks: Option<Vec<String>>,
    /// Earlier phases (by order or name) that must be completed or skipped before this one starts.
    #[schemars(length(max = 100))]
    pub dependencies: Option<Vec<PhaseArg>>,
}

/// Result of `plan_create`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PlanCreateView {
    /// The new plan.
    pub plan: PlanCreatedView,
}

/// A newly created plan.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PlanCreatedView {
    /// Its slug: pass it to every other plan, phase and task tool.
    pub slug: String,
    /// Title.
    pub title: String,
    /// Always `draft`; publish it with plan_publish.
    pub status: Status<PlanStatus>,
    /// Number of phases.
    pub phases: u32,
    /// Number of tasks.
    pub tasks: u32,
}

/// Output format of `plan_get`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanFormat {
    /// Structured JSON (the default).
    #[default]
    Json,
    /// A markdown document.
    Markdown,
}

/// Arguments of `plan_get`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanGetParams {
    /// The plan's slug.
    #[schemars(description = "", length(min = 1, max = 255))]
    pub slug: String,
    /// `json` (default) or `markdown`.
    pub format: Option<PlanFormat>,
    /// From `next_cursor`.
    #[schemars(length(max = 1024))]
    pub cursor: Option<String>,
}

/// Result of `plan_get`: `plan` for JSON, `markdown` for markdown.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PlanGetView {
    /// The plan (format `json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanView>,
    /// The plan as markdown (format `markdown`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub markdown: Option<String>,
    /// Pass as `cursor` (same slug and format) for the phases after this page; null when the
    /// last phase is shown.
    pub next_cursor: Option<String>,
    /// True when this result does not hold the whole plan: more phases (`next_cursor`), a
    /// phase's further tasks (its `tasks_next_cursor`, for phase_get), or a clipped text.
    pub truncated: bool,
}

/// A plan with everything in it.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PlanView {
    /// Slug.
    pub slug: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Status.
    pub status: Status<PlanStatus>,
    /// Order of the phase most recently started.
    pub current_phase: Option<u32>,
    /// The owning workspace's id.
    pub workspace_id: String,
    /// Progress by phases and tasks.
    pub progress: ProgressView,
    /// The agent's context object.
    pub context: Map<String, Value>,
    /// Server-kept metadata (archive reason, template provenance).
    pub metadata: Map<String, Value>,
    /// Phases in order, with tasks.
    pub phases: Vec<PhaseView>,
    /// ISO-8601.
    pub archived_at: Option<String>,
    /// ISO-8601.
    pub created_at: String,
    /// ISO-8601.
    pub updated_at: String,
}

/// Arguments of `plan_list`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanListParams {
    /// Only plans in this status.
    pub status: Option<Status<PlanStatus>>,
    /// Include archived plans (default false).
    pub include_archived: Option<bool>,
    /// Page size, 1-1000 (default 50).
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// From `next_cursor`.
    #[schemars(length(max = 1024))]
    pub cursor: Option<String>,
}

/// Result of `plan_list`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PlanListView {
    /// Plans, most recently updated first.
    pub plans: Vec<PlanSummaryView>,
    /// How many plans match in all.
    pub total: u64,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// True when more plans follow (`next_cursor`).
    pub truncated: bool,
}

/// A plan in a listing.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PlanSummaryView {
    /// Slug.
    pub slug: String,
    /// Title.
    pub title: String,
    /// Status.
    pub status: Status<PlanStatus>,
    /// Progress by phases and tasks.
    pub progress: ProgressView,
    /// ISO-8601.
    pub updated_at: String,
}

/// The statuses `plan_update_status` may set (archiving goes through `plan_archive`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatusUpdate {
    /// Back to draft (only from draft).
    Draft,
    /// Being worked on.
    Active,
    /// On hold.
    Paused,
    /// Done.
    Completed,
}

impl From<PlanStatusUpdate> for PlanStatus {
    fn from(s: PlanStatusUpdate) -> Self {
        match s {
            PlanStatusUpdate::Draft => Self::Draft,
            PlanStatusUpdate::Active => Self::Active,
            PlanStatusUpdate::Paused => Self::Paused,
            PlanStatusUpdate::Completed => Self::Completed,
        }
    }
}

/// Arguments of `plan_update_status`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanUpdateStatusParams {
    /// The plan's slug.
    #[schemars(description = "", length(min = 1, max = 255))]
    pub slug: String,
    /// The new status.
    #[schemars(description = "")]
    pub status: PlanStatusUpdate,
}

/// Result of `plan_update_status`, `plan_publish`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PlanStatusView {
    /// The plan after the change.
    pub plan: PlanStatusChangeView,
}

/// A plan's status change.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PlanStatusChangeView {
    /// Slug.
    pub slug: String,
    /// Status now.
    pub status: Status<PlanStatus>,
    /// Status before the call (equal to `status` when nothing changed).
    pub previous_status: Status<PlanStatus>,
}

/// Arguments of `plan_archive`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanArchiveParams {
    /// The plan's slug.
    #[schemars(description = "", length(min = 1, max = 255))]
    pub slug: String,
    /// Why it is archived; kept as `metadata.archive_reason`.
    #[schemars(length(max = 2000))]
    pub reason: Option<String>,
}

/// Result of `plan_archive`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PlanArchiveView {
    /// The archived plan.
    pub plan: PlanArchivedView,
}

/// An archived plan.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PlanArchivedView {
    /// Slug.
    pub slug: String,
    /// Always `archived`.
    pub status: Status<PlanStatus>,
    /// ISO-8601.
    pub archived_at: Option<String>,
}

/// Arguments of `plan_publish`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanPublishParams {
    /// The plan's slug.
    #[schemars(description = "", length(min = 1, max = 255))]
    pub slug: String,
}

const DEFAULT_PAGE: u32 = 50;

/// A plan to create (from `plan_create` or a template).
pub(crate) struct NewPlan {
    pub(crate) title: String,
    pub(crate) slug: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) context: JsonText,
    pub(crate) metadata: JsonText,
    pub(crate) status: PlanStatus,
    pub(crate) phases: Vec<NewPhase>,
    pub(crate) template: Option<TemplateVersion>,
}

/// A phase to create: tasks are `(name, description)`.
pub(crate) struct NewPhase {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) tasks: Vec<(String, Option<String>)>,
    pub(crate) dependencies: Vec<PhaseRef>,
}

/// The template content a plan was made from, recorded by content hash.
pub(crate) struct TemplateVersion {
    pub(crate) hash: String,
    pub(crate) slug: String,
    pub(crate) name: String,
    pub(crate) content: String,
}

/// What was created.
pub(crate) struct CreatedPlan {
    pub(crate) slug: Slug,
    pub(crate) title: String,
    pub(crate) status: PlanStatus,
    pub(crate) phases: u32,
    pub(crate) tasks: u32,
}

/// Builds the tasks of a new phase.
pub(crate) fn new_tasks(
    phase_id: &PhaseId,
    names: &[String],
    first_position: u32,
    now: waymark_domain::Timestamp,
) -> Vec<Task> {
    names
        .iter()
        .zip(first_position..)
        .map(|(name, position)| Task {
            id: TaskId::from_ulid(&ids::ulid(now)),
            phase_id: phase_id.clone(),
            position,
            name: name.clone(),
            description: None,
            status: TaskStatus::Pending,
            notes: None,
            created_at: now,
            updated_at: now,
        })
        .collect()
}

/// How `plan_get` bounds each phase: its first 50 tasks within 6,000 bytes, texts clipped.
const PLAN_PHASE_LIMITS: PhaseLimits =
    PhaseLimits { tasks: 50, task_bytes: 6_000, task_text_bytes: 300, text_bytes: 600 };
/// Bytes of a plan's description in `plan_get`.
const PLAN_DESCRIPTION_BYTES: usize = 4_000;
/// Bytes of a plan's context in `plan_get`.
const PLAN_CONTEXT_BYTES: usize = 16_000;
/// Bytes of a plan's metadata in `plan_get`.
const PLAN_METADATA_BYTES: usize = 4_000;
/// Room kept for the fields set after a page is measured (cursors, flags).
pub(crate) const SLACK_BYTES: usize = 1_500;
/// How many phases' first tasks one query reads.
const PHASE_BATCH: usize = 8;

/// The plan's fields without phases, bounded.
fn plan_header(o: &Outline, truncated: &mut bool) -> PlanView {
    let plan = &o.plan;
    PlanView {
        slug: plan.slug.to_string(),
        title: plan.title.clone(),
        description: clip_opt(plan.description.as_deref(), PLAN_DESCRIPTION_BYTES, truncated),
        status: Status(plan.status),
        current_phase: plan.current_phase,
        workspace_id: plan.workspace_id.to_string(),
        progress: progress(&o.phases, &o.counts),
        context: clipped_object(&plan.context, PLAN_CONTEXT_BYTES, truncated),
        metadata: clipped_object(&plan.metadata, PLAN_METADATA_BYTES, truncated),
        phases: Vec::new(),
        archived_at: plan.archived_at.map(iso),
        created_at: iso(plan.created_at),
        updated_at: iso(plan.updated_at),
    }
}

/// Phases of a plan, in order from `first` (an index into `o.phases`), as bounded views, while
/// `fits` accepts them; reads only the first tasks of the phases it shows. Returns the views
/// and whether phases were left.
async fn phase_page(
    tx: &Tx,
    o: &Outline,
    first: usize,
    mut fits: impl FnMut(&PhaseView) -> bool,
) -> Result<(Vec<PhaseView>, bool), ServiceError> {
    let candidates = &o.phases[first.min(o.phases.len())..];
    let mut views = Vec::new();
    for batch in candidates.chunks(PHASE_BATCH) {
        let ids: Vec<PhaseId> = batch.iter().map(|p| p.id.clone()).collect();
        let shown = u32::try_from(PLAN_PHASE_LIMITS.tasks).unwrap_or(u32::MAX);
        let tasks = tx.first_tasks_of(&ids, shown + 1).await?;
        for p in batch {
            let own: Vec<Task> = tasks.iter().filter(|t| t.phase_id == p.id).cloned().collect();
            let unfinished = if o.counts.total_of(&p.id) > own.len() as u64 {
                Some(tx.unfinished_task_names(&p.id, 21).await?)
            } else {
                None
            };
            let view = phase_view(
                p,
                &o.phases,
                &o.counts,
                PhaseTasks { tasks: own, more: false, unfinished },
                PLAN_PHASE_LIMITS,
            );
            // The first phase is shown whatever its size, so paging always moves on.
            if !fits(&view) && !views.is_empty() {
                return Ok((views, true));
            }
            views.push(view);
        }
    }
    Ok((views, false))
}

impl Service {
    /// `plan_create`: creates a draft plan with its phases and tasks in one transaction.
    ///
    /// # Errors
    /// `validation_error` (bad title, slug, dependencies, oversized context), `conflict`
    /// ("Plan with slug '{slug}' already exists").
    pub async fn plan_create(
        &self,
        principal: &Principal,
        params: PlanCreateParams,
    ) -> Result<PlanCreateView, ServiceError> {
        let phases = params
            .phases
            .unwrap_or_default()
            .into_iter()
            .zip(1u32..)
            .map(|(input, order)| NewPhase {
                name: input
                    .name
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| format!("Phase {order}")),
                description: input.description,
                tasks: input.tasks.unwrap_or_default().into_iter().map(|name| (name, None)).collect(),
                dependencies: input.dependencies.unwrap_or_default().into_iter().map(|d| d.0).collect(),
            })
            .collect();
        let created = self
            .create_plan(
                principal,
                NewPlan {
                    title: params.title,
                    slug: params.slug,
                    description: params.description,
                    context: document("context", params.context.as_ref())?,
                    metadata: JsonText::empty_object(),
                    status: PlanStatus::Draft,
                    phases,
                    template: None,
                },
            )
            .await?;
        Ok(PlanCreateView {
            plan: PlanCreatedView {
                slug: created.slug.to_string(),
                title: created.title,
                status: Status(created.status),
                phases: created.phases,
                tasks: created.tasks,
            },
        })
    }

    /// Creates a plan with its phases and tasks (and the template version it came from) in one
    /// transaction. A generated slug is retried on a collision; a given one is a conflict.
    pub(crate) async fn create_plan(&self, principal: &Principal, new: NewPlan) -> Result<CreatedPlan, ServiceError> {
        let title = new.title.trim().to_owned();
        if title.is_empty() {
            return Err(ServiceError::validation(
                "title is required and must be a non-empty string (max 255 characters)",
            ));
        }
        if title.chars().count() > 255 {
            return Err(ServiceError::validation(
                "title is required and must be a non-empty string (max 255 characters)",
            ));
        }
        let now = self.now();
        let plan_id = PlanId::from_ulid(&ids::ulid(now));
        let mut phases: Vec<Phase> = Vec::new();
        let mut tasks: Vec<Task> = Vec::new();
        for (input, order) in new.phases.into_iter().zip(1u32..) {
            let dependencies = phase::resolve_dependencies(&input.dependencies, &phases, order)?;
            let id = PhaseId::from_ulid(&ids::ulid(now));
            let names: Vec<String> = input.tasks.iter().map(|(name, _)| name.clone()).collect();
            let mut new_tasks = new_tasks(&id, &names, 0, now);
            for (task, (_, description)) in new_tasks.iter_mut().zip(input.tasks) {
                task.description = description;
            }
            tasks.extend(new_tasks);
            phases.push(Phase {
                id,
                plan_id: plan_id.clone(),
                order,
                name: input.name,
                description: input.description,
                status: waymark_domain::PhaseStatus::Pending,
                dependencies,
                started_at: None,
                completed_at: None,
                block_reason: None,
                skip_reason: None,
                created_at: now,
                updated_at: now,
            });
        }
        let explicit_slug = new.slug.is_some();
        let mut slug = match &new.slug {
            Some(raw) => Slug::parse(raw)?,
            None => Slug::generate(&title, &ids::lowercase_alphanumerics(6)),
        };
        let mut attempts = 0;
        loop {
            let plan = Plan {
                id: plan_id.clone(),
                workspace_id: principal.workspace_id.clone(),
                slug: slug.clone(),
                title: title.clone(),
                description: new.description.clone(),
                context: new.context.clone(),
                status: new.status,
                current_phase: None,
                metadata: new.metadata.clone(),
                archived_at: None,
                created_at: now,
                updated_at: now,
            };
            let tx = self.store().write().await?;
            match tx.insert_plan(&plan).await {
                Err(waymark_store::Error::Conflict) if !explicit_slug && attempts < 3 => {
                    attempts += 1;
                    slug = Slug::generate(&title, &ids::lowercase_alphanumerics(6));
                    continue;
                }
                Err(waymark_store::Error::Conflict) => {
                    return Err(ServiceError::conflict(format!("Plan with slug '{slug}' already exists")));
                }
                other => other?,
            }
            tx.insert_phases(&phases).await?;
            tx.insert_tasks(&plan.id, &tasks).await?;
            if let Some(version) = &new.template {
                tx.record_template_version(&version.hash, &version.slug, &version.name, &version.content, now).await?;
            }
            self.commit(tx, principal).await?;
            return Ok(CreatedPlan {
                slug,
                title,
                status: new.status,
                phases: u32::try_from(phases.len()).unwrap_or(u32::MAX),
                tasks: u32::try_from(tasks.len()).unwrap_or(u32::MAX),
            });
        }
    }

    /// `plan_get`: the plan as JSON or markdown, bounded: the plan's fields, then its phases
    /// in order with their first tasks, as many as fit the result budget; `next_cursor` pages
    /// further phases and each phase's `tasks_next_cursor` its further tasks (phase_get).
    ///
    /// # Errors
    /// `not_found` ("Plan not found: {slug}"), `validation_error` for a bad cursor.
    pub async fn plan_get(&self, principal: &Principal, params: PlanGetParams) -> Result<PlanGetView, ServiceError> {
        let after = cursor::decode_opt::<1>("phases", params.cursor.as_deref())?
            .map(|[order]| cursor::parse_number(&order))
            .transpose()?;
        let tx = self.store().read().await?;
        let o = outline(&tx, principal, &params.slug).await?;
        let first = after.map_or(0, |after| o.phases.iter().take_while(|p| u64::from(p.order) <= after).count());
        let mut truncated = false;
        match params.format.unwrap_or_default() {
            PlanFormat::Json => {
                let mut plan = plan_header(&o, &mut truncated);
                let mut room = RESULT_BUDGET_BYTES.saturating_sub(json_len(&plan) + SLACK_BYTES);
                let (phases, more) = phase_page(&tx, &o, first, |view| {
                    let cost = json_len(view) + 1;
                    let fits = cost <= room;
                    room = room.saturating_sub(cost);
                    fits
                })
                .await?;
                let next_cursor =
                    more.then(|| phases.last().map(|p| cursor::encode("phases", &[&p.order.to_string()]))).flatten();
                truncated |= next_cursor.is_some() || phases.iter().any(|p| p.truncated);
                plan.phases = phases;
                Ok(PlanGetView { plan: Some(plan), markdown: None, next_cursor, truncated })
            }
            PlanFormat::Markdown => {
                let mut out = markdown::header(&o, first > 0, &mut truncated);
                let mut room = RESULT_BUDGET_BYTES.saturating_sub(json_len(&out) + SLACK_BYTES);
                let mut rendered = Vec::new();
                let (phases, more) = phase_page(&tx, &o, first, |view| {
                    let text = markdown::phase(&params.slug, view);
                    let cost = json_len(&text);
                    let fits = cost <= room;
                    room = room.saturating_sub(cost);
                    if fits || rendered.is_empty() {
                        rendered.push(text);
                    }
                    fits
                })
                .await?;
                for text in rendered.iter().take(phases.len()) {
                    out.push_str(text);
                }
                let next_cursor =
                    more.then(|| phases.last().map(|p| cursor::encode("phases", &[&p.order.to_string()]))).flatten();
                if let (Some(next), Some(last)) = (&next_cursor, phases.last()) {
                    markdown::more_phases(
                        &mut out,
                        &params.slug,
                        o.phases.len() - first - phases.len(),
                        last.order,
                        next,
                    );
                }
                truncated |= next_cursor.is_some() || phases.iter().any(|p| p.truncated);
                Ok(PlanGetView { plan: None, markdown: Some(markdown::finish(out)), next_cursor, truncated })
            }
        }
    }

    /// `plan_list`: plans of the caller's workspace, most recently updated first, paged by
    /// `(updated_at, id)` and by the result budget.
    ///
    /// # Errors
    /// `validation_error` for a bad cursor.
    pub async fn plan_list(&self, principal: &Principal, params: PlanListParams) -> Result<PlanListView, ServiceError> {
        let after = match cursor::decode_opt::<2>("plans", params.cursor.as_deref())? {
            Some([at, id]) => Some((
                cursor::parse_time(&at)?,
                PlanId::parse(&id).ok_or_else(|| {
                    ServiceError::validation(
                        "cursor is invalid; pass the next_cursor of a previous page of the same list",
                    )
                })?,
            )),
            None => None,
        };
        let limit = page_limit(params.limit.unwrap_or(DEFAULT_PAGE).clamp(1, 1000));
        let filter = PlanFilter {
            status: params.status.map(|s| s.0),
            include_archived: params.include_archived.unwrap_or(false),
            after,
            limit: limit as u64 + 1,
        };
        let tx = self.store().read().await?;
        let page = tx.list_plans(&principal.workspace_id, &filter).await?;
        let ids: Vec<PlanId> = page.plans.iter().map(|p| p.id.clone()).collect();
        let phase_statuses = tx.phase_statuses_of(&ids).await?;
        let task_counts = tx.task_counts_of_plans(&ids).await?;
        let summaries = page.plans.iter().map(|p| {
            let counts = TaskCounts::new(
                task_counts
                    .iter()
                    .filter(|(plan, _, _, _)| *plan == p.id)
                    .map(|(_, phase, s, n)| (phase.clone(), *s, *n))
                    .collect(),
            );
            let progress = crate::view::progress_of_statuses(
                phase_statuses.iter().filter(|(plan, _, _)| *plan == p.id).map(|(_, phase, s)| (phase, *s)),
                &counts,
            );
            (
                PlanSummaryView {
                    slug: p.slug.to_string(),
                    title: p.title.clone(),
                    status: Status(p.status),
                    progress,
                    updated_at: iso(p.updated_at),
                },
                (p.updated_at, p.id.clone()),
            )
        });
        let (shown, more) = fill_by(summaries, limit, RESULT_BUDGET_BYTES - SLACK_BYTES, |(view, _)| json_len(view));
        let next_cursor = if more {
            shown.last().map(|(_, (at, id))| cursor::encode("plans", &[&cursor::time(*at), id.as_str()]))
        } else {
            None
        };
        let plans = shown.into_iter().map(|(view, _)| view).collect();
        Ok(PlanListView { plans, total: page.total, truncated: next_cursor.is_some(), next_cursor })
    }

    /// `plan_update_status`: moves a plan through its status table.
    ///
    /// # Errors
    /// `not_found`, `invalid_transition` (naming the allowed targets; archived plans are
    /// read-only).
    pub async fn plan_update_status(
        &self,
        principal: &Principal,
        params: PlanUpdateStatusParams,
    ) -> Result<PlanStatusView, ServiceError> {
        self.change_plan_status(principal, &params.slug, params.status.into()).await
    }

    /// `plan_publish`: moves a draft plan to `active` (idempotent on an active plan).
    ///
    /// # Errors
    /// `not_found`, `invalid_transition` when the plan is neither draft nor active.
    pub async fn plan_publish(
        &self,
        principal: &Principal,
        params: PlanPublishParams,
    ) -> Result<PlanStatusView, ServiceError> {
        let tx = self.store().read().await?;
        let loaded = load(&tx, principal, &params.slug).await?;
        drop(tx);
        if !matches!(loaded.plan.status, PlanStatus::Draft | PlanStatus::Active) {
            return Err(ServiceError::new(
                ErrorCode::InvalidTransition,
                format!(
                    "plan_publish publishes a draft; plan '{}' is {}. Use plan_update_status to change it",
                    params.slug,
                    loaded.plan.status.as_str()
                ),
            ));
        }
        self.change_plan_status(principal, &params.slug, PlanStatus::Active).await
    }

    async fn change_plan_status(
        &self,
        principal: &Principal,
        slug: &str,
        to: PlanStatus,
    ) -> Result<PlanStatusView, ServiceError> {
        let tx = self.store().write().await?;
        let mut loaded = load(&tx, principal, slug).await?;
        loaded.plan.ensure_writable()?;
        let previous = loaded.plan.status;
        if loaded.plan.status.transition_to(to)? == Transition::Changed {
            loaded.plan.status = to;
            loaded.plan.updated_at = self.now();
            tx.update_plan(&loaded.plan).await?;
            self.commit(tx, principal).await?;
        }
        Ok(PlanStatusView {
            plan: PlanStatusChangeView { slug: slug.to_owned(), status: Status(to), previous_status: Status(previous) },
        })
    }

    /// `plan_archive`: retires a plan (read-only afterwards). Archiving twice is a no-op.
    ///
    /// # Errors
    /// `not_found`.
    pub async fn plan_archive(
        &self,
        principal: &Principal,
        params: PlanArchiveParams,
    ) -> Result<PlanArchiveView, ServiceError> {
        let tx = self.store().write().await?;
        let mut loaded = load(&tx, principal, &params.slug).await?;
        if loaded.plan.status.transition_to(PlanStatus::Archived)? == Transition::Changed {
            let now = self.now();
            loaded.plan.status = PlanStatus::Archived;
            loaded.plan.archived_at = Some(now);
            loaded.plan.updated_at = now;
            if let Some(reason) = params.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
                let mut metadata = object(&loaded.plan.metadata);
                metadata.insert("archive_reason".into(), Value::String(reason.to_owned()));
                loaded.plan.metadata = JsonText::from_trusted(Value::Object(metadata).to_string());
            }
            tx.update_plan(&loaded.plan).await?;
            self.commit(tx, principal).await?;
        }
        Ok(PlanArchiveView {
            plan: PlanArchivedView {
                slug: params.slug,
                status: Status(PlanStatus::Archived),
                archived_at: loaded.plan.archived_at.map(iso),
            },
        })
    }
}
