//! Publishing to JetStream and awaiting the ack: dead letters, alert records, and the shared
//! error type of every publish.

use async_nats::header::NATS_MESSAGE_ID;
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::Context;
use async_nats::{HeaderMap, HeaderValue};
use bytes::Bytes;

use super::subjects::{
    alert_subject, dlq_subject, event_message_id, event_subject, REJECT_DETAIL_HEADER,
    REJECT_REASON_HEADER,
};
use super::BoxError;
use vigil_schema::Rejection;

/// Why a publish was not acknowledged by JetStream.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No stream takes the subject (the streams were not set up, or JetStream is down).
    #[error("no stream takes {subject}")]
    NoStream {
        /// The subject.
        subject: String,
    },
    /// No ack arrived in time; the message may or may not be stored.
    #[error("no ack for {subject} in time")]
    TimedOut {
        /// The subject.
        subject: String,
    },
    /// The connection failed before the ack arrived.
    #[error("publishing to {subject} failed: {source}")]
    Connection {
        /// The subject.
        subject: String,
        /// What failed.
        source: BoxError,
    },
    /// JetStream refused the message (stream limits, size, a failed expectation).
    #[error("JetStream refused the message on {subject}: {source}")]
    Rejected {
        /// The subject.
        subject: String,
        /// The server's answer.
        source: BoxError,
    },
    /// The message id cannot be a header value (it contains CR or LF).
    #[error("message id {id:?} for {subject} contains a line break")]
    BadMessageId {
        /// The subject.
        subject: String,
        /// The offending id.
        id: String,
    },
}

impl PublishError {
    /// Whether publishing again can help. A retry with the same `Nats-Msg-Id` inside the
    /// duplicate window is harmless: JetStream drops the copy.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PublishError::NoStream { .. }
                | PublishError::TimedOut { .. }
                | PublishError::Connection { .. }
        )
    }

    fn from_nats(subject: &str, err: async_nats::jetstream::context::PublishError) -> Self {
        let subject = subject.to_string();
        match err.kind() {
            PublishErrorKind::StreamNotFound => PublishError::NoStream { subject },
            PublishErrorKind::TimedOut => PublishError::TimedOut { subject },
            PublishErrorKind::BrokenPipe | PublishErrorKind::MaxAckPending => {
                PublishError::Connection {
                    subject,
                    source: Box::new(err),
                }
            }
            PublishErrorKind::Other if !from_server(&err) => PublishError::Connection {
                subject,
                source: Box::new(err),
            },
            _ => PublishError::Rejected {
                subject,
                source: Box::new(err),
            },
        }
    }
}

/// Whether the error is JetStream's answer rather than a local failure.
fn from_server(err: &async_nats::jetstream::context::PublishError) -> bool {
    std::error::Error::source(err).is_some_and(|source| source.is::<async_nats::jetstream::Error>())
}

/// What JetStream said about a stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishOutcome {
    /// The message's sequence in its stream (the original's, for a duplicate).
    pub sequence: u64,
    /// True if the stream already had this `Nats-Msg-Id` and dropped the copy.
    pub duplicate: bool,
}

/// Publishes a rejected event to `vigil.dlq.<tenant_id>` (`vigil.dlq.unknown` when the tenant
/// could not be read) with headers `Vigil-Reject-Reason` and `Vigil-Reject-Detail`, and waits
/// for the ack.
pub async fn publish_dead_letter(
    js: &Context,
    tenant_id: Option<u64>,
    payload: Bytes,
    rejection: &Rejection,
) -> Result<PublishOutcome, PublishError> {
    publish_to_dead_letters(
        js,
        tenant_id,
        payload,
        rejection.reason.as_str(),
        &rejection.message(),
    )
    .await
}

/// Publishes anything Vigil could not take (a rejected event, a row the store refused) to
/// `vigil.dlq.<tenant_id>` with `reason` and `detail` in the `Vigil-Reject-Reason` and
/// `Vigil-Reject-Detail` headers (control characters in them become spaces), and waits for
/// the ack.
pub async fn publish_to_dead_letters(
    js: &Context,
    tenant_id: Option<u64>,
    payload: Bytes,
    reason: &str,
    detail: &str,
) -> Result<PublishOutcome, PublishError> {
    let printable = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let mut headers = HeaderMap::new();
    headers.insert(REJECT_REASON_HEADER, printable(reason).as_str());
    headers.insert(REJECT_DETAIL_HEADER, printable(detail).as_str());
    let subject = dlq_subject(tenant_id);
    let ack = send(
        js,
        &subject,
        PublishMessage::build().payload(payload).headers(headers),
    )
    .await?;
    confirm(&subject, ack).await
}

/// Publishes an alert record (JSON) to `vigil.alerts.<tenant_id>` with `Nats-Msg-Id` =
/// `msg_id` and waits for the ack. A republished `msg_id` inside the alert stream's duplicate
/// window is stored once and reported with `duplicate: true`.
pub async fn publish_alert(
    js: &Context,
    tenant_id: u64,
    msg_id: &str,
    payload: Bytes,
) -> Result<PublishOutcome, PublishError> {
    let subject = alert_subject(tenant_id);
    let ack = send_with_id(js, &subject, msg_id, payload).await?;
    confirm(&subject, ack).await
}

/// Publishes one upstream event (its JSON bytes) to `vigil.events.<tenant_id>` with the
/// event's `Nats-Msg-Id`, and waits for the ack; a repeat inside the duplicate window is
/// reported with `duplicate: true` and stored once.
pub async fn publish_event(
    js: &Context,
    tenant_id: u64,
    event_id: &str,
    payload: Bytes,
) -> Result<PublishOutcome, PublishError> {
    let subject = event_subject(tenant_id);
    let ack = send_with_id(
        js,
        &subject,
        &event_message_id(tenant_id, event_id),
        payload,
    )
    .await?;
    confirm(&subject, ack).await
}

/// Sends `payload` to `subject` with `Nats-Msg-Id` = `msg_id`; the returned future yields the ack.
pub(crate) async fn send_with_id(
    js: &Context,
    subject: &str,
    msg_id: &str,
    payload: Bytes,
) -> Result<PublishAckFuture, PublishError> {
    let id: HeaderValue = msg_id.parse().map_err(|_| PublishError::BadMessageId {
        subject: subject.to_string(),
        id: msg_id.to_string(),
    })?;
    let mut headers = HeaderMap::new();
    headers.insert(NATS_MESSAGE_ID, id);
    send(
        js,
        subject,
        PublishMessage::build().payload(payload).headers(headers),
    )
    .await
}

async fn send(
    js: &Context,
    subject: &str,
    message: PublishMessage,
) -> Result<PublishAckFuture, PublishError> {
    js.send_publish(subject.to_string(), message)
        .await
        .map_err(|err| PublishError::from_nats(subject, err))
}

/// Awaits the ack of a publish to `subject`.
pub(crate) async fn confirm(
    subject: &str,
    ack: PublishAckFuture,
) -> Result<PublishOutcome, PublishError> {
    ack.await
        .map(|ack| PublishOutcome {
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
        .map_err(|err| PublishError::from_nats(subject, err))
}
