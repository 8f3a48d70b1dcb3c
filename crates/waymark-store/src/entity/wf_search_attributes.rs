//! The `wf_search_attributes` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "wf_search_attributes")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) run_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) key: String,
    pub(crate) value_type: String,
    pub(crate) keyword_value: Option<String>,
    pub(crate) text_value: Option<String>,
    pub(crate) int_value: Option<i64>,
    pub(crate) float_value: Option<f64>,
    pub(crate) bool_value: Option<bool>,
    pub(crate) json_value: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
