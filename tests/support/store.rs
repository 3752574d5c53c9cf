//! The SQLite store of a `vigil run`: alert rows and the alert outbox.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{ts, AlertKey, WAIT};

/// A row of the `alerts` table, as an [`AlertKey`] plus its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoredRow {
    pub key: AlertKey,
    pub alert_id: String,
}

/// Every row of the `alerts` table of the SQLite file `db` (empty when the file or table does
/// not exist yet).
pub async fn store_alerts(db: &Path) -> Vec<StoredRow> {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions as _, Row as _};
    if !db.exists() {
        return Vec::new();
    }
    let Ok(mut conn) = SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await
    else {
        return Vec::new();
    };
    let rows = sqlx::query(
        "SELECT alert_id, tenant_id, ticket_id, goal, level, threshold, state, fired_at \
         FROM alerts",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap_or_default();
    let mut out: Vec<StoredRow> = rows
        .iter()
        .map(|r| StoredRow {
            alert_id: r.get("alert_id"),
            key: (
                r.get::<i64, _>("tenant_id") as u64,
                r.get("ticket_id"),
                r.get("goal"),
                r.get("level"),
                format!("{}", r.get::<f64, _>("threshold")),
                r.get("state"),
                ts(r.get::<i64, _>("fired_at")),
            ),
        })
        .collect();
    out.sort();
    out
}

/// Polls until the store has `rows` alert rows and every one's current state was published
/// (the alert outbox: `published_state = state`), so every publish the service will make for
/// them has been acknowledged by JetStream.
pub async fn wait_published(db: &Path, rows: usize) {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::ConnectOptions as _;
    let deadline = Instant::now() + WAIT;
    loop {
        let mut conn = SqliteConnectOptions::new()
            .filename(db)
            .read_only(true)
            .connect()
            .await
            .expect("open the store");
        let unpublished: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT dedupe_key, state, published_state FROM alerts \
             WHERE published_state IS NULL OR published_state <> state ORDER BY dedupe_key",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
        let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM alerts")
            .fetch_one(&mut conn)
            .await
            .unwrap_or((-1,));
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
pub async fn store_keys(db: &Path) -> Vec<AlertKey> {
    store_alerts(db).await.into_iter().map(|r| r.key).collect()
}

/// Polls the store until its rows, as sorted keys, equal `expected` (sorted here).
pub async fn wait_for_store(db: &Path, mut expected: Vec<AlertKey>) -> Vec<StoredRow> {
    expected.sort();
    let deadline = Instant::now() + WAIT;
    loop {
        let rows = store_alerts(db).await;
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
