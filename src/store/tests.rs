//! Store tests on a temporary SQLite file, and on PostgreSQL when `VIGIL_TEST_POSTGRES_URL` is
//! set (e.g. `postgres://postgres@127.0.0.1:5432/vigil_test`).

use vigil_engine::alert::{alert_id, dedupe_key};
use vigil_engine::{AlertRecord, AlertState, Goal, Level};

use super::*;

pub(super) fn record(ticket: &str, level: Level, state: AlertState) -> AlertRecord {
    let threshold = if level == Level::Breach { 1.0 } else { 0.8 };
    let key = dedupe_key(12345, ticket, Goal::Response, level, threshold);
    AlertRecord {
        alert_id: alert_id(&key),
        state,
        tenant_id: 12345,
        ticket_id: ticket.to_string(),
        goal: Goal::Response,
        level,
        threshold,
        target_ms: 1_800_000,
        elapsed_ms: 1_440_000,
        fired_at: 1_795_293_840_000,
        deadline: 1_795_294_200_000,
        priority: "CRITICAL".into(),
        service_type: "incident".into(),
        policy_version: 1,
    }
}

async fn sqlite() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    // A directory that does not exist yet: connect creates it.
    let url = format!("sqlite://{}/nested/vigil.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    (dir, store)
}

/// The behaviour both dialects must share.
async fn exercise(store: &Store) {
    store.ping().await.unwrap();

    // First firing is new; a replay of it is not.
    let firing = record("TKT-1", Level::Warning, AlertState::Firing);
    assert_eq!(
        store.alerts().record_change(&firing).await.unwrap(),
        AlertWrite::Inserted
    );
    assert_eq!(
        store.alerts().record_change(&firing).await.unwrap(),
        AlertWrite::Unchanged
    );

    // Forward moves are new once; backward moves change nothing.
    let mut resolved = firing.clone();
    resolved.state = AlertState::Resolved;
    resolved.elapsed_ms = 1_500_000;
    assert_eq!(
        store.alerts().record_change(&resolved).await.unwrap(),
        AlertWrite::Advanced
    );
    assert_eq!(
        store.alerts().record_change(&resolved).await.unwrap(),
        AlertWrite::Unchanged
    );
    assert_eq!(
        store.alerts().record_change(&firing).await.unwrap(),
        AlertWrite::Unchanged
    );
    let mut retracted = firing.clone();
    retracted.state = AlertState::Retracted;
    assert_eq!(
        store.alerts().record_change(&retracted).await.unwrap(),
        AlertWrite::Unchanged
    );

    let row = store.alerts().get(&firing.alert_id).await.unwrap().unwrap();
    assert_eq!(row.record, resolved);
    assert!(row.updated_at > 0);

    // A batch: firing then acknowledged-by-API then resolved, and a replayed duplicate.
    let breach = record("TKT-2", Level::Breach, AlertState::Firing);
    let other = record("TKT-3", Level::Warning, AlertState::Firing);
    let writes = store
        .alerts()
        .record_changes(&[], &[breach.clone(), other.clone(), breach.clone()])
        .await
        .unwrap();
    assert_eq!(
        writes,
        [
            AlertWrite::Inserted,
            AlertWrite::Inserted,
            AlertWrite::Unchanged
        ]
    );
    assert!(writes.iter().filter(|w| w.is_new()).count() == 2);

    match store
        .alerts()
        .acknowledge(&breach.alert_id, "alice")
        .await
        .unwrap()
    {
        Transition::Changed(row) => {
            assert_eq!(row.record.state, AlertState::Acknowledged);
            assert_eq!(row.acked_by.as_deref(), Some("alice"));
            assert!(row.acked_at.is_some());
        }
        other => panic!("expected an acknowledgement, got {other:?}"),
    }
    assert!(matches!(
        store
            .alerts()
            .acknowledge(&breach.alert_id, "bob")
            .await
            .unwrap(),
        Transition::Unchanged(_)
    ));
    assert_eq!(
        store
            .alerts()
            .acknowledge("no-such-id", "bob")
            .await
            .unwrap(),
        Transition::Unknown
    );
    // A replayed firing does not undo the acknowledgement; resolving moves on from it.
    assert_eq!(
        store.alerts().record_change(&breach).await.unwrap(),
        AlertWrite::Unchanged
    );
    let mut breach_resolved = breach.clone();
    breach_resolved.state = AlertState::Resolved;
    assert_eq!(
        store
            .alerts()
            .record_changes(&[], &[breach_resolved])
            .await
            .unwrap(),
        [AlertWrite::Advanced]
    );

    // A manual resolve records who and when, once; a resolved alert stays as it is.
    match store
        .alerts()
        .resolve(&firing_now_id(store).await, "carol")
        .await
        .unwrap()
    {
        Transition::Changed(row) => {
            assert_eq!(row.record.state, AlertState::Resolved);
            assert_eq!(row.resolved_by.as_deref(), Some("carol"));
            assert!(row.resolved_at.is_some());
        }
        other => panic!("expected a resolution, got {other:?}"),
    }
    assert!(matches!(
        store
            .alerts()
            .resolve(&breach.alert_id, "carol")
            .await
            .unwrap(),
        Transition::Unchanged(_)
    ));

    // Listing filters by tenant and state.
    let all = store.alerts().list(None, None, 100).await.unwrap();
    assert_eq!(all.len(), 3);
    let resolved = store
        .alerts()
        .list(Some(12345), Some(AlertState::Resolved), 100)
        .await
        .unwrap();
    // TKT-1 and TKT-2 resolved by the engine, TKT-3 by hand.
    assert_eq!(resolved.len(), 3);
    assert!(store
        .alerts()
        .list(Some(99), None, 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.alerts().list(None, None, 1).await.unwrap().len(), 1);
    // Nothing of tenant 12345 is open any more; another tenant's firing alert is.
    assert!(store
        .alerts()
        .open(Some(12345), 10)
        .await
        .unwrap()
        .is_empty());
    let mut elsewhere = record("TKT-9", Level::Breach, AlertState::Firing);
    elsewhere.tenant_id = 777;
    elsewhere.alert_id = alert_id(&elsewhere.dedupe_key());
    store.alerts().record_change(&elsewhere).await.unwrap();
    let open = store.alerts().open(None, 10).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].record.tenant_id, 777);
    assert_eq!(store.alerts().open(Some(777), 10).await.unwrap().len(), 1);

    // Bad data is refused before the database, and is not retryable.
    let mut forged = other.clone();
    forged.alert_id = "forged".into();
    let err = store.alerts().record_change(&forged).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidRecord { .. }), "{err}");
    assert!(!err.is_retryable());
    let err = store
        .alerts()
        .record_changes(
            &[],
            &[record("TKT-9", Level::Warning, AlertState::Firing), forged],
        )
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(store
        .alerts()
        .get(&record("TKT-9", Level::Warning, AlertState::Firing).alert_id)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn sqlite_records_alert_changes_idempotently() {
    let (_dir, store) = sqlite().await;
    exercise(&store).await;
    exercise_notifications(&store).await;
}

#[tokio::test]
async fn sqlite_keeps_rows_across_reconnects() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/vigil.db", dir.path().display());
    let firing = record("TKT-1", Level::Breach, AlertState::Firing);
    {
        let store = Store::connect(&url).await.unwrap();
        assert!(store
            .alerts()
            .record_change(&firing)
            .await
            .unwrap()
            .is_new());
        store.close().await;
    }
    // A restart replays the same change: it is not new, so it is not published again.
    let store = Store::connect(&url).await.unwrap();
    assert!(!store
        .alerts()
        .record_change(&firing)
        .await
        .unwrap()
        .is_new());
}

