//! The tenant actor.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::fut::{wrap_future, ActorFutureExt};
use actix::{Actor, ActorContext, AsyncContext, Context, Handler, SpawnHandle, Supervised};
use tokio::sync::mpsc;
use tracing::error;
use vigil_schema::{Event, Millis, RejectReason, Rejection};

use super::messages::{
    Applied, ApplyBatch, ApplyEvent, BatchApplied, Inspect, Queued, Retire, TakeSnapshot,
};
use crate::alert::AlertRecord;
use crate::clock::Clock;
use crate::engine::{EngineSettings, TenantEngine};
use crate::policy::PolicyBook;

/// Alert changes of one tenant, in order.
pub type AlertBatch = Vec<AlertRecord>;

/// How long a tenant waits before firing its timers again after a tick panicked, so a timer
/// that panics every time cannot spin its arbiter.
const RETRY_AFTER_PANIC: Duration = Duration::from_secs(1);

/// Owns one tenant's engine. Bounded mailbox; timers fire through one `run_later` per actor.
pub struct TenantSupervisor {
    tenant_id: u64,
    engine: TenantEngine,
    clock: Arc<dyn Clock>,
    alerts: mpsc::Sender<Queued<AlertBatch>>,
    /// Timer-fired alert changes the alert channel had no room for, oldest first; sent by one
    /// waiting flush, or handed over with the next batch answer, whichever comes first.
    unsent: VecDeque<AlertBatch>,
    flushing: bool,
    wakeup: Option<(Millis, SpawnHandle)>,
    stats: Arc<TenantStats>,
    /// Told to stop for good ([`Retire`]): no timer runs again, even if restarted.
    retired: bool,
}

/// Figures a tenant actor publishes for the service's metrics, read without messaging it.
#[derive(Debug, Default)]
pub struct TenantStats {
    /// Open (not final) tickets.
    pub open_tickets: AtomicUsize,
    /// Times the actor was restarted after a poison event.
    pub restarts: AtomicU64,
    /// Panics contained in timer ticks (the tenant kept its state and tries again later).
    pub timer_panics: AtomicU64,
    /// Panics contained in reads (the read answered nothing; the state is untouched).
    pub read_panics: AtomicU64,
}

/// Mailbox capacity of a tenant actor; senders wait when it is full (back-pressure).
pub const MAILBOX: usize = 256;

impl TenantSupervisor {
    /// A supervisor for a tenant.
    pub fn new(
        tenant_id: u64,
        book: Arc<PolicyBook>,
        settings: Arc<EngineSettings>,
        clock: Arc<dyn Clock>,
        alerts: mpsc::Sender<Queued<AlertBatch>>,
        stats: Arc<TenantStats>,
    ) -> Self {
        TenantSupervisor::with_engine(
            TenantEngine::new(tenant_id, book, settings),
            clock,
            alerts,
            stats,
        )
    }

    /// A supervisor around an engine restored from a snapshot. Its timers are scheduled when
    /// it starts: those already due fire at once (alert changes are idempotent downstream).
    pub fn with_engine(
        engine: TenantEngine,
        clock: Arc<dyn Clock>,
        alerts: mpsc::Sender<Queued<AlertBatch>>,
        stats: Arc<TenantStats>,
    ) -> Self {
        stats
            .open_tickets
            .store(engine.open_tickets(), Ordering::Relaxed);
        TenantSupervisor {
            stats,
            tenant_id: engine.tenant_id(),
            engine,
            clock,
            alerts,
            unsent: VecDeque::new(),
            flushing: false,
            wakeup: None,
            retired: false,
        }
    }

