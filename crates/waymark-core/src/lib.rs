//! Waymark's facade: [`Service`], the tool catalogue, auth, audit and the result envelope.
//!
//! Every way into Waymark ends here: MCP over HTTP and stdio (through `waymark-mcp`), the
//! operator CLI, and Rust programs using this crate directly. The core does no transport
//! work (no HTTP, no JSON-RPC, no terminal); it owns the rules that must hold on every path:
//!
//! - the caller is a [`Principal`], and every query is scoped by its workspace;
//! - a tool call is resolved, permission-checked, validated against the tool's derived input
//!   schema, run under its deadline and the caller's cancellation, and audited
//!   ([`Service::call_tool`]);
//! - results use one envelope ([`ToolResult`]) and failures one error type with stable codes
//!   ([`ServiceError`], [`ErrorCode`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), waymark_core::ServiceError> {
//! use waymark_core::{Service, ServiceConfig, Transport, plan::PlanCreateParams};
//! use waymark_core::DatabaseConfig;
//!
//! let service = Service::open(ServiceConfig::new(DatabaseConfig::new("sqlite://waymark.db?mode=rwc"))).await?;
//! service.ensure_workspace("default").await?;
//! let me = service.owner_principal("default", Transport::Library).await?;
//! let created = service
//!     .plan_create(&me, PlanCreateParams { title: "Ship it".into(), ..Default::default() })
//!     .await?;
//! println!("{}", created.plan.slug);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod audit;
pub mod auth;
pub mod breaker;
mod call;
pub mod catalogue;
pub mod clock;
mod error;
mod ids;
mod metrics;
pub mod phase;
pub mod plan;
mod principal;
mod rate_limit;
mod result;
mod service;
pub mod session;
pub mod state;
pub mod task;
pub mod template;
mod tools;
pub mod view;
pub mod workflow;

pub use auth::AuthError;
pub use call::{Admission, CallError, CustomDependency, DATABASE, Refusal};
pub use catalogue::{Annotations, Catalogue, Category, Tool};
pub use error::{ErrorCode, ServiceError};
pub use principal::{CallContext, Principal, Transport};
pub use rate_limit::RateLimitStatus;
pub use result::ToolResult;
pub use service::{Readiness, Service, ServiceConfig};
pub use waymark_domain::dependency;
pub use waymark_store::{DatabaseConfig, DatabaseTarget, database_target};

/// The product version shown by `waymark --version`, in MCP `serverInfo` and `waymark status`.
/// (Crate versions stay `0.0.0`: they are internal and never published.)
pub const VERSION: &str = "0.1.0";

/// A database URL with any password replaced by `***`, safe to print or log.
pub fn redact_database_url(url: &str) -> String {
    waymark_store::redact_url(url)
}

/// Parses a comma-separated scope list (`read,write`).
///
/// # Errors
/// `validation_error` for an unknown scope or an empty list.
pub fn parse_scopes(raw: &str) -> Result<waymark_domain::Scopes, ServiceError> {
    Ok(waymark_domain::Scopes::parse(raw)?)
}
