//! Supervision: a poison event is rejected as `poison`, the actor restarts around its last good
//! state, and other tenants never notice; a panic in a timer tick or a read is contained the
//! same way; a full alert channel never blocks the actor.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use vigil_schema::{decode, Event, RejectReason};

use crate::clock::ManualClock;
use crate::engine::EngineSettings;
use crate::policy::PolicyBook;
use crate::supervisor::tenant::AlertBatch;
use crate::supervisor::{Applied, Queued, TenantPool};

/// The event id that makes the test build's engine panic.
pub(super) const POISON_EVENT_ID: &str = "poison-for-test";

/// Where a test arms a one-shot panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    Timer,
    Read,
}

/// One-shot panics armed by tests, by tenant and place.
static ARMED: Mutex<Vec<(u64, Place)>> = Mutex::new(Vec::new());

fn arm(tenant: u64, place: Place) {
    ARMED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((tenant, place));
}

/// Panics once if a test armed a panic for this tenant and place.
pub(super) fn maybe_panic(tenant: u64, place: Place) {
    let mut armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = armed.iter().position(|a| *a == (tenant, place)) {
        armed.swap_remove(i);
        drop(armed);
        panic!("{place:?} panic armed by the supervision test");
    }
}

fn event(tenant: u64, id: &str, kind: &str, extra: &str) -> Event {
    decode(
        format!(
            r#"{{"schema":1,"event_id":"{id}","event_type":"{kind}","tenant_id":{tenant},"ticket_id":"T","occurred_at":"2026-11-23T00:00:00Z"{extra}}}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

const CREATED: &str = r#","priority":"HIGH""#;

/// A pool of one arbiter with the default policy (HIGH: response 2 h, warning at 80 %), its
/// clock at `now`, and an alert channel of `capacity`.
fn pool(now: &str, capacity: usize) -> (TenantPool, mpsc::Receiver<Queued<AlertBatch>>) {
    let book = Arc::new(
        PolicyBook::build(&Default::default(), &BTreeMap::new(), &BTreeMap::new()).unwrap(),
    );
    let (tx, rx) = mpsc::channel(capacity);
    let clock = ManualClock::at(vigil_schema::parse_instant(now).unwrap());
    let pool = TenantPool::new(
        1,
        book,
        Arc::new(EngineSettings::default()),
        Arc::new(clock),
        tx,
    );
    (pool, rx)
}

/// The next batch of alert changes on the channel (the actors send no barriers).
async fn next_batch(rx: &mut mpsc::Receiver<Queued<AlertBatch>>) -> Option<AlertBatch> {
    match rx.recv().await? {
        Queued::Batch(batch) => Some(batch),
        Queued::Barrier(_) => None,
    }
}

async fn open_tickets(pool: &TenantPool, tenant: u64) -> Option<usize> {
    pool.inspect(tenant, |engine, _| engine.open_tickets())
        .await
}

#[test]
fn a_poison_event_restarts_only_its_actor_and_keeps_its_state() {
    actix::System::new().block_on(async {
        let (pool, _rx) = pool("2026-11-23T00:01:00Z", 16);
        for tenant in [1, 2] {
            let (applied, _) = pool
                .apply(event(tenant, "c", "ticket.created", CREATED))
                .await
                .unwrap();
            assert_eq!(applied, Applied::Ok);
        }
        let (applied, _) = pool
            .apply(event(1, POISON_EVENT_ID, "ticket.responded", ""))
            .await
            .unwrap();
        assert!(matches!(applied, Applied::Rejected(r) if r.reason == RejectReason::Poison));
        // The restarted actor still knows ticket T (its last good state) …
        let (applied, _) = pool
            .apply(event(1, "r", "ticket.responded", ""))
            .await
            .unwrap();
        assert_eq!(applied, Applied::Ok);
        // … and the other tenant never noticed.
        let (applied, _) = pool
            .apply(event(2, "r", "ticket.responded", ""))
            .await
            .unwrap();
        assert_eq!(applied, Applied::Ok);
        let stats = pool.stats();
        assert_eq!(stats.restarts, 1);
        pool.stop();
    });
}

#[test]
fn a_panic_in_a_timer_tick_is_contained_and_the_timers_fire_later() {
    actix::System::new().block_on(async {
        const TENANT: u64 = 31;
        // Ten hours after creation every threshold of the HIGH response goal is due at once.
        let (pool, mut rx) = pool("2026-11-23T10:00:00Z", 16);
        arm(TENANT, Place::Timer);
        let (applied, fired) = pool
            .apply(event(TENANT, "c", "ticket.created", CREATED))
            .await
            .unwrap();
        assert_eq!(applied, Applied::Ok);
        assert!(fired.is_empty());
        // The first tick panics; the retry fires the warning and the breach.
        let batch = next_batch(&mut rx)
            .await
            .expect("the timers fire after the contained panic");
        assert_eq!(batch.len(), 2, "{batch:?}");
        let stats = pool.stats();
        assert_eq!((stats.timer_panics, stats.restarts), (1, 0));
        assert_eq!(open_tickets(&pool, TENANT).await, Some(1));
        pool.stop();
    });
}

#[test]
fn a_panic_in_a_read_answers_nothing_and_changes_nothing() {
    actix::System::new().block_on(async {
        const TENANT: u64 = 32;
        let (pool, _rx) = pool("2026-11-23T00:01:00Z", 16);
        let (applied, _) = pool
            .apply(event(TENANT, "c", "ticket.created", CREATED))
            .await
            .unwrap();
        assert_eq!(applied, Applied::Ok);
        arm(TENANT, Place::Read);
        assert_eq!(open_tickets(&pool, TENANT).await, None);
        assert_eq!(open_tickets(&pool, TENANT).await, Some(1));
        let (applied, _) = pool
            .apply(event(TENANT, "r", "ticket.responded", ""))
            .await
            .unwrap();
        assert_eq!(applied, Applied::Ok);
        let stats = pool.stats();
        assert_eq!((stats.read_panics, stats.restarts), (1, 0));
        pool.stop();
    });
}

#[test]
fn a_full_alert_channel_never_blocks_reads_and_keeps_the_order() {
    actix::System::new().block_on(async {
        const TENANT: u64 = 33;
        let (pool, mut rx) = pool("2026-11-23T10:00:00Z", 1);
        // Two tickets fire on their timers: the first batch fills the channel, the second
        // waits in the actor.
        let (_, fired) = pool
            .apply(event(TENANT, "c1", "ticket.created", CREATED))
            .await
            .unwrap();
        assert!(fired.is_empty());
        let first = next_batch(&mut rx).await.unwrap();
        assert_eq!(first.len(), 2);
        // Nobody reads the channel now; fill it again and let a second tick wait.
        let created = |id: &str, ticket: &str| {
            decode(format!(
                r#"{{"schema":1,"event_id":"{id}","event_type":"ticket.created","tenant_id":{TENANT},"ticket_id":"{ticket}","occurred_at":"2026-11-23T00:00:00Z","priority":"HIGH"}}"#
            ).as_bytes()).unwrap()
        };
        pool.apply(created("c2", "T2")).await.unwrap();
        pool.apply(created("c3", "T3")).await.unwrap();
        // The actor still answers reads while its alert changes wait for room.
        assert_eq!(open_tickets(&pool, TENANT).await, Some(3));
        // A batch answer carries what is still waiting, so nothing is lost or reordered.
        let mut changes = Vec::new();
        let (_, answered) = pool.apply(created("c4", "T4")).await.unwrap();
        changes.extend(answered);
        while changes.len() < 6 {
            changes.extend(next_batch(&mut rx).await.unwrap());
        }
        // Every ticket's warning and breach, each ticket's in the order they fired.
        let seen: Vec<(String, crate::Level)> = changes
            .iter()
            .map(|a| (a.ticket_id.to_string(), a.level))
            .collect();
        assert_eq!(seen.len(), 6, "{seen:?}");
        for ticket in ["T2", "T3", "T4"] {
            let levels: Vec<_> = seen.iter().filter(|(t, _)| t == ticket).map(|(_, l)| *l).collect();
            assert_eq!(levels, [crate::Level::Warning, crate::Level::Breach], "{ticket}: {seen:?}");
        }
        pool.stop();
    });
}

#[test]
fn a_repeat_is_judged_on_its_own_first() {
    actix::System::new().block_on(async {
        const TENANT: u64 = 34;
        let (pool, _rx) = pool("2026-11-23T00:01:00Z", 16);
        let created = event(TENANT, "c", "ticket.created", CREATED);
        let bad_priority = event(
            TENANT,
            "c",
            "ticket.priority_changed",
            r#","priority":"URGENT""#,
        );
        let answer = pool
            .apply_batch(TENANT, vec![created.clone()], Vec::new())
            .await
            .unwrap();
        assert_eq!(answer.applied, [Applied::Ok]);
        let answer = pool
            .apply_batch(TENANT, vec![created, bad_priority], vec![true, true])
            .await
            .unwrap();
        let reasons: Vec<_> = answer
            .applied
            .iter()
            .map(|a| match a {
                Applied::Rejected(r) => r.reason,
                Applied::Ok => panic!("a repeat was applied"),
            })
            .collect();
        assert_eq!(
            reasons,
            [RejectReason::DuplicateEvent, RejectReason::UnknownPriority]
        );
        pool.stop();
    });
}

#[test]
fn a_restored_tenant_fires_its_overdue_timers_at_once_and_goes_on() {
    actix::System::new().block_on(async {
        const TENANT: u64 = 34;
        // Before the restart: a HIGH ticket one minute old, nothing due yet.
        let (before, _rx) = pool("2026-11-23T00:01:00Z", 16);
        let (applied, fired) = before
            .apply(event(TENANT, "c", "ticket.created", CREATED))
            .await
            .unwrap();
        assert_eq!(applied, Applied::Ok);
        assert!(fired.is_empty());
        let (state, unsent) = before
            .take_snapshot(TENANT)
            .await
            .expect("the tenant has an actor");
        assert!(unsent.is_empty());
        assert_eq!(before.take_snapshot(99).await, None);
        before.stop();

        // Restored ten hours later: the warning and the breach were due while it was down.
        let (after, mut rx) = pool("2026-11-23T10:00:00Z", 16);
        assert_eq!(after.restore(vec![state.clone()]).unwrap(), 1);
        let batch = next_batch(&mut rx)
            .await
            .expect("the overdue timers fire at once");
        assert_eq!(batch.len(), 2, "{batch:?}");
        assert!(batch.iter().all(|a| a.ticket_id == "T"));
        assert_eq!(open_tickets(&after, TENANT).await, Some(1));
        assert_eq!(after.tenant_ids(), vec![TENANT]);
        // It goes on from the restored state: ticket T is known.
        let (applied, _) = after
            .apply(event(TENANT, "r", "ticket.responded", ""))
            .await
            .unwrap();
        assert_eq!(applied, Applied::Ok);
        // A second restore of a running tenant changes nothing.
        assert!(after.restore(vec![state]).is_err());
        assert_eq!(open_tickets(&after, TENANT).await, Some(1));
        after.stop();
    });
}
