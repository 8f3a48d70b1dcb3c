//! Tool dependencies (seed-000 §4.2, AGENT-TOOLS.md "The machinery" step 5): what must be true
//! before a tool runs, checked in declared order, and the order in which to call tools to make
//! it true.
//!
//! The rules are pure: the core gathers the facts (which context keys exist, which entities
//! exist in the caller's workspace, which tools the agent session has called, what custom
//! validators say) into a [`Facts`] value, and [`Registry::check`] decides.

use std::collections::{BTreeMap, BTreeSet};

/// What kind of thing a dependency needs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DependencyKind {
    /// A tool was called earlier in the same agent session (durable call history).
    ToolCalled,
    /// The arguments name an agent session (by the argument `key`) that exists in the caller's
    /// workspace.
    SessionState,
    /// The call's context holds `key` with a non-null value (for example `workspace_id`).
    ContextExists,
    /// An entity of type `key` (`plan`, `session`, `phase`) named by the argument `arg_key`
    /// exists in the caller's workspace.
    EntityExists,
    /// A named validator registered with the service says yes.
    Custom,
}

impl DependencyKind {
    /// The wire name (the original's `type` values).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ToolCalled => "tool_called",
            Self::SessionState => "session_state",
            Self::ContextExists => "context_exists",
            Self::EntityExists => "entity_exists",
            Self::Custom => "custom",
        }
    }

    /// Parses a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "tool_called" => Self::ToolCalled,
            "session_state" => Self::SessionState,
            "context_exists" => Self::ContextExists,
            "entity_exists" => Self::EntityExists,
            "custom" => Self::Custom,
            _ => return None,
        })
    }
}

/// One dependency of a tool (the original's `ToolDependency{type, key, description, optional,
/// metadata}`; `metadata.arg_key` is [`Dependency::arg_key`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// Its kind.
    pub kind: DependencyKind,
    /// The tool, context key, entity type, session argument or validator name.
    pub key: String,
    /// Shown to the agent; the original's default wording when absent.
    pub description: Option<String>,
    /// Optional dependencies are never checked.
    pub optional: bool,
    /// For `entity_exists`: the argument that names the entity.
    pub arg_key: Option<String>,
}

impl Dependency {
    fn new(kind: DependencyKind, key: &str) -> Self {
        Self { kind, key: key.to_owned(), description: None, optional: false, arg_key: None }
    }

    /// `toolCalled(tool)`.
    pub fn tool_called(tool: &str) -> Self {
        Self::new(DependencyKind::ToolCalled, tool)
    }

    /// `sessionState(key)`: the argument `key` names a session of the caller's workspace.
    pub fn session_state(key: &str) -> Self {
        Self::new(DependencyKind::SessionState, key)
    }

    /// `contextExists(key)`.
    pub fn context_exists(key: &str) -> Self {
        Self::new(DependencyKind::ContextExists, key)
    }

    /// `entityExists(entity, arg_key)`.
    pub fn entity_exists(entity: &str, arg_key: &str) -> Self {
        Self { arg_key: Some(arg_key.to_owned()), ..Self::new(DependencyKind::EntityExists, entity) }
    }

    /// `custom(name)`: met when the validator registered under `name` says so; fails closed
    /// when no validator is registered.
    pub fn custom(name: &str) -> Self {
        Self::new(DependencyKind::Custom, name)
    }

    /// With a description.
    #[must_use]
    pub fn described(mut self, description: &str) -> Self {
        self.description = Some(description.to_owned());
        self
    }

    /// Marked optional (`asOptional()`): never checked.
    #[must_use]
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// The description shown to the agent (the original's defaults when none was given).
    pub fn describe(&self) -> String {
        if let Some(d) = &self.description {
            return d.clone();
        }
        match self.kind {
            DependencyKind::ToolCalled => format!("Tool '{}' must be called first", self.key),
            DependencyKind::SessionState => format!("Session state '{}' is required", self.key),
            DependencyKind::ContextExists => format!("Context '{}' is required", self.key),
            DependencyKind::EntityExists => format!("Entity '{}' must exist", self.key),
            DependencyKind::Custom => format!("Custom check '{}' must pass", self.key),
        }
    }
}

