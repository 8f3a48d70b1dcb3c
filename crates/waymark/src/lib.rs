//! The `waymark` binary's composition root, as a library so a team can build its own binary
//! with its own workflow types: [`main_with`] reads flags, environment and the optional
//! `waymark.toml`, sets up logging (stderr only), opens the database (creating and migrating
//! it), and then runs `serve` (HTTP MCP and the workflow workers), `mcp stdio`, or one CLI
//! command: the same entry points as `waymark` itself.
//!
//! ```no_run
//! use waymark_engine::Registry;
//!
//! fn main() -> std::process::ExitCode {
//!     // Register your workflow and activity types, then expose them in waymark.toml
//!     // ([workflows.<key>]) for MCP; the CLI can start any registered type.
//!     waymark::main_with(Registry::new())
//! }
//! ```

#![allow(clippy::print_stderr, reason = "the binary reports fatal start-up errors on stderr")]

mod config;
#[cfg(feature = "conformance-fixtures")]
mod conformance;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

#[cfg(not(feature = "conformance-fixtures"))]
use clap::Parser;
use tokio_util::sync::CancellationToken;
use waymark_cli::{Cli, Command, ConfigCommand, LogFormat, McpCommand, ServeArgs, exit};
use waymark_core::{DatabaseConfig, Service, ServiceConfig};
use waymark_mcp_http::{HostPolicy, HttpConfig, HttpServer};
use waymark_mcp_stdio::Credentials;

/// Runs the `waymark` command line with `registry`'s workflow and activity types added to the
/// built-in ones (`simple`, `elapsed`), and returns the process exit code (0 success,
/// 1 failure, 2 usage, 3 database unreachable).
pub fn main_with(registry: waymark_engine::Registry) -> ExitCode {
    #[cfg(not(feature = "conformance-fixtures"))]
    let parsed = Cli::try_parse();
    #[cfg(feature = "conformance-fixtures")]
    let parsed = conformance::try_parse();
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { exit::USAGE } else { exit::SUCCESS });
        }
    };
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    ExitCode::from(runtime.block_on(run(cli, registry)))
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WAYMARK_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,rmcp=warn,sqlx=warn,sea_orm=warn,sea_orm_migration=warn")
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(cli: Cli, registry: waymark_engine::Registry) -> u8 {
    let config_path = config::path(cli.config.as_deref());
    let config = match config::load(config_path.as_deref()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::USAGE;
        }
    };
    let mut service_config = ServiceConfig::new(DatabaseConfig::new(cli.database_url.clone()));
    service_config.tool_timeouts = config.tools.timeouts();
    if let Some(ttl) = config.auth.cache_ttl_seconds {
        service_config.auth_cache_ttl = std::time::Duration::from_secs(ttl);
    }
    service_config.templates_dir = cli.templates_dir.clone().or_else(|| config.templates.dir.clone());
    service_config.breaker_policy = config.breakers.policy();
    service_config.workflows.registry = registry;
    service_config.workflows.exposures = config.exposures();
    service_config.workflows.engine = config.engine.engine_config();
    service_config.dependencies = match config.tools.dependencies() {
        Ok(registry) => registry,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::USAGE;
        }
    };
    let service = match Service::open(service_config).await {
        Ok(service) => service,
        Err(err) => {
            eprintln!("error: {}", err.message);
            return waymark_cli::exit_code(&err);
        }
    };
    let code = match &cli.command {
        Command::Serve(args) => serve(&service, args, &config).await,
        Command::Mcp(McpCommand::Stdio { workspace }) => stdio(&service, workspace).await,
        Command::Config(ConfigCommand::Check) => check_config(&service, config_path.as_deref(), &config),
        _ => {
            let mut out = std::io::stdout().lock();
            // Not locked for the whole command: `workflow start --wait` runs workflow workers on
            // other threads, and a log line of theirs must not wait for this thread's lock.
            let mut err = std::io::stderr();
            waymark_cli::run(&service, &cli, &mut out, &mut err).await
        }
    };
    service.shutdown().await;
    code
}

fn check_config(service: &Service, path: Option<&Path>, config: &config::Config) -> u8 {
    let names: Vec<&str> = service.catalogue().tools().iter().map(|t| t.name).collect();
    let types: Vec<&str> = service.engine().registry().workflow_definitions().map(|d| d.key.as_str()).collect();
    let problems = config::problems(config, &names, &types);
    let mut out = std::io::stdout().lock();
    let shown = path.map_or_else(|| "no configuration file (defaults)".to_owned(), |p| p.display().to_string());
    if problems.is_empty() {
        let _ = writeln!(out, "{shown}: OK");
        exit::SUCCESS
    } else {
        for p in &problems {
            let _ = writeln!(out, "{shown}: {p}");
        }
        exit::FAILURE
    }
}

