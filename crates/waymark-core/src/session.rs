//! Agent-session use cases: `session_start`, `session_end`, `session_log`, `session_handoff`,
//! `session_resume`, `session_replay`, `session_continue`, `session_artifact`, `session_list`,
//! `session_heartbeat` (seed-000 §2.4, with AGENT-TOOLS.md: `session_id` is an argument,
//! sessions are workspace-scoped, the status table is enforced, the log is rows).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use waymark_domain::status::StatusTable;
use waymark_domain::{
    Artifact, ArtifactAction, JsonText, LogEntry, LogType, Plan, PlanId, Session, SessionEvent, SessionId,
    SessionStatus, Slug, Timestamp, session::format_duration,
};
use waymark_store::{SessionFilter, Tx};

use crate::clock::iso;
use crate::plan::plan_not_found;
use crate::view::{ProgressView, Status, document, next_cursor, object, parse_cursor, progress};
use crate::{ErrorCode, Principal, Service, ServiceError, ids};

/// What an idle active session becomes after the stale sweep (the original's wording).
pub const TIMED_OUT: &str = "Session timed out due to inactivity";
/// How long an active session may be idle before the sweep fails it (AGENT-TOOLS.md).
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
const RECENT_ACTIONS: usize = 20;

fn session_not_found(id: &str) -> ServiceError {
    ServiceError::not_found(format!("Session not found: {id}"))
}

/// Loads a session of the caller's workspace (locked for update in a PostgreSQL write).
async fn load(tx: &Tx, principal: &Principal, id: &str) -> Result<Session, ServiceError> {
    let parsed = SessionId::parse(id).ok_or_else(|| session_not_found(id))?;
    tx.session_by_id(&principal.workspace_id, &parsed).await?.ok_or_else(|| session_not_found(id))
}

// ---- views ------------------------------------------------------------------------------

/// A session in brief.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionBriefView {
    /// `sess_<uuid>`: pass it to every other session tool.
    pub session_id: String,
    /// The agent.
    pub agent_type: String,
    /// The plan's slug, if the session works on one.
    pub plan: Option<String>,
    /// Status.
    pub status: Status<SessionStatus>,
}

/// A session with its duration.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionDurationView {
    /// `sess_<uuid>`.
    pub session_id: String,
    /// The agent.
    pub agent_type: String,
    /// Status.
    pub status: Status<SessionStatus>,
    /// The plan's slug, if any.
    pub plan: Option<String>,
    /// `"Nm"`, or `"Hh Mm"` from an hour on.
    pub duration: String,
}

/// One work-log entry (the original's `{message, type, data, timestamp}`).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct LogEntryView {
    /// Text.
    pub message: String,
    /// `info`, `progress`, `decision`, `error` or `checkpoint`.
    #[serde(rename = "type")]
    pub kind: Status<LogType>,
    /// Structured detail.
    pub data: Map<String, Value>,
    /// ISO-8601.
    pub timestamp: String,
}

impl From<&LogEntry> for LogEntryView {
    fn from(e: &LogEntry) -> Self {
        Self { message: e.message.clone(), kind: Status(e.kind), data: object(&e.data), timestamp: iso(e.created_at) }
    }
}

/// One artifact (the original's `{path, action, metadata, timestamp}`).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ArtifactView {
    /// File path or locator.
    pub path: String,
    /// `created`, `modified`, `deleted` or `reviewed`.
    pub action: Status<ArtifactAction>,
    /// `{description}` when one was given.
    pub metadata: Option<Map<String, Value>>,
    /// ISO-8601.
    pub timestamp: String,
}

impl From<&Artifact> for ArtifactView {
    fn from(a: &Artifact) -> Self {
        Self {
            path: a.path.clone(),
            action: Status(a.action),
            metadata: a.description.as_ref().map(|d| {
                let mut m = Map::new();
                m.insert("description".into(), Value::String(d.clone()));
                m
            }),
            timestamp: iso(a.created_at),
        }
    }
}

/// Handoff notes: `{summary, next_steps, blockers, context_for_next}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct HandoffNotesView {
    /// What was done and where things stand.
    pub summary: String,
    /// What the next agent should do.
    #[serde(default)]
    pub next_steps: Vec<String>,
    /// What stands in the way.
    #[serde(default)]
    pub blockers: Vec<String>,
    /// Anything else the next agent needs.
    #[serde(default)]
    pub context_for_next: Map<String, Value>,
}

