//! The executor in memory: live decisions, replay, and nondeterminism. A small simulator
//! plays the runtime's part (turning commands into events, delivering results), so these
//! tests need no database.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::activity::ActivityContext;
use crate::event::*;
use crate::ids::{InstanceId, RunId};
use crate::retry::ActivityOptions;
use crate::status::{ClosedReason, CommandOutcome, CommandType};
use crate::workflow::{Activity, ActivityError, Registry, Workflow, WorkflowResult};

struct Const;

#[async_trait::async_trait]
impl Activity for Const {
    const TYPE: &'static str = "const";
    type Input = ();
    type Output = String;
    async fn run(&self, _ctx: &ActivityContext, _input: ()) -> Result<String, ActivityError> {
        Ok("activity".into())
    }
}

struct Echo;

#[async_trait::async_trait]
impl Activity for Echo {
    const TYPE: &'static str = "echo";
    type Input = String;
    type Output = String;
    async fn run(&self, _ctx: &ActivityContext, input: String) -> Result<String, ActivityError> {
        Ok(input)
    }
}

struct Simple;

#[async_trait::async_trait]
impl Workflow for Simple {
    const TYPE: &'static str = "simple";
    type Input = ();
    type Output = String;
    async fn run(&self, ctx: &WorkflowContext, _input: ()) -> WorkflowResult<String> {
        let a: String = ctx.activity::<Const>(()).await?;
        let b: String = ctx.activity::<Echo>("other".into()).await?;
        Ok(format!("workflow_{a}_{b}"))
    }
}

/// `simple` after a careless edit: the activities swapped.
struct Swapped;

#[async_trait::async_trait]
impl Workflow for Swapped {
    const TYPE: &'static str = "simple";
    type Input = ();
    type Output = String;
    async fn run(&self, ctx: &WorkflowContext, _input: ()) -> WorkflowResult<String> {
        let b: String = ctx.activity::<Echo>("other".into()).await?;
        let a: String = ctx.activity::<Const>(()).await?;
        Ok(format!("workflow_{a}_{b}"))
    }
}

fn start_time() -> Timestamp {
    chrono::DateTime::from_timestamp(1_767_268_800, 0).expect("valid time")
}

/// Plays the runtime: records commands as events, delivers inputs, keeps the history.
struct Sim {
    workflow: Arc<dyn ErasedWorkflow>,
    machine: RunMachine,
    history: Vec<HistoryEvent>,
    now: Timestamp,
    /// Scheduled activities not resolved yet: (seq, type, input).
    activities: Vec<(u64, String, Value)>,
    /// Timers not fired yet: (seq, fire_at).
    timers: Vec<(u64, Timestamp)>,
    output: Option<Command>,
}

impl Sim {
    fn start(registry: &Registry, key: &str, input: Value) -> Self {
        let workflow = registry.erased_workflow(key).expect("registered");
        let run_id = RunId::parse("01KAR000000000000000000R01").expect("ulid");
        let instance = InstanceId::parse("wf-1").expect("id");
        let now = start_time();
        let mut history = Vec::new();
        let start = StartRecorded {
            workflow_command_id: "cmd-1".into(),
            workflow_instance_id: instance.clone(),
            workflow_run_id: run_id.clone(),
            workflow_type: key.into(),
            business_key: None,
            visibility_labels: Labels::new(),
            memo: Metadata::new(),
            search_attributes: Metadata::new(),
            outcome: CommandOutcome::StartedNew,
            rejection_reason: None,
        };
        history.push(HistoryEvent {
            id: "e1".into(),
            sequence: 1,
            recorded_at: now,
            event: Event::StartAccepted(start),
        });
        let started = WorkflowStarted {
            workflow_type: key.into(),
            workflow_instance_id: instance,
            workflow_run_id: run_id,
            workflow_command_id: Some("cmd-1".into()),
            run_number: 1,
            input,
            business_key: None,
            visibility_labels: Labels::new(),
            memo: Metadata::new(),
            search_attributes: Metadata::new(),
            execution_timeout_seconds: None,
            run_timeout_seconds: None,
            execution_deadline_at: None,
            run_deadline_at: None,
            continued_from_run_id: None,
            declared_signals: Vec::new(),
        };
        history.push(HistoryEvent {
            id: "e2".into(),
            sequence: 2,
            recorded_at: now,
            event: Event::WorkflowStarted(started),
        });
        let (machine, first) = RunMachine::replay(workflow.as_ref(), Namespace::new("ws"), &history).expect("replays");
        let mut sim =
            Self { workflow, machine, history, now, activities: Vec::new(), timers: Vec::new(), output: None };
        sim.record(first);
        sim
    }

