//! The phase status table and what a phase change does to its plan.

use chrono::TimeZone;

use super::{PhaseChange, blockers, decide_status_change, resolve_dependencies};
use crate::status::render_matrix;
use crate::{
    DomainError, JsonText, Phase, PhaseId, PhaseRef, PhaseStatus, Plan, PlanId, PlanStatus, Slug, Timestamp,
    Transition, WorkspaceId,
};

fn t(minute: u32) -> Timestamp {
    chrono::Utc.with_ymd_and_hms(2026, 1, 1, 12, minute, 0).unwrap()
}

fn plan(status: PlanStatus) -> Plan {
    Plan {
        id: PlanId::from_ulid("P"),
        workspace_id: WorkspaceId::from_ulid("W"),
        slug: Slug::parse("demo").unwrap(),
        title: "Demo".into(),
        description: None,
        context: JsonText::empty_object(),
        status,
        current_phase: None,
        metadata: JsonText::empty_object(),
        archived_at: None,
        created_at: t(0),
        updated_at: t(0),
    }
}

fn phase(order: u32, status: PhaseStatus, deps: &[u32]) -> Phase {
    Phase {
        id: PhaseId::from_ulid(&format!("{order}")),
        plan_id: PlanId::from_ulid("P"),
        order,
        name: format!("Step {order}"),
        description: None,
        status,
        dependencies: deps.to_vec(),
        started_at: None,
        completed_at: None,
        block_reason: None,
        skip_reason: None,
        created_at: t(0),
        updated_at: t(0),
    }
}

fn decide(
    plan_status: PlanStatus,
    phases: &[Phase],
    index: usize,
    to: PhaseStatus,
) -> Result<PhaseChange, DomainError> {
    decide_status_change(&plan(plan_status), phases, index, to, Some("why"), t(5))
}

