//! Wire types shared by several tools: statuses, progress, phases, tasks, checkpoints.
//!
//! These are the result shapes of the original (`seed-000-agentic.md` §2.2–2.6) with the fixes
//! of AGENT-TOOLS.md: progress counts phases and tasks, tasks carry stable ids, timestamps are
//! ISO-8601 UTC strings. Every shape is bounded ([`budget`]): long texts are clipped, lists
//! are paged ([`cursor`]), and whatever was left out is flagged.

pub mod budget;
pub(crate) mod cursor;

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use waymark_domain::status::StatusTable;
use waymark_domain::{
    Checkpoint, JsonText, Phase, PhaseId, PhaseRef, PhaseStatus, Progress, Task, TaskProgress, TaskStatus,
    effective_task_status, phase,
};

pub use self::budget::RESULT_BUDGET_BYTES;
use self::budget::{clip, clip_into, clip_opt, fill, is_false};
use crate::clock::iso;

/// A status on the wire: its snake_case name, with the schema's `enum` taken from the domain
/// table, so the list of names exists once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status<S>(pub S);

impl<S: StatusTable> Serialize for Status<S> {
    fn serialize<Se: Serializer>(&self, serializer: Se) -> Result<Se::Ok, Se::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

impl<'de, S: StatusTable> Deserialize<'de> for Status<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Cow::<str>::deserialize(deserializer)?;
        waymark_domain::status::parse::<S>("status", &raw).map(Status).map_err(serde::de::Error::custom)
    }
}

impl<S: StatusTable> JsonSchema for Status<S> {
    fn schema_name() -> Cow<'static, str> {
        format!("{}Status", S::ENTITY).into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = S::ALL.iter().map(|s| s.as_str()).collect();
        json_schema!({ "type": "string", "enum": names })
    }
}

/// A phase named by 1-based order (an integer or a string of digits) or by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhaseArg(pub PhaseRef);

impl<'de> Deserialize<'de> for PhaseArg {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Order(u32),
            Text(String),
        }
        Ok(Self(match Raw::deserialize(deserializer)? {
            Raw::Order(order) => PhaseRef::Order(order),
            Raw::Text(text) => PhaseRef::parse(&text),
        }))
    }
}

impl JsonSchema for PhaseArg {
    fn schema_name() -> Cow<'static, str> {
        "PhaseArg".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [{ "type": "integer", "minimum": 1 }, { "type": "string", "minLength": 1 }],
            "description": "The phase's 1-based order (a number, or a string of digits) or its name."
        })
    }
}

/// Progress of a plan: by phases, by tasks, and a headline percentage (task-based, or
/// phase-based when the plan has no tasks).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ProgressView {
    /// Phase counts.
    pub phases: PhaseCountsView,
    /// Task counts.
    pub tasks: TaskCountsView,
    /// Headline percentage, 0–100.
    pub percentage: u32,
}

/// Phase counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PhaseCountsView {
    /// Number of phases.
    pub total: u32,
    /// Completed phases.
    pub completed: u32,
    /// Phases in progress.
    pub in_progress: u32,
    /// Pending phases.
    pub pending: u32,
    /// Blocked phases.
    pub blocked: u32,
    /// Skipped phases.
    pub skipped: u32,
    /// Completed or skipped phases, as a rounded percentage.
    pub percentage: u32,
}

/// Task counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TaskCountsView {
    /// Number of tasks.
    pub total: u32,
    /// Completed tasks.
    pub completed: u32,
    /// Skipped tasks.
    pub skipped: u32,
    /// Completed or skipped tasks, as a rounded percentage.
    pub percentage: u32,
}

impl From<Progress> for ProgressView {
    fn from(p: Progress) -> Self {
        Self {
            phases: PhaseCountsView {
                total: p.phases.total,
                completed: p.phases.completed,
                in_progress: p.phases.in_progress,
                pending: p.phases.pending,
                blocked: p.phases.blocked,
                skipped: p.phases.skipped,
                percentage: p.phases.percentage,
            },
            tasks: TaskCountsView {
                total: p.tasks.total,
                completed: p.tasks.completed,
                skipped: p.tasks.skipped,
                percentage: p.tasks.percentage,
            },
            percentage: p.percentage,
        }
    }
}

/// How many tasks of each status each phase of a plan has: what progress needs, without the
/// tasks themselves (a plan may hold tens of thousands).
#[derive(Clone, Debug, Default)]
pub(crate) struct TaskCounts(Vec<(PhaseId, TaskStatus, u64)>);

impl TaskCounts {
    /// Counts as the store reports them (`(phase, status, count)`).
    pub(crate) fn new(counts: Vec<(PhaseId, TaskStatus, u64)>) -> Self {
        Self(counts)
    }

