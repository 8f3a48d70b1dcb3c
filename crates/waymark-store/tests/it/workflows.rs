//! The workflow engine's store port (`EngineStore`, `EngineTx`) on both backends, plus the
//! PostgreSQL-only concurrency cases (row locks, `SKIP LOCKED`, `NOTIFY`/`LISTEN`).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use waymark_engine::event::{Labels, Metadata};
use waymark_engine::ids::{InstanceId, Namespace, RunId, ulid};
use waymark_engine::retry::{ActivityOptions, RetryPolicy};
use waymark_engine::status::{
    ClosedReason, CommandOutcome, CommandStatus, CommandType, FailureCategory, RunStatus, TaskProblem, WaitKind,
};
use waymark_engine::store::{
    ActivityRecord, ActivityStatus, AttemptRecord, AttemptStatus, CommandRecord, EngineStore, FailureRecord,
    InstanceRecord, RunFilter, RunRecord, StoreError, StoredEvent, TaskKind, TaskRecord, TaskStatus, TimerRecord,
    TimerStatus,
};
use waymark_engine::time::Timestamp;
use waymark_store::{Backend, Store};

// ---------------------------------------------------------------------------------------------
// Builders

/// 2026-01-01 12:00 plus `minutes`.
fn t(minutes: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

fn ns() -> Namespace {
    Namespace::new("ws_01alpha")
}

fn other_ns() -> Namespace {
    Namespace::new("ws_02beta")
}

fn new_run_id() -> RunId {
    RunId::generate(t(0))
}

fn instance(id: &str) -> InstanceRecord {
    InstanceRecord {
        namespace: ns(),
        instance_id: InstanceId::parse(id).unwrap(),
        workflow_type: "order".into(),
        current_run_id: None,
        run_count: 0,
        created_at: t(0),
        updated_at: t(0),
    }
}

/// A run with every optional field empty.
fn run(instance: &str, number: u32, status: RunStatus) -> RunRecord {
    RunRecord {
        run_id: new_run_id(),
        namespace: ns(),
        instance_id: InstanceId::parse(instance).unwrap(),
        run_number: number,
        workflow_type: "order".into(),
        status,
        closed_reason: None,
        wait_kind: None,
        task_problem: None,
        input: json!({"order": 42}),
        output: None,
        business_key: None,
        visibility_labels: Labels::new(),
        memo: Metadata::new(),
        search_attributes: Metadata::new(),
        last_sequence: 0,
        history_size_bytes: 0,
        pending_commands: 0,
        run_deadline_at: None,
        execution_deadline_at: None,
        continued_from_run_id: None,
        created_at: t(0),
        updated_at: t(0),
        started_at: None,
        closed_at: None,
    }
}

fn event(run_id: &RunId, sequence: u64) -> StoredEvent {
    StoredEvent {
        id: ulid(t(0)),
        run_id: run_id.clone(),
        sequence,
        event_type: if sequence == 1 { "WorkflowStarted".into() } else { "ActivityScheduled".into() },
        payload: json!({"n": sequence, "nested": {"list": [1, "two", null]}}),
        recorded_at: t(i64::try_from(sequence).unwrap()),
    }
}

fn task(run_id: &RunId, kind: TaskKind, status: TaskStatus, available_at: Timestamp) -> TaskRecord {
    TaskRecord {
        id: ulid(t(0)),
        namespace: ns(),
        run_id: run_id.clone(),
        kind,
        status,
        available_at,
        lease_owner: None,
        lease_expires_at: None,
        attempt_count: 0,
        activity_execution_id: None,
        created_at: t(-60),
        updated_at: t(-60),
    }
}

fn leased(mut task: TaskRecord, expires_at: Timestamp) -> TaskRecord {
    task.status = TaskStatus::Leased;
    task.lease_owner = Some("worker-1".into());
    task.lease_expires_at = Some(expires_at);
    task.attempt_count = 1;
    task
}

fn activity(run: &RunRecord, sequence: u64, status: ActivityStatus) -> ActivityRecord {
    ActivityRecord {
        id: ulid(t(0)),
        namespace: run.namespace.clone(),
        run_id: run.run_id.clone(),
        instance_id: run.instance_id.clone(),
        sequence,
        activity_type: "charge_card".into(),
        input: json!(["card", 12.5]),
        options: ActivityOptions::default(),
        status,
        attempt_count: 0,
        current_attempt_id: None,
        scheduled_at: t(i64::try_from(sequence).unwrap()),
        closed_at: None,
    }
}

fn timer(run_id: &RunId, sequence: u64, fire_at: Timestamp) -> TimerRecord {
    TimerRecord {
        id: ulid(t(0)),
        namespace: ns(),
        run_id: run_id.clone(),
        sequence,
        delay: Duration::from_millis(90_500),
        fire_at,
        status: TimerStatus::Pending,
        created_at: t(-10),
    }
}

fn command(run: &RunRecord, command_type: CommandType, status: CommandStatus, minute: i64) -> CommandRecord {
    CommandRecord {
        id: ulid(t(minute)),
        namespace: run.namespace.clone(),
        instance_id: run.instance_id.clone(),
        run_id: Some(run.run_id.clone()),
        command_type,
        status,
        outcome: None,
        rejection_reason: None,
        source: "mcp".into(),
        payload: json!({"name": "approve", "args": [minute]}),
        created_at: t(minute),
        applied_at: None,
    }
}

fn failure(run_id: &RunId, minute: i64) -> FailureRecord {
    FailureRecord {
        id: ulid(t(minute)),
        run_id: run_id.clone(),
        source_kind: "activity".into(),
        source_id: Some(format!("act-{minute}")),
        category: FailureCategory::Activity,
        exception_type: "PaymentDeclined".into(),
        message: format!("declined at minute {minute}"),
        non_retryable: minute % 2 == 0,
        handled: minute % 3 == 0,
        created_at: t(minute),
    }
}

/// Inserts runs in one committed transaction.
async fn insert_runs(store: &Store, runs: &[&RunRecord]) {
    let mut tx = store.begin().await.unwrap();
    for run in runs {
        tx.insert_run(run).await.unwrap();
    }
    tx.commit().await.unwrap();
}

async fn insert_tasks(store: &Store, tasks: &[&TaskRecord]) {
    let mut tx = store.begin().await.unwrap();
    for task in tasks {
        tx.insert_task(task).await.unwrap();
    }
    tx.commit().await.unwrap();
}

fn ids<T>(records: &[T], id: impl Fn(&T) -> String) -> Vec<String> {
    records.iter().map(id).collect()
}

// ---------------------------------------------------------------------------------------------
// Cases on both backends

pub(crate) async fn wf_instance_reserve_is_idempotent(store: &Store) {
    let first = instance("order-42");
    let mut tx = store.begin().await.unwrap();
    let (reserved, created) = tx.reserve_instance(&first).await.unwrap();
    assert!(created);
    assert_eq!(reserved, first);
    tx.commit().await.unwrap();

    // A second reservation (even with other values) finds the first one.
    let second = InstanceRecord { workflow_type: "other".into(), created_at: t(9), updated_at: t(9), ..first.clone() };
    let mut tx = store.begin().await.unwrap();
    let (reserved, created) = tx.reserve_instance(&second).await.unwrap();
    assert!(!created);
    assert_eq!(reserved, first);
    // The same call in the same transaction is idempotent too.
    assert_eq!(tx.reserve_instance(&second).await.unwrap(), (first.clone(), false));

    let run_id = new_run_id();
    let mut locked = tx.lock_instance(&first.namespace, &first.instance_id).await.unwrap().expect("instance");
    locked.current_run_id = Some(run_id.clone());
    locked.run_count = 1;
    locked.updated_at = t(3);
    tx.update_instance(&locked).await.unwrap();
    assert!(tx.lock_instance(&first.namespace, &InstanceId::parse("nope").unwrap()).await.unwrap().is_none());
    assert!(tx.lock_instance(&other_ns(), &first.instance_id).await.unwrap().is_none());
    tx.commit().await.unwrap();

    assert_eq!(store.instance(&ns(), &first.instance_id).await.unwrap(), Some(locked));
    assert_eq!(store.instance(&other_ns(), &first.instance_id).await.unwrap(), None);

    // The same id in another namespace is another instance.
    let elsewhere = InstanceRecord { namespace: other_ns(), ..first.clone() };
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.reserve_instance(&elsewhere).await.unwrap(), (elsewhere.clone(), true));
    tx.commit().await.unwrap();
}