    fn push(&mut self, event: Event) -> u64 {
        let sequence = self.history.len() as u64 + 1;
        self.history.push(HistoryEvent { id: format!("e{sequence}"), sequence, recorded_at: self.now, event });
        self.machine.set_last_sequence(sequence);
        sequence
    }

    fn record(&mut self, commands: Vec<Command>) {
        for command in commands {
            let event = match &command {
                Command::ScheduleActivity { seq, activity_type, input, options } => {
                    self.activities.push((*seq, activity_type.clone(), input.clone()));
                    let activity = ActivityRef {
                        activity_execution_id: format!("act-{seq}"),
                        activity_type: activity_type.clone(),
                        sequence: *seq,
                    };
                    self.push(Event::ActivityScheduled(ActivityScheduled {
                        activity: activity.clone(),
                        input: input.clone(),
                        options: options.clone(),
                    }));
                    Event::ActivityStarted(ActivityStarted {
                        activity,
                        activity_attempt_id: format!("att-{seq}"),
                        attempt_number: 1,
                        lease_expires_at: self.now,
                        worker_id: "sim".into(),
                    })
                }
                Command::CancelActivity { seq, activity_type } => {
                    self.activities.retain(|(s, ..)| s != seq);
                    Event::ActivityCancelled(ActivityCancelled {
                        activity: ActivityRef {
                            activity_execution_id: format!("act-{seq}"),
                            activity_type: activity_type.clone(),
                            sequence: *seq,
                        },
                        activity_attempt_id: None,
                        attempt_number: 1,
                        cancelled_at: self.now,
                    })
                }
                Command::StartTimer { seq, delay, fire_at } => {
                    self.timers.push((*seq, *fire_at));
                    Event::TimerScheduled(TimerScheduled {
                        timer_id: format!("t-{seq}"),
                        sequence: *seq,
                        delay_seconds: *delay,
                        fire_at: *fire_at,
                    })
                }
                Command::CancelTimer { seq } => {
                    self.timers.retain(|(s, _)| s != seq);
                    Event::TimerCancelled(TimerCancelled {
                        timer_id: format!("t-{seq}"),
                        sequence: *seq,
                        delay_seconds: Duration::ZERO,
                        fire_at: self.now,
                        cancelled_at: self.now,
                    })
                }
                Command::RecordSideEffect { seq, result } => {
                    Event::SideEffectRecorded(SideEffectRecorded { sequence: *seq, result: result.clone() })
                }
                Command::RecordVersionMarker { seq, change_id } => {
                    Event::VersionMarkerRecorded(VersionMarkerRecorded {
                        sequence: *seq,
                        change_id: change_id.clone(),
                        version: 1,
                        min_supported: -1,
                        max_supported: 1,
                    })
                }
                Command::UpsertSearchAttributes { seq, attributes, merged } => {
                    Event::SearchAttributesUpserted(SearchAttributesUpserted {
                        sequence: *seq,
                        attributes: attributes.clone(),
                        merged: merged.clone(),
                    })
                }
                Command::UpsertMemo { seq, entries, merged } => Event::MemoUpserted(MemoUpserted {
                    sequence: *seq,
                    entries: entries.clone(),
                    merged: merged.clone(),
                }),
                Command::CompleteWorkflow { output } => {
                    Event::WorkflowCompleted(WorkflowCompleted { output: output.clone() })
                }
                Command::FailWorkflow(f) => Event::WorkflowFailed(WorkflowFailed {
                    failure_id: "f".into(),
                    source_kind: f.source_kind.clone(),
                    source_id: f.source_id.clone(),
                    failure_category: f.category,
                    non_retryable: f.non_retryable,
                    exception_type: f.exception_type.clone(),
                    message: f.message.clone(),
                    structural_limit_kind: None,
                    structural_limit_value: None,
                    structural_limit_configured: None,
                }),
                Command::ContinueAsNew { seq, input } => Event::WorkflowContinuedAsNew(WorkflowContinuedAsNew {
                    sequence: *seq,
                    continued_to_run_id: RunId::parse("01KAR000000000000000000R02").expect("ulid"),
                    continued_to_run_number: 2,
                    closed_reason: ClosedReason::Continued,
                    input: input.clone(),
                }),
                Command::CancelWorkflow => Event::WorkflowCancelled(RunClosedByOperator {
                    workflow_command_id: None,
                    workflow_instance_id: InstanceId::parse("wf-1").expect("id"),
                    workflow_run_id: RunId::parse("01KAR000000000000000000R01").expect("ulid"),
                    failure_id: "f".into(),
                    failure_category: crate::status::FailureCategory::Cancelled,
                    closed_reason: ClosedReason::Cancelled,
                    message: "cancelled".into(),
                    reason: None,
                }),
            };
            if command.is_terminal() {
                self.output = Some(command.clone());
            }
            self.push(event);
        }
    }

