//! The end-to-end harness: a real HTTP server on a fresh database, a small HTTP/1.1 client,
//! an MCP client that speaks either protocol era and checks every `structuredContent` against
//! its tool's `outputSchema`, and the `waymark` binary for stdio and CLI runs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use waymark_mcp_http::{HttpConfig, HttpServer};
use waymark_testkit::{Backend, TestService};

/// A response as the client saw it.
#[derive(Clone, Debug)]
pub(crate) struct HttpResponse {
    /// Status code.
    pub(crate) status: u16,
    /// Headers, names lowercased.
    pub(crate) headers: HashMap<String, String>,
    /// Body text.
    pub(crate) body: String,
}

impl HttpResponse {
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// A header's value.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// Sends one HTTP/1.1 request (with `Connection: close`) and reads the whole response.
pub(crate) async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request_head(addr, method, path, headers, body.len()).as_bytes()).await.expect("write head");
    // The server may answer (413) before reading the whole body and close; ignore write errors.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    parse_response(&raw).0
}

/// Like [`http`] for a server that may die mid-request (the crash tests): a failed connection,
/// a failed read or a response cut short is an `Err` saying what happened, never a panic.
pub(crate) async fn try_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse, String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    stream
        .write_all(request_head(addr, method, path, headers, body.len()).as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    stream.write_all(body).await.map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.map_err(|e| format!("read: {e}"))?;
    match parse_response(&raw) {
        (response, true) => Ok(response),
        (_, false) => Err(format!("cut-off response: {:?}", String::from_utf8_lossy(&raw))),
    }
}

fn request_head(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], length: usize) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {length}\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// Parses a raw response; the flag says whether it arrived whole (a status line, and the body
/// its `Content-Length` or final chunk promises).
fn parse_response(raw: &[u8]) -> (HttpResponse, bool) {
    let text = String::from_utf8_lossy(raw);
    let (head, body, has_head) = match text.split_once("\r\n\r\n") {
        Some((head, body)) => (head, body, true),
        None => (&*text, "", false),
    };
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers.get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let complete = has_head
        && status != 0
        && match headers.get("content-length").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => body.len() >= n,
            None => !chunked || body.ends_with("0\r\n\r\n"),
        };
    let body = if chunked { dechunk(body) } else { body.to_owned() };
    (HttpResponse { status, headers, body }, complete)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// An HTTP server on a fresh database, running in this process.
