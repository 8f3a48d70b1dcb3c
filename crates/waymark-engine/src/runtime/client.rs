//! Client operations: start (with the duplicate-start policy), signal, cancel, terminate and
//! repair. Each is one transaction and returns at once; none waits for the workflow.

use std::time::Duration;

use serde_json::Value;

use super::step::{append, failure_of, workflow_task};
use super::{Engine, EngineError};
use crate::event::{
    Event, Labels, Metadata, OperatorRequest, RepairRequested, RunClosedByOperator, StartRecorded, WorkflowStarted,
};
use crate::ids::{InstanceId, Namespace, RunId, ulid};
use crate::status::{
    ClosedReason, CommandOutcome, CommandStatus, CommandType, DuplicateStartPolicy, FailureCategory, RunStatus,
};
use crate::store::{CommandRecord, InstanceRecord, RunRecord, StoreError, TaskKind, TaskStatus};
use crate::time;
use crate::visibility;

/// What to start.
#[derive(Clone, Debug, Default)]
pub struct StartRequest {
    /// The workflow type key.
    pub workflow_type: String,
    /// The input (checked against the type's `Input`).
    pub input: Value,
    /// The caller's instance id, or `None` for a generated ULID.
    pub instance_id: Option<InstanceId>,
    /// The operator-facing key (trimmed; 1–191 characters).
    pub business_key: Option<String>,
    /// Labels (already normalized with [`visibility::labels`]).
    pub visibility_labels: Labels,
    /// Memo.
    pub memo: Metadata,
    /// Search attributes (nulls are dropped).
    pub search_attributes: Metadata,
    /// What a start of an already started instance does.
    pub duplicate_start_policy: DuplicateStartPolicy,
    /// The execution timeout (spans continue-as-new).
    pub execution_timeout: Option<Duration>,
    /// The run timeout.
    pub run_timeout: Option<Duration>,
    /// Who asks: `mcp`, `cli`, `library`.
    pub source: String,
}

/// What a start did.
#[derive(Clone, Debug, PartialEq)]
pub struct StartOutcome {
    /// The instance.
    pub instance_id: InstanceId,
    /// The run started or found.
    pub run_id: RunId,
    /// The workflow type key.
    pub workflow_type: String,
    /// The run's status right after the start (`pending` for a new run).
    pub status: RunStatus,
    /// The run's business key.
    pub business_key: Option<String>,
    /// The policy applied.
    pub duplicate_start_policy: DuplicateStartPolicy,
    /// The command record.
    pub command: CommandReceipt,
}

/// A recorded command's receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandReceipt {
    /// The command id.
    pub id: String,
    /// The history sequence of the event that records it on the run, if any.
    pub sequence: Option<u64>,
    /// Accepted or rejected.
    pub status: CommandStatus,
    /// What it did.
    pub outcome: CommandOutcome,
    /// Why it was rejected.
    pub rejection_reason: Option<String>,
}

/// How many times a transaction that lost a race is retried.
const CONFLICT_RETRIES: usize = 5;

