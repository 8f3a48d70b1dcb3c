//! Migrations that change data, on both backends: the state before, the migration, the state
//! after.

use sea_orm_migration::sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use waymark_migration::{Migrator, MigratorTrait};

/// The migrations before `m20261201_000001_raise_default_rate_limit`.
const BEFORE_RATE_LIMIT_DEFAULT: u32 = 4;

async fn keys_at_the_old_default_get_the_new_one(db: &DatabaseConnection) {
    Migrator::up(db, Some(BEFORE_RATE_LIMIT_DEFAULT)).await.expect("the earlier migrations");
    db.execute_unprepared(
        "INSERT INTO workspaces (id, name, created_at) VALUES ('ws_1', 'default', '2026-01-01T00:00:00Z')",
    )
    .await
    .expect("a workspace");
    for (id, rate) in [("key_default", 100), ("key_chosen", 50), ("key_high", 20000)] {
        db.execute_unprepared(&format!(
            "INSERT INTO api_keys (id, workspace_id, name, key_hash, prefix, scopes, rate_limit_per_minute, created_at) \
             VALUES ('{id}', 'ws_1', '{id}', 'hash_{id}', 'wmk_{id}', 'read', {rate}, '2026-01-01T00:00:00Z')"
        ))
        .await
        .expect("a key");
    }
    Migrator::up(db, None).await.expect("the rest");
    let rows = db
        .query_all_raw(sea_orm_migration::sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT id, rate_limit_per_minute FROM api_keys ORDER BY id",
        ))
        .await
        .expect("keys");
    let keys: Vec<(String, i32)> =
        rows.iter().map(|r| (r.try_get("", "id").unwrap(), r.try_get("", "rate_limit_per_minute").unwrap())).collect();
    assert_eq!(
        keys,
        [("key_chosen".to_owned(), 50), ("key_default".to_owned(), 6000), ("key_high".to_owned(), 20000)],
        "only the old default is raised"
    );
}

#[tokio::test]
async fn keys_at_the_old_default_get_the_new_one_sqlite() {
    let mut options = ConnectOptions::new("sqlite::memory:");
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await.expect("sqlite in memory");
    keys_at_the_old_default_get_the_new_one(&db).await;
}

#[tokio::test]
async fn keys_at_the_old_default_get_the_new_one_postgres() {
    let url = std::env::var("WAYMARK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("wmk_migration_{}", std::process::id());
    let admin = Database::connect(url.as_str()).await.expect("PostgreSQL is running");
    admin.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")).await.unwrap();
    let mut options = ConnectOptions::new(url.as_str());
    options.max_connections(1).sqlx_logging(false).set_schema_search_path(schema.clone());
    let db = Database::connect(options).await.expect("the test schema");
    keys_at_the_old_default_get_the_new_one(&db).await;
    db.close().await.unwrap();
    admin.execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}
