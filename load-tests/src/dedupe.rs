//! `vigil-load dedupe`: resident memory of the live dedupe memory over many events with unique
//! ids, as `vigil run`'s partition worker keeps it: each applied event is remembered at its
//! `occurred_at`, and every second of (simulated) wall clock the window is expired behind it.
//!
//! Events arrive as they happen (`occurred_at` = the wall clock at arrival), spread evenly over
//! `span`, with ids `e<n>` round-robin over `tenants` tenants. RSS is sampled every tenth of
//! the run; with expiry it must stop growing once the window is full, without it (what the
//! live path did before) it grows with every event.

use std::time::Instant;

use vigil_schema::Dedupe;

use crate::report::{figure, note};
use crate::rss::resident_bytes;

/// Runs the measurement and prints `rss_mb_at_<n>pct`, `window_full_pct`, and
/// `rss_growth_after_window_pct` (RSS growth from the moment the window is full to the end).
pub fn memory(
    events: u64,
    tenants: u64,
    window_ms: i64,
    span_ms: i64,
    expire: bool,
) -> anyhow::Result<()> {
    let tenants = tenants.max(1);
    let events = events.max(10);
    let mut dedupe = Dedupe::new(window_ms);
    let start_ms = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    let step = span_ms as f64 / events as f64;
    let rss_base = resident_bytes()?;
    note(format_args!(
        "{events} events over {} days, window {} days, expiry {}",
        span_ms / 86_400_000,
        window_ms / 86_400_000,
        if expire { "on" } else { "off" }
    ));
    let window_full = ((window_ms as f64 / step) as u64).min(events);
    let mut rss_when_full = None;
    let mut next_second = start_ms;
    let started = Instant::now();
    let mut id = String::with_capacity(24);
    for n in 0..events {
        let now = start_ms + (n as f64 * step) as i64;
        if expire && now >= next_second {
            // The partition worker's progress tick: once a second of wall clock.
            dedupe.expire_before(now);
            next_second = now + 1_000;
        }
        id.clear();
        use std::fmt::Write as _;
        let _ = write!(id, "e{n}");
        let tenant = 1 + n % tenants;
        let key = vigil_schema::EventKey::new(tenant, &id);
        anyhow::ensure!(
            !dedupe.contains_key(key),
            "event {n} was taken for a duplicate"
        );
        dedupe.insert_key(key, now);
        if n + 1 == window_full {
            rss_when_full = Some(resident_bytes()?);
        }
        if (n + 1) % (events / 10) == 0 {
            let pct = (n + 1) * 100 / events;
            let rss = resident_bytes()?;
            figure(
                &format!("rss_mb_at_{pct}pct"),
                format_args!("{:.1}", rss.saturating_sub(rss_base) as f64 / 1e6),
            );
            note(format_args!(
                "{pct}%: {} remembered in {} buckets ({:.1} MB of tables)",
                dedupe.len(),
                dedupe.bucket_count(),
                dedupe.approx_bytes() as f64 / 1e6
            ));
        }
    }
    let rss_end = resident_bytes()?;
    figure("events", events);
    figure("remembered_at_end", dedupe.len());
    figure("window_full_pct", window_full * 100 / events);
    figure(
        "seconds",
        format_args!("{:.2}", started.elapsed().as_secs_f64()),
    );
    if let Some(full) = rss_when_full {
        let growth = (rss_end as f64 - full as f64) / (full.saturating_sub(rss_base).max(1)) as f64;
        figure(
            "rss_growth_after_window_pct",
            format_args!("{:.1}", growth * 100.0),
        );
    }
    Ok(())
}
