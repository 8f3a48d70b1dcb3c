//! Waymark's HTTP transport: a hyper 1 server that owns everything HTTP and hands MCP
//! requests to the adapter (`waymark-mcp`).
//!
//! Routes (PRODUCT.md, "Endpoints"):
//! - `POST /mcp` (every tool), `/mcp/agent` (agent tools), `/mcp/workflows` (workflow tools);
//! - `GET /healthz` (liveness), `GET /readyz` (database reachable, migrations current, the
//!   database's id, circuit breakers), `GET /metrics` (OpenMetrics text, any valid key);
//! - anything else: 404 JSON (including `/.well-known/*`: no OAuth hints are advertised).
//!
//! Order of checks on an MCP route, each refusing with nothing processed:
//! 1. method: only POST (405 with `Allow: POST`);
//! 2. `Host` and `Origin` (403, MCP 2025-11-25 "DNS rebinding");
//! 3. API key from `Authorization: Bearer` or `X-API-Key` (401 with
//!    `WWW-Authenticate: Bearer realm="mcp", error="invalid_token"`);
//! 4. body size, 4 MiB by default (413);
//! 5. a body that is not JSON (400, JSON-RPC `-32700`) or not one JSON-RPC message (400,
//!    `-32600`), both with `"id": null`, when the `Accept` and `Content-Type` headers are
//!    right (otherwise rmcp answers 406 or 415);
//! 6. for `tools/call`, the core's admission: the key's allow-list and scope (403, with
//!    `error="insufficient_scope"` for a missing scope) and rate limit (429 with `Retry-After`).
//!
//! Every response to a request that passed step 3 with a key carries the key's bucket as
//! `X-RateLimit-Limit` (calls per minute), `X-RateLimit-Remaining` (whole calls left now) and
//! `X-RateLimit-Reset` (seconds until the bucket is full again), 429s included.
//!
//! Accepted sockets get `TCP_NODELAY` (a missing one costs ~40 ms per small response).
//!
//! Connections (see `conn.rs`): a request head must arrive within `header_read_timeout` (10 s)
//! of the connection opening or of its first byte, a request body within `body_read_timeout`
//! (30 s) of its head (then 408 and the connection closes), and a keep-alive connection may
//! sit idle for `idle_timeout` (60 s). At most `max_connections` (512) are open at once; past
//! that the server stops accepting, so new connections wait in the kernel's listen backlog
//! until one closes (as nginx and Go's `LimitListener` do), rather than being refused.
//!
//! With the `conformance-fixtures` feature (test builds only), [`HttpConfig::anonymous`] can
//! replace step 3 for the official conformance suite, which cannot send credentials.

#![warn(missing_docs)]
#![deny(clippy::print_stdout)]

mod conn;
mod guard;
mod respond;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use waymark_core::{Refusal, Service, Transport};
use waymark_mcp::{HttpEndpoint, Inspected, Surface};

pub use guard::HostPolicy;
use respond::Body;

/// The default listen address (loopback only).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7410";
/// The default request body limit (the official SDKs' 4 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The default limit for receiving a request head: generous for any client, short enough
/// that a stalled one gives its connection back soon.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The default limit for receiving a request body once its head is in (4 MiB at 140 KB/s).
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The default keep-alive limit: longer than the SDK clients' own pool idle times (5 s for
/// httpx, 4 s for Node's undici), so the client closes first and never races a reused socket.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The default cap on open connections, below the usual 1024 open-file limit so the server
/// never runs out of descriptors for its database.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// How the HTTP server behaves.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Accepted `Host` and `Origin` values beyond loopback.
    pub hosts: HostPolicy,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// How long a request head (request line and headers) may take to arrive, from the
    /// connection opening or from the first byte after an idle spell; then the connection
    /// is closed without an answer.
    pub header_read_timeout: Duration,
    /// How long a request body may take to arrive once its head is in; then 408 and the
    /// connection is closed.
    pub body_read_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Connections open at once; past it, new connections wait to be accepted.
    pub max_connections: usize,
    /// Conformance-fixtures builds only: serve every MCP request as this principal, without
    /// an API key (the MCP conformance suite has no way to send one). [`HttpServer::bind`]
    /// refuses it unless `listen` is a loopback address. `/metrics` still needs a key.
    #[cfg(feature = "conformance-fixtures")]
    pub anonymous: Option<waymark_core::Principal>,
}

impl HttpConfig {
    /// Defaults for `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            hosts: HostPolicy::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            shutdown_grace: Duration::from_secs(10),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            #[cfg(feature = "conformance-fixtures")]
            anonymous: None,
        }
    }
}

struct App {
    service: Service,
    config: HttpConfig,
    all: HttpEndpoint,
    agent: HttpEndpoint,
    workflows: HttpEndpoint,
}

