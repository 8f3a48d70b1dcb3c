//! Keys created with the old default budget of 100 calls a minute, which stopped an ordinary
//! agent loop within a minute, get the new default of 6,000 (docs/OPERATIONS.md, "Rate
//! limits"). A key created with an explicit `--rate-limit 100` cannot be told apart and is
//! raised too; recreate it to go back to 100.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    RateLimitPerMinute,
}

/// The default before this migration.
const OLD_DEFAULT: i32 = 100;
/// The default from this migration on (`waymark_core::auth::DEFAULT_RATE_LIMIT`).
const NEW_DEFAULT: i32 = 6000;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .exec_stmt(
                Query::update()
                    .table(ApiKeys::Table)
                    .value(ApiKeys::RateLimitPerMinute, NEW_DEFAULT)
                    .and_where(Expr::col(ApiKeys::RateLimitPerMinute).eq(OLD_DEFAULT))
                    .to_owned(),
            )
            .await
    }

    /// Nothing: a key at 6,000 after this migration may have been created so on purpose.
    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
