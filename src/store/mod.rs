//! The SQL store (sqlx): SQLite by default (`sqlite://data/vigil.db`), PostgreSQL at scale.
//! Migrations are embedded per dialect (`migrations/sqlite`, `migrations/postgres`) and run on
//! connect. It holds the alerts, written idempotently so replays and restarts never record (and
//! so never publish) the same alert change twice, and each partition's handled sequence.

pub mod alerts;
pub mod config;
pub mod error;
pub mod notifications;
pub mod outbox;
pub mod pool;
pub mod progress;

#[cfg(test)]
mod tests;

pub use alerts::{AlertWrite, StoredAlert, Transition};
pub use config::StoreConfig;
pub use error::StoreError;
pub use pool::{Backend, Store};