impl Engine {
    /// Starts a workflow (seed §2.5): reserves the instance, then either makes a new run
    /// (`started_new`: `StartAccepted`, `WorkflowStarted` and a ready workflow task) or, if
    /// the instance already has a run, applies the duplicate-start policy, recording
    /// `StartAccepted` (`returned_existing_active`) or `StartRejected` (`rejected_duplicate`,
    /// reason `instance_already_started`) on the existing run. Concurrent identical starts
    /// make exactly one run. Returns at once.
    ///
    /// # Errors
    /// [`EngineError::UnknownWorkflowType`], [`EngineError::InvalidArgument`] (input, business
    /// key, memo, search attributes), [`EngineError::LimitExceeded`] (input over the payload
    /// limit), [`EngineError::InstanceTypeMismatch`], [`EngineError::Store`]. Nothing is
    /// written on error. A rejected duplicate is not an error here: see the outcome.
    pub async fn start(&self, namespace: &Namespace, request: StartRequest) -> Result<StartOutcome, EngineError> {
        let definition = self
            .inner
            .registry
            .workflow_definition(&request.workflow_type)
            .ok_or_else(|| EngineError::UnknownWorkflowType(request.workflow_type.clone()))?
            .clone();
        let workflow = self
            .inner
            .registry
            .erased_workflow(&request.workflow_type)
            .ok_or_else(|| EngineError::UnknownWorkflowType(request.workflow_type.clone()))?;
        workflow.check_input(&request.input).map_err(|e| {
            EngineError::InvalidArgument(format!("arguments do not fit workflow {}: {e}", definition.key))
        })?;
        self.check_payload("the workflow input", &request.input)?;
        let business_key = request
            .business_key
            .as_deref()
            .map(visibility::business_key)
            .transpose()
            .map_err(EngineError::InvalidArgument)?;
        visibility::check_memo(&request.memo).map_err(EngineError::InvalidArgument)?;
        let search_attributes: Metadata = request
            .search_attributes
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        visibility::check_search_attributes(&search_attributes).map_err(EngineError::InvalidArgument)?;
        let request = StartRequest { business_key, search_attributes, ..request };
        let mut attempt = 0;
        loop {
            match self.try_start(namespace, &request, &definition.signals).await {
                Err(EngineError::Store(StoreError::Conflict)) if attempt < CONFLICT_RETRIES => attempt += 1,
                other => return other,
            }
        }
    }

