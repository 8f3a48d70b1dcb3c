//! The MCP workflow surface (ENGINE.md "The MCP workflow tools"; the seed's §2.4–2.7):
//! `list_workflows`, `start_workflow`, `get_workflow_result`, `get_workflow_history`, plus
//! the operator's signal, cancel, terminate, repair and show for the CLI. Everything is
//! scoped by the caller's workspace (the engine's namespace): one workspace never sees
//! another's workflows.

pub mod builtin;
mod exposure;
mod operate;

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use waymark_engine::ids::{RUN_ID_KIND, WORKFLOW_ID_KIND};
use waymark_engine::store::{FailureRecord, RunFilter, RunRecord, StoreError, StoredEvent};
use waymark_engine::{
    ClosedReason, CommandOutcome, CommandStatus, DuplicateStartPolicy, Engine, EngineError, FailureCategory,
    InstanceId, Labels, Metadata, Namespace, RunId, RunStatus, StartRequest, TaskProblem, WaitKind, visibility,
};

pub use exposure::{Exposure, WorkflowsConfig, default_exposures};
pub use operate::{ActivityView, AttemptView, OperatorCommand, RunEventsView, WorkflowShowView};

use crate::clock::iso;
use crate::plan::SLACK_BYTES;
use crate::view::budget::{RESULT_BUDGET_BYTES, chunk, clip, clip_into, fill_by, json_len};
use crate::view::cursor;
use crate::{ErrorCode, Principal, Service, ServiceError};

/// Payload previews in `get_workflow_history` are cut at this many bytes (the seed's 4096).
pub const PAYLOAD_PREVIEW_LIMIT_BYTES: usize = 4096;

/// The largest output (bytes of JSON) `get_workflow_result` returns whole; a larger one is
/// read in parts of this size through `output_text` and `next_cursor`.
pub const OUTPUT_BYTES: usize = 32_000;
/// Bytes of a run's memo and search attributes in `get_workflow_result`.
const METADATA_BYTES: usize = 4_000;
/// Bytes of a failure's message in a result.
const FAILURE_MESSAGE_BYTES: usize = 2_000;

fn bad_cursor() -> ServiceError {
    ServiceError::validation("cursor is invalid; pass the next_cursor of a previous page of the same list")
}

/// The most failures `get_workflow_history` returns (the seed's latest 5).
const HISTORY_FAILURES: u64 = 5;

pub(crate) fn namespace(principal: &Principal) -> Namespace {
    Namespace::new(principal.workspace_id.as_str())
}

impl From<EngineError> for ServiceError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::UnknownWorkflowType(key) => {
                ServiceError::validation(format!("Unknown workflow type [{key}]."))
            }
            EngineError::InvalidArgument(message) => ServiceError::validation(message),
            EngineError::InstanceTypeMismatch { .. } => ServiceError::conflict(err.to_string()),
            EngineError::LimitExceeded(message) => ServiceError::new(ErrorCode::LimitExceeded, message),
            EngineError::NotFound(id) => ServiceError::not_found(format!("Workflow {id} not found.")),
            EngineError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unreachable(_) => {
                tracing::error!(error = %err, "database unreachable");
                ServiceError::service_failed(crate::DATABASE, "The database is unavailable; retry shortly")
            }
            StoreError::Conflict => ServiceError::conflict("The change conflicts with a concurrent one; retry"),
            StoreError::Corrupt(_) | StoreError::Database(_) => ServiceError::internal(&err),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// list_workflows

/// Arguments of `list_workflows`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListWorkflowsParams {
    /// Also list the workspace's recent runs (default false).
    #[serde(default)]
    pub show_recent: bool,
    /// How many recent runs, 1-50 (default 10).
    #[schemars(range(min = 1, max = 50))]
    pub limit: Option<u32>,
    /// Only recent runs in this status (one of `status_values`).
    pub status: Option<RunStatus>,
    /// From `next_cursor`.
    #[schemars(length(max = 1024))]
    pub cursor: Option<String>,
}

/// One ordered argument of a workflow.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ArgumentView {
    /// The argument's name.
    pub name: String,
    /// Its JSON type (`string`, `integer`, `string|null`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether it must be given.
    pub required: bool,
    /// What it is for.
    pub description: Option<String>,
    /// The value used when it is not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
}

/// A signal a workflow accepts.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SignalView {
    /// The signal's name.
    pub name: String,
    /// Its arguments (any JSON is accepted).
    pub arguments: Vec<ArgumentView>,
}

/// An update a workflow accepts.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct UpdateView {
    /// The update's name.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
}

/// A workflow MCP may start.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct AvailableWorkflowView {
    /// The key to pass as `workflow` to start_workflow.
    pub key: String,
    /// The Rust type implementing it.
    pub class: String,
    /// What it does.
    pub description: String,
    /// The durable pattern it shows.
    pub pattern: Option<String>,
    /// The equivalent CLI command.
    pub command: Option<String>,
    /// Credential or environment names it needs (never values).
    pub requires: Vec<String>,
    /// Its ordered arguments, with JSON types and required flags.
    pub arguments: Vec<ArgumentView>,
    /// Safe for a no-credential local smoke test.
    pub safe_for_smoke: bool,
    /// The output of a successful run, when fixed.
    pub expected_output: Option<Value>,
    /// The event types of a successful run, in order.
    pub expected_history: Vec<String>,
    /// Signals it accepts.
    pub signals: Vec<SignalView>,
    /// Updates it accepts.
    pub updates: Vec<UpdateView>,
}

