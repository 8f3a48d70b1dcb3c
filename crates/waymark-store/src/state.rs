//! Workspace state, keyed by (plan, key). Reached only through a plan already loaded for the
//! caller's workspace.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use waymark_domain::status::{StatusTable, parse};
use waymark_domain::{JsonText, PlanId, StateEntry, StateKey, StateType, Timestamp};

use crate::convert::corrupt;
use crate::entity::{plan_template_versions as versions, workspace_states as states};
use crate::{Error, Tx};

fn from_row(row: states::Model) -> Result<StateEntry, Error> {
    let id = format!("{}/{}", row.plan_id, row.key);
    Ok(StateEntry {
        plan_id: PlanId::parse(&row.plan_id).ok_or_else(|| corrupt("workspace_states", &id, "bad plan id"))?,
        key: StateKey::parse(&row.key).map_err(|e| corrupt("workspace_states", &id, e))?,
        kind: parse::<StateType>("type", &row.kind).map_err(|e| corrupt("workspace_states", &id, e))?,
        value: JsonText::from_trusted(row.value),
        description: row.description,
        category: row.category,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

impl Tx {
    /// Inserts or replaces the value under (plan, key); `created_at` is kept on replace.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn upsert_state(&self, entry: &StateEntry) -> Result<(), Error> {
        states::Entity::insert(states::ActiveModel {
            plan_id: Set(entry.plan_id.to_string()),
            key: Set(entry.key.to_string()),
            value: Set(entry.value.as_str().to_owned()),
            kind: Set(entry.kind.as_str().to_owned()),
            description: Set(entry.description.clone()),
            category: Set(entry.category.clone()),
            created_at: Set(entry.created_at),
            updated_at: Set(entry.updated_at),
        })
        .on_conflict(
            OnConflict::columns([states::Column::PlanId, states::Column::Key])
                .update_columns([
                    states::Column::Value,
                    states::Column::Kind,
                    states::Column::Description,
                    states::Column::Category,
                    states::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(self.db())
        .await?;
        Ok(())
    }

    /// The value under (plan, key).
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn state(&self, plan: &PlanId, key: &StateKey) -> Result<Option<StateEntry>, Error> {
        states::Entity::find_by_id((plan.to_string(), key.to_string())).one(self.db()).await?.map(from_row).transpose()
    }

    /// A page of a plan's values, by key, optionally of one category, only keys after
    /// `after` (keyset paging); with the total of the category.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn list_states(
        &self,
        plan: &PlanId,
        category: Option<&str>,
        after: Option<&StateKey>,
        limit: u64,
    ) -> Result<(Vec<StateEntry>, u64), Error> {
        let mut query = states::Entity::find().filter(states::Column::PlanId.eq(plan.as_str()));
        if let Some(category) = category {
            query = query.filter(states::Column::Category.eq(category));
        }
        let total = query.clone().count(self.db()).await?;
        if let Some(after) = after {
            query = query.filter(states::Column::Key.gt(after.as_str()));
        }
        let entries = query
            .order_by_asc(states::Column::Key)
            .limit(limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(from_row)
            .collect::<Result<_, _>>()?;
        Ok((entries, total))
    }

    /// Deletes the value under (plan, key). Returns whether there was one.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn delete_state(&self, plan: &PlanId, key: &StateKey) -> Result<bool, Error> {
        let result = states::Entity::delete_by_id((plan.to_string(), key.to_string())).exec(self.db()).await?;
        Ok(result.rows_affected > 0)
    }

    /// Records a template's content under its hash (once; later calls change nothing).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn record_template_version(
        &self,
        content_hash: &str,
        slug: &str,
        name: &str,
        content: &str,
        now: Timestamp,
    ) -> Result<(), Error> {
        let insert = versions::Entity::insert(versions::ActiveModel {
            content_hash: Set(content_hash.to_owned()),
            slug: Set(slug.to_owned()),
            name: Set(name.to_owned()),
            content: Set(content.to_owned()),
            created_at: Set(now),
        })
        .on_conflict_do_nothing_on([versions::Column::ContentHash])
        .exec(self.db())
        .await;
        insert?;
        Ok(())
    }
}
