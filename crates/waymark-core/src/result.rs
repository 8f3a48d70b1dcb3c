//! The result envelope (PRODUCT.md, "Result envelope").
//!
//! Success: `structuredContent = {"success": true, ...fields}` and the same JSON as text.
//! Tool error: `isError: true`, `structuredContent = {"success": false, "error", "code",
//! "details"?}` and the message as text.

use serde_json::{Map, Value, json};

use crate::view::budget;
use crate::{ErrorCode, ServiceError};

/// The most bytes an error message takes (as a JSON string).
pub(crate) const MAX_ERROR_MESSAGE_BYTES: usize = 8 * 1024;

/// The most bytes an error's `details` take (as compact JSON).
pub(crate) const MAX_ERROR_DETAILS_BYTES: usize = 32 * 1024;

/// `details` cut to [`MAX_ERROR_DETAILS_BYTES`]: each list keeps its first items (halving
/// until the whole fits), then anything still too large becomes a truncation marker.
fn bound_details(details: Value) -> Value {
    if budget::json_len(&details) <= MAX_ERROR_DETAILS_BYTES {
        return details;
    }
    let Value::Object(mut map) = details else {
        return budget::clip_json(details, MAX_ERROR_DETAILS_BYTES).0;
    };
    let mut omitted = 0_usize;
    while budget::json_len(&map) > MAX_ERROR_DETAILS_BYTES {
        let longest = map
            .iter()
            .filter_map(|(k, v)| v.as_array().filter(|a| a.len() > 1).map(|a| (k.clone(), a.len())))
            .max_by_key(|(_, len)| *len);
        let Some((key, len)) = longest else { break };
        if let Some(Value::Array(items)) = map.get_mut(&key) {
            items.truncate(len / 2);
            omitted += len - len / 2;
        }
    }
    let mut truncated = omitted > 0;
    let mut map = budget::clip_object(map, MAX_ERROR_DETAILS_BYTES, &mut truncated);
    if truncated {
        map.insert("truncated".into(), Value::Bool(true));
        map.insert("omitted".into(), json!(omitted));
    }
    Value::Object(map)
}

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

    /// Wraps a failure, within the result budget like every result: the message is cut at
    /// [`MAX_ERROR_MESSAGE_BYTES`], and lists in `details` (violations, blockers) keep their
    /// first items within [`MAX_ERROR_DETAILS_BYTES`], with `details.truncated: true` and
    /// `details.omitted` (how many items were left out).
    pub fn error(err: &ServiceError) -> Self {
        let mut structured = Map::new();
        structured.insert("success".into(), Value::Bool(false));
        let (message, _) = budget::clip(&err.message, MAX_ERROR_MESSAGE_BYTES);
        structured.insert("error".into(), Value::String(message));
        structured.insert("code".into(), json!(err.code.as_str()));
        if let Some(details) = &err.details {
            structured.insert("details".into(), bound_details(details.clone()));
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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{MAX_ERROR_DETAILS_BYTES, MAX_ERROR_MESSAGE_BYTES, ToolResult};
    use crate::view::budget::{RESULT_BUDGET_BYTES, json_len};
    use crate::{ErrorCode, ServiceError};

    #[test]
    fn errors_stay_within_the_result_budget() {
        let blockers: Vec<Value> =
            (0..5_000).map(|i| json!({ "phase_order": i, "phase_name": "n".repeat(255) })).collect();
        let err = ServiceError::new(ErrorCode::DependencyNotMet, "x".repeat(200_000))
            .with_details(json!({ "dependency_blockers": blockers, "tool": "phase_update_status" }));
        let result = ToolResult::error(&err);
        let structured = Value::Object(result.structured.clone());
        assert!(json_len(&structured) <= MAX_ERROR_MESSAGE_BYTES + MAX_ERROR_DETAILS_BYTES + 100);
        assert!(json_len(&structured) < RESULT_BUDGET_BYTES);
        let details = &structured["details"];
        assert_eq!(details["truncated"], true);
        assert_eq!(details["tool"], "phase_update_status", "small fields are kept");
        let kept = details["dependency_blockers"].as_array().unwrap().len();
        assert_eq!(details["omitted"], 5_000 - kept);
        assert!(kept > 10, "the first items are kept: {kept}");
        assert!(result.structured["error"].as_str().unwrap().ends_with('…'));
    }

    #[test]
    fn small_errors_are_untouched() {
        let err = ServiceError::validation("title is required")
            .with_details(json!({ "violations": [{ "path": "title", "message": "title is required" }] }));
        let result = ToolResult::error(&err);
        assert_eq!(result.structured["details"], err.details.unwrap());
        assert_eq!(result.structured["error"], "title is required");
    }
}
