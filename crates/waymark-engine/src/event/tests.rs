//! Every event type: its JSON pinned by a snapshot, round-tripped, and read back from parts.

use std::time::Duration;

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::status::{ClosedReason, CommandOutcome, CommandType, FailureCategory, ParentClosePolicy, TaskProblem};

fn at(seconds: i64) -> Timestamp {
    chrono::DateTime::from_timestamp(1_767_268_800 + seconds, 0).expect("valid time")
}

fn instance() -> InstanceId {
    InstanceId::parse("order-42").expect("valid id")
}

fn run() -> RunId {
    RunId::parse("01KAR000000000000000000R01").expect("valid ulid")
}

fn activity() -> ActivityRef {
    ActivityRef {
        activity_execution_id: "01KAR00000000000000000ACT1".into(),
        activity_type: "simple_other".into(),
        sequence: 2,
    }
}

fn child() -> ChildRef {
    ChildRef {
        sequence: 3,
        child_workflow_instance_id: InstanceId::parse("order-42:child-1").expect("valid id"),
        child_workflow_run_id: Some(RunId::parse("01KAR000000000000000000R02").expect("valid ulid")),
        child_workflow_type: "simple".into(),
    }
}

fn start(outcome: CommandOutcome, rejection_reason: Option<&str>) -> StartRecorded {
    StartRecorded {
        workflow_command_id: "01KAR0000000000000000CMD01".into(),
        workflow_instance_id: instance(),
        workflow_run_id: run(),
        workflow_type: "simple".into(),
        business_key: Some("demo-001".into()),
        visibility_labels: [("team".to_owned(), "ops".to_owned())].into(),
        memo: [("note".to_owned(), json!("hi"))].into(),
        search_attributes: [("priority".to_owned(), json!(3))].into(),
        outcome,
        rejection_reason: rejection_reason.map(str::to_owned),
    }
}

fn operator(command_type: CommandType) -> OperatorRequest {
    OperatorRequest {
        workflow_command_id: "01KAR0000000000000000CMD02".into(),
        workflow_instance_id: instance(),
        workflow_run_id: run(),
        command_type,
        reason: Some("no longer needed".into()),
    }
}

fn closed(category: FailureCategory, reason: ClosedReason) -> RunClosedByOperator {
    RunClosedByOperator {
        workflow_command_id: Some("01KAR0000000000000000CMD02".into()),
        workflow_instance_id: instance(),
        workflow_run_id: run(),
        failure_id: "01KAR0000000000000000FAIL1".into(),
        failure_category: category,
        closed_reason: reason,
        message: format!("Workflow {reason}."),
        reason: Some("no longer needed".into()),
    }
}