pub(crate) async fn wf_run_round_trips_every_field(store: &Store) {
    let long_id = "i".repeat(191);
    let bare = run(&long_id, 1, RunStatus::Pending);
    let mut full = run(&long_id, 2, RunStatus::Waiting);
    full.wait_kind = Some(WaitKind::Signal);
    full.task_problem = Some(TaskProblem::Nondeterminism);
    full.input = json!({"deep": {"a": [1, 2.5, "x", true, null]}, "unicode": "été ✓"});
    full.output = Some(json!("partial"));
    full.business_key = Some("demo-001".into());
    full.visibility_labels = BTreeMap::from([("team".into(), "payments".into()), ("env".into(), "prod".into())]);
    full.memo = BTreeMap::from([("note".into(), json!({"why": "test"})), ("n".into(), json!(3))]);
    full.search_attributes = BTreeMap::from([("Customer".into(), json!("acme")), ("Tags".into(), json!(["a", "b"]))]);
    full.last_sequence = 17;
    full.history_size_bytes = 4_096;
    full.pending_commands = 2;
    full.run_deadline_at = Some(t(60));
    full.execution_deadline_at = Some(t(120));
    full.continued_from_run_id = Some(bare.run_id.clone());
    full.created_at = t(1);
    full.updated_at = t(2);
    full.started_at = Some(t(1));
    insert_runs(store, &[&bare, &full]).await;

    assert_eq!(store.run(&ns(), &bare.run_id).await.unwrap(), Some(bare.clone()));
    assert_eq!(store.run(&ns(), &full.run_id).await.unwrap(), Some(full.clone()));
    assert_eq!(store.run(&other_ns(), &full.run_id).await.unwrap(), None, "run is scoped by namespace");
    let instance_id = InstanceId::parse(&long_id).unwrap();
    assert_eq!(store.current_run(&ns(), &instance_id).await.unwrap(), Some(full.clone()));
    assert_eq!(store.current_run(&other_ns(), &instance_id).await.unwrap(), None);

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.lock_run(&bare.run_id).await.unwrap(), Some(bare.clone()));
    assert_eq!(tx.lock_run(&new_run_id()).await.unwrap(), None);
    let mut closed = tx.lock_current_run(&ns(), &instance_id).await.unwrap().expect("current run");
    assert_eq!(closed, full);
    closed.status = RunStatus::Completed;
    closed.closed_reason = Some(ClosedReason::Continued);
    closed.wait_kind = None;
    closed.task_problem = None;
    closed.output = Some(json!({"total": 99.5}));
    closed.business_key = None;
    closed.visibility_labels = Labels::new();
    closed.memo.insert("later".into(), json!([1]));
    closed.search_attributes.remove("Tags");
    closed.last_sequence = 18;
    closed.history_size_bytes = 5_000;
    closed.pending_commands = 0;
    closed.run_deadline_at = None;
    closed.execution_deadline_at = None;
    closed.updated_at = t(5);
    closed.closed_at = Some(t(5));
    tx.update_run(&closed).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(store.run(&ns(), &full.run_id).await.unwrap(), Some(closed));
    assert_eq!(store.run(&ns(), &bare.run_id).await.unwrap(), Some(bare), "other runs are untouched");
}

