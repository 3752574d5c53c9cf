//! Warning latency with many open goals, on the wall clock.
//!
//! Tenant actors in a [`TenantPool`] with [`WallClock`] (as `vigil run` has by default) are
//! loaded with `warn_tickets` open tickets (two goals each) whose warnings are all far ahead.
//! Then `warnings` more tickets are created with an `occurred_at` chosen so that their
//! response warning (80 % of the target) falls uniformly in the next `warn_window`. A single
//! task drains the alert channel as the alert writer does and, per warning, records
//! `received - fired_at` (the emit latency); with `publish_alerts` it then publishes each batch
//! to `vigil.alerts.<tenant>` and waits for the acks, as the writer does after the store, and
//! records `acked - fired_at` (the store write is not part of this figure).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use bytes::Bytes;
use futures::future::join_all;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;
use vigil_engine::clock::{Clock, WallClock};
use vigil_engine::supervisor::{Queued, TenantPool};
use vigil_engine::{AlertRecord, AlertState, EngineSettings, Level};
use vigil_peers::rng::Rng;

use super::LiveOptions;
use crate::report::{figure, note, quantile};
use crate::tickets::{created, default_book, pick_priority, PRIORITIES, WARN_AT};

/// Alert batches waiting for the writer (as in `vigil run`).
const ALERT_QUEUE: usize = 1024;
/// Creates in flight while loading tickets.
const IN_FLIGHT: usize = 4096;
/// Time between the last due ticket's creation and its warning, at least.
const LEAD: Duration = Duration::from_secs(1);
/// How long to wait for stragglers after the window.
const GRACE: Duration = Duration::from_secs(15);

/// Microseconds since the Unix epoch.
fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Latencies gathered by the drain task, in microseconds.
#[derive(Default)]
struct Latencies {
    emit: Vec<i64>,
    publish: Vec<i64>,
    other_changes: u64,
}

/// Runs the warning-latency measurement and prints its figures.
pub async fn measure(
    js: &async_nats::jetstream::Context,
    options: &LiveOptions,
) -> anyhow::Result<()> {
    let book = default_book()?;
    let settings = Arc::new(EngineSettings::default());
    let (tx, mut rx) = mpsc::channel::<Queued<Vec<AlertRecord>>>(ALERT_QUEUE);
    let arbiters = std::thread::available_parallelism().map_or(1, usize::from);
    let pool = TenantPool::new(arbiters, book, settings, Arc::new(WallClock), tx);
    let seen = Arc::new(AtomicU64::new(0));
    let writer = {
        let (js, seen, publish) = (js.clone(), seen.clone(), options.publish_alerts);
        tokio::spawn(async move {
            let mut lat = Latencies::default();
            while let Some(queued) = rx.recv().await {
                let Queued::Batch(batch) = queued else {
                    continue;
                };
                let received = now_micros();
                let is_warning =
                    |r: &AlertRecord| r.level == Level::Warning && r.state == AlertState::Firing;
                for r in &batch {
                    if is_warning(r) {
                        lat.emit.push(received - r.fired_at * 1000);
                    } else {
                        lat.other_changes += 1;
                    }
                }
                if publish {
                    let acks = join_all(batch.iter().map(|r| {
                        let js = &js;
                        async move {
                            let payload = Bytes::from(serde_json::to_vec(r).unwrap_or_default());
                            let ok = vigil_streams::publish_alert(
                                js,
                                r.tenant_id,
                                &r.message_id(),
                                payload,
                            )
                            .await
                            .is_ok();
                            (ok, now_micros())
                        }
                    }))
                    .await;
                    for (r, (ok, at)) in batch.iter().zip(acks) {
                        if ok && is_warning(r) {
                            lat.publish.push(at - r.fired_at * 1000);
                        }
                    }
                }
                let warnings = batch.iter().filter(|r| is_warning(r)).count() as u64;
                seen.fetch_add(warnings, Ordering::Relaxed);
            }
            lat
        })
    };

    let warnings = options.warnings.min(options.warn_tickets);
    let bulk = options.warn_tickets - warnings;
    let tenants = options.warn_tenants.max(1);
    let mut rng = Rng::new(7);
    note(format_args!(
        "loading {bulk} open tickets over {tenants} tenants into {arbiters} arbiters"
    ));
    let started = Instant::now();
    let mut pending = FuturesUnordered::new();
    for no in 1..=bulk {
        // Created in the last ten minutes: the earliest warning is 14 minutes away.
        let at = WallClock.now() - rng.below(600_000) as i64;
        let event = created(1 + no % tenants, no, at, pick_priority(&mut rng), &mut rng);
        pending.push(pool.apply(event));
        if pending.len() >= IN_FLIGHT {
            if let Some(answer) = pending.next().await {
                answer.context("a tenant actor did not answer")?;
            }
        }
    }
    while let Some(answer) = pending.next().await {
        answer.context("a tenant actor did not answer")?;
    }
    let load_seconds = started.elapsed().as_secs_f64();

    let window_ms = options.warn_window.as_millis() as i64;
    let lead_ms = LEAD.as_millis() as i64;
    note(format_args!(
        "creating {warnings} tickets whose warnings fall in the next {:.1} s",
        options.warn_window.as_secs_f64()
    ));
    for j in 1..=warnings {
        let no = bulk + j;
        let p = pick_priority(&mut rng);
        let due = WallClock.now() + lead_ms + (rng.unit() * window_ms as f64) as i64;
        let at = due - (PRIORITIES[p].2 as f64 * WARN_AT) as i64;
        let event = created(1 + no % tenants, no, at, p, &mut rng);
        pending.push(pool.apply(event));
        if pending.len() >= IN_FLIGHT {
            if let Some(answer) = pending.next().await {
                answer.context("a tenant actor did not answer")?;
            }
        }
    }
    while let Some(answer) = pending.next().await {
        answer.context("a tenant actor did not answer")?;
    }
    let deadline = Instant::now() + LEAD + options.warn_window + GRACE;
    while seen.load(Ordering::Relaxed) < warnings && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pool.stop();
    let mut lat = tokio::time::timeout(Duration::from_secs(30), writer)
        .await
        .context("the alert drain did not finish")?
        .context("the alert drain panicked")?;
    lat.emit.sort_unstable();
    lat.publish.sort_unstable();
    let ms = |us: i64| format!("{:.1}", us as f64 / 1000.0);

    figure("warn_open_goals", 2 * options.warn_tickets);
    figure(
        "warn_load_tickets_per_sec",
        format!("{:.0}", bulk as f64 / load_seconds.max(1e-9)),
    );
    figure("warnings_expected", warnings);
    figure("warnings_received", lat.emit.len());
    figure("warn_other_alert_changes", lat.other_changes);
    figure("warn_emit_latency_p50_ms", ms(quantile(&lat.emit, 0.5)));
    figure("warn_emit_latency_p99_ms", ms(quantile(&lat.emit, 0.99)));
    figure("warn_emit_latency_max_ms", ms(quantile(&lat.emit, 1.0)));
    if options.publish_alerts {
        figure("warnings_published", lat.publish.len());
        figure(
            "warn_publish_latency_p50_ms",
            ms(quantile(&lat.publish, 0.5)),
        );
        figure(
            "warn_publish_latency_p99_ms",
            ms(quantile(&lat.publish, 0.99)),
        );
        figure(
            "warn_publish_latency_max_ms",
            ms(quantile(&lat.publish, 1.0)),
        );
    }
    Ok(())
}
