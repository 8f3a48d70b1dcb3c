//! Waymark's storage layer: repositories over SQLite or PostgreSQL, returning domain values.
//!
//! Shape:
//! - [`Store`] owns the connection pools. On SQLite there are two: a reader pool and a writer
//!   pool of exactly one connection, so writers queue in the process instead of failing with
//!   `SQLITE_BUSY`; on PostgreSQL both are one pool.
//! - Every repository method lives on [`Tx`], a transaction. [`Store::read`] and
//!   [`Store::write`] open one; a use case reads, decides (in the domain) and writes inside a
//!   single transaction, and dropping a `Tx` without [`Tx::commit`] rolls everything back.
//! - sea-orm entities are private (`entity`); rows are converted to domain values at the
//!   repository edge, and an unreadable row is [`Error::Corrupt`], never a panic.
//! - Every query about tenant data takes the caller's [`waymark_domain::WorkspaceId`].
//! - [`Store`] also implements the workflow engine's store port
//!   ([`waymark_engine::store::EngineStore`]) over the `wf_*` tables (`workflows`).
//!
//! SQLite runs in WAL mode with `synchronous=FULL` (a committed write survives power loss) and
//! a busy timeout; PostgreSQL uses its defaults (`synchronous_commit=on`).

mod audit;
mod convert;
mod dburl;
mod entity;
mod identity;
mod keys;
mod plans;
mod sessions;
mod state;
mod workflows;
mod workspaces;

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbErr, SqlErr, TransactionTrait,
};
use waymark_migration::{Migrator, MigratorTrait};

pub use audit::{AuditEvent, AuditFilter, ToolStats};
pub use dburl::{DatabaseTarget, database_target, redact_url};
pub use plans::{PlanFilter, PlanPage};
pub use sessions::{SessionFilter, SessionPage};

/// Which database the store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Where the data lives.
#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    /// `sqlite://path?mode=rwc` or `postgres://user@host:port/db`.
    pub url: String,
    /// PostgreSQL only: the schema to use (created if missing), for example to give each test
    /// run its own. `None` uses the server's `search_path`.
    pub schema: Option<String>,
}

impl DatabaseConfig {
    /// A configuration for `url` with no schema override.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), schema: None }
    }
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be reached or opened. The caller cannot proceed.
    #[error("cannot reach the database: {}", redact_url(&.0.to_string()))]
    Unreachable(#[source] DbErr),
    /// The database URL is malformed or names something the store cannot open; the reason
    /// never includes a password. The caller should report a usage error.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// A uniqueness rule was broken (for example a plan slug already used in the workspace).
    /// The caller should report a conflict; nothing was written.
    #[error("unique constraint violated")]
    Conflict,
    /// A stored row could not be read back as a domain value (an unknown status, bad JSON).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error")]
    Database(#[source] DbErr),
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::Conflict,
            _ => Self::Database(err),
        }
    }
}

/// The connection pools. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    read: DatabaseConnection,
    write: DatabaseConnection,
    backend: Backend,
    #[cfg(feature = "test-hooks")]
    hooks: std::sync::Arc<hooks::Hooks>,
}

/// An open transaction. All repository methods live here; see the crate docs.
#[derive(Debug)]
pub struct Tx {
    txn: DatabaseTransaction,
    backend: Backend,
    #[cfg(feature = "test-hooks")]
    hooks: std::sync::Arc<hooks::Hooks>,
}

/// Test-only switches (feature `test-hooks`).
#[cfg(feature = "test-hooks")]
pub mod hooks {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Per-store switches.
    #[derive(Debug, Default)]
    pub struct Hooks {
        park_commits: AtomicBool,
        parked: AtomicUsize,
    }

    impl Hooks {
        /// While set, every `Tx::commit` of the store waits (until the switch is cleared or its
        /// future is dropped), so a test can time out or cancel a use case between its writes
        /// and its commit and check that nothing was written.
        pub fn park_commits(&self, park: bool) {
            self.park_commits.store(park, Ordering::SeqCst);
        }

        /// How many commits are waiting on the switch now: a test waits for its call to
        /// reach the commit before it cancels the call.
        pub fn parked_commits(&self) -> usize {
            self.parked.load(Ordering::SeqCst)
        }

        /// Waits while the switch is set; counted in [`Self::parked_commits`] meanwhile, also
        /// when the future is dropped.
        pub(crate) async fn wait(&self) {
            if !self.park_commits.load(Ordering::SeqCst) {
                return;
            }
            self.parked.fetch_add(1, Ordering::SeqCst);
            let _parked = Parked(&self.parked);
            while self.park_commits.load(Ordering::SeqCst) {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    }

    /// Uncounts a parked commit when its wait ends or is dropped.
    struct Parked<'a>(&'a AtomicUsize);

