//! The whole tool catalogue as `tools/list` shows it, pinned.

use serde_json::json;
use waymark_testkit::{Backend, TestService};

#[tokio::test]
async fn tools_list_is_pinned() {
    let t = TestService::start(Backend::Sqlite).await;
    let tools: Vec<_> = t
        .service
        .catalogue()
        .tools()
        .iter()
        .map(|tool| {
            json!({
                "name": tool.name,
                "category": tool.category.as_str(),
                "scope": tool.scope.as_str(),
                "description": tool.description,
                "annotations": tool.annotations,
                "inputSchema": *tool.input_schema,
                "outputSchema": *tool.output_schema,
            })
        })
        .collect();
    insta::assert_json_snapshot!("tools_list", tools);
    t.finish().await;
}

#[tokio::test]
async fn every_schema_is_a_valid_2020_12_object_schema() {
    let t = TestService::start(Backend::Sqlite).await;
    for tool in t.service.catalogue().tools() {
        for (kind, schema) in [("input", &tool.input_schema), ("output", &tool.output_schema)] {
            let value = serde_json::Value::Object((**schema).clone());
            assert_eq!(
                schema.get("type"),
                Some(&json!("object")),
                "{} {kind} schema root must be an object",
                tool.name
            );
            assert!(jsonschema::meta::is_valid(&value), "{} {kind} schema is not valid JSON Schema", tool.name);
            assert!(!value.to_string().contains("\"$ref\""), "{} {kind} schema must be self-contained", tool.name);
        }
        assert!(tool.description.len() <= 400, "{} description is too long", tool.name);
    }
    t.finish().await;
}

/// Keywords an advertised input schema may use: the intersection of what OpenAI function
/// calling and Gemini function declarations (OpenAPI 3.0 subset) accept, and what the MCP
/// Inspector's `--strict` lint passes (docs/tools.md, "Schema portability").
const PORTABLE_KEYWORDS: &[&str] = &[
    "type",
    "description",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "anyOf",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "maxProperties",
];

const JSON_TYPES: &[&str] = &["string", "number", "integer", "boolean", "object", "array", "null"];

/// Every rule of the portable subset broken by `schema` (at `path`); `optional` is whether
/// the node is an argument its parent does not require.
fn portability_violations(schema: &serde_json::Value, path: &str, optional: bool, out: &mut Vec<String>) {
    use serde_json::Value;
    let Some(map) = schema.as_object() else {
        out.push(format!("{path}: a boolean schema"));
        return;
    };
    for key in map.keys() {
        if !PORTABLE_KEYWORDS.contains(&key.as_str()) {
            out.push(format!("{path}: keyword `{key}` is not portable"));
        }
    }
    match (map.get("type"), map.get("anyOf")) {
        (Some(Value::String(t)), None) if JSON_TYPES.contains(&t.as_str()) => {}
        (None, Some(Value::Array(branches))) if branches.len() >= 2 => {
            for (i, b) in branches.iter().enumerate() {
                portability_violations(b, &format!("{path}.anyOf[{i}]"), false, out);
            }
        }
        (None, None) if map.contains_key("enum") => out.push(format!("{path}: an enum without a type")),
        other => out.push(format!("{path}: needs one `type` string or an `anyOf` of two or more ({other:?})")),
    }
    if optional && (map.get("type") == Some(&json!("null")) || schema.to_string().contains("\"null\"")) {
        out.push(format!("{path}: an optional argument is not nullable (absent means not given)"));
    }
    if let Some(values) = map.get("enum").and_then(Value::as_array)
        && !values.iter().all(Value::is_string)
    {
        out.push(format!("{path}: enum values must be strings"));
    }
    match map.get("type").and_then(Value::as_str) {
        Some("object") => {
            let required: Vec<&str> = map
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let properties = map.get("properties").and_then(Value::as_object);
            match (properties, map.get("additionalProperties")) {
                (Some(_), Some(Value::Bool(false))) | (None, None | Some(Value::Object(_))) => {}
                other => out.push(format!(
                    "{path}: an object declares its properties with additionalProperties false, or none when it is free-form ({other:?})"
                )),
            }
            for name in &required {
                if !properties.is_some_and(|p| p.contains_key(*name)) {
                    out.push(format!("{path}: requires `{name}`, which it does not declare"));
                }
            }
            for (name, property) in properties.into_iter().flatten() {
                portability_violations(property, &format!("{path}.{name}"), !required.contains(&name.as_str()), out);
            }
        }
        Some("array") => match map.get("items") {
            Some(items) => portability_violations(items, &format!("{path}[]"), false, out),
            None => out.push(format!("{path}: an array declares its items")),
        },
        _ => {}
    }
}

