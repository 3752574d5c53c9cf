//! `[http]` settings.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::proxy::IpNet;
use crate::setting::ConfigDuration;

/// `[http]`: where the service listens (REST, `/ws`, `/metrics`, `/healthz`, `/readyz`, dashboard).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address and port, e.g. `"0.0.0.0:8080"`. Default `"127.0.0.1:8080"`.
    pub listen: SocketAddr,
    /// Serve `/metrics` on this address instead of `listen` (so it need not face clients);
    /// when set, the main listener answers `/metrics` with 41001. Default none (`/metrics` on
    /// `listen`).
    pub metrics_listen: Option<SocketAddr>,
    /// Most connections served at once (WebSockets included); further clients wait in the
    /// kernel's accept queue. Default 10000.
    pub max_connections: usize,
    /// Most connections open at once from one client address (an IPv6 /64 counts as one
    /// address); more are closed at once. Peers in `trusted_proxies` are exempt. Default 256.
    pub max_connections_per_ip: usize,
    /// How long a client may take to send a request's headers, and how long an idle
    /// keep-alive connection stays open waiting for the next request. Default `"15s"`.
    pub header_read_timeout: ConfigDuration,
    /// How long a REST request (its body and handler) may take before it is answered with 503;
    /// WebSocket upgrades are exempt. Default `"30s"`.
    pub request_timeout: ConfigDuration,
    /// Requests served on one keep-alive connection before the server closes it
    /// (`Connection: close` on the last answer). Default 1000.
    pub max_requests_per_connection: u32,
    /// After shutdown begins, how long open connections may take to finish before they are
    /// closed. Default `"10s"`.
    pub drain_timeout: ConfigDuration,
    /// API requests and WebSocket upgrades per minute per client IP (an IPv6 /64 counts as one
    /// client; bursts up to the same number); 0 switches the limit off. Default 100.
    pub rate_limit_per_ip: u32,
    /// API requests and WebSocket upgrades per minute per tenant (of the token); 0 switches
    /// the limit off. Default 6000.
    pub rate_limit_per_tenant: u32,
    /// Networks of the reverse proxies in front of the service, e.g. `["10.0.0.0/8",
    /// "::1/128"]`. For a request from one of them the client IP is the right-most
    /// `X-Forwarded-For` address that is not in these networks; from anywhere else the header
    /// is ignored. Default none (the header is never read).
    pub trusted_proxies: Vec<IpNet>,
    /// Kernel send buffer per connection, in bytes (0: the OS default). It bounds the memory
    /// a slow client can hold and how soon its queue fills. Default 262144.
    pub send_buffer_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: None,
            max_connections: 10_000,
            max_connections_per_ip: 256,
            header_read_timeout: ConfigDuration::from_secs(15),
            request_timeout: ConfigDuration::from_secs(30),
            max_requests_per_connection: 1000,
            drain_timeout: ConfigDuration::from_secs(10),
            rate_limit_per_ip: 100,
            rate_limit_per_tenant: 6000,
            trusted_proxies: Vec::new(),
            send_buffer_bytes: 256 * 1024,
        }
    }
}
