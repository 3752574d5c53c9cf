//! Vigil's event side: the upstream event contract and everything that moves events.
//!
//! Events arrive as JSON on `vigil.events.<tenant_id>`; JetStream maps them into a fixed number
//! of partitions so every tenant's events stay in one ordered partition. This crate decodes and
//! validates them, remembers which were applied (dedupe), sends rejects to the dead-letter
//! subject, and reads NDJSON files for replay.
//!
//! # Layout
//! - [`event`]: the event types, [`event::decode`] and schema validation.
//! - [`reject`]: the closed set of rejection reasons.
//! - [`time`]: instants as milliseconds, RFC 3339 parsing and formatting.
//! - [`jetstream`]: streams and partitions, replay of a partition from a sequence, and the
//!   dead-letter, alert and event publishers.
//! - [`dedupe`]: bounded-memory memory of applied `(tenant_id, event_id)` pairs.
//! - [`ndjson`]: a fast NDJSON line reader for `vigil replay` and `vigil publish`.
//! - `fd_limit` (Unix): raising the process's open-file limit, for the service and the load
//!   tests.
//! - [`server`]: a `nats-server` child process with JetStream, for `vigil demo` and tests.

pub mod dedupe;
pub mod event;
#[cfg(unix)]
pub mod fd_limit;
pub mod jetstream;
pub mod ndjson;
pub mod reject;
pub mod server;
pub mod time;

pub use dedupe::{Dedupe, EventKey};
pub use event::{decode, Event, EventKind, Status};
pub use jetstream::{
    ensure_streams, owned_partitions, partition_of, publish_alert, publish_dead_letter,
    EventPublisher, PartitionMessage, StreamSettings,
};
pub use ndjson::{read_lines, Line, NdjsonReader};
pub use reject::{RejectReason, Rejection};
pub use server::{locate_nats_server, NatsChild};
pub use time::{format_instant, parse_duration, parse_instant, DurationError, Millis};
