//! `waymark.toml`: optional structured settings. Flags and `WAYMARK_*` variables win over the
//! file, the file over built-in defaults. Unknown keys, wrong types and values out of range
//! are errors, all reported at once with the key and its line (`waymark config check`), so
//! typos do not pass silently.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};
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
    /// Regular expressions for credentials the audit log must never store, besides the
    /// built-in shapes (Waymark keys, bearer tokens, common provider keys).
    #[serde(default)]
    pub(crate) redact_patterns: Vec<String>,
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

/// One thing wrong with the file: where, which key, what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Line and column (1-based) in the file, when known.
    pub(crate) at: Option<(usize, usize)>,
    /// The key's dotted path (`engine.lease_seconds`); empty for the file as a whole.
    pub(crate) key: String,
    /// What is wrong and, where it helps, what is expected.
    pub(crate) message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((line, column)) = self.at {
            write!(f, "{line}:{column}: ")?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// A parsed file, with its text to locate keys for later checks.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// The settings.
    pub(crate) config: Config,
    text: String,
}

impl Loaded {
    /// Where `key` (dotted segments) is defined, when the file defines it.
    fn locate(&self, key: &[&str]) -> Option<(usize, usize)> {
        let doc = DeTable::parse(&self.text).ok()?;
        let (first, rest) = key.split_first()?;
        let mut value = entry(doc.get_ref(), first)?;
        for segment in rest {
            match value.get_ref() {
                DeValue::Table(table) => value = entry(table, segment)?,
                _ => return None,
            }
        }
        Some(position(&self.text, value.span().start))
    }

    fn problem(&self, key: &[&str], message: impl Into<String>) -> Problem {
        Problem { at: self.locate(key), key: key.join("."), message: message.into() }
    }
}

fn entry<'a, 'i>(table: &'a DeTable<'i>, name: &str) -> Option<&'a Spanned<DeValue<'i>>> {
    table.iter().find(|(k, _)| k.get_ref().as_ref() == name).map(|(_, v)| v)
}

/// The 1-based line and column of byte `offset` of `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Reads and checks the file (none: the defaults).
///
/// # Errors
/// Every problem [`read`] finds.
pub(crate) fn load(path: Option<&Path>) -> Result<Loaded, Vec<Problem>> {
    match read(path) {
        (loaded, problems) if problems.is_empty() => Ok(loaded.unwrap_or_default()),
        (_, problems) => Err(problems),
    }
}

/// Reads and checks the file, and returns what it could read with every problem found: the
/// file cannot be read; else every syntax error; else every unknown key, wrong type and value
/// out of range, each with its key and line. The settings are `None` only when the file could
/// not be read or parsed; otherwise they are the file without its bad entries.
pub(crate) fn read(path: Option<&Path>) -> (Option<Loaded>, Vec<Problem>) {
    let Some(path) = path else { return (Some(Loaded::default()), Vec::new()) };
    match std::fs::read_to_string(path) {
        Ok(text) => parse(text),
        Err(e) => (None, vec![Problem { at: None, key: String::new(), message: format!("cannot read the file: {e}") }]),
    }
}

/// Parses and checks `text`, as [`read`].
pub(crate) fn parse(text: String) -> (Option<Loaded>, Vec<Problem>) {
    let (doc, errors) = DeTable::parse_recoverable(&text);
    if !errors.is_empty() {
        return (None, errors.iter().map(|e| serde_problem(&text, "", e)).collect());
    }
    let mut problems = Vec::new();
    // Every entry is checked on its own; the good ones are kept, so the values of a file with
    // bad entries are still checked, and every problem is reported at once.
    let mut good = DeTable::new();
    for (key, value) in doc.get_ref() {
        let name = key.get_ref().as_ref();
        let text = text.as_str();
        let p = &mut problems;
        let kept = match (name, value.get_ref()) {
            ("server", DeValue::Table(t)) => Some(good_entries::<ServerConfig>(text, "server", t, p)),
            ("tools", DeValue::Table(t)) => Some(good_tools(text, t, p)),
            ("auth", DeValue::Table(t)) => Some(good_entries::<AuthConfig>(text, "auth", t, p)),
            ("sessions", DeValue::Table(t)) => Some(good_entries::<SessionsConfig>(text, "sessions", t, p)),
            ("templates", DeValue::Table(t)) => Some(good_entries::<TemplatesConfig>(text, "templates", t, p)),
            ("audit", DeValue::Table(t)) => Some(good_entries::<AuditConfig>(text, "audit", t, p)),
            ("breakers", DeValue::Table(t)) => Some(good_entries::<BreakersConfig>(text, "breakers", t, p)),
            ("engine", DeValue::Table(t)) => Some(good_entries::<EngineSection>(text, "engine", t, p)),
            ("workflows", DeValue::Table(t)) => {
                let mut workflows = DeTable::new();
                for (workflow, settings) in t {
                    let prefix = format!("workflows.{}", workflow.get_ref());
                    match settings.get_ref() {
                        DeValue::Table(s) => {
                            let kept = good_entries::<WorkflowConfig>(text, &prefix, s, p);
                            workflows.insert(workflow.clone(), Spanned::new(settings.span(), DeValue::Table(kept)));
                        }
                        _ => {
                            if one_entry::<BTreeMap<String, WorkflowConfig>>(text, "workflows", workflow, settings, p) {
                                workflows.insert(workflow.clone(), settings.clone());
                            }
                        }
                    }
                }
                Some(workflows)
            }
            _ => {
                if one_entry::<Config>(text, "", key, value, p) {
                    good.insert(key.clone(), value.clone());
                }
                None
            }
        };
        if let Some(table) = kept {
            good.insert(key.clone(), Spanned::new(value.span(), DeValue::Table(table)));
        }
    }
    let config = match Config::deserialize(toml::de::Deserializer::from(Spanned::new(doc.span(), good))) {
        Ok(config) => config,
        Err(e) => {
            problems.push(serde_problem(&text, "", &e));
            problems.sort_by_key(|p| p.at);
            return (None, problems);
        }
    };
    let loaded = Loaded { config, text };
    problems.extend(out_of_range(&loaded));
    problems.sort_by_key(|p| p.at);
    (Some(loaded), problems)
}

