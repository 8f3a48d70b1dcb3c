//! One module per resource; each command returns an exit code or a [`Failure`].

mod admin;
mod audit;
mod plan;
mod session;
mod state;
mod template;
mod tool;
mod workflow;

use std::io::{self, Write};

use waymark_core::{Service, ServiceError};

use crate::args::{Cli, Command, McpCommand};

/// Why a command failed.
pub(crate) enum Failure {
    /// The operation failed.
    Service(ServiceError),
    /// The command line was wrong.
    Usage(String),
    /// Output could not be written.
    Io(io::Error),
}

impl From<ServiceError> for Failure {
    fn from(e: ServiceError) -> Self {
        Self::Service(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

pub(crate) type Outcome = Result<u8, Failure>;

pub(crate) async fn dispatch(service: &Service, cli: &Cli, out: &mut dyn Write, err: &mut dyn Write) -> Outcome {
    let json = cli.json;
    match &cli.command {
        Command::Serve(_) | Command::Mcp(McpCommand::Stdio { .. }) | Command::Config(_) => {
            Err(Failure::Usage("serve, mcp stdio and config are run by the waymark binary".into()))
        }
        Command::Migrate => admin::migrate(service, json, out).await,
        Command::Status { server } => {
            let server = server.as_deref().unwrap_or(admin::DEFAULT_SERVER);
            admin::status(service, &cli.database_url, server, json, out).await
        }
        Command::Workspace(cmd) => admin::workspace(service, cmd, json, out).await,
        Command::Key(cmd) => admin::key(service, cmd, json, out).await,
        Command::Plan(cmd) => plan::run(service, cmd, json, out).await,
        Command::Session(cmd) => session::run(service, cmd, json, out).await,
        Command::State(cmd) => state::run(service, cmd, json, out).await,
        Command::Template(cmd) => template::run(service, cmd, json, out).await,
        Command::Workflow(cmd) => workflow::run(service, cmd, json, out, err).await,
        Command::Tool(cmd) => tool::run(service, cmd, json, out).await,
        Command::Audit(cmd) => audit::run(service, cmd, json, out).await,
    }
}
