//! A thin [`EngineStore`] that delegates every call to the real store and records each write
//! transaction: when it began, when its commit returned, how long the commit took, which port
//! methods it called and how many history events it appended.
//!
//! It lives in the bench, not in the engine: the engine runs unchanged on top of it. The cost
//! it adds (an `Instant::now()` per begin and commit, a string push per call, one mutex lock per
//! commit) is paid by the bare floor and the engine step alike.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use waymark_engine::event::Metadata;
use waymark_engine::ids::{InstanceId, Namespace, RunId};
use waymark_engine::store::{
    ActivityRecord, AttemptRecord, CommandRecord, EngineStore, EngineTx, FailureRecord, InstanceRecord, RunFilter,
    RunRecord, StoreError, StoredEvent, TaskKind, TaskRecord, TaskStatus, TimerRecord,
};
use waymark_engine::time::Timestamp;

/// What a committed transaction was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TxKind {
    /// The floor: the bench's own single-event commit through the port.
    Bare,
    /// The floor without the port and sea-orm: a raw sqlx commit on its own connection.
    Raw,
    /// An engine step: the transaction that records an `ActivityCompleted`.
    Step,
    /// Any other engine transaction that wrote (start, first decision, repairs).
    OtherWrite,
    /// An engine transaction that only read (the sweep commits its reads).
    ReadOnly,
}

/// One committed transaction.
#[derive(Clone, Debug)]
pub(crate) struct TxRecord {
    pub(crate) kind: TxKind,
    /// Before `begin()` was called.
    pub(crate) began: Instant,
    /// When `commit()` returned.
    pub(crate) ended: Instant,
    /// The commit call alone.
    pub(crate) commit: Duration,
    /// Waiting for and opening the transaction (`begin()`).
    pub(crate) begin: Duration,
    /// Port calls before the commit, in order (each is one SQL statement, see
    /// `docs/BENCHMARKS.md`), with how long each took.
    pub(crate) calls: Vec<&'static str>,
    pub(crate) call_times: Vec<Duration>,
    /// History events appended.
    pub(crate) events: usize,
}

impl TxRecord {
    /// From before `begin()` to the return of `commit()`.
    pub(crate) fn latency(&self) -> Duration {
        self.ended - self.began
    }
}

/// Where the wrapper writes what it saw.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    records: Mutex<Vec<TxRecord>>,
    /// Transactions dropped without commit (idle workers finding no work roll back).
    rollbacks: AtomicU64,
}

impl Recorder {
    fn push(&self, record: TxRecord) {
        self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(record);
    }

    /// Everything recorded since the last drain, and the rollbacks since then.
    pub(crate) fn drain(&self) -> (Vec<TxRecord>, u64) {
        let records = std::mem::take(&mut *self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        (records, self.rollbacks.swap(0, Ordering::Relaxed))
    }
}

/// The timing wrapper around the real store.
#[derive(Debug)]
pub(crate) struct TimedStore {
    inner: Arc<dyn EngineStore>,
    pub(crate) recorder: Arc<Recorder>,
}

impl TimedStore {
    pub(crate) fn new(inner: Arc<dyn EngineStore>) -> Self {
        Self { inner, recorder: Arc::default() }
    }

    /// Begins a transaction the bench itself drives (the floor), recorded as `kind`.
    pub(crate) async fn begin_as(&self, kind: TxKind) -> Result<Box<TimedTx>, StoreError> {
        self.begin_timed(Some(kind)).await
    }

