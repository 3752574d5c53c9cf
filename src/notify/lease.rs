//! The claim lease and the size of a round. A round claims its notifications for
//! `claim_timeout`; another instance takes them again once that passes, so every send of the
//! round must have ended (sent, or given up on by the backstop) before then, or the rest of
//! the round goes out twice. Sends run `concurrency` at a time and each ends within
//! `send_timeout` + [`BACKSTOP_MARGIN`]; [`LEASE_SLACK`] is kept for the round's own store
//! work. `vigil check-config` refuses settings under which a full round cannot fit
//! ([`lease_problem`]), and the dispatcher never takes more than fits ([`round_size`]).

use std::time::Duration;

use super::config::DeliveryConfig;

/// How much longer than `send_timeout` a send may take before the dispatcher gives up on it
/// (the provider's own time-out normally ends it first, with a better message).
pub const BACKSTOP_MARGIN: Duration = Duration::from_secs(1);

/// Part of every claim kept for the round's store work: claiming, screening, grouping and
/// recording outcomes.
pub const LEASE_SLACK: Duration = Duration::from_secs(5);

/// Waves of `concurrency` sends, each as slow as allowed, that fit in one claim.
fn waves(d: &DeliveryConfig) -> u64 {
    let per_send = d.send_timeout.as_std() + BACKSTOP_MARGIN;
    let usable = d.claim_timeout.as_std().saturating_sub(LEASE_SLACK);
    let waves = usable.as_millis() / per_send.as_millis().max(1);
    u64::try_from(waves).unwrap_or(u64::MAX)
}

/// The most notifications a round may take: `batch`, or fewer if that many could not all be
/// sent within the claim; at least one.
pub fn round_size(d: &DeliveryConfig) -> u32 {
    let fits = waves(d).saturating_mul(u64::from(d.concurrency.max(1)));
    u32::try_from(fits.min(u64::from(d.batch)))
        .unwrap_or(u32::MAX)
        .max(1)
}

/// What is wrong with `d` for the lease, if anything: the field to name and why.
pub fn lease_problem(d: &DeliveryConfig) -> Option<(&'static str, String)> {
    let per_send = d.send_timeout.as_std() + BACKSTOP_MARGIN;
    if waves(d) == 0 {
        return Some((
            "claim_timeout",
            format!(
                "must be at least send_timeout ({}) + {} s: a notification's claim would end \
                 while it is being sent, and another instance would send it again",
                d.send_timeout,
                (BACKSTOP_MARGIN + LEASE_SLACK).as_secs()
            ),
        ));
    }
    let fits = round_size(d);
    if fits < d.batch {
        let rounds_of = u64::from(d.batch).div_ceil(u64::from(d.concurrency.max(1)));
        return Some((
            "batch",
            format!(
                "a round of {} notifications, {} at a time, can take {} s (send_timeout {} + \
                 {} s each), longer than claim_timeout ({}) less {} s: another instance would \
                 send the rest again; lower batch to at most {fits}, or raise concurrency or \
                 claim_timeout",
                d.batch,
                d.concurrency.max(1),
                rounds_of.saturating_mul(per_send.as_secs()),
                d.send_timeout,
                BACKSTOP_MARGIN.as_secs(),
                d.claim_timeout,
                LEASE_SLACK.as_secs()
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigDuration;

    fn delivery(send: u32, claim: u32, batch: u32, concurrency: u32) -> DeliveryConfig {
        DeliveryConfig {
            send_timeout: ConfigDuration::from_secs(send),
            claim_timeout: ConfigDuration::from_secs(claim),
            batch,
            concurrency,
            ..DeliveryConfig::default()
        }
    }

    #[test]
    fn the_defaults_fit_the_lease() {
        let d = DeliveryConfig::default();
        assert_eq!(lease_problem(&d), None);
        assert_eq!(round_size(&d), d.batch);
    }

    #[test]
    fn a_round_is_sized_to_what_the_lease_can_send() {
        // (send_timeout, claim_timeout, batch, concurrency) -> round size, problem field
        let table = [
            ((10, 60, 320, 64), 320, None),
            // The case: 2,000 rows, 64 at a time, 11 s each: 352 s in a 60 s lease.
            ((10, 60, 2000, 64), 320, Some("batch")),
            ((10, 60, 6, 1), 5, Some("batch")),
            ((10, 16, 100, 10), 10, Some("batch")),
            ((10, 15, 1, 1), 1, Some("claim_timeout")),
            ((2, 60, 2000, 64), 1152, Some("batch")),
        ];
        for ((send, claim, batch, conc), size, field) in table {
            let d = delivery(send, claim, batch, conc);
            assert_eq!(round_size(&d), size, "{d:?}");
            assert_eq!(lease_problem(&d).map(|(f, _)| f), field, "{d:?}");
        }
    }
}
