//! The audit log, written off the request path.
//!
//! A call's audit row goes into a bounded channel; one background task writes rows in batches
//! (one transaction per batch, every 25 ms or 256 rows, with the batch's daily per-tool
//! counts), and on [`AuditLog::flush`] and shutdown. A crash loses at most the rows not yet flushed (docs/OPERATIONS.md says so).
//! Arguments are stored with secret-looking values redacted and cut at 4 KiB.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use waymark_store::{AuditEvent, Store, ToolStats};

const BATCH_ROWS: usize = 256;
const BATCH_WAIT: Duration = Duration::from_millis(25);
const MAX_ARGUMENT_BYTES: usize = 4096;

enum Message {
    Event(Box<AuditEvent>),
    Flush(oneshot::Sender<()>),
}

/// The handle to the background audit writer. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct AuditLog {
    tx: mpsc::Sender<Message>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Event(e) => f.debug_tuple("Event").field(&e.id).finish(),
            Self::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl AuditLog {
    /// Starts the writer task on the current runtime.
    pub(crate) fn start(store: Store) -> Self {
        let (tx, rx) = mpsc::channel(65_536);
        tokio::spawn(writer(store, rx));
        Self { tx }
    }

    /// Queues a row. Waits only if 65,536 rows are already queued.
    pub(crate) async fn record(&self, event: AuditEvent) {
        if self.tx.send(Message::Event(Box::new(event))).await.is_err() {
            tracing::warn!("audit writer stopped; row dropped");
        }
    }

    /// Waits until every row queued before this call is committed.
    pub(crate) async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn writer(store: Store, mut rx: mpsc::Receiver<Message>) {
    let mut batch: Vec<AuditEvent> = Vec::with_capacity(BATCH_ROWS);
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let deadline = tokio::time::Instant::now() + BATCH_WAIT;
        let mut next = Some(first);
        loop {
            match next.take() {
                Some(Message::Event(event)) => batch.push(*event),
                Some(Message::Flush(done)) => {
                    waiters.push(done);
                    break;
                }
                None => {}
            }
            if batch.len() >= BATCH_ROWS {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(msg)) => next = Some(msg),
                Ok(None) | Err(_) => break,
            }
        }
        write_batch(&store, &mut batch).await;
        for done in waiters.drain(..) {
            let _ = done.send(());
        }
    }
    write_batch(&store, &mut batch).await;
}

/// The batch's daily per-tool counts.
fn stats(batch: &[AuditEvent]) -> Vec<ToolStats> {
    let mut by_key: std::collections::BTreeMap<(String, String, String), ToolStats> = std::collections::BTreeMap::new();
    for e in batch {
        let day = e.occurred_at.format("%Y-%m-%d").to_string();
        let workspace = e.workspace_id.as_ref().map(ToString::to_string).unwrap_or_default();
        let row = by_key.entry((day.clone(), workspace.clone(), e.tool.clone())).or_insert_with(|| ToolStats {
            day,
            workspace_id: workspace,
            tool: e.tool.clone(),
            calls: 0,
            errors: 0,
            total_duration_ms: 0,
        });
        row.calls += 1;
        if e.outcome != "success" {
            row.errors += 1;
        }
        row.total_duration_ms += e.duration_ms;
    }
    by_key.into_values().collect()
}

async fn write_batch(store: &Store, batch: &mut Vec<AuditEvent>) {
    if batch.is_empty() {
        return;
    }
    let result = async {
        let tx = store.write().await?;
        tx.insert_audit_events(batch).await?;
        tx.add_tool_stats(&stats(batch)).await?;
        tx.commit().await
    }
    .await;
    if let Err(err) = result {
        tracing::error!(error = %err, rows = batch.len(), "audit batch could not be written");
    }
    batch.clear();
}

/// Argument names whose values are never stored.
fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["password", "secret", "token", "authorization", "credential", "api_key", "apikey", "private_key"]
        .iter()
        .any(|needle| lower.contains(needle))
}

/// String values that look like credentials whatever their argument name.
fn looks_like_secret(value: &str) -> bool {
    let v = value.trim();
    v.starts_with("wmk_") || v.starts_with("Bearer ") || v.starts_with("sk-") || v.starts_with("sk_")
}

/// The arguments as stored in the audit log: secrets replaced by `"[redacted]"`, the JSON cut
/// at 4 KiB on a character boundary.
pub(crate) fn redact_arguments(args: &Value) -> String {
    fn walk(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let redacted = if is_secret_name(k) { Value::String("[redacted]".into()) } else { walk(v) };
                        (k.clone(), redacted)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(walk).collect()),
            Value::String(s) if looks_like_secret(s) => Value::String("[redacted]".into()),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => value.clone(),
        }
    }
    let mut text = walk(args).to_string();
    if text.len() > MAX_ARGUMENT_BYTES {
        let mut cut = MAX_ARGUMENT_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::redact_arguments;

    #[test]
    fn secrets_are_redacted_by_name_and_by_shape() {
        let args = json!({
            "title": "ok",
            "api_key": "anything",
            "nested": [{"Authorization": "x"}, "wmk_abcdefghijklmnop", "plain"],
            "key": "state-key-is-not-a-secret"
        });
        let text = redact_arguments(&args);
        assert!(!text.contains("anything") && !text.contains("wmk_abc"), "{text}");
        assert!(text.contains("state-key-is-not-a-secret") && text.contains("plain"), "{text}");
    }

    #[test]
    fn long_arguments_are_cut_on_a_character_boundary() {
        let text = redact_arguments(&json!({ "note": "é".repeat(5000) }));
        assert!(text.len() <= 4096 + '…'.len_utf8());
        assert!(text.ends_with('…'));
    }
}

