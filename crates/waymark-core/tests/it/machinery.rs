//! The machinery every call goes through (AGENT-TOOLS.md): dependencies with durable session
//! history, deadlines and cancellation with rollback, rate limits, allow-lists, the circuit
//! breaker, metrics and audit stats.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use waymark_core::auth::NewKey;
use waymark_core::breaker::BreakerState;
use waymark_core::dependency::Dependency;
use waymark_core::{CallError, Principal, Service, Transport};
use waymark_testkit::{Backend, TestService, on_both_backends};

async fn call(s: &Service, p: &Principal, tool: &str, args: Value) -> (bool, Value) {
    let r = s.call_tool(p, tool, args, &CancellationToken::new()).await.expect("known tool");
    (r.is_error, Value::Object(r.structured))
}

async fn session(s: &Service, p: &Principal) -> String {
    let (_, r) = call(s, p, "session_start", json!({ "agent_type": "t" })).await;
    r["session"]["session_id"].as_str().unwrap().to_owned()
}

async fn keyed(t: &TestService, scopes: &str, rate: u32, tools: Option<Vec<&str>>) -> Principal {
    let key = t
        .service
        .create_key(NewKey {
            workspace: "default".into(),
            name: "k".into(),
            scopes: waymark_core::parse_scopes(scopes).unwrap(),
            expires_in_days: None,
            rate_limit_per_minute: rate,
            tools: tools.map(|t| t.into_iter().map(str::to_owned).collect()),
        })
        .await
        .unwrap();
    t.service.authenticate(&key.key, Transport::Http).await.unwrap()
}

async fn keyed_in(s: Service, workspace: &str, scopes: &str) -> Principal {
    let key = s
        .create_key(NewKey {
            workspace: workspace.into(),
            name: "k".into(),
            scopes: waymark_core::parse_scopes(scopes).unwrap(),
            expires_in_days: None,
            rate_limit_per_minute: 10_000,
            tools: None,
        })
        .await
        .unwrap();
    s.authenticate(&key.key, Transport::Http).await.unwrap()
}

/// `task_update` needs `plan_get` called first in the same agent session.
fn tool_called_registry(config: &mut waymark_core::ServiceConfig) {
    config.dependencies.register("task_update", vec![Dependency::tool_called("plan_get")]);
    config.dependencies.register("plan_get", vec![Dependency::tool_called("plan_list").optional()]);
    config.custom_dependencies.insert("never".into(), Arc::new(|_, _| false));
    config.dependencies.register("state_delete", vec![Dependency::custom("never").described("Deletes are frozen")]);
}

