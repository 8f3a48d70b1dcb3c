//! The deterministic executor: one run's workflow future, polled by hand, and its matching
//! with recorded history.
//!
//! Decisions follow one rule, live and in replay alike: inputs (results, timer firings,
//! signals, cancel requests) are applied one at a time, in history order, and the workflow is
//! polled to quiescence after each; the commands it makes are recorded right after that input.
//! So a replay re-makes every decision from exactly the inputs the original saw, and a code
//! change that makes different commands is caught as [`Nondeterminism`] instead of silently
//! diverging.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use serde_json::Value;

use crate::command::{Command, EventRole, Failure};
use crate::context::{ApplyError, RunInfo, RunState, WorkflowContext};
use crate::event::{Event, HistoryEvent, Metadata, WorkflowStarted};
use crate::ids::Namespace;
use crate::status::{FailureCategory, WaitKind};
use crate::time::Timestamp;
use crate::workflow::{BoxFuture, ErasedWorkflow, WorkflowError, WorkflowResult};

/// Replayed code asked for something other than what history recorded. The run stays open
/// with `task_problem = nondeterminism`; a repair after a code fix resumes it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("nondeterminism at history event {sequence}: {message}")]
pub struct Nondeterminism {
    /// The history sequence where replay and code disagreed (0 before any event).
    pub sequence: u64,
    /// What disagreed.
    pub message: String,
}

/// Why a run could not be replayed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The code disagrees with history.
    #[error(transparent)]
    Nondeterminism(#[from] Nondeterminism),
    /// The history has no `WorkflowStarted`.
    #[error("history has no WorkflowStarted event")]
    NotStarted,
    /// The history's workflow type is not registered.
    #[error("workflow type {0:?} is not registered")]
    UnknownType(String),
}

/// What replaying a recorded history found.
#[derive(Debug)]
pub struct Replayed {
    /// Whether the history closes the run.
    pub closed: bool,
    /// What the run waits for at the end of the history, while open.
    pub wait_kind: Option<WaitKind>,
    /// Commands the code made after the last recorded decision (a decision not taken yet:
    /// only the first one after a start is expected here).
    pub pending_commands: Vec<Command>,
}

/// Replays a recorded history against the registered code of its workflow type: the check
/// that a code change still replays the runs it must resume (the Temporal replay-test
/// pattern). `history` is in sequence order.
///
/// # Errors
/// [`ReplayError::Nondeterminism`] when code and history disagree; [`ReplayError::NotStarted`]
/// without a `WorkflowStarted`; [`ReplayError::UnknownType`] when the type is not registered.
pub fn replay_history(registry: &crate::Registry, history: &[HistoryEvent]) -> Result<Replayed, ReplayError> {
    let workflow_type = history
        .iter()
        .find_map(|e| match &e.event {
            Event::WorkflowStarted(s) => Some(s.workflow_type.clone()),
            _ => None,
        })
        .ok_or(ReplayError::NotStarted)?;
    let workflow = registry.erased_workflow(&workflow_type).ok_or(ReplayError::UnknownType(workflow_type))?;
    let (machine, pending_commands) = RunMachine::replay(workflow.as_ref(), Namespace::new("replay"), history)?;
    Ok(Replayed { closed: machine.is_closed(), wait_kind: machine.wait_kind(), pending_commands })
}

/// One run's live state: the suspended workflow future plus what it has asked for.
pub struct RunMachine {
    state: Arc<Mutex<RunState>>,
    future: Option<BoxFuture<WorkflowResult<Value>>>,
    closed: bool,
    last_sequence: u64,
}

impl std::fmt::Debug for RunMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunMachine")
            .field("closed", &self.closed)
            .field("last_sequence", &self.last_sequence)
            .finish_non_exhaustive()
    }
}

/// At most this many polls per decision, so a workflow that keeps making commands without
/// ever waiting cannot spin a worker forever.
const MAX_POLLS_PER_DECISION: usize = 10_000;

impl RunMachine {
    /// Creates the machine for a run from its `WorkflowStarted` (recorded at `at`). Nothing
    /// is polled yet; see [`RunMachine::decide`].
    pub(crate) fn new(
        workflow: &dyn ErasedWorkflow,
        namespace: Namespace,
        started: &WorkflowStarted,
        at: Timestamp,
    ) -> Self {
        let info = RunInfo {
            namespace,
            instance_id: started.workflow_instance_id.clone(),
            run_id: started.workflow_run_id.clone(),
            workflow_type: started.workflow_type.clone(),
            run_number: started.run_number,
        };
        let state =
            Arc::new(Mutex::new(RunState::new(info, at, started.search_attributes.clone(), started.memo.clone())));
        let ctx = WorkflowContext::new(Arc::clone(&state));
        let (future, closed) = match workflow.start(ctx, started.input.clone()) {
            Ok(future) => (Some(future), false),
            Err(message) => {
                let failure = Failure {
                    source_kind: "workflow".to_owned(),
                    source_id: None,
                    category: FailureCategory::Application,
                    exception_type: "InvalidWorkflowInput".to_owned(),
                    message,
                    non_retryable: true,
                };
                lock(&state).produced.push(Command::FailWorkflow(failure));
                (None, true)
            }
        };
        Self { state, future, closed, last_sequence: 0 }
    }

