//! The [`PartitionWorker`] and its read loop: messages are read from after the last one read
//! (on a first run, from after the partition's snapshot, or from the stream's start when there
//! is none: state is then rebuilt by replay), taken in rounds of
//! whatever has arrived and handed to the engine, while answers are booked in order as they
//! come. Progress is saved in the store every [`PROGRESS_EVERY`] while no answer is
//! outstanding, and when the loop ends, after every answer in flight was booked.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use hashbrown::HashSet;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};
use vigil::hub::Hub;
use vigil::store::{Fence, Store};
use vigil::telemetry::{cluster_metrics, metrics};
use vigil_engine::supervisor::Queued;
use vigil_engine::{AlertRecord, TicketFact};
use vigil_schema::{Dedupe, EventKey};
use vigil_streams::jetstream::{last_sequence, replay_partition};

use super::snapshot::{LastSnapshot, SnapshotEvery};
use super::CaughtUp;
use crate::service::applier::{Applier, PendingApply};
use crate::service::held::HeldPartitions;

/// Events sent to the tenant actors and not yet answered, per partition.
const IN_FLIGHT: usize = 1024;
/// Most events taken in one round (grouped into one message per tenant).
const ROUND: usize = 256;
/// How often progress is saved and the pending gauge refreshed.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// A worker for one partition.
pub struct PartitionWorker {
    /// The partition.
    pub partition: u32,
    /// The fence every write of the partition carries (its lease's revision).
    pub fence: Fence,
    /// The partitions this instance holds: told when the store refuses a write as fenced.
    pub held: Arc<HeldPartitions>,
    /// JetStream.
    pub js: async_nats::jetstream::Context,
    /// The events stream.
    pub stream: String,
    /// Where progress is kept.
    pub store: Store,
    /// Where events are applied.
    pub applier: Applier,
    /// Alert changes to record and publish.
    pub alerts: mpsc::Sender<Queued<Vec<AlertRecord>>>,
    /// What events did to tickets, for SLA reports and exchange partners (`None` when
    /// neither needs them).
    pub facts: Option<mpsc::Sender<Queued<Vec<TicketFact>>>>,
    /// Told which tenants and tickets changed, for live updates.
    pub hub: Hub,
    /// Readiness bookkeeping.
    pub caught_up: Arc<CaughtUp>,
    /// How long applied event ids are remembered.
    pub dedupe_window_ms: i64,
    /// How many partitions the stream has (which tenants are this partition's).
    pub partitions: u32,
    /// When this partition's state is snapshotted.
    pub snapshot_every: SnapshotEvery,
    /// `vigil_events_ingested_total`, looked up once.
    pub ingested: ::metrics::Counter,
    /// `vigil_event_processing_seconds`, looked up once.
    pub processing: ::metrics::Histogram,
}

/// Per-run state of a worker.
pub(super) struct Progress {
    /// Sequences up to this were handled before this run: not counted or dead-lettered again.
    pub handled_before: u64,
    /// The last sequence handled in this run.
    pub handled: u64,
    /// The partition's last sequence at start-up (caught up once handled reaches it).
    pub start_target: Option<u64>,
    /// When this catching up began (the partition was taken, or its worker restarted).
    pub catching_up_since: std::time::Instant,
    /// Events of the partition read since then.
    pub read_since: u64,
}

/// What a worker keeps across restarts of its stream: the dedupe memory and its progress, so a
/// restart resumes after the last message read instead of applying the partition again.
pub(super) struct RunState {
    pub dedupe: Dedupe,
    pub in_flight_ids: HashSet<EventKey>,
    pub progress: Progress,
    /// The last stream sequence read (a restart reads on from the next one).
    pub last_read: u64,
    /// The last progress saved in the store.
    pub saved: u64,
    /// The last snapshot of the partition's state.
    pub last_snapshot: LastSnapshot,
}

