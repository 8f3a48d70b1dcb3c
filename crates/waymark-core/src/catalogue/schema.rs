//! JSON Schemas derived from Rust types, once, at start-up (schemars, draft 2020-12).
//!
//! Each tool has three:
//!
//! - the **accepted** input schema: exactly what the parameter type deserializes, `null`
//!   included for every optional argument; calls are validated against it, so a client that
//!   sends `null` for "not given" (OpenAI strict function calling makes every argument
//!   required and nullable) is served;
//! - the **advertised** input schema (`tools/list`): the same arguments in the portable
//!   subset of JSON Schema that the strictest tool-schema consumers accept (rules in
//!   `docs/tools.md`, "Schema portability", checked for every tool by a test): one `type` per
//!   node, `anyOf` for unions, optional arguments neither required nor nullable, every
//!   object closed with `additionalProperties`, no `$ref`, `const` or `oneOf`. It accepts a
//!   subset of what the accepted schema does;
//! - the **output** schema: `structuredContent` of successes and errors alike, `success` and
//!   the result's own fields with their JSON types, enum values and nullability. Clients load
//!   it with every `tools/list`, so what nested objects and arrays hold is documented once in
//!   docs/tools.md (from the **full** result schema) rather than sent to every client.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

/// The two input schemas of a tool (see the module docs).
pub(crate) struct InputSchemas {
    /// What `tools/list` shows.
    pub(crate) advertised: Map<String, Value>,
    /// What calls are validated against.
    pub(crate) accepted: Map<String, Value>,
}

/// The input schemas of `T`: object schemas (`type: object` at the root, as MCP requires),
/// without a root description (the tool's description is the one clients show).
pub(crate) fn input_schemas<T: JsonSchema>() -> InputSchemas {
    let mut accepted = generate::<T>();
    accepted.remove("description");
    accepted.insert("type".into(), json!("object"));
    let mut advertised = Value::Object(accepted.clone());
    portable(&mut advertised, false);
    tidy_accepted(&mut accepted);
    let Value::Object(advertised) = advertised else { unreachable!("an object stays an object") };
    InputSchemas { advertised, accepted }
}

/// Adds the optional `session_id` argument to a tool whose own parameters name no session
/// (neither `session_id` nor `previous_session_id`), so any call can be tied to an agent
/// session: it lands in that session's history, which `tool_called` dependencies read.
/// Returns whether it was added.
pub(crate) fn inject_session_arg(schemas: &mut InputSchemas) -> bool {
    let names_a_session = |schema: &Map<String, Value>| {
        schema
            .get("properties")
            .and_then(Value::as_object)
            .is_none_or(|p| p.contains_key("session_id") || p.contains_key("previous_session_id"))
    };
    if names_a_session(&schemas.accepted) {
        return false;
    }
    // Explained once, in the server's instructions and docs/dependencies.md, rather than in
    // every tool's schema; the accepted schema holds its length limits.
    for (schema, argument) in [
        (&mut schemas.advertised, json!({ "type": "string" })),
        (&mut schemas.accepted, json!({ "type": "string", "minLength": 1, "maxLength": 64 })),
    ] {
        if let Some(Value::Object(properties)) = schema.get_mut("properties") {
            properties.insert("session_id".into(), argument);
        }
    }
    true
}

/// The two output schemas of a tool whose success payload is `T`.
pub(crate) struct OutputSchemas {
    /// What `tools/list` shows: `success` and the result's own fields.
    pub(crate) advertised: Map<String, Value>,
    /// The whole result with every nested field and its description, for docs/tools.md.
    pub(crate) full: Map<String, Value>,
}

