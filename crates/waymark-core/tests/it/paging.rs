//! Paging and clipping as agents see them (docs/tools.md, "Result budget and paging"): every
//! list pages with `limit`, `cursor` and `next_cursor`, each item once, rows added meanwhile
//! never shifting a page; pages stop early at the budget; large values come in parts that join
//! back to the whole; bad cursors are `validation_error`.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use waymark_core::view::RESULT_BUDGET_BYTES;
use waymark_core::workflow::StartWorkflowParams;
use waymark_core::{Principal, Service};
use waymark_engine::RunStatus;
use waymark_engine::ids::RunId;
use waymark_engine::store::StoredEvent;
use waymark_testkit::{TestService, on_both_backends};

async fn call(s: &Service, p: &Principal, tool: &str, args: Value) -> (bool, Value, usize) {
    let r = s.call_tool(p, tool, args, &CancellationToken::new()).await.expect("known tool");
    let size = r.text().len();
    (r.is_error, Value::Object(r.structured), size)
}

/// A successful result, checked against the budget.
async fn ok(s: &Service, p: &Principal, tool: &str, args: Value) -> Value {
    let (is_error, value, size) = call(s, p, tool, args).await;
    assert!(!is_error, "{tool} failed: {value}");
    assert!(size <= RESULT_BUDGET_BYTES, "{tool}: {size} bytes");
    value
}

async fn error_code(s: &Service, p: &Principal, tool: &str, args: Value) -> String {
    let (is_error, value, _) = call(s, p, tool, args).await;
    assert!(is_error, "{tool} should fail: {value}");
    value["code"].as_str().unwrap_or_default().to_owned()
}

fn strings(items: &Value, field: &str) -> Vec<String> {
    items.as_array().unwrap().iter().map(|i| i[field].as_str().unwrap().to_owned()).collect()
}

/// Pages `tool` with `args` from the first page to the last; returns each page.
async fn pages(s: &Service, p: &Principal, tool: &str, args: Value) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = args.clone();
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = ok(s, p, tool, args).await;
        let next = page["next_cursor"].as_str().map(str::to_owned);
        if next.is_some() {
            assert_eq!(page["truncated"], true, "{tool}: a result with more to come says it is truncated");
        }
        out.push(page);
        match next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
        assert!(out.len() < 100, "{tool} does not end");
    }
}

fn assert_once(seen: &[String], expected: &BTreeSet<String>, what: &str) {
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "{what}: an item came twice: {seen:?}");
    assert_eq!(&unique, expected, "{what}: every item, once");
}

