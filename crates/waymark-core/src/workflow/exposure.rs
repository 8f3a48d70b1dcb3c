//! Which workflow types MCP may start: the allow-list of `waymark.toml` `[workflows.<key>]`
//! (ENGINE.md "Which workflows MCP may start"). The CLI and library can start any registered
//! type; MCP only the exposed ones.

use serde_json::Value;
use waymark_engine::{EngineConfig, Registry};

/// One allow-list entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Exposure {
    /// The workflow type key.
    pub key: String,
    /// Whether MCP may start it.
    pub expose: bool,
    /// Overrides the type's own description.
    pub description: Option<String>,
    /// A short label for the durable pattern it shows (`deterministic activity chain`).
    pub pattern: Option<String>,
    /// The equivalent CLI command.
    pub command: Option<String>,
    /// Whether it is safe for a no-credential local smoke test.
    pub safe_for_smoke: bool,
    /// Credential or environment names it needs (names, never values).
    pub requires: Vec<String>,
    /// The output a successful run produces, when fixed.
    pub expected_output: Option<Value>,
    /// The event types a successful run records, in order.
    pub expected_history: Vec<String>,
}

impl Exposure {
    /// An exposed entry with nothing else said.
    pub fn exposed(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            expose: true,
            description: None,
            pattern: None,
            command: None,
            safe_for_smoke: false,
            requires: Vec::new(),
            expected_output: None,
            expected_history: Vec::new(),
        }
    }
}

/// The defaults: `simple` and `elapsed`, exposed, smoke-safe, with their expected outputs
/// and histories.
pub fn default_exposures() -> Vec<Exposure> {
    let history = |events: &[&str]| events.iter().map(|e| (*e).to_owned()).collect();
    vec![
        Exposure {
            pattern: Some("deterministic activity chain".to_owned()),
            command: Some("waymark workflow start simple --wait".to_owned()),
            safe_for_smoke: true,
            expected_output: Some(Value::from("workflow_activity_other")),
            expected_history: history(&[
                "StartAccepted",
                "WorkflowStarted",
                "ActivityScheduled",
                "ActivityStarted",
                "ActivityCompleted",
                "ActivityScheduled",
                "ActivityStarted",
                "ActivityCompleted",
                "WorkflowCompleted",
            ]),
            ..Exposure::exposed("simple")
        },
        Exposure {
            pattern: Some("durable time and side effects".to_owned()),
            command: Some("waymark workflow start elapsed --wait".to_owned()),
            safe_for_smoke: true,
            expected_output: Some(Value::from("Elapsed Time: N seconds (N >= 3)")),
            expected_history: history(&[
                "StartAccepted",
                "WorkflowStarted",
                "SideEffectRecorded",
                "ActivityScheduled",
                "ActivityStarted",
                "ActivityCompleted",
                "SideEffectRecorded",
                "WorkflowCompleted",
            ]),
            ..Exposure::exposed("elapsed")
        },
    ]
}

/// The workflow settings of a [`crate::ServiceConfig`].
#[derive(Clone, Debug)]
pub struct WorkflowsConfig {
    /// Workflow and activity types besides the built-in ones (bring your own).
    pub registry: Registry,
    /// The MCP allow-list, in `list_workflows` order.
    pub exposures: Vec<Exposure>,
    /// Leases, polling, concurrency, cache and limits.
    pub engine: EngineConfig,
}

impl Default for WorkflowsConfig {
    fn default() -> Self {
        Self { registry: Registry::new(), exposures: default_exposures(), engine: EngineConfig::default() }
    }
}
