//! The result budget (docs/tools.md, "Result budget"): on a workspace filled to the schema's
//! limits, every tool's result with default arguments (and the listings at their largest
//! `limit`) stays within `RESULT_BUDGET_BYTES`. The cases walk the catalogue, so a new tool
//! without a case fails here; the sizes measured on SQLite are written to docs/tools.md.
//!
//! The fill: the largest plan the schema allows (100 phases of 500 tasks, every name at its
//! length limit, every phase depending on all earlier ones, 300 checkpoints on its first phase),
//! 500 state values (the first 110 at 256 KiB), a session of 5,000 work-log entries and 1,000
//! artifacts with notes and context at their limits, 300 more sessions and plans, 1,000 workflow
//! runs with business keys at their limit, a run of 200 events with large payloads and failures,
//! a completed run with a 2 MiB output, and 300 user templates, one of 100 phases of 100 tasks. Texts use `\u0001`, which takes six
//! bytes in JSON: the most a character limit allows. Texts are at their limit wherever a default
//! result can show them (the newest entries, the first tasks of each phase, the first values);
//! the rest is short, to keep the fill fast.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;
use waymark_core::view::RESULT_BUDGET_BYTES;
use waymark_core::workflow::StartWorkflowParams;
use waymark_core::{Principal, Service};
use waymark_domain::{
    Artifact, ArtifactAction, Checkpoint, CheckpointId, JsonText, LogEntry, LogType, Phase, PhaseId, PhaseStatus, Plan,
    PlanId, PlanStatus, Session, SessionId, SessionStatus, Slug, StateEntry, StateKey, StateType, Task, TaskId,
    TaskStatus, Timestamp,
};
use waymark_engine::ids::RunId;
use waymark_engine::store::{FailureRecord, StoredEvent};
use waymark_engine::{FailureCategory, RunStatus};
use waymark_testkit::{Backend, TestService};

/// `chars` characters of six JSON bytes each.
fn worst(chars: usize) -> String {
    "\u{1}".repeat(chars)
}

/// An object of about `bytes` bytes of JSON.
fn document(bytes: usize) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("blob".into(), Value::String(worst(bytes / 6)));
    map
}

fn text(map: &Map<String, Value>) -> JsonText {
    JsonText::from_trusted(Value::Object(map.clone()).to_string())
}

/// The JSON text of a document at the 256 KiB limit, made once.
fn big() -> JsonText {
    static BIG: std::sync::OnceLock<JsonText> = std::sync::OnceLock::new();
    BIG.get_or_init(|| text(&document(DOCUMENT))).clone()
}

/// Ordered ids: the ULID of `n` within the clock's millisecond.
struct Ids {
    ms: u64,
    n: u128,
}

impl Ids {
    fn next(&mut self) -> String {
        self.n += 1;
        ulid::Ulid::from_parts(self.ms, self.n).to_string()
    }
}

/// What the fill made, for the cases' arguments.
struct Filled {
    plan: String,
    write_plan: String,
    session: String,
    paused: String,
    active: Vec<String>,
    state_key: String,
    history_run: String,
    completed: String,
}

const LARGEST_PLAN: &str = "largest-plan";
const WRITE_PLAN: &str = "write-plan";
const DOCUMENT: usize = 250 * 1024;

fn plan_row(ws: &Principal, slug: &str, now: Timestamp, ids: &mut Ids) -> Plan {
    Plan {
        id: PlanId::from_ulid(&ids.next()),
        workspace_id: ws.workspace_id.clone(),
        slug: Slug::parse(slug).expect("slug"),
        title: worst(255),
        description: Some(worst(65_535)),
        context: big(),
        status: PlanStatus::Active,
        current_phase: Some(1),
        metadata: big(),
        archived_at: None,
        created_at: now,
        updated_at: now,
    }
}

