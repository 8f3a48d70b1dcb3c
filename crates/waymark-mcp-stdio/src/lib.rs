//! Waymark's stdio transport (`waymark mcp stdio`).
//!
//! Who the caller is (PRODUCT.md, "Auth"): with an API key (`WAYMARK_API_KEY`), the key's
//! workspace and scopes; without one, owner access (read and write) to the workspace named by
//! `--workspace` (default `default`, created on first use), because whoever can start the
//! process already owns the database file.
//!
//! stdout carries MCP messages only; every log line goes to stderr (MCP "stdio" transport).

#![warn(missing_docs)]
#![deny(clippy::print_stdout)]

use waymark_core::{AuthError, Principal, Service, ServiceError, Transport};

/// How the stdio caller identifies itself.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// An API key (from `WAYMARK_API_KEY`).
    ApiKey(String),
    /// Owner access to a workspace by name.
    Workspace(String),
}

/// Why the stdio server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    /// The API key was refused.
    #[error("WAYMARK_API_KEY was refused: {0}")]
    Auth(#[from] AuthError),
    /// The workspace could not be opened.
    #[error("{0}")]
    Workspace(#[from] ServiceError),
    /// stdin/stdout failed.
    #[error("stdio transport failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Resolves the caller.
///
/// # Errors
/// [`StdioError::Auth`] for a refused key, [`StdioError::Workspace`] for a bad workspace name.
pub async fn principal(service: &Service, credentials: Credentials) -> Result<Principal, StdioError> {
    match credentials {
        Credentials::ApiKey(key) => Ok(service.authenticate(&key, Transport::Stdio).await?),
        Credentials::Workspace(name) => {
            service.ensure_workspace(&name).await?;
            Ok(service.owner_principal(&name, Transport::Stdio).await?)
        }
    }
}

/// Serves MCP on stdin/stdout until stdin closes.
///
/// # Errors
/// As [`principal`], or [`StdioError::Io`].
pub async fn run(service: Service, credentials: Credentials) -> Result<(), StdioError> {
    let principal = principal(&service, credentials).await?;
    tracing::info!(workspace = %principal.workspace, keyed = principal.key_id.is_some(), "serving MCP on stdio");
    let result = waymark_mcp::serve_stdio(service.clone(), principal).await;
    service.shutdown().await;
    Ok(result?)
}
