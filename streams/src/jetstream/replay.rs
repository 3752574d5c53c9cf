//! Reading a partition from a given sequence, to rebuild state on start.
//!
//! On start a partition worker asks [`last_sequence`] where the partition ends and reads it
//! with [`replay_partition`] from the sequence after its latest snapshot (from the start when it
//! has none) until it has applied that last sequence; a restarted worker reads on from the
//! sequence after the last one it read. The replay uses an ordered consumer: ephemeral,
//! unacked, in-memory, recreated by the client if it stalls, and gone when dropped.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use std::time::Duration;

use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig, OrderedErrorKind};
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use async_nats::jetstream::Context;
use futures::Stream;

use super::message::{partition_message, PartitionMessage};
use super::subjects::{partition_filter, tenant_filter};
use super::BoxError;

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The replay consumer could not be created.
    #[error("cannot start replay of partition {partition}: {source}")]
    Create {
        /// The partition.
        partition: u32,
        /// What failed.
        source: BoxError,
    },
    /// Receiving failed; the ordered consumer recreates itself where it can.
    #[error("replay of partition {partition} failed: {source}")]
    Receive {
        /// The partition.
        partition: u32,
        /// False only for a misconfigured consumer.
        retryable: bool,
        /// What failed.
        source: BoxError,
    },
    /// A message had no JetStream metadata (never happens with a pull consumer).
    #[error("replay of partition {partition} got a message without JetStream metadata")]
    NotJetStream {
        /// The partition.
        partition: u32,
    },
    /// The partition's last sequence could not be read.
    #[error("cannot read the last sequence of partition {partition}: {source}")]
    LastSequence {
        /// The partition.
        partition: u32,
        /// What failed.
        source: BoxError,
    },
}

impl ReplayError {
    /// Whether trying again can help.
    pub fn is_retryable(&self) -> bool {
        match self {
            ReplayError::Receive { retryable, .. } => *retryable,
            ReplayError::NotJetStream { .. } => false,
            ReplayError::Create { .. } | ReplayError::LastSequence { .. } => true,
        }
    }
}

/// The stream sequence of the newest message in `partition`, or `None` when it is empty.
/// A replay has caught up once it has seen this sequence (or a message with `pending == 0`).
pub async fn last_sequence(
    js: &Context,
    stream: &str,
    partition: u32,
) -> Result<Option<u64>, ReplayError> {
    last_sequence_of(js, stream, partition, &partition_filter(partition)).await
}

/// The stream sequence of the newest event of `tenant_id` (in its `partition`), or `None`
/// when it has none.
pub async fn last_tenant_sequence(
    js: &Context,
    stream: &str,
    partition: u32,
    tenant_id: u64,
) -> Result<Option<u64>, ReplayError> {
    last_sequence_of(js, stream, partition, &tenant_filter(partition, tenant_id)).await
}

async fn last_sequence_of(
    js: &Context,
    stream: &str,
    partition: u32,
    filter: &str,
) -> Result<Option<u64>, ReplayError> {
    let fail = |source: BoxError| ReplayError::LastSequence { partition, source };
    let stream = js
        .get_stream_no_info(stream)
        .await
        .map_err(|e| fail(Box::new(e)))?;
    match stream.get_last_raw_message_by_subject(filter).await {
        Ok(message) => Ok(Some(message.sequence)),
        Err(err) if err.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(err) => Err(fail(Box::new(err))),
    }
}

/// How long a replay's pull request lasts (its idle heartbeat is half of it).
const REPLAY_PULL_EXPIRES: Duration = Duration::from_secs(2);

/// Reads `partition` of `stream` in order from `from_sequence` (0 or 1: from the start). The
/// returned stream never ends on its own: it waits for new messages after the last one.
#[tracing::instrument(skip(js))]
pub async fn replay_partition(
    js: &Context,
    stream: &str,
    partition: u32,
    from_sequence: u64,
) -> Result<ReplayMessages, ReplayError> {
    replay_filtered(
        js,
        stream,
        partition,
        partition_filter(partition),
        from_sequence,
    )
    .await
}

/// Reads the events of `tenant_id` (in its `partition`) in order from the start; like
/// [`replay_partition`], the stream never ends on its own.
#[tracing::instrument(skip(js))]
pub async fn replay_tenant(
    js: &Context,
    stream: &str,
    partition: u32,
    tenant_id: u64,
) -> Result<ReplayMessages, ReplayError> {
    replay_filtered(
        js,
        stream,
        partition,
        tenant_filter(partition, tenant_id),
        1,
    )
    .await
}

async fn replay_filtered(
    js: &Context,
    stream: &str,
    partition: u32,
    filter_subject: String,
    from_sequence: u64,
) -> Result<ReplayMessages, ReplayError> {
    let fail = |source: BoxError| ReplayError::Create { partition, source };
    let config = OrderedConfig {
        filter_subject,
        deliver_policy: if from_sequence <= 1 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: from_sequence,
            }
        },
        // Pull requests last this long, and the server sends an idle heartbeat every half of
        // it: a consumer lost with a nats-server restart is noticed (and recreated by the
        // client) within seconds, instead of the client's default 30 s expiry and 15 s
        // heartbeat.
        max_expires: REPLAY_PULL_EXPIRES,
        ..OrderedConfig::default()
    };
    let inner = js
        .create_consumer_on_stream(config, stream)
        .await
        .map_err(|e| fail(Box::new(e)))?
        .messages()
        .await
        .map_err(|e| fail(Box::new(e)))?;
    Ok(ReplayMessages { partition, inner })
}

/// The messages of a replay, as a [`Stream`] of [`PartitionMessage`] (nothing to acknowledge).
pub struct ReplayMessages {
    partition: u32,
    inner: Ordered,
}

impl std::fmt::Debug for ReplayMessages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayMessages")
            .field("partition", &self.partition)
            .finish_non_exhaustive()
    }
}

impl Stream for ReplayMessages {
    type Item = Result<PartitionMessage, ReplayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let partition = self.partition;
        Pin::new(&mut self.inner).poll_next(cx).map(|item| {
            item.map(|result| match result {
                Ok(message) => {
                    partition_message(message).ok_or(ReplayError::NotJetStream { partition })
                }
                Err(err) => Err(ReplayError::Receive {
                    partition,
                    retryable: !matches!(
                        err.kind(),
                        OrderedErrorKind::PushBasedConsumer
                            | OrderedErrorKind::RequestLimitExceeded
                    ),
                    source: Box::new(err),
                }),
            })
        })
    }
}
