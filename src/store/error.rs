//! Store errors, split by whether a retry can help.

use std::path::PathBuf;

/// What went wrong with the store. [`StoreError::is_retryable`] tells the caller whether to
/// wait and try again (the database is unreachable, busy or shutting down) or to give up on the
/// data (it violates a constraint or cannot be represented).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is neither `sqlite:` nor `postgres:`/`postgresql:`, or does not parse.
    #[error("invalid store URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL with any password hidden.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The SQLite file's directory could not be created.
    #[error("cannot create the directory {path} for the SQLite database: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The database cannot be reached or is temporarily unable to serve (connection refused or
    /// lost, pool timeout, lock contention, serialization failure). A retry can help.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The database refused the statement or the data (constraint violation, bad value). A
    /// retry cannot help.
    #[error("store rejected the operation: {0}")]
    Rejected(#[source] sqlx::Error),
    /// Schema migration failed (e.g. the database has migrations this build does not know).
    #[error("store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A record cannot be stored as it is (tenant id above 2^63-1, an alert id that is not the
    /// one of its dedupe key). A retry cannot help.
    #[error("{record}: {reason}")]
    InvalidRecord {
        /// Which record, e.g. `alert 5f0c…` or `partition 3`.
        record: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A write of a partition's alerts, progress or snapshot carried a lease revision older
    /// than the one the store holds: another instance took the partition over. A retry cannot
    /// help; this instance must stop working on the partition.
    #[error("partition {partition} was taken over (its fence is now {current}, this write carries {carried}); this instance no longer owns it")]
    Fenced {
        /// The partition.
        partition: u32,
        /// The lease revision the write carried.
        carried: u64,
        /// The lease revision the store holds (0: the partition was never claimed).
        current: u64,
    },
    /// A stored row cannot be read back (unknown enum text, out-of-range number).
    #[error("corrupt row in {table}: {message}")]
    CorruptRow {
        /// The table.
        table: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl StoreError {
    /// Whether waiting and retrying the same operation can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => is_transient(e),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_transient(&e) {
            StoreError::Unavailable(e)
        } else {
            StoreError::Rejected(e)
        }
    }
}

/// Whether an sqlx error is about reaching or contending for the database rather than about
/// the statement or data.
fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or("");
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLITE_BUSY (5) and SQLITE_LOCKED (6), possibly as extended codes.
                code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
            } else {
                // SQLSTATE: 08 connection exception, 40001 serialization failure, 40P01
                // deadlock, 53 insufficient resources, 57P0x operator intervention (shutdown).
                code.starts_with("08")
                    || code == "40001"
                    || code == "40P01"
                    || code.starts_with("53")
                    || code.starts_with("57P0")
            }
        }
        _ => false,
    }
}

/// Converts an sqlx error and counts it in `vigil_store_errors_total`.
pub(crate) fn counted(e: sqlx::Error) -> StoreError {
    let e = StoreError::from(e);
    crate::telemetry::metrics::store_errors(e.is_retryable()).increment(1);
    e
}
