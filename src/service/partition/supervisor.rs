//! The supervisor of a partition worker: a worker whose stream fails, ends or panics is
//! logged, counted, marks the service not ready, and is restarted with back-off; a run that
//! lasted [`HEALTHY_RUN`] starts the back-off over.

use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio::sync::watch;
use tracing::{error, Instrument};
use vigil::telemetry::metrics;

use super::worker::RunState;
use super::PartitionWorker;

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
                        self.caught_up.fell_behind(self.partition);
                        state.progress.start_target = Some(u64::MAX);
                        state.progress.catching_up_since = Instant::now();
                        state.progress.read_since = 0;
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
}
