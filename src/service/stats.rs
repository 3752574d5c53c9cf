//! Engine figures for `/metrics`: open tickets (per tenant for the first `metrics.tenant_labels`
//! tenants, the rest summed as `other`), live tenant actors, actor restarts and contained panics, read every
//! couple of seconds from the counters the actors keep, so the hot path never touches metrics.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use vigil::telemetry::metrics;
use vigil::telemetry::{TenantLabel, TenantLabels};
use vigil_engine::supervisor::TenantPool;

/// How often the figures are refreshed.
const EVERY: Duration = Duration::from_secs(2);

/// Refreshes the engine gauges until `stop`.
pub async fn publish(pool: Arc<TenantPool>, labels: TenantLabels, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(EVERY);
    let (mut last_restarts, mut last_timer_panics, mut last_read_panics) = (0, 0, 0);
    loop {
        tokio::select! {
            _ = crate::stopped(&mut stop) => return,
            _ = tick.tick() => {}
        }
        let stats = pool.stats();
        metrics::tenants_active().set(stats.open_tickets.len() as f64);
        metrics::actor_restarts().increment(stats.restarts.saturating_sub(last_restarts));
        last_restarts = stats.restarts;
        metrics::actor_panics("timer")
            .increment(stats.timer_panics.saturating_sub(last_timer_panics));
        last_timer_panics = stats.timer_panics;
        metrics::actor_panics("read").increment(stats.read_panics.saturating_sub(last_read_panics));
        last_read_panics = stats.read_panics;
        let mut by_label: HashMap<String, (TenantLabel, usize)> = HashMap::new();
        for (tenant, open) in stats.open_tickets {
            let label = labels.label(tenant);
            by_label
                .entry(label.as_str().to_string())
                .or_insert((label, 0))
                .1 += open;
        }
        for (label, open) in by_label.values() {
            metrics::open_tickets(label).set(*open as f64);
        }
    }
}
