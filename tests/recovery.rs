//! The service when NATS goes away and comes back (real binary, real nats-server): `/readyz`
//! follows the connection, and the partition workers resume where they stopped, so events
//! published after the outage are applied once and nothing before it is applied again.

mod support;

use support::*;
use vigil_peers::NatsServer;

const CONFIG: &str = r#"
[nats]
partitions = 2
"#;

async fn readyz(service: &Service) -> Option<(u16, String)> {
    service.get("/readyz").await
}

#[tokio::test]
async fn readiness_follows_nats_and_partition_workers_resume_after_an_outage() {
    let mut nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let setup = ServiceSetup::new(dir.path(), &nats.url(), CONFIG, "wall");
    let mut service = setup.start();
    service.ready().await;
    let now = now_ms();
    {
        let js = async_nats::jetstream::new(nats.connect().await);
        publish_events(&js, &[Ev::created(5, "T-1", now - MIN, "HIGH", "c-1")]).await;
    }
    eventually("the first event applied", || async {
        (service.metric("vigil_events_ingested_total").await == Some(1.0)).then_some(())
    })
    .await;

    nats.kill();
    let body = eventually("/readyz answers 503 while NATS is down", || async {
        readyz(&service)
            .await
            .filter(|(status, _)| *status == 503)
            .map(|(_, body)| body)
    })
    .await;
    assert!(body.contains("nats_connected"), "{body}");
    // Liveness is not readiness: the process is alive.
    assert_eq!(service.get("/healthz").await.map(|r| r.0), Some(200));

    nats.restart();
    eventually("/readyz answers 200 once NATS is back", || async {
        readyz(&service)
            .await
            .filter(|(status, _)| *status == 200)
            .map(|_| ())
    })
    .await;
    let js = async_nats::jetstream::new(nats.connect().await);
    publish_events(
        &js,
        &[
            Ev::responded(5, "T-1", now, "r-1"),
            Ev::created(6, "T-2", now, "LOW", "c-2"),
        ],
    )
    .await;
    eventually("events after the outage applied once", || async {
        (service.metric("vigil_events_ingested_total").await == Some(3.0)).then_some(())
    })
    .await;
    // Nothing read before the outage was applied again (it would be a duplicate ticket).
    let (_, metrics) = service.get("/metrics").await.unwrap();
    assert!(
        !metrics.contains("vigil_events_rejected_total{"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.starts_with("vigil_events_rejected") || l.starts_with("vigil_partition"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    service.stop().await;
}
