//! What a new user meets following the README, through the real binary: the README's own
//! `waymark.toml`, every configuration problem at once, `WAYMARK_WORKSPACE`, database URLs
//! (usage errors, masked passwords, where a database was looked for and why it cannot be
//! opened), broken pipes, key expiry, and `status` finding the server of its own database.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use waymark_core::{Service, ServiceConfig};
use waymark_testkit::{Backend, TestDatabase, redact_text};

use crate::support::{ServeStderr, http, wait_until_listening, waymark_bin};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A `waymark` command in `dir` without the caller's WAYMARK_* settings, plus `env`.
fn command(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = Command::new(waymark_bin());
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("WAYMARK_")) {
        command.env_remove(name);
    }
    command.args(args).current_dir(dir).env("WAYMARK_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

fn waymark_env(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let output = command(dir, env, args).output().expect("run waymark");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn waymark(dir: &Path, args: &[&str]) -> Run {
    waymark_env(dir, &[], args)
}

#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> String {
    let run = waymark(dir, args);
    assert_eq!(run.code, 0, "waymark {args:?} failed: {}", run.stderr);
    run.stdout
}

/// The repository's README.md.
fn readme() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The body of the first fenced block that opens with `opening` (e.g. "```toml") after the
/// README line that contains `marker`.
fn readme_block(marker: &str, opening: &str) -> String {
    let text = readme();
    let mut lines = text.lines().skip_while(|l| !l.contains(marker)).skip_while(|l| l.trim_end() != opening);
    assert!(lines.next().is_some(), "README.md has no {opening} block after {marker:?}");
    lines.take_while(|l| l.trim_end() != "```").map(|l| format!("{l}\n")).collect()
}

#[test]
fn the_readme_waymark_toml_passes_config_check() {
    let dir = tempfile::tempdir().unwrap();
    let example = readme_block("`waymark.toml` (all keys optional", "```toml");
    assert!(example.contains("[engine]"), "the README's waymark.toml block: {example}");
    std::fs::write(dir.path().join("waymark.toml"), example).unwrap();
    let check = waymark(dir.path(), &["config", "check"]);
    assert_eq!((check.code, check.stdout.as_str()), (0, "waymark.toml: OK\n"), "{}", check.stderr);
    // And a server command accepts it as it is.
    let status = waymark(dir.path(), &["migrate"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
}

#[test]
fn config_check_reports_every_problem_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = "\
[server]
listen = \"nowhere\"
lisen = \"127.0.0.1:1\"

[engine]
lease_seconds = -1
poll_interval_ms = -5
activity_concurrency = 0

[tools.timeouts]
plan_get = 0
plan_nope = 5
plan_list = \"ten\"

[tools.dependencies]
task_update = [{ type = \"tool_caled\", key = \"plan_get\" }]

[sessions]
stale_after_hours = 0

[workflows.nope]
expose = true

[workflows.simple]
expose = \"yes\"

[nosuch]
key = 1
";
    std::fs::write(d.join("waymark.toml"), file).unwrap();
    let check = waymark(d, &["config", "check"]);
    assert_eq!(check.code, 1, "{}", check.stderr);
    insta::assert_snapshot!("config_check_every_problem", check.stdout);

    // Every other command refuses the file as a usage error, listing the same problems, and
    // writes nothing.
    let status = waymark(d, &["migrate"]);
    assert_eq!(status.code, 2, "{}", status.stderr);
    assert!(
        status.stderr.contains("waymark.toml:6:17: engine.lease_seconds: must be more than 0"),
        "{}",
        status.stderr
    );
    assert!(status.stderr.contains("waymark.toml:3:1: server.lisen: unknown field `lisen`"), "{}", status.stderr);
    assert!(!d.join("waymark.db").exists(), "a refused configuration creates no database");

    std::fs::write(d.join("waymark.toml"), "[engine\nlease_seconds = 30\n").unwrap();
    let syntax = waymark(d, &["config", "check"]);
    assert_eq!((syntax.code, syntax.stdout.as_str()), (1, "waymark.toml:1:8: unclosed table, expected `]`\n"));
}

#[test]
fn the_workspace_comes_from_waymark_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["workspace", "create", "team-a"]);
    let plan = r#"{"title":"Env plan","slug":"env-plan","phases":[{"name":"Only","tasks":["one"]}]}"#;
    ok(d, &["tool", "call", "plan_create", "--workspace", "team-a", "--args", plan]);
    let state = r#"{"plan_slug":"env-plan","key":"k","value":"v"}"#;
    ok(d, &["tool", "call", "state_set", "--workspace", "team-a", "--args", state]);
    let started = ok(d, &["tool", "call", "session_start", "--workspace", "team-a", "--args", r#"{"agent_type":"a"}"#]);
    let session: serde_json::Value = serde_json::from_str(&started).unwrap();
    let id = session["session"]["session_id"].as_str().unwrap().to_owned();

    let team_a = [("WAYMARK_WORKSPACE", "team-a")];
    for args in [
        vec!["session", "show", id.as_str()],
        vec!["state", "list", "env-plan"],
        vec!["state", "get", "env-plan", "k"],
        vec!["plan", "show", "env-plan"],
        vec!["tool", "call", "plan_list"],
    ] {
        let run = waymark_env(d, &team_a, &args);
        assert_eq!(run.code, 0, "WAYMARK_WORKSPACE=team-a waymark {args:?}: {}", run.stderr);
    }
    let key = waymark_env(d, &team_a, &["key", "create", "--json"]);
    assert_eq!(key.code, 0, "{}", key.stderr);
    let key: serde_json::Value = serde_json::from_str(&key.stdout).unwrap();
    assert_eq!(key["workspace"], "team-a");
    // --workspace still wins.
    let other = waymark_env(d, &team_a, &["state", "list", "env-plan", "--workspace", "default"]);
    assert_eq!(other.code, 1, "{}", other.stderr);
}

#[test]
fn database_urls_are_checked_and_their_passwords_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Bad or unsupported URLs are usage errors: exit 2, the reason, nothing created.
    for (url, reason) in [
        ("mysql://u:hunter2@127.0.0.1/db", "unsupported scheme `mysql://`"),
        ("waymark.db", "not a URL"),
        ("sqlite://w.db?mode=rwx", "unknown value \"rwx\" for `mode`"),
        ("postgres://u:hunter2@127.0.0.1:port/db", "invalid port number"),
        ("postgres://u@127.0.0.1:1/db?sslpassword=hunter2", "unsupported parameter `sslpassword`"),
    ] {
        let run = waymark(d, &["--database-url", url, "migrate"]);
        assert_eq!(run.code, 2, "{url}: {}", run.stderr);
        assert!(run.stderr.contains(reason), "{url}: {}", run.stderr);
        assert!(!run.stderr.contains("hunter2"), "{url}: the password is shown: {}", run.stderr);
    }
    // A server that does not answer is exit 3, with every form of password masked, in the
    // message and in the log lines.
    for url in [
        "postgres://u:hunter2@127.0.0.1:1/db",
        "postgres://u:hun@ter2@127.0.0.1:1/db",
        "postgres://u:hun%40ter2@127.0.0.1:1/db",
        "postgres://u@127.0.0.1:1/db?password=hunter2",
        "postgres://u@127.0.0.1:1/db?sslmode=disable&password=hunter2",
    ] {
        let run = waymark_env(d, &[("WAYMARK_LOG", "debug")], &["--database-url", url, "migrate"]);
        assert_eq!(run.code, 3, "{url}: {}", run.stderr);
        for secret in ["hunter2", "hun@ter2", "hun%40ter2", "ter2"] {
            assert!(!run.stderr.contains(secret), "{url}: the password is shown: {}", run.stderr);
        }
        assert!(run.stderr.contains("***"), "{url}: {}", run.stderr);
    }
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 0, "nothing was created: {:?}", std::fs::read_dir(d));
}

#[test]
fn read_only_commands_never_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let expected = d.join("waymark.db");
    for args in [
        vec!["status"],
        vec!["workspace", "list"],
        vec!["key", "list"],
        vec!["plan", "list"],
        vec!["session", "list"],
        vec!["state", "list", "some-plan"],
        vec!["workflow", "list"],
        vec!["workflow", "result", "some-id"],
        vec!["audit", "tail"],
    ] {
        let run = waymark(d, &args);
        assert_eq!(run.code, 3, "waymark {args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("no database at {}", expected.display()))
                && run.stderr.contains("waymark migrate"),
            "waymark {args:?} says where it looked and how to create it: {}",
            run.stderr
        );
        assert!(!expected.exists(), "waymark {args:?} created {}", expected.display());
    }
    // Commands that need no database work without one, and create none.
    for args in [vec!["template", "list"], vec!["tool", "list"], vec!["config", "check"]] {
        let run = waymark(d, &args);
        assert_eq!(run.code, 0, "waymark {args:?}: {}", run.stderr);
    }
    assert!(!expected.exists());
    // Writing commands create it.
    ok(d, &["migrate"]);
    assert!(expected.exists());
    assert_eq!(waymark(d, &["workspace", "list", "--json"]).stdout.trim(), "[]");
}

/// `/sys` takes no new files, not even from root, so it stands in for a read-only directory.
#[cfg(target_os = "linux")]
#[test]
fn a_database_that_cannot_be_opened_is_named_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let run = waymark(dir.path(), &["--database-url", "sqlite:///sys/waymark.db?mode=rwc", "migrate"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "error: cannot open the SQLite database /sys/waymark.db: cannot create files in /sys (Permission denied"
        ),
        "{}",
        run.stderr
    );
    let missing = waymark(dir.path(), &["--database-url", "sqlite:///no/such/dir/waymark.db?mode=rwc", "migrate"]);
    assert_eq!(missing.code, 3, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("/no/such/dir/waymark.db: its directory /no/such/dir cannot be used: No such file"),
        "{}",
        missing.stderr
    );
}

