//! waymark-core through its public API, on SQLite and PostgreSQL.

mod budget;
mod catalogue;
mod docs;
mod fresh_database;
mod histories;
mod lifecycle;
mod machinery;
mod paging;
mod sessions;
mod state;
mod templates;
mod tools;
mod workflows;

use serde::Serialize;
use waymark_core::{ServiceError, ToolResult};

/// Snapshots a value with ids and times redacted. Both backends share the snapshot, so the
/// same call must give the same result on SQLite and PostgreSQL.
#[track_caller]
fn snap(name: &str, value: impl Serialize) {
    let json = serde_json::to_value(value).expect("serializable");
    insta::assert_json_snapshot!(name, waymark_testkit::redact(&json));
}

/// A failure as a tool result would show it.
fn error_result(err: &ServiceError) -> serde_json::Value {
    serde_json::Value::Object(ToolResult::error(err).structured)
}