    fn input(&mut self, event: Event) {
        let sequence = self.push(event.clone());
        let commands = self.machine.apply_at(&event, self.now, sequence).expect("deterministic");
        self.record(commands);
    }

    /// Completes the oldest pending activity with what the real activity would return.
    fn complete_next_activity(&mut self) {
        let (seq, activity_type, input) = self.activities.remove(0);
        let result = match activity_type.as_str() {
            "const" => json!("activity"),
            _ => input,
        };
        self.input(Event::ActivityCompleted(ActivityCompleted {
            activity: ActivityRef { activity_execution_id: format!("act-{seq}"), activity_type, sequence: seq },
            activity_attempt_id: format!("att-{seq}"),
            attempt_number: 1,
            result,
        }));
    }

    fn fail_next_activity(&mut self, message: &str) {
        let (seq, activity_type, _) = self.activities.remove(0);
        self.input(Event::ActivityFailed(ActivityFailed {
            activity: ActivityRef { activity_execution_id: format!("act-{seq}"), activity_type, sequence: seq },
            activity_attempt_id: format!("att-{seq}"),
            attempt_number: 3,
            failure_id: "f-1".into(),
            failure_category: crate::status::FailureCategory::Activity,
            non_retryable: false,
            exception_type: "Unavailable".into(),
            message: message.into(),
        }));
    }

    fn fire_next_timer(&mut self) {
        let (seq, fire_at) = self.timers.remove(0);
        self.now = fire_at;
        self.input(Event::TimerFired(TimerFired {
            timer_id: format!("t-{seq}"),
            sequence: seq,
            delay_seconds: Duration::ZERO,
            fire_at,
            fired_at: fire_at,
        }));
    }

    fn signal(&mut self, name: &str, arguments: Value) {
        self.input(Event::SignalReceived(SignalReceived {
            workflow_command_id: "cmd-s".into(),
            signal_id: "sig".into(),
            workflow_instance_id: InstanceId::parse("wf-1").expect("id"),
            workflow_run_id: RunId::parse("01KAR000000000000000000R01").expect("ulid"),
            signal_name: name.into(),
            arguments,
        }));
    }

    fn cancel(&mut self) {
        self.input(Event::CancelRequested(OperatorRequest {
            workflow_command_id: "cmd-c".into(),
            workflow_instance_id: InstanceId::parse("wf-1").expect("id"),
            workflow_run_id: RunId::parse("01KAR000000000000000000R01").expect("ulid"),
            command_type: CommandType::Cancel,
            reason: None,
        }));
    }

    fn types(&self) -> Vec<&'static str> {
        self.history.iter().map(|e| e.event.event_type()).collect()
    }

    /// Replays the history so far and checks the replayed machine is where the live one is.
    fn assert_replay_matches(&self) {
        let (replayed, leftovers) = RunMachine::replay(self.workflow.as_ref(), Namespace::new("ws"), &self.history)
            .expect("replay matches history");
        assert!(leftovers.is_empty(), "replay made unrecorded commands: {leftovers:?}");
        assert_eq!(replayed.is_closed(), self.machine.is_closed());
        assert_eq!(replayed.wait_kind(), self.machine.wait_kind());
        assert_eq!(replayed.last_sequence(), self.history.len() as u64);
        assert_eq!(replayed.metadata(), self.machine.metadata());
    }
}

#[test]
fn simple_records_the_nine_events_of_the_seed_and_replays() {
    let registry = Registry::new().workflow(Simple);
    let mut sim = Sim::start(&registry, "simple", Value::Null);
    assert_eq!(sim.machine.wait_kind(), Some(WaitKind::Activity));
    sim.complete_next_activity();
    sim.assert_replay_matches();
    sim.complete_next_activity();
    assert_eq!(
        sim.types(),
        [
            "StartAccepted",
            "WorkflowStarted",
            "ActivityScheduled",
            "ActivityStarted",
            "ActivityCompleted",
            "ActivityScheduled",
            "ActivityStarted",
            "ActivityCompleted",
            "WorkflowCompleted"
        ]
    );
    assert_eq!(sim.output, Some(Command::CompleteWorkflow { output: json!("workflow_activity_other") }));
    assert!(sim.machine.is_closed());
    sim.assert_replay_matches();
}

