//! Agent sessions with their work log and artifacts (rows, so concurrent writers lose
//! nothing), workspace state keyed by (plan, key), and template versions by content hash.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Plans {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AgentSessions {
    Table,
    Id,
    WorkspaceId,
    ApiKeyId,
    PlanId,
    AgentType,
    Status,
    ContextSummary,
    HandoffNotes,
    FinalSummary,
    ContinuedFrom,
    StartedAt,
    LastActiveAt,
    EndedAt,
}

#[derive(DeriveIden)]
enum SessionLogEntries {
    Table,
    Id,
    SessionId,
    Kind,
    Message,
    Data,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SessionArtifacts {
    Table,
    Id,
    SessionId,
    Path,
    Action,
    Description,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WorkspaceStates {
    Table,
    PlanId,
    Key,
    Value,
    Kind,
    Description,
    Category,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PlanTemplateVersions {
    Table,
    ContentHash,
    Slug,
    Name,
    Content,
    CreatedAt,
}

fn cascade(
    from_table: impl IntoIden,
    from_col: impl IntoIden,
    to_table: impl IntoIden,
    to_col: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(from_table, from_col).to(to_table, to_col).on_delete(ForeignKeyAction::Cascade).to_owned()
}

async fn index(manager: &SchemaManager<'_>, name: &str, table: impl IntoIden, cols: Vec<DynIden>) -> Result<(), DbErr> {
    let mut statement = Index::create();
    statement.name(name).table(table);
    for col in cols {
        statement.col(col);
    }
    manager.create_index(statement.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AgentSessions::Table)
                    .col(string_len(AgentSessions::Id, 64).primary_key())
                    .col(string_len(AgentSessions::WorkspaceId, 64))
                    .col(string_len_null(AgentSessions::ApiKeyId, 64))
                    .col(string_len_null(AgentSessions::PlanId, 64))
                    .col(string_len(AgentSessions::AgentType, 255))
                    .col(string_len(AgentSessions::Status, 32))
                    .col(text(AgentSessions::ContextSummary))
                    .col(text_null(AgentSessions::HandoffNotes))
                    .col(text_null(AgentSessions::FinalSummary))
                    .col(string_len_null(AgentSessions::ContinuedFrom, 64))
                    .col(timestamp_with_time_zone(AgentSessions::StartedAt))
                    .col(timestamp_with_time_zone(AgentSessions::LastActiveAt))
                    .col(timestamp_with_time_zone_null(AgentSessions::EndedAt))
                    .foreign_key(
                        &mut ForeignKey::create()
                            .from(AgentSessions::Table, AgentSessions::PlanId)
                            .to(Plans::Table, Plans::Id)
                            .on_delete(ForeignKeyAction::SetNull)
                            .to_owned(),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_agent_sessions_workspace_active",
            AgentSessions::Table,
            vec![AgentSessions::WorkspaceId.into_iden(), AgentSessions::LastActiveAt.into_iden()],
        )
        .await?;
        index(
            manager,
            "idx_agent_sessions_status_active",
            AgentSessions::Table,
            vec![AgentSessions::Status.into_iden(), AgentSessions::LastActiveAt.into_iden()],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(SessionLogEntries::Table)
                    .col(string_len(SessionLogEntries::Id, 64).primary_key())
                    .col(string_len(SessionLogEntries::SessionId, 64))
                    .col(string_len(SessionLogEntries::Kind, 16))
                    .col(text(SessionLogEntries::Message))
                    .col(text(SessionLogEntries::Data))
                    .col(timestamp_with_time_zone(SessionLogEntries::CreatedAt))
                    .foreign_key(&mut cascade(
                        SessionLogEntries::Table,
                        SessionLogEntries::SessionId,
                        AgentSessions::Table,
                        AgentSessions::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_session_log_entries_session",
            SessionLogEntries::Table,
            vec![SessionLogEntries::SessionId.into_iden(), SessionLogEntries::Id.into_iden()],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(SessionArtifacts::Table)
                    .col(string_len(SessionArtifacts::Id, 64).primary_key())
                    .col(string_len(SessionArtifacts::SessionId, 64))
                    .col(string_len(SessionArtifacts::Path, 1024))
                    .col(string_len(SessionArtifacts::Action, 16))
                    .col(text_null(SessionArtifacts::Description))
                    .col(timestamp_with_time_zone(SessionArtifacts::CreatedAt))
                    .foreign_key(&mut cascade(
                        SessionArtifacts::Table,
                        SessionArtifacts::SessionId,
                        AgentSessions::Table,
                        AgentSessions::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_session_artifacts_session",
            SessionArtifacts::Table,
            vec![SessionArtifacts::SessionId.into_iden(), SessionArtifacts::Id.into_iden()],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(WorkspaceStates::Table)
                    .col(string_len(WorkspaceStates::PlanId, 64))
                    .col(string_len(WorkspaceStates::Key, 128))
                    .col(text(WorkspaceStates::Value))
                    .col(string_len(WorkspaceStates::Kind, 16))
                    .col(text_null(WorkspaceStates::Description))
                    .col(string_len(WorkspaceStates::Category, 64))
                    .col(timestamp_with_time_zone(WorkspaceStates::CreatedAt))
                    .col(timestamp_with_time_zone(WorkspaceStates::UpdatedAt))
                    .primary_key(Index::create().col(WorkspaceStates::PlanId).col(WorkspaceStates::Key))
                    .foreign_key(&mut cascade(WorkspaceStates::Table, WorkspaceStates::PlanId, Plans::Table, Plans::Id))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PlanTemplateVersions::Table)
                    .col(string_len(PlanTemplateVersions::ContentHash, 64).primary_key())
                    .col(string_len(PlanTemplateVersions::Slug, 255))
                    .col(string_len(PlanTemplateVersions::Name, 255))
                    .col(text(PlanTemplateVersions::Content))
                    .col(timestamp_with_time_zone(PlanTemplateVersions::CreatedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PlanTemplateVersions::Table.into_iden(),
            WorkspaceStates::Table.into_iden(),
            SessionArtifacts::Table.into_iden(),
            SessionLogEntries::Table.into_iden(),
            AgentSessions::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
