//! The providers a notification goes out through: an SMTP relay, an HTTP SMS gateway and a
//! signed webhook. Each takes one [`Outgoing`] message and says whether the provider accepted
//! it; a refusal says whether trying again can help.
//!
//! # Layout
//! - [`smtp`]: email through an SMTP relay (lettre; plain, STARTTLS or TLS).
//! - [`sms`]: SMS through an HTTP gateway (JSON or form POST).
//! - [`webhook`]: JSON POSTs signed with HMAC-SHA256.
//! - the per-provider circuit breaker is [`crate::breaker`] (pure logic, clock passed in).
//! - the HTTP client and answer classification, shared with partner sync, are
//!   [`crate::http_client`].
//! - here: [`Outgoing`] and [`SendError`], [`Providers`] (the configured senders, one entry
//!   point per channel), and how SMS and webhook turn an HTTP answer into a [`SendError`].

pub mod sms;
pub mod smtp;
pub mod webhook;

use std::env::VarError;
use std::time::Duration;

use super::config::{Channel, NotifyConfig};
use super::message::Email;
use crate::http_client::{self, error_chain, ErrorClass};

pub use crate::breaker::{Breaker, BreakerState};
pub use sms::SmsSender;
pub use smtp::SmtpSender;
pub use webhook::WebhookSender;

/// One message to one recipient on one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Stable across retries and restarts; sent to providers that take one (the SMS
    /// gateway's `idempotency_key`, the webhook's `Idempotency-Key` header, the email's
    /// `Message-ID`).
    pub idempotency_key: String,
    /// The tenant the message is about.
    pub tenant_id: u64,
    /// Email address, E.164 phone number or webhook URL.
    pub to: String,
    /// What to send.
    pub content: Content,
}

/// The body of an [`Outgoing`] message, by channel.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// An email; `from` overrides `[notify.smtp].from` (a tenant's own sender address).
    Email {
        /// Sender address, when not the relay's default.
        from: Option<String>,
        /// Subject and bodies.
        email: Email,
    },
    /// One SMS segment.
    Sms {
        /// The text.
        text: String,
    },
    /// A JSON document POSTed to the webhook.
    Webhook {
        /// The body.
        body: serde_json::Value,
    },
}

/// Why a provider did not take a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Trying again later may work: connection refused or reset, a time-out, HTTP 5xx or 429,
    /// SMTP 4xx. `retry_after` is what the provider asked for, if it did.
    #[error("{reason}")]
    Transient {
        /// What went wrong, for the outbox row and the logs.
        reason: String,
        /// The provider's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Trying again will not help: HTTP 4xx other than 408 and 429, SMTP 5xx, a malformed
    /// address.
    #[error("{reason}")]
    Permanent {
        /// What went wrong.
        reason: String,
    },
}

impl SendError {
    /// A transient error without a provider-requested delay.
    pub fn transient(reason: impl Into<String>) -> SendError {
        SendError::Transient {
            reason: reason.into(),
            retry_after: None,
        }
    }

    /// A permanent error.
    pub fn permanent(reason: impl Into<String>) -> SendError {
        SendError::Permanent {
            reason: reason.into(),
        }
    }

    /// Whether trying again later may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient { .. })
    }
}

/// Why the providers could not be set up at start-up. Each names the `[notify]` field at
/// fault; none of them goes away by retrying.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// A secret the configuration points at is missing or unusable.
    #[error("{field}: environment variable {var} {problem}")]
    Env {
        /// The field naming the variable, e.g. `notify.smtp.password_env`.
        field: &'static str,
        /// The variable.
        var: String,
        /// `is not set`, `is empty` or `is not valid UTF-8`.
        problem: &'static str,
    },
    /// A setting cannot be used as it is.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, e.g. `notify.smtp.from`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}

/// Reads the secret held in environment variable `var`, named by config field `field`.
fn secret(
    env: &dyn Fn(&str) -> Result<String, VarError>,
    field: &'static str,
    var: &str,
) -> Result<String, ProviderError> {
    let problem = match env(var) {
        Ok(value) if !value.is_empty() => return Ok(value),
        Ok(_) => "is empty",
        Err(VarError::NotPresent) => "is not set",
        Err(VarError::NotUnicode(_)) => "is not valid UTF-8",
    };
    Err(ProviderError::Env {
        field,
        var: var.to_string(),
        problem,
    })
}

