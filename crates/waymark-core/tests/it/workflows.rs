//! The workflow engine through the core: the four MCP tools, the shipped workflows, start
//! policies, limits, timers on a virtual clock, nondeterminism and repair, tenancy. Every
//! case runs on SQLite and PostgreSQL.

use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use waymark_core::workflow::StartWorkflowParams;
use waymark_core::{Principal, Service, ServiceConfig};
use waymark_engine::{
    Activity, ActivityContext, ActivityError, InstanceId, Namespace, Registry, Workflow, WorkflowContext,
    WorkflowResult,
};
use waymark_testkit::{TestService, on_both_backends};

async fn call(s: &Service, p: &Principal, tool: &str, args: Value) -> (bool, Value) {
    let r = s.call_tool(p, tool, args, &CancellationToken::new()).await.expect("known tool");
    (r.is_error, Value::Object(r.structured))
}

/// Polls `get_workflow_result` (real time, at most 20 s) until the run is closed.
async fn closed(s: &Service, p: &Principal, workflow_id: &str) -> Value {
    for _ in 0..40 {
        let (err, result) =
            call(s, p, "get_workflow_result", json!({ "workflow_id": workflow_id, "wait_seconds": 1 })).await;
        assert!(!err, "{result}");
        if result["running"] == false {
            return result;
        }
    }
    panic!("workflow {workflow_id} did not close");
}

async fn event_types(s: &Service, p: &Principal, workflow_id: &str) -> Vec<String> {
    let (err, history) = call(s, p, "get_workflow_history", json!({ "workflow_id": workflow_id, "limit": 100 })).await;
    assert!(!err, "{history}");
    let events = history["events"].as_array().expect("events");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["sequence"], json!(i + 1), "sequences are contiguous from 1: {history}");
    }
    events.iter().map(|e| e["event_type"].as_str().expect("type").to_owned()).collect()
}

