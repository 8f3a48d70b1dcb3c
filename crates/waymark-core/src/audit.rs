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

/// What never reaches the audit log: values under secret-looking argument names, strings that
/// are credentials, and credentials inside longer strings ("deploy with key wmk_… please").
///
/// Built-in patterns: Waymark keys (`wmk_…`), bearer tokens, OpenAI and Anthropic style
/// keys (`sk-…`, `sk-ant-…`), Stripe style keys (`sk_live_…`, `rk_test_…`), Google API keys
/// (`AIza…`), GitHub tokens (`ghp_…`, `github_pat_…`) and AWS access key ids (`AKIA…`);
/// operators add their own (`[audit] redact_patterns` in `waymark.toml`, for example the shape of a
/// provider's keys).
#[derive(Clone, Debug)]
pub struct Redactor {
    patterns: regex::Regex,
}

/// The built-in credential shapes (see [`Redactor`]).
const BUILTIN_SECRET_PATTERNS: &[&str] = &[
    r"wmk_[A-Za-z0-9]{8,}",
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}",
    r"\bsk-[A-Za-z0-9_-]{8,}",
    r"\b[rsp]k_(?:live|test)_[A-Za-z0-9]{8,}",
    r"\bAIza[0-9A-Za-z_-]{20,}",
    r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}",
    r"\bgithub_pat_[A-Za-z0-9_]{20,}",
    r"\bAKIA[0-9A-Z]{16}\b",
];

/// What a redacted secret is replaced with.
const REDACTED: &str = "[redacted]";

impl Default for Redactor {
    fn default() -> Self {
        Self::new(&[]).unwrap_or_else(|_| unreachable!("the built-in patterns compile"))
    }
}

impl Redactor {
    /// The built-in patterns plus `extra` (regular expressions, `regex` crate syntax).
    ///
    /// # Errors
    /// An `extra` pattern that does not compile, with the reason.
    pub fn new(extra: &[String]) -> Result<Self, regex::Error> {
        let all: Vec<String> =
            BUILTIN_SECRET_PATTERNS.iter().map(|p| (*p).to_owned()).chain(extra.iter().cloned()).collect();
        let joined = all.iter().map(|p| format!("(?:{p})")).collect::<Vec<_>>().join("|");
        Ok(Self { patterns: regex::Regex::new(&joined)? })
    }

    /// `text` with every credential replaced by `[redacted]`.
    pub fn text<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        self.patterns.replace_all(text, REDACTED)
    }

    /// The arguments as stored in the audit log: secrets replaced by `"[redacted]"` (by name,
    /// and by shape anywhere inside a string), the JSON cut at 4 KiB on a character boundary.
    pub(crate) fn arguments(&self, args: &Value) -> String {
        let mut text = self.value(args).to_string();
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

    fn value(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let redacted = if is_secret_name(k) { Value::String(REDACTED.into()) } else { self.value(v) };
                        (self.text(k).into_owned(), redacted)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.value(v)).collect()),
            Value::String(s) => Value::String(self.text(s).into_owned()),
            Value::Null | Value::Bool(_) | Value::Number(_) => value.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Redactor;

    #[test]
    fn secrets_are_redacted_by_name_and_by_shape() {
        let args = json!({
            "title": "ok",
            "api_key": "anything",
            "nested": [{"Authorization": "x"}, "wmk_abcdefghijklmnop", "plain"],
            "key": "state-key-is-not-a-secret"
        });
        let text = Redactor::default().arguments(&args);
        assert!(!text.contains("anything") && !text.contains("wmk_abc"), "{text}");
        assert!(text.contains("state-key-is-not-a-secret") && text.contains("plain"), "{text}");
    }

    #[test]
    fn credentials_inside_longer_strings_are_redacted() {
        let key = "wmk_4kq9ZLb1xYp0Qr7sTu2VwXy3Za5Bc6De8Fg0Hi1Jk2L";
        let cases = [
            (format!("deploy with key {key} please"), "deploy with key [redacted] please".to_owned()),
            (
                "curl -H 'Authorization: Bearer abc.def-ghi_jkl' x".into(),
                "curl -H 'Authorization: [redacted]' x".into(),
            ),
            (
                "openai sk-proj-AbCdEf0123456789xyz and anthropic sk-ant-api03-abcdefghijkl".into(),
                "openai [redacted] and anthropic [redacted]".into(),
            ),
            ("stripe sk_live_abcdefghijkl1234".into(), "stripe [redacted]".into()),
            ("gemini AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv".into(), "gemini [redacted]".into()),
            ("a wmk_ mention and sk- alone stay".into(), "a wmk_ mention and sk- alone stay".into()),
        ];
        let redactor = Redactor::default();
        for (input, expected) in cases {
            assert_eq!(redactor.text(&input), expected);
        }
        let text = redactor.arguments(&json!({ "message": format!("use {key}"), format!("k {key}"): 1 }));
        assert!(!text.contains("4kq9"), "{text}");
    }

    #[test]
    fn configured_patterns_are_redacted_too() {
        let redactor = Redactor::new(&["acme-[0-9]{6}".to_owned()]).unwrap();
        assert_eq!(redactor.text("token acme-123456 here"), "token [redacted] here");
        assert!(Redactor::new(&["(".to_owned()]).is_err());
    }

    #[test]
    fn long_arguments_are_cut_on_a_character_boundary() {
        let text = Redactor::default().arguments(&json!({ "note": "é".repeat(5000) }));
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