    async fn try_start(
        &self,
        namespace: &Namespace,
        request: &StartRequest,
        signals: &[String],
    ) -> Result<StartOutcome, EngineError> {
        let now = self.inner.clock.now();
        let instance_id = request.instance_id.clone().unwrap_or_else(|| InstanceId::generate(now));
        let mut tx = self.inner.store.begin().await?;
        let (mut instance, _created) = tx
            .reserve_instance(&InstanceRecord {
                namespace: namespace.clone(),
                instance_id: instance_id.clone(),
                workflow_type: request.workflow_type.clone(),
                current_run_id: None,
                run_count: 0,
                created_at: now,
                updated_at: now,
            })
            .await?;
        if instance.workflow_type != request.workflow_type {
            return Err(EngineError::InstanceTypeMismatch {
                instance_id: instance_id.to_string(),
                workflow_type: instance.workflow_type,
            });
        }
        let command_id = ulid(now);
        if let Some(mut existing) = tx.lock_current_run(namespace, &instance_id).await? {
            let active = existing.status.is_running();
            let (outcome, rejection) = match request.duplicate_start_policy {
                DuplicateStartPolicy::ReturnExistingActive if active => (CommandOutcome::ReturnedExistingActive, None),
                _ => (CommandOutcome::RejectedDuplicate, Some("instance_already_started".to_owned())),
            };
            let recorded = start_recorded(request, &existing, &command_id, outcome, rejection.clone());
            let event =
                if rejection.is_some() { Event::StartRejected(recorded) } else { Event::StartAccepted(recorded) };
            let before = existing.last_sequence;
            let mut events = Vec::new();
            let sequence = append(&mut existing, &mut events, event, now);
            existing.updated_at = now;
            tx.append_events(&events).await?;
            tx.update_run(&existing).await?;
            let status = if rejection.is_some() { CommandStatus::Rejected } else { CommandStatus::Accepted };
            tx.insert_command(&command_record(namespace, &instance_id, Some(&existing.run_id), &command_id, CommandType::Start, status, outcome, rejection.clone(), &request.source, serde_json::json!({"workflow_type": request.workflow_type, "duplicate_start_policy": request.duplicate_start_policy}), now)).await?;
            tx.commit().await?;
            self.inner.cache().bump(&existing.run_id, before, existing.last_sequence);
            return Ok(StartOutcome {
                instance_id,
                run_id: existing.run_id,
                workflow_type: existing.workflow_type,
                status: existing.status,
                business_key: existing.business_key,
                duplicate_start_policy: request.duplicate_start_policy,
                command: CommandReceipt {
                    id: command_id,
                    sequence: Some(sequence),
                    status,
                    outcome,
                    rejection_reason: rejection,
                },
            });
        }
        let run_id = RunId::generate(now);
        let mut run = RunRecord {
            run_id: run_id.clone(),
            namespace: namespace.clone(),
            instance_id: instance_id.clone(),
            run_number: instance.run_count + 1,
            workflow_type: request.workflow_type.clone(),
            status: RunStatus::Pending,
            closed_reason: None,
            wait_kind: None,
            task_problem: None,
            input: request.input.clone(),
            output: None,
            business_key: request.business_key.clone(),
            visibility_labels: request.visibility_labels.clone(),
            memo: request.memo.clone(),
            search_attributes: request.search_attributes.clone(),
            last_sequence: 0,
            history_size_bytes: 0,
            pending_commands: 0,
            run_deadline_at: request.run_timeout.map(|t| time::add(now, t)),
            execution_deadline_at: request.execution_timeout.map(|t| time::add(now, t)),
            continued_from_run_id: None,
            created_at: now,
            updated_at: now,
            started_at: Some(now),
            closed_at: None,
        };
        let mut events = Vec::new();
        let event = Event::StartAccepted(start_recorded(
            request,
            &RunRecord { ..run.clone() },
            &command_id,
            CommandOutcome::StartedNew,
            None,
        ));
        let sequence = append(&mut run, &mut events, event, now);
        let event = Event::WorkflowStarted(WorkflowStarted {
            workflow_type: run.workflow_type.clone(),
            workflow_instance_id: instance_id.clone(),
            workflow_run_id: run_id.clone(),
            workflow_command_id: Some(command_id.clone()),
            run_number: run.run_number,
            input: run.input.clone(),
            business_key: run.business_key.clone(),
            visibility_labels: run.visibility_labels.clone(),
            memo: run.memo.clone(),
            search_attributes: run.search_attributes.clone(),
            execution_timeout_seconds: request.execution_timeout,
            run_timeout_seconds: request.run_timeout,
            execution_deadline_at: run.execution_deadline_at,
            run_deadline_at: run.run_deadline_at,
            continued_from_run_id: None,
            declared_signals: signals.to_vec(),
        });
        append(&mut run, &mut events, event, now);
        tx.insert_run(&run).await?;
        tx.append_events(&events).await?;
        if !run.search_attributes.is_empty() {
            tx.replace_search_attributes(&run_id, &run.search_attributes).await?;
        }
        tx.insert_command(&command_record(namespace, &instance_id, Some(&run_id), &command_id, CommandType::Start, CommandStatus::Accepted, CommandOutcome::StartedNew, None, &request.source, serde_json::json!({"workflow_type": request.workflow_type, "duplicate_start_policy": request.duplicate_start_policy}), now)).await?;
        tx.insert_task(&workflow_task(&run, now)).await?;
        instance.current_run_id = Some(run_id.clone());
        instance.run_count = run.run_number;
        instance.updated_at = now;
        tx.update_instance(&instance).await?;
        tx.notify(TaskKind::Workflow).await?;
        tx.commit().await?;
        self.inner.wake.task(TaskKind::Workflow);
        Ok(StartOutcome {
            instance_id,
            run_id,
            workflow_type: run.workflow_type,
            status: RunStatus::Pending,
            business_key: run.business_key,
            duplicate_start_policy: request.duplicate_start_policy,
            command: CommandReceipt {
                id: command_id,
                sequence: Some(sequence),
                status: CommandStatus::Accepted,
                outcome: CommandOutcome::StartedNew,
                rejection_reason: None,
            },
        })
    }

