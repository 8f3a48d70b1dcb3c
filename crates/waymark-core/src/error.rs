//! The one public error of the facade: a stable code, a message for the agent, optional
//! structured details. Every transport maps it in exactly one place.

use serde::Serialize;
use waymark_domain::DomainError;

/// The stable error codes of PRODUCT.md ("Result envelope"). Agents branch on these; they never
/// change meaning. Each has a page in `docs/error-codes.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Arguments break the tool's input schema or a format rule. Fix the arguments.
    ValidationError,
    /// The named object does not exist in the caller's workspace.
    NotFound,
    /// The change collides with existing data (for example a slug already in use).
    Conflict,
    /// The object's status table forbids the change, or the object is read-only.
    InvalidTransition,
    /// Something must happen first (a dependency phase, a prior tool call).
    DependencyNotMet,
    /// The API key lacks a scope or is not allowed to call the tool.
    PermissionDenied,
    /// Too many calls; retry after `details.retry_after_seconds`.
    RateLimited,
    /// The call ran past its deadline and was abandoned; nothing was written.
    Timeout,
    /// A dependency (database, provider) is unavailable; retry later.
    ServiceUnavailable,
    /// A size or count limit was reached.
    LimitExceeded,
    /// An unexpected failure; the server log has the details under the given reference.
    Internal,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: &'static [Self] = &[
        Self::ValidationError,
        Self::NotFound,
        Self::Conflict,
        Self::InvalidTransition,
        Self::DependencyNotMet,
        Self::PermissionDenied,
        Self::RateLimited,
        Self::Timeout,
        Self::ServiceUnavailable,
        Self::LimitExceeded,
        Self::Internal,
    ];

    /// The wire name (`validation_error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ValidationError => "validation_error",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::InvalidTransition => "invalid_transition",
            Self::DependencyNotMet => "dependency_not_met",
            Self::PermissionDenied => "permission_denied",
            Self::RateLimited => "rate_limited",
            Self::Timeout => "timeout",
            Self::ServiceUnavailable => "service_unavailable",
            Self::LimitExceeded => "limit_exceeded",
            Self::Internal => "internal",
        }
    }
}

/// A failed operation. Nothing was changed.
///
/// `message` is written for the agent and never holds internals (SQL, paths, keys); internal
/// causes are logged where the error is created.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ServiceError {
    /// The stable code.
    pub code: ErrorCode,
    /// One or two sentences the caller can act on.
    pub message: String,
    /// Structured detail (violations, blockers, retry hints).
    pub details: Option<serde_json::Value>,
    /// The external service whose failure this is, for its circuit breaker; `None` when the
    /// call failed for its own reasons (its arguments, its deadline, the data it met), which
    /// no breaker counts. Never sent to the client.
    failed_service: Option<&'static str>,
}

impl ServiceError {
    /// An error with no details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), details: None, failed_service: None }
    }

    /// `service_unavailable` because `service` failed (connection refused, I/O error, the
    /// server gone): the one kind of error the service's circuit breaker counts.
    pub fn service_failed(service: &'static str, message: impl Into<String>) -> Self {
        Self { failed_service: Some(service), ..Self::new(ErrorCode::ServiceUnavailable, message) }
    }

    /// The external service whose failure this error reports (see [`Self::service_failed`]).
    pub fn failed_service(&self) -> Option<&'static str> {
        self.failed_service
    }

    /// Attaches details.
    #[must_use]
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// `validation_error` with one message.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationError, message)
    }

    /// `not_found` with one message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// `conflict` with one message.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    /// `permission_denied` with one message.
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PermissionDenied, message)
    }

    /// `internal`: logs `cause` with a reference id and returns a message that names only the
    /// reference.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        let reference = ulid::Ulid::new().to_string();
        tracing::error!(reference = %reference, error = %ErrorChain(cause), "internal error");
        Self::new(ErrorCode::Internal, format!("Internal error (reference {reference})"))
    }
}

/// Displays an error with its whole `source()` chain, for logs, with any database password
/// masked (driver errors may echo the connection URL).
struct ErrorChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", waymark_store::redact_url(&self.0.to_string()))?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {}", waymark_store::redact_url(&err.to_string()))?;
            source = err.source();
        }
        Ok(())
    }
}

impl From<DomainError> for ServiceError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::InvalidTransition { entity, from, to, allowed, message } => {
                Self::new(ErrorCode::InvalidTransition, message).with_details(serde_json::json!({
                    "entity": entity,
                    "from": from,
                    "to": to,
                    "allowed": allowed,
                }))
            }
            DomainError::ReadOnly { message } => Self::new(ErrorCode::InvalidTransition, message),
            DomainError::DependencyNotMet { blockers, message } => {
                let blockers: Vec<_> = blockers
                    .iter()
                    .map(|b| {
                        serde_json::json!({
                            "phase_id": b.phase_id.as_str(),
                            "phase_order": b.phase_order,
                            "phase_name": b.phase_name,
                            "status": b.status.as_str(),
                        })
                    })
                    .collect();
                Self::new(ErrorCode::DependencyNotMet, message)
                    .with_details(serde_json::json!({ "dependency_blockers": blockers }))
            }
            DomainError::Invalid { field, message } => Self::validation(message.clone())
                .with_details(serde_json::json!({ "violations": [{ "path": field, "message": message }] })),
        }
    }
}

impl From<waymark_store::Error> for ServiceError {
    fn from(err: waymark_store::Error) -> Self {
        use waymark_store::Error;
        match err {
            Error::Unreachable(_) => {
                tracing::error!(error = %ErrorChain(&err), "database unreachable");
                Self::service_failed(crate::DATABASE, "The database is unavailable; retry shortly")
            }
            Error::Conflict => Self::conflict("The change conflicts with existing data; reload and retry"),
            Error::Busy(_) => {
                tracing::warn!(error = %ErrorChain(&err), "database busy");
                Self::busy()
            }
            Error::Rejected(_) => {
                tracing::warn!(error = %ErrorChain(&err), "the database refused a value");
                Self::validation(
                    "The database refused a value of this call (too large or not storable); nothing was changed",
                )
            }
            Error::InvalidUrl(reason) => Self::validation(format!("Invalid database URL: {reason}")),
            Error::Corrupt(_) | Error::Database(_) => Self::internal(&err),
        }
    }
}

impl ServiceError {
    /// `conflict` for a lock held too long by another writer: retryable, nothing written.
    pub(crate) fn busy() -> Self {
        Self::conflict("The database is busy with another writer; nothing was changed, retry shortly")
            .with_details(serde_json::json!({ "retryable": true }))
    }
}