fn handoff_notes(session: &Session) -> Option<HandoffNotesView> {
    session.handoff_notes.as_ref().and_then(|n| serde_json::from_str(n.as_str()).ok())
}

/// A plan as a session sees it.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionPlanView {
    /// Slug.
    pub slug: String,
    /// Title.
    pub title: String,
    /// Order of the phase most recently started.
    pub current_phase: Option<u32>,
    /// Progress by phases and tasks (only in handoff context).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<ProgressView>,
}

/// The context a handoff leaves for the next agent.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct HandoffContextView {
    /// `sess_<uuid>`.
    pub session_id: String,
    /// The agent.
    pub agent_type: String,
    /// ISO-8601.
    pub started_at: String,
    /// ISO-8601.
    pub last_active_at: String,
    /// The context given at start.
    pub context_summary: Map<String, Value>,
    /// The last 20 work-log entries, newest first.
    pub recent_actions: Vec<LogEntryView>,
    /// Every artifact, oldest first.
    pub artifacts: Vec<ArtifactView>,
    /// The notes just written.
    pub handoff_notes: Option<HandoffNotesView>,
    /// The plan, when the session works on one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<SessionPlanView>,
}

// ---- params and results -----------------------------------------------------------------

/// Arguments of `session_start`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionStartParams {
    /// Which agent is working (free text, e.g. opus, sonnet, codex).
    #[schemars(length(min = 1, max = 255))]
    pub agent_type: String,
    /// The plan the session works on.
    #[schemars(length(min = 1, max = 255))]
    pub plan_slug: Option<String>,
    /// Initial context (at most 256 KiB).
    pub context: Option<Map<String, Value>>,
}

/// Result of `session_start`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionStartView {
    /// The new session.
    pub session: SessionBriefView,
}

/// The statuses `session_end` may set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionEndStatus {
    /// Work is done.
    Completed,
    /// Work continues in another session.
    HandedOff,
    /// Put aside; may be resumed.
    Paused,
    /// Abandoned.
    Failed,
}

impl From<SessionEndStatus> for SessionStatus {
    fn from(s: SessionEndStatus) -> Self {
        match s {
            SessionEndStatus::Completed => Self::Completed,
            SessionEndStatus::HandedOff => Self::HandedOff,
            SessionEndStatus::Paused => Self::Paused,
            SessionEndStatus::Failed => Self::Failed,
        }
    }
}

/// Arguments of `session_end`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionEndParams {
    /// The session (`sess_…`).
    #[schemars(length(min = 1, max = 64))]
    pub session_id: String,
    /// The final status.
    pub status: SessionEndStatus,
    /// What was achieved.
    #[schemars(length(max = 65535))]
    pub summary: Option<String>,
}

/// Result of `session_end` and similar.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionEndView {
    /// The session after the change.
    pub session: SessionEndedView,
}

/// An ended session.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionEndedView {
    /// `sess_<uuid>`.
    pub session_id: String,
    /// Status now.
    pub status: Status<SessionStatus>,
    /// `"Nm"`, or `"Hh Mm"`.
    pub duration: String,
}

/// Arguments of `session_log`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionLogParams {
    /// The session (`sess_…`).
    #[schemars(length(min = 1, max = 64))]
    pub session_id: String,
    /// What happened.
    #[schemars(length(min = 1, max = 65535))]
    pub message: String,
    /// Kind of entry (default `info`).
    #[serde(rename = "type")]
    pub kind: Option<Status<LogType>>,
    /// Structured detail (at most 256 KiB).
    pub data: Option<Map<String, Value>>,
}

/// Result of `session_log`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionLogView {
    /// The message recorded.
    pub logged: String,
}

