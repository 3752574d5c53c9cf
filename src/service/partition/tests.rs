//! A partition worker that fails is restarted with back-off, makes the service not ready until
//! it has caught up again, and resumes after the last message it read: against a real
//! nats-server, a real SQLite store and real tenant actors.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use vigil::http::Readiness;
use vigil::hub::Hub;
use vigil::store::Store;
use vigil_engine::clock::WallClock;
use vigil_engine::supervisor::TenantPool;
use vigil_engine::{EngineSettings, PolicyBook};
use vigil_peers::NatsServer;
use vigil_streams::jetstream::StreamSettings;

use super::{CaughtUp, PartitionWorker};
use crate::service::applier::Applier;

/// A stream sequence at or after which the worker fails once (0: none).
static FAIL_AT: AtomicU64 = AtomicU64::new(0);

/// Whether the worker should fail now, having read up to `sequence` (once per arming).
pub(super) fn injected_failure(sequence: u64) -> bool {
    let at = FAIL_AT.load(Ordering::Relaxed);
    at != 0
        && sequence >= at
        && FAIL_AT
            .compare_exchange(at, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

const TENANT: u64 = 9;

async fn publish_created(js: &async_nats::jetstream::Context, from: u32, to: u32) {
    for n in from..to {
        let json = format!(
            r#"{{"schema":1,"event_id":"c{n}","event_type":"ticket.created","tenant_id":{TENANT},"ticket_id":"T{n}","occurred_at":"2026-12-01T00:00:00Z","priority":"LOW"}}"#
        );
        js.publish(format!("vigil.events.{TENANT}"), json.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

/// Polls `check` every 10 ms for up to 20 s.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..2_000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

#[test]
fn a_failed_worker_restarts_resumes_where_it_stopped_and_is_ready_again() {
    actix::System::new().block_on(async {
        let nats = NatsServer::start();
        let js = nats.jetstream().await;
        let settings = StreamSettings {
            partitions: 1,
            ..StreamSettings::default()
        };
        vigil_streams::ensure_streams(&js, &settings).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/v.db", dir.path().display()))
            .await
            .unwrap();
        let book = Arc::new(
            PolicyBook::build(
                &Default::default(),
                &Default::default(),
                &Default::default(),
            )
            .unwrap(),
        );
        let (alerts_tx, _alerts_rx) = mpsc::channel(64);
        let pool = Arc::new(TenantPool::new(
            1,
            book,
            Arc::new(EngineSettings::default()),
            Arc::new(WallClock),
            alerts_tx.clone(),
        ));
        let readiness = Arc::new(Readiness::new());
        let fence = vigil::store::Fence {
            partition: 0,
            revision: 1,
        };
        assert!(store.fences().claim(fence, "test").await.unwrap());
        let held = Arc::new(crate::service::held::HeldPartitions::default());
        held.insert(fence);
        let caught_up = Arc::new(CaughtUp::new(readiness.clone()));
        caught_up.settled(0);
        caught_up.fell_behind(0);
        let worker = PartitionWorker {
            partition: 0,
            fence,
            held,
            js: js.clone(),
            stream: settings.name.clone(),
            store: store.clone(),
            applier: Applier::actors(pool.clone()),
            alerts: alerts_tx,
            facts: None,
            hub: Hub::new(
                Default::default(),
                vigil::tenant_reads::TenantReads::local(Some(pool.clone())),
                store,
            ),
            caught_up,
            dedupe_window_ms: EngineSettings::default().dedupe_window_ms,
            partitions: settings.partitions,
            snapshot_every: super::SnapshotEvery {
                events: 0,
                interval: std::time::Duration::ZERO,
            },
            ingested: ::metrics::Counter::noop(),
            processing: ::metrics::Histogram::noop(),
        };
        publish_created(&js, 0, 20).await;
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(worker.run(stop_rx));
        let caught_up = || readiness.report().partitions_caught_up;
        until("the worker has caught up", caught_up).await;

        // The next message read makes the worker fail once.
        FAIL_AT.store(21, Ordering::Relaxed);
        publish_created(&js, 20, 30).await;
        until("the failed worker makes the service not ready", || {
            !caught_up()
        })
        .await;
        until("the restarted worker has caught up again", caught_up).await;
        assert_eq!(
            FAIL_AT.load(Ordering::Relaxed),
            0,
            "the failure was injected"
        );

        // Every ticket was created exactly once: nothing before the failure was applied again
        // (it would be rejected as a duplicate ticket and dead-lettered), nothing was skipped.
        let open = pool
            .inspect(TENANT, |engine, _| engine.open_tickets())
            .await;
        assert_eq!(open, Some(30));
        let mut dlq = js.get_stream("VIGIL_DLQ").await.unwrap();
        assert_eq!(dlq.info().await.unwrap().state.messages, 0);

        stop_tx.send(true).unwrap();
        task.await.unwrap().unwrap();
        pool.stop();
    });
}