async fn listings_page_each_item_once_and_refuse_bad_cursors(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    let mut plans = BTreeSet::new();
    let mut sessions = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for i in 0..7 {
        let slug = format!("plan-{i}");
        ok(s, &me, "plan_create", json!({ "title": slug, "slug": slug })).await;
        plans.insert(slug);
        let started = ok(s, &me, "session_start", json!({ "agent_type": "opus" })).await;
        sessions.insert(started["session"]["session_id"].as_str().unwrap().to_owned());
        if i % 3 == 0 {
            t.clock.advance(std::time::Duration::from_secs(1));
        }
    }
    for i in 0..7 {
        let key = format!("key-{i}");
        ok(s, &me, "state_set", json!({ "plan_slug": "plan-0", "key": key, "value": i })).await;
        keys.insert(key);
    }

    // plan_list: three pages; a plan created after the first page (it lists first) changes none.
    let first = ok(s, &me, "plan_list", json!({ "limit": 3 })).await;
    assert_eq!(first["total"], 7);
    ok(s, &me, "plan_create", json!({ "title": "late", "slug": "late" })).await;
    let mut seen = strings(&first["plans"], "slug");
    let rest = pages(s, &me, "plan_list", json!({ "limit": 3, "cursor": first["next_cursor"] })).await;
    for page in &rest {
        seen.extend(strings(&page["plans"], "slug"));
    }
    assert_eq!(rest.len(), 2);
    assert_once(&seen, &plans, "plan_list");

    let last = rest.last().unwrap();
    assert_eq!((last["next_cursor"].clone(), last["truncated"].clone()), (Value::Null, json!(false)));
    let session_pages = pages(s, &me, "session_list", json!({ "limit": 2 })).await;
    assert_eq!(session_pages.len(), 4);
    let seen: Vec<String> = session_pages.iter().flat_map(|p| strings(&p["sessions"], "session_id")).collect();
    assert_once(&seen, &sessions, "session_list");

    let state_pages = pages(s, &me, "state_list", json!({ "plan_slug": "plan-0", "limit": 3 })).await;
    let seen: Vec<String> = state_pages.iter().flat_map(|p| strings(&p["states"], "key")).collect();
    assert_eq!(seen, keys.iter().cloned().collect::<Vec<_>>(), "state_list pages by key");

    let template_pages = pages(s, &me, "template_list", json!({ "limit": 3 })).await;
    let seen: Vec<String> = template_pages.iter().flat_map(|p| strings(&p["templates"], "slug")).collect();
    let all: BTreeSet<String> = s.templates().templates().iter().map(|t| t.template.slug.clone()).collect();
    assert_once(&seen, &all, "template_list");

    let mut runs = BTreeSet::new();
    for _ in 0..5 {
        let started = ok(s, &me, "start_workflow", json!({ "workflow": "simple" })).await;
        runs.insert(started["run_id"].as_str().unwrap().to_owned());
    }
    let run_pages = pages(s, &me, "list_workflows", json!({ "show_recent": true, "limit": 2 })).await;
    assert_eq!(run_pages.len(), 3);
    let seen: Vec<String> = run_pages.iter().flat_map(|p| strings(&p["recent_workflows"], "run_id")).collect();
    assert_once(&seen, &runs, "list_workflows");

    // A cursor that does not decode, or comes from another list, is refused.
    let session_cursor = session_pages[0]["next_cursor"].clone();
    for (tool, args) in [
        ("plan_list", json!({ "cursor": "garbage!" })),
        ("plan_list", json!({ "cursor": session_cursor })),
        ("session_list", json!({ "cursor": first["next_cursor"] })),
        ("state_list", json!({ "plan_slug": "plan-0", "cursor": "eyJ4IjoxfQ" })),
        ("template_list", json!({ "cursor": session_cursor })),
        ("list_workflows", json!({ "show_recent": true, "cursor": session_cursor })),
        ("plan_get", json!({ "slug": "plan-0", "cursor": session_cursor })),
        ("get_workflow_result", json!({ "workflow_id": "x", "cursor": session_cursor })),
    ] {
        assert_eq!(error_code(s, &me, tool, args.clone()).await, "validation_error", "{tool} {args}");
    }
}

/// A page holds at most 320 items (what could fit the budget at 200 bytes each) and reads no
/// more rows; small items past that are on the next page, not lost.
async fn a_page_of_many_small_items_leads_to_the_rest(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    ok(s, &me, "plan_create", json!({ "title": "P", "slug": "p" })).await;
    let mut keys = BTreeSet::new();
    for i in 0..330 {
        let key = format!("k{i:03}");
        ok(s, &me, "state_set", json!({ "plan_slug": "p", "key": key, "value": 1 })).await;
        keys.insert(key);
    }
    let state_pages = pages(s, &me, "state_list", json!({ "plan_slug": "p", "limit": 1000 })).await;
    assert_eq!(state_pages[0]["states"].as_array().unwrap().len(), 320);
    let seen: Vec<String> = state_pages.iter().flat_map(|p| strings(&p["states"], "key")).collect();
    assert_once(&seen, &keys, "state_list");
}

