//! What a raw message (an HTTP body, a stdio line) is, before rmcp sees it, so that a message
//! that is not JSON or not a JSON-RPC message gets the error JSON-RPC 2.0 names instead of
//! rmcp's answers (HTTP 415 with plain text; silence on stdio):
//!
//! - not JSON (or not UTF-8): `-32700` Parse error;
//! - JSON that is not one JSON-RPC message object (an array, i.e. a batch, which MCP
//!   2025-06-18+ does not allow; a scalar; an object without `"jsonrpc": "2.0"`, with a
//!   `method` that is not a string, an `id` that is neither a string nor a number, or neither
//!   a `method` nor a `result`/`error`): `-32600` Invalid Request.
//!
//! Both answers carry `"id": null` (JSON-RPC 2.0 §5: the id could not be determined).
//! `tools/call` or `tools/list` whose `params` rmcp cannot read at all is `-32602` Invalid
//! params, with the request's id; when rmcp can read it as a custom request instead (say,
//! `params` missing), [`crate::McpServer`] answers the same.

use rmcp::model::ClientJsonRpcMessage;
use serde_json::{Value, json};

/// JSON-RPC 2.0 "Parse error".
pub const PARSE_ERROR: i32 = -32700;
/// JSON-RPC 2.0 "Invalid Request".
pub const INVALID_REQUEST: i32 = -32600;
/// JSON-RPC 2.0 "Invalid params".
pub const INVALID_PARAMS: i32 = -32602;

/// A message that cannot be served: JSON-RPC `-32700`, `-32600`, or `-32602` for a request
/// of a known method whose `params` rmcp cannot read at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// [`PARSE_ERROR`], [`INVALID_REQUEST`] or [`INVALID_PARAMS`].
    pub code: i32,
    /// The request's id, for [`INVALID_PARAMS`]; `None` (answered as `null`) otherwise.
    pub id: Option<Value>,
    /// What was wrong, for the client ("Parse error: expected value at line 1 column 1").
    pub message: String,
    /// The message was a notification (a `method` and no `id`): no answer is owed. Only a
    /// shape fault can be one; unparsable input never is.
    pub notification: bool,
}

impl Fault {
    fn parse(message: String) -> Self {
        Self { code: PARSE_ERROR, id: None, message, notification: false }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self { code: INVALID_REQUEST, id: None, message: message.into(), notification: false }
    }

    /// The JSON-RPC error response: `{"jsonrpc": "2.0", "id": …, "error": {code, message}}`.
    pub fn to_response(&self) -> Value {
        json!({ "jsonrpc": "2.0", "id": self.id, "error": { "code": self.code, "message": self.message } })
    }
}

/// A well-formed message, as far as the transports need to know it.
#[derive(Clone, Debug, PartialEq)]
pub enum Inspected {
    /// A request: its `id`, its `method`, and for `tools/call` the tool's name when
    /// `params.name` is a string.
    Request {
        /// The request id (a string or a number).
        id: Value,
        /// The method.
        method: String,
        /// `params.name` of a `tools/call`.
        tool: Option<String>,
    },
    /// A notification or a response: nothing is answered.
    Other,
}

/// The UTF-8 byte order mark, which RFC 8259 §8.1 lets a parser ignore.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Checks one raw message.
///
/// # Errors
/// The [`Fault`] to answer with.
pub fn inspect(raw: &[u8]) -> Result<Inspected, Fault> {
    let object = envelope(raw)?;
    let method = object.get("method").and_then(Value::as_str);
    let inspected = match (object.get("id"), method) {
        (Some(id), Some(method)) => Inspected::Request {
            id: id.clone(),
            method: method.to_owned(),
            tool: (method == "tools/call")
                .then(|| object.get("params")?.get("name")?.as_str().map(str::to_owned))
                .flatten(),
        },
        _ => Inspected::Other,
    };
    typed(object)?;
    Ok(inspected)
}

/// Parses one raw message into rmcp's type (the stdio framing).
pub(crate) fn parse(raw: &[u8]) -> Result<ClientJsonRpcMessage, Fault> {
    typed(envelope(raw)?)
}

fn typed(object: serde_json::Map<String, Value>) -> Result<ClientJsonRpcMessage, Fault> {
    let id = object.get("id").cloned();
    let method = object.get("method").and_then(Value::as_str).map(str::to_owned);
    let params = object.get("params").cloned();
    serde_json::from_value(Value::Object(object)).map_err(|e| match (id, method) {
        (Some(id), Some(method)) if let Some(message) = invalid_params(&method, params.as_ref()) => {
            Fault { code: INVALID_PARAMS, id: Some(id), message, notification: false }
        }
        (id, method) => Fault {
            code: INVALID_REQUEST,
            id: None,
            message: format!("Invalid Request: not an MCP message ({e})"),
            notification: id.is_none() && method.is_some(),
        },
    })
}