/// A bound, not yet running server.
pub struct HttpServer {
    listener: TcpListener,
    app: Arc<App>,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer").field("listener", &self.listener).finish_non_exhaustive()
    }
}

impl HttpServer {
    /// Binds the listen address.
    ///
    /// # Errors
    /// The address cannot be bound (or, in conformance-fixtures builds, anonymous access was
    /// asked for on an address that is not loopback).
    pub async fn bind(service: Service, config: HttpConfig) -> std::io::Result<Self> {
        #[cfg(feature = "conformance-fixtures")]
        if config.anonymous.is_some() && !config.listen.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("anonymous access is only served on loopback, not on {}", config.listen),
            ));
        }
        let listener = TcpListener::bind(config.listen).await?;
        let shutdown = CancellationToken::new();
        let endpoint = |surface| HttpEndpoint::new(service.clone(), surface, config.max_body_bytes, shutdown.clone());
        let app = Arc::new(App {
            all: endpoint(Surface::All),
            agent: endpoint(Surface::Agent),
            workflows: endpoint(Surface::Workflows),
            service,
            config,
        });
        Ok(Self { listener, app, shutdown })
    }

    /// The bound address (useful with port 0).
    ///
    /// # Errors
    /// The socket has no local address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` is cancelled, then stops accepting, lets in-flight requests finish
    /// (up to the configured grace period) and returns.
    ///
    /// # Errors
    /// Accepting failed in a way that cannot be retried.
    pub async fn run(self, stop: CancellationToken) -> std::io::Result<()> {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let config = &self.app.config;
        let limits = conn::Timeouts { header_read: config.header_read_timeout, idle: config.idle_timeout };
        let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
        // The watchdog in conn.rs times heads and idle spells. hyper's own header timer (off
        // without a timer) would also cut idle keep-alive connections at the header limit.
        let builder = hyper::server::conn::http1::Builder::new();
        let mut at_cap = false;
        loop {
            match (slots.available_permits(), at_cap) {
                (0, false) => {
                    at_cap = true;
                    tracing::warn!(
                        max_connections = config.max_connections,
                        "connection limit reached; new connections wait until one closes"
                    );
                }
                (0, true) => {}
                _ => at_cap = false,
            }
            let slot = tokio::select! {
                () = stop.cancelled() => break,
                slot = Arc::clone(&slots).acquire_owned() => slot.map_err(std::io::Error::other)?,
            };
            let (stream, peer) = tokio::select! {
                () = stop.cancelled() => break,
                accepted = accept(&self.listener) => match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let (cycle, phase) = conn::Cycle::start();
            let app = Arc::clone(&self.app);
            let requests = Arc::clone(&cycle);
            let service = hyper::service::service_fn(move |req| {
                let app = Arc::clone(&app);
                let cycle = Arc::clone(&requests);
                cycle.busy();
                async move {
                    let response = route(&app, req).await;
                    Ok::<_, std::convert::Infallible>(response.map(|body| conn::Handover::new(body, cycle)))
                }
            });
            let io = TokioIo::new(conn::Tracked::new(stream, cycle));
            let connection = graceful.watch(builder.serve_connection(io, service));
            tokio::spawn(async move {
                let _slot = slot;
                tokio::select! {
                    served = connection => if let Err(err) = served {
                        tracing::debug!(%peer, error = %err, "connection ended with an error");
                    },
                    expired = conn::expiry(phase, limits) => {
                        tracing::debug!(%peer, phase = ?expired, "closed a stalled or idle connection");
                    }
                }
            });
        }
        self.shutdown.cancel();
        let grace = self.app.config.shutdown_grace;
        if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
            tracing::warn!(grace_seconds = grace.as_secs(), "in-flight requests did not finish in time");
        }
        Ok(())
    }
}

/// Accepts one connection with `TCP_NODELAY` set.
async fn accept(listener: &TcpListener) -> std::io::Result<(TcpStream, SocketAddr)> {
    let (stream, peer) = listener.accept().await?;
    stream.set_nodelay(true)?;
    Ok((stream, peer))
}

async fn route(app: &App, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    match path.as_str() {
        "/healthz" => respond::json(StatusCode::OK, &serde_json::json!({ "status": "ok" })),
        "/readyz" => readyz(app).await,
        "/metrics" => metrics(app, &req).await,
        "/mcp" => mcp(app, &app.all, req).await,
        "/mcp/agent" => mcp(app, &app.agent, req).await,
        "/mcp/workflows" => mcp(app, &app.workflows, req).await,
        _ => respond::json(StatusCode::NOT_FOUND, &serde_json::json!({ "error": "not_found" })),
    }
}

