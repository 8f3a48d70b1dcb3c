//! Wire types shared by several tools: statuses, progress, phases, tasks, checkpoints.
//!
//! These are the result shapes of the original (`seed-000-agentic.md` §2.2–2.6) with the fixes
//! of AGENT-TOOLS.md: progress counts phases and tasks, tasks carry stable ids, timestamps are
//! ISO-8601 UTC strings.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use waymark_domain::status::StatusTable;
use waymark_domain::{
    Checkpoint, JsonText, Phase, PhaseRef, Progress, Task, TaskProgress, effective_task_status, phase,
};

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

/// Progress of a plan from its phases and tasks.
pub(crate) fn progress(phases: &[Phase], tasks: &[Task]) -> ProgressView {
    Progress::of_plan(phases.iter().map(|p| (&p.id, p.status)), tasks.iter().map(|t| (&t.phase_id, t.status))).into()
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
    /// Detail.
    pub description: Option<String>,
    /// Status.
    pub status: Status<waymark_domain::TaskStatus>,
    /// Notes left by an agent.
    pub notes: Option<String>,
}

impl From<&Task> for TaskView {
    fn from(t: &Task) -> Self {
        Self {
            id: t.id.to_string(),
            index: t.position,
            name: t.name.clone(),
            description: t.description.clone(),
            status: Status(t.status),
            notes: t.notes.clone(),
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
    /// Tasks in order.
    pub tasks: Vec<TaskView>,
    /// Task counts.
    pub task_progress: PhaseTaskProgressView,
    /// Names of the tasks not yet completed or skipped.
    pub remaining_tasks: Vec<String>,
    /// Orders of the phases that must finish first.
    pub dependencies: Vec<u32>,
    /// Dependencies that are not finished yet.
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
}

/// Builds a phase view from the phase, every phase of its plan, and the plan's tasks.
pub(crate) fn phase_view(p: &Phase, phases: &[Phase], tasks: &[Task]) -> PhaseView {
    let own: Vec<&Task> = tasks.iter().filter(|t| t.phase_id == p.id).collect();
    let counts = TaskProgress::count(own.iter().map(|t| effective_task_status(p.status, t.status)));
    let blockers: Vec<BlockerView> = phase::blockers(p, phases)
        .into_iter()
        .map(|b| BlockerView {
            phase_id: b.phase_id.to_string(),
            phase_order: b.phase_order,
            phase_name: b.phase_name,
            status: Status(b.status),
        })
        .collect();
    PhaseView {
        id: p.id.to_string(),
        order: p.order,
        name: p.name.clone(),
        description: p.description.clone(),
        status: Status(p.status),
        tasks: own.iter().map(|t| TaskView::from(*t)).collect(),
        task_progress: PhaseTaskProgressView {
            total: counts.total,
            completed: counts.completed,
            remaining: counts.remaining(),
            percentage: counts.percentage,
        },
        remaining_tasks: own
            .iter()
            .filter(|t| {
                !matches!(
                    effective_task_status(p.status, t.status),
                    waymark_domain::TaskStatus::Completed | waymark_domain::TaskStatus::Skipped
                )
            })
            .map(|t| t.name.clone())
            .collect(),
        dependencies: p.dependencies.clone(),
        can_start: p.status == waymark_domain::PhaseStatus::Pending && blockers.is_empty(),
        dependency_blockers: blockers,
        started_at: p.started_at.map(iso),
        completed_at: p.completed_at.map(iso),
        block_reason: p.block_reason.clone(),
        skip_reason: p.skip_reason.clone(),
    }
}

/// A phase checkpoint: the original's `{note, context, timestamp}` plus an id.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct CheckpointView {
    /// Id.
    pub id: String,
    /// The note.
    pub note: String,
    /// The context object given with it.
    pub context: Map<String, Value>,
    /// ISO-8601.
    pub timestamp: String,
}

impl From<&Checkpoint> for CheckpointView {
    fn from(c: &Checkpoint) -> Self {
        Self { id: c.id.to_string(), note: c.note.clone(), context: object(&c.context), timestamp: iso(c.created_at) }
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

/// Reads stored JSON text as a value (`null` when unreadable).
pub(crate) fn value(text: &JsonText) -> Value {
    serde_json::from_str(text.as_str()).unwrap_or(Value::Null)
}

/// Parses a listing cursor (an offset in decimal).
pub(crate) fn parse_cursor(cursor: Option<&str>) -> Result<u64, crate::ServiceError> {
    match cursor {
        None | Some("") => Ok(0),
        Some(raw) => raw
            .parse::<u64>()
            .map_err(|_| crate::ServiceError::validation("cursor is invalid; pass the next_cursor of a previous page")),
    }
}

/// The `next_cursor` after a page that started at `offset` and held `len` of `total` rows.
pub(crate) fn next_cursor(offset: u64, len: usize, total: u64) -> Option<String> {
    let next = offset + len as u64;
    (next < total).then(|| next.to_string())
}
