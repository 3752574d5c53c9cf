//! One partition worker: reads its partition from the start of the stream (state is rebuilt by
//! replay), decodes, validates and dedupes each event, applies it, and dead-letters rejects. A
//! worker that fails is restarted with back-off and resumes where it stopped reading.
//!
//! Progress (the last stream sequence fully handled) is kept in the store, so that after a
//! restart the rebuild neither dead-letters nor counts an event a second time. Messages are not
//! acknowledged: the worker reads through an ordered consumer, and what a durable ack floor
//! would record is this progress, written only after the events up to it were applied.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use hashbrown::{HashMap, HashSet};
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn, Instrument};
use vigil::hub::Hub;
use vigil_engine::supervisor::{Applied, BatchApplied};
use vigil_engine::{AlertRecord, Collected, SlaRecord};
use vigil_schema::{decode, Dedupe, Event, EventKey, RejectReason, Rejection};
use vigil_streams::jetstream::{last_sequence, replay_partition};
use vigil_streams::PartitionMessage;

use super::applier::{Applier, Outcome, PendingApply, Tag};
use bytes::Bytes;
use vigil::http::Readiness;
use vigil::store::Store;
use vigil::telemetry::metrics;

/// Events sent to the tenant actors and not yet answered, per partition.
const IN_FLIGHT: usize = 1024;
/// Most events taken in one round (grouped into one message per tenant).
const ROUND: usize = 256;
/// How often progress is saved and the pending gauge refreshed.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Counts partitions that have caught up with the stream as it was at start-up.
pub struct CaughtUp {
    remaining: AtomicUsize,
    readiness: Arc<Readiness>,
}

impl CaughtUp {
    /// Waits for `partitions` partitions.
    pub fn new(partitions: usize, readiness: Arc<Readiness>) -> CaughtUp {
        if partitions == 0 {
            readiness.set_partitions_caught_up(true);
        }
        CaughtUp {
            remaining: AtomicUsize::new(partitions),
            readiness,
        }
    }

    fn mark(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.readiness.set_partitions_caught_up(true);
            info!("all partitions caught up");
        }
    }

    /// A partition that had caught up must catch up again (its worker is restarting): the
    /// service is not ready until it has.
    fn fell_behind(&self) {
        self.remaining.fetch_add(1, Ordering::AcqRel);
        self.readiness.set_partitions_caught_up(false);
    }
}

/// A worker for one partition.
pub struct PartitionWorker {
    /// The partition.
    pub partition: u32,
    /// JetStream.
    pub js: async_nats::jetstream::Context,
    /// The events stream.
    pub stream: String,
    /// Where progress is kept.
    pub store: Store,
    /// Where events are applied.
    pub applier: Applier,
    /// Alert changes to record and publish.
    pub alerts: mpsc::Sender<Vec<AlertRecord>>,
    /// SLA records of stopped goals, for exchange partners (`None` without partners).
    pub records: Option<mpsc::Sender<Vec<SlaRecord>>>,
    /// Told which tenants and tickets changed, for live updates.
    pub hub: Hub,
    /// Readiness bookkeeping.
    pub caught_up: Arc<CaughtUp>,
    /// How long applied event ids are remembered.
    pub dedupe_window_ms: i64,
    /// `vigil_events_ingested_total`, looked up once.
    pub ingested: ::metrics::Counter,
    /// `vigil_event_processing_seconds`, looked up once.
    pub processing: ::metrics::Histogram,
}

/// Per-run state of a worker.
struct Progress {
    /// Sequences up to this were handled before this run: not counted or dead-lettered again.
    handled_before: u64,
    /// The last sequence handled in this run.
    handled: u64,
    /// The partition's last sequence at start-up (caught up once handled reaches it).
    start_target: Option<u64>,
}

/// What a worker keeps across restarts of its stream: the dedupe memory and its progress, so a
/// restart resumes after the last message read instead of applying the partition again.
struct RunState {
    dedupe: Dedupe,
    in_flight_ids: HashSet<EventKey>,
    progress: Progress,
    /// The last stream sequence read (a restart reads on from the next one).
    last_read: u64,
    /// The last progress saved in the store.
    saved: u64,
}

/// First wait before a stopped partition worker is restarted; it doubles up to [`RESTART_MAX`].
const RESTART_MIN: Duration = Duration::from_secs(1);
/// Longest wait before a stopped partition worker is restarted.
const RESTART_MAX: Duration = Duration::from_secs(30);
/// A run this long counts as healthy: the next failure waits [`RESTART_MIN`] again.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

