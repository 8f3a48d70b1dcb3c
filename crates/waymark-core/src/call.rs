//! One tool call, every transport (AGENT-TOOLS.md, "The machinery"):
//!
//! 1. [`Service::admit`]: the tool exists, the key's allow-list and scope permit it, the key's
//!    token bucket has a token. A refusal is audited here. The HTTP transport calls it early to
//!    answer 403/429 and passes the [`Admission`] on; other callers let [`Service::call_tool`]
//!    do it.
//! 2. The arguments are validated against the tool's input schema.
//! 3. The tool's dependencies are checked (workspace-scoped facts, domain rules).
//! 4. The database circuit breaker is asked.
//! 5. The handler runs under the tool's deadline and the caller's cancellation; dropping it
//!    rolls its transaction back, so a timed-out or cancelled call writes nothing.
//! 6. A call that names an agent session is added to that session's durable history, in the
//!    handler's own transaction when it writes ([`Service::commit`]).
//! 7. Metrics and the audit row.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use waymark_domain::dependency::{DependencyKind, Facts, Unmet};
use waymark_domain::{PhaseRef, SessionId, Slug};
use waymark_store::{AuditEvent, Tx};

use crate::breaker::Admit;
use crate::{CallContext, ErrorCode, Principal, Service, ServiceError, Tool, ToolResult, ids};

/// The breaker every tool call passes: the database all tools depend on.
pub const DATABASE: &str = "database";

/// A call that produced no tool result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No tool has this name: a protocol error (JSON-RPC `-32602`), not a tool result.
    #[error("Unknown tool: {0}")]
    UnknownTool(String),
    /// The caller cancelled; nothing was written and no answer is owed.
    #[error("cancelled")]
    Cancelled,
}

/// Why [`Service::admit`] refused a call.
#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    /// No tool has this name.
    UnknownTool(String),
    /// `permission_denied` (allow-list or scope) or `rate_limited` (with
    /// `details.retry_after_seconds`). Already audited.
    Denied(ServiceError),
}

/// Permission to make one call of one tool, from [`Service::admit`]. Single use: a second
/// [`Service::call_admitted`] with the same admission is admitted (and charged) again.
#[derive(Clone, Debug)]
pub struct Admission {
    principal: Principal,
    tool: &'static str,
    used: Arc<AtomicBool>,
}

impl Admission {
    /// The admitted tool.
    pub fn tool(&self) -> &'static str {
        self.tool
    }
}

/// The session a call's arguments name: `session_id`, else `previous_session_id`.
fn named_session(arguments: &Value) -> Option<&str> {
    ["session_id", "previous_session_id"].iter().find_map(|k| arguments.get(*k).and_then(Value::as_str))
}

impl Service {
    /// Step 1 of every call: may `principal` call `name` now?
    ///
    /// # Errors
    /// [`Refusal::UnknownTool`], or [`Refusal::Denied`] with `permission_denied` ("Permission
    /// denied: API key missing scope 'write' for tool 'plan_create'", "Permission denied: API
    /// key does not have access to tool '{name}'") or `rate_limited`.
    pub async fn admit(&self, principal: &Principal, name: &str) -> Result<Admission, Refusal> {
        let Some(tool) = self.catalogue().get(name) else {
            return Err(Refusal::UnknownTool(name.to_owned()));
        };
        let refusal = if !principal.may_call(tool.name) {
            Some(ServiceError::permission_denied(format!(
                "Permission denied: API key does not have access to tool '{}'",
                tool.name
            )))
        } else if !principal.has_scope(tool.scope) {
            Some(ServiceError::permission_denied(format!(
                "Permission denied: API key missing scope '{}' for tool '{}'",
                tool.scope.as_str(),
                tool.name
            )))
        } else if let (Some(key), Some(rate)) = (&principal.key_id, principal.rate_limit_per_minute)
            && let Err(retry_after) = self.inner.limiter.take(key, rate, self.now())
        {
            self.inner.metrics.rate_limited(tool.name);
            Some(
                ServiceError::new(
                    ErrorCode::RateLimited,
                    format!("Rate limit exceeded: API key cannot execute tool '{}' right now", tool.name),
                )
                .with_details(json!({ "retry_after_seconds": retry_after, "rate_limit_per_minute": rate })),
            )
        } else {
            None
        };
        match refusal {
            Some(err) => {
                let result = ToolResult::error(&err);
                self.finish(principal, tool.name, &Value::Null, Instant::now(), &result, "error").await;
                Err(Refusal::Denied(err))
            }
            None => Ok(Admission { principal: principal.clone(), tool: tool.name, used: Arc::default() }),
        }
    }

