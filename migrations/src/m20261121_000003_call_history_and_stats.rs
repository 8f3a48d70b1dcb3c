//! The durable call history of agent sessions (read by `tool_called` dependencies) and the
//! daily per-tool call statistics.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum AgentSessions {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum SessionToolCalls {
    Table,
    Id,
    SessionId,
    Tool,
    CalledAt,
}

#[derive(DeriveIden)]
enum ToolCallStats {
    Table,
    Day,
    WorkspaceId,
    Tool,
    Calls,
    Errors,
    TotalDurationMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SessionToolCalls::Table)
                    .col(string_len(SessionToolCalls::Id, 64).primary_key())
                    .col(string_len(SessionToolCalls::SessionId, 64))
                    .col(string_len(SessionToolCalls::Tool, 128))
                    .col(timestamp_with_time_zone(SessionToolCalls::CalledAt))
                    .foreign_key(
                        &mut ForeignKey::create()
                            .from(SessionToolCalls::Table, SessionToolCalls::SessionId)
                            .to(AgentSessions::Table, AgentSessions::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .to_owned(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_session_tool_calls_session_tool")
                    .table(SessionToolCalls::Table)
                    .col(SessionToolCalls::SessionId)
                    .col(SessionToolCalls::Tool)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ToolCallStats::Table)
                    .col(string_len(ToolCallStats::Day, 10))
                    .col(string_len(ToolCallStats::WorkspaceId, 64))
                    .col(string_len(ToolCallStats::Tool, 128))
                    .col(big_integer(ToolCallStats::Calls))
                    .col(big_integer(ToolCallStats::Errors))
                    .col(big_integer(ToolCallStats::TotalDurationMs))
                    .primary_key(
                        Index::create()
                            .col(ToolCallStats::Day)
                            .col(ToolCallStats::WorkspaceId)
                            .col(ToolCallStats::Tool),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ToolCallStats::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(SessionToolCalls::Table).to_owned()).await
    }
}