    fn check_payload(&self, what: &str, value: &Value) -> Result<(), EngineError> {
        let size = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len());
        let limits = &self.inner.config.limits;
        if size > limits.payload_max_bytes {
            return Err(EngineError::LimitExceeded(format!(
                "{what} is {size} bytes; the limit is {} bytes",
                limits.payload_max_bytes
            )));
        }
        if size > limits.payload_warn_bytes {
            tracing::warn!(size, limit = limits.payload_max_bytes, "{what} is large");
        }
        Ok(())
    }

    /// Sends signal `name` with `arguments` to the instance's current run. Buffered until a
    /// decision applies it (`SignalReceived`), in arrival order. Returns the receipt:
    /// `signal_received`, or rejected with `rejected_not_active` (closed run) or
    /// `rejected_unknown_signal` (a name the type does not declare).
    ///
    /// # Errors
    /// [`EngineError::NotFound`], [`EngineError::LimitExceeded`], [`EngineError::Store`].
    pub async fn signal(
        &self,
        namespace: &Namespace,
        instance_id: &InstanceId,
        name: &str,
        arguments: Value,
        source: &str,
    ) -> Result<CommandReceipt, EngineError> {
        self.check_payload("the signal arguments", &arguments)?;
        let payload = serde_json::json!({ "signal_name": name, "arguments": arguments });
        self.message(namespace, instance_id, CommandType::Signal, payload, source, |run, engine| {
            let declared = engine
                .inner
                .registry
                .workflow_definition(&run.workflow_type)
                .is_none_or(|d| d.signals.iter().any(|s| s == name));
            (!declared).then_some((CommandOutcome::RejectedUnknownSignal, "unknown_signal"))
        })
        .await
    }

    /// Asks the instance's current run to cancel (`CancelRequested` at its next decision; the
    /// workflow's pending waits end with a cancellation and it may clean up).
    ///
    /// # Errors
    /// [`EngineError::NotFound`], [`EngineError::Store`].
    pub async fn cancel(
        &self,
        namespace: &Namespace,
        instance_id: &InstanceId,
        reason: Option<&str>,
        source: &str,
    ) -> Result<CommandReceipt, EngineError> {
        let payload = serde_json::json!({ "reason": reason });
        self.message(namespace, instance_id, CommandType::Cancel, payload, source, |_, _| None).await
    }

    /// Records a signal or cancel command for a decision to apply, waking a workflow task.
    async fn message(
        &self,
        namespace: &Namespace,
        instance_id: &InstanceId,
        command_type: CommandType,
        payload: Value,
        source: &str,
        reject: impl Fn(&RunRecord, &Self) -> Option<(CommandOutcome, &'static str)>,
    ) -> Result<CommandReceipt, EngineError> {
        let now = self.inner.clock.now();
        let mut tx = self.inner.store.begin().await?;
        let mut run = tx
            .lock_current_run(namespace, instance_id)
            .await?
            .ok_or_else(|| EngineError::NotFound(instance_id.to_string()))?;
        let command_id = ulid(now);
        let rejection = if run.status.is_terminal() {
            Some((CommandOutcome::RejectedNotActive, "run_not_active"))
        } else {
            reject(&run, self)
        };
        let accepted_outcome = if command_type == CommandType::Signal {
            CommandOutcome::SignalReceived
        } else {
            CommandOutcome::Cancelled
        };
        let (status, outcome, reason) = match rejection {
            Some((outcome, reason)) => (CommandStatus::Rejected, outcome, Some(reason.to_owned())),
            None => (CommandStatus::Accepted, accepted_outcome, None),
        };
        let mut record = command_record(
            namespace,
            instance_id,
            Some(&run.run_id),
            &command_id,
            command_type,
            status,
            outcome,
            reason.clone(),
            source,
            payload,
            now,
        );
        if status == CommandStatus::Rejected {
            record.applied_at = Some(now);
        }
        tx.insert_command(&record).await?;
        if status == CommandStatus::Accepted {
            run.pending_commands += 1;
            run.updated_at = now;
            if tx.live_workflow_task(&run.run_id).await?.is_none() && run.task_problem.is_none() {
                tx.insert_task(&workflow_task(&run, now)).await?;
                tx.notify(TaskKind::Workflow).await?;
            }
            tx.update_run(&run).await?;
        }
        tx.commit().await?;
        self.inner.wake.task(TaskKind::Workflow);
        Ok(CommandReceipt { id: command_id, sequence: None, status, outcome, rejection_reason: reason })
    }

    /// Force-closes the instance's current run (`TerminateRequested`, `WorkflowTerminated`);
    /// its tasks, activities and timers are cancelled. No workflow code runs.
    ///
    /// # Errors
    /// [`EngineError::NotFound`], [`EngineError::Store`].
    pub async fn terminate(
        &self,
        namespace: &Namespace,
        instance_id: &InstanceId,
        reason: Option<&str>,
        source: &str,
    ) -> Result<CommandReceipt, EngineError> {
        let now = self.inner.clock.now();
        let mut tx = self.inner.store.begin().await?;
        let mut run = tx
            .lock_current_run(namespace, instance_id)
            .await?
            .ok_or_else(|| EngineError::NotFound(instance_id.to_string()))?;
        let command_id = ulid(now);
        let payload = serde_json::json!({ "reason": reason });
        if run.status.is_terminal() {
            let record = command_record(
                namespace,
                instance_id,
                Some(&run.run_id),
                &command_id,
                CommandType::Terminate,
                CommandStatus::Rejected,
                CommandOutcome::RejectedNotActive,
                Some("run_not_active".to_owned()),
                source,
                payload,
                now,
            );
            tx.insert_command(&record).await?;
            tx.commit().await?;
            return Ok(CommandReceipt {
                id: command_id,
                sequence: None,
                status: CommandStatus::Rejected,
                outcome: CommandOutcome::RejectedNotActive,
                rejection_reason: Some("run_not_active".to_owned()),
            });
        }
        let mut events = Vec::new();
        let event = Event::TerminateRequested(OperatorRequest {
            workflow_command_id: command_id.clone(),
            workflow_instance_id: instance_id.clone(),
            workflow_run_id: run.run_id.clone(),
            command_type: CommandType::Terminate,
            reason: reason.map(str::to_owned),
        });
        let sequence = append(&mut run, &mut events, event, now);
        let closed = Event::WorkflowTerminated(RunClosedByOperator {
            workflow_command_id: Some(command_id.clone()),
            workflow_instance_id: instance_id.clone(),
            workflow_run_id: run.run_id.clone(),
            failure_id: ulid(now),
            failure_category: FailureCategory::Terminated,
            closed_reason: ClosedReason::Terminated,
            message: "The workflow was terminated.".to_owned(),
            reason: reason.map(str::to_owned),
        });
        if let Some(failure) = failure_of(&run.run_id, &closed, now) {
            tx.insert_failure(&failure).await?;
        }
        append(&mut run, &mut events, closed, now);
        let cancelled =
            self.inner.close_run(tx.as_mut(), &mut run, RunStatus::Terminated, ClosedReason::Terminated, now).await?;
        tx.append_events(&events).await?;
        tx.update_run(&run).await?;
        tx.insert_command(&command_record(
            namespace,
            instance_id,
            Some(&run.run_id),
            &command_id,
            CommandType::Terminate,
            CommandStatus::Accepted,
            CommandOutcome::Terminated,
            None,
            source,
            payload,
            now,
        ))
        .await?;
        tx.commit().await?;
        self.after_close(&run.run_id, &cancelled);
        Ok(CommandReceipt {
            id: command_id,
            sequence: Some(sequence),
            status: CommandStatus::Accepted,
            outcome: CommandOutcome::Terminated,
            rejection_reason: None,
        })
    }

    pub(crate) fn after_close(&self, run_id: &RunId, cancelled: &[String]) {
        self.inner.cache().remove(run_id);
        let running = self.inner.running();
        for attempt in cancelled {
            if let Some(handle) = running.get(attempt) {
                handle.cancel();
            }
        }
        drop(running);
        self.inner.wake.run_closed();
    }

    /// Repairs the instance's current run: clears a task problem and recreates its workflow
    /// task (after a code fix, a blocked run resumes), and recreates missing activity tasks.
    /// Records `RepairRequested` when it dispatched work; `repair_not_needed` otherwise.
    ///
    /// # Errors
    /// [`EngineError::NotFound`], [`EngineError::Store`].
    pub async fn repair(
        &self,
        namespace: &Namespace,
        instance_id: &InstanceId,
        source: &str,
    ) -> Result<CommandReceipt, EngineError> {
        let now = self.inner.clock.now();
        let mut tx = self.inner.store.begin().await?;
        let mut run = tx
            .lock_current_run(namespace, instance_id)
            .await?
            .ok_or_else(|| EngineError::NotFound(instance_id.to_string()))?;
        let command_id = ulid(now);
        if run.status.is_terminal() {
            let record = command_record(
                namespace,
                instance_id,
                Some(&run.run_id),
                &command_id,
                CommandType::Repair,
                CommandStatus::Rejected,
                CommandOutcome::RejectedNotActive,
                Some("run_not_active".to_owned()),
                source,
                Value::Null,
                now,
            );
            tx.insert_command(&record).await?;
            tx.commit().await?;
            return Ok(CommandReceipt {
                id: command_id,
                sequence: None,
                status: CommandStatus::Rejected,
                outcome: CommandOutcome::RejectedNotActive,
                rejection_reason: Some("run_not_active".to_owned()),
            });
        }
        let problem = run.task_problem;
        let mut task_type = None;
        if problem.is_some()
            || (tx.live_workflow_task(&run.run_id).await?.is_none()
                && (run.status == RunStatus::Pending || run.pending_commands > 0))
        {
            if let Some(mut task) = tx.live_workflow_task(&run.run_id).await? {
                task.status = TaskStatus::Cancelled;
                tx.update_task(&task).await?;
            }
            tx.insert_task(&workflow_task(&run, now)).await?;
            task_type = Some("workflow".to_owned());
        }
        for activity in tx.open_activities(&run.run_id).await? {
            if tx.live_activity_task(&activity.id).await?.is_none() {
                let mut task = workflow_task(&run, now);
                task.kind = TaskKind::Activity;
                task.activity_execution_id = Some(activity.id.clone());
                tx.insert_task(&task).await?;
                task_type.get_or_insert_with(|| "activity".to_owned());
            }
        }
        let outcome =
            if task_type.is_some() { CommandOutcome::RepairDispatched } else { CommandOutcome::RepairNotNeeded };
        let mut sequence = None;
        if task_type.is_some() {
            let before = run.last_sequence;
            let mut events = Vec::new();
            let event = Event::RepairRequested(RepairRequested {
                workflow_command_id: command_id.clone(),
                workflow_instance_id: instance_id.clone(),
                workflow_run_id: run.run_id.clone(),
                command_type: CommandType::Repair,
                outcome,
                task_problem: problem,
                task_type: task_type.clone(),
            });
            sequence = Some(append(&mut run, &mut events, event, now));
            run.task_problem = None;
            run.updated_at = now;
            tx.append_events(&events).await?;
            tx.update_run(&run).await?;
            tx.notify(TaskKind::Workflow).await?;
            tx.notify(TaskKind::Activity).await?;
            let _ = before;
        }
        tx.insert_command(&command_record(
            namespace,
            instance_id,
            Some(&run.run_id),
            &command_id,
            CommandType::Repair,
            CommandStatus::Accepted,
            outcome,
            None,
            source,
            Value::Null,
            now,
        ))
        .await?;
        tx.commit().await?;
        self.inner.cache().remove(&run.run_id);
        self.inner.wake.task(TaskKind::Workflow);
        self.inner.wake.task(TaskKind::Activity);
        Ok(CommandReceipt {
            id: command_id,
            sequence,
            status: CommandStatus::Accepted,
            outcome,
            rejection_reason: None,
        })
    }
}

