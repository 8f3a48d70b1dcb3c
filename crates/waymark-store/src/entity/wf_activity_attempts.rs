//! The `wf_activity_attempts` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wf_activity_attempts")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: String,
    pub(crate) activity_execution_id: String,
    pub(crate) attempt_number: i32,
    pub(crate) status: String,
    pub(crate) worker_id: String,
    pub(crate) started_at: DateTimeUtc,
    pub(crate) lease_expires_at: DateTimeUtc,
    pub(crate) closed_at: Option<DateTimeUtc>,
    pub(crate) failure: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
