//! Waymark's domain: the values agents work with and the rules that govern them.
//!
//! Everything here is pure: no I/O, no async, no clock (time is a parameter), no storage or
//! transport types. Arbitrary client documents (a plan's `context`, a checkpoint's `context`)
//! travel through the domain as opaque [`JsonText`]; the domain never looks inside them.
//!
//! The rules an agent meets live here, each in one place:
//! - the plan status table ([`PlanStatus::allowed_targets`]),
//! - the phase status table ([`PhaseStatus::allowed_targets`]) and what a phase change does to
//!   its plan ([`phase::decide_status_change`]),
//! - progress ([`Progress`]), slugs ([`Slug`]), phase references ([`PhaseRef`]),
//! - workspace names and API-key scopes ([`WorkspaceName`], [`Scopes`]);
//! - the session event table ([`SessionStatus::apply`]), state keys ([`StateKey`]);
//! - templates: parsing, variable rules and substitution ([`template`]).

#![warn(missing_docs)]

mod api_key;
pub mod dependency;
mod error;
mod id;
mod json;
pub mod phase;
pub mod plan;
mod progress;
mod scope;
pub mod session;
mod slug;
pub mod state;
pub mod status;
pub mod task;
pub mod template;
mod workspace;

pub use api_key::{ApiKey, KeyRefusal};
pub use error::{Blocker, DomainError};
pub use id::{ApiKeyId, CheckpointId, PhaseId, PlanId, TaskId, WorkspaceId};
pub use json::JsonText;
pub use phase::{Checkpoint, Phase, PhaseRef, PhaseStatus};
pub use plan::{Plan, PlanStatus};
pub use progress::{PhaseProgress, Progress, TaskProgress, effective_task_status};
pub use scope::{Scope, Scopes};
pub use session::{Artifact, ArtifactAction, LogEntry, LogType, Session, SessionEvent, SessionId, SessionStatus};
pub use slug::Slug;
pub use state::{StateEntry, StateKey, StateType};
pub use status::Transition;
pub use task::{Task, TaskStatus};
pub use template::Template;
pub use workspace::{Workspace, WorkspaceName};

/// A point in time, always UTC. The domain never reads a clock: callers pass `now` in.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
