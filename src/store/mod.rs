//! The SQL store (sqlx): SQLite by default (`sqlite://data/vigil.db`), PostgreSQL at scale.
//! Migrations are embedded per dialect (`migrations/sqlite`, `migrations/postgres`) and run on
//! connect. It holds the alerts, written idempotently so replays and restarts never record (and
//! so never publish) the same alert change twice, each partition's handled sequence, the
//! notification outbox (and its operator view, `notification_admin`), silences, and the keys
//! the notifier shares between instances (`notify_keys`).
//!
//! # Layout
//! - [`pool`]: connecting: dialect by URL scheme, migrations, pool limits. [`config`]: `[store]`.
//! - [`error`]: store errors, split by whether a retry can help.
//! - [`alerts`]: alert state changes, recorded idempotently; lists, acknowledgement.
//! - [`outbox`]: alert states still to be published on JetStream.
//! - [`progress`]: each partition's last handled stream sequence.
//! - [`notifications`]: the notification outbox; [`notification_admin`]: its operator view.
//! - [`silences`]: silences; [`notify_keys`]: keys every notifier instance shares.
//! - [`partners`]: our SLA records and the partner outbox.
//! - [`reconciliations`]: reconciliation runs, their pages, leases and reports.

pub mod alerts;
pub mod config;
pub mod error;
pub mod notification_admin;
pub mod notifications;
pub mod notify_keys;
pub mod outbox;
pub mod partners;
pub mod pool;
pub mod progress;
pub mod reconciliations;
pub mod silences;

#[cfg(test)]
mod notify_tests;
#[cfg(test)]
mod partner_tests;
#[cfg(test)]
mod test_stores;
#[cfg(test)]
mod tests;

pub use alerts::{AlertWrite, StoredAlert, Transition};
pub use config::StoreConfig;
pub use error::StoreError;
pub use notification_admin::{OutboxEntry, OutboxState};
pub use partners::{ClaimedRecord, DeliveryOutcome, PartnerOutboxEntry, PartnerOutboxStats};
pub use pool::{Backend, Store};
pub use reconciliations::{
    DiffKind, NewDiff, OpenedRun, ReconciliationDiff, ReconciliationRun, RunCounts,
};
pub use silences::{Silence, SilenceExpiry, SilenceFilter, StoredSilence};
