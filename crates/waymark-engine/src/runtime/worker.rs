//! The worker loops: workflow tasks, activity tasks, timers, and the sweep (deadlines and
//! repair), plus running activity attempts with lease renewal and timeouts.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::task::JoinHandle;

use super::cache::RunCache;
use super::step::{EagerAttempt, StepOutcome, append, failure_of, workflow_task};
use super::{Engine, Inner, stats};
use crate::activity::{ActivityContext, ActivityHandle, ActivityInfo};
use crate::event::{
    ActivityCompleted, ActivityFailed, ActivityHeartbeatRecorded, ActivityRef, ActivityRetryScheduled, ActivityStarted,
    ActivityTimedOut, Event, TimerFired, WorkflowTimedOut,
};
use crate::ids::ulid;
use crate::status::{ClosedReason, FailureCategory, RunStatus};
use crate::store::{
    ActivityRecord, ActivityStatus, AttemptRecord, AttemptStatus, StoreError, TaskKind, TaskRecord, TaskStatus,
    TimerStatus,
};
use crate::time::{self, Timestamp};
use crate::workflow::ActivityError;

/// The running workers of an [`Engine`]; [`WorkerHandle::shutdown`] stops them.
#[derive(Debug)]
pub struct WorkerHandle {
    engine: Engine,
    stop: watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
}

