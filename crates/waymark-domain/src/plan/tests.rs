//! The plan status table, every pair.

use crate::status::render_matrix;
use crate::{DomainError, PlanStatus, Transition};

#[test]
fn the_plan_table_is_the_one_in_the_spec() {
    insta::assert_snapshot!(render_matrix::<PlanStatus>(), @r"
    from\to    draft      active     paused     completed  archived
    draft      =          yes        -          -          yes
    active     -          =          yes        yes        yes
    paused     -          yes        =          yes        yes
    completed  -          yes        -          =          yes
    archived   -          -          -          -          =
    ");
}

#[test]
fn a_refusal_names_the_allowed_targets() {
    let err = PlanStatus::Draft.transition_to(PlanStatus::Paused).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Cannot change plan status from 'draft' to 'paused'. Allowed from 'draft': active, archived"
    );
    match PlanStatus::Archived.transition_to(PlanStatus::Active).unwrap_err() {
        DomainError::InvalidTransition { allowed, message, .. } => {
            assert!(allowed.is_empty());
            assert!(message.ends_with("none ('archived' is final)"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn same_status_is_an_idempotent_success() {
    for s in PlanStatus::all() {
        assert_eq!(s.transition_to(*s), Ok(Transition::Unchanged));
    }
}

#[test]
fn parse_uses_the_original_message() {
    assert_eq!(PlanStatus::parse("active"), Ok(PlanStatus::Active));
    assert_eq!(
        PlanStatus::parse("done").unwrap_err().to_string(),
        "status must be one of: draft, active, paused, completed, archived"
    );
}
