//! A step: apply inputs to a run, let the workflow decide, and write everything the decision
//! implies in the caller's transaction.

use serde_json::Value;
use tokio::sync::OwnedSemaphorePermit;

use super::{Inner, stats};
use crate::command::{Command, Failure};
use crate::event::{
    ActivityCancelled, ActivityRef, ActivityScheduled, ActivityStarted, Event, HistoryEvent, MemoUpserted,
    RunClosedByOperator, SearchAttributesUpserted, SideEffectRecorded, StartRecorded, TimerCancelled, TimerScheduled,
    VersionMarkerRecorded, WorkflowCompleted, WorkflowContinuedAsNew, WorkflowFailed, WorkflowStarted,
};
use crate::ids::{RunId, ulid};
use crate::machine::RunMachine;
use crate::status::{
    ClosedReason, CommandOutcome, CommandStatus, CommandType, FailureCategory, RunStatus, TaskProblem,
};
use crate::store::{
    ActivityRecord, ActivityStatus, AttemptRecord, AttemptStatus, CommandRecord, EngineTx, FailureRecord, RunRecord,
    StoreError, StoredEvent, TaskKind, TaskRecord, TaskStatus, TimerRecord, TimerStatus,
};
use crate::time::{self, Timestamp};

/// An activity attempt a step started for this process to run at once.
pub(crate) struct EagerAttempt {
    pub(crate) activity: ActivityRecord,
    pub(crate) attempt: AttemptRecord,
    pub(crate) permit: OwnedSemaphorePermit,
}

/// What a committed step leaves for the caller to do.
#[derive(Default)]
pub(crate) struct StepOutcome {
    /// Attempts to run now.
    pub(crate) eager: Vec<EagerAttempt>,
    /// Attempts running here to cancel.
    pub(crate) cancelled_attempts: Vec<String>,
    /// Kinds of ready tasks made (to wake workers).
    pub(crate) woke: Vec<TaskKind>,
    /// Whether a run closed.
    pub(crate) closed: bool,
    /// Whether the run could not be decided (it has a task problem now).
    pub(crate) blocked: bool,
    /// The machine to cache after commit, with its run id.
    pub(crate) machine: Option<(RunId, RunMachine)>,
}

impl StepOutcome {
    /// Runs the post-commit effects: wake-ups, cache, cancellations, close notifications.
    /// Returns the eager attempts for the caller to start.
    pub(crate) fn after_commit(self, inner: &Inner) -> Vec<EagerAttempt> {
        let stats = &inner.stats;
        stats::bump(&stats.steps);
        if self.blocked {
            stats::bump(&stats.blocked);
        }
        if self.closed {
            stats::bump(&stats.runs_closed);
        }
        stats.activity_attempts.fetch_add(self.eager.len() as u64, std::sync::atomic::Ordering::Relaxed);
        for kind in &self.woke {
            inner.wake.task(*kind);
        }
        if let Some((run_id, machine)) = self.machine {
            inner.cache().put(run_id, machine);
        }
        {
            let running = inner.running();
            for attempt in &self.cancelled_attempts {
                if let Some(handle) = running.get(attempt) {
                    handle.cancel();
                }
            }
        }
        if self.closed {
            inner.wake.run_closed();
        }
        self.eager
    }
}

/// Builds a stored event at the run's next sequence.
pub(crate) fn append(run: &mut RunRecord, events: &mut Vec<StoredEvent>, event: Event, now: Timestamp) -> u64 {
    run.last_sequence += 1;
    let payload = event.payload();
    run.history_size_bytes += serde_json::to_vec(&payload).map_or(0, |v| v.len() as u64);
    events.push(StoredEvent {
        id: ulid(now),
        run_id: run.run_id.clone(),
        sequence: run.last_sequence,
        event_type: event.event_type().to_owned(),
        payload,
        recorded_at: now,
    });
    run.last_sequence
}