/// Arguments of `session_handoff`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionHandoffParams {
    /// The session (`sess_…`).
    #[schemars(length(min = 1, max = 64))]
    pub session_id: String,
    /// Where things stand.
    #[schemars(length(min = 1, max = 65535))]
    pub summary: String,
    /// What the next agent should do.
    #[schemars(length(max = 100), inner(length(max = 2000)))]
    pub next_steps: Option<Vec<String>>,
    /// What stands in the way.
    #[schemars(length(max = 100), inner(length(max = 2000)))]
    pub blockers: Option<Vec<String>>,
    /// Anything else the next agent needs (at most 256 KiB).
    pub context_for_next: Option<Map<String, Value>>,
}

/// Result of `session_handoff`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionHandoffView {
    /// Everything the next agent needs.
    pub handoff_context: HandoffContextView,
}

/// Arguments of the tools that take only a session id.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionIdParams {
    /// The session (`sess_…`).
    #[schemars(length(min = 1, max = 64))]
    pub session_id: String,
}

/// Result of `session_resume`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionResumeView {
    /// The session, active again.
    pub session: SessionDurationView,
    /// The handoff notes left for whoever resumes, if any.
    pub handoff_context: Option<HandoffNotesView>,
    /// The last 20 work-log entries, newest first.
    pub recent_actions: Vec<LogEntryView>,
    /// Every artifact, oldest first.
    pub artifacts: Vec<ArtifactView>,
}

/// Counts of a session's work.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ProgressSummaryView {
    /// Work-log entries.
    pub completed_steps: u64,
    /// Entries of type `checkpoint`.
    pub checkpoint_count: u64,
    /// Entries of type `error`.
    pub error_count: u64,
    /// The newest entry's message.
    pub last_action: Option<String>,
    /// When it was recorded, ISO-8601.
    pub last_action_at: Option<String>,
    /// "N actions recorded, N checkpoints, N errors", or "No work recorded".
    pub summary: String,
}

/// Artifacts grouped by action (arrays, never objects keyed by index).
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct ArtifactsByActionView {
    /// Created.
    pub created: Vec<ArtifactView>,
    /// Modified.
    pub modified: Vec<ArtifactView>,
    /// Deleted.
    pub deleted: Vec<ArtifactView>,
    /// Reviewed.
    pub reviewed: Vec<ArtifactView>,
}

/// Everything needed to pick a session up again (the original's `replay_context`).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ReplayContextView {
    /// `sess_<uuid>`.
    pub session_id: String,
    /// Status.
    pub status: Status<SessionStatus>,
    /// The agent.
    pub agent_type: String,
    /// The plan, when the session works on one.
    pub plan: Option<SessionPlanView>,
    /// ISO-8601.
    pub started_at: String,
    /// ISO-8601.
    pub last_active_at: String,
    /// `"Nm"`, or `"Hh Mm"`.
    pub duration: String,
    /// The context given at start.
    pub context_summary: Map<String, Value>,
    /// Counts and the last action.
    pub progress_summary: ProgressSummaryView,
    /// The newest checkpoint entry.
    pub last_checkpoint: Option<LogEntryView>,
    /// Every checkpoint entry, oldest first.
    pub checkpoints: Vec<LogEntryView>,
    /// Every decision entry, oldest first.
    pub decisions: Vec<LogEntryView>,
    /// Every error entry, oldest first.
    pub errors: Vec<LogEntryView>,
    /// Every artifact, oldest first.
    pub artifacts: Vec<ArtifactView>,
    /// Artifacts grouped by action.
    pub artifacts_by_action: ArtifactsByActionView,
    /// The last 20 entries, newest first.
    pub recent_actions: Vec<LogEntryView>,
    /// Number of work-log entries.
    pub total_actions: u64,
    /// Handoff notes, if any.
    pub handoff_notes: Option<HandoffNotesView>,
    /// Summary given at the end, if ended.
    pub final_summary: Option<String>,
}

/// Result of `session_replay`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionReplayView {
    /// The replay context.
    pub replay_context: ReplayContextView,
}

/// Arguments of `session_continue`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionContinueParams {
    /// The session to continue (`sess_…`); it becomes `handed_off`.
    #[schemars(length(min = 1, max = 64))]
    pub previous_session_id: String,
    /// The agent taking over.
    #[schemars(length(min = 1, max = 255))]
    pub agent_type: String,
}