/// Waits (real time, at most 10 s) until the run's history holds `event_type`.
async fn until_recorded(s: &Service, p: &Principal, workflow_id: &str, event_type: &str) {
    for _ in 0..200 {
        if event_types(s, p, workflow_id).await.iter().any(|t| t == event_type) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{workflow_id} never recorded {event_type}: {:?}", event_types(s, p, workflow_id).await);
}

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

async fn simple_runs_the_seed_loop(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    let (err, list) = call(s, &me, "list_workflows", json!({ "show_recent": true, "limit": 5 })).await;
    assert!(!err, "{list}");
    let keys: Vec<_> = list["available_workflows"].as_array().unwrap().iter().map(|w| w["key"].clone()).collect();
    assert_eq!(keys, [json!("simple"), json!("elapsed")]);
    assert_eq!(list["available_workflows"][0]["arguments"], json!([]));
    assert_eq!(list["available_workflows"][0]["safe_for_smoke"], true);
    assert_eq!(list["available_workflows"][0]["expected_output"], "workflow_activity_other");
    assert_eq!(
        list["status_values"],
        json!(["pending", "running", "waiting", "cancelled", "terminated", "completed", "failed"])
    );
    assert_eq!(
        (list["workflow_id_kind"].clone(), list["run_id_kind"].clone()),
        (json!("workflow_instance_id"), json!("workflow_run_id"))
    );
    assert_eq!(list["allow_fqcn"], false);
    assert_eq!(list["recent_workflows"], json!([]));

    let (err, started) =
        call(s, &me, "start_workflow", json!({ "workflow": "simple", "business_key": "demo-001" })).await;
    assert!(!err, "{started}");
    assert_eq!(started["status"], "pending");
    assert_eq!(started["running"], true);
    assert_eq!(started["business_key"], "demo-001");
    assert_eq!(started["command"]["outcome"], "started_new");
    assert_eq!(started["command"]["status"], "accepted");
    assert_eq!(started["workflow_class"], "waymark_core::workflow::builtin::Simple");
    let id = started["workflow_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 26, "a generated instance id is a ULID");
    // No worker yet: the seed's test sees exactly the two start events and no output.
    assert_eq!(event_types(s, &me, &id).await, ["StartAccepted", "WorkflowStarted"]);
    let (_, pending) = call(s, &me, "get_workflow_result", json!({ "workflow_id": id })).await;
    assert_eq!((pending["status"].clone(), pending["output"].clone()), (json!("pending"), Value::Null));

    let workers = s.spawn_workflow_workers().await;
    let result = closed(s, &me, &id).await;
    assert_eq!(result["status"], "completed", "{result}");
    assert_eq!(result["output"], "workflow_activity_other");
    assert_eq!(result["error"], Value::Null);
    assert_eq!(result["current_run_is_selected"], true);
    assert_eq!(event_types(s, &me, &id).await, SIMPLE_HISTORY);

    let run_id = result["run_id"].as_str().unwrap();
    let (_, history) = call(s, &me, "get_workflow_history", json!({ "run_id": run_id, "limit": 25 })).await;
    assert_eq!(history["history_event_count"], 9);
    assert_eq!(history["returned_event_count"], 9);
    assert_eq!(history["events_are_most_recent"], true);
    assert_eq!(history["payload_preview_limit_bytes"], 4096);
    assert_eq!(history["failures"], json!([]));
    assert_eq!(history["events"][0]["payload_keys"][0], "business_key");
    let (_, recent) = call(s, &me, "list_workflows", json!({ "show_recent": true, "limit": 5 })).await;
    let row = &recent["recent_workflows"][0];
    assert_eq!(
        (row["workflow_id"].as_str(), row["status"].as_str(), row["is_current_run"].as_bool()),
        (Some(id.as_str()), Some("completed"), Some(true))
    );
    assert_eq!(row["history_event_count"], 9);
    let metrics = s.metrics_text();
    for line in [
        r#"waymark_workflow_work_total{kind="activities_completed"} 2"#,
        r#"waymark_workflow_work_total{kind="runs_closed"} 1"#,
        r#"waymark_workflow_work_total{kind="activity_attempts"} 2"#,
        "waymark_workflow_running_activities 0",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    workers.shutdown(Duration::from_secs(1)).await;
}

async fn elapsed_records_its_side_effects_and_skips_time(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    let workers = s.spawn_workflow_workers().await;
    let (_, started) = call(s, &me, "start_workflow", json!({ "workflow": "elapsed" })).await;
    let id = started["workflow_id"].as_str().unwrap().to_owned();
    until_recorded(s, &me, &id, "ActivityStarted").await;
    // The activity sleeps 3 s on the engine's clock: skip them.
    t.clock.advance(Duration::from_secs(3));
    let result = closed(s, &me, &id).await;
    assert_eq!(result["output"], "Elapsed Time: 3 seconds", "{result}");
    assert_eq!(
        event_types(s, &me, &id).await,
        [
            "StartAccepted",
            "WorkflowStarted",
            "SideEffectRecorded",
            "ActivityScheduled",
            "ActivityStarted",
            "ActivityCompleted",
            "SideEffectRecorded",
            "WorkflowCompleted"
        ]
    );
    workers.shutdown(Duration::from_secs(1)).await;
}

/// Sleeps for `days` days on a durable timer.
struct Sleeper;

#[async_trait::async_trait]
impl Workflow for Sleeper {
    const TYPE: &'static str = "sleeper";
    type Input = u64;
    type Output = String;
    async fn run(&self, ctx: &WorkflowContext, days: u64) -> WorkflowResult<String> {
        ctx.sleep(Duration::from_secs(days * 86_400)).await?;
        Ok(format!("woke at {}", ctx.now().to_rfc3339()))
    }
}

/// Makes `side_effects` side effects, then waits for the signal `go` and returns it.
struct Waiter;

#[async_trait::async_trait]
impl Workflow for Waiter {
    const TYPE: &'static str = "waiter";
    const SIGNALS: &'static [&'static str] = &["go"];
    type Input = u64;
    type Output = String;
    async fn run(&self, ctx: &WorkflowContext, side_effects: u64) -> WorkflowResult<String> {
        for i in 0..side_effects {
            ctx.side_effect(|| i)?;
        }
        ctx.wait_signal::<String>("go").await
    }
}

/// Echoes its input.
struct Echo;

#[async_trait::async_trait]
impl Activity for Echo {
    const TYPE: &'static str = "echo";
    type Input = String;
    type Output = String;
    async fn run(&self, _ctx: &ActivityContext, input: String) -> Result<String, ActivityError> {
        Ok(input)
    }
}

/// Version 1: echo "a", wait for `go`, echo "b".
struct Deploy1;

#[async_trait::async_trait]
impl Workflow for Deploy1 {
    const TYPE: &'static str = "deploy";
    const SIGNALS: &'static [&'static str] = &["go"];
    type Input = ();
    type Output = String;
    async fn run(&self, ctx: &WorkflowContext, _input: ()) -> WorkflowResult<String> {
        let a = ctx.activity::<Echo>("a".into()).await?;
        let _: Value = ctx.wait_signal("go").await?;
        let b = ctx.activity::<Echo>("b".into()).await?;
        Ok(a + &b)
    }
}

/// A careless version 2: sleeps before the first activity, which history does not have.
struct Deploy2Broken;

#[async_trait::async_trait]
impl Workflow for Deploy2Broken {
    const TYPE: &'static str = "deploy";
    const SIGNALS: &'static [&'static str] = &["go"];
    type Input = ();
    type Output = String;
    async fn run(&self, ctx: &WorkflowContext, _input: ()) -> WorkflowResult<String> {
        ctx.sleep(Duration::from_secs(1)).await?;
        let a = ctx.activity::<Echo>("a".into()).await?;
        let _: Value = ctx.wait_signal("go").await?;
        Ok(a)
    }
}

