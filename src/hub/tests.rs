//! The hub without sockets: fan-out to subscribers of a tenant only, seq order, resumption.

use std::net::IpAddr;
use std::time::Instant;

use super::protocol::{Channels, ResumeFrom};
use super::queue::Next;
use super::*;
use crate::auth::{Claims, Role};

fn caller(tenant_id: u64, role: Role) -> Caller {
    Caller {
        claims: Claims {
            sub: "t".into(),
            tenant_id,
            role,
            exp: 0,
            iat: None,
        },
        ip: IpAddr::from([127, 0, 0, 1]),
    }
}

fn alert(tenant_id: u64, ticket: &str) -> AlertView {
    AlertView {
        alert_id: format!("{tenant_id}-{ticket}"),
        state: "firing".into(),
        tenant_id,
        ticket_id: ticket.into(),
        goal: "response".into(),
        level: "breach".into(),
        threshold: 1.0,
        target_ms: 1,
        elapsed_ms: 1,
        fired_at: "2026-11-23T00:00:00Z".into(),
        deadline: "2026-11-23T00:00:00Z".into(),
        priority: "HIGH".into(),
        service_type: "incident".into(),
        policy_version: 1,
        updated_at: None,
        acked_by: None,
        acked_at: None,
        resolved_by: None,
        resolved_at: None,
    }
}

async fn texts(client: &Client) -> Vec<Value> {
    let mut out = Vec::new();
    while !client.queue.is_empty() {
        if let Next::Text(t) = client.queue.next().await {
            out.push(serde_json::from_str(t.as_str()).unwrap());
        }
    }
    out
}

use serde_json::Value;

async fn hub() -> (tempfile::TempDir, Hub) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("h.db").display());
    let store = Store::connect(&url).await.unwrap();
    (
        dir,
        Hub::new(WsConfig::default(), TenantReads::local(None), store),
    )
}

const ALERTS: Channels = Channels {
    metrics: false,
    alerts: true,
    tickets: false,
};

#[tokio::test]
async fn alerts_go_to_their_tenant_only_in_seq_order_and_can_be_resumed() {
    let (_dir, hub) = hub().await;
    let one = hub.admit(&caller(1, Role::ClientUser)).unwrap();
    let two = hub.admit(&caller(2, Role::ClientUser)).unwrap();
    one.subscribe(ALERTS, None, None).await.unwrap();
    two.subscribe(ALERTS, None, None).await.unwrap();
    let snapshot = texts(&one).await;
    assert_eq!(snapshot[0]["type"], "snapshot");
    let start = snapshot[0]["seq"].as_u64().unwrap();
    texts(&two).await;

    hub.alert(&alert(1, "A"), Instant::now());
    hub.alert(&alert(2, "B"), Instant::now());
    hub.alert(&alert(1, "C"), Instant::now());
    let got = texts(&one).await;
    let tickets: Vec<&str> = got
        .iter()
        .map(|m| m["data"]["ticket_id"].as_str().unwrap())
        .collect();
    assert_eq!(tickets, ["A", "C"]);
    let seqs: Vec<u64> = got.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [start + 1, start + 2]);
    assert_eq!(texts(&two).await.len(), 1);

    // A new connection resuming after A gets C only.
    let again = hub.admit(&caller(1, Role::ClientUser)).unwrap();
    again
        .subscribe(ALERTS, None, Some(ResumeFrom::One(start + 1)))
        .await
        .unwrap();
    let resumed = texts(&again).await;
    assert_eq!(resumed[0]["type"], "resumed");
    assert_eq!(resumed.len(), 2);
    assert_eq!(resumed[1]["data"]["ticket_id"], "C");
}

#[tokio::test]
async fn clients_may_follow_only_tenants_they_may_see_and_places_are_freed() {
    let (_dir, hub) = hub().await;
    let user = hub.admit(&caller(1, Role::ClientUser)).unwrap();
    let refused = user
        .subscribe(ALERTS, Some(protocol::TenantIds::List(vec![2])), None)
        .await;
    assert!(matches!(refused, Err(subscribe::Refusal::Forbidden(_))));
    let all = user
        .subscribe(ALERTS, Some(protocol::TenantIds::All("all".into())), None)
        .await;
    assert!(matches!(all, Err(subscribe::Refusal::Forbidden(_))));
    let ops = hub.admit(&caller(0, Role::Ops)).unwrap();
    assert!(matches!(
        ops.subscribe(ALERTS, None, None).await,
        Err(subscribe::Refusal::Invalid(_))
    ));
    assert_eq!(hub.inner.clients.load(Ordering::Relaxed), 2);
    drop(user);
    drop(ops);
    assert_eq!(hub.inner.clients.load(Ordering::Relaxed), 0);
    assert!(lock(&hub.inner.per_tenant).is_empty());
}
