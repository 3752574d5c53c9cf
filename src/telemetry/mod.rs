//! Telemetry: every metric name in one place ([`metrics`]), the Prometheus recorder whose text
//! `/metrics` serves ([`recorder`]), bounded per-tenant labels ([`labels`]) and log setup
//! ([`logging`], with the text format's field escaping in [`escape`]).

pub mod config;
pub mod escape;
pub mod labels;
pub mod logging;
pub mod metrics;
pub mod recorder;

#[cfg(test)]
mod tests;

pub use config::{LogConfig, MetricsConfig};
pub use labels::{TenantLabel, TenantLabels};
pub use logging::{init_logging, LogFormat};
pub use recorder::{install_recorder, local_recorder, upkeep, MetricsHandle};

/// Why telemetry could not be set up. Both happen only at start-up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A metrics recorder was already installed in this process, or the exporter rejected its
    /// settings.
    #[error("cannot install the Prometheus recorder: {0}")]
    Recorder(#[from] metrics_exporter_prometheus::BuildError),
    /// The log filter does not parse (`RUST_LOG` syntax).
    #[error("invalid log filter {filter:?}: {source}")]
    LogFilter {
        /// The filter as given.
        filter: String,
        /// What the parser said.
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global tracing subscriber was already set.
    #[error("cannot install the log subscriber: {0}")]
    Subscriber(String),
}
