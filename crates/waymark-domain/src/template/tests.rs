//! Template parsing, variable validation (the original's messages) and substitution.

use super::{MAX_VARIABLE_BYTES, Node, ParseError, VariableProblem, VariableValue, parse};

const BUG_FIX: &str = r#"
name: Fix {{ issue_id }}
description: Reproduce and fix {{ issue_id }} in {{ component }}.
category: engineering
guidelines:
  - Write the failing test first ({{ issue_id }})
metadata:
  tracker: "{{ issue_id }}"
variables:
  issue_id:
    description: Tracker id
    example: BUG-123
    format: PROJECT-NUMBER
    pattern: '^[A-Z]+-[0-9]+$'
  component:
    default: core
    allowed_values: [core, cli, web]
  severity:
    required: false
    charset: alpha
phases:
  - name: Reproduce
    tasks:
      - Write a failing test for {{ issue_id }}
      - name: Bisect
        description: Find the commit in {{ component }}
  - name: Fix
    dependencies: [1]
    tasks: [Patch]
  - name: Release
    dependencies: [Fix]
"#;

fn text(v: &str) -> VariableValue {
    VariableValue::Text(v.into())
}

#[test]
fn a_template_parses_with_its_variables_in_order() {
    let t = parse("bug-fix", BUG_FIX).unwrap();
    assert_eq!(t.name, "Fix {{ issue_id }}");
    assert_eq!(t.category, "engineering");
    let names: Vec<_> = t.variables.iter().map(|v| (v.name.as_str(), v.required)).collect();
    assert_eq!(names, [("issue_id", true), ("component", false), ("severity", false)]);
    assert_eq!(t.phases[0].tasks[1].description.as_deref(), Some("Find the commit in {{ component }}"));
    assert_eq!(t.placeholders(), ["issue_id", "component"]);
}

#[test]
fn resolve_reports_every_problem_in_the_original_wording() {
    let t = parse("bug-fix", BUG_FIX).unwrap();
    let messages = |problems: Vec<VariableProblem>| problems.into_iter().map(|p| p.message).collect::<Vec<_>>();
    let errors = messages(t.resolve(&[("component".into(), text("db")), ("severity".into(), text("P1"))]).unwrap_err());
    assert_eq!(
        errors,
        [
            "Required variable 'issue_id' is missing: Tracker id (expected format: PROJECT-NUMBER; example: 'BUG-123')",
            "Variable 'component' must be one of: core, cli, web",
            "Variable 'severity' must use the alpha character set",
        ]
    );
    let more = messages(
        t.resolve(&[
            ("issue_id".into(), text("bug 1")),
            ("component".into(), VariableValue::Null),
            ("severity".into(), VariableValue::NonScalar),
        ])
        .unwrap_err(),
    );
    assert_eq!(
        more,
        [
            "Variable 'issue_id' does not match the required pattern",
            "Variable 'component' must not be null",
            "Variable 'severity' must be a scalar value",
        ]
    );
    let control = t.resolve(&[("issue_id".into(), text("BUG-1\u{7}"))]).unwrap_err();
    assert_eq!(
        control,
        [VariableProblem {
            variable: "issue_id".into(),
            message: "Variable 'issue_id' contains disallowed control characters".into()
        }]
    );
    let long = t.resolve(&[("issue_id".into(), text(&"A".repeat(MAX_VARIABLE_BYTES + 1)))]).unwrap_err();
    assert_eq!(messages(long), ["Variable 'issue_id' exceeds maximum length of 4096 bytes"]);
}

