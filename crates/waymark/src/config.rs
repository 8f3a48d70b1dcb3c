//! `waymark.toml`: optional structured settings. Flags and `WAYMARK_*` variables win over the
//! file, the file over built-in defaults. Unknown keys are errors, so typos do not pass
//! silently (`waymark config check`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use waymark_core::dependency::{Dependency, DependencyKind, Registry};

/// The whole file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    #[serde(default)]
    pub(crate) server: ServerConfig,
    #[serde(default)]
    pub(crate) tools: ToolsConfig,
    #[serde(default)]
    pub(crate) auth: AuthConfig,
    #[serde(default)]
    pub(crate) sessions: SessionsConfig,
    #[serde(default)]
    pub(crate) templates: TemplatesConfig,
    #[serde(default)]
    pub(crate) audit: AuditConfig,
    #[serde(default)]
    pub(crate) breakers: BreakersConfig,
    /// `[workflows.<key>]`: the MCP allow-list.
    #[serde(default)]
    pub(crate) workflows: std::collections::BTreeMap<String, WorkflowConfig>,
    #[serde(default)]
    pub(crate) engine: EngineSection,
}

/// `[workflows.<key>]`: whether MCP may start a workflow type, and what `list_workflows`
/// says about it. Unset fields keep the defaults (`simple` and `elapsed` are exposed).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkflowConfig {
    pub(crate) expose: Option<bool>,
    pub(crate) description: Option<String>,
    pub(crate) pattern: Option<String>,
    pub(crate) command: Option<String>,
    pub(crate) safe_for_smoke: Option<bool>,
    /// Credential or environment names (never values).
    pub(crate) requires: Option<Vec<String>>,
    pub(crate) expected_output: Option<serde_json::Value>,
    pub(crate) expected_history: Option<Vec<String>>,
}

/// `[engine]`: the workflow engine's leases, polling, concurrency and limits.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EngineSection {
    /// Activity lease, in seconds (default 30); a dead worker's work is taken over within about one lease.
    pub(crate) lease_seconds: Option<f64>,
    /// How often idle workers poll, in milliseconds (default 1000).
    pub(crate) poll_interval_ms: Option<u64>,
    /// Activities one process runs at once (default 16).
    pub(crate) activity_concurrency: Option<usize>,
    /// Runs kept live in memory (default 1024).
    pub(crate) cache_capacity: Option<usize>,
    /// How often the repair sweep and deadline watchdog run, in seconds (default 5).
    pub(crate) sweep_interval_seconds: Option<f64>,
    /// Largest payload, in bytes (default 2 MiB).
    pub(crate) payload_max_bytes: Option<usize>,
    /// Events after which a run fails unless it continued as new (default 51200).
    pub(crate) history_max_events: Option<u64>,
    /// History bytes after which a run fails (default 50 MiB).
    pub(crate) history_max_bytes: Option<u64>,
}

impl EngineSection {
    pub(crate) fn engine_config(&self) -> waymark_engine::EngineConfig {
        let mut config = waymark_engine::EngineConfig::default();
        if let Some(lease) = self.lease_seconds.filter(|s| s.is_finite() && *s > 0.0) {
            config.lease = Duration::from_secs_f64(lease);
        }
        if let Some(ms) = self.poll_interval_ms.filter(|ms| *ms > 0) {
            config.poll_interval = Duration::from_millis(ms);
        }
        if let Some(n) = self.activity_concurrency.filter(|n| *n > 0) {
            config.activity_concurrency = n;
        }
        if let Some(n) = self.cache_capacity {
            config.cache_capacity = n;
        }
        if let Some(s) = self.sweep_interval_seconds.filter(|s| s.is_finite() && *s > 0.0) {
            config.sweep_interval = Duration::from_secs_f64(s);
        }
        if let Some(n) = self.payload_max_bytes.filter(|n| *n > 0) {
            config.limits.payload_max_bytes = n;
            config.limits.payload_warn_bytes = config.limits.payload_warn_bytes.min(n);
        }
        if let Some(n) = self.history_max_events.filter(|n| *n > 0) {
            config.limits.history_max_events = n;
            config.limits.history_warn_events = config.limits.history_warn_events.min(n);
        }
        if let Some(n) = self.history_max_bytes.filter(|n| *n > 0) {
            config.limits.history_max_bytes = n;
        }
        config
    }
}