/// Result of `session_continue`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionContinueView {
    /// The new session.
    pub session: SessionBriefView,
    /// The previous session's id.
    pub continued_from: String,
    /// The previous agent.
    pub previous_agent: String,
    /// The previous session's handoff notes.
    pub handoff_notes: Option<HandoffNotesView>,
    /// The previous session's context.
    pub inherited_context: Map<String, Value>,
}

/// Arguments of `session_artifact`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionArtifactParams {
    /// The session (`sess_…`).
    #[schemars(length(min = 1, max = 64))]
    pub session_id: String,
    /// File path or other locator.
    #[schemars(length(min = 1, max = 1024))]
    pub path: String,
    /// What happened to it.
    pub action: Status<ArtifactAction>,
    /// Optional description.
    #[schemars(length(max = 2000))]
    pub description: Option<String>,
}

/// Result of `session_artifact`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionArtifactView {
    /// The path recorded.
    pub artifact: String,
}

/// Arguments of `session_list`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionListParams {
    /// Only this status.
    pub status: Option<Status<SessionStatus>>,
    /// Only sessions on this plan.
    #[schemars(length(min = 1, max = 255))]
    pub plan_slug: Option<String>,
    /// Page size, 1-1000 (default 50).
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[schemars(length(max = 64))]
    pub cursor: Option<String>,
}

/// A session in a listing.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionSummaryView {
    /// `sess_<uuid>`.
    pub session_id: String,
    /// The agent.
    pub agent_type: String,
    /// Status.
    pub status: Status<SessionStatus>,
    /// The plan's slug, if any.
    pub plan: Option<String>,
    /// `"Nm"`, or `"Hh Mm"`.
    pub duration: String,
    /// ISO-8601.
    pub started_at: String,
    /// ISO-8601.
    pub last_active_at: String,
    /// Whether handoff notes exist.
    pub has_handoff: bool,
}

/// Result of `session_list`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionListView {
    /// Sessions, most recently active first.
    pub sessions: Vec<SessionSummaryView>,
    /// How many match in all.
    pub total: u64,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Result of `session_heartbeat`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionHeartbeatView {
    /// The session after the heartbeat.
    pub session: SessionHeartbeatStateView,
}

/// A session's liveness.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionHeartbeatStateView {
    /// `sess_<uuid>`.
    pub session_id: String,
    /// Status.
    pub status: Status<SessionStatus>,
    /// ISO-8601.
    pub last_active_at: String,
}

// ---- helpers ----------------------------------------------------------------------------

fn duration(session: &Session, now: Timestamp) -> String {
    format_duration(session.started_at, session.ended_at.unwrap_or(now))
}

async fn plan_of(tx: &Tx, principal: &Principal, session: &Session) -> Result<Option<Plan>, ServiceError> {
    let Some(plan_id) = &session.plan_id else { return Ok(None) };
    Ok(tx.plan_by_id(&principal.workspace_id, plan_id).await?)
}

fn recent(entries: &[LogEntry]) -> Vec<LogEntryView> {
    entries.iter().rev().take(RECENT_ACTIONS).map(LogEntryView::from).collect()
}

fn check(status: SessionStatus, event: SessionEvent) -> Result<SessionStatus, ServiceError> {
    Ok(status.apply(event)?)
}

impl Service {
    /// `session_start`: opens an active session, optionally on a plan of the caller's
    /// workspace.
    ///
    /// # Errors
    /// `not_found` ("Plan not found: {slug}"), `validation_error`.
    pub async fn session_start(
        &self,
        principal: &Principal,
        params: SessionStartParams,
    ) -> Result<SessionStartView, ServiceError> {
        let agent_type = params.agent_type.trim().to_owned();
        if agent_type.is_empty() {
            return Err(ServiceError::validation("agent_type is required"));
        }
        let context = document("context", params.context.as_ref())?;
        let tx = self.store().write().await?;
        let plan = match &params.plan_slug {
            Some(slug) => {
                let parsed = Slug::parse(slug).map_err(|_| plan_not_found(slug))?;
                Some(tx.plan_by_slug(&principal.workspace_id, &parsed).await?.ok_or_else(|| plan_not_found(slug))?)
            }
            None => None,
        };
        let now = self.now();
        let session = Session {
            id: SessionId::from_uuid(&ids::uuid_v4()),
            workspace_id: principal.workspace_id.clone(),
            api_key_id: principal.key_id.clone(),
            plan_id: plan.as_ref().map(|p| p.id.clone()),
            agent_type: agent_type.clone(),
            status: SessionStatus::Active,
            context_summary: context,
            handoff_notes: None,
            final_summary: None,
            continued_from: None,
            started_at: now,
            last_active_at: now,
            ended_at: None,
        };
        tx.insert_session(&session).await?;
        self.commit(tx, principal).await?;
        Ok(SessionStartView {
            session: SessionBriefView {
                session_id: session.id.to_string(),
                agent_type,
                plan: plan.map(|p| p.slug.to_string()),
                status: Status(SessionStatus::Active),
            },
        })
    }