/// The failure row an event implies, if any.
pub(crate) fn failure_of(run_id: &RunId, event: &Event, now: Timestamp) -> Option<FailureRecord> {
    let row =
        |id: &str, kind: &str, source: Option<String>, category, exception: &str, message: &str, non_retryable| {
            FailureRecord {
                id: id.to_owned(),
                run_id: run_id.clone(),
                source_kind: kind.to_owned(),
                source_id: source,
                category,
                exception_type: exception.to_owned(),
                message: message.to_owned(),
                non_retryable,
                handled: false,
                created_at: now,
            }
        };
    match event {
        Event::ActivityFailed(e) => Some(row(
            &e.failure_id,
            "activity",
            Some(e.activity.activity_execution_id.clone()),
            e.failure_category,
            &e.exception_type,
            &e.message,
            e.non_retryable,
        )),
        Event::ActivityTimedOut(e) => Some(row(
            &e.failure_id,
            "activity",
            Some(e.activity.activity_execution_id.clone()),
            e.failure_category,
            "ActivityTimedOut",
            &e.message,
            true,
        )),
        Event::WorkflowFailed(e) => Some(row(
            &e.failure_id,
            &e.source_kind,
            e.source_id.clone(),
            e.failure_category,
            &e.exception_type,
            &e.message,
            e.non_retryable,
        )),
        Event::WorkflowTimedOut(e) => {
            Some(row(&e.failure_id, "workflow", None, e.failure_category, "WorkflowTimedOut", &e.message, true))
        }
        Event::WorkflowCancelled(e) | Event::WorkflowTerminated(e) => Some(row(
            &e.failure_id,
            "operator",
            e.workflow_command_id.clone(),
            e.failure_category,
            if e.failure_category == FailureCategory::Terminated { "WorkflowTerminated" } else { "WorkflowCancelled" },
            &e.message,
            true,
        )),
        _ => None,
    }
}

fn payload_len(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |v| v.len())
}

/// The events and rows a step writes, accumulated before the writes.
struct Plan<'a> {
    inner: &'a Inner,
    now: Timestamp,
    run: RunRecord,
    events: Vec<StoredEvent>,
    activities: Vec<ActivityRecord>,
    attempts: Vec<AttemptRecord>,
    tasks: Vec<TaskRecord>,
    new_timers: Vec<TimerRecord>,
    changed_timers: Vec<TimerRecord>,
    outcome: StepOutcome,
    /// A history limit the step reached: (kind, value, configured, message).
    pending_limit: Option<(&'static str, u64, u64, String)>,
    search_attributes_changed: bool,
    /// A command that closes the run was recorded (no command after it counts).
    closed: bool,
}

impl Inner {
    /// Applies `inputs` (events not yet recorded) to `run` in order, lets the workflow decide
    /// after each, and writes all of it through `tx`: the events, the run row, new activity
    /// executions, attempts, tasks and timers, failures, and on close the cancellation of the
    /// run's remaining work. Signals and cancel requests waiting for the run are applied first.
    ///
    /// When the run cannot be decided (nondeterminism, an unknown type, unreadable history),
    /// the inputs are still recorded and the run gets its `task_problem`.
    pub(crate) async fn step(
        &self,
        tx: &mut dyn EngineTx,
        run: RunRecord,
        inputs: Vec<Event>,
        now: Timestamp,
    ) -> Result<StepOutcome, StoreError> {
        let mut plan = Plan {
            inner: self,
            now,
            run,
            events: Vec::new(),
            activities: Vec::new(),
            attempts: Vec::new(),
            tasks: Vec::new(),
            new_timers: Vec::new(),
            changed_timers: Vec::new(),
            outcome: StepOutcome::default(),
            pending_limit: None,
            search_attributes_changed: false,
            closed: false,
        };
        let mut inputs = inputs;
        if plan.run.pending_commands > 0 {
            let waiting = tx.unapplied_commands(&plan.run.run_id).await?;
            let ids: Vec<String> = waiting.iter().map(|c| c.id.clone()).collect();
            let mut from_commands: Vec<Event> = waiting.iter().filter_map(|c| command_input(&plan.run, c)).collect();
            from_commands.append(&mut inputs);
            inputs = from_commands;
            tx.mark_commands_applied(&ids, now).await?;
            plan.run.pending_commands = 0;
        }
        match self.machine_for(tx, &plan.run).await? {
            Ok((mut machine, leftovers)) => {
                plan.commands(tx, leftovers).await?;
                let mut problem = None;
                for input in inputs {
                    let sequence = append(&mut plan.run, &mut plan.events, input.clone(), now);
                    if let Some(failure) = failure_of(&plan.run.run_id, &input, now) {
                        tx.insert_failure(&failure).await?;
                    }
                    if problem.is_some() || plan.closed {
                        continue;
                    }
                    match machine.apply_at(&input, now, sequence) {
                        Ok(commands) => plan.commands(tx, commands).await?,
                        Err(nondeterminism) => {
                            problem = Some((TaskProblem::Nondeterminism, nondeterminism.to_string()))
                        }
                    }
                }
                match problem {
                    Some((problem, message)) => plan.block(tx, problem, &message).await?,
                    None => {
                        machine.set_last_sequence(plan.run.last_sequence);
                        if !plan.closed {
                            plan.run.status = RunStatus::Waiting;
                            plan.run.wait_kind = machine.wait_kind();
                        }
                        plan.run.task_problem = None;
                        plan.outcome.machine = Some((plan.run.run_id.clone(), machine));
                    }
                }
            }
            Err((problem, message)) => {
                for input in inputs {
                    append(&mut plan.run, &mut plan.events, input.clone(), now);
                    if let Some(failure) = failure_of(&plan.run.run_id, &input, now) {
                        tx.insert_failure(&failure).await?;
                    }
                }
                plan.block(tx, problem, &message).await?;
            }
        }
        plan.check_history_limits();
        plan.write(tx).await
    }

