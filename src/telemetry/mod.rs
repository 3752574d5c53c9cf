//! Telemetry: every metric name in one place, the Prometheus recorder whose text `/metrics`
//! serves, bounded per-tenant labels, the process metrics and log set-up.
//!
//! # Layout
//! - [`metrics`]: every metric name, its description, and one helper per metric;
//!   [`cluster_metrics`]: those of leases, snapshots and recovery.
//! - [`recorder`]: the Prometheus recorder, its [`MetricsHandle`] and the periodic [`upkeep`].
//! - [`process`]: CPU, resident memory and file descriptors of the process, from `/proc/self`,
//!   set on every upkeep tick.
//! - [`labels`]: bounded per-tenant label values.
//! - [`logging`]: the log subscriber (text or JSON) and its filter.
//! - [`escape`]: field escaping of the text log format (no forged lines).
//! - [`config`]: the `[log]` and `[metrics]` configuration sections.

pub mod cluster_metrics;
pub mod config;
pub mod escape;
pub mod labels;
pub mod logging;
pub mod metrics;
pub mod process;
pub mod recorder;

#[cfg(test)]
mod tests;

pub use config::{LogConfig, MetricsConfig};
pub use labels::{TenantLabel, TenantLabels};
pub use logging::{init_logging, reload_filter, LogFormat};
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
