//! The `wf_commands` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wf_commands")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: String,
    pub(crate) namespace: String,
    pub(crate) instance_id: String,
    pub(crate) run_id: Option<String>,
    pub(crate) command_type: String,
    pub(crate) status: String,
    pub(crate) outcome: Option<String>,
    pub(crate) rejection_reason: Option<String>,
    pub(crate) source: String,
    pub(crate) payload: String,
    pub(crate) created_at: DateTimeUtc,
    pub(crate) applied_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
