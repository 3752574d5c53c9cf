//! The Prometheus recorder. It has no HTTP listener of its own: `/metrics` on the service's
//! router renders it through a [`MetricsHandle`].

use std::time::Duration;

use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use super::metrics::{describe, DELIVERY_BUCKETS, NOTIFICATION_DELIVERY_SECONDS, SECONDS_BUCKETS};
use super::TelemetryError;

/// How often [`upkeep`] drains histogram data and samples the process metrics when the service
/// runs it.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Renders the installed recorder's metrics in the Prometheus text format. Cheap to clone.
#[derive(Clone)]
pub struct MetricsHandle(PrometheusHandle);

impl MetricsHandle {
    /// The metrics, Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        self.0.render()
    }

    /// Drains histogram data so memory stays bounded; [`upkeep`] calls it periodically.
    pub fn run_upkeep(&self) {
        self.0.run_upkeep();
    }
}

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsHandle")
    }
}

fn builder() -> Result<PrometheusBuilder, TelemetryError> {
    // A full-name matcher takes precedence over a suffix one.
    Ok(PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full(NOTIFICATION_DELIVERY_SECONDS.into()),
            DELIVERY_BUCKETS,
        )?)
}

/// Installs the process-wide recorder (histograms ending in `_seconds` get [`SECONDS_BUCKETS`])
/// and registers every metric's description. Call once; spawn [`upkeep`] next to the server.
pub fn install_recorder() -> Result<MetricsHandle, TelemetryError> {
    let handle = builder()?.install_recorder()?;
    describe();
    Ok(MetricsHandle(handle))
}

/// A recorder that is not installed globally, for tests: use it with
/// `metrics::with_local_recorder(&recorder, || …)` and render through the handle.
pub fn local_recorder() -> Result<(PrometheusRecorder, MetricsHandle), TelemetryError> {
    let recorder = builder()?.build_recorder();
    let handle = MetricsHandle(recorder.handle());
    Ok((recorder, handle))
}

/// Every [`UPKEEP_INTERVAL`] until the future is dropped (and once at once): sets the process
/// metrics ([`super::process`]) and runs the recorder's upkeep.
pub async fn upkeep(handle: MetricsHandle) {
    let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        super::process::record();
        handle.run_upkeep();
    }
}