pub(crate) async fn wf_list_runs_filters_and_orders(store: &Store) {
    let mut a = run("a", 1, RunStatus::Pending);
    a.updated_at = t(1);
    let mut b = run("b", 1, RunStatus::Completed);
    b.updated_at = t(3);
    let mut c = run("c", 1, RunStatus::Pending);
    c.workflow_type = "refund".into();
    c.updated_at = t(3);
    c.created_at = t(1);
    let mut foreign = run("d", 1, RunStatus::Pending);
    foreign.namespace = other_ns();
    foreign.updated_at = t(9);
    insert_runs(store, &[&a, &b, &c, &foreign]).await;

    let list = |filter: RunFilter| async move {
        ids(&store.list_runs(&ns(), &filter).await.unwrap(), |r| r.instance_id.to_string())
    };
    // Newest update first; on a tie, newest creation first.
    assert_eq!(list(RunFilter { limit: 10, ..RunFilter::default() }).await, ["c", "b", "a"]);
    assert_eq!(list(RunFilter { limit: 2, ..RunFilter::default() }).await, ["c", "b"]);
    assert_eq!(
        list(RunFilter { status: Some(RunStatus::Pending), limit: 10, ..RunFilter::default() }).await,
        ["c", "a"]
    );
    assert_eq!(
        list(RunFilter { workflow_type: Some("order".into()), limit: 10, ..RunFilter::default() }).await,
        ["b", "a"]
    );
    assert_eq!(
        list(RunFilter { status: Some(RunStatus::Failed), limit: 10, ..RunFilter::default() }).await,
        Vec::<String>::new()
    );
}

pub(crate) async fn wf_history_appends_and_pages(store: &Store) {
    let r = run("hist", 1, RunStatus::Running);
    let other = run("hist-other", 1, RunStatus::Running);
    let events: Vec<_> = (1..=10).map(|n| event(&r.run_id, n)).collect();
    let mut tx = store.begin().await.unwrap();
    tx.insert_run(&r).await.unwrap();
    tx.append_events(&events).await.unwrap();
    tx.append_events(&[]).await.unwrap();
    tx.append_events(&[event(&other.run_id, 1)]).await.unwrap();
    assert_eq!(tx.history(&r.run_id).await.unwrap(), events, "visible inside the transaction");
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.history(&r.run_id).await.unwrap(), events);
    assert_eq!(tx.history(&new_run_id()).await.unwrap(), []);
    drop(tx);

    let seqs = |page: Vec<StoredEvent>| page.iter().map(|e| e.sequence).collect::<Vec<_>>();
    // The tail, then pages further back with `before`.
    assert_eq!(seqs(store.history_page(&r.run_id, None, 4).await.unwrap()), [7, 8, 9, 10]);
    assert_eq!(seqs(store.history_page(&r.run_id, Some(7), 4).await.unwrap()), [3, 4, 5, 6]);
    assert_eq!(seqs(store.history_page(&r.run_id, Some(3), 4).await.unwrap()), [1, 2]);
    assert_eq!(seqs(store.history_page(&r.run_id, Some(1), 4).await.unwrap()), Vec::<u64>::new());
    assert_eq!(store.history_page(&r.run_id, None, 100).await.unwrap(), events);
    assert_eq!(seqs(store.history_after(&r.run_id, 5, 3).await.unwrap()), [6, 7, 8]);
    assert_eq!(seqs(store.history_after(&r.run_id, 0, 2).await.unwrap()), [1, 2]);
    assert_eq!(seqs(store.history_after(&r.run_id, 10, 5).await.unwrap()), Vec::<u64>::new());
    assert_eq!(store.history_after(&other.run_id, 0, 10).await.unwrap().len(), 1);
}

pub(crate) async fn wf_duplicate_sequence_is_a_conflict_and_rolls_back(store: &Store) {
    let r = run("dup", 1, RunStatus::Running);
    let mut tx = store.begin().await.unwrap();
    tx.insert_run(&r).await.unwrap();
    tx.append_events(&[event(&r.run_id, 1), event(&r.run_id, 2)]).await.unwrap();
    tx.commit().await.unwrap();

    // A concurrent writer already wrote sequence 2: this transaction's batch conflicts.
    let second = run("dup-second", 1, RunStatus::Pending);
    let mut tx = store.begin().await.unwrap();
    tx.insert_run(&second).await.unwrap();
    tx.insert_task(&task(&second.run_id, TaskKind::Workflow, TaskStatus::Ready, t(0))).await.unwrap();
    let result = tx.append_events(&[event(&r.run_id, 3), event(&r.run_id, 2)]).await;
    assert_eq!(result, Err(StoreError::Conflict));
    drop(tx);

    // Nothing of the failed transaction stayed.
    assert_eq!(store.history_page(&r.run_id, None, 10).await.unwrap().len(), 2);
    assert_eq!(store.run(&ns(), &second.run_id).await.unwrap(), None);
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.claim_task(TaskKind::Workflow, t(10)).await.unwrap(), None);
    // The next writer goes on normally.
    tx.append_events(&[event(&r.run_id, 3)]).await.unwrap();
    // A duplicate event id is a conflict too.
    let mut same_id = event(&r.run_id, 4);
    same_id.id = tx.history(&r.run_id).await.unwrap()[0].id.clone();
    assert_eq!(tx.append_events(&[same_id]).await, Err(StoreError::Conflict));
    drop(tx);
    assert_eq!(store.history_page(&r.run_id, None, 10).await.unwrap().len(), 2);
}