#[tokio::test]
async fn every_advertised_input_schema_is_in_the_portable_subset() {
    let t = TestService::start(Backend::Sqlite).await;
    let mut violations = Vec::new();
    for tool in t.service.catalogue().tools() {
        portability_violations(
            &serde_json::Value::Object((*tool.input_schema).clone()),
            tool.name,
            false,
            &mut violations,
        );
    }
    assert!(violations.is_empty(), "{} rules broken:\n{}", violations.len(), violations.join("\n"));
    t.finish().await;
}

#[test]
fn the_portability_rules_catch_what_strict_consumers_refuse() {
    let mut found = Vec::new();
    let bad = json!({
        "type": "object",
        "properties": {
            "a": { "type": ["string", "null"] },
            "b": { "type": "array" },
            "c": { "const": "x" },
            "d": { "description": "anything" },
            "e": { "type": "object", "properties": { "f": { "type": "string" } } },
            "g": { "anyOf": [{ "type": "string" }, { "type": "null" }] }
        },
        "required": ["z"]
    });
    portability_violations(&bad, "t", false, &mut found);
    let text = found.join("\n");
    for expected in [
        "t: an object declares its properties",
        "t.a: needs one `type` string",
        "t.b: an array declares its items",
        "t.c: keyword `const` is not portable",
        "t.d: needs one `type` string",
        "t.e: an object declares its properties",
        "t.g: an optional argument is not nullable",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

/// What one tool costs a client in `tools/list` bytes, split as the budget counts it.
pub(crate) fn listed_bytes(tool: &waymark_core::Tool) -> (usize, usize) {
    let seen_by_model =
        json!({ "name": tool.name, "description": tool.description, "inputSchema": *tool.input_schema });
    let whole = json!({
        "name": tool.name,
        "description": tool.description,
        "inputSchema": *tool.input_schema,
        "outputSchema": *tool.output_schema,
        "annotations": {
            "readOnlyHint": tool.annotations.read_only_hint,
            "destructiveHint": tool.annotations.destructive_hint,
            "idempotentHint": tool.annotations.idempotent_hint,
            "openWorldHint": tool.annotations.open_world_hint,
        }
    });
    (seen_by_model.to_string().len(), whole.to_string().len())
}

/// The `tools/list` of `/mcp` an agent pays for: names, descriptions and input schemas (what
/// the model sees) at most 24 KB, the whole list at most 48 KB (docs/tools.md, "Budgets").
pub(crate) const MODEL_VISIBLE_BUDGET: usize = 24 * 1024;
/// See [`MODEL_VISIBLE_BUDGET`].
pub(crate) const TOOLS_LIST_BUDGET: usize = 48 * 1024;

#[tokio::test]
async fn tools_list_fits_its_budget() {
    let t = TestService::start(Backend::Sqlite).await;
    let (mut model, mut whole) = (0, 0);
    for tool in t.service.catalogue().tools() {
        let (m, w) = listed_bytes(tool);
        model += m;
        whole += w;
    }
    // Framing: `{"tools":[…]}` and the commas between tools.
    whole += 12 + t.service.catalogue().tools().len();
    assert!(
        model <= MODEL_VISIBLE_BUDGET,
        "names, descriptions and input schemas: {model} bytes > {MODEL_VISIBLE_BUDGET}"
    );
    assert!(whole <= TOOLS_LIST_BUDGET, "the whole tools/list: {whole} bytes > {TOOLS_LIST_BUDGET}");
    t.finish().await;
}
