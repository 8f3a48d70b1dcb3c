//! The original's `ToolDependencyServiceTest` list (seed-000 §5.2), ported. The tests about
//! durable call history and session isolation live in the core's suite, where the history is.

use std::collections::{BTreeMap, BTreeSet};

use super::{Dependency, DependencyKind, Facts, Registry};

/// Facts set by hand.
#[derive(Default)]
struct Given {
    context: BTreeSet<&'static str>,
    sessions: bool,
    entities: BTreeSet<&'static str>,
    called: BTreeSet<&'static str>,
    custom: BTreeMap<&'static str, bool>,
}

impl Facts for Given {
    fn context_has(&self, key: &str) -> bool {
        self.context.contains(key)
    }
    fn session_exists(&self, _arg_key: &str) -> bool {
        self.sessions
    }
    fn entity_exists(&self, entity: &str, _arg_key: &str) -> bool {
        self.entities.contains(entity)
    }
    fn tool_called(&self, tool: &str) -> bool {
        self.called.contains(tool)
    }
    fn custom(&self, name: &str) -> Option<bool> {
        self.custom.get(name).copied()
    }
}

fn chain() -> Registry {
    let mut r = Registry::default();
    r.register("deploy", vec![Dependency::tool_called("test")]);
    r.register("test", vec![Dependency::tool_called("build")]);
    r.register("build", vec![Dependency::tool_called("checkout")]);
    r
}

#[test]
fn it_registers_dependencies() {
    let mut r = Registry::default();
    r.register("t", vec![Dependency::tool_called("a"), Dependency::context_exists("workspace_id")]);
    assert_eq!(r.dependencies("t").len(), 2);
    assert_eq!(r.dependencies("t")[1].kind, DependencyKind::ContextExists);
}

#[test]
fn it_returns_empty_for_an_unregistered_tool() {
    assert!(Registry::default().dependencies("nothing").is_empty());
}

#[test]
fn it_passes_with_no_dependencies() {
    assert!(Registry::default().check("free", &Given::default()).is_ok());
}

#[test]
fn tool_called_fails_when_the_tool_has_not_been_called() {
    let unmet = chain().check("deploy", &Given::default()).unwrap_err();
    assert_eq!(unmet.missing, [Dependency::tool_called("test")]);
}

#[test]
fn tool_called_passes_after_the_call() {
    let given = Given { called: ["test"].into(), ..Given::default() };
    assert!(chain().check("deploy", &given).is_ok());
}

#[test]
fn context_exists_and_session_state_are_checked() {
    let mut r = Registry::default();
    r.register("t", vec![Dependency::context_exists("workspace_id"), Dependency::session_state("session_id")]);
    let unmet = r.check("t", &Given::default()).unwrap_err();
    assert_eq!(unmet.missing.len(), 2);
    let given = Given { context: ["workspace_id"].into(), sessions: true, ..Given::default() };
    assert!(r.check("t", &given).is_ok());
}

#[test]
fn it_lists_every_missing_dependency_in_declared_order() {
    let mut r = Registry::default();
    r.register(
        "t",
        vec![
            Dependency::tool_called("a"),
            Dependency::entity_exists("plan", "plan_slug"),
            Dependency::tool_called("b"),
        ],
    );
    let given = Given { called: ["a"].into(), ..Given::default() };
    let unmet = r.check("t", &given).unwrap_err();
    let kinds: Vec<_> = unmet.missing.iter().map(|d| (d.kind.as_str(), d.key.as_str())).collect();
    assert_eq!(kinds, [("entity_exists", "plan"), ("tool_called", "b")]);
}

#[test]
fn validate_fails_when_unmet_and_passes_when_met() {
    let r = chain();
    assert!(r.check("test", &Given::default()).is_err());
    assert!(r.check("test", &Given { called: ["build"].into(), ..Given::default() }).is_ok());
}

#[test]
fn validate_skips_optional_dependencies() {
    let mut r = Registry::default();
    r.register("t", vec![Dependency::tool_called("nice_to_have").optional()]);
    assert!(r.check("t", &Given::default()).is_ok());
}

