//! The alert outbox: which alert states still have to be published on
//! `vigil.alerts.<tenant_id>`. The writer records a change, the publisher publishes it, then
//! marks it published; after a crash in between, [`AlertOutbox::unpublished`] finds it again.

use vigil_engine::{AlertRecord, AlertState};

use super::alerts::{select_alerts, AlertRow};
use super::error::StoreError;
use super::pool::{on_backend, Backend, Store};

/// The alert outbox: alert states recorded but not yet published. A borrowed handle from
/// [`Store::alert_outbox`]; copy it freely.
#[derive(Debug, Clone, Copy)]
pub struct AlertOutbox<'a> {
    backend: &'a Backend,
}

impl Store {
    /// The alert outbox.
    pub fn alert_outbox(&self) -> AlertOutbox<'_> {
        AlertOutbox {
            backend: &self.backend,
        }
    }
}

impl AlertOutbox<'_> {
    /// Alerts whose current state has not been published yet, oldest change first; at most
    /// `limit`.
    pub async fn unpublished(self, limit: u32) -> Result<Vec<AlertRecord>, StoreError> {
        let sql = select_alerts!(
            "WHERE published_state IS NULL OR published_state <> state \
             ORDER BY updated_at, alert_id LIMIT $1"
        );
        let rows: Vec<AlertRow> = on_backend!(self, |pool| {
            sqlx::query_as(sql)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|r| r.into_stored().map(|s| s.record))
            .collect()
    }

    /// Marks that these states of these alerts were published, in one transaction.
    pub async fn mark_published(self, published: &[(&str, AlertState)]) -> Result<(), StoreError> {
        if published.is_empty() {
            return Ok(());
        }
        on_backend!(self, |pool| {
            let mut tx = pool.begin().await?;
            for (alert_id, state) in published {
                sqlx::query("UPDATE alerts SET published_state = $2 WHERE alert_id = $1")
                    .bind(*alert_id)
                    .bind(state.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