/// How an attempt ended, as its runner saw it.
enum AttemptEnd {
    Returned(Result<Value, ActivityError>),
    TimedOut(&'static str),
    /// The attempt is no longer this worker's (cancelled, expired, or shutting down).
    Lost,
}

impl Inner {
    pub(crate) fn cache(&self) -> MutexGuard<'_, RunCache> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn running(&self) -> MutexGuard<'_, std::collections::HashMap<String, ActivityHandle>> {
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A free activity slot, when this process runs workers and can run `activity_type`.
    pub(crate) fn eager_slot(&self, activity_type: &str) -> Option<OwnedSemaphorePermit> {
        if !self.workers_spawned.load(Ordering::Relaxed) || !self.registry.has_activity(activity_type) {
            return None;
        }
        Arc::clone(&self.slots).try_acquire_owned().ok()
    }

    /// Starts a new attempt of `activity` on this worker: the attempt row, and the activity
    /// and its task marked running and leased.
    pub(crate) fn new_attempt(
        &self,
        activity: &mut ActivityRecord,
        task: &mut TaskRecord,
        now: Timestamp,
    ) -> AttemptRecord {
        let lease_expires_at = time::add(now, self.config.lease);
        let attempt = AttemptRecord {
            id: ulid(now),
            activity_execution_id: activity.id.clone(),
            attempt_number: activity.attempt_count + 1,
            status: AttemptStatus::Running,
            worker_id: self.config.worker_id.clone(),
            started_at: now,
            lease_expires_at,
            closed_at: None,
            failure: None,
        };
        activity.attempt_count += 1;
        activity.status = ActivityStatus::Running;
        activity.current_attempt_id = Some(attempt.id.clone());
        task.status = TaskStatus::Leased;
        task.lease_owner = Some(self.config.worker_id.clone());
        task.lease_expires_at = Some(lease_expires_at);
        task.attempt_count += 1;
        task.updated_at = now;
        attempt
    }
}

fn activity_ref(activity: &ActivityRecord) -> ActivityRef {
    ActivityRef {
        activity_execution_id: activity.id.clone(),
        activity_type: activity.activity_type.clone(),
        sequence: activity.sequence,
    }
}

impl Engine {
    /// Starts this process's workers: workflow tasks, activities (up to
    /// `activity_concurrency` at once), timers and the sweep. Call once per process.
    pub async fn spawn_workers(&self) -> WorkerHandle {
        self.inner.workers_spawned.store(true, Ordering::Relaxed);
        let (stop, stopped) = watch::channel(false);
        let mut loops = Vec::new();
        match self.inner.store.listen().await {
            Ok(Some(mut rx)) => {
                let engine = self.clone();
                let mut stopped = stopped.clone();
                loops.push(tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            kind = rx.recv() => match kind {
                                Some(TaskKind::Workflow) => { engine.inner.wake.workflow.notify_one(); engine.inner.wake.timer.notify_one(); }
                                Some(TaskKind::Activity) => engine.inner.wake.activity.notify_one(),
                                None => break,
                            },
                            _ = stopped.changed() => break,
                        }
                    }
                }));
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "no cross-process wake-ups; polling only"),
        }
        let engine = self.clone();
        loops.push(tokio::spawn(engine.workflow_loop(stopped.clone())));
        let engine = self.clone();
        loops.push(tokio::spawn(engine.activity_loop(stopped.clone())));
        let engine = self.clone();
        loops.push(tokio::spawn(engine.timer_loop(stopped.clone())));
        let engine = self.clone();
        loops.push(tokio::spawn(engine.sweep_loop(stopped)));
        WorkerHandle { engine: self.clone(), stop, loops }
    }

    /// Waits for a wake-up, the poll interval (real time and engine clock) or a stop.
    async fn idle(&self, notify: &tokio::sync::Notify, stopped: &mut watch::Receiver<bool>, wait: Duration) {
        let clock_deadline = time::add(self.inner.clock.now(), wait);
        tokio::select! {
            () = notify.notified() => {}
            () = tokio::time::sleep(wait) => {}
            () = self.inner.clock.sleep_until(clock_deadline) => {}
            _ = stopped.changed() => {}
        }
    }

    async fn workflow_loop(self, mut stopped: watch::Receiver<bool>) {
        let mut failures = 0_u32;
        while !*stopped.borrow() {
            match self.workflow_task_once().await {
                Ok(true) => failures = 0,
                Ok(false) => self.idle(&self.inner.wake.workflow, &mut stopped, self.inner.config.poll_interval).await,
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, "workflow task failed; retrying");
                    self.idle(&self.inner.wake.workflow, &mut stopped, backoff(failures)).await;
                }
            }
        }
    }

    /// Claims one due workflow task and decides its run. `Ok(false)` when none is due.
    pub(crate) async fn workflow_task_once(&self) -> Result<bool, StoreError> {
        let now = self.inner.clock.now();
        let mut tx = self.inner.store.begin().await?;
        let Some(mut task) = tx.claim_task(TaskKind::Workflow, now).await? else { return Ok(false) };
        let run = tx.lock_run(&task.run_id).await?;
        task.attempt_count += 1;
        task.updated_at = now;
        task.lease_owner = Some(self.inner.config.worker_id.clone());
        let outcome = match run {
            Some(run) if run.status.is_running() => {
                let outcome = self.inner.step(tx.as_mut(), run, Vec::new(), now).await?;
                task.status = if outcome.blocked { TaskStatus::Failed } else { TaskStatus::Completed };
                outcome
            }
            _ => {
                task.status = TaskStatus::Cancelled;
                StepOutcome::default()
            }
        };
        tx.update_task(&task).await?;
        tx.commit().await?;
        stats::bump(&self.inner.stats.workflow_tasks);
        let eager = outcome.after_commit(&self.inner);
        self.run_attempts(eager);
        Ok(true)
    }

    async fn activity_loop(self, mut stopped: watch::Receiver<bool>) {
        let mut failures = 0_u32;
        while !*stopped.borrow() {
            let permit = tokio::select! {
                permit = Arc::clone(&self.inner.slots).acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
                _ = stopped.changed() => break,
            };
            match self.claim_activity(permit).await {
                Ok(Some(attempts)) => {
                    failures = 0;
                    self.run_attempts(attempts);
                }
                Ok(None) => self.idle(&self.inner.wake.activity, &mut stopped, self.inner.config.poll_interval).await,
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, "activity claim failed; retrying");
                    self.idle(&self.inner.wake.activity, &mut stopped, backoff(failures)).await;
                }
            }
        }
    }

    /// Claims one due activity task (a new one, a retry, or one whose lease expired) and
    /// starts an attempt (`ActivityStarted`). An activity out of time or attempts is closed
    /// instead (`ActivityTimedOut`, a decision). `Ok(None)` when none is due.
    async fn claim_activity(&self, permit: OwnedSemaphorePermit) -> Result<Option<Vec<EagerAttempt>>, StoreError> {
        let now = self.inner.clock.now();
        let mut tx = self.inner.store.begin().await?;
        let Some(mut task) = tx.claim_task(TaskKind::Activity, now).await? else { return Ok(None) };
        let activity = match &task.activity_execution_id {
            Some(id) => tx.activity(id).await?,
            None => None,
        };
        let run = tx.lock_run(&task.run_id).await?;
        let (Some(mut activity), Some(mut run)) = (activity, run) else {
            task.status = TaskStatus::Cancelled;
            task.updated_at = now;
            tx.update_task(&task).await?;
            tx.commit().await?;
            return Ok(Some(Vec::new()));
        };
        if !activity.status.is_open() || run.status.is_terminal() {
            task.status = TaskStatus::Cancelled;
            task.updated_at = now;
            tx.update_task(&task).await?;
            tx.commit().await?;
            return Ok(Some(Vec::new()));
        }
        let lease_expired = task.status == TaskStatus::Leased;
        if lease_expired
            && let Some(id) = &activity.current_attempt_id
            && let Some(mut old) = tx.attempt(id).await?
            && old.status == AttemptStatus::Running
        {
            old.status = AttemptStatus::Expired;
            old.closed_at = Some(now);
            old.failure = Some("lease expired".to_owned());
            tx.update_attempt(&old).await?;
        }
        let policy = &activity.options.retry_policy;
        let out_of_time =
            activity.options.schedule_to_close_timeout.map(|t| now >= time::add(activity.scheduled_at, t));
        let out_of_attempts =
            lease_expired && policy.maximum_attempts != 0 && activity.attempt_count >= policy.maximum_attempts;
        if out_of_time == Some(true) || out_of_attempts {
            let kind = if out_of_time == Some(true) { "schedule_to_close" } else { "start_to_close" };
            let input = timed_out(&activity, kind, now);
            activity.status = ActivityStatus::TimedOut;
            activity.closed_at = Some(now);
            tx.update_activity(&activity).await?;
            task.status = TaskStatus::Completed;
            task.updated_at = now;
            tx.update_task(&task).await?;
            let outcome = self.inner.step(tx.as_mut(), run, vec![input], now).await?;
            tx.commit().await?;
            return Ok(Some(outcome.after_commit(&self.inner)));
        }
        let attempt = self.inner.new_attempt(&mut activity, &mut task, now);
        let before = run.last_sequence;
        let mut events = Vec::new();
        let event = Event::ActivityStarted(ActivityStarted {
            activity: activity_ref(&activity),
            activity_attempt_id: attempt.id.clone(),
            attempt_number: attempt.attempt_number,
            lease_expires_at: attempt.lease_expires_at,
            worker_id: attempt.worker_id.clone(),
        });
        append(&mut run, &mut events, event, now);
        run.updated_at = now;
        tx.append_events(&events).await?;
        tx.update_run(&run).await?;
        tx.insert_attempt(&attempt).await?;
        tx.update_activity(&activity).await?;
        tx.update_task(&task).await?;
        tx.commit().await?;
        stats::bump(&self.inner.stats.activity_attempts);
        self.inner.cache().bump(&run.run_id, before, run.last_sequence);
        Ok(Some(vec![EagerAttempt { activity, attempt, permit }]))
    }

    /// Runs attempts in the background; each completion may start the next (eager) ones.
    fn run_attempts(&self, attempts: Vec<EagerAttempt>) {
        for attempt in attempts {
            let engine = self.clone();
            tokio::spawn(async move {
                let mut queue = VecDeque::from([attempt]);
                while let Some(next) = queue.pop_front() {
                    queue.extend(engine.execute(next).await);
                }
            });
        }
    }

    /// Runs one attempt to its end and records the result; returns attempts started eagerly
    /// by the decision that followed.
    async fn execute(&self, eager: EagerAttempt) -> Vec<EagerAttempt> {
        let EagerAttempt { activity, attempt, permit } = eager;
        let info = ActivityInfo {
            namespace: activity.namespace.clone(),
            instance_id: activity.instance_id.clone(),
            run_id: activity.run_id.clone(),
            activity_type: activity.activity_type.clone(),
            activity_execution_id: activity.id.clone(),
            activity_attempt_id: attempt.id.clone(),
            attempt_number: attempt.attempt_number,
        };
        let (ctx, handle) = ActivityContext::with_handle(info, Arc::clone(&self.inner.clock));
        self.inner.running().insert(attempt.id.clone(), handle);
        let end = match self.inner.registry.erased_activity(&activity.activity_type) {
            None => AttemptEnd::Returned(Err(ActivityError::new(
                "ActivityNotRegistered",
                format!("activity type {:?} is not registered in this process", activity.activity_type),
            ))),
            Some(body) => {
                let run = body.run(ctx, activity.input.clone());
                let deadline = time::add(attempt.started_at, activity.options.start_to_close_timeout);
                tokio::select! {
                    result = run => AttemptEnd::Returned(result),
                    () = self.until(deadline) => AttemptEnd::TimedOut("start_to_close"),
                    end = self.keep_lease(&activity, &attempt) => end,
                }
            }
        };
        self.inner.running().remove(&attempt.id);
        let mut delay = Duration::from_millis(50);
        for _ in 0..8 {
            match self.finish_attempt(&activity, &attempt, &end).await {
                Ok(next) => {
                    drop(permit);
                    return next;
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt = %attempt.id, "recording an activity result failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        tracing::error!(attempt = %attempt.id, "could not record the activity result; its lease will expire and it will run again");
        Vec::new()
    }

    /// Completes at `deadline` on the engine clock.
    async fn until(&self, deadline: Timestamp) {
        while self.inner.clock.now() < deadline {
            self.inner.clock.sleep_until(deadline).await;
        }
    }

    /// Renews the attempt's lease every third of a lease, recording heartbeat progress; ends
    /// when the attempt is no longer this worker's or its heartbeat timeout passes.
    async fn keep_lease(&self, activity: &ActivityRecord, attempt: &AttemptRecord) -> AttemptEnd {
        let every = (self.inner.config.lease / 3).max(Duration::from_millis(10));
        let every =
            activity.options.heartbeat_timeout.map_or(every, |h| every.min((h / 2).max(Duration::from_millis(10))));
        let mut last_heartbeat = attempt.started_at;
        loop {
            let next = time::add(self.inner.clock.now(), every);
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = self.until(next) => {}
            }
            let progress = self.inner.running().get(&attempt.id).and_then(ActivityHandle::take_progress);
            let now = self.inner.clock.now();
            if progress.is_some() {
                last_heartbeat = now;
            }
            if let Some(timeout) = activity.options.heartbeat_timeout
                && now >= time::add(last_heartbeat, timeout)
            {
                return AttemptEnd::TimedOut("heartbeat");
            }
            match self.renew(activity, attempt, progress, now).await {
                Ok(true) => {}
                Ok(false) => {
                    if let Some(handle) = self.inner.running().get(&attempt.id) {
                        handle.cancel();
                    }
                    return AttemptEnd::Lost;
                }
                Err(e) => tracing::warn!(error = %e, attempt = %attempt.id, "lease renewal failed"),
            }
        }
    }

    /// Extends the attempt's lease; `Ok(false)` when the attempt is no longer running.
    async fn renew(
        &self,
        activity: &ActivityRecord,
        attempt: &AttemptRecord,
        progress: Option<Value>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.inner.store.begin().await?;
        let run = if progress.is_some() { tx.lock_run(&activity.run_id).await? } else { None };
        let Some(mut stored) = tx.attempt(&attempt.id).await? else { return Ok(false) };
        if stored.status != AttemptStatus::Running {
            return Ok(false);
        }
        let lease_expires_at = time::add(now, self.inner.config.lease);
        stored.lease_expires_at = lease_expires_at;
        tx.update_attempt(&stored).await?;
        if let Some(mut task) = tx.live_activity_task(&activity.id).await? {
            task.lease_expires_at = Some(lease_expires_at);
            task.updated_at = now;
            tx.update_task(&task).await?;
        }
        let mut bumped = None;
        if let (Some(progress), Some(mut run)) = (progress, run) {
            let before = run.last_sequence;
            let mut events = Vec::new();
            let event = Event::ActivityHeartbeatRecorded(ActivityHeartbeatRecorded {
                activity: activity_ref(activity),
                activity_attempt_id: attempt.id.clone(),
                attempt_number: attempt.attempt_number,
                heartbeat_at: now,
                lease_expires_at,
                progress,
            });
            append(&mut run, &mut events, event, now);
            run.updated_at = now;
            tx.append_events(&events).await?;
            tx.update_run(&run).await?;
            bumped = Some((run.run_id.clone(), before, run.last_sequence));
        }
        tx.commit().await?;
        if let Some((run_id, from, to)) = bumped {
            self.inner.cache().bump(&run_id, from, to);
        }
        Ok(true)
    }

    /// Records how an attempt ended: a result (a decision follows), a retry (no decision), or
    /// a final failure or timeout (a decision follows). A late result (the attempt is no
    /// longer current: expired, cancelled, or the run closed) is ignored.
    async fn finish_attempt(
        &self,
        activity: &ActivityRecord,
        attempt: &AttemptRecord,
        end: &AttemptEnd,
    ) -> Result<Vec<EagerAttempt>, StoreError> {
        let now = self.inner.clock.now();
        let mut tx = self.inner.store.begin().await?;
        let Some(mut run) = tx.lock_run(&activity.run_id).await? else { return Ok(Vec::new()) };
        let stored_attempt = tx.attempt(&attempt.id).await?;
        let stored_activity = tx.activity(&activity.id).await?;
        let (Some(mut stored_attempt), Some(mut current)) = (stored_attempt, stored_activity) else {
            return Ok(Vec::new());
        };
        let is_current = stored_attempt.status == AttemptStatus::Running
            && current.current_attempt_id.as_deref() == Some(attempt.id.as_str())
            && current.status.is_open()
            && run.status.is_running();
        if !is_current || matches!(end, AttemptEnd::Lost) {
            return Ok(Vec::new());
        }
        let mut task = tx.live_activity_task(&activity.id).await?;
        let limits = &self.inner.config.limits;
        let (result, timeout_kind) = match end {
            AttemptEnd::Returned(Ok(value)) => {
                let size = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len());
                if size > limits.payload_max_bytes {
                    (
                        Err(ActivityError::non_retryable(
                            "PayloadTooLarge",
                            format!(
                                "the activity result is {size} bytes; the limit is {} bytes",
                                limits.payload_max_bytes
                            ),
                        )),
                        None,
                    )
                } else {
                    (Ok(value.clone()), None)
                }
            }
            AttemptEnd::Returned(Err(e)) => (Err(e.clone()), None),
            AttemptEnd::TimedOut(kind) => (
                Err(ActivityError::new(
                    "ActivityTimedOut",
                    format!("the attempt did not finish within its {kind} timeout"),
                )),
                Some(*kind),
            ),
            AttemptEnd::Lost => return Ok(Vec::new()),
        };
        stored_attempt.closed_at = Some(now);
        let input = match result {
            Ok(value) => {
                stored_attempt.status = AttemptStatus::Completed;
                current.status = ActivityStatus::Completed;
                current.closed_at = Some(now);
                Event::ActivityCompleted(ActivityCompleted {
                    activity: activity_ref(&current),
                    activity_attempt_id: attempt.id.clone(),
                    attempt_number: attempt.attempt_number,
                    result: value,
                })
            }
            Err(error) => {
                stored_attempt.status = AttemptStatus::Failed;
                stored_attempt.failure = Some(format!("{}: {}", error.exception_type, error.message));
                let policy = &current.options.retry_policy;
                let mut backoff =
                    policy.next_backoff(attempt.attempt_number, &error.exception_type, error.non_retryable);
                let mut out_of_time = false;
                if let (Some(wait), Some(limit)) = (backoff, current.options.schedule_to_close_timeout)
                    && time::add(now, wait) >= time::add(current.scheduled_at, limit)
                {
                    backoff = None;
                    out_of_time = true;
                }
                if let Some(wait) = backoff {
                    let available_at = time::add(now, wait);
                    current.status = ActivityStatus::Scheduled;
                    if let Some(task) = &mut task {
                        task.status = TaskStatus::Ready;
                        task.available_at = available_at;
                        task.lease_owner = None;
                        task.lease_expires_at = None;
                        task.updated_at = now;
                    }
                    let before = run.last_sequence;
                    let mut events = Vec::new();
                    let event = Event::ActivityRetryScheduled(ActivityRetryScheduled {
                        activity: activity_ref(&current),
                        activity_attempt_id: attempt.id.clone(),
                        attempt_number: attempt.attempt_number,
                        retry_available_at: available_at,
                        retry_backoff_seconds: wait,
                        max_attempts: policy.maximum_attempts,
                        retry_reason: if timeout_kind.is_some() { "timed_out" } else { "failed" }.to_owned(),
                        exception_type: Some(error.exception_type.clone()),
                        message: error.message.clone(),
                    });
                    append(&mut run, &mut events, event, now);
                    run.updated_at = now;
                    tx.append_events(&events).await?;
                    tx.update_run(&run).await?;
                    tx.update_attempt(&stored_attempt).await?;
                    tx.update_activity(&current).await?;
                    if let Some(task) = &task {
                        tx.update_task(task).await?;
                    } else {
                        let mut fresh = workflow_task(&run, now);
                        fresh.kind = TaskKind::Activity;
                        fresh.available_at = available_at;
                        fresh.activity_execution_id = Some(current.id.clone());
                        tx.insert_task(&fresh).await?;
                    }
                    tx.notify(TaskKind::Activity).await?;
                    tx.commit().await?;
                    stats::bump(&self.inner.stats.activity_retries);
                    self.inner.cache().bump(&run.run_id, before, run.last_sequence);
                    return Ok(Vec::new());
                }
                current.closed_at = Some(now);
                if out_of_time || timeout_kind.is_some() {
                    current.status = ActivityStatus::TimedOut;
                    let kind = if out_of_time { "schedule_to_close" } else { timeout_kind.unwrap_or("start_to_close") };
                    let mut event = timed_out(&current, kind, now);
                    if let Event::ActivityTimedOut(e) = &mut event {
                        e.activity_attempt_id = Some(attempt.id.clone());
                    }
                    event
                } else {
                    current.status = ActivityStatus::Failed;
                    let exhausted =
                        !error.non_retryable && !policy.non_retryable_error_types.contains(&error.exception_type);
                    Event::ActivityFailed(ActivityFailed {
                        activity: activity_ref(&current),
                        activity_attempt_id: attempt.id.clone(),
                        attempt_number: attempt.attempt_number,
                        failure_id: ulid(now),
                        failure_category: if exhausted {
                            FailureCategory::Activity
                        } else {
                            FailureCategory::Application
                        },
                        non_retryable: error.non_retryable,
                        exception_type: error.exception_type.clone(),
                        message: error.message.clone(),
                    })
                }
            }
        };
        tx.update_attempt(&stored_attempt).await?;
        tx.update_activity(&current).await?;
        if let Some(task) = &mut task {
            task.status = TaskStatus::Completed;
            task.updated_at = now;
            tx.update_task(task).await?;
        }
        let completed = matches!(input, Event::ActivityCompleted(_));
        let outcome = self.inner.step(tx.as_mut(), run, vec![input], now).await?;
        tx.commit().await?;
        stats::bump(if completed {
            &self.inner.stats.activities_completed
        } else {
            &self.inner.stats.activities_failed
        });
        Ok(outcome.after_commit(&self.inner))
    }

    async fn timer_loop(self, mut stopped: watch::Receiver<bool>) {
        let mut failures = 0_u32;
        while !*stopped.borrow() {
            match self.fire_timer_once().await {
                Ok(true) => failures = 0,
                Ok(false) => self.idle(&self.inner.wake.timer, &mut stopped, self.inner.config.poll_interval).await,
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, "timer failed; retrying");
                    self.idle(&self.inner.wake.timer, &mut stopped, backoff(failures)).await;
                }
            }
        }
    }

    /// Fires one due timer (`TimerFired`, a decision). `Ok(false)` when none is due.
    pub(crate) async fn fire_timer_once(&self) -> Result<bool, StoreError> {
        let now = self.inner.clock.now();
        let mut tx = self.inner.store.begin().await?;
        let Some(mut timer) = tx.claim_due_timer(now).await? else { return Ok(false) };
        let run = tx.lock_run(&timer.run_id).await?;
        timer.status = TimerStatus::Fired;
        tx.update_timer(&timer).await?;
        let outcome = match run {
            Some(run) if run.status.is_running() => {
                let input = Event::TimerFired(TimerFired {
                    timer_id: timer.id.clone(),
                    sequence: timer.sequence,
                    delay_seconds: timer.delay,
                    fire_at: timer.fire_at,
                    fired_at: now,
                });
                self.inner.step(tx.as_mut(), run, vec![input], now).await?
            }
            _ => StepOutcome::default(),
        };
        tx.commit().await?;
        stats::bump(&self.inner.stats.timers_fired);
        let eager = outcome.after_commit(&self.inner);
        self.run_attempts(eager);
        Ok(true)
    }

    async fn sweep_loop(self, mut stopped: watch::Receiver<bool>) {
        let never = tokio::sync::Notify::new();
        while !*stopped.borrow() {
            if let Err(e) = self.sweep_once().await {
                tracing::warn!(error = %e, "sweep failed");
            }
            self.idle(&never, &mut stopped, self.inner.config.sweep_interval).await;
        }
    }

    /// One pass of the deadline watchdog and the repair sweep: times out overdue runs
    /// (`WorkflowTimedOut`), recreates missing workflow and activity tasks. Returns how many
    /// runs or activities it acted on.
    ///
    /// # Errors
    /// [`StoreError`] when a transaction fails (nothing of it is written).
    pub async fn sweep_once(&self) -> Result<usize, StoreError> {
        let now = self.inner.clock.now();
        let mut acted = 0;
        let mut tx = self.inner.store.begin().await?;
        let mut closed = Vec::new();
        for mut run in tx.overdue_runs(now, 100).await? {
            let (kind, message) = match run.execution_deadline_at {
                Some(deadline) if deadline <= now => ("execution_timeout", "The workflow execution timed out."),
                _ => ("run_timeout", "The workflow run timed out."),
            };
            let event = Event::WorkflowTimedOut(WorkflowTimedOut {
                failure_id: ulid(now),
                timeout_kind: kind.to_owned(),
                failure_category: FailureCategory::Timeout,
                message: message.to_owned(),
                execution_deadline_at: run.execution_deadline_at,
                run_deadline_at: run.run_deadline_at,
            });
            if let Some(failure) = failure_of(&run.run_id, &event, now) {
                tx.insert_failure(&failure).await?;
            }
            let mut events = Vec::new();
            append(&mut run, &mut events, event, now);
            let cancelled =
                self.inner.close_run(tx.as_mut(), &mut run, RunStatus::Failed, ClosedReason::TimedOut, now).await?;
            tx.append_events(&events).await?;
            tx.update_run(&run).await?;
            closed.push((run.run_id.clone(), cancelled));
            acted += 1;
        }
        for run in tx.runs_missing_workflow_task(100).await? {
            tracing::info!(run_id = %run.run_id, "repair: recreating a missing workflow task");
            tx.insert_task(&workflow_task(&run, now)).await?;
            acted += 1;
        }
        for activity in tx.activities_missing_task(100).await? {
            tracing::info!(activity = %activity.id, "repair: recreating a missing activity task");
            let mut task = TaskRecord {
                id: ulid(now),
                namespace: activity.namespace.clone(),
                run_id: activity.run_id.clone(),
                kind: TaskKind::Activity,
                status: TaskStatus::Ready,
                available_at: now,
                lease_owner: None,
                lease_expires_at: None,
                attempt_count: 0,
                activity_execution_id: Some(activity.id.clone()),
                created_at: now,
                updated_at: now,
            };
            if activity.status == ActivityStatus::Running {
                // Its attempt's worker is gone with its task: make the task look expired so
                // the claim records the old attempt as expired and starts a new one.
                task.status = TaskStatus::Leased;
                task.lease_expires_at = Some(now);
            }
            tx.insert_task(&task).await?;
            acted += 1;
        }
        tx.commit().await?;
        for (run_id, cancelled) in closed {
            self.after_close(&run_id, &cancelled);
        }
        if acted > 0 {
            self.inner.wake.task(TaskKind::Workflow);
            self.inner.wake.task(TaskKind::Activity);
        }
        Ok(acted)
    }
}

