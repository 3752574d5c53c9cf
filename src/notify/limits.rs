//! Rate limits per recipient and channel (`[notify.limits]`, governor): a message over the
//! limit is not dropped; it waits until the limit allows, and whatever else is due for that
//! recipient by then goes out in the same message.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use vigil_engine::clock::Clock;
use vigil_schema::Millis;

use super::config::{Channel, ChannelLimit, LimitsConfig};

/// The notifier's clock as governor sees it: time since the Unix epoch.
#[derive(Clone)]
struct EpochClock(Arc<dyn Clock>);

impl GovernorClock for EpochClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.now()).unwrap_or(0))
    }
}

type Limiter = RateLimiter<
    String,
    DefaultKeyedStateStore<String>,
    EpochClock,
    governor::middleware::NoOpMiddleware<Duration>,
>;

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
    fn new(limit: ChannelLimit, clock: &EpochClock) -> ChannelLimiters {
        ChannelLimiters {
            per_minute: RateLimiter::new(
                window_quota(limit.per_minute, 60),
                DefaultKeyedStateStore::default(),
                clock.clone(),
            ),
            per_hour: RateLimiter::new(
                window_quota(limit.per_hour, 3600),
                DefaultKeyedStateStore::default(),
                clock.clone(),
            ),
        }
    }
}

/// Rate limits per recipient and channel.
pub struct RecipientLimits {
    sms: ChannelLimiters,
    email: ChannelLimiters,
    webhook: ChannelLimiters,
}

impl RecipientLimits {
    /// Limits as configured, on the notifier's clock.
    pub fn new(config: &LimitsConfig, clock: Arc<dyn Clock>) -> RecipientLimits {
        let clock = EpochClock(clock);
        RecipientLimits {
            sms: ChannelLimiters::new(config.sms, &clock),
            email: ChannelLimiters::new(config.email, &clock),
            webhook: ChannelLimiters::new(config.webhook, &clock),
        }
    }

    /// Takes one message to `contact` on `channel` if the limits allow it now; otherwise the
    /// earliest instant they will.
    pub fn take(&self, contact: &str, channel: Channel) -> Result<(), Millis> {
        let limiters = match channel {
            Channel::Sms => &self.sms,
            Channel::Email => &self.email,
            Channel::Webhook => &self.webhook,
        };
        let key = contact.to_string();
        // The minute first: a refusal there must not spend a message of the hour.
        for limiter in [&limiters.per_minute, &limiters.per_hour] {
            if let Err(not_until) = limiter.check_key(&key) {
                let at = not_until.earliest_possible();
                return Err(Millis::try_from(at.as_millis()).unwrap_or(Millis::MAX));
            }
        }
        Ok(())
    }

    /// Forgets recipients whose limits are back to full, to bound memory.
    pub fn forget_idle(&self) {
        for l in [&self.sms, &self.email, &self.webhook] {
            l.per_minute.retain_recent();
            l.per_hour.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_engine::clock::ManualClock;

    #[test]
    fn one_sms_a_minute_and_at_most_thirty_in_any_hour_by_default() {
        let start = 1_000_000;
        let clock = ManualClock::at(start);
        let limits = RecipientLimits::new(&LimitsConfig::default(), Arc::new(clock.clone()));
        assert_eq!(limits.take("alice", Channel::Sms), Ok(()));
        // The second within the minute waits for it; another recipient does not.
        assert_eq!(limits.take("alice", Channel::Sms), Err(start + 60_000));
        assert_eq!(limits.take("bob", Channel::Sms), Ok(()));
        // Sending as fast as allowed for three hours: never two within a minute, never more
        // than 30 within an hour.
        let mut sent = vec![start];
        let mut t = start;
        while t < start + 3 * 3_600_000 {
            match limits.take("alice", Channel::Sms) {
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
        assert_eq!(limits.take("alice", Channel::Email), Ok(()));
    }

    #[test]
    fn high_limits_stay_high() {
        let clock = ManualClock::at(0);
        let high = ChannelLimit {
            per_minute: 1_000_000,
            per_hour: 50_000_000,
        };
        let config = LimitsConfig {
            sms: high,
            ..LimitsConfig::default()
        };
        let limits = RecipientLimits::new(&config, Arc::new(clock));
        for _ in 0..10_000 {
            assert_eq!(limits.take("alice", Channel::Sms), Ok(()));
        }
    }
}
