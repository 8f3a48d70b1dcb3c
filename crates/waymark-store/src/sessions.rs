//! Agent sessions, their work log and artifacts. Sessions are looked up by id *and* workspace;
//! log entries and artifacts only through a session already loaded that way.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use waymark_domain::status::{StatusTable, parse};
use waymark_domain::{
    ApiKeyId, Artifact, ArtifactAction, JsonText, LogEntry, LogType, PlanId, Session, SessionId, SessionStatus,
    Timestamp, WorkspaceId,
};

use crate::convert::corrupt;
use crate::entity::{
    agent_sessions as sessions, session_artifacts as artifacts, session_log_entries as log, session_tool_calls as calls,
};
use crate::{Backend, Error, Tx};

/// Which sessions `list_sessions` returns.
#[derive(Clone, Debug, Default)]
pub struct SessionFilter {
    /// Only this status.
    pub status: Option<SessionStatus>,
    /// Only sessions on this plan.
    pub plan_id: Option<PlanId>,
    /// Only sessions after this one in the listing order: `(last_active_at, id)` of the last
    /// session of the previous page (keyset paging).
    pub after: Option<(Timestamp, SessionId)>,
    /// Rows to return.
    pub limit: u64,
}

/// A page of sessions, most recently active first.
#[derive(Clone, Debug)]
pub struct SessionPage {
    /// The sessions on this page.
    pub sessions: Vec<SessionSummary>,
    /// How many match in all.
    pub total: u64,
}

/// A session as a listing shows it: without its context, notes or summary, which a listing
/// never reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummary {
    /// Its id.
    pub id: SessionId,
    /// The plan it works on.
    pub plan_id: Option<PlanId>,
    /// The agent.
    pub agent_type: String,
    /// Status.
    pub status: SessionStatus,
    /// Whether handoff notes exist.
    pub has_handoff: bool,
    /// Started.
    pub started_at: Timestamp,
    /// Last activity.
    pub last_active_at: Timestamp,
    /// Ended, if it has.
    pub ended_at: Option<Timestamp>,
}

type SummaryRow = (String, Option<String>, String, String, bool, Timestamp, Timestamp, Option<Timestamp>);

fn summary_from_row(row: SummaryRow) -> Result<SessionSummary, Error> {
    let (id, plan_id, agent_type, status, has_handoff, started_at, last_active_at, ended_at) = row;
    let bad = |detail: String| corrupt("agent_sessions", &id, detail);
    Ok(SessionSummary {
        plan_id: plan_id.as_deref().map(|p| PlanId::parse(p).ok_or_else(|| bad("bad plan id".into()))).transpose()?,
        status: SessionStatus::parse(&status).map_err(|e| bad(e.to_string()))?,
        id: SessionId::parse(&id).ok_or_else(|| bad("bad id".into()))?,
        agent_type,
        has_handoff,
        started_at,
        last_active_at,
        ended_at,
    })
}

fn from_row(row: sessions::Model) -> Result<Session, Error> {
    let bad = |detail: String| corrupt("agent_sessions", &row.id, detail);
    Ok(Session {
        id: SessionId::parse(&row.id).ok_or_else(|| bad("bad id".into()))?,
        workspace_id: WorkspaceId::parse(&row.workspace_id).ok_or_else(|| bad("bad workspace id".into()))?,
        api_key_id: row
            .api_key_id
            .as_deref()
            .map(|k| ApiKeyId::parse(k).ok_or_else(|| bad("bad key id".into())))
            .transpose()?,
        plan_id: row
            .plan_id
            .as_deref()
            .map(|p| PlanId::parse(p).ok_or_else(|| bad("bad plan id".into())))
            .transpose()?,
        status: SessionStatus::parse(&row.status).map_err(|e| bad(e.to_string()))?,
        continued_from: row
            .continued_from
            .as_deref()
            .map(|s| SessionId::parse(s).ok_or_else(|| bad("bad continued_from".into())))
            .transpose()?,
        agent_type: row.agent_type,
        context_summary: JsonText::from_trusted(row.context_summary),
        handoff_notes: row.handoff_notes.map(JsonText::from_trusted),
        final_summary: row.final_summary,
        started_at: row.started_at,
        last_active_at: row.last_active_at,
        ended_at: row.ended_at,
    })
}

fn to_row(s: &Session) -> sessions::ActiveModel {
    sessions::ActiveModel {
        id: Set(s.id.to_string()),
        workspace_id: Set(s.workspace_id.to_string()),
        api_key_id: Set(s.api_key_id.as_ref().map(ToString::to_string)),
        plan_id: Set(s.plan_id.as_ref().map(ToString::to_string)),
        agent_type: Set(s.agent_type.clone()),
        status: Set(s.status.as_str().to_owned()),
        context_summary: Set(s.context_summary.as_str().to_owned()),
        handoff_notes: Set(s.handoff_notes.as_ref().map(|n| n.as_str().to_owned())),
        final_summary: Set(s.final_summary.clone()),
        continued_from: Set(s.continued_from.as_ref().map(ToString::to_string)),
        started_at: Set(s.started_at),
        last_active_at: Set(s.last_active_at),
        ended_at: Set(s.ended_at),
    }
}