#[test]
fn changed_code_is_nondeterminism_not_a_silent_divergence() {
    let mut sim = Sim::start(&Registry::new().workflow(Simple), "simple", Value::Null);
    sim.complete_next_activity();
    let swapped = Registry::new().workflow(Swapped);
    let workflow = swapped.erased_workflow("simple").expect("registered");
    let err = RunMachine::replay(workflow.as_ref(), Namespace::new("ws"), &sim.history).unwrap_err();
    let ReplayError::Nondeterminism(nondeterminism) = err else { panic!("expected nondeterminism, got {err:?}") };
    assert_eq!(nondeterminism.sequence, 3);
    assert_eq!(
        nondeterminism.message,
        "history has ActivityScheduled(const) at command 1 but the code made ActivityScheduled(echo) at command 1"
    );
}

#[test]
fn an_input_the_code_never_asked_for_is_nondeterminism() {
    let mut sim = Sim::start(&Registry::new().workflow(Simple), "simple", Value::Null);
    let sequence = sim.push(Event::TimerFired(TimerFired {
        timer_id: "t-9".into(),
        sequence: 9,
        delay_seconds: Duration::ZERO,
        fire_at: sim.now,
        fired_at: sim.now,
    }));
    let event = sim.history.last().expect("pushed").event.clone();
    let err = sim.machine.apply_at(&event, sim.now, sequence).unwrap_err();
    assert!(err.message.contains("TimerFired for command 9"), "{err}");
}

/// Uses every context feature once.
struct Everything {
    side_effect_runs: Arc<AtomicUsize>,
}

#[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
struct EverythingInput {
    /// How long to sleep, in seconds.
    sleep_seconds: u64,
    /// Round of continue-as-new.
    #[serde(default)]
    round: u32,
}

#[async_trait::async_trait]
impl Workflow for Everything {
    const TYPE: &'static str = "everything";
    const SIGNALS: &'static [&'static str] = &["go"];
    type Input = EverythingInput;
    type Output = Value;
    async fn run(&self, ctx: &WorkflowContext, input: EverythingInput) -> WorkflowResult<Value> {
        let runs = Arc::clone(&self.side_effect_runs);
        let token: u64 = ctx.side_effect(move || {
            runs.fetch_add(1, Ordering::SeqCst);
            42
        })?;
        let v2 = ctx.patched("v2");
        ctx.upsert_search_attributes([("stage".to_owned(), json!("sleeping"))].into())?;
        ctx.sleep(Duration::from_secs(input.sleep_seconds)).await?;
        let go: String = ctx.wait_signal("go").await?;
        ctx.upsert_memo([("go".to_owned(), json!(go.clone()))].into())?;
        let echoed: String = ctx.activity_with::<Echo>(go, ActivityOptions::default()).await?;
        if input.round == 0 {
            return Err(ctx.continue_as_new(EverythingInput { sleep_seconds: 1, round: 1 }));
        }
        Ok(json!({"token": token, "v2": v2, "echoed": echoed, "uuid": ctx.uuid(), "now": ctx.now().to_rfc3339()}))
    }
}

fn everything() -> (Registry, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    (Registry::new().workflow(Everything { side_effect_runs: Arc::clone(&runs) }).activity(Echo), runs)
}

