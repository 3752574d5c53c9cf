//! JetStream plumbing: streams, partitions, partition replay and publishers.
//!
//! # Layout
//! - [`subjects`]: stream names, subjects and headers, defined once.
//! - [`config`]: settings of the streams and the event publisher.
//! - [`setup`]: [`ensure_streams`] creates or verifies `VIGIL_EVENTS`, `VIGIL_DLQ`, `VIGIL_ALERTS`.
//! - [`partition`]: [`partition_of`] (nats-server's `partition(P,1)`).
//! - [`message`]: [`PartitionMessage`], one stored event of a partition.
//! - [`replay`]: [`replay_partition`] and [`last_sequence`], to rebuild state on start.
//! - [`publish`]: [`publish_dead_letter`], [`publish_to_dead_letters`], [`publish_alert`] and
//!   [`PublishError`].
//! - [`events`]: [`EventPublisher`] (pipelined, rate-limited) and [`publish_events`].

pub mod config;
pub mod events;
pub mod message;
pub mod partition;
pub mod publish;
pub mod replay;
pub mod setup;
pub mod subjects;

pub use config::{PublisherSettings, StreamSettings};
pub use events::{publish_events, EventPublisher, PublishStats};
pub use message::PartitionMessage;
pub use partition::partition_of;
pub use publish::{
    publish_alert, publish_dead_letter, publish_event, publish_to_dead_letters, PublishError,
    PublishOutcome,
};
pub use replay::{
    last_sequence, last_tenant_sequence, read_history, replay_partition, ReplayError,
    ReplayMessages,
};
pub use setup::{ensure_streams, SetupError};

/// The source of an error that crossed from the NATS client.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
