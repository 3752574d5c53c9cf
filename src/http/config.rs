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
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_connections: 10_000,
            drain_timeout: ConfigDuration::from_secs(10),
        }
    }
}
