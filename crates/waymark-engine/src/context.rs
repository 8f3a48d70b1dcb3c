//! [`WorkflowContext`]: everything workflow code may do. Each call is numbered in call order
//! (its command position) and either resolves from the run's recorded history (replay) or
//! becomes a new command for the runtime to record (a live decision).

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::command::Command;
use crate::event::{Event, Metadata};
use crate::ids::{InstanceId, Namespace, RunId};
use crate::retry::ActivityOptions;
use crate::status::{FailureCategory, WaitKind};
use crate::time::{self, Timestamp};
use crate::visibility;
use crate::workflow::{Activity, ActivityFailure, WorkflowError, WorkflowResult};

/// Who a run is: ids and type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunInfo {
    /// The tenant.
    pub namespace: Namespace,
    /// The instance (`workflow_id`).
    pub instance_id: InstanceId,
    /// The run.
    pub run_id: RunId,
    /// The workflow type key.
    pub workflow_type: String,
    /// 1 for the first run, +1 per continue-as-new.
    pub run_number: u32,
}

/// The handle workflow code uses for everything durable. Cheap to clone.
#[derive(Clone)]
pub struct WorkflowContext {
    pub(crate) state: Arc<Mutex<RunState>>,
}

impl std::fmt::Debug for WorkflowContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkflowContext").field("run", &self.lock().info).finish_non_exhaustive()
    }
}

/// The deterministic state behind a context, owned by the run's [`crate::RunMachine`].
#[derive(Debug)]
pub(crate) struct RunState {
    pub(crate) info: RunInfo,
    /// The time of the decision being made (the recorded time of the input being applied).
    pub(crate) now: Timestamp,
    /// True while re-running a decision whose commands are already in history.
    pub(crate) replaying: bool,
    next_seq: u64,
    rng: u64,
    /// Recorded command events by command position, during replay.
    pub(crate) recorded: BTreeMap<u64, Event>,
    /// Commands made since the runtime last took them.
    pub(crate) produced: Vec<Command>,
    activities: BTreeMap<u64, ActivitySlot>,
    timers: BTreeMap<u64, Slot<()>>,
    signal_waits: BTreeMap<u64, SignalSlot>,
    buffered_signals: VecDeque<(String, Value)>,
    next_wait_id: u64,
    pub(crate) cancel_requested: bool,
    pub(crate) search_attributes: Metadata,
    pub(crate) memo: Metadata,
    /// A nondeterminism a context call detected (reported after the poll).
    pub(crate) fault: Option<String>,
}

#[derive(Debug)]
struct Slot<T> {
    result: Option<Result<T, WorkflowError>>,
    done: bool,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self { result: None, done: false }
    }
}

#[derive(Debug)]
struct ActivitySlot {
    activity_type: String,
    execution_id: Option<String>,
    result: Option<Result<Value, ActivityFailure>>,
    done: bool,
}

#[derive(Debug)]
struct SignalSlot {
    name: String,
    slot: Slot<Value>,
}

/// Why an input could not be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ApplyError {
    /// The input names a command the code never made, or one already resolved.
    Unexpected(String),
}

impl RunState {
    pub(crate) fn new(info: RunInfo, now: Timestamp, search_attributes: Metadata, memo: Metadata) -> Self {
        let rng = info.run_id.seed();
        Self {
            info,
            now,
            replaying: false,
            next_seq: 1,
            rng,
            recorded: BTreeMap::new(),
            produced: Vec::new(),
            activities: BTreeMap::new(),
            timers: BTreeMap::new(),
            signal_waits: BTreeMap::new(),
            buffered_signals: VecDeque::new(),
            next_wait_id: 1,
            cancel_requested: false,
            search_attributes,
            memo,
            fault: None,
        }
    }

