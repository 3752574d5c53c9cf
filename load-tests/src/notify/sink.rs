//! `vigil-load sms-sink`: the SMS gateway and webhook receiver the notification storm sends
//! to: `vigil_peers`' [`FakeGateway`], fed to a counter. The gateway checks each request as a
//! real one would (body, idempotency key, webhook signature), answers duplicates without
//! delivering them again, and hands each message over; the counter tallies the notifications
//! folded into it (an SMS `[Vigil] N alerts:` carries N, any other SMS one; a webhook body
//! carries its `alerts`) and when the first and last arrived.
//!
//! It runs until SIGTERM or Ctrl-C, then prints its figures (`sink_messages=…`, see
//! [`Tally::print`]). One thread, so that it takes as little of the machine as possible from
//! the service it measures.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use serde::Deserialize;
use tokio::signal::unix::{signal, SignalKind};
use vigil_peers::gateway::{Counts, Delivery, FeedOptions, Route};
use vigil_peers::FakeGateway;

use crate::report::{figure, note};

/// Messages held for the counter before the gateway pushes back on the sender.
const QUEUE: usize = 4096;

/// Idempotency keys remembered: more than a storm sends, so that every repeated one counts.
const KEYS_REMEMBERED: usize = 10_000_000;

#[derive(Deserialize)]
struct WebhookBody {
    #[serde(default)]
    alerts: Vec<serde::de::IgnoredAny>,
}

/// Notifications in an SMS text: `[Vigil] 12 alerts: …` (or `[Vigil] 12条告警:`) carries 12,
/// anything else one.
pub fn notifications_in_sms(text: &str) -> u64 {
    let Some(rest) = text.strip_prefix("[Vigil] ") else {
        return 1;
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let after = &rest[digits.len()..];
    if after.starts_with(" alerts:") || after.starts_with("条告警") {
        digits.parse().unwrap_or(1)
    } else {
        1
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What the counter made of the messages delivered.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Tally {
    sms: u64,
    webhooks: u64,
    notifications: u64,
    largest: u64,
    bytes: u64,
    /// Delivered, but no notification could be read out of it.
    unreadable: u64,
    first_ms: u64,
    last_ms: u64,
}

impl Tally {
    fn record(&mut self, delivery: &Delivery, now_ms: u64) {
        let notifications = match delivery.route {
            Route::Webhook => {
                self.webhooks += 1;
                serde_json::from_str::<WebhookBody>(&delivery.body)
                    .map_or(0, |b| b.alerts.len() as u64)
            }
            Route::Sms => {
                self.sms += 1;
                delivery.text.as_deref().map_or(0, notifications_in_sms)
            }
        };
        if notifications == 0 {
            self.unreadable += 1;
        }
        if self.first_ms == 0 {
            self.first_ms = now_ms;
        }
        self.last_ms = self.last_ms.max(now_ms);
        self.notifications += notifications;
        self.largest = self.largest.max(notifications);
        self.bytes += delivery.body.len() as u64;
    }

    /// Prints the figures: `sink_messages` (every message taken, repeats included), `sink_sms`,
    /// `sink_webhooks`, `sink_notifications`, `sink_largest_message`, `sink_repeated_keys`,
    /// `sink_unreadable` (delivered without a readable notification, or refused as invalid),
    /// `sink_body_bytes`, `sink_first_unix_ms`, `sink_last_unix_ms`, `sink_messages_per_sec`.
    fn print(&self, counts: Counts) {
        let repeated = counts.duplicates as u64;
        let messages = self.sms + self.webhooks + repeated;
        let span_s = self.last_ms.saturating_sub(self.first_ms) as f64 / 1000.0;
        let per_sec = if span_s > 0.0 {
            (messages as f64 / span_s).round()
        } else {
            0.0
        };
        figure("sink_messages", messages);
        figure("sink_sms", self.sms);
        figure("sink_webhooks", self.webhooks);
        figure("sink_notifications", self.notifications);
        figure("sink_largest_message", self.largest);
        figure("sink_repeated_keys", repeated);
        figure("sink_unreadable", self.unreadable + counts.rejected as u64);
        figure("sink_body_bytes", self.bytes);
        figure("sink_first_unix_ms", self.first_ms);
        figure("sink_last_unix_ms", self.last_ms);
        figure("sink_messages_per_sec", per_sec);
    }
}

/// Serves on `listen`, webhooks signed with `webhook_secret`, until SIGTERM or Ctrl-C; then
/// prints the figures.
pub fn run(listen: SocketAddr, webhook_secret: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let options = FeedOptions {
            listen,
            queue: QUEUE,
            keys_remembered: KEYS_REMEMBERED,
        };
        let (gateway, mut deliveries) = FakeGateway::start_feeding_with(webhook_secret, options)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        note(format_args!("sink listening on {}", gateway.addr()));
        let mut terminate = signal(SignalKind::terminate()).context("cannot catch SIGTERM")?;
        let mut tally = Tally::default();
        loop {
            tokio::select! {
                delivery = deliveries.recv() => match delivery {
                    Some(delivery) => tally.record(&delivery, unix_ms()),
                    None => break,
                },
                _ = terminate.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        // Whatever was handed over before the signal counts too.
        while let Ok(delivery) = deliveries.try_recv() {
            tally.record(&delivery, unix_ms());
        }
        tally.print(gateway.counts());
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_alerts_a_grouped_sms_carries() {
        assert_eq!(notifications_in_sms("[Vigil] 12 alerts: T1 breach;"), 12);
        assert_eq!(notifications_in_sms("[Vigil] 7条告警: T1"), 7);
        assert_eq!(notifications_in_sms("[Vigil] BREACH response T1"), 1);
        assert_eq!(notifications_in_sms("hello"), 1);
    }

    #[tokio::test]
    async fn tallies_what_the_gateway_delivers() {
        let options = FeedOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            queue: 8,
            keys_remembered: 100,
        };
        let (gateway, mut deliveries) =
            FakeGateway::start_feeding_with("s", options).await.unwrap();
        let client = vigil_peers::http::client(std::time::Duration::from_secs(10));
        let body =
            r#"{"to":"+8613800000001","text":"[Vigil] 3 alerts: a; b; c;","idempotency_key":"k1"}"#;
        // Twice: one message, repeated.
        for _ in 0..2 {
            let answer = client
                .post(gateway.url(Route::Sms))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status().as_u16(), 200);
        }
        let mut tally = Tally::default();
        tally.record(&deliveries.recv().await.unwrap(), 1_000);
        assert!(deliveries.try_recv().is_err(), "a repeat is not delivered");
        assert_eq!((tally.sms, tally.notifications, tally.largest), (1, 3, 3));
        assert_eq!(gateway.counts().duplicates, 1);
    }
}
