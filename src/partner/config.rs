//! `[[partners]]`: exchange partners (DESIGN.md §7), and the checks serde cannot express.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::mapping::Mapper;
use crate::setting::ConfigDuration;
use crate::setting::{FieldPath, Seg};

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
    /// [`super::mask`]), applied before a record leaves. `record_id` and `stopped_at` cannot
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

/// A problem with one `[[partners]]` entry: the field (from `partners`) and what is wrong.
pub type PartnerProblem = (FieldPath, String);

/// Longest `page_size`: a reconciliation page is read into memory whole.
pub const MAX_PAGE_SIZE: u32 = 10_000;

/// Most requests in flight to one partner.
pub const MAX_CONCURRENCY: u32 = 1024;

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

/// Every problem of `[[partners]]` at once, each with its field (`partners[0].timeout`):
/// duplicate ids, then each entry's [`PartnerConfig::problems`].
pub fn problems(partners: &[PartnerConfig]) -> Vec<PartnerProblem> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, p) in partners.iter().enumerate() {
        let mut entry = FieldPath::keys("partners");
        entry.0.push(Seg::Index(i));
        if !p.id.is_empty() && !seen.insert(p.id.as_str()) {
            out.push((entry.key("id"), format!("{:?} is used twice", p.id)));
        }
        for (path, message) in p.problems() {
            let mut full = entry.clone();
            full.0.extend(path.0);
            out.push((full, message));
        }
    }
    out
}

/// `url` as an absolute `http` or `https` URL with a host and without query or fragment.
pub(crate) fn http_base_url(url: &str) -> Result<reqwest::Url, String> {
    let shown = crate::redact::url(url);
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{shown:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "{shown:?} is not an http:// or https:// URL with a host"
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "{shown:?} has a query or fragment; paths are appended to it"
        ));
    }
    Ok(parsed)
}

impl PartnerConfig {
    /// Every problem of this entry that serde cannot see, with fields relative to the entry
    /// (`breaker.window`, `mapping.ticket_id`). Pure: environment variables are only checked
    /// for a usable name here; whether they are set is checked when the service starts.
    pub fn problems(&self) -> Vec<PartnerProblem> {
        let mut out = Vec::new();
        let mut bad = |path: &str, message: String| out.push((FieldPath::keys(path), message));

        if self.id.is_empty()
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            bad(
                "id",
                format!("{:?} is not an id of letters, digits, '-' and '_'", self.id),
            );
        }
        if let Err(e) = http_base_url(&self.base_url) {
            bad("base_url", e);
        }
        if self.tenants.is_empty() {
            bad("tenants", "name at least one tenant id, or [\"*\"]".into());
        }
        let all = self
            .tenants
            .iter()
            .any(|t| matches!(t, TenantSelector::Pattern(p) if p == "*"));
        for t in &self.tenants {
            match t {
                TenantSelector::Id(0) => bad("tenants", "tenant ids are positive".into()),
                TenantSelector::Id(_) if all => bad(
                    "tenants",
                    "\"*\" already takes every tenant; list ids or \"*\" alone".into(),
                ),
                TenantSelector::Id(_) => {}
                TenantSelector::Pattern(p) if p == "*" => {}
                TenantSelector::Pattern(p) => {
                    bad("tenants", format!("{p:?} is neither a tenant id nor \"*\""))
                }
            }
        }
        if jiff::tz::TimeZone::get(&self.timezone).is_err() {
            bad(
                "timezone",
                format!(
                    "unknown time zone {:?} (an IANA name like \"Asia/Shanghai\")",
                    self.timezone
                ),
            );
        }
        if ReconcileAt::parse(&self.reconcile_at).is_none() {
            bad(
                "reconcile_at",
                format!(
                    "{:?} is neither a time like \"02:00\" (00:00 to 23:59) nor \"off\"",
                    self.reconcile_at
                ),
            );
        }
        for (field, d) in [("timeout", self.timeout), ("retry_delay", self.retry_delay)] {
            if d.as_millis() == 0 {
                bad(field, "must be longer than zero".into());
            }
        }
        if self.max_retry_delay < self.retry_delay {
            bad(
                "retry_delay",
                format!(
                    "must not be longer than max_retry_delay ({})",
                    self.max_retry_delay
                ),
            );
        }
        if let Some(r) = &self.rate_limit {
            if r.per_second == 0 {
                bad("rate_limit.per_second", "must be at least 1".into());
            }
            if r.burst == 0 {
                bad("rate_limit.burst", "must be at least 1".into());
            }
        }
        let b = &self.breaker;
        if !(b.failure_rate > 0.0 && b.failure_rate <= 1.0) {
            bad(
                "breaker.failure_rate",
                format!("{} is not a share above 0 and at most 1", b.failure_rate),
            );
        }
        if b.window == 0 {
            bad("breaker.window", "must be at least 1".into());
        }
        if b.half_open_calls == 0 {
            bad("breaker.half_open_calls", "must be at least 1".into());
        }
        if b.open_for.as_millis() == 0 {
            bad("breaker.open_for", "must be longer than zero".into());
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            bad("page_size", format!("must be from 1 to {MAX_PAGE_SIZE}"));
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            bad(
                "concurrency",
                format!("must be from 1 to {MAX_CONCURRENCY}"),
            );
        }
        self.auth.check(&mut bad);
        for e in Mapper::check(&self.mapping, &self.masking) {
            bad(&format!("{}.{}", e.section, e.field), e.message);
        }
        out
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