/// The output schemas of a tool whose success payload is `T`.
///
/// The advertised one describes `structuredContent` of successes and errors alike: an object
/// with `success` (boolean) and the result's fields, each with its JSON type, enum values
/// and nullability; what is inside a nested object or array is documented in
/// docs/tools.md instead of in every `tools/list`. Errors carry `success: false`, `error`,
/// `code` and `details` (docs/error-codes.md), which the schema allows.
pub(crate) fn output_schemas<T: JsonSchema>() -> OutputSchemas {
    let mut full = generate::<T>();
    full.remove("description");
    full.insert("type".into(), json!("object"));
    let mut properties = Map::new();
    properties.insert("success".into(), json!({ "type": "boolean" }));
    if let Some(Value::Object(fields)) = full.get("properties") {
        for (name, field) in fields {
            properties.insert(name.clone(), field_type(field));
        }
    }
    let mut advertised = Map::new();
    advertised.insert("type".into(), json!("object"));
    advertised.insert("properties".into(), Value::Object(properties));
    advertised.insert("required".into(), json!(["success"]));
    OutputSchemas { advertised, full }
}

/// A result field as the advertised output schema gives it: its JSON type (a nested object
/// or array by its type alone), enum values and nullability, as `anyOf` where it has several.
fn field_type(field: &Value) -> Value {
    let Some(map) = field.as_object() else { return any_json() };
    let mut branches: Vec<Value> = Vec::new();
    let mut push = |b: Value| {
        if !branches.contains(&b) {
            branches.push(b);
        }
    };
    match (map.get("type"), map.get("anyOf")) {
        (Some(Value::String(t)), _) => {
            let mut b = json!({ "type": t });
            if let Some(values) = map.get("enum") {
                b["enum"] = values.clone();
            }
            push(b);
        }
        (Some(Value::Array(types)), _) => {
            for t in types.iter().filter_map(Value::as_str) {
                let mut b = json!({ "type": t });
                if let (Some(Value::Array(values)), "string") = (map.get("enum"), t) {
                    b["enum"] = Value::Array(values.iter().filter(|v| !v.is_null()).cloned().collect());
                }
                push(b);
            }
        }
        (None, Some(Value::Array(options))) => {
            for option in options {
                match field_type(option) {
                    Value::Object(o) if o.contains_key("anyOf") => {
                        for b in o["anyOf"].as_array().into_iter().flatten() {
                            push(b.clone());
                        }
                    }
                    other => push(other),
                }
            }
        }
        (None, None) if map.contains_key("properties") => push(json!({ "type": "object" })),
        (None, None) if map.contains_key("enum") => push(json!({ "type": "string", "enum": map["enum"] })),
        _ => return any_json(),
    }
    if branches.len() == 1 { branches.remove(0) } else { json!({ "anyOf": branches }) }
}

/// Any JSON value, spelled so that every node carries a type (the MCP Inspector's `--strict`
/// refuses a schema without one).
fn any_json() -> Value {
    json!({ "anyOf": [
        { "type": "string" }, { "type": "number" }, { "type": "boolean" },
        { "type": "object" }, { "type": "array" }, { "type": "null" }
    ] })
}

/// A JSON value in an advertised input (state values, workflow arguments): the portable
/// subset cannot say "any JSON" without `$ref`, so arrays hold scalars or objects. The
/// accepted schema takes any value.
fn any_input() -> Value {
    json!({ "anyOf": [
        { "type": "string" }, { "type": "number" }, { "type": "boolean" }, { "type": "object" },
        { "type": "array", "items": { "anyOf": [
            { "type": "string" }, { "type": "number" }, { "type": "boolean" }, { "type": "object" }
        ] } }
    ] })
}

fn generate<T: JsonSchema>() -> Map<String, Value> {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
        })
        .into_generator();
    let schema = generator.into_root_schema_for::<T>();
    let mut value = schema.to_value();
    visit(&mut value, &mut tidy);
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

