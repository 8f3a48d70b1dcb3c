//! Tool calls through `Service::call_tool`: validation, scopes, tenancy, audit.

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use waymark_core::{CallError, Principal, Service, ToolResult, Transport};
use waymark_testkit::{TestService, on_both_backends};

use crate::snap;

async fn call(s: &Service, p: &Principal, tool: &str, args: Value) -> ToolResult {
    s.call_tool(p, tool, args, &CancellationToken::new()).await.expect("known tool")
}

async fn plan_count(s: &Service, p: &Principal) -> u64 {
    let r = call(s, p, "plan_list", json!({ "include_archived": true })).await;
    r.structured["total"].as_u64().unwrap()
}

async fn bad_input_lists_every_violation_and_writes_nothing(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    let cases = [
        ("plan_create_wrong_types", "plan_create", json!({ "title": 42, "phases": "many", "slug": "Bad Slug" })),
        ("plan_create_missing_and_unknown", "plan_create", json!({ "titel": "typo", "colour": "red" })),
        (
            "plan_create_oversized",
            "plan_create",
            json!({ "title": "x".repeat(300), "phases": [{ "name": "", "tasks": ["ok", ""] }] }),
        ),
        ("plan_list_bad_enum_and_range", "plan_list", json!({ "status": "done", "limit": 0 })),
        (
            "phase_update_status_bad_enum",
            "phase_update_status",
            json!({ "plan_slug": "p", "phase": 1, "status": "finished" }),
        ),
        ("plan_create_not_an_object", "plan_create", json!(["title"])),
        ("phase_get_negative_phase", "phase_get", json!({ "plan_slug": "p", "phase": -1 })),
        (
            "nul_characters",
            "plan_create",
            json!({ "title": "a\u{0}b", "phases": [{ "name": "A", "tasks": ["t\u{0}"] }], "context": { "k\u{0}": "v" } }),
        ),
    ];
    for (name, tool, args) in cases {
        let result = call(s, &me, tool, args).await;
        assert!(result.is_error, "{name} should fail");
        assert_eq!(result.structured["code"], "validation_error", "{name}");
        snap(&format!("validation_{name}"), Value::Object(result.structured));
    }
    let oversized_context = json!({ "title": "Big", "context": { "blob": "x".repeat(300 * 1024) } });
    let result = call(s, &me, "plan_create", oversized_context).await;
    assert_eq!(result.structured["error"], "context exceeds maximum size of 262144 bytes");
    assert_eq!(plan_count(s, &me).await, 0, "nothing was written");
}

/// The largest plan `plan_create`'s schema admits (100 phases of 500 tasks) is created whole
/// on both backends: inserts are batched under the databases' bound-variable limits.
async fn the_largest_plan_the_schema_admits_is_created(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    let phases: Vec<Value> = (0..100)
        .map(
            |p| json!({ "name": format!("Phase {p}"), "tasks": (0..500).map(|i| format!("t{i}")).collect::<Vec<_>>() }),
        )
        .collect();
    let result = call(s, &me, "plan_create", json!({ "title": "Huge", "slug": "huge", "phases": phases })).await;
    assert!(!result.is_error, "{:?}", result.structured);
    let got = call(s, &me, "plan_get", json!({ "slug": "huge" })).await;
    assert_eq!(
        got.structured["plan"]["progress"]["tasks"]["total"], 50_000,
        "{:?}",
        got.structured["plan"]["progress"]
    );
    assert_eq!(got.structured["plan"]["progress"]["phases"]["total"], 100);
}

async fn unknown_tools_are_protocol_errors(t: &TestService) {
    let me = t.principal("default").await;
    let err = t.service.call_tool(&me, "plan_delete", json!({}), &CancellationToken::new()).await.unwrap_err();
    assert_eq!(err, CallError::UnknownTool("plan_delete".into()));
    assert_eq!(err.to_string(), "Unknown tool: plan_delete");
}

