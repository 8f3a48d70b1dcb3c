//! The official MCP conformance suite's fixture tools, compiled only with the
//! `conformance-fixtures` feature, which no normal build enables.
//!
//! `@modelcontextprotocol/conformance` (server mode) calls tools by name and checks what they
//! return; a server without them fails those checks for a reason that has nothing to do with
//! its protocol handling. These fixtures are MCP-level test doubles, not Waymark tools: they
//! live in the adapter, never reach the core (no catalogue entry, no audit row, no
//! permission), and are served on `/mcp` and stdio next to the real catalogue. Names and
//! behaviour follow the suite's scenario descriptions (`tools-call-*`, `json-schema-2020-12`,
//! `server-stateless`, `http-custom-header-server-validation`).

use std::sync::Arc;
use std::time::Duration;

use rmcp::ErrorData;
use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ContentBlock, InputRequest,
    InputRequests, InputRequiredResult, ProgressNotificationParam, ResourceContents, Tool,
};
use rmcp::service::RequestContext;
use serde_json::{Value, json};

/// A 1×1 red PNG.
const PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

/// A minimal WAV file (a header and one silent sample).
const WAV_BASE64: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

/// The tool `json-schema-2020-12` looks for, and the input schema it expects to see intact.
const JSON_SCHEMA_TOOL: &str = "json_schema_2020_12_tool";

fn json_schema_2020_12() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "$anchor": "addressDef",
                "type": "object",
                "properties": { "street": { "type": "string" }, "city": { "type": "string" } }
            }
        },
        "properties": {
            "name": { "type": "string" },
            "address": { "$ref": "#/$defs/address" },
            "contactMethod": { "type": "string", "enum": ["phone", "email"] },
            "phone": { "type": "string" },
            "email": { "type": "string" }
        },
        "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
        "if": { "properties": { "contactMethod": { "const": "phone" } }, "required": ["contactMethod"] },
        "then": { "required": ["phone"] },
        "else": { "required": ["email"] },
        "additionalProperties": false
    })
}

/// The fixture tools, in a fixed order after the catalogue's.
pub(crate) fn tools() -> Vec<Tool> {
    let no_args = json!({ "type": "object", "additionalProperties": false });
    let custom_headers = json!({
        "type": "object",
        "properties": {
            "region": {
                "type": "string",
                "description": "Mirrored into the Mcp-Param-Region header (SEP-2243).",
                "x-mcp-header": "Region"
            }
        },
        "required": ["region"]
    });
    [
        ("test_simple_text", "Conformance fixture: returns one text block.", &no_args),
        ("test_image_content", "Conformance fixture: returns one PNG image block.", &no_args),
        ("test_audio_content", "Conformance fixture: returns one WAV audio block.", &no_args),
        ("test_embedded_resource", "Conformance fixture: returns one embedded text resource.", &no_args),
        ("test_multiple_content_types", "Conformance fixture: returns text, image and resource blocks.", &no_args),
        ("test_error_handling", "Conformance fixture: always fails with isError.", &no_args),
        ("test_tool_with_progress", "Conformance fixture: reports progress 0, 50, 100 of 100.", &no_args),
        (
            JSON_SCHEMA_TOOL,
            "Conformance fixture: an input schema using JSON Schema 2020-12 keywords.",
            &json_schema_2020_12(),
        ),
        ("test_missing_capability", "Conformance fixture: needs the client's sampling capability.", &no_args),
        (
            "test_streaming_elicitation",
            "Conformance fixture: asks for input (elicitation) with an input_required result.",
            &no_args,
        ),
        ("test_logging_tool", "Conformance fixture: returns text; sends no log notifications.", &no_args),
        (
            "test_custom_headers",
            "Conformance fixture: echoes a parameter mirrored into an Mcp-Param header.",
            &custom_headers,
        ),
    ]
    .into_iter()
    .map(|(name, description, schema)| {
        let schema = schema.as_object().cloned().unwrap_or_default();
        Tool::new(name, description, Arc::new(schema))
    })
    .collect()
}

fn text(text: &str) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(text)]).into()
}

/// Whether the request declared a client capability (per request on 2026-07-28, at
/// `initialize` on the handshake revisions).
fn declared(context: &RequestContext<RoleServer>, capability: fn(&ClientCapabilities) -> bool) -> bool {
    context.client_capabilities().as_ref().is_some_and(capability)
}

