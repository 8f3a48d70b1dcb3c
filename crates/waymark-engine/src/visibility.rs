//! Visibility metadata rules (the seed's §2.5 and §3.9): business key, labels, memo and search
//! attributes. Each check returns a message naming the offending field or key.

use serde_json::Value;

use crate::event::{Labels, Metadata};

/// The longest business key, label value or keyword-list item, in characters.
pub const MAX_VALUE_CHARS: usize = 191;
/// The longest label, memo or search attribute key, in characters.
pub const MAX_KEY_CHARS: usize = 64;
/// The largest memo, in bytes of JSON (the seed's `memo_size` limit).
pub const MAX_MEMO_BYTES: usize = 256 * 1024;
/// The largest set of search attributes, in bytes of JSON (the seed's engine limit).
pub const MAX_SEARCH_ATTRIBUTES_BYTES: usize = 40 * 1024;

fn key_ok(key: &str) -> bool {
    let chars = key.chars().count();
    (1..=MAX_KEY_CHARS).contains(&chars)
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// Trims a business key and checks it is 1–191 characters.
///
/// # Errors
/// A message when it is empty after trimming or too long.
pub fn business_key(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("business_key must not be empty".to_owned());
    }
    if trimmed.chars().count() > MAX_VALUE_CHARS {
        return Err(format!("business_key must be at most {MAX_VALUE_CHARS} characters"));
    }
    Ok(trimmed.to_owned())
}

/// Normalizes visibility labels: keys 1–64 characters of `[A-Za-z0-9_.:-]`; values scalars
/// or null; nulls are dropped, others stringified and trimmed to 1–191 characters.
///
/// # Errors
/// A message naming the first bad key.
pub fn labels(raw: &serde_json::Map<String, Value>) -> Result<Labels, String> {
    let mut out = Labels::new();
    for (key, value) in raw {
        if !key_ok(key) {
            return Err(format!(
                "visibility_labels key {key:?} must be 1-{MAX_KEY_CHARS} characters of A-Z, a-z, 0-9, '_', '.', ':' or '-'"
            ));
        }
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s.trim().to_owned(),
            Value::Bool(_) | Value::Number(_) => value.to_string(),
            Value::Array(_) | Value::Object(_) => {
                return Err(format!("visibility_labels value for {key:?} must be a string, number, boolean or null"));
            }
        };
        if text.is_empty() || text.chars().count() > MAX_VALUE_CHARS {
            return Err(format!("visibility_labels value for {key:?} must be 1-{MAX_VALUE_CHARS} characters"));
        }
        out.insert(key.clone(), text);
    }
    Ok(out)
}

/// Checks memo entries: keys 1–64 characters, any JSON values, at most 256 KiB in all.
///
/// # Errors
/// A message naming the first bad key, or the size.
pub fn check_memo(entries: &Metadata) -> Result<(), String> {
    if let Some(key) = entries.keys().find(|k| k.is_empty() || k.chars().count() > MAX_KEY_CHARS) {
        return Err(format!("memo key {key:?} must be 1-{MAX_KEY_CHARS} characters"));
    }
    let size = serde_json::to_vec(entries).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_MEMO_BYTES {
        return Err(format!("memo is {size} bytes; the limit is {MAX_MEMO_BYTES}"));
    }
    Ok(())
}

/// Checks search attributes: keys 1–64 characters of `[A-Za-z0-9_.:-]`; values scalars,
/// lists of strings of at most 191 characters, or null (a delete); at most 40 KiB in all.
///
/// # Errors
/// A message naming the first bad key, or the size.
pub fn check_search_attributes(attributes: &Metadata) -> Result<(), String> {
    for (key, value) in attributes {
        if !key_ok(key) {
            return Err(format!(
                "search_attributes key {key:?} must be 1-{MAX_KEY_CHARS} characters of A-Z, a-z, 0-9, '_', '.', ':' or '-'"
            ));
        }
        let fits = match value {
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => true,
            Value::Array(items) => {
                items.iter().all(|i| i.as_str().is_some_and(|s| s.chars().count() <= MAX_VALUE_CHARS))
            }
            Value::Object(_) => false,
        };
        if !fits {
            return Err(format!(
                "search_attributes value for {key:?} must be a scalar, null, or a list of strings of at most {MAX_VALUE_CHARS} characters"
            ));
        }
    }
    let size = serde_json::to_vec(attributes).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_SEARCH_ATTRIBUTES_BYTES {
        return Err(format!("search_attributes are {size} bytes; the limit is {MAX_SEARCH_ATTRIBUTES_BYTES}"));
    }
    Ok(())
}

/// Merges `update` into `into`: a null value deletes the key, anything else replaces it.
pub fn merge(into: &mut Metadata, update: &Metadata) {
    for (key, value) in update {
        if value.is_null() {
            into.remove(key);
        } else {
            into.insert(key.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn business_keys_are_trimmed_and_bounded() {
        assert_eq!(business_key("  demo-001 ").unwrap(), "demo-001");
        assert!(business_key("   ").is_err());
        assert!(business_key(&"x".repeat(191)).is_ok());
        assert!(business_key(&"x".repeat(192)).is_err());
    }

    #[test]
    fn labels_are_stringified_trimmed_and_nulls_dropped() {
        let raw = json!({"team": " ops ", "tier": 2, "beta": true, "gone": null});
        let labels = labels(raw.as_object().unwrap()).unwrap();
        assert_eq!(serde_json::to_value(&labels).unwrap(), json!({"beta": "true", "team": "ops", "tier": "2"}));
        assert!(super::labels(json!({"bad key": "x"}).as_object().unwrap()).is_err());
        assert!(super::labels(json!({"k": [1]}).as_object().unwrap()).is_err());
        assert!(super::labels(json!({"k": "  "}).as_object().unwrap()).is_err());
    }

    #[test]
    fn search_attributes_take_scalars_and_string_lists() {
        let ok: Metadata =
            serde_json::from_value(json!({"stage": "a", "n": 1, "tags": ["x", "y"], "gone": null})).unwrap();
        assert!(check_search_attributes(&ok).is_ok());
        let nested: Metadata = serde_json::from_value(json!({"o": {"a": 1}})).unwrap();
        assert!(check_search_attributes(&nested).is_err());
        let long: Metadata = serde_json::from_value(json!({"tags": ["x".repeat(192)]})).unwrap();
        assert!(check_search_attributes(&long).is_err());
        let big: Metadata = serde_json::from_value(json!({"s": "x".repeat(41 * 1024)})).unwrap();
        assert!(check_search_attributes(&big).is_err());
    }

    #[test]
    fn merging_deletes_on_null() {
        let mut into: Metadata = serde_json::from_value(json!({"a": 1, "b": 2})).unwrap();
        merge(&mut into, &serde_json::from_value(json!({"a": null, "c": 3})).unwrap());
        assert_eq!(serde_json::to_value(&into).unwrap(), json!({"b": 2, "c": 3}));
    }
}