pub(crate) async fn wf_claim_task_takes_due_and_expired_only(store: &Store) {
    let r = run("claim", 1, RunStatus::Running);
    let due = task(&r.run_id, TaskKind::Workflow, TaskStatus::Ready, t(-5));
    let future = task(&r.run_id, TaskKind::Workflow, TaskStatus::Ready, t(5));
    let expired = leased(task(&r.run_id, TaskKind::Workflow, TaskStatus::Ready, t(-10)), t(-1));
    let live = leased(task(&r.run_id, TaskKind::Workflow, TaskStatus::Ready, t(-20)), t(5));
    let done = task(&r.run_id, TaskKind::Workflow, TaskStatus::Completed, t(-30));
    let failed = task(&r.run_id, TaskKind::Workflow, TaskStatus::Failed, t(-30));
    let mut act = task(&r.run_id, TaskKind::Activity, TaskStatus::Ready, t(0));
    act.activity_execution_id = Some("exec-1".into());
    insert_runs(store, &[&r]).await;
    insert_tasks(store, &[&due, &future, &expired, &live, &done, &failed, &act]).await;

    let mut tx = store.begin().await.unwrap();
    // Oldest `available_at` first among the claimable: the expired lease, then the due one.
    let mut claimed = tx.claim_task(TaskKind::Workflow, t(0)).await.unwrap().expect("a task");
    assert_eq!(claimed, expired);
    claimed.status = TaskStatus::Completed;
    claimed.lease_owner = None;
    claimed.lease_expires_at = None;
    claimed.updated_at = t(0);
    tx.update_task(&claimed).await.unwrap();

    let mut claimed = tx.claim_task(TaskKind::Workflow, t(0)).await.unwrap().expect("a task");
    assert_eq!(claimed, due);
    claimed = leased(claimed, t(10));
    tx.update_task(&claimed).await.unwrap();
    // Now only a future task and live leases remain.
    assert_eq!(tx.claim_task(TaskKind::Workflow, t(0)).await.unwrap(), None);
    assert_eq!(tx.claim_task(TaskKind::Workflow, t(4)).await.unwrap(), None);
    // At t(5) the older lease runs out (exactly at `lease_expires_at`) and, once that one is
    // done, the future task is due (exactly at `available_at`).
    let mut ran_out = tx.claim_task(TaskKind::Workflow, t(5)).await.unwrap().expect("a task");
    assert_eq!(ran_out, live);
    ran_out.status = TaskStatus::Completed;
    tx.update_task(&ran_out).await.unwrap();
    assert_eq!(tx.claim_task(TaskKind::Workflow, t(5)).await.unwrap(), Some(future.clone()));

    assert_eq!(tx.claim_task(TaskKind::Activity, t(0)).await.unwrap(), Some(act.clone()));
    assert_eq!(tx.claim_task(TaskKind::Activity, t(-1)).await.unwrap(), None);
    assert_eq!(tx.live_activity_task("exec-1").await.unwrap(), Some(act));
    assert_eq!(tx.live_activity_task("exec-2").await.unwrap(), None);
    let live_one = tx.live_workflow_task(&r.run_id).await.unwrap().expect("a live task");
    assert!(live_one.status.is_live());
    assert!([&future.id, &claimed.id].contains(&&live_one.id));
    tx.commit().await.unwrap();

    // The updates stuck: the claimed task is leased until t(10), then claimable again.
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.claim_task(TaskKind::Workflow, t(9)).await.unwrap().map(|x| x.id), Some(future.id.clone()));
    assert_eq!(tx.claim_task(TaskKind::Workflow, t(10)).await.unwrap(), Some(claimed));
}

pub(crate) async fn wf_close_live_tasks_closes_only_live_tasks_of_the_run(store: &Store) {
    let r = run("close", 1, RunStatus::Running);
    let other = run("close-other", 1, RunStatus::Running);
    let ready = task(&r.run_id, TaskKind::Workflow, TaskStatus::Ready, t(-3));
    let lease = leased(task(&r.run_id, TaskKind::Activity, TaskStatus::Ready, t(-2)), t(-1));
    let done = task(&r.run_id, TaskKind::Workflow, TaskStatus::Completed, t(-4));
    let theirs = task(&other.run_id, TaskKind::Workflow, TaskStatus::Ready, t(-1));
    insert_runs(store, &[&r, &other]).await;
    insert_tasks(store, &[&ready, &lease, &done, &theirs]).await;

    let mut tx = store.begin().await.unwrap();
    tx.close_live_tasks(&r.run_id, TaskStatus::Cancelled, t(1)).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.live_workflow_task(&r.run_id).await.unwrap(), None);
    assert_eq!(tx.claim_task(TaskKind::Activity, t(100)).await.unwrap(), None);
    assert_eq!(tx.claim_task(TaskKind::Workflow, t(100)).await.unwrap(), Some(theirs.clone()));
    assert_eq!(tx.live_workflow_task(&other.run_id).await.unwrap(), Some(theirs));
}

