//! The `phases` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "phases")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: String,
    pub(crate) plan_id: String,
    pub(crate) phase_order: i32,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) status: String,
    pub(crate) dependencies: String,
    pub(crate) started_at: Option<DateTimeUtc>,
    pub(crate) completed_at: Option<DateTimeUtc>,
    pub(crate) block_reason: Option<String>,
    pub(crate) skip_reason: Option<String>,
    pub(crate) created_at: DateTimeUtc,
    pub(crate) updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
