//! The database's identity: the random id its migration `database_identity` wrote once.

use sea_orm::{ConnectionTrait, Statement};

use crate::{Error, Store};

impl Store {
    /// The database's id (a UUID, 36 characters), written once when the database was created
    /// or upgraded: every process that opens the same database reads the same id, and no other
    /// database has it.
    ///
    /// # Errors
    /// [`Error::Database`] when it cannot be read; [`Error::Corrupt`] when the row is missing.
    pub async fn database_id(&self) -> Result<String, Error> {
        let query = Statement::from_string(self.read.get_database_backend(), "SELECT id FROM database_identity");
        let row = self
            .read
            .query_one_raw(query)
            .await?
            .ok_or_else(|| Error::Corrupt("database_identity has no row".to_owned()))?;
        Ok(row.try_get::<String>("", "id")?)
    }
}