impl Config {
    /// The allow-list: the defaults (`simple`, `elapsed`) with this file's changes, then the
    /// file's other workflows by key.
    pub(crate) fn exposures(&self) -> Vec<waymark_core::workflow::Exposure> {
        let mut list = waymark_core::workflow::default_exposures();
        for (key, settings) in &self.workflows {
            let index = match list.iter().position(|e| &e.key == key) {
                Some(i) => i,
                None => {
                    list.push(waymark_core::workflow::Exposure::exposed(key.clone()));
                    list.len() - 1
                }
            };
            let entry = &mut list[index];
            if let Some(v) = settings.expose {
                entry.expose = v;
            }
            if let Some(v) = &settings.description {
                entry.description = Some(v.clone());
            }
            if let Some(v) = &settings.pattern {
                entry.pattern = Some(v.clone());
            }
            if let Some(v) = &settings.command {
                entry.command = Some(v.clone());
            }
            if let Some(v) = settings.safe_for_smoke {
                entry.safe_for_smoke = v;
            }
            if let Some(v) = &settings.requires {
                entry.requires = v.clone();
            }
            if let Some(v) = &settings.expected_output {
                entry.expected_output = Some(v.clone());
            }
            if let Some(v) = &settings.expected_history {
                entry.expected_history = v.clone();
            }
        }
        list
    }
}

/// `[audit]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditConfig {
    /// Days audit rows are kept by `serve` (default 90; daily stats are kept).
    pub(crate) retention_days: Option<u32>,
}

/// `[breakers]`: circuit-breaker thresholds for every external service.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BreakersConfig {
    /// Failures inside the window that open a breaker (default 5).
    pub(crate) threshold: Option<u32>,
    /// The failure window in seconds (default 120).
    pub(crate) window_seconds: Option<u64>,
    /// Seconds an open breaker waits before one trial call (default 60).
    pub(crate) reset_seconds: Option<u64>,
}

impl BreakersConfig {
    pub(crate) fn policy(&self) -> waymark_core::breaker::BreakerPolicy {
        let d = waymark_core::breaker::BreakerPolicy::default();
        waymark_core::breaker::BreakerPolicy {
            threshold: self.threshold.unwrap_or(d.threshold).max(1),
            window: self.window_seconds.map_or(d.window, Duration::from_secs),
            reset_after: self.reset_seconds.map_or(d.reset_after, Duration::from_secs),
        }
    }
}

/// One dependency in `[tools.dependencies]`: `{type, key, description?, optional?, arg_key?}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DependencyConfig {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) key: String,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) optional: bool,
    #[serde(default)]
    pub(crate) arg_key: Option<String>,
}

/// `[sessions]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionsConfig {
    /// Hours of inactivity after which `serve` fails an active session (default 24).
    pub(crate) stale_after_hours: Option<u64>,
    /// How often `serve` sweeps, in seconds (default 300).
    pub(crate) sweep_interval_seconds: Option<u64>,
}

impl SessionsConfig {
    pub(crate) fn stale_after(&self) -> Duration {
        Duration::from_secs(self.stale_after_hours.unwrap_or(24).saturating_mul(3600))
    }

    pub(crate) fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_interval_seconds.unwrap_or(300).max(1))
    }
}

/// `[templates]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplatesConfig {
    /// The user's templates directory (`--templates-dir` wins).
    pub(crate) dir: Option<PathBuf>,
}

/// `[server]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerConfig {
    /// Listen address.
    pub(crate) listen: Option<String>,
    /// Extra accepted Host names.
    #[serde(default)]
    pub(crate) allowed_hosts: Vec<String>,
    /// Accepted browser Origins.
    #[serde(default)]
    pub(crate) allowed_origins: Vec<String>,
    /// Largest request body in bytes.
    pub(crate) max_body_bytes: Option<usize>,
    /// Seconds a request head may take to arrive (default 10).
    pub(crate) header_read_timeout_seconds: Option<u64>,
    /// Seconds a request body may take to arrive after its head (default 30).
    pub(crate) body_read_timeout_seconds: Option<u64>,
    /// Seconds a keep-alive connection may wait for its next request (default 60).
    pub(crate) idle_timeout_seconds: Option<u64>,
    /// Connections open at once; more wait to be accepted (default 512).
    pub(crate) max_connections: Option<usize>,
}

impl ServerConfig {
    /// Sets this section's limits on `http`; zeros (refused by `config check`) are ignored.
    pub(crate) fn apply(&self, http: &mut waymark_mcp_http::HttpConfig) {
        if let Some(limit) = self.max_body_bytes {
            http.max_body_bytes = limit;
        }
        let seconds = |s: Option<u64>| s.filter(|s| *s > 0).map(Duration::from_secs);
        if let Some(t) = seconds(self.header_read_timeout_seconds) {
            http.header_read_timeout = t;
        }
        if let Some(t) = seconds(self.body_read_timeout_seconds) {
            http.body_read_timeout = t;
        }
        if let Some(t) = seconds(self.idle_timeout_seconds) {
            http.idle_timeout = t;
        }
        if let Some(n) = self.max_connections.filter(|n| *n > 0) {
            http.max_connections = n;
        }
    }
}