/// Calls `f` on every schema node, depth first, children before parents. Only schema
/// positions are visited (never a `properties` map itself, whose keys are field names).
fn visit(value: &mut Value, f: &mut impl FnMut(&mut Map<String, Value>)) {
    let Value::Object(map) = value else { return };
    for (key, child) in map.iter_mut() {
        match key.as_str() {
            "properties" | "patternProperties" | "$defs" | "definitions" | "dependentSchemas" => {
                if let Value::Object(children) = child {
                    children.values_mut().for_each(|c| visit(c, f));
                }
            }
            "anyOf" | "oneOf" | "allOf" | "prefixItems" => {
                if let Value::Array(children) = child {
                    children.iter_mut().for_each(|c| visit(c, f));
                }
            }
            "items"
            | "additionalProperties"
            | "not"
            | "contains"
            | "propertyNames"
            | "if"
            | "then"
            | "else"
            | "unevaluatedProperties"
            | "unevaluatedItems"
            | "additionalItems" => visit(child, f),
            _ => {}
        }
    }
    f(map);
}

/// Removes schemars' non-standard integer `format`s (`uint32`, …), which Ajv-based clients warn
/// about, and turns a `oneOf` of string constants (what schemars makes of an enum whose
/// variants have doc comments) into a plain `enum`.
fn tidy(map: &mut Map<String, Value>) {
    let constants: Option<Vec<Value>> = map
        .get("oneOf")
        .and_then(Value::as_array)
        .and_then(|branches| branches.iter().map(|b| b.get("const").filter(|c| c.is_string()).cloned()).collect());
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
}

/// The accepted schema: optional enums become `{type: [string, null], enum: [..., null]}`
/// instead of an `anyOf`, so a bad value gets the "must be one of" message.
fn tidy_accepted(schema: &mut Map<String, Value>) {
    let mut value = Value::Object(std::mem::take(schema));
    visit(&mut value, &mut merge_nullable_enum);
    if let Value::Object(map) = value {
        *schema = map;
    }
}

fn merge_nullable_enum(map: &mut Map<String, Value>) {
    let Some(Value::Array(branches)) = map.get("anyOf") else { return };
    let [first, second] = branches.as_slice() else { return };
    let (enum_branch, null_branch) = if is_null_type(second) { (first, second) } else { (second, first) };
    if !is_null_type(null_branch) || enum_branch.get("type") != Some(&json!("string")) {
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

fn is_null_type(schema: &Value) -> bool {
    schema.get("type") == Some(&json!("null")) && schema.as_object().is_some_and(|o| o.len() == 1)
}

/// Keywords that say what a schema node is; a node with none of them accepts anything.
const TYPING_KEYWORDS: &[&str] =
    &["type", "anyOf", "oneOf", "allOf", "enum", "const", "$ref", "properties", "items", "not"];

fn untyped(map: &Map<String, Value>) -> bool {
    !TYPING_KEYWORDS.iter().any(|k| map.contains_key(*k))
}

/// Keywords that apply to one JSON type only, moved into its branch when a type union is split.
fn keyword_type(keyword: &str) -> Option<&'static str> {
    Some(match keyword {
        "minLength" | "maxLength" | "pattern" | "format" => "string",
        "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" | "multipleOf" => "number",
        "items" | "prefixItems" | "minItems" | "maxItems" | "uniqueItems" => "array",
        "properties" | "required" | "additionalProperties" | "minProperties" | "maxProperties" | "propertyNames" => {
            "object"
        }
        _ => return None,
    })
}

/// `type: [a, b]` becomes `anyOf: [{type: a, …}, {type: b, …}]`, each branch taking the
/// keywords of its type (an `enum` goes with the string branch, without `null`).
fn split_type_union(map: &mut Map<String, Value>) {
    let Some(Value::Array(types)) = map.get("type").cloned() else { return };
    map.remove("type");
    let types: Vec<String> = types.iter().filter_map(Value::as_str).map(str::to_owned).collect();
    let mut branches: Vec<Map<String, Value>> = types
        .iter()
        .map(|t| {
            let mut b = Map::new();
            b.insert("type".into(), json!(t));
            b
        })
        .collect();
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        let owner = if key == "enum" { Some("string") } else { keyword_type(&key) };
        let Some(owner) = owner else { continue };
        let target = types.iter().position(|t| t == owner || (owner == "number" && t == "integer"));
        if let (Some(i), Some(mut value)) = (target, map.remove(&key)) {
            if let Value::Array(values) = &mut value
                && key == "enum"
            {
                values.retain(|v| !v.is_null());
            }
            branches[i].insert(key, value);
        }
    }
    map.insert("anyOf".into(), Value::Array(branches.into_iter().map(Value::Object).collect()));
}