/// One run in `recent_workflows`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct RunSummaryView {
    /// The instance id.
    pub workflow_id: String,
    /// The run id.
    pub run_id: String,
    /// The workflow type key.
    pub workflow_type: String,
    /// The Rust type implementing it.
    pub workflow_class: String,
    /// The run's status.
    pub status: RunStatus,
    /// Whether it is the instance's newest run.
    pub is_current_run: bool,
    /// The operator-facing key.
    pub business_key: Option<String>,
    /// Events in its history.
    pub history_event_count: u64,
    /// Bytes of payload JSON in its history.
    pub history_size_bytes: u64,
    /// Whether it needs a repair to go on (it has a task problem).
    pub repair_attention: bool,
    /// Why its workflow task cannot progress, if it cannot.
    pub task_problem: Option<TaskProblem>,
    /// What it waits for, while waiting.
    pub wait_kind: Option<WaitKind>,
    /// ISO-8601.
    pub started_at: Option<String>,
    /// ISO-8601.
    pub closed_at: Option<String>,
    /// ISO-8601.
    pub created_at: String,
    /// ISO-8601.
    pub updated_at: String,
}

/// Result of `list_workflows`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct WorkflowListView {
    /// The workflows MCP may start, in configuration order.
    pub available_workflows: Vec<AvailableWorkflowView>,
    /// Always false: workflows are started by key, never by type name.
    pub allow_fqcn: bool,
    /// What `workflow_id` names: `workflow_instance_id`.
    pub workflow_id_kind: String,
    /// What `run_id` names: `workflow_run_id`.
    pub run_id_kind: String,
    /// Every run status, in order.
    pub status_values: Vec<RunStatus>,
    /// Recent runs, most recently updated first (only with `show_recent`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recent_workflows: Option<Vec<RunSummaryView>>,
    /// Pass as `cursor` (with `show_recent`) for the runs after this page; null on the last.
    pub next_cursor: Option<String>,
    /// True when more recent runs follow (`next_cursor`).
    pub truncated: bool,
}

// ---------------------------------------------------------------------------------------------
// start_workflow

/// Arguments of `start_workflow`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartWorkflowParams {
    /// The workflow's key, from list_workflows (`simple`, `elapsed`, ...).
    #[schemars(length(min = 1, max = 191))]
    pub workflow: String,
    /// The ordered arguments (any JSON values), as list_workflows lists them.
    // schemars derives the bare schema `true` for the items, which strict MCP clients (the
    // Inspector's `--strict`) refuse.
    #[schemars(extend("items" = { "description": "Any JSON value." }))]
    pub arguments: Option<Vec<Value>>,
    /// Legacy: arguments by name; used only when `arguments` is absent. Accepted, not
    /// advertised (deprecated properties are left out of `tools/list`).
    #[schemars(extend("deprecated" = true))]
    pub args: Option<Map<String, Value>>,
    /// Your own id for the instance, for idempotency: 1-191 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'. Default: a new ULID.
    #[schemars(length(min = 1, max = 191), pattern(r"^[A-Za-z0-9._:-]+$"))]
    pub instance_id: Option<String>,
    /// An operator-facing key (trimmed; 1-191 characters).
    #[schemars(length(max = 191))]
    pub business_key: Option<String>,
    /// Legacy alias of business_key, used only when business_key is absent. Accepted, not
    /// advertised.
    #[schemars(length(max = 255), extend("deprecated" = true))]
    pub external_id: Option<String>,
    /// String labels: keys 1-64 characters of A-Z, a-z, 0-9, '_', '.', ':', '-'; scalar values (null drops the label).
    pub visibility_labels: Option<Map<String, Value>>,
    /// Non-indexed metadata (any JSON values; at most 256 KiB).
    pub memo: Option<Map<String, Value>>,
    /// Indexed metadata: scalars or lists of strings (null drops the key).
    pub search_attributes: Option<Map<String, Value>>,
    /// What a start of an already started instance does (default reject_duplicate).
    pub duplicate_start_policy: Option<DuplicateStartPolicy>,
}

/// A recorded command.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct CommandView {
    /// The command's id.
    pub id: String,
    /// The history sequence of the event recording it on the run.
    pub sequence: Option<u64>,
    /// `accepted` or `rejected`.
    pub status: CommandStatus,
    /// `started_new`, `returned_existing_active`, `rejected_duplicate`, ...
    pub outcome: CommandOutcome,
    /// Why it was rejected.
    pub rejection_reason: Option<String>,
}

/// Result of `start_workflow`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct StartWorkflowView {
    /// The instance id: keep it to follow the workflow.
    pub workflow_id: String,
    /// The run started (or found).
    pub run_id: String,
    /// The key started.
    pub workflow: String,
    /// The Rust type implementing it.
    pub workflow_class: String,
    /// The workflow type key.
    pub workflow_type: String,
    /// The run's status (`pending` right after a start).
    pub status: RunStatus,
    /// True while pending, running or waiting.
    pub running: bool,
    /// The business key given.
    pub business_key: Option<String>,
    /// The policy applied.
    pub duplicate_start_policy: DuplicateStartPolicy,
    /// The start command.
    pub command: CommandView,
    /// What to do next.
    pub message: String,
}

// ---------------------------------------------------------------------------------------------
// get_workflow_result

/// Arguments of `get_workflow_result`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetWorkflowResultParams {
    /// The instance id from start_workflow.
    #[schemars(length(min = 1, max = 191))]
    pub workflow_id: String,
    /// A run of the instance; omit for the current run.
    #[schemars(length(min = 1, max = 64))]
    pub run_id: Option<String>,
    /// Also return the last events (default false).
    #[serde(default)]
    pub include_recent_history: bool,
    /// How many recent events, 1-25 (default 10).
    #[schemars(range(min = 1, max = 25))]
    pub history_limit: Option<u32>,
    /// Wait up to this many seconds (0-25, default 0) for the run to close before answering.
    #[schemars(range(min = 0, max = 25))]
    pub wait_seconds: Option<u32>,
    /// From `next_cursor`.
    #[schemars(length(max = 1024))]
    pub cursor: Option<String>,
}