    /// Counts of tasks in memory.
    pub(crate) fn of(tasks: &[Task]) -> Self {
        let mut counts: Vec<(PhaseId, TaskStatus, u64)> = Vec::new();
        for t in tasks {
            match counts.iter_mut().find(|(p, s, _)| *p == t.phase_id && *s == t.status) {
                Some((_, _, n)) => *n += 1,
                None => counts.push((t.phase_id.clone(), t.status, 1)),
            }
        }
        Self(counts)
    }

    /// One `(phase, status)` per task.
    fn each(&self) -> impl Iterator<Item = (&PhaseId, TaskStatus)> {
        self.0.iter().flat_map(|(p, s, n)| std::iter::repeat_n((p, *s), usize::try_from(*n).unwrap_or(usize::MAX)))
    }

    /// How many tasks a phase has.
    pub(crate) fn total_of(&self, phase: &PhaseId) -> u64 {
        self.0.iter().filter(|(p, _, _)| p == phase).map(|(_, _, n)| n).sum()
    }

    /// The counts of one phase, with the phase's status applied to its tasks.
    fn progress_of(&self, phase: &Phase) -> TaskProgress {
        TaskProgress::count(
            self.each().filter(|(p, _)| **p == phase.id).map(|(_, s)| effective_task_status(phase.status, s)),
        )
    }
}

/// Progress of a plan from its phases and task counts.
pub(crate) fn progress(phases: &[Phase], counts: &TaskCounts) -> ProgressView {
    Progress::of_plan(phases.iter().map(|p| (&p.id, p.status)), counts.each()).into()
}

/// Progress of a plan from `(phase, status)` of its phases and its task counts.
pub(crate) fn progress_of_statuses<'a>(
    phases: impl IntoIterator<Item = (&'a PhaseId, PhaseStatus)>,
    counts: &'a TaskCounts,
) -> ProgressView {
    Progress::of_plan(phases, counts.each()).into()
}

/// A task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TaskView {
    /// Stable id (`task_…`); address the task by it or by `index`.
    pub id: String,
    /// 0-based position in its phase: the original's `task_index`.
    pub index: u32,
    /// What to do.
    pub name: String,
    /// Detail (clipped, ending in `…`, when long; see `truncated`).
    pub description: Option<String>,
    /// Status.
    pub status: Status<waymark_domain::TaskStatus>,
    /// Notes left by an agent (clipped like `description`).
    pub notes: Option<String>,
    /// Present and true when `description` or `notes` was clipped to fit the result.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

/// How many bytes of a task's `description` and `notes` a task result shows.
pub const TASK_TEXT_BYTES: usize = 8_000;
/// How many bytes of a text field an item of a list shows (descriptions, notes, messages).
pub const ITEM_TEXT_BYTES: usize = 600;
/// How many bytes of a JSON object an item of a list shows (`data`, `context`).
pub const ITEM_JSON_BYTES: usize = 600;

impl TaskView {
    /// A task with `description` and `notes` clipped to `text_bytes` each.
    pub(crate) fn clipped(t: &Task, text_bytes: usize) -> Self {
        let mut truncated = false;
        Self {
            id: t.id.to_string(),
            index: t.position,
            name: t.name.clone(),
            description: clip_opt(t.description.as_deref(), text_bytes, &mut truncated),
            status: Status(t.status),
            notes: clip_opt(t.notes.as_deref(), text_bytes, &mut truncated),
            truncated,
        }
    }
}

/// Task counts of one phase, in the original's shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PhaseTaskProgressView {
    /// Number of tasks.
    pub total: u32,
    /// Completed tasks.
    pub completed: u32,
    /// Tasks neither completed nor skipped.
    pub remaining: u32,
    /// Completed or skipped tasks, as a rounded percentage.
    pub percentage: u32,
}

/// A phase that blocks another from starting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct BlockerView {
    /// Its id.
    pub phase_id: String,
    /// Its order.
    pub phase_order: u32,
    /// Its name.
    pub phase_name: String,
    /// Its status.
    pub status: Status<waymark_domain::PhaseStatus>,
}

