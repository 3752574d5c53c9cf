//! `vigil-load memory`: resident memory per open ticket and per idle tenant.
//!
//! Figures are differences of this process's RSS (mimalloc, as in `vigil`) before and after
//! the engine state is built, divided by the count: allocator slack, hash table load factors
//! and vector growth are all included, as they would be in the service.
//!
//! - Tickets: `tickets` `ticket.created` events (two goals each, default policy, ids like
//!   `TKT-0001234`) applied through [`TenantEngine::apply`] round-robin over `tenants` engines.
//!   The base is the RSS with the empty engines. The service's dedupe of applied event ids is
//!   measured separately, per event.
//! - Idle tenants: `tenants` engines that each rejected one tiny event; then as many
//!   [`TenantSupervisor`](vigil_engine::supervisor::TenantSupervisor) actors in a
//!   [`TenantPool`] (one per tenant, created by one tiny event each).

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;
use vigil_engine::clock::{Clock, WallClock};
use vigil_engine::supervisor::TenantPool;
use vigil_engine::{EngineSettings, TenantEngine};
use vigil_peers::rng::Rng;
use vigil_schema::Dedupe;

use crate::report::{figure, note};
use crate::rss::resident_bytes;
use crate::tickets::{created, default_book, pick_priority, tiny};

/// Actor requests in flight while creating idle actors.
const IN_FLIGHT: usize = 1024;

/// Open tickets across tenants: prints `bytes_per_open_ticket` and the figures behind it.
pub fn open_tickets(tickets: u64, tenants: u64) -> anyhow::Result<()> {
    let tenants = tenants.max(1);
    let book = default_book()?;
    let settings = Arc::new(EngineSettings::default());
    let rss_start = resident_bytes()?;
    let mut engines: Vec<TenantEngine> = (1..=tenants)
        .map(|t| TenantEngine::new(t, book.clone(), settings.clone()))
        .collect();
    let rss_base = resident_bytes()?;
    note(format_args!(
        "creating {tickets} open tickets across {tenants} tenants"
    ));
    let started = Instant::now();
    let now = WallClock.now();
    let mut rng = Rng::new(42);
    let mut out = Vec::new();
    let mut rejected = 0u64;
    for no in 1..=tickets {
        let tenant = 1 + (no - 1) % tenants;
        // Created over the last hour, so their first warnings are still ahead.
        let at = now - 3_600_000 + (no * 3_600_000 / tickets.max(1)) as i64;
        let event = created(tenant, no, at, pick_priority(&mut rng), &mut rng);
        if engines[(tenant - 1) as usize]
            .apply(&event, &mut out)
            .is_err()
        {
            rejected += 1;
        }
        out.clear();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rss_tickets = resident_bytes()?;
    let open: usize = engines.iter().map(TenantEngine::open_tickets).sum();
    anyhow::ensure!(
        rejected == 0,
        "{rejected} ticket.created events were rejected"
    );

    // What the partition worker's dedupe adds per applied event (35-day window).
    let mut dedupe = Dedupe::new(settings.dedupe_window_ms);
    for no in 1..=tickets {
        let tenant = 1 + (no - 1) % tenants;
        dedupe.insert(tenant, &format!("{tenant}-TKT-{no:07}-1"), now);
    }
    let rss_dedupe = resident_bytes()?;

    figure("open_tickets", open);
    figure("tenants", tenants);
    figure("rss_start_bytes", rss_start);
    figure("rss_base_bytes", rss_base);
    figure("rss_with_tickets_bytes", rss_tickets);
    figure(
        "bytes_per_empty_tenant_engine",
        (rss_base.saturating_sub(rss_start)) / tenants,
    );
    figure(
        "bytes_per_open_ticket",
        rss_tickets.saturating_sub(rss_base) / (open as u64).max(1),
    );
    figure(
        "dedupe_bytes_per_applied_event",
        rss_dedupe.saturating_sub(rss_tickets) / tickets.max(1),
    );
    figure(
        "create_events_per_sec",
        format!("{:.0}", tickets as f64 / elapsed),
    );
    drop((engines, dedupe));
    Ok(())
}

/// Idle tenants: prints `bytes_per_idle_tenant_engine` and `bytes_per_idle_tenant_actor`.
pub fn idle_tenants(tenants: u64) -> anyhow::Result<()> {
    let tenants = tenants.max(1);
    let book = default_book()?;
    let settings = Arc::new(EngineSettings::default());
    let now = WallClock.now();
    let rss_start = resident_bytes()?;
    let mut out = Vec::new();
    let engines: Vec<TenantEngine> = (1..=tenants)
        .map(|t| {
            let mut e = TenantEngine::new(t, book.clone(), settings.clone());
            let _ = e.apply(&tiny(t, now), &mut out);
            e
        })
        .collect();
    let rss_engines = resident_bytes()?;
    figure("idle_tenants", tenants);
    figure(
        "bytes_per_idle_tenant_engine",
        rss_engines.saturating_sub(rss_start) / tenants,
    );

    let arbiters = std::thread::available_parallelism().map_or(1, usize::from);
    let system = actix_rt::System::new();
    let (rss_pool, rss_actors) = system.block_on(async {
        let (tx, mut rx) = mpsc::channel(1024);
        // Nothing fires on idle tenants; drain anyway so no actor could ever block.
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let pool = TenantPool::new(arbiters, book, settings, Arc::new(WallClock), tx);
        // Let the arbiter threads start before the base is taken.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let rss_pool = resident_bytes()?;
        note(format_args!(
            "starting {tenants} idle tenant actors on {arbiters} arbiters"
        ));
        let mut pending = FuturesUnordered::new();
        for t in 1..=tenants {
            pending.push(pool.apply(tiny(t, now)));
            if pending.len() >= IN_FLIGHT {
                if let Some(answer) = pending.next().await {
                    answer.context("a tenant actor did not answer")?;
                }
            }
        }
        while let Some(answer) = pending.next().await {
            answer.context("a tenant actor did not answer")?;
        }
        let rss_actors = resident_bytes()?;
        pool.stop();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), drain).await;
        anyhow::Ok((rss_pool, rss_actors))
    })?;
    figure(
        "bytes_per_idle_tenant_actor",
        rss_actors.saturating_sub(rss_pool) / tenants,
    );
    drop(engines);
    Ok(())
}
