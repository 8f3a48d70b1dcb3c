//! Recorded histories (`tests/data/histories/*.json`) replay against today's code: the
//! Temporal replay-test pattern. A code change that would strand runs already in flight (a
//! reordered activity, a removed timer) fails here, in CI, before it ships.
//!
//! One history per shipped workflow and per engine feature. To record them again after an
//! intended, compatible change (or to add one), run
//! `WAYMARK_RECORD_HISTORIES=1 cargo nextest run -p waymark-core histories` and review the diff:
//! a history that changes shape means runs recorded before the change may no longer replay.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use waymark_core::workflow::{StartWorkflowParams, builtin};
use waymark_core::{Principal, Service};
use waymark_engine::store::RunFilter;
use waymark_engine::{
    Activity, ActivityContext, ActivityError, ActivityOptions, Event, HistoryEvent, InstanceId, Namespace, Registry,
    RetryPolicy, Workflow, WorkflowContext, WorkflowError, WorkflowResult, replay_history,
};
use waymark_testkit::{Backend, TestService, VirtualClock};

struct Echo;

#[async_trait::async_trait]
impl Activity for Echo {
    const TYPE: &'static str = "hist_echo";
    type Input = String;
    type Output = String;
    async fn run(&self, _ctx: &ActivityContext, input: String) -> Result<String, ActivityError> {
        Ok(input)
    }
}

/// Fails its first two attempts, then succeeds.
struct Flaky;

#[async_trait::async_trait]
impl Activity for Flaky {
    const TYPE: &'static str = "hist_flaky";
    type Input = ();
    type Output = u32;
    async fn run(&self, ctx: &ActivityContext, _input: ()) -> Result<u32, ActivityError> {
        match ctx.info().attempt_number {
            n if n < 3 => Err(ActivityError::new("Unavailable", format!("attempt {n} failed"))),
            n => Ok(n),
        }
    }
}

/// Always fails, non-retryably.
struct Broken;

#[async_trait::async_trait]
impl Activity for Broken {
    const TYPE: &'static str = "hist_broken";
    type Input = ();
    type Output = ();
    async fn run(&self, _ctx: &ActivityContext, _input: ()) -> Result<(), ActivityError> {
        Err(ActivityError::non_retryable("InvalidCustomer", "no such customer"))
    }
}

/// A durable timer of a day, then an activity.
struct Timer;

#[async_trait::async_trait]
impl Workflow for Timer {
    const TYPE: &'static str = "hist_timer";
    type Input = ();
    type Output = String;
    async fn run(&self, ctx: &WorkflowContext, _input: ()) -> WorkflowResult<String> {
        ctx.sleep(Duration::from_secs(86_400)).await?;
        Ok(ctx.activity::<Echo>("woke".into()).await?)
    }
}

/// Two signals, the first sent before the workflow waits (buffered).
struct Signals;

#[async_trait::async_trait]
impl Workflow for Signals {
    const TYPE: &'static str = "hist_signals";
    const SIGNALS: &'static [&'static str] = &["add"];
    type Input = ();
    type Output = String;
    async fn run(&self, ctx: &WorkflowContext, _input: ()) -> WorkflowResult<String> {
        let first = ctx.activity::<Echo>("started".into()).await?;
        let a: String = ctx.wait_signal("add").await?;
        let b: String = ctx.wait_signal("add").await?;
        Ok(format!("{first}:{a}+{b}"))
    }
}

/// Side effects, a version marker, upserts, deterministic randomness.
struct Markers;

#[async_trait::async_trait]
impl Workflow for Markers {
    const TYPE: &'static str = "hist_markers";
    type Input = ();
    type Output = Value;
    async fn run(&self, ctx: &WorkflowContext, _input: ()) -> WorkflowResult<Value> {
        let token: u64 = ctx.side_effect(|| 42)?;
        let v2 = ctx.patched("v2-greeting");
        ctx.upsert_search_attributes([("stage".to_owned(), json!("greeting"))].into())?;
        ctx.upsert_memo([("owner".to_owned(), json!({"team": "ops"}))].into())?;
        let greeting = ctx.activity::<Echo>(if v2 { "hello v2".into() } else { "hello".into() }).await?;
        Ok(json!({ "token": token, "greeting": greeting, "uuid": ctx.uuid(), "random": ctx.random() }))
    }
}

/// Continues as new until round 2.
struct Rounds;