#[test]
fn the_phase_table() {
    insta::assert_snapshot!(render_matrix::<PhaseStatus>(), @r"
    from\to      pending      in_progress  completed    blocked      skipped
    pending      =            yes          yes          yes          yes
    in_progress  yes          =            yes          yes          yes
    completed    yes          yes          =            -            -
    blocked      yes          yes          -            =            yes
    skipped      yes          yes          -            -            =
    ");
}

#[test]
fn every_table_pair_is_decided_the_same_way_in_an_active_plan() {
    for from in PhaseStatus::all() {
        for to in PhaseStatus::all() {
            // A second, unfinished phase keeps the plan from completing.
            let phases = [phase(1, *from, &[]), phase(2, PhaseStatus::Pending, &[])];
            let table = from.transition_to(*to);
            let decided = decide(PlanStatus::Active, &phases, 0, *to);
            assert_eq!(table.is_ok(), decided.is_ok(), "{from:?} -> {to:?}");
            if let Ok(change) = decided {
                assert_eq!(change.phase.status, *to);
                assert_eq!(change.transition, table.unwrap());
                assert_eq!(change.plan_status, None, "{from:?} -> {to:?}");
            }
        }
    }
}

#[test]
fn starting_sets_started_at_and_current_phase() {
    let change =
        decide(PlanStatus::Active, &[phase(1, PhaseStatus::Pending, &[])], 0, PhaseStatus::InProgress).unwrap();
    assert_eq!(change.phase.started_at, Some(t(5)));
    assert_eq!(change.phase.completed_at, None);
    assert_eq!(change.current_phase, Some(1));
    assert_eq!(change.plan_status, None);
}

#[test]
fn completing_the_last_phase_completes_the_plan() {
    let phases = [phase(1, PhaseStatus::Skipped, &[]), phase(2, PhaseStatus::InProgress, &[1])];
    let change = decide(PlanStatus::Active, &phases, 1, PhaseStatus::Completed).unwrap();
    assert_eq!(change.phase.completed_at, Some(t(5)));
    assert_eq!(change.phase.started_at, Some(t(5)));
    assert_eq!(change.plan_status, Some(PlanStatus::Completed));
    let paused = decide(PlanStatus::Paused, &phases, 1, PhaseStatus::Completed).unwrap();
    assert_eq!(paused.plan_status, Some(PlanStatus::Completed));
}

#[test]
fn reopening_a_phase_reopens_a_completed_plan() {
    let mut done = phase(1, PhaseStatus::Completed, &[]);
    done.started_at = Some(t(1));
    done.completed_at = Some(t(2));
    let change = decide(PlanStatus::Completed, &[done.clone()], 0, PhaseStatus::InProgress).unwrap();
    assert_eq!(change.plan_status, Some(PlanStatus::Active));
    assert_eq!(change.phase.started_at, Some(t(1)));
    assert_eq!(change.phase.completed_at, None);
    let reset = decide(PlanStatus::Completed, &[done], 0, PhaseStatus::Pending).unwrap();
    assert_eq!((reset.phase.started_at, reset.phase.completed_at), (None, None));
}

#[test]
fn dependencies_must_be_finished_to_start_or_complete() {
    let phases = [phase(1, PhaseStatus::InProgress, &[]), phase(2, PhaseStatus::Pending, &[1])];
    for to in [PhaseStatus::InProgress, PhaseStatus::Completed] {
        match decide(PlanStatus::Active, &phases, 1, to).unwrap_err() {
            DomainError::DependencyNotMet { blockers, message } => {
                assert_eq!(blockers.len(), 1);
                assert_eq!(blockers[0].phase_order, 1);
                assert_eq!(message, "Phase 2 (Step 2) depends on unfinished phases: Phase 1: Step 1 (in_progress)");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Blocking or skipping does not need dependencies.
    assert!(decide(PlanStatus::Active, &phases, 1, PhaseStatus::Blocked).is_ok());
    assert_eq!(blockers(&phases[1], &phases).len(), 1);
}

#[test]
fn plan_state_gates_phase_changes() {
    let phases = [phase(1, PhaseStatus::Pending, &[])];
    let draft = decide(PlanStatus::Draft, &phases, 0, PhaseStatus::InProgress).unwrap_err();
    assert!(draft.to_string().contains("publish it (plan_publish)"), "{draft}");
    assert!(decide(PlanStatus::Draft, &phases, 0, PhaseStatus::Skipped).is_ok());
    let paused = decide(PlanStatus::Paused, &phases, 0, PhaseStatus::InProgress).unwrap_err();
    assert!(paused.to_string().contains("is paused"), "{paused}");
    let archived = decide(PlanStatus::Archived, &phases, 0, PhaseStatus::Skipped).unwrap_err();
    assert_eq!(archived.to_string(), "Plan 'demo' is archived and read-only");
}

#[test]
fn reasons_are_stored_and_cleared() {
    let blocked = decide(PlanStatus::Active, &[phase(1, PhaseStatus::Pending, &[])], 0, PhaseStatus::Blocked).unwrap();
    assert_eq!(blocked.phase.block_reason.as_deref(), Some("why"));
    let resumed = decide(PlanStatus::Active, &[blocked.phase], 0, PhaseStatus::InProgress).unwrap();
    assert_eq!(resumed.phase.block_reason, None);
}

#[test]
fn repeating_a_status_changes_nothing() {
    let phases = [phase(1, PhaseStatus::Completed, &[])];
    let change = decide(PlanStatus::Completed, &phases, 0, PhaseStatus::Completed).unwrap();
    assert_eq!(change.transition, Transition::Unchanged);
    assert_eq!(change.phase, phases[0]);
}

#[test]
fn phase_refs_read_digits_as_orders() {
    let phases = [phase(1, PhaseStatus::Pending, &[]), phase(2, PhaseStatus::Pending, &[])];
    assert_eq!(PhaseRef::parse("2"), PhaseRef::Order(2));
    assert_eq!(PhaseRef::parse("Step 2"), PhaseRef::Name("Step 2".into()));
    assert_eq!(PhaseRef::parse("step 1").find(&phases).map(|p| p.order), Some(1));
    assert_eq!(PhaseRef::parse("3").find(&phases), None);
}

#[test]
fn dependencies_resolve_only_to_earlier_phases() {
    let phases = [phase(1, PhaseStatus::Pending, &[]), phase(2, PhaseStatus::Pending, &[])];
    let refs = [PhaseRef::Order(1), PhaseRef::Name("Step 2".into()), PhaseRef::Order(1)];
    assert_eq!(resolve_dependencies(&refs, &phases, 3), Ok(vec![1, 2]));
    assert!(resolve_dependencies(&[PhaseRef::Order(2)], &phases, 2).is_err());
    assert!(resolve_dependencies(&[PhaseRef::Name("nope".into())], &phases, 3).is_err());
}
