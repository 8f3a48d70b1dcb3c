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
use crate::plan::{SLACK_BYTES, page_limit, plan_not_found};
use crate::view::budget::{
    RESULT_BUDGET_BYTES, clip, clip_into, clip_object, clip_opt, fill, fill_by, is_false, json_len,
};
use crate::view::{
    ITEM_JSON_BYTES, ITEM_TEXT_BYTES, ProgressView, Status, TaskCounts, clipped_object, cursor, document, object,
    progress,
};
use crate::{ErrorCode, Principal, Service, ServiceError, ids};

/// What an idle active session becomes after the stale sweep (the original's wording).
pub const TIMED_OUT: &str = "Session timed out due to inactivity";
/// How long an active session may be idle before the sweep fails it (AGENT-TOOLS.md).
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// How many work-log entries `recent_actions` shows by default.
const RECENT_ACTIONS: usize = 20;
/// How many entries of each kind (checkpoints, decisions, errors) a replay shows.
const NEWEST_OF_KIND: usize = 5;
/// How many artifacts a session result shows.
const ARTIFACTS_SHOWN: usize = 20;
/// Bytes of a session's own texts (context, summaries, handoff context) in a result.
const SESSION_TEXT_BYTES: usize = 2_000;
/// Bytes of the inherited context `session_continue` shows.
const CONTINUE_CONTEXT_BYTES: usize = 8_000;
/// How many next steps or blockers a result lists, and the bytes of each.
const NOTES_ITEMS: usize = 20;
const NOTES_ITEM_BYTES: usize = 300;

fn bad_cursor() -> ServiceError {
    ServiceError::validation("cursor is invalid; pass the next_cursor of a previous page of the same list")
}
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
    /// Text (clipped past 600 bytes, ending in `…`).
    pub message: String,
    /// `info`, `progress`, `decision`, `error` or `checkpoint`.
    #[serde(rename = "type")]
    pub kind: Status<LogType>,
    /// Structured detail (a `$truncated` marker with a preview past 600 bytes).
    pub data: Map<String, Value>,
    /// ISO-8601.
    pub timestamp: String,
    /// Present and true when `message` or `data` was clipped.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

impl From<&LogEntry> for LogEntryView {
    fn from(e: &LogEntry) -> Self {
        let mut truncated = false;
        Self {
            message: clip_into(&e.message, ITEM_TEXT_BYTES, &mut truncated),
            kind: Status(e.kind),
            data: clipped_object(&e.data, ITEM_JSON_BYTES, &mut truncated),
            timestamp: iso(e.created_at),
            truncated,
        }
    }
}

/// One artifact (the original's `{path, action, metadata, timestamp}`).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ArtifactView {
    /// File path or locator (clipped past 600 bytes).
    pub path: String,
    /// `created`, `modified`, `deleted` or `reviewed`.
    pub action: Status<ArtifactAction>,
    /// `{description}` when one was given (clipped past 600 bytes).
    pub metadata: Option<Map<String, Value>>,
    /// ISO-8601.
    pub timestamp: String,
    /// Present and true when the path or description was clipped.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

impl From<&Artifact> for ArtifactView {
    fn from(a: &Artifact) -> Self {
        let mut truncated = false;
        Self {
            path: clip_into(&a.path, ITEM_TEXT_BYTES, &mut truncated),
            action: Status(a.action),
            metadata: a.description.as_ref().map(|d| {
                let mut m = Map::new();
                m.insert("description".into(), Value::String(clip_into(d, ITEM_TEXT_BYTES, &mut truncated)));
                m
            }),
            timestamp: iso(a.created_at),
            truncated,
        }
    }
}

/// Handoff notes: `{summary, next_steps, blockers, context_for_next}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct HandoffNotesView {
    /// What was done and where things stand (clipped past 2,000 bytes in results).
    pub summary: String,
    /// What the next agent should do (the first 20 in results, each clipped past 300 bytes).
    #[serde(default)]
    pub next_steps: Vec<String>,
    /// What stands in the way (as `next_steps`).
    #[serde(default)]
    pub blockers: Vec<String>,
    /// Anything else the next agent needs (a `$truncated` marker past 2,000 bytes in results).
    #[serde(default)]
    pub context_for_next: Map<String, Value>,
    /// Present and true when a result clipped any of the above.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