#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    // A pipe whose reading end is closed before the command writes: every write fails with
    // EPIPE, as under `waymark tool list | head -1` once head has exited.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = command(dir.path(), &[], &["tool", "list"])
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run waymark");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!((output.status.code(), stderr.as_ref()), (Some(0), ""), "like ripgrep: exit 0, nothing said");
}

#[test]
fn a_key_expires_in_at_least_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["workspace", "create", "default"]);
    for (days, says) in [
        ("0", "a key must live at least 1 day; leave --expires-in out for a key that never expires"),
        ("-1", "a key must live at least 1 day"),
        ("36501", "at most 36500 days"),
        ("soon", "not a whole number of days"),
    ] {
        let run = waymark(d, &["key", "create", "--workspace", "default", "--expires-in", days]);
        assert_eq!(run.code, 2, "--expires-in {days}: {}", run.stderr);
        assert!(run.stderr.contains(says), "--expires-in {days}: {}", run.stderr);
    }
    assert_eq!(waymark(d, &["key", "list", "--json"]).stdout.trim(), "[]", "no key was created");
    let created = waymark(d, &["key", "create", "--workspace", "default", "--expires-in", "1", "--json"]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    let created: serde_json::Value = serde_json::from_str(&created.stdout).unwrap();
    assert_eq!(created["status"], "active");
}

