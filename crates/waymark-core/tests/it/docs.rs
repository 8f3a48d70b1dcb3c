//! Documentation generated from the code, kept in sync by tests (rust-analyzer's
//! `ensure_file_contents`): locally a stale file is rewritten and the test fails once so the
//! change gets committed; in CI (`CI` set) a stale file just fails.
//!
//! docs/tools.md is written by the budget test (`budget.rs`), which measures the result sizes
//! it shows: `cargo test -p waymark-core --test it budget`.

use std::collections::BTreeMap;
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

/// The object schema a field holds, through nullability and arrays (`[]` is appended to the
/// path for array items).
fn object_of(schema: &Value) -> Option<(&Value, bool)> {
    if schema.get("properties").is_some() {
        return Some((schema, false));
    }
    if let Some(items) = schema.get("items") {
        return object_of(items).map(|(o, _)| (o, true));
    }
    schema.get("anyOf").and_then(Value::as_array).and_then(|branches| branches.iter().find_map(object_of))
}

fn kind_of(schema: &Value) -> String {
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
        let kinds: Vec<String> =
            branches.iter().filter(|b| b.get("type") != Some(&Value::from("null"))).map(kind_of).collect();
        let nullable = branches.len() > kinds.len();
        return format!("{}{}", kinds.join(" or "), if nullable { " or null" } else { "" });
    }
    let base = match schema.get("type") {
        Some(Value::Array(types)) => {
            let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            names.join(" or ")
        }
        Some(Value::String(t)) if t == "array" => {
            format!("array of {}", schema.get("items").map_or_else(|| "any".to_owned(), kind_of))
        }
        Some(Value::String(t)) => t.clone(),
        _ => "any".into(),
    };
    match schema.get("enum").and_then(Value::as_array) {
        Some(values) => {
            let names: Vec<String> = values.iter().filter_map(Value::as_str).map(|v| format!("`{v}`")).collect();
            format!("{base} ({})", names.join(", "))
        }
        None => base,
    }
}

/// `(path, type, description)` of every result field, two levels deep.
fn result_fields(schema: &Value, prefix: &str, depth: usize, out: &mut Vec<(String, String, String)>) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else { return };
    for (name, field) in props {
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        let description = field.get("description").and_then(Value::as_str).unwrap_or("").replace('\n', " ");
        out.push((path.clone(), kind_of(field), description));
        if depth < 1
            && let Some((nested, array)) = object_of(field)
        {
            result_fields(nested, &if array { format!("{path}[]") } else { path }, depth + 1, out);
        }
    }
}

/// Measured result sizes: tool → `(case, bytes)`.
pub(crate) type Sizes = BTreeMap<&'static str, Vec<(&'static str, usize)>>;

const CONVENTIONS: &str = "\
## Result budget and paging

An agent pays for every byte of a result with its context window, and clients cap what they \
accept, so every result is bounded, whatever the data behind it.