/// A phase with its tasks, in the original's `toMcpContext` shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PhaseView {
    /// Id.
    pub id: String,
    /// 1-based order.
    pub order: u32,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Status.
    pub status: Status<waymark_domain::PhaseStatus>,
    /// Tasks in order: all of them, or the first ones that fit the result (then
    /// `tasks_next_cursor` is set; `task_progress.total` counts them all).
    pub tasks: Vec<TaskView>,
    /// Pass as `cursor` to phase_get (with this phase) for the tasks after `tasks`; absent when
    /// `tasks` holds every task from where it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_next_cursor: Option<String>,
    /// Task counts.
    pub task_progress: PhaseTaskProgressView,
    /// Names of the first tasks not yet completed or skipped (at most 20; `task_progress.remaining`
    /// counts them all).
    pub remaining_tasks: Vec<String>,
    /// Orders of the phases that must finish first.
    pub dependencies: Vec<u32>,
    /// The first dependencies that are not finished yet (at most 5).
    pub dependency_blockers: Vec<BlockerView>,
    /// Whether the phase is pending with every dependency finished.
    pub can_start: bool,
    /// ISO-8601.
    pub started_at: Option<String>,
    /// ISO-8601.
    pub completed_at: Option<String>,
    /// Why the phase is blocked.
    pub block_reason: Option<String>,
    /// Why the phase was skipped.
    pub skip_reason: Option<String>,
    /// Present and true when something of this phase was left out or clipped to fit the
    /// result: tasks (see `tasks_next_cursor`), remaining task names, blockers, or a text.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

/// The most remaining task names a phase view lists.
const REMAINING_NAMES: usize = 20;
/// The most blockers a phase view lists.
const BLOCKERS: usize = 5;
/// How many bytes of a name a phase view's lists show.
const NAME_BYTES: usize = 300;

/// How a phase view is bounded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PhaseLimits {
    /// The most tasks shown.
    pub(crate) tasks: usize,
    /// Bytes the shown tasks may take.
    pub(crate) task_bytes: usize,
    /// Bytes of each task's description and notes.
    pub(crate) task_text_bytes: usize,
    /// Bytes of the phase's description and reasons.
    pub(crate) text_bytes: usize,
}

/// The tasks of a phase that a view may show, read by the caller.
#[derive(Clone, Debug, Default)]
pub(crate) struct PhaseTasks {
    /// The tasks from where the view starts, in order (one more than it may show tells it
    /// more exist).
    pub(crate) tasks: Vec<Task>,
    /// Whether tasks after `tasks` exist that were not read.
    pub(crate) more: bool,
    /// Names of the first unfinished tasks, when `tasks` does not hold the whole phase.
    pub(crate) unfinished: Option<Vec<String>>,
}

impl PhaseTasks {
    /// Every task of the phase, from an in-memory plan.
    pub(crate) fn all_of(phase: &PhaseId, tasks: &[Task]) -> Self {
        Self { tasks: tasks.iter().filter(|t| t.phase_id == *phase).cloned().collect(), more: false, unfinished: None }
    }
}

/// The cursor of a phase's tasks after the task at `position` (for phase_get).
pub(crate) fn tasks_cursor(phase: &PhaseId, position: u32) -> String {
    cursor::encode("tasks", &[phase.as_str(), &position.to_string()])
}

/// Builds a bounded phase view from the phase, every phase of its plan, the plan's task
/// counts and the tasks read for it.
pub(crate) fn phase_view(
    p: &Phase,
    phases: &[Phase],
    counts: &TaskCounts,
    read: PhaseTasks,
    limits: PhaseLimits,
) -> PhaseView {
    let mut truncated = false;
    let progress = counts.progress_of(p);
    let all_blockers = phase::blockers(p, phases);
    let can_start = p.status == PhaseStatus::Pending && all_blockers.is_empty();
    truncated |= all_blockers.len() > BLOCKERS;
    let blockers: Vec<BlockerView> = all_blockers
        .into_iter()
        .take(BLOCKERS)
        .map(|b| BlockerView {
            phase_id: b.phase_id.to_string(),
            phase_order: b.phase_order,
            phase_name: clip_into(&b.phase_name, NAME_BYTES, &mut truncated),
            status: Status(b.status),
        })
        .collect();
    let finished =
        |t: &Task| matches!(effective_task_status(p.status, t.status), TaskStatus::Completed | TaskStatus::Skipped);
    let unfinished: Vec<String> = match read.unfinished {
        Some(names) if p.status != PhaseStatus::Skipped => names,
        Some(_) => Vec::new(),
        None => read.tasks.iter().filter(|t| !finished(t)).map(|t| t.name.clone()).collect(),
    };
    let (remaining, more_remaining) =
        fill(unfinished.iter().map(|n| clip(n, NAME_BYTES).0), REMAINING_NAMES, REMAINING_NAMES * NAME_BYTES / 3);
    truncated |= more_remaining || remaining.iter().zip(&unfinished).any(|(shown, name)| shown != name);
    let (tasks, more_tasks) =
        fill(read.tasks.iter().map(|t| TaskView::clipped(t, limits.task_text_bytes)), limits.tasks, limits.task_bytes);
    let more_tasks = more_tasks || read.more;
    truncated |= more_tasks || tasks.iter().any(|t| t.truncated);
    PhaseView {
        id: p.id.to_string(),
        order: p.order,
        name: p.name.clone(),
        description: clip_opt(p.description.as_deref(), limits.text_bytes, &mut truncated),
        status: Status(p.status),
        tasks_next_cursor: if more_tasks { tasks.last().map(|t| tasks_cursor(&p.id, t.index)) } else { None },
        tasks,
        task_progress: PhaseTaskProgressView {
            total: progress.total,
            completed: progress.completed,
            remaining: progress.remaining(),
            percentage: progress.percentage,
        },
        remaining_tasks: remaining,
        dependencies: p.dependencies.clone(),
        can_start,
        dependency_blockers: blockers,
        started_at: p.started_at.map(iso),
        completed_at: p.completed_at.map(iso),
        block_reason: clip_opt(p.block_reason.as_deref(), limits.text_bytes, &mut truncated),
        skip_reason: clip_opt(p.skip_reason.as_deref(), limits.text_bytes, &mut truncated),
        truncated,
    }
}

