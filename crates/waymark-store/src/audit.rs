//! The audit log: one row per tool call, appended in batches.

use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use waymark_domain::{ApiKeyId, Timestamp, WorkspaceId};

use crate::convert::corrupt;
use crate::entity::{audit_events as audit, tool_call_stats as stats};
use crate::{Error, Tx};

/// One tool call as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// `aud_<ulid>`: ordered by time.
    pub id: String,
    /// When the call finished.
    pub occurred_at: Timestamp,
    /// The caller's workspace, when the call was authenticated.
    pub workspace_id: Option<WorkspaceId>,
    /// The key used, when there was one (stdio with `--workspace` and the CLI have none).
    pub api_key_id: Option<ApiKeyId>,
    /// `http`, `stdio` or `cli`.
    pub transport: String,
    /// The tool name as called.
    pub tool: String,
    /// The agent session named in the arguments, if any.
    pub agent_session_id: Option<String>,
    /// Wall time of the call in milliseconds.
    pub duration_ms: i64,
    /// `success` or `error`.
    pub outcome: String,
    /// The error code of a failed call.
    pub error_code: Option<String>,
    /// The arguments as JSON with secret-looking values redacted, cut at 4 KiB.
    pub arguments: String,
}

/// Which audit rows `list_audit_events` returns.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only this workspace.
    pub workspace: Option<WorkspaceId>,
    /// Only this tool.
    pub tool: Option<String>,
    /// Only rows with an id greater than this one (for following).
    pub after_id: Option<String>,
    /// At most this many rows.
    pub limit: u64,
}

impl Tx {
    /// Appends audit rows in one statement.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn insert_audit_events(&self, events: &[AuditEvent]) -> Result<(), Error> {
        if events.is_empty() {
            return Ok(());
        }
        audit::Entity::insert_many(events.iter().map(|e| audit::ActiveModel {
            id: Set(e.id.clone()),
            occurred_at: Set(e.occurred_at),
            workspace_id: Set(e.workspace_id.as_ref().map(ToString::to_string)),
            api_key_id: Set(e.api_key_id.as_ref().map(ToString::to_string)),
            transport: Set(e.transport.clone()),
            tool: Set(e.tool.clone()),
            agent_session_id: Set(e.agent_session_id.clone()),
            duration_ms: Set(e.duration_ms),
            outcome: Set(e.outcome.clone()),
            error_code: Set(e.error_code.clone()),
            arguments: Set(e.arguments.clone()),
        }))
        .exec(self.db())
        .await?;
        Ok(())
    }

    /// The newest audit rows matching `filter`, newest first.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn list_audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, Error> {
        let mut query = audit::Entity::find();
        if let Some(ws) = &filter.workspace {
            query = query.filter(audit::Column::WorkspaceId.eq(ws.as_str()));
        }
        if let Some(tool) = &filter.tool {
            query = query.filter(audit::Column::Tool.eq(tool.as_str()));
        }
        if let Some(after) = &filter.after_id {
            query = query.filter(audit::Column::Id.gt(after.as_str()));
        }
        query
            .order_by_desc(audit::Column::Id)
            .limit(filter.limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| {
                let workspace_id = match &row.workspace_id {
                    Some(id) => Some(
                        WorkspaceId::parse(id).ok_or_else(|| corrupt("audit_events", &row.id, "bad workspace id"))?,
                    ),
                    None => None,
                };
                let api_key_id = match &row.api_key_id {
                    Some(id) => {
                        Some(ApiKeyId::parse(id).ok_or_else(|| corrupt("audit_events", &row.id, "bad key id"))?)
                    }
                    None => None,
                };
                Ok(AuditEvent {
                    id: row.id,
                    occurred_at: row.occurred_at,
                    workspace_id,
                    api_key_id,
                    transport: row.transport,
                    tool: row.tool,
                    agent_session_id: row.agent_session_id,
                    duration_ms: row.duration_ms,
                    outcome: row.outcome,
                    error_code: row.error_code,
                    arguments: row.arguments,
                })
            })
            .collect()
    }
}

/// One day's calls of one tool in one workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolStats {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// The workspace (empty for unauthenticated calls).
    pub workspace_id: String,
    /// Tool name.
    pub tool: String,
    /// Calls.
    pub calls: i64,
    /// Calls that failed.
    pub errors: i64,
    /// Sum of call durations in milliseconds.
    pub total_duration_ms: i64,
}

impl Tx {
    /// Adds counts to the daily stats (insert, or add to an existing row).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn add_tool_stats(&self, rows: &[ToolStats]) -> Result<(), Error> {
        use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict};
        if rows.is_empty() {
            return Ok(());
        }
        let add = |col: stats::Column| Expr::col((stats::Entity, col)).add(Expr::col((Alias::new("excluded"), col)));
        stats::Entity::insert_many(rows.iter().map(|r| stats::ActiveModel {
            day: Set(r.day.clone()),
            workspace_id: Set(r.workspace_id.clone()),
            tool: Set(r.tool.clone()),
            calls: Set(r.calls),
            errors: Set(r.errors),
            total_duration_ms: Set(r.total_duration_ms),
        }))
        .on_conflict(
            OnConflict::columns([stats::Column::Day, stats::Column::WorkspaceId, stats::Column::Tool])
                .value(stats::Column::Calls, add(stats::Column::Calls))
                .value(stats::Column::Errors, add(stats::Column::Errors))
                .value(stats::Column::TotalDurationMs, add(stats::Column::TotalDurationMs))
                .to_owned(),
        )
        .exec(self.db())
        .await?;
        Ok(())
    }

    /// Daily stats from `since_day` on, optionally of one workspace and tool; newest day first,
    /// then by tool.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn list_tool_stats(
        &self,
        since_day: &str,
        workspace: Option<&WorkspaceId>,
        tool: Option<&str>,
    ) -> Result<Vec<ToolStats>, Error> {
        let mut query = stats::Entity::find().filter(stats::Column::Day.gte(since_day));
        if let Some(ws) = workspace {
            query = query.filter(stats::Column::WorkspaceId.eq(ws.as_str()));
        }
        if let Some(tool) = tool {
            query = query.filter(stats::Column::Tool.eq(tool));
        }
        Ok(query
            .order_by_desc(stats::Column::Day)
            .order_by_asc(stats::Column::Tool)
            .order_by_asc(stats::Column::WorkspaceId)
            .all(self.db())
            .await?
            .into_iter()
            .map(|r| ToolStats {
                day: r.day,
                workspace_id: r.workspace_id,
                tool: r.tool,
                calls: r.calls,
                errors: r.errors,
                total_duration_ms: r.total_duration_ms,
            })
            .collect())
    }

    /// Deletes audit rows older than `cutoff`; returns how many. Daily stats are kept.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn delete_audit_before(&self, cutoff: Timestamp) -> Result<u64, Error> {
        Ok(audit::Entity::delete_many()
            .filter(audit::Column::OccurredAt.lt(cutoff))
            .exec(self.db())
            .await?
            .rows_affected)
    }
}