    /// Calls a tool on behalf of `principal`: [`Service::admit`], then
    /// [`Service::call_admitted`].
    ///
    /// `arguments` is the MCP `arguments` object (`Value::Null` is read as `{}`). Failures the
    /// agent can act on come back as an error [`ToolResult`] (`isError: true`); only an unknown
    /// tool or a cancellation is a [`CallError`].
    ///
    /// # Errors
    /// [`CallError::UnknownTool`], [`CallError::Cancelled`].
    pub async fn call_tool(
        &self,
        principal: &Principal,
        name: &str,
        arguments: Value,
        cancel: &CancellationToken,
    ) -> Result<ToolResult, CallError> {
        match self.admit(principal, name).await {
            Ok(admission) => self.call_admitted(admission, arguments, cancel).await,
            Err(Refusal::UnknownTool(name)) => Err(CallError::UnknownTool(name)),
            Err(Refusal::Denied(err)) => Ok(ToolResult::error(&err)),
        }
    }

    /// Steps 2–7 for an admitted call.
    ///
    /// # Errors
    /// [`CallError::Cancelled`] when `cancel` fires first.
    pub async fn call_admitted(
        &self,
        admission: Admission,
        arguments: Value,
        cancel: &CancellationToken,
    ) -> Result<ToolResult, CallError> {
        if admission.used.swap(true, Ordering::SeqCst) {
            let again = self.admit(&admission.principal, admission.tool).await;
            return match again {
                Ok(fresh) => Box::pin(self.call_admitted(fresh, arguments, cancel)).await,
                Err(Refusal::UnknownTool(name)) => Err(CallError::UnknownTool(name)),
                Err(Refusal::Denied(err)) => Ok(ToolResult::error(&err)),
            };
        }
        let Some(tool) = self.catalogue().get(admission.tool) else {
            return Err(CallError::UnknownTool(admission.tool.to_owned()));
        };
        let started = Instant::now();
        let arguments = if arguments.is_null() { Value::Object(Default::default()) } else { arguments };
        let outcome = tokio::select! {
            biased;
            () = cancel.cancelled() => None,
            outcome = self.run(&admission.principal, tool, arguments.clone()) => Some(outcome),
        };
        let (result, label) = match &outcome {
            Some(Ok(payload)) => (ToolResult::success(payload.clone()), "success"),
            Some(Err(err)) => (ToolResult::error(err), "error"),
            None => (ToolResult::error(&ServiceError::new(ErrorCode::Timeout, "Cancelled by the client")), "cancelled"),
        };
        self.finish(&admission.principal, tool.name, &arguments, started, &result, label).await;
        match outcome {
            Some(_) => Ok(result),
            None => Err(CallError::Cancelled),
        }
    }

    async fn run(&self, principal: &Principal, tool: &Tool, arguments: Value) -> Result<Value, ServiceError> {
        tool.validator.check(&arguments)?;
        // The breaker is asked before the first database access (the dependency check), so a
        // dead database fails fast and every failure of it is counted.
        let breaker = BreakerCall::admit(self, DATABASE)?;
        let result = self.run_admitted(principal, tool, arguments).await;
        breaker.finish(&result);
        result
    }

    async fn run_admitted(
        &self,
        principal: &Principal,
        tool: &Tool,
        mut arguments: Value,
    ) -> Result<Value, ServiceError> {
        let session = self.check_dependencies(principal, tool, &arguments).await?;
        if tool.injects_session_arg
            && let Some(args) = arguments.as_object_mut()
        {
            args.remove("session_id");
        }
        let mut principal = principal.clone();
        let recorded = Arc::new(AtomicBool::new(false));
        principal.call =
            Some(CallContext { tool: tool.name, session: session.clone(), recorded: Arc::clone(&recorded) });

        let now = self.now();
        let handler = (tool.handler)(self.clone(), principal.clone(), arguments);
        let result = match tokio::time::timeout(tool.timeout, handler).await {
            Ok(result) => result,
            Err(_) => {
                let limit = if tool.timeout.subsec_millis() == 0 {
                    format!("{} s", tool.timeout.as_secs())
                } else {
                    format!("{} ms", tool.timeout.as_millis())
                };
                Err(ServiceError::new(
                    ErrorCode::Timeout,
                    format!("{} did not finish within {limit}; nothing was changed", tool.name),
                ))
            }
        };
        if result.is_ok()
            && let Some(session) = &session
            && !recorded.load(Ordering::SeqCst)
        {
            let tx = self.store().write().await?;
            tx.record_session_call(&format!("call_{}", ids::ulid(now)), session, tool.name, now).await?;
            tx.commit().await?;
        }
        result
    }