/// For `tools/call` and `tools/list`, why their `params` were refused; `None` for any other
/// method.
pub(crate) fn invalid_params(method: &str, params: Option<&serde_json::Value>) -> Option<String> {
    use rmcp::model::{CallToolRequestMethod, ConstString, ListToolsRequestMethod};
    // The methods every protocol revision Waymark serves has. Any other is "method not found"
    // whatever its params: prompts, resources, completion and logging are not offered, and
    // `initialize` and `ping` are removed methods on 2026-07-28 HTTP (404 with -32601).
    let known = [CallToolRequestMethod::VALUE, ListToolsRequestMethod::VALUE];
    if !known.contains(&method) {
        return None;
    }
    let why = match (method, params) {
        (_, None) => "params are required".to_owned(),
        (_, Some(p)) if !p.is_object() => "params must be an object".to_owned(),
        ("tools/call", Some(p)) => match serde_json::from_value::<rmcp::model::CallToolRequestParams>(p.clone()) {
            Err(e) => e.to_string(),
            Ok(_) => "params do not match the method".to_owned(),
        },
        (_, Some(_)) => "params do not match the method".to_owned(),
    };
    Some(format!("Invalid params for {method}: {why}"))
}

/// The message as a JSON object whose JSON-RPC envelope is sound.
fn envelope(raw: &[u8]) -> Result<serde_json::Map<String, Value>, Fault> {
    let raw = raw.strip_prefix(BOM).unwrap_or(raw);
    let value: Value = serde_json::from_slice(raw).map_err(|e| Fault::parse(format!("Parse error: {e}")))?;
    let object = match value {
        Value::Object(object) => object,
        Value::Array(_) => return Err(Fault::invalid("Invalid Request: batches are not supported; send one message")),
        _ => return Err(Fault::invalid("Invalid Request: a JSON-RPC message must be an object")),
    };
    let notification = object.get("id").is_none() && object.get("method").is_some();
    let fault = |message: &str| Fault { notification, ..Fault::invalid(format!("Invalid Request: {message}")) };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(fault(r#"jsonrpc must be "2.0""#));
    }
    match object.get("method") {
        Some(Value::String(_)) => {}
        Some(_) => return Err(fault("method must be a string")),
        None if object.contains_key("result") || object.contains_key("error") => {}
        None => return Err(fault("method is required")),
    }
    if let Some(id) = object.get("id")
        && !(id.is_string() || id.is_i64() || id.is_u64())
    {
        return Err(fault("id must be a string or an integer"));
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{INVALID_PARAMS, INVALID_REQUEST, Inspected, PARSE_ERROR, inspect, parse};

    fn code(raw: &str) -> i32 {
        inspect(raw.as_bytes()).expect_err(raw).code
    }

    #[test]
    fn faults_are_named_as_json_rpc_names_them() {
        for raw in ["", "{", "nope", "{\"jsonrpc\":\"2.0\",", "\u{feff}{"] {
            assert_eq!(code(raw), PARSE_ERROR, "{raw:?}");
        }
        assert_eq!(inspect(b"\xff\xfe").unwrap_err().code, PARSE_ERROR);
        for raw in [
            "[]",
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
            "42",
            "null",
            r#"{"foo":1}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":7}"#,
            r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
        ] {
            assert_eq!(code(raw), INVALID_REQUEST, "{raw}");
        }
        let fault = inspect(b"{").unwrap_err();
        assert_eq!(fault.to_response()["id"], json!(null));
        assert_eq!(fault.to_response()["error"]["code"], -32700);
    }

    #[test]
    fn requests_name_their_tool() {
        let call = br#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"plan_list"}}"#;
        assert_eq!(
            inspect(call),
            Ok(Inspected::Request { id: json!("a"), method: "tools/call".into(), tool: Some("plan_list".into()) })
        );
        let bad_params = br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":"x"}"#;
        let fault = inspect(bad_params).unwrap_err();
        assert_eq!((fault.code, fault.id), (INVALID_PARAMS, Some(json!(3))));
        assert_eq!(fault.message, "Invalid params for tools/call: params must be an object");
        assert_eq!(inspect(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#), Ok(Inspected::Other));
        assert_eq!(inspect(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#), Ok(Inspected::Other));
    }

    #[test]
    fn notifications_of_the_wrong_shape_are_marked() {
        let fault = parse(br#"{"jsonrpc":"1.0","method":"notifications/initialized"}"#).unwrap_err();
        assert!(fault.notification);
        assert!(!parse(br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#).unwrap_err().notification);
        assert!(parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#).is_ok(), "rmcp reads it as custom");
    }

    #[test]
    fn only_the_tool_methods_have_their_params_judged() {
        assert!(super::invalid_params("tools/call", None).is_some());
        assert!(super::invalid_params("tools/list", Some(&json!("x"))).is_some());
        for method in ["initialize", "ping", "prompts/get", "resources/read", "nope"] {
            assert_eq!(super::invalid_params(method, None), None, "{method} stays -32601");
        }
    }
}
