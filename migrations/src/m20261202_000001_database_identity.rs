//! The database's identity: one row with a random id, written once when the database is
//! created (or upgraded), so processes can tell whether they share a database (`waymark status`
//! matches the server on its port by the id its `/readyz` reports).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum DatabaseIdentity {
    Table,
    Id,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DatabaseIdentity::Table)
                    .col(string_len(DatabaseIdentity::Id, 36).primary_key())
                    .col(timestamp_with_time_zone(DatabaseIdentity::CreatedAt))
                    .to_owned(),
            )
            .await?;
        let id = uuid::Uuid::new_v4().to_string();
        let insert = Query::insert()
            .into_table(DatabaseIdentity::Table)
            .columns([DatabaseIdentity::Id, DatabaseIdentity::CreatedAt])
            .values([id.into(), Expr::current_timestamp()])
            .map_err(|e| DbErr::Migration(e.to_string()))?
            .to_owned();
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(DatabaseIdentity::Table).to_owned()).await
    }
}