/// Drops `null` from an optional argument's schema: absent is how the portable subset says
/// "not given" (the accepted schema still takes `null`).
fn drop_null(map: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            map.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    if let Some(Value::Array(branches)) = map.get_mut("anyOf") {
        branches.retain(|b| !is_null_type(b));
        if branches.len() == 1
            && let Some(Value::Object(only)) = branches.pop()
        {
            map.remove("anyOf");
            for (k, v) in only {
                map.entry(k).or_insert(v);
            }
        }
    }
}

/// Rewrites an advertised input schema node (and everything under it) into the portable
/// subset; `optional` is whether the node is an argument its parent does not require.
fn portable(node: &mut Value, optional: bool) {
    let Value::Object(map) = node else { return };
    if optional {
        drop_null(map);
    }
    if untyped(map) {
        let description = map.remove("description");
        let Value::Object(any) = any_input() else { unreachable!("a literal object") };
        map.extend(any);
        if let Some(description) = description {
            map.insert("description".into(), description);
        }
        return;
    }
    if let Some(value) = map.remove("const") {
        map.insert("enum".into(), json!([value]));
    }
    // Defaults are in the descriptions ("default false"); strict consumers refuse the keyword.
    map.remove("default");
    drop_abuse_limits(map);
    if let Some(branches) = map.remove("oneOf") {
        map.insert("anyOf".into(), branches);
    }
    split_type_union(map);
    let required: Vec<String> = map
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        // Deprecated arguments (legacy aliases) are accepted but not advertised.
        properties.retain(|_, p| p.get("deprecated") != Some(&json!(true)));
        for (name, property) in properties.iter_mut() {
            portable(property, !required.contains(name));
        }
        map.entry("additionalProperties").or_insert(json!(false));
    }
    // A free-form object is `{type: object}`: no properties, anything in them.
    if map.get("additionalProperties") == Some(&json!(true)) && !map.contains_key("properties") {
        map.remove("additionalProperties");
    }
    if let Some(items) = map.get_mut("items") {
        portable(items, false);
    }
    if let Some(Value::Object(_)) = map.get("additionalProperties")
        && let Some(extra) = map.get_mut("additionalProperties")
    {
        portable(extra, false);
    }
    if let Some(Value::Array(branches)) = map.get_mut("anyOf") {
        branches.iter_mut().for_each(|b| portable(b, false));
    }
    match map.get("type").and_then(Value::as_str) {
        // Gemini's function declarations need `items`; any JSON here is any_input's items.
        Some("array") if !map.contains_key("items") => {
            let items = any_input()["anyOf"][4]["items"].clone();
            map.insert("items".into(), items);
        }
        _ => {}
    }
}

/// Limits an agent never meets in ordinary use (at least 1,000 characters or 100 items, and
/// "not empty") are enforced by the accepted schema and documented in docs/tools.md, but not
/// advertised: they cost every client bytes and tell the model nothing it needs.
fn drop_abuse_limits(map: &mut Map<String, Value>) {
    let at_least =
        |map: &Map<String, Value>, key: &str, n: u64| map.get(key).and_then(Value::as_u64).is_some_and(|v| v >= n);
    if at_least(map, "maxLength", 1000) {
        map.remove("maxLength");
    }
    if at_least(map, "maxItems", 100) {
        map.remove("maxItems");
    }
    if map.get("minLength").and_then(Value::as_u64) == Some(1) {
        map.remove("minLength");
    }
}
