//! Snapshots (DESIGN.md §6): `vigil run` saves each partition's state with the stream sequence
//! it reflects, and a restart loads it and reads only the stream after it. The proof: the
//! stream is purged below the snapshot while the service is down, so only the snapshot still
//! knows the tickets; the restarted service applies events for them as if it never stopped. A
//! snapshot that cannot be used is refused with a warning, and the partition is rebuilt from
//! the stream instead.

mod support;

use support::*;
use vigil_peers::NatsServer;

const CONFIG: &str = r#"
[nats]
partitions = 1

[engine]
snapshot_every_events = 4
snapshot_interval = "0s"
"#;

const TENANT: u64 = 61;

/// The sequence and format of partition 0's stored snapshot, if there is one.
async fn stored_snapshot(db: &std::path::Path) -> Option<(i64, Vec<u8>)> {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::ConnectOptions as _;
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await
        .ok()?;
    sqlx::query_as("SELECT sequence, state FROM partition_snapshots WHERE partition_id = 0")
        .fetch_optional(&mut conn)
        .await
        .ok()
        .flatten()
}

/// The response alerts of a CRITICAL ticket created at `t0` and responded to after its breach,
/// in `state`.
fn response_alerts(ticket: &str, t0: i64, state: &str) -> Vec<AlertKey> {
    let mut rows = vec![
        key(
            TENANT,
            ticket,
            "response",
            "warning",
            "0.8",
            state,
            &ts(t0 + 24 * MIN),
        ),
        key(
            TENANT,
            ticket,
            "response",
            "breach",
            "1",
            state,
            &ts(t0 + 30 * MIN),
        ),
    ];
    rows.sort();
    rows
}

/// Run 1 of each test: four CRITICAL tickets three hours old (`{prefix}-0` … `-3`), each past
/// its response breach, applied by a service that saved the snapshot of partition 0 after
/// them (sequence 4, the fourth event) and was then stopped.
struct Snapshotted {
    _nats: NatsServer,
    _dir: tempfile::TempDir,
    setup: ServiceSetup,
    js: async_nats::jetstream::Context,
    t0: i64,
    tickets: Vec<String>,
}

impl Snapshotted {
    async fn run(prefix: &str) -> Snapshotted {
        let nats = NatsServer::start();
        let dir = tempfile::tempdir().expect("a temp dir");
        let setup = ServiceSetup::new(dir.path(), &nats.url(), CONFIG, "wall");
        let js = nats.jetstream().await;
        let t0 = now_ms() - 3 * HOUR;
        let tickets: Vec<String> = (0..4).map(|i| format!("{prefix}-{i}")).collect();
        let created: Vec<Ev> = tickets
            .iter()
            .map(|t| Ev::created(TENANT, t, t0, "CRITICAL", &format!("{t}-c")))
            .collect();
        let mut service = setup.start();
        service.ready().await;
        publish_events(&js, &created).await;
        let mut firing: Vec<AlertKey> = tickets
            .iter()
            .flat_map(|t| response_alerts(t, t0, "firing"))
            .collect();
        firing.sort();
        wait_for_store(&setup.db, firing).await;
        let (_, state) = eventually("a snapshot of partition 0 after sequence 4", || async {
            stored_snapshot(&setup.db)
                .await
                .filter(|(seq, _)| *seq == 4)
        })
        .await;
        assert_eq!(&state[..4], b"VGSN");
        assert!(service.stop().await.success(), "{}", service.log());
        Snapshotted {
            _nats: nats,
            _dir: dir,
            setup,
            js,
            t0,
            tickets,
        }
    }

    /// Run 2, after the first ticket was responded to: waits until its response alerts are
    /// resolved and the others still fire, and returns the service's log.
    async fn restart_after_the_first_is_responded_to(&self) -> String {
        let first = &self.tickets[0];
        let responded = Ev::responded(TENANT, first, now_ms(), &format!("{first}-r"));
        publish_events(&self.js, &[responded]).await;
        let mut service = self.setup.start();
        service.ready().await;
        let mut expected: Vec<AlertKey> = response_alerts(first, self.t0, "resolved");
        for t in &self.tickets[1..] {
            expected.extend(response_alerts(t, self.t0, "firing"));
        }
        expected.sort();
        wait_for_store(&self.setup.db, expected).await;
        let log = service.log();
        assert!(service.stop().await.success(), "{log}");
        log
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_goes_on_from_the_snapshot_when_the_stream_before_it_is_gone() {
    let run1 = Snapshotted::run("OLD").await;

    // Down: the stream forgets everything before the snapshot (retention, or a purge).
    let mut stream = run1.js.get_stream("VIGIL_EVENTS").await.unwrap();
    stream.purge().await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 0);

    // Run 2: only the snapshot still knows OLD-0, so its response goal stops and its alerts
    // resolve.
    let log = run1.restart_after_the_first_is_responded_to().await;
    assert!(
        log.contains("partition restored from its snapshot"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_that_cannot_be_used_is_refused_and_the_stream_rebuilds_the_state() {
    let run1 = Snapshotted::run("T").await;

    // Down: one flipped byte, so the checksum no longer matches.
    {
        use sqlx::sqlite::SqliteConnectOptions;
        use sqlx::ConnectOptions as _;
        let mut conn = SqliteConnectOptions::new()
            .filename(&run1.setup.db)
            .connect()
            .await
            .unwrap();
        let (mut state,): (Vec<u8>,) =
            sqlx::query_as("SELECT state FROM partition_snapshots WHERE partition_id = 0")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        let last = state.len() - 1;
        state[last] ^= 0xff;
        sqlx::query("UPDATE partition_snapshots SET state = $1 WHERE partition_id = 0")
            .bind(state)
            .execute(&mut conn)
            .await
            .unwrap();
    }

    // Run 2: the whole stream is still there; rebuilt from it, T-0 is known and its alerts
    // resolve.
    let log = run1.restart_after_the_first_is_responded_to().await;
    assert!(log.contains("snapshot cannot be used"), "{log}");
    assert!(log.contains("checksum"), "{log}");
    assert!(
        !log.contains("partition restored from its snapshot"),
        "{log}"
    );
}
