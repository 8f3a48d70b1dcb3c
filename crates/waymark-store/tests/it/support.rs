//! A fresh database per test: a SQLite file in a temporary directory, or a PostgreSQL schema
//! with a unique name that is dropped afterwards.

use std::sync::atomic::{AtomicU32, Ordering};

use waymark_store::{DatabaseConfig, Store};

pub(crate) struct TestDb {
    pub(crate) store: Store,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

fn postgres_url() -> String {
    std::env::var("WAYMARK_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn unique_schema() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("wmk_test_store_{}_{}_{}", std::process::id(), nanos, COUNTER.fetch_add(1, Ordering::Relaxed))
}

impl TestDb {
    pub(crate) async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        let store = Store::connect(&DatabaseConfig::new(url)).await.expect("open sqlite");
        store.migrate().await.expect("migrate sqlite");
        Self { store, _dir: Some(dir), pg: None }
    }

    pub(crate) async fn postgres() -> Self {
        let url = postgres_url();
        let schema = unique_schema();
        let config = DatabaseConfig { url: url.clone(), schema: Some(schema.clone()) };
        let store =
            Store::connect(&config).await.unwrap_or_else(|e| panic!("PostgreSQL must be running at {url}: {e}"));
        store.migrate().await.expect("migrate postgres");
        Self { store, _dir: None, pg: Some((url, schema)) }
    }

    pub(crate) async fn finish(self) {
        self.store.close().await;
        if let Some((url, schema)) = self.pg {
            waymark_store::drop_pg_schema(&url, &schema).await.expect("drop schema");
        }
    }
}
