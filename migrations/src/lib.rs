//! Waymark's migration series: one list of migrations that runs unchanged on SQLite and
//! PostgreSQL.
//!
//! Rules for adding a migration:
//! - append a new module; never edit one that has shipped;
//! - use sea-query builders only, so the DDL is portable; branch on the backend inside a
//!   migration only when the DDL must differ, and say why;
//! - statuses are strings, JSON documents are text, timestamps are `timestamp with time zone`.

pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::prelude::*;

mod m20261121_000001_agent_core;
mod m20261121_000002_sessions_state_templates;
mod m20261121_000003_call_history_and_stats;
mod m20261121_000004_workflows;
mod m20261201_000001_raise_default_rate_limit;
mod m20261202_000001_database_identity;

/// The ordered list of every migration.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_agent_core::Migration),
            Box::new(m20261121_000002_sessions_state_templates::Migration),
            Box::new(m20261121_000003_call_history_and_stats::Migration),
            Box::new(m20261121_000004_workflows::Migration),
            Box::new(m20261201_000001_raise_default_rate_limit::Migration),
            Box::new(m20261202_000001_database_identity::Migration),
        ]
    }
}