/// Which audit rows [`crate::Service::audit_tail`] returns.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only this workspace (by name).
    pub workspace: Option<String>,
    /// Only this tool.
    pub tool: Option<String>,
    /// Only rows newer than this id (to follow the log).
    pub after_id: Option<String>,
    /// At most this many rows (newest first).
    pub limit: u64,
}

/// One audited call.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntryView {
    /// `aud_<ulid>`, increasing with time.
    pub id: String,
    /// ISO-8601.
    pub occurred_at: String,
    /// Workspace name.
    pub workspace: Option<String>,
    /// The API key's public id, when one was used.
    pub key_id: Option<String>,
    /// `http`, `stdio`, `cli` or `library`.
    pub transport: String,
    /// Tool name.
    pub tool: String,
    /// Agent session named in the arguments.
    pub agent_session_id: Option<String>,
    /// Wall time in milliseconds.
    pub duration_ms: i64,
    /// `success`, `error` or `cancelled`.
    pub outcome: String,
    /// Error code of a failed call.
    pub error_code: Option<String>,
    /// Arguments with secrets redacted.
    pub arguments: String,
}

impl crate::Service {
    /// The newest audit rows, newest first.
    ///
    /// # Errors
    /// `not_found` for an unknown workspace; storage failures.
    pub async fn audit_tail(&self, query: &AuditQuery) -> Result<Vec<AuditEntryView>, crate::ServiceError> {
        let tx = self.store().read().await?;
        let workspaces: std::collections::HashMap<_, _> =
            tx.list_workspaces().await?.into_iter().map(|w| (w.id, w.name)).collect();
        let workspace = match &query.workspace {
            Some(name) => Some(
                workspaces
                    .iter()
                    .find(|(_, n)| n.as_str() == name)
                    .map(|(id, _)| id.clone())
                    .ok_or_else(|| crate::ServiceError::not_found(format!("Workspace not found: {name}")))?,
            ),
            None => None,
        };
        let filter = waymark_store::AuditFilter {
            workspace,
            tool: query.tool.clone(),
            after_id: query.after_id.clone(),
            limit: query.limit.clamp(1, 10_000),
        };
        Ok(tx
            .list_audit_events(&filter)
            .await?
            .into_iter()
            .map(|e| AuditEntryView {
                workspace: e.workspace_id.as_ref().and_then(|id| workspaces.get(id)).map(ToString::to_string),
                id: e.id,
                occurred_at: crate::clock::iso(e.occurred_at),
                key_id: e.api_key_id.map(|k| k.to_string()),
                transport: e.transport,
                tool: e.tool,
                agent_session_id: e.agent_session_id,
                duration_ms: e.duration_ms,
                outcome: e.outcome,
                error_code: e.error_code,
                arguments: e.arguments,
            })
            .collect())
    }
}

/// One day's calls of one tool in one workspace.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ToolStatsView {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Workspace name.
    pub workspace: Option<String>,
    /// Tool.
    pub tool: String,
    /// Calls.
    pub calls: i64,
    /// Calls that failed or were refused.
    pub errors: i64,
    /// Mean duration in milliseconds.
    pub avg_duration_ms: i64,
}

impl crate::Service {
    /// Daily per-tool call counts for the last `days` days (today included), newest day first.
    ///
    /// # Errors
    /// `not_found` for an unknown workspace; storage failures.
    pub async fn audit_stats(
        &self,
        days: u32,
        workspace: Option<&str>,
        tool: Option<&str>,
    ) -> Result<Vec<ToolStatsView>, crate::ServiceError> {
        let tx = self.store().read().await?;
        let workspaces: std::collections::HashMap<_, _> =
            tx.list_workspaces().await?.into_iter().map(|w| (w.id.to_string(), w.name)).collect();
        let workspace_id = match workspace {
            Some(name) => Some(
                workspaces
                    .iter()
                    .find(|(_, n)| n.as_str() == name)
                    .and_then(|(id, _)| waymark_domain::WorkspaceId::parse(id))
                    .ok_or_else(|| crate::ServiceError::not_found(format!("Workspace not found: {name}")))?,
            ),
            None => None,
        };
        let since = (self.now() - chrono::Duration::days(i64::from(days.max(1)) - 1)).format("%Y-%m-%d").to_string();
        Ok(tx
            .list_tool_stats(&since, workspace_id.as_ref(), tool)
            .await?
            .into_iter()
            .map(|r| ToolStatsView {
                workspace: workspaces.get(&r.workspace_id).map(ToString::to_string),
                avg_duration_ms: if r.calls > 0 { r.total_duration_ms / r.calls } else { 0 },
                day: r.day,
                tool: r.tool,
                calls: r.calls,
                errors: r.errors,
            })
            .collect())
    }

    /// Deletes audit rows older than `retention` (daily stats are kept). Returns how many.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn purge_audit(&self, retention: std::time::Duration) -> Result<u64, crate::ServiceError> {
        self.flush_audit().await;
        let retention = chrono::Duration::from_std(retention)
            .map_err(|_| crate::ServiceError::validation("retention period is too long"))?;
        let tx = self.store().write().await?;
        let deleted = tx.delete_audit_before(self.now() - retention).await?;
        tx.commit().await?;
        if deleted > 0 {
            tracing::info!(deleted, "old audit rows deleted");
        }
        Ok(deleted)
    }
}
