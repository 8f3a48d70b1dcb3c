//! Sessions through `call_tool`: the documented loop (start, log, artifact, handoff, continue,
//! replay, end), final sessions, concurrent logging, the stale sweep, listing and tenancy.

use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use waymark_core::{Principal, Service, ToolResult};
use waymark_testkit::{TestService, on_both_backends};

use crate::snap;

async fn call(s: &Service, p: &Principal, tool: &str, args: Value) -> ToolResult {
    s.call_tool(p, tool, args, &CancellationToken::new()).await.expect("known tool")
}

async fn ok(s: &Service, p: &Principal, tool: &str, args: Value) -> Value {
    let r = call(s, p, tool, args).await;
    assert!(!r.is_error, "{tool} failed: {:?}", r.structured);
    Value::Object(r.structured)
}

async fn error(s: &Service, p: &Principal, tool: &str, args: Value) -> Value {
    let r = call(s, p, tool, args).await;
    assert!(r.is_error, "{tool} should fail: {:?}", r.structured);
    Value::Object(r.structured)
}

async fn the_documented_session_loop(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    ok(
        s,
        &me,
        "plan_create",
        json!({ "title": "Auth", "slug": "auth", "phases": [{ "name": "Build", "tasks": ["a", "b"] }] }),
    )
    .await;
    let started = ok(
        s,
        &me,
        "session_start",
        json!({ "agent_type": "opus", "plan_slug": "auth", "context": { "goal": "login" } }),
    )
    .await;
    snap("session_01_start", &started);
    let id = started["session"]["session_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("sess_") && id.len() == 41, "{id}");

    t.clock.advance(Duration::from_secs(60));
    for (kind, message) in [
        ("info", "read the code"),
        ("decision", "use argon2? no, sha-256 for keys"),
        ("checkpoint", "tests green"),
        ("error", "flaky CI"),
    ] {
        ok(
            s,
            &me,
            "session_log",
            json!({ "session_id": id, "message": message, "type": kind, "data": { "step": message } }),
        )
        .await;
    }
    let logged = ok(s, &me, "session_log", json!({ "session_id": id, "message": "default type" })).await;
    assert_eq!(logged["logged"], "default type");
    ok(
        s,
        &me,
        "session_artifact",
        json!({ "session_id": id, "path": "src/auth.rs", "action": "created", "description": "login" }),
    )
    .await;
    ok(s, &me, "session_artifact", json!({ "session_id": id, "path": "README.md", "action": "modified" })).await;
    let beat = ok(s, &me, "session_heartbeat", json!({ "session_id": id })).await;
    assert_eq!(beat["session"]["status"], "active");

    t.clock.advance(Duration::from_secs(90 * 60));
    let handoff = ok(
        s,
        &me,
        "session_handoff",
        json!({ "session_id": id, "summary": "Login done, logout left", "next_steps": ["logout"], "blockers": [], "context_for_next": { "branch": "auth" } }),
    )
    .await;
    snap("session_02_handoff", &handoff);

    let continued = ok(s, &me, "session_continue", json!({ "previous_session_id": id, "agent_type": "sonnet" })).await;
    snap("session_03_continue", &continued);
    let next = continued["session"]["session_id"].as_str().unwrap().to_owned();
    ok(s, &me, "session_log", json!({ "session_id": next, "message": "picked up logout", "type": "progress" })).await;

    let replay = ok(s, &me, "session_replay", json!({ "session_id": id })).await;
    snap("session_04_replay_previous", &replay);
    let resumed = ok(s, &me, "session_resume", json!({ "session_id": id })).await;
    assert_eq!(resumed["session"]["status"], "active", "a handed-off session can be resumed");
    assert_eq!(resumed["handoff_context"]["summary"], "Login done, logout left");

    let ended =
        ok(s, &me, "session_end", json!({ "session_id": next, "status": "completed", "summary": "logout shipped" }))
            .await;
    snap("session_05_end", &ended);
    for (tool, args) in [
        ("session_log", json!({ "session_id": next, "message": "late" })),
        ("session_artifact", json!({ "session_id": next, "path": "x", "action": "created" })),
        ("session_handoff", json!({ "session_id": next, "summary": "again" })),
        ("session_resume", json!({ "session_id": next })),
        ("session_heartbeat", json!({ "session_id": next })),
        ("session_continue", json!({ "previous_session_id": next, "agent_type": "haiku" })),
    ] {
        let refused = error(s, &me, tool, args).await;
        assert_eq!(refused["code"], "invalid_transition", "{tool} on a completed session");
    }
    snap(
        "session_06_final_is_final",
        error(s, &me, "session_log", json!({ "session_id": next, "message": "late" })).await,
    );

    let empty = ok(s, &me, "session_start", json!({ "agent_type": "haiku" })).await;
    let empty_id = empty["session"]["session_id"].as_str().unwrap();
    let replay = ok(s, &me, "session_replay", json!({ "session_id": empty_id })).await;
    assert_eq!(replay["replay_context"]["progress_summary"]["summary"], "No work recorded");
    assert_eq!(replay["replay_context"]["plan"], Value::Null);
}

async fn bad_session_input_is_refused(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    let missing = error(s, &me, "session_start", json!({ "agent_type": "opus", "plan_slug": "nope" })).await;
    assert_eq!(missing["error"], "Plan not found: nope");
    let unknown = error(
        s,
        &me,
        "session_log",
        json!({ "session_id": "sess_00000000-0000-4000-8000-000000000000", "message": "x" }),
    )
    .await;
    assert_eq!(unknown["error"], "Session not found: sess_00000000-0000-4000-8000-000000000000");
    let prev =
        error(s, &me, "session_continue", json!({ "previous_session_id": "sess_nope", "agent_type": "a" })).await;
    assert_eq!(prev["error"], "Previous session not found: sess_nope");
    let started = ok(s, &me, "session_start", json!({ "agent_type": "opus" })).await;
    let id = started["session"]["session_id"].as_str().unwrap();
    let bad_type = error(s, &me, "session_log", json!({ "session_id": id, "message": "x", "type": "warning" })).await;
    assert_eq!(bad_type["error"], "type must be one of: info, progress, decision, error, checkpoint");
    let bad_action =
        error(s, &me, "session_artifact", json!({ "session_id": id, "path": "p", "action": "touched" })).await;
    assert_eq!(bad_action["code"], "validation_error");
    let bad_end = error(s, &me, "session_end", json!({ "session_id": id, "status": "active" })).await;
    assert_eq!(bad_end["error"], "status must be one of: completed, handed_off, paused, failed");
    let replay = ok(s, &me, "session_replay", json!({ "session_id": id })).await;
    assert_eq!(replay["replay_context"]["total_actions"], 0, "refused calls wrote nothing");
}

async fn concurrent_logging_loses_nothing(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    let started = ok(s, &me, "session_start", json!({ "agent_type": "swarm" })).await;
    let id = started["session"]["session_id"].as_str().unwrap().to_owned();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (s, me, id) = (s.clone(), me.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let r = s
                .call_tool(
                    &me,
                    "session_log",
                    json!({ "session_id": id, "message": format!("entry {i}") }),
                    &CancellationToken::new(),
                )
                .await;
            assert!(!r.unwrap().is_error);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let replay = ok(s, &me, "session_replay", json!({ "session_id": id })).await;
    assert_eq!(replay["replay_context"]["total_actions"], 40);
    assert_eq!(replay["replay_context"]["recent_actions"].as_array().unwrap().len(), 20);
}

async fn stale_sessions_are_failed_by_the_sweep(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    let idle = ok(s, &me, "session_start", json!({ "agent_type": "idle" })).await["session"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let busy = ok(s, &me, "session_start", json!({ "agent_type": "busy" })).await["session"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let paused = ok(s, &me, "session_start", json!({ "agent_type": "paused" })).await["session"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(s, &me, "session_end", json!({ "session_id": paused, "status": "paused" })).await;
    t.clock.advance(Duration::from_secs(23 * 3600));
    ok(s, &me, "session_heartbeat", json!({ "session_id": busy })).await;
    t.clock.advance(Duration::from_secs(2 * 3600));
    assert_eq!(s.sweep_stale_sessions(Duration::from_secs(24 * 3600)).await.unwrap(), 1);
    let replay = ok(s, &me, "session_replay", json!({ "session_id": idle })).await;
    assert_eq!(replay["replay_context"]["status"], "failed");
    assert_eq!(replay["replay_context"]["final_summary"], "Session timed out due to inactivity");
    let busy_now = ok(s, &me, "session_replay", json!({ "session_id": busy })).await;
    assert_eq!(busy_now["replay_context"]["status"], "active");
    let paused_now = ok(s, &me, "session_replay", json!({ "session_id": paused })).await;
    assert_eq!(paused_now["replay_context"]["status"], "paused", "only active sessions are swept");
    assert_eq!(s.sweep_stale_sessions(Duration::from_secs(24 * 3600)).await.unwrap(), 0);
}

async fn session_list_applies_every_filter(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    ok(s, &me, "plan_create", json!({ "title": "P", "slug": "p" })).await;
    for i in 0..3 {
        ok(s, &me, "session_start", json!({ "agent_type": format!("a{i}"), "plan_slug": "p" })).await;
        t.clock.advance(Duration::from_secs(60));
    }
    ok(s, &me, "session_start", json!({ "agent_type": "loose" })).await;
    let all = ok(s, &me, "session_list", json!({})).await;
    assert_eq!(all["total"], 4);
    assert_eq!(all["sessions"][0]["agent_type"], "loose", "most recently active first");
    let on_plan = ok(s, &me, "session_list", json!({ "plan_slug": "p", "status": "active", "limit": 2 })).await;
    assert_eq!((on_plan["total"].clone(), on_plan["sessions"].as_array().unwrap().len()), (json!(3), 2));
    assert_eq!(on_plan["sessions"][0]["plan"], "p");
    let rest = ok(s, &me, "session_list", json!({ "plan_slug": "p", "cursor": on_plan["next_cursor"] })).await;
    assert_eq!(rest["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
    let none = ok(s, &me, "session_list", json!({ "status": "completed" })).await;
    assert_eq!(none["total"], 0);
}

async fn another_workspaces_session_is_not_found(t: &TestService) {
    let s = &t.service;
    let alpha = t.principal("alpha").await;
    let beta = t.principal("beta").await;
    let id = ok(s, &alpha, "session_start", json!({ "agent_type": "opus" })).await["session"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (tool, args) in [
        ("session_log", json!({ "session_id": id, "message": "x" })),
        ("session_artifact", json!({ "session_id": id, "path": "x", "action": "created" })),
        ("session_handoff", json!({ "session_id": id, "summary": "x" })),
        ("session_resume", json!({ "session_id": id })),
        ("session_replay", json!({ "session_id": id })),
        ("session_heartbeat", json!({ "session_id": id })),
        ("session_end", json!({ "session_id": id, "status": "failed" })),
    ] {
        let r = error(s, &beta, tool, args).await;
        assert_eq!(r["code"], "not_found", "{tool}");
    }
    let r = error(s, &beta, "session_continue", json!({ "previous_session_id": id, "agent_type": "b" })).await;
    assert_eq!(r["code"], "not_found");
    assert_eq!(ok(s, &beta, "session_list", json!({})).await["total"], 0);
    assert_eq!(
        ok(s, &alpha, "session_replay", json!({ "session_id": id })).await["replay_context"]["status"],
        "active"
    );
}

on_both_backends!(
    the_documented_session_loop,
    bad_session_input_is_refused,
    concurrent_logging_loses_nothing,
    stale_sessions_are_failed_by_the_sweep,
    session_list_applies_every_filter,
    another_workspaces_session_is_not_found,
);