/// Kills a `waymark serve` left running by a failed assertion.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `waymark serve` in `dir` on `database_url`, listening on `listen`.
fn serve(dir: &Path, database_url: &str, listen: &str) -> (Server, std::net::SocketAddr) {
    let mut child =
        command(dir, &[("WAYMARK_LOG", "info")], &["--database-url", database_url, "serve", "--listen", listen])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn waymark serve");
    let ServeStderr { addr, .. } = wait_until_listening(&mut child);
    (Server(child), addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_listens_on_a_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr) = serve(dir.path(), "sqlite://waymark.db?mode=rwc", "localhost:0");
    assert!(addr.ip().is_loopback(), "{addr}");
    assert_eq!(http(addr, "GET", "/healthz", &[], b"").await.status, 200);
    drop(server);
    let unknown = waymark(dir.path(), &["serve", "--listen", "no-such-host.invalid:7410"]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(unknown.stderr.contains("cannot resolve the host name"), "{}", unknown.stderr);
    let shapeless = waymark(dir.path(), &["serve", "--listen", "localhost"]);
    assert_eq!(shapeless.code, 2, "{}", shapeless.stderr);
    assert!(shapeless.stderr.contains("'localhost' is not HOST:PORT"), "{}", shapeless.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_key_that_cannot_be_written_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // /proc takes no new directories, not even from root.
    let failed =
        waymark(d, &["serve", "--listen", "127.0.0.1:0", "--bootstrap-key-file", "/proc/waymark/bootstrap-key"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed.stderr.contains("cannot write the bootstrap key to /proc/waymark/bootstrap-key"),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains("nothing was created"), "{}", failed.stderr);
    assert_eq!(waymark(d, &["workspace", "list", "--json"]).stdout.trim(), "[]", "no workspace, no key");
    assert_eq!(waymark(d, &["key", "list", "--json"]).stdout.trim(), "[]");
    // The next start bootstraps, and the key in the file works.
    let (server, addr) = serve(d, "sqlite://waymark.db?mode=rwc", "127.0.0.1:0");
    let key = std::fs::read_to_string(d.join(".waymark/bootstrap-key")).unwrap();
    let bearer = format!("Bearer {}", key.trim());
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", "2025-11-25"),
        ("Authorization", bearer.as_str()),
    ];
    let listed = http(addr, "POST", "/mcp", &headers, br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).await;
    assert_eq!(listed.status, 200, "the key in the file works: {}", listed.body);
    let leftovers: Vec<_> = std::fs::read_dir(d.join(".waymark")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["bootstrap-key"], "no temporary file is left behind");
    drop(server);
    let keys = ok(d, &["key", "list"]);
    assert_eq!(redact_text(&keys).lines().count(), 2, "one key: {keys}");
}

/// A database for the binaries: created and migrated here, and the URL that reaches it.
async fn database(backend: Backend) -> (TestDatabase, String) {
    let test = TestDatabase::new(backend);
    let service = Service::open(ServiceConfig::new(test.config.clone()))
        .await
        .unwrap_or_else(|e| panic!("cannot open a {backend:?} test database (is PostgreSQL running?): {e:?}"));
    service.shutdown().await;
    let url = match &test.config.schema {
        // The binary takes only a URL: the schema goes in as the connection's search_path.
        Some(schema) => format!("{}?options[search_path]={schema}", test.config.url),
        None => test.config.url.clone(),
    };
    (test, url)
}

async fn status_finds_the_server_of_its_own_database(backend: Backend) {
    let (ours, our_url) = database(backend).await;
    let (theirs, their_url) = database(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (server, addr) = serve(d, &our_url, "127.0.0.1:0");
    let listen = addr.to_string();
    let status = |url: &str, extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["--database-url", url, "status", "--json"];
        args.extend_from_slice(extra);
        let run = waymark(d, &args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        serde_json::from_str(&run.stdout).unwrap()
    };

    let mine = status(&our_url, &["--server", &listen]);
    assert_eq!(mine["server"]["running"], true, "{mine}");
    assert_eq!(mine["server"]["serves_this_database"], true, "{mine}");
    assert_eq!(mine["server"]["status"], "ready", "{mine}");

    let other = status(&their_url, &["--server", &listen]);
    assert_eq!(other["server"]["running"], false, "a server of another database is not ours: {other}");
    assert_eq!(other["server"]["serves_this_database"], false, "{other}");
    assert_ne!(other["database_id"], mine["database_id"]);
    let table = waymark(d, &["--database-url", &their_url, "status", "--server", &listen]);
    assert!(table.stdout.contains("the server there serves another database"), "{}", table.stdout);

    // Without --server, `[server] listen` of the configuration says where to look.
    std::fs::write(d.join("waymark.toml"), format!("[server]\nlisten = \"{listen}\"\n")).unwrap();
    let configured = status(&our_url, &[]);
    assert_eq!(configured["server"]["address"], listen.as_str(), "{configured}");
    assert_eq!(configured["server"]["running"], true, "{configured}");

    drop(server);
    ours.cleanup().await;
    theirs.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_finds_the_server_of_its_own_database_on_sqlite() {
    status_finds_the_server_of_its_own_database(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_finds_the_server_of_its_own_database_on_postgres() {
    status_finds_the_server_of_its_own_database(Backend::Postgres).await;
}
