//! The SQL store (sqlx): SQLite by default (`sqlite://data/vigil.db`), PostgreSQL at scale.
//! Migrations are embedded per dialect (`migrations/sqlite`, `migrations/postgres`) and run on
//! connect. It holds the alerts, written idempotently so replays and restarts never record (and
//! so never publish) the same alert change twice, each partition's handled sequence, snapshot
//! and fence, the notification outbox (and its operator view), silences, the keys the notifier
//! shares between instances, our SLA records with the partner outbox, partner
//! reconciliations, and the configuration center's append-only trail of changes.
//!
//! [`Store`] is the connection pool (cheap to clone and share). Each feature has a store type
//! of its own that [`Store`] hands out (`store.alerts().get(id)`,
//! `store.partner_outbox().claim(…)`): a `Copy` handle borrowing the pool, free to make, whose
//! methods take it by value, so the futures they return borrow the [`Store`] and not the
//! handle.
//!
//! # Layout
//! The store stays one layer (the API and the notifier, the partner workers and the service
//! call into it), with one store type per feature rather than one folder per feature holding
//! its storage, logic and handlers: the features share one pool, one error type, one pair of
//! migration sets and a few SQL helpers, and their logic and handlers are organised by layer in
//! `notify/`, `partner/` and `api/`. A store type per feature gives each feature's tables one
//! owner and one small surface without moving code across those layers.
//!
//! - [`pool`]: [`Store`], connecting: dialect by URL scheme, migrations, pool limits.
//!   [`config`]: `[store]`.
//! - [`error`]: store errors, split by whether a retry can help. `sql`: shared SQL helpers;
//!   `rfc3339`: instants as RFC 3339 in rows the API sends as they are.
//! - [`alerts`]: [`Alerts`], alert state changes recorded idempotently; lists,
//!   acknowledgement; `alert_batch`: a batch of changes in a few statements;
//!   `alert_change`: what recording one change means (the forward-only rule, its outcome).
//! - [`alert_outbox`]: [`AlertOutbox`], alert states still to be published on JetStream.
//! - [`progress`]: [`PartitionProgress`], each partition's last handled stream sequence.
//! - [`snapshots`]: [`Snapshots`], each partition's latest snapshot of engine state.
//! - [`fences`]: [`PartitionFences`], the lease revision under which each partition's
//!   alerts, progress and snapshots may be written.
//! - [`notifications`]: [`Notifications`], the notification outbox;
//!   [`notification_admin`]: its operator view.
//! - [`silences`]: [`Silences`]; [`notify_keys`]: [`NotifyKeys`], keys every notifier instance
//!   shares.
//! - [`sla_records`]: [`SlaRecords`], our SLA records, queued for partners as they change.
//! - [`partner_outbox`]: [`PartnerOutbox`], which partner has which record; claims, outcomes,
//!   operator retries.
//! - [`reconciliation_runs`]: [`Reconciliations`], reconciliation runs and their reports;
//!   [`reconciliation_pages`]: the pages a running run has counted, and finishing it;
//!   [`reconciliation_diffs`]: the diffs a run keeps.
//! - [`report_facts`]: [`ReportFacts`], what SLA reports are computed from: the facts of
//!   tickets, each written once, and their daily rollups; [`report_jobs`]: [`ReportJobs`],
//!   report jobs queued, claimed under a lease and finished with their file;
//!   [`report_deliveries`]: [`ReportDeliveries`], the emails of scheduled reports.
//! - [`leases`]: [`Leases`], named leases, one holder at a time.
//! - [`config_changes`]: [`ConfigChanges`], the configuration center's versioned, append-only
//!   changes of runtime configuration keys: the values in force, each key's history, the audit.
//! - [`test_support`]: stores for tests (a PostgreSQL schema of their own); not for the
//!   product. The store's own tests, on both dialects: `tests` (connecting, alerts, progress),
//!   `notify_tests`, `partner_tests`, `reconciliation_tests`, `config_changes_tests`,
//!   `report_tests`.

mod alert_batch;
mod alert_change;
pub mod alert_outbox;
pub mod alerts;
pub mod config;
pub mod config_changes;
pub mod error;
pub mod fences;
pub mod leases;
pub mod notification_admin;
pub mod notifications;
pub mod notify_keys;
pub mod partner_outbox;
pub mod pool;
pub mod progress;
pub mod reconciliation_diffs;
pub mod reconciliation_pages;
pub mod reconciliation_runs;
pub mod report_deliveries;
pub mod report_facts;
pub mod report_jobs;
mod rfc3339;
pub mod silences;
pub mod sla_records;
pub mod snapshots;
mod sql;
#[doc(hidden)]
pub mod test_support;

#[cfg(test)]
mod config_changes_tests;
#[cfg(test)]
mod notify_tests;
#[cfg(test)]
mod partner_tests;
#[cfg(test)]
mod reconciliation_tests;
#[cfg(test)]
mod report_tests;
#[cfg(test)]
mod tests;

pub use alert_outbox::AlertOutbox;
pub use alerts::{AlertWrite, Alerts, StoredAlert, Transition};
pub use config::StoreConfig;
pub use config_changes::{
    AppendError, AuditFilter, ChangeOp, ConfigChanges, NewChange, StoredChange,
};
pub use error::StoreError;
pub use fences::{Fence, PartitionFences};
pub use leases::Leases;
pub use notification_admin::{OutboxEntry, OutboxState};
pub use notifications::Notifications;
pub use notify_keys::NotifyKeys;
pub use partner_outbox::{
    ClaimedRecord, DeliveryOutcome, PartnerOutbox, PartnerOutboxEntry, PartnerOutboxStats,
};
pub use pool::{Backend, Store};
pub use progress::PartitionProgress;
pub use reconciliation_diffs::{DiffKind, NewDiff, ReconciliationDiff};
pub use reconciliation_pages::RunCounts;
pub use reconciliation_runs::{OpenedRun, ReconciliationRun, Reconciliations};
pub use report_deliveries::{DueDelivery, ReportDeliveries};
pub use report_facts::{FactCounts, FactRow, ReportFacts};
pub use report_jobs::{EnqueueError, NewReportJob, ReportFile, ReportJob, ReportJobs};
pub use silences::{Silence, SilenceExpiry, SilenceFilter, StoredSilence};
pub use sla_records::SlaRecords;
pub use snapshots::{Snapshots, StoredSnapshot};