async fn readyz(app: &App) -> Response<Body> {
    let r = app.service.readiness().await;
    let status = if r.is_ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    respond::json(
        status,
        &serde_json::json!({
            "status": if r.is_ready() { "ready" } else { "not_ready" },
            "database": if r.database_reachable { "reachable" } else { "unreachable" },
            "pending_migrations": if r.database_reachable { Some(r.pending_migrations) } else { None },
            "backend": app.service.backend(),
            "database_id": app.service.database_id().await.ok(),
            "breakers": app.service.breakers(),
        }),
    )
}

/// `/metrics`: OpenMetrics text for any valid API key. It is served on the same listener
/// behind the same bearer auth so there is one port to expose and no unauthenticated surface;
/// its labels (tool, outcome, service) carry no tenant data, so any workspace's key may read it.
async fn metrics(app: &App, req: &Request<Incoming>) -> Response<Body> {
    if req.method() != Method::GET {
        return respond::method_not_allowed_get();
    }
    if let Err(err) = match guard::api_key(req.headers()) {
        Some(key) => app.service.authenticate(key, Transport::Http).await.map(|_| ()),
        None => Err(waymark_core::AuthError::Missing),
    } {
        return respond::unauthorized(err);
    }
    respond::openmetrics(app.service.metrics_text())
}

async fn mcp(app: &App, endpoint: &HttpEndpoint, req: Request<Incoming>) -> Response<Body> {
    // The body is timed from its head, authentication included.
    let body_deadline = tokio::time::Instant::now() + app.config.body_read_timeout;
    if req.method() != Method::POST {
        return respond::method_not_allowed();
    }
    if let Err(refusal) = app.config.hosts.check(req.headers()) {
        tracing::warn!(reason = %refusal, "refused by Host/Origin policy");
        return respond::forbidden_origin(&refusal);
    }
    let principal = match guard::api_key(req.headers()) {
        Some(key) => app.service.authenticate(key, Transport::Http).await,
        None => Err(waymark_core::AuthError::Missing),
    };
    #[cfg(feature = "conformance-fixtures")]
    let principal = match &app.config.anonymous {
        Some(anonymous) => Ok(anonymous.clone()),
        None => principal,
    };
    let principal = match principal {
        Ok(p) => p,
        Err(err) => return respond::unauthorized(err),
    };
    let mut response = authenticated(app, endpoint, req, &principal, body_deadline).await;
    if let Some(status) = app.service.rate_limit_status(&principal) {
        respond::rate_limit_headers(&mut response, status);
    }
    response
}

/// Steps 4 onwards of an MCP request whose caller is known.
async fn authenticated(
    app: &App,
    endpoint: &HttpEndpoint,
    req: Request<Incoming>,
    principal: &waymark_core::Principal,
    body_deadline: tokio::time::Instant,
) -> Response<Body> {
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > app.config.max_body_bytes) {
        return respond::too_large(app.config.max_body_bytes);
    }
    let (mut parts, body) = req.into_parts();
    let bytes =
        match tokio::time::timeout_at(body_deadline, Limited::new(body, app.config.max_body_bytes).collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(_)) => return respond::too_large(app.config.max_body_bytes),
            Err(_) => return respond::body_timeout(app.config.body_read_timeout),
        };
    // rmcp answers a body that is not a JSON-RPC message with 415 and plain text; answer it
    // here as JSON-RPC says (-32700, -32600), unless rmcp refuses the headers first (406, 415).
    let incoming = if waymark_mcp::reads_body(&parts.headers) {
        match waymark_mcp::inspect(&bytes) {
            Ok(incoming) => Some(incoming),
            Err(fault) => return respond::malformed(&fault),
        }
    } else {
        None
    };
    if let Some(Inspected::Request { id, method, tool: Some(tool) }) = incoming
        && method == "tools/call"
    {
        match app.service.admit(principal, &tool).await {
            Ok(admission) => {
                parts.extensions.insert(admission);
            }
            Err(Refusal::Denied(err)) => {
                let tool = app.service.catalogue().get(&tool);
                let missing = tool.filter(|t| !principal.has_scope(t.scope)).map(|t| t.scope.as_str());
                return respond::refused(id, &err, missing);
            }
            // An unknown tool is the adapter's to answer (JSON-RPC -32602).
            Err(Refusal::UnknownTool(_)) => {}
        }
    }
    parts.extensions.insert(principal.clone());
    let forwarded = Request::from_parts(parts, Full::new(bytes));
    endpoint.handle(forwarded).await.map(|b| b.boxed())
}

#[cfg(test)]
mod tests {
    use super::accept;

    #[tokio::test]
    async fn accepted_sockets_have_nodelay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move { tokio::net::TcpStream::connect(addr).await.unwrap() });
        let (stream, _) = accept(&listener).await.unwrap();
        assert!(stream.nodelay().unwrap());
        drop(client.await.unwrap());
    }
}