    /// Commits a use case's transaction, first adding the call to the named session's durable
    /// history (so a `tool_called` check never sees a stale history).
    pub(crate) async fn commit(&self, tx: Tx, principal: &Principal) -> Result<(), ServiceError> {
        if let Some(call) = &principal.call
            && let Some(session) = &call.session
            && !call.recorded.swap(true, Ordering::SeqCst)
        {
            let now = self.now();
            if let Err(e) = tx.record_session_call(&format!("call_{}", ids::ulid(now)), session, call.tool, now).await {
                call.recorded.store(false, Ordering::SeqCst);
                return Err(e.into());
            }
        }
        tx.commit().await.map_err(|e| {
            if let Some(call) = &principal.call {
                call.recorded.store(false, Ordering::SeqCst);
            }
            e.into()
        })
    }

    /// Gathers the facts `tool`'s dependencies need and checks them. Returns the session the
    /// arguments name, when it exists in the caller's workspace.
    async fn check_dependencies(
        &self,
        principal: &Principal,
        tool: &Tool,
        arguments: &Value,
    ) -> Result<Option<SessionId>, ServiceError> {
        let tx = self.store().read().await?;
        let named = named_session(arguments);
        let session = match named.and_then(SessionId::parse) {
            Some(id) => tx.session_by_id(&principal.workspace_id, &id).await?.map(|s| s.id),
            None => None,
        };
        if let (Some(raw), None, true) = (named, &session, tool.injects_session_arg) {
            return Err(ServiceError::not_found(format!("Session not found: {raw}")));
        }
        let dependencies = self.inner.dependencies.dependencies(tool.name);
        if dependencies.is_empty() {
            return Ok(session);
        }
        let called = match &session {
            Some(id) if dependencies.iter().any(|d| d.kind == DependencyKind::ToolCalled) => {
                tx.session_called_tools(id).await?
            }
            Some(_) | None => Vec::new(),
        };
        let mut entities = Vec::new();
        for dep in dependencies.iter().filter(|d| d.kind == DependencyKind::EntityExists && !d.optional) {
            let arg_key = dep.arg_key.as_deref().unwrap_or(&dep.key);
            let value = arguments.get(arg_key).and_then(Value::as_str);
            let exists = match (dep.key.as_str(), value) {
                ("plan", Some(slug)) => match Slug::parse(slug) {
                    Ok(slug) => tx.plan_by_slug(&principal.workspace_id, &slug).await?.is_some(),
                    Err(_) => false,
                },
                ("session", Some(id)) => match SessionId::parse(id) {
                    Some(id) => tx.session_by_id(&principal.workspace_id, &id).await?.is_some(),
                    None => false,
                },
                ("phase", _) => {
                    let slug = arguments.get("plan_slug").and_then(Value::as_str).and_then(|s| Slug::parse(s).ok());
                    let phase = match arguments.get(arg_key) {
                        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()).map(PhaseRef::Order),
                        Some(Value::String(s)) => Some(PhaseRef::parse(s)),
                        Some(_) | None => None,
                    };
                    match (slug, phase) {
                        (Some(slug), Some(phase)) => match tx.plan_by_slug(&principal.workspace_id, &slug).await? {
                            Some(plan) => phase.find(&tx.phases_of(&plan.id).await?).is_some(),
                            None => false,
                        },
                        _ => false,
                    }
                }
                _ => false,
            };
            entities.push((dep.key.clone(), arg_key.to_owned(), exists));
        }
        let facts = CallFacts {
            principal,
            arguments,
            session: session.is_some(),
            called: &called,
            entities: &entities,
            validators: &self.inner.config.custom_dependencies,
        };
        match self.inner.dependencies.check(tool.name, &facts) {
            Ok(()) => Ok(session),
            Err(unmet) => Err(unmet_error(&unmet, arguments)),
        }
    }

    async fn finish(
        &self,
        principal: &Principal,
        tool: &str,
        arguments: &Value,
        started: Instant,
        result: &ToolResult,
        outcome: &str,
    ) {
        let now = self.now();
        let elapsed = started.elapsed();
        self.inner.metrics.call(tool, outcome, elapsed.as_secs_f64());
        self.inner
            .audit
            .record(AuditEvent {
                id: format!("aud_{}", ids::ulid(now)),
                occurred_at: now,
                workspace_id: Some(principal.workspace_id.clone()),
                api_key_id: principal.key_id.clone(),
                transport: principal.transport.as_str().to_owned(),
                tool: tool.to_owned(),
                agent_session_id: named_session(arguments).filter(|s| s.len() <= 64).map(str::to_owned),
                duration_ms: i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
                outcome: outcome.to_owned(),
                error_code: result.error_code().map(|c| c.as_str().to_owned()),
                arguments: self.inner.redactor.arguments(arguments),
            })
            .await;
    }

    /// Publishes every breaker's state to the metrics.
    pub(crate) fn publish_breakers(&self) {
        for status in self.inner.breakers.status(self.now()) {
            self.inner.metrics.breaker(&status.service, status.state.gauge());
        }
    }
}

