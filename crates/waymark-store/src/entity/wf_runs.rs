//! The `wf_runs` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wf_runs")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) run_id: String,
    pub(crate) namespace: String,
    pub(crate) instance_id: String,
    pub(crate) run_number: i32,
    pub(crate) workflow_type: String,
    pub(crate) status: String,
    pub(crate) closed_reason: Option<String>,
    pub(crate) wait_kind: Option<String>,
    pub(crate) task_problem: Option<String>,
    pub(crate) input: String,
    pub(crate) output: Option<String>,
    pub(crate) business_key: Option<String>,
    pub(crate) visibility_labels: String,
    pub(crate) memo: String,
    pub(crate) search_attributes: String,
    pub(crate) last_sequence: i64,
    pub(crate) history_size_bytes: i64,
    pub(crate) pending_commands: i32,
    pub(crate) run_deadline_at: Option<DateTimeUtc>,
    pub(crate) execution_deadline_at: Option<DateTimeUtc>,
    pub(crate) continued_from_run_id: Option<String>,
    pub(crate) created_at: DateTimeUtc,
    pub(crate) updated_at: DateTimeUtc,
    pub(crate) started_at: Option<DateTimeUtc>,
    pub(crate) closed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