fn phase_row(plan: &PlanId, order: u32, now: Timestamp, ids: &mut Ids) -> Phase {
    let (status, block_reason, skip_reason) = match order {
        1 => (PhaseStatus::InProgress, None, None),
        2 => (PhaseStatus::Blocked, Some(worst(65_535)), None),
        3 => (PhaseStatus::Skipped, None, Some(worst(65_535))),
        _ => (PhaseStatus::Pending, None, None),
    };
    Phase {
        id: PhaseId::from_ulid(&ids.next()),
        plan_id: plan.clone(),
        order,
        name: format!("{}{order:03}", worst(252)),
        description: Some(worst(65_535)),
        status,
        dependencies: (1..order).collect(),
        started_at: None,
        completed_at: None,
        block_reason,
        skip_reason,
        created_at: now,
        updated_at: now,
    }
}

/// `count` tasks; the first `full` with description and notes at their limit, the next 60
/// longer than any clip; names at their limit for the first `named` (the tasks a result can
/// show).
fn task_rows(phase: &PhaseId, count: u32, full: u32, named: u32, now: Timestamp, ids: &mut Ids) -> Vec<Task> {
    (0..count)
        .map(|position| {
            let long = match position {
                p if p < full => Some(worst(65_535)),
                p if p < full + 60 => Some(worst(2_000)),
                _ => None,
            };
            Task {
                id: TaskId::from_ulid(&ids.next()),
                phase_id: phase.clone(),
                position,
                name: if position < named { worst(1_024) } else { format!("task {position}") },
                description: long.clone(),
                status: if position % 3 == 0 { TaskStatus::Completed } else { TaskStatus::Pending },
                notes: long,
                created_at: now,
                updated_at: now,
            }
        })
        .collect()
}

fn checkpoint_rows(phase: &PhaseId, count: usize, now: Timestamp, ids: &mut Ids) -> Vec<Checkpoint> {
    (0..count)
        .map(|i| {
            let newest = i + 20 >= count;
            Checkpoint {
                id: CheckpointId::from_ulid(&ids.next()),
                phase_id: phase.clone(),
                note: if newest { worst(65_535) } else { worst(2_000) },
                context: if newest { big() } else { text(&document(2_000)) },
                created_at: now,
            }
        })
        .collect()
}

async fn insert_plan(
    store: &waymark_store::Store,
    plan: &Plan,
    (phases, tasks, checkpoints): (u32, u32, usize),
    now: Timestamp,
    ids: &mut Ids,
) -> Vec<Phase> {
    let tx = store.write().await.expect("write");
    tx.insert_plan(plan).await.expect("plan");
    let rows: Vec<Phase> = (1..=phases).map(|order| phase_row(&plan.id, order, now, ids)).collect();
    tx.insert_phases(&rows).await.expect("phases");
    for phase in &rows {
        // phase_get reads phases 1 and 100 from their first task; plan_get the first 51 of each.
        let (full, named) = if phase.order == 1 || phase.order == 100 { (120, tasks) } else { (0, 60) };
        tx.insert_tasks(&plan.id, &task_rows(&phase.id, tasks, full, named, now, ids)).await.expect("tasks");
    }
    for checkpoint in checkpoint_rows(&rows[0].id, checkpoints, now, ids) {
        tx.insert_checkpoint(&checkpoint).await.expect("checkpoint");
    }
    tx.commit().await.expect("commit");
    rows
}

fn notes() -> JsonText {
    // At the 256 KiB a handoff document may take; made once.
    static NOTES: std::sync::OnceLock<JsonText> = std::sync::OnceLock::new();
    NOTES
        .get_or_init(|| {
            JsonText::from_trusted(
                json!({
                    "summary": "s".repeat(65_535),
                    "next_steps": vec!["n".repeat(900); 100],
                    "blockers": vec!["b".repeat(900); 100],
                    "context_for_next": { "blob": "c".repeat(5_000) },
                })
                .to_string(),
            )
        })
        .clone()
}

