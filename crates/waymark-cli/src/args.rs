//! The command tree. Names are fixed by PRODUCT.md ("CLI surface") so scripts can rely on them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Waymark: durable plans, tasks, sessions and workflows for AI agents, over MCP.
#[derive(Debug, Parser)]
#[command(name = "waymark", version = waymark_core::VERSION, propagate_version = true)]
pub struct Cli {
    /// Database: sqlite://FILE?mode=rwc (created and migrated on first use) or postgres://USER@HOST:PORT/DB.
    #[arg(long, global = true, env = "WAYMARK_DATABASE_URL", default_value = "sqlite://waymark.db?mode=rwc")]
    pub database_url: String,
    /// Optional configuration file (default ./waymark.toml when present).
    #[arg(long, global = true, env = "WAYMARK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print machine-readable JSON instead of tables (every read command).
    #[arg(long, global = true)]
    pub json: bool,
    /// Extra plan templates (*.yaml), besides the built-in ones; a file named like a built-in replaces it.
    #[arg(long, global = true, env = "WAYMARK_TEMPLATES_DIR")]
    pub templates_dir: Option<PathBuf>,
    /// Log format on stderr. The filter comes from WAYMARK_LOG (default: info for Waymark, warn for libraries).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "WAYMARK_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the MCP server over HTTP (POST /mcp, /mcp/agent, /mcp/workflows; /healthz, /readyz).
    ///
    /// On an empty database, creates the workspace `default` and one read+write API key,
    /// written to ./.waymark/bootstrap-key (mode 0600); the key is never logged.
    Serve(ServeArgs),
    /// Serve MCP on stdin/stdout for a locally spawned client.
    #[command(subcommand)]
    Mcp(McpCommand),
    /// Create or upgrade the database schema (every command also does this on start).
    Migrate,
    /// Manage workspaces (tenants).
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Read plans.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Read agent sessions, or fail stale ones.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Read the values agents keep with a plan.
    #[command(subcommand)]
    State(StateCommand),
    /// List, show and check plan templates.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// List, start and follow durable workflows; signal, cancel, terminate or repair a run.
    #[command(subcommand)]
    Workflow(WorkflowCommand),
    /// List the MCP tools, or call one as the workspace owner (the same catalogue MCP serves).
    #[command(subcommand)]
    Tool(ToolCommand),
    /// Read the audit log of tool calls.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Show the database, schema and catalogue this binary sees, and the health of the server on
    /// this database.
    ///
    /// The server is looked for at --server, else `server.listen` in the config file, else
    /// 127.0.0.1:7410; it counts as this database's server only when its /readyz reports this
    /// database's id.
    Status {
        /// Where the server listens (HOST:PORT) [default: `server.listen` in the config file, else
        /// 127.0.0.1:7410].
        #[arg(long, env = "WAYMARK_LISTEN")]
        server: Option<String>,
    },
    /// Check the configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// How a command uses the database: whether it may create one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseUse {
    /// Not at all: the tool catalogue, the templates, the configuration file.
    None,
    /// Reads an existing database and never creates one (a missing SQLite file is an error
    /// that says where it was looked for).
    Read,
    /// Writes: creates and migrates the database when it does not exist yet.
    Write,
}

impl Command {
    /// How this command uses the database.
    pub fn database_use(&self) -> DatabaseUse {
        match self {
            Self::Template(_) | Self::Tool(ToolCommand::List) | Self::Config(_) => DatabaseUse::None,
            Self::Workspace(WorkspaceCommand::List)
            | Self::Key(KeyCommand::List { .. })
            | Self::Plan(_)
            | Self::Session(SessionCommand::List { .. } | SessionCommand::Show { .. })
            | Self::State(_)
            | Self::Workflow(
                WorkflowCommand::List { .. }
                | WorkflowCommand::Result { .. }
                | WorkflowCommand::History { .. }
                | WorkflowCommand::Show { .. },
            )
            | Self::Audit(_)
            | Self::Status { .. } => DatabaseUse::Read,
            Self::Serve(_)
            | Self::Mcp(_)
            | Self::Migrate
            | Self::Workspace(WorkspaceCommand::Create { .. })
            | Self::Key(KeyCommand::Create { .. } | KeyCommand::Revoke { .. })
            | Self::Session(SessionCommand::Sweep { .. })
            | Self::Workflow(_)
            | Self::Tool(ToolCommand::Call { .. }) => DatabaseUse::Write,
        }
    }
}

/// The longest `--expires-in`: a hundred years.
const MAX_EXPIRY_DAYS: i64 = 36_500;

