//! The tool catalogue: every tool's name, category, scope, description, derived input and
//! output schemas, MCP annotations, deadline and handler, in one ordered list.
//!
//! Transports never describe tools themselves: they read [`Catalogue::tools`] for `tools/list`
//! and go through [`crate::Service::call_tool`] for `tools/call`, so MCP over HTTP, MCP over
//! stdio and `waymark tool call` share one definition and one path.

mod schema;
mod validate;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use waymark_domain::Scope;

pub(crate) use validate::Validator;

use crate::{Principal, Service, ServiceError};

/// A tool's category; `tools/list` is ordered by category, then name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// plan_* tools.
    Plan,
    /// phase_* tools.
    Phase,
    /// task_* tools.
    Task,
    /// session_* tools.
    Session,
    /// state_* tools.
    State,
    /// template_* tools.
    Template,
    /// The durable-workflow tools (served on `/mcp/workflows`).
    Workflow,
}

impl Category {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::Phase => "phase",
            Self::Task => "task",
            Self::Session => "session",
            Self::State => "state",
            Self::Template => "template",
            Self::Workflow => "workflow",
        }
    }

    /// Whether the tool belongs to the agent surface (`/mcp/agent`): everything but workflows.
    pub fn is_agent(self) -> bool {
        !matches!(self, Self::Workflow)
    }
}

/// MCP tool annotations (hints for clients; MCP 2025-03-26 "Tool annotations").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Annotations {
    /// The tool changes nothing.
    pub read_only_hint: bool,
    /// The tool may destroy or hide data (meaningful when not read-only).
    pub destructive_hint: bool,
    /// Repeating the call with the same arguments has no further effect.
    pub idempotent_hint: bool,
    /// The tool talks to systems outside Waymark.
    pub open_world_hint: bool,
}

impl Annotations {
    /// A read-only tool over Waymark's own data.
    pub const READ: Self =
        Self { read_only_hint: true, destructive_hint: false, idempotent_hint: true, open_world_hint: false };
    /// An additive write (creates or appends).
    pub const ADDITIVE: Self =
        Self { read_only_hint: false, destructive_hint: false, idempotent_hint: false, open_world_hint: false };
    /// A write whose repetition changes nothing more (status changes, upserts).
    pub const IDEMPOTENT: Self =
        Self { read_only_hint: false, destructive_hint: false, idempotent_hint: true, open_world_hint: false };
    /// A write that hides or removes data, idempotent.
    pub const DESTRUCTIVE: Self =
        Self { read_only_hint: false, destructive_hint: true, idempotent_hint: true, open_world_hint: false };
}

type Handler = Arc<dyn Fn(Service, Principal, Value) -> BoxFuture<'static, Result<Value, ServiceError>> + Send + Sync>;

/// One tool.
pub struct Tool {
    /// The stable name (`plan_create`).
    pub name: &'static str,
    /// Its category.
    pub category: Category,
    /// The scope a key needs to call it.
    pub scope: Scope,
    /// One or two sentences: what it does, what it needs first, what it returns.
    pub description: &'static str,
    /// MCP annotations.
    pub annotations: Annotations,
    /// JSON Schema (2020-12) of the arguments, derived from the parameter type, in the
    /// portable subset `tools/list` shows (optional arguments are also accepted as `null`).
    pub input_schema: Arc<Map<String, Value>>,
    /// The schema calls are validated against: [`Tool::input_schema`] plus `null` for
    /// optional arguments and every size limit (docs/tools.md lists them).
    pub accepted_input_schema: Arc<Map<String, Value>>,
    /// JSON Schema of `structuredContent`, success or error: `success` and the result's
    /// fields with their types (nested shapes are in [`Tool::result_schema`]).
    pub output_schema: Arc<Map<String, Value>>,
    /// JSON Schema of a successful result with every nested field and its description, for
    /// documentation (docs/tools.md); never sent to clients.
    pub result_schema: Arc<Map<String, Value>>,
    /// How long a call may run before it is abandoned with `timeout`.
    pub timeout: Duration,
    /// Whether the catalogue added the optional `session_id` argument (the tool's own
    /// parameters do not name a session).
    pub injects_session_arg: bool,
    pub(crate) validator: Validator,
    pub(crate) handler: Handler,
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool").field("name", &self.name).field("category", &self.category).finish_non_exhaustive()
    }
}

/// Describes a tool before its handler is attached.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ToolInfo {
    pub(crate) name: &'static str,
    pub(crate) category: Category,
    pub(crate) scope: Scope,
    pub(crate) annotations: Annotations,
    pub(crate) description: &'static str,
}

impl ToolInfo {
    /// Attaches a typed handler: arguments are validated against `P`'s schema, deserialized
    /// into `P`, and the handler's `O` is serialized as the success payload.
    pub(crate) fn handler<P, O, F, Fut>(self, f: F) -> Tool
    where
        P: DeserializeOwned + JsonSchema + Send + 'static,
        O: Serialize + JsonSchema + 'static,
        F: Fn(Service, Principal, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, ServiceError>> + Send + 'static,
    {
        let mut inputs = schema::input_schemas::<P>();
        let injects_session_arg = schema::inject_session_arg(&mut inputs);
        let outputs = schema::output_schemas::<O>();
        let validator = Validator::compile(self.name, &inputs.accepted);
        let f = Arc::new(f);
        let handler: Handler = Arc::new(move |service, principal, args| {
            let f = Arc::clone(&f);
            Box::pin(async move {
                let params: P =
                    serde_path_to_error::deserialize(args).map_err(|e| validate::deserialize_violation(&e))?;
                let output = f(service, principal, params).await?;
                serde_json::to_value(output).map_err(|e| ServiceError::internal(&e))
            })
        });
        Tool {
            name: self.name,
            category: self.category,
            scope: self.scope,
            description: self.description,
            annotations: self.annotations,
            input_schema: Arc::new(inputs.advertised),
            accepted_input_schema: Arc::new(inputs.accepted),
            output_schema: Arc::new(outputs.advertised),
            result_schema: Arc::new(outputs.full),
            timeout: DEFAULT_TIMEOUT,
            injects_session_arg,
            validator,
            handler,
        }
    }
}

/// The deadline of a tool call unless configured otherwise (AGENT-TOOLS.md, "The machinery").
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Every tool, ordered by category then name.
#[derive(Debug)]
pub struct Catalogue {
    tools: Vec<Tool>,
    by_name: HashMap<&'static str, usize>,
}

impl Catalogue {
    /// Builds the catalogue from tool definitions, applying per-tool deadline overrides.
    ///
    /// Panics on a duplicate name: that is a programming error caught by every test.
    pub(crate) fn new(mut tools: Vec<Tool>, timeouts: &HashMap<String, Duration>) -> Self {
        tools.sort_by(|a, b| (a.category, a.name).cmp(&(b.category, b.name)));
        let mut by_name = HashMap::with_capacity(tools.len());
        for (i, tool) in tools.iter_mut().enumerate() {
            if let Some(timeout) = timeouts.get(tool.name) {
                tool.timeout = *timeout;
            }
            assert!(by_name.insert(tool.name, i).is_none(), "Tool [{}] is already registered.", tool.name);
        }
        Self { tools, by_name }
    }

    /// Every tool in `tools/list` order.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// The tool with this name.
    pub fn get(&self, name: &str) -> Option<&Tool> {
        self.by_name.get(name).map(|&i| &self.tools[i])
    }
}