fn session_row(ws: &Principal, plan: &PlanId, status: SessionStatus, now: Timestamp, ids: &mut Ids) -> Session {
    Session {
        id: SessionId::from_uuid(&ids.next()),
        workspace_id: ws.workspace_id.clone(),
        api_key_id: None,
        plan_id: Some(plan.clone()),
        agent_type: worst(255),
        status,
        context_summary: big(),
        handoff_notes: Some(notes()),
        final_summary: Some(worst(65_535)),
        continued_from: None,
        started_at: now,
        last_active_at: now,
        ended_at: None,
    }
}

/// 5,000 work-log entries (the newest 60, which are what a result can show, at their limits)
/// and 1,000 artifacts.
async fn insert_work(store: &waymark_store::Store, session: &SessionId, now: Timestamp, ids: &mut Ids) {
    const KINDS: [LogType; 5] =
        [LogType::Info, LogType::Progress, LogType::Decision, LogType::Error, LogType::Checkpoint];
    const ACTIONS: [ArtifactAction; 4] =
        [ArtifactAction::Created, ArtifactAction::Modified, ArtifactAction::Deleted, ArtifactAction::Reviewed];
    let tx = store.write().await.expect("write");
    for i in 0..5_000usize {
        let newest = i >= 5_000 - 60;
        tx.insert_log_entry(&LogEntry {
            id: format!("log_{}", ids.next()),
            session_id: session.clone(),
            kind: KINDS[i % KINDS.len()],
            message: if newest { worst(65_535) } else { format!("entry {i}") },
            data: if newest { big() } else { JsonText::empty_object() },
            created_at: now,
        })
        .await
        .expect("log entry");
    }
    for i in 0..1_000usize {
        tx.insert_artifact(&Artifact {
            id: format!("art_{}", ids.next()),
            session_id: session.clone(),
            path: worst(1_024),
            action: ACTIONS[i % ACTIONS.len()],
            description: Some(worst(2_000)),
            created_at: now,
        })
        .await
        .expect("artifact");
    }
    tx.commit().await.expect("commit");
}

/// A user template of `phases` phases of `tasks` tasks; with `full`, 30 variables and 20
/// guidelines at lengths past every clip, else none. Rendered, the huge one (100 phases of 100
/// tasks) stays under the 256 KiB of text a template may render: its first task of each phase
/// is long, the others short.
fn template_yaml(index: usize, phases: usize, tasks: usize, full: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "name: \"Template {index} {}\"", "n".repeat(200));
    let _ = writeln!(out, "description: \"{}\"", "d".repeat(3_000));
    out.push_str("category: engineering\n");
    if full {
        out.push_str("guidelines:\n");
        for g in 0..20 {
            let _ = writeln!(out, "  - \"guideline {g} {}\"", "g".repeat(500));
        }
        out.push_str("variables:\n");
        for v in 0..30 {
            let _ = writeln!(
                out,
                "  var_{v}:\n    description: \"{}\"\n    default: \"{}\"",
                "v".repeat(500),
                "x".repeat(100)
            );
            let values: Vec<String> = (0..50).map(|a| format!("\"x{a}{}\"", "a".repeat(50))).collect();
            let _ = writeln!(out, "    allowed_values: [\"{}\", {}]", "x".repeat(100), values.join(", "));
        }
    }
    out.push_str("phases:\n");
    for p in 0..phases {
        let _ = writeln!(
            out,
            "  - name: \"Phase {p} {}\"\n    description: \"{}\"\n    tasks:",
            "p".repeat(200),
            "q".repeat(600)
        );
        for t in 0..tasks {
            if t == 0 {
                let _ = writeln!(
                    out,
                    "      - name: \"Task {t} {}\"\n        description: \"{}\"",
                    "t".repeat(200),
                    "u".repeat(600)
                );
            } else {
                let _ = writeln!(out, "      - Task {t}");
            }
        }
    }
    out
}

