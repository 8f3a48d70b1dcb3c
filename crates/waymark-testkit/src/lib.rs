//! Test support for Waymark. A dev-dependency only (checked by the dependency invariants).
//!
//! - [`TestService`]: a [`Service`] on a fresh database, a SQLite file in a temporary directory
//!   or a PostgreSQL schema with a unique name (dropped by [`TestService::finish`]), driven by
//!   a [`VirtualClock`].
//! - [`on_both_backends!`]: declares each test case once and runs it on both backends.
//! - [`redact`]: replaces ids and timestamps in JSON so snapshots are stable.
//! - [`eventually`]: waits for a condition instead of sleeping a fixed time.

mod clock;
mod redact;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

pub use clock::VirtualClock;
pub use redact::{redact, redact_text};
use waymark_core::{DatabaseConfig, Principal, Service, ServiceConfig, Transport};

/// Waits up to 20 s of real time for `condition` to hold, checking every 5 ms.
///
/// # Panics
/// When it does not hold in time, naming `what`.
pub async fn eventually<F: Future<Output = bool>>(what: &str, mut condition: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh schema on `WAYMARK_TEST_POSTGRES_URL` (default
    /// `postgres://postgres@127.0.0.1:5432/test`).
    Postgres,
}

/// The PostgreSQL server tests use.
pub fn postgres_url() -> String {
    std::env::var("WAYMARK_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A database for one test: its configuration plus whatever must be cleaned up.
#[derive(Debug)]
pub struct TestDatabase {
    /// How to connect.
    pub config: DatabaseConfig,
    dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A new, empty database on `backend`.
    pub fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("waymark.db").display());
                Self { config: DatabaseConfig::new(url), dir: Some(dir) }
            }
            Backend::Postgres => {
                static COUNTER: AtomicU32 = AtomicU32::new(0);
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                let schema =
                    format!("wmk_test_{}_{}_{}", std::process::id(), nanos, COUNTER.fetch_add(1, Ordering::Relaxed));
                Self { config: DatabaseConfig { url: postgres_url(), schema: Some(schema) }, dir: None }
            }
        }
    }

    /// The SQLite file's directory, if any.
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(tempfile::TempDir::path)
    }

    /// Drops the PostgreSQL schema (the SQLite directory goes with `self`).
    pub async fn cleanup(self) {
        if let Some(schema) = &self.config.schema {
            let _ = waymark_store::drop_pg_schema(&self.config.url, schema).await;
        }
    }
}

/// A [`Service`] on a fresh database with a virtual clock and a workspace named `default`.
#[derive(Debug)]
pub struct TestService {
    /// The service under test.
    pub service: Service,
    /// Its clock; advance it to move time.
    pub clock: Arc<VirtualClock>,
    /// Which backend it runs on.
    pub backend: Backend,
    db: TestDatabase,
}

impl TestService {
    /// Opens a service on a fresh database and creates the workspace `default`.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// [`TestService::start`] with a configuration adjusted by `configure`.
    pub async fn start_with(backend: Backend, configure: impl FnOnce(&mut ServiceConfig)) -> Self {
        let db = TestDatabase::new(backend);
        let clock = Arc::new(VirtualClock::default());
        let mut config = ServiceConfig::new(db.config.clone());
        configure(&mut config);
        let service = Service::open_with_clock(config, clock.clone())
            .await
            .unwrap_or_else(|e| panic!("cannot open a {backend:?} test database (is PostgreSQL running?): {e}"));
        service.ensure_workspace("default").await.expect("default workspace");
        Self { service, clock, backend, db }
    }

    /// Another [`Service`] on the same database and clock, configured by `configure` (a
    /// second process, or the same one restarted with other code). Shut it down before
    /// [`TestService::finish`].
    pub async fn open_another(&self, configure: impl FnOnce(&mut ServiceConfig)) -> Service {
        let mut config = ServiceConfig::new(self.db.config.clone());
        configure(&mut config);
        Service::open_with_clock(config, self.clock.clone()).await.expect("a second service on the test database")
    }

    /// The database the service runs on (to fill it in bulk through `waymark_store`).
    pub fn database(&self) -> &DatabaseConfig {
        &self.db.config
    }

    /// Owner access to a workspace, creating it if needed.
    pub async fn principal(&self, workspace: &str) -> Principal {
        self.service.ensure_workspace(workspace).await.expect("workspace");
        self.service.owner_principal(workspace, Transport::Library).await.expect("principal")
    }

    /// Flushes the audit log and drops the database.
    pub async fn finish(self) {
        self.service.shutdown().await;
        drop(self.service);
        self.db.cleanup().await;
    }
}

/// Declares test cases once and runs each on SQLite and on PostgreSQL.
///
/// Each case is `async fn name(t: &TestService)` in scope at the macro call.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let t = $crate::TestService::start($crate::Backend::Sqlite).await;
                    super::$case(&t).await;
                    t.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let t = $crate::TestService::start($crate::Backend::Postgres).await;
                    super::$case(&t).await;
                    t.finish().await;
                }
            )*
        }
    };
}
