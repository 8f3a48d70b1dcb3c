//! The durable-workflow engine's tables (`wf_*`): instances, runs, history, tasks, activity
//! executions and attempts, timers, external commands, failures and indexed search attributes.
//!
//! No foreign keys: the engine writes related rows in one transaction in a fixed order, the
//! history table is the hot path (every step appends to it) and must stay lean, and namespaces
//! are opaque to the engine. Instance ids are up to 191 characters (the seed's rule).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum WfInstances {
    Table,
    Namespace,
    InstanceId,
    WorkflowType,
    CurrentRunId,
    RunCount,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WfRuns {
    Table,
    RunId,
    Namespace,
    InstanceId,
    RunNumber,
    WorkflowType,
    Status,
    ClosedReason,
    WaitKind,
    TaskProblem,
    Input,
    Output,
    BusinessKey,
    VisibilityLabels,
    Memo,
    SearchAttributes,
    LastSequence,
    HistorySizeBytes,
    PendingCommands,
    RunDeadlineAt,
    ExecutionDeadlineAt,
    ContinuedFromRunId,
    CreatedAt,
    UpdatedAt,
    StartedAt,
    ClosedAt,
}

#[derive(DeriveIden)]
enum WfHistoryEvents {
    Table,
    Id,
    RunId,
    Sequence,
    EventType,
    Payload,
    RecordedAt,
}