fn test_types(config: &mut ServiceConfig) {
    config.workflows.registry = Registry::new().workflow(Sleeper).workflow(Waiter).workflow(Deploy1).activity(Echo);
}

async fn with_types(t: &TestService) -> Service {
    t.open_another(test_types).await
}

async fn a_thirty_day_timer_fires_when_the_clock_skips(t: &TestService) {
    let s = with_types(t).await;
    let me = t.principal("default").await;
    let workers = s.spawn_workflow_workers().await;
    let started = s
        .workflow_start(
            &me,
            StartWorkflowParams { workflow: "sleeper".into(), arguments: Some(vec![json!(30)]), ..Default::default() },
            "library",
        )
        .await
        .expect("starts");
    until_recorded(&s, &me, &started.workflow_id, "TimerScheduled").await;
    let (_, waiting) = call(&s, &me, "get_workflow_result", json!({ "workflow_id": started.workflow_id })).await;
    assert_eq!((waiting["status"].clone(), waiting["wait_kind"].clone()), (json!("waiting"), json!("timer")));
    t.clock.advance(Duration::from_secs(30 * 86_400 - 1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, early) = call(&s, &me, "get_workflow_result", json!({ "workflow_id": started.workflow_id })).await;
    assert_eq!(early["status"], "waiting", "a timer never fires before fire_at");
    t.clock.advance(Duration::from_secs(1));
    let result = closed(&s, &me, &started.workflow_id).await;
    assert_eq!(result["output"], "woke at 2026-01-31T12:00:00+00:00", "{result}");
    assert_eq!(
        event_types(&s, &me, &started.workflow_id).await,
        ["StartAccepted", "WorkflowStarted", "TimerScheduled", "TimerFired", "WorkflowCompleted"]
    );
    workers.shutdown(Duration::from_secs(1)).await;
    s.shutdown().await;
}

async fn duplicate_starts_follow_the_policy(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    let args = json!({ "workflow": "simple", "instance_id": "order-42" });
    let (err, first) = call(s, &me, "start_workflow", args.clone()).await;
    assert!(!err, "{first}");
    let (err, again) = call(s, &me, "start_workflow", args.clone()).await;
    assert!(err);
    assert_eq!(again["code"], "conflict");
    assert_eq!(again["error"], "Workflow instance [order-42] has already started.");
    assert_eq!(again["details"]["command"]["outcome"], "rejected_duplicate");
    assert_eq!(again["details"]["command"]["rejection_reason"], "instance_already_started");
    let mut existing = args.clone();
    existing["duplicate_start_policy"] = json!("return_existing_active");
    let (err, returned) = call(s, &me, "start_workflow", existing.clone()).await;
    assert!(!err, "{returned}");
    assert_eq!(returned["run_id"], first["run_id"]);
    assert_eq!(returned["command"]["outcome"], "returned_existing_active");
    assert_eq!(
        event_types(s, &me, "order-42").await,
        ["StartAccepted", "WorkflowStarted", "StartRejected", "StartAccepted"]
    );
    let workers = s.spawn_workflow_workers().await;
    closed(s, &me, "order-42").await;
    workers.shutdown(Duration::from_secs(1)).await;
    // A closed instance is never started again, whatever the policy.
    let (err, after) = call(s, &me, "start_workflow", existing).await;
    assert!(err);
    assert_eq!(after["details"]["command"]["outcome"], "rejected_duplicate");
    // An instance id belongs to one workflow type.
    let (err, other) =
        call(s, &me, "start_workflow", json!({ "workflow": "elapsed", "instance_id": "order-42" })).await;
    assert!(err);
    assert_eq!(other["code"], "conflict");
}

async fn sixteen_concurrent_identical_starts_make_one_run(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    let mut starts = Vec::new();
    for _ in 0..16 {
        let (s, me) = (s.clone(), me.clone());
        starts.push(tokio::spawn(async move {
            let params = StartWorkflowParams {
                workflow: "simple".into(),
                instance_id: Some("race-1".into()),
                duplicate_start_policy: Some(waymark_engine::DuplicateStartPolicy::ReturnExistingActive),
                ..Default::default()
            };
            s.workflow_start(&me, params, "library").await
        }));
    }
    let mut outcomes = Vec::new();
    let mut runs = std::collections::BTreeSet::new();
    for start in starts {
        let started = start.await.expect("joined").expect("every start succeeds");
        runs.insert(started.run_id.clone());
        outcomes.push(started.command.outcome.as_str().to_owned());
    }
    assert_eq!(runs.len(), 1, "one run: {runs:?}");
    assert_eq!(outcomes.iter().filter(|o| *o == "started_new").count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| *o == "returned_existing_active").count(), 15);
    let types = event_types(s, &me, "race-1").await;
    assert_eq!(types.len(), 17);
    assert_eq!(types.iter().filter(|t| *t == "StartAccepted").count(), 16);
}

