//! The [`Authenticator`] of one partner: built from `auth = { kind = … }` with its secrets
//! read from the environment, it adds the headers that authenticate each request.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use reqwest::Method;
use vigil_engine::clock::{Clock, WallClock};

use super::oauth2::TokenSource;
use super::signature::HmacSigner;
use super::AuthError;
use crate::partner::config::{http_base_url, AuthConfig};

/// Reads a secret's environment variable; `None` when it is not set.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Authenticates the requests of one partner. Cheap to clone; clones share the token cache.
#[derive(Clone)]
pub struct Authenticator {
    scheme: Scheme,
}

#[derive(Clone)]
enum Scheme {
    None,
    ApiKey {
        header: HeaderName,
        value: HeaderValue,
    },
    Hmac(HmacSigner),
    Oauth2(Arc<TokenSource>),
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

/// Reads `var` through `env`: set and not empty.
fn secret(env: EnvLookup<'_>, field: &'static str, var: &str) -> Result<String, AuthError> {
    match env(var) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(AuthError::MissingEnv {
            field,
            var: var.to_string(),
        }),
    }
}

fn header_name(field: &'static str, name: &str) -> Result<HeaderName, AuthError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| AuthError::Invalid {
        field,
        reason: format!("{name:?} is not an HTTP header name"),
    })
}

impl Authenticator {
    /// The authenticator `config` describes, with secrets read through `env` and OAuth2
    /// tokens fetched through `client` (see [`crate::http_client::build`]). Fails
    /// naming the variable when a secret is not set.
    pub fn new(
        config: &AuthConfig,
        env: EnvLookup<'_>,
        client: reqwest::Client,
    ) -> Result<Authenticator, AuthError> {
        Authenticator::with_clock(config, env, client, Arc::new(WallClock))
    }

    /// [`Authenticator::new`] with token lifetimes measured on `clock`.
    pub fn with_clock(
        config: &AuthConfig,
        env: EnvLookup<'_>,
        client: reqwest::Client,
        clock: Arc<dyn Clock>,
    ) -> Result<Authenticator, AuthError> {
        let scheme = match config {
            AuthConfig::None => Scheme::None,
            AuthConfig::ApiKey { header, key_env } => {
                let key = secret(env, "auth.key_env", key_env)?;
                let mut value = HeaderValue::from_str(&key).map_err(|_| AuthError::Invalid {
                    field: "auth.key_env",
                    reason: format!("the value of {key_env} cannot be sent in a header"),
                })?;
                value.set_sensitive(true);
                Scheme::ApiKey {
                    header: header_name("auth.header", header)?,
                    value,
                }
            }
            AuthConfig::Hmac {
                key_id,
                secret_env,
                headers,
            } => Scheme::Hmac(HmacSigner::new(
                HeaderValue::from_str(key_id).map_err(|_| AuthError::Invalid {
                    field: "auth.key_id",
                    reason: format!("{key_id:?} cannot be sent in a header"),
                })?,
                secret(env, "auth.secret_env", secret_env)?
                    .into_bytes()
                    .into(),
                [
                    header_name("auth.headers.key_id", &headers.key_id)?,
                    header_name("auth.headers.timestamp", &headers.timestamp)?,
                    header_name("auth.headers.nonce", &headers.nonce)?,
                    header_name("auth.headers.signature", &headers.signature)?,
                ],
            )),
            AuthConfig::Oauth2 {
                token_url,
                client_id,
                client_secret_env,
                scope,
            } => Scheme::Oauth2(Arc::new(TokenSource::new(
                client,
                http_base_url(token_url).map_err(|reason| AuthError::Invalid {
                    field: "auth.token_url",
                    reason,
                })?,
                client_id.clone(),
                secret(env, "auth.client_secret_env", client_secret_env)?,
                scope.clone(),
                clock,
            ))),
        };
        Ok(Authenticator { scheme })
    }

    /// `none`, `api_key`, `hmac` or `oauth2`.
    pub fn kind(&self) -> &'static str {
        match self.scheme {
            Scheme::None => "none",
            Scheme::ApiKey { .. } => "api_key",
            Scheme::Hmac(_) => "hmac",
            Scheme::Oauth2(_) => "oauth2",
        }
    }

    /// Whether a 401 may pass with a new token (OAuth2).
    pub fn refreshes_tokens(&self) -> bool {
        matches!(self.scheme, Scheme::Oauth2(_))
    }

    /// The headers that authenticate one request: `method` to `path_and_query` (as
    /// [`string_to_sign`](super::string_to_sign) takes it) with `body`, signed at `now`.
    /// OAuth2 may fetch a token first.
    pub async fn headers(
        &self,
        method: &Method,
        path_and_query: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Result<HeaderMap, AuthError> {
        let mut out = HeaderMap::new();
        match &self.scheme {
            Scheme::None => {}
            Scheme::ApiKey { header, value } => {
                out.insert(header.clone(), value.clone());
            }
            Scheme::Hmac(signer) => {
                signer.sign_into(&mut out, method, path_and_query, body, now)?;
            }
            Scheme::Oauth2(source) => {
                out.insert(AUTHORIZATION, source.token().await?);
            }
        }
        Ok(out)
    }

    /// After the partner answered 401 to a request sent with `sent` headers: forgets the
    /// OAuth2 token it carried, unless another caller has already replaced it, so the next
    /// request fetches a new one. Other schemes have nothing to forget.
    pub async fn invalidate(&self, sent: &HeaderMap) {
        if let Scheme::Oauth2(source) = &self.scheme {
            source.forget(sent).await;
        }
    }
}
