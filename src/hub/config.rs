//! `[ws]`: the WebSocket hub's limits and timings.

use serde::{Deserialize, Serialize};

use crate::config::ConfigDuration;

/// `[ws]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WsConfig {
    /// Most `metrics` (and `ticket`) updates per second per tenant; changes in between are
    /// coalesced into the next one. Default 4.
    pub metrics_per_second: u32,
    /// Messages waiting for one client before superseded updates are dropped. A client
    /// whose queue is this full of alerts and that has taken nothing for
    /// `slow_client_timeout` (or that falls 16 times this far behind) is closed with 1013.
    /// Default 256.
    pub client_queue: usize,
    /// See `client_queue`. Default `"5s"`.
    pub slow_client_timeout: ConfigDuration,
    /// Alert messages kept per tenant for `resume_from`. Default 256.
    pub resume_buffer: usize,
    /// How often the server pings each client. Default `"30s"`.
    pub ping_interval: ConfigDuration,
    /// A client silent (no frame, no pong) this long is dropped. Default `"90s"`.
    pub idle_timeout: ConfigDuration,
    /// Most WebSocket connections in total. Default 10000.
    pub max_clients: usize,
    /// Most WebSocket connections per tenant (of the token). Default 1000.
    pub max_clients_per_tenant: usize,
    /// Tickets in the `tickets` snapshot (closest to breach). Default 50.
    pub at_risk_tickets: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            metrics_per_second: 4,
            client_queue: 256,
            slow_client_timeout: ConfigDuration::from_secs(5),
            resume_buffer: 256,
            ping_interval: ConfigDuration::from_secs(30),
            idle_timeout: ConfigDuration::from_secs(90),
            max_clients: 10_000,
            max_clients_per_tenant: 1000,
            at_risk_tickets: 50,
        }
    }
}
