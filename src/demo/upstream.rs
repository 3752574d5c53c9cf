//! Synthetic upstream: opens tickets for the demo tenants every few seconds and moves them
//! along realistic lifecycles, with delays drawn so that some goals are met, some warn and
//! some breach under the demo targets. First thing, and every few minutes after, it opens a
//! CRITICAL ticket for the first demo tenant that nobody picks up for minutes, so the demo
//! shows a page, its escalation, and an acknowledgement stopping it.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tracing::warn;
use vigil_engine::clock::{Clock, WallClock};
use vigil_peers::rng::Rng;
use vigil_schema::format_instant;
use vigil_streams::jetstream::subjects::EVENTS_PREFIX;
use vigil_streams::jetstream::PublisherSettings;
use vigil_streams::EventPublisher;

use super::DEMO_TENANTS;

/// Priorities and their demo response targets in minutes (see `demo_config`).
const PRIORITIES: [(&str, u64); 4] = [("CRITICAL", 1), ("HIGH", 2), ("MEDIUM", 4), ("LOW", 8)];

/// How often to look for the events stream while the service is starting.
const STREAM_POLL: Duration = Duration::from_millis(100);

/// How often a neglected CRITICAL ticket is opened (the first at the start), in ms.
const NEGLECTED_EVERY: i64 = 5 * 60_000;

/// How long a neglected ticket waits for its first response, in ms: long past its 1-minute
/// target, so its breach escalates through the whole paging policy unless acknowledged.
const NEGLECTED_FOR: i64 = 210_000;

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
    let js = async_nats::jetstream::new(client);
    // The service creates the streams as it starts; what is published before would be lost.
    let subject = format!("{EVENTS_PREFIX}{}", DEMO_TENANTS[0]);
    let mut wait = tokio::time::interval(STREAM_POLL);
    loop {
        tokio::select! {
            _ = crate::stopped(&mut stop) => return,
            _ = wait.tick() => {}
        }
        if js.stream_by_subject(subject.as_str()).await.is_ok() {
            break;
        }
    }
    let mut publisher = EventPublisher::new(js, PublisherSettings::default());
    let mut rng = Rng::new(7);
    let mut steps: Vec<Step> = Vec::new();
    let mut next_ticket = 0u64;
    let mut next_event = 0u64;
    let mut next_neglected = WallClock.now();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = crate::stopped(&mut stop) => break,
            _ = tick.tick() => {}
        }
        let now = WallClock.now();
        if now >= next_neglected {
            next_ticket += 1;
            plan_neglected(now, next_ticket, &mut steps);
            next_neglected = now + NEGLECTED_EVERY;
        }
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

/// A CRITICAL ticket of the first demo tenant (the dashboard's) answered only after
/// [`NEGLECTED_FOR`].
fn plan_neglected(now: i64, n: u64, steps: &mut Vec<Step>) {
    let tenant = DEMO_TENANTS[0];
    let ticket = format!("DEMO-{n:04}");
    let mut step = |due: i64, kind: &'static str, extra: &str| {
        steps.push(Step {
            due,
            tenant,
            ticket: ticket.clone(),
            kind,
            extra: extra.to_string(),
        });
    };
    step(
        now,
        "ticket.created",
        r#","priority":"CRITICAL","service_type":"incident","assignee_id":"eng-0""#,
    );
    let respond = now + NEGLECTED_FOR;
    step(
        respond,
        "ticket.status_changed",
        r#","status":"IN_PROGRESS""#,
    );
    step(
        respond + 30_000,
        "ticket.status_changed",
        r#","status":"RESOLVED""#,
    );
    step(
        respond + 60_000,
        "ticket.status_changed",
        r#","status":"CLOSED""#,
    );
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
