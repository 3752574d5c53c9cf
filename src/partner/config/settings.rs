//! A `[[partners]]` entry as it is written: its fields with their defaults, the tenant,
//! rate-limit, breaker and authentication settings, when the nightly reconciliation runs, and
//! the one-line summary `vigil check-config` shows.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::base_url::http_base_url;
use crate::setting::ConfigDuration;

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
    /// Our field → masking rule (`first:6,last:4`, `first:N`, `last:M`, `all`, `hash`; see
    /// [`crate::partner::mask`]), applied before a record leaves. `record_id` and `stopped_at` cannot
    /// be masked.
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

    /// When the nightly reconciliation runs, if `reconcile_at` is valid.
    pub fn reconcile_time(&self) -> Option<ReconcileAt> {
        ReconcileAt::parse(&self.reconcile_at)
    }

    /// One line for `vigil check-config`: `exchange-a: exchange-a.example.com, tenants
    /// 12345, 12346, tz Asia/Shanghai, reconcile 02:00, rate 50/s burst 10, auth hmac`.
    pub fn summary(&self) -> String {
        let host = http_base_url(&self.base_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| self.base_url.clone());
        let tenants: Vec<String> = self
            .tenants
            .iter()
            .map(|t| match t {
                TenantSelector::Id(id) => id.to_string(),
                TenantSelector::Pattern(p) => p.clone(),
            })
            .collect();
        let rate = match &self.rate_limit {
            Some(r) => format!("{}/s burst {}", r.per_second, r.burst),
            None => "unlimited".into(),
        };
        format!(
            "{}: {host}, tenants {}, tz {}, reconcile {}, rate {rate}, auth {}",
            self.id,
            tenants.join(", "),
            self.timezone,
            self.reconcile_at,
            self.auth.kind()
        )
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

/// When the nightly reconciliation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileAt {
    /// Not at all.
    Off,
    /// At this local time of the partner's time zone.
    At(jiff::civil::Time),
}

impl ReconcileAt {
    /// Parses `HH:MM` (00:00 to 23:59, two digits each) or `off`.
    pub fn parse(text: &str) -> Option<ReconcileAt> {
        if text == "off" {
            return Some(ReconcileAt::Off);
        }
        let b = text.as_bytes();
        let digits = [0, 1, 3, 4]
            .iter()
            .all(|&i| b.get(i).is_some_and(u8::is_ascii_digit));
        if b.len() != 5 || b[2] != b':' || !digits {
            return None;
        }
        let two = |i: usize| (b[i] - b'0') * 10 + (b[i + 1] - b'0');
        let (hour, minute) = (two(0), two(3));
        if hour > 23 || minute > 59 {
            return None;
        }
        jiff::civil::Time::new(hour as i8, minute as i8, 0, 0)
            .ok()
            .map(ReconcileAt::At)
    }
}

impl fmt::Display for ReconcileAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReconcileAt::Off => f.write_str("off"),
            ReconcileAt::At(t) => write!(f, "{:02}:{:02}", t.hour(), t.minute()),
        }
    }
}

impl AuthConfig {
    /// `none`, `api_key`, `oauth2` or `hmac`.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthConfig::None => "none",
            AuthConfig::ApiKey { .. } => "api_key",
            AuthConfig::Oauth2 { .. } => "oauth2",
            AuthConfig::Hmac { .. } => "hmac",
        }
    }
}
