//! JSON Schemas derived from Rust types, once, at start-up.
//!
//! Inputs and outputs are generated with schemars (draft 2020-12, subschemas inlined so tool
//! front-ends never meet `$ref`), then tidied for portability: the root `$schema` and `title`
//! (a Rust type name) are dropped, and schemars' non-standard integer `format`s (`uint32`, …)
//! are removed because Ajv-based clients warn about them.
//!
//! Output schemas describe the whole envelope: `anyOf` the success shape (the output type plus
//! `success: true`) and the error shape (`success: false`, `error`, `code`, `details`), so every
//! `structuredContent` a tool returns validates against its `outputSchema`.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::ErrorCode;

/// The input schema of `T`: an object schema (`type: object` at the root, as MCP requires),
/// without a root description (the tool's description is the one clients show).
pub(crate) fn input_schema<T: JsonSchema>() -> Map<String, Value> {
    let mut schema = generate::<T>();
    schema.remove("description");
    schema.entry("type").or_insert_with(|| json!("object"));
    schema
}

/// Adds the optional `session_id` argument to a tool whose own parameters name no session
/// (neither `session_id` nor `previous_session_id`), so any call can be tied to an agent
/// session: it lands in that session's history, which `tool_called` dependencies read.
/// Returns whether it was added.
pub(crate) fn inject_session_arg(schema: &mut Map<String, Value>) -> bool {
    let Some(Value::Object(properties)) = schema.get_mut("properties") else { return false };
    if properties.contains_key("session_id") || properties.contains_key("previous_session_id") {
        return false;
    }
    properties.insert(
        "session_id".into(),
        json!({
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "description": "Optional: the agent session (sess_...) this call belongs to. The call is added to that session's history."
        }),
    );
    true
}

/// The output schema of a tool whose success payload is `T`.
pub(crate) fn output_schema<T: JsonSchema>() -> Map<String, Value> {
    let mut success = generate::<T>();
    success.insert("type".into(), json!("object"));
    let properties = success.entry("properties").or_insert_with(|| json!({}));
    if let Value::Object(props) = properties {
        let mut with_flag = Map::new();
        with_flag.insert("success".into(), json!({ "const": true }));
        with_flag.extend(std::mem::take(props));
        *props = with_flag;
    }
    let required = success.entry("required").or_insert_with(|| json!([]));
    if let Value::Array(list) = required {
        list.insert(0, json!("success"));
    }
    let mut root = Map::new();
    root.insert("type".into(), json!("object"));
    root.insert("anyOf".into(), json!([Value::Object(success), error_schema()]));
    root
}

/// The shape of every tool error's `structuredContent`.
pub(crate) fn error_schema() -> Value {
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    json!({
        "type": "object",
        "properties": {
            "success": { "const": false },
            "error": { "type": "string", "description": "What went wrong, for the agent to act on." },
            "code": { "type": "string", "enum": codes, "description": "Stable error code." },
            "details": { "type": "object", "description": "Structured detail: violations, blockers, retry hints." }
        },
        "required": ["success", "error", "code"]
    })
}

fn generate<T: JsonSchema>() -> Map<String, Value> {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
        })
        .into_generator();
    let schema = generator.into_root_schema_for::<T>();
    let mut value = schema.to_value();
    tidy(&mut value);
    match value {
        Value::Object(mut map) => {
            map.remove("$schema");
            map.remove("title");
            map
        }
        other => {
            let mut map = Map::new();
            map.insert("allOf".into(), json!([other]));
            map
        }
    }
}

/// Turns `anyOf: [{type: string, enum: [...]}, {type: null}]` (what schemars makes of an
/// optional enum) into `{type: [string, null], enum: [..., null]}`, so a bad value gets the
/// "must be one of" message instead of an `anyOf` one.
fn merge_nullable_enum(map: &mut Map<String, Value>) {
    let Some(Value::Array(branches)) = map.get("anyOf") else { return };
    let [first, second] = branches.as_slice() else { return };
    let is_null = |b: &Value| b.get("type") == Some(&json!("null")) && b.as_object().is_some_and(|o| o.len() == 1);
    let (enum_branch, null_branch) = if is_null(second) { (first, second) } else { (second, first) };
    if !is_null(null_branch) || enum_branch.get("type") != Some(&json!("string")) {
        return;
    }
    let Some(Value::Array(names)) = enum_branch.get("enum") else { return };
    let mut names = names.clone();
    names.push(Value::Null);
    let description = enum_branch.get("description").cloned();
    map.remove("anyOf");
    map.insert("type".into(), json!(["string", "null"]));
    map.insert("enum".into(), Value::Array(names));
    if let Some(description) = description {
        map.entry("description").or_insert(description);
    }
}

/// Removes non-standard integer formats, and turns a `oneOf` of string constants (what
/// schemars makes of an enum whose variants have doc comments) into a plain `enum`, which
/// tool-calling front-ends and argument errors handle better.
fn tidy(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let constants: Option<Vec<Value>> = map.get("oneOf").and_then(Value::as_array).and_then(|branches| {
                branches.iter().map(|b| b.get("const").filter(|c| c.is_string()).cloned()).collect()
            });
            if let Some(names) = constants {
                map.remove("oneOf");
                map.insert("type".into(), json!("string"));
                map.insert("enum".into(), Value::Array(names));
            }
            let non_standard = map.get("format").and_then(Value::as_str).is_some_and(|f| {
                matches!(
                    f,
                    "uint"
                        | "uint8"
                        | "uint16"
                        | "uint32"
                        | "uint64"
                        | "int"
                        | "int8"
                        | "int16"
                        | "int32"
                        | "int64"
                        | "float"
                        | "double"
                )
            });
            if non_standard {
                map.remove("format");
            }
            map.values_mut().for_each(tidy);
            merge_nullable_enum(map);
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}