    async fn begin_timed(&self, tag: Option<TxKind>) -> Result<Box<TimedTx>, StoreError> {
        let began = Instant::now();
        let inner = self.inner.begin().await?;
        Ok(Box::new(TimedTx {
            inner: Some(inner),
            recorder: Arc::clone(&self.recorder),
            tag,
            began,
            begin: began.elapsed(),
            calls: Vec::with_capacity(16),
            call_times: Vec::with_capacity(16),
            events: 0,
            completed_activity: false,
            wrote: false,
        }))
    }
}

/// A transaction of the wrapper.
pub(crate) struct TimedTx {
    inner: Option<Box<dyn EngineTx>>,
    recorder: Arc<Recorder>,
    tag: Option<TxKind>,
    began: Instant,
    begin: Duration,
    calls: Vec<&'static str>,
    call_times: Vec<Duration>,
    events: usize,
    completed_activity: bool,
    wrote: bool,
}

/// Calls the real transaction, noting the call, its duration and whether it writes.
macro_rules! call {
    ($self:ident, $kind:ident, $method:ident($($arg:expr),*)) => {{
        let started = Instant::now();
        $self.wrote |= Access::$kind == Access::Write;
        let result = $self.inner.as_deref_mut().expect("transaction used after commit").$method($($arg),*).await;
        $self.calls.push(stringify!($method));
        $self.call_times.push(started.elapsed());
        result
    }};
}

#[derive(PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

impl Drop for TimedTx {
    fn drop(&mut self) {
        if self.inner.is_some() {
            self.recorder.rollbacks.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[async_trait::async_trait]
impl EngineTx for TimedTx {
    async fn reserve_instance(&mut self, record: &InstanceRecord) -> Result<(InstanceRecord, bool), StoreError> {
        call!(self, Write, reserve_instance(record))
    }

    async fn lock_instance(
        &mut self,
        namespace: &Namespace,
        id: &InstanceId,
    ) -> Result<Option<InstanceRecord>, StoreError> {
        call!(self, Read, lock_instance(namespace, id))
    }

    async fn update_instance(&mut self, record: &InstanceRecord) -> Result<(), StoreError> {
        call!(self, Write, update_instance(record))
    }

    async fn insert_run(&mut self, run: &RunRecord) -> Result<(), StoreError> {
        call!(self, Write, insert_run(run))
    }

    async fn lock_run(&mut self, run_id: &RunId) -> Result<Option<RunRecord>, StoreError> {
        call!(self, Read, lock_run(run_id))
    }

    async fn lock_current_run(
        &mut self,
        namespace: &Namespace,
        id: &InstanceId,
    ) -> Result<Option<RunRecord>, StoreError> {
        call!(self, Read, lock_current_run(namespace, id))
    }

    async fn update_run(&mut self, run: &RunRecord) -> Result<(), StoreError> {
        call!(self, Write, update_run(run))
    }

    async fn append_events(&mut self, events: &[StoredEvent]) -> Result<(), StoreError> {
        self.events += events.len();
        self.completed_activity |= events.iter().any(|e| e.event_type == "ActivityCompleted");
        call!(self, Write, append_events(events))
    }

    async fn history(&mut self, run_id: &RunId) -> Result<Vec<StoredEvent>, StoreError> {
        call!(self, Read, history(run_id))
    }

    async fn insert_command(&mut self, command: &CommandRecord) -> Result<(), StoreError> {
        call!(self, Write, insert_command(command))
    }

    async fn unapplied_commands(&mut self, run_id: &RunId) -> Result<Vec<CommandRecord>, StoreError> {
        call!(self, Read, unapplied_commands(run_id))
    }

    async fn mark_commands_applied(&mut self, ids: &[String], at: Timestamp) -> Result<(), StoreError> {
        call!(self, Write, mark_commands_applied(ids, at))
    }

    async fn insert_task(&mut self, task: &TaskRecord) -> Result<(), StoreError> {
        call!(self, Write, insert_task(task))
    }

    async fn claim_task(&mut self, kind: TaskKind, now: Timestamp) -> Result<Option<TaskRecord>, StoreError> {
        call!(self, Read, claim_task(kind, now))
    }

    async fn live_workflow_task(&mut self, run_id: &RunId) -> Result<Option<TaskRecord>, StoreError> {
        call!(self, Read, live_workflow_task(run_id))
    }

    async fn live_activity_task(&mut self, activity_execution_id: &str) -> Result<Option<TaskRecord>, StoreError> {
        call!(self, Read, live_activity_task(activity_execution_id))
    }

    async fn update_task(&mut self, task: &TaskRecord) -> Result<(), StoreError> {
        call!(self, Write, update_task(task))
    }

    async fn close_live_tasks(&mut self, run_id: &RunId, status: TaskStatus, now: Timestamp) -> Result<(), StoreError> {
        call!(self, Write, close_live_tasks(run_id, status, now))
    }

    async fn insert_activity(&mut self, activity: &ActivityRecord) -> Result<(), StoreError> {
        call!(self, Write, insert_activity(activity))
    }

    async fn activity(&mut self, id: &str) -> Result<Option<ActivityRecord>, StoreError> {
        call!(self, Read, activity(id))
    }

    async fn open_activities(&mut self, run_id: &RunId) -> Result<Vec<ActivityRecord>, StoreError> {
        call!(self, Read, open_activities(run_id))
    }

    async fn update_activity(&mut self, activity: &ActivityRecord) -> Result<(), StoreError> {
        call!(self, Write, update_activity(activity))
    }

    async fn insert_attempt(&mut self, attempt: &AttemptRecord) -> Result<(), StoreError> {
        call!(self, Write, insert_attempt(attempt))
    }

    async fn attempt(&mut self, id: &str) -> Result<Option<AttemptRecord>, StoreError> {
        call!(self, Read, attempt(id))
    }

    async fn update_attempt(&mut self, attempt: &AttemptRecord) -> Result<(), StoreError> {
        call!(self, Write, update_attempt(attempt))
    }

    async fn insert_timer(&mut self, timer: &TimerRecord) -> Result<(), StoreError> {
        call!(self, Write, insert_timer(timer))
    }

    async fn claim_due_timer(&mut self, now: Timestamp) -> Result<Option<TimerRecord>, StoreError> {
        call!(self, Read, claim_due_timer(now))
    }

    async fn pending_timers(&mut self, run_id: &RunId) -> Result<Vec<TimerRecord>, StoreError> {
        call!(self, Read, pending_timers(run_id))
    }

    async fn update_timer(&mut self, timer: &TimerRecord) -> Result<(), StoreError> {
        call!(self, Write, update_timer(timer))
    }

    async fn insert_failure(&mut self, failure: &FailureRecord) -> Result<(), StoreError> {
        call!(self, Write, insert_failure(failure))
    }

    async fn replace_search_attributes(&mut self, run_id: &RunId, attributes: &Metadata) -> Result<(), StoreError> {
        call!(self, Write, replace_search_attributes(run_id, attributes))
    }

    async fn overdue_runs(&mut self, now: Timestamp, limit: u64) -> Result<Vec<RunRecord>, StoreError> {
        call!(self, Read, overdue_runs(now, limit))
    }

    async fn runs_missing_workflow_task(&mut self, limit: u64) -> Result<Vec<RunRecord>, StoreError> {
        call!(self, Read, runs_missing_workflow_task(limit))
    }

    async fn activities_missing_task(&mut self, limit: u64) -> Result<Vec<ActivityRecord>, StoreError> {
        call!(self, Read, activities_missing_task(limit))
    }

    async fn notify(&mut self, kind: TaskKind) -> Result<(), StoreError> {
        call!(self, Read, notify(kind))
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        let inner = self.inner.take().expect("transaction committed twice");
        let commit_start = Instant::now();
        inner.commit().await?;
        let ended = Instant::now();
        let kind = match self.tag {
            Some(tag) => tag,
            None if self.completed_activity => TxKind::Step,
            None if self.wrote => TxKind::OtherWrite,
            None => TxKind::ReadOnly,
        };
        self.recorder.push(TxRecord {
            kind,
            began: self.began,
            ended,
            commit: ended - commit_start,
            begin: self.begin,
            calls: std::mem::take(&mut self.calls),
            call_times: std::mem::take(&mut self.call_times),
            events: self.events,
        });
        Ok(())
    }
}

#[async_trait::async_trait]
impl EngineStore for TimedStore {
    async fn begin(&self) -> Result<Box<dyn EngineTx>, StoreError> {
        Ok(self.begin_timed(None).await?)
    }

    async fn instance(&self, namespace: &Namespace, id: &InstanceId) -> Result<Option<InstanceRecord>, StoreError> {
        self.inner.instance(namespace, id).await
    }

    async fn run(&self, namespace: &Namespace, run_id: &RunId) -> Result<Option<RunRecord>, StoreError> {
        self.inner.run(namespace, run_id).await
    }

    async fn current_run(&self, namespace: &Namespace, id: &InstanceId) -> Result<Option<RunRecord>, StoreError> {
        self.inner.current_run(namespace, id).await
    }

    async fn list_runs(&self, namespace: &Namespace, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        self.inner.list_runs(namespace, filter).await
    }

    async fn history_page(
        &self,
        run_id: &RunId,
        before: Option<u64>,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.history_page(run_id, before, limit).await
    }

    async fn history_after(&self, run_id: &RunId, after: u64, limit: u64) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.history_after(run_id, after, limit).await
    }

    async fn failures(&self, run_id: &RunId, limit: u64) -> Result<Vec<FailureRecord>, StoreError> {
        self.inner.failures(run_id, limit).await
    }

    async fn attempts(&self, run_id: &RunId) -> Result<Vec<(ActivityRecord, Vec<AttemptRecord>)>, StoreError> {
        self.inner.attempts(run_id).await
    }

    async fn listen(&self) -> Result<Option<tokio::sync::mpsc::Receiver<TaskKind>>, StoreError> {
        self.inner.listen().await
    }
}
