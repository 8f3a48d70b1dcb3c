//! Waymark's MCP adapter: serves the core's tool catalogue through `rmcp` (pinned at 3.9.0
//! and used nowhere else), for both the HTTP and the stdio transport.
//!
//! - Protocol revisions: `2026-07-28` (stateless, `server/discover`) and the handshake
//!   revisions `2025-11-25` and `2025-06-18`. Only the `tools` capability is declared; prompt,
//!   resource and completion methods answer "method not found" (MCP 2025-11-25 "Capabilities").
//! - `tools/list` comes from [`waymark_core::Catalogue`], filtered by [`Surface`] and by the
//!   caller's tool allow-list (then `cacheScope: private`).
//! - `tools/call` goes through [`waymark_core::Service::call_tool`]; [`to_call_tool_result`]
//!   is the one place a core result becomes an MCP result. Only an unknown tool is a JSON-RPC
//!   error (`-32602` "Unknown tool: {name}"); every other failure is a tool result with
//!   `isError: true` (MCP 2025-11-25, SEP-1303).
//! - A message that is not JSON gets `-32700`, one that is not a JSON-RPC message `-32600`
//!   (both with `"id": null`; [`inspect`] for HTTP, the stdio framing for stdio), and
//!   `tools/call` or `tools/list` whose `params` are missing or of the wrong shape `-32602`
//!   (with its id; rmcp reads some of those as custom requests, which [`McpServer`] answers).
//! - With the `conformance-fixtures` feature (test builds only, never a normal build),
//!   `/mcp` and stdio also serve the official conformance suite's fixture tools
//!   (`fixtures.rs`).

#![warn(missing_docs)]
#![deny(clippy::print_stdout)]

#[cfg(feature = "conformance-fixtures")]
mod fixtures;
mod jsonrpc;
mod stdio;

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ProtocolVersion, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use waymark_core::{Admission, CallError, Category, Principal, Service, ToolResult};

pub use jsonrpc::{Fault, INVALID_PARAMS, INVALID_REQUEST, Inspected, PARSE_ERROR, inspect};

/// Which tools an endpoint serves (PRODUCT.md, "Endpoints").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    /// Every tool (`/mcp`, stdio).
    All,
    /// The agent tools (`/mcp/agent`).
    Agent,
    /// The workflow tools (`/mcp/workflows`).
    Workflows,
}

impl Surface {
    /// Whether a tool of `category` is served here.
    pub fn includes(self, category: Category) -> bool {
        match self {
            Self::All => true,
            Self::Agent => category.is_agent(),
            Self::Workflows => !category.is_agent(),
        }
    }
}

/// Where the caller's identity comes from.
#[derive(Clone, Debug)]
enum Caller {
    /// Resolved once at start-up (stdio).
    Fixed(Principal),
    /// Put into the HTTP request's extensions by the HTTP transport, per request.
    PerRequest,
}

/// The MCP server handler. Cheap to clone; one per connection or request.
#[derive(Clone, Debug)]
pub struct McpServer {
    service: Service,
    surface: Surface,
    caller: Caller,
    tools: Arc<Vec<(Category, Tool)>>,
    /// The conformance suite's fixture tools, served after the catalogue on [`Surface::All`].
    #[cfg(feature = "conformance-fixtures")]
    fixtures: Arc<Vec<Tool>>,
}

/// The protocol revisions served, newest first.
pub const PROTOCOL_VERSIONS: &[ProtocolVersion] =
    &[ProtocolVersion::V_2026_07_28, ProtocolVersion::V_2025_11_25, ProtocolVersion::V_2025_06_18];

const INSTRUCTIONS: &str = "Waymark keeps durable plans, phases, tasks, agent sessions and workspace state, and runs durable workflows. \
Typical loop: plan_create (keep the returned slug), plan_publish, phase_update_status to start a phase, task_update or task_toggle as work \
is done, phase_add_checkpoint to record progress, phase_update_status to complete phases; the plan completes with its last phase. \
Every object lives in your API key's workspace. Any tool takes an optional session_id (sess_...) to record the call in that agent session's history. \
Failed calls return isError with a stable `code` \
(validation_error, not_found, invalid_transition, dependency_not_met, ...) and a message saying what to do.";

impl McpServer {
    /// A handler whose caller is fixed (stdio).
    pub fn with_principal(service: Service, principal: Principal) -> Self {
        Self::new(service, Surface::All, Caller::Fixed(principal))
    }

    /// A handler that reads the caller from each HTTP request's extensions, where the HTTP
    /// transport put the authenticated [`Principal`].
    pub fn per_request(service: Service, surface: Surface) -> Self {
        Self::new(service, surface, Caller::PerRequest)
    }

    fn new(service: Service, surface: Surface, caller: Caller) -> Self {
        let tools = service
            .catalogue()
            .tools()
            .iter()
            .filter(|t| surface.includes(t.category))
            .map(|t| (t.category, to_mcp_tool(t)))
            .collect();
        Self {
            service,
            surface,
            caller,
            tools: Arc::new(tools),
            #[cfg(feature = "conformance-fixtures")]
            fixtures: Arc::new(if surface == Surface::All { fixtures::tools() } else { Vec::new() }),
        }
    }