pub(crate) async fn wf_activities_and_attempts_round_trip(store: &Store) {
    let r = run("acts", 1, RunStatus::Waiting);
    let mut first = activity(&r, 3, ActivityStatus::Scheduled);
    first.options = ActivityOptions::default()
        .retry(RetryPolicy {
            initial_interval: Duration::from_millis(1_500),
            backoff_coefficient: 1.5,
            maximum_interval: Some(Duration::from_secs(30)),
            maximum_attempts: 4,
            non_retryable_error_types: vec!["Fatal".into()],
        })
        .start_to_close(Duration::from_millis(2_250))
        .schedule_to_close(Duration::from_secs(600))
        .heartbeat(Duration::from_secs(10));
    let second = activity(&r, 5, ActivityStatus::Scheduled);
    let foreign_run = run("acts-other", 1, RunStatus::Waiting);
    let foreign = activity(&foreign_run, 1, ActivityStatus::Scheduled);

    let mut tx = store.begin().await.unwrap();
    for a in [&first, &second, &foreign] {
        tx.insert_activity(a).await.unwrap();
    }
    assert_eq!(tx.activity(&first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(tx.activity("missing").await.unwrap(), None);
    assert_eq!(tx.open_activities(&r.run_id).await.unwrap(), [first.clone(), second.clone()]);

    let attempt1 = AttemptRecord {
        id: ulid(t(1)),
        activity_execution_id: first.id.clone(),
        attempt_number: 1,
        status: AttemptStatus::Running,
        worker_id: "host-a:1234".into(),
        started_at: t(1),
        lease_expires_at: t(6),
        closed_at: None,
        failure: None,
    };
    tx.insert_attempt(&attempt1).await.unwrap();
    assert_eq!(tx.attempt(&attempt1.id).await.unwrap(), Some(attempt1.clone()));
    let mut failed1 = attempt1.clone();
    failed1.status = AttemptStatus::Failed;
    failed1.closed_at = Some(t(2));
    failed1.failure = Some("PaymentDeclined: card expired".into());
    tx.update_attempt(&failed1).await.unwrap();
    let attempt2 = AttemptRecord {
        id: ulid(t(3)),
        attempt_number: 2,
        started_at: t(3),
        lease_expires_at: t(8),
        ..attempt1.clone()
    };
    tx.insert_attempt(&attempt2).await.unwrap();

    let mut completed = first.clone();
    completed.status = ActivityStatus::Completed;
    completed.attempt_count = 2;
    completed.current_attempt_id = Some(attempt2.id.clone());
    completed.closed_at = Some(t(4));
    tx.update_activity(&completed).await.unwrap();
    assert_eq!(tx.open_activities(&r.run_id).await.unwrap(), std::slice::from_ref(&second));
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.activity(&first.id).await.unwrap(), Some(completed.clone()));
    assert_eq!(tx.attempt(&attempt1.id).await.unwrap(), Some(failed1.clone()));
    drop(tx);
    assert_eq!(
        store.attempts(&r.run_id).await.unwrap(),
        vec![(completed, vec![failed1, attempt2]), (second, vec![])],
        "executions by sequence, attempts by number"
    );
    assert_eq!(store.attempts(&new_run_id()).await.unwrap(), vec![]);
}

pub(crate) async fn wf_timers_claim_due_and_round_trip(store: &Store) {
    let r = run("timers", 1, RunStatus::Waiting);
    let later = timer(&r.run_id, 2, t(5));
    let due = timer(&r.run_id, 4, t(-1));
    let other = timer(&new_run_id(), 1, t(-2));
    let mut tx = store.begin().await.unwrap();
    for timer in [&later, &due, &other] {
        tx.insert_timer(timer).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.pending_timers(&r.run_id).await.unwrap(), [later.clone(), due.clone()]);
    let mut fired = tx.claim_due_timer(t(0)).await.unwrap().expect("a due timer");
    assert_eq!(fired, other, "earliest fire_at first");
    fired.status = TimerStatus::Cancelled;
    tx.update_timer(&fired).await.unwrap();
    let mut fired = tx.claim_due_timer(t(0)).await.unwrap().expect("a due timer");
    assert_eq!(fired, due);
    fired.status = TimerStatus::Fired;
    tx.update_timer(&fired).await.unwrap();
    assert_eq!(tx.claim_due_timer(t(0)).await.unwrap(), None);
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.pending_timers(&r.run_id).await.unwrap(), std::slice::from_ref(&later));
    assert_eq!(tx.claim_due_timer(t(5)).await.unwrap(), Some(later));
}

pub(crate) async fn wf_commands_wait_until_applied(store: &Store) {
    let r = run("cmds", 1, RunStatus::Waiting);
    let start = command(&r, CommandType::Start, CommandStatus::Accepted, 0);
    let mut signal = command(&r, CommandType::Signal, CommandStatus::Accepted, 1);
    signal.outcome = Some(CommandOutcome::SignalReceived);
    let mut rejected = command(&r, CommandType::Signal, CommandStatus::Rejected, 2);
    rejected.outcome = Some(CommandOutcome::RejectedUnknownSignal);
    rejected.rejection_reason = Some("unknown signal \"nope\"".into());
    let cancel = command(&r, CommandType::Cancel, CommandStatus::Accepted, 3);
    let mut no_run = command(&r, CommandType::Start, CommandStatus::Rejected, 4);
    no_run.run_id = None;
    let other = command(&run("cmds-other", 1, RunStatus::Waiting), CommandType::Signal, CommandStatus::Accepted, 0);

    let mut tx = store.begin().await.unwrap();
    // Inserted out of order: the result is oldest first.
    for c in [&cancel, &no_run, &rejected, &signal, &start, &other] {
        tx.insert_command(c).await.unwrap();
    }
    assert_eq!(tx.unapplied_commands(&r.run_id).await.unwrap(), [signal.clone(), cancel.clone()]);
    tx.mark_commands_applied(&[signal.id.clone()], t(7)).await.unwrap();
    tx.mark_commands_applied(&[], t(8)).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.unapplied_commands(&r.run_id).await.unwrap(), std::slice::from_ref(&cancel));
    assert_eq!(tx.unapplied_commands(&other.run_id.clone().unwrap()).await.unwrap(), [other]);
    tx.mark_commands_applied(&[cancel.id.clone(), "unknown".into()], t(9)).await.unwrap();
    assert_eq!(tx.unapplied_commands(&r.run_id).await.unwrap(), []);
}

