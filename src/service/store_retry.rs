//! Writes the engine's output must not lose: retried while the store is unavailable (with
//! back-off, which is also the back-pressure on the engine), given up only when retrying
//! cannot help.

use std::future::Future;
use std::time::Duration;

use tracing::warn;
use vigil::store::StoreError;

/// First wait between store retries.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait between store retries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Runs `write` until it succeeds or fails for a reason retrying cannot fix (`None`, logged).
/// `what` names the records in logs ("alert changes"), `records` how many there are.
pub async fn until_stored<T, F, Fut>(what: &str, records: usize, mut write: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut backoff = FIRST_BACKOFF;
    loop {
        match write().await {
            Ok(done) => return Some(done),
            Err(e) if e.is_retryable() => {
                warn!(error = %e, records, "store unavailable; {what} wait");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(e) => {
                warn!(error = %e, records, "{what} could not be recorded");
                return None;
            }
        }
    }
}
