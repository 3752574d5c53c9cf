//! One partner page of a day, as a run reads it: an open circuit breaker is waited out and
//! retryable failures are retried, with the lease renewed on the way.

use std::time::Duration;

use tracing::{debug, warn};

use super::{ReconcileError, Reconciler};
use crate::partner::client::PageBody;
use crate::partner::link::LinkError;
use crate::partner::worker::capped_retry_after;
use crate::retry::backoff_delay;

/// How long one page waits for an open breaker at most, in multiples of its `open_for`;
/// past that the attempt fails (the partner is down for longer than a run should wait).
pub const OPEN_WAIT_LIMIT: u32 = 10;

/// Shortest wait for an open breaker (probes may be taken by the outbox worker).
const MIN_OPEN_WAIT: Duration = Duration::from_millis(50);

impl Reconciler {
    /// One page of the partner's records of `day`, as it arrived, waiting out an open breaker
    /// and retrying retryable failures (see the `reconcile` module docs).
    pub(super) async fn fetch(
        &self,
        day: &str,
        page: u32,
        buffer: Vec<u8>,
    ) -> Result<PageBody, ReconcileError> {
        // The first attempt reads into `buffer`; one that fails takes it along.
        let mut buffer = Some(buffer);
        let config = self.link.config();
        let open_limit = config.breaker.open_for.as_std() * OPEN_WAIT_LIMIT;
        let mut failures = 0u32;
        let mut open_waited = Duration::ZERO;
        let failed = |error: LinkError| ReconcileError::Partner {
            partner: self.link.id().to_string(),
            day: day.to_string(),
            page,
            error,
        };
        loop {
            self.renew().await?;
            let into = buffer.take().unwrap_or_default();
            match self
                .link
                .get_page_body(day, page, config.page_size, into)
                .await
            {
                Ok(fetched) => return Ok(fetched),
                Err(LinkError::Open { until }) => {
                    if open_waited >= open_limit {
                        return Err(failed(LinkError::Open { until }));
                    }
                    let ms = until.saturating_sub(self.link.now()).max(0).unsigned_abs();
                    let wait = Duration::from_millis(ms).max(MIN_OPEN_WAIT);
                    debug!(
                        page,
                        wait_ms = wait.as_millis() as u64,
                        "partner circuit breaker open; waiting for it to let probes through"
                    );
                    self.wait(wait).await?;
                    open_waited += wait;
                }
                Err(LinkError::Call(e)) if e.is_retryable() && failures < config.retries => {
                    let max = config.max_retry_delay.as_std();
                    let asked = capped_retry_after(self.link.id(), e.retry_after(), max);
                    let wait = backoff_delay(failures, config.retry_delay.as_std(), max, asked);
                    failures += 1;
                    warn!(partner = %self.link.id(), page, attempt = failures, error = %e,
                        retry_in_ms = wait.as_millis() as u64, "partner page failed; retrying");
                    self.wait(wait).await?;
                }
                Err(e) => return Err(failed(e)),
            }
        }
    }
}
