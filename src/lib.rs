//! Vigil's service shell: configuration, the alert store, telemetry and the operational HTTP
//! endpoints. The engine lives in `vigil-engine`, events and JetStream in `vigil-streams`; the
//! `vigil` binary wires them together.
//!
//! # Layout
//! - [`config`]: `vigil.toml` and tenant policy files, environment overrides, validation.
//! - [`flags`]: feature flags: rules (tenant lists, stable percentages) evaluated in process.
//! - [`runtime_config`]: the configuration center: the runtime layer above the files, its
//!   versions and audit in the store, feature flags, applied by every instance.
//! - [`secrets`]: secrets the providers read, set at run time over the environment, sealed
//!   with AES-256-GCM in the store; providers rebuilt when they change.
//! - [`setting`]: what every section is built from: durations as text, field paths.
//! - [`store`]: the SQL store (SQLite or PostgreSQL via sqlx): alerts, written idempotently.
//! - [`telemetry`]: metric names and helpers, the Prometheus recorder, log setup.
//! - [`limits`]: rate limits held across instances through Redis, or in the process.
//! - [`http`]: the HTTP router (`/metrics`, `/healthz`, `/readyz`), the envelope, rate limits
//!   and serving.
//! - [`auth`]: JWT verification and minting, roles, tenant isolation.
//! - [`api`]: the REST API, `/ws` and the dashboard page.
//! - [`hub`]: the WebSocket hub: subscriptions, snapshots, coalesced fan-out.
//! - [`alert_fanout`]: where recorded alert changes go: the hub at once, then JetStream
//!   (`vigil.alerts.<tenant>`) from a publisher task; the store is the outbox.
//! - [`notify`]: on-call notifications: routing, escalation, the outbox's intake and dispatch,
//!   providers, ack tokens.
//! - [`partner`]: exchange partners: partner outboxes, delivery workers, reconciliation.
//! - [`report`]: SLA reports of a tenant over a period, from the store's goal outcomes, as
//!   JSON, CSV, Excel or PDF.
//! - [`redact`]: credentials in configured URLs hidden before they are printed or logged.
//! - [`tenant_reads`]: reads of a tenant's engine any instance answers: on the local actors,
//!   or asked of the partition's owner over NATS.
//! - [`views`]: the JSON shapes the API and the hub send, below both.
//! - [`clock`]: the wall clock the shell reads for "now".
//! - [`http_client`]: the outbound HTTP client notify and partner share, and how an answer
//!   is classed (retryable or not) and read.
//! - [`breaker`]: the circuit breaker notify and partner put in front of a peer.
//! - [`retry`]: the one jittered back-off, and how far a peer's `Retry-After` is followed.
//! - [`csv`]: RFC 4180 lines with formula-safe fields, for every CSV download.
//! - [`hex`]: lower-case hex for signatures and hashes.

pub mod alert_fanout;
pub mod api;
pub mod auth;
pub mod breaker;
pub mod clock;
pub mod config;
pub mod csv;
pub mod flags;
pub mod hex;
pub mod http;
pub mod http_client;
pub mod hub;
pub mod limits;
pub mod notify;
pub mod partner;
pub mod redact;
pub mod report;
pub mod retry;
pub mod runtime_config;
pub mod secrets;
pub mod setting;
pub mod store;
pub mod telemetry;
pub mod tenant_reads;
pub mod views;

/// Completes when a stop flag turns true (or its sender is gone). The guard `wait_for`
/// returns is dropped here, so callers stay `Send` across awaits.
pub async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// A spawned task aborted when this is dropped, so work that ends early stops what it
/// started (a dispatch round's sends, a reconciliation's page fetcher).
pub struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