#[test]
fn timers_signals_side_effects_markers_and_upserts_replay() {
    let (registry, runs) = everything();
    let mut sim = Sim::start(&registry, "everything", json!({"sleep_seconds": 30 * 86_400, "round": 1}));
    assert_eq!(sim.machine.wait_kind(), Some(WaitKind::Timer));
    let Some(Event::TimerScheduled(timer)) =
        sim.history.iter().map(|e| &e.event).find(|e| e.event_type() == "TimerScheduled")
    else {
        panic!("no timer")
    };
    assert_eq!(timer.fire_at, start_time() + chrono::Duration::days(30));
    // A signal before the wait is buffered and delivered later.
    sim.signal("go", json!("early"));
    assert_eq!(sim.machine.wait_kind(), Some(WaitKind::Timer));
    sim.fire_next_timer();
    assert_eq!(sim.machine.wait_kind(), Some(WaitKind::Activity));
    sim.assert_replay_matches();
    sim.complete_next_activity();
    let Some(Command::CompleteWorkflow { output }) = &sim.output else { panic!("not completed: {:?}", sim.output) };
    assert_eq!(output["token"], 42);
    assert_eq!(output["v2"], true);
    assert_eq!(output["echoed"], "early");
    assert_eq!(output["now"], "2026-01-31T12:00:00+00:00");
    sim.assert_replay_matches();
    assert_eq!(runs.load(Ordering::SeqCst), 1, "replays never re-run the side effect");
    assert_eq!(
        sim.types(),
        [
            "StartAccepted",
            "WorkflowStarted",
            "SideEffectRecorded",
            "VersionMarkerRecorded",
            "SearchAttributesUpserted",
            "TimerScheduled",
            "SignalReceived",
            "TimerFired",
            "MemoUpserted",
            "ActivityScheduled",
            "ActivityStarted",
            "ActivityCompleted",
            "WorkflowCompleted"
        ]
    );
    let (search_attributes, memo) = sim.machine.metadata();
    assert_eq!(json!(search_attributes), json!({"stage": "sleeping"}));
    assert_eq!(json!(memo), json!({"go": "early"}));
}

#[test]
fn uuid_and_random_are_the_same_on_replay() {
    let (registry, _) = everything();
    let mut sim = Sim::start(&registry, "everything", json!({"sleep_seconds": 1, "round": 1}));
    sim.fire_next_timer();
    sim.signal("go", json!("x"));
    sim.complete_next_activity();
    let Some(Command::CompleteWorkflow { output: live }) = sim.output.clone() else { panic!("not completed") };
    // Replaying from scratch up to the last input makes the same output command.
    let before_close = &sim.history[..sim.history.len() - 1];
    let workflow = registry.erased_workflow("everything").expect("registered");
    let (_, leftovers) = RunMachine::replay(workflow.as_ref(), Namespace::new("ws"), before_close).expect("replays");
    assert_eq!(leftovers, [Command::CompleteWorkflow { output: live }]);
}

#[test]
fn patched_is_false_when_replaying_history_made_before_the_change() {
    struct Before;
    #[async_trait::async_trait]
    impl Workflow for Before {
        const TYPE: &'static str = "patchy";
        type Input = ();
        type Output = String;
        async fn run(&self, ctx: &WorkflowContext, _input: ()) -> WorkflowResult<String> {
            let a: String = ctx.activity::<Const>(()).await?;
            let b: String = ctx.activity::<Echo>("b".into()).await?;
            Ok(a + &b)
        }
    }
    struct After;
    #[async_trait::async_trait]
    impl Workflow for After {
        const TYPE: &'static str = "patchy";
        type Input = ();
        type Output = String;
        async fn run(&self, ctx: &WorkflowContext, _input: ()) -> WorkflowResult<String> {
            let a: String = ctx.activity::<Const>(()).await?;
            let b: String = if ctx.patched("echo-c") {
                ctx.activity::<Echo>("c".into()).await?
            } else {
                ctx.activity::<Echo>("b".into()).await?
            };
            Ok(a + &b)
        }
    }
    let mut old = Sim::start(&Registry::new().workflow(Before), "patchy", Value::Null);
    old.complete_next_activity();
    // The old run replays under the new code: no marker in history, so the old path.
    let after = Registry::new().workflow(After);
    let workflow = after.erased_workflow("patchy").expect("registered");
    let (mut machine, leftovers) =
        RunMachine::replay(workflow.as_ref(), Namespace::new("ws"), &old.history).expect("replays");
    assert!(leftovers.is_empty());
    let completed = Event::ActivityCompleted(ActivityCompleted {
        activity: ActivityRef { activity_execution_id: "act-2".into(), activity_type: "echo".into(), sequence: 2 },
        activity_attempt_id: "att-2".into(),
        attempt_number: 1,
        result: json!("b"),
    });
    let commands = machine.apply_at(&completed, old.now, 99).expect("deterministic");
    assert_eq!(commands, [Command::CompleteWorkflow { output: json!("activityb") }]);
    // A new run takes the new path and records the marker.
    let mut new = Sim::start(&after, "patchy", Value::Null);
    new.complete_next_activity();
    assert!(new.types().contains(&"VersionMarkerRecorded"));
    new.complete_next_activity();
    assert_eq!(new.output, Some(Command::CompleteWorkflow { output: json!("activityc") }));
    new.assert_replay_matches();
}