    /// `session_end`: closes a session as completed, failed or handed off, or pauses it.
    ///
    /// # Errors
    /// `not_found`, `invalid_transition` (final sessions).
    pub async fn session_end(
        &self,
        principal: &Principal,
        params: SessionEndParams,
    ) -> Result<SessionEndView, ServiceError> {
        let tx = self.store().write().await?;
        let mut session = load(&tx, principal, &params.session_id).await?;
        let to: SessionStatus = params.status.into();
        session.status = check(session.status, SessionEvent::End(to))?;
        let now = self.now();
        if let Some(summary) = params.summary.filter(|s| !s.trim().is_empty()) {
            session.final_summary = Some(summary);
        }
        if to != SessionStatus::Paused {
            session.ended_at = Some(now);
        }
        tx.update_session(&session).await?;
        self.commit(tx, principal).await?;
        Ok(SessionEndView {
            session: SessionEndedView {
                session_id: session.id.to_string(),
                status: Status(session.status),
                duration: duration(&session, now),
            },
        })
    }

    /// `session_log`: appends a work-log entry (a row) and marks the session active now.
    ///
    /// # Errors
    /// `not_found`, `invalid_transition` (final sessions), `validation_error`.
    pub async fn session_log(
        &self,
        principal: &Principal,
        params: SessionLogParams,
    ) -> Result<SessionLogView, ServiceError> {
        let message = params.message.trim().to_owned();
        if message.is_empty() {
            return Err(ServiceError::validation("message is required"));
        }
        let data = document("data", params.data.as_ref())?;
        let tx = self.store().write().await?;
        let mut session = load(&tx, principal, &params.session_id).await?;
        check(session.status, SessionEvent::Activity)?;
        let now = self.now();
        tx.insert_log_entry(&LogEntry {
            id: format!("log_{}", ids::ulid(now)),
            session_id: session.id.clone(),
            kind: params.kind.map_or(LogType::Info, |k| k.0),
            message: message.clone(),
            data,
            created_at: now,
        })
        .await?;
        session.last_active_at = now;
        tx.update_session(&session).await?;
        self.commit(tx, principal).await?;
        Ok(SessionLogView { logged: message })
    }

    /// `session_handoff`: records notes for the next agent and pauses the session.
    ///
    /// # Errors
    /// `not_found`, `invalid_transition`, `validation_error`.
    pub async fn session_handoff(
        &self,
        principal: &Principal,
        params: SessionHandoffParams,
    ) -> Result<SessionHandoffView, ServiceError> {
        let summary = params.summary.trim().to_owned();
        if summary.is_empty() {
            return Err(ServiceError::validation("summary is required"));
        }
        let notes = HandoffNotesView {
            summary,
            next_steps: params.next_steps.unwrap_or_default(),
            blockers: params.blockers.unwrap_or_default(),
            context_for_next: params.context_for_next.unwrap_or_default(),
        };
        let notes_json = serde_json::to_value(&notes).map_err(|e| ServiceError::internal(&e))?;
        let notes_text = document("handoff notes", notes_json.as_object())?;
        let tx = self.store().write().await?;
        let mut session = load(&tx, principal, &params.session_id).await?;
        session.status = check(session.status, SessionEvent::Handoff)?;
        session.handoff_notes = Some(notes_text);
        session.last_active_at = self.now();
        tx.update_session(&session).await?;
        let entries = tx.log_entries(&session.id).await?;
        let artifacts = tx.artifacts(&session.id).await?;
        let plan = match plan_of(&tx, principal, &session).await? {
            Some(plan) => {
                let phases = tx.phases_of(&plan.id).await?;
                let tasks = tx.tasks_of(&plan.id).await?;
                Some(SessionPlanView {
                    slug: plan.slug.to_string(),
                    title: plan.title.clone(),
                    current_phase: plan.current_phase,
                    progress: Some(progress(&phases, &tasks)),
                })
            }
            None => None,
        };
        self.commit(tx, principal).await?;
        Ok(SessionHandoffView {
            handoff_context: HandoffContextView {
                session_id: session.id.to_string(),
                agent_type: session.agent_type.clone(),
                started_at: iso(session.started_at),
                last_active_at: iso(session.last_active_at),
                context_summary: object(&session.context_summary),
                recent_actions: recent(&entries),
                artifacts: artifacts.iter().map(ArtifactView::from).collect(),
                handoff_notes: Some(notes),
                plan,
            },
        })
    }