impl PartitionWorker {
    /// Runs until `stop` turns true, then finishes the events in flight. A worker whose stream
    /// fails, ends or panics never stops silently: it is logged, counted, marks the service
    /// not ready, and is restarted with back-off, resuming after the last message it read.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let span = tracing::info_span!("partition", partition = self.partition);
        async move {
            let mut state: Option<RunState> = None;
            let mut failures = 0u32;
            loop {
                let started = Instant::now();
                let outcome = std::panic::AssertUnwindSafe(self.consume(&mut state, stop.clone()))
                    .catch_unwind()
                    .await;
                if *stop.borrow() {
                    return Ok(());
                }
                let why = match outcome {
                    Ok(Ok(())) => "its message stream ended".to_string(),
                    Ok(Err(e)) => format!("{e:#}"),
                    Err(_) => "it panicked".to_string(),
                };
                if let Some(state) = &mut state {
                    state.in_flight_ids.clear();
                    if state.progress.start_target.is_none() {
                        // Ready again once it has caught up after the restart.
                        self.caught_up.fell_behind();
                        state.progress.start_target = Some(u64::MAX);
                    }
                }
                if started.elapsed() >= HEALTHY_RUN {
                    failures = 0;
                }
                let delay = vigil::retry::backoff_delay(failures, RESTART_MIN, RESTART_MAX, None);
                failures = failures.saturating_add(1);
                metrics::partition_restarts().increment(1);
                error!(error = %why, retry_in = ?delay, "partition worker stopped; restarting it");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = crate::stopped(&mut stop) => return Ok(()),
                }
            }
        }
        .instrument(span)
        .await
    }

    /// The state of a first run: progress from the store, an empty dedupe memory, and the
    /// partition's end to catch up with.
    async fn first_run(&self) -> anyhow::Result<RunState> {
        let handled_before = self
            .store
            .partition_progress(self.partition)
            .await?
            .unwrap_or(0);
        let last = last_sequence(&self.js, &self.stream, self.partition).await?;
        let progress = Progress {
            handled_before,
            handled: 0,
            start_target: last.filter(|l| *l > 0),
        };
        if progress.start_target.is_none() {
            self.caught_up.mark();
        }
        debug!(handled_before, last = ?last, "rebuilding partition state from the stream");
        // Applied ids are remembered for the stream's retention behind the wall clock.
        let mut dedupe = Dedupe::new(self.dedupe_window_ms);
        dedupe.expire_before(wall_clock_ms());
        Ok(RunState {
            dedupe,
            in_flight_ids: HashSet::new(),
            progress,
            last_read: 0,
            saved: handled_before,
        })
    }

    /// Reads the partition from after `state.last_read` (from the start on a first run) until
    /// `stop`, the stream's end or a failure that retrying cannot fix; answers in flight are
    /// always booked before it returns.
    async fn consume(
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
                        self.caught_up.mark();
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
        let RunState {
            dedupe,
            in_flight_ids,
            progress,
            last_read,
            saved,
        } = st;
        let result = loop {
            tokio::select! {
                biased;
                _ = crate::stopped(&mut stop) => break Ok(()),
                Some((tags, answer)) = in_flight.next(), if !in_flight.is_empty() => {
                    in_flight_events -= tags.len();
                    self.finish_batch(tags, answer, dedupe, in_flight_ids, progress).await;
                }
                next = messages.next(), if in_flight_events < IN_FLIGHT => {
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
                    let mut waiting = self.start(message, dedupe, in_flight_ids, &mut round, progress).await;
                    while waiting.is_none() && round.len() < ROUND {
                        let Some(Some(Ok(message))) = messages.next().now_or_never() else { break };
                        pending_gauge.set(message.pending as f64);
                        *last_read = message.stream_sequence;
                        waiting = self.start(message, dedupe, in_flight_ids, &mut round, progress).await;
                    }
                    in_flight_events += round.len();
                    self.dispatch(round, &mut in_flight);
                    #[cfg(test)]
                    if tests::injected_failure(*last_read) {
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
                    if matches!(self.applier, Applier::Actors(_)) {
                        dedupe.expire_before(wall_clock_ms());
                    }
                    if progress.handled > *saved && in_flight.is_empty() {
                        self.save(progress.handled).await;
                        *saved = progress.handled;
                    }
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
        result
    }

    async fn save(&self, sequence: u64) {
        if let Err(e) = self
            .store
            .save_partition_progress(self.partition, sequence)
            .await
        {
            warn!(error = %e, "cannot save partition progress; will try again");
        }
    }

    async fn send_alerts(&self, alerts: Vec<AlertRecord>) {
        if !alerts.is_empty() && self.alerts.send(alerts).await.is_err() {
            warn!("alert writer has stopped; alert changes are recorded again after a restart");
        }
    }

    async fn send_records(&self, records: Vec<SlaRecord>) {
        let Some(tx) = &self.records else { return };
        if !records.is_empty() && tx.send(records).await.is_err() {
            warn!("record writer has stopped; SLA records are derived again after a restart");
        }
    }

    /// Decodes a message and hands it to the engine. Answers the event back when its id is
    /// still in flight: its verdict depends on the answer for the earlier one.
    async fn start(
        &mut self,
        message: PartitionMessage,
        dedupe: &mut Dedupe,
        in_flight_ids: &mut HashSet<EventKey>,
        round: &mut Vec<(Tag, Event)>,
        progress: &mut Progress,
    ) -> Option<(Tag, Event)> {
        let seq = message.stream_sequence;
        let tag = Tag {
            sequence: seq,
            payload: message.payload.clone(),
            received: Instant::now(),
            repeat: false,
            key: None,
        };
        let event = match decode(&message.payload) {
            Ok(e) => e,
            Err(rejection) => {
                self.reject(
                    message.tenant_id,
                    &message.payload,
                    rejection,
                    seq,
                    progress,
                )
                .await;
                self.handled(seq, progress);
                return None;
            }
        };
        if message.tenant_id.is_some_and(|t| t != event.tenant_id) {
            let r = Rejection::field(
                RejectReason::InvalidField,
                "tenant_id",
                "does not match the subject's tenant",
            );
            self.reject(message.tenant_id, &message.payload, r, seq, progress)
                .await;
            self.handled(seq, progress);
            return None;
        }
        match &mut self.applier {
            Applier::Actors(_) => {
                let key = EventKey::new(event.tenant_id, &event.event_id);
                let tag = Tag {
                    key: Some(key),
                    ..tag
                };
                if in_flight_ids.contains(&key) {
                    return Some((tag, event));
                }
                self.admit(tag, event, dedupe, in_flight_ids, round);
            }
            Applier::EventTime(driver) => {
                let mut out = Collected::default();
                driver.offer(event, tag, &mut out);
                let drained = driver.buffered() == 0;
                self.send_alerts(out.alerts).await;
                for (tag, event, result) in out.outcomes {
                    let applied = result.map_or_else(Applied::Rejected, |()| Applied::Ok);
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
                // Events wait in the reorder buffer: progress is what has left it.
                if drained {
                    self.handled(seq, progress);
                }
            }
        }
        None
    }

    /// Adds an event (its tag carrying its key) whose id is not in flight to the round; one
    /// whose id was applied before
    /// goes as a repeat, for the engine to judge on its own first (DESIGN.md §3.1). The id of
    /// an event that may be applied is in flight from here until its answer is booked, so a
    /// later event of the same round with the same id waits for that answer.
    fn admit(
        &self,
        mut tag: Tag,
        event: Event,
        dedupe: &Dedupe,
        in_flight_ids: &mut HashSet<EventKey>,
        round: &mut Vec<(Tag, Event)>,
    ) {
        if let Some(key) = tag.key {
            tag.repeat = dedupe.contains_key(key);
            if !tag.repeat {
                in_flight_ids.insert(key);
            }
        }
        round.push((tag, event));
    }

    /// Sends a round of events to their tenants' actors: one message per tenant, its events in
    /// stream order.
    fn dispatch(&self, round: Vec<(Tag, Event)>, in_flight: &mut FuturesOrdered<PendingApply>) {
        let Applier::Actors(pool) = &self.applier else {
            return;
        };
        let mut groups: Vec<(u64, Vec<Tag>, Vec<Event>)> = Vec::new();
        let mut index: HashMap<u64, usize> = HashMap::new();
        for (tag, event) in round {
            let i = *index.entry(event.tenant_id).or_insert_with(|| {
                groups.push((event.tenant_id, Vec::new(), Vec::new()));
                groups.len() - 1
            });
            groups[i].1.push(tag);
            groups[i].2.push(event);
        }
        for (tenant, tags, events) in groups {
            let repeats = if tags.iter().any(|t| t.repeat) {
                tags.iter().map(|t| t.repeat).collect()
            } else {
                Vec::new()
            };
            let answer = pool.apply_batch(tenant, events, repeats);
            in_flight.push_back(Box::pin(async move {
                (tags, answer.await.map_err(|e| e.to_string()))
            }));
        }
    }

    /// Books the answer to one batch.
    async fn finish_batch(
        &mut self,
        tags: Vec<Tag>,
        answer: Result<BatchApplied, String>,
        dedupe: &mut Dedupe,
        in_flight_ids: &mut HashSet<EventKey>,
        progress: &mut Progress,
    ) {
        let (events, applied, alerts) = match answer {
            Ok(b) => {
                self.send_records(b.records).await;
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
    async fn finish(&mut self, outcome: Outcome, dedupe: &mut Dedupe, progress: &mut Progress) {
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
                    dedupe.insert_checked(key, event.occurred_at);
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

    fn handled(&self, seq: u64, progress: &mut Progress) {
        progress.handled = progress.handled.max(seq);
        if let Some(target) = progress.start_target {
            if progress.handled >= target {
                progress.start_target = None;
                self.caught_up.mark();
            }
        }
    }

    /// Counts a rejected event and dead-letters it (unless it was already, before a restart).
    async fn reject(
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

/// The wall clock in milliseconds since the Unix epoch: the watermark of the live dedupe memory.
fn wall_clock_ms() -> i64 {
    use vigil_engine::clock::Clock;
    vigil_engine::clock::WallClock.now()
}

#[cfg(test)]
mod tests;
