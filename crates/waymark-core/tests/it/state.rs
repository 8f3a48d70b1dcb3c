//! Workspace state through `call_tool`: upsert, flat get, list, delete, the rules, tenancy.

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use waymark_core::{Principal, Service};
use waymark_testkit::{TestService, on_both_backends};

async fn call(s: &Service, p: &Principal, tool: &str, args: Value) -> (bool, Value) {
    let r = s.call_tool(p, tool, args, &CancellationToken::new()).await.expect("known tool");
    (r.is_error, Value::Object(r.structured))
}

async fn state_round_trip(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    call(s, &me, "plan_create", json!({ "title": "S", "slug": "s" })).await;
    let (err, set) = call(
        s,
        &me,
        "state_set",
        json!({ "plan_slug": "s", "key": "build.status", "value": { "green": true }, "category": "ci" }),
    )
    .await;
    assert!(!err, "{set}");
    assert_eq!(set["state"]["type"], "json");
    t.clock.advance(std::time::Duration::from_secs(5));
    let (_, again) = call(
        s,
        &me,
        "state_set",
        json!({ "plan_slug": "s", "key": "build.status", "value": "red", "type": "markdown", "description": "last run", "category": "ci" }),
    )
    .await;
    assert_eq!(again["state"]["value"], "red");
    call(s, &me, "state_set", json!({ "plan_slug": "s", "key": "notes", "value": [1, 2, 3] })).await;
    let (_, got) = call(s, &me, "state_get", json!({ "plan_slug": "s", "key": "build.status" })).await;
    assert_eq!(
        (
            got["key"].clone(),
            got["value"].clone(),
            got["type"].clone(),
            got["category"].clone(),
            got["description"].clone()
        ),
        (json!("build.status"), json!("red"), json!("markdown"), json!("ci"), json!("last run")),
        "state_get is flat: {got}"
    );
    let (_, all) = call(s, &me, "state_list", json!({ "plan_slug": "s" })).await;
    assert_eq!(all["total"], 2);
    assert_eq!(all["states"][1]["category"], "general");
    let (_, ci) = call(s, &me, "state_list", json!({ "plan_slug": "s", "category": "ci" })).await;
    assert_eq!(ci["total"], 1);
    let (_, deleted) = call(s, &me, "state_delete", json!({ "plan_slug": "s", "key": "notes" })).await;
    assert_eq!(deleted["deleted"], "notes");
    let (err, gone) = call(s, &me, "state_get", json!({ "plan_slug": "s", "key": "notes" })).await;
    assert!(err);
    assert_eq!(gone["error"], "State not found: notes");
    let (err, gone) = call(s, &me, "state_delete", json!({ "plan_slug": "s", "key": "notes" })).await;
    assert!(err);
    assert_eq!(gone["code"], "not_found");
}

async fn state_rules(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    call(s, &me, "plan_create", json!({ "title": "S", "slug": "s" })).await;
    for (args, message) in [
        (
            json!({ "plan_slug": "s", "key": "k", "value": null }),
            "value must be a boolean or a number or a string or an array or an object",
        ),
        (json!({ "plan_slug": "s", "key": "k", "value": "" }), "value is required"),
        (
            json!({ "plan_slug": "s", "key": "has space", "value": 1 }),
            "key does not match the required pattern ^[A-Za-z0-9_.:-]+$",
        ),
        (
            json!({ "plan_slug": "s", "key": "k".repeat(129), "value": 1 }),
            "key exceeds maximum length of 128 characters",
        ),
        (
            json!({ "plan_slug": "s", "key": "k", "value": 1, "type": "yaml" }),
            "type must be one of: json, markdown, code, reference",
        ),
        (
            json!({ "plan_slug": "s", "key": "k", "value": "x".repeat(300 * 1024) }),
            "value exceeds maximum size of 262144 bytes",
        ),
        (json!({ "plan_slug": "nope", "key": "k", "value": 1 }), "Plan not found: nope"),
    ] {
        let (err, r) = call(s, &me, "state_set", args).await;
        assert!(err);
        assert_eq!(r["error"], message);
    }
    let (_, list) = call(s, &me, "state_list", json!({ "plan_slug": "s" })).await;
    assert_eq!(list["total"], 0, "nothing was written");
    call(s, &me, "state_set", json!({ "plan_slug": "s", "key": "k", "value": 1 })).await;
    call(s, &me, "plan_archive", json!({ "slug": "s" })).await;
    let (err, r) = call(s, &me, "state_set", json!({ "plan_slug": "s", "key": "k", "value": 2 })).await;
    assert!(err);
    assert_eq!(r["code"], "invalid_transition");
    let (err, _) = call(s, &me, "state_get", json!({ "plan_slug": "s", "key": "k" })).await;
    assert!(!err, "archived plans stay readable");
}

async fn another_workspaces_state_is_not_found(t: &TestService) {
    let s = &t.service;
    let alpha = t.principal("alpha").await;
    let beta = t.principal("beta").await;
    call(s, &alpha, "plan_create", json!({ "title": "S", "slug": "s" })).await;
    call(s, &alpha, "state_set", json!({ "plan_slug": "s", "key": "secret", "value": "x" })).await;
    for (tool, args) in [
        ("state_get", json!({ "plan_slug": "s", "key": "secret" })),
        ("state_set", json!({ "plan_slug": "s", "key": "secret", "value": "stolen" })),
        ("state_list", json!({ "plan_slug": "s" })),
        ("state_delete", json!({ "plan_slug": "s", "key": "secret" })),
    ] {
        let (err, r) = call(s, &beta, tool, args).await;
        assert!(err, "{tool}");
        assert_eq!(r["error"], "Plan not found: s", "{tool}");
    }
    let (_, got) = call(s, &alpha, "state_get", json!({ "plan_slug": "s", "key": "secret" })).await;
    assert_eq!(got["value"], "x");
}

on_both_backends!(state_round_trip, state_rules, another_workspaces_state_is_not_found);
