//! The store of a `vigil run` (its SQLite file, or a PostgreSQL database): alert rows and the
//! alert outbox.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{ts, AlertKey, WAIT};

/// A row of the `alerts` table, as an [`AlertKey`] plus its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoredRow {
    pub key: AlertKey,
    pub alert_id: String,
}

/// Where a service keeps its store: a SQLite file, or a PostgreSQL URL.
#[derive(Debug, Clone)]
pub enum StoreAt {
    Sqlite(PathBuf),
    Postgres(String),
}

impl From<&Path> for StoreAt {
    fn from(db: &Path) -> Self {
        StoreAt::Sqlite(db.to_path_buf())
    }
}

impl From<&PathBuf> for StoreAt {
    fn from(db: &PathBuf) -> Self {
        StoreAt::Sqlite(db.clone())
    }
}

impl From<&StoreAt> for StoreAt {
    fn from(store: &StoreAt) -> Self {
        store.clone()
    }
}

/// The columns of `alerts` the tests compare, in [`AlertColumns`]' order.
const ALERT_COLUMNS: &str =
    "SELECT alert_id, tenant_id, ticket_id, goal, level, threshold, state, fired_at FROM alerts";
type AlertColumns = (String, i64, String, String, String, f64, String, i64);

impl StoreAt {
    /// The rows of `sql` as tuples; empty when the store (or its tables) is not there yet or
    /// cannot be reached.
    pub async fn rows<T>(&self, sql: &'static str) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        use sqlx::{ConnectOptions as _, Connection as _};
        match self {
            StoreAt::Sqlite(db) => {
                if !db.exists() {
                    return Vec::new();
                }
                let Ok(mut conn) = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(db)
                    .read_only(true)
                    .connect()
                    .await
                else {
                    return Vec::new();
                };
                sqlx::query_as(sql)
                    .fetch_all(&mut conn)
                    .await
                    .unwrap_or_default()
            }
            StoreAt::Postgres(url) => {
                let Ok(mut conn) = sqlx::PgConnection::connect(url).await else {
                    return Vec::new();
                };
                let rows = sqlx::query_as(sql)
                    .fetch_all(&mut conn)
                    .await
                    .unwrap_or_default();
                let _ = conn.close().await;
                rows
            }
        }
    }
}

/// Every row of the `alerts` table (empty when the store or table does not exist yet).
pub async fn store_alerts(db: impl Into<StoreAt>) -> Vec<StoredRow> {
    let rows: Vec<AlertColumns> = db.into().rows(ALERT_COLUMNS).await;
    let mut out: Vec<StoredRow> = rows
        .into_iter()
        .map(
            |(alert_id, tenant, ticket, goal, level, threshold, state, fired_at)| StoredRow {
                alert_id,
                key: (
                    tenant as u64,
                    ticket,
                    goal,
                    level,
                    format!("{threshold}"),
                    state,
                    ts(fired_at),
                ),
            },
        )
        .collect();
    out.sort();
    out
}

/// Polls until the store has `rows` alert rows and every one's current state was published
/// (the alert outbox: `published_state = state`), so every publish the service will make for
/// them has been acknowledged by JetStream.
pub async fn wait_published(db: impl Into<StoreAt>, rows: usize) {
    let store = db.into();
    let deadline = Instant::now() + WAIT;
    loop {
        let unpublished: Vec<(String, String, Option<String>)> = store
            .rows(
                "SELECT dedupe_key, state, published_state FROM alerts \
                 WHERE published_state IS NULL OR published_state <> state ORDER BY dedupe_key",
            )
            .await;
        let total = store
            .rows::<(i64,)>("SELECT COUNT(*) FROM alerts")
            .await
            .first()
            .map_or(-1, |(n,)| *n);
        if total == rows as i64 && unpublished.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {rows} alert rows, all published: {total} rows, \
             {} unpublished (dedupe key, state, published state): {unpublished:#?}",
            unpublished.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The keys of the rows of the store.
pub async fn store_keys(db: impl Into<StoreAt>) -> Vec<AlertKey> {
    store_alerts(db).await.into_iter().map(|r| r.key).collect()
}

/// Polls the store until its rows, as sorted keys, equal `expected` (sorted here).
pub async fn wait_for_store(db: impl Into<StoreAt>, expected: Vec<AlertKey>) -> Vec<StoredRow> {
    wait_for_store_within(db, expected, WAIT).await
}

/// [`wait_for_store`], giving up after `within` instead of [`WAIT`] (after a fault, whose
/// recovery takes its own time).
pub async fn wait_for_store_within(
    db: impl Into<StoreAt>,
    mut expected: Vec<AlertKey>,
    within: Duration,
) -> Vec<StoredRow> {
    let store = db.into();
    expected.sort();
    let deadline = Instant::now() + within;
    loop {
        let rows = store_alerts(&store).await;
        let keys: Vec<AlertKey> = rows.iter().map(|r| r.key.clone()).collect();
        if keys == expected {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "store never reached the expected rows.\nexpected: {expected:#?}\ngot: {keys:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
