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
            "Create a draft plan with ordered phases and tasks. Returns its slug, which the plan, phase and task tools take; plan_publish it before starting phases.")
            .handler(|s, p, a: PlanCreateParams| async move { s.plan_create(&p, a).await }),
        info("plan_get", Plan, Read, Annotations::READ,
            "Get a plan by slug: progress and its phases with their first tasks, as JSON or markdown (format: markdown). next_cursor pages phases; tasks_next_cursor a phase's tasks (phase_get).")
            .handler(|s, p, a: PlanGetParams| async move { s.plan_get(&p, a).await }),
        info("plan_list", Plan, Read, Annotations::READ,
            "List plans, most recently updated first, with status and progress; archived ones only with include_archived or status archived. Page with limit and cursor.")
            .handler(|s, p, a: PlanListParams| async move { s.plan_list(&p, a).await }),
        info("plan_update_status", Plan, Write, Annotations::IDEMPOTENT,
            "Change a plan's status (draft, active, paused, completed); a refused change names the allowed targets. Archive with plan_archive.")
            .handler(|s, p, a: PlanUpdateStatusParams| async move { s.plan_update_status(&p, a).await }),
        info("plan_archive", Plan, Write, Annotations::DESTRUCTIVE,
            "Archive a plan (optionally with a reason): it leaves default listings and becomes read-only.")
            .handler(|s, p, a: PlanArchiveParams| async move { s.plan_archive(&p, a).await }),
        info("plan_publish", Plan, Write, Annotations::IDEMPOTENT,
            "Publish a draft plan (draft -> active) so its phases can start.")
            .handler(|s, p, a: PlanPublishParams| async move { s.plan_publish(&p, a).await }),
        info("phase_get", Phase, Read, Annotations::READ,
            "Get one phase (by order or name): a page of its tasks, dependencies, blockers, newest checkpoints (checkpoints_cursor for more).")
            .handler(|s, p, a: PhaseGetParams| async move { s.phase_get(&p, a).await }),
        info("phase_update_status", Phase, Write, Annotations::IDEMPOTENT,
            "Set a phase's status. Starting or completing needs a published plan and finished dependency phases; finishing the last phase completes the plan. Notes become a checkpoint.")
            .handler(|s, p, a: PhaseUpdateStatusParams| async move { s.phase_update_status(&p, a).await }),
        info("phase_add_checkpoint", Phase, Write, Annotations::ADDITIVE,
            "Record a checkpoint note, with optional JSON context, on a phase; returns its newest checkpoints.")
            .handler(|s, p, a: PhaseAddCheckpointParams| async move { s.phase_add_checkpoint(&p, a).await }),
        info("phase_add", Phase, Write, Annotations::ADDITIVE,
            "Append a phase, with tasks and optional dependencies on earlier phases, to a plan.")
            .handler(|s, p, a: PhaseAddParams| async move { s.phase_add(&p, a).await }),
        info("task_add", Task, Write, Annotations::ADDITIVE,
            "Append a task to a phase; returns its stable id and index.")
            .handler(|s, p, a: TaskAddParams| async move { s.task_add(&p, a).await }),
        info("task_toggle", Task, Write, Annotations::ADDITIVE,
            "Toggle a task between completed and pending, by phase + task_index (0-based) or task_id.")
            .handler(|s, p, a: TaskToggleParams| async move { s.task_toggle(&p, a).await }),
        info("task_update", Task, Write, Annotations::IDEMPOTENT,
            "Set a task's status and/or notes, by phase + task_index (0-based) or task_id.")
            .handler(|s, p, a: TaskUpdateParams| async move { s.task_update(&p, a).await }),
        info("session_start", Session, Write, Annotations::ADDITIVE,
            "Start an agent session, optionally on a plan. Returns the session_id (sess_...) the other session tools take.")
            .handler(|s, p, a: SessionStartParams| async move { s.session_start(&p, a).await }),
        info("session_log", Session, Write, Annotations::ADDITIVE,
            "Append an entry (info, progress, decision, error, checkpoint) to a session's work log.")
            .handler(|s, p, a: SessionLogParams| async move { s.session_log(&p, a).await }),
        info("session_artifact", Session, Write, Annotations::ADDITIVE,
            "Record a file or object the session created, modified, deleted or reviewed.")
            .handler(|s, p, a: SessionArtifactParams| async move { s.session_artifact(&p, a).await }),
        info("session_handoff", Session, Write, Annotations::IDEMPOTENT,
            "Leave handoff notes (summary, next steps, blockers, context) and pause the session; returns what the next agent needs.")
            .handler(|s, p, a: SessionHandoffParams| async move { s.session_handoff(&p, a).await }),
        info("session_continue", Session, Write, Annotations::ADDITIVE,
            "Start a session for another agent from an active or paused one, inheriting its plan, context and handoff notes; the old one becomes handed_off.")
            .handler(|s, p, a: SessionContinueParams| async move { s.session_continue(&p, a).await }),
        info("session_resume", Session, Write, Annotations::IDEMPOTENT,
            "Make a paused or handed-off session active again; returns its handoff notes and recent work.")
            .handler(|s, p, a: SessionIdParams| async move { s.session_resume(&p, a).await }),
        info("session_heartbeat", Session, Write, Annotations::IDEMPOTENT,
            "Mark a session active now, so the stale sweep (24 h idle) leaves it alone.")
            .handler(|s, p, a: SessionIdParams| async move { s.session_heartbeat(&p, a).await }),
        info("session_end", Session, Write, Annotations::IDEMPOTENT,
            "End a session (completed, failed, handed_off) or pause it, with an optional summary.")
            .handler(|s, p, a: SessionEndParams| async move { s.session_end(&p, a).await }),
        info("session_replay", Session, Read, Annotations::READ,
            "Read what is needed to pick a session up: progress, newest checkpoints, decisions, errors, recent actions, artifacts, handoff notes; cursor (with type) and artifacts_cursor page back.")
            .handler(|s, p, a: SessionReplayParams| async move { s.session_replay(&p, a).await }),
        info("session_list", Session, Read, Annotations::READ,
            "List sessions, most recently active first, by status and plan_slug; page with limit and cursor.")
            .handler(|s, p, a: SessionListParams| async move { s.session_list(&p, a).await }),
        info("state_set", State, Write, Annotations::IDEMPOTENT,
            "Store a named value (any JSON but null, at most 256 KiB) with a plan, replacing the key's earlier value.")
            .handler(|s, p, a: StateSetParams| async move { s.state_set(&p, a).await }),
        info("state_get", State, Read, Annotations::READ,
            "Read one value stored with a plan, by key; a large one comes in parts (value_text, next_cursor).")
            .handler(|s, p, a: StateGetParams| async move { s.state_get(&p, a).await }),
        info("state_list", State, Read, Annotations::READ,
            "List the values stored with a plan, optionally of one category; page with limit and cursor.")
            .handler(|s, p, a: StateListParams| async move { s.state_list(&p, a).await }),
        info("state_delete", State, Write, Annotations::DESTRUCTIVE,
            "Delete one value stored with a plan.")
            .handler(|s, p, a: StateKeyParams| async move { s.state_delete(&p, a).await }),
        info("template_list", Template, Read, Annotations::READ,
            "List plan templates (built-in and the operator's) with their variables; filter by category; page with cursor.")
            .handler(|s, p, a: TemplateListParams| async move { s.template_list(&p, a).await }),
        info("template_preview", Template, Read, Annotations::READ,
            "Show the plan a template would create with these variables, listing every variable problem. Page phases with cursor.")
            .handler(|s, p, a: TemplatePreviewParams| async move { s.template_preview(&p, a).await }),
        info("template_create_plan", Template, Write, Annotations::ADDITIVE,
            "Create a plan from a template with these variables (activate: true to start it active). Returns its slug.")
            .handler(|s, p, a: TemplateCreatePlanParams| async move { s.template_create_plan(&p, a).await }),
        info("list_workflows", Workflow, Read, Annotations::READ,
            "List the workflows you may start (arguments, smoke safety, expected output and history) and, with show_recent, recent runs (page with cursor). Call before start_workflow.")
            .handler(|s, p, a: ListWorkflowsParams| async move { s.list_workflows(&p, a).await }),
        info("start_workflow", Workflow, Write, Annotations::ADDITIVE,
            "Start a workflow by key (see list_workflows) with ordered arguments; returns workflow_id and run_id at once. instance_id makes it idempotent. Then poll get_workflow_result.")
            .handler(|s, p, a: StartWorkflowParams| async move { s.start_workflow(&p, a).await }),
        info("get_workflow_result", Workflow, Read, Annotations::READ,
            "Get a workflow's status, output or error, and optionally recent events; wait_seconds (up to 25) waits for it to close. Unknown ids are found: false. Large outputs come in parts (output_text, next_cursor).")
            .handler(|s, p, a: GetWorkflowResultParams| async move { s.get_workflow_result(&p, a).await }),
        info("get_workflow_history", Workflow, Read, Annotations::READ,
            "Read a run's typed history events (the last limit, or the page before cursor), optionally with payload previews, and its latest failures.")
            .handler(|s, p, a: GetWorkflowHistoryParams| async move { s.get_workflow_history(&p, a).await }),
    ]
}
