//! Rate limits per recipient and channel (`[notify.limits]`, GCRA): a message over the limit
//! is not dropped; it waits until the limit allows, and whatever else is due for that
//! recipient by then goes out in the same message.
//!
//! With a shared Redis ([`crate::limits`]) the limits hold across instances, under the keys
//! `vigil:limit:<channel>_minute:<contact>` and `vigil:limit:<channel>_hour:<contact>`. There
//! they are judged on the notifier's clock (the instant is passed to Redis), not on Redis'
//! own (`TIME`): the answer is an instant the dispatcher holds the message until and compares
//! with that clock, so both must be the same clock; and the windows are a minute and an hour,
//! against which the few milliseconds instances' clocks differ by do not matter. (It also
//! lets the tests drive the shared path with a manual clock.) Keys still expire on Redis'
//! clock, after the time they were set to last, which is all their expiry needs.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::Quota;
use vigil_engine::clock::Clock;
use vigil_schema::Millis;

use super::config::{Channel, ChannelLimit, LimitsConfig};
use crate::limits::{KeyedLimit, SharedLimits};

/// The notifier's clock as governor sees it: time since the Unix epoch.
#[derive(Clone)]
struct EpochClock(Arc<dyn Clock>);

impl GovernorClock for EpochClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.now()).unwrap_or(0))
    }
}

type Limiter = KeyedLimit<String, EpochClock>;

/// A GCRA quota under which no window of `window_s` seconds holds more than `n` messages:
/// half of them as a burst, the other half refilled evenly over the window.
fn window_quota(n: u32, window_s: u64) -> Quota {
    let n = n.max(1);
    let burst = (n / 2).max(1);
    let refill = u64::from(n - burst).max(1);
    // Nanoseconds: a millisecond period would round to zero above 1,000 a second.
    let period = Duration::from_nanos(window_s * 1_000_000_000 / refill);
    Quota::with_period(period)
        // Only a zero period lands here: no limit worth the name, so do not limit.
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

/// One channel's per-minute and per-hour limiters, keyed by contact id.
struct ChannelLimiters {
    per_minute: Limiter,
    per_hour: Limiter,
}

impl ChannelLimiters {
    fn new(
        scopes: [&'static str; 2],
        limit: ChannelLimit,
        clock: &EpochClock,
        shared: Option<&SharedLimits>,
    ) -> ChannelLimiters {
        let [minute, hour] = scopes;
        ChannelLimiters {
            per_minute: KeyedLimit::with_clock(
                minute,
                window_quota(limit.per_minute, 60),
                clock.clone(),
                shared,
            ),
            per_hour: KeyedLimit::with_clock(
                hour,
                window_quota(limit.per_hour, 3600),
                clock.clone(),
                shared,
            ),
        }
    }
}

/// Rate limits per recipient and channel.
pub struct RecipientLimits {
    sms: ChannelLimiters,
    email: ChannelLimiters,
    webhook: ChannelLimiters,
    clock: Arc<dyn Clock>,
}

impl RecipientLimits {
    /// Limits as configured, on the notifier's clock; shared through `shared` when given
    /// (`[cluster] redis_url`).
    pub fn new(
        config: &LimitsConfig,
        clock: Arc<dyn Clock>,
        shared: Option<&SharedLimits>,
    ) -> RecipientLimits {
        let epoch = EpochClock(clock.clone());
        RecipientLimits {
            sms: ChannelLimiters::new(["sms_minute", "sms_hour"], config.sms, &epoch, shared),
            email: ChannelLimiters::new(
                ["email_minute", "email_hour"],
                config.email,
                &epoch,
                shared,
            ),
            webhook: ChannelLimiters::new(
                ["webhook_minute", "webhook_hour"],
                config.webhook,
                &epoch,
                shared,
            ),
            clock,
        }
    }

    /// Takes one message to `contact` on `channel` if the limits allow it now; otherwise the
    /// earliest instant they will.
    pub async fn take(&self, contact: &str, channel: Channel) -> Result<(), Millis> {
        let limiters = match channel {
            Channel::Sms => &self.sms,
            Channel::Email => &self.email,
            Channel::Webhook => &self.webhook,
        };
        let key = contact.to_string();
        let now = self.clock.now();
        let now_us = u64::try_from(now).unwrap_or(0).saturating_mul(1000);
        // The minute first: a refusal there must not spend a message of the hour.
        for limiter in [&limiters.per_minute, &limiters.per_hour] {
            if let Err(refused) = limiter.check_at(&key, now_us).await {
                let wait = refused.retry_after;
                let wait_ms = wait.as_millis() + u128::from(wait.subsec_nanos() % 1_000_000 > 0);
                return Err(now.saturating_add(Millis::try_from(wait_ms).unwrap_or(Millis::MAX)));
            }
        }
        Ok(())
    }

    /// Forgets recipients whose limits are back to full, to bound memory.
    pub fn forget_idle(&self) {
        for l in [&self.sms, &self.email, &self.webhook] {
            l.per_minute.forget_idle();
            l.per_hour.forget_idle();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_engine::clock::ManualClock;

    #[tokio::test]
    async fn one_sms_a_minute_and_at_most_thirty_in_any_hour_by_default() {
        let start = 1_000_000;
        let clock = ManualClock::at(start);
        let limits = RecipientLimits::new(&LimitsConfig::default(), Arc::new(clock.clone()), None);
        assert_eq!(limits.take("alice", Channel::Sms).await, Ok(()));
        // The second within the minute waits for it; another recipient does not.
        assert_eq!(
            limits.take("alice", Channel::Sms).await,
            Err(start + 60_000)
        );
        assert_eq!(limits.take("bob", Channel::Sms).await, Ok(()));
        // Sending as fast as allowed for three hours: never two within a minute, never more
        // than 30 within an hour.
        let mut sent = vec![start];
        let mut t = start;
        while t < start + 3 * 3_600_000 {
            match limits.take("alice", Channel::Sms).await {
                Ok(()) => sent.push(t),
                Err(until) => {
                    assert!(until > t);
                    t = until;
                    clock.advance_to(t);
                }
            }
        }
        for (i, at) in sent.iter().enumerate() {
            assert!(sent[i + 1..].first().is_none_or(|next| next - at >= 60_000));
            let in_hour = sent[i..]
                .iter()
                .take_while(|s| **s < at + 3_600_000)
                .count();
            assert!(in_hour <= 30, "{in_hour} within an hour of {at}");
        }
        assert!(sent.len() >= 55, "{} in three hours", sent.len());
        // Email has its own limits.
        assert_eq!(limits.take("alice", Channel::Email).await, Ok(()));
    }

    #[tokio::test]
    async fn high_limits_stay_high() {
        let clock = ManualClock::at(0);
        let high = ChannelLimit {
            per_minute: 1_000_000,
            per_hour: 50_000_000,
        };
        let config = LimitsConfig {
            sms: high,
            ..LimitsConfig::default()
        };
        let limits = RecipientLimits::new(&config, Arc::new(clock), None);
        for _ in 0..10_000 {
            assert_eq!(limits.take("alice", Channel::Sms).await, Ok(()));
        }
    }
}