/// One call's passage through a service's circuit breaker: admitted by [`BreakerCall::admit`],
/// recorded by [`BreakerCall::finish`]. A call dropped before it finished (cancelled) counts
/// neither way, but gives back the half-open trial it held.
struct BreakerCall<'a> {
    service: &'a Service,
    name: &'static str,
    admit: Option<Admit>,
}

impl<'a> BreakerCall<'a> {
    fn admit(service: &'a Service, name: &'static str) -> Result<Self, ServiceError> {
        let admit = service.inner.breakers.admit(name, service.now())?;
        Ok(Self { service, name, admit: Some(admit) })
    }

    /// Records the outcome. Only a failure of the guarded service itself counts: a handler's
    /// own deadline, its arguments or the data it met say nothing about the service, and
    /// counting them would let one caller shut every workspace out.
    fn finish(mut self, result: &Result<Value, ServiceError>) {
        let failed = matches!(result, Err(e) if e.failed_service() == Some(self.name));
        if let Some(admit) = self.admit.take() {
            self.service.inner.breakers.record(self.name, admit, !failed, self.service.now());
            self.service.publish_breakers();
        }
    }
}

impl Drop for BreakerCall<'_> {
    fn drop(&mut self) {
        if let Some(admit) = self.admit.take() {
            self.service.inner.breakers.abandon(self.name, admit);
        }
    }
}

/// An unmet dependency as the agent sees it. When only existence is missing (a plan or a
/// session that is not in the caller's workspace) it is `not_found` with the original's
/// message, so no existence leaks and messages stay as before; otherwise `dependency_not_met`
/// with the original's message. Both carry `{tool, missing_dependencies, suggested_order,
/// help}`.
fn unmet_error(unmet: &Unmet, arguments: &Value) -> ServiceError {
    let details = json!({
        "tool": unmet.tool,
        "missing_dependencies": unmet.missing.iter().map(|d| json!({
            "type": d.kind.as_str(),
            "key": d.key,
            "description": d.describe(),
        })).collect::<Vec<_>>(),
        "suggested_order": unmet.suggested_order,
        "help": unmet.help(),
    });
    let existence_only =
        unmet.missing.iter().all(|d| matches!(d.kind, DependencyKind::EntityExists | DependencyKind::SessionState));
    if existence_only && let Some(first) = unmet.missing.first() {
        let arg_key = first.arg_key.as_deref().unwrap_or(&first.key);
        let value =
            arguments.get(arg_key).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).unwrap_or_default();
        let message = match (&first.kind, first.key.as_str()) {
            (DependencyKind::EntityExists, "plan") => format!("Plan not found: {value}"),
            (DependencyKind::EntityExists, "phase") => format!("Phase not found: {value}"),
            (DependencyKind::EntityExists, "session") | (DependencyKind::SessionState, _) => {
                let session = arguments.get(&first.key).and_then(Value::as_str).unwrap_or(&value);
                format!("Session not found: {session}")
            }
            _ => unmet.message(),
        };
        return ServiceError::not_found(message).with_details(details);
    }
    ServiceError::new(ErrorCode::DependencyNotMet, unmet.message()).with_details(details)
}

/// A custom dependency validator: given the caller and the arguments, is it met?
pub type CustomDependency = Arc<dyn Fn(&Principal, &Value) -> bool + Send + Sync>;

struct CallFacts<'a> {
    principal: &'a Principal,
    arguments: &'a Value,
    session: bool,
    called: &'a [String],
    entities: &'a [(String, String, bool)],
    validators: &'a std::collections::BTreeMap<String, CustomDependency>,
}

impl Facts for CallFacts<'_> {
    fn context_has(&self, key: &str) -> bool {
        match key {
            "workspace_id" => !self.principal.workspace_id.as_str().is_empty(),
            "api_key" => self.principal.key_id.is_some(),
            "session_id" => self.session,
            _ => self.arguments.get(key).is_some_and(|v| !v.is_null()),
        }
    }

    fn session_exists(&self, arg_key: &str) -> bool {
        self.session && self.arguments.get(arg_key).is_some_and(|v| !v.is_null())
    }

    fn entity_exists(&self, entity: &str, arg_key: &str) -> bool {
        self.entities.iter().any(|(e, a, exists)| e == entity && a == arg_key && *exists)
    }

    fn tool_called(&self, tool: &str) -> bool {
        self.called.iter().any(|t| t == tool)
    }

    fn custom(&self, name: &str) -> Option<bool> {
        self.validators.get(name).map(|v| v(self.principal, self.arguments))
    }
}