- **The budget.** A result takes at most 64,000 bytes: 16,000 tokens, counting 4 bytes a token \
(`waymark_core::view::RESULT_BUDGET_BYTES`). What is counted is the text content block, which is \
the compact JSON of `structuredContent`; MCP sends both, and a client hands its model one of them. \
The budget test fills a workspace to the schema's limits and checks every tool against it; the \
sizes it measured are at the end of this page.
- **Lists** take `limit` (the most items on a page) and `cursor`, and return `next_cursor` \
(`null` on the last page). A page holds fewer than `limit` items when more would not fit the \
budget (and never more than 320); `next_cursor` then continues right after the last item shown. Cursors are opaque: pass \
`next_cursor` back unchanged, with the same filters. They name the sort key of the last item \
shown, so items added meanwhile never shift a page; an item that changes while you page moves \
to its new place (plans, sessions and runs are listed by recency). A cursor that does not decode, \
or comes from another list, is `validation_error`.
- **Orders.** `plan_list`: most recently updated first. `session_list`: most recently active \
first. `state_list`: by key. `template_list`: by slug. `list_workflows` recent runs: most \
recently updated first. `plan_get`: phases by order, each with its first tasks; \
`phase_get`: tasks by position. Work-log entries (`recent_actions`) are newest first; \
checkpoints, artifacts and the newest entries of one kind show the newest ones, oldest first, \
and page back to older ones. `get_workflow_history` pages backwards from the newest event.
- **A second list in one tool** has its own pair: `checkpoints_cursor` / \
`checkpoints_next_cursor` (`phase_get`), `artifacts_cursor` / `artifacts_next_cursor` \
(`session_replay`). A `plan_get` phase's `tasks_next_cursor` is the `cursor` of `phase_get` for \
that phase. `session_replay` with `type` pages the entries of one kind.
- **`truncated: true`** on a result means it does not hold everything there is: a further page, \
or something clipped; `next_cursor` (or `hint`) says how to get the rest. An item with \
`truncated: true` had a field clipped.
- **Clipping.** A long text is cut on a character boundary and ends with `…`. A JSON object too \
large for its place is replaced by the marker `{\"$truncated\": true, \"$size_bytes\": N, \
\"$preview\": \"<its JSON text, cut>\"}`. Items of lists show 600 bytes of each text and JSON field; \
a task result 8,000 bytes of its description and notes; `plan_get` 4,000 bytes of the plan's \
description, 16,000 of its context and 4,000 of its metadata; session results 2,000 bytes of \
the session's context, summaries and handoff notes (the first 20 next steps and blockers, 300 \
bytes each); `get_workflow_result` 4,000 bytes of memo and search attributes and 2,000 of an \
error message. Everything is stored whole; only results are bounded.
- **A single large value** the caller asked for by key comes whole up to a size that fits \
(`state_get`: 40,000 bytes of JSON; `get_workflow_result` output: 32,000), and in parts above \
it: the value is then the `$truncated` marker, `value_text` / `output_text` holds the next part \
of its JSON text, and `next_cursor` (passed as `cursor`) reads the part after; join the parts \
and parse them.
- **Errors** are bounded too: the message takes at most 8 KiB, and lists in `details` (violations, \
blockers) keep their first items within 32 KiB, with `details.truncated: true` and \
`details.omitted` saying how many were left out.

";