/// `[tools]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ToolsConfig {
    /// Per-tool deadlines in seconds (`plan_create = 10`).
    #[serde(default)]
    pub(crate) timeouts: HashMap<String, u64>,
    /// Per-tool dependencies, replacing the tool's defaults
    /// (`task_update = [{ type = "tool_called", key = "plan_get" }]`).
    #[serde(default)]
    pub(crate) dependencies: HashMap<String, Vec<DependencyConfig>>,
}

/// `[auth]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthConfig {
    /// How long a verified key is trusted without a database read, in seconds (revocation delay).
    pub(crate) cache_ttl_seconds: Option<u64>,
}

impl ToolsConfig {
    pub(crate) fn timeouts(&self) -> HashMap<String, Duration> {
        self.timeouts.iter().map(|(k, v)| (k.clone(), Duration::from_secs(*v))).collect()
    }

    /// The default registrations with this file's per-tool replacements.
    ///
    /// # Errors
    /// A message for an unknown dependency `type`.
    pub(crate) fn dependencies(&self) -> Result<Registry, String> {
        let mut registry = Registry::with_defaults();
        let mut tools: Vec<_> = self.dependencies.iter().collect();
        tools.sort_by_key(|(tool, _)| tool.as_str());
        for (tool, deps) in tools {
            let mut list = Vec::with_capacity(deps.len());
            for d in deps {
                let kind = DependencyKind::parse(&d.kind).ok_or_else(|| {
                    format!(
                        "tools.dependencies.{tool}: type must be one of: tool_called, session_state, context_exists, entity_exists, custom (got '{}')",
                        d.kind
                    )
                })?;
                list.push(Dependency {
                    kind,
                    key: d.key.clone(),
                    description: d.description.clone(),
                    optional: d.optional,
                    arg_key: d.arg_key.clone(),
                });
            }
            registry.register(tool, list);
        }
        Ok(registry)
    }
}

/// The file to read: `--config`, else `./waymark.toml` if it exists.
pub(crate) fn path(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from("waymark.toml")).filter(|p| p.exists()),
    }
}

/// Reads and parses the file.
///
/// # Errors
/// A message naming the file and, for syntax errors, the line.
pub(crate) fn load(path: Option<&Path>) -> Result<Config, String> {
    let Some(path) = path else { return Ok(Config::default()) };
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Checks cross-field rules the parser cannot, against the tool names and workflow types the
/// binary has.
pub(crate) fn problems(config: &Config, tool_names: &[&str], workflow_types: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for key in config.workflows.keys() {
        if !workflow_types.contains(&key.as_str()) {
            out.push(format!(
                "workflows.{key}: no workflow type named '{key}' in this binary (known: {})",
                workflow_types.join(", ")
            ));
        }
    }
    for event in config.workflows.values().flat_map(|w| w.expected_history.iter().flatten()) {
        if !waymark_engine::Event::TYPES.contains(&event.as_str()) {
            out.push(format!("workflows: expected_history names an unknown event type '{event}'"));
        }
    }
    if let Err(e) = config.tools.dependencies() {
        out.push(e);
    }
    let mut dependents: Vec<_> = config.tools.dependencies.keys().collect();
    dependents.sort();
    for tool in dependents {
        if !tool_names.contains(&tool.as_str()) {
            out.push(format!("tools.dependencies: unknown tool '{tool}'"));
        }
    }
    let mut timeouts: Vec<_> = config.tools.timeouts.iter().collect();
    timeouts.sort();
    for (tool, seconds) in timeouts {
        if !tool_names.contains(&tool.as_str()) {
            out.push(format!("tools.timeouts: unknown tool '{tool}'"));
        }
        if *seconds == 0 {
            out.push(format!("tools.timeouts.{tool}: must be at least 1 second"));
        }
    }
    if config.sessions.stale_after_hours == Some(0) {
        out.push("sessions.stale_after_hours: must be at least 1".to_owned());
    }
    if let Some(dir) = &config.templates.dir
        && !dir.is_dir()
    {
        out.push(format!("templates.dir: '{}' is not a directory", dir.display()));
    }
    if let Some(listen) = &config.server.listen
        && listen.parse::<std::net::SocketAddr>().is_err()
    {
        out.push(format!("server.listen: '{listen}' is not an address like 127.0.0.1:7410"));
    }
    let server = &config.server;
    for (key, value) in [
        ("header_read_timeout_seconds", server.header_read_timeout_seconds),
        ("body_read_timeout_seconds", server.body_read_timeout_seconds),
        ("idle_timeout_seconds", server.idle_timeout_seconds),
    ] {
        if value == Some(0) {
            out.push(format!("server.{key}: must be at least 1 second"));
        }
    }
    if server.max_connections == Some(0) {
        out.push("server.max_connections: must be at least 1".to_owned());
    }
    out
}
