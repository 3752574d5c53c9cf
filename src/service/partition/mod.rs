//! One partition worker: reads its partition from after its latest snapshot (or from the start
//! of the stream, rebuilding state by replay, when there is none), decodes, validates and dedupes each event, applies it, and dead-letters rejects. A
//! worker that fails is restarted with back-off and resumes where it stopped reading.
//!
//! Progress (the last stream sequence fully handled) is kept in the store, so that after a
//! restart the rebuild neither dead-letters nor counts an event a second time. Messages are not
//! acknowledged: the worker reads through an ordered consumer, and what a durable ack floor
//! would record is this progress, written only after the events up to it were applied.
//!
//! # Layout
//! - `worker`: the [`PartitionWorker`] and its read loop: rounds of messages to the engine,
//!   answers booked as they come, progress saved.
//! - `supervisor`: a worker that fails, ends or panics restarted with back-off, resuming
//!   after the last message it read.
//! - `admission`: each message decoded, checked against its subject's tenant, and handed to
//!   the engine; dedupe against applied and in-flight event ids.
//! - `booking`: the engine's answers booked: applied ids remembered, rejects counted and
//!   dead-lettered, progress advanced.
//! - `caught_up`: readiness: whether every partition has caught up with the stream.
//! - `snapshot`: the partition's state saved every so many events or minutes (after a barrier
//!   through the alert and record writers), and restored on start.

mod admission;
mod booking;
mod caught_up;
mod snapshot;
mod supervisor;
mod worker;

pub use caught_up::CaughtUp;
pub use snapshot::SnapshotEvery;
pub use worker::PartitionWorker;

#[cfg(test)]
mod tests;
