//! The `agent_sessions` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "agent_sessions")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: String,
    pub(crate) workspace_id: String,
    pub(crate) api_key_id: Option<String>,
    pub(crate) plan_id: Option<String>,
    pub(crate) agent_type: String,
    pub(crate) status: String,
    pub(crate) context_summary: String,
    pub(crate) handoff_notes: Option<String>,
    pub(crate) final_summary: Option<String>,
    pub(crate) continued_from: Option<String>,
    pub(crate) started_at: DateTimeUtc,
    pub(crate) last_active_at: DateTimeUtc,
    pub(crate) ended_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
