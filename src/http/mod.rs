//! The HTTP side of the service: the platform envelope every JSON answer uses ([`envelope`]),
//! readiness flags ([`readiness`]), the operational routes `/metrics`, `/healthz`, `/readyz` and
//! the shared middleware ([`router`]), and serving with a connection cap and graceful shutdown
//! ([`serve`]). API routes (alerts, dashboard, ingest, `/ws`) are merged in by their owners
//! before [`router::finish`].

pub mod config;
pub mod envelope;
pub mod ratelimit;
pub mod readiness;
pub mod router;
pub mod serve;

#[cfg(test)]
mod tests;

pub use config::HttpConfig;
pub use envelope::{current_request_id, ApiError, Envelope, RequestId};
pub use ratelimit::RateLimits;
pub use readiness::Readiness;
pub use router::{finish, ops_routes, router, OpsState};
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
