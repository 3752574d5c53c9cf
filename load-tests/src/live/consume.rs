//! Reading every partition of the events stream: raw, and applied through the engine.
//!
//! Both read all partitions at once, one task per partition, each with the service's
//! consumer ([`replay_partition`]: ordered, unacked) from the first message to the partition's
//! last one, and both are timed from creating the consumers to the last partition done. The
//! applied path mirrors the partition worker of `vigil run` (`src/service/partition.rs`):
//! decode, tenant check, dedupe of applied event ids, then either tenant actors with up to
//! [`IN_FLIGHT`] answers pending per partition, or an event-time driver per partition; alert
//! changes go to one bounded channel drained by a single task, as the alert writer is.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use hashbrown::{HashMap, HashSet};
use tokio::sync::mpsc;
use vigil_engine::clock::WallClock;
use vigil_engine::supervisor::{Applied, BatchApplied, Queued, TenantPool};
use vigil_engine::{AlertRecord, Collected, EngineSettings, EventTimeDriver, PolicyBook};
use vigil_schema::{decode, Dedupe, Event, EventKey};
use vigil_streams::jetstream::{last_sequence, replay_partition, ReplayMessages};
use vigil_streams::StreamSettings;

use crate::tickets::default_book;

/// Events sent to tenant actors and not yet answered, per partition (as in `vigil run`).
pub const IN_FLIGHT: usize = 1024;
/// Most events taken in one round (as in `vigil run`).
pub const ROUND: usize = 256;
/// Alert batches waiting for the writer (as in `vigil run`).
const ALERT_QUEUE: usize = 1024;
/// The service's default allowed lateness (event-time engine).
const LATENESS_MS: i64 = 300_000;

/// The engine the applied consumption feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// Tenant actors on the wall clock (`[engine] clock = "wall"`, the default).
    Actors,
    /// An event-time driver per partition (`[engine] clock = "event"`).
    EventTime,
}

/// Counts of one consumption.
#[derive(Debug, Default, Clone, Copy)]
pub struct Consumed {
    /// Messages read.
    pub events: u64,
    /// Events the engine applied.
    pub applied: u64,
    /// Events rejected (decode, dedupe or engine).
    pub rejected: u64,
    /// Alert changes emitted.
    pub alerts: u64,
    /// Wall time.
    pub seconds: f64,
}

impl Consumed {
    /// Messages per second.
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.seconds.max(1e-9)
    }

    fn add(&mut self, o: Consumed) {
        self.events += o.events;
        self.applied += o.applied;
        self.rejected += o.rejected;
    }
}

/// The last stream sequence of every non-empty partition.
async fn partition_ends(
    js: &async_nats::jetstream::Context,
    settings: &StreamSettings,
) -> anyhow::Result<Vec<(u32, u64)>> {
    let mut ends = Vec::new();
    for p in 0..settings.partitions {
        if let Some(last) = last_sequence(js, &settings.name, p).await? {
            ends.push((p, last));
        }
    }
    Ok(ends)
}

