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
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbErr, SqlErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use waymark_migration::{Migrator, MigratorTrait};

pub use audit::{AuditEvent, AuditFilter, ToolStats};
pub use dburl::{DatabaseTarget, database_target, redact_url};
pub use plans::{PlanFilter, PlanPage};
pub use sessions::{SessionFilter, SessionPage, SessionSummary};

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

/// A storage failure, classified once (here) by what the caller should do about it.
///
/// The classification is the contract the layers above rely on: only [`Error::Unreachable`]
/// says the database itself failed (the circuit breaker counts those and nothing else);
/// [`Error::Busy`] and [`Error::Conflict`] are retryable races with another writer;
/// [`Error::Rejected`] is a value the database refused, so the caller's input is at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be reached or stopped answering: connection refused or lost,
    /// pool exhausted, an I/O error, the server shutting down, a read-only or full disk.
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
    /// Another writer held the lock for longer than the busy timeout (SQLite `SQLITE_BUSY`,
    /// `SQLITE_LOCKED`), or PostgreSQL aborted the transaction for a concurrent one
    /// (serialization failure, deadlock, lock timeout). Nothing was written; retrying the
    /// whole transaction is the remedy.
    #[error("the database is busy with another writer")]
    Busy(#[source] DbErr),
    /// The database refused a value (PostgreSQL data exceptions and program limits, SQLite
    /// "too big"): the input, not the database, is at fault. Nothing was written.
    #[error("the database refused a value")]
    Rejected(#[source] DbErr),
    /// A stored row could not be read back as a domain value (an unknown status, bad JSON).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error")]
    Database(#[source] DbErr),
}

/// How a database error is classified (see [`Error`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Unreachable,
    Conflict,
    Busy,
    Rejected,
    Corrupt,
    Other,
}

/// The one classification of database errors, for both backends.
///
/// SQLite codes are extended result codes (<https://www.sqlite.org/rescode.html>), classified
/// by their primary code; PostgreSQL codes are SQLSTATEs
/// (<https://www.postgresql.org/docs/current/errcodes-appendix.html>), classified by class.
fn classify(err: &DbErr) -> Class {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as Sqlx;
    if let Some(SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
        return Class::Conflict;
    }
    let inner = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return Class::Unreachable,
        DbErr::Type(_) | DbErr::Json(_) | DbErr::TryIntoErr { .. } => return Class::Corrupt,
        DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner)) => inner,
        _ => return Class::Other,
    };
    match &**inner {
        Sqlx::Io(_) | Sqlx::Tls(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed => Class::Unreachable,
        Sqlx::ColumnDecode { .. } | Sqlx::Decode(_) | Sqlx::ColumnNotFound(_) | Sqlx::TypeNotFound { .. } => {
            Class::Corrupt
        }
        Sqlx::Database(db) => match db.code() {
            Some(code) if code.bytes().all(|b| b.is_ascii_digit()) => classify_sqlite(code.parse().unwrap_or(0)),
            Some(code) => classify_postgres(&code),
            None => Class::Other,
        },
        _ => Class::Other,
    }
}

fn classify_sqlite(extended: i32) -> Class {
    match extended & 0xff {
        // SQLITE_BUSY, SQLITE_LOCKED (with BUSY_SNAPSHOT, BUSY_RECOVERY, LOCKED_SHAREDCACHE).
        5 | 6 => Class::Busy,
        // SQLITE_TOOBIG, SQLITE_RANGE.
        18 | 25 => Class::Rejected,
        // SQLITE_CORRUPT, SQLITE_NOTADB.
        11 | 26 => Class::Corrupt,
        // SQLITE_NOMEM, SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN,
        // SQLITE_PROTOCOL, SQLITE_AUTH.
        7 | 8 | 10 | 13 | 14 | 15 | 23 => Class::Unreachable,
        _ => Class::Other,
    }
}