#[tokio::test]
async fn postgres_records_alert_changes_idempotently() {
    let Some(url) = test_support::postgres_schema_url("vigil_store_test").await else {
        return;
    };
    let store = Store::connect(&url).await.unwrap();
    exercise(&store).await;
    exercise_progress(&store).await;
    exercise_notifications(&store).await;
    store.close().await;
    // Connecting again finds the schema migrated and the rows in place.
    let again = Store::connect(&url).await.unwrap();
    // Four from `exercise`, one from `exercise_notifications`.
    assert_eq!(again.alerts().list(None, None, 100).await.unwrap().len(), 5);
    again.close().await;
    let admin = sqlx::PgPool::connect(&test_support::postgres_url().unwrap())
        .await
        .unwrap();
    let schema = test_support::schema_name("vigil_store_test");
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn unreachable_or_invalid_stores_say_whether_to_retry() {
    let err = Store::connect("mysql://localhost/x").await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidUrl { .. }));
    assert!(!err.is_retryable());

    // Nothing listens on port 1: connection refused, worth retrying later.
    let config = StoreConfig {
        url: "postgres://vigil:secret@127.0.0.1:1/vigil".into(),
        max_connections: 1,
        acquire_timeout: crate::setting::ConfigDuration::from_secs(2),
    };
    let err = Store::connect_with(&config).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(!err.to_string().contains("secret"));
}