/// `[tools]`: its maps entry by entry.
fn good_tools<'i>(text: &str, table: &DeTable<'i>, problems: &mut Vec<Problem>) -> DeTable<'i> {
    let mut good = DeTable::new();
    for (key, value) in table {
        let kept = match (key.get_ref().as_ref(), value.get_ref()) {
            ("timeouts", DeValue::Table(t)) => {
                DeValue::Table(good_entries::<HashMap<String, u64>>(text, "tools.timeouts", t, problems))
            }
            ("dependencies", DeValue::Table(t)) => DeValue::Table(
                good_entries::<HashMap<String, Vec<DependencyConfig>>>(text, "tools.dependencies", t, problems),
            ),
            _ if one_entry::<ToolsConfig>(text, "tools", key, value, problems) => value.get_ref().clone(),
            _ => continue,
        };
        good.insert(key.clone(), Spanned::new(value.span(), kept));
    }
    good
}

/// The entries of `table` that deserialize as `T` on their own; every other one is a problem.
/// Checking entries one by one reports every bad entry, not only the first (every field of the
/// section types is optional).
fn good_entries<'i, T: DeserializeOwned>(
    text: &str,
    prefix: &str,
    table: &DeTable<'i>,
    problems: &mut Vec<Problem>,
) -> DeTable<'i> {
    let mut good = DeTable::new();
    for (key, value) in table {
        if one_entry::<T>(text, prefix, key, value, problems) {
            good.insert(key.clone(), value.clone());
        }
    }
    good
}

/// Whether `key = value` alone deserializes as `T`; a problem when not.
fn one_entry<T: DeserializeOwned>(
    text: &str,
    prefix: &str,
    key: &Spanned<toml::de::DeString<'_>>,
    value: &Spanned<DeValue<'_>>,
    problems: &mut Vec<Problem>,
) -> bool {
    let mut alone = DeTable::new();
    alone.insert(key.clone(), value.clone());
    let span = key.span().start..value.span().end;
    let Err(e) = T::deserialize(toml::de::Deserializer::from(Spanned::new(span, alone))) else { return true };
    let path = if prefix.is_empty() { key.get_ref().to_string() } else { format!("{prefix}.{}", key.get_ref()) };
    let mut problem = serde_problem(text, &path, &e);
    problem.at = problem.at.or_else(|| Some(position(text, key.span().start)));
    problems.push(problem);
    false
}

fn serde_problem(text: &str, key: &str, err: &toml::de::Error) -> Problem {
    Problem {
        at: err.span().map(|s| position(text, s.start)),
        key: key.to_owned(),
        message: err.message().trim().to_owned(),
    }
}