    impl Drop for Parked<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Store {
    /// Opens the pools (creating a SQLite file if missing). Does not migrate.
    ///
    /// # Errors
    /// [`Error::Unreachable`] when the database cannot be opened.
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, Error> {
        let url = config.url.as_str();
        database_target(url)?;
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            probe_postgres(url).await?;
            if let Some(schema) = &config.schema {
                ensure_pg_schema(url, schema).await?;
            }
            let mut options = ConnectOptions::new(url);
            options
                .max_connections(16)
                .connect_timeout(Duration::from_secs(5))
                .acquire_timeout(Duration::from_secs(30))
                .sqlx_logging(false);
            if let Some(schema) = &config.schema {
                options.set_schema_search_path(schema.clone());
            }
            let pool = Database::connect(options).await.map_err(Error::Unreachable)?;
            Ok(Self::new(pool.clone(), pool, Backend::Postgres))
        } else if url.starts_with("sqlite:") {
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let write = sqlite_pool(url, 1).await?;
            let read = if in_memory { write.clone() } else { sqlite_pool(url, 4).await? };
            Ok(Self::new(read, write, Backend::Sqlite))
        } else {
            Err(Error::Unreachable(DbErr::Custom(format!(
                "unsupported database url (expected sqlite:// or postgres://): {}",
                redact_url(url)
            ))))
        }
    }

    fn new(read: DatabaseConnection, write: DatabaseConnection, backend: Backend) -> Self {
        Self {
            read,
            write,
            backend,
            #[cfg(feature = "test-hooks")]
            hooks: std::sync::Arc::default(),
        }
    }

    /// The test switches of this store.
    #[cfg(feature = "test-hooks")]
    pub fn hooks(&self) -> &hooks::Hooks {
        &self.hooks
    }

    fn tx(&self, txn: DatabaseTransaction) -> Tx {
        Tx {
            txn,
            backend: self.backend,
            #[cfg(feature = "test-hooks")]
            hooks: std::sync::Arc::clone(&self.hooks),
        }
    }

    /// Applies every pending migration.
    ///
    /// # Errors
    /// [`Error::Database`] when a migration fails; earlier migrations stay applied.
    pub async fn migrate(&self) -> Result<(), Error> {
        Migrator::up(&self.write, None).await.map_err(Error::Database)
    }

    /// How many migrations are not yet applied (0 means the schema is current).
    ///
    /// # Errors
    /// [`Error::Database`] when the migration table cannot be read.
    pub async fn pending_migrations(&self) -> Result<usize, Error> {
        Ok(Migrator::get_pending_migrations(&self.read).await.map_err(Error::Database)?.len())
    }

    /// Checks the database answers.
    ///
    /// # Errors
    /// [`Error::Unreachable`] when it does not.
    pub async fn ping(&self) -> Result<(), Error> {
        self.read.ping().await.map_err(Error::Unreachable)
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Opens a read transaction (a consistent snapshot).
    ///
    /// # Errors
    /// [`Error::Database`] when no connection is available.
    pub async fn read(&self) -> Result<Tx, Error> {
        Ok(self.tx(self.read.begin().await?))
    }

    /// Opens a write transaction. On SQLite this waits for the single writer connection.
    ///
    /// # Errors
    /// [`Error::Database`] when no connection is available.
    pub async fn write(&self) -> Result<Tx, Error> {
        Ok(self.tx(self.write.begin().await?))
    }

    /// Closes the pools, waiting for connections to be returned.
    pub async fn close(self) {
        let _ = self.read.close().await;
        let _ = self.write.close().await;
    }
}

impl Tx {
    /// Commits the transaction.
    ///
    /// # Errors
    /// [`Error::Conflict`] or [`Error::Database`]; nothing is committed then.
    pub async fn commit(self) -> Result<(), Error> {
        #[cfg(feature = "test-hooks")]
        self.hooks.wait().await;
        Ok(self.txn.commit().await?)
    }

    /// The backend in use (some queries differ, for example row locks on PostgreSQL).
    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn db(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

async fn sqlite_pool(url: &str, max_connections: u32) -> Result<DatabaseConnection, Error> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .create_if_missing(true)
        });
    Database::connect(options).await.map_err(Error::Unreachable)
}

/// One connection attempt, bounded to 5 s, so an unreachable server is reported promptly
/// instead of after the pool's acquire timeout.
async fn probe_postgres(url: &str) -> Result<(), Error> {
    use sea_orm::sqlx::Connection;
    let attempt = tokio::time::timeout(Duration::from_secs(5), sea_orm::sqlx::PgConnection::connect(url)).await;
    match attempt {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
        Ok(Err(err)) => Err(Error::Unreachable(DbErr::Custom(format!("cannot connect: {err}")))),
        Err(_) => Err(Error::Unreachable(DbErr::Custom("connection attempt timed out after 5 s".into()))),
    }
}

async fn ensure_pg_schema(url: &str, schema: &str) -> Result<(), Error> {
    if !schema.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Error::Unreachable(DbErr::Custom(format!("invalid schema name: {schema}"))));
    }
    let mut options = ConnectOptions::new(url);
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await.map_err(Error::Unreachable)?;
    db.execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")).await?;
    db.close().await.map_err(Error::Database)?;
    Ok(())
}

/// Drops a PostgreSQL schema and everything in it (test cleanup).
///
/// # Errors
/// [`Error::Unreachable`] or [`Error::Database`].
pub async fn drop_pg_schema(url: &str, schema: &str) -> Result<(), Error> {
    if !schema.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Error::Unreachable(DbErr::Custom(format!("invalid schema name: {schema}"))));
    }
    let mut options = ConnectOptions::new(url);
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await.map_err(Error::Unreachable)?;
    db.execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).await?;
    db.close().await.map_err(Error::Database)?;
    Ok(())
}