    fn principal(&self, context: &RequestContext<RoleServer>) -> Result<Principal, ErrorData> {
        match &self.caller {
            Caller::Fixed(principal) => Ok(principal.clone()),
            Caller::PerRequest => context
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<Principal>())
                .cloned()
                .ok_or_else(|| ErrorData::invalid_request("unauthenticated request", None)),
        }
    }
}

/// A catalogue tool as MCP describes it.
fn to_mcp_tool(tool: &waymark_core::Tool) -> Tool {
    let a = tool.annotations;
    Tool::new(tool.name, tool.description, Arc::clone(&tool.input_schema))
        .with_raw_output_schema(Arc::clone(&tool.output_schema))
        .with_annotations(
            ToolAnnotations::new()
                .read_only(a.read_only_hint)
                .destructive(a.destructive_hint)
                .idempotent(a.idempotent_hint)
                .open_world(a.open_world_hint),
        )
}

/// The one mapping from a core tool result to an MCP `CallToolResult`: `structuredContent`
/// always, plus one text block (the JSON of a success, the message of an error).
pub fn to_call_tool_result(result: ToolResult) -> CallToolResult {
    let text = ContentBlock::text(result.text());
    let mut out = if result.is_error { CallToolResult::error(vec![text]) } else { CallToolResult::success(vec![text]) };
    out.structured_content = Some(serde_json::Value::Object(result.structured));
    out
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("waymark", waymark_core::VERSION))
            .with_instructions(INSTRUCTIONS)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(PROTOCOL_VERSIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let principal = self.principal(&context)?;
        let restricted = principal.tools.is_some();
        let tools: Vec<Tool> = self
            .tools
            .iter()
            .filter(|(_, tool)| principal.may_call(&tool.name))
            .map(|(_, tool)| tool.clone())
            .collect();
        #[cfg(feature = "conformance-fixtures")]
        let tools: Vec<Tool> = tools.into_iter().chain(self.fixtures.iter().cloned()).collect();
        let scope = if restricted { CacheScope::Private } else { CacheScope::Public };
        Ok(ListToolsResult::with_all_items(tools).with_ttl_ms(300_000).with_cache_scope(scope))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        let found = self.tools.iter().find(|(_, t)| t.name == name).map(|(_, t)| t.clone());
        #[cfg(feature = "conformance-fixtures")]
        let found = found.or_else(|| self.fixtures.iter().find(|t| t.name == name).cloned());
        found
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let principal = self.principal(&context)?;
        let name = request.name.as_ref();
        #[cfg(feature = "conformance-fixtures")]
        if self.fixtures.iter().any(|t| t.name == name) {
            return fixtures::call(name, &request, &context).await;
        }
        let served = self.tools.iter().any(|(_, t)| t.name == name);
        if !served {
            return Err(ErrorData::invalid_params(format!("Unknown tool: {name}"), None));
        }
        let arguments = request.arguments.map(serde_json::Value::Object).unwrap_or(serde_json::Value::Null);
        // The HTTP transport may have admitted the call already (to answer 403/429 itself).
        let admitted = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Admission>())
            .filter(|a| a.tool() == name)
            .cloned();
        let outcome = match admitted {
            Some(admission) => self.service.call_admitted(admission, arguments, &context.ct).await,
            None => self.service.call_tool(&principal, name, arguments, &context.ct).await,
        };
        match outcome {
            Ok(result) => Ok(CallToolResponse::Complete(to_call_tool_result(result))),
            Err(CallError::UnknownTool(name)) => Err(ErrorData::invalid_params(format!("Unknown tool: {name}"), None)),
            Err(CallError::Cancelled) => Err(ErrorData::internal_error("Request cancelled", None)),
        }
    }

    async fn on_custom_request(
        &self,
        request: rmcp::model::CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CustomResult, ErrorData> {
        // rmcp reads a request for a known method whose params do not fit its type as a custom
        // request; the method exists, so the params are what is wrong (JSON-RPC -32602).
        match jsonrpc::invalid_params(&request.method, request.params.as_ref()) {
            Some(message) => Err(ErrorData::invalid_params(message, None)),
            None => Err(ErrorData::new(rmcp::model::ErrorCode::METHOD_NOT_FOUND, request.method, None)),
        }
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Err(ErrorData::method_not_found::<rmcp::model::ListPromptsRequestMethod>())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Err(ErrorData::method_not_found::<rmcp::model::ListResourcesRequestMethod>())
    }

    async fn complete(
        &self,
        _request: rmcp::model::CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CompleteResult, ErrorData> {
        // rmcp answers an empty completion by default, though `completions` is not declared.
        Err(ErrorData::method_not_found::<rmcp::model::CompleteRequestMethod>())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Err(ErrorData::method_not_found::<rmcp::model::ListResourceTemplatesRequestMethod>())
    }
}

impl McpServer {
    /// The surface this handler serves.
    pub fn surface(&self) -> Surface {
        self.surface
    }
}

/// The MCP endpoint an HTTP server mounts at `/mcp`, `/mcp/agent` or `/mcp/workflows`:
/// rmcp's streamable-HTTP service, stateless for every revision (no `Mcp-Session-Id`, so any
/// replica can answer any request), answering with `application/json` when it can.
///
/// The HTTP transport authenticates first and puts the [`Principal`] into the request's
/// extensions; Host and Origin are checked there too, so rmcp's own Host check is off.
pub struct HttpEndpoint {
    inner: rmcp::transport::StreamableHttpService<
        McpServer,
        rmcp::transport::streamable_http_server::session::never::NeverSessionManager,
    >,
}

impl std::fmt::Debug for HttpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpEndpoint")
    }
}

