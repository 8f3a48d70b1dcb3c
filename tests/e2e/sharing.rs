//! Two real processes on one SQLite file, as README allows (`serve` beside `mcp stdio`):
//! every write waits out the other process's lock instead of failing with
//! `database is locked`, and nothing is lost.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{ServeStderr, http, wait_until_listening, waymark_bin};

/// How long one answer may take (the busy timeout is 10 s; nothing here should come close).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// A long-lived `waymark mcp stdio` process: requests go in as lines, answers are matched by id.
struct StdioProcess {
    child: Child,
    stdin: ChildStdin,
    answers: mpsc::Receiver<Value>,
    next_id: u64,
}

impl StdioProcess {
    fn start(db: &str) -> Self {
        let mut child = Command::new(waymark_bin())
            .args(["--database-url", db, "mcp", "stdio"])
            .env_remove("WAYMARK_API_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn waymark mcp stdio");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value: Value = serde_json::from_str(&line).expect("stdout carries JSON-RPC");
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take().expect("stdin");
        let mut me = Self { child, stdin, answers, next_id: 1 };
        me.send(json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "e2e", "version": "1" } } }));
        me.receive(1);
        me.send(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }));
        me
    }

    fn send(&mut self, message: Value) {
        writeln!(self.stdin, "{message}").expect("write to stdio");
        self.stdin.flush().expect("flush");
    }

    /// Sends `tools/call`s without waiting, one per arguments object.
    fn call_many(&mut self, tool: &str, arguments: impl IntoIterator<Item = Value>) -> usize {
        let mut sent = 0;
        for args in arguments {
            let id = self.next_id;
            self.next_id += 1;
            self.send(json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": { "name": tool, "arguments": args } }));
            sent += 1;
        }
        sent
    }

    /// Receives `n` answers (in any order).
    fn receive(&mut self, n: usize) -> Vec<Value> {
        (0..n).map(|_| self.answers.recv_timeout(ANSWER_TIMEOUT).expect("an answer from stdio")).collect()
    }
}

impl Drop for StdioProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `structuredContent` of a `tools/call` answer, failing on a protocol or tool error.
fn structured(answer: &Value) -> &Value {
    let result = &answer["result"];
    assert!(answer.get("error").is_none() && result["isError"] != true, "a call failed: {answer}");
    &result["structuredContent"]
}

async fn http_call(addr: SocketAddr, bearer: &str, id: u64, tool: &str, arguments: Value) -> Value {
    let body = json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": { "name": tool, "arguments": arguments } });
    let response = http(
        addr,
        "POST",
        "/mcp",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("MCP-Protocol-Version", "2025-11-25"),
            ("Authorization", bearer),
        ],
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    response.json()
}

fn state(i: usize) -> Value {
    json!({ "plan_slug": "shared", "key": format!("k{i:04}"), "value": i })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_and_stdio_share_one_sqlite_file_without_losing_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("shared.db").display());
    let mut serve: Child = Command::new(waymark_bin())
        .args(["--database-url", &db, "serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("WAYMARK_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn waymark serve");
    let ServeStderr { addr, .. } = wait_until_listening(&mut serve);
    // A key of its own, made by a third process on the same file, with a budget for 250 calls.
    let created = Command::new(waymark_bin())
        .args(["--database-url", &db, "--json", "key", "create", "--workspace", "default"])
        .args(["--scopes", "read,write", "--rate-limit", "100000"])
        .output()
        .expect("waymark key create");
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let created: Value = serde_json::from_slice(&created.stdout).expect("key create --json");
    let bearer = format!("Bearer {}", created["key"].as_str().unwrap());
    let mut stdio = StdioProcess::start(&db);

    structured(&http_call(addr, &bearer, 1, "plan_create", json!({ "title": "Shared", "slug": "shared" })).await);

    // 200 writes, alternating between the processes, each waiting for the one before.
    for i in 0..200 {
        if i % 2 == 0 {
            structured(&http_call(addr, &bearer, 2, "state_set", state(i)).await);
        } else {
            stdio.call_many("state_set", [state(i)]);
            structured(&stdio.receive(1)[0]);
        }
    }

    // 50 writes at once: 25 pipelined on stdio while 25 HTTP requests run concurrently.
    let sent = stdio.call_many("state_set", (200..225).map(state));
    let http_writes: Vec<_> = (225..250)
        .map(|i| {
            let bearer = bearer.clone();
            tokio::spawn(async move { http_call(addr, &bearer, 3, "state_set", state(i)).await })
        })
        .collect();
    for answer in stdio.receive(sent) {
        structured(&answer);
    }
    for write in http_writes {
        structured(&write.await.unwrap());
    }

    // Every value is there, read through the other process than most of them were written by.
    let mut keys = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let mut args = json!({ "plan_slug": "shared", "limit": 100 });
        if !cursor.is_null() {
            args["cursor"] = cursor.clone();
        }
        stdio.call_many("state_list", [args]);
        let page = stdio.receive(1).remove(0);
        let page = structured(&page);
        keys.extend(page["states"].as_array().unwrap().iter().map(|s| s["key"].as_str().unwrap().to_owned()));
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    keys.sort();
    let expected: Vec<String> = (0..250).map(|i| format!("k{i:04}")).collect();
    assert_eq!(keys, expected, "every write of both processes is stored exactly once");
    let _ = serve.kill();
    let _ = serve.wait();
}