impl Tx {
    /// Inserts a session.
    ///
    /// # Errors
    /// [`Error::Conflict`] on a duplicate id.
    pub async fn insert_session(&self, session: &Session) -> Result<(), Error> {
        sessions::Entity::insert(to_row(session)).exec(self.db()).await?;
        Ok(())
    }

    /// Finds a session of a workspace (locked for update in a PostgreSQL write).
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn session_by_id(&self, workspace: &WorkspaceId, id: &SessionId) -> Result<Option<Session>, Error> {
        let mut query = sessions::Entity::find()
            .filter(sessions::Column::Id.eq(id.as_str()))
            .filter(sessions::Column::WorkspaceId.eq(workspace.as_str()));
        if self.backend == Backend::Postgres {
            query = query.lock_exclusive();
        }
        query.one(self.db()).await?.map(from_row).transpose()
    }

    /// Writes every mutable field of a session (matched by id and workspace).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn update_session(&self, session: &Session) -> Result<(), Error> {
        sessions::Entity::update_many()
            .set(to_row(session))
            .filter(sessions::Column::Id.eq(session.id.as_str()))
            .filter(sessions::Column::WorkspaceId.eq(session.workspace_id.as_str()))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// A page of a workspace's sessions, most recently active first.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn list_sessions(&self, workspace: &WorkspaceId, filter: &SessionFilter) -> Result<SessionPage, Error> {
        let mut query = sessions::Entity::find().filter(sessions::Column::WorkspaceId.eq(workspace.as_str()));
        if let Some(status) = filter.status {
            query = query.filter(sessions::Column::Status.eq(status.as_str()));
        }
        if let Some(plan) = &filter.plan_id {
            query = query.filter(sessions::Column::PlanId.eq(plan.as_str()));
        }
        let total = query.clone().count(self.db()).await?;
        if let Some((at, id)) = &filter.after {
            query = query.filter(Condition::any().add(sessions::Column::LastActiveAt.lt(*at)).add(
                Condition::all().add(sessions::Column::LastActiveAt.eq(*at)).add(sessions::Column::Id.lt(id.as_str())),
            ));
        }
        let rows: Vec<SummaryRow> = query
            .select_only()
            .column(sessions::Column::Id)
            .column(sessions::Column::PlanId)
            .column(sessions::Column::AgentType)
            .column(sessions::Column::Status)
            .column_as(Expr::col(sessions::Column::HandoffNotes).is_not_null(), "has_handoff")
            .column(sessions::Column::StartedAt)
            .column(sessions::Column::LastActiveAt)
            .column(sessions::Column::EndedAt)
            .order_by_desc(sessions::Column::LastActiveAt)
            .order_by_desc(sessions::Column::Id)
            .limit(filter.limit)
            .into_tuple()
            .all(self.db())
            .await?;
        let sessions = rows.into_iter().map(summary_from_row).collect::<Result<_, _>>()?;
        Ok(SessionPage { sessions, total })
    }

    /// Marks every active session idle since before `cutoff` as failed with `summary`, in all
    /// workspaces. Returns how many changed.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn fail_stale_sessions(&self, cutoff: Timestamp, now: Timestamp, summary: &str) -> Result<u64, Error> {
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::Status, Expr::value(SessionStatus::Failed.as_str()))
            .col_expr(sessions::Column::FinalSummary, Expr::value(summary))
            .col_expr(sessions::Column::EndedAt, Expr::value(now))
            .filter(sessions::Column::Status.eq(SessionStatus::Active.as_str()))
            .filter(sessions::Column::LastActiveAt.lt(cutoff))
            .exec(self.db())
            .await?;
        Ok(result.rows_affected)
    }

    /// Appends a work-log entry.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn insert_log_entry(&self, entry: &LogEntry) -> Result<(), Error> {
        log::Entity::insert(log::ActiveModel {
            id: Set(entry.id.clone()),
            session_id: Set(entry.session_id.to_string()),
            kind: Set(entry.kind.as_str().to_owned()),
            message: Set(entry.message.clone()),
            data: Set(entry.data.as_str().to_owned()),
            created_at: Set(entry.created_at),
        })
        .exec(self.db())
        .await?;
        Ok(())
    }

    /// Records an artifact.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn insert_artifact(&self, artifact: &Artifact) -> Result<(), Error> {
        artifacts::Entity::insert(artifacts::ActiveModel {
            id: Set(artifact.id.clone()),
            session_id: Set(artifact.session_id.to_string()),
            path: Set(artifact.path.clone()),
            action: Set(artifact.action.as_str().to_owned()),
            description: Set(artifact.description.clone()),
            created_at: Set(artifact.created_at),
        })
        .exec(self.db())
        .await?;
        Ok(())
    }
}