    pub(crate) fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    fn next_random(&mut self) -> u64 {
        // splitmix64: small, fast and stable; seeded from the run id.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// What the run is blocked on, if anything.
    pub(crate) fn wait_kind(&self) -> Option<WaitKind> {
        if self.activities.values().any(|a| a.result.is_none() && !a.done) {
            Some(WaitKind::Activity)
        } else if self.timers.values().any(|t| t.result.is_none() && !t.done) {
            Some(WaitKind::Timer)
        } else if self.signal_waits.values().any(|s| s.slot.result.is_none() && !s.slot.done) {
            Some(WaitKind::Signal)
        } else {
            None
        }
    }

    /// Notes the execution id a recorded `ActivityScheduled` gave command `seq`.
    pub(crate) fn note_activity_execution(&mut self, seq: u64, execution_id: &str) {
        if let Some(slot) = self.activities.get_mut(&seq) {
            slot.execution_id = Some(execution_id.to_owned());
        }
    }

    /// Applies an input event.
    pub(crate) fn apply(&mut self, event: &Event) -> Result<(), ApplyError> {
        match event {
            Event::ActivityCompleted(e) => {
                self.resolve_activity(e.activity.sequence, &e.activity.activity_execution_id, Ok(e.result.clone()))
            }
            Event::ActivityFailed(e) => {
                let failure = ActivityFailure {
                    activity_type: e.activity.activity_type.clone(),
                    activity_execution_id: Some(e.activity.activity_execution_id.clone()),
                    category: e.failure_category,
                    exception_type: e.exception_type.clone(),
                    message: e.message.clone(),
                    non_retryable: e.non_retryable,
                };
                self.resolve_activity(e.activity.sequence, &e.activity.activity_execution_id, Err(failure))
            }
            Event::ActivityTimedOut(e) => {
                let failure = ActivityFailure {
                    activity_type: e.activity.activity_type.clone(),
                    activity_execution_id: Some(e.activity.activity_execution_id.clone()),
                    category: FailureCategory::Timeout,
                    exception_type: "ActivityTimedOut".to_owned(),
                    message: e.message.clone(),
                    non_retryable: true,
                };
                self.resolve_activity(e.activity.sequence, &e.activity.activity_execution_id, Err(failure))
            }
            Event::TimerFired(e) => {
                let slot = self.timers.get_mut(&e.sequence).filter(|t| t.result.is_none() && !t.done);
                let slot =
                    slot.ok_or_else(|| ApplyError::Unexpected(format!("TimerFired for command {}", e.sequence)))?;
                slot.result = Some(Ok(()));
                Ok(())
            }
            Event::SignalReceived(e) => {
                let waiting = self
                    .signal_waits
                    .values_mut()
                    .find(|w| w.name == e.signal_name && w.slot.result.is_none() && !w.slot.done);
                match waiting {
                    Some(wait) => wait.slot.result = Some(Ok(e.arguments.clone())),
                    None => self.buffered_signals.push_back((e.signal_name.clone(), e.arguments.clone())),
                }
                Ok(())
            }
            Event::CancelRequested(_) => {
                self.request_cancel();
                Ok(())
            }
            other => Err(ApplyError::Unexpected(format!("{} is not an input", other.event_type()))),
        }
    }

    fn resolve_activity(
        &mut self,
        seq: u64,
        execution_id: &str,
        result: Result<Value, ActivityFailure>,
    ) -> Result<(), ApplyError> {
        let slot = self.activities.get_mut(&seq).filter(|a| a.result.is_none() && !a.done);
        let slot = slot.ok_or_else(|| ApplyError::Unexpected(format!("an activity result for command {seq}")))?;
        slot.execution_id = Some(execution_id.to_owned());
        slot.result = Some(result);
        Ok(())
    }

    /// A cancel request: every pending wait ends with a cancellation, and the timers and
    /// activities behind them are given up (commands the runtime records).
    fn request_cancel(&mut self) {
        if self.cancel_requested {
            return;
        }
        self.cancel_requested = true;
        for (seq, slot) in &mut self.activities {
            if slot.result.is_none() && !slot.done {
                slot.result = Some(Err(ActivityFailure {
                    activity_type: slot.activity_type.clone(),
                    activity_execution_id: slot.execution_id.clone(),
                    category: FailureCategory::Cancelled,
                    exception_type: "ActivityCancelled".to_owned(),
                    message: "The workflow was asked to cancel.".to_owned(),
                    non_retryable: true,
                }));
                self.produced.push(Command::CancelActivity { seq: *seq, activity_type: slot.activity_type.clone() });
            }
        }
        for (seq, slot) in &mut self.timers {
            if slot.result.is_none() && !slot.done {
                slot.result = Some(Err(WorkflowError::Cancelled));
                self.produced.push(Command::CancelTimer { seq: *seq });
            }
        }
        for wait in self.signal_waits.values_mut() {
            if wait.slot.result.is_none() && !wait.slot.done {
                wait.slot.result = Some(Err(WorkflowError::Cancelled));
            }
        }
    }
}

impl WorkflowContext {
    pub(crate) fn new(state: Arc<Mutex<RunState>>) -> Self {
        Self { state }
    }