    /// `session_resume`: makes a paused or handed-off session active again.
    ///
    /// # Errors
    /// `not_found`, `invalid_transition` (final sessions).
    pub async fn session_resume(
        &self,
        principal: &Principal,
        params: SessionIdParams,
    ) -> Result<SessionResumeView, ServiceError> {
        let tx = self.store().write().await?;
        let mut session = load(&tx, principal, &params.session_id).await?;
        session.status = check(session.status, SessionEvent::Resume)?;
        let now = self.now();
        session.last_active_at = now;
        session.ended_at = None;
        tx.update_session(&session).await?;
        let entries = tx.log_entries(&session.id).await?;
        let artifacts = tx.artifacts(&session.id).await?;
        let plan = plan_of(&tx, principal, &session).await?;
        self.commit(tx, principal).await?;
        Ok(SessionResumeView {
            session: SessionDurationView {
                session_id: session.id.to_string(),
                agent_type: session.agent_type.clone(),
                status: Status(session.status),
                plan: plan.map(|p| p.slug.to_string()),
                duration: duration(&session, now),
            },
            handoff_context: handoff_notes(&session),
            recent_actions: recent(&entries),
            artifacts: artifacts.iter().map(ArtifactView::from).collect(),
        })
    }

    /// `session_replay`: everything needed to pick the session up (read-only).
    ///
    /// # Errors
    /// `not_found`.
    pub async fn session_replay(
        &self,
        principal: &Principal,
        params: SessionIdParams,
    ) -> Result<SessionReplayView, ServiceError> {
        let tx = self.store().read().await?;
        let session = load(&tx, principal, &params.session_id).await?;
        let entries = tx.log_entries(&session.id).await?;
        let artifacts = tx.artifacts(&session.id).await?;
        let plan = plan_of(&tx, principal, &session).await?;
        let of = |kind: LogType| entries.iter().filter(|e| e.kind == kind).map(LogEntryView::from).collect::<Vec<_>>();
        let checkpoints = of(LogType::Checkpoint);
        let errors = of(LogType::Error);
        let total = entries.len() as u64;
        let last = entries.last();
        let progress_summary = ProgressSummaryView {
            completed_steps: total,
            checkpoint_count: checkpoints.len() as u64,
            error_count: errors.len() as u64,
            last_action: last.map(|e| e.message.clone()),
            last_action_at: last.map(|e| iso(e.created_at)),
            summary: if total == 0 {
                "No work recorded".to_owned()
            } else {
                format!("{total} actions recorded, {} checkpoints, {} errors", checkpoints.len(), errors.len())
            },
        };
        let mut by_action = ArtifactsByActionView::default();
        for artifact in &artifacts {
            let bucket = match artifact.action {
                ArtifactAction::Created => &mut by_action.created,
                ArtifactAction::Modified => &mut by_action.modified,
                ArtifactAction::Deleted => &mut by_action.deleted,
                ArtifactAction::Reviewed => &mut by_action.reviewed,
            };
            bucket.push(ArtifactView::from(artifact));
        }
        Ok(SessionReplayView {
            replay_context: ReplayContextView {
                session_id: session.id.to_string(),
                status: Status(session.status),
                agent_type: session.agent_type.clone(),
                plan: plan.map(|p| SessionPlanView {
                    slug: p.slug.to_string(),
                    title: p.title.clone(),
                    current_phase: p.current_phase,
                    progress: None,
                }),
                started_at: iso(session.started_at),
                last_active_at: iso(session.last_active_at),
                duration: duration(&session, self.now()),
                context_summary: object(&session.context_summary),
                progress_summary,
                last_checkpoint: checkpoints.last().cloned(),
                decisions: of(LogType::Decision),
                checkpoints,
                errors,
                artifacts: artifacts.iter().map(ArtifactView::from).collect(),
                artifacts_by_action: by_action,
                recent_actions: recent(&entries),
                total_actions: total,
                handoff_notes: handoff_notes(&session),
                final_summary: session.final_summary.clone(),
            },
        })
    }

