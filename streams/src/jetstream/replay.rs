//! Reading a partition from a given sequence, to rebuild state on start.
//!
//! On start a partition worker asks [`last_sequence`] where the partition ends and reads it
//! with [`replay_partition`] from the sequence after its latest snapshot (from the start when it
//! has none) until it has applied that last sequence; a restarted worker reads on from the
//! sequence after the last one it read. The replay uses an ordered consumer: ephemeral,
//! unacked, in-memory, recreated by the client if it stalls, and gone when dropped. One-off
//! readers of a tenant's history (what-if, export) use [`read_history`] instead.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use std::time::Duration;

use async_nats::jetstream::consumer::pull::{
    self, MessagesErrorKind, Ordered, OrderedConfig, OrderedErrorKind,
};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy};
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use async_nats::jetstream::Context;
use futures::{ready, Stream};

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

/// Messages asked for per pull request by [`read_history`].
const HISTORY_BATCH: usize = 10_000;

/// Reads `partition` of `stream` once, oldest first: the events of `tenant_id`, or all of
/// them. For one-off readers (what-if, export) that know where to stop (the last sequence):
/// a plain ephemeral consumer without acks asking for large batches, about 1.5× the rate of
/// the ordered consumer of [`replay_partition`] on the same server. The server removes it
/// once it is idle; it is not recreated after a nats-server restart, so the reader fails with
/// [`ReplayError::Receive`] and may simply start again.
#[tracing::instrument(skip(js))]
pub async fn read_history(
    js: &Context,
    stream: &str,
    partition: u32,
    tenant_id: Option<u64>,
) -> Result<ReplayMessages, ReplayError> {
    let fail = |source: BoxError| ReplayError::Create { partition, source };
    let config = pull::Config {
        filter_subject: match tenant_id {
            Some(t) => tenant_filter(partition, t),
            None => partition_filter(partition),
        },
        ack_policy: AckPolicy::None,
        deliver_policy: DeliverPolicy::All,
        memory_storage: true,
        inactive_threshold: Duration::from_secs(30),
        ..pull::Config::default()
    };
    let inner = js
        .create_consumer_on_stream(config, stream)
        .await
        .map_err(|e| fail(Box::new(e)))?
        .stream()
        .max_messages_per_batch(HISTORY_BATCH)
        .messages()
        .await
        .map_err(|e| fail(Box::new(e)))?;
    Ok(ReplayMessages {
        partition,
        inner: Inner::Pull(Box::new(inner)),
    })
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
    Ok(ReplayMessages {
        partition,
        inner: Inner::Ordered(Box::new(inner)),
    })
}

/// The messages of a replay, as a [`Stream`] of [`PartitionMessage`] (nothing to acknowledge).
pub struct ReplayMessages {
    partition: u32,
    inner: Inner,
}

/// The consumer a replay reads.
enum Inner {
    /// Recreated by the client when it stalls: for replays that follow the partition.
    Ordered(Box<Ordered>),
    /// Plain and ephemeral, large batches: for reads of history that end.
    Pull(Box<pull::Stream>),
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
        let receive = |retryable: bool, source: BoxError| ReplayError::Receive {
            partition,
            retryable,
            source,
        };
        let message = match &mut self.inner {
            Inner::Ordered(inner) => ready!(Pin::new(&mut **inner).poll_next(cx)).map(|r| {
                r.map_err(|err| {
                    let retryable = !matches!(
                        err.kind(),
                        OrderedErrorKind::PushBasedConsumer
                            | OrderedErrorKind::RequestLimitExceeded
                    );
                    receive(retryable, Box::new(err))
                })
            }),
            Inner::Pull(inner) => ready!(Pin::new(&mut **inner).poll_next(cx)).map(|r| {
                r.map_err(|err| {
                    let retryable = !matches!(
                        err.kind(),
                        MessagesErrorKind::PushBasedConsumer
                            | MessagesErrorKind::RequestLimitExceeded
                    );
                    receive(retryable, Box::new(err))
                })
            }),
        };
        Poll::Ready(message.map(|result| {
            result.and_then(|m| partition_message(m).ok_or(ReplayError::NotJetStream { partition }))
        }))
    }
}