/// `--expires-in`: a whole number of days, 1 to 36500.
fn parse_days(raw: &str) -> Result<u32, String> {
    match raw.trim().parse::<i64>() {
        Ok(days) if (1..=MAX_EXPIRY_DAYS).contains(&days) => u32::try_from(days).map_err(|e| e.to_string()),
        Ok(days) if days < 1 => {
            Err("a key must live at least 1 day; leave --expires-in out for a key that never expires".to_owned())
        }
        Ok(_) => Err(format!("at most {MAX_EXPIRY_DAYS} days (100 years)")),
        Err(_) => Err("not a whole number of days, e.g. --expires-in 30".to_owned()),
    }
}

/// `waymark config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Parse the configuration file and report every problem (exit 1 if any).
    Check,
}

/// `waymark serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:7410, or `server.listen` in the config file].
    #[arg(long, env = "WAYMARK_LISTEN")]
    pub listen: Option<String>,
    /// Extra accepted Host names beyond loopback (repeatable), e.g. mcp.example.com.
    #[arg(long = "allowed-host", env = "WAYMARK_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
    /// Accepted browser Origins (repeatable), e.g. https://app.example.com. Loopback origins are always accepted.
    #[arg(long = "allowed-origin", env = "WAYMARK_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Where to write the bootstrap key on an empty database.
    #[arg(long, default_value = ".waymark/bootstrap-key")]
    pub bootstrap_key_file: PathBuf,
    /// Days audit rows are kept [default: 90, or `audit.retention_days`; 0 keeps them forever].
    #[arg(long, env = "WAYMARK_AUDIT_RETENTION_DAYS")]
    pub audit_retention_days: Option<u32>,
}

/// `waymark mcp …`.
#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Serve MCP over stdio. Uses WAYMARK_API_KEY if set; otherwise acts as the owner of --workspace.
    Stdio {
        /// Workspace to act in when no API key is given (created if missing).
        #[arg(long, env = "WAYMARK_WORKSPACE", default_value = "default")]
        workspace: String,
    },
}

/// `waymark workspace …`.
#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace.
    Create {
        /// Name: lowercase letters, digits, '-' and '_'.
        name: String,
    },
    /// List workspaces.
    List,
}

/// `waymark key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key; the key is printed once and never again.
    Create {
        /// The workspace the key acts in.
        #[arg(long, env = "WAYMARK_WORKSPACE")]
        workspace: String,
        /// Comma-separated scopes: read, write.
        #[arg(long, default_value = "read,write")]
        scopes: String,
        /// A label to recognise the key by.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Days until the key expires, at least 1 (never by default).
        #[arg(long, value_name = "DAYS", value_parser = parse_days, allow_negative_numbers = true)]
        expires_in: Option<u32>,
        /// Tool calls allowed per minute (also the most at once).
        #[arg(long, default_value_t = waymark_core::auth::DEFAULT_RATE_LIMIT)]
        rate_limit: u32,
        /// Comma-separated tool allow-list (all tools by default).
        #[arg(long, value_delimiter = ',')]
        tools: Option<Vec<String>>,
    },
    /// List keys (never the keys themselves).
    List {
        /// Only this workspace.
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Revoke a key by id (key_…); takes effect within 5 seconds.
    Revoke {
        /// The key's id.
        id: String,
    },
}

/// `waymark plan …`.
#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// List plans, most recently updated first.
    List {
        /// The workspace to act in.
        #[arg(long, env = "WAYMARK_WORKSPACE", default_value = "default")]
        workspace: String,
        /// Only plans in this status.
        #[arg(long)]
        status: Option<String>,
        /// Include archived plans.
        #[arg(long)]
        include_archived: bool,
        /// At most this many plans.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue a listing: the next_cursor a previous page printed.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show a plan as markdown (or JSON with --json), as many phases as fit one page.
    Show {
        /// The plan's slug.
        slug: String,
        /// The workspace to act in.
        #[arg(long, env = "WAYMARK_WORKSPACE", default_value = "default")]
        workspace: String,
        /// The phases after a previous page: the next_cursor it printed.
        #[arg(long)]
        cursor: Option<String>,
    },
}

/// `waymark session …`.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List sessions, most recently active first.
    List {
        /// The workspace to act in.
        #[arg(long, env = "WAYMARK_WORKSPACE", default_value = "default")]
        workspace: String,
        /// Only this status: active, paused, handed_off, completed, failed.
        #[arg(long)]
        status: Option<String>,
        /// Only sessions on this plan (slug).
        #[arg(long)]
        plan: Option<String>,
        /// At most this many sessions.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue a listing: the next_cursor a previous page printed.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show a session's replay context: progress, handoff notes, recent actions, artifacts.
    Show {
        /// The session id (sess_…).
        id: String,
        /// The workspace to act in.
        #[arg(long, env = "WAYMARK_WORKSPACE", default_value = "default")]
        workspace: String,
    },
    /// Fail every active session idle for longer than --idle-hours (all workspaces).
    Sweep {
        /// Idle time after which an active session is failed.
        #[arg(long, default_value_t = 24)]
        idle_hours: u64,
    },
}