fn timed_out(activity: &ActivityRecord, kind: &str, now: Timestamp) -> Event {
    Event::ActivityTimedOut(ActivityTimedOut {
        activity: activity_ref(activity),
        activity_attempt_id: activity.current_attempt_id.clone(),
        attempt_number: activity.attempt_count,
        failure_id: ulid(now),
        failure_category: FailureCategory::Timeout,
        timeout_kind: kind.to_owned(),
        message: match kind {
            "schedule_to_close" => "The activity did not complete within its schedule-to-close timeout.".to_owned(),
            "heartbeat" => "The activity did not heartbeat within its heartbeat timeout.".to_owned(),
            _ => "The activity did not complete within its start-to-close timeout.".to_owned(),
        },
    })
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100 * 2_u64.pow(failures.min(6)))
}

impl WorkerHandle {
    /// Stops claiming work, waits up to `grace` for running activities to finish, then
    /// releases the leases of those still running so another process takes them at once.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        for task in self.loops {
            let _ = task.await;
        }
        let inner = &self.engine.inner;
        let all = u32::try_from(inner.config.activity_concurrency.max(1)).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(grace, Arc::clone(&inner.slots).acquire_many_owned(all)).await;
        if drained.is_ok() {
            return;
        }
        let running: Vec<String> = inner.running().keys().cloned().collect();
        for attempt in &running {
            if let Some(handle) = inner.running().get(attempt) {
                handle.cancel();
            }
        }
        if let Err(e) = self.engine.release(&running).await {
            tracing::warn!(error = %e, "could not release activity leases; they will expire");
        }
    }
}

impl Engine {
    /// Hands running attempts back: each is marked expired and its task made ready now.
    async fn release(&self, attempts: &[String]) -> Result<(), StoreError> {
        if attempts.is_empty() {
            return Ok(());
        }
        let now = self.inner.clock.now();
        let mut tx = self.inner.store.begin().await?;
        for id in attempts {
            let Some(mut attempt) = tx.attempt(id).await? else { continue };
            if attempt.status != AttemptStatus::Running {
                continue;
            }
            attempt.status = AttemptStatus::Expired;
            attempt.closed_at = Some(now);
            attempt.failure = Some("released at shutdown".to_owned());
            tx.update_attempt(&attempt).await?;
            if let Some(mut task) = tx.live_activity_task(&attempt.activity_execution_id).await? {
                task.lease_expires_at = Some(now);
                task.updated_at = now;
                tx.update_task(&task).await?;
            }
        }
        tx.notify(TaskKind::Activity).await?;
        tx.commit().await
    }
}