#[derive(DeriveIden)]
enum WfTasks {
    Table,
    Id,
    Namespace,
    RunId,
    Kind,
    Status,
    AvailableAt,
    LeaseOwner,
    LeaseExpiresAt,
    AttemptCount,
    ActivityExecutionId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WfActivityExecutions {
    Table,
    Id,
    Namespace,
    RunId,
    InstanceId,
    Sequence,
    ActivityType,
    Input,
    Options,
    Status,
    AttemptCount,
    CurrentAttemptId,
    ScheduledAt,
    ClosedAt,
}

#[derive(DeriveIden)]
enum WfActivityAttempts {
    Table,
    Id,
    ActivityExecutionId,
    AttemptNumber,
    Status,
    WorkerId,
    StartedAt,
    LeaseExpiresAt,
    ClosedAt,
    Failure,
}

#[derive(DeriveIden)]
enum WfTimers {
    Table,
    Id,
    Namespace,
    RunId,
    Sequence,
    DelayMs,
    FireAt,
    Status,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WfCommands {
    Table,
    Id,
    Namespace,
    InstanceId,
    RunId,
    CommandType,
    Status,
    Outcome,
    RejectionReason,
    Source,
    Payload,
    CreatedAt,
    AppliedAt,
}

#[derive(DeriveIden)]
enum WfFailures {
    Table,
    Id,
    RunId,
    SourceKind,
    SourceId,
    Category,
    ExceptionType,
    Message,
    NonRetryable,
    Handled,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WfSearchAttributes {
    Table,
    RunId,
    Key,
    ValueType,
    KeywordValue,
    TextValue,
    IntValue,
    FloatValue,
    BoolValue,
    JsonValue,
}

/// Row ids, run ids and namespaces: ULIDs or workspace ids, at most 64 bytes.
fn id<T: IntoIden>(col: T) -> ColumnDef {
    string_len(col, 64)
}

fn id_null<T: IntoIden>(col: T) -> ColumnDef {
    string_len_null(col, 64)
}

/// Caller-supplied instance ids: 1-191 characters.
fn instance_id<T: IntoIden>(col: T) -> ColumnDef {
    string_len(col, 191)
}

/// Closed vocabularies (statuses, kinds, reasons).
fn word<T: IntoIden>(col: T) -> ColumnDef {
    string_len(col, 32)
}

fn word_null<T: IntoIden>(col: T) -> ColumnDef {
    string_len_null(col, 32)
}

fn ts<T: IntoIden>(col: T) -> ColumnDef {
    timestamp_with_time_zone(col)
}

fn ts_null<T: IntoIden>(col: T) -> ColumnDef {
    timestamp_with_time_zone_null(col)
}

fn index(name: &str, table: impl IntoIden) -> IndexCreateStatement {
    Index::create().name(name).table(table).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WfInstances::Table)
                    .col(id(WfInstances::Namespace))
                    .col(instance_id(WfInstances::InstanceId))
                    .col(string_len(WfInstances::WorkflowType, 255))
                    .col(id_null(WfInstances::CurrentRunId))
                    .col(integer(WfInstances::RunCount))
                    .col(ts(WfInstances::CreatedAt))
                    .col(ts(WfInstances::UpdatedAt))
                    .primary_key(Index::create().col(WfInstances::Namespace).col(WfInstances::InstanceId))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WfRuns::Table)
                    .col(id(WfRuns::RunId).primary_key())
                    .col(id(WfRuns::Namespace))
                    .col(instance_id(WfRuns::InstanceId))
                    .col(integer(WfRuns::RunNumber))
                    .col(string_len(WfRuns::WorkflowType, 255))
                    .col(word(WfRuns::Status))
                    .col(word_null(WfRuns::ClosedReason))
                    .col(word_null(WfRuns::WaitKind))
                    .col(word_null(WfRuns::TaskProblem))
                    .col(text(WfRuns::Input))
                    .col(text_null(WfRuns::Output))
                    .col(string_len_null(WfRuns::BusinessKey, 255))
                    .col(text(WfRuns::VisibilityLabels))
                    .col(text(WfRuns::Memo))
                    .col(text(WfRuns::SearchAttributes))
                    .col(big_integer(WfRuns::LastSequence))
                    .col(big_integer(WfRuns::HistorySizeBytes))
                    .col(integer(WfRuns::PendingCommands))
                    .col(ts_null(WfRuns::RunDeadlineAt))
                    .col(ts_null(WfRuns::ExecutionDeadlineAt))
                    .col(id_null(WfRuns::ContinuedFromRunId))
                    .col(ts(WfRuns::CreatedAt))
                    .col(ts(WfRuns::UpdatedAt))
                    .col(ts_null(WfRuns::StartedAt))
                    .col(ts_null(WfRuns::ClosedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_wf_runs_instance_run_number", WfRuns::Table)
                    .col(WfRuns::Namespace)
                    .col(WfRuns::InstanceId)
                    .col(WfRuns::RunNumber)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // `list_runs`: newest first within a namespace.
        manager
            .create_index(
                index("idx_wf_runs_namespace_updated", WfRuns::Table)
                    .col(WfRuns::Namespace)
                    .col(WfRuns::UpdatedAt)
                    .to_owned(),
            )
            .await?;
        // The sweepers: open runs that need a decision, and overdue runs.
        manager
            .create_index(
                index("idx_wf_runs_status", WfRuns::Table).col(WfRuns::Status).col(WfRuns::PendingCommands).to_owned(),
            )
            .await?;
        manager
            .create_index(index("idx_wf_runs_run_deadline", WfRuns::Table).col(WfRuns::RunDeadlineAt).to_owned())
            .await?;
        manager
            .create_index(
                index("idx_wf_runs_execution_deadline", WfRuns::Table).col(WfRuns::ExecutionDeadlineAt).to_owned(),
            )
            .await?;

        // The hot path: one multi-row insert per step. Only the primary key and the
        // (run_id, sequence) uniqueness rule, which also serves every history read.
        manager
            .create_table(
                Table::create()
                    .table(WfHistoryEvents::Table)
                    .col(id(WfHistoryEvents::Id).primary_key())
                    .col(id(WfHistoryEvents::RunId))
                    .col(big_integer(WfHistoryEvents::Sequence))
                    .col(string_len(WfHistoryEvents::EventType, 64))
                    .col(text(WfHistoryEvents::Payload))
                    .col(ts(WfHistoryEvents::RecordedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_wf_history_events_run_sequence", WfHistoryEvents::Table)
                    .col(WfHistoryEvents::RunId)
                    .col(WfHistoryEvents::Sequence)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WfTasks::Table)
                    .col(id(WfTasks::Id).primary_key())
                    .col(id(WfTasks::Namespace))
                    .col(id(WfTasks::RunId))
                    .col(word(WfTasks::Kind))
                    .col(word(WfTasks::Status))
                    .col(ts(WfTasks::AvailableAt))
                    .col(string_len_null(WfTasks::LeaseOwner, 255))
                    .col(ts_null(WfTasks::LeaseExpiresAt))
                    .col(integer(WfTasks::AttemptCount))
                    .col(id_null(WfTasks::ActivityExecutionId))
                    .col(ts(WfTasks::CreatedAt))
                    .col(ts(WfTasks::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_wf_tasks_claim", WfTasks::Table)
                    .col(WfTasks::Kind)
                    .col(WfTasks::Status)
                    .col(WfTasks::AvailableAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_wf_tasks_run", WfTasks::Table)
                    .col(WfTasks::RunId)
                    .col(WfTasks::Kind)
                    .col(WfTasks::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_wf_tasks_activity_execution", WfTasks::Table).col(WfTasks::ActivityExecutionId).to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WfActivityExecutions::Table)
                    .col(id(WfActivityExecutions::Id).primary_key())
                    .col(id(WfActivityExecutions::Namespace))
                    .col(id(WfActivityExecutions::RunId))
                    .col(instance_id(WfActivityExecutions::InstanceId))
                    .col(big_integer(WfActivityExecutions::Sequence))
                    .col(string_len(WfActivityExecutions::ActivityType, 255))
                    .col(text(WfActivityExecutions::Input))
                    .col(text(WfActivityExecutions::Options))
                    .col(word(WfActivityExecutions::Status))
                    .col(integer(WfActivityExecutions::AttemptCount))
                    .col(id_null(WfActivityExecutions::CurrentAttemptId))
                    .col(ts(WfActivityExecutions::ScheduledAt))
                    .col(ts_null(WfActivityExecutions::ClosedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_wf_activity_executions_run_status", WfActivityExecutions::Table)
                    .col(WfActivityExecutions::RunId)
                    .col(WfActivityExecutions::Status)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WfActivityAttempts::Table)
                    .col(id(WfActivityAttempts::Id).primary_key())
                    .col(id(WfActivityAttempts::ActivityExecutionId))
                    .col(integer(WfActivityAttempts::AttemptNumber))
                    .col(word(WfActivityAttempts::Status))
                    .col(string_len(WfActivityAttempts::WorkerId, 255))
                    .col(ts(WfActivityAttempts::StartedAt))
                    .col(ts(WfActivityAttempts::LeaseExpiresAt))
                    .col(ts_null(WfActivityAttempts::ClosedAt))
                    .col(text_null(WfActivityAttempts::Failure))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_wf_activity_attempts_execution", WfActivityAttempts::Table)
                    .col(WfActivityAttempts::ActivityExecutionId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WfTimers::Table)
                    .col(id(WfTimers::Id).primary_key())
                    .col(id(WfTimers::Namespace))
                    .col(id(WfTimers::RunId))
                    .col(big_integer(WfTimers::Sequence))
                    .col(big_integer(WfTimers::DelayMs))
                    .col(ts(WfTimers::FireAt))
                    .col(word(WfTimers::Status))
                    .col(ts(WfTimers::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_wf_timers_due", WfTimers::Table).col(WfTimers::Status).col(WfTimers::FireAt).to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_wf_timers_run_status", WfTimers::Table)
                    .col(WfTimers::RunId)
                    .col(WfTimers::Status)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WfCommands::Table)
                    .col(id(WfCommands::Id).primary_key())
                    .col(id(WfCommands::Namespace))
                    .col(instance_id(WfCommands::InstanceId))
                    .col(id_null(WfCommands::RunId))
                    .col(word(WfCommands::CommandType))
                    .col(word(WfCommands::Status))
                    .col(word_null(WfCommands::Outcome))
                    .col(text_null(WfCommands::RejectionReason))
                    .col(word(WfCommands::Source))
                    .col(text(WfCommands::Payload))
                    .col(ts(WfCommands::CreatedAt))
                    .col(ts_null(WfCommands::AppliedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_wf_commands_run_applied", WfCommands::Table)
                    .col(WfCommands::RunId)
                    .col(WfCommands::AppliedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WfFailures::Table)
                    .col(id(WfFailures::Id).primary_key())
                    .col(id(WfFailures::RunId))
                    .col(word(WfFailures::SourceKind))
                    .col(string_len_null(WfFailures::SourceId, 255))
                    .col(word(WfFailures::Category))
                    .col(text(WfFailures::ExceptionType))
                    .col(text(WfFailures::Message))
                    .col(boolean(WfFailures::NonRetryable))
                    .col(boolean(WfFailures::Handled))
                    .col(ts(WfFailures::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_wf_failures_run_created", WfFailures::Table)
                    .col(WfFailures::RunId)
                    .col(WfFailures::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WfSearchAttributes::Table)
                    .col(id(WfSearchAttributes::RunId))
                    .col(string_len(WfSearchAttributes::Key, 64))
                    .col(string_len(WfSearchAttributes::ValueType, 16))
                    .col(string_len_null(WfSearchAttributes::KeywordValue, 255))
                    .col(text_null(WfSearchAttributes::TextValue))
                    .col(big_integer_null(WfSearchAttributes::IntValue))
                    .col(double_null(WfSearchAttributes::FloatValue))
                    .col(boolean_null(WfSearchAttributes::BoolValue))
                    .col(text_null(WfSearchAttributes::JsonValue))
                    .primary_key(Index::create().col(WfSearchAttributes::RunId).col(WfSearchAttributes::Key))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("idx_wf_search_attributes_keyword", WfSearchAttributes::Table)
                    .col(WfSearchAttributes::Key)
                    .col(WfSearchAttributes::KeywordValue)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WfSearchAttributes::Table.into_iden(),
            WfFailures::Table.into_iden(),
            WfCommands::Table.into_iden(),
            WfTimers::Table.into_iden(),
            WfActivityAttempts::Table.into_iden(),
            WfActivityExecutions::Table.into_iden(),
            WfTasks::Table.into_iden(),
            WfHistoryEvents::Table.into_iden(),
            WfRuns::Table.into_iden(),
            WfInstances::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