async fn read_keys_cannot_write(t: &TestService) {
    let s = &t.service;
    let key = s
        .create_key(waymark_core::auth::NewKey {
            workspace: "default".into(),
            name: "reader".into(),
            scopes: waymark_domain::Scopes::READ,
            expires_in_days: None,
            rate_limit_per_minute: 100,
            tools: None,
        })
        .await
        .unwrap();
    let reader = s.authenticate(&key.key, Transport::Http).await.unwrap();
    let result = call(s, &reader, "plan_create", json!({ "title": "Nope" })).await;
    assert_eq!(result.structured["code"], "permission_denied");
    assert_eq!(result.structured["error"], "Permission denied: API key missing scope 'write' for tool 'plan_create'");
    assert!(!call(s, &reader, "plan_list", json!({})).await.is_error);
}

async fn another_workspaces_plan_is_not_found(t: &TestService) {
    let s = &t.service;
    let alpha = t.principal("alpha").await;
    let beta = t.principal("beta").await;
    let created = call(
        s,
        &alpha,
        "plan_create",
        json!({ "title": "Secret", "slug": "secret", "phases": [{ "name": "One", "tasks": ["a"] }] }),
    )
    .await;
    assert!(!created.is_error);
    let probes = [
        ("plan_get", json!({ "slug": "secret" })),
        ("plan_update_status", json!({ "slug": "secret", "status": "active" })),
        ("plan_archive", json!({ "slug": "secret" })),
        ("plan_publish", json!({ "slug": "secret" })),
        ("phase_get", json!({ "plan_slug": "secret", "phase": 1 })),
        ("phase_update_status", json!({ "plan_slug": "secret", "phase": 1, "status": "skipped" })),
        ("phase_add_checkpoint", json!({ "plan_slug": "secret", "phase": 1, "note": "n" })),
        ("phase_add", json!({ "plan_slug": "secret", "name": "Two" })),
        ("task_update", json!({ "plan_slug": "secret", "phase": 1, "task_index": 0, "status": "completed" })),
        ("task_toggle", json!({ "plan_slug": "secret", "phase": 1, "task_index": 0 })),
        ("task_add", json!({ "plan_slug": "secret", "phase": 1, "name": "b" })),
    ];
    for (tool, args) in probes {
        let result = call(s, &beta, tool, args).await;
        assert_eq!(result.structured["code"], "not_found", "{tool}");
        assert_eq!(result.structured["error"], "Plan not found: secret", "{tool}");
    }
    // The same slug is free in another workspace.
    assert!(!call(s, &beta, "plan_create", json!({ "title": "Mine", "slug": "secret" })).await.is_error);
    let dup = call(s, &alpha, "plan_create", json!({ "title": "Again", "slug": "secret" })).await;
    assert_eq!(dup.structured["error"], "Plan with slug 'secret' already exists");
    assert_eq!(dup.structured["code"], "conflict");
    // alpha's plan is untouched.
    let get = call(s, &alpha, "plan_get", json!({ "slug": "secret" })).await;
    assert_eq!(get.structured["plan"]["status"], "draft");
    assert_eq!(get.structured["plan"]["phases"].as_array().unwrap().len(), 1);
}

async fn every_call_is_audited(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    call(
        s,
        &me,
        "plan_create",
        json!({
            "title": "Audited",
            "slug": "audited",
            "description": "deploy with key wmk_4kq9ZLb1xYp0Qr7sTu2VwXy3Za5Bc6De8Fg0Hi1Jk2L please",
            "context": { "api_key": "sk-live-123" }
        }),
    )
    .await;
    call(s, &me, "plan_get", json!({ "slug": "missing" })).await;
    s.flush_audit().await;
    let events = s.audit_tail(&waymark_core::audit::AuditQuery { limit: 10, ..Default::default() }).await.unwrap();
    let summary: Vec<_> =
        events.iter().map(|e| (e.tool.as_str(), e.outcome.as_str(), e.error_code.as_deref())).collect();
    assert_eq!(summary, [("plan_get", "error", Some("not_found")), ("plan_create", "success", None)]);
    assert!(!events[1].arguments.contains("sk-live-123"), "secrets are redacted: {}", events[1].arguments);
    assert!(
        events[1].arguments.contains("deploy with key [redacted] please"),
        "keys inside longer strings are redacted: {}",
        events[1].arguments
    );
    assert_eq!(events[1].transport, "library");
}

on_both_backends!(
    bad_input_lists_every_violation_and_writes_nothing,
    the_largest_plan_the_schema_admits_is_created,
    unknown_tools_are_protocol_errors,
    read_keys_cannot_write,
    another_workspaces_plan_is_not_found,
    every_call_is_audited,
);