pub(crate) async fn wf_failures_newest_first(store: &Store) {
    let r = run("fails", 1, RunStatus::Failed);
    let mut plain = failure(&r.run_id, 1);
    plain.source_id = None;
    plain.category = FailureCategory::StructuralLimit;
    plain.message = "x".repeat(5_000);
    let middle = failure(&r.run_id, 2);
    let newest = failure(&r.run_id, 3);
    let mut tx = store.begin().await.unwrap();
    for f in [&middle, &plain, &newest, &failure(&new_run_id(), 9)] {
        tx.insert_failure(f).await.unwrap();
    }
    tx.commit().await.unwrap();

    assert_eq!(store.failures(&r.run_id, 10).await.unwrap(), [newest.clone(), middle.clone(), plain]);
    assert_eq!(store.failures(&r.run_id, 2).await.unwrap(), [newest, middle]);
    assert_eq!(store.failures(&new_run_id(), 10).await.unwrap(), []);
}

pub(crate) async fn wf_runs_missing_workflow_task(store: &Store) {
    let pending_bare = run("p-bare", 1, RunStatus::Pending);
    let pending_tasked = run("p-tasked", 1, RunStatus::Pending);
    let pending_done_task = run("p-done", 1, RunStatus::Pending);
    let pending_activity_task = run("p-act", 1, RunStatus::Pending);
    let mut waiting_commands = run("w-cmds", 1, RunStatus::Waiting);
    waiting_commands.pending_commands = 1;
    let waiting_idle = run("w-idle", 1, RunStatus::Waiting);
    let mut waiting_problem = run("w-problem", 1, RunStatus::Waiting);
    waiting_problem.pending_commands = 1;
    waiting_problem.task_problem = Some(TaskProblem::WorkflowUnavailable);
    let mut running_leased = run("r-leased", 1, RunStatus::Running);
    running_leased.pending_commands = 3;
    let mut closed = run("closed", 1, RunStatus::Completed);
    closed.pending_commands = 1;
    insert_runs(
        store,
        &[
            &pending_bare,
            &pending_tasked,
            &pending_done_task,
            &pending_activity_task,
            &waiting_commands,
            &waiting_idle,
            &waiting_problem,
            &running_leased,
            &closed,
        ],
    )
    .await;
    insert_tasks(
        store,
        &[
            &task(&pending_tasked.run_id, TaskKind::Workflow, TaskStatus::Ready, t(30)),
            &task(&pending_done_task.run_id, TaskKind::Workflow, TaskStatus::Completed, t(0)),
            &task(&pending_done_task.run_id, TaskKind::Workflow, TaskStatus::Failed, t(0)),
            &task(&pending_activity_task.run_id, TaskKind::Activity, TaskStatus::Ready, t(0)),
            &leased(task(&running_leased.run_id, TaskKind::Workflow, TaskStatus::Ready, t(0)), t(-5)),
        ],
    )
    .await;

    let mut tx = store.begin().await.unwrap();
    let mut found = ids(&tx.runs_missing_workflow_task(100).await.unwrap(), |r| r.instance_id.to_string());
    found.sort();
    assert_eq!(found, ["p-act", "p-bare", "p-done", "w-cmds"]);
    assert_eq!(tx.runs_missing_workflow_task(2).await.unwrap().len(), 2);
    let bare = tx.runs_missing_workflow_task(100).await.unwrap().into_iter().find(|r| r.run_id == pending_bare.run_id);
    assert_eq!(bare, Some(pending_bare.clone()));
    // Once it has a live workflow task it is no longer missing one.
    tx.insert_task(&task(&pending_bare.run_id, TaskKind::Workflow, TaskStatus::Ready, t(0))).await.unwrap();
    assert_eq!(tx.runs_missing_workflow_task(100).await.unwrap().len(), 3);
}

