//! `[[partners]]`: exchange partners (DESIGN.md §7), and the checks serde cannot express.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::ConfigDuration;

/// One `[[partners]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerConfig {
    /// Unique id, used in URLs, metrics and logs (`exchange-a`).
    pub id: String,
    /// The partner API's base URL; `/records/…` is appended.
    pub base_url: String,
    /// Tenants whose records go to this partner: ids, or `["*"]` for all.
    #[serde(default = "all_tenants")]
    pub tenants: Vec<TenantSelector>,
    /// The partner's time zone: a day of records is a local date there, and `reconcile_at`
    /// is local time there. Default `UTC`.
    #[serde(default = "utc")]
    pub timezone: String,
    /// Local time of the nightly reconciliation of the previous day (`HH:MM`), default
    /// `02:00`; `"off"` turns it off.
    #[serde(default = "two_am")]
    pub reconcile_at: String,
    /// Time-out of one request. Default 5s.
    #[serde(default = "five_seconds")]
    pub timeout: ConfigDuration,
    /// Quick retries of a retryable failure (timeouts, connection errors, 429, 502, 503,
    /// 504), exponential with jitter from `retry_delay`; afterwards a record waits in the
    /// outbox and is tried again later. Default 3.
    #[serde(default = "three")]
    pub retries: u32,
    /// First retry delay (doubling, with jitter). Default 2s.
    #[serde(default = "two_seconds")]
    pub retry_delay: ConfigDuration,
    /// Longest wait between tries of a record that keeps failing. Default 5m.
    #[serde(default = "five_minutes")]
    pub max_retry_delay: ConfigDuration,
    /// Requests per second and burst; no limit when absent.
    pub rate_limit: Option<RateLimitConfig>,
    /// The circuit breaker.
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// Records per reconciliation page requested from the partner. Default 500.
    #[serde(default = "five_hundred")]
    pub page_size: u32,
    /// Requests in flight at once when draining the outbox. Default 16.
    #[serde(default = "sixteen")]
    pub concurrency: u32,
    /// How requests are authenticated.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Our field → their field; unmapped fields keep their names.
    #[serde(default)]
    pub mapping: BTreeMap<String, String>,
    /// Our field → masking rule (`first:6,last:4`, `all`), applied before a record leaves.
    #[serde(default)]
    pub masking: BTreeMap<String, String>,
}

/// A tenant id, or `"*"` for every tenant.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum TenantSelector {
    /// One tenant.
    Id(u64),
    /// `"*"` (any other text is refused by the checks).
    Pattern(String),
}

/// `rate_limit = { per_second = 50, burst = 10 }`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per second (> 0).
    pub per_second: u32,
    /// Requests allowed at once above the sustained rate. Default 1.
    #[serde(default = "one")]
    pub burst: u32,
}

/// `breaker = { failure_rate = 0.5, window = 20, open_for = "30s", half_open_calls = 3 }`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Opens when at least this share of the last `window` calls failed (0 < rate ≤ 1).
    pub failure_rate: f64,
    /// Calls the failure rate is measured over.
    pub window: u32,
    /// How long no call is made once open.
    pub open_for: ConfigDuration,
    /// Probe calls let through after `open_for`; all must succeed to close.
    pub half_open_calls: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_rate: 0.5,
            window: 20,
            open_for: ConfigDuration::from_secs(30),
            half_open_calls: 3,
        }
    }
}

/// `auth = { kind = "hmac", … }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {
    /// No authentication.
    #[default]
    None,
    /// A static key in a header.
    ApiKey {
        /// The header, default `X-Api-Key`.
        #[serde(default = "api_key_header")]
        header: String,
        /// The environment variable holding the key.
        key_env: String,
    },
    /// OAuth2 client credentials; the token is cached until shortly before it expires.
    Oauth2 {
        /// The token endpoint.
        token_url: String,
        /// The client id.
        client_id: String,
        /// The environment variable holding the client secret.
        client_secret_env: String,
        /// Scopes to ask for, space-separated, if any.
        #[serde(default)]
        scope: Option<String>,
    },
    /// HMAC-SHA256 request signatures (DESIGN.md §7).
    Hmac {
        /// Sent as the key id header.
        key_id: String,
        /// The environment variable holding the shared secret.
        secret_env: String,
        /// Header names, defaults `X-Key-Id`, `X-Timestamp`, `X-Nonce`, `X-Signature`.
        #[serde(default)]
        headers: HmacHeaders,
    },
}

/// Header names of HMAC signatures.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HmacHeaders {
    /// Default `X-Key-Id`.
    pub key_id: String,
    /// Default `X-Timestamp`.
    pub timestamp: String,
    /// Default `X-Nonce`.
    pub nonce: String,
    /// Default `X-Signature`.
    pub signature: String,
}

impl Default for HmacHeaders {
    fn default() -> Self {
        HmacHeaders {
            key_id: "X-Key-Id".into(),
            timestamp: "X-Timestamp".into(),
            nonce: "X-Nonce".into(),
            signature: "X-Signature".into(),
        }
    }
}

impl PartnerConfig {
    /// Whether this partner receives the records of a tenant.
    pub fn serves(&self, tenant_id: u64) -> bool {
        self.tenants.iter().any(|t| match t {
            TenantSelector::Id(id) => *id == tenant_id,
            TenantSelector::Pattern(p) => p == "*",
        })
    }
}

fn all_tenants() -> Vec<TenantSelector> {
    vec![TenantSelector::Pattern("*".into())]
}
fn utc() -> String {
    "UTC".into()
}
fn two_am() -> String {
    "02:00".into()
}
fn five_seconds() -> ConfigDuration {
    ConfigDuration::from_secs(5)
}
fn two_seconds() -> ConfigDuration {
    ConfigDuration::from_secs(2)
}
fn five_minutes() -> ConfigDuration {
    ConfigDuration::from_secs(300)
}
fn three() -> u32 {
    3
}
fn one() -> u32 {
    1
}
fn five_hundred() -> u32 {
    500
}
fn sixteen() -> u32 {
    16
}
fn api_key_header() -> String {
    "X-Api-Key".into()
}
