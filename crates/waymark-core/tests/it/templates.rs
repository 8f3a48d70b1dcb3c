//! Templates: every built-in one instantiates into a plan an agent can drive to completion;
//! previews validate with the original's messages; user templates with errors are skipped.

use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;
use waymark_core::template::TemplateLibrary;
use waymark_core::{Principal, Service};
use waymark_testkit::{Backend, TestService, on_both_backends};

use crate::snap;

async fn call(s: &Service, p: &Principal, tool: &str, args: Value) -> (bool, Value) {
    let r = s.call_tool(p, tool, args, &CancellationToken::new()).await.expect("known tool");
    (r.is_error, Value::Object(r.structured))
}

/// Each variable's example, for variables without a default.
fn example_values(template: &Value) -> Map<String, Value> {
    template["variables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["default"].is_null())
        .map(|v| (v["name"].as_str().unwrap().to_owned(), v["example"].clone()))
        .collect()
}

async fn every_builtin_template_becomes_a_plan_that_can_be_completed(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    let (_, list) = call(s, &me, "template_list", json!({})).await;
    let slugs: Vec<&str> = list["templates"].as_array().unwrap().iter().map(|t| t["slug"].as_str().unwrap()).collect();
    assert_eq!(
        slugs,
        [
            "bug-fix",
            "documentation",
            "feature-development",
            "incident-response",
            "refactor",
            "release",
            "security-audit"
        ]
    );
    assert!(!list.to_string().contains(".yaml"), "no file paths are shown");
    for template in list["templates"].as_array().unwrap() {
        let slug = template["slug"].as_str().unwrap();
        let variables = example_values(template);
        let (err, created) =
            call(s, &me, "template_create_plan", json!({ "template": slug, "variables": variables, "activate": true }))
                .await;
        assert!(!err, "{slug}: {created}");
        assert_eq!(created["plan"]["status"], "active");
        let plan_slug = created["plan"]["slug"].as_str().unwrap().to_owned();
        let (_, plan) = call(s, &me, "plan_get", json!({ "slug": plan_slug })).await;
        assert_eq!(plan["plan"]["metadata"]["template_slug"], slug);
        assert_eq!(plan["plan"]["metadata"]["template_version"], template["version"]);
        assert!(plan["plan"]["context"]["markdown"].as_str().unwrap().starts_with("## Plan: "), "{slug}");
        assert!(!plan.to_string().contains("{{"), "{slug}: every placeholder is substituted");
        // Drive it to completion: finish every task, then every phase in order.
        let phases = plan["plan"]["phases"].as_array().unwrap().clone();
        for phase in &phases {
            let order = phase["order"].as_u64().unwrap();
            let (err, started) = call(
                s,
                &me,
                "phase_update_status",
                json!({ "plan_slug": plan_slug, "phase": order, "status": "in_progress" }),
            )
            .await;
            assert!(!err, "{slug} phase {order}: {started}");
            for task in phase["tasks"].as_array().unwrap() {
                let (err, r) = call(
                    s,
                    &me,
                    "task_update",
                    json!({ "plan_slug": plan_slug, "task_id": task["id"], "status": "completed" }),
                )
                .await;
                assert!(!err, "{r}");
            }
            let (err, done) = call(
                s,
                &me,
                "phase_update_status",
                json!({ "plan_slug": plan_slug, "phase": order, "status": "completed" }),
            )
            .await;
            assert!(!err, "{slug} phase {order}: {done}");
        }
        let (_, finished) = call(s, &me, "plan_get", json!({ "slug": plan_slug })).await;
        assert_eq!(finished["plan"]["status"], "completed", "{slug}");
        assert_eq!(finished["plan"]["progress"]["percentage"], 100, "{slug}");
    }
}

async fn preview_validates_with_the_original_messages(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    let (err, preview) = call(
        s,
        &me,
        "template_preview",
        json!({ "template": "bug-fix", "variables": { "issue_id": "BUG-123", "component": "billing" } }),
    )
    .await;
    assert!(!err, "{preview}");
    snap("template_preview_bug_fix", &preview);
    let (err, bad) = call(
        s,
        &me,
        "template_preview",
        json!({ "template": "release", "variables": { "version": "one", "release_type": "huge" } }),
    )
    .await;
    assert!(err);
    snap("template_preview_invalid", &bad);
    let (err, missing) = call(s, &me, "template_preview", json!({ "template": "nope" })).await;
    assert!(err);
    assert_eq!(missing["error"], "Template not found: nope");
    let (err, create) = call(s, &me, "template_create_plan", json!({ "template": "bug-fix", "variables": {} })).await;
    assert!(err);
    assert!(
        create["error"]
            .as_str()
            .unwrap()
            .starts_with("Failed to create plan from template: Required variable 'issue_id' is missing"),
        "{create}"
    );
    let (_, plans) = call(s, &me, "plan_list", json!({ "include_archived": true })).await;
    assert_eq!(plans["total"], 0, "nothing was written");
    let (err, titled) = call(
        s,
        &me,
        "template_create_plan",
        json!({ "template": "bug-fix", "variables": { "issue_id": "BUG-9", "component": "auth" }, "title": "Fix the login bug", "slug": "login-bug" }),
    )
    .await;
    assert!(!err, "{titled}");
    snap("template_create_plan", &titled);
}

/// A variable larger than 4 KiB, or variables that would render a plan of more than 256 KiB
/// of text, are refused before anything is rendered or written.
async fn oversized_variables_are_refused(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let tasks: Vec<String> = (0..100).map(|i| format!("      - 'Step {i}: {{{{v}}}}'")).collect();
    let echo = format!(
        "name: Echo\nvariables:\n  v: {{required: true}}\nphases:\n  - name: All\n    tasks:\n{}\n",
        tasks.join("\n")
    );
    std::fs::write(dir.path().join("echo.yaml"), echo).unwrap();
    let templates = dir.path().to_path_buf();
    let t = TestService::start_with(backend, |c| c.templates_dir = Some(templates)).await;
    let s = &t.service;
    let me = t.principal("default").await;
    let huge = "x".repeat(3_500_000);
    for tool in ["template_preview", "template_create_plan"] {
        let (err, r) = call(
            s,
            &me,
            tool,
            json!({ "template": "bug-fix", "variables": { "issue_id": huge, "component": "core" } }),
        )
        .await;
        assert!(err);
        assert_eq!(r["code"], "validation_error");
        assert_eq!(
            r["details"]["violations"],
            json!([{ "path": "variables.issue_id", "message": "Variable 'issue_id' exceeds maximum length of 4096 bytes" }])
        );
        assert!(r.to_string().len() < 2048, "the refusal does not echo the value");
        let (err, r) = call(s, &me, tool, json!({ "template": "echo", "variables": { "v": "y".repeat(4096) } })).await;
        assert!(err);
        assert_eq!(r["details"]["violations"][0]["path"], "variables");
        assert!(
            r["error"].as_str().unwrap().contains("bytes of text, more than the 262144 allowed; shorten the variables"),
            "{r}"
        );
    }
    let (err, fits) =
        call(s, &me, "template_preview", json!({ "template": "echo", "variables": { "v": "y".repeat(2000) } })).await;
    assert!(!err, "{fits}");
    let (_, plans) = call(s, &me, "plan_list", json!({ "include_archived": true })).await;
    assert_eq!(plans["total"], 0, "nothing was written");
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_variables_are_refused_sqlite() {
    oversized_variables_are_refused(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_variables_are_refused_postgres() {
    oversized_variables_are_refused(Backend::Postgres).await;
}

on_both_backends!(
    every_builtin_template_becomes_a_plan_that_can_be_completed,
    preview_validates_with_the_original_messages
);

#[test]
fn a_broken_user_template_is_reported_with_its_line_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ours.yaml"), "name: Ours\nphases:\n  - name: Only\n    tasks: [go]\n").unwrap();
    std::fs::write(dir.path().join("broken.yaml"), "name: Broken\nphases:\n  - name: A\n    taskz: [a]\n").unwrap();
    std::fs::write(dir.path().join("bug-fix.yml"), "name: Our bug fix\nphases: [{name: Fix}]\n").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a template").unwrap();
    let library = TemplateLibrary::load(Some(dir.path()));
    let problems: Vec<String> = library.problems().iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("broken.yaml: line 4, column 5: unknown field `taskz`"), "{problems:?}");
    assert!(library.get("ours").is_some());
    assert!(library.get("broken").is_none());
    assert_eq!(library.get("bug-fix").unwrap().template.name, "Our bug fix", "a user template replaces the built-in");
    assert_eq!(library.templates().len(), 8);
}
