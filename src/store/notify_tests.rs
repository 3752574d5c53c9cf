//! Store tests of silences, the outbox's operator view and the shared notifier keys, on a
//! temporary SQLite file, and on PostgreSQL when `VIGIL_TEST_POSTGRES_URL` is set (each test
//! in a schema of its own).

use super::notifications::{NewNotification, NotificationKind, Outcome};
use super::pool::on_backend;
use super::test_support::{postgres, sqlite};
use super::*;
use crate::notify::ack_token::LinkSigner;
use crate::notify::NotifyConfig;
use crate::store::silences::Silence;

const NOW: i64 = 1_795_000_000_000;
const HOUR: i64 = 3_600_000;

fn silence(id: &str, tenant_id: Option<u64>, starts_at: i64, ends_at: i64) -> Silence {
    Silence {
        id: id.into(),
        tenant_id,
        priority: Some(vec!["LOW".into(), "MEDIUM".into()]),
        service_type: None,
        ticket_id: None,
        starts_at,
        ends_at,
        created_by: "olga".into(),
        comment: "database maintenance".into(),
    }
}

async fn exercise_silences(store: &Store) {
    let now_running = silence("s-now", Some(7), NOW - HOUR, NOW + HOUR);
    let later = silence("s-later", Some(7), NOW + HOUR, NOW + 2 * HOUR);
    let everyone = Silence {
        ticket_id: Some("TKT-9".into()),
        priority: None,
        ..silence("s-all", None, NOW - HOUR, NOW + HOUR)
    };
    let other = silence("s-other", Some(8), NOW - HOUR, NOW + HOUR);
    let over = silence("s-over", Some(7), NOW - 2 * HOUR, NOW - HOUR);
    for s in [&now_running, &later, &everyone, &other, &over] {
        let stored = store.silences().create(s).await.unwrap();
        assert_eq!(&stored.silence, s);
    }
    // Read back exactly, lists and all.
    let got = store.silences().get("s-all").await.unwrap().unwrap();
    assert_eq!(got.silence, everyone);
    assert_eq!(got.expired_by, None);
    assert_eq!(store.silences().get("nope").await.unwrap(), None);

    let ids = |rows: Vec<StoredSilence>| {
        let mut ids: Vec<String> = rows.into_iter().map(|s| s.silence.id).collect();
        ids.sort();
        ids
    };
    let active = store
        .silences()
        .list(Some(7), SilenceFilter::Active, NOW, 100)
        .await
        .unwrap();
    assert_eq!(ids(active), ["s-later", "s-now"]);
    let expired = store
        .silences()
        .list(Some(7), SilenceFilter::Expired, NOW, 100)
        .await
        .unwrap();
    assert_eq!(ids(expired), ["s-over"]);
    let all_of_7 = store
        .silences()
        .list(Some(7), SilenceFilter::All, NOW, 100)
        .await
        .unwrap();
    assert_eq!(all_of_7.len(), 3);
    let everything = store
        .silences()
        .list(None, SilenceFilter::All, NOW, 100)
        .await
        .unwrap();
    assert_eq!(everything.len(), 5);
    let active_anywhere = store
        .silences()
        .list(None, SilenceFilter::Active, NOW, 100)
        .await
        .unwrap();
    assert_eq!(
        ids(active_anywhere),
        ["s-all", "s-later", "s-now", "s-other"]
    );
    assert_eq!(
        store
            .silences()
            .list(None, SilenceFilter::Expired, NOW, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .silences()
        .list(Some(u64::MAX), SilenceFilter::All, NOW, 100)
        .await
        .unwrap()
        .is_empty());

    // In force now: started and not ended.
    let mut in_force = store.silences().in_force(NOW).await.unwrap();
    in_force.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(in_force, [everyone.clone(), now_running.clone(), other]);

    // Expiring ends it now, keeps the row and who did it; a second expiry changes nothing.
    let SilenceExpiry::Expired(expired) = store
        .silences()
        .expire("s-now", "maria", NOW + 5)
        .await
        .unwrap()
    else {
        panic!("s-now was in force")
    };
    assert_eq!(expired.silence.ends_at, NOW + 5);
    assert_eq!(expired.expired_by.as_deref(), Some("maria"));
    assert_eq!(expired.expired_at, Some(NOW + 5));
    let SilenceExpiry::AlreadyOver(again) = store
        .silences()
        .expire("s-now", "otto", NOW + 10)
        .await
        .unwrap()
    else {
        panic!("s-now was already expired")
    };
    assert_eq!(again.expired_by.as_deref(), Some("maria"));
    assert_eq!(
        store.silences().expire("nope", "otto", NOW).await.unwrap(),
        SilenceExpiry::Unknown
    );
    // A silence expired before it started is never in force, and is listed as expired.
    store
        .silences()
        .expire("s-later", "maria", NOW + 10)
        .await
        .unwrap();
    assert!(!store
        .silences()
        .in_force(NOW + HOUR + 1)
        .await
        .unwrap()
        .iter()
        .any(|s| s.id == "s-later"));
    let expired = store
        .silences()
        .list(Some(7), SilenceFilter::Expired, NOW + 20, 100)
        .await
        .unwrap();
    assert_eq!(ids(expired), ["s-later", "s-now", "s-over"]);
}

fn page(alert: &str, tenant_id: u64, contact: &str, channel: &'static str) -> NewNotification {
    NewNotification {
        alert_id: alert.into(),
        tenant_id,
        kind: NotificationKind::Page,
        step: 0,
        round: 0,
        contact: contact.into(),
        channel,
        due_at: 100,
        fallback_of: None,
    }
}

async fn set_message(store: &Store, notification_id: &str, message_id: &str) {
    on_backend!(store, |pool| {
        sqlx::query("UPDATE notifications SET message_id = $2 WHERE notification_id = $1")
            .bind(notification_id)
            .bind(message_id)
            .execute(pool)
            .await
            .unwrap();
    });
}

async fn exercise_outbox_admin(store: &Store) {
    let rows = [
        page("A1", 5, "alice", "sms"),
        page("A1", 5, "alice", "email"),
        page("A2", 5, "alice", "sms"),
        page("B1", 6, "bob", "sms"),
    ];
    store.notifications().enqueue(&rows).await.unwrap();
    let ids: Vec<String> = rows.iter().map(NewNotification::id).collect();
    let failed = |reason: &str| Outcome::Failed {
        reason: reason.into(),
    };
    store
        .notifications()
        .record_outcome(&ids[0..1], &failed("gateway said 400"))
        .await
        .unwrap();
    store
        .notifications()
        .record_outcome(&ids[3..4], &failed("gateway said 401"))
        .await
        .unwrap();
    store
        .notifications()
        .record_outcome(&ids[1..2], &Outcome::Sent)
        .await
        .unwrap();

    let failed = store
        .notifications()
        .list(OutboxState::Failed, None, 500)
        .await
        .unwrap();
    assert_eq!(failed.len(), 2);
    let of_5 = store
        .notifications()
        .list(OutboxState::Failed, Some(5), 500)
        .await
        .unwrap();
    assert_eq!(of_5.len(), 1);
    let row = &of_5[0];
    assert_eq!(
        (
            row.notification_id.as_str(),
            row.alert_id.as_str(),
            row.tenant_id,
            row.channel.as_str(),
            row.state.as_str(),
            row.attempts,
            row.last_error.as_deref()
        ),
        (
            ids[0].as_str(),
            "A1",
            5,
            "sms",
            "failed",
            1,
            Some("gateway said 400")
        )
    );
    let sent = store
        .notifications()
        .list(OutboxState::Sent, Some(5), 10)
        .await
        .unwrap();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].sent_at.is_some());

    // Only a failed row is retried: pending, due now, the error kept.
    assert!(!store.notifications().retry(&ids[1]).await.unwrap());
    assert!(!store.notifications().retry("nope").await.unwrap());
    assert!(store.notifications().retry(&ids[0]).await.unwrap());
    assert!(!store.notifications().retry(&ids[0]).await.unwrap());
    let retried = store.notifications().get(&ids[0]).await.unwrap().unwrap();
    assert_eq!(retried.state, "pending");
    assert_eq!(retried.last_error.as_deref(), Some("gateway said 400"));
    assert_eq!(retried.attempts, 1);
    assert!(retried.due_at > 100);
    assert_eq!(retried.due_at, retried.updated_at);
    assert!(store.notifications().get("nope").await.unwrap().is_none());

    // A message: the first row's id is the message id, the others name it.
    set_message(store, &ids[0], &ids[0]).await;
    set_message(store, &ids[2], &ids[0]).await;
    assert_eq!(
        store.notifications().message_alerts(&ids[0]).await.unwrap(),
        [("A1".to_string(), 5), ("A2".to_string(), 5)]
    );
    // A row sent alone is its own message.
    assert_eq!(
        store.notifications().message_alerts(&ids[3]).await.unwrap(),
        [("B1".to_string(), 6)]
    );
    assert!(store
        .notifications()
        .message_alerts("nope")
        .await
        .unwrap()
        .is_empty());
}

