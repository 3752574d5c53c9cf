//! `[log]` and `[metrics]` settings.

use serde::{Deserialize, Serialize};

use super::logging::LogFormat;

/// `[log]`: how the service logs (to stderr; stdout is left to command output).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `"text"` (human-readable lines) or `"json"` (one object per line). Default `"text"`.
    pub format: LogFormat,
    /// `RUST_LOG`-style filter, e.g. `"info,vigil=debug"`. The `RUST_LOG` variable, when set,
    /// wins. Default `"info"`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

/// `[metrics]`: bounds on metric labels.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// How many tenants get a `tenant` label of their own; the rest share `tenant="other"`, so
    /// the series count stays bounded however many tenants there are. Default 100.
    pub tenant_labels: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { tenant_labels: 100 }
    }
}
