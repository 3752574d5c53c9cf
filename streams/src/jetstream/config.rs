//! Settings of the streams and the event publisher.
//!
//! These are plain structs with documented defaults; the service maps its `[nats]` section
//! onto them (durations there are strings such as `"35d"`).

use std::num::NonZeroU32;
use std::time::Duration;

use super::subjects::EVENTS_STREAM;

/// Upper bound on the partition count; beyond it a partition is too small to be worth a consumer.
pub const MAX_PARTITIONS: u32 = 1024;

/// How the streams are created (see [`ensure_streams`](super::ensure_streams)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSettings {
    /// Name of the events stream. Default `VIGIL_EVENTS`.
    pub name: String,
    /// Number of partitions `P`, 1..=[`MAX_PARTITIONS`]. Fixed for the life of the stream. Default 16.
    pub partitions: u32,
    /// How long events (and dead letters and alerts) are kept. Default 35 days.
    pub retention: Duration,
    /// Replicas of each stream (3 on a production cluster). Default 1.
    pub replicas: usize,
    /// Window in which the events stream drops a repeated `Nats-Msg-Id`. Default 2 minutes.
    pub events_duplicate_window: Duration,
    /// Window in which the alert stream drops a repeated `Nats-Msg-Id`. Default 24 hours.
    /// The server keeps every id of the window in memory, so this trades memory for coverage;
    /// the store's outbox is the authoritative dedupe, this is a second guard.
    pub alerts_duplicate_window: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            name: EVENTS_STREAM.to_string(),
            partitions: 16,
            retention: Duration::from_secs(35 * 24 * 3600),
            replicas: 1,
            events_duplicate_window: Duration::from_secs(120),
            alerts_duplicate_window: Duration::from_secs(24 * 3600),
        }
    }
}

impl StreamSettings {
    /// Every problem with these settings, as `field: problem` lines; empty when valid.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let name_ok = !self.name.is_empty()
            && !self
                .name
                .contains(|c: char| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\'));
        if !name_ok {
            problems.push(format!(
                "name: {:?} is not a valid stream name (no spaces, '.', '*', '>', '/', '\\')",
                self.name
            ));
        }
        if !(1..=MAX_PARTITIONS).contains(&self.partitions) {
            problems.push(format!(
                "partitions: {} is outside 1..={MAX_PARTITIONS}",
                self.partitions
            ));
        }
        if self.replicas == 0 || self.replicas > 5 {
            problems.push(format!("replicas: {} is outside 1..=5", self.replicas));
        }
        for (field, window) in [
            ("events_duplicate_window", self.events_duplicate_window),
            ("alerts_duplicate_window", self.alerts_duplicate_window),
        ] {
            if window.is_zero() || window > self.retention {
                problems.push(format!(
                    "{field}: {window:?} must be positive and at most the retention"
                ));
            }
        }
        problems
    }
}

/// How the [`EventPublisher`](super::EventPublisher) publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublisherSettings {
    /// Most publishes awaiting their JetStream ack at once. Default 512.
    pub window: usize,
    /// Events per second at most; `None` publishes as fast as acks allow. Default `None`.
    pub rate: Option<NonZeroU32>,
}

impl Default for PublisherSettings {
    fn default() -> Self {
        PublisherSettings {
            window: 512,
            rate: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_problems_are_all_reported() {
        assert!(StreamSettings::default().validate().is_empty());
        let bad = StreamSettings {
            name: "a.b".into(),
            partitions: 0,
            replicas: 0,
            events_duplicate_window: Duration::ZERO,
            ..StreamSettings::default()
        };
        assert_eq!(bad.validate().len(), 4, "{:?}", bad.validate());
    }
}
