//! The operator CLI through the real binary: output pinned with insta (ids, keys and times
//! redacted), exit codes 0/1/2/3.

use std::path::Path;
use std::process::Command;

use crate::support::waymark_bin;
use waymark_testkit::redact_text;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn waymark(dir: &Path, args: &[&str]) -> Run {
    let mut command = Command::new(waymark_bin());
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("WAYMARK_")) {
        command.env_remove(name);
    }
    let output = command.args(args).current_dir(dir).env("WAYMARK_LOG", "warn").output().expect("run waymark");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `12 ms` → `N ms`, keeping the column width stable enough to read.
fn without_durations(text: &str) -> String {
    text.lines()
        .map(|line| match line.rsplit_once("  ") {
            Some((head, tail)) if tail.ends_with(" ms") => format!("{head}  N ms"),
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> String {
    let run = waymark(dir, args);
    assert_eq!(run.code, 0, "waymark {args:?} failed: {}", run.stderr);
    redact_text(&run.stdout)
}

#[test]
fn help_explains_every_command() {
    let dir = tempfile::tempdir().unwrap();
    insta::assert_snapshot!("help", ok(dir.path(), &["--help"]));
    insta::assert_snapshot!("help_key_create", ok(dir.path(), &["key", "create", "--help"]));
    insta::assert_snapshot!("help_serve", ok(dir.path(), &["serve", "--help"]));
    insta::assert_snapshot!("help_tool_call", ok(dir.path(), &["tool", "call", "--help"]));
}

#[test]
fn an_operator_session() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    insta::assert_snapshot!("workspace_create", ok(d, &["workspace", "create", "team-a"]));
    insta::assert_snapshot!("workspace_list", ok(d, &["workspace", "list"]));
    insta::assert_snapshot!("workspace_list_json", ok(d, &["workspace", "list", "--json"]));

    let created = waymark(
        d,
        &["key", "create", "--workspace", "team-a", "--scopes", "read", "--name", "ci", "--expires-in", "30"],
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    let key = created.stdout.lines().next().unwrap().to_owned();
    assert!(key.starts_with("wmk_") && key.len() == 47, "the key is printed once, first: {key}");
    insta::assert_snapshot!("key_create", redact_text(&created.stdout));
    let listed = ok(d, &["key", "list"]);
    assert!(!listed.contains(&key[4..]), "listings never show the key");
    insta::assert_snapshot!("key_list", listed);

    let args = r#"{"title":"CLI plan","slug":"cli-plan","phases":[{"name":"Only","tasks":["one","two"]}]}"#;
    insta::assert_snapshot!(
        "tool_call_plan_create",
        ok(d, &["tool", "call", "plan_create", "--workspace", "team-a", "--args", args])
    );
    ok(
        d,
        &[
            "tool",
            "call",
            "task_toggle",
            "--workspace",
            "team-a",
            "--args",
            r#"{"plan_slug":"cli-plan","phase":1,"task_index":0}"#,
        ],
    );
    insta::assert_snapshot!("plan_list", ok(d, &["plan", "list", "--workspace", "team-a"]));
    insta::assert_snapshot!("plan_show", ok(d, &["plan", "show", "cli-plan", "--workspace", "team-a"]));
    let json: serde_json::Value =
        serde_json::from_str(&ok(d, &["plan", "show", "cli-plan", "--workspace", "team-a", "--json"])).unwrap();
    assert_eq!(json["progress"]["tasks"]["completed"], 1);

    let missing = waymark(d, &["tool", "call", "plan_get", "--workspace", "team-a", "--args", r#"{"slug":"missing"}"#]);
    assert_eq!(missing.code, 1, "a tool error exits 1");
    insta::assert_snapshot!("tool_call_error", missing.stdout);

    insta::assert_snapshot!("audit_tail", without_durations(&ok(d, &["audit", "tail", "--workspace", "team-a"])));
    insta::assert_snapshot!("tool_list", ok(d, &["tool", "list"]));
    let status: serde_json::Value = serde_json::from_str(&ok(d, &["status", "--json"])).unwrap();
    assert_eq!((status["backend"].as_str(), status["pending_migrations"].as_u64()), (Some("sqlite"), Some(0)));
}

#[test]
fn exit_codes_mean_something() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bad_json = waymark(d, &["tool", "call", "plan_list", "--args", "{not json"]);
    assert_eq!(bad_json.code, 2);
    assert!(bad_json.stderr.contains("--args is not valid JSON"), "{}", bad_json.stderr);
    let unknown_tool = waymark(d, &["tool", "call", "plan_delete"]);
    assert_eq!(unknown_tool.code, 2);
    assert!(unknown_tool.stderr.contains("Unknown tool: plan_delete"));
    assert_eq!(waymark(d, &["no-such-command"]).code, 2);
    let missing_ws = waymark(d, &["plan", "list", "--workspace", "ghost"]);
    assert_eq!(missing_ws.code, 1);
    assert!(missing_ws.stderr.contains("Workspace not found: ghost"), "{}", missing_ws.stderr);
    let unreachable = waymark(d, &["--database-url", "postgres://postgres:hunter2@127.0.0.1:1/none", "status"]);
    assert_eq!(unreachable.code, 3, "{}", unreachable.stderr);
    assert!(!unreachable.stderr.contains("hunter2"), "passwords never print: {}", unreachable.stderr);
    std::fs::write(d.join("waymark.toml"), "[server]\nlisten = \"nowhere\"\n[tools.timeouts]\nplan_nope = 5\n")
        .unwrap();
    let check = waymark(d, &["config", "check"]);
    assert_eq!(check.code, 1);
    insta::assert_snapshot!("config_check_problems", check.stdout);
    std::fs::write(d.join("waymark.toml"), "[server]\nlisen = \"127.0.0.1:1\"\n").unwrap();
    let typo = waymark(d, &["status"]);
    assert_eq!(typo.code, 2, "unknown keys are errors");
    assert!(typo.stderr.contains("unknown field `lisen`"), "{}", typo.stderr);
}

#[test]
fn sessions_state_and_templates_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["workspace", "create", "default"]);
    insta::assert_snapshot!("template_list", ok(d, &["template", "list"]));
    insta::assert_snapshot!("template_show_bug_fix", ok(d, &["template", "show", "bug-fix"]));

    std::fs::write(d.join("good.yaml"), "name: Good\nphases:\n  - name: One\n    tasks: [Do it]\n").unwrap();
    std::fs::write(d.join("bad.yaml"), "name: Bad\nphases:\n  - name: One\n    taskz: [Do it]\n").unwrap();
    assert_eq!(ok(d, &["template", "validate", "good.yaml"]), "good.yaml: OK (1 phases, 0 variables)\n");
    let bad = waymark(d, &["template", "validate", "bad.yaml"]);
    assert_eq!(bad.code, 1);
    insta::assert_snapshot!("template_validate_bad", bad.stdout);
    let listed_with_user_dir = ok(d, &["--templates-dir", ".", "template", "list"]);
    assert!(listed_with_user_dir.contains("good  ") && listed_with_user_dir.contains("user"), "{listed_with_user_dir}");
    assert!(listed_with_user_dir.contains("skipped ./bad.yaml: line 4, column 5"), "{listed_with_user_dir}");

    let created = ok(
        d,
        &[
            "tool",
            "call",
            "template_create_plan",
            "--args",
            r#"{"template":"bug-fix","variables":{"issue_id":"BUG-1","component":"core"},"slug":"bug-1","activate":true}"#,
        ],
    );
    assert!(created.contains("\"total_tasks\""), "{created}");
    let started =
        waymark(d, &["tool", "call", "session_start", "--args", r#"{"agent_type":"opus","plan_slug":"bug-1"}"#]);
    let id = serde_json::from_str::<serde_json::Value>(&started.stdout).unwrap()["session"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let log = format!(r#"{{"session_id":"{id}","message":"reproduced","type":"checkpoint"}}"#);
    ok(d, &["tool", "call", "session_log", "--args", &log]);
    let artifact = format!(r#"{{"session_id":"{id}","path":"tests/bug_1.rs","action":"created"}}"#);
    ok(d, &["tool", "call", "session_artifact", "--args", &artifact]);
    let handoff =
        format!(r#"{{"session_id":"{id}","summary":"Repro test in place","next_steps":["find root cause"]}}"#);
    ok(d, &["tool", "call", "session_handoff", "--args", &handoff]);
    insta::assert_snapshot!("session_list", ok(d, &["session", "list"]));
    insta::assert_snapshot!("session_show", ok(d, &["session", "show", &id]));
    assert_eq!(ok(d, &["session", "sweep"]), "Marked 0 session(s) idle for more than 24 h as failed.\n");

    ok(
        d,
        &[
            "tool",
            "call",
            "state_set",
            "--args",
            r#"{"plan_slug":"bug-1","key":"repro","value":"cargo test bug_1","type":"code","description":"how to reproduce"}"#,
        ],
    );
    insta::assert_snapshot!("state_list", ok(d, &["state", "list", "bug-1"]));
    assert_eq!(ok(d, &["state", "get", "bug-1", "repro"]), "cargo test bug_1\n");
    let missing = waymark(d, &["state", "get", "bug-1", "nope"]);
    assert_eq!((missing.code, missing.stderr.trim()), (1, "error: State not found: nope"));
}