impl PartitionWorker {
    /// The state of a first run: progress from the store, an empty dedupe memory, and the
    /// partition's end to catch up with.
    pub(super) async fn first_run(&self) -> anyhow::Result<RunState> {
        let started = std::time::Instant::now();
        let handled_before = self
            .store
            .progress()
            .load(self.partition)
            .await?
            .unwrap_or(0);
        let last = last_sequence(&self.js, &self.stream, self.partition).await?;
        // Nothing fallible after the restore: a second first run would restore twice.
        let mut dedupe = Dedupe::new(self.dedupe_window_ms);
        let restored = self.restore_snapshot(&mut dedupe).await?;
        // Applied ids are remembered for the stream's retention behind the wall clock.
        dedupe.expire_before(wall_clock_ms());
        let handled_before = handled_before.max(restored);
        let progress = Progress {
            handled_before,
            handled: restored,
            start_target: last.filter(|l| *l > restored),
            catching_up_since: started,
            read_since: 0,
        };
        if progress.start_target.is_none() {
            self.caught_up_now(&progress);
        }
        debug!(handled_before, restored, last = ?last, "rebuilding partition state from the stream");
        Ok(RunState {
            dedupe,
            in_flight_ids: HashSet::new(),
            progress,
            last_read: restored,
            saved: handled_before,
            last_snapshot: LastSnapshot::at(restored),
        })
    }

