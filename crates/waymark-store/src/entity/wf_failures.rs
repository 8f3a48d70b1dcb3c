//! The `wf_failures` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wf_failures")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: String,
    pub(crate) run_id: String,
    pub(crate) source_kind: String,
    pub(crate) source_id: Option<String>,
    pub(crate) category: String,
    pub(crate) exception_type: String,
    pub(crate) message: String,
    pub(crate) non_retryable: bool,
    pub(crate) handled: bool,
    pub(crate) created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
