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
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[cfg(not(feature = "conformance-fixtures"))]
use clap::Parser;
use tokio_util::sync::CancellationToken;
use waymark_cli::{Cli, Command, ConfigCommand, DatabaseUse, LogFormat, McpCommand, ServeArgs, exit};
use waymark_core::{DatabaseConfig, DatabaseTarget, ErrorCode, Service, ServiceConfig};
use waymark_mcp_http::{HostPolicy, HttpConfig, HttpServer};
use waymark_mcp_stdio::Credentials;

/// Runs the `waymark` command line with `registry`'s workflow and activity types added to the
/// built-in ones (`simple`, `elapsed`), and returns the process exit code (0 success,
/// 1 failure, 2 usage, 3 database unreachable, 4 a workflow still open when a wait ran out).
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

async fn run(mut cli: Cli, registry: waymark_engine::Registry) -> u8 {
    let config_path = config::path(cli.config.as_deref());
    let shown = config_path.as_deref().map_or_else(|| "no configuration file (defaults)".to_owned(), file_name);
    if matches!(cli.command, Command::Config(ConfigCommand::Check)) {
        return check_config(registry, &shown, config::read(config_path.as_deref())).await;
    }
    let loaded = match config::load(config_path.as_deref()) {
        Ok(loaded) => loaded,
        Err(problems) => {
            for p in &problems {
                eprintln!("error: {}", in_file(&shown, p));
            }
            return exit::USAGE;
        }
    };
    let config = &loaded.config;
    if let Command::Status { server } = &mut cli.command
        && server.is_none()
    {
        server.clone_from(&config.server.listen);
    }
    let use_of_database = cli.command.database_use();
    // Commands that need no database open a private one in memory, so they never create or
    // touch the user's.
    let database_url =
        if use_of_database == DatabaseUse::None { "sqlite::memory:".to_owned() } else { cli.database_url.clone() };
    let target = match waymark_core::database_target(&database_url) {
        Ok(target) => target,
        Err(err) => {
            eprintln!(
                "error: {err} (--database-url or WAYMARK_DATABASE_URL: {})",
                waymark_core::redact_database_url(&database_url)
            );
            return exit::USAGE;
        }
    };
    if let DatabaseTarget::SqliteFile(file) = &target
        && use_of_database == DatabaseUse::Read
        && std::fs::metadata(file).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
    {
        eprintln!(
            "error: no database at {} (--database-url {}); create it with `waymark migrate` or `waymark serve`, or point --database-url or WAYMARK_DATABASE_URL at an existing one",
            absolute(file).display(),
            waymark_core::redact_database_url(&database_url)
        );
        return exit::UNREACHABLE;
    }
    let mut service_config = ServiceConfig::new(DatabaseConfig::new(database_url));
    service_config.tool_timeouts = config.tools.timeouts();
    if let Some(ttl) = config.auth.cache_ttl_seconds {
        service_config.auth_cache_ttl = std::time::Duration::from_secs(ttl);
    }
    service_config.templates_dir = cli.templates_dir.clone().or_else(|| config.templates.dir.clone());
    service_config.breaker_policy = config.breakers.policy();
    service_config.redactor = match waymark_core::audit::Redactor::new(&config.audit.redact_patterns) {
        Ok(redactor) => redactor,
        Err(err) => {
            eprintln!("error: [audit] redact_patterns: {err}");
            return exit::USAGE;
        }
    };
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
            match (&target, err.code) {
                (DatabaseTarget::SqliteFile(file), ErrorCode::ServiceUnavailable) => {
                    let cause = sqlite_cause(file).unwrap_or_else(|| err.message.clone());
                    eprintln!("error: cannot open the SQLite database {}: {cause}", absolute(file).display());
                }
                _ => eprintln!("error: {}", err.message),
            }
            return waymark_cli::exit_code(&err);
        }
    };
    let code = match &cli.command {
        Command::Serve(args) => serve(&service, args, config).await,
        Command::Mcp(McpCommand::Stdio { workspace }) => stdio(&service, workspace).await,
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

/// A path as the user wrote it, for messages.
fn file_name(path: &Path) -> String {
    path.display().to_string()
}

/// `FILE:LINE:COLUMN: key: message`, the form compilers and editors understand.
fn in_file(file: &str, problem: &config::Problem) -> String {
    if problem.at.is_some() { format!("{file}:{problem}") } else { format!("{file}: {problem}") }
}

/// `path` made absolute against the working directory, for messages.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Why SQLite cannot open `file`, as the file system tells it, when it can tell: a missing or
/// unusable directory, a file that cannot be read and written, a directory that takes no new
/// files (SQLite creates the file and its `-wal` and `-shm` companions beside it).
fn sqlite_cause(file: &Path) -> Option<String> {
    let file = absolute(file);
    let dir = file.parent().unwrap_or_else(|| Path::new("/"));
    match std::fs::metadata(dir) {
        Err(e) => return Some(format!("its directory {} cannot be used: {e}", dir.display())),
        Ok(meta) if !meta.is_dir() => return Some(format!("{} is not a directory", dir.display())),
        Ok(_) => {}
    }
    match std::fs::metadata(&file) {
        Ok(meta) if meta.is_dir() => return Some("it is a directory".to_owned()),
        Ok(_) => {
            if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open(&file) {
                return Some(format!("it cannot be opened for reading and writing: {e}"));
            }
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Some(e.to_string()),
        Err(_) => {}
    }
    let probe = dir.join(format!(".waymark-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) => {
            let name = file.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            Some(format!(
                "cannot create files in {} ({e}); SQLite creates {name} and keeps {name}-wal and {name}-shm beside it, so the directory must be writable",
                dir.display()
            ))
        }
    }
}

/// `config check`: every problem of the file, the ones that need this binary's tool names and
/// workflow types included (asked of a service on a private in-memory database).
async fn check_config(
    registry: waymark_engine::Registry,
    shown: &str,
    (loaded, mut problems): (Option<config::Loaded>, Vec<config::Problem>),
) -> u8 {
    if let Some(loaded) = &loaded {
        let mut service_config = ServiceConfig::new(DatabaseConfig::new("sqlite::memory:"));
        service_config.workflows.registry = registry;
        let service = match Service::open(service_config).await {
            Ok(service) => service,
            Err(err) => {
                eprintln!("error: {}", err.message);
                return exit::FAILURE;
            }
        };
        let names: Vec<&str> = service.catalogue().tools().iter().map(|t| t.name).collect();
        let types: Vec<&str> = service.engine().registry().workflow_definitions().map(|d| d.key.as_str()).collect();
        problems.extend(config::problems(loaded, &names, &types));
        problems.sort_by_key(|p| p.at);
        service.shutdown().await;
    }
    let mut out = std::io::stdout().lock();
    if problems.is_empty() {
        let _ = writeln!(out, "{shown}: OK");
        exit::SUCCESS
    } else {
        for p in &problems {
            let _ = writeln!(out, "{}", in_file(shown, p));
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
    let addresses = match listen_addresses(&listen).await {
        Ok(addresses) => addresses,
        Err(message) => {
            eprintln!("error: --listen {message}");
            return exit::USAGE;
        }
    };
    match service.begin_bootstrap().await {
        Ok(Some(pending)) => {
            let file = &args.bootstrap_key_file;
            // The key file first, then the commit: a failure leaves neither a key nobody can
            // see nor a file with a key that does not exist.
            if let Err(err) = write_key_file(file, pending.key()) {
                drop(pending);
                eprintln!(
                    "error: cannot write the bootstrap key to {}: {err}; nothing was created (fix that and start again, or pass --bootstrap-key-file)",
                    file.display()
                );
                return exit::FAILURE;
            }
            match pending.commit().await {
                Ok(created) => tracing::info!(
                    workspace = "default",
                    key_id = %created.view.id,
                    file = %file.display(),
                    "empty database: created workspace `default` and a read+write API key; the key is in the file (mode 0600)"
                ),
                Err(err) => {
                    let _ = std::fs::remove_file(file);
                    eprintln!("error: bootstrap failed: {}", err.message);
                    return waymark_cli::exit_code(&err);
                }
            }
        }
        Ok(None) => {}
        Err(err) => {
            eprintln!("error: bootstrap failed: {}", err.message);
            return waymark_cli::exit_code(&err);
        }
    }
    let mut http = HttpConfig::new(addresses[0]);
    http.hosts = HostPolicy {
        hosts: args.allowed_hosts.iter().chain(&config.server.allowed_hosts).cloned().collect(),
        origins: args.allowed_origins.iter().chain(&config.server.allowed_origins).cloned().collect(),
    };
    config.server.apply(&mut http);
    #[cfg(feature = "conformance-fixtures")]
    if let Err(code) = conformance::configure(service, &mut http).await {
        return code;
    }
    // A name may resolve to several addresses (`localhost`: 127.0.0.1 and ::1): the first
    // that binds serves.
    let mut refusals = Vec::new();
    let mut bound = None;
    for address in &addresses {
        http.listen = *address;
        match HttpServer::bind(service.clone(), http.clone()).await {
            Ok(server) => {
                bound = Some(server);
                break;
            }
            Err(err) => refusals.push(format!("{address}: {err}")),
        }
    }
    let Some(server) = bound else {
        eprintln!("error: cannot listen on {listen}: {}", refusals.join("; "));
        return exit::FAILURE;
    };
    let addr = server.local_addr().unwrap_or(http.listen);
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

/// The addresses `listen` (`IP:PORT` or `HOST:PORT`) names, IPv4 first.
///
/// # Errors
/// A message when it is not `HOST:PORT` or the name does not resolve.
async fn listen_addresses(listen: &str) -> Result<Vec<SocketAddr>, String> {
    if let Ok(address) = listen.parse::<SocketAddr>() {
        return Ok(vec![address]);
    }
    config::check_listen(listen)?;
    let mut addresses: Vec<SocketAddr> = tokio::net::lookup_host(listen)
        .await
        .map_err(|e| format!("'{listen}': cannot resolve the host name: {e}"))?
        .collect();
    addresses.sort_by_key(|a| !a.is_ipv4());
    addresses.dedup();
    if addresses.is_empty() {
        return Err(format!("'{listen}': the host name resolves to no address"));
    }
    Ok(addresses)
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

/// Writes the bootstrap key to a file only the user can read (directory 0700, file 0600), all
/// or nothing: a temporary file beside it, synced, then renamed over it.
fn write_key_file(path: &Path, key: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let name = path.file_name().map_or_else(|| "bootstrap-key".into(), |n| n.to_string_lossy().into_owned());
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = write_new_private_file(&temporary, key).and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
        return written;
    }
    // The rename is durable once the directory is synced (best effort: not every platform can).
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Creates `path` (which must not exist) with mode 0600 and `key` plus a newline, synced.
fn write_new_private_file(path: &Path, key: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
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