    /// Rebuilds a run's machine from its recorded history (in sequence order), checking every
    /// recorded command against what the code asks for. Returns the machine positioned at the
    /// end of history, plus any commands the code made after the last recorded decision (a
    /// decision not yet taken: the first one after a start, or one a crash interrupted).
    ///
    /// # Errors
    /// [`ReplayError::Nondeterminism`] when code and history disagree; [`ReplayError::NotStarted`]
    /// without a `WorkflowStarted`.
    pub(crate) fn replay(
        workflow: &dyn ErasedWorkflow,
        namespace: Namespace,
        history: &[HistoryEvent],
    ) -> Result<(Self, Vec<Command>), ReplayError> {
        let start =
            history.iter().position(|e| matches!(e.event, Event::WorkflowStarted(_))).ok_or(ReplayError::NotStarted)?;
        let Event::WorkflowStarted(started) = &history[start].event else { return Err(ReplayError::NotStarted) };
        let mut machine = Self::new(workflow, namespace, started, history[start].recorded_at);
        let rest = &history[start + 1..];
        let last_decision =
            rest.iter().rposition(|e| matches!(EventRole::of(&e.event), EventRole::Input | EventRole::Command));
        {
            let mut state = machine.lock();
            state.recorded = rest
                .iter()
                .filter(|e| EventRole::of(&e.event) == EventRole::Command)
                .filter_map(|e| command_position(&e.event).map(|seq| (seq, e.event.clone())))
                .collect();
            state.replaying = last_decision.is_some();
        }
        let mut pending: VecDeque<Command> = machine.poll(history[start].sequence)?.into();
        machine.last_sequence = history[start].sequence;
        for (index, recorded) in rest.iter().enumerate() {
            match EventRole::of(&recorded.event) {
                EventRole::Command => {
                    let Some(expected) = pending.pop_front() else {
                        return Err(Nondeterminism {
                            sequence: recorded.sequence,
                            message: format!("history has {} but the code made no command", describe(&recorded.event)),
                        }
                        .into());
                    };
                    if !expected.matches(&recorded.event) {
                        return Err(Nondeterminism {
                            sequence: recorded.sequence,
                            message: format!(
                                "history has {} but the code made {}",
                                describe(&recorded.event),
                                expected.describe()
                            ),
                        }
                        .into());
                    }
                    if let Event::ActivityScheduled(e) = &recorded.event {
                        machine.lock().note_activity_execution(e.activity.sequence, &e.activity.activity_execution_id);
                    }
                    if expected.is_terminal() {
                        machine.closed = true;
                    }
                }
                EventRole::Input => {
                    if let Some(extra) = pending.front() {
                        return Err(Nondeterminism {
                            sequence: recorded.sequence,
                            message: format!("the code made {} which history does not have", extra.describe()),
                        }
                        .into());
                    }
                    machine.lock().replaying = last_decision.is_some_and(|last| index < last);
                    pending.extend(machine.apply_at(&recorded.event, recorded.recorded_at, recorded.sequence)?);
                }
                EventRole::Close => machine.closed = true,
                EventRole::Info => {}
            }
            machine.last_sequence = recorded.sequence;
        }
        {
            let mut state = machine.lock();
            state.replaying = false;
            state.recorded.clear();
        }
        Ok((machine, pending.into()))
    }

    /// Applies one input event recorded at `at` (history sequence `sequence`) and polls:
    /// returns the commands the workflow makes in response.
    ///
    /// # Errors
    /// [`Nondeterminism`] when the input names a command the code never made or already saw.
    pub(crate) fn apply_at(
        &mut self,
        event: &Event,
        at: Timestamp,
        sequence: u64,
    ) -> Result<Vec<Command>, Nondeterminism> {
        {
            let mut state = self.lock();
            state.now = at;
            state.apply(event).map_err(|ApplyError::Unexpected(message)| Nondeterminism {
                sequence,
                message: format!("history has {message}, which the code does not expect"),
            })?;
        }
        self.poll(sequence)
    }

