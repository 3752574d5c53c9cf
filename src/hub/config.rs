//! `[ws]`: the WebSocket hub's limits and timings.

use std::num::{NonZeroU32, NonZeroUsize};

use serde::{Deserialize, Serialize};

use crate::setting::ConfigDuration;

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
    /// Largest message a client may send, in bytes; a larger one closes the connection with
    /// 1009. (Requests are small: a subscription is well under 1 KiB.) Default 65536 (64 KiB).
    pub max_message_bytes: NonZeroUsize,
    /// Messages a client may send per second, on average, per connection (each subscription
    /// runs a store query). Messages beyond it are ignored: the first is answered with an
    /// error 40005 saying how long to wait (`retry_after_ms`), the others until then are not
    /// answered; the connection stays open. Default 10.
    pub messages_per_second: NonZeroU32,
    /// Messages a client may send at once before `messages_per_second` applies. Default 20.
    pub message_burst: NonZeroU32,
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
            max_message_bytes: NonZeroUsize::new(64 * 1024).unwrap_or(NonZeroUsize::MIN),
            messages_per_second: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
            message_burst: NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN),
        }
    }
}
