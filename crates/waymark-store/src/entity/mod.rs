//! sea-orm entities, one module per table. Private to the crate: rows never leave it, the
//! repositories convert them to domain values.

pub(crate) mod agent_sessions;
pub(crate) mod api_keys;
pub(crate) mod audit_events;
pub(crate) mod phase_checkpoints;
pub(crate) mod phases;
pub(crate) mod plan_template_versions;
pub(crate) mod plans;
pub(crate) mod session_artifacts;
pub(crate) mod session_log_entries;
pub(crate) mod session_tool_calls;
pub(crate) mod tasks;
pub(crate) mod tool_call_stats;
pub(crate) mod wf_activity_attempts;
pub(crate) mod wf_activity_executions;
pub(crate) mod wf_commands;
pub(crate) mod wf_failures;
pub(crate) mod wf_history_events;
pub(crate) mod wf_instances;
pub(crate) mod wf_runs;
pub(crate) mod wf_search_attributes;
pub(crate) mod wf_tasks;
pub(crate) mod wf_timers;
pub(crate) mod workspace_states;
pub(crate) mod workspaces;