#[test]
fn substitution_works_on_the_tree_and_keeps_json_special_characters_literal() {
    let t = parse("bug-fix", BUG_FIX).unwrap();
    let resolved = t.resolve(&[("issue_id".into(), text("BUG-7"))]).unwrap();
    assert_eq!(
        resolved,
        [("issue_id".into(), "BUG-7".into()), ("component".into(), "core".into()), ("severity".into(), String::new())]
    );
    let i = t.instantiate(&resolved);
    assert_eq!(i.name, "Fix BUG-7");
    assert_eq!(i.phases[0].tasks[0].name, "Write a failing test for BUG-7");
    assert_eq!(t.metadata_with(&resolved), [("tracker".into(), Node::String("BUG-7".into()))]);
    assert!(i.generated_context().starts_with(
        "## Plan: Fix BUG-7\n\nReproduce and fix BUG-7 in core.\n\n### Variables\n\n- **issue_id**: BUG-7\n"
    ));

    // A value full of quotes and braces stays text: nothing is spliced into serialized JSON.
    let tricky = parse("t", "name: \"{{ x }}\"\nvariables: {x: {}}\nphases: [{name: P}]\n").unwrap();
    let values = tricky.resolve(&[("x".into(), text(r#"a", "b": {"c"#))]).unwrap();
    assert_eq!(tricky.instantiate(&values).name, r#"a", "b": {"c"#);
}

#[track_caller]
fn error(source: &str) -> ParseError {
    parse("t", source).unwrap_err()
}

#[test]
fn syntax_and_shape_errors_carry_a_line() {
    let e = error("name: x\nphases:\n  - name: [unclosed\n");
    assert!(e.line.is_some(), "{e}");
    let e = error("name: x\nphases:\n  - name: A\n    taskz: [a]\n");
    assert_eq!(e.line, Some(4), "{e}");
    assert!(e.message.contains("taskz"), "{e}");
    assert!(e.to_string().starts_with("line 4, column"), "{e}");
    assert!(!e.message.contains("line 4"), "the location is not repeated in the message: {e}");
}

#[test]
fn rules_after_parsing_are_reported() {
    assert_eq!(error("name: x\nphases: []\n").message, "phases: a template needs at least one phase");
    assert_eq!(
        error("name: x\nvariables: {ProjectName: {}}\nphases: [{name: A}]\n").message,
        "variables.ProjectName: Variable names use snake_case (e.g. project_name, api_key)"
    );
    assert_eq!(
        error("name: \"{{ nope }}\"\nphases: [{name: A}]\n").message,
        "placeholder {{ nope }} does not name a declared variable"
    );
    assert_eq!(
        error("name: x\nphases: [{name: A, dependencies: [2]}, {name: B}]\n").message,
        "phases[0].dependencies: each entry must name an earlier phase by order or name"
    );
    assert!(
        error("name: x\nvariables: {v: {pattern: '('}}\nphases: [{name: A}]\n")
            .message
            .starts_with("variables.v.pattern is not a valid regex")
    );
    assert_eq!(
        error("name: x\nphases: [{name: A, tasks: [{name: T, descripton: typo}]}]\n").message,
        "phases[0].tasks[0]: unknown field `descripton`, expected `name` or `description`"
    );
    assert_eq!(
        error("name: x\nvariables: {c: {default: purple, allowed_values: [red, blue]}}\nphases: [{name: A}]\n").message,
        "variables.c.default: Variable 'c' must be one of: red, blue"
    );
    assert_eq!(
        error("name: x\nphases: [{name: A}, {name: a}]\n").message,
        "phases[1].name 'a' repeats the name of phase 1"
    );
    assert_eq!(
        error("name: \"{{ foo-bar }}\"\nphases: [{name: A}]\n").message,
        "placeholder {{ foo-bar }} is not a variable name (letters, digits and _)"
    );
    assert_eq!(
        error("name: x\nvariables: {v: {example: [1]}}\nphases: [{name: A}]\n").message,
        "variables.v.example must be a scalar value"
    );
}

#[test]
fn name_dependencies_become_orders_before_substitution() {
    let t = parse(
        "t",
        "name: x\nvariables: {v: {}}\nphases: [{name: 'P {{ v }}'}, {name: Q, dependencies: ['P {{ v }}']}]\n",
    )
    .unwrap();
    assert_eq!(t.phases[1].dependencies, [crate::PhaseRef::Order(1)]);
}

#[test]
fn unsupported_charsets_are_reported_when_used() {
    let t = parse("t", "name: x\nvariables: {v: {charset: emoji}}\nphases: [{name: A}]\n").unwrap();
    assert_eq!(
        t.resolve(&[("v".into(), text("a"))]).unwrap_err()[0].message,
        "Variable 'v' declares unsupported charset 'emoji'"
    );
}
