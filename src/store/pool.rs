//! Connecting to the store: dialect by URL scheme, SQLite file creation, pool limits, embedded
//! migrations.

use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::config::StoreConfig;
use super::error::StoreError;

/// Migrations for SQLite, embedded at build time.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
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
    pub async fn connect_with(config: &StoreConfig) -> Result<Store, StoreError> {
        let url = config.url.trim();
        let max = config.max_connections.max(1);
        let acquire = config.acquire_timeout.as_std();
        let backend = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| invalid_url(url, e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT);
            create_parent_dir(url, &options)?;
            let pool = SqlitePoolOptions::new()
                .max_connections(max)
                .acquire_timeout(acquire)
                .connect_with(options)
                .await?;
            SQLITE_MIGRATIONS.run(&pool).await?;
            Backend::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options =
                PgConnectOptions::from_str(url).map_err(|e| invalid_url(url, e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(acquire)
                .connect_with(options)
                .await?;
            POSTGRES_MIGRATIONS.run(&pool).await?;
            Backend::Postgres(pool)
        } else {
            return Err(invalid_url(
                url,
                "expected sqlite://… or postgres://…".to_string(),
            ));
        };
        tracing::info!(url = %redact(url), "store connected and migrated");
        Ok(Store { backend })
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
    }
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
    let in_memory = url.contains(":memory:")
        || url.contains("mode=memory")
        || path.as_os_str().to_string_lossy().starts_with("file:");
    if in_memory {
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
