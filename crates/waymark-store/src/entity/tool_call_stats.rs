//! The `tool_call_stats` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tool_call_stats")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) day: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) workspace_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) tool: String,
    pub(crate) calls: i64,
    pub(crate) errors: i64,
    pub(crate) total_duration_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