    /// Hands timer-fired alert changes to the alert writer without ever blocking the arbiter:
    /// when the channel is full (the writer is behind the store or JetStream), the changes
    /// wait in this actor, in order, and one flush sends them as room appears. Meanwhile the
    /// actor keeps answering reads, and the partition worker, whose sends of batch answers
    /// wait for the same room, stops pulling events: that is the back-pressure. The waiting
    /// changes are bounded by the thresholds of this tenant's open tickets.
    fn emit(&mut self, batch: AlertBatch, ctx: &mut Context<Self>) {
        if batch.is_empty() {
            return;
        }
        if self.unsent.is_empty() {
            match self.alerts.try_send(Queued::Batch(batch)) {
                Ok(()) => return,
                // A closed channel means the service is shutting down; nothing can be recorded.
                Err(mpsc::error::TrySendError::Closed(_)) => return,
                Err(mpsc::error::TrySendError::Full(Queued::Batch(batch))) => {
                    self.unsent.push_back(batch)
                }
                Err(mpsc::error::TrySendError::Full(Queued::Barrier(_))) => return,
            }
        } else {
            self.unsent.push_back(batch);
        }
        self.flush(ctx);
    }

    /// Sends the oldest unsent batch once the channel has room, then the next, one at a time.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.flushing || self.unsent.is_empty() {
            return;
        }
        self.flushing = true;
        let room = self.alerts.clone().reserve_owned();
        ctx.spawn(wrap_future::<_, Self>(room).map(|permit, act, ctx| {
            act.flushing = false;
            let Ok(permit) = permit else {
                act.unsent.clear();
                return;
            };
            if let Some(batch) = act.unsent.pop_front() {
                permit.send(Queued::Batch(batch));
            }
            act.flush(ctx);
        }));
    }

    /// Fires due timers and schedules the next wake-up. A panic is contained: the tenant keeps
    /// its state, the panic is counted and logged, and the timers are tried again a little
    /// later.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        let mut out = Vec::new();
        let engine = &mut self.engine;
        let tenant_id = self.tenant_id;
        let result = catch_unwind(AssertUnwindSafe(|| {
            #[cfg(test)]
            tests::maybe_panic(tenant_id, tests::Place::Timer);
            engine.advance(now, true, &mut out);
        }));
        self.emit(out, ctx);
        if result.is_err() {
            self.stats.timer_panics.fetch_add(1, Ordering::Relaxed);
            error!(
                tenant_id,
                "a timer tick panicked; the tenant keeps its state and tries again"
            );
            self.cancel_wakeup(ctx);
            let handle = ctx.run_later(RETRY_AFTER_PANIC, |act, ctx| {
                act.wakeup = None;
                act.tick(ctx);
            });
            // Not a due instant: the next event's schedule replaces it.
            self.wakeup = Some((Millis::MIN, handle));
            return;
        }
        self.schedule(ctx);
    }

    fn cancel_wakeup(&mut self, ctx: &mut Context<Self>) {
        if let Some((_, h)) = self.wakeup.take() {
            ctx.cancel_future(h);
        }
    }

    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if self.retired {
            return;
        }
        let Some(due) = self.engine.next_due() else {
            self.cancel_wakeup(ctx);
            return;
        };
        if self.wakeup.as_ref().is_some_and(|(at, _)| *at == due) {
            return;
        }
        self.cancel_wakeup(ctx);
        let wait = u64::try_from(due.saturating_sub(self.clock.now())).unwrap_or(0);
        let handle = ctx.run_later(Duration::from_millis(wait), |act, ctx| {
            act.wakeup = None;
            act.tick(ctx);
        });
        self.wakeup = Some((due, handle));
    }
}

impl Actor for TenantSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
        self.schedule(ctx);
    }
}

impl Supervised for TenantSupervisor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.stats.restarts.fetch_add(1, Ordering::Relaxed);
        self.wakeup = None;
        self.flushing = false;
    }
}

impl Handler<ApplyEvent> for TenantSupervisor {
    type Result = actix::MessageResult<ApplyEvent>;

    fn handle(&mut self, msg: ApplyEvent, ctx: &mut Context<Self>) -> Self::Result {
        let mut out = self.take_unsent();
        let applied = self.apply_one(&msg.event, false, &mut out, ctx);
        self.after_apply(ctx);
        actix::MessageResult((applied, out))
    }
}

