//! The partner outbox (DESIGN.md §7): one row per (partner, record) saying whether that partner
//! has our record, claimed by the partner workers and watched by operators.
//!
//! Invariants:
//! - Every time a record must be (re)sent its outbox row's `version` goes up. A worker reports
//!   the version it claimed, and an outcome for an older version never marks a newer one
//!   delivered, retried or parked: the row stays pending and only loses its claim.
//! - A pending row keeps its place (`queued_at`) when its record changes again; claims take rows
//!   in (`queued_at`, `record_id`) order, so a partner receives records in the order they were
//!   queued and drains its backlog in that order after an outage.
//! - A claimed row is taken by nobody else until its lease (`claimed_until`) passes, even when
//!   its record changes meanwhile: two versions of a record are never in flight at once.

use serde::Serialize;
use vigil_engine::SlaRecord;
use vigil_schema::Millis;

use super::error::{counted, StoreError};
use super::pool::{on_backend, Backend, Store};
use super::rfc3339;
use super::sla_records::{parse_record, queue_sql};
use super::sql::{ids_json, json_ids, ID_CHUNK};

/// Most rows one [`PartnerOutbox::list`] returns.
pub const MAX_LISTED_PARTNER_RECORDS: u32 = 1_000;

/// `SELECT <entry columns> FROM partner_outbox o JOIN sla_records r … `, as one literal.
macro_rules! select_entries {
    () => {
        "SELECT o.record_id, r.tenant_id, o.state, o.version, o.attempts, o.queued_at, \
         o.due_at, o.last_status, o.last_error, o.delivered_at, o.updated_at \
         FROM partner_outbox o JOIN sla_records r ON r.record_id = o.record_id "
    };
}

/// The update of an operator's retry (`$1` partner, `$2` now), before its `WHERE`.
macro_rules! retry_set {
    () => {
        "UPDATE partner_outbox SET state = 'pending', due_at = $2, attempts = 0, \
         queued_at = CASE WHEN state = 'pending' THEN queued_at ELSE $2 END, updated_at = $2 "
    };
}

/// A record taken for delivery by [`PartnerOutbox::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedRecord {
    /// The record as it is now.
    pub record: SlaRecord,
    /// The outbox version claimed; hand it back to [`PartnerOutbox::finish`].
    pub version: i64,
    /// Attempts made for this version so far (for the backoff).
    pub attempts: u32,
    /// When it entered the queue.
    pub queued_at: Millis,
}

/// What became of a claimed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The partner accepted it.
    Delivered {
        /// The HTTP status it answered.
        status: u16,
    },
    /// The attempt failed in a way a later attempt may not: try again at `due_at`.
    Retry {
        /// When the next attempt may go.
        due_at: Millis,
        /// The HTTP status, when the partner answered.
        status: Option<u16>,
        /// What went wrong.
        error: String,
    },
    /// Given up on until an operator retries it (the partner refuses it, or retries ran out).
    Parked {
        /// The HTTP status, when the partner answered.
        status: Option<u16>,
        /// What went wrong.
        error: String,
    },
    /// Not attempted (e.g. the breaker opened first): the claim is given back untouched.
    Released,
    /// Not attempted, on purpose (a feature flag switched the exchange off): due again at
    /// `due_at`, with `reason` as its last error; no attempt is counted.
    Held {
        /// When it is looked at again.
        due_at: Millis,
        /// Why it waits.
        reason: String,
    },
}

/// A partner's outbox at a glance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartnerOutboxStats {
    /// Records waiting to be sent (due or not).
    pub pending: u64,
    /// Records given up on until an operator retries them.
    pub parked: u64,
    /// Records the partner has.
    pub delivered: u64,
    /// When the oldest pending record entered the queue.
    pub oldest_pending_queued_at: Option<Millis>,
    /// The earliest instant a pending record may be attempted.
    pub next_due_at: Option<Millis>,
}