/// Values that parse but make no sense: zero or negative durations, intervals, sizes and
/// counts, listen addresses that are not `HOST:PORT`, unknown dependency types.
fn out_of_range(loaded: &Loaded) -> Vec<Problem> {
    let c = &loaded.config;
    let mut out = Vec::new();
    let mut at_least_one = |key: &[&str], value: Option<u64>, unit: &str| {
        if value == Some(0) {
            out.push(loaded.problem(key, format!("must be at least 1 {unit}")));
        }
    };
    at_least_one(&["server", "max_body_bytes"], c.server.max_body_bytes.map(as_u64), "byte");
    at_least_one(&["server", "header_read_timeout_seconds"], c.server.header_read_timeout_seconds, "second");
    at_least_one(&["server", "body_read_timeout_seconds"], c.server.body_read_timeout_seconds, "second");
    at_least_one(&["server", "idle_timeout_seconds"], c.server.idle_timeout_seconds, "second");
    at_least_one(&["server", "max_connections"], c.server.max_connections.map(as_u64), "connection");
    at_least_one(&["sessions", "stale_after_hours"], c.sessions.stale_after_hours, "hour");
    at_least_one(&["sessions", "sweep_interval_seconds"], c.sessions.sweep_interval_seconds, "second");
    at_least_one(&["breakers", "threshold"], c.breakers.threshold.map(u64::from), "failure");
    at_least_one(&["breakers", "window_seconds"], c.breakers.window_seconds, "second");
    at_least_one(&["breakers", "reset_seconds"], c.breakers.reset_seconds, "second");
    at_least_one(&["engine", "poll_interval_ms"], c.engine.poll_interval_ms, "millisecond");
    at_least_one(&["engine", "activity_concurrency"], c.engine.activity_concurrency.map(as_u64), "activity");
    at_least_one(&["engine", "payload_max_bytes"], c.engine.payload_max_bytes.map(as_u64), "byte");
    at_least_one(&["engine", "history_max_events"], c.engine.history_max_events, "event");
    at_least_one(&["engine", "history_max_bytes"], c.engine.history_max_bytes, "byte");
    let mut timeouts: Vec<_> = c.tools.timeouts.iter().collect();
    timeouts.sort();
    for (tool, seconds) in timeouts {
        at_least_one(&["tools", "timeouts", tool], Some(*seconds), "second");
    }
    for (key, seconds) in
        [("lease_seconds", c.engine.lease_seconds), ("sweep_interval_seconds", c.engine.sweep_interval_seconds)]
    {
        if let Some(s) = seconds.filter(|s| !(s.is_finite() && *s > 0.0 && *s <= MAX_SECONDS)) {
            out.push(
                loaded.problem(
                    &["engine", key],
                    format!("must be more than 0 and at most {MAX_SECONDS} seconds (got {s})"),
                ),
            );
        }
    }
    if let Some(listen) = &c.server.listen
        && let Err(why) = check_listen(listen)
    {
        out.push(loaded.problem(&["server", "listen"], why));
    }
    let mut dependents: Vec<_> = c.tools.dependencies.iter().collect();
    dependents.sort_by_key(|(tool, _)| tool.as_str());
    for (tool, deps) in dependents {
        for d in deps.iter().filter(|d| DependencyKind::parse(&d.kind).is_none()) {
            out.push(loaded.problem(
                &["tools", "dependencies", tool],
                format!(
                    "type must be one of: tool_called, session_state, context_exists, entity_exists, custom (got '{}')",
                    d.kind
                ),
            ));
        }
    }
    out
}

/// The longest fractional duration accepted (a year), so `Duration::from_secs_f64` never panics.
const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Checks the shape of a listen address: `IP:PORT` or `HOST:PORT` (names are resolved when
/// the server starts).
///
/// # Errors
/// What is wrong, with an example.
pub(crate) fn check_listen(listen: &str) -> Result<(), String> {
    if listen.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let shape = format!("'{listen}' is not HOST:PORT, e.g. 127.0.0.1:7410 or localhost:7410");
    let Some((host, port)) = listen.rsplit_once(':') else { return Err(shape) };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !host_ok || port.parse::<u16>().is_err() {
        return Err(shape);
    }
    Ok(())
}

/// Checks what the parser cannot: names of tools and workflow types this binary has, the
/// templates directory, the dependency types.
pub(crate) fn problems(loaded: &Loaded, tool_names: &[&str], workflow_types: &[&str]) -> Vec<Problem> {
    let config = &loaded.config;
    let mut out = Vec::new();
    for key in config.workflows.keys() {
        if !workflow_types.contains(&key.as_str()) {
            out.push(loaded.problem(
                &["workflows", key],
                format!("no workflow type named '{key}' in this binary (known: {})", workflow_types.join(", ")),
            ));
        }
    }
    for (key, workflow) in &config.workflows {
        for event in workflow.expected_history.iter().flatten() {
            if !waymark_engine::Event::TYPES.contains(&event.as_str()) {
                out.push(
                    loaded.problem(&["workflows", key, "expected_history"], format!("unknown event type '{event}'")),
                );
            }
        }
    }
    let mut dependents: Vec<_> = config.tools.dependencies.keys().collect();
    dependents.sort();
    for tool in dependents {
        if !tool_names.contains(&tool.as_str()) {
            out.push(loaded.problem(&["tools", "dependencies", tool], format!("unknown tool '{tool}'")));
        }
    }
    let mut timeouts: Vec<_> = config.tools.timeouts.keys().collect();
    timeouts.sort();
    for tool in timeouts {
        if !tool_names.contains(&tool.as_str()) {
            out.push(loaded.problem(&["tools", "timeouts", tool], format!("unknown tool '{tool}'")));
        }
    }
    if let Some(dir) = &config.templates.dir
        && !dir.is_dir()
    {
        out.push(loaded.problem(&["templates", "dir"], format!("'{}' is not a directory", dir.display())));
    }
    out.sort_by_key(|p| p.at);
    out
}
