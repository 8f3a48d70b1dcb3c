//! The `audit_events` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: String,
    pub(crate) occurred_at: DateTimeUtc,
    pub(crate) workspace_id: Option<String>,
    pub(crate) api_key_id: Option<String>,
    pub(crate) transport: String,
    pub(crate) tool: String,
    pub(crate) agent_session_id: Option<String>,
    pub(crate) duration_ms: i64,
    pub(crate) outcome: String,
    pub(crate) error_code: Option<String>,
    pub(crate) arguments: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
