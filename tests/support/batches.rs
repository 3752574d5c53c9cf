//! Alert-producing batches whose outcome does not depend on timing, and the alert changes
//! published in `VIGIL_ALERTS`: what restart and cluster tests compare.

use super::{key, ts, Alert, AlertKey, Ev, HOUR, MIN};

/// Tickets whose alerts on the wall clock do not depend on when the engine gets to them:
/// every crossing before now happened before any stop.
pub struct Batch {
    /// The events.
    pub events: Vec<Ev>,
    /// Final store rows.
    pub rows: Vec<AlertKey>,
    /// Every `Nats-Msg-Id` the alert changes are published with.
    pub message_ids: Vec<String>,
}

/// For each tenant: `open` CRITICAL tickets whose response goal breached and that stay open,
/// and `resolved` ones whose every alert fired and resolved; tickets are named after `name`.
pub fn batch(tenants: &[u64], name: &str, open: usize, resolved: usize, now: i64) -> Batch {
    let mut b = Batch {
        events: Vec::new(),
        rows: Vec::new(),
        message_ids: Vec::new(),
    };
    let mut add =
        |tenant: u64, ticket: &str, goal: &str, level: &str, th: &str, state: &str, at: i64| {
            b.rows
                .push(key(tenant, ticket, goal, level, th, state, &ts(at)));
            b.message_ids
                .push(format!("{tenant}:{ticket}:{goal}:{level}:{th}:firing"));
            if state != "firing" {
                b.message_ids
                    .push(format!("{tenant}:{ticket}:{goal}:{level}:{th}:{state}"));
            }
        };
    for &tenant in tenants {
        // Open CRITICAL tickets three hours old: response warning (24 min) and breach (30 min).
        for i in 0..open {
            let ticket = format!("{name}-{tenant}-open-{i}");
            let t0 = now - 3 * HOUR;
            b.events.push(Ev::created(
                tenant,
                &ticket,
                t0,
                "CRITICAL",
                &format!("{ticket}-1"),
            ));
            add(
                tenant,
                &ticket,
                "response",
                "warning",
                "0.8",
                "firing",
                t0 + 24 * MIN,
            );
            add(
                tenant,
                &ticket,
                "response",
                "breach",
                "1",
                "firing",
                t0 + 30 * MIN,
            );
        }
        // CRITICAL tickets 210 minutes old, taken up after 35 min (response breached) and
        // resolved after 200 min (past the resolution warning at 192 min, before the breach
        // at 240): every alert fired and was resolved.
        for i in 0..resolved {
            let ticket = format!("{name}-{tenant}-done-{i}");
            let t0 = now - 210 * MIN;
            b.events.push(Ev::created(
                tenant,
                &ticket,
                t0,
                "CRITICAL",
                &format!("{ticket}-1"),
            ));
            b.events.push(Ev::status(
                tenant,
                &ticket,
                t0 + 35 * MIN,
                "IN_PROGRESS",
                &format!("{ticket}-2"),
            ));
            b.events.push(Ev::status(
                tenant,
                &ticket,
                t0 + 200 * MIN,
                "RESOLVED",
                &format!("{ticket}-3"),
            ));
            add(
                tenant,
                &ticket,
                "response",
                "warning",
                "0.8",
                "resolved",
                t0 + 24 * MIN,
            );
            add(
                tenant,
                &ticket,
                "response",
                "breach",
                "1",
                "resolved",
                t0 + 30 * MIN,
            );
            add(
                tenant,
                &ticket,
                "resolution",
                "warning",
                "0.8",
                "resolved",
                t0 + 192 * MIN,
            );
        }
    }
    b
}

/// Message ids in the `VIGIL_ALERTS` stream, checked against their records, sorted.
pub async fn stream_ids(js: &async_nats::jetstream::Context) -> Vec<String> {
    let Ok(stream) = js.get_stream("VIGIL_ALERTS").await else {
        return Vec::new();
    };
    let last = stream
        .get_info()
        .await
        .expect("stream info")
        .state
        .last_sequence;
    let mut ids = Vec::new();
    for seq in 1..=last {
        let m = stream.get_raw_message(seq).await.expect("stream message");
        let id = m
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_string())
            .expect("Nats-Msg-Id");
        let record: Alert = serde_json::from_slice(&m.payload).expect("an alert record");
        assert_eq!(record.message_id(), id);
        assert_eq!(
            m.subject.as_str(),
            format!("vigil.alerts.{}", record.tenant_id)
        );
        ids.push(id);
    }
    ids.sort();
    ids
}