fn missing_capability(name: &str) -> ErrorData {
    let required: ClientCapabilities = serde_json::from_value(json!({ name: {} })).unwrap_or_default();
    ErrorData::missing_required_client_capability(required)
}

/// Runs the fixture `name`.
pub(crate) async fn call(
    name: &str,
    request: &CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> Result<CallToolResponse, ErrorData> {
    match name {
        "test_simple_text" => Ok(text("This is a simple text response for testing.")),
        "test_image_content" => Ok(CallToolResult::success(vec![ContentBlock::image(PNG_BASE64, "image/png")]).into()),
        "test_audio_content" => Ok(CallToolResult::success(vec![ContentBlock::audio(WAV_BASE64, "audio/wav")]).into()),
        "test_embedded_resource" => Ok(CallToolResult::success(vec![ContentBlock::resource(ResourceContents::text(
            "This is an embedded resource content.",
            "test://embedded-resource",
        ))])
        .into()),
        "test_multiple_content_types" => Ok(CallToolResult::success(vec![
            ContentBlock::text("Multiple content types test:"),
            ContentBlock::image(PNG_BASE64, "image/png"),
            ContentBlock::resource(
                ResourceContents::text(
                    json!({ "test": "data", "value": 123 }).to_string(),
                    "test://mixed-content-resource",
                )
                .with_mime_type("application/json"),
            ),
        ])
        .into()),
        "test_error_handling" => {
            Ok(CallToolResult::error(vec![ContentBlock::text("This tool intentionally returns an error for testing")])
                .into())
        }
        "test_tool_with_progress" => progress(context).await,
        JSON_SCHEMA_TOOL => Ok(text("JSON Schema 2020-12 arguments accepted.")),
        "test_missing_capability" => {
            if declared(context, |c| c.sampling.is_some()) {
                Ok(text("The client declared the sampling capability."))
            } else {
                Err(missing_capability("sampling"))
            }
        }
        "test_streaming_elicitation" => elicitation(request, context),
        "test_logging_tool" => Ok(text("Done; Waymark sends no notifications/message.")),
        "test_custom_headers" => {
            let region = request.arguments.as_ref().and_then(|a| a.get("region")).and_then(Value::as_str).unwrap_or("");
            Ok(text(&format!("region={region}")))
        }
        other => Err(ErrorData::invalid_params(format!("Unknown tool: {other}"), None)),
    }
}

/// `test_tool_with_progress`: progress 0, 50 and 100 of 100, 50 ms apart, when the request
/// carries a progress token.
async fn progress(context: &RequestContext<RoleServer>) -> Result<CallToolResponse, ErrorData> {
    let token = context.meta.get_progress_token();
    for (step, value) in [0.0, 50.0, 100.0].into_iter().enumerate() {
        if step > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if let Some(token) = &token {
            let param = ProgressNotificationParam::new(token.clone(), value)
                .with_total(100.0)
                .with_message(format!("Completed step {value} of 100"));
            context
                .peer
                .notify_progress(param)
                .await
                .map_err(|e| ErrorData::internal_error(format!("progress notification failed: {e}"), None))?;
        }
    }
    Ok(text("Progress reported."))
}

/// `test_streaming_elicitation`: asks for the user's name with an `input_required` result
/// (never a server-to-client request on the response stream), and completes once the retry
/// carries the answer.
fn elicitation(
    request: &CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> Result<CallToolResponse, ErrorData> {
    if !declared(context, |c| c.elicitation.is_some()) {
        return Err(missing_capability("elicitation"));
    }
    if request.input_responses.as_ref().is_some_and(|r| r.contains_key("user_name")) {
        return Ok(text("Thanks for the answer."));
    }
    let ask: InputRequest = serde_json::from_value(json!({
        "method": "elicitation/create",
        "params": {
            "mode": "form",
            "message": "What is your name?",
            "requestedSchema": {
                "type": "object",
                "properties": { "name": { "type": "string" } },
                "required": ["name"]
            }
        }
    }))
    .map_err(|e| ErrorData::internal_error(format!("cannot build the elicitation request: {e}"), None))?;
    let requests: InputRequests = [("user_name".to_owned(), ask)].into_iter().collect();
    Ok(InputRequiredResult::from_input_requests(requests).into())
}