#[test]
fn urls_are_redacted() {
    assert_eq!(
        pool::redact("postgres://u:pw@h:5432/db"),
        "postgres://u:***@h:5432/db"
    );
    assert_eq!(
        pool::redact("sqlite://data/vigil.db"),
        "sqlite://data/vigil.db"
    );
}

/// Claims `partition` under lease revision 1, as its first owner does.
async fn claimed(store: &Store, partition: u32) -> Fence {
    let fence = Fence {
        partition,
        revision: 1,
    };
    assert!(store.fences().claim(fence, "test").await.unwrap());
    fence
}

async fn exercise_progress(store: &Store) {
    assert_eq!(store.progress().load(3).await.unwrap(), None);
    let (three, four, five) = (
        claimed(store, 3).await,
        claimed(store, 4).await,
        claimed(store, 5).await,
    );
    store.progress().save(three, 42).await.unwrap();
    store.progress().save(four, 7).await.unwrap();
    store.progress().save(three, 43).await.unwrap();
    assert_eq!(store.progress().load(3).await.unwrap(), Some(43));
    assert_eq!(store.progress().load(4).await.unwrap(), Some(7));
    let err = store.progress().save(five, u64::MAX).await.unwrap_err();
    assert!(!err.is_retryable());
}

/// A claim only raises a partition's fence, and every write under an older one is refused,
/// changing nothing.
async fn exercise_fences(store: &Store) {
    let fence = |revision| Fence {
        partition: 7,
        revision,
    };
    // Never claimed: nobody may write.
    let err = store.progress().save(fence(5), 1).await.unwrap_err();
    assert!(matches!(
        err,
        StoreError::Fenced {
            partition: 7,
            carried: 5,
            current: 0
        }
    ));
    assert!(store.fences().claim(fence(5), "a").await.unwrap());
    assert!(!store.fences().claim(fence(5), "b").await.unwrap());
    assert!(!store.fences().claim(fence(3), "b").await.unwrap());
    assert_eq!(
        store.fences().current(7).await.unwrap(),
        Some((5, "a".to_string()))
    );
    store.progress().save(fence(5), 10).await.unwrap();
    assert!(store.snapshots().save(fence(5), 10, 1, b"s").await.unwrap());

    // Taken over: the old owner's writes are refused and change nothing.
    assert!(store.fences().claim(fence(9), "b").await.unwrap());
    let err = store.progress().save(fence(5), 20).await.unwrap_err();
    assert!(matches!(err, StoreError::Fenced { current: 9, .. }));
    assert!(!err.is_retryable());
    assert_eq!(store.progress().load(7).await.unwrap(), Some(10));
    let err = store
        .snapshots()
        .save(fence(5), 20, 1, b"stale")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced { .. }));
    assert_eq!(
        store.snapshots().load(7).await.unwrap().unwrap().sequence,
        10
    );
    let late = record("TKT-LATE", Level::Breach, AlertState::Firing);
    let err = store
        .alerts()
        .record_changes(&[fence(5)], std::slice::from_ref(&late))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced { .. }));
    assert!(store.alerts().get(&late.alert_id).await.unwrap().is_none());

    // The new owner writes.
    store.progress().save(fence(9), 20).await.unwrap();
    store
        .alerts()
        .record_changes(&[fence(9)], std::slice::from_ref(&late))
        .await
        .unwrap();
    assert!(store.alerts().get(&late.alert_id).await.unwrap().is_some());
}

mod fences {
    use super::super::test_support::{on_both_dialects, postgres};
    use super::{exercise_fences, sqlite};

    on_both_dialects!(exercise_fences);
}

mod batches {
    use super::super::test_support::{on_both_dialects, postgres};
    use super::{exercise_batches, sqlite};

    on_both_dialects!(exercise_batches);
}