/// What the core found out about one call, for [`Registry::check`].
pub trait Facts {
    /// Whether the call's context holds `key` with a non-null value.
    fn context_has(&self, key: &str) -> bool;
    /// Whether the argument `arg_key` names a session of the caller's workspace.
    fn session_exists(&self, arg_key: &str) -> bool;
    /// Whether an entity of type `entity` named by the argument `arg_key` exists in the
    /// caller's workspace. Unknown entity types do not exist (fail closed).
    fn entity_exists(&self, entity: &str, arg_key: &str) -> bool;
    /// Whether the agent session named in the arguments has called `tool`.
    fn tool_called(&self, tool: &str) -> bool;
    /// What the custom validator `name` says; `None` when none is registered (fail closed).
    fn custom(&self, name: &str) -> Option<bool>;
}

/// Unmet dependencies of one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmet {
    /// The tool that was called.
    pub tool: String,
    /// The dependencies not met, in declared order.
    pub missing: Vec<Dependency>,
    /// Tools to call, in order, ending with `tool` (topological over `tool_called` edges).
    pub suggested_order: Vec<String>,
}

impl Unmet {
    /// The original's message: "Cannot execute '{tool}': prerequisites not met." with a
    /// "Missing:" list and, when useful, "Suggested order:".
    pub fn message(&self) -> String {
        let mut out = format!("Cannot execute '{}': prerequisites not met.\nMissing:", self.tool);
        for dep in &self.missing {
            out.push_str(&format!("\n- {}", dep.describe()));
        }
        if self.suggested_order.len() > 1 {
            out.push_str("\nSuggested order:");
            for (i, tool) in self.suggested_order.iter().enumerate() {
                out.push_str(&format!("\n{}. {tool}", i + 1));
            }
        }
        out
    }

    /// The original's `help` text.
    pub fn help(&self) -> String {
        if self.suggested_order.len() > 1 {
            let before = &self.suggested_order[..self.suggested_order.len() - 1];
            format!("Call these tools in order before attempting {}: {}", self.tool, before.join(" -> "))
        } else {
            "Ensure all required dependencies are satisfied before calling this tool.".to_owned()
        }
    }
}

/// Every tool's dependencies. A tool's own registration replaces its defaults (the original's
/// rule: non-empty `dependencies()` win over `ToolDependencyService` defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    by_tool: BTreeMap<String, Vec<Dependency>>,
    producers: BTreeMap<String, String>,
}

impl Registry {
    /// The original's default registrations (§4.2), adjusted to argument-passed `session_id`:
    ///
    /// | dependency | tools |
    /// |---|---|
    /// | `session_state(session_id)` "Active session required. Call session_start first." | session_log, session_artifact, session_handoff, session_end |
    /// | `context_exists(workspace_id)` "Workspace context required" | plan_create |
    /// | `entity_exists(plan, arg_key=plan_slug)` "Plan must exist" | task_update, task_toggle, phase_get, phase_update_status, phase_add_checkpoint |
    ///
    /// It also knows which tool produces an entity, for `suggested_order`: `plan_create` makes
    /// plans and `session_start` sessions.
    pub fn with_defaults() -> Self {
        let mut r = Self::default();
        let session =
            Dependency::session_state("session_id").described("Active session required. Call session_start first.");
        for tool in ["session_log", "session_artifact", "session_handoff", "session_end"] {
            r.register(tool, vec![session.clone()]);
        }
        r.register(
            "plan_create",
            vec![Dependency::context_exists("workspace_id").described("Workspace context required")],
        );
        let plan = Dependency::entity_exists("plan", "plan_slug").described("Plan must exist");
        for tool in ["task_update", "task_toggle", "phase_get", "phase_update_status", "phase_add_checkpoint"] {
            r.register(tool, vec![plan.clone()]);
        }
        r.producers.insert("plan".into(), "plan_create".into());
        r.producers.insert("session".into(), "session_start".into());
        r.producers.insert("session_state".into(), "session_start".into());
        r
    }

    /// Registers `tool`'s dependencies, replacing earlier ones (an empty list removes them).
    pub fn register(&mut self, tool: &str, dependencies: Vec<Dependency>) {
        if dependencies.is_empty() {
            self.by_tool.remove(tool);
        } else {
            self.by_tool.insert(tool.to_owned(), dependencies);
        }
    }

