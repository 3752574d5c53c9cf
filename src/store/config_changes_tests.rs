//! Store tests of the configuration center's changes, on a temporary SQLite file, and on
//! PostgreSQL when `VIGIL_TEST_POSTGRES_URL` is set (each test in a schema of its own).

use super::pool::on_backend;
use super::test_support::{on_both_dialects, postgres, sqlite};
use super::*;

const NOW: i64 = 1_795_000_000_000;
const MINUTE: i64 = 60_000;

fn set(key: &str, value: &str, expected_version: i64) -> NewChange {
    NewChange {
        key: key.into(),
        op: ChangeOp::Set,
        value: Some(value.into()),
        expected_version,
        tenant_id: None,
        actor: "olga".into(),
        role: "ops".into(),
        ip: Some("10.0.0.7".into()),
        request_id: Some("req-1".into()),
        reason: "tuning".into(),
    }
}

fn delete(key: &str, expected_version: i64) -> NewChange {
    NewChange {
        op: ChangeOp::Delete,
        value: None,
        ..set(key, "", expected_version)
    }
}

fn keys(rows: &[StoredChange]) -> Vec<(&str, i64)> {
    rows.iter().map(|c| (c.key.as_str(), c.version)).collect()
}

fn conflict(e: AppendError) -> (String, i64) {
    match e {
        AppendError::Conflict {
            key,
            current_version,
        } => (key, current_version),
        AppendError::Store(e) => panic!("expected a conflict, got {e}"),
    }
}

async fn versions_chain_old_values_and_read_back(store: &Store) {
    let changes = store.config_changes();
    assert_eq!(changes.latest("sla.grace").await.unwrap(), None);
    let v1 = changes
        .append(&[set("sla.grace", "30", 0)], NOW)
        .await
        .unwrap();
    assert_eq!(keys(&v1), [("sla.grace", 1)]);
    assert_eq!(v1[0].old_value, None);
    let v2 = changes
        .append(&[set("sla.grace", "45", 1)], NOW + MINUTE)
        .await
        .unwrap();
    assert_eq!(v2[0].version, 2);
    assert_eq!(v2[0].old_value.as_deref(), Some("30"));
    assert_eq!(v2[0].changed_at, NOW + MINUTE);
    assert!(v2[0].seq > v1[0].seq);

    // What append returned is what is stored, field for field.
    let history = changes.history("sla.grace", 10).await.unwrap();
    assert_eq!(history, [v2[0].clone(), v1[0].clone()]);
    assert_eq!(changes.history("sla.grace", 1).await.unwrap(), v2);
    assert_eq!(
        changes.latest("sla.grace").await.unwrap(),
        Some(v2[0].clone())
    );
    assert_eq!(
        changes.version("sla.grace", 1).await.unwrap(),
        Some(v1[0].clone())
    );
    assert_eq!(changes.version("sla.grace", 3).await.unwrap(), None);

    // A batch may change one key twice: the second change expects the first one's version.
    let tenant = NewChange {
        tenant_id: Some(7),
        ..set("tenant.7.quiet_hours", "\"22-06\"", 0)
    };
    let batch = changes
        .append(
            &[
                tenant.clone(),
                NewChange {
                    value: Some("\"23-06\"".into()),
                    expected_version: 1,
                    ..tenant
                },
            ],
            NOW + 2 * MINUTE,
        )
        .await
        .unwrap();
    assert_eq!(
        keys(&batch),
        [("tenant.7.quiet_hours", 1), ("tenant.7.quiet_hours", 2)]
    );
    assert_eq!(batch[1].old_value.as_deref(), Some("\"22-06\""));
    assert_eq!(batch[1].tenant_id, Some(7));

    let current = changes.current().await.unwrap();
    assert_eq!(current, [v2[0].clone(), batch[1].clone()]);
    let latest = changes.latest_versions().await.unwrap();
    assert_eq!(
        latest.into_iter().collect::<Vec<_>>(),
        [
            ("sla.grace".to_string(), 2),
            ("tenant.7.quiet_hours".to_string(), 2)
        ]
    );
    // The latest row of each key asked for, by key; keys never written are absent.
    let other = changes
        .append(&[set("log.filter", "\"info\"", 0)], NOW)
        .await
        .unwrap();
    assert_eq!(
        changes
            .latest_of(&["sla.grace".into(), "nope".into(), "log.filter".into()])
            .await
            .unwrap(),
        [other[0].clone(), v2[0].clone()]
    );
}