/// A batch of alert changes records what recording them one at a time would: every outcome,
/// and every row.
async fn exercise_batches(store: &Store) {
    let of_tenant = |ticket: &str, level, state| {
        let mut r = record(ticket, level, state);
        r.tenant_id = 4242;
        r.alert_id = alert_id(&r.dedupe_key());
        r
    };
    let stored = of_tenant("B-1", Level::Breach, AlertState::Firing);
    let acked = of_tenant("B-2", Level::Breach, AlertState::Firing);
    store
        .alerts()
        .record_changes(&[], &[stored.clone(), acked.clone()])
        .await
        .unwrap();
    store
        .alerts()
        .acknowledge(&acked.alert_id, "dana")
        .await
        .unwrap();

    let quick = of_tenant("B-3", Level::Warning, AlertState::Firing);
    let quick_resolved = AlertRecord {
        state: AlertState::Resolved,
        elapsed_ms: quick.elapsed_ms + 5_000,
        policy_version: 2,
        fired_at: quick.fired_at + 1,
        ..quick.clone()
    };
    let stored_retracted = AlertRecord {
        state: AlertState::Retracted,
        ..stored.clone()
    };
    let acked_resolved = AlertRecord {
        state: AlertState::Resolved,
        ..acked.clone()
    };
    let batch = [
        quick.clone(),
        stored.clone(),
        quick_resolved.clone(),
        stored_retracted.clone(),
        acked_resolved.clone(),
        quick.clone(),
        AlertRecord {
            state: AlertState::Resolved,
            ..stored.clone()
        },
    ];
    let writes = store.alerts().record_changes(&[], &batch).await.unwrap();
    assert_eq!(
        writes,
        [
            AlertWrite::Inserted,
            AlertWrite::Unchanged,
            AlertWrite::Advanced,
            AlertWrite::Advanced,
            AlertWrite::Advanced,
            AlertWrite::Unchanged,
            AlertWrite::Unchanged,
        ]
    );
    let row = |id: &str| {
        let id = id.to_string();
        async move { store.alerts().get(&id).await.unwrap().unwrap() }
    };
    // One row for the key new to the store: its last state, fired when it first fired.
    let quick_row = row(&quick.alert_id).await;
    assert_eq!(
        quick_row.record,
        AlertRecord {
            fired_at: quick.fired_at,
            ..quick_resolved
        }
    );
    assert_eq!(row(&stored.alert_id).await.record, stored_retracted);
    let acked_row = row(&acked.alert_id).await;
    assert_eq!(acked_row.record, acked_resolved);
    assert_eq!(acked_row.acked_by.as_deref(), Some("dana"));
    // The whole batch again changes nothing.
    let again = store.alerts().record_changes(&[], &batch).await.unwrap();
    assert!(again.iter().all(|w| !w.is_new()), "{again:?}");
    // What the outbox holds of them: the firing the new key never published, then its state.
    let unpublished: Vec<(String, AlertState)> = store
        .alert_outbox()
        .unpublished(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.tenant_id == 4242 && r.ticket_id == "B-3")
        .map(|r| (r.ticket_id, r.state))
        .collect();
    assert_eq!(
        unpublished,
        [
            ("B-3".to_string(), AlertState::Firing),
            ("B-3".to_string(), AlertState::Resolved)
        ]
    );
    store
        .alert_outbox()
        .mark_published(&[(quick.alert_id.as_str(), AlertState::Resolved)])
        .await
        .unwrap();
    assert!(store
        .alert_outbox()
        .unpublished(100)
        .await
        .unwrap()
        .iter()
        .all(|r| r.ticket_id != "B-3"));
}

#[tokio::test]
async fn sqlite_saves_partition_progress() {
    let (_dir, store) = sqlite().await;
    exercise_progress(&store).await;
}

/// The id of the one firing alert of tenant 12345.
async fn firing_now_id(store: &Store) -> String {
    let firing = store
        .alerts()
        .list(Some(12345), Some(AlertState::Firing), 100)
        .await
        .unwrap();
    assert_eq!(firing.len(), 1);
    assert_eq!(firing[0].record.ticket_id, "TKT-3");
    firing[0].record.alert_id.clone()
}

/// A firing breach of ticket TKT-N, recorded; its id.
async fn breach_alert_id(store: &Store) -> String {
    let breach = record("TKT-N", Level::Breach, AlertState::Firing);
    store.alerts().record_change(&breach).await.unwrap();
    breach.alert_id
}