fn start_recorded(
    request: &StartRequest,
    run: &RunRecord,
    command_id: &str,
    outcome: CommandOutcome,
    rejection_reason: Option<String>,
) -> StartRecorded {
    StartRecorded {
        workflow_command_id: command_id.to_owned(),
        workflow_instance_id: run.instance_id.clone(),
        workflow_run_id: run.run_id.clone(),
        workflow_type: request.workflow_type.clone(),
        business_key: request.business_key.clone(),
        visibility_labels: request.visibility_labels.clone(),
        memo: request.memo.clone(),
        search_attributes: request.search_attributes.clone(),
        outcome,
        rejection_reason,
    }
}

#[allow(clippy::too_many_arguments)]
fn command_record(
    namespace: &Namespace,
    instance_id: &InstanceId,
    run_id: Option<&RunId>,
    id: &str,
    command_type: CommandType,
    status: CommandStatus,
    outcome: CommandOutcome,
    rejection_reason: Option<String>,
    source: &str,
    payload: Value,
    now: time::Timestamp,
) -> CommandRecord {
    CommandRecord {
        id: id.to_owned(),
        namespace: namespace.clone(),
        instance_id: instance_id.clone(),
        run_id: run_id.cloned(),
        command_type,
        status,
        outcome: Some(outcome),
        rejection_reason,
        source: source.to_owned(),
        payload,
        created_at: now,
        applied_at: None,
    }
}