    /// Reads the partition from after `state.last_read` (from the start on a first run) until
    /// `stop`, the stream's end or a failure that retrying cannot fix; answers in flight are
    /// always booked before it returns.
    pub(super) async fn consume(
        &mut self,
        state: &mut Option<RunState>,
        mut stop: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let st = match state {
            Some(st) => {
                if st.progress.start_target.is_some() {
                    let last = last_sequence(&self.js, &self.stream, self.partition).await?;
                    st.progress.start_target = last.filter(|l| *l > st.last_read);
                    if st.progress.start_target.is_none() {
                        self.caught_up_now(&st.progress);
                    }
                }
                st
            }
            None => state.insert(self.first_run().await?),
        };
        let mut messages =
            replay_partition(&self.js, &self.stream, self.partition, st.last_read + 1).await?;
        let mut in_flight: FuturesOrdered<PendingApply> = FuturesOrdered::new();
        let mut in_flight_events = 0usize;
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        let pending_gauge = metrics::consumer_pending(self.partition as u16);
        let since_snapshot = cluster_metrics::snapshot_pending_events(self.partition);
        let RunState {
            dedupe,
            in_flight_ids,
            progress,
            last_read,
            saved,
            last_snapshot,
        } = st;
        let mut snapshot_pending = false;
        let result = loop {
            tokio::select! {
                biased;
                _ = crate::stopped(&mut stop) => break Ok(()),
                Some((tags, answer)) = in_flight.next(), if !in_flight.is_empty() => {
                    in_flight_events -= tags.len();
                    self.finish_batch(tags, answer, dedupe, in_flight_ids, progress).await;
                }
                next = messages.next(), if in_flight_events < IN_FLIGHT && !snapshot_pending => {
                    let Some(next) = next else { break Ok(()) };
                    let message = match next {
                        Ok(m) => m,
                        Err(e) if e.is_retryable() => { warn!(error = %e, "reading the partition failed; retrying"); continue; }
                        Err(e) => break Err(anyhow::Error::from(e)),
                    };
                    // A round: this message and whatever else has already arrived, up to an
                    // event whose id is still in flight.
                    let mut round = Vec::new();
                    pending_gauge.set(message.pending as f64);
                    *last_read = message.stream_sequence;
                    last_snapshot.events_since += 1;
                    progress.read_since += 1;
                    let mut waiting = self.start(message, dedupe, in_flight_ids, &mut round, progress).await;
                    while waiting.is_none() && round.len() < ROUND {
                        let Some(Some(Ok(message))) = messages.next().now_or_never() else { break };
                        pending_gauge.set(message.pending as f64);
                        *last_read = message.stream_sequence;
                        last_snapshot.events_since += 1;
                        progress.read_since += 1;
                        waiting = self.start(message, dedupe, in_flight_ids, &mut round, progress).await;
                    }
                    in_flight_events += round.len();
                    self.dispatch(round, &mut in_flight);
                    #[cfg(test)]
                    if super::tests::injected_failure(*last_read) {
                        break Err(anyhow::anyhow!("a failure injected by a test"));
                    }
                    if let Some((tag, event)) = waiting {
                        // It repeats an event whose verdict is not known yet: wait for every
                        // answer, then judge it against what was applied.
                        while let Some((tags, answer)) = in_flight.next().await {
                            self.finish_batch(tags, answer, dedupe, in_flight_ids, progress).await;
                        }
                        let mut round = Vec::new();
                        self.admit(tag, event, dedupe, in_flight_ids, &mut round);
                        in_flight_events = round.len();
                        self.dispatch(round, &mut in_flight);
                    }
                }
                _ = tick.tick() => {
                    since_snapshot.set(last_snapshot.events_since as f64);
                    if matches!(self.applier, Applier::Actors(_)) {
                        dedupe.expire_before(wall_clock_ms());
                    }
                    if progress.handled > *saved && in_flight.is_empty() {
                        self.save(progress.handled).await;
                        *saved = progress.handled;
                    }
                    if !snapshot_pending && self.snapshot_due(last_snapshot, progress.handled) {
                        // Reading pauses until every answer is in: under a steady load the
                        // worker would otherwise rarely be idle at a tick.
                        snapshot_pending = true;
                    }
                }
            }
            if snapshot_pending && in_flight.is_empty() {
                snapshot_pending = false;
                // Every event read was applied and answered: the state is that after it.
                if progress.handled == *last_read {
                    self.snapshot(progress.handled, dedupe, last_snapshot).await;
                }
            }
        };
        while let Some((tags, answer)) = in_flight.next().await {
            self.finish_batch(tags, answer, dedupe, in_flight_ids, progress)
                .await;
        }
        if progress.handled > *saved {
            self.save(progress.handled).await;
            *saved = progress.handled;
        }
        if *stop.borrow()
            && progress.handled == *last_read
            && self.snapshot_on_stop(last_snapshot, progress.handled)
        {
            // Stopping (the service stops, or hands the partition over): the next owner
            // starts from here instead of replaying what this run read.
            self.snapshot(progress.handled, dedupe, last_snapshot).await;
        }
        if *stop.borrow() {
            // Let go (or stopping): its next owner reports it.
            since_snapshot.set(0.0);
        }
        result
    }

    pub(super) async fn save(&self, sequence: u64) {
        match self.store.progress().save(self.fence, sequence).await {
            Ok(()) => {}
            Err(e) if e.fenced().is_some() => self.held.taken_over(self.fence),
            Err(e) => warn!(error = %e, "cannot save partition progress; will try again"),
        }
    }

    pub(super) async fn send_alerts(&self, alerts: Vec<AlertRecord>) {
        if !alerts.is_empty() && self.alerts.send(Queued::Batch(alerts)).await.is_err() {
            warn!("alert writer has stopped; alert changes are recorded again after a restart");
        }
    }

    pub(super) async fn send_facts(&self, facts: Vec<TicketFact>) {
        let Some(tx) = &self.facts else { return };
        if !facts.is_empty() && tx.send(Queued::Batch(facts)).await.is_err() {
            warn!("fact writer has stopped; ticket facts are derived again after a restart");
        }
    }
}

/// The wall clock in milliseconds since the Unix epoch: the watermark of the live dedupe memory.
pub(super) fn wall_clock_ms() -> i64 {
    use vigil_engine::clock::Clock;
    vigil_engine::clock::WallClock.now()
}