/// The notification outbox: idempotent writes, due rows, attempts, cancellation.
async fn exercise_notifications(store: &Store) {
    use super::notifications::{NewNotification, NotificationKind, Outcome};
    let alert_id = breach_alert_id(store).await;
    let page = |step: u32, contact: &str, due_at: i64| NewNotification {
        alert_id: alert_id.clone(),
        tenant_id: 5,
        kind: NotificationKind::Page,
        step,
        round: 0,
        contact: contact.into(),
        channel: "sms",
        due_at,
        fallback_of: None,
    };
    let rows = [page(0, "alice", 100), page(1, "bob", 400)];
    assert_eq!(store.notifications().enqueue(&rows).await.unwrap(), 2);
    // A replay of the same plan adds nothing.
    assert_eq!(store.notifications().enqueue(&rows).await.unwrap(), 0);
    let due = store.notifications().claim_due(200, 10, 300).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].contact, "alice");
    assert_eq!(due[0].alert.record.alert_id, alert_id);
    assert!(due[0].breach_open, "the alert is a firing breach");
    // Taken: nobody else gets it until the lease ends.
    assert!(store
        .notifications()
        .claim_due(250, 10, 350)
        .await
        .unwrap()
        .is_empty());
    let ids = vec![due[0].notification_id.clone()];
    // A failed attempt with a retry time moves it; a success marks it sent.
    store
        .notifications()
        .record_outcome(
            &ids,
            &Outcome::Retry {
                at: 320,
                reason: "503 from the gateway".into(),
            },
        )
        .await
        .unwrap();
    let again = store.notifications().claim_due(320, 10, 900).await.unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 1));
    store
        .notifications()
        .assign_message("M1", &ids)
        .await
        .unwrap();
    store
        .notifications()
        .record_outcome(&ids, &Outcome::Sent)
        .await
        .unwrap();
    // Acknowledged: bob's pending page is cancelled, alice's sent one stays.
    assert_eq!(
        store.notifications().cancel_pages(&alert_id).await.unwrap(),
        1
    );
    let all = store.notifications().of_alert(&alert_id).await.unwrap();
    let mut states: Vec<(&str, &str, i64)> = all
        .iter()
        .map(|n| (n.contact.as_str(), n.state.as_str(), n.attempts))
        .collect();
    states.sort();
    assert_eq!(states, [("alice", "sent", 2), ("bob", "cancelled", 0)]);
    assert!(
        all.iter().all(|n| n.last_error.is_none()),
        "a send clears the last error"
    );
}

/// A round's claim: settled rows are left alone when its keeper is dropped, unsettled ones
/// are due again at once; a finished keeper gives nothing back.
#[tokio::test]
async fn sqlite_gives_back_what_a_round_did_not_settle() {
    use super::notifications::{NewNotification, NotificationKind, Outcome};
    use crate::notify::lease::LeaseKeeper;
    use vigil_engine::clock::ManualClock;
    let (_dir, store) = sqlite().await;
    let alert_id = breach_alert_id(&store).await;
    let page = |contact: &str| NewNotification {
        alert_id: alert_id.clone(),
        tenant_id: 5,
        kind: NotificationKind::Page,
        step: 0,
        round: 0,
        contact: contact.into(),
        channel: "sms",
        due_at: 100,
        fallback_of: None,
    };
    store
        .notifications()
        .enqueue(&[page("alice"), page("bob")])
        .await
        .unwrap();
    let clock = std::sync::Arc::new(ManualClock::at(200));
    let claimed = store
        .notifications()
        .claim_due(200, 10, 60_200)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let ids: Vec<String> = claimed.iter().map(|n| n.notification_id.clone()).collect();
    let keeper = LeaseKeeper::start(store.clone(), clock.clone(), ids.clone(), 60_200, 60_000);
    // The round settles alice's row, then ends early.
    let alice = claimed
        .iter()
        .find(|n| n.contact == "alice")
        .map(|n| n.notification_id.clone())
        .unwrap();
    store
        .notifications()
        .record_outcome(&[alice], &Outcome::Sent)
        .await
        .unwrap();
    drop(keeper);
    let mut again = Vec::new();
    for _ in 0..200 {
        again = store
            .notifications()
            .claim_due(300, 10, 60_300)
            .await
            .unwrap();
        if !again.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let contacts: Vec<&str> = again.iter().map(|n| n.contact.as_str()).collect();
    assert_eq!(contacts, ["bob"], "only the unsettled row is due again");
    // A finished round gives nothing back: bob stays claimed until 60,300.
    let keeper = LeaseKeeper::start(
        store.clone(),
        clock,
        vec![again[0].notification_id.clone()],
        60_300,
        60_000,
    );
    keeper.finish();
    // Bounded: this waits for something that must not happen.
    for _ in 0..20 {
        let taken = store
            .notifications()
            .claim_due(400, 10, 60_400)
            .await
            .unwrap();
        assert!(taken.is_empty(), "a finished round gave its claim back");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