async fn fill(t: &TestService, me: &Principal) -> Filled {
    let now = waymark_core::clock::Clock::now(&*t.clock);
    let mut ids = Ids { ms: u64::try_from(now.timestamp_millis()).expect("positive"), n: 1 << 40 };
    let store = waymark_store::Store::connect(t.database()).await.expect("store");

    let plan = plan_row(me, LARGEST_PLAN, now, &mut ids);
    insert_plan(&store, &plan, (100, 500, 300), now, &mut ids).await;
    let write_plan = plan_row(me, WRITE_PLAN, now, &mut ids);
    insert_plan(&store, &write_plan, (2, 500, 300), now, &mut ids).await;
    for (slug, status) in [("draft-plan", PlanStatus::Draft), ("archive-me", PlanStatus::Active)] {
        let mut small = plan_row(me, slug, now, &mut ids);
        small.status = status;
        insert_plan(&store, &small, (1, 1, 0), now, &mut ids).await;
    }
    // 300 more plans for plan_list, with titles at their limit (listings show nothing else).
    let tx = store.write().await.expect("write");
    for i in 0..300 {
        let mut listed = plan_row(me, &format!("listed-{i:03}-{}", "s".repeat(200)), now, &mut ids);
        listed.description = None;
        listed.context = JsonText::empty_object();
        listed.metadata = JsonText::empty_object();
        tx.insert_plan(&listed).await.expect("plan");
    }
    tx.commit().await.expect("commit");
    let tx = store.write().await.expect("write");
    for i in 0..500u32 {
        let key = format!("{}{i:03}", "k".repeat(125));
        tx.upsert_state(&StateEntry {
            plan_id: plan.id.clone(),
            key: StateKey::parse(&key).expect("key"),
            value: if i < 110 { big() } else { JsonText::from_trusted(json!("small").to_string()) },
            kind: StateType::Json,
            description: Some(worst(2_000)),
            category: "c".repeat(64),
            created_at: now,
            updated_at: now,
        })
        .await
        .expect("state");
    }
    for i in 0..300 {
        // Listings show neither context nor notes: these stay small.
        let status = [SessionStatus::Active, SessionStatus::Paused, SessionStatus::Completed][i % 3];
        let mut listed = session_row(me, &plan.id, status, now, &mut ids);
        listed.context_summary = JsonText::empty_object();
        listed.handoff_notes = (i % 2 == 0).then(|| JsonText::from_trusted(json!({ "summary": "s" }).to_string()));
        listed.final_summary = None;
        tx.insert_session(&listed).await.expect("session");
    }
    let session = session_row(me, &plan.id, SessionStatus::Active, now, &mut ids);
    let paused = session_row(me, &plan.id, SessionStatus::Paused, now, &mut ids);
    let active: Vec<Session> =
        (0..4).map(|_| session_row(me, &plan.id, SessionStatus::Active, now, &mut ids)).collect();
    for s in std::iter::once(&session).chain([&paused]).chain(&active) {
        tx.insert_session(s).await.expect("session");
    }
    tx.commit().await.expect("commit");
    insert_work(&store, &session.id, now, &mut ids).await;
    insert_work(&store, &paused.id, now, &mut ids).await;
    store.close().await;

    // Workflow runs: 1,000 starts with the largest business key.
    let s = &t.service;
    let start = |memo: Option<Map<String, Value>>| StartWorkflowParams {
        workflow: "simple".into(),
        business_key: Some("b".repeat(191)),
        memo,
        ..StartWorkflowParams::default()
    };
    let history = s.workflow_start(me, start(None), "test").await.expect("start");
    let completed = s.workflow_start(me, start(Some(document(DOCUMENT))), "test").await.expect("start");
    let engine = s.engine().store();
    let mut tx = engine.begin().await.expect("begin");
    // 1,000 more runs like the first, in one transaction (starting each would take a commit).
    let ns = waymark_engine::ids::Namespace::new(me.workspace_id.as_str());
    let history_id = RunId::parse(&history.run_id).expect("run id");
    let model = engine.run(&ns, &history_id).await.expect("run").expect("run");
    let instance = engine.instance(&ns, &model.instance_id).await.expect("instance").expect("instance");
    for _ in 0..1_000 {
        let id = ids.next();
        let mut copy = instance.clone();
        copy.instance_id = waymark_engine::InstanceId::parse(&id).expect("instance id");
        copy.current_run_id = Some(RunId::parse(&id).expect("run id"));
        tx.reserve_instance(&copy).await.expect("instance");
        let mut run = model.clone();
        run.instance_id = copy.instance_id.clone();
        run.run_id = RunId::parse(&id).expect("run id");
        tx.insert_run(&run).await.expect("run");
    }
    let mut run = tx.lock_run(&history_id).await.expect("lock").expect("run");
    let events: Vec<StoredEvent> = (1..=200)
        .map(|i| StoredEvent {
            id: ids.next(),
            run_id: history_id.clone(),
            sequence: run.last_sequence + i,
            event_type: "ActivityCompleted".into(),
            payload: Value::Object(document(120_000)),
            recorded_at: now,
        })
        .collect();
    tx.append_events(&events).await.expect("events");
    run.last_sequence += 200;
    tx.update_run(&run).await.expect("run");
    for _ in 0..6 {
        tx.insert_failure(&FailureRecord {
            id: ids.next(),
            run_id: history_id.clone(),
            source_kind: "activity".into(),
            source_id: Some("a".repeat(64)),
            category: FailureCategory::Activity,
            exception_type: "e".repeat(255),
            message: worst(100_000),
            non_retryable: false,
            handled: false,
            created_at: now,
        })
        .await
        .expect("failure");
    }
    let completed_id = RunId::parse(&completed.run_id).expect("run id");
    let mut run = tx.lock_run(&completed_id).await.expect("lock").expect("run");
    run.status = RunStatus::Completed;
    run.output = Some(Value::Object(document(2 * 1024 * 1024 - 100)));
    run.closed_at = Some(now);
    tx.update_run(&run).await.expect("run");
    tx.commit().await.expect("commit");

    Filled {
        plan: LARGEST_PLAN.into(),
        write_plan: WRITE_PLAN.into(),
        session: session.id.to_string(),
        paused: paused.id.to_string(),
        active: active.iter().map(|s| s.id.to_string()).collect(),
        state_key: format!("{}000", "k".repeat(125)),
        history_run: history.run_id,
        completed: completed.workflow_id,
    }
}