    /// The run's machine: from the cache when current, else replayed from history.
    async fn machine_for(
        &self,
        tx: &mut dyn EngineTx,
        run: &RunRecord,
    ) -> Result<Result<(RunMachine, Vec<Command>), (TaskProblem, String)>, StoreError> {
        if let Some(machine) = self.cache().take(&run.run_id, run.last_sequence) {
            stats::bump(&self.stats.cache_hits);
            return Ok(Ok((machine, Vec::new())));
        }
        stats::bump(&self.stats.replays);
        let Some(workflow) = self.registry.erased_workflow(&run.workflow_type) else {
            return Ok(Err((
                TaskProblem::WorkflowUnavailable,
                format!("workflow type {:?} is not registered in this process", run.workflow_type),
            )));
        };
        let stored = tx.history(&run.run_id).await?;
        let mut history = Vec::with_capacity(stored.len());
        for row in stored {
            match Event::from_parts(&row.event_type, row.payload) {
                Ok(event) => history.push(HistoryEvent {
                    id: row.id,
                    sequence: row.sequence,
                    recorded_at: row.recorded_at,
                    event,
                }),
                Err(e) => return Ok(Err((TaskProblem::HistoryUnreadable, e.to_string()))),
            }
        }
        Ok(RunMachine::replay(workflow.as_ref(), run.namespace.clone(), &history)
            .map_err(|e| (TaskProblem::Nondeterminism, e.to_string())))
    }
}

impl Inner {
    /// Closes a run from outside its code or at its end: status and reason set, its live
    /// tasks, open activities (and their running attempts) and pending timers cancelled.
    /// Returns the attempts to cancel in this process.
    pub(crate) async fn close_run(
        &self,
        tx: &mut dyn EngineTx,
        run: &mut RunRecord,
        status: RunStatus,
        reason: ClosedReason,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        run.status = status;
        run.closed_reason = Some(reason);
        run.closed_at = Some(now);
        run.updated_at = now;
        run.wait_kind = None;
        run.task_problem = None;
        tx.close_live_tasks(&run.run_id, TaskStatus::Cancelled, now).await?;
        let mut cancelled = Vec::new();
        for activity in tx.open_activities(&run.run_id).await? {
            cancelled.extend(self.cancel_stored_activity(tx, activity, now).await?);
        }
        for timer in tx.pending_timers(&run.run_id).await? {
            tx.update_timer(&TimerRecord { status: TimerStatus::Cancelled, ..timer }).await?;
        }
        Ok(cancelled)
    }

    /// Gives up on a stored activity: its running attempt and live task cancelled, the
    /// activity closed as cancelled. Returns the attempt to cancel in this process, if any.
    pub(crate) async fn cancel_stored_activity(
        &self,
        tx: &mut dyn EngineTx,
        mut activity: ActivityRecord,
        now: Timestamp,
    ) -> Result<Option<String>, StoreError> {
        let mut cancelled = None;
        if activity.status == ActivityStatus::Running
            && let Some(attempt_id) = &activity.current_attempt_id
            && let Some(mut attempt) = tx.attempt(attempt_id).await?
            && attempt.status == AttemptStatus::Running
        {
            attempt.status = AttemptStatus::Cancelled;
            attempt.closed_at = Some(now);
            tx.update_attempt(&attempt).await?;
            cancelled = Some(attempt.id);
        }
        if let Some(mut task) = tx.live_activity_task(&activity.id).await? {
            task.status = TaskStatus::Cancelled;
            task.updated_at = now;
            tx.update_task(&task).await?;
        }
        activity.status = ActivityStatus::Cancelled;
        activity.closed_at = Some(now);
        tx.update_activity(&activity).await?;
        Ok(cancelled)
    }
}

