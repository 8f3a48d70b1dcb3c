//! Conversions between rows and domain values. Reading is fallible: a row written by a newer
//! binary, or damaged by hand, becomes [`Error::Corrupt`] naming the table and id.

use std::fmt::Display;

use crate::Error;

/// Builds the error for an unreadable row.
pub(crate) fn corrupt(table: &str, id: &str, detail: impl Display) -> Error {
    Error::Corrupt(format!("{table} row {id}: {detail}"))
}

/// Reads a non-negative integer column.
pub(crate) fn to_u32(table: &str, id: &str, column: &str, value: i32) -> Result<u32, Error> {
    u32::try_from(value).map_err(|_| corrupt(table, id, format!("negative {column}: {value}")))
}

/// Writes a `u32` into an `INTEGER` column, saturating at `i32::MAX` (orders and positions never
/// come close).
pub(crate) fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}
