//! Outbound partner sync against a real fake partner over HTTP and a real SQLite store, on a
//! manual clock: a 10-minute outage loses nothing, makes no calls beyond the breaker's probes
//! while open and drains in queue order afterwards; retryable and permanent failures are told
//! apart; the latest stop of a goal wins.

use std::sync::Arc;

use vigil::partner::config::PartnerConfig;
use vigil::partner::link::PartnerLink;
use vigil::partner::worker::PartnerWorker;
use vigil::partner::PartnerClient;
use vigil::store::Store;
use vigil_engine::clock::{Clock, ManualClock};
use vigil_engine::engine::GoalOutcome;
use vigil_engine::{Goal, SlaRecord};
use vigil_peers::partner::{Endpoint, FakePartner, FakePartnerConfig};

const PARTNER: &str = "exchange-a";
const T0: i64 = 1_795_000_000_000;

struct Rig {
    _dir: tempfile::TempDir,
    store: Store,
    clock: ManualClock,
    partner: FakePartner,
    worker: PartnerWorker,
}

impl Rig {
    async fn new(extra: &str) -> Rig {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::connect(&format!("sqlite://{}/vigil.db", dir.path().display()))
            .await
            .expect("store");
        let partner = FakePartner::start(FakePartnerConfig::default())
            .await
            .expect("fake partner");
        let config: PartnerConfig = toml::from_str(&format!(
            r#"
id = "{PARTNER}"
base_url = "{url}"
timeout = "2s"
concurrency = 1
masking = {{ assignee_id = "first:2,last:2" }}
mapping = {{ record_id = "id", outcome = "result" }}
{extra}
"#,
            url = partner.url()
        ))
        .expect("partner config");
        let clock = ManualClock::at(T0);
        let client = PartnerClient::new(&config, &vigil::secrets::Secrets::with_env(|_| None))
            .expect("client");
        let link = Arc::new(PartnerLink::new(config, client, Arc::new(clock.clone())));
        let worker = PartnerWorker::new(link, store.clone());
        Rig {
            _dir: dir,
            store,
            clock,
            partner,
            worker,
        }
    }

    fn advance(&self, ms: i64) {
        self.clock.advance_to(self.clock.now() + ms);
    }

    /// Queues stops of tickets `from..to` (resolution goals), one per millisecond of queue
    /// time so the queue order is the ticket order.
    async fn queue(&self, from: u32, to: u32, outcome: GoalOutcome) -> Vec<String> {
        let mut ids = Vec::new();
        for i in from..to {
            let r = record(i, outcome, T0 + i64::from(i));
            ids.push(r.record_id.clone());
            self.store
                .sla_records()
                .record_stops(&[r], &|_| vec![PARTNER.to_string()], self.clock.now())
                .await
                .expect("record stops");
            self.advance(1);
        }
        ids
    }

    async fn pending(&self) -> u64 {
        self.store
            .partner_outbox()
            .stats(PARTNER)
            .await
            .expect("stats")
            .pending
    }

    /// Rounds, a second of clock apart, until the outbox has nothing pending.
    async fn drain(&self) {
        for _ in 0..1_000 {
            self.worker.round().await.expect("round");
            if self.pending().await == 0 {
                return;
            }
            self.advance(1_000);
        }
        panic!("outbox did not drain: {} pending", self.pending().await);
    }
}

fn record(i: u32, outcome: GoalOutcome, stopped_at: i64) -> SlaRecord {
    SlaRecord::stopped(
        12345,
        &format!("TKT-{i:05}"),
        Goal::Resolution,
        outcome,
        (86_400_000, 90_000_000),
        (stopped_at - 90_000_000, stopped_at),
        ("HIGH", "incident", 1),
        Some("engineer-0042"),
    )
}

#[tokio::test]
async fn a_ten_minute_outage_loses_nothing_stays_within_the_probes_and_drains_in_order() {
    let rig = Rig::new("").await;
    let mut expected = rig.queue(0, 50, GoalOutcome::Met).await;
    rig.partner.set_down(true);

    // The first round meets the outage: the breaker (50% of 20 calls) opens after 20 calls.
    let first = rig.worker.round().await.expect("round");
    assert_eq!(first.delivered, 0);
    assert_eq!(first.retried, 20, "{first:?}");
    assert!(first.blocked_until.is_some(), "breaker opened: {first:?}");
    let calls_before_open = rig.partner.calls(Endpoint::PutRecord).received;
    assert_eq!(calls_before_open, 20);

    // Ten minutes of outage, with more records stopping meanwhile: only probes go out, at
    // most 3 per `open_for` (30 s).
    let outage_ms = 600_000;
    let mut elapsed = 0;
    let mut queued = 50;
    while elapsed < outage_ms {
        rig.worker.round().await.expect("round");
        if elapsed % 60_000 == 0 {
            expected.extend(rig.queue(queued, queued + 5, GoalOutcome::Met).await);
            queued += 5;
        }
        rig.advance(1_000);
        elapsed += 1_000;
    }
    let during = rig.partner.calls(Endpoint::PutRecord).received - calls_before_open;
    let open_periods = outage_ms / 30_000 + 1;
    assert!(
        during <= 3 * open_periods as u64,
        "{during} calls during the outage; the breaker allows {} probes",
        3 * open_periods
    );
    assert!(during > 0, "probes looked for the partner");
    assert_eq!(rig.partner.stored(), 0);

    // Back: everything drains, each record once, in queue order.
    rig.partner.set_down(false);
    rig.partner.reset_counts();
    rig.drain().await;
    assert_eq!(rig.partner.stored(), expected.len());
    assert_eq!(rig.partner.accepted_put_ids(), expected);
    let stats = rig
        .store
        .partner_outbox()
        .stats(PARTNER)
        .await
        .expect("stats");
    assert_eq!((stats.pending, stats.parked), (0, 0));
    assert_eq!(stats.delivered, expected.len() as u64);

    // What left is mapped and masked.
    let body = rig.partner.record(&expected[0]).expect("stored");
    assert_eq!(body["id"], expected[0].as_str());
    assert_eq!(body["result"], "met");
    assert_eq!(body["assignee_id"], "en*********42");
    assert!(!body.to_string().contains("engineer-0042"));
}