impl TenantSupervisor {
    /// Applies one event, containing a panic: a poison event is rejected and the actor is
    /// restarted (the engine checks an event completely before changing anything, so the state
    /// it keeps is the last good one). A `repeat` (its id is in the caller's dedupe memory) is
    /// judged on its own and then rejected as `duplicate_event`.
    fn apply_one(
        &mut self,
        event: &Event,
        repeat: bool,
        out: &mut Vec<AlertRecord>,
        ctx: &mut Context<Self>,
    ) -> Applied {
        let engine = &mut self.engine;
        let result = catch_unwind(AssertUnwindSafe(|| {
            #[cfg(test)]
            if event.event_id == tests::POISON_EVENT_ID {
                panic!("poison event for the supervision test");
            }
            if repeat {
                return engine.judge(event).and(Err::<(), _>(Rejection::new(
                    RejectReason::DuplicateEvent,
                    "event_id was already applied",
                )));
            }
            engine.apply(event, out)
        }));
        match result {
            Ok(Ok(())) => Applied::Ok,
            Ok(Err(r)) => Applied::Rejected(r),
            Err(_) => {
                error!(tenant_id = self.tenant_id, ticket_id = %event.ticket_id,
                    event_id = %event.event_id, "event crashed the tenant engine; restarting the actor");
                ctx.stop();
                Applied::Rejected(Rejection::new(
                    RejectReason::Poison,
                    "the event crashed its tenant actor",
                ))
            }
        }
    }

    /// Timer-fired changes still waiting for room go first in the next answer, so every change
    /// of this tenant reaches the writer in order.
    fn take_unsent(&mut self) -> Vec<AlertRecord> {
        self.unsent.drain(..).flatten().collect()
    }

    fn after_apply(&mut self, ctx: &mut Context<Self>) {
        self.stats
            .open_tickets
            .store(self.engine.open_tickets(), Ordering::Relaxed);
        self.schedule(ctx);
    }
}

impl Handler<ApplyBatch> for TenantSupervisor {
    type Result = actix::MessageResult<ApplyBatch>;

    fn handle(&mut self, msg: ApplyBatch, ctx: &mut Context<Self>) -> Self::Result {
        let mut alerts = self.take_unsent();
        let applied = msg
            .events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let repeat = msg.repeats.get(i).copied().unwrap_or(false);
                self.apply_one(e, repeat, &mut alerts, ctx)
            })
            .collect();
        self.after_apply(ctx);
        actix::MessageResult(BatchApplied {
            events: msg.events,
            applied,
            alerts,
            facts: self.engine.take_facts(),
        })
    }
}

impl Handler<TakeSnapshot> for TenantSupervisor {
    type Result = actix::MessageResult<TakeSnapshot>;

    /// The state, and the alert changes still waiting here (a flush under way finds none left
    /// and sends nothing).
    fn handle(&mut self, _: TakeSnapshot, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult((self.engine.to_state(), self.unsent.drain(..).collect()))
    }
}

impl Handler<Retire> for TenantSupervisor {
    type Result = ();

    /// Cancels the timer and stops; the supervisor does not restart an actor nobody addresses.
    fn handle(&mut self, _: Retire, ctx: &mut Context<Self>) {
        self.retired = true;
        self.cancel_wakeup(ctx);
        ctx.stop();
    }
}

impl<R: Send + 'static> Handler<Inspect<R>> for TenantSupervisor {
    type Result = actix::MessageResult<Inspect<R>>;

    /// Runs the read; a panic in it is contained (counted, logged) and answers `None`: a read
    /// cannot change the engine, so the state stays as it was.
    fn handle(&mut self, msg: Inspect<R>, _: &mut Context<Self>) -> Self::Result {
        let (engine, now, tenant_id) = (&self.engine, self.clock.now(), self.tenant_id);
        let read = catch_unwind(AssertUnwindSafe(|| {
            #[cfg(test)]
            tests::maybe_panic(tenant_id, tests::Place::Read);
            (msg.0)(engine, now)
        }));
        if read.is_err() {
            self.stats.read_panics.fetch_add(1, Ordering::Relaxed);
            error!(
                tenant_id,
                "a read of the tenant engine panicked; it answered nothing"
            );
        }
        actix::MessageResult(read.ok())
    }
}

#[cfg(test)]
mod tests;
