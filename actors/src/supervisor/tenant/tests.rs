//! Supervision: a poison event is rejected as `poison`, the actor restarts around its last good
//! state, and other tenants never notice.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use vigil_streams::{decode, Event, RejectReason};

use crate::clock::ManualClock;
use crate::engine::EngineSettings;
use crate::policy::PolicyBook;
use crate::supervisor::{Applied, TenantPool};

/// The event id that makes the test build's engine panic.
pub(super) const POISON_EVENT_ID: &str = "poison-for-test";

fn event(tenant: u64, id: &str, kind: &str, extra: &str) -> Event {
    decode(
        format!(
            r#"{{"schema":1,"event_id":"{id}","event_type":"{kind}","tenant_id":{tenant},"ticket_id":"T","occurred_at":"2026-11-23T00:00:00Z"{extra}}}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

#[test]
fn a_poison_event_restarts_only_its_actor_and_keeps_its_state() {
    actix::System::new().block_on(async {
        let book = Arc::new(
            PolicyBook::build(&Default::default(), &BTreeMap::new(), &BTreeMap::new()).unwrap(),
        );
        let (tx, _rx) = mpsc::channel(16);
        let clock = ManualClock::at(vigil_streams::parse_instant("2026-11-23T00:01:00Z").unwrap());
        let pool = TenantPool::new(
            1,
            book,
            Arc::new(EngineSettings::default()),
            Arc::new(clock),
            tx,
        );
        let created = r#","priority":"HIGH""#;
        for tenant in [1, 2] {
            let (applied, _) = pool
                .apply(event(tenant, "c", "ticket.created", created))
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
