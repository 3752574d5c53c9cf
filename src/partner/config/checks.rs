//! The checks of `[[partners]]` that serde cannot express, every problem at once with its
//! field.

use std::collections::BTreeSet;

use super::base_url::http_base_url;
use super::settings::{AuthConfig, PartnerConfig, ReconcileAt, TenantSelector};
use crate::partner::mapping::Mapper;
use crate::setting::{FieldPath, Seg};

/// A problem with one `[[partners]]` entry: the field (from `partners`) and what is wrong.
pub type PartnerProblem = (FieldPath, String);

/// Longest `page_size`: a reconciliation page is read into memory whole.
pub const MAX_PAGE_SIZE: u32 = 10_000;

/// Most requests in flight to one partner.
pub const MAX_CONCURRENCY: u32 = 1024;

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
}

impl AuthConfig {
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