async fn a_moved_key_conflicts_and_a_batch_is_all_or_nothing(store: &Store) {
    let changes = store.config_changes();
    changes.append(&[set("a", "1", 0)], NOW).await.unwrap();
    changes.append(&[set("a", "2", 1)], NOW).await.unwrap();

    // The writer read version 1, but the key is at 2 now.
    let e = changes.append(&[set("a", "3", 1)], NOW).await.unwrap_err();
    assert!(!e.is_retryable());
    assert_eq!(conflict(e), ("a".to_string(), 2));
    // A key never written is at version 0.
    let e = changes.append(&[set("b", "1", 4)], NOW).await.unwrap_err();
    assert_eq!(conflict(e), ("b".to_string(), 0));
    assert_eq!(changes.history("a", 10).await.unwrap().len(), 2);
    assert_eq!(changes.latest("b").await.unwrap(), None);

    // The first change would do, the second conflicts: neither is written.
    let e = changes
        .append(&[set("b", "1", 0), set("a", "3", 0), set("c", "1", 0)], NOW)
        .await
        .unwrap_err();
    assert_eq!(conflict(e), ("a".to_string(), 2));
    assert_eq!(changes.latest("b").await.unwrap(), None);
    assert_eq!(changes.latest("c").await.unwrap(), None);
    assert_eq!(keys(&changes.current().await.unwrap()), [("a", 2)]);

    // Changes the table would refuse are refused before anything is written.
    let refused = [
        NewChange {
            value: Some("1".into()),
            ..delete("b", 0)
        },
        NewChange {
            value: None,
            ..set("b", "", 0)
        },
        NewChange {
            op: ChangeOp::Rollback { to_version: 3 },
            ..set("a", "1", 2)
        },
        NewChange {
            tenant_id: Some(u64::MAX),
            ..set("b", "1", 0)
        },
        set("", "1", 0),
    ];
    for change in refused {
        let e = changes
            .append(&[set("b", "1", 0), change.clone()], NOW)
            .await
            .unwrap_err();
        assert!(
            matches!(e, AppendError::Store(StoreError::InvalidRecord { .. })),
            "{change:?}: {e}"
        );
    }
    assert_eq!(changes.latest("b").await.unwrap(), None);
    assert_eq!(changes.append(&[], NOW).await.unwrap(), []);
}

async fn deletes_leave_the_current_set_and_rollbacks_round_trip(store: &Store) {
    let changes = store.config_changes();
    changes
        .append(&[set("a", "1", 0), set("b", "true", 0)], NOW)
        .await
        .unwrap();
    let deleted = changes.append(&[delete("a", 1)], NOW).await.unwrap();
    assert_eq!(deleted[0].op, ChangeOp::Delete);
    assert_eq!(deleted[0].value, None);
    assert_eq!(deleted[0].old_value.as_deref(), Some("1"));
    assert_eq!(keys(&changes.current().await.unwrap()), [("b", 1)]);
    // The delete is the key's latest row and counts as a version.
    assert_eq!(changes.latest("a").await.unwrap(), Some(deleted[0].clone()));
    assert_eq!(changes.latest_versions().await.unwrap().get("a"), Some(&2));

    // Set again after the delete: there was no value before.
    let again = changes.append(&[set("a", "5", 2)], NOW).await.unwrap();
    assert_eq!((again[0].version, again[0].old_value.as_deref()), (3, None));
    assert_eq!(
        keys(&changes.current().await.unwrap()),
        [("a", 3), ("b", 1)]
    );

    changes.append(&[set("b", "false", 1)], NOW).await.unwrap();
    let rollback = NewChange {
        op: ChangeOp::Rollback { to_version: 1 },
        ..set("b", "true", 2)
    };
    let rolled = changes.append(&[rollback], NOW).await.unwrap();
    assert_eq!(rolled[0].op, ChangeOp::Rollback { to_version: 1 });
    assert_eq!(rolled[0].old_value.as_deref(), Some("false"));
    let read = changes.version("b", 3).await.unwrap().unwrap();
    assert_eq!(read, rolled[0]);
    assert_eq!(read.op.as_str(), "rollback");
}

