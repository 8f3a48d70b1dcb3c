//! MCP over stdio through the real binary: stdout carries only JSON-RPC, logs go to stderr,
//! the process exits when stdin closes.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::waymark_bin;
use serde_json::{Value, json};

fn run_stdio(db: &str, env: &[(&str, &str)], lines: &[Value]) -> (Vec<Value>, String, i32) {
    let lines: Vec<String> = lines.iter().map(Value::to_string).collect();
    run_stdio_lines(db, env, &lines)
}

/// Writes `lines` as they are (each followed by `\n`) to `waymark mcp stdio`, closes stdin and
/// returns the stdout messages (each checked to be JSON-RPC), stderr and the exit code.
fn run_stdio_lines(db: &str, env: &[(&str, &str)], lines: &[String]) -> (Vec<Value>, String, i32) {
    let mut child = Command::new(waymark_bin())
        .args(["--database-url", db, "mcp", "stdio"])
        .env_remove("WAYMARK_API_KEY")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn waymark");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for line in lines {
            writeln!(stdin, "{line}").expect("write");
        }
    }
    let output = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8(output.stdout).expect("utf-8 stdout");
    let messages = stdout
        .lines()
        .map(|line| {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
            assert_eq!(v["jsonrpc"], "2.0", "stdout line is not JSON-RPC: {line}");
            v
        })
        .collect();
    (messages, String::from_utf8_lossy(&output.stderr).into_owned(), output.status.code().unwrap_or(-1))
}

fn by_id(messages: &[Value], id: u64) -> &Value {
    messages.iter().find(|m| m["id"] == id).unwrap_or_else(|| panic!("no response {id} in {messages:?}"))
}

#[test]
fn stdout_carries_only_json_rpc_and_the_process_ends_with_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display());
    let lines = [
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "e2e", "version": "1" } } }),
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
        json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }),
        json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": { "name": "plan_create", "arguments": { "title": "Over stdio", "slug": "stdio" } } }),
        json!({ "jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": { "name": "plan_get", "arguments": { "slug": "nope" } } }),
        json!({ "jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": { "name": "nope", "arguments": {} } }),
        json!({ "jsonrpc": "2.0", "id": 6, "method": "ping" }),
    ];
    let (messages, stderr, code) = run_stdio(&db, &[], &lines);
    assert_eq!(code, 0, "exits cleanly on EOF; stderr: {stderr}");
    assert_eq!(by_id(&messages, 1)["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(by_id(&messages, 2)["result"]["tools"].as_array().unwrap().len(), 34);
    assert_eq!(by_id(&messages, 3)["result"]["structuredContent"]["plan"]["slug"], "stdio");
    assert_eq!(by_id(&messages, 4)["result"]["isError"], true);
    assert_eq!(by_id(&messages, 4)["result"]["content"][0]["text"], "Plan not found: nope");
    assert_eq!(by_id(&messages, 5)["error"]["code"], -32602);
    assert_eq!(by_id(&messages, 6)["result"], json!({}));
    assert!(stderr.contains("serving MCP on stdio"), "logs go to stderr: {stderr}");

    // A modern client on a new process; the plan is durable.
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "e2e", "version": "1" }
    });
    let modern = [
        json!({ "jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": { "_meta": meta } }),
        json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": { "name": "plan_list", "arguments": {}, "_meta": meta } }),
    ];
    let (messages, _, code) = run_stdio(&db, &[], &modern);
    assert_eq!(code, 0);
    assert!(by_id(&messages, 1)["result"]["supportedVersions"].as_array().unwrap().contains(&json!("2026-07-28")));
    assert_eq!(by_id(&messages, 2)["result"]["structuredContent"]["plans"][0]["slug"], "stdio");
}

#[test]
fn a_refused_key_stops_before_speaking() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display());
    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "e2e", "version": "1" } } });
    let (messages, stderr, code) =
        run_stdio(&db, &[("WAYMARK_API_KEY", "wmk_notarealkey0000000000000000000000000000000")], &[init]);
    assert_eq!(code, 1);
    assert!(messages.is_empty(), "nothing on stdout");
    assert!(stderr.contains("WAYMARK_API_KEY was refused: Invalid API key"), "{stderr}");
    assert!(!stderr.contains("notarealkey"), "the key is never logged: {stderr}");
}

/// A line that is not JSON gets `-32700`, one that is not a JSON-RPC message `-32600` (both
/// with `"id": null`), `tools/call` with missing or mistyped `params` `-32602` with its id; the
/// session goes on.
#[test]
fn malformed_lines_get_json_rpc_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display());
    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "e2e", "version": "1" } } });
    let lines: Vec<String> = vec![
        init.to_string(),
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }).to_string(),
        "{not json".into(),
        "[]".into(),
        r#"{"foo":1}"#.into(),
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call"}"#.into(),
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":"plan_list"}"#.into(),
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"arguments":{}}}"#.into(),
        String::new(),
        json!({ "jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": { "name": "plan_list", "arguments": {} } })
            .to_string(),
    ];
    let (messages, stderr, code) = run_stdio_lines(&db, &[], &lines);
    assert_eq!(code, 0, "stderr: {stderr}");
    let mut anonymous: Vec<i64> =
        messages.iter().filter(|m| m["id"].is_null()).map(|m| m["error"]["code"].as_i64().unwrap()).collect();
    anonymous.sort_unstable();
    assert_eq!(anonymous, [-32700, -32600, -32600], "{messages:?}");
    for id in [2, 3, 4] {
        let error = &by_id(&messages, id)["error"];
        assert_eq!(error["code"], -32602, "{id}: {error}");
        assert!(error["message"].as_str().unwrap().starts_with("Invalid params for tools/call: "), "{error}");
    }
    assert_eq!(by_id(&messages, 5)["result"]["structuredContent"]["success"], true, "the session goes on");
    assert_eq!(messages.len(), 8, "one answer per request, none for the notification or the blank line");
}