fn classify_postgres(sqlstate: &str) -> Class {
    match sqlstate {
        // serialization_failure, deadlock_detected, lock_not_available.
        "40001" | "40P01" | "55P03" => Class::Busy,
        // query_canceled by statement_timeout is the server protecting itself from one query.
        "57014" => Class::Busy,
        _ => match sqlstate.get(..2) {
            // connection_exception, insufficient_resources, operator_intervention (shutdown),
            // system_error, internal_error.
            Some("08" | "53" | "57" | "58" | "XX") => Class::Unreachable,
            // data_exception (a NUL byte, an out-of-range number), program_limit_exceeded.
            Some("22" | "54") => Class::Rejected,
            _ => Class::Other,
        },
    }
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        match classify(&err) {
            Class::Unreachable => Self::Unreachable(err),
            Class::Conflict => Self::Conflict,
            Class::Busy => Self::Busy(err),
            Class::Rejected => Self::Rejected(err),
            Class::Corrupt => Self::Corrupt(err.to_string()),
            Class::Other => Self::Database(err),
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
        unreachable: AtomicBool,
    }

    impl Hooks {
        /// While set, opening a transaction fails as if the database were gone
        /// ([`crate::Error::Unreachable`]), so a test can watch the circuit breaker react to a
        /// real failure of the database without stopping a shared server.
        pub fn make_unreachable(&self, unreachable: bool) {
            self.unreachable.store(unreachable, Ordering::SeqCst);
        }

        pub(crate) fn check_reachable(&self) -> Result<(), crate::Error> {
            if self.unreachable.load(Ordering::SeqCst) {
                let injected = sea_orm::RuntimeErr::Internal("connection refused (injected by a test)".into());
                return Err(crate::Error::Unreachable(sea_orm::DbErr::Conn(injected)));
            }
            Ok(())
        }

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
        #[cfg(feature = "test-hooks")]
        self.hooks.check_reachable()?;
        Ok(self.tx(self.read.begin().await?))
    }

    /// Opens a write transaction. On SQLite this waits for the single writer connection.
    ///
    /// # Errors
    /// [`Error::Database`] when no connection is available.
    pub async fn write(&self) -> Result<Tx, Error> {
        #[cfg(feature = "test-hooks")]
        self.hooks.check_reachable()?;
        // SQLite: take the write lock at BEGIN, so a writer in another process makes this one
        // wait out the busy timeout instead of failing when a deferred transaction tries to
        // upgrade its read lock (SQLITE_BUSY / SQLITE_BUSY_SNAPSHOT, which skip the handler).
        let options = TransactionOptions {
            sqlite_transaction_mode: (self.backend == Backend::Sqlite).then_some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        Ok(self.tx(self.write.begin_with_options(options).await?))
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

#[cfg(test)]
mod tests {
    use super::{Class, classify_postgres, classify_sqlite};

    #[test]
    fn database_errors_are_classified_by_who_is_at_fault() {
        let sqlite = [
            (5, Class::Busy),           // SQLITE_BUSY: the busy timeout ran out
            (517, Class::Busy),         // SQLITE_BUSY_SNAPSHOT
            (6, Class::Busy),           // SQLITE_LOCKED
            (18, Class::Rejected),      // SQLITE_TOOBIG
            (11, Class::Corrupt),       // SQLITE_CORRUPT
            (10, Class::Unreachable),   // SQLITE_IOERR
            (3850, Class::Unreachable), // SQLITE_IOERR_LOCK
            (13, Class::Unreachable),   // SQLITE_FULL
            (8, Class::Unreachable),    // SQLITE_READONLY
            (1, Class::Other),          // SQLITE_ERROR: a bug of ours
        ];
        for (code, class) in sqlite {
            assert_eq!(classify_sqlite(code), class, "SQLite {code}");
        }
        let postgres = [
            ("40001", Class::Busy),        // serialization_failure
            ("40P01", Class::Busy),        // deadlock_detected
            ("55P03", Class::Busy),        // lock_not_available
            ("57014", Class::Busy),        // query_canceled
            ("57P01", Class::Unreachable), // admin_shutdown
            ("08006", Class::Unreachable), // connection_failure
            ("53300", Class::Unreachable), // too_many_connections
            ("22021", Class::Rejected),    // character_not_in_repertoire (a NUL byte)
            ("22003", Class::Rejected),    // numeric_value_out_of_range
            ("54000", Class::Rejected),    // program_limit_exceeded
            ("42P01", Class::Other),       // undefined_table: a bug of ours
        ];
        for (code, class) in postgres {
            assert_eq!(classify_postgres(code), class, "PostgreSQL {code}");
        }
    }
}
