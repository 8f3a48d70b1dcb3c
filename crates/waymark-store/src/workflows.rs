//! The durable-workflow engine's store port ([`waymark_engine::store`]) over the `wf_*`
//! tables, for SQLite and PostgreSQL alike.
//!
//! - [`Store`] implements [`EngineStore`]: reads go to the reader pool, [`EngineStore::begin`]
//!   opens a write transaction exactly like [`Store::write`] (on SQLite, the single writer).
//! - The transaction is a private wrapper around [`Tx`] implementing [`EngineTx`]. On
//!   PostgreSQL the `lock_*` methods and `overdue_runs` take row locks (`FOR UPDATE`) and the
//!   `claim_*` methods skip rows other transactions hold (`FOR UPDATE SKIP LOCKED`); SQLite
//!   has one writer, so it needs no lock clause.
//! - Rows become engine records at the edge: JSON documents are `serde_json` text, durations
//!   are milliseconds, statuses go through the engine enums' `as_str`/`parse`, and a row that
//!   does not read back is [`StoreError::Corrupt`], never a panic.
//! - Wake-ups cross processes through PostgreSQL `NOTIFY`/`LISTEN` on the channel
//!   `waymark_engine` (database-wide, whatever the schema); SQLite has no such channel.

use std::fmt::Display;
use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, LockBehavior, LockType, OnConflict, Query, SelectStatement};
use sea_orm::sqlx::postgres::{PgListener, PgPoolOptions};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, TransactionTrait,
};
use serde_json::Value;
use tokio::sync::mpsc;
use waymark_engine::event::{Labels, Metadata};
use waymark_engine::ids::{InstanceId, Namespace, RunId};
use waymark_engine::retry::ActivityOptions;
use waymark_engine::status::{
    ClosedReason, CommandOutcome, CommandStatus, CommandType, FailureCategory, RunStatus, TaskProblem, WaitKind,
};
use waymark_engine::store::{
    ActivityRecord, ActivityStatus, AttemptRecord, AttemptStatus, CommandRecord, EngineStore, EngineTx, FailureRecord,
    InstanceRecord, RunFilter, RunRecord, StoreError, StoredEvent, TaskKind, TaskRecord, TaskStatus, TimerRecord,
    TimerStatus,
};
use waymark_engine::time::Timestamp;

use crate::convert::to_i32;
use crate::entity::{
    wf_activity_attempts as attempts, wf_activity_executions as activities, wf_commands as commands,
    wf_failures as failures, wf_history_events as events, wf_instances as instances, wf_runs as runs,
    wf_search_attributes as search, wf_tasks as tasks, wf_timers as timers,
};
use crate::{Backend, Error, Store, Tx};

/// The `NOTIFY` channel of engine wake-ups (payload: a [`TaskKind::as_str`]).
const CHANNEL: &str = "waymark_engine";

/// Wake-ups buffered for a slow receiver; more are dropped (one pending wake-up per kind is
/// all a worker needs, it polls for the rest).
const WAKE_UP_BUFFER: usize = 64;

/// The most events written by one `INSERT`: keeps a huge step under every backend's limit on
/// bound parameters (SQLite 32 766, PostgreSQL 65 535; six per event).
const EVENTS_PER_INSERT: usize = 1000;

/// The longest keyword search attribute; longer strings are `text`.
const MAX_KEYWORD_CHARS: usize = 255;

/// 9999-12-31T23:59:59.999Z in milliseconds: the latest instant written. SQLite compares
/// timestamps as RFC 3339 text, which orders correctly only for four-digit years, so a
/// saturated deadline (`time::add` caps at chrono's maximum) is stored as this instead.
const LATEST_STORED_MILLIS: i64 = 253_402_300_799_999;

// ---------------------------------------------------------------------------------------------
// Errors

/// Maps a database error to the engine's view of it, through the store's one classification
/// ([`Error`]).
fn db_err(err: DbErr) -> StoreError {
    store_err(Error::from(err))
}

/// Maps the store's own error to the engine's: a busy database is a conflict (the engine
/// retries the whole transaction), a refused value a database error.
fn store_err(err: Error) -> StoreError {
    match err {
        Error::Conflict | Error::Busy(_) => StoreError::Conflict,
        Error::Corrupt(detail) => StoreError::Corrupt(detail),
        Error::Unreachable(err) => StoreError::Unreachable(err.to_string()),
        Error::InvalidUrl(reason) => StoreError::Unreachable(reason),
        Error::Rejected(err) | Error::Database(err) => StoreError::Database(err.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Rows to records and back

/// Reads one row: every failure names the table, the row and the column.
struct Reader<'a> {
    table: &'static str,
    id: &'a str,
}

impl Reader<'_> {
    fn bad(&self, column: &str, detail: impl Display) -> StoreError {
        StoreError::Corrupt(format!("{} row {}: {column}: {detail}", self.table, self.id))
    }

    fn u32(&self, column: &str, value: i32) -> Result<u32, StoreError> {
        u32::try_from(value).map_err(|_| self.bad(column, format!("negative value {value}")))
    }

    fn u64(&self, column: &str, value: i64) -> Result<u64, StoreError> {
        u64::try_from(value).map_err(|_| self.bad(column, format!("negative value {value}")))
    }

    fn json<T: serde::de::DeserializeOwned>(&self, column: &str, raw: &str) -> Result<T, StoreError> {
        serde_json::from_str(raw).map_err(|e| self.bad(column, e))
    }

    fn word<T>(&self, column: &str, raw: &str, parse: fn(&str) -> Option<T>) -> Result<T, StoreError> {
        parse(raw).ok_or_else(|| self.bad(column, format!("unknown value {raw:?}")))
    }

    fn word_opt<T>(
        &self,
        column: &str,
        raw: Option<&str>,
        parse: fn(&str) -> Option<T>,
    ) -> Result<Option<T>, StoreError> {
        raw.map(|raw| self.word(column, raw, parse)).transpose()
    }

    fn run_id(&self, column: &str, raw: &str) -> Result<RunId, StoreError> {
        RunId::parse(raw).map_err(|e| self.bad(column, e))
    }

    fn run_id_opt(&self, column: &str, raw: Option<&str>) -> Result<Option<RunId>, StoreError> {
        raw.map(|raw| self.run_id(column, raw)).transpose()
    }

    fn instance_id(&self, column: &str, raw: &str) -> Result<InstanceId, StoreError> {
        InstanceId::parse(raw).map_err(|e| self.bad(column, e))
    }
}

/// Writes a `u64` into a `BIGINT` column, saturating (sequences and sizes never come close).
fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A duration as whole milliseconds.
fn millis(value: Duration) -> i64 {
    i64::try_from(value.as_millis()).unwrap_or(i64::MAX)
}

/// A timestamp as stored: at most 9999-12-31 (see [`LATEST_STORED_MILLIS`]).
fn ts(value: Timestamp) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(LATEST_STORED_MILLIS).map_or(value, |latest| Ord::min(value, latest))
}

fn ts_opt(value: Option<Timestamp>) -> Option<Timestamp> {
    value.map(ts)
}

