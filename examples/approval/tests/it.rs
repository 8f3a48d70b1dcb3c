//! The approval example end to end through the core: approved by signal, and expired by the
//! durable timer on a virtual clock.

use std::time::Duration;

use serde_json::{Value, json};
use waymark_core::workflow::{GetWorkflowResultParams, StartWorkflowParams};
use waymark_core::{Principal, Service};
use waymark_engine::{InstanceId, Namespace};
use waymark_testkit::{Backend, TestService};

async fn result(s: &Service, me: &Principal, id: &str) -> Value {
    let params = GetWorkflowResultParams { workflow_id: id.into(), wait_seconds: Some(1), ..Default::default() };
    serde_json::to_value(s.get_workflow_result(me, params).await.expect("result")).expect("json")
}

async fn until(s: &Service, me: &Principal, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..40 {
        let r = result(s, me, id).await;
        if done(&r) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{id}: {}", result(s, me, id).await);
}

async fn start(s: &Service, me: &Principal, id: &str) {
    let params = StartWorkflowParams {
        workflow: "approval".into(),
        arguments: Some(vec![json!("deploy v2"), json!(2)]),
        instance_id: Some(id.into()),
        ..Default::default()
    };
    s.workflow_start(me, params, "library").await.expect("starts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_signal_ships_the_ticket() {
    let t = TestService::start(Backend::Sqlite).await;
    let s = t.open_another(|c| c.workflows.registry = waymark_example_approval::registry()).await;
    let me = t.principal("default").await;
    let workers = s.spawn_workflow_workers().await;
    start(&s, &me, "approve-1").await;
    until(&s, &me, "approve-1", |r| r["wait_kind"] == "timer").await;
    let ns = Namespace::new(me.workspace_id.as_str());
    let id = InstanceId::parse("approve-1").expect("id");
    s.engine().signal(&ns, &id, "approve", json!({ "approved": true, "by": "ada" }), "test").await.expect("signal");
    let done = until(&s, &me, "approve-1", |r| r["running"] == false).await;
    assert_eq!(done["output"], "shipped ticket for deploy v2 (approved by ada)", "{done}");
    workers.shutdown(Duration::from_secs(1)).await;
    s.shutdown().await;
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_decision_the_request_expires_on_its_timer() {
    let t = TestService::start(Backend::Sqlite).await;
    let s = t.open_another(|c| c.workflows.registry = waymark_example_approval::registry()).await;
    let me = t.principal("default").await;
    let workers = s.spawn_workflow_workers().await;
    start(&s, &me, "approve-2").await;
    until(&s, &me, "approve-2", |r| r["wait_kind"] == "timer").await;
    t.clock.advance(Duration::from_secs(2 * 3600));
    let done = until(&s, &me, "approve-2", |r| r["running"] == false).await;
    assert_eq!(done["output"], "ticket for deploy v2 expired: no decision within 2 h", "{done}");
    workers.shutdown(Duration::from_secs(1)).await;
    s.shutdown().await;
    t.finish().await;
}