async fn a_large_plan_pages_its_phases_and_each_phase_its_tasks(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    let phases: Vec<Value> = (1..=12)
        .map(|i| json!({ "name": format!("Phase {i}"), "tasks": (0..60).map(|n| format!("{n:04} {}", "x".repeat(1_000))).collect::<Vec<_>>() }))
        .collect();
    ok(s, &me, "plan_create", json!({ "title": "Big", "slug": "big", "phases": phases })).await;

    let plan_pages = pages(s, &me, "plan_get", json!({ "slug": "big" })).await;
    assert!(plan_pages.len() > 1, "12 phases of 60 long tasks do not fit one result");
    let orders: Vec<u64> = plan_pages
        .iter()
        .flat_map(|p| p["plan"]["phases"].as_array().unwrap().iter().map(|ph| ph["order"].as_u64().unwrap()))
        .collect();
    assert_eq!(orders, (1..=12).collect::<Vec<_>>(), "every phase once, in order");
    let first = &plan_pages[0]["plan"]["phases"][0];
    assert_eq!(first["task_progress"]["total"], 60);
    let shown = first["tasks"].as_array().unwrap().len();
    assert!(shown < 60 && shown > 0, "{shown} tasks shown");
    assert_eq!(first["truncated"], true);

    // The phase's tasks_next_cursor continues its tasks in phase_get; paging there ends at 59.
    let mut tasks: Vec<u64> = first["tasks"].as_array().unwrap().iter().map(|t| t["index"].as_u64().unwrap()).collect();
    let mut cursor = first["tasks_next_cursor"].clone();
    while let Some(c) = cursor.as_str() {
        let page = ok(s, &me, "phase_get", json!({ "plan_slug": "big", "phase": 1, "cursor": c, "limit": 7 })).await;
        assert_eq!(page["next_cursor"], page["phase"]["tasks_next_cursor"]);
        tasks.extend(page["phase"]["tasks"].as_array().unwrap().iter().map(|t| t["index"].as_u64().unwrap()));
        cursor = page["next_cursor"].clone();
    }
    assert_eq!(tasks, (0..60).collect::<Vec<_>>(), "every task once, in order");
    let other_phase = first["tasks_next_cursor"].clone();
    assert_eq!(
        error_code(s, &me, "phase_get", json!({ "plan_slug": "big", "phase": 2, "cursor": other_phase })).await,
        "validation_error"
    );

    // Markdown pages the same way and names the call for the rest.
    let markdown_pages = pages(s, &me, "plan_get", json!({ "slug": "big", "format": "markdown" })).await;
    let text: String = markdown_pages.iter().map(|p| p["markdown"].as_str().unwrap().to_owned()).collect();
    for i in 1..=12 {
        assert_eq!(text.matches(&format!("Phase {i}: Phase {i}\n")).count(), 1, "phase {i} once");
    }
    let page_one = markdown_pages[0]["markdown"].as_str().unwrap();
    assert!(
        page_one.contains("more tasks: phase_get {\"plan_slug\": \"big\", \"phase\": 1, \"cursor\": \""),
        "{page_one}"
    );
    assert!(page_one.contains("more phases after phase"), "{page_one}");
}

async fn a_long_session_pages_its_log_and_artifacts(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    let started = ok(s, &me, "session_start", json!({ "agent_type": "opus" })).await;
    let id = started["session"]["session_id"].as_str().unwrap().to_owned();
    let kinds = ["info", "decision", "progress", "error", "checkpoint"];
    for i in 0..105 {
        let message = format!("entry {i:03}");
        ok(s, &me, "session_log", json!({ "session_id": id, "message": message, "type": kinds[i % 5] })).await;
    }
    for i in 0..25 {
        ok(
            s,
            &me,
            "session_artifact",
            json!({ "session_id": id, "path": format!("src/{i:02}.rs"), "action": "modified" }),
        )
        .await;
    }
    let replay = ok(s, &me, "session_replay", json!({ "session_id": id })).await;
    let r = &replay["replay_context"];
    assert_eq!(
        (r["total_actions"].as_u64(), r["total_decisions"].as_u64(), r["total_artifacts"].as_u64()),
        (Some(105), Some(21), Some(25))
    );
    assert_eq!(
        strings(&r["decisions"], "message"),
        ["entry 081", "entry 086", "entry 091", "entry 096", "entry 101"],
        "the newest five, oldest first"
    );
    assert_eq!(r["progress_summary"]["last_action"], "entry 104");
    assert_eq!(r["truncated"], true);
    assert!(r["hint"].as_str().unwrap().contains("cursor"));

    // recent_actions pages back through the whole log, newest first.
    let mut messages = strings(&r["recent_actions"], "message");
    let mut cursor = r["next_cursor"].clone();
    while let Some(c) = cursor.as_str() {
        let page = ok(s, &me, "session_replay", json!({ "session_id": id, "cursor": c })).await;
        messages.extend(strings(&page["replay_context"]["recent_actions"], "message"));
        cursor = page["replay_context"]["next_cursor"].clone();
    }
    let expected: Vec<String> = (0..105).rev().map(|i| format!("entry {i:03}")).collect();
    assert_eq!(messages, expected);

    // One kind: every decision, newest first; a cursor of another type is refused.
    let decisions = ok(s, &me, "session_replay", json!({ "session_id": id, "type": "decision" })).await;
    let mut seen = strings(&decisions["replay_context"]["recent_actions"], "message");
    assert_eq!(seen.len(), 20);
    let next = decisions["replay_context"]["next_cursor"].clone();
    let rest = ok(s, &me, "session_replay", json!({ "session_id": id, "type": "decision", "cursor": next })).await;
    seen.extend(strings(&rest["replay_context"]["recent_actions"], "message"));
    assert_eq!(seen, (0..21).rev().map(|i| format!("entry {:03}", i * 5 + 1)).collect::<Vec<_>>());
    assert_eq!(rest["replay_context"]["next_cursor"], Value::Null);
    assert_eq!(
        error_code(s, &me, "session_replay", json!({ "session_id": id, "cursor": next })).await,
        "validation_error",
        "a decision cursor without type"
    );

    // Artifacts: the newest 20 (oldest first), then the 5 before them.
    assert_eq!(r["artifacts"].as_array().unwrap().len(), 20);
    assert_eq!(r["artifacts"][0]["path"], "src/05.rs");
    let older =
        ok(s, &me, "session_replay", json!({ "session_id": id, "artifacts_cursor": r["artifacts_next_cursor"] })).await;
    assert_eq!(
        strings(&older["replay_context"]["artifacts"], "path"),
        (0..5).map(|i| format!("src/{i:02}.rs")).collect::<Vec<_>>()
    );
    assert_eq!(older["replay_context"]["artifacts_next_cursor"], Value::Null);
}

