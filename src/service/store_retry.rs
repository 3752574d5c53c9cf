//! Writes the engine's output must not lose: retried while the store is unavailable (with
//! back-off, which is also the back-pressure on the engine), given up only when retrying
//! cannot help.

use std::future::Future;
use std::time::Duration;

use tracing::warn;
use vigil::retry::Backoff;
use vigil::store::StoreError;

/// First wait between store retries (before jitter).
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait between store retries (before jitter).
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What [`until_stored_isolating`] stored and what the store refused.
#[derive(Debug)]
pub struct Stored<T> {
    /// Each stored write: the range of rows it covered and what it answered.
    pub written: Vec<(std::ops::Range<usize>, T)>,
    /// Rows the store refused for good, by index, with its reason.
    pub refused: Vec<(usize, StoreError)>,
    /// The batch was refused because its partition was taken over ([`StoreError::Fenced`]):
    /// nothing was written, and nothing is refused for good (the new owner writes it).
    pub fenced: Option<vigil::store::Fence>,
}

/// Writes a batch of rows, retried with back-off while the store is unavailable (which is
/// also the back-pressure on the engine). A batch the store refuses for good is
/// written again one row at a time, so a row it cannot take costs only itself: its neighbours
/// (often other tenants') are stored, and it comes back in [`Stored::refused`] for the caller
/// to dead-letter. A batch refused as fenced is neither retried nor isolated
/// ([`Stored::fenced`]).
///
/// `write` is given the range of the rows to write.
pub async fn until_stored_isolating<T, F, Fut>(what: &str, rows: usize, mut write: F) -> Stored<T>
where
    F: FnMut(std::ops::Range<usize>) -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut stored = Stored {
        written: Vec::new(),
        refused: Vec::new(),
        fenced: None,
    };
    match retry_while_unavailable(what, rows, || write(0..rows)).await {
        Ok(done) => {
            stored.written.push((0..rows, done));
            return stored;
        }
        Err(e) if e.fenced().is_some() => {
            stored.fenced = e.fenced();
            return stored;
        }
        Err(e) if rows == 1 => {
            stored.refused.push((0, e));
            return stored;
        }
        Err(e) => {
            warn!(error = %e, records = rows, "the store refused a batch of {what}; writing its rows one by one")
        }
    }
    for i in 0..rows {
        match retry_while_unavailable(what, 1, || write(i..i + 1)).await {
            Ok(done) => stored.written.push((i..i + 1, done)),
            Err(e) if e.fenced().is_some() => {
                stored.fenced = e.fenced();
                break;
            }
            Err(e) => stored.refused.push((i, e)),
        }
    }
    stored
}

/// Runs `write` until it succeeds or fails for a reason retrying cannot fix (returned).
async fn retry_while_unavailable<T, F, Fut>(
    what: &str,
    records: usize,
    mut write: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
    loop {
        match write().await {
            Err(e) if e.is_retryable() => {
                warn!(error = %e, records, "store unavailable; {what} wait");
                tokio::time::sleep(backoff.next_delay()).await;
            }
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> StoreError {
        StoreError::Rejected(sqlx::Error::Protocol("value out of range".into()))
    }

    #[tokio::test]
    async fn a_refused_row_costs_only_itself() {
        let rows = [1u64, 2, u64::MAX, 4];
        let mut calls = 0;
        let stored = until_stored_isolating("rows", rows.len(), |range| {
            calls += 1;
            let batch = &rows[range];
            let result = if batch.contains(&u64::MAX) {
                Err(refused())
            } else {
                Ok(batch.to_vec())
            };
            async move { result }
        })
        .await;
        // One try of the whole batch, then one per row.
        assert_eq!(calls, 1 + rows.len());
        let written: Vec<u64> = stored.written.iter().flat_map(|(_, w)| w.clone()).collect();
        assert_eq!(written, [1, 2, 4]);
        assert_eq!(stored.written[2].0, 3..4);
        assert_eq!(stored.refused.len(), 1);
        assert_eq!(stored.refused[0].0, 2);
    }

    #[tokio::test]
    async fn a_batch_the_store_takes_is_written_once() {
        let rows = [1u64, 2, 3];
        let mut calls = 0;
        let stored = until_stored_isolating("rows", rows.len(), |range| {
            calls += 1;
            let n = rows[range].len();
            async move { Ok::<_, StoreError>(n) }
        })
        .await;
        assert_eq!(calls, 1);
        assert_eq!(stored.written.len(), 1);
        assert_eq!(stored.written[0], (0..3, 3));
        assert!(stored.refused.is_empty());
    }

    /// The case that cost a whole batch before: a tenant id the store cannot hold, between
    /// two records of other tenants, against a real SQLite store.
    #[tokio::test]
    async fn a_record_the_store_cannot_hold_does_not_cost_its_neighbours() {
        use vigil_engine::{Goal, SlaRecord};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/vigil.db", dir.path().display());
        let store = vigil::store::Store::connect(&url).await.unwrap();
        let record = |tenant_id: u64| SlaRecord {
            record_id: SlaRecord::id_of(tenant_id, "T-1", Goal::Response),
            tenant_id,
            ticket_id: "T-1".into(),
            goal: Goal::Response,
            priority: "HIGH".into(),
            service_type: "default".into(),
            target_ms: 60_000,
            actual_ms: 30_000,
            outcome: "met".into(),
            policy_version: 1,
            started_at: 1_800_000_000_000,
            stopped_at: 1_800_000_030_000,
            assignee_id: None,
        };
        let batch = [record(7), record(u64::MAX), record(8)];
        let partners_of = |_: u64| vec!["exchange-a".to_string()];
        let stored = until_stored_isolating("SLA records", batch.len(), |rows| {
            store
                .sla_records()
                .record_stops(&batch[rows], &partners_of, 1_800_000_031_000)
        })
        .await;
        let refused: Vec<usize> = stored.refused.iter().map(|(i, _)| *i).collect();
        assert_eq!(refused, [1]);
        let taken: usize = stored.written.iter().map(|(_, n)| n).sum();
        assert_eq!(taken, 2);
        // Both neighbours are queued for the partner.
        let outbox = store.partner_outbox().stats("exchange-a").await.unwrap();
        assert_eq!(outbox.pending, 2);
    }
}
