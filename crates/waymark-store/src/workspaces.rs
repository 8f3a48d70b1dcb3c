//! Workspaces.

use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use waymark_domain::{Workspace, WorkspaceId, WorkspaceName};

use crate::convert::corrupt;
use crate::entity::workspaces as ws;
use crate::{Error, Tx};

fn from_row(row: ws::Model) -> Result<Workspace, Error> {
    Ok(Workspace {
        id: WorkspaceId::parse(&row.id).ok_or_else(|| corrupt("workspaces", &row.id, "bad id"))?,
        name: WorkspaceName::parse(&row.name).map_err(|e| corrupt("workspaces", &row.id, e))?,
        created_at: row.created_at,
    })
}

impl Tx {
    /// Inserts a workspace.
    ///
    /// # Errors
    /// [`Error::Conflict`] when the name is taken.
    pub async fn insert_workspace(&self, workspace: &Workspace) -> Result<(), Error> {
        ws::Entity::insert(ws::ActiveModel {
            id: Set(workspace.id.to_string()),
            name: Set(workspace.name.to_string()),
            created_at: Set(workspace.created_at),
        })
        .exec(self.db())
        .await?;
        Ok(())
    }

    /// Finds a workspace by name.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn workspace_by_name(&self, name: &WorkspaceName) -> Result<Option<Workspace>, Error> {
        ws::Entity::find().filter(ws::Column::Name.eq(name.as_str())).one(self.db()).await?.map(from_row).transpose()
    }

    /// Finds a workspace by id.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn workspace_by_id(&self, id: &WorkspaceId) -> Result<Option<Workspace>, Error> {
        ws::Entity::find_by_id(id.as_str()).one(self.db()).await?.map(from_row).transpose()
    }

    /// Every workspace, by name.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Corrupt`].
    pub async fn list_workspaces(&self) -> Result<Vec<Workspace>, Error> {
        ws::Entity::find().order_by_asc(ws::Column::Name).all(self.db()).await?.into_iter().map(from_row).collect()
    }

    /// How many workspaces exist (0 on a fresh database).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn count_workspaces(&self) -> Result<u64, Error> {
        Ok(ws::Entity::find().count(self.db()).await?)
    }
}