async fn concurrent_appends_of_one_version_let_exactly_one_win(store: &Store) {
    let changes = store.config_changes();
    for round in 0..5 {
        let key = format!("race.{round}");
        let (left, right) = ([set(&key, "\"left\"", 0)], [set(&key, "\"right\"", 0)]);
        let (left, right) = tokio::join!(changes.append(&left, NOW), changes.append(&right, NOW));
        let (winner, loser) = match (left, right) {
            (Ok(w), Err(l)) => (w, l),
            (Err(l), Ok(w)) => (w, l),
            (left, right) => panic!("exactly one must win: {left:?} / {right:?}"),
        };
        assert_eq!(conflict(loser), (key.clone(), 1));
        assert_eq!(changes.history(&key, 10).await.unwrap(), winner);
    }
}

/// Runs one statement straight on the pool.
async fn execute(store: &Store, sql: &'static str) -> Result<u64, String> {
    on_backend!(store, |pool| {
        sqlx::query(sql)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(|e| e.to_string())
    })
}

async fn the_trail_refuses_updates_and_deletes(store: &Store) {
    let changes = store.config_changes();
    let written = changes
        .append(&[set("a", "1", 0), set("b", "2", 0)], NOW)
        .await
        .unwrap();
    let mut refused = vec![
        "UPDATE config_changes SET value = '9' WHERE config_key = 'a'",
        "UPDATE config_changes SET reason = 'rewritten'",
        "DELETE FROM config_changes WHERE config_key = 'b'",
        "DELETE FROM config_changes",
    ];
    if let Backend::Postgres(_) = store.backend() {
        refused.push("TRUNCATE config_changes");
    }
    for sql in refused {
        let e = execute(store, sql).await.unwrap_err();
        assert!(e.contains("config_changes is append-only"), "{sql}: {e}");
    }
    let mut rows = changes.history("a", 10).await.unwrap();
    rows.extend(changes.history("b", 10).await.unwrap());
    assert_eq!(rows, written);
}

