//! The result envelope (PRODUCT.md, "Result envelope").
//!
//! Success: `structuredContent = {"success": true, ...fields}` and the same JSON as text.
//! Tool error: `isError: true`, `structuredContent = {"success": false, "error", "code",
//! "details"?}` and the message as text.

use serde_json::{Map, Value, json};

use crate::{ErrorCode, ServiceError};

/// The outcome of one tool call, ready for any transport to render.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolResult {
    /// The `structuredContent` object.
    pub structured: Map<String, Value>,
    /// MCP `isError`.
    pub is_error: bool,
}

impl ToolResult {
    /// Wraps a success payload (an object; anything else is nested under `result`).
    pub fn success(payload: Value) -> Self {
        let mut structured = Map::new();
        structured.insert("success".into(), Value::Bool(true));
        match payload {
            Value::Object(fields) => structured.extend(fields),
            other => {
                structured.insert("result".into(), other);
            }
        }
        Self { structured, is_error: false }
    }

    /// Wraps a failure.
    pub fn error(err: &ServiceError) -> Self {
        let mut structured = Map::new();
        structured.insert("success".into(), Value::Bool(false));
        structured.insert("error".into(), Value::String(err.message.clone()));
        structured.insert("code".into(), json!(err.code.as_str()));
        if let Some(details) = &err.details {
            structured.insert("details".into(), details.clone());
        }
        Self { structured, is_error: true }
    }

    /// The text content block: the JSON of a success, the message of an error.
    pub fn text(&self) -> String {
        if self.is_error {
            self.structured.get("error").and_then(Value::as_str).unwrap_or_default().to_owned()
        } else {
            Value::Object(self.structured.clone()).to_string()
        }
    }

    /// The error code of a failed call.
    pub fn error_code(&self) -> Option<ErrorCode> {
        let code = self.structured.get("code")?.as_str()?;
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == code)
    }
}
