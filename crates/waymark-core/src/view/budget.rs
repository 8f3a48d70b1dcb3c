//! The result budget: what a tool may return, and the helpers that keep every result inside it
//! (docs/tools.md, "Result budget").
//!
//! Sizes are bytes of compact JSON, the way the result reaches the client: a text field costs
//! its escaped length, so a string of control characters counts six bytes a character.
//! Three tools keep results bounded:
//!
//! - [`clip`] cuts a text field to a number of JSON bytes, on a character boundary, ending it
//!   with `…`;
//! - [`clip_json`] replaces a JSON value too large for its place by a marker object
//!   `{"$truncated": true, "$size_bytes": N, "$preview": "<its JSON text, cut>"}`;
//! - [`fill`] takes a list's items in order while they fit a byte allowance.
//!
//! Whatever is cut, the result says so (`truncated: true`) and says how to get the rest
//! (`next_cursor`, or a hint naming the tool that pages it).

use serde::Serialize;
use serde_json::{Map, Value};

/// The most one tool result may take: 16,000 tokens, at the proxy of 4 bytes a token. Counted
/// on the text content block, which is the compact JSON of `structuredContent` (MCP sends
/// both; a client gives its model one of them).
pub const RESULT_BUDGET_BYTES: usize = 64_000;

/// The key of the marker object that stands for a JSON value too large to show.
pub const TRUNCATED_KEY: &str = "$truncated";

/// Bytes `text` takes inside a JSON string (without the quotes).
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\u{08}' | '\u{0c}' | '\n' | '\r' | '\t' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Bytes of `value` as compact JSON.
pub fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => 0,
    }
}

/// `text` cut so that its JSON string takes at most `max_bytes` (quotes included), on a
/// character boundary and ending with `…`; the flag says whether it was cut.
pub fn clip(text: &str, max_bytes: usize) -> (String, bool) {
    let room = max_bytes.saturating_sub(2);
    let whole: usize = text.chars().map(escaped_len).sum();
    if whole <= room {
        return (text.to_owned(), false);
    }
    let room = room.saturating_sub('…'.len_utf8());
    let mut used = 0;
    let mut end = 0;
    for (at, c) in text.char_indices() {
        let cost = escaped_len(c);
        if used + cost > room {
            break;
        }
        used += cost;
        end = at + c.len_utf8();
    }
    (format!("{}…", &text[..end]), true)
}

/// [`clip`] for an optional text; `truncated` is set when it was cut.
pub fn clip_opt(text: Option<&str>, max_bytes: usize, truncated: &mut bool) -> Option<String> {
    text.map(|t| {
        let (out, cut) = clip(t, max_bytes);
        *truncated |= cut;
        out
    })
}

/// [`clip`] that records a cut in `truncated`.
pub fn clip_into(text: &str, max_bytes: usize, truncated: &mut bool) -> String {
    let (out, cut) = clip(text, max_bytes);
    *truncated |= cut;
    out
}

/// The part of `text` from byte `offset` whose JSON string takes at most `max_bytes` (quotes
/// included), cut on a character boundary, and the offset of the rest (`None` at the end).
/// `None` when `offset` is not a character boundary of `text`.
pub fn chunk(text: &str, offset: usize, max_bytes: usize) -> Option<(String, Option<usize>)> {
    if !text.is_char_boundary(offset) {
        return None;
    }
    let rest = &text[offset..];
    let room = max_bytes.saturating_sub(2);
    let mut used = 0;
    for (at, c) in rest.char_indices() {
        let cost = escaped_len(c);
        if used + cost > room && at > 0 {
            return Some((rest[..at].to_owned(), Some(offset + at)));
        }
        used += cost;
    }
    Some((rest.to_owned(), None))
}

/// The marker that stands for a JSON value of `size` bytes whose text is `text`, with a
/// preview of at most about `max_bytes`.
fn marker(text: &str, size: usize, max_bytes: usize) -> Map<String, Value> {
    let (preview, _) = clip(text, max_bytes.saturating_sub(60).max(16));
    let mut map = Map::new();
    map.insert(TRUNCATED_KEY.into(), Value::Bool(true));
    map.insert("$size_bytes".into(), Value::from(size as u64));
    map.insert("$preview".into(), Value::String(preview));
    map
}

/// `value` itself when its JSON takes at most `max_bytes`, else the marker object
/// `{"$truncated": true, "$size_bytes": N, "$preview": "…"}` of about `max_bytes`; the flag
/// says whether it was replaced.
pub fn clip_json(value: Value, max_bytes: usize) -> (Value, bool) {
    let size = json_len(&value);
    if size <= max_bytes {
        return (value, false);
    }
    let text = value.to_string();
    (Value::Object(marker(&text, size, max_bytes)), true)
}