/// One row of a partner's outbox, as operators see it: the API sends it as it is, instants as
/// RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PartnerOutboxEntry {
    /// The record (`<tenant_id>:<ticket_id>:<goal>`).
    pub record_id: String,
    /// Its tenant.
    pub tenant_id: u64,
    /// `pending`, `delivered` or `parked`.
    pub state: String,
    /// How many times the record was queued for this partner (1 first).
    pub version: i64,
    /// Attempts made for the current version.
    pub attempts: u32,
    /// When it entered the queue.
    #[serde(serialize_with = "rfc3339::instant")]
    #[schema(value_type = String)]
    pub queued_at: Millis,
    /// When the next attempt may go.
    #[serde(serialize_with = "rfc3339::instant")]
    #[schema(value_type = String)]
    pub due_at: Millis,
    /// The HTTP status of the last attempt, when the partner answered.
    pub last_status: Option<u16>,
    /// What went wrong the last time.
    pub last_error: Option<String>,
    /// When the partner accepted the current version.
    #[serde(serialize_with = "rfc3339::optional")]
    #[schema(value_type = Option<String>)]
    pub delivered_at: Option<Millis>,
    /// The row's last change.
    #[serde(serialize_with = "rfc3339::instant")]
    #[schema(value_type = String)]
    pub updated_at: Millis,
}

/// The partner outbox. A borrowed handle from [`Store::partner_outbox`]; copy it freely.
#[derive(Debug, Clone, Copy)]
pub struct PartnerOutbox<'a> {
    backend: &'a Backend,
}

impl Store {
    /// The partner outbox.
    pub fn partner_outbox(&self) -> PartnerOutbox<'_> {
        PartnerOutbox {
            backend: &self.backend,
        }
    }
}

