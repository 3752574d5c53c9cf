//! How a [`FakePartner`](super::FakePartner) is set up: where it listens, its time zone, which
//! body fields it reads, its paging limits and how it authenticates callers.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use jiff::tz::TimeZone;

/// Records per page when a `GET /records` gives no `page_size`.
pub const DEFAULT_PAGE_SIZE: usize = 500;
/// The largest `page_size` served unless configured; larger requests are capped to it.
pub const DEFAULT_MAX_PAGE_SIZE: usize = 10_000;
/// PUT record ids remembered in [`puts`](super::FakePartner::puts) unless configured; older
/// ones are forgotten first (the total keeps counting).
pub const DEFAULT_PUT_LOG_CAPACITY: usize = 100_000;
/// How far an HMAC `X-Timestamp` may be from this machine's clock unless configured.
pub const DEFAULT_HMAC_TOLERANCE: Duration = Duration::from_secs(300);
/// How long a hung request is held when nobody releases it.
pub const DEFAULT_HANG_LIMIT: Duration = Duration::from_secs(600);
/// Lifetime of an OAuth2 token unless configured.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Everything a fake partner is started with; faults are set later, at run time.
#[derive(Debug, Clone)]
pub struct FakePartnerConfig {
    /// Address to listen on; the default `127.0.0.1:0` takes a free port.
    pub listen: SocketAddr,
    /// Path prefix of the partner API (`/api` serves `/api/records/…`); empty for none. A
    /// missing leading `/` is added and a trailing one dropped. Admin endpoints stay at
    /// `/_admin/` whatever the prefix.
    pub prefix: String,
    /// The partner's time zone: `GET /records?date=` selects records whose `stopped_at` falls
    /// on that local date there. Default UTC.
    pub timezone: TimeZone,
    /// Names of the body fields the partner reads.
    pub fields: FieldNames,
    /// Records per page when the request gives no `page_size`.
    pub default_page_size: usize,
    /// The largest page served; a larger `page_size` is capped to it.
    pub max_page_size: usize,
    /// How callers of the record endpoints authenticate.
    pub auth: PartnerAuth,
    /// Seed of the generator behind fractional faults and latency ranges (same seed and the
    /// same sequence of calls, same faults).
    pub seed: u64,
    /// How long a hung request is held when [`release_hung`](super::FakePartner::release_hung)
    /// is not called.
    pub hang_limit: Duration,
    /// PUT record ids remembered, newest last.
    pub put_log_capacity: usize,
}

impl Default for FakePartnerConfig {
    fn default() -> Self {
        FakePartnerConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            prefix: String::new(),
            timezone: TimeZone::UTC,
            fields: FieldNames::default(),
            default_page_size: DEFAULT_PAGE_SIZE,
            max_page_size: DEFAULT_MAX_PAGE_SIZE,
            auth: PartnerAuth::None,
            seed: 42,
            hang_limit: DEFAULT_HANG_LIMIT,
            put_log_capacity: DEFAULT_PUT_LOG_CAPACITY,
        }
    }
}

impl FakePartnerConfig {
    /// The prefix as served: empty, or `/`-led without a trailing `/`.
    pub(super) fn normalized_prefix(&self) -> String {
        let trimmed = self.prefix.trim().trim_matches('/');
        if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        }
    }
}

/// The body fields the partner reads, named as the partner names them (after the sender's
/// field mapping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldNames {
    /// Holds the record id in seeded bodies (`PUT` takes the id from the path). Default
    /// `record_id`.
    pub record_id: String,
    /// Holds the RFC 3339 stop instant the date index uses. Default `stopped_at`.
    pub stopped_at: String,
}

impl Default for FieldNames {
    fn default() -> Self {
        FieldNames {
            record_id: "record_id".into(),
            stopped_at: "stopped_at".into(),
        }
    }
}

/// How the record endpoints authenticate callers; a failed check answers 401.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PartnerAuth {
    /// Anyone may call.
    #[default]
    None,
    /// A static key in a header.
    ApiKey {
        /// The header, e.g. `X-Api-Key`.
        header: String,
        /// The expected value.
        key: String,
    },
    /// OAuth2 client credentials: `POST <prefix>/oauth/token` issues bearer tokens that the
    /// record endpoints require in `Authorization: Bearer …`.
    OAuth2 {
        /// The client id (HTTP Basic user name or `client_id` form field).
        client_id: String,
        /// The client secret.
        client_secret: String,
        /// Lifetime of a token (`expires_in`), changeable with
        /// [`set_token_lifetime`](super::FakePartner::set_token_lifetime).
        expires_in: Duration,
    },
    /// HMAC-SHA256 request signatures (DESIGN.md §7): `X-Key-Id`, `X-Timestamp`, `X-Nonce`,
    /// `X-Signature`; see [`hmac_signature`](super::hmac_signature).
    Hmac {
        /// The expected `X-Key-Id`.
        key_id: String,
        /// The shared secret.
        secret: String,
        /// How far `X-Timestamp` may be from this machine's clock; `None` accepts any.
        tolerance: Option<Duration>,
    },
}

impl PartnerAuth {
    /// HMAC signatures with the default tolerance ([`DEFAULT_HMAC_TOLERANCE`]).
    pub fn hmac(key_id: &str, secret: &str) -> PartnerAuth {
        PartnerAuth::Hmac {
            key_id: key_id.into(),
            secret: secret.into(),
            tolerance: Some(DEFAULT_HMAC_TOLERANCE),
        }
    }

    /// OAuth2 client credentials with the default token lifetime ([`DEFAULT_TOKEN_LIFETIME`]).
    pub fn oauth2(client_id: &str, client_secret: &str) -> PartnerAuth {
        PartnerAuth::OAuth2 {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            expires_in: DEFAULT_TOKEN_LIFETIME,
        }
    }

    /// A static key in `header`.
    pub fn api_key(header: &str, key: &str) -> PartnerAuth {
        PartnerAuth::ApiKey {
            header: header.into(),
            key: key.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_normalized() {
        let with = |prefix: &str| FakePartnerConfig {
            prefix: prefix.into(),
            ..FakePartnerConfig::default()
        };
        assert_eq!(with("").normalized_prefix(), "");
        assert_eq!(with("/").normalized_prefix(), "");
        assert_eq!(with("api").normalized_prefix(), "/api");
        assert_eq!(with("/api/").normalized_prefix(), "/api");
        assert_eq!(with("/v1/partner").normalized_prefix(), "/v1/partner");
    }
}