/// The input event a waiting signal or cancel command becomes.
fn command_input(run: &RunRecord, command: &CommandRecord) -> Option<Event> {
    match command.command_type {
        CommandType::Signal => Some(Event::SignalReceived(crate::event::SignalReceived {
            workflow_command_id: command.id.clone(),
            signal_id: command.id.clone(),
            workflow_instance_id: run.instance_id.clone(),
            workflow_run_id: run.run_id.clone(),
            signal_name: command.payload.get("signal_name").and_then(Value::as_str).unwrap_or_default().to_owned(),
            arguments: command.payload.get("arguments").cloned().unwrap_or(Value::Null),
        })),
        CommandType::Cancel => Some(Event::CancelRequested(crate::event::OperatorRequest {
            workflow_command_id: command.id.clone(),
            workflow_instance_id: run.instance_id.clone(),
            workflow_run_id: run.run_id.clone(),
            command_type: CommandType::Cancel,
            reason: command.payload.get("reason").and_then(Value::as_str).map(str::to_owned),
        })),
        _ => None,
    }
}

impl Plan<'_> {
    fn push(&mut self, event: Event) -> u64 {
        append(&mut self.run, &mut self.events, event, self.now)
    }

    /// Turns the workflow's commands into events and rows.
    async fn commands(&mut self, tx: &mut dyn EngineTx, commands: Vec<Command>) -> Result<(), StoreError> {
        for command in commands {
            if self.closed {
                break;
            }
            if let Some((what, size)) = oversized(&command, self.inner.config.limits.payload_max_bytes) {
                self.fail_structural(
                    tx,
                    "payload_size",
                    size as u64,
                    self.inner.config.limits.payload_max_bytes as u64,
                    &format!(
                        "{what} is {size} bytes; the limit is {} bytes",
                        self.inner.config.limits.payload_max_bytes
                    ),
                )
                .await?;
                break;
            }
            self.command(tx, command).await?;
        }
        Ok(())
    }

    async fn command(&mut self, tx: &mut dyn EngineTx, command: Command) -> Result<(), StoreError> {
        let now = self.now;
        match command {
            Command::ScheduleActivity { seq, activity_type, input, options } => {
                let exec_id = ulid(now);
                let activity_ref = ActivityRef {
                    activity_execution_id: exec_id.clone(),
                    activity_type: activity_type.clone(),
                    sequence: seq,
                };
                self.push(Event::ActivityScheduled(ActivityScheduled {
                    activity: activity_ref.clone(),
                    input: input.clone(),
                    options: options.clone(),
                }));
                let mut activity = ActivityRecord {
                    id: exec_id.clone(),
                    namespace: self.run.namespace.clone(),
                    run_id: self.run.run_id.clone(),
                    instance_id: self.run.instance_id.clone(),
                    sequence: seq,
                    activity_type: activity_type.clone(),
                    input,
                    options,
                    status: ActivityStatus::Scheduled,
                    attempt_count: 0,
                    current_attempt_id: None,
                    scheduled_at: now,
                    closed_at: None,
                };
                let mut task = TaskRecord {
                    id: ulid(now),
                    namespace: self.run.namespace.clone(),
                    run_id: self.run.run_id.clone(),
                    kind: TaskKind::Activity,
                    status: TaskStatus::Ready,
                    available_at: now,
                    lease_owner: None,
                    lease_expires_at: None,
                    attempt_count: 0,
                    activity_execution_id: Some(exec_id),
                    created_at: now,
                    updated_at: now,
                };
                match self.inner.eager_slot(&activity_type) {
                    Some(permit) => {
                        let attempt = self.inner.new_attempt(&mut activity, &mut task, now);
                        self.push(Event::ActivityStarted(ActivityStarted {
                            activity: activity_ref,
                            activity_attempt_id: attempt.id.clone(),
                            attempt_number: attempt.attempt_number,
                            lease_expires_at: attempt.lease_expires_at,
                            worker_id: attempt.worker_id.clone(),
                        }));
                        self.attempts.push(attempt.clone());
                        self.outcome.eager.push(EagerAttempt { activity: activity.clone(), attempt, permit });
                    }
                    None => self.outcome.woke.push(TaskKind::Activity),
                }
                self.activities.push(activity);
                self.tasks.push(task);
            }
            Command::CancelActivity { seq, activity_type } => {
                let open = tx.open_activities(&self.run.run_id).await?;
                let pending = self.activities.iter().find(|a| a.sequence == seq).cloned();
                let target = open.into_iter().find(|a| a.sequence == seq).or(pending);
                let (exec_id, attempt_id, attempts) = match &target {
                    Some(a) => (a.id.clone(), a.current_attempt_id.clone(), a.attempt_count),
                    None => (String::new(), None, 0),
                };
                self.push(Event::ActivityCancelled(ActivityCancelled {
                    activity: ActivityRef { activity_execution_id: exec_id, activity_type, sequence: seq },
                    activity_attempt_id: attempt_id
                        .filter(|_| target.as_ref().is_some_and(|a| a.status == ActivityStatus::Running)),
                    attempt_number: attempts,
                    cancelled_at: now,
                }));
                if let Some(activity) = target {
                    self.cancel_activity(tx, activity).await?;
                }
            }
            Command::StartTimer { seq, delay, fire_at } => {
                let timer_id = ulid(now);
                self.push(Event::TimerScheduled(TimerScheduled {
                    timer_id: timer_id.clone(),
                    sequence: seq,
                    delay_seconds: delay,
                    fire_at,
                }));
                self.new_timers.push(TimerRecord {
                    id: timer_id,
                    namespace: self.run.namespace.clone(),
                    run_id: self.run.run_id.clone(),
                    sequence: seq,
                    delay,
                    fire_at,
                    status: TimerStatus::Pending,
                    created_at: now,
                });
            }
            Command::CancelTimer { seq } => {
                let (timer, stored) = match self.new_timers.iter_mut().find(|t| t.sequence == seq) {
                    Some(timer) => (timer.clone(), false),
                    None => match tx.pending_timers(&self.run.run_id).await?.into_iter().find(|t| t.sequence == seq) {
                        Some(timer) => (timer, true),
                        None => return Ok(()),
                    },
                };
                self.push(Event::TimerCancelled(TimerCancelled {
                    timer_id: timer.id.clone(),
                    sequence: seq,
                    delay_seconds: timer.delay,
                    fire_at: timer.fire_at,
                    cancelled_at: now,
                }));
                if stored {
                    self.changed_timers.push(TimerRecord { status: TimerStatus::Cancelled, ..timer });
                } else if let Some(new) = self.new_timers.iter_mut().find(|t| t.sequence == seq) {
                    new.status = TimerStatus::Cancelled;
                }
            }
            Command::RecordSideEffect { seq, result } => {
                self.push(Event::SideEffectRecorded(SideEffectRecorded { sequence: seq, result }));
            }
            Command::RecordVersionMarker { seq, change_id } => {
                self.push(Event::VersionMarkerRecorded(VersionMarkerRecorded {
                    sequence: seq,
                    change_id,
                    version: 1,
                    min_supported: -1,
                    max_supported: 1,
                }));
            }
            Command::UpsertSearchAttributes { seq, attributes, merged } => {
                self.run.search_attributes = merged.clone();
                self.search_attributes_changed = true;
                self.push(Event::SearchAttributesUpserted(SearchAttributesUpserted {
                    sequence: seq,
                    attributes,
                    merged,
                }));
            }
            Command::UpsertMemo { seq, entries, merged } => {
                self.run.memo = merged.clone();
                self.push(Event::MemoUpserted(MemoUpserted { sequence: seq, entries, merged }));
            }
            Command::CompleteWorkflow { output } => {
                self.push(Event::WorkflowCompleted(WorkflowCompleted { output: output.clone() }));
                self.run.output = Some(output);
                self.close(tx, RunStatus::Completed, ClosedReason::Completed).await?;
            }
            Command::FailWorkflow(failure) => self.fail(tx, failure, None).await?,
            Command::CancelWorkflow => {
                let event = Event::WorkflowCancelled(RunClosedByOperator {
                    workflow_command_id: None,
                    workflow_instance_id: self.run.instance_id.clone(),
                    workflow_run_id: self.run.run_id.clone(),
                    failure_id: ulid(now),
                    failure_category: FailureCategory::Cancelled,
                    closed_reason: ClosedReason::Cancelled,
                    message: "The workflow was cancelled.".to_owned(),
                    reason: None,
                });
                if let Some(failure) = failure_of(&self.run.run_id, &event, now) {
                    tx.insert_failure(&failure).await?;
                }
                self.push(event);
                self.close(tx, RunStatus::Cancelled, ClosedReason::Cancelled).await?;
            }
            Command::ContinueAsNew { seq, input } => self.continue_as_new(tx, seq, input).await?,
        }
        Ok(())
    }

    async fn fail(
        &mut self,
        tx: &mut dyn EngineTx,
        failure: Failure,
        limit: Option<(&str, u64, u64)>,
    ) -> Result<(), StoreError> {
        let event = Event::WorkflowFailed(WorkflowFailed {
            failure_id: ulid(self.now),
            source_kind: failure.source_kind,
            source_id: failure.source_id,
            failure_category: failure.category,
            non_retryable: failure.non_retryable,
            exception_type: failure.exception_type,
            message: failure.message,
            structural_limit_kind: limit.map(|l| l.0.to_owned()),
            structural_limit_value: limit.map(|l| l.1),
            structural_limit_configured: limit.map(|l| l.2),
        });
        if let Some(row) = failure_of(&self.run.run_id, &event, self.now) {
            tx.insert_failure(&row).await?;
        }
        self.push(event);
        self.close(tx, RunStatus::Failed, ClosedReason::Failed).await
    }

    async fn fail_structural(
        &mut self,
        tx: &mut dyn EngineTx,
        kind: &str,
        value: u64,
        configured: u64,
        message: &str,
    ) -> Result<(), StoreError> {
        let failure = Failure {
            source_kind: "structural_limit".to_owned(),
            source_id: None,
            category: FailureCategory::StructuralLimit,
            exception_type: "StructuralLimitExceeded".to_owned(),
            message: message.to_owned(),
            non_retryable: true,
        };
        self.fail(tx, failure, Some((kind, value, configured))).await
    }

    /// Closes the run: status, reason, and every piece of its remaining work cancelled,
    /// including what this step made.
    async fn close(
        &mut self,
        tx: &mut dyn EngineTx,
        status: RunStatus,
        reason: ClosedReason,
    ) -> Result<(), StoreError> {
        self.closed = true;
        self.outcome.closed = true;
        let cancelled = self.inner.close_run(tx, &mut self.run, status, reason, self.now).await?;
        self.outcome.cancelled_attempts.extend(cancelled);
        for task in &mut self.tasks {
            if task.status.is_live() {
                task.status = TaskStatus::Cancelled;
            }
        }
        for activity in &mut self.activities {
            activity.status = ActivityStatus::Cancelled;
            activity.closed_at = Some(self.now);
        }
        for attempt in &mut self.attempts {
            attempt.status = AttemptStatus::Cancelled;
            attempt.closed_at = Some(self.now);
        }
        self.outcome.eager.clear();
        for timer in &mut self.new_timers {
            timer.status = TimerStatus::Cancelled;
        }
        Ok(())
    }

    /// Gives up on an activity, made in this step or stored.
    async fn cancel_activity(&mut self, tx: &mut dyn EngineTx, activity: ActivityRecord) -> Result<(), StoreError> {
        if let Some(pending) = self.activities.iter_mut().find(|a| a.id == activity.id) {
            pending.status = ActivityStatus::Cancelled;
            pending.closed_at = Some(self.now);
            for task in self.tasks.iter_mut().filter(|t| t.activity_execution_id.as_deref() == Some(&activity.id)) {
                task.status = TaskStatus::Cancelled;
            }
            for attempt in self.attempts.iter_mut().filter(|a| a.activity_execution_id == activity.id) {
                attempt.status = AttemptStatus::Cancelled;
                attempt.closed_at = Some(self.now);
            }
            self.outcome.eager.retain(|e| e.activity.id != activity.id);
            return Ok(());
        }
        if let Some(attempt) = self.inner.cancel_stored_activity(tx, activity, self.now).await? {
            self.outcome.cancelled_attempts.push(attempt);
        }
        Ok(())
    }

    async fn continue_as_new(&mut self, tx: &mut dyn EngineTx, seq: u64, input: Value) -> Result<(), StoreError> {
        let now = self.now;
        let new_run_id = RunId::generate(now);
        let run_number = self.run.run_number + 1;
        self.push(Event::WorkflowContinuedAsNew(WorkflowContinuedAsNew {
            sequence: seq,
            continued_to_run_id: new_run_id.clone(),
            continued_to_run_number: run_number,
            closed_reason: ClosedReason::Continued,
            input: input.clone(),
        }));
        self.close(tx, RunStatus::Completed, ClosedReason::Continued).await?;
        let run_timeout = match (self.run.run_deadline_at, self.run.started_at) {
            (Some(deadline), Some(started)) => (deadline - started).to_std().ok(),
            _ => None,
        };
        let mut next = RunRecord {
            run_id: new_run_id.clone(),
            run_number,
            status: RunStatus::Pending,
            closed_reason: None,
            wait_kind: None,
            task_problem: None,
            input: input.clone(),
            output: None,
            last_sequence: 0,
            history_size_bytes: 0,
            pending_commands: 0,
            run_deadline_at: run_timeout.map(|t| time::add(now, t)),
            continued_from_run_id: Some(self.run.run_id.clone()),
            created_at: now,
            updated_at: now,
            started_at: Some(now),
            closed_at: None,
            ..self.run.clone()
        };
        let command_id = ulid(now);
        let mut events = Vec::new();
        let event = Event::StartAccepted(StartRecorded {
            workflow_command_id: command_id.clone(),
            workflow_instance_id: next.instance_id.clone(),
            workflow_run_id: next.run_id.clone(),
            workflow_type: next.workflow_type.clone(),
            business_key: next.business_key.clone(),
            visibility_labels: next.visibility_labels.clone(),
            memo: next.memo.clone(),
            search_attributes: next.search_attributes.clone(),
            outcome: CommandOutcome::StartedNew,
            rejection_reason: None,
        });
        append(&mut next, &mut events, event, now);
        let event = Event::WorkflowStarted(WorkflowStarted {
            workflow_type: next.workflow_type.clone(),
            workflow_instance_id: next.instance_id.clone(),
            workflow_run_id: next.run_id.clone(),
            workflow_command_id: Some(command_id.clone()),
            run_number,
            input: input.clone(),
            business_key: next.business_key.clone(),
            visibility_labels: next.visibility_labels.clone(),
            memo: next.memo.clone(),
            search_attributes: next.search_attributes.clone(),
            execution_timeout_seconds: None,
            run_timeout_seconds: run_timeout,
            execution_deadline_at: next.execution_deadline_at,
            run_deadline_at: next.run_deadline_at,
            continued_from_run_id: Some(self.run.run_id.clone()),
            declared_signals: self
                .inner
                .registry
                .workflow_definition(&next.workflow_type)
                .map(|d| d.signals.clone())
                .unwrap_or_default(),
        });
        append(&mut next, &mut events, event, now);
        tx.insert_run(&next).await?;
        tx.append_events(&events).await?;
        if !next.search_attributes.is_empty() {
            tx.replace_search_attributes(&next.run_id, &next.search_attributes).await?;
        }
        tx.insert_command(&CommandRecord {
            id: command_id,
            namespace: next.namespace.clone(),
            instance_id: next.instance_id.clone(),
            run_id: Some(next.run_id.clone()),
            command_type: CommandType::Start,
            status: CommandStatus::Accepted,
            outcome: Some(CommandOutcome::StartedNew),
            rejection_reason: None,
            source: "workflow".to_owned(),
            payload: serde_json::json!({ "continued_from_run_id": self.run.run_id }),
            created_at: now,
            applied_at: None,
        })
        .await?;
        tx.insert_task(&workflow_task(&next, now)).await?;
        if let Some(mut instance) = tx.lock_instance(&next.namespace, &next.instance_id).await? {
            instance.current_run_id = Some(next.run_id.clone());
            instance.run_count = instance.run_count.max(run_number);
            instance.updated_at = now;
            tx.update_instance(&instance).await?;
        }
        self.outcome.woke.push(TaskKind::Workflow);
        Ok(())
    }

    /// Records that the run cannot be decided: the problem on the run, a failure row, and no
    /// machine kept.
    async fn block(&mut self, tx: &mut dyn EngineTx, problem: TaskProblem, message: &str) -> Result<(), StoreError> {
        tracing::warn!(run_id = %self.run.run_id, %problem, message, "workflow task blocked");
        self.run.task_problem = Some(problem);
        self.outcome.machine = None;
        self.outcome.blocked = true;
        self.inner.cache().remove(&self.run.run_id);
        tx.insert_failure(&FailureRecord {
            id: ulid(self.now),
            run_id: self.run.run_id.clone(),
            source_kind: "workflow_task".to_owned(),
            source_id: None,
            category: FailureCategory::TaskFailure,
            exception_type: problem.as_str().to_owned(),
            message: message.to_owned(),
            non_retryable: false,
            handled: false,
            created_at: self.now,
        })
        .await
    }

    /// Fails the run once its history is at the configured length or size.
    fn check_history_limits(&mut self) {
        let limits = &self.inner.config.limits;
        if self.run.last_sequence >= limits.history_warn_events
            && self.run.last_sequence - (self.events.len() as u64) < limits.history_warn_events
        {
            tracing::warn!(run_id = %self.run.run_id, events = self.run.last_sequence, "workflow history is long; consider continue-as-new");
        }
        if self.closed || self.run.status.is_terminal() {
            return;
        }
        let over = if self.run.last_sequence >= limits.history_max_events {
            Some(("history_length", self.run.last_sequence, limits.history_max_events, "events"))
        } else if self.run.history_size_bytes >= limits.history_max_bytes {
            Some(("history_size", self.run.history_size_bytes, limits.history_max_bytes, "bytes"))
        } else {
            None
        };
        if let Some((kind, value, configured, unit)) = over {
            self.pending_limit = Some((
                kind,
                value,
                configured,
                format!("the history reached {value} {unit}; the limit is {configured}"),
            ));
        }
    }

    async fn write(mut self, tx: &mut dyn EngineTx) -> Result<StepOutcome, StoreError> {
        if let Some((kind, value, configured, message)) = self.pending_limit.take() {
            self.fail_structural(tx, kind, value, configured, &message).await?;
            self.outcome.machine = None;
        }
        self.run.updated_at = self.now;
        tx.append_events(&self.events).await?;
        tx.update_run(&self.run).await?;
        for activity in &self.activities {
            tx.insert_activity(activity).await?;
        }
        for attempt in &self.attempts {
            tx.insert_attempt(attempt).await?;
        }
        for task in &self.tasks {
            tx.insert_task(task).await?;
        }
        for timer in &self.new_timers {
            tx.insert_timer(timer).await?;
        }
        for timer in &self.changed_timers {
            tx.update_timer(timer).await?;
        }
        if self.search_attributes_changed {
            tx.replace_search_attributes(&self.run.run_id, &self.run.search_attributes).await?;
        }
        if self.outcome.woke.contains(&TaskKind::Activity) {
            tx.notify(TaskKind::Activity).await?;
        }
        if self.outcome.woke.contains(&TaskKind::Workflow) {
            tx.notify(TaskKind::Workflow).await?;
        }
        if let Some((_, machine)) = &mut self.outcome.machine {
            machine.set_last_sequence(self.run.last_sequence);
        }
        Ok(self.outcome)
    }
}

/// A ready workflow task for `run`, due now.
pub(crate) fn workflow_task(run: &RunRecord, now: Timestamp) -> TaskRecord {
    TaskRecord {
        id: ulid(now),
        namespace: run.namespace.clone(),
        run_id: run.run_id.clone(),
        kind: TaskKind::Workflow,
        status: TaskStatus::Ready,
        available_at: now,
        lease_owner: None,
        lease_expires_at: None,
        attempt_count: 0,
        activity_execution_id: None,
        created_at: now,
        updated_at: now,
    }
}

/// The payload of a command over `max` bytes, as (what, size).
fn oversized(command: &Command, max: usize) -> Option<(&'static str, usize)> {
    let (what, value) = match command {
        Command::ScheduleActivity { input, .. } => ("an activity input", input),
        Command::RecordSideEffect { result, .. } => ("a side effect", result),
        Command::CompleteWorkflow { output } => ("the workflow output", output),
        Command::ContinueAsNew { input, .. } => ("the continue-as-new input", input),
        _ => return None,
    };
    let size = payload_len(value);
    (size > max).then_some((what, size))
}