    fn lock(&self) -> MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Who this run is.
    pub fn info(&self) -> RunInfo {
        self.lock().info.clone()
    }

    /// Deterministic "now": the time of the decision being made (replays see the same value).
    pub fn now(&self) -> Timestamp {
        self.lock().now
    }

    /// A deterministic random number in `[0, 1)`, seeded by the run id.
    pub fn random(&self) -> f64 {
        (self.lock().next_random() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// A deterministic random UUID (v4 layout), seeded by the run id.
    pub fn uuid(&self) -> String {
        let mut state = self.lock();
        let (a, b) = (state.next_random(), state.next_random());
        let mut bytes = [0_u8; 16];
        bytes[..8].copy_from_slice(&a.to_be_bytes());
        bytes[8..].copy_from_slice(&b.to_be_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
    }

    /// Runs activity `A` with its default options ([`Activity::options`]).
    pub fn activity<A: Activity>(&self, input: A::Input) -> ActivityCall<A::Output> {
        self.activity_with::<A>(input, A::options())
    }

    /// Runs activity `A` with `options`.
    pub fn activity_with<A: Activity>(&self, input: A::Input, options: ActivityOptions) -> ActivityCall<A::Output> {
        let mut state = self.lock();
        let seq = state.take_seq();
        let mut slot =
            ActivitySlot { activity_type: A::TYPE.to_owned(), execution_id: None, result: None, done: false };
        match serde_json::to_value(input) {
            Ok(input) => state.produced.push(Command::ScheduleActivity {
                seq,
                activity_type: A::TYPE.to_owned(),
                input,
                options,
            }),
            Err(e) => {
                slot.result = Some(Err(ActivityFailure {
                    activity_type: A::TYPE.to_owned(),
                    activity_execution_id: None,
                    category: FailureCategory::Application,
                    exception_type: "InputNotSerializable".to_owned(),
                    message: e.to_string(),
                    non_retryable: true,
                }));
            }
        }
        state.activities.insert(seq, slot);
        ActivityCall { state: Arc::clone(&self.state), seq, _output: PhantomData }
    }

    /// A durable timer: completes `delay` after now (and never earlier, even across restarts).
    /// Ends with [`WorkflowError::Cancelled`] if the workflow is asked to cancel first.
    pub fn sleep(&self, delay: Duration) -> Sleep {
        let mut state = self.lock();
        let seq = state.take_seq();
        let fire_at = time::add(state.now, delay);
        state.produced.push(Command::StartTimer { seq, delay, fire_at });
        state.timers.insert(seq, Slot::default());
        Sleep { state: Arc::clone(&self.state), seq }
    }

    /// Waits for the next signal named `name`. Buffered: a signal that arrived before the
    /// wait is delivered at once, in arrival order. Ends with [`WorkflowError::Cancelled`] if
    /// the workflow is asked to cancel first, or a failure if the payload does not fit `T`.
    pub fn wait_signal<T: DeserializeOwned>(&self, name: &str) -> SignalWait<T> {
        let mut state = self.lock();
        let wait_id = state.next_wait_id;
        state.next_wait_id += 1;
        let mut slot = Slot::default();
        if let Some(position) = state.buffered_signals.iter().position(|(n, _)| n == name) {
            let (_, value) = state.buffered_signals.remove(position).unwrap_or_default();
            slot.result = Some(Ok(value));
        } else if state.cancel_requested {
            slot.result = Some(Err(WorkflowError::Cancelled));
        }
        state.signal_waits.insert(wait_id, SignalSlot { name: name.to_owned(), slot });
        SignalWait { state: Arc::clone(&self.state), wait_id, _value: PhantomData }
    }

    /// Runs `f` once and records its value; replays return the recorded value without
    /// running `f`. For anything non-deterministic that is not worth an activity (reading the
    /// clock, a random id).
    ///
    /// # Errors
    /// A failure when the value cannot be serialized, or a recorded one does not fit `T`.
    pub fn side_effect<T: Serialize + DeserializeOwned>(&self, f: impl FnOnce() -> T) -> WorkflowResult<T> {
        let mut state = self.lock();
        let seq = state.take_seq();
        let recorded = state.recorded.get(&seq).cloned();
        let value = match recorded {
            Some(Event::SideEffectRecorded(e)) => e.result,
            Some(other) => {
                state.fault =
                    Some(format!("code made a side effect at command {seq}; history has {}", other.event_type()));
                return Err(WorkflowError::failed("Nondeterminism", "side effect does not match history"));
            }
            None if state.replaying => {
                state.fault = Some(format!("code made a side effect at command {seq}; history has none"));
                return Err(WorkflowError::failed("Nondeterminism", "side effect does not match history"));
            }
            None => {
                drop(state);
                let value = serde_json::to_value(f())
                    .map_err(|e| WorkflowError::failed("SideEffectNotSerializable", e.to_string()))?;
                state = self.lock();
                value
            }
        };
        state.produced.push(Command::RecordSideEffect { seq, result: value.clone() });
        drop(state);
        serde_json::from_value(value).map_err(|e| WorkflowError::failed("SideEffectNotReadable", e.to_string()))
    }

    /// Whether the code after change `change_id` applies to this run (Temporal's `patched`):
    /// true for new decisions (recording a version marker), true on replay where the marker
    /// was recorded, false on replay of history made before the change.
    pub fn patched(&self, change_id: &str) -> bool {
        let mut state = self.lock();
        let seq = state.next_seq;
        match state.recorded.get(&seq) {
            Some(Event::VersionMarkerRecorded(e)) if e.change_id == change_id => {}
            Some(_) => return false,
            None if state.replaying => return false,
            None => {}
        }
        state.take_seq();
        state.produced.push(Command::RecordVersionMarker { seq, change_id: change_id.to_owned() });
        true
    }

    /// Merges search attributes (a null value deletes the key). Keys are 1–64 characters of
    /// `[A-Za-z0-9_.:-]`; values are scalars or lists of strings of at most 191 characters.
    ///
    /// # Errors
    /// A failure naming the offending key.
    pub fn upsert_search_attributes(&self, attributes: Metadata) -> WorkflowResult<()> {
        visibility::check_search_attributes(&attributes)
            .map_err(|e| WorkflowError::failed("InvalidSearchAttributes", e))?;
        let mut state = self.lock();
        let seq = state.take_seq();
        visibility::merge(&mut state.search_attributes, &attributes);
        let merged = state.search_attributes.clone();
        state.produced.push(Command::UpsertSearchAttributes { seq, attributes, merged });
        Ok(())
    }

    /// Merges memo entries (a null value deletes the key).
    ///
    /// # Errors
    /// A failure naming the offending key.
    pub fn upsert_memo(&self, entries: Metadata) -> WorkflowResult<()> {
        visibility::check_memo(&entries).map_err(|e| WorkflowError::failed("InvalidMemo", e))?;
        let mut state = self.lock();
        let seq = state.take_seq();
        visibility::merge(&mut state.memo, &entries);
        let merged = state.memo.clone();
        state.produced.push(Command::UpsertMemo { seq, entries, merged });
        Ok(())
    }

    /// Ends this run and starts a new one of the same instance with `input`; return it from
    /// the workflow: `return Err(ctx.continue_as_new(next))`. Memo, search attributes, labels
    /// and the business key carry over.
    pub fn continue_as_new<I: Serialize>(&self, input: I) -> WorkflowError {
        match serde_json::to_value(input) {
            Ok(input) => WorkflowError::ContinueAsNew(input),
            Err(e) => WorkflowError::failed("InputNotSerializable", e.to_string()),
        }
    }

    /// Whether someone asked this workflow to cancel.
    pub fn is_cancel_requested(&self) -> bool {
        self.lock().cancel_requested
    }

    /// Completes when someone asks this workflow to cancel.
    pub fn cancellation(&self) -> Cancellation {
        Cancellation { state: Arc::clone(&self.state) }
    }
}

fn lock(state: &Mutex<RunState>) -> MutexGuard<'_, RunState> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An activity call in flight; await it for the result.
#[must_use = "an activity call does nothing useful unless awaited"]
pub struct ActivityCall<T> {
    state: Arc<Mutex<RunState>>,
    seq: u64,
    _output: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Future for ActivityCall<T> {
    type Output = Result<T, ActivityFailure>;

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = lock(&self.state);
        let Some(slot) = state.activities.get_mut(&self.seq) else { return Poll::Pending };
        let Some(result) = slot.result.take() else { return Poll::Pending };
        slot.done = true;
        let activity_type = slot.activity_type.clone();
        let execution_id = slot.execution_id.clone();
        Poll::Ready(result.and_then(|value| {
            serde_json::from_value(value).map_err(|e| ActivityFailure {
                activity_type,
                activity_execution_id: execution_id,
                category: FailureCategory::Application,
                exception_type: "ResultNotReadable".to_owned(),
                message: e.to_string(),
                non_retryable: true,
            })
        }))
    }
}

/// A durable timer in flight.
#[must_use = "a timer does nothing useful unless awaited"]
pub struct Sleep {
    state: Arc<Mutex<RunState>>,
    seq: u64,
}

impl Future for Sleep {
    type Output = WorkflowResult<()>;

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = lock(&self.state);
        let Some(slot) = state.timers.get_mut(&self.seq) else { return Poll::Pending };
        match slot.result.take() {
            Some(result) => {
                slot.done = true;
                Poll::Ready(result)
            }
            None => Poll::Pending,
        }
    }
}

/// A signal wait in flight.
#[must_use = "a signal wait does nothing useful unless awaited"]
pub struct SignalWait<T> {
    state: Arc<Mutex<RunState>>,
    wait_id: u64,
    _value: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Future for SignalWait<T> {
    type Output = WorkflowResult<T>;

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = lock(&self.state);
        let Some(wait) = state.signal_waits.get_mut(&self.wait_id) else { return Poll::Pending };
        match wait.slot.result.take() {
            Some(result) => {
                wait.slot.done = true;
                let name = wait.name.clone();
                Poll::Ready(result.and_then(|value| {
                    serde_json::from_value(value)
                        .map_err(|e| WorkflowError::failed("InvalidSignalPayload", format!("signal {name}: {e}")))
                }))
            }
            None => Poll::Pending,
        }
    }
}

/// Completes when the workflow is asked to cancel.
pub struct Cancellation {
    state: Arc<Mutex<RunState>>,
}

impl Future for Cancellation {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if lock(&self.state).cancel_requested { Poll::Ready(()) } else { Poll::Pending }
    }
}
