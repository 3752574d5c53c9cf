//! Publishing upstream events to `vigil.events.<tenant_id>`, many acks in flight at once.
//!
//! Used by `vigil publish`, HTTP ingest and `vigil demo`. Each event carries
//! `Nats-Msg-Id` = its `event_id`, so a publisher's retry inside the stream's duplicate window
//! is stored once. Acks are pipelined: up to `window` publishes await their ack while more
//! are sent, which is what makes a single publisher fast; when the window is full the oldest
//! ack is awaited first (back-pressure, bounded memory).

use std::collections::VecDeque;
use std::num::NonZeroU32;

use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::Context;
use bytes::Bytes;
use futures::{stream, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::config::PublisherSettings;
use super::publish::{confirm, send_with_id, PublishError, PublishOutcome};
use super::subjects::{event_message_id, event_subject};

/// Counts of a publisher's acknowledged work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublishStats {
    /// Events stored.
    pub published: u64,
    /// Events JetStream dropped as duplicates of an earlier `Nats-Msg-Id`.
    pub duplicates: u64,
    /// Events that were not acknowledged (each is logged with its tenant and event id).
    pub failed: u64,
}

/// A pipelined, optionally rate-limited publisher of events.
pub struct EventPublisher {
    js: Context,
    window: usize,
    limiter: Option<DefaultDirectRateLimiter>,
    in_flight: VecDeque<InFlight>,
    stats: PublishStats,
}

struct InFlight {
    tenant_id: u64,
    event_id: String,
    ack: PublishAckFuture,
}

impl std::fmt::Debug for EventPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventPublisher")
            .field("window", &self.window)
            .field("in_flight", &self.in_flight.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl EventPublisher {
    /// A publisher on `js` with the given window and rate.
    pub fn new(js: Context, settings: PublisherSettings) -> Self {
        EventPublisher {
            js,
            window: settings.window.max(1),
            limiter: settings
                .rate
                .map(|rate| RateLimiter::direct(per_second(rate))),
            in_flight: VecDeque::with_capacity(settings.window.max(1)),
            stats: PublishStats::default(),
        }
    }

    /// Sends one event, waiting first for the rate limit and for room in the ack window. Acks
    /// are counted as they arrive; a failed ack is counted and logged, not returned. An error
    /// here means the event was not sent at all (e.g. the connection is closed, or the id is
    /// not a valid header value).
    pub async fn publish(
        &mut self,
        tenant_id: u64,
        event_id: &str,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        while self.in_flight.len() >= self.window {
            self.settle_oldest().await;
        }
        let msg_id = event_message_id(tenant_id, event_id);
        let ack = send_with_id(&self.js, &event_subject(tenant_id), &msg_id, payload).await?;
        self.in_flight.push_back(InFlight {
            tenant_id,
            event_id: event_id.to_string(),
            ack,
        });
        Ok(())
    }

    /// Waits for every outstanding ack and returns the counts so far.
    pub async fn flush(&mut self) -> PublishStats {
        while !self.in_flight.is_empty() {
            self.settle_oldest().await;
        }
        self.stats
    }

    /// The counts of the acks received so far.
    pub fn stats(&self) -> PublishStats {
        self.stats
    }

    /// Publishes awaiting their ack.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    async fn settle_oldest(&mut self) {
        let Some(InFlight {
            tenant_id,
            event_id,
            ack,
        }) = self.in_flight.pop_front()
        else {
            return;
        };
        match confirm(&event_subject(tenant_id), ack).await {
            Ok(outcome) if outcome.duplicate => self.stats.duplicates += 1,
            Ok(_) => self.stats.published += 1,
            Err(err) => {
                self.stats.failed += 1;
                tracing::warn!(tenant_id, event_id = %event_id, error = %err, "event not stored");
            }
        }
    }
}

/// Publishes a batch of `(tenant_id, event_id, payload)` with up to `window` acks in flight
/// and returns one result per event, in input order, once every event has its answer. For
/// HTTP ingest, which answers only after JetStream acknowledged every event.
pub async fn publish_events<I>(
    js: &Context,
    events: I,
    window: usize,
) -> Vec<Result<PublishOutcome, PublishError>>
where
    I: IntoIterator<Item = (u64, String, Bytes)>,
{
    stream::iter(events)
        .map(|(tenant_id, event_id, payload)| async move {
            let subject = event_subject(tenant_id);
            let msg_id = event_message_id(tenant_id, &event_id);
            let ack = send_with_id(js, &subject, &msg_id, payload).await?;
            confirm(&subject, ack).await
        })
        .buffered(window.max(1))
        .collect()
        .await
}

/// A quota of `rate` events per second with a burst of a tenth of a second's worth, so a
/// limited publisher stays smooth instead of sending a second's worth at once.
fn per_second(rate: NonZeroU32) -> Quota {
    let burst = NonZeroU32::new(rate.get() / 10).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(rate).allow_burst(burst)
}
