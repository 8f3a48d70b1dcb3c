//! Workspaces, API keys, plans, phases, tasks, phase checkpoints and the audit log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    WorkspaceId,
    Name,
    KeyHash,
    Prefix,
    Scopes,
    Tools,
    RateLimitPerMinute,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Plans {
    Table,
    Id,
    WorkspaceId,
    Slug,
    Title,
    Description,
    Context,
    Status,
    CurrentPhase,
    Metadata,
    ArchivedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Phases {
    Table,
    Id,
    PlanId,
    PhaseOrder,
    Name,
    Description,
    Status,
    Dependencies,
    StartedAt,
    CompletedAt,
    BlockReason,
    SkipReason,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    PlanId,
    PhaseId,
    Position,
    Name,
    Description,
    Status,
    Notes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PhaseCheckpoints {
    Table,
    Id,
    PhaseId,
    Note,
    Context,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    OccurredAt,
    WorkspaceId,
    ApiKeyId,
    Transport,
    Tool,
    AgentSessionId,
    DurationMs,
    Outcome,
    ErrorCode,
    Arguments,
}

/// Ids are prefixed ULIDs (`plan_01J…`), at most 64 bytes.
fn id<T: IntoIden>(col: T) -> ColumnDef {
    string_len(col, 64)
}

fn id_null<T: IntoIden>(col: T) -> ColumnDef {
    string_len_null(col, 64)
}

fn fk(
    from_table: impl IntoIden,
    from_col: impl IntoIden,
    to_table: impl IntoIden,
    to_col: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(from_table, from_col).to(to_table, to_col).on_delete(ForeignKeyAction::Cascade).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Workspaces::Table)
                    .col(id(Workspaces::Id).primary_key())
                    .col(string_len_uniq(Workspaces::Name, 64))
                    .col(timestamp_with_time_zone(Workspaces::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(id(ApiKeys::Id).primary_key())
                    .col(id(ApiKeys::WorkspaceId))
                    .col(string_len(ApiKeys::Name, 255))
                    .col(string_len_uniq(ApiKeys::KeyHash, 64))
                    .col(string_len(ApiKeys::Prefix, 16))
                    .col(string_len(ApiKeys::Scopes, 32))
                    .col(text_null(ApiKeys::Tools))
                    .col(integer(ApiKeys::RateLimitPerMinute))
                    .col(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .foreign_key(&mut fk(ApiKeys::Table, ApiKeys::WorkspaceId, Workspaces::Table, Workspaces::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_workspace")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::WorkspaceId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Plans::Table)
                    .col(id(Plans::Id).primary_key())
                    .col(id(Plans::WorkspaceId))
                    .col(string_len(Plans::Slug, 255))
                    .col(string_len(Plans::Title, 255))
                    .col(text_null(Plans::Description))
                    .col(text(Plans::Context))
                    .col(string_len(Plans::Status, 32))
                    .col(integer_null(Plans::CurrentPhase))
                    .col(text(Plans::Metadata))
                    .col(timestamp_with_time_zone_null(Plans::ArchivedAt))
                    .col(timestamp_with_time_zone(Plans::CreatedAt))
                    .col(timestamp_with_time_zone(Plans::UpdatedAt))
                    .foreign_key(&mut fk(Plans::Table, Plans::WorkspaceId, Workspaces::Table, Workspaces::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_plans_workspace_slug")
                    .table(Plans::Table)
                    .col(Plans::WorkspaceId)
                    .col(Plans::Slug)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_plans_workspace_updated")
                    .table(Plans::Table)
                    .col(Plans::WorkspaceId)
                    .col(Plans::UpdatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Phases::Table)
                    .col(id(Phases::Id).primary_key())
                    .col(id(Phases::PlanId))
                    .col(integer(Phases::PhaseOrder))
                    .col(string_len(Phases::Name, 255))
                    .col(text_null(Phases::Description))
                    .col(string_len(Phases::Status, 32))
                    .col(text(Phases::Dependencies))
                    .col(timestamp_with_time_zone_null(Phases::StartedAt))
                    .col(timestamp_with_time_zone_null(Phases::CompletedAt))
                    .col(text_null(Phases::BlockReason))
                    .col(text_null(Phases::SkipReason))
                    .col(timestamp_with_time_zone(Phases::CreatedAt))
                    .col(timestamp_with_time_zone(Phases::UpdatedAt))
                    .foreign_key(&mut fk(Phases::Table, Phases::PlanId, Plans::Table, Plans::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_phases_plan_order")
                    .table(Phases::Table)
                    .col(Phases::PlanId)
                    .col(Phases::PhaseOrder)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .col(id(Tasks::Id).primary_key())
                    .col(id(Tasks::PlanId))
                    .col(id(Tasks::PhaseId))
                    .col(integer(Tasks::Position))
                    .col(string_len(Tasks::Name, 1024))
                    .col(text_null(Tasks::Description))
                    .col(string_len(Tasks::Status, 32))
                    .col(text_null(Tasks::Notes))
                    .col(timestamp_with_time_zone(Tasks::CreatedAt))
                    .col(timestamp_with_time_zone(Tasks::UpdatedAt))
                    .foreign_key(&mut fk(Tasks::Table, Tasks::PhaseId, Phases::Table, Phases::Id))
                    .foreign_key(&mut fk(Tasks::Table, Tasks::PlanId, Plans::Table, Plans::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tasks_phase_position")
                    .table(Tasks::Table)
                    .col(Tasks::PhaseId)
                    .col(Tasks::Position)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("idx_tasks_plan").table(Tasks::Table).col(Tasks::PlanId).to_owned())
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PhaseCheckpoints::Table)
                    .col(id(PhaseCheckpoints::Id).primary_key())
                    .col(id(PhaseCheckpoints::PhaseId))
                    .col(text(PhaseCheckpoints::Note))
                    .col(text(PhaseCheckpoints::Context))
                    .col(timestamp_with_time_zone(PhaseCheckpoints::CreatedAt))
                    .foreign_key(&mut fk(PhaseCheckpoints::Table, PhaseCheckpoints::PhaseId, Phases::Table, Phases::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_phase_checkpoints_phase")
                    .table(PhaseCheckpoints::Table)
                    .col(PhaseCheckpoints::PhaseId)
                    .col(PhaseCheckpoints::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(id(AuditEvents::Id).primary_key())
                    .col(timestamp_with_time_zone(AuditEvents::OccurredAt))
                    .col(id_null(AuditEvents::WorkspaceId))
                    .col(id_null(AuditEvents::ApiKeyId))
                    .col(string_len(AuditEvents::Transport, 16))
                    .col(string_len(AuditEvents::Tool, 128))
                    .col(string_len_null(AuditEvents::AgentSessionId, 64))
                    .col(big_integer(AuditEvents::DurationMs))
                    .col(string_len(AuditEvents::Outcome, 16))
                    .col(string_len_null(AuditEvents::ErrorCode, 32))
                    .col(text(AuditEvents::Arguments))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("idx_audit_events_occurred", vec![AuditEvents::OccurredAt]),
            ("idx_audit_events_workspace", vec![AuditEvents::WorkspaceId, AuditEvents::OccurredAt]),
            ("idx_audit_events_tool", vec![AuditEvents::Tool, AuditEvents::OccurredAt]),
        ] {
            let mut index = Index::create();
            index.name(name).table(AuditEvents::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditEvents::Table.into_iden(),
            PhaseCheckpoints::Table.into_iden(),
            Tasks::Table.into_iden(),
            Phases::Table.into_iden(),
            Plans::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            Workspaces::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
