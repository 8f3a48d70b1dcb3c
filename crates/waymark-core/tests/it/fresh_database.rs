//! A fresh database: its identity, and the bootstrap of its first key, which is all or nothing.

use waymark_core::{Service, ServiceConfig, Transport};
use waymark_testkit::{Backend, TestDatabase};

async fn open(db: &TestDatabase) -> Service {
    Service::open(ServiceConfig::new(db.config.clone()))
        .await
        .unwrap_or_else(|e| panic!("cannot open a test database (is PostgreSQL running?): {e}"))
}

async fn a_bootstrap_is_all_or_nothing(backend: Backend) {
    let db = TestDatabase::new(backend);
    let service = open(&db).await;
    let pending = service.begin_bootstrap().await.unwrap().expect("an empty database bootstraps");
    assert!(pending.key().starts_with("wmk_"));
    assert!(!format!("{pending:?}").contains(pending.key()), "the key is never in a debug print");
    drop(pending);
    assert!(service.list_workspaces().await.unwrap().is_empty(), "a dropped bootstrap creates no workspace");
    assert!(service.list_keys(None).await.unwrap().is_empty(), "and no key");

    let pending = service.begin_bootstrap().await.unwrap().expect("still empty: it bootstraps again");
    let key = pending.key().to_owned();
    let created = pending.commit().await.unwrap();
    assert_eq!(created.key, key);
    let keys = service.list_keys(None).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!((keys[0].workspace.as_str(), keys[0].id.as_str()), ("default", created.view.id.as_str()));
    let me = service.authenticate(&key, Transport::Http).await.expect("the committed key works");
    assert_eq!(me.workspace.as_str(), "default");
    assert!(service.begin_bootstrap().await.unwrap().is_none(), "a database bootstraps once");
    assert!(service.bootstrap().await.unwrap().is_none());
    service.shutdown().await;
    drop(service);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_is_all_or_nothing_sqlite() {
    a_bootstrap_is_all_or_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_is_all_or_nothing_postgres() {
    a_bootstrap_is_all_or_nothing(Backend::Postgres).await;
}

async fn a_database_has_one_identity(backend: Backend) {
    let db = TestDatabase::new(backend);
    let other = TestDatabase::new(backend);
    let first = open(&db).await;
    let second = open(&db).await;
    let elsewhere = open(&other).await;
    let id = first.database_id().await.unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(second.database_id().await.unwrap(), id, "every process on the database reads the same id");
    assert_ne!(elsewhere.database_id().await.unwrap(), id, "another database has another id");
    for service in [first, second, elsewhere] {
        service.shutdown().await;
    }
    db.cleanup().await;
    other.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_has_one_identity_sqlite() {
    a_database_has_one_identity(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_has_one_identity_postgres() {
    a_database_has_one_identity(Backend::Postgres).await;
}
