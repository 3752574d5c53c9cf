//! A stored event as a partition consumer sees it, and the handle that acknowledges it.

use std::time::Duration;

use async_nats::jetstream::message::{AckKind, Acker};
use bytes::Bytes;

use super::subjects::tenant_of_subject;
use super::BoxError;

/// One stored event of a partition: the raw bytes and where it sits in the stream.
#[derive(Debug, Clone)]
pub struct PartitionMessage {
    /// The event exactly as published (not yet decoded or validated).
    pub payload: Bytes,
    /// The tenant id from the subject `vigil.p.<partition>.<tenant_id>`, when it is one.
    pub tenant_id: Option<u64>,
    /// The message's sequence in the events stream (increasing within a partition).
    pub stream_sequence: u64,
    /// Messages of the partition after this one that the consumer had not yet delivered when
    /// this one was sent; 0 means the consumer had caught up at that moment.
    pub pending: u64,
    /// Delivery attempt, 1 for the first; above 1 is a redelivery (not acked in time).
    pub delivered: u64,
}

/// A message of a durable partition consumer with the handle to acknowledge it.
#[derive(Debug)]
pub struct Delivery {
    /// The message.
    pub message: PartitionMessage,
    /// Acknowledges it; see [`AckHandle`].
    pub ack: AckHandle,
}

/// Acknowledges one delivered message. Detached from the payload, so the engine can drop the
/// bytes and keep only this until the event's effect is applied (ack after success).
///
/// Under [`AckMode::All`](super::AckMode::All), [`ack`](Self::ack) also acknowledges every
/// earlier message of the partition: keep the handle of the newest applied message and ack
/// that one.
pub struct AckHandle {
    acker: Acker,
    stream_sequence: u64,
}

impl std::fmt::Debug for AckHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckHandle")
            .field("stream_sequence", &self.stream_sequence)
            .finish_non_exhaustive()
    }
}

/// An acknowledgement could not be sent (connection lost); the server will redeliver the
/// message after `ack_wait`, so trying again or letting it be redelivered are both fine.
#[derive(Debug, thiserror::Error)]
#[error("cannot acknowledge stream sequence {stream_sequence}: {source}")]
pub struct AckError {
    /// The message's stream sequence.
    pub stream_sequence: u64,
    /// What failed.
    pub source: BoxError,
}

impl AckError {
    /// Always true: acks are idempotent and a lost ack only causes a redelivery.
    pub fn is_retryable(&self) -> bool {
        true
    }
}

impl AckHandle {
    /// The stream sequence this handle acknowledges.
    pub fn stream_sequence(&self) -> u64 {
        self.stream_sequence
    }

    /// Acknowledges the message (fire and forget: sent, not confirmed by the server).
    pub async fn ack(&self) -> Result<(), AckError> {
        self.send(self.acker.ack()).await
    }

    /// Acknowledges the message and waits until the server confirms it, e.g. before writing a
    /// snapshot that claims the message as applied.
    pub async fn ack_confirmed(&self) -> Result<(), AckError> {
        self.send(self.acker.double_ack()).await
    }

    /// Asks for redelivery, after `delay` if given (a transient failure downstream).
    pub async fn nak(&self, delay: Option<Duration>) -> Result<(), AckError> {
        self.send(self.acker.ack_with(AckKind::Nak(delay))).await
    }

    /// Stops redelivery for good (a poison message already dead-lettered).
    pub async fn term(&self) -> Result<(), AckError> {
        self.send(self.acker.ack_with(AckKind::Term)).await
    }

    async fn send(
        &self,
        ack: impl std::future::Future<Output = Result<(), async_nats::Error>>,
    ) -> Result<(), AckError> {
        ack.await.map_err(|source| AckError {
            stream_sequence: self.stream_sequence,
            source,
        })
    }
}

/// Splits a JetStream message into our message and its acker. `None` when it carries no
/// JetStream reply subject (never for a consumer's delivery).
pub(crate) fn split(message: async_nats::jetstream::Message) -> Option<(PartitionMessage, Acker)> {
    let info = message.info().ok()?;
    let (stream_sequence, pending) = (info.stream_sequence, info.pending);
    let delivered = u64::try_from(info.delivered).unwrap_or(1);
    let (message, acker) = message.split();
    Some((
        PartitionMessage {
            tenant_id: tenant_of_subject(&message.subject),
            payload: message.payload,
            stream_sequence,
            pending,
            delivered,
        },
        acker,
    ))
}

/// Pairs a message with its ack handle.
pub(crate) fn delivery(message: PartitionMessage, acker: Acker) -> Delivery {
    Delivery {
        ack: AckHandle {
            acker,
            stream_sequence: message.stream_sequence,
        },
        message,
    }
}
