//! Stores for the store tests: a temporary SQLite file, and PostgreSQL in a fresh schema when
//! `VIGIL_TEST_POSTGRES_URL` is set.

use super::Store;

/// A store on a new SQLite file (kept while the directory lives).
pub(super) async fn sqlite() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/vigil.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    (dir, store)
}

/// A PostgreSQL store in a fresh schema, or `None` when `VIGIL_TEST_POSTGRES_URL` is not set.
pub(super) async fn postgres(schema: &str) -> Option<Store> {
    let Ok(url) = std::env::var("VIGIL_TEST_POSTGRES_URL") else {
        eprintln!("VIGIL_TEST_POSTGRES_URL is not set: skipping the PostgreSQL store test");
        return None;
    };
    let schema = format!("{schema}_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    for sql in [
        format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        format!("CREATE SCHEMA {schema}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .unwrap();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    Some(
        Store::connect(&format!("{url}{sep}options[search_path]={schema}"))
            .await
            .unwrap(),
    )
}
