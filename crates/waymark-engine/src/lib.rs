//! Waymark's durable-workflow engine (`shared/spec/ENGINE.md`).
//!
//! A workflow is ordinary async Rust ([`Workflow`]); it calls activities ([`Activity`]),
//! sleeps on durable timers, waits for signals, records side effects and may continue as new,
//! all through a [`WorkflowContext`]. Every decision it makes is recorded as a typed
//! [`HistoryEvent`] with a per-run `sequence`, so a run survives any crash: after a restart
//! it goes on from where its history ends.
//!
//! Shape:
//! - [`event`]: the history event types and their payloads (pinned by snapshots).
//! - [`workflow`], [`context`], [`activity`]: the authoring API.
//! - [`machine`]: the deterministic executor (a hand-polled future) and replay with
//!   nondeterminism detection; pure, no I/O.
//!
//! This crate never sees a database, HTTP, MCP or a command line (checked by
//! `xtask/src/deps.rs`); storage is a port the store crate implements.

#![warn(missing_docs)]

pub mod activity;
pub mod command;
pub mod context;
pub mod event;
pub mod ids;
pub mod machine;
pub mod retry;
pub mod runtime;
pub mod status;
pub mod store;
pub mod time;
pub mod visibility;
pub mod workflow;

pub use activity::{ActivityContext, ActivityInfo};
pub use command::{Command, Failure};
pub use context::{RunInfo, WorkflowContext};
pub use event::{Event, EventError, HistoryEvent, Labels, Metadata, Payload};
pub use ids::{IdError, InstanceId, Namespace, RunId};
pub use machine::{Nondeterminism, ReplayError, Replayed, RunMachine, replay_history};
pub use retry::{ActivityOptions, RetryPolicy};
pub use runtime::{
    CommandReceipt, Engine, EngineConfig, EngineError, EngineStats, Limits, StartOutcome, StartRequest, WorkerHandle,
};
pub use status::{
    ClosedReason, CommandOutcome, CommandStatus, CommandType, DuplicateStartPolicy, FailureCategory, ParentClosePolicy,
    RunStatus, TaskProblem, WaitKind,
};
pub use time::{Clock, SystemClock, Timestamp};
pub use workflow::{
    Activity, ActivityError, ActivityFailure, ArgumentSpec, Registry, Workflow, WorkflowDefinition, WorkflowError,
    WorkflowResult,
};