impl HandoffNotesView {
    /// The notes as a result shows them: bounded, flagged when clipped.
    fn bounded(self) -> Self {
        let mut truncated = self.truncated;
        let list = |items: Vec<String>, truncated: &mut bool| {
            let clipped: Vec<String> = items.iter().map(|i| clip_into(i, NOTES_ITEM_BYTES, truncated)).collect();
            let (shown, more) = fill(clipped, NOTES_ITEMS, NOTES_ITEMS * NOTES_ITEM_BYTES / 3);
            *truncated |= more;
            shown
        };
        let next_steps = list(self.next_steps, &mut truncated);
        let blockers = list(self.blockers, &mut truncated);
        Self {
            summary: clip_into(&self.summary, SESSION_TEXT_BYTES, &mut truncated),
            next_steps,
            blockers,
            context_for_next: clip_object(self.context_for_next, SESSION_TEXT_BYTES, &mut truncated),
            truncated,
        }
    }
}

/// The stored handoff notes, bounded for a result.
fn handoff_notes(session: &Session) -> Option<HandoffNotesView> {
    session
        .handoff_notes
        .as_ref()
        .and_then(|n| serde_json::from_str::<HandoffNotesView>(n.as_str()).ok())
        .map(HandoffNotesView::bounded)
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
    /// The context given at start (a `$truncated` marker past 2,000 bytes).
    pub context_summary: Map<String, Value>,
    /// The last work-log entries (at most 20), newest first.
    pub recent_actions: Vec<LogEntryView>,
    /// The newest artifacts (at most 20), oldest first.
    pub artifacts: Vec<ArtifactView>,
    /// The notes just written.
    pub handoff_notes: Option<HandoffNotesView>,
    /// The plan, when the session works on one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<SessionPlanView>,
    /// Work-log entries in all.
    pub total_actions: u64,
    /// Artifacts in all.
    pub total_artifacts: u64,
    /// True when entries, artifacts or texts were left out or clipped; session_replay pages
    /// the rest.
    pub truncated: bool,
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
    #[schemars(description = "", length(min = 1, max = 64))]
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
    #[schemars(description = "", length(min = 1, max = 64))]
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
    /// The message recorded (clipped past 2,000 bytes; it is stored whole).
    pub logged: String,
    /// Present and true when `logged` was clipped.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

/// Arguments of `session_handoff`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionHandoffParams {
    /// The session (`sess_…`).
    #[schemars(description = "", length(min = 1, max = 64))]
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
    #[schemars(description = "", length(min = 1, max = 64))]
    pub session_id: String,
}

/// Arguments of `session_replay`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionReplayParams {
    /// The session (`sess_…`).
    #[schemars(description = "", length(min = 1, max = 64))]
    pub session_id: String,
    /// Only entries of this type in `recent_actions`.
    #[serde(rename = "type")]
    pub kind: Option<Status<LogType>>,
    /// From `next_cursor` (same `type`).
    #[schemars(length(max = 1024))]
    pub cursor: Option<String>,
    /// From `artifacts_next_cursor`.
    #[schemars(length(max = 1024))]
    pub artifacts_cursor: Option<String>,
}

/// Result of `session_resume`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionResumeView {
    /// The session, active again.
    pub session: SessionDurationView,
    /// The handoff notes left for whoever resumes, if any.
    pub handoff_context: Option<HandoffNotesView>,
    /// The last work-log entries (at most 20), newest first.
    pub recent_actions: Vec<LogEntryView>,
    /// The newest artifacts (at most 20), oldest first.
    pub artifacts: Vec<ArtifactView>,
    /// Work-log entries in all.
    pub total_actions: u64,
    /// Artifacts in all.
    pub total_artifacts: u64,
    /// True when entries, artifacts or texts were left out or clipped; session_replay pages
    /// the rest.
    pub truncated: bool,
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
    /// The newest entry's message (clipped past 600 bytes).
    pub last_action: Option<String>,
    /// When it was recorded, ISO-8601.
    pub last_action_at: Option<String>,
    /// "N actions recorded, N checkpoints, N errors", or "No work recorded".
    pub summary: String,
}

