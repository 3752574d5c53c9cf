//! The notification storm benchmark's tools (driven by `load-tests/bench/notify.sh`): a storm
//! of overdue tickets in front of a calm backlog, a counting gateway for the notifier to send
//! to, and a watcher of the service's ingest. `vigil-load` cannot link `vigil`, so the script
//! runs the real `vigil run` between them and reads the outbox from its SQLite file.
//!
//! # Layout
//! - [`storm`]: the workload: overdue tickets that raise all their alerts at once, calm tickets
//!   that raise none.
//! - [`publish`]: `vigil-load storm`: creates the streams and publishes the workload.
//! - [`sink`]: `vigil-load sms-sink`: the peers' fake gateway, counting messages and the
//!   notifications folded into them.
//! - [`watch`]: `vigil-load ingest-watch`: the service's ingest rate from `/metrics`.

pub mod publish;
pub mod sink;
pub mod storm;
pub mod watch;
