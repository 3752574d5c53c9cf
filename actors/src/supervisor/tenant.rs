//! The tenant actor.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorContext, AsyncContext, Context, Handler, SpawnHandle, Supervised};
use tokio::sync::mpsc;
use tracing::error;
use vigil_streams::{Event, Millis, RejectReason, Rejection};

use super::messages::{Applied, ApplyBatch, ApplyEvent, BatchApplied, Inspect};
use crate::alert::AlertRecord;
use crate::clock::Clock;
use crate::engine::{EngineSettings, TenantEngine};
use crate::policy::PolicyBook;

/// Alert changes of one tenant, in order.
pub type AlertBatch = Vec<AlertRecord>;

/// Owns one tenant's engine. Bounded mailbox; timers fire through one `run_later` per actor.
pub struct TenantSupervisor {
    tenant_id: u64,
    engine: TenantEngine,
    clock: Arc<dyn Clock>,
    alerts: mpsc::Sender<AlertBatch>,
    wakeup: Option<(Millis, SpawnHandle)>,
    stats: Arc<TenantStats>,
}

/// Figures a tenant actor publishes for the service's metrics, read without messaging it.
#[derive(Debug, Default)]
pub struct TenantStats {
    /// Open (not final) tickets.
    pub open_tickets: AtomicUsize,
    /// Times the actor was restarted after a poison event.
    pub restarts: AtomicU64,
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
        alerts: mpsc::Sender<AlertBatch>,
        stats: Arc<TenantStats>,
    ) -> Self {
        TenantSupervisor {
            stats,
            tenant_id,
            engine: TenantEngine::new(tenant_id, book, settings),
            clock,
            alerts,
            wakeup: None,
        }
    }

    /// Hands timer-fired alert changes to the alert writer. When its channel is full the writer
    /// is behind the store: this arbiter waits for room, which is the back-pressure that keeps
    /// memory bounded (its mailboxes fill and the consumers stop pulling).
    fn emit(&self, batch: AlertBatch) {
        if batch.is_empty() {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(batch)) = self.alerts.try_send(batch) {
            // A closed channel means the service is shutting down; nothing can be recorded.
            let _ = futures::executor::block_on(self.alerts.send(batch));
        }
    }

    /// Fires due timers and schedules the next wake-up.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        let mut out = Vec::new();
        self.engine.advance(now, true, &mut out);
        self.emit(out);
        self.schedule(ctx);
    }

    fn schedule(&mut self, ctx: &mut Context<Self>) {
        let Some(due) = self.engine.next_due() else {
            if let Some((_, h)) = self.wakeup.take() {
                ctx.cancel_future(h);
            }
            return;
        };
        if self.wakeup.as_ref().is_some_and(|(at, _)| *at == due) {
            return;
        }
        if let Some((_, h)) = self.wakeup.take() {
            ctx.cancel_future(h);
        }
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
    }
}

impl Handler<ApplyEvent> for TenantSupervisor {
    type Result = actix::MessageResult<ApplyEvent>;

    fn handle(&mut self, msg: ApplyEvent, ctx: &mut Context<Self>) -> Self::Result {
        let mut out = Vec::new();
        let applied = self.apply_one(&msg.event, &mut out, ctx);
        self.after_apply(ctx);
        actix::MessageResult((applied, out))
    }
}

impl TenantSupervisor {
    /// Applies one event, containing a panic: a poison event is rejected and the actor is
    /// restarted (the engine checks an event completely before changing anything, so the state
    /// it keeps is the last good one).
    fn apply_one(
        &mut self,
        event: &Event,
        out: &mut Vec<AlertRecord>,
        ctx: &mut Context<Self>,
    ) -> Applied {
        let engine = &mut self.engine;
        let result = catch_unwind(AssertUnwindSafe(|| {
            #[cfg(test)]
            if event.event_id == tests::POISON_EVENT_ID {
                panic!("poison event for the supervision test");
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
        let mut alerts = Vec::new();
        let applied = msg
            .events
            .iter()
            .map(|e| self.apply_one(e, &mut alerts, ctx))
            .collect();
        self.after_apply(ctx);
        actix::MessageResult(BatchApplied {
            events: msg.events,
            applied,
            alerts,
            records: self.engine.take_records(),
        })
    }
}

impl<R: Send + 'static> Handler<Inspect<R>> for TenantSupervisor {
    type Result = actix::MessageResult<Inspect<R>>;

    fn handle(&mut self, msg: Inspect<R>, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult((msg.0)(&self.engine, self.clock.now()))
    }
}

#[cfg(test)]
mod tests;
