//! Connecting to the store: dialect by URL scheme, SQLite file creation, pool limits, embedded
//! migrations.

use std::path::Path;
use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::config::StoreConfig;
use super::error::StoreError;

/// Migrations for SQLite, embedded at build time.
pub(crate) static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
/// Migrations of an SQLite store's reporting database (see [`Store::connect_with`]).
static SQLITE_HISTORY_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite-reports");
/// Migrations for PostgreSQL, embedded at build time.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long SQLite waits for a lock held by another connection before failing as busy.
pub const SQLITE_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The database behind a [`Store`].
#[derive(Debug, Clone)]
pub enum Backend {
    /// An SQLite file (one writer at a time; WAL journal).
    Sqlite(SqlitePool),
    /// A PostgreSQL database shared by every instance.
    Postgres(PgPool),
}

/// A handle to the store: a connection pool; cheap to clone and share.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    /// Where the reporting history lives (`ticket_facts`, `report_daily`): on SQLite a file of
    /// its own, on PostgreSQL the same database as everything else.
    pub(crate) history: Backend,
}

/// Runs `$body` with `$pool` bound to the dialect's pool; the SQL text must suit both dialects.
macro_rules! on_backend {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_backend;

impl Store {
    /// Connects with default pool settings, creating a missing SQLite file (and its
    /// directory), and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(&StoreConfig {
            url: url.to_string(),
            ..StoreConfig::default()
        })
        .await
    }

    /// Connects as configured by `[store]` and brings the schema up to date. Fails with a
    /// retryable [`StoreError::Unavailable`] when the database cannot be reached.
    ///
    /// An SQLite store keeps its reporting history in a second file beside its own
    /// (`vigil.db` → `vigil-reports.db`) with a pool of its own: SQLite
    /// has one writer per file, and the fact writer's transactions, the largest the service
    /// makes, would otherwise hold the lock the alert writer and the outboxes wait for.
    pub async fn connect_with(config: &StoreConfig) -> Result<Store, StoreError> {
        let url = config.url.trim();
        let max = config.max_connections.max(1);
        let acquire = config.acquire_timeout.as_std();
        let store = if url.starts_with("sqlite:") {
            let options = sqlite_options(url)?;
            let history = sqlite_pool(history_options(url, &options)?, max, acquire).await?;
            SQLITE_HISTORY_MIGRATIONS.run(&history).await?;
            let pool = sqlite_pool(options.clone(), max, acquire).await?;
            if !in_memory(url, options.get_filename()) {
                move_history(&pool, options.get_filename()).await?;
            }
            SQLITE_MIGRATIONS.run(&pool).await?;
            Store {
                backend: Backend::Sqlite(pool),
                history: Backend::Sqlite(history),
            }
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options =
                PgConnectOptions::from_str(url).map_err(|e| invalid_url(url, e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(acquire)
                .connect_with(options)
                .await?;
            POSTGRES_MIGRATIONS.run(&pool).await?;
            let backend = Backend::Postgres(pool);
            Store {
                history: backend.clone(),
                backend,
            }
        } else {
            return Err(invalid_url(
                url,
                "expected sqlite://… or postgres://…".to_string(),
            ));
        };
        tracing::info!(url = %redact(url), "store connected and migrated");
        Ok(store)
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_backend!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// The pool, for components that keep their own tables in this store.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Closes every connection after the operations in flight.
    pub async fn close(&self) {
        on_backend!(self, |pool| pool.close().await);
        match &self.history {
            Backend::Sqlite(pool) => pool.close().await,
            // The same pool as the store's.
            Backend::Postgres(_) => {}
        }
    }
}

/// The connect options of the SQLite file of `url`, its directory created when missing.
pub(crate) fn sqlite_options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| invalid_url(url, e.to_string()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT);
    create_parent_dir(url, &options)?;
    Ok(options)
}

/// A pool of at most `max` connections to one SQLite file; not migrated.
pub(crate) async fn sqlite_pool(
    options: SqliteConnectOptions,
    max: u32,
    acquire: std::time::Duration,
) -> Result<SqlitePool, StoreError> {
    Ok(SqlitePoolOptions::new()
        .max_connections(max)
        .acquire_timeout(acquire)
        .connect_with(options)
        .await?)
}

/// The connect options of an SQLite store's reporting history: the store's, on the file
/// [`history_file`] names, or on an in-memory database of its own for an in-memory store.
fn history_options(
    url: &str,
    options: &SqliteConnectOptions,
) -> Result<SqliteConnectOptions, StoreError> {
    let path = options.get_filename();
    if in_memory(url, path) {
        return sqlite_options("sqlite::memory:");
    }
    Ok(options.clone().filename(history_file(path)))
}

/// The file of an SQLite store's reporting history, beside the store's file at `path`:
/// `vigil.db` → `vigil-reports.db`.
fn history_file(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-reports.{}", ext.to_string_lossy()),
        None => format!("{stem}-reports"),
    };
    path.with_file_name(name).to_string_lossy().into_owned()
}

/// Moves a reporting history kept in the store's own file at `path` (before it had one of its
/// own) to the reporting database, whose tables migration 0014 then drops from the store's file.
/// Rows already there are kept, so a move cut short is finished at the next start.
async fn move_history(pool: &SqlitePool, path: &Path) -> Result<(), StoreError> {
    use sqlx::Connection;
    let kept: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'ticket_facts'",
    )
    .fetch_one(pool)
    .await?;
    if kept == 0 {
        return Ok(());
    }
    let mut conn = pool.acquire().await?;
    sqlx::query("ATTACH DATABASE ?1 AS history")
        .bind(history_file(path))
        .execute(&mut *conn)
        .await?;
    let mut tx = conn.begin().await?;
    for (table, sql) in [
        (
            "ticket_facts",
            "INSERT OR IGNORE INTO history.ticket_facts SELECT * FROM main.ticket_facts",
        ),
        (
            "report_daily",
            "INSERT OR IGNORE INTO history.report_daily SELECT * FROM main.report_daily",
        ),
    ] {
        let moved = sqlx::query(sql).execute(&mut *tx).await?.rows_affected();
        tracing::info!(
            table,
            rows = moved,
            "reporting history moved to its own file"
        );
    }
    tx.commit().await?;
    sqlx::query("DETACH DATABASE history")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Whether the SQLite store of `url` (file `path`) is an in-memory database.
fn in_memory(url: &str, path: &Path) -> bool {
    url.contains(":memory:")
        || url.contains("mode=memory")
        || path.as_os_str().to_string_lossy().starts_with("file:")
}

fn invalid_url(url: &str, reason: String) -> StoreError {
    StoreError::InvalidUrl {
        url: redact(url),
        reason,
    }
}

/// The URL with its credentials hidden (see [`crate::redact::url`]).
pub fn redact(url: &str) -> String {
    crate::redact::url(url)
}

fn create_parent_dir(url: &str, options: &SqliteConnectOptions) -> Result<(), StoreError> {
    let path = options.get_filename();
    if in_memory(url, path) {
        return Ok(());
    }
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })
        }
        _ => Ok(()),
    }
}