pub(crate) async fn wf_activities_missing_task(store: &Store) {
    let open = run("open", 1, RunStatus::Waiting);
    let closed = run("closed", 1, RunStatus::Cancelled);
    let bare = activity(&open, 1, ActivityStatus::Scheduled);
    let tasked = activity(&open, 2, ActivityStatus::Running);
    let done_task = activity(&open, 3, ActivityStatus::Running);
    let finished = activity(&open, 4, ActivityStatus::Completed);
    let orphan = activity(&closed, 1, ActivityStatus::Scheduled);
    let workflow_task_only = activity(&open, 5, ActivityStatus::Scheduled);
    let with_exec = |a: &ActivityRecord, kind: TaskKind, status: TaskStatus| {
        let mut row = task(&a.run_id, kind, status, t(0));
        row.activity_execution_id = Some(a.id.clone());
        row
    };
    let mut tx = store.begin().await.unwrap();
    for r in [&open, &closed] {
        tx.insert_run(r).await.unwrap();
    }
    for a in [&bare, &tasked, &done_task, &finished, &orphan, &workflow_task_only] {
        tx.insert_activity(a).await.unwrap();
    }
    for row in [
        leased(with_exec(&tasked, TaskKind::Activity, TaskStatus::Ready), t(9)),
        with_exec(&done_task, TaskKind::Activity, TaskStatus::Completed),
        with_exec(&workflow_task_only, TaskKind::Workflow, TaskStatus::Ready),
    ] {
        tx.insert_task(&row).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let found = tx.activities_missing_task(100).await.unwrap();
    assert_eq!(found, [bare.clone(), done_task.clone(), workflow_task_only], "by scheduled_at");
    assert_eq!(tx.activities_missing_task(1).await.unwrap(), [bare]);
}

pub(crate) async fn wf_overdue_runs(store: &Store) {
    let mut run_deadline = run("run-deadline", 1, RunStatus::Running);
    run_deadline.run_deadline_at = Some(t(-1));
    run_deadline.execution_deadline_at = Some(t(100));
    let mut exec_deadline = run("exec-deadline", 1, RunStatus::Waiting);
    exec_deadline.execution_deadline_at = Some(t(-30));
    let mut exactly_now = run("exactly-now", 1, RunStatus::Pending);
    exactly_now.run_deadline_at = Some(t(0));
    let mut future = run("future", 1, RunStatus::Waiting);
    future.run_deadline_at = Some(t(1));
    future.execution_deadline_at = Some(t(2));
    let mut closed = run("closed", 1, RunStatus::Failed);
    closed.run_deadline_at = Some(t(-5));
    let none = run("none", 1, RunStatus::Waiting);
    // A saturated deadline (`time::add` caps at chrono's maximum) is never overdue.
    let mut far = run("far", 1, RunStatus::Waiting);
    far.execution_deadline_at = Some(chrono::DateTime::<Utc>::MAX_UTC);
    insert_runs(store, &[&run_deadline, &exec_deadline, &exactly_now, &future, &closed, &none, &far]).await;

    let mut tx = store.begin().await.unwrap();
    let mut found = ids(&tx.overdue_runs(t(0), 100).await.unwrap(), |r| r.instance_id.to_string());
    found.sort();
    assert_eq!(found, ["exactly-now", "exec-deadline", "run-deadline"]);
    assert_eq!(tx.overdue_runs(t(0), 2).await.unwrap().len(), 2);
    let stored_far = tx.lock_run(&far.run_id).await.unwrap().expect("far run");
    assert!(stored_far.execution_deadline_at.is_some_and(|d| d > t(1_000_000)));
}

pub(crate) async fn wf_search_attributes_are_typed(store: &Store) {
    let r = run("search", 1, RunStatus::Running);
    let long = "y".repeat(256);
    let exactly_255 = "é".repeat(255);
    let attributes: Metadata = BTreeMap::from([
        ("Customer".into(), json!("acme")),
        ("Edge".into(), json!(exactly_255)),
        ("Notes".into(), json!(long)),
        ("Count".into(), json!(42)),
        ("Negative".into(), json!(-7)),
        ("Amount".into(), json!(12.75)),
        ("Paid".into(), json!(true)),
        ("Tags".into(), json!(["a", "b"])),
        ("Deleted".into(), Value::Null),
    ]);
    let mut tx = store.begin().await.unwrap();
    tx.insert_run(&r).await.unwrap();
    tx.replace_search_attributes(&r.run_id, &attributes).await.unwrap();
    tx.commit().await.unwrap();

    let rows = store.search_attribute_rows(&r.run_id).await.unwrap();
    let expected: Vec<(String, String, Value)> = [
        ("Amount", "float", json!(12.75)),
        ("Count", "int", json!(42)),
        ("Customer", "keyword", json!("acme")),
        ("Edge", "keyword", json!(exactly_255)),
        ("Negative", "int", json!(-7)),
        ("Notes", "text", json!(long)),
        ("Paid", "bool", json!(true)),
        ("Tags", "keyword_list", json!(["a", "b"])),
    ]
    .into_iter()
    .map(|(k, ty, v)| (k.to_owned(), ty.to_owned(), v))
    .collect();
    assert_eq!(rows, expected);

    // Replacing drops what is no longer there.
    let mut tx = store.begin().await.unwrap();
    tx.replace_search_attributes(&r.run_id, &BTreeMap::from([("Count".into(), json!(7))])).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.search_attribute_rows(&r.run_id).await.unwrap(),
        [("Count".to_owned(), "int".to_owned(), json!(7))]
    );
    let mut tx = store.begin().await.unwrap();
    tx.replace_search_attributes(&r.run_id, &Metadata::new()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.search_attribute_rows(&r.run_id).await.unwrap(), []);
}

