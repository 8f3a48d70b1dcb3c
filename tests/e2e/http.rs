//! MCP over HTTP: auth, scopes and tenancy for every tool; both protocol eras; the HTTP
//! refusals (405, 403, 401, 413, 404).

use crate::support::{Era, HttpHarness, http};
use serde_json::{Value, json};
use waymark_testkit::Backend;

/// Arguments that name alpha's objects (plan `secret`, session `session`, workflow `alpha-wf`),
/// for every tool that addresses one. A new tool must be added here, so the auth and tenancy
/// checks below cover every tool.
fn probe(tool: &str, session: &str) -> Option<Value> {
    let args = match tool {
        "plan_create"
        | "plan_list"
        | "session_start"
        | "session_list"
        | "template_list"
        | "template_preview"
        | "template_create_plan"
        | "list_workflows"
        | "start_workflow" => return None,
        "plan_get" | "plan_archive" | "plan_publish" => json!({ "slug": "secret" }),
        "plan_update_status" => json!({ "slug": "secret", "status": "active" }),
        "phase_get" => json!({ "plan_slug": "secret", "phase": 1 }),
        "phase_update_status" => json!({ "plan_slug": "secret", "phase": 1, "status": "skipped" }),
        "phase_add_checkpoint" => json!({ "plan_slug": "secret", "phase": 1, "note": "n" }),
        "phase_add" => json!({ "plan_slug": "secret", "name": "Two" }),
        "task_update" => json!({ "plan_slug": "secret", "phase": 1, "task_index": 0, "status": "completed" }),
        "task_toggle" => json!({ "plan_slug": "secret", "phase": 1, "task_index": 0 }),
        "task_add" => json!({ "plan_slug": "secret", "phase": 1, "name": "b" }),
        "session_log" => json!({ "session_id": session, "message": "m" }),
        "session_artifact" => json!({ "session_id": session, "path": "p", "action": "created" }),
        "session_handoff" => json!({ "session_id": session, "summary": "s" }),
        "session_resume" | "session_replay" | "session_heartbeat" => json!({ "session_id": session }),
        "session_end" => json!({ "session_id": session, "status": "failed" }),
        "session_continue" => json!({ "previous_session_id": session, "agent_type": "thief" }),
        "state_set" => json!({ "plan_slug": "secret", "key": "k", "value": "stolen" }),
        "state_get" | "state_delete" => json!({ "plan_slug": "secret", "key": "k" }),
        "state_list" => json!({ "plan_slug": "secret" }),
        "get_workflow_result" | "get_workflow_history" => json!({ "workflow_id": "alpha-wf" }),
        other => panic!("add `{other}` to the e2e auth table (tests/e2e/http.rs)"),
    };
    Some(args)
}

/// Arguments valid for any tool's schema.
fn minimal(tool: &str, session: &str) -> Value {
    let variables = json!({ "issue_id": "BUG-1", "component": "core" });
    match tool {
        "plan_create" => json!({ "title": "Probe" }),
        "session_start" => json!({ "agent_type": "probe" }),
        "template_preview" | "template_create_plan" => json!({ "template": "bug-fix", "variables": variables }),
        "start_workflow" => json!({ "workflow": "simple" }),
        other => probe(other, session).unwrap_or_else(|| json!({})),
    }
}

