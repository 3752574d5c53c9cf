//! The alert outbox: which alert states still have to be published on
//! `vigil.alerts.<tenant_id>`. The writer records a change, the publisher publishes it, then
//! marks it published; after a crash in between, [`AlertOutbox::unpublished`] finds it again.

use vigil_engine::{AlertRecord, AlertState};

use super::alerts::{select_alerts, AlertRow};
use super::error::StoreError;
use super::pool::{on_backend, Backend, Store};
use super::sql::ID_CHUNK;

/// A row of the outbox: the alert and the last state of it that was published.
#[derive(sqlx::FromRow)]
struct UnpublishedRow {
    #[sqlx(flatten)]
    alert: AlertRow,
    published_state: Option<String>,
}

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
    /// Alert changes still to be published, oldest change first, from at most `limit` alerts:
    /// each alert's current state, preceded by its `firing` change when none of its states was
    /// ever published (it was recorded firing, then moved on, all before a crash or a
    /// take-over): the firing is what pages, and it must not be skipped.
    pub async fn unpublished(self, limit: u32) -> Result<Vec<AlertRecord>, StoreError> {
        let sql = select_alerts!(
            ,
            ", published_state FROM alerts \
             WHERE published_state IS NULL OR published_state <> state \
             ORDER BY updated_at, alert_id LIMIT $1"
        );
        let rows: Vec<UnpublishedRow> = on_backend!(self, |pool| {
            sqlx::query_as(sql)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let never_published = row.published_state.is_none();
            let record = row.alert.into_stored()?.record;
            if never_published && record.state != AlertState::Firing {
                out.push(AlertRecord {
                    state: AlertState::Firing,
                    ..record.clone()
                });
            }
            out.push(record);
        }
        Ok(out)
    }

    /// Marks that these states of these alerts were published (one state per alert), in one
    /// statement per [`ID_CHUNK`] alerts, all in one transaction.
    pub async fn mark_published(self, published: &[(&str, AlertState)]) -> Result<(), StoreError> {
        if published.is_empty() {
            return Ok(());
        }
        let sql = match self.backend {
            Backend::Sqlite(_) => {
                "WITH c (id, st) AS MATERIALIZED (SELECT json_extract(value, '$[0]'), \
                 json_extract(value, '$[1]') FROM json_each($1)) \
                 UPDATE alerts SET published_state = c.st FROM c WHERE alerts.alert_id = c.id"
            }
            Backend::Postgres(_) => {
                "WITH c (id, st) AS MATERIALIZED (SELECT e ->> 0, e ->> 1 \
                 FROM json_array_elements($1::json) AS e) \
                 UPDATE alerts SET published_state = c.st FROM c WHERE alerts.alert_id = c.id"
            }
        };
        let chunks: Vec<String> = published
            .chunks(ID_CHUNK)
            .map(|chunk| {
                let rows: Vec<serde_json::Value> = chunk
                    .iter()
                    .map(|(id, state)| serde_json::json!([id, state.as_str()]))
                    .collect();
                serde_json::Value::Array(rows).to_string()
            })
            .collect();
        on_backend!(self, |pool| {
            let mut tx = pool.begin().await?;
            for rows in &chunks {
                sqlx::query(sql)
                    .bind(rows.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use vigil_engine::alert::{alert_id, dedupe_key};
    use vigil_engine::{Goal, Level};

    use super::super::test_support::{on_both_dialects, postgres, sqlite};
    use super::*;

    /// A breach of ticket `ticket` of tenant 7 in `state`.
    pub(in crate::store) fn record(ticket: &str, state: AlertState) -> AlertRecord {
        let key = dedupe_key(7, ticket, Goal::Response, Level::Breach, 1.0);
        AlertRecord {
            alert_id: alert_id(&key),
            state,
            tenant_id: 7,
            ticket_id: ticket.to_string(),
            goal: Goal::Response,
            level: Level::Breach,
            threshold: 1.0,
            target_ms: 1_800_000,
            elapsed_ms: 1_800_000,
            fired_at: 1_795_293_840_000,
            deadline: 1_795_293_840_000,
            priority: "CRITICAL".into(),
            service_type: "incident".into(),
            policy_version: 1,
        }
    }

    fn states(records: &[AlertRecord]) -> Vec<(&str, AlertState)> {
        records
            .iter()
            .map(|r| (r.ticket_id.as_str(), r.state))
            .collect()
    }

    /// An alert none of whose states was published owes its firing first; one whose firing
    /// went out owes only its current state.
    async fn a_never_published_alert_owes_its_firing_first(store: &Store) {
        let alerts = store.alerts();
        alerts
            .record_change(&record("A", AlertState::Firing))
            .await
            .unwrap();
        alerts
            .record_change(&record("A", AlertState::Resolved))
            .await
            .unwrap();
        let b = record("B", AlertState::Firing);
        alerts.record_change(&b).await.unwrap();
        let outbox = store.alert_outbox();
        outbox
            .mark_published(&[(b.alert_id.as_str(), AlertState::Firing)])
            .await
            .unwrap();
        alerts
            .record_change(&record("B", AlertState::Resolved))
            .await
            .unwrap();

        let owed = outbox.unpublished(10).await.unwrap();
        assert_eq!(
            states(&owed),
            [
                ("A", AlertState::Firing),
                ("A", AlertState::Resolved),
                ("B", AlertState::Resolved)
            ]
        );
        // The firing owed is the alert's record in that state.
        assert_eq!(owed[0], record("A", AlertState::Firing));

        let a = record("A", AlertState::Resolved);
        outbox
            .mark_published(&[(a.alert_id.as_str(), AlertState::Resolved)])
            .await
            .unwrap();
        let owed = outbox.unpublished(10).await.unwrap();
        assert_eq!(states(&owed), [("B", AlertState::Resolved)]);
    }

    on_both_dialects!(a_never_published_alert_owes_its_firing_first);
}