pub(crate) async fn wf_listen_and_notify_match_the_backend(store: &Store) {
    let listener = store.listen().await.unwrap();
    assert_eq!(listener.is_some(), store.backend() == Backend::Postgres);
    // Notifying is part of the transaction on both backends and never fails it.
    let r = run("notify", 1, RunStatus::Pending);
    let mut tx = store.begin().await.unwrap();
    tx.insert_run(&r).await.unwrap();
    tx.notify(TaskKind::Workflow).await.unwrap();
    tx.commit().await.unwrap();
    assert!(store.run(&ns(), &r.run_id).await.unwrap().is_some());
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL only: cross-transaction behaviour (SQLite serializes all writers).

mod postgres_only {
    use std::sync::Arc;

    use super::*;
    use crate::support::TestDb;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn claims_skip_rows_locked_by_another_transaction() {
        let db = TestDb::postgres().await;
        let store = &db.store;
        let r = run("skip", 1, RunStatus::Running);
        let a = task(&r.run_id, TaskKind::Workflow, TaskStatus::Ready, t(-2));
        let b = task(&r.run_id, TaskKind::Workflow, TaskStatus::Ready, t(-1));
        insert_runs(store, &[&r]).await;
        insert_tasks(store, &[&a, &b]).await;
        let mut tx = store.begin().await.unwrap();
        for timer in [timer(&r.run_id, 1, t(-2)), timer(&r.run_id, 2, t(-1))] {
            tx.insert_timer(&timer).await.unwrap();
        }
        tx.commit().await.unwrap();

        let mut first = store.begin().await.unwrap();
        let mut second = store.begin().await.unwrap();
        let mut third = store.begin().await.unwrap();
        let one = bounded(first.claim_task(TaskKind::Workflow, t(0))).await.expect("first claim");
        let two = bounded(second.claim_task(TaskKind::Workflow, t(0))).await.expect("second claim");
        assert_eq!(one, a, "oldest first");
        assert_eq!(two, b, "the locked row is skipped, not waited for");
        assert_eq!(bounded(third.claim_task(TaskKind::Workflow, t(0))).await, None, "both are held");

        let timer_one = bounded(first.claim_due_timer(t(0))).await.expect("first timer");
        let timer_two = bounded(second.claim_due_timer(t(0))).await.expect("second timer");
        assert_ne!(timer_one.id, timer_two.id);
        assert_eq!(bounded(third.claim_due_timer(t(0))).await, None);

        // Once the first transaction ends (committed: a dropped one rolls back in the
        // background), its rows are claimable again.
        first.commit().await.unwrap();
        assert_eq!(bounded(third.claim_task(TaskKind::Workflow, t(0))).await, Some(a));
        assert_eq!(bounded(third.claim_due_timer(t(0))).await.map(|x| x.id), Some(timer_one.id));
        drop((second, third));
        db.finish().await;
    }

    /// A claim that waits for a lock instead of skipping it fails here instead of hanging.
    async fn bounded<T>(claim: impl Future<Output = Result<T, StoreError>>) -> T {
        tokio::time::timeout(Duration::from_secs(5), claim).await.expect("a claim never waits for a lock").unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lock_run_waits_for_the_holder() {
        let db = TestDb::postgres().await;
        let store = Arc::new(db.store.clone());
        let r = run("locked", 1, RunStatus::Running);
        insert_runs(&store, &[&r]).await;

        let mut holder = store.begin().await.unwrap();
        let mut held = holder.lock_run(&r.run_id).await.unwrap().expect("run");
        let waiter = {
            let (store, run_id) = (Arc::clone(&store), r.run_id.clone());
            tokio::spawn(async move {
                let mut tx = store.begin().await.unwrap();
                let seen = tx.lock_run(&run_id).await.unwrap().expect("run");
                tx.commit().await.unwrap();
                seen
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiter.is_finished(), "the second locker must wait for the first");
        held.last_sequence = 5;
        held.updated_at = t(1);
        holder.update_run(&held).await.unwrap();
        holder.commit().await.unwrap();
        let seen = tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("waiter finishes").unwrap();
        assert_eq!(seen, held, "the waiter sees the committed change");
        drop(store);
        db.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reserve_instance_is_safe_under_16_concurrent_callers() {
        let db = TestDb::postgres().await;
        let store = Arc::new(db.store.clone());
        let record = instance("contended");
        let callers: Vec<_> = (0..16)
            .map(|n| {
                let (store, mut mine) = (Arc::clone(&store), record.clone());
                mine.updated_at = t(n);
                tokio::spawn(async move {
                    let mut tx = store.begin().await?;
                    let (reserved, created) = tx.reserve_instance(&mine).await?;
                    tx.commit().await?;
                    Ok::<_, StoreError>((reserved, created))
                })
            })
            .collect();
        let mut results = Vec::new();
        for caller in callers {
            results.push(caller.await.unwrap().expect("no caller fails"));
        }
        assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1, "exactly one creates");
        let (winner, _) = results.iter().find(|(_, created)| *created).unwrap().clone();
        assert!(results.iter().all(|(reserved, _)| *reserved == winner), "everyone sees the winner's row");
        assert_eq!(store.instance(&ns(), &record.instance_id).await.unwrap(), Some(winner));
        drop(store);
        db.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn notify_reaches_listeners_after_commit() {
        let db = TestDb::postgres().await;
        let mut wake_ups = db.store.listen().await.unwrap().expect("PostgreSQL listens");
        let mut tx = db.store.begin().await.unwrap();
        tx.notify(TaskKind::Activity).await.unwrap();
        tx.notify(TaskKind::Workflow).await.unwrap();
        tx.commit().await.unwrap();

        // NOTIFY is database-wide: other tests may wake us too, so wait for both kinds.
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !(seen.contains(&TaskKind::Activity) && seen.contains(&TaskKind::Workflow)) {
            match tokio::time::timeout_at(deadline, wake_ups.recv()).await {
                Ok(Some(kind)) => seen.push(kind),
                Ok(None) => panic!("the listener stopped"),
                Err(_) => panic!("no wake-up within 5 s; got {seen:?}"),
            }
        }
        drop(wake_ups);
        db.finish().await;
    }
}
