//! A running reconciliation run's progress: the partner pages it has counted (each page's
//! counts and diffs saved with it, so a resumed run continues after its last page), and
//! finishing it.
//!
//! Invariants:
//! - A page is counted once: its row, its counts and its diffs are written in one transaction
//!   that does nothing at all when the page row exists already (a retried page) or the run has
//!   finished.
//! - Finishing is idempotent and drops the page rows, which only a running run needs.

use vigil_schema::Millis;

use super::error::{counted, StoreError};
use super::pool::on_backend;
use super::reconciliation_diffs::{keep_diffs, NewDiff};
use super::reconciliation_runs::{to_i64, to_u32, unknown_run, Reconciliations};

/// What one partner page adds to a run's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Records on the page.
    pub partner_records: u64,
    /// Of those, held alike by us.
    pub matched: u64,
    /// Of those, missing at ours.
    pub missing_at_ours: u64,
    /// Of those, different from ours.
    pub mismatched: u64,
}

impl Reconciliations<'_> {
    /// The pages a running run has counted, by page, with what the caller saved of each.
    pub async fn pages(self, run_id: &str) -> Result<Vec<(u32, String)>, StoreError> {
        let rows: Vec<(i64, String)> = on_backend!(self, |pool| {
            sqlx::query_as(
                "SELECT page, seen FROM reconciliation_pages WHERE run_id = $1 ORDER BY page",
            )
            .bind(run_id)
            .fetch_all(pool)
            .await
            .map_err(counted)?
        });
        rows.into_iter()
            .map(|(page, seen)| Ok((to_u32(page, "reconciliation_pages", "page")?, seen)))
            .collect()
    }

    /// Counts partner page `page` of a running run, in one transaction: saves `seen` (what
    /// the caller needs to resume), adds `delta` to the counts, sets `pages_done`, and keeps
    /// `diffs` while the run has fewer than `keep_diffs`. Does nothing at all when the page was
    /// saved already or the run has finished, so a retried page never counts twice.
    pub async fn save_page(
        self,
        run_id: &str,
        page: u32,
        seen: &str,
        delta: &RunCounts,
        diffs: &[NewDiff],
        keep_diffs: u32,
    ) -> Result<(), StoreError> {
        let delta = [
            to_i64(delta.partner_records, run_id)?,
            to_i64(delta.matched, run_id)?,
            to_i64(delta.missing_at_ours, run_id)?,
            to_i64(delta.mismatched, run_id)?,
        ];
        let missing = on_backend!(self, |pool| {
            let mut tx = pool.begin().await.map_err(counted)?;
            let new_page = sqlx::query(
                "INSERT INTO reconciliation_pages (run_id, page, seen) VALUES ($1, $2, $3) \
                 ON CONFLICT (run_id, page) DO NOTHING",
            )
            .bind(run_id)
            .bind(i64::from(page))
            .bind(seen)
            .execute(&mut *tx)
            .await
            .map_err(counted)?
            .rows_affected()
                == 1;
            if !new_page {
                return Ok(());
            }
            // Locks the run's row (PostgreSQL) until the diffs and their count are written.
            let kept: Option<i64> = sqlx::query_scalar(
                "UPDATE reconciliation_runs SET partner_records = partner_records + $2, \
                 matched = matched + $3, missing_at_ours = missing_at_ours + $4, \
                 mismatched = mismatched + $5, pages_done = $6 \
                 WHERE run_id = $1 AND state = 'running' RETURNING diffs_kept",
            )
            .bind(run_id)
            .bind(delta[0])
            .bind(delta[1])
            .bind(delta[2])
            .bind(delta[3])
            .bind(i64::from(page))
            .fetch_optional(&mut *tx)
            .await
            .map_err(counted)?;
            match kept {
                Some(kept) => {
                    keep_diffs!(tx, run_id, kept, diffs, keep_diffs);
                    tx.commit().await.map_err(counted)?;
                    false
                }
                // Finished already (the page row goes with the rollback), or unknown.
                None => {
                    tx.rollback().await.map_err(counted)?;
                    self.run(run_id).await?.is_none()
                }
            }
        });
        if missing {
            return Err(unknown_run(run_id));
        }
        Ok(())
    }

    /// Finishes a running run, in one transaction: the final counts, what is left of the diffs
    /// (within `keep_diffs`), `finished` at `now`, and its page rows dropped. Does nothing when
    /// it has finished already.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish(
        self,
        run_id: &str,
        our_records: u64,
        missing_at_partner: u64,
        diffs: &[NewDiff],
        keep_diffs: u32,
        repaired: u64,
        now: Millis,
    ) -> Result<(), StoreError> {
        let counts = [
            to_i64(our_records, run_id)?,
            to_i64(missing_at_partner, run_id)?,
            to_i64(repaired, run_id)?,
        ];
        let missing = on_backend!(self, |pool| {
            let mut tx = pool.begin().await.map_err(counted)?;
            let kept: Option<i64> = sqlx::query_scalar(
                "UPDATE reconciliation_runs SET our_records = $2, missing_at_partner = $3, \
                 repaired = $4, state = 'finished', finished_at = $5 \
                 WHERE run_id = $1 AND state = 'running' RETURNING diffs_kept",
            )
            .bind(run_id)
            .bind(counts[0])
            .bind(counts[1])
            .bind(counts[2])
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(counted)?;
            match kept {
                Some(kept) => {
                    keep_diffs!(tx, run_id, kept, diffs, keep_diffs);
                    sqlx::query("DELETE FROM reconciliation_pages WHERE run_id = $1")
                        .bind(run_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(counted)?;
                    tx.commit().await.map_err(counted)?;
                    false
                }
                None => {
                    tx.rollback().await.map_err(counted)?;
                    self.run(run_id).await?.is_none()
                }
            }
        });
        if missing {
            return Err(unknown_run(run_id));
        }
        Ok(())
    }
}
