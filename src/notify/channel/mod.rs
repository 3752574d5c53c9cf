//! The providers a notification goes out through: an SMTP relay, an HTTP SMS gateway and a
//! signed webhook. Each takes one [`Outgoing`] message and says whether the provider accepted
//! it; a refusal says whether trying again can help.

use std::time::Duration;

use super::message::Email;

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
