//! Argument validation: each tool's input schema compiled once (offline, no remote `$ref`), and
//! every violation turned into a sentence in the original's wording ("title is required",
//! "status must be one of: a, b").

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::{Map, Value, json};

use crate::ServiceError;

/// A compiled input schema.
pub(crate) struct Validator(jsonschema::Validator);

/// One broken rule, with the argument path in dotted form (`phases[0].name`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Violation {
    pub(crate) path: String,
    pub(crate) message: String,
}

impl Validator {
    /// Compiles `schema`. Panics only on a schema bug in our own types, caught by the catalogue
    /// snapshot test at build time.
    pub(crate) fn compile(tool: &str, schema: &Map<String, Value>) -> Self {
        let compiled = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&Value::Object(schema.clone()))
            .unwrap_or_else(|e| panic!("input schema of {tool} does not compile: {e}"));
        Self(compiled)
    }

    /// Checks `args`.
    ///
    /// # Errors
    /// `validation_error` whose message joins every violation with "; " and whose details list
    /// them as `{violations: [{path, message}]}`.
    pub(crate) fn check(&self, args: &Value) -> Result<(), ServiceError> {
        let mut violations: Vec<Violation> = self.0.iter_errors(args).map(|e| describe(&e)).collect();
        nul_violations(args, &mut String::new(), &mut violations);
        if violations.is_empty() {
            return Ok(());
        }
        violations.sort_by(|a, b| (&a.path, &a.message).cmp(&(&b.path, &b.message)));
        violations.dedup();
        let message = violations.iter().map(|v| v.message.as_str()).collect::<Vec<_>>().join("; ");
        Err(ServiceError::validation(message).with_details(json!({ "violations": violations })))
    }
}

/// Every string (or object key) holding U+0000, which PostgreSQL cannot store in text and
/// which no Waymark field means: refused on both backends alike, wherever it is.
fn nul_violations(value: &Value, path: &mut String, out: &mut Vec<Violation>) {
    let refuse = |path: &str, out: &mut Vec<Violation>| {
        let name = if path.is_empty() { "arguments" } else { path };
        out.push(Violation {
            path: path.to_owned(),
            message: format!("{name} must not contain the NUL character (U+0000)"),
        });
    };
    match value {
        Value::String(s) if s.contains('\0') => refuse(path, out),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                nul_violations(item, path, out);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key.replace('\0', "\\u0000"));
                if key.contains('\0') {
                    refuse(path, out);
                }
                nul_violations(item, path, out);
                path.truncate(len);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

fn describe(error: &jsonschema::ValidationError<'_>) -> Violation {
    let path = dotted(error.instance_path().as_str());
    let name = if path.is_empty() { "arguments".to_owned() } else { path.clone() };
    let message = match error.kind() {
        ValidationErrorKind::Required { property } => {
            let prop = property.as_str().map_or_else(|| property.to_string(), str::to_owned);
            let full = if path.is_empty() { prop } else { format!("{path}.{prop}") };
            return Violation { message: format!("{full} is required"), path: full };
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let plural = if unexpected.len() == 1 { "" } else { "s" };
            if path.is_empty() {
                format!("unknown argument{plural}: {}", unexpected.join(", "))
            } else {
                format!("{path}: unknown field{plural}: {}", unexpected.join(", "))
            }
        }
        ValidationErrorKind::Type { kind } => format!("{name} must be {}", type_phrase(kind)),
        ValidationErrorKind::Enum { options } => {
            let list = options
                .as_array()
                .map(|opts| {
                    opts.iter()
                        .filter(|o| !o.is_null())
                        .map(|o| o.as_str().map_or_else(|| o.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            format!("{name} must be one of: {list}")
        }
        ValidationErrorKind::MaxLength { limit } => format!("{name} exceeds maximum length of {limit} characters"),
        ValidationErrorKind::MinLength { limit: 1 } => format!("{name} must not be empty"),
        ValidationErrorKind::MinLength { limit } => format!("{name} must be at least {limit} characters"),
        ValidationErrorKind::Minimum { limit } => format!("{name} must be at least {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("{name} must be at most {limit}"),
        ValidationErrorKind::MaxItems { limit } => format!("{name} must have at most {limit} items"),
        ValidationErrorKind::MinItems { limit } => format!("{name} must have at least {limit} items"),
        ValidationErrorKind::Pattern { pattern } => format!("{name} does not match the required pattern {pattern}"),
        ValidationErrorKind::Constant { expected_value } => format!("{name} must be {expected_value}"),
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // One phrase per branch ("phase must be at least 1", "phase must be a string"),
            // joined as "phase must be at least 1, or a string".
            let prefix = format!("{name} must be ");
            let mut phrases: Vec<String> = Vec::new();
            for branch in context {
                if let Some(first) = branch.first() {
                    let message = describe(first).message;
                    let phrase = message.strip_prefix(&prefix).map_or(message.clone(), str::to_owned);
                    if !phrases.contains(&phrase) {
                        phrases.push(phrase);
                    }
                }
            }
            if phrases.is_empty() {
                format!("{name} has an unexpected value")
            } else {
                format!("{prefix}{}", phrases.join(", or "))
            }
        }
        _ => format!("{name}: {error}"),
    };
    Violation { path, message }
}

/// A violation found while reading already validated arguments into the parameter type (a
/// rule the schema cannot say), in the same shape as the schema's: `{violations: [{path,
/// message}]}`.
pub(crate) fn deserialize_violation(error: &serde_path_to_error::Error<serde_json::Error>) -> ServiceError {
    let path = error.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let inner = error.inner().to_string();
    let message = if path.is_empty() { format!("arguments: {inner}") } else { format!("{path}: {inner}") };
    ServiceError::validation(message.clone()).with_details(json!({ "violations": [Violation { path, message }] }))
}

/// `/phases/0/name` → `phases[0].name`.
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}

fn type_phrase(kind: &TypeKind) -> String {
    let one = |t: String| match t.as_str() {
        "integer" => "an integer".to_owned(),
        "object" => "an object".to_owned(),
        "array" => "an array".to_owned(),
        other => format!("a {other}"),
    };
    match kind {
        TypeKind::Single(t) => one(t.to_string()),
        TypeKind::Multiple(set) => {
            let names: Vec<String> =
                set.iter().filter(|t| t.to_string() != "null").map(|t| one(t.to_string())).collect();
            names.join(" or ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::dotted;

    #[test]
    fn pointers_become_dotted_paths() {
        assert_eq!(dotted(""), "");
        assert_eq!(dotted("/title"), "title");
        assert_eq!(dotted("/phases/0/tasks/3"), "phases[0].tasks[3]");
        assert_eq!(dotted("/context/a~1b"), "context.a/b");
    }
}
