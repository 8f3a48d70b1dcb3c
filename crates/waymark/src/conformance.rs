//! The `conformance-fixtures` build's one extra flag, `serve --conformance-anonymous`: serve
//! every MCP request over HTTP as the owner of the workspace `default`, with no API key, on a
//! loopback address only. The official MCP conformance suite (run by `cargo xtask ci`) cannot
//! send credentials; normal builds have neither this flag nor the code behind it.
//!
//! The flag is added to the `serve` subcommand at run time (the command tree belongs to
//! `waymark-cli`, which knows nothing of test builds).

use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Arg, ArgAction, CommandFactory, FromArgMatches};
use waymark_cli::{Cli, exit};
use waymark_core::{Service, Transport};
use waymark_mcp_http::HttpConfig;

/// The flag's name.
const FLAG: &str = "conformance-anonymous";

/// The workspace anonymous requests act in.
const WORKSPACE: &str = "default";

/// Whether `serve --conformance-anonymous` was given (set once, by [`try_parse`]).
static ANONYMOUS: AtomicBool = AtomicBool::new(false);

/// Parses the command line like `Cli::try_parse`, plus the flag.
pub(crate) fn try_parse() -> Result<Cli, clap::Error> {
    let command = Cli::command().mut_subcommand("serve", |serve| {
        serve.arg(
            Arg::new(FLAG)
                .long(FLAG)
                .action(ArgAction::SetTrue)
                .help("Test builds only: serve every MCP request as the owner of workspace `default`, without a key (loopback only)"),
        )
    });
    let matches = command.try_get_matches()?;
    let anonymous = matches.subcommand_matches("serve").is_some_and(|serve| serve.get_flag(FLAG));
    ANONYMOUS.store(anonymous, Ordering::Relaxed);
    Cli::from_arg_matches(&matches)
}

/// Applies the flag to the HTTP configuration; `Err` carries the exit code.
pub(crate) async fn configure(service: &Service, http: &mut HttpConfig) -> Result<(), u8> {
    if !ANONYMOUS.load(Ordering::Relaxed) {
        return Ok(());
    }
    if !http.listen.ip().is_loopback() {
        eprintln!("error: --{FLAG} serves only a loopback address, not {}", http.listen);
        return Err(exit::USAGE);
    }
    let owner = match service.ensure_workspace(WORKSPACE).await {
        Ok(_) => service.owner_principal(WORKSPACE, Transport::Http).await,
        Err(err) => Err(err),
    };
    match owner {
        Ok(principal) => {
            tracing::warn!(
                workspace = WORKSPACE,
                "--{FLAG}: every MCP request is served as the workspace owner WITHOUT an API key (conformance test build)"
            );
            http.anonymous = Some(principal);
            Ok(())
        }
        Err(err) => {
            eprintln!("error: --{FLAG}: cannot act as the owner of `{WORKSPACE}`: {}", err.message);
            Err(waymark_cli::exit_code(&err))
        }
    }
}