async fn serve(service: &Service, args: &ServeArgs, config: &config::Config) -> u8 {
    let listen = args
        .listen
        .clone()
        .or_else(|| config.server.listen.clone())
        .unwrap_or_else(|| waymark_mcp_http::DEFAULT_LISTEN.to_owned());
    let Ok(listen) = listen.parse::<SocketAddr>() else {
        eprintln!("error: --listen '{listen}' is not an address like 127.0.0.1:7410");
        return exit::USAGE;
    };
    match service.bootstrap().await {
        Ok(Some(created)) => match write_key_file(&args.bootstrap_key_file, &created.key) {
            Ok(()) => tracing::info!(
                workspace = "default",
                key_id = %created.view.id,
                file = %args.bootstrap_key_file.display(),
                "empty database: created workspace `default` and a read+write API key; the key is in the file (mode 0600)"
            ),
            Err(err) => {
                eprintln!("error: cannot write the bootstrap key to {}: {err}", args.bootstrap_key_file.display());
                return exit::FAILURE;
            }
        },
        Ok(None) => {}
        Err(err) => {
            eprintln!("error: bootstrap failed: {}", err.message);
            return waymark_cli::exit_code(&err);
        }
    }
    let mut http = HttpConfig::new(listen);
    http.hosts = HostPolicy {
        hosts: args.allowed_hosts.iter().chain(&config.server.allowed_hosts).cloned().collect(),
        origins: args.allowed_origins.iter().chain(&config.server.allowed_origins).cloned().collect(),
    };
    config.server.apply(&mut http);
    #[cfg(feature = "conformance-fixtures")]
    if let Err(code) = conformance::configure(service, &mut http).await {
        return code;
    }
    let server = match HttpServer::bind(service.clone(), http).await {
        Ok(server) => server,
        Err(err) => {
            eprintln!("error: cannot listen on {listen}: {err}");
            return exit::FAILURE;
        }
    };
    let addr = server.local_addr().unwrap_or(listen);
    tracing::info!(
        backend = service.backend(),
        "MCP over HTTP on http://{addr}/mcp (also /mcp/agent, /mcp/workflows; /healthz, /readyz)"
    );
    let stop = CancellationToken::new();
    tokio::spawn(stop_on_signal(stop.clone()));
    tokio::spawn(sweep_stale_sessions(service.clone(), config.sessions.clone(), stop.clone()));
    let retention = args.audit_retention_days.or(config.audit.retention_days).unwrap_or(90);
    tokio::spawn(purge_audit(service.clone(), retention, stop.clone()));
    let workers = service.spawn_workflow_workers().await;
    let served = server.run(stop).await;
    workers.shutdown(WORKER_GRACE).await;
    match served {
        Ok(()) => {
            tracing::info!("stopped");
            exit::SUCCESS
        }
        Err(err) => {
            eprintln!("error: server failed: {err}");
            exit::FAILURE
        }
    }
}

/// How long a stopping process waits for running activities before handing their leases back.
const WORKER_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Fails active sessions idle past `stale_after`, every `sweep_interval`, until `stop`.
async fn sweep_stale_sessions(service: Service, sessions: config::SessionsConfig, stop: CancellationToken) {
    let mut tick = tokio::time::interval(sessions.sweep_interval());
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Err(err) = service.sweep_stale_sessions(sessions.stale_after()).await {
                    tracing::warn!(error = %err, "stale-session sweep failed");
                }
            }
        }
    }
}

/// Deletes audit rows older than `days` every hour, until `stop` (0 keeps them forever).
async fn purge_audit(service: Service, days: u32, stop: CancellationToken) {
    if days == 0 {
        return;
    }
    let retention = std::time::Duration::from_secs(u64::from(days) * 24 * 3600);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Err(err) = service.purge_audit(retention).await {
                    tracing::warn!(error = %err, "audit purge failed");
                }
            }
        }
    }
}

async fn stop_on_signal(stop: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                let _ = ctrl_c.await;
                stop.cancel();
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down");
    stop.cancel();
}

/// Writes the bootstrap key to a file only the user can read (directory 0700, file 0600).
fn write_key_file(path: &Path, key: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    writeln!(file, "{key}")?;
    file.sync_all()
}

async fn stdio(service: &Service, workspace: &str) -> u8 {
    let credentials = match std::env::var("WAYMARK_API_KEY") {
        Ok(key) if !key.trim().is_empty() => Credentials::ApiKey(key),
        Ok(_) | Err(_) => Credentials::Workspace(workspace.to_owned()),
    };
    // A locally spawned MCP server runs its own workflow workers, so the seed's agent loop
    // (start, then poll the result) completes without a separate `serve`.
    let workers = service.spawn_workflow_workers().await;
    let served = waymark_mcp_stdio::run(service.clone(), credentials).await;
    workers.shutdown(WORKER_GRACE).await;
    match served {
        Ok(()) => exit::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            exit::FAILURE
        }
    }
}