/// A run's failure (`error` in get_workflow_result).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct WorkflowErrorView {
    /// What failed: `workflow`, `activity`, `structural_limit`, `operator`, ...
    pub source_kind: Option<String>,
    /// The failing activity execution (or other source), if any.
    pub source_id: Option<String>,
    /// The failure category.
    pub category: Option<FailureCategory>,
    /// The error's type.
    pub exception_type: Option<String>,
    /// The error's message (clipped past 2,000 bytes, ending in `…`).
    pub message: String,
    /// Raised as non-retryable.
    pub non_retryable: Option<bool>,
    /// Caught by workflow code.
    pub handled: Option<bool>,
}

/// One event in a short history.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct RecentEventView {
    /// The event's id.
    pub id: String,
    /// Its sequence in the run.
    pub sequence: u64,
    /// Its type.
    pub event_type: String,
    /// ISO-8601.
    pub recorded_at: String,
}

/// What a found run reports.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct RunDetailsView {
    /// The instance's newest run.
    pub current_run_id: Option<String>,
    /// Whether the selected run is the newest.
    pub current_run_is_selected: bool,
    /// The Rust type implementing the workflow.
    pub workflow_class: String,
    /// The workflow type key.
    pub workflow_type: String,
    /// One of `status_values`, or `reserved` for an instance without a run.
    pub status: String,
    /// True while pending, running or waiting.
    pub running: bool,
    /// Why it closed, once closed.
    pub closed_reason: Option<ClosedReason>,
    /// What it waits for, while waiting.
    pub wait_kind: Option<WaitKind>,
    /// Why its workflow task cannot progress (for example `nondeterminism`); a repair after a fix resumes it.
    pub task_problem: Option<TaskProblem>,
    /// The output, when completed; past 32,000 bytes of JSON, the marker
    /// `{"$truncated": true, "$size_bytes": N, "$preview": "…"}`, with the output's JSON text in
    /// parts (`output_text`, `next_cursor`).
    pub output: Option<Value>,
    /// Bytes of the output's JSON text (only when it comes in parts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_size_bytes: Option<u64>,
    /// This part of the output's JSON text (only when it comes in parts; join the parts and
    /// parse them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_text: Option<String>,
    /// Pass as `cursor` (same workflow_id and run_id) for the next part of the output; null on
    /// the last part or for an output shown whole.
    pub next_cursor: Option<String>,
    /// The latest failure, when failed.
    pub error: Option<WorkflowErrorView>,
    /// The operator-facing key.
    pub business_key: Option<String>,
    /// Labels.
    pub visibility_labels: Labels,
    /// Memo (a `$truncated` marker past 4,000 bytes).
    pub memo: Metadata,
    /// Search attributes (a `$truncated` marker past 4,000 bytes).
    pub search_attributes: Metadata,
    /// True when the output, memo, search attributes or error message was clipped.
    pub truncated: bool,
    /// ISO-8601.
    pub created_at: Option<String>,
    /// ISO-8601.
    pub updated_at: Option<String>,
    /// ISO-8601.
    pub started_at: Option<String>,
    /// ISO-8601.
    pub closed_at: Option<String>,
    /// The last events, oldest first (with include_recent_history).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recent_history: Option<Vec<RecentEventView>>,
}

/// Result of `get_workflow_result`. A workflow that does not exist is `found: false`, not an
/// error.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct WorkflowResultView {
    /// Whether the workflow (and run) exists in this workspace.
    pub found: bool,
    /// The instance id asked for.
    pub workflow_id: String,
    /// The selected run.
    pub run_id: Option<String>,
    /// Why it was not found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The run's details, when found.
    #[serde(flatten)]
    pub details: Option<RunDetailsView>,
}

// ---------------------------------------------------------------------------------------------
// get_workflow_history

/// Arguments of `get_workflow_history`. Give workflow_id, run_id, or both.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetWorkflowHistoryParams {
    /// The instance id (selects its current run unless run_id is given).
    #[schemars(length(min = 1, max = 191))]
    pub workflow_id: Option<String>,
    /// The run.
    #[schemars(length(min = 1, max = 64))]
    pub run_id: Option<String>,
    /// How many events, 1-100 (default 50), taken from the end (or before cursor).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// Include payload previews (cut at 4096 bytes; default false).
    #[serde(default)]
    pub include_payloads: bool,
    /// next_cursor of a previous page: the events before it.
    #[schemars(length(min = 1, max = 32))]
    pub cursor: Option<String>,
}

/// A payload preview.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PayloadPreviewView {
    /// Always `json`.
    pub encoding: String,
    /// Bytes of the whole payload's JSON.
    pub size_bytes: u64,
    /// Bytes in `preview`.
    pub preview_bytes: u64,
    /// Whether the payload was longer than the preview.
    pub truncated: bool,
    /// The JSON text, cut at 4096 bytes on a UTF-8 boundary.
    pub preview: String,
}

/// One history event.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct HistoryEventView {
    /// The event's id.
    pub id: String,
    /// Its sequence in the run (1, 2, 3, ... without gaps).
    pub sequence: u64,
    /// Its type.
    pub event_type: String,
    /// The workflow task that recorded it (not tracked: always null).
    pub workflow_task_id: Option<String>,
    /// The external command it records, if any.
    pub workflow_command_id: Option<String>,
    /// ISO-8601.
    pub recorded_at: String,
    /// The payload's top-level keys.
    pub payload_keys: Vec<String>,
    /// Bytes of the payload's JSON.
    pub payload_size_bytes: u64,
    /// The payload's preview (with include_payloads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_preview: Option<PayloadPreviewView>,
}