async fn every_tool_checks_key_scope_and_workspace(backend: Backend) {
    let h = HttpHarness::start(backend).await;
    let alpha = h.key("alpha", "read,write").await;
    let beta = h.key("beta", "read,write").await;
    let reader = h.key("alpha", "read").await;
    let mut owner = h.client(&alpha, Era::Modern);
    owner
        .tool(
            "plan_create",
            json!({ "title": "Secret", "slug": "secret", "phases": [{ "name": "One", "tasks": ["a"] }] }),
        )
        .await;
    owner.tool("state_set", json!({ "plan_slug": "secret", "key": "k", "value": "alpha's" })).await;
    let started = owner.tool("session_start", json!({ "agent_type": "alpha", "plan_slug": "secret" })).await;
    let session = started["session"]["session_id"].as_str().unwrap().to_owned();
    owner.tool("start_workflow", json!({ "workflow": "simple", "instance_id": "alpha-wf" })).await;
    let tools = owner.list_tools().await;
    assert_eq!(tools.len(), h.t.service.catalogue().tools().len());

    for tool in &tools {
        let name = tool["name"].as_str().unwrap();
        let args = minimal(name, &session);
        let scope = h.t.service.catalogue().get(name).unwrap().scope.as_str();

        let no_key = crate::support::http(
            h.addr,
            "POST",
            "/mcp",
            &[("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")],
            json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": name, "arguments": args } })
                .to_string()
                .as_bytes(),
        )
        .await;
        assert_eq!(no_key.status, 401, "{name} without a key");
        assert_eq!(no_key.header("www-authenticate"), Some(r#"Bearer realm="mcp", error="invalid_token""#));

        let call = json!({ "name": name, "arguments": args });
        let wrong = h
            .client("wmk_000000000000000000000000000000000000000000x", Era::Legacy("2025-11-25"))
            .request("tools/call", call.clone(), Some(name))
            .await;
        assert_eq!(wrong.http.status, 401, "{name} with an unknown key");

        let read_only = h.client(&reader, Era::Legacy("2025-06-18")).request("tools/call", call, Some(name)).await;
        if scope == "write" {
            assert_eq!(read_only.http.status, 403, "{name} with a read key: {}", read_only.http.body);
            assert_eq!(
                read_only.http.header("www-authenticate"),
                Some(r#"Bearer realm="mcp", error="insufficient_scope", scope="write""#)
            );
            assert!(read_only.message["error"]["message"].as_str().unwrap().contains("missing scope 'write'"));
        } else {
            assert_eq!(read_only.http.status, 200, "{name} with a read key");
        }

        if let Some(args) = probe(name, &session) {
            let other = h.client(&beta, Era::Modern).tool(name, args).await;
            if h.t.service.catalogue().get(name).unwrap().category == waymark_core::Category::Workflow {
                // The seed's contract: a workflow another workspace owns is `found: false`.
                assert_eq!(other["found"], false, "{name} on another workspace's workflow: {other}");
            } else {
                assert_eq!(other["code"], "not_found", "{name} on another workspace's plan: {other}");
                assert_eq!(other["success"], false);
            }
        }
    }
    // alpha's plan, state and session are as they were.
    let plan = owner.tool("plan_get", json!({ "slug": "secret" })).await;
    assert_eq!(plan["plan"]["status"], "draft");
    assert_eq!(plan["plan"]["phases"][0]["status"], "pending");
    assert_eq!(owner.tool("state_get", json!({ "plan_slug": "secret", "key": "k" })).await["value"], "alpha's");
    let replay = owner.tool("session_replay", json!({ "session_id": session })).await;
    assert_eq!(replay["replay_context"]["status"], "active");
    assert_eq!(replay["replay_context"]["total_actions"], 0);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_checks_key_scope_and_workspace_sqlite() {
    every_tool_checks_key_scope_and_workspace(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_checks_key_scope_and_workspace_postgres() {
    every_tool_checks_key_scope_and_workspace(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_protocol_eras_are_served_without_sessions() {
    let h = HttpHarness::start(Backend::Sqlite).await;
    let key = h.key("default", "read,write").await;
    for version in ["2025-06-18", "2025-11-25"] {
        let mut c = h.client(&key, Era::Legacy(version));
        let init = c.handshake().await;
        assert_eq!(init.result()["protocolVersion"], version);
        assert_eq!(init.result()["serverInfo"]["name"], "waymark");
        assert_eq!(init.result()["capabilities"], json!({ "tools": {} }));
        assert!(init.http.header("mcp-session-id").is_none(), "no protocol sessions");
        assert_eq!(c.list_tools().await.len(), 34);
    }
    let mut modern = h.client(&key, Era::Modern);
    let discover = modern.handshake().await;
    assert_eq!(discover.result()["supportedVersions"], json!(["2026-07-28", "2025-11-25", "2025-06-18"]));
    let created = modern.tool("plan_create", json!({ "title": "Modern", "slug": "modern" })).await;
    assert_eq!(created["plan"]["slug"], "modern");
    // Header and body must agree on 2026-07-28 (SEP-2243).
    let mismatch = http(
        h.addr,
        "POST",
        "/mcp",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("Authorization", &format!("Bearer {key}")),
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "plan_get"),
        ],
        json!({
            "jsonrpc": "2.0", "id": 9, "method": "tools/call",
            "params": { "name": "plan_list", "arguments": {}, "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}
            } }
        })
        .to_string()
        .as_bytes(),
    )
    .await;
    assert_eq!(mismatch.status, 400, "{}", mismatch.body);
    // Prompts and resources are not offered.
    let prompts = modern.request("prompts/list", json!({}), None).await;
    assert_eq!(prompts.message["error"]["code"], -32601);
    let unknown = modern.call("plan_delete", json!({})).await;
    assert_eq!(unknown.message["error"]["code"], -32602);
    assert_eq!(unknown.message["error"]["message"], "Unknown tool: plan_delete");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_lifecycle_over_http_reports_errors_agents_can_act_on() {
    let h = HttpHarness::start(Backend::Sqlite).await;
    let key = h.key("default", "read,write").await;
    let mut c = h.client(&key, Era::Modern);
    c.tool(
        "plan_create",
        json!({ "title": "Web", "slug": "web", "phases": [{ "name": "A", "tasks": ["t1"] }, { "name": "B", "dependencies": [1] }] }),
    )
    .await;
    let early =
        c.tool("phase_update_status", json!({ "plan_slug": "web", "phase": "A", "status": "in_progress" })).await;
    assert_eq!(early["code"], "invalid_transition");
    c.tool("plan_publish", json!({ "slug": "web" })).await;
    let blocked =
        c.tool("phase_update_status", json!({ "plan_slug": "web", "phase": 2, "status": "in_progress" })).await;
    assert_eq!(blocked["code"], "dependency_not_met");
    assert_eq!(blocked["details"]["dependency_blockers"][0]["phase_name"], "A");
    c.tool("task_toggle", json!({ "plan_slug": "web", "phase": 1, "task_index": 0 })).await;
    c.tool("phase_update_status", json!({ "plan_slug": "web", "phase": 1, "status": "completed" })).await;
    let done = c.tool("phase_update_status", json!({ "plan_slug": "web", "phase": 2, "status": "completed" })).await;
    assert_eq!(done["plan"]["status"], "completed");
    let bad = c.call("plan_get", json!({ "slug": 7, "extra": true })).await;
    assert_eq!(bad.result()["isError"], true);
    assert_eq!(bad.result()["structuredContent"]["code"], "validation_error");
    assert_eq!(bad.result()["content"][0]["text"], "unknown argument: extra; slug must be a string");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_refusals() {
    let h = HttpHarness::start(Backend::Sqlite).await;
    let key = h.key("default", "read,write").await;
    let bearer = format!("Bearer {key}");
    let json_headers = |extra: Vec<(&'static str, String)>| {
        let mut v: Vec<(&str, String)> = vec![
            ("Content-Type", "application/json".into()),
            ("Accept", "application/json, text/event-stream".into()),
            ("Authorization", bearer.clone()),
            ("MCP-Protocol-Version", "2025-11-25".into()),
        ];
        v.extend(extra);
        v
    };
    let list = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }).to_string();
    let send = |headers: Vec<(&'static str, String)>, method: &'static str, path: &'static str, body: Vec<u8>| {
        let addr = h.addr;
        async move {
            let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            http(addr, method, path, &refs, &body).await
        }
    };

    for method in ["GET", "DELETE", "PUT"] {
        let r = send(json_headers(vec![]), method, "/mcp", vec![]).await;
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("POST"));
    }
    let evil_origin =
        send(json_headers(vec![("Origin", "http://evil.example".into())]), "POST", "/mcp", list.clone().into_bytes())
            .await;
    assert_eq!(evil_origin.status, 403);
    let evil_host =
        send(json_headers(vec![("Host", "evil.example".into())]), "POST", "/mcp", list.clone().into_bytes()).await;
    assert_eq!(evil_host.status, 403);
    let local_origin =
        send(json_headers(vec![("Origin", "http://localhost:5173".into())]), "POST", "/mcp", list.clone().into_bytes())
            .await;
    assert_eq!(local_origin.status, 200);
    let x_api_key = send(
        vec![
            ("Content-Type", "application/json".into()),
            ("Accept", "application/json, text/event-stream".into()),
            ("X-API-Key", key.clone()),
        ],
        "POST",
        "/mcp",
        list.clone().into_bytes(),
    )
    .await;
    assert_eq!(x_api_key.status, 200, "X-API-Key is accepted like the original");

    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    let too_big = send(json_headers(vec![]), "POST", "/mcp", huge).await;
    assert_eq!(too_big.status, 413);

    for path in ["/", "/.well-known/oauth-protected-resource", "/register", "/metrics-nope"] {
        assert_eq!(send(vec![], "GET", path, vec![]).await.status, 404, "{path}");
    }
    assert_eq!(send(vec![], "GET", "/healthz", vec![]).await.json()["status"], "ok");
    let ready = send(vec![], "GET", "/readyz", vec![]).await;
    assert_eq!((ready.status, ready.json()["status"].clone()), (200, json!("ready")));

    // Revocation: the verified key is cached (at most 5 s), then refused.
    let view = h.t.service.list_keys(Some("default")).await.unwrap();
    h.t.service.revoke_key(&view[0].id).await.unwrap();
    h.t.service.clear_auth_cache();
    let revoked = send(json_headers(vec![]), "POST", "/mcp", list.into_bytes()).await;
    assert_eq!(revoked.status, 401);
    assert_eq!(revoked.json()["error"]["message"], "API key has been revoked");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surfaces_serve_their_subsets() {
    let h = HttpHarness::start(Backend::Sqlite).await;
    let key = h.key("default", "read,write").await;
    let mut agent = h.client(&key, Era::Legacy("2025-11-25"));
    agent.path = "/mcp/agent".into();
    assert_eq!(agent.list_tools().await.len(), 30);
    let mut workflows = h.client(&key, Era::Legacy("2025-11-25"));
    workflows.path = "/mcp/workflows".into();
    let names: Vec<_> = workflows.list_tools().await.iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["get_workflow_history", "get_workflow_result", "list_workflows", "start_workflow"]);
    let refused = agent.request("tools/call", json!({ "name": "list_workflows", "arguments": {} }), None).await;
    assert_eq!(refused.message["error"]["code"], -32602, "workflow tools are not served on /mcp/agent");
    let refused = workflows.request("tools/call", json!({ "name": "plan_list", "arguments": {} }), None).await;
    assert_eq!(refused.message["error"]["code"], -32602, "agent tools are not served on /mcp/workflows");
    h.finish().await;
}

/// A body that is not JSON, or not a JSON-RPC request, gets HTTP 400 with the JSON-RPC error
/// the spec names (`-32700`, `-32600`, id null); `tools/call` with missing or mistyped `params`
/// gets `-32602` with the request's id; a wrong `Content-Type` is still 415.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_rpc_gets_json_rpc_errors() {
    let h = HttpHarness::start(Backend::Sqlite).await;
    let key = h.key("default", "read,write").await;
    let bearer = format!("Bearer {key}");
    let post = |content_type: &'static str, body: String| {
        let (addr, bearer) = (h.addr, bearer.clone());
        async move {
            let headers = [
                ("Content-Type", content_type),
                ("Accept", "application/json, text/event-stream"),
                ("Authorization", bearer.as_str()),
                ("MCP-Protocol-Version", "2025-11-25"),
            ];
            http(addr, "POST", "/mcp", &headers, body.as_bytes()).await
        }
    };
    let cases: [(&str, i64); 8] = [
        ("{not json", -32700),
        (r#"{"jsonrpc":"2.0","id":1,"method":"tools/list""#, -32700),
        ("", -32700),
        ("[]", -32600),
        (r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#, -32600),
        ("42", -32600),
        (r#"{"foo":1}"#, -32600),
        (r#"{"jsonrpc":"1.0","id":1,"method":"tools/list"}"#, -32600),
    ];
    for (body, code) in cases {
        let r = post("application/json", body.to_owned()).await;
        assert_eq!(r.status, 400, "{body:?}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"), "{body:?}");
        let error = r.json();
        assert_eq!(error["jsonrpc"], "2.0", "{body:?}: {}", r.body);
        assert_eq!(error["id"], Value::Null, "{body:?}");
        assert_eq!(error["error"]["code"], code, "{body:?}: {}", r.body);
        assert!(error["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body:?}");
    }
    for params in [None, Some(json!("plan_list")), Some(json!({ "arguments": {} })), Some(json!({ "name": 5 }))] {
        let mut request = json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call" });
        if let Some(params) = &params {
            request["params"] = params.clone();
        }
        let r = post("application/json", request.to_string()).await;
        assert_eq!(r.status, 200, "{params:?}: {}", r.body);
        let error = r.json();
        assert_eq!(error["id"], 7, "{params:?}: {}", r.body);
        assert_eq!(error["error"]["code"], -32602, "{params:?}: {}", r.body);
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("Invalid params for tools/call: "), "{params:?}: {message}");
    }
    let wrong_type = post("text/plain", json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }).to_string()).await;
    assert_eq!(wrong_type.status, 415, "a wrong Content-Type is still 415");
    h.finish().await;
}

/// Reads until the server closes the connection (EOF, or a reset), for at most 30 s; returns
/// what arrived and how long after `started` the connection closed.
async fn until_closed(
    (stream, started): &mut (tokio::net::TcpStream, std::time::Instant),
) -> (String, std::time::Duration) {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept the connection open for 30 s");
    (String::from_utf8_lossy(&received).into_owned(), started.elapsed())
}

/// Opens a connection and sends `sent`, without finishing it; with the instant before it
/// connected, which no server timer can start before.
async fn stall(addr: std::net::SocketAddr, sent: &str) -> (tokio::net::TcpStream, std::time::Instant) {
    use tokio::io::AsyncWriteExt;
    let started = std::time::Instant::now();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(sent.as_bytes()).await.unwrap();
    (stream, started)
}

/// A client that stalls before its request is complete is disconnected once the header or
/// body limit passes, and a keep-alive connection once it has been idle for the idle limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_and_idle_connections_are_closed() {
    use std::time::Duration;
    let short = Duration::from_millis(300);
    let long = Duration::from_secs(600);
    let h = HttpHarness::start_with(Backend::Sqlite, |c| {
        c.header_read_timeout = short;
        c.body_read_timeout = long;
        c.idle_timeout = long;
    })
    .await;
    let key = h.key("default", "read,write").await;
    let host = format!("Host: {}\r\n", h.addr);
    let stalls = [
        String::new(),
        "POST /mc".to_owned(),
        format!("POST /mcp HTTP/1.1\r\n{host}Authorization: Bearer {key}\r\nContent-Ty"),
    ];
    for sent in &stalls {
        let mut stream = stall(h.addr, sent).await;
        let (received, waited) = until_closed(&mut stream).await;
        assert_eq!(received, "", "closed without an answer: {sent:?}");
        assert!(waited >= short, "not before the header limit: {sent:?} closed after {waited:?}");
    }
    h.finish().await;

    let h = HttpHarness::start_with(Backend::Sqlite, |c| {
        c.header_read_timeout = long;
        c.body_read_timeout = short;
        c.idle_timeout = long;
    })
    .await;
    let key = h.key("default", "read,write").await;
    let head = |auth: &str| {
        format!(
            "POST /mcp HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{{\"jsonrpc\"",
            h.addr
        )
    };
    let mut stream = stall(h.addr, &head(&format!("Authorization: Bearer {key}\r\n"))).await;
    let (received, waited) = until_closed(&mut stream).await;
    assert!(received.starts_with("HTTP/1.1 408 "), "{received}");
    assert!(received.contains(r#""code":-31408"#), "{received}");
    assert!(waited >= short, "not before the body limit: {waited:?}");
    // Without a key the answer is 401 at once; the unread body is not waited for.
    let mut stream = stall(h.addr, &head("")).await;
    let (received, _) = until_closed(&mut stream).await;
    assert!(received.starts_with("HTTP/1.1 401 "), "{received}");
    h.finish().await;

    let h = HttpHarness::start_with(Backend::Sqlite, |c| {
        c.header_read_timeout = long;
        c.body_read_timeout = long;
        c.idle_timeout = short;
    })
    .await;
    let mut stream = stall(h.addr, &format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", h.addr)).await;
    let (received, waited) = until_closed(&mut stream).await;
    assert!(received.starts_with("HTTP/1.1 200 "), "the request is answered, then the idle connection closed");
    assert!(waited >= short, "not before the idle limit: {waited:?}");
    h.finish().await;
}

/// Past `max_connections` the server stops accepting: a new connection is served only once
/// an open one has closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_for_a_slot() {
    use std::io::Read;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = HttpHarness::start_with(Backend::Sqlite, |c| {
        c.max_connections = 1;
        c.idle_timeout = std::time::Duration::from_millis(500);
    })
    .await;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", h.addr);
    // The first connection takes the only slot and keeps it, idle, after its answer.
    let mut first = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    first.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    while !String::from_utf8_lossy(&answer).contains(r#"{"status":"ok"}"#) {
        let mut chunk = [0u8; 1024];
        let n = first.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the first connection is answered");
        answer.extend_from_slice(&chunk[..n]);
    }
    let mut first = first.into_std().unwrap();
    // The second one is answered only after the first was closed (at its idle limit).
    let second = crate::support::http(h.addr, "GET", "/healthz", &[], b"").await;
    assert_eq!(second.status, 200);
    let mut rest = [0u8; 16];
    match first.read(&mut rest) {
        Ok(0) => {}
        other => panic!("the second connection was served while the first held the only slot: {other:?}"),
    }
    h.finish().await;
}

/// `[server]` in `waymark.toml` sets the connection limits of `waymark serve`, and
/// `config check` refuses zeros.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_section_sets_the_connection_limits() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("waymark.toml");
    let run = |args: &[&str]| {
        let mut command = Command::new(crate::support::waymark_bin());
        command
            .args(args)
            .current_dir(dir.path())
            .env_remove("WAYMARK_DATABASE_URL")
            .env_remove("WAYMARK_CONFIG")
            .env("WAYMARK_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    };
    std::fs::write(&toml, "[server]\nheader_read_timeout_seconds = 0\nidle_timeout_seconds = 0\nmax_connections = 0\n")
        .unwrap();
    let check = run(&["config", "check"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{stdout}");
    for problem in [
        "server.header_read_timeout_seconds: must be at least 1 second",
        "server.idle_timeout_seconds: must be at least 1 second",
        "server.max_connections: must be at least 1",
    ] {
        assert!(stdout.contains(problem), "{problem}: {stdout}");
    }

    std::fs::write(&toml, "[server]\nheader_read_timeout_seconds = 1\nmax_connections = 8\n").unwrap();
    let mut child = run(&["serve", "--listen", "127.0.0.1:0"]).env("WAYMARK_LOG", "info").spawn().unwrap();
    let addr = crate::support::wait_until_listening(&mut child).addr;
    let mut stalled = stall(addr, "POST /mcp HTTP/1.1\r\n").await;
    let (received, waited) = until_closed(&mut stalled).await;
    assert_eq!(received, "");
    assert!(waited >= std::time::Duration::from_secs(1), "closed after {waited:?}");
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// Every response to an MCP request made with a key carries the key's bucket: the per-minute
/// budget, the whole calls left, and the seconds until the bucket is full again; 429 and 400
/// included, listing tools costs nothing, and the bucket refills with time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_carry_the_keys_rate_limit() {
    let h = HttpHarness::start(Backend::Sqlite).await;
    let key = h.key_with("default", "read", 3, None).await;
    let mut c = h.client(&key, Era::Legacy("2025-11-25"));
    let bucket = |r: &crate::support::HttpResponse| {
        ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"].map(|n| r.header(n).map(str::to_owned))
    };
    let expect = |limit: u32, remaining: u32, reset: u64| {
        [Some(limit.to_string()), Some(remaining.to_string()), Some(reset.to_string())]
    };
    let listed = c.request("tools/list", json!({}), None).await;
    assert_eq!(bucket(&listed.http), expect(3, 3, 0), "listing tools takes no token");
    for (remaining, reset) in [(2, 20), (1, 40), (0, 60)] {
        let called = c.call("plan_list", json!({})).await;
        assert_eq!(called.http.status, 200);
        assert_eq!(bucket(&called.http), expect(3, remaining, reset));
    }
    let limited = c.call("plan_list", json!({})).await;
    assert_eq!(limited.http.status, 429);
    assert_eq!(bucket(&limited.http), expect(3, 0, 60));
    assert_eq!(limited.http.header("retry-after"), Some("20"), "the next token, where Reset is the full bucket");
    let bearer = format!("Bearer {key}");
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("Authorization", bearer.as_str()),
    ];
    let malformed = http(h.addr, "POST", "/mcp", &headers, b"{not json").await;
    assert_eq!(malformed.status, 400);
    assert_eq!(bucket(&malformed), expect(3, 0, 60));

    h.t.clock.advance(std::time::Duration::from_secs(20));
    let refilled = c.request("tools/list", json!({}), None).await;
    assert_eq!(bucket(&refilled.http), expect(3, 1, 40));

    let anonymous = http(h.addr, "POST", "/mcp", &headers[..2], b"{}").await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(bucket(&anonymous), [None, None, None], "no key, no bucket");
    h.finish().await;
}

/// A key with the default budget never meets 429 in an ordinary agent loop: the README's
/// recipe (start `simple`, poll `get_workflow_result`) polled 300 times without any time
/// passing (so nothing refills), as an agent polling every 200 ms does in a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_rate_limit_lets_an_agent_poll() {
    let h = HttpHarness::start(Backend::Sqlite).await;
    let key = h.key_with("default", "read,write", waymark_core::auth::DEFAULT_RATE_LIMIT, None).await;
    let mut c = h.client(&key, Era::Modern);
    let started = c.tool("start_workflow", json!({ "workflow": "simple", "business_key": "demo-001" })).await;
    let workflow_id = started["workflow_id"].as_str().unwrap().to_owned();
    let mut last = None;
    for poll in 0..300 {
        let polled = c.call("get_workflow_result", json!({ "workflow_id": workflow_id })).await;
        assert_eq!(polled.http.status, 200, "poll {poll}: {}", polled.http.body);
        last = Some(polled);
    }
    let remaining = last.unwrap().http.header("x-ratelimit-remaining").map(str::to_owned);
    let expected = waymark_core::auth::DEFAULT_RATE_LIMIT - 301;
    assert_eq!(remaining, Some(expected.to_string()));
    h.finish().await;
}