/// The next message of a replay, retrying what the service retries; `None` if it ended.
async fn next_message(
    messages: &mut ReplayMessages,
) -> anyhow::Result<Option<vigil_streams::PartitionMessage>> {
    loop {
        match messages.next().await {
            None => return Ok(None),
            Some(Ok(m)) => return Ok(Some(m)),
            Some(Err(e)) if e.is_retryable() => continue,
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

/// Reads every message of every partition without decoding it.
pub async fn raw(
    js: &async_nats::jetstream::Context,
    settings: &StreamSettings,
) -> anyhow::Result<Consumed> {
    let ends = partition_ends(js, settings).await?;
    let started = Instant::now();
    let tasks: Vec<_> = ends
        .into_iter()
        .map(|(p, last)| {
            let (js, stream) = (js.clone(), settings.name.clone());
            tokio::spawn(async move {
                let mut messages = replay_partition(&js, &stream, p, 1).await?;
                let mut n = 0u64;
                let mut bytes = 0usize;
                while let Some(m) = next_message(&mut messages).await? {
                    n += 1;
                    bytes += m.payload.len();
                    if m.stream_sequence >= last {
                        break;
                    }
                }
                std::hint::black_box(bytes);
                anyhow::Ok(Consumed {
                    events: n,
                    ..Consumed::default()
                })
            })
        })
        .collect();
    let mut total = Consumed::default();
    for t in tasks {
        total.add(t.await.context("a consumer task panicked")??);
    }
    total.seconds = started.elapsed().as_secs_f64();
    Ok(total)
}

/// Reads every partition and applies every event through the engine, as `vigil run` does.
pub async fn applied(
    js: &async_nats::jetstream::Context,
    settings: &StreamSettings,
    engine: EngineKind,
) -> anyhow::Result<Consumed> {
    let book = default_book()?;
    let engine_settings = Arc::new(EngineSettings::default());
    let (alerts_tx, mut alerts_rx) = mpsc::channel::<Queued<Vec<AlertRecord>>>(ALERT_QUEUE);
    let writer = tokio::spawn(async move {
        let mut n = 0u64;
        while let Some(queued) = alerts_rx.recv().await {
            if let Queued::Batch(batch) = queued {
                n += batch.len() as u64;
            }
        }
        n
    });
    let pool = match engine {
        EngineKind::Actors => Some(Arc::new(TenantPool::new(
            std::thread::available_parallelism().map_or(1, usize::from),
            book.clone(),
            engine_settings.clone(),
            Arc::new(WallClock),
            alerts_tx.clone(),
        ))),
        EngineKind::EventTime => None,
    };
    let ends = partition_ends(js, settings).await?;
    let started = Instant::now();
    let tasks: Vec<_> = ends
        .into_iter()
        .map(|(p, last)| {
            let worker = Worker {
                js: js.clone(),
                stream: settings.name.clone(),
                partition: p,
                last,
                alerts: alerts_tx.clone(),
                dedupe: Dedupe::new(engine_settings.dedupe_window_ms),
                counts: Consumed::default(),
            };
            let pool = pool.clone();
            let (book, engine_settings) = (book.clone(), engine_settings.clone());
            tokio::spawn(async move {
                match pool {
                    Some(pool) => worker.actors(&pool).await,
                    None => worker.event_time(book, engine_settings).await,
                }
            })
        })
        .collect();
    drop(alerts_tx);
    let mut total = Consumed::default();
    for t in tasks {
        total.add(t.await.context("a partition worker panicked")??);
    }
    total.seconds = started.elapsed().as_secs_f64();
    if let Some(pool) = pool {
        if let Ok(pool) = Arc::try_unwrap(pool) {
            pool.stop();
        }
    }
    total.alerts = tokio::time::timeout(Duration::from_secs(30), writer)
        .await
        .context("the alert drain did not finish")?
        .context("the alert drain panicked")?;
    Ok(total)
}

/// An answer pending from a tenant actor to one batch of its events.
type PendingApply = Pin<Box<dyn Future<Output = (usize, Result<BatchApplied, String>)> + Send>>;

/// One partition's consumer and its per-run state.
struct Worker {
    js: async_nats::jetstream::Context,
    stream: String,
    partition: u32,
    last: u64,
    alerts: mpsc::Sender<Queued<Vec<AlertRecord>>>,
    dedupe: Dedupe,
    counts: Consumed,
}

impl Worker {
    async fn send_alerts(&mut self, alerts: Vec<AlertRecord>) {
        if !alerts.is_empty() {
            let _ = self.alerts.send(Queued::Batch(alerts)).await;
        }
    }

    /// Decodes a message; `None` (counted as rejected) when it is not a valid event of the
    /// subject's tenant.
    fn decode(&mut self, m: &vigil_streams::PartitionMessage) -> Option<Event> {
        match decode(&m.payload) {
            Ok(e) if m.tenant_id.is_none_or(|t| t == e.tenant_id) => Some(e),
            _ => {
                self.counts.rejected += 1;
                None
            }
        }
    }

    /// As `vigil run` does: rounds of what has arrived, one message per tenant per round.
    async fn actors(mut self, pool: &TenantPool) -> anyhow::Result<Consumed> {
        let mut messages = replay_partition(&self.js, &self.stream, self.partition, 1).await?;
        let mut in_flight_ids: HashSet<EventKey> = HashSet::new();
        let mut in_flight: FuturesOrdered<PendingApply> = FuturesOrdered::new();
        let mut in_flight_events = 0usize;
        let mut reading = true;
        while reading || !in_flight.is_empty() {
            tokio::select! {
                biased;
                Some((n, answer)) = in_flight.next(), if !in_flight.is_empty() => {
                    in_flight_events -= n;
                    let Ok(batch) = answer else {
                        self.counts.rejected += n as u64;
                        continue;
                    };
                    self.send_alerts(batch.alerts).await;
                    for (event, applied) in batch.events.iter().zip(batch.applied) {
                        in_flight_ids.remove(&EventKey::new(event.tenant_id, &event.event_id));
                        match applied {
                            Applied::Ok => {
                                self.dedupe.insert(event.tenant_id, &event.event_id, event.occurred_at);
                                self.counts.applied += 1;
                            }
                            Applied::Rejected(_) => self.counts.rejected += 1,
                        }
                    }
                }
                next = next_message(&mut messages), if reading && in_flight_events < IN_FLIGHT => {
                    let Some(first) = next? else { break };
                    let mut round = vec![first];
                    while round.len() < ROUND {
                        let Some(Some(Ok(m))) = messages.next().now_or_never() else { break };
                        round.push(m);
                    }
                    let mut groups: Vec<(u64, Vec<Event>)> = Vec::new();
                    let mut index: HashMap<u64, usize> = HashMap::new();
                    for m in round {
                        self.counts.events += 1;
                        reading = reading && m.stream_sequence < self.last;
                        let Some(event) = self.decode(&m) else { continue };
                        let key = EventKey::new(event.tenant_id, &event.event_id);
                        if self.dedupe.contains_key(key) || !in_flight_ids.insert(key) {
                            self.counts.rejected += 1;
                            continue;
                        }
                        let i = *index.entry(event.tenant_id).or_insert_with(|| {
                            groups.push((event.tenant_id, Vec::new()));
                            groups.len() - 1
                        });
                        groups[i].1.push(event);
                    }
                    for (tenant, events) in groups {
                        let n = events.len();
                        in_flight_events += n;
                        let answer = pool.apply_batch(tenant, events, Vec::new());
                        in_flight.push_back(Box::pin(async move {
                            (n, answer.await.map_err(|e| e.to_string()))
                        }));
                    }
                }
            }
        }
        Ok(self.counts)
    }

    async fn event_time(
        mut self,
        book: Arc<PolicyBook>,
        settings: Arc<EngineSettings>,
    ) -> anyhow::Result<Consumed> {
        let mut messages = replay_partition(&self.js, &self.stream, self.partition, 1).await?;
        let mut driver = EventTimeDriver::new(book, settings, LATENESS_MS);
        while let Some(m) = next_message(&mut messages).await? {
            self.counts.events += 1;
            let done = m.stream_sequence >= self.last;
            if let Some(event) = self.decode(&m) {
                let mut out = Collected::default();
                driver.offer(event, (m.stream_sequence, m.payload.clone()), &mut out);
                self.book(out).await;
            }
            if done {
                break;
            }
        }
        // The stream never ends in the service; here the reorder buffer's tail is flushed
        // so that every event is counted.
        let mut out = Collected::default();
        driver.finish(&mut out);
        self.book(out).await;
        Ok(self.counts)
    }

    async fn book(&mut self, out: Collected<(u64, Bytes)>) {
        self.send_alerts(out.alerts).await;
        for (_, _, result) in out.outcomes {
            match result {
                Ok(()) => self.counts.applied += 1,
                Err(_) => self.counts.rejected += 1,
            }
        }
    }
}