    /// Polls the workflow until it waits, and takes the commands it made.
    fn poll(&mut self, sequence: u64) -> Result<Vec<Command>, Nondeterminism> {
        let mut commands = Vec::new();
        for _ in 0..MAX_POLLS_PER_DECISION {
            let Some(future) = self.future.as_mut() else { break };
            let mut cx = Context::from_waker(Waker::noop());
            let outcome = future.as_mut().poll(&mut cx);
            let made = std::mem::take(&mut self.lock().produced);
            let progressed = !made.is_empty();
            commands.extend(made);
            if let Poll::Ready(result) = outcome {
                self.future = None;
                self.closed = true;
                let close = self.close_command(result);
                commands.push(close);
                break;
            }
            if !progressed {
                break;
            }
        }
        commands.extend(std::mem::take(&mut self.lock().produced));
        if let Some(message) = self.lock().fault.take() {
            return Err(Nondeterminism { sequence, message });
        }
        Ok(commands)
    }

    fn close_command(&self, result: WorkflowResult<Value>) -> Command {
        let mut state = self.lock();
        let cancel_requested = state.cancel_requested;
        match result {
            Ok(output) => Command::CompleteWorkflow { output },
            Err(WorkflowError::ContinueAsNew(input)) => Command::ContinueAsNew { seq: state.take_seq(), input },
            Err(WorkflowError::Cancelled) if cancel_requested => Command::CancelWorkflow,
            Err(WorkflowError::Activity(f)) if cancel_requested && f.category == FailureCategory::Cancelled => {
                Command::CancelWorkflow
            }
            Err(WorkflowError::Cancelled) => Command::FailWorkflow(Failure {
                source_kind: "workflow".to_owned(),
                source_id: None,
                category: FailureCategory::Cancelled,
                exception_type: "Cancelled".to_owned(),
                message: "the workflow was cancelled".to_owned(),
                non_retryable: true,
            }),
            Err(WorkflowError::Failed { exception_type, message }) => Command::FailWorkflow(Failure {
                source_kind: "workflow".to_owned(),
                source_id: None,
                category: FailureCategory::Application,
                exception_type,
                message,
                non_retryable: false,
            }),
            Err(WorkflowError::Activity(f)) => Command::FailWorkflow(Failure {
                source_kind: "activity".to_owned(),
                source_id: f.activity_execution_id,
                category: f.category,
                exception_type: f.exception_type,
                message: f.message,
                non_retryable: f.non_retryable,
            }),
        }
    }

    /// Whether the workflow has closed (made its terminal command, or history closed it).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// What the run waits for, while open.
    pub fn wait_kind(&self) -> Option<WaitKind> {
        if self.closed { None } else { self.lock().wait_kind() }
    }

    /// The last history sequence this machine has seen.
    pub fn last_sequence(&self) -> u64 {
        self.last_sequence
    }

    pub(crate) fn set_last_sequence(&mut self, sequence: u64) {
        self.last_sequence = sequence;
    }

    /// The run's current search attributes and memo.
    pub fn metadata(&self) -> (Metadata, Metadata) {
        let state = self.lock();
        (state.search_attributes.clone(), state.memo.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunState> {
        lock(&self.state)
    }
}

fn lock(state: &Mutex<RunState>) -> std::sync::MutexGuard<'_, RunState> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The command position a recorded command event carries, if any.
fn command_position(event: &Event) -> Option<u64> {
    match event {
        Event::ActivityScheduled(e) => Some(e.activity.sequence),
        Event::ActivityCancelled(e) => Some(e.activity.sequence),
        Event::TimerScheduled(e) => Some(e.sequence),
        Event::TimerCancelled(e) => Some(e.sequence),
        Event::SideEffectRecorded(e) => Some(e.sequence),
        Event::VersionMarkerRecorded(e) => Some(e.sequence),
        Event::SearchAttributesUpserted(e) => Some(e.sequence),
        Event::MemoUpserted(e) => Some(e.sequence),
        Event::WorkflowContinuedAsNew(e) => Some(e.sequence),
        Event::ChildWorkflowScheduled(e) => Some(e.child.sequence),
        _ => None,
    }
}

fn describe(event: &Event) -> String {
    match (event, command_position(event)) {
        (Event::ActivityScheduled(e), _) => {
            format!("ActivityScheduled({}) at command {}", e.activity.activity_type, e.activity.sequence)
        }
        (Event::VersionMarkerRecorded(e), _) => {
            format!("VersionMarkerRecorded({}) at command {}", e.change_id, e.sequence)
        }
        (event, Some(seq)) => format!("{} at command {seq}", event.event_type()),
        (event, None) => event.event_type().to_owned(),
    }
}

#[cfg(test)]
mod tests;
