//! The tool table: every tool's name, category, scope, annotations and description, bound to
//! its use case. Names, argument names and result fields are the original's
//! (seed-000 §2); new tools are marked in AGENT-TOOLS.md.

use waymark_domain::Scope;

use crate::catalogue::{Annotations, Category, Tool, ToolInfo};
use crate::phase::{PhaseAddCheckpointParams, PhaseAddParams, PhaseGetParams, PhaseUpdateStatusParams};
use crate::plan::{
    PlanArchiveParams, PlanCreateParams, PlanGetParams, PlanListParams, PlanPublishParams, PlanUpdateStatusParams,
};
use crate::session::{
    SessionArtifactParams, SessionContinueParams, SessionEndParams, SessionHandoffParams, SessionIdParams,
    SessionListParams, SessionLogParams, SessionReplayParams, SessionStartParams,
};
use crate::state::{StateGetParams, StateKeyParams, StateListParams, StateSetParams};
use crate::task::{TaskAddParams, TaskToggleParams, TaskUpdateParams};
use crate::template::{TemplateCreatePlanParams, TemplateListParams, TemplatePreviewParams};
use crate::workflow::{GetWorkflowHistoryParams, GetWorkflowResultParams, ListWorkflowsParams, StartWorkflowParams};

const fn info(
    name: &'static str,
    category: Category,
    scope: Scope,
    annotations: Annotations,
    description: &'static str,
) -> ToolInfo {
    ToolInfo { name, category, scope, annotations, description }
}

