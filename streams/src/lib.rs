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

pub mod event;
pub mod reject;
pub mod time;

pub use event::{decode, Event, EventKind, Status};
pub use reject::{RejectReason, Rejection};
pub use time::{format_instant, parse_duration, parse_instant, DurationError, Millis};