async fn tool_called_reads_the_durable_history_of_the_named_session(backend: Backend) {
    let t = TestService::start_with(backend, tool_called_registry).await;
    let s = &t.service;
    let me = t.principal("default").await;
    call(s, &me, "plan_create", json!({ "title": "P", "slug": "p", "phases": [{ "name": "A", "tasks": ["x"] }] }))
        .await;
    let first = session(s, &me).await;
    let other = session(s, &me).await;
    let update = json!({ "plan_slug": "p", "phase": 1, "task_index": 0, "status": "completed", "session_id": first });

    let (err, unmet) = call(s, &me, "task_update", update.clone()).await;
    assert!(err);
    assert_eq!(unmet["code"], "dependency_not_met");
    assert_eq!(
        unmet["details"],
        json!({
            "tool": "task_update",
            "missing_dependencies": [{ "type": "tool_called", "key": "plan_get", "description": "Tool 'plan_get' must be called first" }],
            "suggested_order": ["plan_get", "task_update"],
            "help": "Call these tools in order before attempting task_update: plan_get"
        })
    );
    assert!(unmet["error"].as_str().unwrap().starts_with("Cannot execute 'task_update': prerequisites not met."));

    // plan_get in the *other* session does not count for the first one (session isolation).
    let (err, _) = call(s, &me, "plan_get", json!({ "slug": "p", "session_id": other })).await;
    assert!(!err, "optional dependencies are skipped");
    assert!(call(s, &me, "task_update", update.clone()).await.0);
    assert!(
        !call(s, &me, "task_update", json!({ "plan_slug": "p", "phase": 1, "task_index": 0, "session_id": other }))
            .await
            .0
    );

    // Recorded durably: a new service on the same database sees the history.
    let (err, _) = call(s, &me, "plan_get", json!({ "slug": "p", "session_id": first })).await;
    assert!(!err);
    let (err, done) = call(s, &me, "task_update", update).await;
    assert!(!err, "{done}");

    // A session that does not exist in the workspace is not found.
    let (err, missing) =
        call(s, &me, "plan_get", json!({ "slug": "p", "session_id": "sess_00000000-0000-4000-8000-000000000000" }))
            .await;
    assert!(err);
    assert_eq!(missing["code"], "not_found");

    // A custom dependency without a passing validator blocks the call.
    call(s, &me, "state_set", json!({ "plan_slug": "p", "key": "k", "value": 1 })).await;
    let (err, frozen) = call(s, &me, "state_delete", json!({ "plan_slug": "p", "key": "k" })).await;
    assert!(err);
    assert_eq!(frozen["code"], "dependency_not_met");
    assert_eq!(frozen["details"]["missing_dependencies"][0]["description"], "Deletes are frozen");
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_called_reads_the_durable_history_of_the_named_session_sqlite() {
    tool_called_reads_the_durable_history_of_the_named_session(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_called_reads_the_durable_history_of_the_named_session_postgres() {
    tool_called_reads_the_durable_history_of_the_named_session(Backend::Postgres).await;
}

async fn default_dependencies_report_missing_objects_as_not_found(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    let (err, r) = call(s, &me, "phase_get", json!({ "plan_slug": "ghost", "phase": 1 })).await;
    assert!(err);
    assert_eq!(r["code"], "not_found");
    assert_eq!(r["error"], "Plan not found: ghost");
    assert_eq!(r["details"]["missing_dependencies"][0]["type"], "entity_exists");
    assert_eq!(r["details"]["suggested_order"], json!(["plan_create", "phase_get"]));
    let (err, r) = call(
        s,
        &me,
        "session_log",
        json!({ "session_id": "sess_00000000-0000-4000-8000-000000000000", "message": "m" }),
    )
    .await;
    assert!(err);
    assert_eq!(r["error"], "Session not found: sess_00000000-0000-4000-8000-000000000000");
    assert_eq!(r["details"]["suggested_order"], json!(["session_start", "session_log"]));
}

async fn a_timed_out_call_writes_nothing(backend: Backend) {
    let t = TestService::start_with(backend, |c| {
        c.tool_timeouts.insert("plan_create".into(), Duration::from_millis(300));
    })
    .await;
    let s = &t.service;
    let me = t.principal("default").await;
    s.park_commits(true);
    let (err, r) = call(
        s,
        &me,
        "plan_create",
        json!({ "title": "Slow", "slug": "slow", "phases": [{ "name": "A", "tasks": ["x"] }] }),
    )
    .await;
    s.park_commits(false);
    assert!(err);
    assert_eq!(r["code"], "timeout");
    assert_eq!(r["error"], "plan_create did not finish within 300 ms; nothing was changed");
    let (_, list) = call(s, &me, "plan_list", json!({ "include_archived": true })).await;
    assert_eq!(list["total"], 0, "the transaction rolled back");
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_call_writes_nothing_sqlite() {
    a_timed_out_call_writes_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_call_writes_nothing_postgres() {
    a_timed_out_call_writes_nothing(Backend::Postgres).await;
}

async fn a_cancelled_call_writes_nothing_and_answers_nothing(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    s.park_commits(true);
    let cancel = CancellationToken::new();
    let call = {
        let (s, me, cancel) = (s.clone(), me.clone(), cancel.clone());
        tokio::spawn(async move {
            s.call_tool(&me, "plan_create", json!({ "title": "Gone", "slug": "gone" }), &cancel).await
        })
    };
    // Cancel only once the call has written and waits at its commit.
    waymark_testkit::eventually("plan_create reaches its commit", || async { s.parked_commits() == 1 }).await;
    cancel.cancel();
    assert_eq!(call.await.unwrap(), Err(CallError::Cancelled));
    s.park_commits(false);
    let (_, list) = self::call(s, &me, "plan_list", json!({ "include_archived": true })).await;
    assert_eq!(list["total"], 0);
    s.flush_audit().await;
    let audit = s
        .audit_tail(&waymark_core::audit::AuditQuery {
            tool: Some("plan_create".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit[0].outcome, "cancelled");
}

async fn rate_limits_refill_over_time(t: &TestService) {
    let s = &t.service;
    let limited = keyed(t, "read", 2, None).await;
    assert!(!call(s, &limited, "plan_list", json!({})).await.0);
    assert!(!call(s, &limited, "plan_list", json!({})).await.0);
    let (err, r) = call(s, &limited, "plan_list", json!({})).await;
    assert!(err);
    assert_eq!(r["code"], "rate_limited");
    assert_eq!(r["error"], "Rate limit exceeded: API key cannot execute tool 'plan_list' right now");
    assert_eq!(r["details"]["retry_after_seconds"], 30);
    t.clock.advance(Duration::from_secs(30));
    assert!(!call(s, &limited, "plan_list", json!({})).await.0);
    let owner = t.principal("default").await;
    for _ in 0..5 {
        assert!(!call(s, &owner, "plan_list", json!({})).await.0, "owner access is not limited");
    }
    assert!(s.metrics_text().contains(r#"waymark_rate_limited_total{tool="plan_list"} 1"#), "{}", s.metrics_text());
}

async fn allow_lists_limit_the_tools_a_key_may_call(t: &TestService) {
    let s = &t.service;
    let narrow = keyed(t, "read,write", 100, Some(vec!["plan_list", "plan_create"])).await;
    assert!(!call(s, &narrow, "plan_list", json!({})).await.0);
    let (err, r) = call(s, &narrow, "plan_get", json!({ "slug": "x" })).await;
    assert!(err);
    assert_eq!(r["code"], "permission_denied");
    assert_eq!(r["error"], "Permission denied: API key does not have access to tool 'plan_get'");
}

async fn the_database_breaker_opens_on_database_failures_fails_fast_and_recovers(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    s.make_database_unreachable(true);
    for i in 0..5 {
        let (_, r) = call(s, &me, "plan_create", json!({ "title": format!("T{i}") })).await;
        assert_eq!(r["code"], "service_unavailable");
        assert_eq!(r["error"], "The database is unavailable; retry shortly");
    }
    s.make_database_unreachable(false);
    assert_eq!(s.breakers()[0].state, BreakerState::Open);
    assert!(!s.readiness().await.is_ready(), "/readyz answers 503 while the database breaker is open");
    let (err, r) = call(s, &me, "plan_list", json!({})).await;
    assert!(err);
    assert_eq!(r["code"], "service_unavailable");
    assert_eq!(r["error"], "Service 'database' is temporarily unavailable. Please try again later.");
    assert!(s.metrics_text().contains(r#"waymark_circuit_breaker_state{service="database"} 2"#));
    t.clock.advance(Duration::from_secs(60));
    assert_eq!(s.breakers()[0].state, BreakerState::HalfOpen);
    assert!(!call(s, &me, "plan_list", json!({})).await.0, "the trial call succeeds");
    assert_eq!(s.breakers()[0].state, BreakerState::Closed);
    assert!(s.readiness().await.is_ready());
}

/// Calls that fail for the caller's own reasons, each made 20 times by one workspace with a
/// read key, must leave the database breaker closed and another workspace served.
async fn caller_caused_failures_never_open_the_breaker(backend: Backend) {
    let t = TestService::start_with(backend, |c| {
        c.tool_timeouts.insert("plan_archive".into(), Duration::from_millis(50));
    })
    .await;
    let s = &t.service;
    let attacker = t.principal("tenant-a").await;
    let reader = keyed_in(t.service.clone(), "tenant-a", "read").await;
    let bystander = t.principal("tenant-b").await;
    call(s, &attacker, "plan_create", json!({ "title": "P", "slug": "p", "phases": [{ "name": "A" }] })).await;

    type Case = (&'static str, &'static str, Value, &'static str);
    let cases: Vec<Case> = vec![
        ("U+0000 in a string", "plan_get", json!({ "slug": "a\u{0}b" }), "validation_error"),
        ("U+0000 in a filter", "state_list", json!({ "plan_slug": "p", "category": "c\u{0}" }), "validation_error"),
        ("U+0000 in a key", "state_get", json!({ "plan_slug": "p", "key": "k\u{0}" }), "validation_error"),
        ("an object that does not exist", "plan_get", json!({ "slug": "nope" }), "not_found"),
        (
            "a write tool with a read key",
            "phase_update_status",
            json!({ "plan_slug": "p", "phase": 1, "status": "completed" }),
            "permission_denied",
        ),
        ("a negative phase", "phase_get", json!({ "plan_slug": "p", "phase": -1 }), "validation_error"),
    ];
    for (what, tool, args, code) in &cases {
        for _ in 0..20 {
            let (err, r) = call(s, &reader, tool, args.clone()).await;
            assert!(err, "{what}");
            assert_eq!(r["code"], *code, "{what}: {r}");
        }
        assert_eq!(s.breakers()[0].state, BreakerState::Closed, "{what} × 20 opened the breaker");
    }
    // A handler past its own deadline says nothing about the database.
    s.park_commits(true);
    for _ in 0..20 {
        let (_, r) = call(s, &attacker, "plan_archive", json!({ "slug": "p" })).await;
        assert_eq!(r["code"], "timeout");
    }
    s.park_commits(false);
    assert_eq!(s.breakers()[0].state, BreakerState::Closed, "deadlines × 20 opened the breaker");
    assert!(s.readiness().await.is_ready());
    let (err, r) = call(s, &bystander, "plan_create", json!({ "title": "Mine", "slug": "mine" })).await;
    assert!(!err, "{r}");
    let (err, r) = call(s, &bystander, "plan_list", json!({})).await;
    assert!(!err, "{r}");
    assert_eq!(r["plans"][0]["slug"], "mine");
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_caused_failures_never_open_the_breaker_sqlite() {
    caller_caused_failures_never_open_the_breaker(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_caused_failures_never_open_the_breaker_postgres() {
    caller_caused_failures_never_open_the_breaker(Backend::Postgres).await;
}

async fn metrics_and_daily_stats_count_every_call(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    call(s, &me, "plan_create", json!({ "title": "M", "slug": "m" })).await;
    call(s, &me, "plan_get", json!({ "slug": "m" })).await;
    call(s, &me, "plan_get", json!({ "slug": "nope" })).await;
    let text = s.metrics_text();
    for line in [
        r#"waymark_tool_calls_total{tool="plan_get",outcome="success"} 1"#,
        r#"waymark_tool_calls_total{tool="plan_get",outcome="error"} 1"#,
        r#"waymark_tool_call_duration_seconds_count{tool="plan_get"} 2"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(!text.contains("default"), "no workspace in metrics");
    s.flush_audit().await;
    let stats = s.audit_stats(1, Some("default"), None).await.unwrap();
    let plan_get = stats.iter().find(|r| r.tool == "plan_get").unwrap();
    assert_eq!((plan_get.calls, plan_get.errors, plan_get.day.as_str()), (2, 1, "2026-01-01"));
    t.clock.advance(Duration::from_secs(91 * 24 * 3600));
    assert_eq!(s.purge_audit(Duration::from_secs(90 * 24 * 3600)).await.unwrap(), 3);
    let after = s.audit_stats(100, None, Some("plan_get")).await.unwrap();
    assert_eq!(after[0].calls, 2, "daily stats outlive the audit rows");
}

on_both_backends!(
    the_database_breaker_opens_on_database_failures_fails_fast_and_recovers,
    default_dependencies_report_missing_objects_as_not_found,
    a_cancelled_call_writes_nothing_and_answers_nothing,
    rate_limits_refill_over_time,
    allow_lists_limit_the_tools_a_key_may_call,
    metrics_and_daily_stats_count_every_call,
);