impl PartnerOutbox<'_> {
    /// Queues our records `ids` for `partner` again (reconciliation found them missing or
    /// different there): pending, due at `now`, a new version, no attempts; a row that was
    /// pending keeps its place in the queue. Ids we have no record of are skipped. Returns how
    /// many rows were queued. One transaction.
    pub async fn requeue(
        self,
        partner: &str,
        ids: &[String],
        now: Millis,
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let queue = queue_sql(self.backend);
        let mut queued = 0;
        on_backend!(self, |pool| {
            let mut tx = pool.begin().await.map_err(counted)?;
            for chunk in ids.chunks(ID_CHUNK) {
                queued += sqlx::query(sqlx::AssertSqlSafe(queue))
                    .bind(partner)
                    .bind(now)
                    .bind(ids_json(chunk))
                    .execute(&mut *tx)
                    .await
                    .map_err(counted)?
                    .rows_affected();
            }
            tx.commit().await.map_err(counted)?;
        });
        Ok(queued)
    }

    /// Takes up to `limit` of `partner`'s pending records that are due at `now` and not
    /// claimed, in queue order, and claims them until `now + lease_ms`: nobody else takes them
    /// before that passes (instances sharing PostgreSQL take disjoint rows).
    pub async fn claim(
        self,
        partner: &str,
        now: Millis,
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<ClaimedRecord>, StoreError> {
        // `+o.due_at`: walk the claim index in queue order; SQLite would rather range-scan
        // the due index and sort every due row.
        const SELECT: &str = "SELECT o.record_id, o.version, o.attempts, o.queued_at, r.record \
             FROM partner_outbox o JOIN sla_records r ON r.record_id = o.record_id \
             WHERE o.partner_id = $1 AND o.state = 'pending' AND +o.due_at <= $2 \
             AND (o.claimed_until IS NULL OR o.claimed_until <= $2) \
             ORDER BY o.queued_at, o.record_id LIMIT $3";
        // SQLite: take the write lock up front; a read that later upgrades to a write fails
        // with "database is locked" when another writer got in between.
        let (begin, select) = match &self.backend {
            Backend::Sqlite(_) => ("BEGIN IMMEDIATE", SELECT.to_string()),
            Backend::Postgres(_) => ("BEGIN", format!("{SELECT} FOR UPDATE OF o SKIP LOCKED")),
        };
        let take = format!(
            "UPDATE partner_outbox SET claimed_until = $2 WHERE partner_id = $1 \
             AND record_id IN ({})",
            json_ids(self.backend, "$3")
        );
        let rows: Vec<ClaimRow> = on_backend!(self, |pool| {
            let mut tx = pool.begin_with(begin).await.map_err(counted)?;
            let rows: Vec<ClaimRow> = sqlx::query_as(sqlx::AssertSqlSafe(select.clone()))
                .bind(partner)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await
                .map_err(counted)?;
            if !rows.is_empty() {
                let ids: Vec<String> = rows.iter().map(|r| r.record_id.clone()).collect();
                sqlx::query(sqlx::AssertSqlSafe(take.clone()))
                    .bind(partner)
                    .bind(now.saturating_add(lease_ms))
                    .bind(ids_json(&ids))
                    .execute(&mut *tx)
                    .await
                    .map_err(counted)?;
            }
            tx.commit().await.map_err(counted)?;
            rows
        });
        rows.into_iter()
            .map(|r| {
                Ok(ClaimedRecord {
                    record: parse_record(&r.record)?,
                    version: r.version,
                    attempts: to_u32(r.attempts, "attempts")?,
                    queued_at: r.queued_at,
                })
            })
            .collect()
    }

    /// Records what became of records taken by [`PartnerOutbox::claim`], each with the
    /// version claimed. An outcome applies only while the row still has that version and is
    /// pending; otherwise (the record changed meanwhile) the row stays as it is and only loses
    /// its claim, so the new version goes out next. Delivered, retried and parked rows count
    /// an attempt. One statement per kind of outcome, one transaction.
    pub async fn finish(
        self,
        partner: &str,
        outcomes: &[(String, i64, DeliveryOutcome)],
        now: Millis,
    ) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        // In record id order, as the other writers of these rows go: concurrent transactions
        // on PostgreSQL then wait for each other rather than deadlock.
        let mut sorted: Vec<&(String, i64, DeliveryOutcome)> = outcomes.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut delivered = Vec::new();
        let mut retried = Vec::new();
        let mut parked = Vec::new();
        let mut held = Vec::new();
        for (id, version, outcome) in sorted.iter().copied() {
            match outcome {
                DeliveryOutcome::Delivered { status } => {
                    delivered.push(batch_row(id, *version, None, Some(*status), None));
                }
                DeliveryOutcome::Retry {
                    due_at,
                    status,
                    error,
                } => retried.push(batch_row(id, *version, Some(*due_at), *status, Some(error))),
                DeliveryOutcome::Parked { status, error } => {
                    parked.push(batch_row(id, *version, None, *status, Some(error)));
                }
                DeliveryOutcome::Held { due_at, reason } => {
                    held.push(batch_row(id, *version, Some(*due_at), None, Some(reason)));
                }
                DeliveryOutcome::Released => {}
            }
        }
        let statements = [
            (
                delivered,
                "state = 'delivered', delivered_at = $3, last_status = c.status, \
                 last_error = NULL, attempts = attempts + 1",
            ),
            (
                retried,
                "due_at = c.due, last_status = c.status, last_error = c.err, \
                 attempts = attempts + 1",
            ),
            (
                parked,
                "state = 'parked', last_status = c.status, last_error = c.err, \
                 attempts = attempts + 1",
            ),
            (held, "due_at = c.due, last_error = c.err"),
        ];
        let statements: Vec<(String, String)> = statements
            .into_iter()
            .filter(|(rows, _)| !rows.is_empty())
            .map(|(rows, set)| {
                let sql = format!(
                    "{} UPDATE partner_outbox SET {set}, \
                     claimed_until = NULL, updated_at = $3 FROM c \
                     WHERE partner_outbox.partner_id = $1 AND partner_outbox.record_id = c.rid \
                     AND partner_outbox.version = c.ver AND {}",
                    self.outcome_batch(),
                    self.pending("partner_outbox.state"),
                );
                (sql, serde_json::Value::Array(rows).to_string())
            })
            .collect();
        // Whatever is still claimed among them (released, or its version moved on) is given
        // back; rows an outcome applied to are no longer claimed.
        let release = format!(
            "UPDATE partner_outbox SET claimed_until = NULL WHERE partner_id = $1 \
             AND record_id IN ({}) AND claimed_until IS NOT NULL",
            json_ids(self.backend, "$2")
        );
        let ids: Vec<String> = sorted.iter().map(|(id, _, _)| id.clone()).collect();
        on_backend!(self, |pool| {
            let mut tx = pool.begin().await.map_err(counted)?;
            for (sql, rows) in &statements {
                sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(partner)
                    .bind(rows.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(counted)?;
            }
            for chunk in ids.chunks(ID_CHUNK) {
                sqlx::query(sqlx::AssertSqlSafe(release.clone()))
                    .bind(partner)
                    .bind(ids_json(chunk))
                    .execute(&mut *tx)
                    .await
                    .map_err(counted)?;
            }
            tx.commit().await.map_err(counted)?;
        });
        Ok(())
    }

    /// Counts of `partner`'s outbox by state, the oldest pending record's queue instant and
    /// the next due attempt.
    pub async fn stats(self, partner: &str) -> Result<PartnerOutboxStats, StoreError> {
        type Counts = Vec<(String, i64)>;
        type Minimums = (Option<Millis>, Option<Millis>);
        // Separate subqueries: each minimum is then one step down its own index.
        let (counts, (oldest, next_due)): (Counts, Minimums) = on_backend!(self, |pool| {
            let counts = sqlx::query_as(
                "SELECT state, COUNT(*) FROM partner_outbox WHERE partner_id = $1 \
                     GROUP BY state",
            )
            .bind(partner)
            .fetch_all(pool)
            .await
            .map_err(counted)?;
            let mins = sqlx::query_as(
                "SELECT (SELECT MIN(queued_at) FROM partner_outbox WHERE partner_id = $1 \
                     AND state = 'pending'), (SELECT MIN(due_at) FROM partner_outbox \
                     WHERE partner_id = $1 AND state = 'pending')",
            )
            .bind(partner)
            .fetch_one(pool)
            .await
            .map_err(counted)?;
            (counts, mins)
        });
        let mut stats = PartnerOutboxStats {
            oldest_pending_queued_at: oldest,
            next_due_at: next_due,
            ..PartnerOutboxStats::default()
        };
        for (state, n) in counts {
            let n = u64::try_from(n).unwrap_or(0);
            match state.as_str() {
                "pending" => stats.pending = n,
                "parked" => stats.parked = n,
                "delivered" => stats.delivered = n,
                other => {
                    return Err(StoreError::CorruptRow {
                        table: "partner_outbox",
                        message: format!("unknown state {other:?}"),
                    })
                }
            }
        }
        Ok(stats)
    }

    /// `partner`'s outbox rows (in `state`, or all), by record id after the cursor `after`; at
    /// most `limit` (capped at [`MAX_LISTED_PARTNER_RECORDS`]). An unknown state lists nothing.
    pub async fn list(
        self,
        partner: &str,
        state: Option<&str>,
        limit: u32,
        after: Option<&str>,
    ) -> Result<Vec<PartnerOutboxEntry>, StoreError> {
        let limit = i64::from(limit.min(MAX_LISTED_PARTNER_RECORDS));
        let rows: Vec<EntryRow> = on_backend!(self, |pool| {
            sqlx::query_as(concat!(
                select_entries!(),
                "WHERE o.partner_id = $1 AND ($2 IS NULL OR o.state = $2) AND o.record_id > $3 \
                 ORDER BY o.record_id LIMIT $4"
            ))
            .bind(partner)
            .bind(state)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(counted)?
        });
        rows.into_iter().map(EntryRow::into_entry).collect()
    }

    /// One row of `partner`'s outbox.
    pub async fn get(
        self,
        partner: &str,
        record_id: &str,
    ) -> Result<Option<PartnerOutboxEntry>, StoreError> {
        let row: Option<EntryRow> = on_backend!(self, |pool| {
            sqlx::query_as(concat!(
                select_entries!(),
                "WHERE o.partner_id = $1 AND o.record_id = $2"
            ))
            .bind(partner)
            .bind(record_id)
            .fetch_optional(pool)
            .await
            .map_err(counted)?
        });
        row.map(EntryRow::into_entry).transpose()
    }

    /// Sends a parked (or pending) record to `partner` again: pending, due at `now`, no
    /// attempts, same version; `last_error` and `last_status` stay, so the row still says what
    /// went wrong before. A parked row re-enters the queue at its end. False when there is no
    /// such row, or it is delivered (use [`PartnerOutbox::requeue`] to send it again).
    pub async fn retry(
        self,
        partner: &str,
        record_id: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let changed = on_backend!(self, |pool| {
            sqlx::query(concat!(
                retry_set!(),
                "WHERE partner_id = $1 AND record_id = $3 AND state IN ('pending', 'parked')"
            ))
            .bind(partner)
            .bind(now)
            .bind(record_id)
            .execute(pool)
            .await
            .map_err(counted)?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Sends every parked record of `partner` again, as [`PartnerOutbox::retry`] does;
    /// returns how many.
    pub async fn retry_parked(self, partner: &str, now: Millis) -> Result<u64, StoreError> {
        let changed = on_backend!(self, |pool| {
            sqlx::query(concat!(
                retry_set!(),
                "WHERE partner_id = $1 AND state = 'parked'"
            ))
            .bind(partner)
            .bind(now)
            .execute(pool)
            .await
            .map_err(counted)?
            .rows_affected()
        });
        Ok(changed)
    }

    /// `WITH c (rid, ver, due, status, err)`: the rows of the JSON array of
    /// `[record_id, version, due_at, status, error]` bound as `$2`. Materialized so that
    /// SQLite loops over the batch and looks each row up by key, rather than the reverse.
    fn outcome_batch(self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => {
                "WITH c (rid, ver, due, status, err) AS MATERIALIZED (SELECT \
                 json_extract(value, '$[0]'), json_extract(value, '$[1]'), \
                 json_extract(value, '$[2]'), json_extract(value, '$[3]'), \
                 json_extract(value, '$[4]') FROM json_each($2))"
            }
            Backend::Postgres(_) => {
                "WITH c (rid, ver, due, status, err) AS MATERIALIZED (SELECT e ->> 0, \
                 (e ->> 1)::bigint, (e ->> 2)::bigint, (e ->> 3)::bigint, e ->> 4 \
                 FROM json_array_elements($2::json) AS e)"
            }
        }
    }

    /// The condition "`column` is pending", written so that SQLite still looks rows up by key
    /// (without statistics it would rather walk every pending row through a state index).
    fn pending(self, column: &str) -> String {
        match &self.backend {
            Backend::Sqlite(_) => format!("+{column} = 'pending'"),
            Backend::Postgres(_) => format!("{column} = 'pending'"),
        }
    }
}

/// One element of the JSON array [`PartnerOutbox::outcome_batch`] reads.
fn batch_row(
    id: &str,
    version: i64,
    due_at: Option<Millis>,
    status: Option<u16>,
    error: Option<&str>,
) -> serde_json::Value {
    serde_json::json!([id, version, due_at, status, error])
}

/// A non-negative count of `partner_outbox` as a `u32`.
fn to_u32(v: i64, column: &'static str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::CorruptRow {
        table: "partner_outbox",
        message: format!("{column} out of range: {v}"),
    })
}

