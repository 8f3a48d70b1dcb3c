//! `waymark workflow …` through the real binary, each test on a fresh SQLite file: output
//! pinned with insta (ids, times, worker ids and payload sizes redacted), progress on stderr,
//! exit codes 0/1/2/4, and `history --follow` on a closed run and on one a `waymark serve`
//! executes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use waymark_testkit::{redact, redact_text};

use crate::support::{wait_until_listening, waymark_bin};

/// The event types of a `simple` run, in order.
const SIMPLE_HISTORY: [&str; 9] = [
    "StartAccepted",
    "WorkflowStarted",
    "ActivityScheduled",
    "ActivityStarted",
    "ActivityCompleted",
    "ActivityScheduled",
    "ActivityStarted",
    "ActivityCompleted",
    "WorkflowCompleted",
];

/// The event types of an `elapsed` run, in order.
const ELAPSED_HISTORY: [&str; 8] = [
    "StartAccepted",
    "WorkflowStarted",
    "SideEffectRecorded",
    "ActivityScheduled",
    "ActivityStarted",
    "ActivityCompleted",
    "SideEffectRecorded",
    "WorkflowCompleted",
];

/// Worker ids are `HOSTNAME-pid-suffix`; the tests fix the host name so they can be found.
const HOST: &str = "e2e-host";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A `waymark` command in `dir`, without the caller's WAYMARK_* settings.
fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(waymark_bin());
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("WAYMARK_")) {
        command.env_remove(name);
    }
    command.args(args).current_dir(dir).env("WAYMARK_LOG", "warn").env("HOSTNAME", HOST);
    command
}

/// Runs `waymark args` to the end, killing it after `limit`.
fn waymark_within(dir: &Path, args: &[&str], limit: Duration) -> Run {
    let out_path = dir.join(".stdout");
    let err_path = dir.join(".stderr");
    let mut child = command(dir, args)
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("run waymark");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for waymark") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("waymark {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(err_path).unwrap_or_default(),
    }
}

fn waymark(dir: &Path, args: &[&str]) -> Run {
    waymark_within(dir, args, Duration::from_secs(60))
}

/// The value of `name` in field/value output.
fn field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(name).filter(|rest| rest.starts_with(' ')).map(|v| v.trim().to_owned()))
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

#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> String {
    let run = waymark(dir, args);
    assert_eq!(run.code, 0, "waymark {args:?} failed: {}", run.stderr);
    redacted(&run.stdout)
}

/// Replaces what changes from run to run in CLI output: ids and times ([`redact_text`]), bare
/// ULIDs (run, event and command ids), worker ids and byte sizes; and collapses column padding
/// to two spaces, since a table's widths follow the worker id (it carries the pid).
fn redacted(text: &str) -> String {
    let mut out = String::new();
    let mut spaces = 0;
    for c in redact_values(text).chars() {
        if c == ' ' {
            spaces += 1;
            continue;
        }
        out.push_str(&" ".repeat(spaces.min(2)));
        spaces = 0;
        out.push(c);
    }
    out.push_str(&" ".repeat(spaces.min(2)));
    out
}

fn redact_values(text: &str) -> String {
    let text = redact_text(text);
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let at_boundary = i == 0 || !chars[i - 1].is_ascii_alphanumeric();
        if at_boundary {
            if let Some(len) = ulid_len(&chars[i..]) {
                out.push_str("[ulid]");
                i += len;
                continue;
            }
            if let Some(len) = worker_len(&chars[i..]) {
                out.push_str("[worker]");
                i += len;
                continue;
            }
            if let Some(len) = size_len(&chars[i..]) {
                out.push_str("[n] B");
                i += len;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// A ULID (26 characters of digits and capitals) ending at a word boundary.
fn ulid_len(s: &[char]) -> Option<usize> {
    let word = s.get(..26)?;
    let next_ok = s.get(26).is_none_or(|c| !c.is_ascii_alphanumeric());
    (word.iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()) && next_ok).then_some(26)
}

/// `e2e-host-<pid>-<6 characters>`.
fn worker_len(s: &[char]) -> Option<usize> {
    let prefix: Vec<char> = format!("{HOST}-").chars().collect();
    if !s.starts_with(&prefix) {
        return None;
    }
    let digits = s[prefix.len()..].iter().take_while(|c| c.is_ascii_digit()).count();
    let rest = prefix.len() + digits;
    (digits > 0 && s.get(rest) == Some(&'-')).then(|| rest + 1 + s[rest + 1..].iter().take(6).count())
}

/// `<digits> B`: payload sizes, which vary with the worker id's length.
fn size_len(s: &[char]) -> Option<usize> {
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let unit = s.get(digits..digits + 2)? == [' ', 'B'];
    let end_ok = s.get(digits + 2).is_none_or(|c| !c.is_ascii_alphanumeric());
    (digits > 0 && unit && end_ok).then_some(digits + 2)
}

/// JSON output with ids, times, worker ids and sizes redacted.
fn redacted_json(text: &str) -> Value {
    fn walk(value: Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let v =
                            if k.ends_with("size_bytes") || k == "preview_bytes" { "[bytes]".into() } else { walk(v) };
                        (k, v)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.into_iter().map(walk).collect()),
            Value::String(s) => Value::String(redacted(&s)),
            other => other,
        }
    }
    let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    walk(redact(&value))
}