/// One sample of every event type, in [`Event::TYPES`] order.
pub(crate) fn samples() -> Vec<Event> {
    vec![
        Event::StartAccepted(start(CommandOutcome::StartedNew, None)),
        Event::StartRejected(start(CommandOutcome::RejectedDuplicate, Some("instance_already_started"))),
        Event::WorkflowStarted(WorkflowStarted {
            workflow_type: "simple".into(),
            workflow_instance_id: instance(),
            workflow_run_id: run(),
            workflow_command_id: Some("01KAR0000000000000000CMD01".into()),
            run_number: 1,
            input: json!(null),
            business_key: Some("demo-001".into()),
            visibility_labels: Labels::new(),
            memo: Metadata::new(),
            search_attributes: Metadata::new(),
            execution_timeout_seconds: Some(Duration::from_secs(3600)),
            run_timeout_seconds: None,
            execution_deadline_at: Some(at(3600)),
            run_deadline_at: None,
            continued_from_run_id: None,
            declared_signals: vec!["approve".into()],
        }),
        Event::WorkflowCompleted(WorkflowCompleted { output: json!("workflow_activity_other") }),
        Event::WorkflowFailed(WorkflowFailed {
            failure_id: "01KAR0000000000000000FAIL1".into(),
            source_kind: "structural_limit".into(),
            source_id: None,
            failure_category: FailureCategory::StructuralLimit,
            non_retryable: true,
            exception_type: "StructuralLimitExceeded".into(),
            message: "history reached 51200 events".into(),
            structural_limit_kind: Some("history_length".into()),
            structural_limit_value: Some(51_200),
            structural_limit_configured: Some(51_200),
        }),
        Event::WorkflowTimedOut(WorkflowTimedOut {
            failure_id: "01KAR0000000000000000FAIL1".into(),
            timeout_kind: "run_timeout".into(),
            failure_category: FailureCategory::Timeout,
            message: "The run timed out.".into(),
            execution_deadline_at: None,
            run_deadline_at: Some(at(600)),
        }),
        Event::WorkflowContinuedAsNew(WorkflowContinuedAsNew {
            sequence: 4,
            continued_to_run_id: RunId::parse("01KAR000000000000000000R02").expect("valid ulid"),
            continued_to_run_number: 2,
            closed_reason: ClosedReason::Continued,
            input: json!({"cursor": 100}),
        }),
        Event::CancelRequested(operator(CommandType::Cancel)),
        Event::WorkflowCancelled(closed(FailureCategory::Cancelled, ClosedReason::Cancelled)),
        Event::TerminateRequested(operator(CommandType::Terminate)),
        Event::WorkflowTerminated(closed(FailureCategory::Terminated, ClosedReason::Terminated)),
        Event::RepairRequested(RepairRequested {
            workflow_command_id: "01KAR0000000000000000CMD03".into(),
            workflow_instance_id: instance(),
            workflow_run_id: run(),
            command_type: CommandType::Repair,
            outcome: CommandOutcome::RepairDispatched,
            task_problem: Some(TaskProblem::Nondeterminism),
            task_type: Some("workflow".into()),
        }),
        Event::ActivityScheduled(ActivityScheduled {
            activity: activity(),
            input: json!("other"),
            options: ActivityOptions::default(),
        }),
        Event::ActivityStarted(ActivityStarted {
            activity: activity(),
            activity_attempt_id: "01KAR00000000000000000ATT1".into(),
            attempt_number: 1,
            lease_expires_at: at(30),
            worker_id: "worker-1".into(),
        }),
        Event::ActivityHeartbeatRecorded(ActivityHeartbeatRecorded {
            activity: activity(),
            activity_attempt_id: "01KAR00000000000000000ATT1".into(),
            attempt_number: 1,
            heartbeat_at: at(10),
            lease_expires_at: at(40),
            progress: json!({"done": 3, "of": 10}),
        }),
        Event::ActivityRetryScheduled(ActivityRetryScheduled {
            activity: activity(),
            activity_attempt_id: "01KAR00000000000000000ATT1".into(),
            attempt_number: 1,
            retry_available_at: at(11),
            retry_backoff_seconds: Duration::from_millis(1500),
            max_attempts: 0,
            retry_reason: "failed".into(),
            exception_type: Some("Unavailable".into()),
            message: "upstream returned 503".into(),
        }),
        Event::ActivityCompleted(ActivityCompleted {
            activity: activity(),
            activity_attempt_id: "01KAR00000000000000000ATT2".into(),
            attempt_number: 2,
            result: json!("other"),
        }),
        Event::ActivityFailed(ActivityFailed {
            activity: activity(),
            activity_attempt_id: "01KAR00000000000000000ATT2".into(),
            attempt_number: 2,
            failure_id: "01KAR0000000000000000FAIL2".into(),
            failure_category: FailureCategory::Activity,
            non_retryable: true,
            exception_type: "InvalidInput".into(),
            message: "no such customer".into(),
        }),
        Event::ActivityTimedOut(ActivityTimedOut {
            activity: activity(),
            activity_attempt_id: Some("01KAR00000000000000000ATT2".into()),
            attempt_number: 2,
            failure_id: "01KAR0000000000000000FAIL3".into(),
            failure_category: FailureCategory::Timeout,
            timeout_kind: "schedule_to_close".into(),
            message: "The activity did not close within 60 s of being scheduled.".into(),
        }),
        Event::ActivityCancelled(ActivityCancelled {
            activity: activity(),
            activity_attempt_id: None,
            attempt_number: 0,
            cancelled_at: at(12),
        }),
        Event::TimerScheduled(TimerScheduled {
            timer_id: "01KAR0000000000000000TMR01".into(),
            sequence: 5,
            delay_seconds: Duration::from_secs(30 * 86_400),
            fire_at: at(30 * 86_400),
        }),
        Event::TimerFired(TimerFired {
            timer_id: "01KAR0000000000000000TMR01".into(),
            sequence: 5,
            delay_seconds: Duration::from_secs(30 * 86_400),
            fire_at: at(30 * 86_400),
            fired_at: at(30 * 86_400 + 1),
        }),
        Event::TimerCancelled(TimerCancelled {
            timer_id: "01KAR0000000000000000TMR01".into(),
            sequence: 5,
            delay_seconds: Duration::from_millis(250),
            fire_at: at(1),
            cancelled_at: at(0),
        }),
        Event::SignalReceived(SignalReceived {
            workflow_command_id: "01KAR0000000000000000CMD04".into(),
            signal_id: "01KAR0000000000000000SIG01".into(),
            workflow_instance_id: instance(),
            workflow_run_id: run(),
            signal_name: "approve".into(),
            arguments: json!({"by": "ada"}),
        }),
        Event::UpdateAccepted(UpdateAccepted {
            workflow_command_id: "01KAR0000000000000000CMD05".into(),
            update_id: "01KAR0000000000000000UPD01".into(),
            workflow_instance_id: instance(),
            workflow_run_id: run(),
            update_name: "set_limit".into(),
            arguments: json!([10]),
        }),
        Event::UpdateRejected(UpdateRejected {
            workflow_command_id: "01KAR0000000000000000CMD05".into(),
            update_id: "01KAR0000000000000000UPD01".into(),
            workflow_instance_id: instance(),
            workflow_run_id: run(),
            update_name: "set_limit".into(),
            arguments: json!([-1]),
            validation_errors: vec!["limit must be positive".into()],
        }),
        Event::UpdateCompleted(UpdateCompleted {
            workflow_command_id: "01KAR0000000000000000CMD05".into(),
            update_id: "01KAR0000000000000000UPD01".into(),
            workflow_instance_id: instance(),
            workflow_run_id: run(),
            update_name: "set_limit".into(),
            result: Some(json!(10)),
            failure_id: None,
            exception_type: None,
            message: None,
        }),
        Event::ChildWorkflowScheduled(ChildWorkflowScheduled {
            child: ChildRef { child_workflow_run_id: None, ..child() },
            parent_close_policy: ParentClosePolicy::Abandon,
            input: json!(null),
        }),
        Event::ChildRunStarted(ChildRunStarted { child: child(), child_run_number: 1 }),
        Event::ChildRunCompleted(ChildRunCompleted { child: child(), output: json!("workflow_activity_other") }),
        Event::ChildRunFailed(ChildRunFailed {
            child: child(),
            failure_id: "01KAR0000000000000000FAIL4".into(),
            failure_category: FailureCategory::ChildWorkflow,
            exception_type: "InvalidInput".into(),
            message: "no such customer".into(),
        }),
        Event::ChildRunCancelled(ChildRunClosed {
            child: child(),
            failure_id: "01KAR0000000000000000FAIL5".into(),
            failure_category: FailureCategory::Cancelled,
            message: "The child workflow was cancelled.".into(),
        }),
        Event::ChildRunTerminated(ChildRunClosed {
            child: child(),
            failure_id: "01KAR0000000000000000FAIL6".into(),
            failure_category: FailureCategory::Terminated,
            message: "The child workflow was terminated.".into(),
        }),
        Event::SideEffectRecorded(SideEffectRecorded { sequence: 1, result: json!(1_767_268_800) }),
        Event::VersionMarkerRecorded(VersionMarkerRecorded {
            sequence: 6,
            change_id: "use-v2-pricing".into(),
            version: 1,
            min_supported: -1,
            max_supported: 1,
        }),
        Event::SearchAttributesUpserted(SearchAttributesUpserted {
            sequence: 7,
            attributes: [("stage".to_owned(), json!("shipping")), ("old".to_owned(), json!(null))].into(),
            merged: [("priority".to_owned(), json!(3)), ("stage".to_owned(), json!("shipping"))].into(),
        }),
        Event::MemoUpserted(MemoUpserted {
            sequence: 8,
            entries: [("note".to_owned(), json!({"text": "rerun"}))].into(),
            merged: [("note".to_owned(), json!({"text": "rerun"}))].into(),
        }),
        Event::FailureHandled(FailureHandled {
            failure_id: "01KAR0000000000000000FAIL2".into(),
            sequence: 2,
            failure_category: FailureCategory::Activity,
            source_kind: "activity".into(),
            source_id: "01KAR00000000000000000ACT1".into(),
            exception_type: "InvalidInput".into(),
            message: "no such customer".into(),
        }),
    ]
}