/// The shown artifacts grouped by action (arrays, never objects keyed by index).
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
    /// The context given at start (a `$truncated` marker past 2,000 bytes).
    pub context_summary: Map<String, Value>,
    /// Counts and the last action.
    pub progress_summary: ProgressSummaryView,
    /// The newest checkpoint entry.
    pub last_checkpoint: Option<LogEntryView>,
    /// The newest checkpoint entries (at most 5), oldest first; page the rest with
    /// `type: checkpoint`.
    pub checkpoints: Vec<LogEntryView>,
    /// The newest decision entries (at most 5), oldest first; page the rest with
    /// `type: decision`.
    pub decisions: Vec<LogEntryView>,
    /// The newest error entries (at most 5), oldest first; page the rest with `type: error`.
    pub errors: Vec<LogEntryView>,
    /// The newest artifacts (at most 20, or those before `artifacts_cursor`), oldest first.
    pub artifacts: Vec<ArtifactView>,
    /// The artifacts of `artifacts`, grouped by action.
    pub artifacts_by_action: ArtifactsByActionView,
    /// Entries (of `type`, when given) newest first: the last 20, or the 20 before `cursor`.
    pub recent_actions: Vec<LogEntryView>,
    /// Number of work-log entries.
    pub total_actions: u64,
    /// Number of decision entries.
    pub total_decisions: u64,
    /// Number of artifacts.
    pub total_artifacts: u64,
    /// Handoff notes, if any.
    pub handoff_notes: Option<HandoffNotesView>,
    /// Summary given at the end, if ended (clipped past 2,000 bytes).
    pub final_summary: Option<String>,
    /// Pass as `cursor` (with the same `type`) for the entries before `recent_actions`; null
    /// when none are left.
    pub next_cursor: Option<String>,
    /// Pass as `artifacts_cursor` for the artifacts before `artifacts`; null when none are
    /// left.
    pub artifacts_next_cursor: Option<String>,
    /// True when this replay does not hold the whole session: older entries or artifacts,
    /// or clipped texts (`hint` says how to read the rest).
    pub truncated: bool,
    /// How to read what was left out, when anything was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
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
    /// The previous session's context (a `$truncated` marker past 8,000 bytes).
    pub inherited_context: Map<String, Value>,
    /// True when the handoff notes or the inherited context were clipped (session_replay of
    /// the previous session shows them too).
    pub truncated: bool,
}

/// Arguments of `session_artifact`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionArtifactParams {
    /// The session (`sess_…`).
    #[schemars(description = "", length(min = 1, max = 64))]
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
    /// From `next_cursor`.
    #[schemars(length(max = 1024))]
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
    /// True when more sessions follow (`next_cursor`).
    pub truncated: bool,
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

