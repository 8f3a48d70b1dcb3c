//! The `wf_tasks` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wf_tasks")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: String,
    pub(crate) namespace: String,
    pub(crate) run_id: String,
    pub(crate) kind: String,
    pub(crate) status: String,
    pub(crate) available_at: DateTimeUtc,
    pub(crate) lease_owner: Option<String>,
    pub(crate) lease_expires_at: Option<DateTimeUtc>,
    pub(crate) attempt_count: i32,
    pub(crate) activity_execution_id: Option<String>,
    pub(crate) created_at: DateTimeUtc,
    pub(crate) updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