async fn workflows_are_scoped_by_workspace(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    let other = t.principal("other").await;
    let (_, started) = call(s, &me, "start_workflow", json!({ "workflow": "simple", "instance_id": "mine" })).await;
    let (err, seen) = call(s, &other, "get_workflow_result", json!({ "workflow_id": "mine" })).await;
    assert!(!err);
    assert_eq!(
        seen,
        json!({ "success": true, "found": false, "workflow_id": "mine", "run_id": null, "message": "Workflow mine not found." })
    );
    let (_, by_run) = call(s, &other, "get_workflow_history", json!({ "run_id": started["run_id"] })).await;
    assert_eq!(by_run["found"], false);
    let (_, listed) = call(s, &other, "list_workflows", json!({ "show_recent": true })).await;
    assert_eq!(listed["recent_workflows"], json!([]));
    // The same instance id is free in another workspace.
    let (err, theirs) = call(s, &other, "start_workflow", json!({ "workflow": "simple", "instance_id": "mine" })).await;
    assert!(!err, "{theirs}");
    assert_ne!(theirs["run_id"], started["run_id"]);
}

async fn bad_input_is_refused_and_writes_nothing(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    for (args, code, message) in [
        (
            json!({ "workflow": "nope" }),
            "validation_error",
            "Unknown workflow [nope]. Available: simple, elapsed. Expose a workflow type with [workflows.<key>] in waymark.toml.",
        ),
        (
            json!({ "workflow": "simple", "arguments": [1] }),
            "validation_error",
            "Workflow simple accepts no arguments; received 1.",
        ),
        (
            json!({ "workflow": "simple", "instance_id": "has space" }),
            "validation_error",
            "instance_id does not match the required pattern ^[A-Za-z0-9._:-]+$",
        ),
        (json!({ "workflow": "simple", "business_key": "   " }), "validation_error", "business_key must not be empty"),
        (
            json!({ "workflow": "simple", "search_attributes": { "o": { "nested": 1 } } }),
            "validation_error",
            "search_attributes value for \"o\" must be a scalar, null, or a list of strings of at most 191 characters",
        ),
        (
            json!({ "workflow": "simple", "visibility_labels": { "bad key": "x" } }),
            "validation_error",
            "visibility_labels key \"bad key\" must be 1-64 characters of A-Z, a-z, 0-9, '_', '.', ':' or '-'",
        ),
        (
            json!({ "workflow": "simple", "duplicate_start_policy": "use-existing" }),
            "validation_error",
            "duplicate_start_policy must be one of: reject_duplicate, return_existing_active",
        ),
    ] {
        let (err, result) = call(s, &me, "start_workflow", args.clone()).await;
        assert!(err, "{args} should fail");
        assert_eq!(
            (result["code"].as_str(), result["error"].as_str()),
            (Some(code), Some(message)),
            "{args}: {result}"
        );
    }
    let (err, result) = call(s, &me, "get_workflow_history", json!({})).await;
    assert!(err);
    assert_eq!(result["error"], "Provide workflow_id or run_id.");
    let (_, listed) = call(s, &me, "list_workflows", json!({ "show_recent": true })).await;
    assert_eq!(listed["recent_workflows"], json!([]), "nothing was written");
    let (err, bad_status) = call(s, &me, "list_workflows", json!({ "status": "done" })).await;
    assert!(err, "{bad_status}");
}

