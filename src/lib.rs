//! Vigil's service shell: configuration, the alert store, telemetry and the operational HTTP
//! endpoints. The engine lives in `vigil-actors`, events and JetStream in `vigil-streams`; the
//! `vigil` binary wires them together.
//!
//! # Layout
//! - [`config`]: `vigil.toml` and tenant policy files, environment overrides, validation.
//! - [`store`]: the SQL store (SQLite or PostgreSQL via sqlx): alerts, written idempotently.
//! - [`telemetry`]: metric names and helpers, the Prometheus recorder, log setup.
//! - [`http`]: the HTTP router (`/metrics`, `/healthz`, `/readyz`), the envelope and serving.

#![warn(missing_docs)]

pub mod config;
pub mod http;
pub mod store;
pub mod telemetry;
