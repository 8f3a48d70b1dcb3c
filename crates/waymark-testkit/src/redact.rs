//! Stable snapshots: ids and timestamps replaced by placeholders.

use serde_json::Value;

/// Id prefixes Waymark mints, each followed by a 26-character ULID.
const ID_PREFIXES: &[&str] = &["ws_", "key_", "plan_", "phase_", "task_", "cp_", "aud_", "sess_"];

/// Replaces, anywhere in `value`: prefixed ULID ids (`task_01J…` → `task_[id]`), ISO-8601
/// timestamps (`[time]`) and Waymark API keys (`wmk_[key]`).
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), redact(v))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::String(s) => Value::String(redact_str(s)),
        Value::Null | Value::Bool(_) | Value::Number(_) => value.clone(),
    }
}

fn redact_str(s: &str) -> String {
    if s.starts_with("wmk_") {
        return "wmk_[key]".to_owned();
    }
    for prefix in ID_PREFIXES {
        if let Some(rest) = s.strip_prefix(prefix)
            && rest.len() >= 26
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return format!("{prefix}[id]");
        }
    }
    if looks_like_timestamp(s) {
        return "[time]".to_owned();
    }
    s.to_owned()
}

/// Replaces ids, API keys (and key prefixes) and ISO-8601 timestamps wherever they appear in
/// text (CLI output).
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while let Some(c) = rest.chars().next() {
        let at_boundary = out.chars().last().is_none_or(|p| !p.is_ascii_alphanumeric() && p != '_');
        if at_boundary {
            if let Some(after) = rest.strip_prefix("wmk_") {
                let len = after.bytes().take_while(u8::is_ascii_alphanumeric).count();
                if len >= 8 {
                    out.push_str("wmk_[key]");
                    rest = &after[len..];
                    continue;
                }
            }
            for prefix in ID_PREFIXES {
                if let Some(after) = rest.strip_prefix(prefix) {
                    let len = after.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'-').count();
                    // A ULID (26 characters) or, for sessions, a UUID (36 with hyphens).
                    if len == 26 || (*prefix == "sess_" && len == 36) {
                        out.push_str(prefix);
                        out.push_str("[id]");
                        rest = &after[len..];
                        continue 'outer;
                    }
                }
            }
            let candidate: String = rest.chars().take(30).collect();
            if let Some(end) = timestamp_len(&candidate) {
                out.push_str("[time]");
                rest = &rest[end..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The length of an ISO-8601 UTC timestamp at the start of `s` (`2026-01-01T12:00:00.000Z`).
fn timestamp_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    let shape = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && b.get(10) == Some(&b'T')
        && digits(11..13)
        && b.get(13) == Some(&b':');
    if !shape {
        return None;
    }
    let end = b.iter().position(|&c| c == b'Z')?;
    (end < 30).then_some(end + 1)
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && s.ends_with('Z')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::redact;

    #[test]
    fn text_is_redacted_in_place() {
        let text = "key_01JABCDEFGHJKMNPQRSTVWXYZ0  default  wmk_abcdefghijklmnopqrstuvwxyz0123  2026-11-21T14:28:14.691Z  plan_list";
        assert_eq!(super::redact_text(text), "key_[id]  default  wmk_[key]  [time]  plan_list");
    }

    #[test]
    fn ids_and_times_are_replaced() {
        let v = json!({
            "id": "task_01JABCDEFGHJKMNPQRSTVWXYZ0",
            "at": "2026-01-01T12:00:00.000Z",
            "slug": "task_add",
            "list": ["plan_01JABCDEFGHJKMNPQRSTVWXYZ0", 3]
        });
        assert_eq!(
            redact(&v),
            json!({ "id": "task_[id]", "at": "[time]", "slug": "task_add", "list": ["plan_[id]", 3] })
        );
    }
}