async fn payloads_over_the_limit_are_refused_at_the_boundary(t: &TestService) {
    let limit = 1024;
    let s = t
        .open_another(|c| {
            test_types(c);
            c.workflows.engine.limits.payload_max_bytes = limit;
            c.workflows.exposures.push(waymark_core::workflow::Exposure::exposed("waiter"));
        })
        .await;
    let me = t.principal("default").await;
    // The signal payload is a JSON string: its size is the text plus two quotes.
    let ns = Namespace::new(me.workspace_id.as_str());
    let started = s
        .workflow_start(
            &me,
            StartWorkflowParams { workflow: "waiter".into(), arguments: Some(vec![json!(0)]), ..Default::default() },
            "library",
        )
        .await
        .expect("starts");
    let id = InstanceId::parse(&started.workflow_id).unwrap();
    for (size, ok) in [(limit - 1, true), (limit, true), (limit + 1, false)] {
        let arguments = json!("x".repeat(size - 2));
        assert_eq!(serde_json::to_vec(&arguments).unwrap().len(), size);
        let sent = s.engine().signal(&ns, &id, "go", arguments, "test").await;
        assert_eq!(sent.is_ok(), ok, "{size} bytes: {sent:?}");
        if !ok {
            assert!(matches!(sent, Err(waymark_engine::EngineError::LimitExceeded(_))));
        }
    }
    let (err, big) = call(
        &s,
        &me,
        "start_workflow",
        json!({ "workflow": "waiter", "arguments": [0], "memo": { "m": "x".repeat(limit) } }),
    )
    .await;
    assert!(!err, "memo has its own 256 KiB limit: {big}");
    s.shutdown().await;
}

