//! Vigil's event transport: everything that moves events, alerts and rejects.
//!
//! Events arrive as JSON on `vigil.events.<tenant_id>`; JetStream maps them into a fixed number
//! of partitions so every tenant's events stay in one ordered partition. This crate moves them:
//! it sets up the streams, reads a partition, publishes events, alerts and rejects (to the
//! dead-letter subject), and reads NDJSON files for replay. What an event is, and how it is
//! decoded and judged, is `vigil-schema`'s.
//!
//! # Layout
//! - [`jetstream`]: streams and partitions, replay of a partition from a sequence, and the
//!   dead-letter, alert and event publishers.
//! - [`leases`]: partition leases and instance heartbeats in a NATS KV bucket.
//! - [`ndjson`]: a fast NDJSON line reader for `vigil replay` and `vigil publish`.
//! - `fd_limit` (Unix): raising the process's open-file limit, for the service and the load
//!   tests.
//! - [`server`]: a `nats-server` child process with JetStream, for `vigil demo` and tests.
//! - [`servers`]: the server list of `[nats] url` (one server or a cluster).

#[cfg(unix)]
pub mod fd_limit;
pub mod jetstream;
pub mod leases;
pub mod ndjson;
pub mod server;
pub mod servers;

pub use jetstream::{
    ensure_streams, partition_of, publish_alert, publish_dead_letter, EventPublisher,
    PartitionMessage, StreamSettings,
};
pub use leases::{host_name, ClusterView, Holder, Lease, LeaseBucket, LeaseError, Owner};
pub use ndjson::{read_lines, Line, NdjsonReader};
pub use server::{locate_nats_server, ClusterMember, NatsChild};
pub use servers::server_addrs;
