//! Log setup: `tracing` events to stderr as text or JSON, filtered `RUST_LOG`-style.

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

use super::TelemetryError;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, with the current span's fields.
    Json,
}

/// Builds the filter: `RUST_LOG` when set and not blank, else `default_filter` (e.g. `"info"`).
pub fn env_filter(default_filter: &str) -> Result<EnvFilter, TelemetryError> {
    build_filter(std::env::var("RUST_LOG").ok(), default_filter)
}

/// The filter from an optional `RUST_LOG` value and the configured default.
pub fn build_filter(
    rust_log: Option<String>,
    default_filter: &str,
) -> Result<EnvFilter, TelemetryError> {
    let filter = match rust_log {
        Some(v) if !v.trim().is_empty() => v,
        _ => default_filter.to_string(),
    };
    EnvFilter::builder()
        .parse(&filter)
        .map_err(|source| TelemetryError::LogFilter { filter, source })
}

/// Installs the global `tracing` subscriber writing to stderr. Call once, early in `main`.
pub fn init_logging(format: LogFormat, default_filter: &str) -> Result<(), TelemetryError> {
    let filter = env_filter(default_filter)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    result.map_err(|e| TelemetryError::Subscriber(e.to_string()))
}