#[tokio::test]
async fn retryable_failures_retry_and_permanent_ones_park_with_the_answer() {
    let rig = Rig::new("retries = 2\nretry_delay = \"2s\"").await;
    let ids = rig.queue(0, 1, GoalOutcome::Breached).await;

    // 503 then 429 with Retry-After: retried, never sooner than asked.
    rig.partner.fail_next(1, 503);
    let r = rig.worker.round().await.expect("round");
    assert_eq!(r.retried, 1);
    rig.partner.throttle_next(1, 120);
    rig.advance(5_000);
    assert_eq!(rig.worker.round().await.expect("round").retried, 1);
    rig.advance(60_000);
    assert_eq!(
        rig.worker.round().await.expect("round").claimed,
        0,
        "Retry-After holds"
    );
    rig.advance(61_000);
    assert_eq!(rig.worker.round().await.expect("round").delivered, 1);
    assert_eq!(rig.partner.accepted_put_ids(), ids);

    // 422 (and every 4xx but 429): parked at once, with the partner's answer; a retry sends it.
    for (i, status) in [(1u32, 422u16), (2, 400), (3, 403)] {
        let id = rig.queue(i, i + 1, GoalOutcome::Met).await;
        rig.partner.fail_next(1, status);
        let r = rig.worker.round().await.expect("round");
        assert_eq!(r.parked, 1, "{status}: {r:?}");
        let entry = rig
            .store
            .partner_outbox()
            .get(PARTNER, &id[0])
            .await
            .expect("entry")
            .expect("row");
        assert_eq!(entry.state, "parked");
        assert_eq!(entry.last_status, Some(status));
        assert!(entry.last_error.is_some());
    }
    let parked = rig
        .store
        .partner_outbox()
        .list(PARTNER, Some("parked"), 10, None)
        .await
        .expect("list");
    assert_eq!(parked.len(), 3);
    assert!(rig
        .store
        .partner_outbox()
        .retry(PARTNER, &parked[0].record_id, rig.clock.now())
        .await
        .expect("retry"));
    assert_eq!(rig.worker.round().await.expect("round").delivered, 1);
    assert_eq!(rig.partner.stored(), 2);
}

/// A `Retry-After` beyond `max_retry_delay` (1e11 s, `u64::MAX` s) is held to it: the record
/// is tried again once `max_retry_delay` has passed, not parked for centuries.
#[tokio::test]
async fn a_partner_asking_to_wait_for_ages_is_tried_again_after_max_retry_delay() {
    for asked in [100_000_000_000u64, u64::MAX] {
        let rig = Rig::new("retries = 2\nretry_delay = \"2s\"\nmax_retry_delay = \"1m\"").await;
        let ids = rig.queue(0, 1, GoalOutcome::Breached).await;
        rig.partner.throttle_next(1, asked);
        assert_eq!(rig.worker.round().await.expect("round").retried, 1);
        rig.advance(59_000);
        assert_eq!(
            rig.worker.round().await.expect("round").claimed,
            0,
            "{asked}: max_retry_delay holds"
        );
        rig.advance(1_000);
        let round = rig.worker.round().await.expect("round");
        assert_eq!(round.delivered, 1, "{asked}: {round:?}");
        assert_eq!(rig.partner.accepted_put_ids(), ids);
    }
}

#[tokio::test]
async fn the_latest_stop_of_a_goal_wins_and_replays_send_nothing() {
    let rig = Rig::new("").await;
    let first = record(7, GoalOutcome::Met, T0);
    let later = record(7, GoalOutcome::Breached, T0 + 3_600_000);
    let partners = |_: u64| vec![PARTNER.to_string()];
    rig.store
        .sla_records()
        .record_stops(std::slice::from_ref(&first), &partners, rig.clock.now())
        .await
        .expect("first stop");
    rig.drain().await;
    // A reopen and a second stop: the partner gets the new outcome.
    rig.store
        .sla_records()
        .record_stops(std::slice::from_ref(&later), &partners, rig.clock.now())
        .await
        .expect("second stop");
    rig.drain().await;
    let body = rig.partner.record(&first.record_id).expect("stored");
    assert_eq!(body["result"], "breached");
    // A restart replays both stops: nothing is queued again.
    let taken = rig
        .store
        .sla_records()
        .record_stops(&[first, later], &partners, rig.clock.now())
        .await
        .expect("replay");
    assert_eq!(taken, 0);
    assert_eq!(rig.worker.round().await.expect("round").claimed, 0);
    assert_eq!(rig.partner.puts_total(), 2);
}
