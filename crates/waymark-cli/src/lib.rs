//! Waymark's operator CLI: the clap command tree and every command that is not a long-running
//! transport. The binary (`crates/waymark`) parses [`Cli`], opens the [`Service`], runs
//! `serve` and `mcp stdio` itself and hands every other command to [`run`].
//!
//! Rules every command follows:
//! - reads print a table for people, or JSON with `--json` (stable field names);
//! - output goes to the `out` writer, diagnostics and progress to `err`;
//! - exit codes: 0 success, 1 the operation failed, 2 usage error, 3 cannot reach the database,
//!   4 a wait ran out while the workflow run is still open ([`exit`]);
//! - a reader that goes away (`waymark … | head`) ends the command quietly with 0, as
//!   ripgrep and grep do.

#![warn(missing_docs)]

mod args;
mod commands;
mod render;

use std::io::Write;

pub use args::{
    AuditCommand, Cli, Command, ConfigCommand, DatabaseUse, DuplicatePolicy, KeyCommand, LogFormat, McpCommand,
    PlanCommand, ServeArgs, SessionCommand, StateCommand, TemplateCommand, ToolCommand, WorkflowCommand,
    WorkflowStartArgs, WorkspaceCommand,
};
use waymark_core::{ErrorCode, Service, ServiceError};

/// Exit codes (PRODUCT.md, "CLI surface").
pub mod exit {
    /// Success.
    pub const SUCCESS: u8 = 0;
    /// The operation failed (a tool error, a failed workflow).
    pub const FAILURE: u8 = 1;
    /// The command line was wrong.
    pub const USAGE: u8 = 2;
    /// The database cannot be reached: no server, no file, no permission.
    pub const UNREACHABLE: u8 = 3;
    /// `workflow result --wait` or `workflow start --wait`: the wait ran out while the run is
    /// still open (pending, running or waiting); it goes on.
    pub const STILL_OPEN: u8 = 4;
}

/// The exit code for a failed operation.
pub fn exit_code(err: &ServiceError) -> u8 {
    match err.code {
        ErrorCode::ServiceUnavailable => exit::UNREACHABLE,
        ErrorCode::ValidationError
        | ErrorCode::NotFound
        | ErrorCode::Conflict
        | ErrorCode::InvalidTransition
        | ErrorCode::DependencyNotMet
        | ErrorCode::PermissionDenied
        | ErrorCode::RateLimited
        | ErrorCode::Timeout
        | ErrorCode::LimitExceeded
        | ErrorCode::Internal => exit::FAILURE,
    }
}

/// Runs one non-transport command and returns its exit code.
///
/// `serve` and `mcp stdio` are the binary's to run; passed here they are a usage error.
pub async fn run(service: &Service, cli: &Cli, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let result = commands::dispatch(service, cli, out, err).await;
    match result {
        Ok(code) => code,
        Err(commands::Failure::Service(e)) => {
            let _ = writeln!(err, "error: {}", e.message);
            exit_code(&e)
        }
        Err(commands::Failure::Usage(message)) => {
            let _ = writeln!(err, "error: {message}");
            exit::USAGE
        }
        // The reader went away (`waymark audit tail | head -1`): stop quietly, like ripgrep.
        Err(commands::Failure::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::SUCCESS,
        Err(commands::Failure::Io(e)) => {
            let _ = writeln!(err, "error: cannot write output: {e}");
            exit::FAILURE
        }
    }
}
