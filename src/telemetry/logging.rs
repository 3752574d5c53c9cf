//! Log setup: `tracing` events to stderr as text or JSON, filtered `RUST_LOG`-style. Either
//! way one event is one line: JSON escapes control characters in strings, and the text format
//! escapes them in every field value ([`EscapedFields`]), so outside input in a field cannot
//! forge a log line.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use super::escape::EscapedFields;
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

/// The text-format subscriber writing to `writer`: what [`init_logging`] installs for
/// [`LogFormat::Text`], with control characters in field values escaped.
pub fn text_subscriber<W>(filter: EnvFilter, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .fmt_fields(EscapedFields)
        .finish()
}

/// Puts a filter in force in the installed subscriber.
type ApplyFilter = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

/// What changes the running process's log filter: set once by [`init_logging`].
struct FilterReload {
    /// The filter the process started with (`RUST_LOG`, else the configured one).
    start: String,
    /// Puts a filter in force.
    apply: ApplyFilter,
}

static FILTER_RELOAD: OnceLock<FilterReload> = OnceLock::new();

/// Installs the global `tracing` subscriber writing to stderr. Call once, early in `main`.
/// Its filter can be replaced later with [`reload_filter`].
pub fn init_logging(format: LogFormat, default_filter: &str) -> Result<(), TelemetryError> {
    let start = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => v,
        _ => default_filter.to_string(),
    };
    let filter = env_filter(default_filter)?;
    let (result, apply): (_, ApplyFilter) = match format {
        LogFormat::Text => {
            let builder = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .fmt_fields(EscapedFields)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            (
                builder.try_init().map_err(|e| e.to_string()),
                Box::new(move |f| handle.reload(f).map_err(|e| e.to_string())),
            )
        }
        LogFormat::Json => {
            let builder = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            (
                builder.try_init().map_err(|e| e.to_string()),
                Box::new(move |f| handle.reload(f).map_err(|e| e.to_string())),
            )
        }
    };
    result.map_err(TelemetryError::Subscriber)?;
    let _ = FILTER_RELOAD.set(FilterReload { start, apply });
    Ok(())
}

/// Puts `filter` in force for the running process (`None`: the filter it started with).
/// Without [`init_logging`] (tests, embedded use) there is nothing to change: `Ok`.
pub fn reload_filter(filter: Option<&str>) -> Result<(), TelemetryError> {
    let Some(reload) = FILTER_RELOAD.get() else {
        return Ok(());
    };
    let text = filter.unwrap_or(&reload.start).to_string();
    let parsed = EnvFilter::builder()
        .parse(&text)
        .map_err(|source| TelemetryError::LogFilter {
            filter: text.clone(),
            source,
        })?;
    (reload.apply)(parsed).map_err(TelemetryError::Subscriber)
}