/// A session's last work-log entries and newest artifacts as handoff and resume show them:
/// `(recent_actions, artifacts oldest first, total_actions, total_artifacts, truncated)`.
async fn recent_work(
    tx: &Tx,
    session: &SessionId,
    room: usize,
) -> Result<(Vec<LogEntryView>, Vec<ArtifactView>, u64, u64, bool), ServiceError> {
    let entries = tx.log_page(session, None, None, RECENT_ACTIONS as u64 + 1).await?;
    let total_actions = tx.log_counts(session).await?.iter().map(|(_, n)| n).sum();
    let artifacts = tx.artifact_page(session, None, ARTIFACTS_SHOWN as u64 + 1).await?;
    let total_artifacts = tx.artifact_count(session).await?;
    let (recent, more_recent) = fill(entries.iter().map(LogEntryView::from), RECENT_ACTIONS, room * 3 / 5);
    let (mut shown, more_artifacts) = fill(artifacts.iter().map(ArtifactView::from), ARTIFACTS_SHOWN, room * 2 / 5);
    shown.reverse();
    let truncated =
        more_recent || more_artifacts || recent.iter().any(|e| e.truncated) || shown.iter().any(|a| a.truncated);
    Ok((recent, shown, total_actions, total_artifacts, truncated))
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
        let (logged, truncated) = clip(&message, SESSION_TEXT_BYTES);
        Ok(SessionLogView { logged, truncated })
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
            truncated: false,
        };
        let notes_json = serde_json::to_value(&notes).map_err(|e| ServiceError::internal(&e))?;
        let notes_text = document("handoff notes", notes_json.as_object())?;
        let tx = self.store().write().await?;
        let mut session = load(&tx, principal, &params.session_id).await?;
        session.status = check(session.status, SessionEvent::Handoff)?;
        session.handoff_notes = Some(notes_text);
        session.last_active_at = self.now();
        tx.update_session(&session).await?;
        let plan = match plan_of(&tx, principal, &session).await? {
            Some(plan) => {
                let phases = tx.phases_of(&plan.id).await?;
                let counts = TaskCounts::new(tx.task_counts_of(&plan.id).await?);
                Some(SessionPlanView {
                    slug: plan.slug.to_string(),
                    title: plan.title.clone(),
                    current_phase: plan.current_phase,
                    progress: Some(progress(&phases, &counts)),
                })
            }
            None => None,
        };
        let mut truncated = false;
        let mut context = HandoffContextView {
            session_id: session.id.to_string(),
            agent_type: session.agent_type.clone(),
            started_at: iso(session.started_at),
            last_active_at: iso(session.last_active_at),
            context_summary: clipped_object(&session.context_summary, SESSION_TEXT_BYTES, &mut truncated),
            recent_actions: Vec::new(),
            artifacts: Vec::new(),
            handoff_notes: Some(notes.bounded()),
            plan,
            total_actions: 0,
            total_artifacts: 0,
            truncated: false,
        };
        let room = RESULT_BUDGET_BYTES.saturating_sub(json_len(&context) + SLACK_BYTES);
        let (recent, artifacts, total_actions, total_artifacts, cut) = recent_work(&tx, &session.id, room).await?;
        self.commit(tx, principal).await?;
        context.recent_actions = recent;
        context.artifacts = artifacts;
        context.total_actions = total_actions;
        context.total_artifacts = total_artifacts;
        context.truncated = truncated || cut || context.handoff_notes.as_ref().is_some_and(|n| n.truncated);
        Ok(SessionHandoffView { handoff_context: context })
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
        let plan = plan_of(&tx, principal, &session).await?;
        let mut view = SessionResumeView {
            session: SessionDurationView {
                session_id: session.id.to_string(),
                agent_type: session.agent_type.clone(),
                status: Status(session.status),
                plan: plan.map(|p| p.slug.to_string()),
                duration: duration(&session, now),
            },
            handoff_context: handoff_notes(&session),
            recent_actions: Vec::new(),
            artifacts: Vec::new(),
            total_actions: 0,
            total_artifacts: 0,
            truncated: false,
        };
        let room = RESULT_BUDGET_BYTES.saturating_sub(json_len(&view) + SLACK_BYTES);
        let (recent, artifacts, total_actions, total_artifacts, cut) = recent_work(&tx, &session.id, room).await?;
        self.commit(tx, principal).await?;
        view.recent_actions = recent;
        view.artifacts = artifacts;
        view.total_actions = total_actions;
        view.total_artifacts = total_artifacts;
        view.truncated = cut || view.handoff_context.as_ref().is_some_and(|n| n.truncated);
        Ok(view)
    }

    /// `session_replay`: everything needed to pick the session up (read-only), bounded: counts
    /// of everything, the newest entries of each kind, the last entries (or a page of one
    /// type before `cursor`) and the newest artifacts (or those before `artifacts_cursor`).
    ///
    /// # Errors
    /// `not_found`, `validation_error` for a bad cursor (or one made with another `type`).
    pub async fn session_replay(
        &self,
        principal: &Principal,
        params: SessionReplayParams,
    ) -> Result<SessionReplayView, ServiceError> {
        let kind = params.kind.map(|k| k.0);
        let kind_name = kind.map_or("", |k| k.as_str());
        let before = match cursor::decode_opt::<2>("log", params.cursor.as_deref())? {
            Some([of_kind, id]) if of_kind == kind_name => Some(id),
            Some(_) => {
                return Err(ServiceError::validation(
                    "cursor was made with another type; pass the same type as the call that returned it",
                ));
            }
            None => None,
        };
        let artifacts_before = cursor::decode_opt::<1>("artifacts", params.artifacts_cursor.as_deref())?.map(|[id]| id);
        let limit = RECENT_ACTIONS;
        let tx = self.store().read().await?;
        let session = load(&tx, principal, &params.session_id).await?;
        let counts = tx.log_counts(&session.id).await?;
        let count = |k: LogType| counts.iter().find(|(c, _)| *c == k).map_or(0, |(_, n)| *n);
        let total: u64 = counts.iter().map(|(_, n)| n).sum();
        let newest = tx.log_page(&session.id, None, None, 1).await?;
        let entries = tx.log_page(&session.id, kind, before.as_deref(), limit as u64 + 1).await?;
        let of = |k: LogType| tx.log_page(&session.id, Some(k), None, NEWEST_OF_KIND as u64 + 1);
        let (checkpoints, decisions, errors) =
            (of(LogType::Checkpoint).await?, of(LogType::Decision).await?, of(LogType::Error).await?);
        let artifacts = tx.artifact_page(&session.id, artifacts_before.as_deref(), ARTIFACTS_SHOWN as u64 + 1).await?;
        let total_artifacts = tx.artifact_count(&session.id).await?;
        let plan = plan_of(&tx, principal, &session).await?;
        drop(tx);

        let mut truncated = false;
        let last = newest.first();
        let (checkpoint_count, error_count) = (count(LogType::Checkpoint), count(LogType::Error));
        let progress_summary = ProgressSummaryView {
            completed_steps: total,
            checkpoint_count,
            error_count,
            last_action: last.map(|e| clip_into(&e.message, ITEM_TEXT_BYTES, &mut truncated)),
            last_action_at: last.map(|e| iso(e.created_at)),
            summary: if total == 0 {
                "No work recorded".to_owned()
            } else {
                format!("{total} actions recorded, {checkpoint_count} checkpoints, {error_count} errors")
            },
        };
        let mut view = ReplayContextView {
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
            context_summary: clipped_object(&session.context_summary, SESSION_TEXT_BYTES, &mut truncated),
            progress_summary,
            last_checkpoint: checkpoints.first().map(LogEntryView::from),
            checkpoints: Vec::new(),
            decisions: Vec::new(),
            errors: Vec::new(),
            artifacts: Vec::new(),
            artifacts_by_action: ArtifactsByActionView::default(),
            recent_actions: Vec::new(),
            total_actions: total,
            total_decisions: count(LogType::Decision),
            total_artifacts,
            handoff_notes: handoff_notes(&session),
            final_summary: clip_opt(session.final_summary.as_deref(), SESSION_TEXT_BYTES, &mut truncated),
            next_cursor: None,
            artifacts_next_cursor: None,
            truncated: false,
            hint: None,
        };
        truncated |= view.handoff_notes.as_ref().is_some_and(|n| n.truncated);
        truncated |= view.last_checkpoint.as_ref().is_some_and(|e| e.truncated);
        // Shares of what is left: recent entries 40%, each newest-of-kind list 12%, the
        // artifacts (shown twice: listed and grouped) 12% each.
        let room = RESULT_BUDGET_BYTES.saturating_sub(json_len(&view) + SLACK_BYTES + 400);
        let share = |percent: usize| room * percent / 100;
        let (recent, more_recent) = fill(entries.iter().map(LogEntryView::from), limit, share(40));
        let newest_of = |rows: &[LogEntry], truncated: &mut bool| {
            let (mut shown, more) = fill(rows.iter().map(LogEntryView::from), NEWEST_OF_KIND, share(12));
            *truncated |= more || shown.iter().any(|e| e.truncated);
            shown.reverse();
            shown
        };
        view.checkpoints = newest_of(&checkpoints, &mut truncated);
        view.decisions = newest_of(&decisions, &mut truncated);
        view.errors = newest_of(&errors, &mut truncated);
        let (mut shown, more_artifacts) = fill(artifacts.iter().map(ArtifactView::from), ARTIFACTS_SHOWN, share(12));
        view.artifacts_next_cursor = if more_artifacts {
            shown.len().checked_sub(1).and_then(|i| artifacts.get(i)).map(|a| cursor::encode("artifacts", &[&a.id]))
        } else {
            None
        };
        shown.reverse();
        for artifact in &shown {
            let bucket = match artifact.action.0 {
                ArtifactAction::Created => &mut view.artifacts_by_action.created,
                ArtifactAction::Modified => &mut view.artifacts_by_action.modified,
                ArtifactAction::Deleted => &mut view.artifacts_by_action.deleted,
                ArtifactAction::Reviewed => &mut view.artifacts_by_action.reviewed,
            };
            bucket.push(artifact.clone());
        }
        truncated |= shown.iter().any(|a| a.truncated);
        view.artifacts = shown;
        view.next_cursor = if more_recent {
            recent.len().checked_sub(1).and_then(|i| entries.get(i)).map(|e| cursor::encode("log", &[kind_name, &e.id]))
        } else {
            None
        };
        truncated |= recent.iter().any(|e| e.truncated);
        view.recent_actions = recent;
        view.truncated = truncated || view.next_cursor.is_some() || view.artifacts_next_cursor.is_some();
        if view.truncated {
            view.hint = Some(
                "Not everything fits one result. Older entries: call session_replay again with cursor = next_cursor; \
                 for one kind (decision, checkpoint, error, ...) pass type and page with cursor. Older artifacts: \
                 artifacts_cursor = artifacts_next_cursor. Texts ending in … and $truncated markers are clipped previews."
                    .to_owned(),
            );
        }
        Ok(SessionReplayView { replay_context: view })
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
        let stored_notes: Option<Value> =
            previous.handoff_notes.as_ref().and_then(|n| serde_json::from_str(n.as_str()).ok());
        let inherited = object(&previous.context_summary);
        let context = json!({
            "continued_from": previous.id.as_str(),
            "previous_agent": previous.agent_type,
            "handoff_notes": stored_notes,
            "inherited_context": inherited,
        });
        let notes = handoff_notes(&previous);
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
        let mut truncated = false;
        let inherited_context = clip_object(inherited, CONTINUE_CONTEXT_BYTES, &mut truncated);
        Ok(SessionContinueView {
            session: SessionBriefView {
                session_id: session.id.to_string(),
                agent_type,
                plan: plan.map(|p| p.slug.to_string()),
                status: Status(SessionStatus::Active),
            },
            continued_from: previous.id.to_string(),
            previous_agent: previous.agent_type,
            truncated: truncated || notes.as_ref().is_some_and(|n| n.truncated),
            handoff_notes: notes,
            inherited_context,
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
        let after = match cursor::decode_opt::<2>("sessions", params.cursor.as_deref())? {
            Some([at, id]) => Some((cursor::parse_time(&at)?, SessionId::parse(&id).ok_or_else(bad_cursor)?)),
            None => None,
        };
        let limit = page_limit(params.limit.unwrap_or(50).clamp(1, 1000));
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
            after,
            limit: limit as u64 + 1,
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
        let summaries = page.sessions.iter().map(|s| {
            (
                SessionSummaryView {
                    session_id: s.id.to_string(),
                    agent_type: s.agent_type.clone(),
                    status: Status(s.status),
                    plan: s
                        .plan_id
                        .as_ref()
                        .and_then(|id| slugs.iter().find(|(p, _)| p == id).map(|(_, slug)| slug.clone())),
                    duration: format_duration(s.started_at, s.ended_at.unwrap_or(now)),
                    started_at: iso(s.started_at),
                    last_active_at: iso(s.last_active_at),
                    has_handoff: s.has_handoff,
                },
                (s.last_active_at, s.id.clone()),
            )
        });
        let (shown, more) = fill_by(summaries, limit, RESULT_BUDGET_BYTES - SLACK_BYTES, |(view, _)| json_len(view));
        let next_cursor = if more {
            shown.last().map(|(_, (at, id))| cursor::encode("sessions", &[&cursor::time(*at), id.as_str()]))
        } else {
            None
        };
        let sessions = shown.into_iter().map(|(view, _)| view).collect();
        Ok(SessionListView { sessions, total: page.total, truncated: next_cursor.is_some(), next_cursor })
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