fn render_tools(service: &waymark_core::Service, sizes: &Sizes) -> String {
    let mut out = String::from(
        "# Tool reference\n\n\
         Generated from the tool catalogue by `cargo test -p waymark-core --test it budget`; do not edit by hand.\n\n\
         Every tool returns `structuredContent = {\"success\": true, ...}` on success and \
         `{\"success\": false, \"error\", \"code\", \"details\"?}` with `isError: true` on failure \
         (see [error-codes.md](error-codes.md)).\n\n\
         ## Schemas\n\n\
         Every tool's schemas are derived once from its Rust parameter and result types.\n\n\
         - **Arguments** (`inputSchema`) are advertised in a portable subset of JSON Schema that strict tool-schema \
         consumers accept (OpenAI function calling, Gemini function declarations, the MCP Inspector's `--strict`): \
         one `type` per node and `anyOf` for unions; an optional argument is left out of `required` and is not \
         nullable (absent means not given, and `null` is accepted too, for clients that send every argument); every \
         object with declared properties has `additionalProperties: false` and a free-form object is `{\"type\": \"object\"}`; \
         arrays declare `items`; no `$ref`, `const`, `oneOf` or `default` (defaults are in the descriptions). \
         Limits an agent never meets in ordinary use (128 characters or more, 100 items or more) and legacy aliases \
         (`start_workflow`'s `args`, `external_id`) are accepted and enforced but not advertised; the tables below list them. \
         A test checks every tool against these rules (`crates/waymark-core/tests/it/catalogue.rs`).\n\
         - **Results** (`outputSchema`) describe `structuredContent` of successes and errors alike: `success` and the \
         result's fields with their JSON types, enum values and nullability. What nested objects and arrays hold is \
         described here, not in every `tools/list`.\n\n\
         ## Budgets\n\n\
         An agent pays for `tools/list` with its context window. The names, descriptions and argument schemas of \
         `/mcp` (what the model sees) stay within 24 KB, and the whole `tools/list` within 48 KB; \
         `catalogue::tools_list_fits_its_budget` holds them.\n\n",
    );
    out.push_str(CONVENTIONS);
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
            .accepted_input_schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(props) = t.accepted_input_schema.get("properties").and_then(Value::as_object) {
            out.push_str("| argument | type | required | rules | description |\n|---|---|---|---|---|\n");
            for (name, schema) in props {
                let _ = writeln!(
                    out,
                    "| `{name}` | {} | {} | {} | {} |",
                    type_of(schema),
                    if required.contains(&name.as_str()) { "yes" } else { "no" },
                    constraints(schema),
                    match schema.get("description").and_then(Value::as_str) {
                        Some(d) => d.replace('|', "\\|"),
                        None if name == "session_id" =>
                            "The agent session (`sess_…`) to record this call in ([dependencies.md](dependencies.md))."
                                .to_owned(),
                        None => String::new(),
                    }
                );
            }
        }
        let mut fields = Vec::new();
        result_fields(&Value::Object((*t.result_schema).clone()), "", 0, &mut fields);
        if !fields.is_empty() {
            out.push_str("\n| result field | type | description |\n|---|---|---|\n");
            for (path, kind, description) in fields {
                let _ = writeln!(out, "| `{path}` | {kind} | {} |", description.replace('|', "\\|"));
            }
        }
    }
    render_sizes(&mut out, service, sizes);
    out
}

/// The result sizes the budget test measured, one row per case, in catalogue order.
fn render_sizes(out: &mut String, service: &waymark_core::Service, sizes: &Sizes) {
    let budget = waymark_core::view::RESULT_BUDGET_BYTES;
    let _ = write!(
        out,
        "\n## Result sizes\n\n\
         Measured by the budget test on a workspace filled to the schema's limits (see \
         `crates/waymark-core/tests/it/budget.rs` for the fill); the budget is {budget} bytes \
         (16,000 tokens at 4 bytes a token).\n\n\
         | tool | case | bytes | tokens (bytes ÷ 4) | of the budget |\n|---|---|---|---|---|\n"
    );
    for tool in service.catalogue().tools() {
        for (case, bytes) in sizes.get(tool.name).into_iter().flatten() {
            let case = if case.is_empty() { "default arguments" } else { case };
            let _ = writeln!(out, "| `{}` | {case} | {bytes} | {} | {}% |", tool.name, bytes / 4, bytes * 100 / budget);
        }
    }
    let (model_budget, whole_budget) = (crate::catalogue::MODEL_VISIBLE_BUDGET, crate::catalogue::TOOLS_LIST_BUDGET);
    let _ = write!(
        out,
        "\nWhat each tool costs in `tools/list` (the budgets: {model_budget} bytes the model sees, names, \
         descriptions and input schemas; {whole_budget} bytes in all; `catalogue::tools_list_fits_its_budget`):\n\n\
         | tool | seen by the model | whole entry |\n|---|---|---|\n"
    );
    let (mut model, mut whole) = (0, 0);
    for tool in service.catalogue().tools() {
        let (m, w) = crate::catalogue::listed_bytes(tool);
        model += m;
        whole += w;
        let _ = writeln!(out, "| `{}` | {m} | {w} |", tool.name);
    }
    let _ = writeln!(out, "| all tools | {model} | {whole} |");
}

/// Regenerates docs/tools.md from the catalogue and the measured sizes (see the module docs).
pub(crate) async fn ensure_tools_reference(sizes: &Sizes) {
    let t = TestService::start(Backend::Sqlite).await;
    ensure_file_contents("docs/tools.md", &render_tools(&t.service, sizes));
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
