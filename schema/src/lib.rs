//! Vigil's event contract, the kernel every other crate shares: what an upstream event is, how
//! it is decoded and validated, instants as milliseconds, why an event is rejected, and the key
//! that tells a repeat from a new event. Pure data and functions: no I/O, no async, so the SLA
//! engine (`vigil-engine`) depends on nothing that talks to the network.
//!
//! # Layout
//! - [`event`]: the event types, [`event::decode`] and schema validation (DESIGN §2).
//! - [`reject`]: the closed set of rejection reasons.
//! - [`time`]: instants as milliseconds, RFC 3339 parsing and formatting, durations.
//! - [`dedupe`]: bounded-memory memory of applied `(tenant_id, event_id)` pairs and their keys.
//! - [`prefetch`]: a cache hint for lookups whose keys are known ahead.

pub mod dedupe;
pub mod event;
pub mod prefetch;
pub mod reject;
pub mod time;

pub use dedupe::{Dedupe, EventKey};
pub use event::{decode, Event, EventKind, Status};
pub use reject::{RejectReason, Rejection};
pub use time::{format_instant, parse_duration, parse_instant, DurationError, Millis};