async fn phase_checkpoints_page_back_and_long_texts_are_clipped_and_flagged(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    ok(s, &me, "plan_create", json!({ "title": "P", "slug": "p", "phases": [{ "name": "One", "tasks": ["t"] }] }))
        .await;
    for i in 0..25 {
        ok(s, &me, "phase_add_checkpoint", json!({ "plan_slug": "p", "phase": 1, "note": format!("note {i:02}") }))
            .await;
    }
    let added = ok(
        s,
        &me,
        "phase_add_checkpoint",
        json!({ "plan_slug": "p", "phase": 1, "note": "é".repeat(5_000), "context": { "blob": "x".repeat(5_000) } }),
    )
    .await;
    assert_eq!(added["total_checkpoints"], 26);
    let newest = &added["checkpoints"][9];
    assert_eq!(newest["truncated"], true);
    assert!(newest["note"].as_str().unwrap().ends_with('…') && newest["note"].as_str().unwrap().len() <= 600);
    assert_eq!(newest["context"]["$truncated"], true);
    assert_eq!(newest["context"]["$size_bytes"], 5_011);

    let got = ok(s, &me, "phase_get", json!({ "plan_slug": "p", "phase": 1 })).await;
    let mut notes: Vec<String> = strings(&got["phase"]["checkpoints"], "id");
    let mut cursor = got["phase"]["checkpoints_next_cursor"].clone();
    while let Some(c) = cursor.as_str() {
        let page = ok(s, &me, "phase_get", json!({ "plan_slug": "p", "phase": 1, "checkpoints_cursor": c })).await;
        let mut older = strings(&page["phase"]["checkpoints"], "id");
        older.append(&mut notes);
        notes = older;
        cursor = page["phase"]["checkpoints_next_cursor"].clone();
    }
    assert_eq!(notes.len(), 26);
    let mut sorted = notes.clone();
    sorted.sort();
    assert_eq!(notes, sorted, "oldest first across pages, each once");
}