async fn a_history_at_its_length_limit_fails_the_run(t: &TestService) {
    let s = t
        .open_another(|c| {
            test_types(c);
            c.workflows.engine.limits.history_max_events = 20;
        })
        .await;
    let me = t.principal("default").await;
    let workers = s.spawn_workflow_workers().await;
    // StartAccepted + WorkflowStarted + n side effects, then the run waits for a signal.
    let mut ids = Vec::new();
    for n in [17_u64, 18, 19] {
        let started = s
            .workflow_start(
                &me,
                StartWorkflowParams {
                    workflow: "waiter".into(),
                    arguments: Some(vec![json!(n)]),
                    ..Default::default()
                },
                "library",
            )
            .await
            .expect("starts");
        ids.push((n, started.workflow_id));
    }
    for (n, id) in &ids {
        until_recorded(&s, &me, id, "SideEffectRecorded").await;
        let mut result = Value::Null;
        for _ in 0..100 {
            let (_, r) = call(&s, &me, "get_workflow_result", json!({ "workflow_id": id })).await;
            result = r;
            if result["status"] != "pending" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if *n == 17 {
            assert_eq!(result["status"], "waiting", "19 events is under the limit: {result}");
        } else {
            assert_eq!(result["status"], "failed", "{n}: {result}");
            assert_eq!(result["error"]["category"], "structural_limit");
            assert_eq!(result["error"]["source_kind"], "structural_limit");
            let types = event_types(&s, &me, id).await;
            assert_eq!(types.last().map(String::as_str), Some("WorkflowFailed"));
            assert_eq!(types.len() as u64, n + 3);
        }
    }
    workers.shutdown(Duration::from_secs(1)).await;
    s.shutdown().await;
}

async fn nondeterminism_blocks_the_run_until_a_repair_after_the_fix(t: &TestService) {
    let me = t.principal("default").await;
    let ns = Namespace::new(me.workspace_id.as_str());
    // Version 1 runs until it waits for the signal.
    let v1 = with_types(t).await;
    let workers = v1.spawn_workflow_workers().await;
    let started = v1
        .workflow_start(
            &me,
            StartWorkflowParams {
                workflow: "deploy".into(),
                instance_id: Some("deploy-1".into()),
                ..Default::default()
            },
            "library",
        )
        .await
        .expect("starts");
    until_recorded(&v1, &me, &started.workflow_id, "ActivityCompleted").await;
    workers.shutdown(Duration::from_secs(1)).await;
    v1.shutdown().await;
    // A broken version 2 cannot replay that history: the run stays open with a task problem.
    let v2 = t
        .open_another(|c| {
            c.workflows.registry = Registry::new().workflow(Deploy2Broken).workflow(Waiter).activity(Echo)
        })
        .await;
    let workers = v2.spawn_workflow_workers().await;
    let id = InstanceId::parse("deploy-1").unwrap();
    v2.engine().signal(&ns, &id, "go", json!("now"), "test").await.expect("signal accepted");
    let mut blocked = Value::Null;
    for _ in 0..100 {
        let (_, r) = call(&v2, &me, "get_workflow_result", json!({ "workflow_id": "deploy-1" })).await;
        blocked = r;
        if blocked["task_problem"] != Value::Null {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(blocked["task_problem"], "nondeterminism", "{blocked}");
    assert_eq!(blocked["running"], true, "the run stays open");
    let (_, history) = call(&v2, &me, "get_workflow_history", json!({ "workflow_id": "deploy-1" })).await;
    assert_eq!(history["failures"][0]["category"], "task_failure");
    assert!(history["failures"][0]["message"].as_str().unwrap().contains("TimerScheduled at command 1"), "{history}");
    workers.shutdown(Duration::from_secs(1)).await;
    v2.shutdown().await;
    // The fix (version 1 again) plus a repair resumes it from where history ends.
    let fixed = with_types(t).await;
    let workers = fixed.spawn_workflow_workers().await;
    let repaired = fixed.engine().repair(&ns, &id, "test").await.expect("repair");
    assert_eq!(repaired.outcome.as_str(), "repair_dispatched");
    let result = closed(&fixed, &me, "deploy-1").await;
    assert_eq!(result["output"], "ab", "{result}");
    let types = event_types(&fixed, &me, "deploy-1").await;
    assert!(types.contains(&"RepairRequested".to_owned()) && types.contains(&"SignalReceived".to_owned()), "{types:?}");
    workers.shutdown(Duration::from_secs(1)).await;
    fixed.shutdown().await;
}

async fn terminate_and_cancel_close_runs(t: &TestService) {
    let s = with_types(t).await;
    let me = t.principal("default").await;
    let ns = Namespace::new(me.workspace_id.as_str());
    let workers = s.spawn_workflow_workers().await;
    for (instance, how) in [("t-1", "terminate"), ("c-1", "cancel")] {
        s.workflow_start(
            &me,
            StartWorkflowParams {
                workflow: "sleeper".into(),
                arguments: Some(vec![json!(1)]),
                instance_id: Some(instance.into()),
                ..Default::default()
            },
            "library",
        )
        .await
        .expect("starts");
        until_recorded(&s, &me, instance, "TimerScheduled").await;
        let id = InstanceId::parse(instance).unwrap();
        let receipt = if how == "terminate" {
            s.engine().terminate(&ns, &id, Some("ops"), "test").await
        } else {
            s.engine().cancel(&ns, &id, Some("ops"), "test").await
        }
        .expect("accepted");
        assert_eq!(receipt.status.as_str(), "accepted");
        let result = closed(&s, &me, instance).await;
        let types = event_types(&s, &me, instance).await;
        if how == "terminate" {
            assert_eq!(result["status"], "terminated");
            assert_eq!(&types[3..], ["TerminateRequested", "WorkflowTerminated"]);
        } else {
            assert_eq!(result["status"], "cancelled");
            assert_eq!(&types[3..], ["CancelRequested", "TimerCancelled", "WorkflowCancelled"]);
        }
    }
    // The timers were cancelled: skipping past them fires nothing.
    t.clock.advance(Duration::from_secs(2 * 86_400));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(event_types(&s, &me, "t-1").await.len(), 5);
    workers.shutdown(Duration::from_secs(1)).await;
    s.shutdown().await;
}

async fn history_pages_backwards_with_previews(t: &TestService) {
    let s = with_types(t).await;
    let me = t.principal("default").await;
    let workers = s.spawn_workflow_workers().await;
    let started = s
        .workflow_start(
            &me,
            StartWorkflowParams { workflow: "waiter".into(), arguments: Some(vec![json!(10)]), ..Default::default() },
            "library",
        )
        .await
        .expect("starts");
    until_recorded(&s, &me, &started.workflow_id, "SideEffectRecorded").await;
    let (_, page) = call(
        &s,
        &me,
        "get_workflow_history",
        json!({ "workflow_id": started.workflow_id, "limit": 5, "include_payloads": true }),
    )
    .await;
    assert_eq!(page["history_event_count"], 12);
    let sequences: Vec<_> = page["events"].as_array().unwrap().iter().map(|e| e["sequence"].clone()).collect();
    assert_eq!(sequences, [json!(8), json!(9), json!(10), json!(11), json!(12)]);
    assert_eq!(
        page["events"][0]["payload_preview"],
        json!({ "encoding": "json", "size_bytes": 25, "preview_bytes": 25, "truncated": false, "preview": "{\"result\":5,\"sequence\":6}" })
    );
    let cursor = page["next_cursor"].clone();
    assert_eq!(cursor, "s8");
    let (_, older) = call(
        &s,
        &me,
        "get_workflow_history",
        json!({ "workflow_id": started.workflow_id, "limit": 5, "cursor": cursor }),
    )
    .await;
    let sequences: Vec<_> = older["events"].as_array().unwrap().iter().map(|e| e["sequence"].clone()).collect();
    assert_eq!(sequences, [json!(3), json!(4), json!(5), json!(6), json!(7)]);
    assert_eq!(older["events_are_most_recent"], false);
    assert!(older["events"][0].get("payload_preview").is_none());
    let (_, oldest) = call(
        &s,
        &me,
        "get_workflow_history",
        json!({ "workflow_id": started.workflow_id, "limit": 5, "cursor": older["next_cursor"] }),
    )
    .await;
    assert_eq!(oldest["returned_event_count"], 2);
    assert_eq!(oldest["next_cursor"], Value::Null);
    let (err, bad) =
        call(&s, &me, "get_workflow_history", json!({ "workflow_id": started.workflow_id, "cursor": "page-2" })).await;
    assert!(err);
    assert_eq!(bad["code"], "validation_error");
    workers.shutdown(Duration::from_secs(1)).await;
    s.shutdown().await;
}

on_both_backends!(
    simple_runs_the_seed_loop,
    elapsed_records_its_side_effects_and_skips_time,
    a_thirty_day_timer_fires_when_the_clock_skips,
    duplicate_starts_follow_the_policy,
    sixteen_concurrent_identical_starts_make_one_run,
    workflows_are_scoped_by_workspace,
    bad_input_is_refused_and_writes_nothing,
    payloads_over_the_limit_are_refused_at_the_boundary,
    a_history_at_its_length_limit_fails_the_run,
    nondeterminism_blocks_the_run_until_a_repair_after_the_fix,
    terminate_and_cancel_close_runs,
    history_pages_backwards_with_previews,
);
