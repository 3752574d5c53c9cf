//! A stored event as a partition replay reads it.

use bytes::Bytes;

use super::subjects::tenant_of_subject;

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
}

/// Our message of a JetStream message. `None` when it carries no JetStream metadata (never for
/// a consumer's delivery).
pub(crate) fn partition_message(
    message: async_nats::jetstream::Message,
) -> Option<PartitionMessage> {
    let info = message.info().ok()?;
    let (stream_sequence, pending) = (info.stream_sequence, info.pending);
    let (message, _acker) = message.split();
    Some(PartitionMessage {
        tenant_id: tenant_of_subject(&message.subject),
        payload: message.payload,
        stream_sequence,
        pending,
    })
}
