//! `waymark serve` as a process: bootstrap on an empty database, the key file's permissions,
//! no key in the logs, graceful exit on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{ServeStderr, http, wait_until_listening, waymark_bin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_bootstraps_once_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(waymark_bin())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("WAYMARK_DATABASE_URL")
        .env("WAYMARK_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn waymark serve");
    let ServeStderr { addr, seen: mut log, rest: lines_rx } = wait_until_listening(&mut child);

    let key_file = dir.path().join(".waymark/bootstrap-key");
    let key = std::fs::read_to_string(&key_file).unwrap().trim().to_owned();
    assert!(key.starts_with("wmk_") && key.len() == 47);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(key_file.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
    }
    assert_eq!(http(addr, "GET", "/healthz", &[], b"").await.status, 200);
    let bearer = format!("Bearer {key}");
    let listed = http(
        addr,
        "POST",
        "/mcp",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("MCP-Protocol-Version", "2025-11-25"),
            ("Authorization", &bearer),
        ],
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    )
    .await;
    assert_eq!(listed.status, 200, "the bootstrap key works: {}", listed.body);

    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean stop");
    while let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(200)) {
        log.push(line);
    }
    let log = log.join("\n");
    assert!(log.contains(".waymark/bootstrap-key"), "the log says where the key is: {log}");
    assert!(!log.contains(&key[4..]), "the key itself is never logged");
    assert!(log.contains("stopped"), "{log}");
}