/// A phase checkpoint: the original's `{note, context, timestamp}` plus an id.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct CheckpointView {
    /// Id.
    pub id: String,
    /// The note (clipped, ending in `…`, when long).
    pub note: String,
    /// The context object given with it (a `$truncated` marker when too large to show).
    pub context: Map<String, Value>,
    /// ISO-8601.
    pub timestamp: String,
    /// Present and true when `note` or `context` was clipped.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

impl CheckpointView {
    /// A checkpoint with its note and context clipped for a list.
    pub(crate) fn clipped(c: &Checkpoint) -> Self {
        let mut truncated = false;
        Self {
            id: c.id.to_string(),
            note: clip_into(&c.note, ITEM_TEXT_BYTES, &mut truncated),
            context: clipped_object(&c.context, ITEM_JSON_BYTES, &mut truncated),
            timestamp: iso(c.created_at),
            truncated,
        }
    }
}

/// The most checkpoints a phase result lists.
pub const CHECKPOINTS_SHOWN: usize = 10;

/// The newest checkpoints of a phase as a result shows them (oldest first, fitting
/// `max_bytes`), and the cursor for older ones.
pub(crate) fn checkpoint_page(
    newest_first: &[Checkpoint],
    more: bool,
    max_bytes: usize,
) -> (Vec<CheckpointView>, Option<String>) {
    let (mut shown, cut) = fill(newest_first.iter().map(CheckpointView::clipped), CHECKPOINTS_SHOWN, max_bytes);
    let next = if cut || more { shown.last().map(|c| cursor::encode("checkpoints", &[&c.id])) } else { None };
    shown.reverse();
    (shown, next)
}

/// Reads stored JSON text as an object (`{}` when it is anything else), replaced by the
/// `$truncated` marker when larger than `max_bytes` (without parsing it); records a cut in
/// `truncated`.
pub(crate) fn clipped_object(text: &JsonText, max_bytes: usize, truncated: &mut bool) -> Map<String, Value> {
    let (value, cut) = budget::clip_json_text(text.as_str(), max_bytes);
    *truncated |= cut;
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Reads stored JSON text as an object (`{}` when it is anything else).
pub(crate) fn object(text: &JsonText) -> Map<String, Value> {
    match serde_json::from_str::<Value>(text.as_str()) {
        Ok(Value::Object(map)) => map,
        Ok(_) | Err(_) => Map::new(),
    }
}

/// The largest JSON document a client may store in one field (a plan's `context`, a
/// checkpoint's `context`).
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Serializes a client-supplied object, refusing it above [`MAX_DOCUMENT_BYTES`].
pub(crate) fn document(field: &str, value: Option<&Map<String, Value>>) -> Result<JsonText, crate::ServiceError> {
    let text = match value {
        Some(map) => Value::Object(map.clone()).to_string(),
        None => "{}".to_owned(),
    };
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(crate::ServiceError::new(
            crate::ErrorCode::ValidationError,
            format!("{field} exceeds maximum size of {MAX_DOCUMENT_BYTES} bytes"),
        ));
    }
    Ok(JsonText::from_trusted(text))
}

/// Any JSON value except `null`: the schema lists the five non-null types so clients know
/// null is refused.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct JsonValue(pub Value);

impl JsonSchema for JsonValue {
    fn schema_name() -> Cow<'static, str> {
        "JsonValue".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["string", "number", "boolean", "object", "array"],
            "description": "Any JSON value except null."
        })
    }
}