async fn exercise_keys(store: &Store) {
    let first = store.notify_keys().shared_key("k", &[1; 32]).await.unwrap();
    assert_eq!(first, [1; 32]);
    // A later instance gets the first key, not its own candidate.
    assert_eq!(
        store.notify_keys().shared_key("k", &[2; 32]).await.unwrap(),
        [1; 32]
    );
    assert_eq!(
        store
            .notify_keys()
            .shared_key("other", &[3; 4])
            .await
            .unwrap(),
        [3; 4]
    );

    // Two instances loading the signer from the store check each other's links.
    let config = NotifyConfig::default();
    let a = LinkSigner::load(&config, store).await.unwrap();
    let b = LinkSigner::load(&config, store).await.unwrap();
    let token = a.sign("message", "alice", NOW + HOUR);
    assert_eq!(b.verify(&token, NOW).unwrap().contact, "alice");
}

#[tokio::test]
async fn sqlite_keeps_silences_for_audit() {
    let (_dir, store) = sqlite().await;
    exercise_silences(&store).await;
}

#[tokio::test]
async fn sqlite_lists_and_retries_notifications() {
    let (_dir, store) = sqlite().await;
    exercise_outbox_admin(&store).await;
}

#[tokio::test]
async fn sqlite_shares_one_key_between_instances() {
    let (_dir, store) = sqlite().await;
    exercise_keys(&store).await;
}

#[tokio::test]
async fn postgres_keeps_silences_lists_notifications_and_shares_keys() {
    let Some(store) = postgres("vigil_notify_admin").await else {
        return;
    };
    exercise_silences(&store).await;
    exercise_outbox_admin(&store).await;
    exercise_keys(&store).await;
}

#[tokio::test]
async fn a_missing_link_secret_variable_is_a_clear_error() {
    let (_dir, store) = sqlite().await;
    let config = NotifyConfig {
        link_secret_env: Some("VIGIL_TEST_NO_SUCH_LINK_SECRET".into()),
        ..NotifyConfig::default()
    };
    let e = LinkSigner::load(&config, &store).await.unwrap_err();
    assert!(!e.is_retryable());
    let text = e.to_string();
    assert!(
        text.contains("VIGIL_TEST_NO_SUCH_LINK_SECRET") && text.contains("not set"),
        "{text}"
    );
    assert!(LinkSigner::enabled(&config));
    assert!(!LinkSigner::enabled(&NotifyConfig::default()));
}
