//! API keys. Looked up only by the indexed SHA-256 column, never by scanning.

use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use waymark_domain::{ApiKey, ApiKeyId, Scopes, Timestamp, WorkspaceId};

use crate::convert::{corrupt, to_i32, to_u32};
use crate::entity::api_keys as keys;
use crate::{Error, Tx};

fn from_row(row: keys::Model) -> Result<ApiKey, Error> {
    let bad = |detail: String| corrupt("api_keys", &row.id, detail);
    let tools = match &row.tools {
        Some(text) => Some(serde_json::from_str::<Vec<String>>(text).map_err(|e| bad(format!("tools: {e}")))?),
        None => None,
    };
    Ok(ApiKey {
        id: ApiKeyId::parse(&row.id).ok_or_else(|| bad("bad id".into()))?,
        workspace_id: WorkspaceId::parse(&row.workspace_id).ok_or_else(|| bad("bad workspace id".into()))?,
        scopes: Scopes::parse(&row.scopes).map_err(|e| bad(e.to_string()))?,
        rate_limit_per_minute: to_u32("api_keys", &row.id, "rate_limit_per_minute", row.rate_limit_per_minute)?,
        tools,
        name: row.name,
        key_hash: row.key_hash,
        prefix: row.prefix,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
        last_used_at: row.last_used_at,
        created_at: row.created_at,
    })
}

impl Tx {
    /// Inserts a key record.
    ///
    /// # Errors
    /// [`Error::Conflict`] on a duplicate hash (practically impossible with 256-bit keys).
    pub async fn insert_api_key(&self, key: &ApiKey) -> Result<(), Error> {
        let tools = key.tools.as_ref().map(|t| serde_json::Value::from(t.clone()).to_string());
        keys::Entity::insert(keys::ActiveModel {
            id: Set(key.id.to_string()),
            workspace_id: Set(key.workspace_id.to_string()),
            name: Set(key.name.clone()),
            key_hash: Set(key.key_hash.clone()),
            prefix: Set(key.prefix.clone()),
            scopes: Set(key.scopes.to_list()),
            tools: Set(tools),
            rate_limit_per_minute: Set(to_i32(key.rate_limit_per_minute)),
            expires_at: Set(key.expires_at),
            revoked_at: Set(key.revoked_at),
            last_used_at: Set(key.last_used_at),
            created_at: Set(key.created_at),
        })
        .exec(self.db())
        .await?;
        Ok(())
    }

    /// Finds a key by the hex SHA-256 of the presented key (an indexed, unique lookup).
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, Error> {
        keys::Entity::find().filter(keys::Column::KeyHash.eq(key_hash)).one(self.db()).await?.map(from_row).transpose()
    }

    /// Finds a key by its public id.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn api_key_by_id(&self, id: &ApiKeyId) -> Result<Option<ApiKey>, Error> {
        keys::Entity::find_by_id(id.as_str()).one(self.db()).await?.map(from_row).transpose()
    }

    /// Keys of one workspace, or of all, newest first.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn list_api_keys(&self, workspace: Option<&WorkspaceId>) -> Result<Vec<ApiKey>, Error> {
        let mut query = keys::Entity::find();
        if let Some(ws) = workspace {
            query = query.filter(keys::Column::WorkspaceId.eq(ws.as_str()));
        }
        query
            .order_by_desc(keys::Column::CreatedAt)
            .order_by_desc(keys::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(from_row)
            .collect()
    }

    /// Marks a key revoked at `now`. Revoking twice keeps the first time.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn revoke_api_key(&self, id: &ApiKeyId, now: Timestamp) -> Result<(), Error> {
        keys::Entity::update_many()
            .col_expr(keys::Column::RevokedAt, sea_orm::sea_query::Expr::value(now))
            .filter(keys::Column::Id.eq(id.as_str()))
            .filter(keys::Column::RevokedAt.is_null())
            .exec(self.db())
            .await?;
        Ok(())
    }
}