/// The configured providers: the one way the dispatcher sends anything.
#[derive(Debug, Clone)]
pub struct Providers {
    smtp: Option<SmtpSender>,
    sms: Option<SmsSender>,
    webhook: Option<WebhookSender>,
}

impl Providers {
    /// Sets up the providers `[notify]` configures, reading their secrets from the
    /// environment. Fails on the first missing secret or unusable setting, naming it.
    pub fn from_config(config: &NotifyConfig) -> Result<Providers, ProviderError> {
        Providers::from_config_with_env(config, &|var| std::env::var(var))
    }

    /// [`from_config`](Self::from_config) with secrets looked up in `secrets` (the runtime
    /// layer's, else the environment's).
    pub fn from_secrets(
        config: &NotifyConfig,
        secrets: &crate::secrets::Secrets,
    ) -> Result<Providers, ProviderError> {
        Providers::from_config_with_env(config, &|var| {
            secrets.lookup(var).ok_or(VarError::NotPresent)
        })
    }

    /// [`from_config`](Self::from_config) with secrets read through `env`.
    fn from_config_with_env(
        config: &NotifyConfig,
        env: &dyn Fn(&str) -> Result<String, VarError>,
    ) -> Result<Providers, ProviderError> {
        let timeout = config.delivery.send_timeout.as_std();
        let smtp = match &config.smtp {
            Some(c) => {
                let password = match &c.password_env {
                    Some(var) => Some(secret(env, "notify.smtp.password_env", var)?),
                    None => None,
                };
                Some(SmtpSender::new(c, password, timeout)?)
            }
            None => None,
        };
        let client = if config.sms.is_some() || config.webhook.is_some() {
            Some(client(timeout)?)
        } else {
            None
        };
        let sms = match (&config.sms, &client) {
            (Some(c), Some(client)) => {
                let auth = match &c.auth_header_env {
                    Some(var) => Some(secret(env, "notify.sms.auth_header_env", var)?),
                    None => None,
                };
                Some(SmsSender::new(c, auth, client.clone())?)
            }
            _ => None,
        };
        let webhook = match (&config.webhook, &client) {
            (Some(c), Some(client)) => {
                let key = secret(env, "notify.webhook.secret_env", &c.secret_env)?;
                Some(WebhookSender::new(
                    key.into_bytes(),
                    c.url.as_deref(),
                    client.clone(),
                )?)
            }
            _ => None,
        };
        Ok(Providers { smtp, sms, webhook })
    }

    /// Providers assembled by hand (tests, the demo).
    pub fn new(
        smtp: Option<SmtpSender>,
        sms: Option<SmsSender>,
        webhook: Option<WebhookSender>,
    ) -> Providers {
        Providers { smtp, sms, webhook }
    }

    /// Whether `channel` has a provider.
    pub fn has(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => self.smtp.is_some(),
            Channel::Sms => self.sms.is_some(),
            Channel::Webhook => self.webhook.is_some(),
        }
    }

    /// Sends `msg` through the provider of `channel`. One attempt, bounded by the send
    /// time-out; retries, back-off and the circuit breaker are the caller's.
    pub async fn send(&self, channel: Channel, msg: &Outgoing) -> Result<(), SendError> {
        match channel {
            Channel::Email => match &self.smtp {
                Some(s) => s.send(msg).await,
                None => Err(SendError::permanent("no [notify.smtp] provider configured")),
            },
            Channel::Sms => match &self.sms {
                Some(s) => s.send(msg).await,
                None => Err(SendError::permanent("no [notify.sms] provider configured")),
            },
            Channel::Webhook => match &self.webhook {
                Some(s) => s.send(msg).await,
                None => Err(SendError::permanent(
                    "no [notify.webhook] provider configured",
                )),
            },
        }
    }
}

/// At most this much of a refusal's body is read, and this many characters of it kept in the
/// error.
const EXCERPT_READ_BYTES: usize = 1024;
const EXCERPT_CHARS: usize = 200;

/// The shared HTTP client ([`crate::http_client::build`]), its failure named as a set-up error.
fn client(timeout: Duration) -> Result<reqwest::Client, ProviderError> {
    http_client::build(timeout).map_err(|e| ProviderError::HttpClient(e.0))
}