async fn audit_filters_by_prefix_tenant_time_and_cursor(store: &Store) {
    let changes = store.config_changes();
    let tenant = |key: &str, tenant_id: u64, expected_version: i64| NewChange {
        tenant_id: Some(tenant_id),
        ..set(key, "1", expected_version)
    };
    let mut all = Vec::new();
    let mut at = NOW;
    for change in [
        set("sla.grace", "1", 0),
        tenant("tenant.7.quiet", 7, 0),
        set("slack.webhook", "1", 0),
        tenant("tenant.8.quiet", 8, 0),
        set("sla.grace", "2", 1),
        tenant("tenant.7.quiet", 7, 1),
    ] {
        all.extend(changes.append(&[change], at).await.unwrap());
        at += MINUTE;
    }
    let audit = |filter: AuditFilter| async move {
        let rows = store.config_changes().audit(&filter).await.unwrap();
        rows.iter()
            .map(|c| (c.key.clone(), c.version))
            .collect::<Vec<_>>()
    };
    let everything = AuditFilter {
        limit: 100,
        ..AuditFilter::default()
    };
    assert_eq!(
        store.config_changes().audit(&everything).await.unwrap(),
        all
    );
    let pairs = |list: &[(&str, i64)]| {
        list.iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<Vec<_>>()
    };

    // The prefix is a prefix of the key, compared exactly: `sla.` is not `slack.`, `SLA.` is
    // nothing, and `%` and `_` are not wildcards.
    let prefix = |p: &str| AuditFilter {
        key_prefix: Some(p.into()),
        ..everything.clone()
    };
    assert_eq!(
        audit(prefix("sla.")).await,
        pairs(&[("sla.grace", 1), ("sla.grace", 2)])
    );
    assert_eq!(
        audit(prefix("sla")).await,
        pairs(&[("sla.grace", 1), ("slack.webhook", 1), ("sla.grace", 2)])
    );
    assert_eq!(audit(prefix("SLA.")).await, []);
    assert_eq!(audit(prefix("sl%")).await, []);
    assert_eq!(audit(prefix("sla_grace")).await, []);

    let of_tenant = AuditFilter {
        tenant_id: Some(7),
        ..everything.clone()
    };
    assert_eq!(
        audit(of_tenant.clone()).await,
        pairs(&[("tenant.7.quiet", 1), ("tenant.7.quiet", 2)])
    );
    let beyond = AuditFilter {
        tenant_id: Some(u64::MAX),
        ..everything.clone()
    };
    assert_eq!(audit(beyond).await, []);

    // [from, to): the change at `to` is left out.
    let window = AuditFilter {
        from_ms: Some(NOW + MINUTE),
        to_ms: Some(NOW + 4 * MINUTE),
        ..everything.clone()
    };
    assert_eq!(
        audit(window.clone()).await,
        pairs(&[
            ("tenant.7.quiet", 1),
            ("slack.webhook", 1),
            ("tenant.8.quiet", 1)
        ])
    );
    // Conditions combine.
    assert_eq!(
        audit(AuditFilter {
            tenant_id: Some(7),
            ..window
        })
        .await,
        pairs(&[("tenant.7.quiet", 1)])
    );

    // Paging by cursor, two at a time, visits every change once and in order.
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .config_changes()
            .audit(&AuditFilter {
                after_seq: cursor,
                limit: 2,
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        assert!(page.len() <= 2);
        cursor = Some(last.seq);
        paged.extend(page);
    }
    assert_eq!(paged, all);
    let after_third = AuditFilter {
        after_seq: Some(all[2].seq),
        ..of_tenant
    };
    assert_eq!(audit(after_third).await, pairs(&[("tenant.7.quiet", 2)]));
}

on_both_dialects!(
    versions_chain_old_values_and_read_back,
    a_moved_key_conflicts_and_a_batch_is_all_or_nothing,
    deletes_leave_the_current_set_and_rollbacks_round_trip,
    concurrent_appends_of_one_version_let_exactly_one_win,
    the_trail_refuses_updates_and_deletes,
    audit_filters_by_prefix_tenant_time_and_cursor,
);

#[test]
fn a_stored_change_serialises_its_op_flat() {
    let change = StoredChange {
        seq: 12,
        key: "sla.grace".into(),
        version: 3,
        op: ChangeOp::Rollback { to_version: 1 },
        value: Some("30".into()),
        old_value: Some("45".into()),
        tenant_id: None,
        actor: "olga".into(),
        role: "ops".into(),
        ip: None,
        request_id: None,
        reason: "back to the contract value".into(),
        changed_at: NOW,
    };
    let json = serde_json::to_value(&change).unwrap();
    assert_eq!(json["op"], "rollback");
    assert_eq!(json["rolled_back_to"], 1);
    assert_eq!(json["version"], 3);
    let set = serde_json::to_value(StoredChange {
        op: ChangeOp::Set,
        ..change
    })
    .unwrap();
    assert_eq!(set["op"], "set");
    assert!(set.get("rolled_back_to").is_none());
}