/// `waymark state …`.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List a plan's values, by key.
    List {
        /// The plan's slug.
        plan: String,
        /// The workspace to act in.
        #[arg(long, env = "WAYMARK_WORKSPACE", default_value = "default")]
        workspace: String,
        /// Only this category.
        #[arg(long)]
        category: Option<String>,
        /// At most this many values.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Continue a listing: the next_cursor a previous page printed.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Print one value.
    Get {
        /// The plan's slug.
        plan: String,
        /// The key.
        key: String,
        /// The workspace to act in.
        #[arg(long, env = "WAYMARK_WORKSPACE", default_value = "default")]
        workspace: String,
    },
}

/// `waymark template …`.
#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// List the templates (built-in and from --templates-dir).
    List {
        /// Only this category.
        #[arg(long)]
        category: Option<String>,
    },
    /// Show a template's variables, guidelines, phases and tasks.
    Show {
        /// The template's slug.
        slug: String,
    },
    /// Check a template file with the same rules and messages the server uses (exit 1 on a problem).
    Validate {
        /// The YAML file.
        file: PathBuf,
    },
}

/// `waymark tool …`.
#[derive(Debug, Subcommand)]
pub enum ToolCommand {
    /// List every tool with its category and scope.
    List,
    /// Call a tool as the workspace owner; prints its structured result, exits 1 on a tool error.
    Call {
        /// Tool name, e.g. plan_list.
        name: String,
        /// Arguments as a JSON object.
        #[arg(long, default_value = "{}")]
        args: String,
        /// The workspace to act in.
        #[arg(long, env = "WAYMARK_WORKSPACE", default_value = "default")]
        workspace: String,
    },
}

/// `waymark audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Show the most recent tool calls, oldest first.
    Tail {
        /// How many calls.
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: u64,
        /// Only this tool.
        #[arg(long)]
        tool: Option<String>,
        /// Only this workspace.
        #[arg(long)]
        workspace: Option<String>,
        /// Keep printing new calls as they are recorded.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Daily calls, errors and mean duration per tool.
    Stats {
        /// How many days back, today included.
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Only this tool.
        #[arg(long)]
        tool: Option<String>,
        /// Only this workspace.
        #[arg(long)]
        workspace: Option<String>,
    },
}