/// A failure row.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct FailureView {
    /// The failure's id.
    pub id: String,
    /// What failed.
    pub source_kind: String,
    /// The failing source, if any.
    pub source_id: Option<String>,
    /// The failure category.
    pub category: FailureCategory,
    /// The error's type.
    pub exception_type: String,
    /// The error's message (clipped past 2,000 bytes, ending in `…`).
    pub message: String,
    /// Raised as non-retryable.
    pub non_retryable: bool,
    /// Caught by workflow code.
    pub handled: bool,
    /// ISO-8601.
    pub created_at: String,
}

/// What a found run's history reports.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct HistoryDetailsView {
    /// The instance's newest run.
    pub current_run_id: Option<String>,
    /// Whether the selected run is the newest.
    pub current_run_is_selected: bool,
    /// The Rust type implementing the workflow.
    pub workflow_class: String,
    /// The workflow type key.
    pub workflow_type: String,
    /// One of `status_values`, or `reserved`.
    pub status: String,
    /// True while pending, running or waiting.
    pub running: bool,
    /// Events in the run's history.
    pub history_event_count: u64,
    /// Events in this page (fewer than `limit` when more would not fit the result).
    pub returned_event_count: u64,
    /// Whether this page ends at the newest event (false when paging back with a cursor).
    pub events_are_most_recent: bool,
    /// Whether previews are included.
    pub payloads_included: bool,
    /// Where previews are cut, in bytes (4096).
    pub payload_preview_limit_bytes: u64,
    /// The events, oldest first.
    pub events: Vec<HistoryEventView>,
    /// The run's latest failures, newest first (at most 5).
    pub failures: Vec<FailureView>,
    /// Pass as cursor for the events before this page; null at the first event.
    pub next_cursor: Option<String>,
    /// True when events before this page exist (`next_cursor`).
    pub truncated: bool,
}

/// Result of `get_workflow_history`. A run that does not exist is `found: false`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct WorkflowHistoryView {
    /// Whether the run exists in this workspace.
    pub found: bool,
    /// The instance id.
    pub workflow_id: Option<String>,
    /// The run.
    pub run_id: Option<String>,
    /// Why it was not found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The history, when found.
    #[serde(flatten)]
    pub details: Option<HistoryDetailsView>,
}

// ---------------------------------------------------------------------------------------------
// The use cases

