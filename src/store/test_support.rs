//! Stores for tests: PostgreSQL in a fresh schema when `VIGIL_TEST_POSTGRES_URL` is set (under
//! `CI=true` it must be: see [`postgres_url`]), for the store's own tests and the integration
//! tests alike; in the store's own tests also a temporary SQLite file, and
//! `on_both_dialects!` to run one behaviour on both. Not part of the product.

use super::Store;

/// `VIGIL_TEST_POSTGRES_URL`, or `None` with a notice when it is not set, so a developer without
/// PostgreSQL still runs the rest. Under `CI=true` an unset URL fails the test instead: CI must
/// not pass without the PostgreSQL tests (`scripts/test` starts a server and sets the URL).
pub fn postgres_url() -> Option<String> {
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

/// The schema a test named `prefix` uses: `<prefix>_<process id>`, so test processes sharing
/// one database do not disturb each other.
pub fn schema_name(prefix: &str) -> String {
    format!("{prefix}_{}", std::process::id())
}

/// Creates the schema of `prefix` afresh (dropping what an earlier run left in it) and returns
/// a URL whose connections use it; `None` when `VIGIL_TEST_POSTGRES_URL` is not set (see
/// [`postgres_url`]). Panics when PostgreSQL refuses.
pub async fn postgres_schema_url(prefix: &str) -> Option<String> {
    let url = postgres_url()?;
    let schema = schema_name(prefix);
    let admin = sqlx::PgPool::connect(&url)
        .await
        .expect("connect to VIGIL_TEST_POSTGRES_URL");
    for sql in [
        format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        format!("CREATE SCHEMA {schema}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .expect("create the test schema");
    }
    admin.close().await;
    let sep = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{sep}options[search_path]={schema}"))
}

/// A PostgreSQL store in a fresh schema of its own (see [`postgres_schema_url`]), or `None` when
/// `VIGIL_TEST_POSTGRES_URL` is not set. Panics when PostgreSQL refuses.
pub async fn postgres(prefix: &str) -> Option<Store> {
    let url = postgres_schema_url(prefix).await?;
    Some(
        Store::connect(&url)
            .await
            .expect("connect to the test schema"),
    )
}

/// A store on a new SQLite file (kept while the directory lives).
#[cfg(test)]
pub(crate) async fn sqlite() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/vigil.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    (dir, store)
}

/// For each behaviour (an `async fn(&Store)` of the calling module), a test on SQLite and one on
/// PostgreSQL (in a schema named after it); the caller imports [`sqlite`] and [`postgres`].
#[cfg(test)]
macro_rules! on_both_dialects {
    ($($behaviour:ident),* $(,)?) => {$(
        mod $behaviour {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (_dir, store) = super::sqlite().await;
                super::$behaviour(&store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(store) = super::postgres(stringify!($behaviour)).await else {
                    return;
                };
                super::$behaviour(&store).await;
            }
        }
    )*};
}

#[cfg(test)]
pub(crate) use on_both_dialects;
