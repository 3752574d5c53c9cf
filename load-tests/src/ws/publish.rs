//! Publishing the plan to JetStream at a steady rate, noting when each breaching ticket goes
//! out.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use vigil_engine::clock::{Clock, WallClock};
use vigil_streams::jetstream::PublisherSettings;
use vigil_streams::EventPublisher;

use super::latency::PublishLog;

/// Publishes awaiting their JetStream ack (the client allows 5,000).
const ACK_WINDOW: usize = 2048;
/// How often the pacer wakes up to send what has come due.
const TICK: Duration = Duration::from_millis(1);

/// What was published.
#[derive(Debug, Clone, Copy, Default)]
pub struct Published {
    /// Events stored.
    pub events: u64,
    /// Events not stored: not acknowledged, or dropped by JetStream as duplicates.
    pub failed: u64,
    /// Breaching tickets sent.
    pub breaching: u64,
    /// Seconds from the first send to the last ack.
    pub seconds: f64,
}

/// How many of `total` events are due `elapsed` after the start at `rate` per second: event `i`
/// is due at `i / rate` seconds, so the first goes at once.
pub fn due(elapsed: Duration, rate: u32, total: u64) -> u64 {
    let n = (elapsed.as_nanos() * u128::from(rate) / 1_000_000_000) as u64 + 1;
    n.min(total)
}

/// Publishes every event of `log`'s plan to `vigil.events.<tenant>`, `rate` per second, and
/// records the instant each breaching one is handed to the NATS client.
pub async fn publish(
    js: async_nats::jetstream::Context,
    log: &PublishLog,
    rate: u32,
) -> anyhow::Result<Published> {
    let plan = log.plan().clone();
    let mut publisher = EventPublisher::new(
        js,
        PublisherSettings {
            window: ACK_WINDOW,
            rate: None,
        },
    );
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let started = Instant::now();
    let mut breaching = 0;
    let mut seq = 0;
    while seq < plan.events {
        tick.tick().await;
        let due = due(started.elapsed(), rate, plan.events);
        while seq < due {
            let event = plan.event(seq, WallClock.now());
            if event.breaching {
                breaching += 1;
                log.record(seq, Instant::now());
            }
            publisher
                .publish(event.tenant_id, &event.event_id, event.payload)
                .await
                .with_context(|| format!("cannot publish event {}", event.event_id))?;
            seq += 1;
        }
    }
    let stats = publisher.flush().await;
    Ok(Published {
        events: stats.published,
        failed: stats.failed + stats.duplicates,
        breaching,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_due_at_the_rate() {
        assert_eq!(due(Duration::ZERO, 10_000, 300_000), 1);
        assert_eq!(due(Duration::from_micros(99), 10_000, 300_000), 1);
        assert_eq!(due(Duration::from_micros(100), 10_000, 300_000), 2);
        assert_eq!(due(Duration::from_secs(1), 10_000, 300_000), 10_001);
        assert_eq!(due(Duration::from_secs(30), 10_000, 300_000), 300_000);
        assert_eq!(due(Duration::from_secs(3600), 10_000, 300_000), 300_000);
        assert_eq!(due(Duration::from_millis(500), 3, 10), 2);
    }
}