impl Service {
    /// The workflow engine (for library users and the CLI).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    fn workflow_class(&self, workflow_type: &str) -> String {
        self.engine()
            .registry()
            .workflow_definition(workflow_type)
            .map_or_else(|| workflow_type.to_owned(), |d| d.type_name.clone())
    }

    fn exposure(&self, key: &str) -> Option<&Exposure> {
        self.inner.config.workflows.exposures.iter().find(|e| e.key == key && e.expose)
    }

    /// `list_workflows`: the workflows MCP may start (with argument lists derived from their
    /// input types) and, with `show_recent`, the workspace's recent runs.
    ///
    /// # Errors
    /// `service_unavailable` or `internal` when the database fails.
    pub async fn list_workflows(
        &self,
        principal: &Principal,
        params: ListWorkflowsParams,
    ) -> Result<WorkflowListView, ServiceError> {
        let registry = self.engine().registry();
        let available_workflows = self
            .inner
            .config
            .workflows
            .exposures
            .iter()
            .filter(|e| e.expose)
            .filter_map(|e| registry.workflow_definition(&e.key).map(|d| (e, d)))
            .map(|(e, d)| AvailableWorkflowView {
                key: e.key.clone(),
                class: d.type_name.clone(),
                description: e.description.clone().unwrap_or_else(|| d.description.clone()),
                pattern: e.pattern.clone(),
                command: e.command.clone(),
                requires: e.requires.clone(),
                arguments: d
                    .arguments()
                    .into_iter()
                    .map(|a| ArgumentView {
                        name: a.name,
                        kind: a.r#type,
                        required: a.required,
                        description: a.description,
                        default: a.default,
                    })
                    .collect(),
                safe_for_smoke: e.safe_for_smoke,
                expected_output: e.expected_output.clone(),
                expected_history: e.expected_history.clone(),
                signals: d.signals.iter().map(|s| SignalView { name: s.clone(), arguments: Vec::new() }).collect(),
                updates: Vec::new(),
            })
            .collect();
        let after = match cursor::decode_opt::<2>("runs", params.cursor.as_deref())? {
            Some([at, run_id]) => Some((cursor::parse_time(&at)?, RunId::parse(&run_id).map_err(|_| bad_cursor())?)),
            None => None,
        };
        let mut view = WorkflowListView {
            available_workflows,
            allow_fqcn: false,
            workflow_id_kind: WORKFLOW_ID_KIND.to_owned(),
            run_id_kind: RUN_ID_KIND.to_owned(),
            status_values: RunStatus::ALL.to_vec(),
            recent_workflows: None,
            next_cursor: None,
            truncated: false,
        };
        if params.show_recent {
            let limit = params.limit.unwrap_or(10).clamp(1, 50) as usize;
            let ns = namespace(principal);
            let filter = RunFilter { status: params.status, workflow_type: None, after, limit: limit as u64 + 1 };
            let runs = self.engine().store().list_runs(&ns, &filter).await?;
            let mut current = std::collections::HashMap::new();
            let mut out = Vec::with_capacity(runs.len());
            for run in runs {
                if !current.contains_key(&run.instance_id) {
                    let instance = self.engine().store().instance(&ns, &run.instance_id).await?;
                    current.insert(run.instance_id.clone(), instance.and_then(|i| i.current_run_id));
                }
                let is_current = current.get(&run.instance_id).and_then(Option::as_ref) == Some(&run.run_id);
                out.push((self.run_summary(&run, is_current), run.updated_at));
            }
            let room = RESULT_BUDGET_BYTES.saturating_sub(json_len(&view) + SLACK_BYTES);
            let (shown, more) = fill_by(out, limit, room, |(run, _)| json_len(run));
            view.next_cursor = if more {
                shown.last().map(|(run, at)| cursor::encode("runs", &[&cursor::time(*at), &run.run_id]))
            } else {
                None
            };
            view.truncated = view.next_cursor.is_some();
            view.recent_workflows = Some(shown.into_iter().map(|(run, _)| run).collect());
        }
        Ok(view)
    }

    fn run_summary(&self, run: &RunRecord, is_current_run: bool) -> RunSummaryView {
        RunSummaryView {
            workflow_id: run.instance_id.to_string(),
            run_id: run.run_id.to_string(),
            workflow_type: run.workflow_type.clone(),
            workflow_class: self.workflow_class(&run.workflow_type),
            status: run.status,
            is_current_run,
            business_key: run.business_key.clone(),
            history_event_count: run.last_sequence,
            history_size_bytes: run.history_size_bytes,
            repair_attention: run.task_problem.is_some(),
            task_problem: run.task_problem,
            wait_kind: run.wait_kind,
            started_at: run.started_at.map(iso),
            closed_at: run.closed_at.map(iso),
            created_at: iso(run.created_at),
            updated_at: iso(run.updated_at),
        }
    }

    /// `start_workflow` over MCP: only exposed workflows (the `waymark.toml` allow-list).
    ///
    /// # Errors
    /// As [`Service::workflow_start`], and `validation_error` for a workflow that is not
    /// exposed.
    pub async fn start_workflow(
        &self,
        principal: &Principal,
        params: StartWorkflowParams,
    ) -> Result<StartWorkflowView, ServiceError> {
        if self.exposure(&params.workflow).is_none() {
            let keys: Vec<&str> =
                self.inner.config.workflows.exposures.iter().filter(|e| e.expose).map(|e| e.key.as_str()).collect();
            return Err(ServiceError::validation(format!(
                "Unknown workflow [{}]. Available: {}. Expose a workflow type with [workflows.<key>] in waymark.toml.",
                params.workflow,
                keys.join(", ")
            )));
        }
        self.workflow_start(principal, params, "mcp").await
    }

    /// Starts any registered workflow type (the CLI and library path; MCP goes through
    /// [`Service::start_workflow`]). Returns at once; it never waits for the run.
    ///
    /// `arguments` are the input's fields in order; `args` (used only without `arguments`)
    /// names them; with neither, each field takes its default and a required field without
    /// one is an error (explicit, where the seed silently shifted positions).
    ///
    /// # Errors
    /// `validation_error` (unknown type, arguments that do not fit, bad ids or metadata),
    /// `conflict` (`rejected_duplicate`: the instance already started; the rejection is
    /// recorded on its run; or an instance id used by another type), `limit_exceeded` (input
    /// over 2 MiB), `service_unavailable`.
    pub async fn workflow_start(
        &self,
        principal: &Principal,
        params: StartWorkflowParams,
        source: &str,
    ) -> Result<StartWorkflowView, ServiceError> {
        let definition = self
            .engine()
            .registry()
            .workflow_definition(&params.workflow)
            .ok_or_else(|| ServiceError::validation(format!("Unknown workflow [{}].", params.workflow)))?
            .clone();
        let input = workflow_input(&definition, params.arguments.as_deref(), params.args.as_ref())?;
        let instance_id = params
            .instance_id
            .as_deref()
            .map(InstanceId::parse)
            .transpose()
            .map_err(|e| ServiceError::validation(e.to_string()))?;
        let business_key = params.business_key.clone().or_else(|| params.external_id.clone());
        let visibility_labels = params
            .visibility_labels
            .as_ref()
            .map(visibility::labels)
            .transpose()
            .map_err(ServiceError::validation)?
            .unwrap_or_default();
        let request = StartRequest {
            workflow_type: params.workflow.clone(),
            input,
            instance_id,
            business_key,
            visibility_labels,
            memo: params.memo.clone().map(|m| m.into_iter().collect()).unwrap_or_default(),
            search_attributes: params.search_attributes.clone().map(|m| m.into_iter().collect()).unwrap_or_default(),
            duplicate_start_policy: params.duplicate_start_policy.unwrap_or_default(),
            execution_timeout: None,
            run_timeout: None,
            source: source.to_owned(),
        };
        let outcome = self.engine().start(&namespace(principal), request).await?;
        let command = CommandView {
            id: outcome.command.id.clone(),
            sequence: outcome.command.sequence,
            status: outcome.command.status,
            outcome: outcome.command.outcome,
            rejection_reason: outcome.command.rejection_reason.clone(),
        };
        if outcome.command.outcome == CommandOutcome::RejectedDuplicate {
            return Err(ServiceError::conflict(format!(
                "Workflow instance [{}] has already started.",
                outcome.instance_id
            ))
            .with_details(serde_json::json!({
                "workflow_id": outcome.instance_id.to_string(),
                "run_id": outcome.run_id.to_string(),
                "status": outcome.status,
                "command": command,
            })));
        }
        let message = match outcome.command.outcome {
            CommandOutcome::ReturnedExistingActive => {
                "Workflow already running: returned its active run. Use get_workflow_result with workflow_id to follow it."
            }
            _ => {
                "Workflow accepted. Use get_workflow_result with workflow_id (wait_seconds to wait) until status is completed, then read output."
            }
        };
        Ok(StartWorkflowView {
            workflow_id: outcome.instance_id.to_string(),
            run_id: outcome.run_id.to_string(),
            workflow: params.workflow,
            workflow_class: definition.type_name,
            workflow_type: outcome.workflow_type,
            status: outcome.status,
            running: outcome.status.is_running(),
            business_key: outcome.business_key,
            duplicate_start_policy: outcome.duplicate_start_policy,
            command,
            message: message.to_owned(),
        })
    }

    /// Finds the selected run: by `run_id` (checked against `workflow_id` when both are
    /// given), else the instance's current run. `Ok(None)` when either does not exist here.
    pub(crate) async fn select_run(
        &self,
        ns: &Namespace,
        workflow_id: Option<&str>,
        run_id: Option<&str>,
    ) -> Result<Option<RunRecord>, ServiceError> {
        let store = self.engine().store();
        match (workflow_id, run_id) {
            (workflow_id, Some(run_id)) => {
                let Ok(run_id) = RunId::parse(run_id) else { return Ok(None) };
                let run = store.run(ns, &run_id).await?;
                Ok(run.filter(|r| workflow_id.is_none_or(|w| r.instance_id.as_str() == w)))
            }
            (Some(workflow_id), None) => {
                let Ok(id) = InstanceId::parse(workflow_id) else { return Ok(None) };
                Ok(store.current_run(ns, &id).await?)
            }
            (None, None) => Err(ServiceError::validation("Provide workflow_id or run_id.")),
        }
    }

    async fn current_run_id(&self, ns: &Namespace, run: &RunRecord) -> Result<Option<RunId>, ServiceError> {
        Ok(self.engine().store().current_run(ns, &run.instance_id).await?.map(|r| r.run_id))
    }

    /// `get_workflow_result`: a run's status, output or error and metadata; with
    /// `wait_seconds`, waits up to that long for it to close first.
    ///
    /// # Errors
    /// `service_unavailable` or `internal` when the database fails. Not found is
    /// `found: false`.
    pub async fn get_workflow_result(
        &self,
        principal: &Principal,
        params: GetWorkflowResultParams,
    ) -> Result<WorkflowResultView, ServiceError> {
        let ns = namespace(principal);
        let from = cursor::decode_opt::<2>("output", params.cursor.as_deref())?;
        let not_found = |params: &GetWorkflowResultParams| WorkflowResultView {
            found: false,
            workflow_id: params.workflow_id.clone(),
            run_id: params.run_id.clone(),
            message: Some(format!("Workflow {} not found.", params.workflow_id)),
            details: None,
        };
        let Some(mut run) = self.select_run(&ns, Some(&params.workflow_id), params.run_id.as_deref()).await? else {
            return Ok(not_found(&params));
        };
        let wait = params.wait_seconds.unwrap_or(0).min(25);
        if wait > 0 && run.status.is_running() {
            match self.engine().wait_closed(&ns, &run.run_id, Duration::from_secs(u64::from(wait))).await? {
                Some(latest) => run = latest,
                None => return Ok(not_found(&params)),
            }
        }
        let current = self.current_run_id(&ns, &run).await?;
        let mut truncated = false;
        let error = if run.status == RunStatus::Failed {
            let latest = self.engine().store().failures(&run.run_id, 10).await?;
            let run_failure = latest.into_iter().find(|f| f.source_kind != "workflow_task");
            Some(run_failure.map_or_else(
                || WorkflowErrorView {
                    source_kind: None,
                    source_id: None,
                    category: None,
                    exception_type: None,
                    message: "Unknown error".to_owned(),
                    non_retryable: None,
                    handled: None,
                },
                |f| WorkflowErrorView {
                    source_kind: Some(f.source_kind),
                    source_id: f.source_id,
                    category: Some(f.category),
                    exception_type: Some(f.exception_type),
                    message: clip_into(&f.message, FAILURE_MESSAGE_BYTES, &mut truncated),
                    non_retryable: Some(f.non_retryable),
                    handled: Some(f.handled),
                },
            ))
        } else {
            None
        };
        let recent_history = if params.include_recent_history {
            let limit = u64::from(params.history_limit.unwrap_or(10).clamp(1, 25));
            let events = self.engine().store().history_page(&run.run_id, None, limit).await?;
            Some(
                events
                    .into_iter()
                    .map(|e| RecentEventView {
                        id: e.id,
                        sequence: e.sequence,
                        event_type: e.event_type,
                        recorded_at: iso(e.recorded_at),
                    })
                    .collect(),
            )
        } else {
            None
        };
        let memo = clip_metadata(run.memo.clone(), &mut truncated);
        let search_attributes = clip_metadata(run.search_attributes.clone(), &mut truncated);
        let output = if run.status == RunStatus::Completed { run.output.clone() } else { None };
        let (output, output_size_bytes, output_text, next_cursor) =
            output_parts(output, &run.run_id, from, &mut truncated)?;
        Ok(WorkflowResultView {
            found: true,
            workflow_id: params.workflow_id.clone(),
            run_id: Some(run.run_id.to_string()),
            message: None,
            details: Some(RunDetailsView {
                current_run_is_selected: current.as_ref() == Some(&run.run_id),
                current_run_id: current.map(|r| r.to_string()),
                workflow_class: self.workflow_class(&run.workflow_type),
                workflow_type: run.workflow_type.clone(),
                status: run.status.as_str().to_owned(),
                running: run.status.is_running(),
                closed_reason: run.closed_reason,
                wait_kind: run.wait_kind,
                task_problem: run.task_problem,
                output,
                output_size_bytes,
                output_text,
                next_cursor,
                error,
                business_key: run.business_key.clone(),
                visibility_labels: run.visibility_labels.clone(),
                memo,
                search_attributes,
                truncated,
                created_at: Some(iso(run.created_at)),
                updated_at: Some(iso(run.updated_at)),
                started_at: run.started_at.map(iso),
                closed_at: run.closed_at.map(iso),
                recent_history,
            }),
        })
    }

    /// `get_workflow_history`: a page of a run's events (the last `limit`, or those before
    /// `cursor`), with payload keys and sizes, optional previews cut at 4096 bytes on a
    /// UTF-8 boundary, and the run's latest failures.
    ///
    /// # Errors
    /// `validation_error` without workflow_id and run_id, or for a bad cursor;
    /// `service_unavailable` or `internal` when the database fails. Not found is
    /// `found: false`.
    pub async fn get_workflow_history(
        &self,
        principal: &Principal,
        params: GetWorkflowHistoryParams,
    ) -> Result<WorkflowHistoryView, ServiceError> {
        let ns = namespace(principal);
        let before = params.cursor.as_deref().map(parse_history_cursor).transpose()?;
        let Some(run) = self.select_run(&ns, params.workflow_id.as_deref(), params.run_id.as_deref()).await? else {
            return Ok(WorkflowHistoryView {
                found: false,
                workflow_id: params.workflow_id,
                run_id: params.run_id,
                message: Some("Workflow run not found.".to_owned()),
                details: None,
            });
        };
        let limit = u64::from(params.limit.unwrap_or(50).clamp(1, 100));
        let store = self.engine().store();
        let events = store.history_page(&run.run_id, before, limit).await?;
        let failures: Vec<FailureView> =
            store.failures(&run.run_id, HISTORY_FAILURES).await?.into_iter().map(failure_view).collect();
        let current = self.current_run_id(&ns, &run).await?;
        // The page keeps the newest events that fit the result (oldest first, as recorded).
        let room = RESULT_BUDGET_BYTES.saturating_sub(json_len(&failures) + HISTORY_HEADER_BYTES + SLACK_BYTES);
        let views = events.iter().rev().map(|e| history_event_view(e, params.include_payloads));
        let (mut events, _) = fill_by(views, usize::MAX, room, json_len);
        events.reverse();
        let next_cursor = events.first().filter(|e| e.sequence > 1).map(|e| format!("s{}", e.sequence));
        Ok(WorkflowHistoryView {
            found: true,
            workflow_id: Some(run.instance_id.to_string()),
            run_id: Some(run.run_id.to_string()),
            message: None,
            details: Some(HistoryDetailsView {
                current_run_is_selected: current.as_ref() == Some(&run.run_id),
                current_run_id: current.map(|r| r.to_string()),
                workflow_class: self.workflow_class(&run.workflow_type),
                workflow_type: run.workflow_type.clone(),
                status: run.status.as_str().to_owned(),
                running: run.status.is_running(),
                history_event_count: run.last_sequence,
                returned_event_count: events.len() as u64,
                events_are_most_recent: before.is_none(),
                payloads_included: params.include_payloads,
                payload_preview_limit_bytes: PAYLOAD_PREVIEW_LIMIT_BYTES as u64,
                events,
                failures,
                truncated: next_cursor.is_some(),
                next_cursor,
            }),
        })
    }
}

