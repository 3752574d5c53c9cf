//! Messages of the tenant actors.

use actix::Message;
use vigil_schema::{Event, Rejection};

use vigil_schema::Millis;

use crate::alert::AlertRecord;
use crate::engine::TenantEngine;
use crate::record::TicketFact;
use crate::snapshot::TenantState;
use crate::supervisor::AlertBatch;

/// Apply one validated event; answers whether it was applied, with the alert changes it
/// caused (timer-fired alert changes go to the pool's alert channel instead).
#[derive(Debug, Message)]
#[rtype(result = "(Applied, Vec<AlertRecord>)")]
pub struct ApplyEvent {
    /// The event.
    pub event: Event,
}

/// The answer to [`ApplyEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The engine took it (alert changes went to the alert channel).
    Ok,
    /// Not applied, with the reason (`poison` if it crashed the engine).
    Rejected(Rejection),
}

/// A read of the tenant's engine at the actor's `now`: the closure runs on the actor's
/// thread, between events, and cannot change anything. The API's ticket clocks, metrics
/// snapshots and compliance reports are all reads like this.
pub struct Inspect<R>(pub EngineRead<R>);

/// A read of a tenant's engine at an instant.
pub type EngineRead<R> = Box<dyn FnOnce(&TenantEngine, Millis) -> R + Send>;

impl<R: Send + 'static> Message for Inspect<R> {
    /// `None` if the read panicked (contained; the engine is unchanged).
    type Result = Option<R>;
}

/// Apply several validated events of this tenant, in order; answers with the events (given
/// back), whether each was applied, and the alert changes they caused. One message for many
/// events keeps the per-event cost of messaging off the hot path.
#[derive(Debug, Message)]
#[rtype(result = "BatchApplied")]
pub struct ApplyBatch {
    /// The events, in stream order.
    pub events: Vec<Event>,
    /// Which events repeat an `event_id` already applied (the caller's dedupe memory): each is
    /// judged on its own and then rejected as `duplicate_event`. Empty when none is; otherwise
    /// one flag per event.
    pub repeats: Vec<bool>,
}

/// The answer to [`ApplyBatch`].
#[derive(Debug)]
pub struct BatchApplied {
    /// The events, as sent.
    pub events: Vec<Event>,
    /// One result per event.
    pub applied: Vec<Applied>,
    /// Alert changes, in order.
    pub alerts: Vec<AlertRecord>,
    /// What the events did to tickets, in order (only when the engine keeps it, see
    /// [`EngineSettings::keep_facts`](crate::EngineSettings::keep_facts)).
    pub facts: Vec<TicketFact>,
}

/// What goes through a writer's queue (the alert channel, the SLA record channel): a batch, or
/// a barrier the writer answers once every batch queued before it is written. A snapshot waits
/// for the barrier, so that nothing its state says was emitted can be lost.
#[derive(Debug)]
pub enum Queued<T> {
    /// Items to write, in order.
    Batch(T),
    /// Answered when every batch before it is written.
    Barrier(tokio::sync::oneshot::Sender<()>),
}

/// Stops a tenant's actor for good: its partition moved to another instance. Alert changes
/// its timers would emit later are the new owner's to emit.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Retire;

/// The tenant's state for a snapshot, with the alert changes it emitted that still wait in the
/// actor for room in the alert channel (handed over, so the caller queues them before its
/// barrier). Read between events.
#[derive(Debug, Message)]
#[rtype(result = "(TenantState, Vec<AlertBatch>)")]
pub struct TakeSnapshot;