/// Every tool Waymark serves.
pub(crate) fn all() -> Vec<Tool> {
    use Category::{Phase, Plan, Session, State, Task, Template, Workflow};
    use Scope::{Read, Write};
    vec![
        info("plan_create", Plan, Write, Annotations::ADDITIVE,
            "Create a plan (status draft) with ordered phases and their tasks. Returns the plan's slug, which every other plan, phase and task tool takes; publish it with plan_publish before starting phases.")
            .handler(|s, p, a: PlanCreateParams| async move { s.plan_create(&p, a).await }),
        info("plan_get", Plan, Read, Annotations::READ,
            "Get a plan by slug with its progress (by phases and by tasks) and its phases in order with their first tasks, as JSON or markdown (format: markdown). A large plan comes in pages: pass next_cursor as cursor for the next phases; a phase's tasks_next_cursor pages its tasks in phase_get.")
            .handler(|s, p, a: PlanGetParams| async move { s.plan_get(&p, a).await }),
        info("plan_list", Plan, Read, Annotations::READ,
            "List the workspace's plans, most recently updated first, with status and progress. Archived plans are left out unless include_archived is true or status is archived; page with limit and cursor.")
            .handler(|s, p, a: PlanListParams| async move { s.plan_list(&p, a).await }),
        info("plan_update_status", Plan, Write, Annotations::IDEMPOTENT,
            "Change a plan's status (draft, active, paused, completed) following the plan status table; a refused change names the allowed targets. Archive with plan_archive.")
            .handler(|s, p, a: PlanUpdateStatusParams| async move { s.plan_update_status(&p, a).await }),
        info("plan_archive", Plan, Write, Annotations::DESTRUCTIVE,
            "Archive a plan: it leaves default listings and becomes read-only. Optionally record a reason. Returns the archive time.")
            .handler(|s, p, a: PlanArchiveParams| async move { s.plan_archive(&p, a).await }),
        info("plan_publish", Plan, Write, Annotations::IDEMPOTENT,
            "Publish a draft plan (draft -> active) so its phases can start. Idempotent on an active plan.")
            .handler(|s, p, a: PlanPublishParams| async move { s.plan_publish(&p, a).await }),
        info("phase_get", Phase, Read, Annotations::READ,
            "Get one phase of a plan (by order or name) with a page of its tasks (limit, cursor; next_cursor for more), dependencies, blockers and its newest checkpoints (checkpoints_cursor for older ones).")
            .handler(|s, p, a: PhaseGetParams| async move { s.phase_get(&p, a).await }),
        info("phase_update_status", Phase, Write, Annotations::IDEMPOTENT,
            "Set a phase's status (pending, in_progress, completed, blocked, skipped). Starting or completing needs its dependency phases finished and a published plan; finishing the last phase completes the plan. Notes are kept as a checkpoint.")
            .handler(|s, p, a: PhaseUpdateStatusParams| async move { s.phase_update_status(&p, a).await }),
        info("phase_add_checkpoint", Phase, Write, Annotations::ADDITIVE,
            "Record a checkpoint note (with optional JSON context) on a phase. Returns the phase's newest checkpoints and their count; phase_get pages older ones.")
            .handler(|s, p, a: PhaseAddCheckpointParams| async move { s.phase_add_checkpoint(&p, a).await }),
        info("phase_add", Phase, Write, Annotations::ADDITIVE,
            "Append a phase, with tasks and optional dependencies on earlier phases, to the end of a plan. Returns the new phase (with its first tasks; phase_get pages the rest) and the plan's progress.")
            .handler(|s, p, a: PhaseAddParams| async move { s.phase_add(&p, a).await }),
        info("task_add", Task, Write, Annotations::ADDITIVE,
            "Append a task to a phase of a plan. Returns the task (with its stable id and index) and the plan's progress.")
            .handler(|s, p, a: TaskAddParams| async move { s.task_add(&p, a).await }),
        info("task_toggle", Task, Write, Annotations::ADDITIVE,
            "Toggle a task between completed and pending, addressed by phase + task_index (0-based) or by task_id. Returns the task and the plan's progress.")
            .handler(|s, p, a: TaskToggleParams| async move { s.task_toggle(&p, a).await }),
        info("task_update", Task, Write, Annotations::IDEMPOTENT,
            "Set a task's status and/or notes, addressed by phase + task_index (0-based) or by task_id. Returns the task and the plan's progress.")
            .handler(|s, p, a: TaskUpdateParams| async move { s.task_update(&p, a).await }),
        info("session_start", Session, Write, Annotations::ADDITIVE,
            "Start an agent session, optionally on a plan (plan_slug). Returns the session_id (sess_...) that every other session tool takes.")
            .handler(|s, p, a: SessionStartParams| async move { s.session_start(&p, a).await }),
        info("session_log", Session, Write, Annotations::ADDITIVE,
            "Append an entry (type info, progress, decision, error or checkpoint) to a session's work log and mark it active now. Needs a session_id from session_start.")
            .handler(|s, p, a: SessionLogParams| async move { s.session_log(&p, a).await }),
        info("session_artifact", Session, Write, Annotations::ADDITIVE,
            "Record a file or object the session created, modified, deleted or reviewed. Needs a session_id from session_start.")
            .handler(|s, p, a: SessionArtifactParams| async move { s.session_artifact(&p, a).await }),
        info("session_handoff", Session, Write, Annotations::IDEMPOTENT,
            "Leave handoff notes (summary, next steps, blockers, context) and pause the session. Returns the handoff_context with the last actions, newest artifacts and plan progress for the next agent; session_replay pages the rest.")
            .handler(|s, p, a: SessionHandoffParams| async move { s.session_handoff(&p, a).await }),
        info("session_continue", Session, Write, Annotations::ADDITIVE,
            "Start a new session for another agent from an active or paused one (previous_session_id), inheriting its plan, context and handoff notes; the old session becomes handed_off.")
            .handler(|s, p, a: SessionContinueParams| async move { s.session_continue(&p, a).await }),
        info("session_resume", Session, Write, Annotations::IDEMPOTENT,
            "Make a paused or handed-off session active again. Returns its handoff notes, last actions and newest artifacts; session_replay pages the rest.")
            .handler(|s, p, a: SessionIdParams| async move { s.session_resume(&p, a).await }),
        info("session_heartbeat", Session, Write, Annotations::IDEMPOTENT,
            "Mark a session active now, so the stale sweep (24 h of inactivity) leaves it alone.")
            .handler(|s, p, a: SessionIdParams| async move { s.session_heartbeat(&p, a).await }),
        info("session_end", Session, Write, Annotations::IDEMPOTENT,
            "End a session as completed, failed or handed_off (or pause it) with an optional summary. Returns its duration.")
            .handler(|s, p, a: SessionEndParams| async move { s.session_end(&p, a).await }),
        info("session_replay", Session, Read, Annotations::READ,
            "Read what is needed to pick a session up: counts, the newest checkpoints, decisions and errors, the last actions, the newest artifacts (also grouped by action) and handoff notes. Page older actions with cursor (type for one kind) and older artifacts with artifacts_cursor.")
            .handler(|s, p, a: SessionReplayParams| async move { s.session_replay(&p, a).await }),
        info("session_list", Session, Read, Annotations::READ,
            "List the workspace's sessions, most recently active first, filtered by status and plan_slug; page with limit and cursor.")
            .handler(|s, p, a: SessionListParams| async move { s.session_list(&p, a).await }),
        info("state_set", State, Write, Annotations::IDEMPOTENT,
            "Store a named value (any JSON except null, at most 256 KiB) with a plan, replacing any earlier value under the key. Optional type, description and category.")
            .handler(|s, p, a: StateSetParams| async move { s.state_set(&p, a).await }),
        info("state_get", State, Read, Annotations::READ,
            "Read one value stored with a plan by key. Returns key, value, type, description, category and updated_at at the top level; a value over 40,000 bytes comes in parts (value_text; pass next_cursor as cursor for the next part).")
            .handler(|s, p, a: StateGetParams| async move { s.state_get(&p, a).await }),
        info("state_list", State, Read, Annotations::READ,
            "List the values stored with a plan, by key, optionally of one category; page with limit and cursor.")
            .handler(|s, p, a: StateListParams| async move { s.state_list(&p, a).await }),
        info("state_delete", State, Write, Annotations::DESTRUCTIVE,
            "Delete one value stored with a plan. Returns the deleted key.")
            .handler(|s, p, a: StateKeyParams| async move { s.state_delete(&p, a).await }),
        info("template_list", Template, Read, Annotations::READ,
            "List the plan templates (built-in and the operator's own) with their phase and task counts and variables; filter by category; page with limit and cursor.")
            .handler(|s, p, a: TemplateListParams| async move { s.template_list(&p, a).await }),
        info("template_preview", Template, Read, Annotations::READ,
            "Show the plan a template would create with the given variables, after validating them (every problem is listed). A large template comes in pages: pass next_cursor as cursor for the next phases.")
            .handler(|s, p, a: TemplatePreviewParams| async move { s.template_preview(&p, a).await }),
        info("template_create_plan", Template, Write, Annotations::ADDITIVE,
            "Create a plan from a template with the given variables (optional slug and title; activate: true to start it active). Returns the plan's slug and counts.")
            .handler(|s, p, a: TemplateCreatePlanParams| async move { s.template_create_plan(&p, a).await }),
        info("list_workflows", Workflow, Read, Annotations::READ,
            "List the durable workflows you may start (key, description, ordered arguments with JSON types and required flags, smoke safety, expected output and history), the status values, and with show_recent the workspace's recent runs (page with limit and cursor).")
            .handler(|s, p, a: ListWorkflowsParams| async move { s.list_workflows(&p, a).await }),
        info("start_workflow", Workflow, Write, Annotations::ADDITIVE,
            "Start a workflow by key (see list_workflows) with ordered arguments; returns at once with workflow_id, run_id and status pending. Give instance_id for idempotency; duplicate_start_policy return_existing_active returns a running instance instead of rejecting.")
            .handler(|s, p, a: StartWorkflowParams| async move { s.start_workflow(&p, a).await }),
        info("get_workflow_result", Workflow, Read, Annotations::READ,
            "Get a workflow's status, output (when completed) or error (when failed), metadata and optionally its recent events; wait_seconds (up to 25) waits for it to close first. An output over 32,000 bytes comes in parts (output_text; next_cursor as cursor). A workflow that does not exist is found: false.")
            .handler(|s, p, a: GetWorkflowResultParams| async move { s.get_workflow_result(&p, a).await }),
        info("get_workflow_history", Workflow, Read, Annotations::READ,
            "Read a workflow run's typed history events (the last limit that fit the result, or the page before cursor; next_cursor pages back), with payload keys and sizes, optional payload previews cut at 4096 bytes, and its latest failures.")
            .handler(|s, p, a: GetWorkflowHistoryParams| async move { s.get_workflow_history(&p, a).await }),
    ]
}