    fn check(&self, bad: &mut impl FnMut(&str, String)) {
        match self {
            AuthConfig::None => {}
            AuthConfig::ApiKey { header, key_env } => {
                env_name(bad, "auth.key_env", key_env);
                header_name(bad, "auth.header", header);
            }
            AuthConfig::Oauth2 {
                token_url,
                client_id,
                client_secret_env,
                scope,
            } => {
                env_name(bad, "auth.client_secret_env", client_secret_env);
                if let Err(e) = http_base_url(token_url) {
                    bad("auth.token_url", e);
                }
                if client_id.is_empty() {
                    bad("auth.client_id", "must not be empty".into());
                }
                if scope.as_deref().is_some_and(|s| s.trim().is_empty()) {
                    bad("auth.scope", "leave it out rather than empty".into());
                }
            }
            AuthConfig::Hmac {
                key_id,
                secret_env,
                headers,
            } => {
                env_name(bad, "auth.secret_env", secret_env);
                if key_id.is_empty() || reqwest::header::HeaderValue::from_str(key_id).is_err() {
                    bad(
                        "auth.key_id",
                        format!("{key_id:?} cannot be sent in a header"),
                    );
                }
                let names = [
                    ("auth.headers.key_id", &headers.key_id),
                    ("auth.headers.timestamp", &headers.timestamp),
                    ("auth.headers.nonce", &headers.nonce),
                    ("auth.headers.signature", &headers.signature),
                ];
                let mut seen = BTreeSet::new();
                for (field, name) in names {
                    header_name(bad, field, name);
                    if !seen.insert(name.to_ascii_lowercase()) {
                        bad(field, format!("{name:?} is used for two headers"));
                    }
                }
            }
        }
    }
}

fn env_name(bad: &mut impl FnMut(&str, String), field: &str, var: &str) {
    if var.is_empty() || var.contains(['=', '\0']) {
        bad(
            field,
            format!("{var:?} is not an environment variable name"),
        );
    }
}