#[derive(Debug)]
pub(crate) struct HttpHarness {
    /// The service behind the server.
    pub(crate) t: TestService,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl HttpHarness {
    /// Starts a server on `127.0.0.1:0`.
    pub(crate) async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts a server on `127.0.0.1:0` with `configure`'s changes to the defaults.
    pub(crate) async fn start_with(backend: Backend, configure: impl FnOnce(&mut HttpConfig)) -> Self {
        let t = TestService::start(backend).await;
        let mut config = HttpConfig::new("127.0.0.1:0".parse().expect("addr"));
        configure(&mut config);
        let server = HttpServer::bind(t.service.clone(), config).await.expect("bind");
        let addr = server.local_addr().expect("addr");
        let stop = CancellationToken::new();
        let run = stop.clone();
        let task = tokio::spawn(async move {
            server.run(run).await.expect("server runs");
        });
        Self { t, addr, stop, task }
    }

    /// A new API key for `workspace` (created if needed) with `scopes`.
    pub(crate) async fn key(&self, workspace: &str, scopes: &str) -> String {
        self.key_with(workspace, scopes, 10_000, None).await
    }

    /// A new API key with a rate limit and an optional tool allow-list.
    pub(crate) async fn key_with(
        &self,
        workspace: &str,
        scopes: &str,
        rate: u32,
        tools: Option<Vec<String>>,
    ) -> String {
        self.t.service.ensure_workspace(workspace).await.expect("workspace");
        let created = self
            .t
            .service
            .create_key(waymark_core::auth::NewKey {
                workspace: workspace.into(),
                name: format!("{workspace}-{scopes}"),
                scopes: waymark_core::parse_scopes(scopes).expect("scopes"),
                expires_in_days: None,
                rate_limit_per_minute: rate,
                tools,
            })
            .await
            .expect("key");
        created.key
    }

    /// An MCP client with `key` speaking `era`.
    pub(crate) fn client(&self, key: &str, era: Era) -> McpClient {
        McpClient { addr: self.addr, path: "/mcp".into(), key: Some(key.to_owned()), era, next_id: 1, schemas: None }
    }

    /// Stops the server and drops the database.
    pub(crate) async fn finish(self) {
        self.stop.cancel();
        let _ = self.task.await;
        self.t.finish().await;
    }
}

/// Which MCP protocol era a client speaks (MCP 2026-07-28 "Versioning").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Era {
    /// `2025-06-18`/`2025-11-25`: `initialize` handshake, `MCP-Protocol-Version` header.
    Legacy(&'static str),
    /// `2026-07-28`: per-request `_meta`, `Mcp-Method`/`Mcp-Name` headers.
    Modern,
}

/// A minimal MCP client over HTTP.
#[derive(Debug)]
pub(crate) struct McpClient {
    addr: SocketAddr,
    /// Endpoint path.
    pub(crate) path: String,
    key: Option<String>,
    era: Era,
    next_id: u64,
    schemas: Option<HashMap<String, Value>>,
}

/// The outcome of a JSON-RPC request.
#[derive(Clone, Debug)]
pub(crate) struct Rpc {
    /// The HTTP response.
    pub(crate) http: HttpResponse,
    /// The JSON-RPC message.
    pub(crate) message: Value,
}

impl Rpc {
    /// `result`, panicking on a JSON-RPC error.
    pub(crate) fn result(&self) -> &Value {
        assert!(self.message.get("error").is_none(), "unexpected error: {}", self.message);
        &self.message["result"]
    }
}

impl McpClient {
    /// Sends a request for `method` with `params`.
    pub(crate) async fn request(&mut self, method: &str, params: Value, name: Option<&str>) -> Rpc {
        let id = self.next_id;
        self.next_id += 1;
        let mut params = params;
        let version = match self.era {
            Era::Legacy(v) => v,
            Era::Modern => {
                params["_meta"] = json!({
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                    "io.modelcontextprotocol/clientInfo": { "name": "waymark-e2e", "version": "1" }
                });
                "2026-07-28"
            }
        };
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string();
        let auth = self.key.as_ref().map(|k| format!("Bearer {k}"));
        let mut headers = vec![("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")];
        if method != "initialize" {
            headers.push(("MCP-Protocol-Version", version));
        }
        if self.era == Era::Modern {
            headers.push(("Mcp-Method", method));
            if let Some(name) = name {
                headers.push(("Mcp-Name", name));
            }
        }
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth));
        }
        let http = http(self.addr, "POST", &self.path, &headers, body.as_bytes()).await;
        let message = sse_or_json(&http.body);
        Rpc { http, message }
    }

    /// `initialize` (legacy) or `server/discover` (modern).
    pub(crate) async fn handshake(&mut self) -> Rpc {
        match self.era {
            Era::Legacy(version) => {
                let params = json!({
                    "protocolVersion": version,
                    "capabilities": {},
                    "clientInfo": { "name": "waymark-e2e", "version": "1" }
                });
                self.request("initialize", params, None).await
            }
            Era::Modern => self.request("server/discover", json!({}), None).await,
        }
    }

    /// `tools/list`, remembering each tool's output schema.
    pub(crate) async fn list_tools(&mut self) -> Vec<Value> {
        let rpc = self.request("tools/list", json!({}), None).await;
        let tools = rpc.result()["tools"].as_array().cloned().unwrap_or_default();
        self.schemas = Some(
            tools.iter().map(|t| (t["name"].as_str().unwrap_or("").to_owned(), t["outputSchema"].clone())).collect(),
        );
        tools
    }

    /// `tools/call`; the `structuredContent` of every result is validated against the tool's
    /// `outputSchema`. Returns the raw response for status checks.
    pub(crate) async fn call(&mut self, tool: &str, arguments: Value) -> Rpc {
        if self.schemas.is_none() {
            self.list_tools().await;
        }
        let rpc = self.request("tools/call", json!({ "name": tool, "arguments": arguments }), Some(tool)).await;
        if let Some(structured) = rpc.message["result"].get("structuredContent") {
            let schema = self.schemas.as_ref().and_then(|s| s.get(tool)).cloned().expect("tool listed");
            let validator = jsonschema::validator_for(&schema).expect("output schema compiles");
            let errors: Vec<String> = validator.iter_errors(structured).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{tool} structuredContent breaks its outputSchema: {errors:?}\n{structured}");
        }
        rpc
    }

    /// `tools/call` expecting a tool result; returns `structuredContent`.
    pub(crate) async fn tool(&mut self, tool: &str, arguments: Value) -> Value {
        let rpc = self.call(tool, arguments).await;
        assert_eq!(rpc.http.status, 200, "{tool}: {}", rpc.http.body);
        rpc.result()["structuredContent"].clone()
    }
}

/// Reads a JSON-RPC message from a JSON body or the last `data:` line of an SSE body.
fn sse_or_json(body: &str) -> Value {
    if let Ok(v) = serde_json::from_str(body) {
        return v;
    }
    body.lines()
        .rev()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v.get("id").is_some())
        .unwrap_or(Value::Null)
}

/// The `waymark` binary: `$WAYMARK_BIN`, or built once with cargo.
pub(crate) fn waymark_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("WAYMARK_BIN") {
            let bin = PathBuf::from(bin);
            return bin.canonicalize().unwrap_or(bin);
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-q", "-p", "waymark", "--bin", "waymark"])
            .current_dir(&root)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p waymark failed");
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        target.join("debug").join("waymark")
    })
    .clone()
}

/// The stderr of a spawned `waymark serve`, read line by line on a thread.
pub(crate) struct ServeStderr {
    /// Where it listens, from its "MCP over HTTP on http://ADDR/mcp" line.
    pub(crate) addr: SocketAddr,
    /// The lines read so far.
    pub(crate) seen: Vec<String>,
    /// The lines still to come.
    pub(crate) rest: std::sync::mpsc::Receiver<String>,
}

/// Takes the piped stderr of a spawned `waymark serve` and waits (30 s) until it listens.
///
/// # Panics
/// When stderr was not piped, or the server does not log its address in time.
pub(crate) fn wait_until_listening(child: &mut std::process::Child) -> ServeStderr {
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};

    let stderr = child.stderr.take().expect("serve's stderr is piped");
    let (lines_tx, rest) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = rest
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("waymark serve did not listen within 30 s:\n{}", seen.join("\n")));
        let addr = line
            .split("MCP over HTTP on http://")
            .nth(1)
            .map(|rest| rest.split('/').next().unwrap_or_default().parse::<SocketAddr>().expect("a listen address"));
        seen.push(line);
        if let Some(addr) = addr {
            return ServeStderr { addr, seen, rest };
        }
    }
}