fn log_from_row(session: &SessionId, row: log::Model) -> Result<LogEntry, Error> {
    Ok(LogEntry {
        session_id: session.clone(),
        kind: parse::<LogType>("type", &row.kind).map_err(|e| corrupt("session_log_entries", &row.id, e))?,
        message: row.message,
        data: JsonText::from_trusted(row.data),
        created_at: row.created_at,
        id: row.id,
    })
}

fn artifact_from_row(session: &SessionId, row: artifacts::Model) -> Result<Artifact, Error> {
    Ok(Artifact {
        session_id: session.clone(),
        action: parse::<ArtifactAction>("action", &row.action).map_err(|e| corrupt("session_artifacts", &row.id, e))?,
        path: row.path,
        description: row.description,
        created_at: row.created_at,
        id: row.id,
    })
}

impl Tx {
    /// Up to `limit` of a session's work-log entries, newest first, optionally of one type
    /// and only those older than the entry `before` (keyset paging by id).
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn log_page(
        &self,
        session: &SessionId,
        kind: Option<LogType>,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<LogEntry>, Error> {
        let mut query = log::Entity::find().filter(log::Column::SessionId.eq(session.as_str()));
        if let Some(kind) = kind {
            query = query.filter(log::Column::Kind.eq(kind.as_str()));
        }
        if let Some(before) = before {
            query = query.filter(log::Column::Id.lt(before));
        }
        query
            .order_by_desc(log::Column::Id)
            .limit(limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| log_from_row(session, row))
            .collect()
    }

    /// How many work-log entries a session has of each type (types without entries are left
    /// out).
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn log_counts(&self, session: &SessionId) -> Result<Vec<(LogType, u64)>, Error> {
        let rows: Vec<(String, i64)> = log::Entity::find()
            .select_only()
            .column(log::Column::Kind)
            .column_as(log::Column::Id.count(), "count")
            .filter(log::Column::SessionId.eq(session.as_str()))
            .group_by(log::Column::Kind)
            .into_tuple()
            .all(self.db())
            .await?;
        rows.into_iter()
            .map(|(kind, count)| {
                let kind =
                    parse::<LogType>("type", &kind).map_err(|e| corrupt("session_log_entries", session.as_str(), e))?;
                Ok((kind, u64::try_from(count).unwrap_or(0)))
            })
            .collect()
    }

    /// Up to `limit` of a session's artifacts, newest first, only those older than the
    /// artifact `before` (keyset paging by id).
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn artifact_page(
        &self,
        session: &SessionId,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Artifact>, Error> {
        let mut query = artifacts::Entity::find().filter(artifacts::Column::SessionId.eq(session.as_str()));
        if let Some(before) = before {
            query = query.filter(artifacts::Column::Id.lt(before));
        }
        query
            .order_by_desc(artifacts::Column::Id)
            .limit(limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| artifact_from_row(session, row))
            .collect()
    }

    /// How many artifacts a session has.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn artifact_count(&self, session: &SessionId) -> Result<u64, Error> {
        Ok(artifacts::Entity::find().filter(artifacts::Column::SessionId.eq(session.as_str())).count(self.db()).await?)
    }
}

impl Tx {
    /// Records that `session` called `tool` (the durable history `tool_called` reads).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn record_session_call(
        &self,
        id: &str,
        session: &SessionId,
        tool: &str,
        at: Timestamp,
    ) -> Result<(), Error> {
        calls::Entity::insert(calls::ActiveModel {
            id: Set(id.to_owned()),
            session_id: Set(session.to_string()),
            tool: Set(tool.to_owned()),
            called_at: Set(at),
        })
        .exec(self.db())
        .await?;
        Ok(())
    }

    /// The tools `session` has called, oldest first, without repeats.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn session_called_tools(&self, session: &SessionId) -> Result<Vec<String>, Error> {
        let tools: Vec<String> = calls::Entity::find()
            .select_only()
            .column(calls::Column::Tool)
            .filter(calls::Column::SessionId.eq(session.as_str()))
            .order_by_asc(calls::Column::Id)
            .into_tuple()
            .all(self.db())
            .await?;
        let mut unique: Vec<String> = Vec::with_capacity(tools.len());
        for tool in tools {
            if !unique.contains(&tool) {
                unique.push(tool);
            }
        }
        Ok(unique)
    }
}