/// The outcome of a send from an HTTP provider's answer: 2xx is accepted; 408, 429 and 5xx
/// may pass (with the provider's `Retry-After`); anything else is a refusal, reported with
/// the status and the start of the body.
async fn http_outcome(response: reqwest::Response) -> Result<(), SendError> {
    let status = response.status();
    let Some(class) = http_client::answer_class(&response) else {
        return Ok(());
    };
    let excerpt = http_client::read_excerpt(response, EXCERPT_READ_BYTES, EXCERPT_CHARS).await;
    let reason = if excerpt.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {excerpt}")
    };
    match class {
        ErrorClass::Retryable { retry_after } => Err(SendError::Transient {
            reason,
            retry_after,
        }),
        ErrorClass::Permanent => Err(SendError::Permanent { reason }),
    }
}

/// A request that got no answer: a URL that cannot be used is permanent, everything else
/// (connection refused or reset, time-out, TLS) may pass. The URL is left out of the reason:
/// webhook URLs can carry tokens.
fn http_error(e: reqwest::Error) -> SendError {
    let class = http_client::request_class(&e);
    let reason = error_chain(&e.without_url());
    match class {
        ErrorClass::Permanent => SendError::Permanent { reason },
        ErrorClass::Retryable { .. } => SendError::transient(reason),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::notify::config::{SmsConfig, SmtpConfig, TlsMode, WebhookConfig};

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Result<String, VarError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned().ok_or(VarError::NotPresent)
    }

    fn smtp() -> SmtpConfig {
        SmtpConfig {
            host: "smtp.example.com".into(),
            port: 587,
            tls: TlsMode::Starttls,
            from: "vigil@example.com".into(),
            username: Some("vigil".into()),
            password_env: Some("SMTP_PASSWORD".into()),
        }
    }

    #[test]
    fn missing_secrets_are_named_with_their_field() {
        let mut config = NotifyConfig {
            smtp: Some(smtp()),
            ..NotifyConfig::default()
        };
        let err = Providers::from_config_with_env(&config, &env(&[]))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("notify.smtp.password_env: environment variable SMTP_PASSWORD is not set")
        );
        config.smtp = None;
        config.sms = Some(SmsConfig {
            url: "http://127.0.0.1:9/sms".into(),
            format: Default::default(),
            auth_header_env: Some("SMS_AUTH".into()),
        });
        let err = Providers::from_config_with_env(&config, &env(&[("SMS_AUTH", "")]))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("notify.sms.auth_header_env: environment variable SMS_AUTH is empty")
        );
        config.sms = None;
        config.webhook = Some(WebhookConfig {
            url: None,
            secret_env: "HOOK_SECRET".into(),
        });
        let err = Providers::from_config_with_env(&config, &env(&[]))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("notify.webhook.secret_env: environment variable HOOK_SECRET is not set")
        );
    }

    #[tokio::test]
    async fn unconfigured_channels_are_permanent_refusals() {
        let providers = Providers::from_config_with_env(&NotifyConfig::default(), &env(&[]))
            .expect("nothing to set up");
        let msg = Outgoing {
            idempotency_key: "k".into(),
            tenant_id: 1,
            to: "+8613800000001".into(),
            content: Content::Sms { text: "hi".into() },
        };
        for (channel, section) in [
            (Channel::Email, "smtp"),
            (Channel::Sms, "sms"),
            (Channel::Webhook, "webhook"),
        ] {
            assert!(!providers.has(channel));
            assert_eq!(
                providers.send(channel, &msg).await,
                Err(SendError::permanent(format!(
                    "no [notify.{section}] provider configured"
                )))
            );
        }
    }

    #[test]
    fn configured_providers_are_set_up() {
        let config = NotifyConfig {
            smtp: Some(smtp()),
            sms: Some(SmsConfig {
                url: "https://sms.example.com/send".into(),
                format: Default::default(),
                auth_header_env: None,
            }),
            webhook: Some(WebhookConfig {
                url: None,
                secret_env: "HOOK_SECRET".into(),
            }),
            ..NotifyConfig::default()
        };
        let providers = Providers::from_config_with_env(
            &config,
            &env(&[("SMTP_PASSWORD", "pw"), ("HOOK_SECRET", "s")]),
        )
        .expect("all secrets present");
        for channel in [Channel::Email, Channel::Sms, Channel::Webhook] {
            assert!(providers.has(channel));
        }
    }
}
