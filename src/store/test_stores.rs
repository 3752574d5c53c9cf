//! Stores for the store tests: a temporary SQLite file, and PostgreSQL in a fresh schema when
//! `VIGIL_TEST_POSTGRES_URL` is set (under `CI=true` it must be: see [`postgres_url`]).

use super::Store;

/// A store on a new SQLite file (kept while the directory lives).
pub(super) async fn sqlite() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/vigil.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    (dir, store)
}

/// `VIGIL_TEST_POSTGRES_URL`, or `None` with a notice when it is not set, so a developer without
/// PostgreSQL still runs the rest. Under `CI=true` an unset URL fails the test instead: CI must
/// not pass without the PostgreSQL tests (`scripts/test` starts a server and sets the URL).
pub(super) fn postgres_url() -> Option<String> {
    if let Ok(url) = std::env::var("VIGIL_TEST_POSTGRES_URL") {
        return Some(url);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "VIGIL_TEST_POSTGRES_URL is not set under CI=true: the PostgreSQL store tests cannot run \
         (scripts/test starts a PostgreSQL server and sets it)"
    );
    eprintln!("VIGIL_TEST_POSTGRES_URL is not set: skipping the PostgreSQL store test");
    None
}

/// A PostgreSQL store in a fresh schema, or `None` when `VIGIL_TEST_POSTGRES_URL` is not set
/// (see [`postgres_url`]).
pub(super) async fn postgres(schema: &str) -> Option<Store> {
    let url = postgres_url()?;
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