    /// `session_continue`: starts a new session for another agent from an active or paused
    /// one, inheriting its plan, context and handoff notes; the old one becomes `handed_off`.
    /// Both changes commit together.
    ///
    /// # Errors
    /// `not_found` ("Previous session not found: {id}"), `invalid_transition`.
    pub async fn session_continue(
        &self,
        principal: &Principal,
        params: SessionContinueParams,
    ) -> Result<SessionContinueView, ServiceError> {
        let agent_type = params.agent_type.trim().to_owned();
        if agent_type.is_empty() {
            return Err(ServiceError::validation("agent_type is required"));
        }
        let tx = self.store().write().await?;
        let previous_not_found =
            || ServiceError::not_found(format!("Previous session not found: {}", params.previous_session_id));
        let id = SessionId::parse(&params.previous_session_id).ok_or_else(previous_not_found)?;
        let mut previous = tx.session_by_id(&principal.workspace_id, &id).await?.ok_or_else(previous_not_found)?;
        let previous_status = check(previous.status, SessionEvent::Continued)?;
        let now = self.now();
        let notes = handoff_notes(&previous);
        let inherited = object(&previous.context_summary);
        let context = json!({
            "continued_from": previous.id.as_str(),
            "previous_agent": previous.agent_type,
            "handoff_notes": notes,
            "inherited_context": inherited,
        });
        let session = Session {
            id: SessionId::from_uuid(&ids::uuid_v4()),
            workspace_id: principal.workspace_id.clone(),
            api_key_id: principal.key_id.clone(),
            plan_id: previous.plan_id.clone(),
            agent_type: agent_type.clone(),
            status: SessionStatus::Active,
            context_summary: JsonText::from_trusted(context.to_string()),
            handoff_notes: None,
            final_summary: None,
            continued_from: Some(previous.id.clone()),
            started_at: now,
            last_active_at: now,
            ended_at: None,
        };
        previous.status = previous_status;
        previous.final_summary = Some(format!("Handed off to {agent_type}"));
        previous.ended_at = Some(now);
        tx.insert_session(&session).await?;
        tx.update_session(&previous).await?;
        let plan = plan_of(&tx, principal, &session).await?;
        self.commit(tx, principal).await?;
        Ok(SessionContinueView {
            session: SessionBriefView {
                session_id: session.id.to_string(),
                agent_type,
                plan: plan.map(|p| p.slug.to_string()),
                status: Status(SessionStatus::Active),
            },
            continued_from: previous.id.to_string(),
            previous_agent: previous.agent_type,
            handoff_notes: notes,
            inherited_context: inherited,
        })
    }

    /// `session_artifact`: records a file the session created, modified, deleted or reviewed.
    ///
    /// # Errors
    /// `not_found`, `invalid_transition` (final sessions).
    pub async fn session_artifact(
        &self,
        principal: &Principal,
        params: SessionArtifactParams,
    ) -> Result<SessionArtifactView, ServiceError> {
        let path = params.path.trim().to_owned();
        if path.is_empty() {
            return Err(ServiceError::validation("path is required"));
        }
        let tx = self.store().write().await?;
        let session = load(&tx, principal, &params.session_id).await?;
        check(session.status, SessionEvent::Activity)?;
        let now = self.now();
        tx.insert_artifact(&Artifact {
            id: format!("art_{}", ids::ulid(now)),
            session_id: session.id.clone(),
            path: path.clone(),
            action: params.action.0,
            description: params.description.filter(|d| !d.trim().is_empty()),
            created_at: now,
        })
        .await?;
        self.commit(tx, principal).await?;
        Ok(SessionArtifactView { artifact: path })
    }

