//! The fact writer: keeps what the engine tells of tickets. Every fact goes to the store's
//! reporting history (when `[reports]` is on), and the SLA record of each stopped goal is put
//! into the store (our side of every partner's reconciliation) and queued in the outbox of
//! every partner serving its tenant, whose workers are then woken. Restarts derive the facts
//! again from the stream; the store keeps each fact once and only the latest stop of each
//! goal, so repeats change and queue nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use vigil_engine::clock::Clock;
use vigil_engine::supervisor::Queued;
use vigil_engine::{FactKind, SlaRecord, TicketFact};

use vigil::partner::PartnerConfig;
use vigil::report::zone::ReportZones;
use vigil::store::Store;

use super::dead_letters;
use super::store_retry::until_stored_isolating;

/// Facts per store transaction at most.
const BATCH: usize = 4_096;
/// How long facts gather before they are written, unless a barrier or a full batch comes
/// first. A transaction rewrites every page it touches (the facts' keys and indexes, the
/// rollups of each tenant and day), so many small ones cost far more than a few larger ones;
/// reports read facts by the day, and partners' workers retry over seconds.
const GATHER: Duration = Duration::from_millis(100);

/// Writes ticket facts for reports and SLA records for partners.
pub struct FactWriter {
    store: Store,
    /// The local days facts are rolled up on; `None` when reports are off.
    reports: Option<ReportZones>,
    partners: Vec<PartnerConfig>,
    wakers: Vec<Arc<Notify>>,
    clock: Arc<dyn Clock>,
    js: async_nats::jetstream::Context,
}

impl FactWriter {
    /// A writer to `store`: facts for reports rolled up on the days of `reports` (`None`:
    /// reports are off), records for these partners; `wakers` are told when records were
    /// queued; a row the store refuses for good is dead-lettered through `js`.
    pub fn new(
        store: Store,
        reports: Option<ReportZones>,
        (partners, wakers): (Vec<PartnerConfig>, Vec<Arc<Notify>>),
        clock: Arc<dyn Clock>,
        js: async_nats::jetstream::Context,
    ) -> FactWriter {
        FactWriter {
            store,
            reports,
            partners,
            wakers,
            clock,
            js,
        }
    }

    /// Runs until every sender is gone and the queue is empty; answers each barrier once
    /// every batch queued before it is written. Facts gather for up to [`GATHER`] into one
    /// transaction.
    pub async fn run(self, mut queue: mpsc::Receiver<Queued<Vec<TicketFact>>>) {
        let mut barrier = None;
        while let Some(queued) = queue.recv().await {
            let mut batch = match queued {
                Queued::Batch(batch) => batch,
                Queued::Barrier(done) => {
                    let _ = done.send(());
                    continue;
                }
            };
            // Take what else comes for a while, up to a barrier: one transaction for many facts.
            let until = tokio::time::Instant::now() + GATHER;
            while batch.len() < BATCH {
                match tokio::time::timeout_at(until, queue.recv()).await {
                    Ok(Some(Queued::Batch(more))) => batch.extend(more),
                    Ok(Some(Queued::Barrier(done))) => {
                        barrier = Some(done);
                        break;
                    }
                    // Every sender gone, or the time is up.
                    Ok(None) | Err(_) => break,
                }
            }
            if self.reports.is_some() {
                self.write_facts(&batch).await;
            }
            if !self.partners.is_empty() {
                let records: Vec<SlaRecord> = batch
                    .into_iter()
                    .filter_map(|f| match f.kind {
                        FactKind::Stopped(r) => Some(r),
                        _ => None,
                    })
                    .collect();
                self.write_records(&records).await;
            }
            if let Some(done) = barrier.take() {
                let _ = done.send(());
            }
        }
    }

    async fn write_facts(&self, batch: &[TicketFact]) {
        let Some(zones) = &self.reports else { return };
        let day_of = |tenant: u64, at| zones.day_of(tenant, at);
        let stored = until_stored_isolating("ticket facts", batch.len(), |rows| {
            self.store.report_facts().record(&batch[rows], &day_of)
        })
        .await;
        for (i, reason) in &stored.refused {
            let fact = &batch[*i];
            dead_letters::store_refused(&self.js, "ticket_fact", fact.tenant_id, fact, reason)
                .await;
        }
    }

    async fn write_records(&self, batch: &[SlaRecord]) {
        if batch.is_empty() {
            return;
        }
        let partners_of = |tenant: u64| -> Vec<String> {
            self.partners
                .iter()
                .filter(|p| p.serves(tenant))
                .map(|p| p.id.clone())
                .collect()
        };
        let now = self.clock.now();
        let stored = until_stored_isolating("SLA records", batch.len(), |rows| {
            self.store
                .sla_records()
                .record_stops(&batch[rows], &partners_of, now)
        })
        .await;
        for (i, reason) in &stored.refused {
            let record = &batch[*i];
            dead_letters::store_refused(&self.js, "sla_record", record.tenant_id, record, reason)
                .await;
        }
        if stored.written.iter().any(|(_, taken)| *taken > 0) {
            for w in &self.wakers {
                w.notify_one();
            }
        }
    }
}
