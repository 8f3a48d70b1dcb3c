//! The tool machinery through real transports: 429 with Retry-After, allow-lists in
//! `tools/list`, `/metrics`, breakers in `/readyz`, and cancellation by a dropped HTTP
//! connection and by `notifications/cancelled` on the stdio framing.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use waymark_core::Transport;
use waymark_core::audit::AuditQuery;
use waymark_testkit::{Backend, eventually};

use crate::support::{Era, HttpHarness, http};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after() {
    let h = HttpHarness::start(Backend::Sqlite).await;
    let key = h.key_with("default", "read", 2, None).await;
    let mut c = h.client(&key, Era::Legacy("2025-11-25"));
    // list_tools costs no token; two calls do.
    c.list_tools().await;
    assert_eq!(c.call("plan_list", json!({})).await.http.status, 200);
    assert_eq!(c.call("plan_list", json!({})).await.http.status, 200);
    let limited = c.call("plan_list", json!({})).await;
    assert_eq!(limited.http.status, 429, "{}", limited.http.body);
    assert_eq!(limited.http.header("retry-after"), Some("30"));
    assert_eq!(limited.message["error"]["data"]["retry_after_seconds"], 30);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_lists_filter_tools_list_privately() {
    let h = HttpHarness::start(Backend::Sqlite).await;
    let narrow = h.key_with("default", "read,write", 100, Some(vec!["plan_list".into(), "plan_get".into()])).await;
    let mut c = h.client(&narrow, Era::Modern);
    let listed = c.request("tools/list", json!({}), None).await;
    let names: Vec<&str> =
        listed.result()["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["plan_get", "plan_list"]);
    assert_eq!(listed.result()["cacheScope"], "private");
    let refused = c
        .request("tools/call", json!({ "name": "plan_create", "arguments": { "title": "x" } }), Some("plan_create"))
        .await;
    assert_eq!(refused.http.status, 403);
    assert_eq!(
        refused.message["error"]["message"],
        "Permission denied: API key does not have access to tool 'plan_create'"
    );
    let full = h.key("default", "read,write").await;
    let everything = h.client(&full, Era::Modern).request("tools/list", json!({}), None).await;
    assert_eq!(everything.result()["cacheScope"], "public");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_a_key_and_readyz_shows_breakers() {
    let h = HttpHarness::start(Backend::Sqlite).await;
    let key = h.key("default", "read").await;
    h.client(&key, Era::Modern).call("plan_list", json!({})).await;
    assert_eq!(http(h.addr, "GET", "/metrics", &[], b"").await.status, 401);
    let bearer = format!("Bearer {key}");
    let metrics = http(h.addr, "GET", "/metrics", &[("Authorization", &bearer)], b"").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.header("content-type").unwrap().starts_with("application/openmetrics-text"));
    assert!(
        metrics.body.contains(r#"waymark_tool_calls_total{tool="plan_list",outcome="success"} 1"#),
        "{}",
        metrics.body
    );
    assert!(metrics.body.contains(r#"waymark_circuit_breaker_state{service="database"} 0"#));
    assert_eq!(http(h.addr, "POST", "/metrics", &[("Authorization", &bearer)], b"").await.status, 405);
    let ready = http(h.addr, "GET", "/readyz", &[], b"").await.json();
    assert_eq!(ready["breakers"], json!([{ "service": "database", "state": "closed", "failures": 0, "threshold": 5 }]));
    h.finish().await;
}

async fn outcomes(h: &HttpHarness, tool: &str) -> Vec<String> {
    h.t.service.flush_audit().await;
    let rows =
        h.t.service.audit_tail(&AuditQuery { tool: Some(tool.into()), limit: 10, ..Default::default() }).await.unwrap();
    rows.into_iter().map(|r| r.outcome).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_http_connection_cancels_the_call_and_writes_nothing() {
    let h = HttpHarness::start(Backend::Sqlite).await;
    let key = h.key("default", "read,write").await;
    h.t.service.park_commits(true);
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "plan_create", "arguments": { "title": "Dropped", "slug": "dropped" } } }).to_string();
    let mut socket = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-11-25\r\nAuthorization: Bearer {key}\r\nContent-Length: {}\r\n\r\n",
        h.addr,
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(body.as_bytes()).await.unwrap();
    eventually("plan_create reaches its commit", || async { h.t.service.parked_commits() >= 1 }).await;
    drop(socket);
    // The audit writer's own commits are parked too, so watch the in-memory metrics.
    let cancelled = r#"waymark_tool_calls_total{tool="plan_create",outcome="cancelled"} 1"#;
    for _ in 0..50 {
        if h.t.service.metrics_text().contains(cancelled) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    h.t.service.park_commits(false);
    assert_eq!(outcomes(&h, "plan_create").await, ["cancelled"], "the disconnect cancelled the handler");
    let me = h.t.service.owner_principal("default", Transport::Library).await.unwrap();
    let list = h.t.service.plan_list(&me, Default::default()).await.unwrap();
    assert_eq!(list.total, 0, "nothing was written");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_cancelled_on_stdio_cancels_the_call() {
    let h = HttpHarness::start(Backend::Sqlite).await;
    let service = h.t.service.clone();
    let me = service.owner_principal("default", Transport::Stdio).await.unwrap();
    let (client, server) = tokio::io::duplex(64 * 1024);
    let (server_read, server_write) = tokio::io::split(server);
    let serving = tokio::spawn(waymark_mcp::serve_io(service.clone(), me.clone(), server_read, server_write));
    let (client_read, mut client_write) = tokio::io::split(client);
    let mut lines = BufReader::new(client_read).lines();
    let mut send = async |v: Value| {
        client_write.write_all(format!("{v}\n").as_bytes()).await.unwrap();
    };
    send(json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "e2e", "version": "1" } } })).await;
    let init: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(init["id"], 1);
    send(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" })).await;
    service.park_commits(true);
    send(json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": { "name": "plan_create", "arguments": { "title": "Cancelled", "slug": "cancelled" } } })).await;
    // Cancel only once the call has written and waits at its commit.
    eventually("plan_create reaches its commit", || async { service.parked_commits() == 1 }).await;
    send(json!({ "jsonrpc": "2.0", "method": "notifications/cancelled", "params": { "requestId": 2, "reason": "user stopped" } })).await;
    send(json!({ "jsonrpc": "2.0", "id": 3, "method": "ping" })).await;
    let next: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(next["id"], 3, "no response is sent for the cancelled request: {next}");
    // The commit is still parked, so only the cancellation can end the call.
    eventually("the cancelled call is dropped", || async { service.parked_commits() == 0 }).await;
    service.park_commits(false);
    let query = AuditQuery { tool: Some("plan_create".into()), limit: 5, ..Default::default() };
    eventually("the cancelled call is audited", || async {
        service.flush_audit().await;
        !service.audit_tail(&query).await.unwrap().is_empty()
    })
    .await;
    let rows = service.audit_tail(&query).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.outcome.as_str()).collect::<Vec<_>>(), ["cancelled"]);
    assert_eq!(rows[0].transport, "stdio");
    assert_eq!(service.plan_list(&me, Default::default()).await.unwrap().total, 0);
    drop(client_write);
    drop(lines);
    let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
    h.finish().await;
}