#[async_trait::async_trait]
impl Workflow for Rounds {
    const TYPE: &'static str = "hist_rounds";
    type Input = u32;
    type Output = String;
    async fn run(&self, ctx: &WorkflowContext, round: u32) -> WorkflowResult<String> {
        ctx.activity::<Echo>(format!("round {round}")).await?;
        if round < 2 {
            return Err(ctx.continue_as_new(round + 1));
        }
        Ok(format!("done after {round} rounds"))
    }
}

/// An activity retried twice before it succeeds.
struct Retry;

#[async_trait::async_trait]
impl Workflow for Retry {
    const TYPE: &'static str = "hist_retry";
    type Input = ();
    type Output = u32;
    async fn run(&self, ctx: &WorkflowContext, _input: ()) -> WorkflowResult<u32> {
        let options = ActivityOptions::default().retry(RetryPolicy { maximum_attempts: 5, ..RetryPolicy::default() });
        Ok(ctx.activity_with::<Flaky>((), options).await?)
    }
}

/// Catches a failed activity and recovers with another.
struct Recover;

#[async_trait::async_trait]
impl Workflow for Recover {
    const TYPE: &'static str = "hist_recover";
    type Input = ();
    type Output = String;
    async fn run(&self, ctx: &WorkflowContext, _input: ()) -> WorkflowResult<String> {
        match ctx.activity::<Broken>(()).await {
            Ok(()) => Ok("unexpected".into()),
            Err(failure) => Ok(ctx.activity::<Echo>(format!("recovered from {}", failure.exception_type)).await?),
        }
    }
}

/// Sleeps; when cancelled, cleans up with an activity and ends cancelled.
struct Cancellable;

#[async_trait::async_trait]
impl Workflow for Cancellable {
    const TYPE: &'static str = "hist_cancellable";
    type Input = ();
    type Output = String;
    async fn run(&self, ctx: &WorkflowContext, _input: ()) -> WorkflowResult<String> {
        match ctx.sleep(Duration::from_secs(86_400)).await {
            Err(WorkflowError::Cancelled) => {
                ctx.activity::<Echo>("cleanup".into()).await?;
                Err(WorkflowError::Cancelled)
            }
            other => other.map(|()| "slept".to_owned()),
        }
    }
}

fn registry(clock: Arc<VirtualClock>) -> Registry {
    builtin::registry(clock)
        .workflow(Timer)
        .workflow(Signals)
        .workflow(Markers)
        .workflow(Rounds)
        .workflow(Retry)
        .workflow(Recover)
        .workflow(Cancellable)
        .activity(Echo)
        .activity(Flaky)
        .activity(Broken)
}

/// A recorded history file: every run of one workflow instance, oldest first.
#[derive(Debug, Serialize, Deserialize)]
struct Recording {
    /// What the recording shows.
    scenario: String,
    /// The workflow type key.
    workflow_type: String,
    /// Each run's history, in run order.
    runs: Vec<Vec<HistoryEvent>>,
}

fn histories_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/histories")
}

/// (file stem, workflow type, what it shows).
const SCENARIOS: &[(&str, &str, &str)] = &[
    ("simple", "simple", "the shipped smoke workflow: two activities"),
    ("elapsed", "elapsed", "the shipped time workflow: side effects around a sleeping activity"),
    ("timer", "hist_timer", "a durable timer of a day, then an activity"),
    ("signals", "hist_signals", "two signals, one buffered before the wait"),
    ("markers", "hist_markers", "side effect, version marker, search attribute and memo upserts, random and uuid"),
    ("continue_as_new", "hist_rounds", "continue-as-new across three runs"),
    ("activity_retry", "hist_retry", "an activity retried twice before it succeeds"),
    ("handled_failure", "hist_recover", "a non-retryable activity failure caught by the workflow"),
    ("cancellation", "hist_cancellable", "a cancel request ending a timer, cleanup, then WorkflowCancelled"),
];