async fn large_single_values_come_in_parts_that_join_to_the_whole(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    ok(s, &me, "plan_create", json!({ "title": "P", "slug": "p" })).await;
    let value = json!({ "text": "é\"\n\u{1}".repeat(15_000), "n": [1, 2, 3] });
    ok(s, &me, "state_set", json!({ "plan_slug": "p", "key": "big", "value": value })).await;
    let stored = value.to_string();

    let first = ok(s, &me, "state_get", json!({ "plan_slug": "p", "key": "big" })).await;
    assert_eq!(first["value"]["$truncated"], true);
    assert_eq!(first["value_size_bytes"], stored.len());
    let mut joined = first["value_text"].as_str().unwrap().to_owned();
    let mut cursor = first["next_cursor"].clone();
    let mut parts = 1;
    while let Some(c) = cursor.as_str() {
        let part = ok(s, &me, "state_get", json!({ "plan_slug": "p", "key": "big", "cursor": c })).await;
        joined.push_str(part["value_text"].as_str().unwrap());
        cursor = part["next_cursor"].clone();
        parts += 1;
    }
    assert!(parts > 2, "{parts} parts");
    assert_eq!(serde_json::from_str::<Value>(&joined).unwrap(), value);

    // A cursor of a value changed since is a conflict; one of another key is refused.
    let second = first["next_cursor"].clone();
    ok(s, &me, "state_set", json!({ "plan_slug": "p", "key": "small", "value": 1 })).await;
    assert_eq!(
        error_code(s, &me, "state_get", json!({ "plan_slug": "p", "key": "small", "cursor": second })).await,
        "validation_error"
    );
    t.clock.advance(std::time::Duration::from_secs(1));
    ok(s, &me, "state_set", json!({ "plan_slug": "p", "key": "big", "value": value })).await;
    assert_eq!(
        error_code(s, &me, "state_get", json!({ "plan_slug": "p", "key": "big", "cursor": second })).await,
        "conflict"
    );
    let small = ok(s, &me, "state_get", json!({ "plan_slug": "p", "key": "small" })).await;
    assert_eq!(
        (small["value"].clone(), small["next_cursor"].clone(), small["truncated"].clone()),
        (json!(1), Value::Null, Value::Null)
    );

    // A workflow output over 32,000 bytes: the same.
    let started = s
        .workflow_start(
            &me,
            StartWorkflowParams { workflow: "simple".into(), ..StartWorkflowParams::default() },
            "test",
        )
        .await
        .unwrap();
    let output = json!({ "report": "line\n".repeat(20_000) });
    let engine = s.engine().store();
    let mut tx = engine.begin().await.unwrap();
    let mut run = tx.lock_run(&RunId::parse(&started.run_id).unwrap()).await.unwrap().unwrap();
    run.status = RunStatus::Completed;
    run.output = Some(output.clone());
    tx.update_run(&run).await.unwrap();
    tx.commit().await.unwrap();
    let mut joined = String::new();
    let mut cursor = Value::Null;
    loop {
        let mut args = json!({ "workflow_id": started.workflow_id });
        if let Some(c) = cursor.as_str() {
            args["cursor"] = json!(c);
        }
        let part = ok(s, &me, "get_workflow_result", args).await;
        assert_eq!(part["output"]["$truncated"], true);
        assert_eq!(part["truncated"], true);
        joined.push_str(part["output_text"].as_str().unwrap());
        cursor = part["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(serde_json::from_str::<Value>(&joined).unwrap(), output);
}

async fn history_pages_stop_at_the_budget_and_page_back_through_every_event(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    let started = s
        .workflow_start(
            &me,
            StartWorkflowParams { workflow: "simple".into(), ..StartWorkflowParams::default() },
            "test",
        )
        .await
        .unwrap();
    let run_id = RunId::parse(&started.run_id).unwrap();
    let engine = s.engine().store();
    let mut tx = engine.begin().await.unwrap();
    let mut run = tx.lock_run(&run_id).await.unwrap().unwrap();
    let now = run.created_at;
    let events: Vec<StoredEvent> = (1..=40)
        .map(|i| StoredEvent {
            id: format!("evt-{i:03}"),
            run_id: run_id.clone(),
            sequence: run.last_sequence + i,
            event_type: "ActivityCompleted".into(),
            payload: json!({ "result": "r".repeat(10_000) }),
            recorded_at: now,
        })
        .collect();
    tx.append_events(&events).await.unwrap();
    run.last_sequence += 40;
    tx.update_run(&run).await.unwrap();
    tx.commit().await.unwrap();
    let total = run.last_sequence;

    let mut sequences: Vec<u64> = Vec::new();
    let mut cursor = Value::Null;
    let mut pages = 0;
    loop {
        let mut args = json!({ "run_id": started.run_id, "include_payloads": true, "limit": 100 });
        if let Some(c) = cursor.as_str() {
            args["cursor"] = json!(c);
        }
        let page = ok(s, &me, "get_workflow_history", args).await;
        let mut these: Vec<u64> =
            page["events"].as_array().unwrap().iter().map(|e| e["sequence"].as_u64().unwrap()).collect();
        assert_eq!(page["returned_event_count"].as_u64(), Some(these.len() as u64));
        these.append(&mut sequences);
        sequences = these;
        cursor = page["next_cursor"].clone();
        pages += 1;
        if cursor.is_null() {
            break;
        }
    }
    assert!(pages > 1, "40 previews of 4 KiB do not fit one result");
    assert_eq!(sequences, (1..=total).collect::<Vec<_>>(), "every event once, in order");
}

on_both_backends!(
    listings_page_each_item_once_and_refuse_bad_cursors,
    a_page_of_many_small_items_leads_to_the_rest,
    a_large_plan_pages_its_phases_and_each_phase_its_tasks,
    a_long_session_pages_its_log_and_artifacts,
    phase_checkpoints_page_back_and_long_texts_are_clipped_and_flagged,
    large_single_values_come_in_parts_that_join_to_the_whole,
    history_pages_stop_at_the_budget_and_page_back_through_every_event,
);