    /// `session_list`: sessions of the caller's workspace, most recently active first, with
    /// every filter applied in every case, paged.
    ///
    /// # Errors
    /// `not_found` for an unknown plan, `validation_error` for a bad cursor.
    pub async fn session_list(
        &self,
        principal: &Principal,
        params: SessionListParams,
    ) -> Result<SessionListView, ServiceError> {
        let offset = parse_cursor(params.cursor.as_deref())?;
        let limit = u64::from(params.limit.unwrap_or(50).clamp(1, 1000));
        let tx = self.store().read().await?;
        let plan = match &params.plan_slug {
            Some(slug) => {
                let parsed = Slug::parse(slug).map_err(|_| plan_not_found(slug))?;
                Some(tx.plan_by_slug(&principal.workspace_id, &parsed).await?.ok_or_else(|| plan_not_found(slug))?)
            }
            None => None,
        };
        let filter = SessionFilter {
            status: params.status.map(|s| s.0),
            plan_id: plan.as_ref().map(|p| p.id.clone()),
            offset,
            limit,
        };
        let page = tx.list_sessions(&principal.workspace_id, &filter).await?;
        let mut slugs: Vec<(PlanId, String)> = Vec::new();
        for session in &page.sessions {
            if let Some(plan_id) = &session.plan_id
                && !slugs.iter().any(|(id, _)| id == plan_id)
                && let Some(p) = tx.plan_by_id(&principal.workspace_id, plan_id).await?
            {
                slugs.push((p.id, p.slug.to_string()));
            }
        }
        let now = self.now();
        let sessions: Vec<SessionSummaryView> = page
            .sessions
            .iter()
            .map(|s| SessionSummaryView {
                session_id: s.id.to_string(),
                agent_type: s.agent_type.clone(),
                status: Status(s.status),
                plan: s
                    .plan_id
                    .as_ref()
                    .and_then(|id| slugs.iter().find(|(p, _)| p == id).map(|(_, slug)| slug.clone())),
                duration: duration(s, now),
                started_at: iso(s.started_at),
                last_active_at: iso(s.last_active_at),
                has_handoff: s.handoff_notes.is_some(),
            })
            .collect();
        let next_cursor = next_cursor(offset, sessions.len(), page.total);
        Ok(SessionListView { sessions, total: page.total, next_cursor })
    }

    /// `session_heartbeat`: marks the session active now (keeps it from the stale sweep).
    ///
    /// # Errors
    /// `not_found`, `invalid_transition` (final sessions).
    pub async fn session_heartbeat(
        &self,
        principal: &Principal,
        params: SessionIdParams,
    ) -> Result<SessionHeartbeatView, ServiceError> {
        let tx = self.store().write().await?;
        let mut session = load(&tx, principal, &params.session_id).await?;
        check(session.status, SessionEvent::Activity)?;
        session.last_active_at = self.now();
        tx.update_session(&session).await?;
        self.commit(tx, principal).await?;
        Ok(SessionHeartbeatView {
            session: SessionHeartbeatStateView {
                session_id: session.id.to_string(),
                status: Status(session.status),
                last_active_at: iso(session.last_active_at),
            },
        })
    }

    /// The stale sweep: every active session idle for longer than `idle` becomes `failed`
    /// with "Session timed out due to inactivity", in every workspace. Returns how many.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn sweep_stale_sessions(&self, idle: Duration) -> Result<u64, ServiceError> {
        let now = self.now();
        let idle = chrono::Duration::from_std(idle)
            .map_err(|_| ServiceError::new(ErrorCode::ValidationError, "idle period is too long"))?;
        let tx = self.store().write().await?;
        let swept = tx.fail_stale_sessions(now - idle, now, TIMED_OUT).await?;
        tx.commit().await?;
        if swept > 0 {
            tracing::info!(swept, "stale sessions marked failed");
        }
        Ok(swept)
    }
}

/// The session statuses, for CLI help and tests.
pub fn statuses() -> Vec<&'static str> {
    SessionStatus::ALL.iter().map(|s| StatusTable::as_str(*s)).collect()
}
