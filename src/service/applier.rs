//! Where a partition's events are applied: the tenant actors (wall clock: timers fire on
//! time) or an event-time driver (the same semantics as `vigil replay`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use vigil_engine::supervisor::{Applied, BatchApplied, TenantPool};
use vigil_engine::{EngineSettings, EventTimeDriver, PolicyBook};
use vigil_schema::Event;

/// What travels with an event through the engine: where it came from, and its bytes for the
/// dead-letter subject.
#[derive(Debug, Clone)]
pub struct Tag {
    /// Stream sequence of the message.
    pub sequence: u64,
    /// The message as received.
    pub payload: Bytes,
    /// When the worker received it (for the processing latency histogram).
    pub received: std::time::Instant,
    /// Whether its id was in the dedupe memory when it was handed to the engine (the engine
    /// judges it on its own, then rejects it as a repeat).
    pub repeat: bool,
    /// Its dedupe key, hashed once when tenant actors apply it (`None` for the event-time
    /// driver, which keeps its own dedupe memory).
    pub key: Option<vigil_schema::EventKey>,
}

/// The result of applying one event.
pub struct Outcome {
    /// Where it came from.
    pub tag: Tag,
    /// The event.
    pub event: Event,
    /// Applied or rejected.
    pub applied: Applied,
}

/// A pending answer from a tenant actor to a batch of its events: the tags of the events, in
/// order, and the actor's answer (or why there was none).
pub type PendingApply =
    Pin<Box<dyn Future<Output = (Vec<Tag>, Result<BatchApplied, String>)> + Send>>;

/// Where a partition worker applies its events: the engine it feeds.
pub enum Applier {
    /// Tenant actors on the arbiters; answers come back asynchronously, in order per tenant.
    Actors(Arc<TenantPool>),
    /// An event-time driver owned by the worker.
    EventTime(Box<EventTimeDriver<Tag>>),
}

impl Applier {
    /// Tenant actors.
    pub fn actors(pool: Arc<TenantPool>) -> Applier {
        Applier::Actors(pool)
    }

    /// An event-time driver.
    pub fn event_time(
        book: Arc<PolicyBook>,
        settings: Arc<EngineSettings>,
        lateness_ms: i64,
    ) -> Applier {
        Applier::EventTime(Box::new(EventTimeDriver::new(book, settings, lateness_ms)))
    }
}
