//! The operator's side of workflows, beyond the four MCP tools: a run's full picture
//! (activities with their attempts), following its events, and signal, cancel, terminate and
//! repair. The CLI uses these; so can library users.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use waymark_engine::store::{ActivityRecord, AttemptRecord};
use waymark_engine::{CommandReceipt, InstanceId, RunId, RunStatus};

use super::{
    CommandView, FailureView, GetWorkflowResultParams, HistoryEventView, WorkflowResultView, failure_view,
    history_event_view, namespace,
};
use crate::clock::iso;
use crate::{Principal, Service, ServiceError};

/// A run in full: its result, its activities with their attempts, and its latest failures.
#[derive(Clone, Debug, Serialize)]
pub struct WorkflowShowView {
    /// `get_workflow_result` for the run.
    #[serde(flatten)]
    pub result: WorkflowResultView,
    /// 1 for the workflow's first run.
    pub run_number: u32,
    /// The run's input.
    pub input: Value,
    /// Events in the run's history.
    pub history_event_count: u64,
    /// Bytes of payload JSON in the run's history.
    pub history_size_bytes: u64,
    /// Signals and cancel requests not yet applied.
    pub pending_commands: u32,
    /// The run this one continues, if any.
    pub continued_from_run_id: Option<String>,
    /// When the run times out (ISO-8601).
    pub run_deadline_at: Option<String>,
    /// When the workflow (all its runs) times out (ISO-8601).
    pub execution_deadline_at: Option<String>,
    /// Activity executions in scheduling order, each with its attempts.
    pub activities: Vec<ActivityView>,
    /// The latest failures, newest first.
    pub failures: Vec<FailureView>,
}

/// An activity execution.
#[derive(Clone, Debug, Serialize)]
pub struct ActivityView {
    /// The execution id (its idempotency key).
    pub id: String,
    /// The activity type.
    pub activity_type: String,
    /// The workflow command's position.
    pub sequence: u64,
    /// `scheduled`, `running`, `completed`, `failed`, `timed_out`, `cancelled`.
    pub status: &'static str,
    /// Its input.
    pub input: Value,
    /// Attempts started.
    pub attempt_count: u32,
    /// ISO-8601.
    pub scheduled_at: String,
    /// ISO-8601.
    pub closed_at: Option<String>,
    /// Its attempts, first first.
    pub attempts: Vec<AttemptView>,
}

/// An activity attempt.
#[derive(Clone, Debug, Serialize)]
pub struct AttemptView {
    /// The attempt id.
    pub id: String,
    /// 1 for the first attempt.
    pub attempt_number: u32,
    /// `running`, `completed`, `failed`, `expired`, `cancelled`.
    pub status: &'static str,
    /// The worker that ran it.
    pub worker_id: String,
    /// ISO-8601.
    pub started_at: String,
    /// ISO-8601.
    pub lease_expires_at: String,
    /// ISO-8601.
    pub closed_at: Option<String>,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

/// New events of a run, for following it.
#[derive(Clone, Debug, Serialize)]
pub struct RunEventsView {
    /// The run's status when read (before its events, so a closed run's events are all here
    /// or in earlier reads).
    pub status: RunStatus,
    /// The run's last sequence when read.
    pub last_sequence: u64,
    /// Events after the asked sequence, oldest first.
    pub events: Vec<HistoryEventView>,
}

/// The operator commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorCommand {
    /// Ask the workflow to cancel.
    Cancel,
    /// Force-close the current run.
    Terminate,
    /// Clear a task problem and recreate missing work.
    Repair,
}

fn receipt(r: CommandReceipt) -> CommandView {
    CommandView {
        id: r.id,
        sequence: r.sequence,
        status: r.status,
        outcome: r.outcome,
        rejection_reason: r.rejection_reason,
    }
}

fn not_found(workflow_id: &str, run: Option<&str>) -> ServiceError {
    match run {
        Some(run) => ServiceError::not_found(format!("Workflow {workflow_id} has no run {run}.")),
        None => ServiceError::not_found(format!("Workflow {workflow_id} not found.")),
    }
}

fn instance(workflow_id: &str) -> Result<InstanceId, ServiceError> {
    InstanceId::parse(workflow_id).map_err(|_| not_found(workflow_id, None))
}

impl Service {
    /// The workflow types this process can run (registered, exposed to MCP or not), by key.
    pub fn workflow_types(&self) -> Vec<String> {
        self.engine().registry().workflow_definitions().map(|d| d.key.clone()).collect()
    }