#[test]
fn every_event_type_has_a_sample_in_order() {
    let types: Vec<_> = samples().iter().map(Event::event_type).collect();
    assert_eq!(types, Event::TYPES);
}

#[test]
fn the_json_of_every_event_type_is_pinned() {
    for event in samples() {
        let recorded = HistoryEvent { id: "01KAR0000000000000000EVT01".into(), sequence: 3, recorded_at: at(0), event };
        insta::assert_json_snapshot!(recorded.event.event_type(), recorded);
    }
}

#[test]
fn every_event_round_trips_through_its_stored_parts() {
    for event in samples() {
        let back = Event::from_parts(event.event_type(), event.payload()).expect("readable");
        assert_eq!(back, event);
        let text = serde_json::to_string(&event).expect("serializable");
        assert_eq!(serde_json::from_str::<Event>(&text).expect("readable"), event);
    }
}

#[test]
fn unknown_types_and_bad_payloads_are_typed_errors() {
    assert_eq!(
        Event::from_parts("WorkflowExploded", json!({})),
        Err(EventError::UnknownType("WorkflowExploded".into()))
    );
    let err = Event::from_parts("TimerFired", json!({"timer_id": 7})).unwrap_err();
    assert!(matches!(err, EventError::InvalidPayload { ref event_type, .. } if event_type == "TimerFired"), "{err:?}");
}

#[test]
fn payload_keys_are_sorted_top_level_keys() {
    let event = Event::SideEffectRecorded(SideEffectRecorded { sequence: 1, result: json!({"b": 1, "a": 2}) });
    assert_eq!(event.payload_keys(), ["result", "sequence"]);
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-zé😀 ]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_payload_value_round_trips(result in json_value(), sequence in 1u64..1_000_000, attempt in 1u32..100) {
        let event = Event::ActivityCompleted(ActivityCompleted {
            activity: ActivityRef { sequence, ..activity() },
            activity_attempt_id: "01KAR00000000000000000ATT1".into(),
            attempt_number: attempt,
            result: result.clone(),
        });
        prop_assert_eq!(Event::from_parts(event.event_type(), event.payload()).unwrap(), event);
        let marker = Event::SideEffectRecorded(SideEffectRecorded { sequence, result });
        prop_assert_eq!(Event::from_parts(marker.event_type(), marker.payload()).unwrap(), marker);
    }
}