    /// `tool`'s dependencies (empty when none are registered).
    pub fn dependencies(&self, tool: &str) -> &[Dependency] {
        self.by_tool.get(tool).map_or(&[], Vec::as_slice)
    }

    /// `{tool: (dependencies, dependents)}` over `tool_called` edges, for every tool that has or
    /// is a dependency.
    pub fn graph(&self) -> BTreeMap<String, (Vec<String>, Vec<String>)> {
        let mut graph: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
        for (tool, deps) in &self.by_tool {
            for dep in deps.iter().filter(|d| d.kind == DependencyKind::ToolCalled) {
                graph.entry(tool.clone()).or_default().0.push(dep.key.clone());
                graph.entry(dep.key.clone()).or_default().1.push(tool.clone());
            }
        }
        graph
    }

    /// Tools that declare a `tool_called` dependency on `tool`.
    pub fn dependents(&self, tool: &str) -> Vec<String> {
        self.graph().remove(tool).map(|(_, dependents)| dependents).unwrap_or_default()
    }

    /// Every tool in the graph ordered so each comes after its `tool_called` prerequisites
    /// (ties by name). Tools on a cycle come last, in name order.
    pub fn topological_order(&self) -> Vec<String> {
        let graph = self.graph();
        let mut done: Vec<String> = Vec::new();
        let mut remaining: BTreeSet<String> = graph.keys().cloned().collect();
        loop {
            let ready: Vec<String> = remaining
                .iter()
                .filter(|t| graph[*t].0.iter().all(|d| done.contains(d) || !graph.contains_key(d)))
                .cloned()
                .collect();
            if ready.is_empty() {
                break;
            }
            for t in ready {
                remaining.remove(&t);
                done.push(t);
            }
        }
        done.extend(remaining);
        done
    }

    /// The prerequisites of `tool` over `tool_called` edges, deepest first, without repeats.
    fn prerequisites(&self, tool: &str, seen: &mut Vec<String>, out: &mut Vec<String>) {
        for dep in self.dependencies(tool).iter().filter(|d| d.kind == DependencyKind::ToolCalled && !d.optional) {
            if seen.contains(&dep.key) {
                continue;
            }
            seen.push(dep.key.clone());
            self.prerequisites(&dep.key, seen, out);
            if !out.contains(&dep.key) {
                out.push(dep.key.clone());
            }
        }
    }

    /// Checks `tool`'s non-optional dependencies in declared order.
    ///
    /// # Errors
    /// [`Unmet`] listing every unmet dependency and a suggested call order.
    pub fn check(&self, tool: &str, facts: &dyn Facts) -> Result<(), Unmet> {
        let missing: Vec<Dependency> = self
            .dependencies(tool)
            .iter()
            .filter(|d| !d.optional)
            .filter(|d| match d.kind {
                DependencyKind::ToolCalled => !facts.tool_called(&d.key),
                DependencyKind::SessionState => !facts.session_exists(&d.key),
                DependencyKind::ContextExists => !facts.context_has(&d.key),
                DependencyKind::EntityExists => !facts.entity_exists(&d.key, d.arg_key.as_deref().unwrap_or(&d.key)),
                DependencyKind::Custom => facts.custom(&d.key) != Some(true),
            })
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let mut order = Vec::new();
        for dep in &missing {
            match dep.kind {
                DependencyKind::ToolCalled => {
                    let mut seen = vec![tool.to_owned(), dep.key.clone()];
                    self.prerequisites(&dep.key, &mut seen, &mut order);
                    if !order.contains(&dep.key) {
                        order.push(dep.key.clone());
                    }
                }
                DependencyKind::EntityExists | DependencyKind::SessionState => {
                    let producer = match dep.kind {
                        DependencyKind::SessionState => self.producers.get("session_state"),
                        _ => self.producers.get(&dep.key),
                    };
                    if let Some(p) = producer
                        && !order.contains(p)
                    {
                        order.push(p.clone());
                    }
                }
                DependencyKind::ContextExists | DependencyKind::Custom => {}
            }
        }
        order.push(tool.to_owned());
        Err(Unmet { tool: tool.to_owned(), missing, suggested_order: order })
    }
}

#[cfg(test)]
mod tests;
