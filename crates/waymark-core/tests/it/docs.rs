//! Documentation generated from the code, kept in sync by tests (rust-analyzer's
//! `ensure_file_contents`): locally a stale file is rewritten and the test fails once so the
//! change gets committed; in CI (`CI` set) a stale file just fails.

use std::fmt::Write;
use std::path::PathBuf;

use serde_json::Value;
use waymark_core::ErrorCode;
use waymark_testkit::{Backend, TestService};

fn repo_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

fn ensure_file_contents(relative: &str, contents: &str) {
    let path = repo_file(relative);
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current == contents {
        return;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{relative} is out of date: run `cargo test -p waymark-core --test it docs` and commit the result");
    }
    std::fs::write(&path, contents).expect("write generated file");
    panic!("{relative} was out of date and has been regenerated; commit it");
}

fn type_of(schema: &Value) -> String {
    match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => {
            types.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect::<Vec<_>>().join(" or ")
        }
        _ => "any".into(),
    }
}

fn constraints(schema: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values.iter().filter_map(Value::as_str).map(|v| format!("`{v}`")).collect();
        parts.push(format!("one of {}", names.join(", ")));
    }
    for (key, label) in [
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minimum", "min"),
        ("maximum", "max"),
        ("maxItems", "max items"),
    ] {
        if let Some(v) = schema.get(key) {
            parts.push(format!("{label} {v}"));
        }
    }
    if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
        parts.push(format!("pattern `{p}`"));
    }
    parts.join("; ")
}

fn render_tools(service: &waymark_core::Service) -> String {
    let mut out = String::from(
        "# Tool reference\n\n\
         Generated from the tool catalogue by `cargo test -p waymark-core --test it docs`; do not edit by hand.\n\n\
         Every tool returns `structuredContent = {\"success\": true, ...}` on success and \
         `{\"success\": false, \"error\", \"code\", \"details\"?}` with `isError: true` on failure \
         (see [error-codes.md](error-codes.md)).\n\n",
    );
    let tools = service.catalogue().tools();
    out.push_str("| tool | category | scope | read-only | description |\n|---|---|---|---|---|\n");
    for t in tools {
        let _ = writeln!(
            out,
            "| [`{}`](#{}) | {} | {} | {} | {} |",
            t.name,
            t.name,
            t.category.as_str(),
            t.scope.as_str(),
            if t.annotations.read_only_hint { "yes" } else { "no" },
            t.description.split(". ").next().unwrap_or(t.description).trim_end_matches('.')
        );
    }
    for t in tools {
        let _ = write!(out, "\n## {}\n\n{}\n\n", t.name, t.description);
        let _ = writeln!(
            out,
            "Scope `{}`. Annotations: readOnly {}, destructive {}, idempotent {}, openWorld {}.\n",
            t.scope.as_str(),
            t.annotations.read_only_hint,
            t.annotations.destructive_hint,
            t.annotations.idempotent_hint,
            t.annotations.open_world_hint
        );
        let required: Vec<&str> = t
            .input_schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(props) = t.input_schema.get("properties").and_then(Value::as_object) {
            out.push_str("| argument | type | required | rules | description |\n|---|---|---|---|---|\n");
            for (name, schema) in props {
                let _ = writeln!(
                    out,
                    "| `{name}` | {} | {} | {} | {} |",
                    type_of(schema),
                    if required.contains(&name.as_str()) { "yes" } else { "no" },
                    constraints(schema),
                    schema.get("description").and_then(Value::as_str).unwrap_or("").replace('|', "\\|")
                );
            }
        }
        let success = t.output_schema.get("anyOf").and_then(|a| a.get(0)).cloned().unwrap_or(Value::Null);
        if let Some(props) = success.get("properties").and_then(Value::as_object) {
            let fields: Vec<String> = props.keys().map(|k| format!("`{k}`")).collect();
            let _ = writeln!(out, "\nResult fields: {}.", fields.join(", "));
        }
    }
    out
}

#[tokio::test]
async fn tools_reference_is_generated_from_the_catalogue() {
    let t = TestService::start(Backend::Sqlite).await;
    ensure_file_contents("docs/tools.md", &render_tools(&t.service));
    t.finish().await;
}

#[test]
fn every_error_code_has_a_documented_section_and_no_other() {
    let text = std::fs::read_to_string(repo_file("docs/error-codes.md")).expect("docs/error-codes.md");
    let documented: Vec<&str> =
        text.lines().filter_map(|l| l.strip_prefix("## `")).filter_map(|l| l.strip_suffix('`')).collect();
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(documented, codes, "docs/error-codes.md must have one `## `code`` section per ErrorCode, in order");
}
