//! The `wf_activity_executions` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wf_activity_executions")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: String,
    pub(crate) namespace: String,
    pub(crate) run_id: String,
    pub(crate) instance_id: String,
    pub(crate) sequence: i64,
    pub(crate) activity_type: String,
    pub(crate) input: String,
    pub(crate) options: String,
    pub(crate) status: String,
    pub(crate) attempt_count: i32,
    pub(crate) current_attempt_id: Option<String>,
    pub(crate) scheduled_at: DateTimeUtc,
    pub(crate) closed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