/// [`clip_json`] for JSON text as stored (compact, as serde_json writes it, so its length is
/// the value's JSON size): a value too large is marked without being parsed.
pub fn clip_json_text(text: &str, max_bytes: usize) -> (Value, bool) {
    if text.len() > max_bytes {
        return (Value::Object(marker(text, text.len(), max_bytes)), true);
    }
    clip_json(serde_json::from_str(text).unwrap_or(Value::Null), max_bytes)
}

/// [`clip_json`] for an object field (the marker is an object too); records a cut in
/// `truncated`.
pub fn clip_object(map: Map<String, Value>, max_bytes: usize, truncated: &mut bool) -> Map<String, Value> {
    let size = json_len(&map);
    if size <= max_bytes {
        return map;
    }
    *truncated = true;
    marker(&Value::Object(map).to_string(), size, max_bytes)
}

/// The items of `items` in order while there are at most `max_items` and their JSON (with
/// the commas between them) takes at most `max_bytes`; the flag says whether any item was
/// left. The first item is always taken, so paging always moves on: callers clip items so
/// that one always fits.
pub fn fill<T: Serialize>(items: impl IntoIterator<Item = T>, max_items: usize, max_bytes: usize) -> (Vec<T>, bool) {
    fill_by(items, max_items, max_bytes, |item| json_len(item))
}

/// [`fill`] with the size of an item given by `size` (for items carrying more than they show,
/// such as their sort key).
pub fn fill_by<T>(
    items: impl IntoIterator<Item = T>,
    max_items: usize,
    max_bytes: usize,
    size: impl Fn(&T) -> usize,
) -> (Vec<T>, bool) {
    let mut out = Vec::new();
    let mut used = 2;
    for item in items {
        let cost = size(&item) + usize::from(!out.is_empty());
        if out.len() >= max_items || (!out.is_empty() && used + cost > max_bytes) {
            return (out, true);
        }
        used += cost;
        out.push(item);
    }
    (out, false)
}

/// Whether a flag is false (for `skip_serializing_if`).
#[allow(clippy::trivially_copy_pass_by_ref)]
pub(crate) fn is_false(flag: &bool) -> bool {
    !*flag
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn clip_counts_escaped_bytes_and_cuts_on_a_character_boundary() {
        assert_eq!(clip("short", 100), ("short".to_owned(), false));
        let (cut, was_cut) = clip(&"é".repeat(100), 20);
        assert!(was_cut);
        assert!(json_len(&cut) <= 20, "{cut}");
        assert!(cut.ends_with('…'));
        let controls = "\u{1}".repeat(100);
        let (cut, _) = clip(&controls, 64);
        assert!(json_len(&cut) <= 64);
        assert_eq!(json_len(&"\u{1}"), 8);
    }

    #[test]
    fn chunks_cover_the_text_exactly_once() {
        let text = format!("{}\"é\u{1}{}", "a".repeat(50), "b".repeat(50));
        let mut offset = 0;
        let mut joined = String::new();
        loop {
            let (part, next) = chunk(&text, offset, 20).unwrap();
            assert!(json_len(&part) <= 20);
            joined.push_str(&part);
            match next {
                Some(n) => offset = n,
                None => break,
            }
        }
        assert_eq!(joined, text);
        assert!(chunk("é", 1, 20).is_none());
    }

    #[test]
    fn clip_json_keeps_small_values_and_marks_large_ones() {
        let small = json!({ "a": 1 });
        assert_eq!(clip_json(small.clone(), 100), (small, false));
        let big = json!({ "blob": "x".repeat(10_000) });
        let (marker, cut) = clip_json(big, 500);
        assert!(cut);
        assert_eq!(marker[TRUNCATED_KEY], true);
        assert_eq!(marker["$size_bytes"], 10_011);
        assert!(json_len(&marker) <= 500, "{}", json_len(&marker));
        assert!(marker["$preview"].as_str().unwrap().starts_with("{\"blob\":\"xxx"));
    }

    #[test]
    fn fill_stops_at_the_count_or_the_bytes_and_always_takes_one() {
        let items = ["aaaa", "bbbb", "cccc"];
        assert_eq!(fill(items, 10, 1000), (items.to_vec(), false));
        assert_eq!(fill(items, 2, 1000), (items[..2].to_vec(), true));
        // ["aaaa","bbbb"] is 15 bytes.
        assert_eq!(fill(items, 10, 15), (items[..2].to_vec(), true));
        assert_eq!(fill(items, 10, 1), (items[..1].to_vec(), true));
        assert_eq!(fill(Vec::<&str>::new(), 10, 1), (vec![], false));
    }
}