/// `waymark workflow …`.
#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// List the workflows MCP may start and, with --recent or --status, the workspace's recent runs.
    List {
        /// The workspace to act in.
        #[arg(long, env = "WAYMARK_WORKSPACE", default_value = "default")]
        workspace: String,
        /// Also list recent runs, most recently updated first.
        #[arg(long)]
        recent: bool,
        /// At most this many recent runs (1-50).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=50))]
        limit: u32,
        /// Only recent runs in this status: pending, running, waiting, cancelled, terminated, completed, failed
        /// (implies --recent).
        #[arg(long)]
        status: Option<String>,
        /// Continue the recent runs: the next_cursor a previous page printed (implies --recent).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Start a workflow of any registered type; with --wait, run it in this process and wait for its result.
    Start(WorkflowStartArgs),
    /// Show a run's status and its output or error.
    ///
    /// Exit 0 when the run completed, 1 when it failed, was cancelled, terminated or timed out (or
    /// is not found), 4 when it is still open after --wait seconds.
    Result {
        /// The workflow id (instance id) from `workflow start`.
        workflow_id: String,
        /// A run of the workflow [default: its current run].
        #[arg(long)]
        run: Option<String>,
        /// Wait up to this many seconds (0-25) for the run to close first.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=25))]
        wait: u32,
        /// The workspace to act in.
        #[arg(long, env = "WAYMARK_WORKSPACE", default_value = "default")]
        workspace: String,
    },
    /// List a run's history events, oldest first; --follow prints new ones until the run closes.
    History {
        /// The workflow id (instance id).
        workflow_id: String,
        /// A run of the workflow [default: its current run].
        #[arg(long)]
        run: Option<String>,
        /// At most this many events, the most recent (1-100).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100))]
        limit: u32,
        /// Show each event's payload (its JSON, cut at 4096 bytes).
        #[arg(long)]
        payloads: bool,
        /// Keep printing new events until the run closes (exit 0 if it completed, else 1); with --json,
        /// one JSON object per event and line.
        #[arg(long, short = 'f')]
        follow: bool,
        /// The workspace to act in.
        #[arg(long, env = "WAYMARK_WORKSPACE", default_value = "default")]
        workspace: String,
    },
    /// Show a run: status, timestamps, output or error, metadata, activities with their attempts, failures.
    Show {
        /// The workflow id (instance id).
        workflow_id: String,
        /// A run of the workflow [default: its current run].
        #[arg(long)]
        run: Option<String>,
        /// The workspace to act in.
        #[arg(long, env = "WAYMARK_WORKSPACE", default_value = "default")]
        workspace: String,
    },
    /// Send a signal to the workflow's current run (exit 1 when it is rejected).
    Signal {
        /// The workflow id (instance id).
        workflow_id: String,
        /// The signal's name, as the workflow declares it.
        name: String,
        /// The signal's argument as JSON [default: null].
        #[arg(long)]
        arg: Option<String>,
        /// The workspace to act in.
        #[arg(long, env = "WAYMARK_WORKSPACE", default_value = "default")]
        workspace: String,
    },
    /// Ask the workflow's current run to cancel; its code may clean up (exit 1 when rejected).
    Cancel {
        /// The workflow id (instance id).
        workflow_id: String,
        /// Why, recorded with the request.
        #[arg(long)]
        reason: Option<String>,
        /// The workspace to act in.
        #[arg(long, env = "WAYMARK_WORKSPACE", default_value = "default")]
        workspace: String,
    },
    /// Close the workflow's current run at once, running no workflow code (exit 1 when rejected).
    Terminate {
        /// The workflow id (instance id).
        workflow_id: String,
        /// Why, recorded with the request.
        #[arg(long)]
        reason: Option<String>,
        /// The workspace to act in.
        #[arg(long, env = "WAYMARK_WORKSPACE", default_value = "default")]
        workspace: String,
    },
    /// Recreate the missing tasks of the workflow's current run, clearing a task problem (after a fix).
    Repair {
        /// The workflow id (instance id).
        workflow_id: String,
        /// The workspace to act in.
        #[arg(long, env = "WAYMARK_WORKSPACE", default_value = "default")]
        workspace: String,
    },
}

/// `waymark workflow start`.
#[derive(Debug, Args)]
pub struct WorkflowStartArgs {
    /// The workflow type's key (see `waymark workflow list`).
    pub workflow: String,
    /// The workspace to act in.
    #[arg(long, env = "WAYMARK_WORKSPACE", default_value = "default")]
    pub workspace: String,
    /// The next ordered argument, as JSON (repeatable; strings need quotes: --arg '"text"').
    #[arg(long = "arg", value_name = "JSON")]
    pub args: Vec<String>,
    /// The arguments by name, as a JSON object (instead of --arg).
    #[arg(long, value_name = "JSON", conflicts_with = "args")]
    pub args_json: Option<String>,
    /// Your own id for the workflow, for idempotency: 1-191 characters of A-Z, a-z, 0-9, '.', '_', ':', '-'
    /// [default: a new ULID].
    #[arg(long = "id", value_name = "INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// An operator-facing key to recognise the run by.
    #[arg(long)]
    pub business_key: Option<String>,
    /// Non-indexed metadata, as a JSON object.
    #[arg(long, value_name = "JSON")]
    pub memo: Option<String>,
    /// An indexed search attribute, as KEY=JSON (repeatable), e.g. --search-attr 'region="eu"'.
    #[arg(long = "search-attr", value_name = "KEY=JSON")]
    pub search_attrs: Vec<String>,
    /// What a start of an already started workflow id does.
    #[arg(long, value_enum, default_value_t = DuplicatePolicy::RejectDuplicate)]
    pub duplicate_policy: DuplicatePolicy,
    /// Run the workflow's workers in this process, print each new history event on stderr, then the result
    /// (exit 0 when the run completed, 1 when it failed, was cancelled or terminated, 4 when --timeout ran out).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (the workflow goes on; exit 4).
    #[arg(long, value_name = "SECONDS", default_value_t = 300, requires = "wait")]
    pub timeout: u64,
}

/// `--duplicate-policy`: what a second start of a started workflow id does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DuplicatePolicy {
    /// Refuse the start (exit 1); the rejection is recorded on the existing run.
    #[value(name = "reject_duplicate")]
    RejectDuplicate,
    /// While the existing run is still running, return it; otherwise refuse as above.
    #[value(name = "return_existing_active")]
    ReturnExistingActive,
}