#[test]
fn the_dependency_graph_and_dependent_tools() {
    let graph = chain().graph();
    assert_eq!(graph["test"], (vec!["build".to_owned()], vec!["deploy".to_owned()]));
    assert_eq!(graph["checkout"], (vec![], vec!["build".to_owned()]));
    assert_eq!(chain().dependents("build"), ["test"]);
}

#[test]
fn topological_order_puts_prerequisites_first() {
    assert_eq!(chain().topological_order(), ["checkout", "build", "test", "deploy"]);
    let mut cycle = Registry::default();
    cycle.register("a", vec![Dependency::tool_called("b")]);
    cycle.register("b", vec![Dependency::tool_called("a")]);
    assert_eq!(cycle.topological_order(), ["a", "b"], "a cycle does not loop forever");
}

#[test]
fn custom_validators_decide_and_a_missing_validator_fails_closed() {
    let mut r = Registry::default();
    r.register("t", vec![Dependency::custom("business_hours")]);
    assert!(r.check("t", &Given::default()).is_err(), "no validator registered");
    let yes = Given { custom: [("business_hours", true)].into(), ..Given::default() };
    assert!(r.check("t", &yes).is_ok());
    let no = Given { custom: [("business_hours", false)].into(), ..Given::default() };
    assert!(r.check("t", &no).is_err());
}

#[test]
fn suggested_order_walks_prerequisites_topologically() {
    let unmet = chain().check("deploy", &Given::default()).unwrap_err();
    assert_eq!(unmet.suggested_order, ["checkout", "build", "test", "deploy"]);
    assert_eq!(unmet.help(), "Call these tools in order before attempting deploy: checkout -> build -> test");
    let defaults = Registry::with_defaults();
    let unmet = defaults.check("phase_get", &Given::default()).unwrap_err();
    assert_eq!(unmet.suggested_order, ["plan_create", "phase_get"]);
}

#[test]
fn the_unmet_message_matches_the_original() {
    let unmet = chain().check("test", &Given::default()).unwrap_err();
    assert_eq!(
        unmet.message(),
        "Cannot execute 'test': prerequisites not met.\nMissing:\n- Tool 'build' must be called first\nSuggested order:\n1. checkout\n2. build\n3. test"
    );
}

#[test]
fn default_dependencies_are_registered() {
    let r = Registry::with_defaults();
    for tool in ["session_log", "session_artifact", "session_handoff", "session_end"] {
        assert_eq!(r.dependencies(tool)[0].kind, DependencyKind::SessionState, "{tool}");
        assert_eq!(r.dependencies(tool)[0].describe(), "Active session required. Call session_start first.");
    }
    for tool in ["task_update", "task_toggle", "phase_get", "phase_update_status", "phase_add_checkpoint"] {
        let dep = &r.dependencies(tool)[0];
        assert_eq!(
            (dep.kind.clone(), dep.key.as_str(), dep.arg_key.as_deref()),
            (DependencyKind::EntityExists, "plan", Some("plan_slug"))
        );
    }
    assert_eq!(r.dependencies("plan_create")[0].key, "workspace_id");
    assert!(r.dependencies("plan_list").is_empty());
}

#[test]
fn dependency_factories_and_default_descriptions() {
    assert_eq!(Dependency::tool_called("x").describe(), "Tool 'x' must be called first");
    assert_eq!(Dependency::session_state("x").describe(), "Session state 'x' is required");
    assert_eq!(Dependency::context_exists("x").describe(), "Context 'x' is required");
    assert_eq!(Dependency::entity_exists("plan", "plan_slug").describe(), "Entity 'plan' must exist");
    assert!(Dependency::custom("x").optional().optional);
}

#[test]
fn kinds_round_trip_through_their_wire_names() {
    for kind in [
        DependencyKind::ToolCalled,
        DependencyKind::SessionState,
        DependencyKind::ContextExists,
        DependencyKind::EntityExists,
        DependencyKind::Custom,
    ] {
        assert_eq!(DependencyKind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(DependencyKind::parse("nope"), None);
}