/// Builds a workflow's input from ordered `arguments` or named `args`.
fn workflow_input(
    definition: &waymark_engine::WorkflowDefinition,
    arguments: Option<&[Value]>,
    args: Option<&Map<String, Value>>,
) -> Result<Value, ServiceError> {
    let specs = definition.arguments();
    if definition.takes_no_input() {
        let given = arguments.map_or(0, <[Value]>::len) + args.map_or(0, Map::len);
        if given > 0 {
            return Err(ServiceError::validation(format!(
                "Workflow {} accepts no arguments; received {given}.",
                definition.key
            )));
        }
        return Ok(Value::Null);
    }
    if !definition.input_is_object() {
        let given = match (arguments, args) {
            (Some([]), _) | (None, None) => None,
            (Some([value]), _) => Some(value.clone()),
            (Some(values), _) => {
                return Err(ServiceError::validation(format!(
                    "Workflow {} accepts at most 1 ordered argument; received {}.",
                    definition.key,
                    values.len()
                )));
            }
            (None, Some(named)) => named.get("input").cloned(),
        };
        let spec = specs.first();
        return match given.or_else(|| spec.and_then(|s| s.default.clone())) {
            Some(value) => Ok(value),
            None if spec.is_some_and(|s| s.required) => Err(ServiceError::validation(format!(
                "Workflow {} needs argument [input] ({}).",
                definition.key,
                spec.map_or("any", |s| s.r#type.as_str())
            ))),
            None => Ok(Value::Null),
        };
    }
    let mut input = Map::new();
    match (arguments, args) {
        (Some(values), _) => {
            if values.len() > specs.len() {
                return Err(ServiceError::validation(format!(
                    "Workflow {} accepts at most {} ordered arguments; received {}.",
                    definition.key,
                    specs.len(),
                    values.len()
                )));
            }
            for (spec, value) in specs.iter().zip(values) {
                input.insert(spec.name.clone(), value.clone());
            }
        }
        (None, Some(named)) => {
            if let Some(unknown) = named.keys().find(|k| !specs.iter().any(|s| &s.name == *k)) {
                let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
                return Err(ServiceError::validation(format!(
                    "Workflow {} has no argument [{unknown}]; its arguments are: {}.",
                    definition.key,
                    names.join(", ")
                )));
            }
            input.extend(named.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        (None, None) => {}
    }
    for spec in &specs {
        if !input.contains_key(&spec.name) {
            if let Some(default) = &spec.default {
                input.insert(spec.name.clone(), default.clone());
            } else if spec.required {
                return Err(ServiceError::validation(format!(
                    "Workflow {} needs argument [{}] ({}).",
                    definition.key, spec.name, spec.r#type
                )));
            }
        }
    }
    Ok(Value::Object(input))
}

/// Bytes of a history result besides its events and failures (ids, counts, flags).
const HISTORY_HEADER_BYTES: usize = 1_500;

/// A memo or search attributes as a result shows them: whole up to 4,000 bytes, else the
/// `$truncated` marker (an object too, so the field keeps its type).
fn clip_metadata(metadata: Metadata, truncated: &mut bool) -> Metadata {
    let map: Map<String, Value> = metadata.into_iter().collect();
    crate::view::budget::clip_object(map, METADATA_BYTES, truncated).into_iter().collect()
}

/// A run's output as `get_workflow_result` shows it: `(output, output_size_bytes,
/// output_text, next_cursor)`.
type OutputParts = (Option<Value>, Option<u64>, Option<String>, Option<String>);

/// The output whole up to [`OUTPUT_BYTES`], else the marker and the part of its JSON text from
/// the cursor's offset.
fn output_parts(
    output: Option<Value>,
    run_id: &RunId,
    from: Option<[String; 2]>,
    truncated: &mut bool,
) -> Result<OutputParts, ServiceError> {
    let offset = match &from {
        Some([of_run, offset]) if of_run == run_id.as_str() => {
            Some(usize::try_from(cursor::parse_number(offset)?).map_err(|_| bad_cursor())?)
        }
        Some(_) => return Err(bad_cursor()),
        None => None,
    };
    let Some(output) = output else {
        return match offset {
            Some(_) => Err(bad_cursor()),
            None => Ok((None, None, None, None)),
        };
    };
    let (shown, cut) = crate::view::budget::clip_json(output.clone(), OUTPUT_BYTES);
    if !cut && offset.is_none() {
        return Ok((Some(shown), None, None, None));
    }
    *truncated = true;
    let (marker, _) = crate::view::budget::clip_json(output.clone(), 600);
    let text = output.to_string();
    let start = offset.unwrap_or(0);
    if start >= text.len() {
        return Err(bad_cursor());
    }
    let (part, rest) = chunk(&text, start, OUTPUT_BYTES).ok_or_else(bad_cursor)?;
    let next = rest.map(|at| cursor::encode("output", &[run_id.as_str(), &at.to_string()]));
    Ok((Some(marker), Some(text.len() as u64), Some(part), next))
}

fn parse_history_cursor(raw: &str) -> Result<u64, ServiceError> {
    raw.strip_prefix('s').and_then(|n| n.parse::<u64>().ok()).filter(|n| *n >= 1).ok_or_else(|| {
        ServiceError::validation(format!("Invalid cursor [{raw}]: pass next_cursor from a previous page."))
    })
}

/// The JSON text of `payload`, cut at `limit` bytes without splitting a UTF-8 character.
pub fn payload_preview(payload: &Value, limit: usize) -> PayloadPreviewView {
    let text = serde_json::to_string(payload).unwrap_or_else(|_| "{}".to_owned());
    let mut cut = text.len().min(limit);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    PayloadPreviewView {
        encoding: "json".to_owned(),
        size_bytes: text.len() as u64,
        preview_bytes: cut as u64,
        truncated: text.len() > limit,
        preview: text[..cut].to_owned(),
    }
}

pub(crate) fn history_event_view(event: &StoredEvent, include_payloads: bool) -> HistoryEventView {
    let mut payload_keys: Vec<String> =
        event.payload.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    payload_keys.sort();
    HistoryEventView {
        id: event.id.clone(),
        sequence: event.sequence,
        event_type: event.event_type.clone(),
        workflow_task_id: None,
        workflow_command_id: event.payload.get("workflow_command_id").and_then(Value::as_str).map(str::to_owned),
        recorded_at: iso(event.recorded_at),
        payload_keys,
        payload_size_bytes: serde_json::to_vec(&event.payload).map_or(0, |v| v.len() as u64),
        payload_preview: include_payloads.then(|| payload_preview(&event.payload, PAYLOAD_PREVIEW_LIMIT_BYTES)),
    }
}

pub(crate) fn failure_view(f: FailureRecord) -> FailureView {
    FailureView {
        id: f.id,
        source_kind: f.source_kind,
        source_id: f.source_id,
        category: f.category,
        exception_type: f.exception_type,
        message: clip(&f.message, FAILURE_MESSAGE_BYTES).0,
        non_retryable: f.non_retryable,
        handled: f.handled,
        created_at: iso(f.created_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_cut_on_a_utf8_boundary() {
        // 4095 ASCII bytes (with the opening quote) then a 4-byte character across the limit.
        let text = format!("{}😀tail", "a".repeat(4094));
        let preview = payload_preview(&Value::from(text), 4096);
        assert!(preview.truncated);
        assert_eq!(preview.preview_bytes, 4095);
        assert_eq!(preview.preview.len(), 4095);
        let small = payload_preview(&serde_json::json!({"a": "é/x"}), 4096);
        assert_eq!(small.preview, r#"{"a":"é/x"}"#);
        assert!(!small.truncated);
        assert_eq!(small.size_bytes, small.preview_bytes);
    }

    #[test]
    fn cursors_name_a_sequence() {
        assert_eq!(parse_history_cursor("s41").unwrap(), 41);
        assert!(parse_history_cursor("41").is_err());
        assert!(parse_history_cursor("s0").is_err());
        assert!(parse_history_cursor("sx").is_err());
    }
}
