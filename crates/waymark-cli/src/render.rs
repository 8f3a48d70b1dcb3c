//! Output: aligned tables for people, pretty JSON for scripts.

use std::io::{self, Write};

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

/// Writes rows under upper-case headers, columns separated by two spaces, no borders, never
/// wrapped (so output is the same in a terminal and a pipe).
pub(crate) fn table(out: &mut dyn Write, headers: &[&str], rows: Vec<Vec<String>>) -> io::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(headers.iter().map(|h| h.to_uppercase()));
    for row in rows {
        table.add_row(row);
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    for line in table.to_string().lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Writes a value as pretty JSON.
pub(crate) fn json(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    writeln!(out, "{text}")
}

/// `None` as `-`.
pub(crate) fn opt(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

/// After a table: how to get the next page, when there is one.
pub(crate) fn next_page(out: &mut dyn Write, next_cursor: Option<&str>) -> io::Result<()> {
    match next_cursor {
        Some(cursor) => writeln!(out, "More: repeat with --cursor {cursor}"),
        None => Ok(()),
    }
}