/// Every case: (tool, what the case shows beyond default arguments, arguments). Reads come
/// first; writes change only what later cases do not read.
fn cases(f: &Filled) -> Vec<(&'static str, &'static str, Value)> {
    let big = Value::Object(document(DOCUMENT));
    vec![
        ("plan_get", "", json!({ "slug": f.plan })),
        ("plan_get", "format: markdown", json!({ "slug": f.plan, "format": "markdown" })),
        ("plan_list", "", json!({})),
        ("plan_list", "limit: 1000", json!({ "limit": 1000 })),
        ("phase_get", "", json!({ "plan_slug": f.plan, "phase": 1 })),
        ("phase_get", "phase 100 (99 dependencies)", json!({ "plan_slug": f.plan, "phase": 100 })),
        ("session_replay", "", json!({ "session_id": f.session })),
        ("session_replay", "type: decision", json!({ "session_id": f.session, "type": "decision" })),
        ("session_list", "", json!({})),
        ("session_list", "limit: 1000", json!({ "limit": 1000 })),
        ("state_get", "a 256 KiB value", json!({ "plan_slug": f.plan, "key": f.state_key })),
        ("state_list", "", json!({ "plan_slug": f.plan })),
        ("state_list", "limit: 1000", json!({ "plan_slug": f.plan, "limit": 1000 })),
        ("template_list", "", json!({})),
        ("template_list", "limit: 1000", json!({ "limit": 1000 })),
        ("template_preview", "100 phases of 100 tasks", json!({ "template": "huge" })),
        ("list_workflows", "", json!({})),
        ("list_workflows", "show_recent, limit: 50", json!({ "show_recent": true, "limit": 50 })),
        ("get_workflow_result", "a 2 MiB output", json!({ "workflow_id": f.completed })),
        ("get_workflow_history", "", json!({ "run_id": f.history_run })),
        (
            "get_workflow_history",
            "include_payloads, limit: 100",
            json!({ "run_id": f.history_run, "include_payloads": true, "limit": 100 }),
        ),
        (
            "plan_create",
            "100 phases",
            json!({
                "title": worst(255),
                "description": worst(65_535),
                "context": { "blob": worst(40_000) },
                "phases": (0..100).map(|_| json!({ "name": worst(255), "description": worst(2_000), "tasks": vec![worst(1_024); 5] })).collect::<Vec<_>>(),
            }),
        ),
        ("plan_publish", "", json!({ "slug": "draft-plan" })),
        ("plan_update_status", "", json!({ "slug": f.write_plan, "status": "paused" })),
        ("plan_update_status", "back to active", json!({ "slug": f.write_plan, "status": "active" })),
        (
            "phase_update_status",
            "notes at their limit",
            json!({ "plan_slug": f.write_plan, "phase": 1, "status": "completed", "notes": worst(65_535) }),
        ),
        (
            "phase_add_checkpoint",
            "300 checkpoints",
            json!({ "plan_slug": f.write_plan, "phase": 1, "note": worst(65_535), "context": { "blob": worst(40_000) } }),
        ),
        (
            "phase_add",
            "500 tasks",
            json!({ "plan_slug": f.write_plan, "name": worst(255), "description": worst(65_535), "tasks": vec![worst(1_024); 500], "dependencies": [1, 2] }),
        ),
        (
            "task_add",
            "",
            json!({ "plan_slug": f.write_plan, "phase": 1, "name": worst(1_024), "description": worst(65_535) }),
        ),
        ("task_toggle", "", json!({ "plan_slug": f.write_plan, "phase": 1, "task_index": 0 })),
        (
            "task_update",
            "notes at their limit",
            json!({ "plan_slug": f.write_plan, "phase": 1, "task_index": 1, "status": "in_progress", "notes": worst(65_535) }),
        ),
        (
            "session_start",
            "",
            json!({ "agent_type": worst(255), "plan_slug": f.plan, "context": { "blob": worst(40_000) } }),
        ),
        (
            "session_log",
            "",
            json!({ "session_id": f.active[0], "message": worst(65_535), "type": "decision", "data": { "blob": worst(40_000) } }),
        ),
        (
            "session_artifact",
            "",
            json!({ "session_id": f.active[0], "path": worst(1_024), "action": "created", "description": worst(2_000) }),
        ),
        ("session_heartbeat", "", json!({ "session_id": f.active[0] })),
        (
            "session_handoff",
            "5,000 entries",
            json!({
                "session_id": f.session,
                "summary": "s".repeat(65_535),
                "next_steps": vec!["n".repeat(900); 100],
                "blockers": vec!["b".repeat(900); 100],
                "context_for_next": { "blob": "c".repeat(5_000) },
            }),
        ),
        ("session_resume", "5,000 entries", json!({ "session_id": f.session })),
        ("session_continue", "", json!({ "previous_session_id": f.paused, "agent_type": worst(255) })),
        ("session_end", "", json!({ "session_id": f.active[1], "status": "completed", "summary": worst(65_535) })),
        (
            "state_set",
            "a 256 KiB value",
            json!({ "plan_slug": f.write_plan, "key": "k".repeat(128), "value": big, "description": worst(2_000), "category": "c".repeat(64) }),
        ),
        ("state_delete", "", json!({ "plan_slug": f.plan, "key": format!("{}499", "k".repeat(125)) })),
        (
            "template_create_plan",
            "",
            json!({ "template": "bug-fix", "variables": { "issue_id": "BUG-1", "component": "billing" }, "title": worst(255) }),
        ),
        (
            "start_workflow",
            "",
            json!({ "workflow": "simple", "business_key": "b".repeat(191), "memo": { "blob": "m".repeat(250_000) } }),
        ),
        ("plan_archive", "", json!({ "slug": "archive-me", "reason": worst(2_000) })),
    ]
}