fn header_name(bad: &mut impl FnMut(&str, String), field: &str, name: &str) {
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        bad(field, format!("{name:?} is not an HTTP header name"));
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{check_config_with_env, load_with_env};

    use super::*;

    const DESIGN: &str = r#"
[[partners]]
id = "exchange-a"
base_url = "https://exchange-a.example.com/api"
tenants = [12345, 12346]
timezone = "Asia/Shanghai"
reconcile_at = "02:00"
timeout = "5s"
retries = 3
rate_limit = { per_second = 50, burst = 10 }
breaker = { failure_rate = 0.5, window = 20, open_for = "30s", half_open_calls = 3 }
page_size = 500
auth = { kind = "hmac", key_id = "vigil", secret_env = "EXCHANGE_A_SECRET" }
mapping = { record_id = "id", ticket_id = "ticket_no", outcome = "result" }
masking = { assignee_id = "first:2,last:2" }

[[partners]]
id = "exchange-b"
base_url = "http://127.0.0.1:9100"
"#;

    /// The problems of a main file holding `text`, with the temp dir as `DIR`.
    fn problems_of(text: &str) -> Vec<String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("vigil.toml");
        std::fs::write(&path, text).expect("write");
        let errs = load_with_env(Some(&path), Vec::new()).expect_err("should fail");
        let shown = dir.path().display().to_string();
        errs.iter()
            .map(|p| p.to_string().replace(&shown, "DIR"))
            .collect()
    }

    #[test]
    fn the_design_example_passes_and_is_summarised() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("vigil.toml");
        std::fs::write(&path, DESIGN).expect("write");
        let secret = ("VIGIL__AUTH__JWT_SECRET".to_string(), "x".repeat(48));
        let report = check_config_with_env(&path, vec![secret]).unwrap_or_else(|p| {
            panic!("{p:#?}");
        });
        assert!(
            report.contains(
                "# partner exchange-a: exchange-a.example.com, tenants 12345, 12346, \
                 tz Asia/Shanghai, reconcile 02:00, rate 50/s burst 10, auth hmac\n"
            ),
            "{report}"
        );
        assert!(
            report.contains(
                "# partner exchange-b: 127.0.0.1, tenants *, tz UTC, reconcile 02:00, \
                 rate unlimited, auth none\n"
            ),
            "{report}"
        );
        let loaded = load_with_env(Some(&path), Vec::new()).expect("valid");
        let a = &loaded.config.partners[0];
        assert!(a.serves(12346) && !a.serves(1));
        assert!(loaded.config.partners[1].serves(1));
        assert_eq!(
            a.reconcile_time(),
            Some(ReconcileAt::At(jiff::civil::time(2, 0, 0, 0)))
        );
    }

    #[test]
    fn bad_partners_are_reported_at_their_line_and_field() {
        let text = r#"
[[partners]]
id = "a b"
base_url = "ftp://x"
tenants = [0, "all"]
timezone = "Mars/Olympus"
reconcile_at = "24:00"
timeout = "0s"
rate_limit = { per_second = 0, burst = 0 }
breaker = { failure_rate = 1.5, window = 0, open_for = "0s", half_open_calls = 0 }
page_size = 10001
concurrency = 0
auth = { kind = "api_key", header = "X Key", key_env = "" }
mapping = { record_id = "id", ticket_id = "id", ticket = "t" }
masking = { stopped_at = "all", assignee_id = "middle:2" }

[[partners]]
id = "b"
base_url = "https://b.example.com/api?x=1"
tenants = ["*", 5]
auth = { kind = "oauth2", token_url = "not a url", client_id = "", client_secret_env = "S" }

[[partners]]
id = "b"
base_url = "https://b.example.com"
retry_delay = "10m"
auth = { kind = "hmac", key_id = "vigil", secret_env = "S", headers = { nonce = "X-Key-Id" } }
"#;
        let got = problems_of(text);
        let expected = [
            "DIR/vigil.toml:3: partners[0].id: \"a b\" is not an id",
            "DIR/vigil.toml:4: partners[0].base_url: \"ftp://x\" is not an http:// or https:// URL",
            "DIR/vigil.toml:5: partners[0].tenants: tenant ids are positive",
            "DIR/vigil.toml:5: partners[0].tenants: \"all\" is neither a tenant id nor \"*\"",
            "DIR/vigil.toml:6: partners[0].timezone: unknown time zone \"Mars/Olympus\"",
            "DIR/vigil.toml:7: partners[0].reconcile_at: \"24:00\" is neither",
            "DIR/vigil.toml:8: partners[0].timeout: must be longer than zero",
            "DIR/vigil.toml:9: partners[0].rate_limit.per_second: must be at least 1",
            "DIR/vigil.toml:9: partners[0].rate_limit.burst: must be at least 1",
            "DIR/vigil.toml:10: partners[0].breaker.failure_rate: 1.5 is not a share",
            "DIR/vigil.toml:10: partners[0].breaker.window: must be at least 1",
            "DIR/vigil.toml:10: partners[0].breaker.half_open_calls: must be at least 1",
            "DIR/vigil.toml:10: partners[0].breaker.open_for: must be longer than zero",
            "DIR/vigil.toml:11: partners[0].page_size: must be from 1 to 10000",
            "DIR/vigil.toml:12: partners[0].concurrency: must be from 1 to 1024",
            "DIR/vigil.toml:13: partners[0].auth.key_env: \"\" is not an environment variable name",
            "DIR/vigil.toml:13: partners[0].auth.header: \"X Key\" is not an HTTP header name",
            "DIR/vigil.toml:14: partners[0].mapping.ticket: not a record field",
            "DIR/vigil.toml:14: partners[0].mapping.ticket_id: record_id and ticket_id would both be sent as \"id\"",
            "DIR/vigil.toml:15: partners[0].masking.stopped_at: cannot be masked",
            "DIR/vigil.toml:15: partners[0].masking.assignee_id: \"middle:2\" is not a masking rule",
            "DIR/vigil.toml:19: partners[1].base_url: \"https://b.example.com/api?x=***\" has a query",
            "DIR/vigil.toml:20: partners[1].tenants: \"*\" already takes every tenant",
            "DIR/vigil.toml:21: partners[1].auth.token_url: \"not a url\" is not a URL",
            "DIR/vigil.toml:21: partners[1].auth.client_id: must not be empty",
            "DIR/vigil.toml:24: partners[2].id: \"b\" is used twice",
            "DIR/vigil.toml:26: partners[2].retry_delay: must not be longer than max_retry_delay (5m)",
            "DIR/vigil.toml:27: partners[2].auth.headers.nonce: \"X-Key-Id\" is used for two headers",
        ];
        for want in expected {
            assert!(
                got.iter().any(|p| p.starts_with(want)),
                "no problem starting with {want:?} in {got:#?}"
            );
        }
        assert_eq!(got.len(), expected.len(), "{got:#?}");
    }

    #[test]
    fn reconcile_times_are_strict() {
        for (text, want) in [
            ("00:00", Some("00:00")),
            ("23:59", Some("23:59")),
            ("02:00", Some("02:00")),
            ("off", Some("off")),
            ("24:00", None),
            ("12:60", None),
            ("2:00", None),
            ("02:00:00", None),
            ("0a:00", None),
            ("Off", None),
            ("", None),
            ("+1:00", None),
        ] {
            assert_eq!(
                ReconcileAt::parse(text).map(|r| r.to_string()).as_deref(),
                want,
                "{text:?}"
            );
        }
    }
}