#[test]
fn recorded_histories_replay_against_todays_code() {
    if std::env::var_os("WAYMARK_RECORD_HISTORIES").is_some() {
        return; // `record_histories` rewrites them in this run.
    }
    let registry = registry(Arc::new(VirtualClock::default()));
    for (stem, workflow_type, _) in SCENARIOS {
        let path = histories_dir().join(format!("{stem}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e}; record it with WAYMARK_RECORD_HISTORIES=1 (see this file's docs)", path.display())
        });
        let recording: Recording = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(&recording.workflow_type, workflow_type, "{stem}");
        assert!(!recording.runs.is_empty(), "{stem}: no runs");
        for (i, run) in recording.runs.iter().enumerate() {
            for (n, event) in run.iter().enumerate() {
                assert_eq!(event.sequence, n as u64 + 1, "{stem} run {i}: sequences are contiguous");
            }
            let replayed =
                replay_history(&registry, run).unwrap_or_else(|e| panic!("{stem} run {i} no longer replays: {e}"));
            assert!(replayed.closed, "{stem} run {i}: a recorded run is closed");
            assert!(replayed.pending_commands.is_empty(), "{stem} run {i}: {:?}", replayed.pending_commands);
        }
    }
}

/// Runs every scenario for real (SQLite, virtual clock) and writes its recording, when
/// `WAYMARK_RECORD_HISTORIES` is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_histories() {
    if std::env::var_os("WAYMARK_RECORD_HISTORIES").is_none() {
        return;
    }
    let t = TestService::start(Backend::Sqlite).await;
    let s = t.open_another(|c| c.workflows.registry = registry(Arc::clone(&t.clock))).await;
    let me = t.principal("default").await;
    let ns = Namespace::new(me.workspace_id.as_str());
    let workers = s.spawn_workflow_workers().await;
    std::fs::create_dir_all(histories_dir()).expect("histories dir");
    for (stem, workflow_type, scenario) in SCENARIOS {
        let instance = format!("hist-{stem}");
        let arguments = if *workflow_type == "hist_rounds" { Some(vec![json!(0)]) } else { None };
        s.workflow_start(
            &me,
            StartWorkflowParams {
                workflow: (*workflow_type).into(),
                arguments,
                instance_id: Some(instance.clone()),
                ..Default::default()
            },
            "library",
        )
        .await
        .expect("starts");
        let id = InstanceId::parse(&instance).expect("id");
        match *stem {
            "signals" => {
                s.engine().signal(&ns, &id, "add", json!("one"), "test").await.expect("signal");
                settle().await;
                s.engine().signal(&ns, &id, "add", json!("two"), "test").await.expect("signal");
            }
            "cancellation" => {
                settle().await;
                s.engine().cancel(&ns, &id, Some("no longer needed"), "test").await.expect("cancel");
                // Let the cancel decision land before the clock moves (a day's jump would
                // expire the cleanup activity's lease and record a second attempt).
                settle().await;
            }
            _ => {}
        }
        drive_until_closed(&s, &me, &t.clock, &instance).await;
        let mut runs = Vec::new();
        let mut all =
            s.engine().store().list_runs(&ns, &RunFilter { limit: 100, ..RunFilter::default() }).await.expect("runs");
        all.retain(|r| r.instance_id == id);
        all.sort_by_key(|r| r.run_number);
        for run in all {
            let stored = s.engine().store().history_page(&run.run_id, None, 10_000).await.expect("history");
            let events = stored
                .into_iter()
                .map(|e| HistoryEvent {
                    id: e.id,
                    sequence: e.sequence,
                    recorded_at: e.recorded_at,
                    event: Event::from_parts(&e.event_type, e.payload).expect("readable"),
                })
                .collect();
            runs.push(events);
        }
        let recording = Recording { scenario: (*scenario).into(), workflow_type: (*workflow_type).into(), runs };
        let text = serde_json::to_string_pretty(&recording).expect("serializable") + "\n";
        std::fs::write(histories_dir().join(format!("{stem}.json")), text).expect("write recording");
    }
    workers.shutdown(Duration::from_secs(1)).await;
    s.shutdown().await;
    t.finish().await;
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Advances the virtual clock a second at a time (timers, retries, sleeping activities)
/// until the instance's current run is closed.
async fn drive_until_closed(s: &Service, me: &Principal, clock: &VirtualClock, instance: &str) {
    for _ in 0..400 {
        let result = s
            .get_workflow_result(
                me,
                waymark_core::workflow::GetWorkflowResultParams { workflow_id: instance.into(), ..Default::default() },
            )
            .await
            .expect("result");
        let details = result.details.expect("found");
        if !details.running {
            return;
        }
        if details.wait_kind == Some(waymark_engine::WaitKind::Timer) {
            clock.advance(Duration::from_secs(86_400));
        } else {
            clock.advance(Duration::from_secs(1));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{instance} did not close");
}