/// One measured case.
struct Measured {
    tool: &'static str,
    case: &'static str,
    bytes: usize,
}

async fn measure(s: &Service, me: &Principal, f: &Filled) -> Vec<Measured> {
    let mut measured = Vec::new();
    for (tool, case, args) in cases(f) {
        let result = s.call_tool(me, tool, args, &CancellationToken::new()).await.expect("known tool");
        assert!(!result.is_error, "{tool} ({case}) failed: {:?}", result.structured);
        let schema = &s.catalogue().tools().iter().find(|t| t.name == tool).expect("catalogued").output_schema;
        let validator = jsonschema::validator_for(&Value::Object((**schema).clone())).expect("output schema");
        let structured = Value::Object(result.structured.clone());
        let errors: Vec<String> = validator.iter_errors(&structured).map(|e| e.to_string()).take(3).collect();
        assert!(errors.is_empty(), "{tool} ({case}): a bounded result breaks its outputSchema: {errors:?}");
        let text = result.text();
        assert_eq!(
            text,
            Value::Object(result.structured.clone()).to_string(),
            "the budget counts the text block, which must be the JSON of structuredContent"
        );
        measured.push(Measured { tool, case, bytes: text.len() });
    }
    measured
}

async fn every_default_result_fits_the_budget(backend: Backend) -> Vec<Measured> {
    let dir = tempfile::tempdir().expect("templates dir");
    // template_list shows templates by slug: the first ones (and the huge one) are full, the
    // rest make up the count.
    std::fs::write(dir.path().join("huge.yaml"), template_yaml(0, 100, 100, true)).expect("template");
    for i in 1..300 {
        std::fs::write(dir.path().join(format!("user-{i:03}.yaml")), template_yaml(i, 3, 3, i <= 20))
            .expect("template");
    }
    let path = dir.path().to_owned();
    let t = TestService::start_with(backend, move |c| c.templates_dir = Some(path)).await;
    assert!(t.service.templates().problems().is_empty(), "{:?}", t.service.templates().problems());
    let me = t.principal("default").await;
    let filled = fill(&t, &me).await;
    let measured = measure(&t.service, &me, &filled).await;
    let tools: Vec<&str> = t.service.catalogue().tools().iter().map(|tool| tool.name).collect();
    t.finish().await;

    let missing: Vec<&str> = tools.iter().copied().filter(|name| !measured.iter().any(|m| m.tool == *name)).collect();
    assert!(missing.is_empty(), "tools without a budget case: {missing:?}");
    let over: Vec<String> = measured
        .iter()
        .filter(|m| m.bytes > RESULT_BUDGET_BYTES)
        .map(|m| format!("{} ({}): {} bytes", m.tool, m.case, m.bytes))
        .collect();
    assert!(over.is_empty(), "results over the budget of {RESULT_BUDGET_BYTES} bytes: {over:#?}");
    measured
}

/// The sizes by tool, for docs/tools.md.
fn sizes(measured: &[Measured]) -> crate::docs::Sizes {
    let mut by_tool = crate::docs::Sizes::new();
    for m in measured {
        by_tool.entry(m.tool).or_default().push((m.case, m.bytes));
    }
    by_tool
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_default_result_fits_the_budget_on_sqlite_and_the_docs_show_the_sizes() {
    let measured = every_default_result_fits_the_budget(Backend::Sqlite).await;
    crate::docs::ensure_tools_reference(&sizes(&measured)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_default_result_fits_the_budget_on_postgres() {
    every_default_result_fits_the_budget(Backend::Postgres).await;
}