impl HttpEndpoint {
    /// An endpoint serving `surface`, refusing bodies above `max_body_bytes` (413), closing
    /// open streams when `shutdown` is cancelled.
    pub fn new(
        service: Service,
        surface: Surface,
        max_body_bytes: usize,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Self {
        let config = rmcp::transport::StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .disable_allowed_hosts()
            .disable_allowed_origins()
            .with_max_request_body_bytes(max_body_bytes)
            .with_cancellation_token(shutdown);
        let handler = McpServer::per_request(service, surface);
        let inner = rmcp::transport::StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(Default::default()),
            config,
        );
        Self { inner }
    }

    /// Serves one HTTP request.
    pub async fn handle(
        &self,
        request: http::Request<http_body_util::Full<bytes::Bytes>>,
    ) -> http::Response<http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>> {
        self.inner.handle(request).await
    }
}

/// Whether rmcp reads the body of a POST with these headers: `Accept` lists both
/// `application/json` and `text/event-stream` (without `q=0`) and `Content-Type` is
/// `application/json`. Otherwise rmcp answers 406 or 415 before reading it, and the HTTP
/// transport lets it (MCP 2025-11-25 "Sending Messages to the Server").
pub fn reads_body(headers: &http::HeaderMap) -> bool {
    let accepted = |wanted: &str| {
        headers.get_all(http::header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
            |range| {
                let mut parts = range.split(';');
                let essence = parts.next().unwrap_or("").trim();
                let refused = parts.any(|p| {
                    p.split_once('=').is_some_and(|(k, v)| {
                        k.trim().eq_ignore_ascii_case("q") && v.trim().parse::<f32>().is_ok_and(|q| q == 0.0)
                    })
                });
                essence.eq_ignore_ascii_case(wanted) && !refused
            },
        )
    };
    let json_body = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"));
    json_body && accepted("application/json") && accepted("text/event-stream")
}

/// Serves MCP over this process's stdin and stdout until stdin closes, as `principal`.
/// Nothing but MCP messages is written to stdout.
///
/// # Errors
/// The transport failed to start or broke.
pub async fn serve_stdio(service: Service, principal: Principal) -> Result<(), std::io::Error> {
    serve_io(service, principal, tokio::io::stdin(), tokio::io::stdout()).await
}

/// Serves MCP as newline-delimited JSON-RPC over any reader and writer (the stdio transport's
/// framing) until the reader ends, as `principal`. Embedders and tests use it with pipes.
///
/// # Errors
/// The transport failed to start or broke.
pub async fn serve_io<R, W>(service: Service, principal: Principal, reader: R, writer: W) -> Result<(), std::io::Error>
where
    R: tokio::io::AsyncRead + Send + Unpin + 'static,
    W: tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    use rmcp::ServiceExt;
    let (sink, incoming, writing) = stdio::transport(reader, writer);
    let served = match McpServer::with_principal(service, principal).serve((sink, incoming)).await {
        Ok(running) => running.waiting().await.map(|_| ()).map_err(std::io::Error::other),
        Err(e) => Err(std::io::Error::other(e)),
    };
    // rmcp has dropped the sink and the stream: the writer flushes what is queued and ends.
    let written = writing.await.map_err(std::io::Error::other)?;
    served?;
    written
}

#[cfg(test)]
mod tests {
    use super::reads_body;

    fn headers(accept: &str, content_type: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::ACCEPT, accept.parse().unwrap());
        h.insert(http::header::CONTENT_TYPE, content_type.parse().unwrap());
        h
    }

    #[test]
    fn the_body_is_read_only_with_the_headers_rmcp_wants() {
        assert!(reads_body(&headers("application/json, text/event-stream", "application/json")));
        assert!(reads_body(&headers("text/event-stream;q=0.5, Application/JSON", "application/json; charset=utf-8")));
        assert!(!reads_body(&headers("application/json", "application/json")));
        assert!(!reads_body(&headers("application/json, text/event-stream;q=0", "application/json")));
        assert!(!reads_body(&headers("application/json, text/event-stream;q=0.00", "application/json")));
        assert!(!reads_body(&headers("application/json;q=0, text/event-stream", "application/json")));
        assert!(!reads_body(&headers("application/json, text/event-stream", "text/plain")));
        assert!(!reads_body(&http::HeaderMap::new()));
    }
}
