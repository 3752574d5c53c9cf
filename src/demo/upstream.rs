//! Synthetic upstream: opens tickets for the demo tenants every few seconds and moves them
//! along realistic lifecycles, with delays drawn so that some goals are met, some warn and
//! some breach under the demo targets.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tracing::warn;
use vigil_actors::clock::{Clock, WallClock};
use vigil_load::rng::Rng;
use vigil_streams::jetstream::PublisherSettings;
use vigil_streams::{format_instant, EventPublisher};

use super::DEMO_TENANTS;

/// Priorities and their demo response targets in minutes (see `demo_config`).
const PRIORITIES: [(&str, u64); 4] = [("CRITICAL", 1), ("HIGH", 2), ("MEDIUM", 4), ("LOW", 8)];

/// A step of a ticket's life, due at a wall-clock instant.
struct Step {
    due: i64,
    tenant: u64,
    ticket: String,
    kind: &'static str,
    extra: String,
}

/// Publishes until `stop`.
pub async fn run(nats_url: String, mut stop: watch::Receiver<bool>) {
    let Ok(client) = async_nats::connect(&nats_url).await else {
        warn!("demo upstream cannot reach NATS");
        return;
    };
    let mut publisher = EventPublisher::new(
        async_nats::jetstream::new(client),
        PublisherSettings::default(),
    );
    let mut rng = Rng::new(7);
    let mut steps: Vec<Step> = Vec::new();
    let mut next_ticket = 0u64;
    let mut next_event = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = crate::stopped(&mut stop) => break,
            _ = tick.tick() => {}
        }
        let now = WallClock.now();
        if rng.chance(0.35) {
            next_ticket += 1;
            plan_ticket(&mut rng, now, next_ticket, &mut steps);
        }
        steps.sort_by_key(|s| std::cmp::Reverse(s.due));
        while steps.last().is_some_and(|s| s.due <= now) {
            let Some(s) = steps.pop() else { break };
            next_event += 1;
            let event_id = format!("demo-{next_event}");
            let json = format!(
                r#"{{"schema":1,"event_id":"{event_id}","event_type":"{}","tenant_id":{},"ticket_id":"{}","occurred_at":"{}"{}}}"#,
                s.kind,
                s.tenant,
                s.ticket,
                format_instant(now),
                s.extra
            );
            if let Err(e) = publisher
                .publish(s.tenant, &event_id, Bytes::from(json))
                .await
            {
                warn!(error = %e, "demo upstream publish failed");
            }
        }
    }
    publisher.flush().await;
}

fn plan_ticket(rng: &mut Rng, now: i64, n: u64, steps: &mut Vec<Step>) {
    let tenant = DEMO_TENANTS[rng.below(DEMO_TENANTS.len() as u64) as usize];
    let (priority, response_min) = PRIORITIES[rng.below(PRIORITIES.len() as u64) as usize];
    let ticket = format!("DEMO-{n:04}");
    let minute = 60_000.0;
    let mut step = |due: i64, kind: &'static str, extra: String| {
        steps.push(Step {
            due,
            tenant,
            ticket: ticket.clone(),
            kind,
            extra,
        });
    };
    step(
        now,
        "ticket.created",
        format!(
            r#","priority":"{priority}","service_type":"incident","assignee_id":"eng-{}""#,
            rng.below(6)
        ),
    );
    // Response: around the target, so some are met, some warn, some breach.
    let respond = now + (rng.unit() * 1.4 * response_min as f64 * minute) as i64;
    step(
        respond,
        "ticket.status_changed",
        r#","status":"IN_PROGRESS""#.into(),
    );
    let resolve = respond + (rng.unit() * 2.5 * response_min as f64 * minute) as i64;
    step(
        resolve,
        "ticket.status_changed",
        r#","status":"RESOLVED""#.into(),
    );
    step(
        resolve + 30_000,
        "ticket.status_changed",
        r#","status":"CLOSED""#.into(),
    );
}
