//! The HTTP side of the service: the platform envelope every JSON answer uses ([`envelope`]),
//! readiness flags ([`readiness`]), the operational routes `/metrics`, `/healthz`, `/readyz` and
//! the shared middleware ([`router`]), and serving with connection caps, time-outs and graceful
//! shutdown ([`serve`]). API routes (alerts, dashboard, ingest, `/ws`) are merged in by their
//! owners before [`router::finish`]; the service hands them to [`Listeners::serve`], which puts
//! `/metrics` on its own listener when `[http] metrics_listen` is set.
//!
//! # Layout
//! - [`config`]: the `[http]` settings.
//! - [`envelope`]: the envelope, error codes, request ids.
//! - [`router`]: operational routes, fallbacks, the per-request middleware and time-out.
//! - [`serve`]: the accept loop and connections (hyper, HTTP/1.1 with upgrades).
//! - [`conn_limit`]: open connections per client address.
//! - [`listeners`]: the main listener and the optional `/metrics` one.
//! - [`proxy`]: trusted proxy networks and the client address behind them.
//! - [`ratelimit`]: request rate limits per client and per tenant.
//! - [`readiness`]: what `/readyz` reports.

pub mod config;
pub mod conn_limit;
pub mod envelope;
pub mod listeners;
pub mod proxy;
pub mod ratelimit;
pub mod readiness;
pub mod router;
pub mod serve;

#[cfg(test)]
mod tests;

pub use config::HttpConfig;
pub use envelope::{current_request_id, ApiError, Envelope, RequestId};
pub use listeners::Listeners;
pub use proxy::IpNet;
pub use ratelimit::RateLimits;
pub use readiness::Readiness;
pub use router::{finish, health_routes, metrics_routes, ops_routes, router, OpsState};
pub use serve::{bind, serve, serve_with, ServeOptions};

/// Why the HTTP server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The listen address could not be bound (in use, not local, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}