/// The event types in `--wait` progress lines (`  <sequence>  <event type>`) or follow rows.
fn event_types(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let sequence = words.next()?;
            let event = words.next()?;
            (sequence.parse::<u64>().is_ok() && event.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
                .then(|| event.to_owned())
        })
        .collect()
}

#[test]
fn a_workflow_from_start_to_history() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["workspace", "create", "default"]);
    insta::assert_snapshot!("workflow_list", ok(d, &["workflow", "list"]));

    let started = waymark(
        d,
        &[
            "workflow",
            "start",
            "simple",
            "--id",
            "order-1",
            "--business-key",
            "B-1",
            "--memo",
            r#"{"customer":"acme"}"#,
            "--search-attr",
            r#"region="eu""#,
            "--wait",
        ],
    );
    assert_eq!(started.code, 0, "a completed run exits 0: {}", started.stderr);
    assert_eq!(event_types(&started.stderr), SIMPLE_HISTORY, "progress on stderr, in order: {}", started.stderr);
    insta::assert_snapshot!("workflow_start_wait", redacted(&started.stdout));

    insta::assert_snapshot!("workflow_result", ok(d, &["workflow", "result", "order-1"]));
    insta::assert_json_snapshot!(
        "workflow_result_json",
        redacted_json(&ok(d, &["workflow", "result", "order-1", "--json"]))
    );
    insta::assert_snapshot!("workflow_history", ok(d, &["workflow", "history", "order-1"]));
    insta::assert_json_snapshot!(
        "workflow_history_json",
        redacted_json(&ok(d, &["workflow", "history", "order-1", "--json"]))
    );
    insta::assert_snapshot!("workflow_show", ok(d, &["workflow", "show", "order-1"]));
    let shown = redacted_json(&ok(d, &["workflow", "show", "order-1", "--json"]));
    assert_eq!(shown["status"], "completed");
    assert_eq!(shown["memo"]["customer"], "acme");
    let attempts: Vec<&Value> =
        shown["activities"].as_array().unwrap().iter().flat_map(|a| a["attempts"].as_array().unwrap()).collect();
    assert_eq!(attempts.len(), 2, "{shown}");
    assert!(attempts.iter().all(|a| a["status"] == "completed" && a["worker_id"] == "[worker]"), "{shown}");

    let with_payloads = ok(d, &["workflow", "history", "order-1", "--payloads"]);
    assert!(with_payloads.contains(r#"{"output":"workflow_activity_other"}"#), "{with_payloads}");
    let recent = ok(d, &["workflow", "list", "--recent"]);
    let row = recent.lines().find(|l| l.starts_with("order-1 ")).map(|l| l.split_whitespace().collect::<Vec<_>>());
    assert_eq!(row, Some(vec!["order-1", "[ulid]", "simple", "completed", "9", "[time]"]), "{recent}");

    // A closed run: --follow prints every event and exits as the run ended.
    let followed = waymark_within(d, &["workflow", "history", "order-1", "--follow"], Duration::from_secs(20));
    assert_eq!(followed.code, 0, "{}", followed.stderr);
    assert_eq!(event_types(&followed.stdout), SIMPLE_HISTORY, "{}", followed.stdout);
    assert!(followed.stderr.contains("closed: completed"), "{}", followed.stderr);
    let lines = waymark_within(d, &["workflow", "history", "order-1", "--follow", "--json"], Duration::from_secs(20));
    assert_eq!(lines.code, 0, "{}", lines.stderr);
    let events: Vec<Value> =
        lines.stdout.lines().map(|l| serde_json::from_str(l).expect("one JSON object a line")).collect();
    let types: Vec<&str> = events.iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(types, SIMPLE_HISTORY);

    // Operator commands on a closed run are recorded and rejected.
    let signal = waymark(d, &["workflow", "signal", "order-1", "go", "--arg", "1"]);
    assert_eq!(signal.code, 1);
    assert!(signal.stderr.contains("the signal was rejected: run_not_active"), "{}", signal.stderr);
    let cancel = waymark(d, &["workflow", "cancel", "order-1", "--reason", "late", "--json"]);
    assert_eq!(cancel.code, 1);
    let receipt = redacted_json(&cancel.stdout);
    assert_eq!(
        (receipt["status"].as_str(), receipt["outcome"].as_str()),
        (Some("rejected"), Some("rejected_not_active"))
    );
}

#[test]
fn workflow_errors_exit_1_or_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["workspace", "create", "default"]);
    let first = waymark(d, &["workflow", "start", "simple", "--id", "x", "--json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let json: Value = serde_json::from_str(&first.stdout).unwrap();
    assert_eq!((json["workflow_id"].as_str(), json["status"].as_str()), (Some("x"), Some("pending")));

    let again = waymark(d, &["workflow", "start", "simple", "--id", "x"]);
    assert_eq!(again.code, 1, "a rejected duplicate exits 1");
    assert_eq!(
        redacted(again.stderr.trim()),
        "error: Workflow instance [x] has already started. Its run [ulid] is pending."
    );

    let missing = waymark(d, &["workflow", "result", "nope"]);
    assert_eq!((missing.code, missing.stdout.as_str()), (1, ""));
    assert_eq!(missing.stderr.trim(), "error: Workflow nope not found.");
    let missing_json = waymark(d, &["workflow", "result", "nope", "--json"]);
    assert_eq!(missing_json.code, 1);
    let json: Value = serde_json::from_str(&missing_json.stdout).unwrap();
    assert_eq!(json["found"], false);
    assert_eq!(waymark(d, &["workflow", "show", "nope"]).code, 1);
    assert_eq!(waymark(d, &["workflow", "history", "nope"]).code, 1);
    assert_eq!(waymark(d, &["workflow", "terminate", "nope"]).code, 1);

    let bad_arg = waymark(d, &["workflow", "start", "simple", "--arg", "{not json"]);
    assert_eq!(bad_arg.code, 2);
    assert!(bad_arg.stderr.starts_with("error: --arg {not json is not valid JSON"), "{}", bad_arg.stderr);
    let bad_memo = waymark(d, &["workflow", "start", "simple", "--memo", "[1]"]);
    assert_eq!(bad_memo.code, 2);
    assert!(bad_memo.stderr.contains("--memo must be a JSON object"), "{}", bad_memo.stderr);
    assert_eq!(waymark(d, &["workflow", "list", "--status", "done"]).code, 2);
    assert_eq!(waymark(d, &["workflow", "result", "x", "--wait", "26"]).code, 2);

    // No workers ran it: the run is still open, and `result` says so with exit 4, also when a
    // wait runs out.
    let open = waymark(d, &["workflow", "result", "x"]);
    assert_eq!(open.code, 4, "an open run is not a result: {}", open.stderr);
    assert_eq!(field(&open.stdout, "status").as_deref(), Some("pending"), "{}", open.stdout);
    assert_eq!(
        open.stderr.trim(),
        "Workflow x is still pending; it goes on (`waymark workflow result x --wait 25` waits for it)."
    );
    let waited = waymark(d, &["workflow", "result", "x", "--wait", "1"]);
    assert_eq!(waited.code, 4, "{}", waited.stderr);
    assert!(waited.stderr.starts_with("Workflow x is still pending after waiting 1 s;"), "{}", waited.stderr);

    // The pending run can still be terminated; its result is then a failure, exit 1.
    let terminated = waymark(d, &["workflow", "terminate", "x", "--reason", "test"]);
    assert_eq!(terminated.code, 0, "{}", terminated.stderr);
    assert_eq!(field(&terminated.stdout, "outcome").as_deref(), Some("terminated"), "{}", terminated.stdout);
    let result = waymark(d, &["workflow", "result", "x"]);
    assert_eq!(result.code, 1, "only a completed run exits 0: {}", result.stderr);
    assert_eq!(field(&result.stdout, "status").as_deref(), Some("terminated"), "{}", result.stdout);
    assert_eq!(result.stderr.trim(), "error: workflow x ended terminated, not completed.");
}

#[test]
fn history_follows_a_run_that_serve_executes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut serve = Server(
        command(d, &["serve", "--listen", "127.0.0.1:0"])
            .env("WAYMARK_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn waymark serve"),
    );
    // Kept until the end: it drains the server's stderr.
    let _stderr = wait_until_listening(&mut serve.0);

    ok(d, &["workflow", "start", "elapsed", "--id", "timed"]);
    let began = Instant::now();
    let followed = waymark_within(d, &["workflow", "history", "timed", "--follow"], Duration::from_secs(20));
    let took = began.elapsed();
    assert!(Command::new("kill").args(["-TERM", &serve.0.id().to_string()]).status().unwrap().success());
    assert_eq!(serve.0.wait().expect("wait for serve").code(), Some(0), "SIGTERM stops serve cleanly");

    assert_eq!(followed.code, 0, "the run completed: {}", followed.stderr);
    assert_eq!(event_types(&followed.stdout), ELAPSED_HISTORY, "{}", followed.stdout);
    assert!(followed.stderr.contains("closed: completed"), "{}", followed.stderr);
    assert!(took >= Duration::from_secs(3), "it followed the 3 s activity: {took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}