/// A row of [`PartnerOutbox::claim`]'s query.
#[derive(sqlx::FromRow)]
struct ClaimRow {
    record_id: String,
    version: i64,
    attempts: i64,
    queued_at: i64,
    record: String,
}

/// A row of [`select_entries`].
#[derive(sqlx::FromRow)]
struct EntryRow {
    record_id: String,
    tenant_id: i64,
    state: String,
    version: i64,
    attempts: i64,
    queued_at: i64,
    due_at: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    delivered_at: Option<i64>,
    updated_at: i64,
}

impl EntryRow {
    fn into_entry(self) -> Result<PartnerOutboxEntry, StoreError> {
        let corrupt = |what: &str| StoreError::CorruptRow {
            table: "partner_outbox",
            message: format!("record {}: {what} out of range", self.record_id),
        };
        let tenant_id = u64::try_from(self.tenant_id).map_err(|_| corrupt("tenant_id"))?;
        let attempts = u32::try_from(self.attempts).map_err(|_| corrupt("attempts"))?;
        let last_status = self
            .last_status
            .map(u16::try_from)
            .transpose()
            .map_err(|_| corrupt("last_status"))?;
        Ok(PartnerOutboxEntry {
            record_id: self.record_id,
            tenant_id,
            state: self.state,
            version: self.version,
            attempts,
            queued_at: self.queued_at,
            due_at: self.due_at,
            last_status,
            last_error: self.last_error,
            delivered_at: self.delivered_at,
            updated_at: self.updated_at,
        })
    }
}
