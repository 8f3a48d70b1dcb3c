//! Agent sessions: a unit of an agent's work, with a work log, artifacts and handoff notes,
//! and the status table of AGENT-TOOLS.md ("Sessions").

use std::fmt;

use crate::status::StatusTable;
use crate::{ApiKeyId, DomainError, JsonText, PlanId, Timestamp, WorkspaceId};

/// A session id: `sess_` + a UUID v4 (the original's format).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

impl SessionId {
    /// The prefix of every session id.
    pub const PREFIX: &'static str = "sess_";

    /// Builds an id from a UUID in its hyphenated form (the caller generates it).
    pub fn from_uuid(uuid: &str) -> Self {
        Self(format!("{}{uuid}", Self::PREFIX))
    }

    /// Accepts a client-supplied id; `None` when it cannot be a session id.
    pub fn parse(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix(Self::PREFIX)?;
        (!rest.is_empty()
            && rest.len() <= 64
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| Self(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A session's status. Wire names are the original's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionStatus {
    /// Being worked on.
    Active,
    /// Handed off or put aside; can be resumed or continued.
    Paused,
    /// Another session continued it; can be resumed.
    HandedOff,
    /// Finished. Final.
    Completed,
    /// Abandoned or timed out. Final.
    Failed,
}

impl StatusTable for SessionStatus {
    const ENTITY: &'static str = "session";
    const ALL: &'static [Self] = &[Self::Active, Self::Paused, Self::HandedOff, Self::Completed, Self::Failed];

    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::HandedOff => "handed_off",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// The statuses any event can lead to from `self` (used for `session_list` wording and
    /// messages); the event table itself is [`SessionStatus::apply`].
    fn allowed_targets(self) -> &'static [Self] {
        use SessionStatus::*;
        match self {
            Active => &[Paused, HandedOff, Completed, Failed],
            Paused => &[Active, HandedOff, Completed, Failed],
            HandedOff => &[Active],
            Completed | Failed => &[],
        }
    }
}

/// Something that happens to a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// `session_handoff`: notes for the next agent.
    Handoff,
    /// `session_end` with a final status (`completed`, `failed`, `handed_off` or `paused`).
    End(SessionStatus),
    /// `session_resume`.
    Resume,
    /// `session_continue` started a new session from this one.
    Continued,
    /// The stale sweep found it idle too long.
    Sweep,
    /// `session_log`, `session_artifact`, `session_heartbeat`: work recorded, status unchanged.
    Activity,
}

impl SessionEvent {
    /// The tool (or sweep) that raises the event, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Handoff => "session_handoff",
            Self::End(_) => "session_end",
            Self::Resume => "session_resume",
            Self::Continued => "session_continue",
            Self::Sweep => "stale sweep",
            Self::Activity => "recording work",
        }
    }
}

impl SessionStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        StatusTable::as_str(self)
    }

    /// Every status in table order.
    pub fn all() -> &'static [Self] {
        Self::ALL
    }

    /// Parses a wire name.
    ///
    /// # Errors
    /// "status must be one of: active, paused, handed_off, completed, failed".
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        crate::status::parse("status", raw)
    }

    /// Completed and failed sessions are final.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }

    /// The session event table (AGENT-TOOLS.md, "Sessions"):
    ///
    /// | from \ event | handoff | end(s) | resume | continued | sweep | activity |
    /// |---|---|---|---|---|---|---|
    /// | active | paused | s | = | handed_off | failed | = |
    /// | paused | = (notes replaced) | s | active | handed_off | – | = |
    /// | handed_off | – | – | active | – | – | = |
    /// | completed, failed | – | – | – | – | – | – |
    ///
    /// `end(s)` takes `s` ∈ {completed, failed, handed_off, paused}; `end(paused)` on a paused
    /// session is `=`. The sweep only touches active sessions.
    ///
    /// # Errors
    /// [`DomainError::InvalidTransition`] naming the event and the status.
    pub fn apply(self, event: SessionEvent) -> Result<Self, DomainError> {
        use SessionEvent as E;
        use SessionStatus::*;
        let next = match (self, event) {
            (Active | Paused, E::Handoff) => Some(Paused),
            (Active | Paused, E::End(to @ (Completed | Failed | HandedOff | Paused))) => Some(to),
            (Paused | HandedOff | Active, E::Resume) => Some(Active),
            (Active | Paused, E::Continued) => Some(HandedOff),
            (Active, E::Sweep) => Some(Failed),
            (Active | Paused | HandedOff, E::Activity) => Some(self),
            (_, E::End(Active)) => None,
            (HandedOff, E::Handoff | E::End(_) | E::Continued)
            | (Paused | HandedOff, E::Sweep)
            | (Completed | Failed, _) => None,
        };
        next.ok_or_else(|| {
            let message = if self.is_terminal() {
                format!(
                    "Session is {}: it is final, so {} is not possible. Start a new session with session_start",
                    self.as_str(),
                    event.name()
                )
            } else {
                format!("Session is {}: {} is not possible in that status", self.as_str(), event.name())
            };
            let target = match event {
                E::End(to) => to.as_str(),
                E::Handoff => "paused",
                E::Resume => "active",
                E::Continued => "handed_off",
                E::Sweep => "failed",
                E::Activity => self.as_str(),
            };
            DomainError::InvalidTransition {
                entity: "session",
                from: self.as_str(),
                to: target,
                allowed: self.allowed_targets().iter().map(|s| s.as_str()).collect(),
                message,
            }
        })
    }
}

