//! The durable pull consumer of one partition.
//!
//! Each owned partition `n` has a durable consumer `<prefix><n>` filtered to `vigil.p.<n>.*`,
//! delivering from the start of the stream, with explicit (or all) acks and a bounded number of
//! unacked messages: when the engine falls behind, the server stops delivering (back-pressure).

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use async_nats::jetstream::consumer::pull::{self, MessagesErrorKind};
use async_nats::jetstream::consumer::{AckPolicy, Consumer, DeliverPolicy};
use async_nats::jetstream::Context;
use futures::Stream;

use super::config::{AckMode, ConsumerSettings};
use super::message::{delivery, split, Delivery};
use super::subjects::partition_filter;
use super::BoxError;

/// Why a partition consumer failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// The durable consumer could not be created or updated.
    #[error("cannot create consumer of partition {partition}: {source}")]
    Create {
        /// The partition.
        partition: u32,
        /// Whether JetStream merely did not answer (true) or refused the config (false).
        retryable: bool,
        /// What failed.
        source: BoxError,
    },
    /// Receiving messages failed (missed heartbeats, consumer deleted, connection lost).
    #[error("receiving from partition {partition} failed: {source}")]
    Receive {
        /// The partition.
        partition: u32,
        /// False only when the consumer was deleted or misconfigured; recreate it then.
        retryable: bool,
        /// What failed.
        source: BoxError,
    },
    /// A delivered message had no JetStream metadata (never happens with a pull consumer).
    #[error("partition {partition} delivered a message without JetStream metadata")]
    NotJetStream {
        /// The partition.
        partition: u32,
    },
    /// The consumer's state could not be read.
    #[error("cannot read the state of the consumer of partition {partition}: {source}")]
    Info {
        /// The partition.
        partition: u32,
        /// What failed.
        source: BoxError,
    },
}

impl ConsumeError {
    /// Whether trying again (or, for `Receive`, simply polling on) can help.
    pub fn is_retryable(&self) -> bool {
        match self {
            ConsumeError::Create { retryable, .. } | ConsumeError::Receive { retryable, .. } => {
                *retryable
            }
            ConsumeError::NotJetStream { .. } => false,
            ConsumeError::Info { .. } => true,
        }
    }
}

/// How far a partition consumer is behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConsumerLag {
    /// Messages in the partition not yet delivered to the consumer.
    pub pending: u64,
    /// Messages delivered but not yet acknowledged.
    pub ack_pending: u64,
}

impl ConsumerLag {
    /// Messages not yet applied and acknowledged (`vigil_consumer_pending`).
    pub fn total(&self) -> u64 {
        self.pending + self.ack_pending
    }
}

/// The durable pull consumer of one partition.
#[derive(Debug)]
pub struct PartitionConsumer {
    partition: u32,
    batch: usize,
    consumer: Consumer<pull::Config>,
}

impl PartitionConsumer {
    /// Creates (or updates to `settings`) the durable consumer of `partition` on `stream`.
    /// Changing the ack mode of an existing consumer is refused by the server; delete the
    /// consumer first.
    #[tracing::instrument(skip(js, settings), fields(durable = %settings.durable_name(partition)))]
    pub async fn create(
        js: &Context,
        stream: &str,
        partition: u32,
        settings: &ConsumerSettings,
    ) -> Result<Self, ConsumeError> {
        let durable = settings.durable_name(partition);
        let config = pull::Config {
            durable_name: Some(durable),
            description: Some(format!("Vigil engine, partition {partition}")),
            filter_subject: partition_filter(partition),
            deliver_policy: DeliverPolicy::All,
            ack_policy: match settings.ack_mode {
                AckMode::Explicit => AckPolicy::Explicit,
                AckMode::All => AckPolicy::All,
            },
            ack_wait: settings.ack_wait,
            max_ack_pending: i64::from(settings.max_ack_pending.max(1)),
            ..pull::Config::default()
        };
        let consumer = js
            .create_consumer_on_stream(config, stream)
            .await
            .map_err(|err| ConsumeError::Create {
                partition,
                retryable: !matches!(
                    err.kind(),
                    async_nats::jetstream::stream::ConsumerErrorKind::JetStream(_)
                        | async_nats::jetstream::stream::ConsumerErrorKind::InvalidName
                        | async_nats::jetstream::stream::ConsumerErrorKind::InvalidConsumerType
                ),
                source: Box::new(err),
            })?;
        Ok(PartitionConsumer {
            partition,
            batch: settings.batch.max(1) as usize,
            consumer,
        })
    }

    /// The partition.
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// Starts receiving: unacked and new messages of the partition, in stream order (a
    /// redelivery may come after later messages). The stream never ends on its own; an error
    /// item with [`ConsumeError::is_retryable`] is transient and the stream goes on.
    pub async fn messages(&self) -> Result<PartitionMessages, ConsumeError> {
        let inner = self
            .consumer
            .stream()
            .max_messages_per_batch(self.batch)
            .messages()
            .await
            .map_err(|err| ConsumeError::Receive {
                partition: self.partition,
                retryable: true,
                source: Box::new(err),
            })?;
        Ok(PartitionMessages {
            partition: self.partition,
            inner,
        })
    }

    /// Asks the server how far this consumer is behind.
    pub async fn lag(&self) -> Result<ConsumerLag, ConsumeError> {
        let info = self
            .consumer
            .get_info()
            .await
            .map_err(|err| ConsumeError::Info {
                partition: self.partition,
                source: Box::new(err),
            })?;
        Ok(ConsumerLag {
            pending: info.num_pending,
            ack_pending: info.num_ack_pending as u64,
        })
    }
}

/// The messages of a [`PartitionConsumer`], as a [`Stream`] of [`Delivery`].
pub struct PartitionMessages {
    partition: u32,
    inner: pull::Stream,
}

impl std::fmt::Debug for PartitionMessages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionMessages")
            .field("partition", &self.partition)
            .finish_non_exhaustive()
    }
}

impl Stream for PartitionMessages {
    type Item = Result<Delivery, ConsumeError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let partition = self.partition;
        Pin::new(&mut self.inner).poll_next(cx).map(|item| {
            item.map(|result| match result {
                Ok(message) => split(message)
                    .map(|(message, acker)| delivery(message, acker))
                    .ok_or(ConsumeError::NotJetStream { partition }),
                Err(err) => Err(ConsumeError::Receive {
                    partition,
                    retryable: !matches!(
                        err.kind(),
                        MessagesErrorKind::ConsumerDeleted
                            | MessagesErrorKind::PushBasedConsumer
                            | MessagesErrorKind::RequestLimitExceeded
                    ),
                    source: Box::new(err),
                }),
            })
        })
    }
}
