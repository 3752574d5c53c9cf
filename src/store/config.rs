//! `[store]` settings.

use serde::{Deserialize, Serialize};

use crate::setting::ConfigDuration;

/// `[store]`: the SQL database.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://path/to/file.db` (relative to the working directory; the file and its directory
    /// are created when missing; the reporting history goes to `file-reports.db` beside it) or
    /// `postgres://user:pass@host:5432/db`. Default `"sqlite://data/vigil.db"`.
    pub url: String,
    /// Most pooled connections. Default 8.
    pub max_connections: u32,
    /// How long an operation waits for a pooled connection before failing as unavailable.
    /// Default `"5s"`.
    pub acquire_timeout: ConfigDuration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "sqlite://data/vigil.db".into(),
            max_connections: 8,
            acquire_timeout: ConfigDuration::from_secs(5),
        }
    }
}
