//! `[http]` settings.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::config::ConfigDuration;

/// `[http]`: where the service listens (REST, `/ws`, `/metrics`, `/healthz`, `/readyz`, dashboard).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address and port, e.g. `"0.0.0.0:8080"`. Default `"127.0.0.1:8080"`.
    pub listen: SocketAddr,
    /// Most connections served at once (WebSockets included); further clients wait in the
    /// kernel's accept queue. Default 10000.
    pub max_connections: usize,
    /// After shutdown begins, how long open connections may take to finish before they are
    /// closed. Default `"10s"`.
    pub drain_timeout: ConfigDuration,
    /// API requests and WebSocket upgrades per minute per client IP (bursts up to the same
    /// number); 0 switches the limit off. Default 100.
    pub rate_limit_per_ip: u32,
    /// API requests and WebSocket upgrades per minute per tenant (of the token); 0 switches
    /// the limit off. Default 6000.
    pub rate_limit_per_tenant: u32,
    /// Take the client IP from the first `X-Forwarded-For` address (only behind a proxy that
    /// sets it). Default false.
    pub trust_forwarded_for: bool,
    /// Kernel send buffer per connection, in bytes (0: the OS default). It bounds the memory
    /// a slow client can hold and how soon its queue fills. Default 262144.
    pub send_buffer_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_connections: 10_000,
            drain_timeout: ConfigDuration::from_secs(10),
            rate_limit_per_ip: 100,
            rate_limit_per_tenant: 6000,
            trust_forwarded_for: false,
            send_buffer_bytes: 256 * 1024,
        }
    }
}
