//! The storage cases, each written once against a migrated, empty store.

use chrono::{Duration, TimeZone, Utc};
use waymark_domain::{
    ApiKey, ApiKeyId, Checkpoint, CheckpointId, JsonText, Phase, PhaseId, PhaseStatus, Plan, PlanId, PlanStatus,
    Scopes, Slug, Task, TaskId, TaskStatus, Timestamp, Workspace, WorkspaceId, WorkspaceName,
};
use waymark_store::{AuditEvent, AuditFilter, Error, PlanFilter, Store};

fn t(minute: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap() + Duration::minutes(minute)
}

async fn workspace(store: &Store, name: &str) -> Workspace {
    let ws = Workspace {
        id: WorkspaceId::from_ulid(&format!("01{name}")),
        name: WorkspaceName::parse(name).unwrap(),
        created_at: t(0),
    };
    let tx = store.write().await.unwrap();
    tx.insert_workspace(&ws).await.unwrap();
    tx.commit().await.unwrap();
    ws
}

fn plan(ws: &Workspace, slug: &str, minute: i64) -> Plan {
    Plan {
        id: PlanId::from_ulid(&format!("{}{slug}", ws.name)),
        workspace_id: ws.id.clone(),
        slug: Slug::parse(slug).unwrap(),
        title: format!("Plan {slug}"),
        description: Some("desc".into()),
        context: JsonText::from_trusted(r#"{"repo":"waymark"}"#.into()),
        status: PlanStatus::Draft,
        current_phase: None,
        metadata: JsonText::empty_object(),
        archived_at: None,
        created_at: t(minute),
        updated_at: t(minute),
    }
}

fn phase(plan: &Plan, order: u32, deps: &[u32]) -> Phase {
    Phase {
        id: PhaseId::from_ulid(&format!("{}{order}", plan.slug)),
        plan_id: plan.id.clone(),
        order,
        name: format!("Phase {order}"),
        description: None,
        status: PhaseStatus::Pending,
        dependencies: deps.to_vec(),
        started_at: None,
        completed_at: None,
        block_reason: None,
        skip_reason: None,
        created_at: t(0),
        updated_at: t(0),
    }
}

fn task(phase: &Phase, position: u32) -> Task {
    Task {
        id: TaskId::from_ulid(&format!("{}{}", phase.id, position)),
        phase_id: phase.id.clone(),
        position,
        name: format!("Task {position}"),
        description: None,
        status: TaskStatus::Pending,
        notes: None,
        created_at: t(0),
        updated_at: t(0),
    }
}

async fn insert_plan(store: &Store, plan: &Plan, phases: &[Phase], tasks: &[Task]) {
    let tx = store.write().await.unwrap();
    tx.insert_plan(plan).await.unwrap();
    tx.insert_phases(phases).await.unwrap();
    tx.insert_tasks(&plan.id, tasks).await.unwrap();
    tx.commit().await.unwrap();
}

pub(crate) async fn migrations_are_current_after_migrate(store: &Store) {
    assert_eq!(store.pending_migrations().await.unwrap(), 0);
    store.ping().await.unwrap();
    // Migrating again is a no-op.
    store.migrate().await.unwrap();
}

pub(crate) async fn workspace_names_are_unique(store: &Store) {
    let ws = workspace(store, "alpha").await;
    let tx = store.write().await.unwrap();
    let dup = Workspace { id: WorkspaceId::from_ulid("02other"), ..ws.clone() };
    assert!(matches!(tx.insert_workspace(&dup).await, Err(Error::Conflict)));
    drop(tx);
    let tx = store.read().await.unwrap();
    assert_eq!(tx.count_workspaces().await.unwrap(), 1);
    assert_eq!(tx.workspace_by_name(&ws.name).await.unwrap(), Some(ws.clone()));
    assert_eq!(tx.workspace_by_id(&ws.id).await.unwrap(), Some(ws));
}

pub(crate) async fn plan_round_trips_with_phases_tasks_and_checkpoints(store: &Store) {
    let ws = workspace(store, "alpha").await;
    let p = plan(&ws, "demo", 0);
    let phases = [phase(&p, 1, &[]), phase(&p, 2, &[1])];
    let tasks = [task(&phases[0], 0), task(&phases[0], 1), task(&phases[1], 0)];
    insert_plan(store, &p, &phases, &tasks).await;

    let tx = store.write().await.unwrap();
    let mut read = tx.plan_by_slug(&ws.id, &p.slug).await.unwrap().expect("plan");
    assert_eq!(read, p);
    assert_eq!(tx.phases_of(&p.id).await.unwrap(), phases);
    let stored_tasks = tx.tasks_of(&p.id).await.unwrap();
    assert_eq!(stored_tasks.len(), 3);
    assert!(tasks.iter().all(|t| stored_tasks.contains(t)));

    read.status = PlanStatus::Active;
    read.current_phase = Some(1);
    read.updated_at = t(5);
    tx.update_plan(&read).await.unwrap();
    let mut first = phases[0].clone();
    first.status = PhaseStatus::InProgress;
    first.started_at = Some(t(5));
    tx.update_phase(&first).await.unwrap();
    let mut done = tasks[0].clone();
    done.status = TaskStatus::Completed;
    done.notes = Some("done".into());
    tx.update_task(&p.id, &done).await.unwrap();
    let cp = Checkpoint {
        id: CheckpointId::from_ulid("01cp"),
        phase_id: first.id.clone(),
        note: "halfway".into(),
        context: JsonText::from_trusted(r#"{"files":2}"#.into()),
        created_at: t(6),
    };
    tx.insert_checkpoint(&cp).await.unwrap();
    tx.commit().await.unwrap();

    let tx = store.read().await.unwrap();
    assert_eq!(tx.plan_by_slug(&ws.id, &p.slug).await.unwrap(), Some(read));
    assert_eq!(tx.phases_of(&p.id).await.unwrap()[0], first);
    assert!(tx.tasks_of(&p.id).await.unwrap().contains(&done));
    assert_eq!(tx.checkpoints_of(&first.id).await.unwrap(), vec![cp]);
    let mut phase_statuses = tx.phase_statuses_of(std::slice::from_ref(&p.id)).await.unwrap();
    phase_statuses.sort_by_key(|(_, phase, _)| phase.clone());
    assert_eq!(
        phase_statuses,
        vec![
            (p.id.clone(), first.id.clone(), PhaseStatus::InProgress),
            (p.id.clone(), phases[1].id.clone(), PhaseStatus::Pending)
        ]
    );
    assert_eq!(tx.task_statuses_of(std::slice::from_ref(&p.id)).await.unwrap().len(), 3);
}

pub(crate) async fn plan_slugs_are_unique_per_workspace_only(store: &Store) {
    let alpha = workspace(store, "alpha").await;
    let beta = workspace(store, "beta").await;
    insert_plan(store, &plan(&alpha, "same", 0), &[], &[]).await;
    insert_plan(store, &plan(&beta, "same", 0), &[], &[]).await;
    let tx = store.write().await.unwrap();
    let again = Plan { id: PlanId::from_ulid("another"), ..plan(&alpha, "same", 0) };
    assert!(matches!(tx.insert_plan(&again).await, Err(Error::Conflict)));
}

pub(crate) async fn plan_lookups_are_scoped_by_workspace(store: &Store) {
    let alpha = workspace(store, "alpha").await;
    let beta = workspace(store, "beta").await;
    let p = plan(&alpha, "secret", 0);
    insert_plan(store, &p, &[], &[]).await;
    let tx = store.read().await.unwrap();
    assert!(tx.plan_by_slug(&beta.id, &p.slug).await.unwrap().is_none());
    let page = tx.list_plans(&beta.id, &PlanFilter { limit: 50, ..PlanFilter::default() }).await.unwrap();
    assert_eq!((page.plans.len(), page.total), (0, 0));
    drop(tx);
    // An update through the wrong workspace changes nothing.
    let tx = store.write().await.unwrap();
    let hijack = Plan { workspace_id: beta.id.clone(), title: "stolen".into(), ..p.clone() };
    tx.update_plan(&hijack).await.unwrap();
    tx.commit().await.unwrap();
    let tx = store.read().await.unwrap();
    assert_eq!(tx.plan_by_slug(&alpha.id, &p.slug).await.unwrap().unwrap().title, p.title);
}

pub(crate) async fn plan_listing_filters_orders_and_pages(store: &Store) {
    let ws = workspace(store, "alpha").await;
    for (i, slug) in ["a", "b", "c", "d"].iter().enumerate() {
        let mut p = plan(&ws, slug, i64::try_from(i).unwrap());
        if *slug == "d" {
            p.status = PlanStatus::Archived;
            p.archived_at = Some(t(10));
        }
        insert_plan(store, &p, &[], &[]).await;
    }
    let tx = store.read().await.unwrap();
    let slugs = |page: waymark_store::PlanPage| page.plans.iter().map(|p| p.slug.to_string()).collect::<Vec<_>>();
    let all = tx.list_plans(&ws.id, &PlanFilter { limit: 50, ..PlanFilter::default() }).await.unwrap();
    assert_eq!(all.total, 3);
    assert_eq!(slugs(all), ["c", "b", "a"]);
    let first = PlanFilter { include_archived: true, limit: 1, ..PlanFilter::default() };
    let first = tx.list_plans(&ws.id, &first).await.unwrap().plans.remove(0);
    assert_eq!(first.slug.as_str(), "d");
    let after = Some((first.updated_at, first.id));
    let with_archived = PlanFilter { include_archived: true, limit: 2, after, ..PlanFilter::default() };
    let page = tx.list_plans(&ws.id, &with_archived).await.unwrap();
    assert_eq!(page.total, 4);
    assert_eq!(slugs(page), ["c", "b"]);
    let archived = PlanFilter { status: Some(PlanStatus::Archived), limit: 50, ..PlanFilter::default() };
    assert_eq!(slugs(tx.list_plans(&ws.id, &archived).await.unwrap()), ["d"]);
}

pub(crate) async fn dropped_transaction_writes_nothing(store: &Store) {
    let ws = workspace(store, "alpha").await;
    let p = plan(&ws, "ghost", 0);
    {
        let tx = store.write().await.unwrap();
        tx.insert_plan(&p).await.unwrap();
        tx.insert_phases(&[phase(&p, 1, &[])]).await.unwrap();
        // Dropped without commit.
    }
    let tx = store.read().await.unwrap();
    assert!(tx.plan_by_slug(&ws.id, &p.slug).await.unwrap().is_none());
    assert!(tx.phases_of(&p.id).await.unwrap().is_empty());
}

pub(crate) async fn api_keys_are_found_by_hash_and_revoked_once(store: &Store) {
    let ws = workspace(store, "alpha").await;
    let key = ApiKey {
        id: ApiKeyId::from_ulid("01key"),
        workspace_id: ws.id.clone(),
        name: "ci".into(),
        key_hash: "ab".repeat(32),
        prefix: "wmk_abcdefgh".into(),
        scopes: Scopes::READ,
        tools: Some(vec!["plan_get".into()]),
        rate_limit_per_minute: 100,
        expires_at: Some(t(60)),
        revoked_at: None,
        last_used_at: None,
        created_at: t(0),
    };
    let tx = store.write().await.unwrap();
    tx.insert_api_key(&key).await.unwrap();
    tx.commit().await.unwrap();
    let tx = store.write().await.unwrap();
    assert_eq!(tx.api_key_by_hash(&key.key_hash).await.unwrap(), Some(key.clone()));
    assert_eq!(tx.api_key_by_hash(&"cd".repeat(32)).await.unwrap(), None);
    tx.revoke_api_key(&key.id, t(1)).await.unwrap();
    tx.revoke_api_key(&key.id, t(2)).await.unwrap();
    tx.commit().await.unwrap();
    let tx = store.read().await.unwrap();
    let revoked = tx.api_key_by_id(&key.id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(t(1)));
    assert_eq!(tx.list_api_keys(Some(&ws.id)).await.unwrap().len(), 1);
    assert_eq!(tx.list_api_keys(Some(&WorkspaceId::from_ulid("none"))).await.unwrap().len(), 0);
}

pub(crate) async fn audit_events_append_and_list_newest_first(store: &Store) {
    let ws = workspace(store, "alpha").await;
    let event = |id: &str, tool: &str| AuditEvent {
        id: id.into(),
        occurred_at: t(1),
        workspace_id: Some(ws.id.clone()),
        api_key_id: None,
        transport: "stdio".into(),
        tool: tool.into(),
        agent_session_id: None,
        duration_ms: 3,
        outcome: "success".into(),
        error_code: None,
        arguments: "{}".into(),
    };
    let tx = store.write().await.unwrap();
    tx.insert_audit_events(&[event("aud_1", "plan_get"), event("aud_2", "plan_list"), event("aud_3", "plan_get")])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let tx = store.read().await.unwrap();
    let ids = |events: Vec<AuditEvent>| events.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let all = AuditFilter { limit: 10, ..AuditFilter::default() };
    assert_eq!(ids(tx.list_audit_events(&all).await.unwrap()), ["aud_3", "aud_2", "aud_1"]);
    let gets = AuditFilter { tool: Some("plan_get".into()), limit: 10, ..AuditFilter::default() };
    assert_eq!(ids(tx.list_audit_events(&gets).await.unwrap()), ["aud_3", "aud_1"]);
    let after = AuditFilter { after_id: Some("aud_1".into()), limit: 1, ..AuditFilter::default() };
    assert_eq!(ids(tx.list_audit_events(&after).await.unwrap()), ["aud_3"]);
}
