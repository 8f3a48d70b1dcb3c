//! A plan's whole life through the library API, each step's result pinned.

use serde_json::json;
use waymark_core::phase::{PhaseAddCheckpointParams, PhaseAddParams, PhaseGetParams, PhaseUpdateStatusParams};
use waymark_core::plan::{
    PhaseInput, PlanArchiveParams, PlanCreateParams, PlanFormat, PlanGetParams, PlanListParams, PlanPublishParams,
};
use waymark_core::task::{TaskAddParams, TaskToggleParams, TaskUpdateParams};
use waymark_core::view::{PhaseArg, Status};
use waymark_domain::{PhaseRef, PhaseStatus, TaskStatus};
use waymark_testkit::{TestService, on_both_backends};

use crate::{error_result, snap};

fn phase(order: u32) -> PhaseArg {
    PhaseArg(PhaseRef::Order(order))
}

fn set_phase(slug: &str, order: u32, status: PhaseStatus, notes: Option<&str>) -> PhaseUpdateStatusParams {
    PhaseUpdateStatusParams {
        plan_slug: slug.into(),
        phase: phase(order),
        status: Status(status),
        notes: notes.map(Into::into),
    }
}

async fn plan_lifecycle(t: &TestService) {
    let s = &t.service;
    let me = t.principal("default").await;
    let slug = "release-1-2";

    let created = s
        .plan_create(
            &me,
            PlanCreateParams {
                title: "Release 1.2".into(),
                slug: Some(slug.into()),
                description: Some("Ship the 1.2 release.".into()),
                context: Some(
                    json!({ "repo": "waymark", "markdown": "Release notes live in CHANGELOG.md." })
                        .as_object()
                        .cloned()
                        .unwrap(),
                ),
                phases: Some(vec![
                    PhaseInput {
                        name: Some("Design".into()),
                        tasks: Some(vec!["Write spec".into(), "Review spec".into()]),
                        ..Default::default()
                    },
                    PhaseInput {
                        name: Some("Build".into()),
                        description: Some("Implement and test.".into()),
                        tasks: Some(vec!["Implement".into(), "Test".into()]),
                        dependencies: Some(vec![phase(1)]),
                    },
                    PhaseInput {
                        name: Some("Ship".into()),
                        tasks: Some(vec!["Tag".into()]),
                        dependencies: Some(vec![PhaseArg(PhaseRef::Name("Build".into()))]),
                        ..Default::default()
                    },
                ]),
            },
        )
        .await
        .unwrap();
    snap("lifecycle_01_create", &created);

    let get = |format| PlanGetParams { slug: slug.into(), format, ..PlanGetParams::default() };
    snap("lifecycle_02_get_draft", s.plan_get(&me, get(None)).await.unwrap());

    t.clock.advance(std::time::Duration::from_secs(60));
    let draft = s.phase_update_status(&me, set_phase(slug, 1, PhaseStatus::InProgress, None)).await.unwrap_err();
    snap("lifecycle_03_start_in_draft_refused", error_result(&draft));

    snap("lifecycle_04_publish", s.plan_publish(&me, PlanPublishParams { slug: slug.into() }).await.unwrap());

    let blocked = s.phase_update_status(&me, set_phase(slug, 2, PhaseStatus::InProgress, None)).await.unwrap_err();
    snap("lifecycle_05_dependency_not_met", error_result(&blocked));

    snap(
        "lifecycle_06_start_design",
        s.phase_update_status(&me, set_phase(slug, 1, PhaseStatus::InProgress, Some("Kick-off"))).await.unwrap(),
    );

    let done = s
        .task_update(
            &me,
            TaskUpdateParams {
                plan_slug: slug.into(),
                phase: Some(phase(1)),
                task_index: Some(0),
                task_id: None,
                status: Some(Status(TaskStatus::Completed)),
                notes: Some("Spec in docs/".into()),
            },
        )
        .await
        .unwrap();
    snap("lifecycle_07_task_update", &done);

    let toggle = |phase_arg: Option<PhaseArg>, index: Option<u32>, id: Option<String>| TaskToggleParams {
        plan_slug: slug.into(),
        phase: phase_arg,
        task_index: index,
        task_id: id,
    };
    snap("lifecycle_08_task_toggle", s.task_toggle(&me, toggle(Some(phase(1)), Some(1), None)).await.unwrap());

    let checkpoint = PhaseAddCheckpointParams {
        plan_slug: slug.into(),
        phase: PhaseArg(PhaseRef::Name("design".into())),
        note: "Spec approved".into(),
        context: json!({ "reviewers": 2 }).as_object().cloned(),
    };
    snap("lifecycle_09_checkpoint", s.phase_add_checkpoint(&me, checkpoint).await.unwrap());

    snap(
        "lifecycle_10_complete_design",
        s.phase_update_status(&me, set_phase(slug, 1, PhaseStatus::Completed, None)).await.unwrap(),
    );
    s.phase_update_status(&me, set_phase(slug, 2, PhaseStatus::InProgress, None)).await.unwrap();

    let added = s
        .task_add(
            &me,
            TaskAddParams { plan_slug: slug.into(), phase: phase(2), name: "Benchmark".into(), description: None },
        )
        .await
        .unwrap();
    snap("lifecycle_11_task_add", &added);
    s.task_toggle(&me, toggle(None, None, Some(added.task.id.clone()))).await.unwrap();
    for index in 0..2 {
        s.task_toggle(&me, toggle(Some(phase(2)), Some(index), None)).await.unwrap();
    }
    s.phase_update_status(&me, set_phase(slug, 2, PhaseStatus::Completed, None)).await.unwrap();
    snap(
        "lifecycle_12_skip_last_phase_completes_plan",
        s.phase_update_status(&me, set_phase(slug, 3, PhaseStatus::Skipped, Some("Shipped by the release bot")))
            .await
            .unwrap(),
    );

    snap("lifecycle_13_get_markdown", s.plan_get(&me, get(Some(PlanFormat::Markdown))).await.unwrap());
    snap(
        "lifecycle_14_phase_get",
        s.phase_get(
            &me,
            PhaseGetParams {
                plan_slug: slug.into(),
                phase: phase(1),
                limit: None,
                cursor: None,
                checkpoints_cursor: None,
            },
        )
        .await
        .unwrap(),
    );

    let extra = PhaseAddParams {
        plan_slug: slug.into(),
        name: "Retrospective".into(),
        description: None,
        tasks: Some(vec!["Write notes".into()]),
        dependencies: Some(vec![phase(3)]),
    };
    snap("lifecycle_15_phase_add_reopens", s.phase_add(&me, extra).await.unwrap());

    snap(
        "lifecycle_16_archive",
        s.plan_archive(&me, PlanArchiveParams { slug: slug.into(), reason: Some("Released".into()) }).await.unwrap(),
    );
    let read_only = s.task_toggle(&me, toggle(Some(phase(4)), Some(0), None)).await.unwrap_err();
    snap("lifecycle_17_archived_is_read_only", error_result(&read_only));

    let listed = s.plan_list(&me, PlanListParams::default()).await.unwrap();
    assert_eq!(listed.total, 0, "archived plans are not listed by default");
    let all = PlanListParams { include_archived: Some(true), ..PlanListParams::default() };
    snap("lifecycle_18_list_with_archived", s.plan_list(&me, all).await.unwrap());
    snap("lifecycle_19_get_archived", s.plan_get(&me, get(None)).await.unwrap());
}

on_both_backends!(plan_lifecycle);