    /// A run in full (the current run unless `run_id`).
    ///
    /// # Errors
    /// `not_found`, `service_unavailable`.
    pub async fn workflow_show(
        &self,
        principal: &Principal,
        workflow_id: &str,
        run_id: Option<&str>,
    ) -> Result<WorkflowShowView, ServiceError> {
        let ns = namespace(principal);
        let record =
            self.select_run(&ns, Some(workflow_id), run_id).await?.ok_or_else(|| not_found(workflow_id, run_id))?;
        let params = GetWorkflowResultParams {
            workflow_id: workflow_id.to_owned(),
            run_id: Some(record.run_id.to_string()),
            ..GetWorkflowResultParams::default()
        };
        let mut result = self.get_workflow_result(principal, params).await?;
        // The operator's view shows the output whole, however large (the MCP result reads it
        // in parts).
        if let Some(details) = result.details.as_mut().filter(|d| d.output_text.is_some()) {
            details.output = record.output.clone();
            details.output_size_bytes = None;
            details.output_text = None;
            details.next_cursor = None;
        }
        let store = self.engine().store();
        let activities = store.attempts(&record.run_id).await?;
        let failures = store.failures(&record.run_id, 10).await?;
        Ok(WorkflowShowView {
            result,
            run_number: record.run_number,
            input: record.input.clone(),
            history_event_count: record.last_sequence,
            history_size_bytes: record.history_size_bytes,
            pending_commands: record.pending_commands,
            continued_from_run_id: record.continued_from_run_id.as_ref().map(ToString::to_string),
            run_deadline_at: record.run_deadline_at.map(iso),
            execution_deadline_at: record.execution_deadline_at.map(iso),
            activities: activities.iter().map(activity_view).collect(),
            failures: failures.into_iter().map(failure_view).collect(),
        })
    }

    /// The events of run `run_id` after sequence `after` (at most `limit`; with payload
    /// previews when `payloads`), with the run's status read first.
    ///
    /// # Errors
    /// `not_found` when the run is not in this workspace; `service_unavailable`.
    pub async fn workflow_events_after(
        &self,
        principal: &Principal,
        run_id: &str,
        after: u64,
        limit: u64,
        payloads: bool,
    ) -> Result<RunEventsView, ServiceError> {
        let ns = namespace(principal);
        let id =
            RunId::parse(run_id).map_err(|_| ServiceError::not_found(format!("Workflow run {run_id} not found.")))?;
        let store = self.engine().store();
        let run = store
            .run(&ns, &id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("Workflow run {run_id} not found.")))?;
        let events = store.history_after(&id, after, limit).await?;
        Ok(RunEventsView {
            status: run.status,
            last_sequence: run.last_sequence,
            events: events.iter().map(|e| history_event_view(e, payloads)).collect(),
        })
    }

    /// Waits up to `timeout` for run `run_id` to close (at once when it closes in this
    /// process; within 200 ms when it closes elsewhere).
    ///
    /// # Errors
    /// `service_unavailable`.
    pub async fn workflow_wait_closed(
        &self,
        principal: &Principal,
        run_id: &str,
        timeout: Duration,
    ) -> Result<(), ServiceError> {
        let Ok(id) = RunId::parse(run_id) else { return Ok(()) };
        self.engine().wait_closed(&namespace(principal), &id, timeout).await?;
        Ok(())
    }

    /// Sends signal `name` with `arguments` to the workflow's current run (buffered until its
    /// next decision). The receipt says `signal_received`, or rejected (`rejected_not_active`,
    /// `rejected_unknown_signal`).
    ///
    /// # Errors
    /// `not_found`, `limit_exceeded` (arguments over 2 MiB), `service_unavailable`.
    pub async fn workflow_signal(
        &self,
        principal: &Principal,
        workflow_id: &str,
        name: &str,
        arguments: Value,
        source: &str,
    ) -> Result<CommandView, ServiceError> {
        let id = instance(workflow_id)?;
        Ok(receipt(self.engine().signal(&namespace(principal), &id, name, arguments, source).await?))
    }

    /// Cancels, terminates or repairs the workflow's current run; the receipt says what
    /// happened (a closed run is `rejected_not_active`).
    ///
    /// # Errors
    /// `not_found`, `service_unavailable`.
    pub async fn workflow_operate(
        &self,
        principal: &Principal,
        workflow_id: &str,
        command: OperatorCommand,
        reason: Option<&str>,
        source: &str,
    ) -> Result<CommandView, ServiceError> {
        let id = instance(workflow_id)?;
        let ns = namespace(principal);
        let engine = self.engine();
        let done = match command {
            OperatorCommand::Cancel => engine.cancel(&ns, &id, reason, source).await?,
            OperatorCommand::Terminate => engine.terminate(&ns, &id, reason, source).await?,
            OperatorCommand::Repair => engine.repair(&ns, &id, source).await?,
        };
        Ok(receipt(done))
    }
}

fn activity_view((activity, attempts): &(ActivityRecord, Vec<AttemptRecord>)) -> ActivityView {
    ActivityView {
        id: activity.id.clone(),
        activity_type: activity.activity_type.clone(),
        sequence: activity.sequence,
        status: activity.status.as_str(),
        input: activity.input.clone(),
        attempt_count: activity.attempt_count,
        scheduled_at: iso(activity.scheduled_at),
        closed_at: activity.closed_at.map(iso),
        attempts: attempts
            .iter()
            .map(|a| AttemptView {
                id: a.id.clone(),
                attempt_number: a.attempt_number,
                status: a.status.as_str(),
                worker_id: a.worker_id.clone(),
                started_at: iso(a.started_at),
                lease_expires_at: iso(a.lease_expires_at),
                closed_at: a.closed_at.map(iso),
                failure: a.failure.clone(),
            })
            .collect(),
    }
}
