//! OAuth2 client-credentials bearer tokens: a token is fetched from `token_url` with a form
//! POST of `grant_type=client_credentials` (and `scope`), the client id and secret as HTTP
//! Basic credentials (sent as they are, without form-encoding them first). It is kept until
//! [`TOKEN_MARGIN`] (at most half its lifetime) before `expires_in` runs out; concurrent
//! callers wait for one fetch (a failed fetch is not remembered: the next caller tries
//! again). After the partner answers 401 the caller hands the headers it sent to
//! [`Authenticator::invalidate`](super::Authenticator::invalidate), and the next request
//! fetches a new token.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION};
use serde::Deserialize;
use tokio::sync::Mutex;
use vigil_engine::clock::Clock;
use vigil_schema::Millis;

use super::AuthError;
use crate::http_client::{
    answer_class, read_bounded, read_excerpt, CallError, ErrorClass, MESSAGE_CHARS,
    MESSAGE_READ_BYTES,
};

/// How long before it expires a cached token is replaced (at most half its lifetime).
pub const TOKEN_MARGIN: Duration = Duration::from_secs(30);

/// The lifetime assumed for a token whose answer has no `expires_in`.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// At most this much of a token endpoint's answer is read.
const MAX_TOKEN_ANSWER_BYTES: usize = 64 * 1024;

/// OAuth2 client credentials and the cached token.
pub(super) struct TokenSource {
    client: reqwest::Client,
    token_url: reqwest::Url,
    client_id: String,
    client_secret: String,
    scope: Option<String>,
    clock: Arc<dyn Clock>,
    cache: Mutex<Option<Cached>>,
}

impl TokenSource {
    /// A source fetching tokens from `token_url` for `client_id` with `client_secret` (and
    /// `scope`) through `client`, their lifetimes measured on `clock`; nothing cached yet.
    pub(super) fn new(
        client: reqwest::Client,
        token_url: reqwest::Url,
        client_id: String,
        client_secret: String,
        scope: Option<String>,
        clock: Arc<dyn Clock>,
    ) -> TokenSource {
        TokenSource {
            client,
            token_url,
            client_id,
            client_secret,
            scope,
            clock,
            cache: Mutex::new(None),
        }
    }

    /// Forgets the cached token if it is the one `sent` carried (another caller may have
    /// replaced it already).
    pub(super) async fn forget(&self, sent: &HeaderMap) {
        let mut cache = self.cache.lock().await;
        if cache.as_ref().map(|c| &c.header) == sent.get(AUTHORIZATION) {
            *cache = None;
        }
    }
}

/// A token and when to replace it.
#[derive(Clone)]
struct Cached {
    /// `Bearer <token>`, marked sensitive.
    header: HeaderValue,
    refresh_at: Millis,
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenSource {
    /// The cached token, or a new one. Holding the lock across the fetch makes concurrent
    /// callers share it.
    pub(super) async fn token(&self) -> Result<HeaderValue, AuthError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref() {
            if self.clock.now() < c.refresh_at {
                return Ok(c.header.clone());
            }
        }
        let fresh = self.fetch().await?;
        let header = fresh.header.clone();
        *cache = Some(fresh);
        Ok(header)
    }

    async fn fetch(&self) -> Result<Cached, AuthError> {
        let fetched_at = self.clock.now();
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope));
        }
        let failed = |class, status, reason| AuthError::Token {
            class,
            status,
            reason,
        };
        let response = self
            .client
            .post(self.token_url.clone())
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .header(ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                let e = CallError::from_reqwest(e);
                failed(e.class, None, e.message)
            })?;
        let status = response.status().as_u16();
        if let Some(class) = answer_class(&response) {
            let excerpt = read_excerpt(response, MESSAGE_READ_BYTES, MESSAGE_CHARS).await;
            return Err(failed(
                class,
                Some(status),
                format!("HTTP {status}: {excerpt}"),
            ));
        }
        let body = read_bounded(response, MAX_TOKEN_ANSWER_BYTES)
            .await
            .map_err(|e| failed(e.class, Some(status), e.message))?;
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            failed(
                ErrorClass::Permanent,
                Some(status),
                format!("not a token answer: {e}"),
            )
        })?;
        if let Some(kind) = &answer.token_type {
            if !kind.eq_ignore_ascii_case("bearer") {
                return Err(failed(
                    ErrorClass::Permanent,
                    Some(status),
                    format!("token_type {kind:?} is not Bearer"),
                ));
            }
        }
        let mut header = HeaderValue::from_str(&format!("Bearer {}", answer.access_token))
            .map_err(|_| {
                failed(
                    ErrorClass::Permanent,
                    Some(status),
                    "the access token cannot be sent in a header".into(),
                )
            })?;
        header.set_sensitive(true);
        let lifetime = answer
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        let keep = lifetime.saturating_sub(TOKEN_MARGIN.min(lifetime / 2));
        let keep_ms = Millis::try_from(keep.as_millis()).unwrap_or(Millis::MAX);
        Ok(Cached {
            header,
            refresh_at: fetched_at.saturating_add(keep_ms),
        })
    }
}