#[test]
fn cancellation_ends_waits_and_closes_the_run_as_cancelled() {
    let (registry, _) = everything();
    let mut sim = Sim::start(&registry, "everything", json!({"sleep_seconds": 60, "round": 1}));
    sim.cancel();
    assert_eq!(sim.output, Some(Command::CancelWorkflow));
    let types = sim.types();
    assert_eq!(&types[types.len() - 3..], ["CancelRequested", "TimerCancelled", "WorkflowCancelled"]);
    sim.assert_replay_matches();
}

#[test]
fn an_activity_failure_fails_the_workflow_with_its_category() {
    let mut sim = Sim::start(&Registry::new().workflow(Simple), "simple", Value::Null);
    sim.fail_next_activity("upstream down");
    let Some(Command::FailWorkflow(failure)) = &sim.output else { panic!("not failed: {:?}", sim.output) };
    assert_eq!(failure.source_kind, "activity");
    assert_eq!(failure.source_id.as_deref(), Some("act-1"));
    assert_eq!(failure.category, crate::status::FailureCategory::Activity);
    assert_eq!(failure.message, "upstream down");
    sim.assert_replay_matches();
}

#[test]
fn continue_as_new_closes_the_run_with_the_next_input() {
    let (registry, _) = everything();
    let mut sim = Sim::start(&registry, "everything", json!({"sleep_seconds": 1}));
    sim.fire_next_timer();
    sim.signal("go", json!("x"));
    sim.complete_next_activity();
    let Some(Command::ContinueAsNew { input, .. }) = &sim.output else {
        panic!("expected continue-as-new: {:?}", sim.output)
    };
    assert_eq!(input, &json!({"sleep_seconds": 1, "round": 1}));
    sim.assert_replay_matches();
}

#[test]
fn input_that_does_not_fit_fails_the_run_at_once() {
    let (registry, _) = everything();
    let sim = Sim::start(&registry, "everything", json!({"sleep_seconds": "soon"}));
    let Some(Command::FailWorkflow(failure)) = &sim.output else { panic!("expected a failure") };
    assert_eq!(failure.exception_type, "InvalidWorkflowInput");
}

/// Reacts to numbered signals: an activity, a timer or a side effect, chosen by the number;
/// finishes after `rounds` signals.
struct Reactor;

#[async_trait::async_trait]
impl Workflow for Reactor {
    const TYPE: &'static str = "reactor";
    const SIGNALS: &'static [&'static str] = &["n"];
    type Input = u32;
    type Output = Vec<String>;
    async fn run(&self, ctx: &WorkflowContext, rounds: u32) -> WorkflowResult<Vec<String>> {
        let mut seen = Vec::new();
        for _ in 0..rounds {
            let n: u64 = ctx.wait_signal("n").await?;
            match n % 3 {
                0 => seen.push(ctx.activity::<Echo>(format!("a{n}")).await?),
                1 => {
                    ctx.sleep(Duration::from_secs(n)).await?;
                    seen.push(format!("t{n}"));
                }
                _ => {
                    let r: f64 = ctx.side_effect(|| 0.5)?;
                    seen.push(format!("s{n}:{r}:{:.3}", ctx.random()));
                }
            }
        }
        Ok(seen)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `replay(history) == live state` after every step, for random signal sequences and
    /// random interleavings of signals with results.
    #[test]
    fn replay_of_any_prefix_matches_the_live_run(signals in prop::collection::vec(0u64..30, 1..8), deliver_early in any::<bool>()) {
        let registry = Registry::new().workflow(Reactor).activity(Echo);
        let rounds = u32::try_from(signals.len()).expect("small");
        let mut sim = Sim::start(&registry, "reactor", json!(rounds));
        if deliver_early {
            for n in &signals {
                sim.signal("n", json!(n));
                sim.assert_replay_matches();
            }
        }
        for (i, n) in signals.iter().enumerate() {
            if !deliver_early {
                sim.signal("n", json!(n));
                sim.assert_replay_matches();
            }
            while !sim.activities.is_empty() || !sim.timers.is_empty() {
                if sim.activities.is_empty() { sim.fire_next_timer() } else { sim.complete_next_activity() }
                sim.assert_replay_matches();
            }
            if !deliver_early {
                prop_assert_eq!(sim.machine.is_closed(), i + 1 == signals.len());
            }
        }
        prop_assert!(sim.machine.is_closed());
        let Some(Command::CompleteWorkflow { output }) = &sim.output else { panic!("not completed") };
        prop_assert_eq!(output.as_array().map(Vec::len), Some(signals.len()));
    }
}