/// A session as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// `sess_<uuid>`.
    pub id: SessionId,
    /// The owning workspace.
    pub workspace_id: WorkspaceId,
    /// The key that started it, when there was one.
    pub api_key_id: Option<ApiKeyId>,
    /// The plan it works on, if any.
    pub plan_id: Option<PlanId>,
    /// Free text naming the agent (`opus`, `codex`, …).
    pub agent_type: String,
    /// Current status.
    pub status: SessionStatus,
    /// JSON object: the context given at start (or inherited by `session_continue`).
    pub context_summary: JsonText,
    /// JSON object `{summary, next_steps, blockers, context_for_next}` once handed off.
    pub handoff_notes: Option<JsonText>,
    /// Summary given at `session_end`.
    pub final_summary: Option<String>,
    /// The session this one continues.
    pub continued_from: Option<SessionId>,
    /// Start time.
    pub started_at: Timestamp,
    /// Last recorded activity (log, heartbeat, resume).
    pub last_active_at: Timestamp,
    /// When it ended (completed, failed, handed off by `session_end`).
    pub ended_at: Option<Timestamp>,
}

/// The kind of a work-log entry (`session_log.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogType {
    /// Plain information (the default).
    Info,
    /// Progress on the task at hand.
    Progress,
    /// A decision and its reason.
    Decision,
    /// Something went wrong.
    Error,
    /// A point to resume from.
    Checkpoint,
}

impl StatusTable for LogType {
    const ENTITY: &'static str = "type";
    const ALL: &'static [Self] = &[Self::Info, Self::Progress, Self::Decision, Self::Error, Self::Checkpoint];

    fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Progress => "progress",
            Self::Decision => "decision",
            Self::Error => "error",
            Self::Checkpoint => "checkpoint",
        }
    }

    fn allowed_targets(self) -> &'static [Self] {
        &[]
    }
}

/// What happened to an artifact (`session_artifact.action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArtifactAction {
    /// A new file or object.
    Created,
    /// A changed one.
    Modified,
    /// A removed one.
    Deleted,
    /// One that was read or checked.
    Reviewed,
}

impl StatusTable for ArtifactAction {
    const ENTITY: &'static str = "action";
    const ALL: &'static [Self] = &[Self::Created, Self::Modified, Self::Deleted, Self::Reviewed];

    fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Modified => "modified",
            Self::Deleted => "deleted",
            Self::Reviewed => "reviewed",
        }
    }

    fn allowed_targets(self) -> &'static [Self] {
        &[]
    }
}

/// One work-log entry (a row: concurrent writers lose nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// `log_<ulid>`, increasing with time.
    pub id: String,
    /// The session it belongs to.
    pub session_id: SessionId,
    /// Kind.
    pub kind: LogType,
    /// Text.
    pub message: String,
    /// JSON object with structured detail.
    pub data: JsonText,
    /// When it was recorded.
    pub created_at: Timestamp,
}

/// One artifact record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// `art_<ulid>`, increasing with time.
    pub id: String,
    /// The session it belongs to.
    pub session_id: SessionId,
    /// File path or other locator.
    pub path: String,
    /// What happened to it.
    pub action: ArtifactAction,
    /// Optional description.
    pub description: Option<String>,
    /// When it was recorded.
    pub created_at: Timestamp,
}

/// A session's duration in the original's wording: `"Nm"` under an hour, `"Hh Mm"` from an
/// hour on.
pub fn format_duration(from: Timestamp, to: Timestamp) -> String {
    let minutes = (to - from).num_minutes().max(0);
    if minutes < 60 { format!("{minutes}m") } else { format!("{}h {}m", minutes / 60, minutes % 60) }
}

#[cfg(test)]
mod tests;