/// A document as JSON text.
fn to_json(what: &str, value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Database(format!("cannot encode {what}: {e}")))
}

fn instance_from_row(row: instances::Model) -> Result<InstanceRecord, StoreError> {
    let key = format!("{}/{}", row.namespace, row.instance_id);
    let r = Reader { table: "wf_instances", id: &key };
    Ok(InstanceRecord {
        instance_id: r.instance_id("instance_id", &row.instance_id)?,
        current_run_id: r.run_id_opt("current_run_id", row.current_run_id.as_deref())?,
        run_count: r.u32("run_count", row.run_count)?,
        namespace: Namespace::new(row.namespace),
        workflow_type: row.workflow_type,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn instance_to_row(record: &InstanceRecord) -> instances::ActiveModel {
    instances::ActiveModel {
        namespace: Set(record.namespace.as_str().to_owned()),
        instance_id: Set(record.instance_id.as_str().to_owned()),
        workflow_type: Set(record.workflow_type.clone()),
        current_run_id: Set(record.current_run_id.as_ref().map(|id| id.as_str().to_owned())),
        run_count: Set(to_i32(record.run_count)),
        created_at: Set(ts(record.created_at)),
        updated_at: Set(ts(record.updated_at)),
    }
}

fn run_from_row(row: runs::Model) -> Result<RunRecord, StoreError> {
    let r = Reader { table: "wf_runs", id: &row.run_id };
    Ok(RunRecord {
        run_id: r.run_id("run_id", &row.run_id)?,
        instance_id: r.instance_id("instance_id", &row.instance_id)?,
        run_number: r.u32("run_number", row.run_number)?,
        status: r.word("status", &row.status, RunStatus::parse)?,
        closed_reason: r.word_opt("closed_reason", row.closed_reason.as_deref(), ClosedReason::parse)?,
        wait_kind: r.word_opt("wait_kind", row.wait_kind.as_deref(), WaitKind::parse)?,
        task_problem: r.word_opt("task_problem", row.task_problem.as_deref(), TaskProblem::parse)?,
        input: r.json("input", &row.input)?,
        output: row.output.as_deref().map(|raw| r.json("output", raw)).transpose()?,
        visibility_labels: r.json::<Labels>("visibility_labels", &row.visibility_labels)?,
        memo: r.json::<Metadata>("memo", &row.memo)?,
        search_attributes: r.json::<Metadata>("search_attributes", &row.search_attributes)?,
        last_sequence: r.u64("last_sequence", row.last_sequence)?,
        history_size_bytes: r.u64("history_size_bytes", row.history_size_bytes)?,
        pending_commands: r.u32("pending_commands", row.pending_commands)?,
        continued_from_run_id: r.run_id_opt("continued_from_run_id", row.continued_from_run_id.as_deref())?,
        namespace: Namespace::new(row.namespace),
        workflow_type: row.workflow_type,
        business_key: row.business_key,
        run_deadline_at: row.run_deadline_at,
        execution_deadline_at: row.execution_deadline_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
        started_at: row.started_at,
        closed_at: row.closed_at,
    })
}

fn run_to_row(run: &RunRecord) -> Result<runs::ActiveModel, StoreError> {
    Ok(runs::ActiveModel {
        run_id: Set(run.run_id.as_str().to_owned()),
        namespace: Set(run.namespace.as_str().to_owned()),
        instance_id: Set(run.instance_id.as_str().to_owned()),
        run_number: Set(to_i32(run.run_number)),
        workflow_type: Set(run.workflow_type.clone()),
        status: Set(run.status.as_str().to_owned()),
        closed_reason: Set(run.closed_reason.map(|v| v.as_str().to_owned())),
        wait_kind: Set(run.wait_kind.map(|v| v.as_str().to_owned())),
        task_problem: Set(run.task_problem.map(|v| v.as_str().to_owned())),
        input: Set(run.input.to_string()),
        output: Set(run.output.as_ref().map(Value::to_string)),
        business_key: Set(run.business_key.clone()),
        visibility_labels: Set(to_json("visibility_labels", &run.visibility_labels)?),
        memo: Set(to_json("memo", &run.memo)?),
        search_attributes: Set(to_json("search_attributes", &run.search_attributes)?),
        last_sequence: Set(to_i64(run.last_sequence)),
        history_size_bytes: Set(to_i64(run.history_size_bytes)),
        pending_commands: Set(to_i32(run.pending_commands)),
        run_deadline_at: Set(ts_opt(run.run_deadline_at)),
        execution_deadline_at: Set(ts_opt(run.execution_deadline_at)),
        continued_from_run_id: Set(run.continued_from_run_id.as_ref().map(|id| id.as_str().to_owned())),
        created_at: Set(ts(run.created_at)),
        updated_at: Set(ts(run.updated_at)),
        started_at: Set(ts_opt(run.started_at)),
        closed_at: Set(ts_opt(run.closed_at)),
    })
}

fn event_from_row(row: events::Model) -> Result<StoredEvent, StoreError> {
    let r = Reader { table: "wf_history_events", id: &row.id };
    Ok(StoredEvent {
        run_id: r.run_id("run_id", &row.run_id)?,
        sequence: r.u64("sequence", row.sequence)?,
        payload: r.json("payload", &row.payload)?,
        id: row.id,
        event_type: row.event_type,
        recorded_at: row.recorded_at,
    })
}

fn event_to_row(event: &StoredEvent) -> events::ActiveModel {
    events::ActiveModel {
        id: Set(event.id.clone()),
        run_id: Set(event.run_id.as_str().to_owned()),
        sequence: Set(to_i64(event.sequence)),
        event_type: Set(event.event_type.clone()),
        payload: Set(event.payload.to_string()),
        recorded_at: Set(ts(event.recorded_at)),
    }
}

fn task_from_row(row: tasks::Model) -> Result<TaskRecord, StoreError> {
    let r = Reader { table: "wf_tasks", id: &row.id };
    Ok(TaskRecord {
        run_id: r.run_id("run_id", &row.run_id)?,
        kind: r.word("kind", &row.kind, TaskKind::parse)?,
        status: r.word("status", &row.status, TaskStatus::parse)?,
        attempt_count: r.u32("attempt_count", row.attempt_count)?,
        namespace: Namespace::new(row.namespace),
        available_at: row.available_at,
        lease_owner: row.lease_owner,
        lease_expires_at: row.lease_expires_at,
        activity_execution_id: row.activity_execution_id,
        created_at: row.created_at,
        updated_at: row.updated_at,
        id: row.id,
    })
}

fn task_to_row(task: &TaskRecord) -> tasks::ActiveModel {
    tasks::ActiveModel {
        id: Set(task.id.clone()),
        namespace: Set(task.namespace.as_str().to_owned()),
        run_id: Set(task.run_id.as_str().to_owned()),
        kind: Set(task.kind.as_str().to_owned()),
        status: Set(task.status.as_str().to_owned()),
        available_at: Set(ts(task.available_at)),
        lease_owner: Set(task.lease_owner.clone()),
        lease_expires_at: Set(ts_opt(task.lease_expires_at)),
        attempt_count: Set(to_i32(task.attempt_count)),
        activity_execution_id: Set(task.activity_execution_id.clone()),
        created_at: Set(ts(task.created_at)),
        updated_at: Set(ts(task.updated_at)),
    }
}

fn activity_from_row(row: activities::Model) -> Result<ActivityRecord, StoreError> {
    let r = Reader { table: "wf_activity_executions", id: &row.id };
    Ok(ActivityRecord {
        run_id: r.run_id("run_id", &row.run_id)?,
        instance_id: r.instance_id("instance_id", &row.instance_id)?,
        sequence: r.u64("sequence", row.sequence)?,
        input: r.json("input", &row.input)?,
        options: r.json::<ActivityOptions>("options", &row.options)?,
        status: r.word("status", &row.status, ActivityStatus::parse)?,
        attempt_count: r.u32("attempt_count", row.attempt_count)?,
        namespace: Namespace::new(row.namespace),
        activity_type: row.activity_type,
        current_attempt_id: row.current_attempt_id,
        scheduled_at: row.scheduled_at,
        closed_at: row.closed_at,
        id: row.id,
    })
}

fn activity_to_row(activity: &ActivityRecord) -> Result<activities::ActiveModel, StoreError> {
    Ok(activities::ActiveModel {
        id: Set(activity.id.clone()),
        namespace: Set(activity.namespace.as_str().to_owned()),
        run_id: Set(activity.run_id.as_str().to_owned()),
        instance_id: Set(activity.instance_id.as_str().to_owned()),
        sequence: Set(to_i64(activity.sequence)),
        activity_type: Set(activity.activity_type.clone()),
        input: Set(activity.input.to_string()),
        options: Set(to_json("activity options", &activity.options)?),
        status: Set(activity.status.as_str().to_owned()),
        attempt_count: Set(to_i32(activity.attempt_count)),
        current_attempt_id: Set(activity.current_attempt_id.clone()),
        scheduled_at: Set(ts(activity.scheduled_at)),
        closed_at: Set(ts_opt(activity.closed_at)),
    })
}

fn attempt_from_row(row: attempts::Model) -> Result<AttemptRecord, StoreError> {
    let r = Reader { table: "wf_activity_attempts", id: &row.id };
    Ok(AttemptRecord {
        attempt_number: r.u32("attempt_number", row.attempt_number)?,
        status: r.word("status", &row.status, AttemptStatus::parse)?,
        activity_execution_id: row.activity_execution_id,
        worker_id: row.worker_id,
        started_at: row.started_at,
        lease_expires_at: row.lease_expires_at,
        closed_at: row.closed_at,
        failure: row.failure,
        id: row.id,
    })
}

fn attempt_to_row(attempt: &AttemptRecord) -> attempts::ActiveModel {
    attempts::ActiveModel {
        id: Set(attempt.id.clone()),
        activity_execution_id: Set(attempt.activity_execution_id.clone()),
        attempt_number: Set(to_i32(attempt.attempt_number)),
        status: Set(attempt.status.as_str().to_owned()),
        worker_id: Set(attempt.worker_id.clone()),
        started_at: Set(ts(attempt.started_at)),
        lease_expires_at: Set(ts(attempt.lease_expires_at)),
        closed_at: Set(ts_opt(attempt.closed_at)),
        failure: Set(attempt.failure.clone()),
    }
}

fn timer_from_row(row: timers::Model) -> Result<TimerRecord, StoreError> {
    let r = Reader { table: "wf_timers", id: &row.id };
    Ok(TimerRecord {
        run_id: r.run_id("run_id", &row.run_id)?,
        sequence: r.u64("sequence", row.sequence)?,
        delay: Duration::from_millis(r.u64("delay_ms", row.delay_ms)?),
        status: r.word("status", &row.status, TimerStatus::parse)?,
        namespace: Namespace::new(row.namespace),
        fire_at: row.fire_at,
        created_at: row.created_at,
        id: row.id,
    })
}

fn timer_to_row(timer: &TimerRecord) -> timers::ActiveModel {
    timers::ActiveModel {
        id: Set(timer.id.clone()),
        namespace: Set(timer.namespace.as_str().to_owned()),
        run_id: Set(timer.run_id.as_str().to_owned()),
        sequence: Set(to_i64(timer.sequence)),
        delay_ms: Set(millis(timer.delay)),
        fire_at: Set(ts(timer.fire_at)),
        status: Set(timer.status.as_str().to_owned()),
        created_at: Set(ts(timer.created_at)),
    }
}

fn command_from_row(row: commands::Model) -> Result<CommandRecord, StoreError> {
    let r = Reader { table: "wf_commands", id: &row.id };
    Ok(CommandRecord {
        instance_id: r.instance_id("instance_id", &row.instance_id)?,
        run_id: r.run_id_opt("run_id", row.run_id.as_deref())?,
        command_type: r.word("command_type", &row.command_type, CommandType::parse)?,
        status: r.word("status", &row.status, CommandStatus::parse)?,
        outcome: r.word_opt("outcome", row.outcome.as_deref(), CommandOutcome::parse)?,
        payload: r.json("payload", &row.payload)?,
        namespace: Namespace::new(row.namespace),
        rejection_reason: row.rejection_reason,
        source: row.source,
        created_at: row.created_at,
        applied_at: row.applied_at,
        id: row.id,
    })
}

fn command_to_row(command: &CommandRecord) -> commands::ActiveModel {
    commands::ActiveModel {
        id: Set(command.id.clone()),
        namespace: Set(command.namespace.as_str().to_owned()),
        instance_id: Set(command.instance_id.as_str().to_owned()),
        run_id: Set(command.run_id.as_ref().map(|id| id.as_str().to_owned())),
        command_type: Set(command.command_type.as_str().to_owned()),
        status: Set(command.status.as_str().to_owned()),
        outcome: Set(command.outcome.map(|v| v.as_str().to_owned())),
        rejection_reason: Set(command.rejection_reason.clone()),
        source: Set(command.source.clone()),
        payload: Set(command.payload.to_string()),
        created_at: Set(ts(command.created_at)),
        applied_at: Set(ts_opt(command.applied_at)),
    }
}

fn failure_from_row(row: failures::Model) -> Result<FailureRecord, StoreError> {
    let r = Reader { table: "wf_failures", id: &row.id };
    Ok(FailureRecord {
        run_id: r.run_id("run_id", &row.run_id)?,
        category: r.word("category", &row.category, FailureCategory::parse)?,
        source_kind: row.source_kind,
        source_id: row.source_id,
        exception_type: row.exception_type,
        message: row.message,
        non_retryable: row.non_retryable,
        handled: row.handled,
        created_at: row.created_at,
        id: row.id,
    })
}

fn failure_to_row(failure: &FailureRecord) -> failures::ActiveModel {
    failures::ActiveModel {
        id: Set(failure.id.clone()),
        run_id: Set(failure.run_id.as_str().to_owned()),
        source_kind: Set(failure.source_kind.clone()),
        source_id: Set(failure.source_id.clone()),
        category: Set(failure.category.as_str().to_owned()),
        exception_type: Set(failure.exception_type.clone()),
        message: Set(failure.message.clone()),
        non_retryable: Set(failure.non_retryable),
        handled: Set(failure.handled),
        created_at: Set(ts(failure.created_at)),
    }
}

/// One indexed search attribute row, its type inferred from the JSON value: a string of at
/// most 255 characters is `keyword`, a longer one `text`; an integer `int`, any other number
/// `float`; a boolean `bool`; a list of strings `keyword_list` (kept as JSON). `null` (a
/// deletion) has no row. Anything else (an object, a list of non-strings), which the engine's
/// validation rejects before it gets here, is kept as `text` holding its JSON.
fn search_row(run_id: &RunId, key: &str, value: &Value) -> Option<search::ActiveModel> {
    let mut row = search::ActiveModel {
        run_id: Set(run_id.as_str().to_owned()),
        key: Set(key.to_owned()),
        value_type: Set(String::new()),
        keyword_value: Set(None),
        text_value: Set(None),
        int_value: Set(None),
        float_value: Set(None),
        bool_value: Set(None),
        json_value: Set(None),
    };
    let value_type = match value {
        Value::Null => return None,
        Value::String(text) if text.chars().count() <= MAX_KEYWORD_CHARS => {
            row.keyword_value = Set(Some(text.clone()));
            "keyword"
        }
        Value::String(text) => {
            row.text_value = Set(Some(text.clone()));
            "text"
        }
        Value::Bool(flag) => {
            row.bool_value = Set(Some(*flag));
            "bool"
        }
        Value::Number(number) => match number.as_i64() {
            Some(int) => {
                row.int_value = Set(Some(int));
                "int"
            }
            None => {
                row.float_value = Set(number.as_f64());
                "float"
            }
        },
        Value::Array(items) if items.iter().all(Value::is_string) => {
            row.json_value = Set(Some(value.to_string()));
            "keyword_list"
        }
        Value::Array(_) | Value::Object(_) => {
            row.text_value = Set(Some(value.to_string()));
            "text"
        }
    };
    row.value_type = Set(value_type.to_owned());
    Some(row)
}

/// Reads a search attribute row back as its JSON value (test support).
fn search_value(row: &search::Model) -> Result<Value, StoreError> {
    let key = format!("{}/{}", row.run_id, row.key);
    let r = Reader { table: "wf_search_attributes", id: &key };
    let missing = || r.bad(&row.value_type, "typed column is null");
    Ok(match row.value_type.as_str() {
        "keyword" | "datetime" => Value::from(row.keyword_value.clone().ok_or_else(missing)?),
        "text" => Value::from(row.text_value.clone().ok_or_else(missing)?),
        "int" => Value::from(row.int_value.ok_or_else(missing)?),
        "float" => Value::from(row.float_value.ok_or_else(missing)?),
        "bool" => Value::from(row.bool_value.ok_or_else(missing)?),
        "keyword_list" => r.json("json_value", row.json_value.as_deref().ok_or_else(missing)?)?,
        other => return Err(r.bad("value_type", format!("unknown value {other:?}"))),
    })
}

// ---------------------------------------------------------------------------------------------
// Shared query pieces

fn open_run_statuses() -> [&'static str; 3] {
    [RunStatus::Pending.as_str(), RunStatus::Running.as_str(), RunStatus::Waiting.as_str()]
}

fn live_task_statuses() -> [&'static str; 2] {
    [TaskStatus::Ready.as_str(), TaskStatus::Leased.as_str()]
}

fn open_activity_statuses() -> [&'static str; 2] {
    [ActivityStatus::Scheduled.as_str(), ActivityStatus::Running.as_str()]
}

/// `SELECT 1 FROM wf_tasks WHERE <column> = <outer> AND kind = <kind> AND status IN live`:
/// the correlated sub-query behind "has a live task".
fn live_task_exists(column: tasks::Column, outer: impl sea_orm::sea_query::IntoColumnRef, kind: TaskKind) -> Expr {
    let sub: SelectStatement = Query::select()
        .expr(Expr::val(1))
        .from(tasks::Entity)
        .and_where(Expr::col((tasks::Entity, column)).equals(outer))
        .and_where(Expr::col((tasks::Entity, tasks::Column::Kind)).eq(kind.as_str()))
        .and_where(Expr::col((tasks::Entity, tasks::Column::Status)).is_in(live_task_statuses()))
        .to_owned();
    Expr::exists(sub)
}

// ---------------------------------------------------------------------------------------------
// The write transaction

/// One engine write transaction: a [`Tx`] (so commits honour the test hooks).
struct EngineTxn {
    tx: Tx,
}

impl EngineTxn {
    fn db(&self) -> &DatabaseTransaction {
        self.tx.db()
    }

    /// `FOR UPDATE` on PostgreSQL; SQLite has one writer and no row locks.
    fn locked<E: EntityTrait>(&self, query: Select<E>) -> Select<E> {
        if self.tx.backend == Backend::Postgres { query.lock_exclusive() } else { query }
    }

    /// `FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent claimers take different rows.
    fn skip_locked<E: EntityTrait>(&self, query: Select<E>) -> Select<E> {
        if self.tx.backend == Backend::Postgres {
            query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        } else {
            query
        }
    }
}

#[async_trait::async_trait]
impl EngineTx for EngineTxn {
    async fn reserve_instance(&mut self, record: &InstanceRecord) -> Result<(InstanceRecord, bool), StoreError> {
        // `ON CONFLICT DO NOTHING`, never a failed insert: on PostgreSQL a unique violation
        // would abort the transaction, and concurrent reservations of one id must all succeed.
        // A concurrent inserter waits here until the first one commits or rolls back.
        let inserted = instances::Entity::insert(instance_to_row(record))
            .on_conflict(
                OnConflict::columns([instances::Column::Namespace, instances::Column::InstanceId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(self.db())
            .await;
        let created = match inserted {
            Ok(rows) => rows > 0,
            Err(DbErr::RecordNotInserted) => false,
            Err(err) => return Err(db_err(err)),
        };
        let query = instances::Entity::find()
            .filter(instances::Column::Namespace.eq(record.namespace.as_str()))
            .filter(instances::Column::InstanceId.eq(record.instance_id.as_str()));
        let row = self.locked(query).one(self.db()).await.map_err(db_err)?;
        let row = row.ok_or_else(|| StoreError::Database(format!("instance {} vanished", record.instance_id)))?;
        Ok((instance_from_row(row)?, created))
    }

    async fn lock_instance(
        &mut self,
        namespace: &Namespace,
        id: &InstanceId,
    ) -> Result<Option<InstanceRecord>, StoreError> {
        let query = instances::Entity::find()
            .filter(instances::Column::Namespace.eq(namespace.as_str()))
            .filter(instances::Column::InstanceId.eq(id.as_str()));
        self.locked(query).one(self.db()).await.map_err(db_err)?.map(instance_from_row).transpose()
    }

    async fn update_instance(&mut self, record: &InstanceRecord) -> Result<(), StoreError> {
        instances::Entity::update_many()
            .set(instance_to_row(record))
            .filter(instances::Column::Namespace.eq(record.namespace.as_str()))
            .filter(instances::Column::InstanceId.eq(record.instance_id.as_str()))
            .exec(self.db())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_run(&mut self, run: &RunRecord) -> Result<(), StoreError> {
        runs::Entity::insert(run_to_row(run)?).exec_without_returning(self.db()).await.map_err(db_err)?;
        Ok(())
    }

    async fn lock_run(&mut self, run_id: &RunId) -> Result<Option<RunRecord>, StoreError> {
        let query = runs::Entity::find().filter(runs::Column::RunId.eq(run_id.as_str()));
        self.locked(query).one(self.db()).await.map_err(db_err)?.map(run_from_row).transpose()
    }

    async fn lock_current_run(
        &mut self,
        namespace: &Namespace,
        id: &InstanceId,
    ) -> Result<Option<RunRecord>, StoreError> {
        let query = runs::Entity::find()
            .filter(runs::Column::Namespace.eq(namespace.as_str()))
            .filter(runs::Column::InstanceId.eq(id.as_str()))
            .order_by_desc(runs::Column::RunNumber);
        self.locked(query).one(self.db()).await.map_err(db_err)?.map(run_from_row).transpose()
    }

    async fn update_run(&mut self, run: &RunRecord) -> Result<(), StoreError> {
        runs::Entity::update_many()
            .set(run_to_row(run)?)
            .filter(runs::Column::RunId.eq(run.run_id.as_str()))
            .exec(self.db())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn append_events(&mut self, events: &[StoredEvent]) -> Result<(), StoreError> {
        for chunk in events.chunks(EVENTS_PER_INSERT) {
            events::Entity::insert_many(chunk.iter().map(event_to_row))
                .exec_without_returning(self.db())
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    async fn history(&mut self, run_id: &RunId) -> Result<Vec<StoredEvent>, StoreError> {
        events::Entity::find()
            .filter(events::Column::RunId.eq(run_id.as_str()))
            .order_by_asc(events::Column::Sequence)
            .all(self.db())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(event_from_row)
            .collect()
    }

    async fn insert_command(&mut self, command: &CommandRecord) -> Result<(), StoreError> {
        commands::Entity::insert(command_to_row(command)).exec_without_returning(self.db()).await.map_err(db_err)?;
        Ok(())
    }

    async fn unapplied_commands(&mut self, run_id: &RunId) -> Result<Vec<CommandRecord>, StoreError> {
        commands::Entity::find()
            .filter(commands::Column::RunId.eq(run_id.as_str()))
            .filter(commands::Column::AppliedAt.is_null())
            .filter(commands::Column::Status.eq(CommandStatus::Accepted.as_str()))
            .filter(commands::Column::CommandType.is_in([CommandType::Signal.as_str(), CommandType::Cancel.as_str()]))
            .order_by_asc(commands::Column::CreatedAt)
            .order_by_asc(commands::Column::Id)
            .all(self.db())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(command_from_row)
            .collect()
    }

    async fn mark_commands_applied(&mut self, ids: &[String], at: Timestamp) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        commands::Entity::update_many()
            .col_expr(commands::Column::AppliedAt, Expr::value(ts(at)))
            .filter(commands::Column::Id.is_in(ids.iter().map(String::as_str)))
            .exec(self.db())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_task(&mut self, task: &TaskRecord) -> Result<(), StoreError> {
        tasks::Entity::insert(task_to_row(task)).exec_without_returning(self.db()).await.map_err(db_err)?;
        Ok(())
    }

    async fn claim_task(&mut self, kind: TaskKind, now: Timestamp) -> Result<Option<TaskRecord>, StoreError> {
        let now = ts(now);
        let due = Condition::any()
            .add(
                Condition::all()
                    .add(tasks::Column::Status.eq(TaskStatus::Ready.as_str()))
                    .add(tasks::Column::AvailableAt.lte(now)),
            )
            .add(
                Condition::all()
                    .add(tasks::Column::Status.eq(TaskStatus::Leased.as_str()))
                    .add(tasks::Column::LeaseExpiresAt.lte(now)),
            );
        let query = tasks::Entity::find()
            .filter(tasks::Column::Kind.eq(kind.as_str()))
            .filter(due)
            .order_by_asc(tasks::Column::AvailableAt)
            .order_by_asc(tasks::Column::Id);
        self.skip_locked(query).one(self.db()).await.map_err(db_err)?.map(task_from_row).transpose()
    }

    async fn live_workflow_task(&mut self, run_id: &RunId) -> Result<Option<TaskRecord>, StoreError> {
        tasks::Entity::find()
            .filter(tasks::Column::RunId.eq(run_id.as_str()))
            .filter(tasks::Column::Kind.eq(TaskKind::Workflow.as_str()))
            .filter(tasks::Column::Status.is_in(live_task_statuses()))
            .order_by_asc(tasks::Column::CreatedAt)
            .order_by_asc(tasks::Column::Id)
            .one(self.db())
            .await
            .map_err(db_err)?
            .map(task_from_row)
            .transpose()
    }

    async fn live_activity_task(&mut self, activity_execution_id: &str) -> Result<Option<TaskRecord>, StoreError> {
        tasks::Entity::find()
            .filter(tasks::Column::ActivityExecutionId.eq(activity_execution_id))
            .filter(tasks::Column::Kind.eq(TaskKind::Activity.as_str()))
            .filter(tasks::Column::Status.is_in(live_task_statuses()))
            .order_by_asc(tasks::Column::CreatedAt)
            .order_by_asc(tasks::Column::Id)
            .one(self.db())
            .await
            .map_err(db_err)?
            .map(task_from_row)
            .transpose()
    }

    async fn update_task(&mut self, task: &TaskRecord) -> Result<(), StoreError> {
        tasks::Entity::update_many()
            .set(task_to_row(task))
            .filter(tasks::Column::Id.eq(task.id.as_str()))
            .exec(self.db())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn close_live_tasks(&mut self, run_id: &RunId, status: TaskStatus, now: Timestamp) -> Result<(), StoreError> {
        tasks::Entity::update_many()
            .col_expr(tasks::Column::Status, Expr::value(status.as_str()))
            .col_expr(tasks::Column::UpdatedAt, Expr::value(ts(now)))
            .filter(tasks::Column::RunId.eq(run_id.as_str()))
            .filter(tasks::Column::Status.is_in(live_task_statuses()))
            .exec(self.db())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_activity(&mut self, activity: &ActivityRecord) -> Result<(), StoreError> {
        activities::Entity::insert(activity_to_row(activity)?)
            .exec_without_returning(self.db())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn activity(&mut self, id: &str) -> Result<Option<ActivityRecord>, StoreError> {
        activities::Entity::find_by_id(id.to_owned())
            .one(self.db())
            .await
            .map_err(db_err)?
            .map(activity_from_row)
            .transpose()
    }

    async fn open_activities(&mut self, run_id: &RunId) -> Result<Vec<ActivityRecord>, StoreError> {
        activities::Entity::find()
            .filter(activities::Column::RunId.eq(run_id.as_str()))
            .filter(activities::Column::Status.is_in(open_activity_statuses()))
            .order_by_asc(activities::Column::Sequence)
            .order_by_asc(activities::Column::Id)
            .all(self.db())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(activity_from_row)
            .collect()
    }

    async fn update_activity(&mut self, activity: &ActivityRecord) -> Result<(), StoreError> {
        activities::Entity::update_many()
            .set(activity_to_row(activity)?)
            .filter(activities::Column::Id.eq(activity.id.as_str()))
            .exec(self.db())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_attempt(&mut self, attempt: &AttemptRecord) -> Result<(), StoreError> {
        attempts::Entity::insert(attempt_to_row(attempt)).exec_without_returning(self.db()).await.map_err(db_err)?;
        Ok(())
    }

    async fn attempt(&mut self, id: &str) -> Result<Option<AttemptRecord>, StoreError> {
        attempts::Entity::find_by_id(id.to_owned())
            .one(self.db())
            .await
            .map_err(db_err)?
            .map(attempt_from_row)
            .transpose()
    }

    async fn update_attempt(&mut self, attempt: &AttemptRecord) -> Result<(), StoreError> {
        attempts::Entity::update_many()
            .set(attempt_to_row(attempt))
            .filter(attempts::Column::Id.eq(attempt.id.as_str()))
            .exec(self.db())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_timer(&mut self, timer: &TimerRecord) -> Result<(), StoreError> {
        timers::Entity::insert(timer_to_row(timer)).exec_without_returning(self.db()).await.map_err(db_err)?;
        Ok(())
    }

    async fn claim_due_timer(&mut self, now: Timestamp) -> Result<Option<TimerRecord>, StoreError> {
        let query = timers::Entity::find()
            .filter(timers::Column::Status.eq(TimerStatus::Pending.as_str()))
            .filter(timers::Column::FireAt.lte(ts(now)))
            .order_by_asc(timers::Column::FireAt)
            .order_by_asc(timers::Column::Id);
        self.skip_locked(query).one(self.db()).await.map_err(db_err)?.map(timer_from_row).transpose()
    }

    async fn pending_timers(&mut self, run_id: &RunId) -> Result<Vec<TimerRecord>, StoreError> {
        timers::Entity::find()
            .filter(timers::Column::RunId.eq(run_id.as_str()))
            .filter(timers::Column::Status.eq(TimerStatus::Pending.as_str()))
            .order_by_asc(timers::Column::Sequence)
            .order_by_asc(timers::Column::Id)
            .all(self.db())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(timer_from_row)
            .collect()
    }

    async fn update_timer(&mut self, timer: &TimerRecord) -> Result<(), StoreError> {
        timers::Entity::update_many()
            .set(timer_to_row(timer))
            .filter(timers::Column::Id.eq(timer.id.as_str()))
            .exec(self.db())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_failure(&mut self, failure: &FailureRecord) -> Result<(), StoreError> {
        failures::Entity::insert(failure_to_row(failure)).exec_without_returning(self.db()).await.map_err(db_err)?;
        Ok(())
    }

    async fn replace_search_attributes(&mut self, run_id: &RunId, attributes: &Metadata) -> Result<(), StoreError> {
        search::Entity::delete_many()
            .filter(search::Column::RunId.eq(run_id.as_str()))
            .exec(self.db())
            .await
            .map_err(db_err)?;
        let rows: Vec<_> = attributes.iter().filter_map(|(key, value)| search_row(run_id, key, value)).collect();
        if !rows.is_empty() {
            search::Entity::insert_many(rows).exec_without_returning(self.db()).await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn overdue_runs(&mut self, now: Timestamp, limit: u64) -> Result<Vec<RunRecord>, StoreError> {
        let now = ts(now);
        let query = runs::Entity::find()
            .filter(runs::Column::Status.is_in(open_run_statuses()))
            .filter(
                Condition::any()
                    .add(runs::Column::RunDeadlineAt.lte(now))
                    .add(runs::Column::ExecutionDeadlineAt.lte(now)),
            )
            // By id, so concurrent sweepers lock rows in the same order.
            .order_by_asc(runs::Column::RunId)
            .limit(limit);
        self.locked(query).all(self.db()).await.map_err(db_err)?.into_iter().map(run_from_row).collect()
    }

    async fn runs_missing_workflow_task(&mut self, limit: u64) -> Result<Vec<RunRecord>, StoreError> {
        runs::Entity::find()
            .filter(runs::Column::Status.is_in(open_run_statuses()))
            .filter(runs::Column::TaskProblem.is_null())
            .filter(
                Condition::any()
                    .add(runs::Column::Status.eq(RunStatus::Pending.as_str()))
                    .add(runs::Column::PendingCommands.gt(0)),
            )
            .filter(
                live_task_exists(tasks::Column::RunId, (runs::Entity, runs::Column::RunId), TaskKind::Workflow).not(),
            )
            .order_by_asc(runs::Column::UpdatedAt)
            .order_by_asc(runs::Column::RunId)
            .limit(limit)
            .all(self.db())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(run_from_row)
            .collect()
    }

    async fn activities_missing_task(&mut self, limit: u64) -> Result<Vec<ActivityRecord>, StoreError> {
        let open_run = Query::select()
            .expr(Expr::val(1))
            .from(runs::Entity)
            .and_where(
                Expr::col((runs::Entity, runs::Column::RunId)).equals((activities::Entity, activities::Column::RunId)),
            )
            .and_where(Expr::col((runs::Entity, runs::Column::Status)).is_in(open_run_statuses()))
            .to_owned();
        activities::Entity::find()
            .filter(activities::Column::Status.is_in(open_activity_statuses()))
            .filter(Expr::exists(open_run))
            .filter(
                live_task_exists(
                    tasks::Column::ActivityExecutionId,
                    (activities::Entity, activities::Column::Id),
                    TaskKind::Activity,
                )
                .not(),
            )
            .order_by_asc(activities::Column::ScheduledAt)
            .order_by_asc(activities::Column::Id)
            .limit(limit)
            .all(self.db())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(activity_from_row)
            .collect()
    }

    async fn notify(&mut self, kind: TaskKind) -> Result<(), StoreError> {
        if self.tx.backend != Backend::Postgres {
            return Ok(());
        }
        // `SELECT pg_notify(channel, kind)`: delivered to listeners when this transaction
        // commits, and never if it rolls back.
        let notify =
            Query::select().expr(Func::cust(Alias::new("pg_notify")).arg(CHANNEL).arg(kind.as_str())).to_owned();
        self.db().query_one(&notify).await.map_err(db_err)?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(store_err)
    }
}

// ---------------------------------------------------------------------------------------------
// The store

#[async_trait::async_trait]
impl EngineStore for Store {
    async fn begin(&self) -> Result<Box<dyn EngineTx>, StoreError> {
        let tx = self.write().await.map_err(store_err)?;
        Ok(Box::new(EngineTxn { tx }))
    }

    async fn instance(&self, namespace: &Namespace, id: &InstanceId) -> Result<Option<InstanceRecord>, StoreError> {
        instances::Entity::find_by_id((namespace.as_str().to_owned(), id.as_str().to_owned()))
            .one(&self.read)
            .await
            .map_err(db_err)?
            .map(instance_from_row)
            .transpose()
    }

    async fn run(&self, namespace: &Namespace, run_id: &RunId) -> Result<Option<RunRecord>, StoreError> {
        runs::Entity::find()
            .filter(runs::Column::RunId.eq(run_id.as_str()))
            .filter(runs::Column::Namespace.eq(namespace.as_str()))
            .one(&self.read)
            .await
            .map_err(db_err)?
            .map(run_from_row)
            .transpose()
    }

    async fn current_run(&self, namespace: &Namespace, id: &InstanceId) -> Result<Option<RunRecord>, StoreError> {
        runs::Entity::find()
            .filter(runs::Column::Namespace.eq(namespace.as_str()))
            .filter(runs::Column::InstanceId.eq(id.as_str()))
            .order_by_desc(runs::Column::RunNumber)
            .one(&self.read)
            .await
            .map_err(db_err)?
            .map(run_from_row)
            .transpose()
    }

    async fn list_runs(&self, namespace: &Namespace, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let mut query = runs::Entity::find().filter(runs::Column::Namespace.eq(namespace.as_str()));
        if let Some(status) = filter.status {
            query = query.filter(runs::Column::Status.eq(status.as_str()));
        }
        if let Some(workflow_type) = &filter.workflow_type {
            query = query.filter(runs::Column::WorkflowType.eq(workflow_type.as_str()));
        }
        if let Some((at, run_id)) = &filter.after {
            query = query.filter(Condition::any().add(runs::Column::UpdatedAt.lt(*at)).add(
                Condition::all().add(runs::Column::UpdatedAt.eq(*at)).add(runs::Column::RunId.lt(run_id.as_str())),
            ));
        }
        query
            .order_by_desc(runs::Column::UpdatedAt)
            .order_by_desc(runs::Column::RunId)
            .limit(filter.limit)
            .all(&self.read)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(run_from_row)
            .collect()
    }

    async fn history_page(
        &self,
        run_id: &RunId,
        before: Option<u64>,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut query = events::Entity::find().filter(events::Column::RunId.eq(run_id.as_str()));
        if let Some(before) = before {
            query = query.filter(events::Column::Sequence.lt(to_i64(before)));
        }
        let mut page = query
            .order_by_desc(events::Column::Sequence)
            .limit(limit)
            .all(&self.read)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        page.reverse();
        Ok(page)
    }

    async fn history_after(&self, run_id: &RunId, after: u64, limit: u64) -> Result<Vec<StoredEvent>, StoreError> {
        events::Entity::find()
            .filter(events::Column::RunId.eq(run_id.as_str()))
            .filter(events::Column::Sequence.gt(to_i64(after)))
            .order_by_asc(events::Column::Sequence)
            .limit(limit)
            .all(&self.read)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(event_from_row)
            .collect()
    }

    async fn failures(&self, run_id: &RunId, limit: u64) -> Result<Vec<FailureRecord>, StoreError> {
        failures::Entity::find()
            .filter(failures::Column::RunId.eq(run_id.as_str()))
            .order_by_desc(failures::Column::CreatedAt)
            .order_by_desc(failures::Column::Id)
            .limit(limit)
            .all(&self.read)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(failure_from_row)
            .collect()
    }

    async fn attempts(&self, run_id: &RunId) -> Result<Vec<(ActivityRecord, Vec<AttemptRecord>)>, StoreError> {
        // One read transaction, so the executions and their attempts are one snapshot.
        let txn = self.read.begin().await.map_err(db_err)?;
        let executions = activities::Entity::find()
            .filter(activities::Column::RunId.eq(run_id.as_str()))
            .order_by_asc(activities::Column::Sequence)
            .order_by_asc(activities::Column::Id)
            .all(&txn)
            .await
            .map_err(db_err)?;
        let of_run = Query::select()
            .column(activities::Column::Id)
            .from(activities::Entity)
            .and_where(Expr::col(activities::Column::RunId).eq(run_id.as_str()))
            .to_owned();
        let mut rows = attempts::Entity::find()
            .filter(attempts::Column::ActivityExecutionId.in_subquery(of_run))
            .order_by_asc(attempts::Column::ActivityExecutionId)
            .order_by_asc(attempts::Column::AttemptNumber)
            .all(&txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(attempt_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        txn.commit().await.map_err(db_err)?;
        executions
            .into_iter()
            .map(|row| {
                let activity = activity_from_row(row)?;
                let (mine, rest): (Vec<_>, Vec<_>) =
                    std::mem::take(&mut rows).into_iter().partition(|a| a.activity_execution_id == activity.id);
                rows = rest;
                Ok((activity, mine))
            })
            .collect()
    }

    async fn listen(&self) -> Result<Option<mpsc::Receiver<TaskKind>>, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        // A dedicated connection (its own one-connection pool, with the store's connect
        // options), so listening neither takes a connection from the store's pool nor keeps
        // `Store::close` waiting. NOTIFY channels are database-wide: the schema does not matter.
        let options = self.write.get_postgres_connection_pool().connect_options();
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with((*options).clone());
        let unreachable = |e: sea_orm::sqlx::Error| StoreError::Unreachable(e.to_string());
        let mut listener = PgListener::connect_with(&pool).await.map_err(unreachable)?;
        listener.ignore_pool_close_event(true);
        listener.listen(CHANNEL).await.map_err(unreachable)?;
        let (sender, receiver) = mpsc::channel(WAKE_UP_BUFFER);
        tokio::spawn(forward_wake_ups(listener, sender));
        Ok(Some(receiver))
    }
}

impl Store {
    /// The indexed search attributes of a run as `(key, value_type, value)`, by key, each value
    /// read back from its typed column. Test support for `replace_search_attributes`.
    ///
    /// # Errors
    /// [`StoreError::Database`] or [`StoreError::Corrupt`].
    #[doc(hidden)]
    pub async fn search_attribute_rows(&self, run_id: &RunId) -> Result<Vec<(String, String, Value)>, StoreError> {
        search::Entity::find()
            .filter(search::Column::RunId.eq(run_id.as_str()))
            .order_by_asc(search::Column::Key)
            .all(&self.read)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|row| Ok((row.key.clone(), row.value_type.clone(), search_value(&row)?)))
            .collect()
    }
}

/// Wake both kinds: after a lost connection, notifications may have been missed.
fn wake_all(sender: &mpsc::Sender<TaskKind>) -> bool {
    [TaskKind::Workflow, TaskKind::Activity].into_iter().all(|kind| deliver(sender, kind))
}

/// Sends without waiting (a full buffer drops the wake-up); `false` once the receiver is gone.
fn deliver(sender: &mpsc::Sender<TaskKind>, kind: TaskKind) -> bool {
    !matches!(sender.try_send(kind), Err(mpsc::error::TrySendError::Closed(_)))
}

/// Forwards `NOTIFY waymark_engine` payloads as [`TaskKind`]s until the receiver is dropped,
/// reconnecting with a growing backoff (up to 5 s) when the connection fails.
async fn forward_wake_ups(mut listener: PgListener, sender: mpsc::Sender<TaskKind>) {
    const FIRST_BACKOFF: Duration = Duration::from_millis(100);
    const MAX_BACKOFF: Duration = Duration::from_secs(5);
    let mut backoff = FIRST_BACKOFF;
    let mut recovering = false;
    loop {
        if recovering {
            let pause = backoff;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            tokio::select! {
                () = sender.closed() => return,
                () = tokio::time::sleep(pause) => {}
            }
            // Any statement reconnects the listener and re-subscribes its channel.
            match sea_orm::sqlx::query("SELECT 1").execute(&mut listener).await {
                Ok(_) => {
                    recovering = false;
                    backoff = FIRST_BACKOFF;
                    if !wake_all(&sender) {
                        return;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "workflow wake-up listener cannot reconnect; retrying");
                    continue;
                }
            }
        }
        let next = tokio::select! {
            () = sender.closed() => return,
            next = listener.try_recv() => next,
        };
        match next {
            Ok(Some(notification)) => {
                // Another payload on the channel is not ours to interpret; ignore it.
                if let Some(kind) = TaskKind::parse(notification.payload())
                    && !deliver(&sender, kind)
                {
                    return;
                }
            }
            // The connection dropped and was re-established.
            Ok(None) => {
                if !wake_all(&sender) {
                    return;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "workflow wake-up listener lost its connection; reconnecting");
                recovering = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn at(minute: u32) -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 1, 1, 12, minute, 0).unwrap()
    }

    fn run_row(status: &str) -> runs::Model {
        runs::Model {
            run_id: RunId::generate(at(0)).as_str().to_owned(),
            namespace: "ws".into(),
            instance_id: "order-1".into(),
            run_number: 1,
            workflow_type: "order".into(),
            status: status.into(),
            closed_reason: None,
            wait_kind: None,
            task_problem: None,
            input: "{}".into(),
            output: None,
            business_key: None,
            visibility_labels: "{}".into(),
            memo: "{}".into(),
            search_attributes: "{}".into(),
            last_sequence: 0,
            history_size_bytes: 0,
            pending_commands: 0,
            run_deadline_at: None,
            execution_deadline_at: None,
            continued_from_run_id: None,
            created_at: at(0),
            updated_at: at(0),
            started_at: None,
            closed_at: None,
        }
    }

    fn corrupt_detail(result: Result<RunRecord, StoreError>) -> String {
        match result {
            Err(StoreError::Corrupt(detail)) => detail,
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn unreadable_run_rows_are_corrupt_not_panics() {
        assert!(run_from_row(run_row("pending")).is_ok());
        assert!(corrupt_detail(run_from_row(run_row("exploded"))).contains("status: unknown value \"exploded\""));
        let bad = |edit: fn(&mut runs::Model)| {
            let mut row = run_row("running");
            edit(&mut row);
            corrupt_detail(run_from_row(row))
        };
        assert!(bad(|r| r.closed_reason = Some("vanished".into())).contains("closed_reason"));
        assert!(bad(|r| r.input = "{not json".into()).contains("input"));
        assert!(bad(|r| r.visibility_labels = r#"{"a": 1}"#.into()).contains("visibility_labels"));
        assert!(bad(|r| r.last_sequence = -1).contains("last_sequence"));
        assert!(bad(|r| r.run_number = -3).contains("run_number"));
        assert!(bad(|r| r.run_id = "not-a-ulid".into()).contains("run_id"));
        assert!(bad(|r| r.instance_id = "has space".into()).contains("instance_id"));
    }

    #[test]
    fn unknown_task_kinds_and_bad_options_are_corrupt() {
        let task = tasks::Model {
            id: "t1".into(),
            namespace: "ws".into(),
            run_id: RunId::generate(at(0)).as_str().to_owned(),
            kind: "chore".into(),
            status: "ready".into(),
            available_at: at(0),
            lease_owner: None,
            lease_expires_at: None,
            attempt_count: 0,
            activity_execution_id: None,
            created_at: at(0),
            updated_at: at(0),
        };
        assert!(matches!(task_from_row(task.clone()), Err(StoreError::Corrupt(_))));
        assert!(task_from_row(tasks::Model { kind: "workflow".into(), ..task.clone() }).is_ok());
        assert!(matches!(
            task_from_row(tasks::Model { kind: "workflow".into(), status: "lost".into(), ..task }),
            Err(StoreError::Corrupt(_))
        ));
        let activity = activities::Model {
            id: "a1".into(),
            namespace: "ws".into(),
            run_id: RunId::generate(at(0)).as_str().to_owned(),
            instance_id: "order-1".into(),
            sequence: 1,
            activity_type: "charge".into(),
            input: "null".into(),
            options: r#"{"retry_policy": 3}"#.into(),
            status: "scheduled".into(),
            attempt_count: 0,
            current_attempt_id: None,
            scheduled_at: at(0),
            closed_at: None,
        };
        assert!(matches!(activity_from_row(activity), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn search_attribute_types_are_inferred() {
        let run_id = RunId::generate(at(0));
        let kind = |value: Value| search_row(&run_id, "k", &value).map(|row| row.value_type.unwrap());
        assert_eq!(kind(json!("short")).as_deref(), Some("keyword"));
        assert_eq!(kind(json!("é".repeat(255))).as_deref(), Some("keyword"));
        assert_eq!(kind(json!("x".repeat(256))).as_deref(), Some("text"));
        assert_eq!(kind(json!(3)).as_deref(), Some("int"));
        assert_eq!(kind(json!(u64::MAX)).as_deref(), Some("float"));
        assert_eq!(kind(json!(0.5)).as_deref(), Some("float"));
        assert_eq!(kind(json!(false)).as_deref(), Some("bool"));
        assert_eq!(kind(json!(["a"])).as_deref(), Some("keyword_list"));
        assert_eq!(kind(json!([])).as_deref(), Some("keyword_list"));
        assert_eq!(kind(json!([1])).as_deref(), Some("text"));
        assert_eq!(kind(json!({"a": 1})).as_deref(), Some("text"));
        assert_eq!(kind(Value::Null), None);
    }

    #[test]
    fn far_future_timestamps_are_clamped_to_four_digit_years() {
        assert_eq!(ts(at(0)), at(0));
        let latest = ts(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        assert_eq!(latest.timestamp_millis(), LATEST_STORED_MILLIS);
        assert!(latest.to_rfc3339().starts_with("9999-12-31T23:59:59.999"));
    }

    #[test]
    fn database_errors_are_classified() {
        assert!(matches!(
            db_err(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)),
            StoreError::Unreachable(_)
        ));
        assert!(matches!(db_err(DbErr::Type("bad".into())), StoreError::Corrupt(_)));
        assert!(matches!(db_err(DbErr::Custom("other".into())), StoreError::Database(_)));
        let io = sea_orm::sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(matches!(
            db_err(DbErr::Query(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(io)))),
            StoreError::Unreachable(_)
        ));
    }
}
