//! Booking the engine's answers: an applied event's id remembered for dedupe and its
//! processing time recorded, a rejected one counted and dead-lettered (once, even across
//! restarts), and progress advanced, which marks the partition caught up when it reaches the
//! start-up target.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hashbrown::HashSet;
use tracing::{debug, info, warn};
use vigil::telemetry::{cluster_metrics, metrics};
use vigil_engine::supervisor::{Applied, BatchApplied};
use vigil_schema::{decode, Dedupe, Event, EventKey, RejectReason, Rejection};

use super::worker::Progress;
use super::PartitionWorker;
use crate::service::applier::{Applier, Outcome, Tag};

impl PartitionWorker {
    /// Books the answer to one batch.
    pub(super) async fn finish_batch(
        &mut self,
        tags: Vec<Tag>,
        answer: Result<BatchApplied, String>,
        dedupe: &mut Dedupe,
        in_flight_ids: &mut HashSet<EventKey>,
        progress: &mut Progress,
    ) {
        let (events, applied, alerts) = match answer {
            Ok(b) => {
                self.send_facts(b.facts).await;
                (b.events, b.applied, b.alerts)
            }
            Err(e) => {
                warn!(error = %e, events = tags.len(), "tenant actor did not answer");
                // The events went with the message: decode them again to book them.
                let events: Vec<Event> = tags
                    .iter()
                    .filter_map(|t| decode(&t.payload).ok())
                    .collect();
                let lost = Applied::Rejected(Rejection::new(
                    RejectReason::Poison,
                    "the tenant actor stopped",
                ));
                let applied = vec![lost; events.len()];
                (events, applied, Vec::new())
            }
        };
        self.send_alerts(alerts).await;
        if let Some(first) = events.first() {
            let changed = events
                .iter()
                .zip(&applied)
                .filter(|(_, a)| matches!(a, Applied::Ok))
                .map(|(e, _)| e.ticket_id.as_str());
            self.hub.touched(first.tenant_id, changed);
        }
        for ((tag, event), applied) in tags.into_iter().zip(events).zip(applied) {
            if let Some(key) = tag.key.filter(|_| !tag.repeat) {
                in_flight_ids.remove(&key);
            }
            self.finish(
                Outcome {
                    tag,
                    event,
                    applied,
                },
                dedupe,
                progress,
            )
            .await;
        }
    }

    /// Books the result of one event.
    pub(super) async fn finish(
        &mut self,
        outcome: Outcome,
        dedupe: &mut Dedupe,
        progress: &mut Progress,
    ) {
        let Outcome {
            tag:
                Tag {
                    sequence,
                    payload,
                    received,
                    key,
                    ..
                },
            event,
            applied,
        } = outcome;
        let fresh = sequence > progress.handled_before;
        match applied {
            Applied::Ok => {
                // Only tenant actors' events carry a key. Its id was not remembered when it was
                // admitted, and no other event with it could be admitted while it was in flight.
                if let Some(key) = key {
                    dedupe.insert_key(key, event.occurred_at);
                }
                if fresh {
                    self.ingested.increment(1);
                    self.processing.record(received.elapsed().as_secs_f64());
                }
            }
            Applied::Rejected(r) => {
                self.reject(Some(event.tenant_id), &payload, r, sequence, progress)
                    .await;
            }
        }
        if matches!(self.applier, Applier::Actors(_)) {
            self.handled(sequence, progress);
        }
    }

    /// The partition has caught up with the stream: ready, and how long it took.
    pub(super) fn caught_up_now(&self, progress: &Progress) {
        self.caught_up.mark(self.partition);
        let seconds = progress.catching_up_since.elapsed().as_secs_f64();
        cluster_metrics::recovery_seconds(self.partition).set(seconds);
        cluster_metrics::recovery_tail_events(self.partition).set(progress.read_since as f64);
        info!(
            seconds,
            events = progress.read_since,
            "partition caught up with its stream"
        );
    }

    pub(super) fn handled(&self, seq: u64, progress: &mut Progress) {
        progress.handled = progress.handled.max(seq);
        if let Some(target) = progress.start_target {
            if progress.handled >= target {
                progress.start_target = None;
                self.caught_up_now(progress);
            }
        }
    }

    /// Counts a rejected event and dead-letters it (unless it was already, before a restart).
    pub(super) async fn reject(
        &self,
        tenant_id: Option<u64>,
        payload: &Bytes,
        r: Rejection,
        seq: u64,
        progress: &Progress,
    ) {
        if seq <= progress.handled_before {
            return;
        }
        metrics::events_rejected(r.reason.as_str()).increment(1);
        debug!(tenant_id, reason = %r.reason, sequence = seq, "event rejected: {}", r.message());
        if !r.reason.dead_letters() {
            return;
        }
        let started = Instant::now();
        loop {
            match vigil_streams::publish_dead_letter(
                &self.js,
                tenant_id,
                bytes::Bytes::copy_from_slice(payload),
                &r,
            )
            .await
            {
                Ok(_) => {
                    metrics::events_dead_lettered(r.reason.as_str()).increment(1);
                    return;
                }
                Err(e) if e.is_retryable() && started.elapsed() < Duration::from_secs(60) => {
                    warn!(error = %e, "dead-letter publish failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    warn!(error = %e, sequence = seq, "dead-letter publish failed; giving up on this one");
                    return;
                }
            }
        }
    }
}
