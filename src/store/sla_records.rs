//! Our SLA records (DESIGN.md §7): the latest stop of each ticket goal, in `sla_records`, and
//! queuing them for the partners that must have them (the rows the
//! [`partner_outbox`](super::partner_outbox) then works through).
//!
//! Invariant: a record is replaced only by a stop at least as late whose JSON differs, so
//! replays and restarts change nothing and queue nothing. Every record taken is queued for its
//! partners in the same transaction.

use std::collections::HashMap;

use futures::TryStreamExt;
use vigil_engine::SlaRecord;
use vigil_schema::Millis;

use super::error::{counted, StoreError};
use super::pool::{on_backend, Backend, Store};
use super::sql::{ids_json, json_ids, ID_CHUNK};

/// Records per multi-row statement of [`SlaRecords::record_stops`] (4 bound values each).
const RECORD_CHUNK: usize = 1_000;
/// Records parsed per blocking task by [`SlaRecords::digest_stopped_between`].
const PARSE_BATCH: usize = 10_000;
/// Batches of [`SlaRecords::digest_stopped_between`] parsing at once.
const MAX_PARSING: usize = 2;

/// Our SLA records. A borrowed handle from [`Store::sla_records`]; copy it freely.
#[derive(Debug, Clone, Copy)]
pub struct SlaRecords<'a> {
    backend: &'a Backend,
}

impl Store {
    /// Our SLA records.
    pub fn sla_records(&self) -> SlaRecords<'_> {
        SlaRecords {
            backend: &self.backend,
        }
    }
}

impl SlaRecords<'_> {
    /// Records stopped goals, the latest stop winning, and queues each record taken for every
    /// partner in `partners_of(tenant_id)`; returns how many records were taken.
    ///
    /// A record is taken when its id is new, or when its `stopped_at` is at least the stored
    /// one and its JSON differs; older or identical records (replays) change nothing and queue
    /// nothing. Within `records` the latest stop of an id wins (the later one on a tie). A
    /// queued record becomes pending, due at `now`, with a new version and no attempts; it
    /// keeps its place in the queue when it was pending already. One transaction.
    pub async fn record_stops(
        self,
        records: &[SlaRecord],
        partners_of: &(dyn Fn(u64) -> Vec<String> + Sync),
        now: Millis,
    ) -> Result<usize, StoreError> {
        let rows = latest_per_id(records)?;
        if rows.is_empty() {
            return Ok(0);
        }
        let upsert_records =
            " ON CONFLICT (record_id) DO UPDATE SET tenant_id = excluded.tenant_id, \
             stopped_at = excluded.stopped_at, record = excluded.record \
             WHERE excluded.stopped_at >= sla_records.stopped_at \
             AND excluded.record <> sla_records.record RETURNING record_id";
        let queue = queue_sql(self.backend);
        let mut taken_by_id: Vec<String> = Vec::new();
        on_backend!(self, |pool| {
            let mut tx = pool.begin().await.map_err(counted)?;
            for chunk in rows.chunks(RECORD_CHUNK) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO sla_records (record_id, tenant_id, stopped_at, record) ",
                );
                qb.push_values(chunk, |mut b, row| {
                    b.push_bind(row.record_id)
                        .push_bind(row.tenant_id)
                        .push_bind(row.stopped_at)
                        .push_bind(row.json.as_str());
                });
                qb.push(upsert_records);
                let taken: Vec<String> = qb
                    .build_query_scalar()
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(counted)?;
                taken_by_id.extend(taken);
            }
            let by_partner = partner_ids(&rows, &taken_by_id, partners_of);
            for (partner, ids) in &by_partner {
                for chunk in ids.chunks(ID_CHUNK) {
                    sqlx::query(sqlx::AssertSqlSafe(queue))
                        .bind(partner.as_str())
                        .bind(now)
                        .bind(ids_json(chunk))
                        .execute(&mut *tx)
                        .await
                        .map_err(counted)?;
                }
            }
            tx.commit().await.map_err(counted)?;
        });
        Ok(taken_by_id.len())
    }

    /// Our records that stopped in `[from, to)`, by record id, for the store's tests; the
    /// product digests them as they stream ([`digest_stopped_between`](Self::digest_stopped_between)).
    #[cfg(test)]
    pub(crate) async fn stopped_between(
        self,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<SlaRecord>, StoreError> {
        let mut batches = Vec::new();
        self.digest_stopped_between(from, to, |batch| batch, |batch| batches.push(batch))
            .await?;
        let sorted = tokio::task::spawn_blocking(move || {
            let mut all: Vec<SlaRecord> = batches.into_iter().flatten().collect();
            all.sort_unstable_by(|a, b| a.record_id.cmp(&b.record_id));
            Ok(all)
        });
        joined(sorted.await)
    }

    /// How many of our records stopped in `[from, to)` (one index range counted).
    pub async fn count_stopped_between(self, from: Millis, to: Millis) -> Result<u64, StoreError> {
        let count: i64 = on_backend!(self, |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM sla_records WHERE stopped_at >= $1 AND stopped_at < $2",
            )
            .bind(from)
            .bind(to)
            .fetch_one(pool)
            .await
            .map_err(counted)?
        });
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Our records that stopped in `[from, to)`, each batch of them reduced by `digest` as the
    /// rows stream in: parsed and digested on blocking threads while the next rows arrive, so
    /// only the digests are held, never every record at once. Each digest goes to `take` as
    /// it is done, in no particular order of records.
    pub async fn digest_stopped_between<T, F>(
        self,
        from: Millis,
        to: Millis,
        digest: F,
        mut take: impl FnMut(T),
    ) -> Result<(), StoreError>
    where
        T: Send + 'static,
        F: Fn(Vec<SlaRecord>) -> T + Send + Sync + 'static,
    {
        let digest = std::sync::Arc::new(digest);
        let mut parsing = std::collections::VecDeque::new();
        on_backend!(self, |pool| {
            let mut rows = sqlx::query_scalar::<_, String>(
                "SELECT record FROM sla_records WHERE stopped_at >= $1 AND stopped_at < $2",
            )
            .bind(from)
            .bind(to)
            .fetch(pool);
            let mut batch = Vec::with_capacity(PARSE_BATCH);
            loop {
                let json = rows.try_next().await.map_err(counted)?;
                let end = json.is_none();
                batch.extend(json);
                if batch.len() == PARSE_BATCH || (end && !batch.is_empty()) {
                    let texts = std::mem::replace(&mut batch, Vec::with_capacity(PARSE_BATCH));
                    let digest = digest.clone();
                    parsing.push_back(tokio::task::spawn_blocking(move || {
                        parse_records(&texts).map(|records| digest(records))
                    }));
                    // Bounds the texts held while parsing falls behind.
                    if parsing.len() > MAX_PARSING {
                        if let Some(oldest) = parsing.pop_front() {
                            take(joined(oldest.await)?);
                        }
                    }
                }
                if end {
                    break;
                }
            }
        });
        for batch in parsing {
            take(joined(batch.await)?);
        }
        Ok(())
    }

    /// Our records with these ids, by record id; unknown ids are skipped.
    pub async fn by_id(self, ids: &[String]) -> Result<Vec<SlaRecord>, StoreError> {
        let sql = format!(
            "SELECT record FROM sla_records WHERE record_id IN ({})",
            json_ids(self.backend, "$1")
        );
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ID_CHUNK) {
            let rows: Vec<String> = on_backend!(self, |pool| {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(ids_json(chunk))
                    .fetch_all(pool)
                    .await
                    .map_err(counted)?
            });
            for json in rows {
                out.push(parse_record(&json)?);
            }
        }
        out.sort_unstable_by(|a, b| a.record_id.cmp(&b.record_id));
        out.dedup_by(|a, b| a.record_id == b.record_id);
        Ok(out)
    }
}

/// Queues the records among the JSON array of ids `$3` for partner `$1` at `$2` (see
/// [`PartnerOutbox::requeue`](super::PartnerOutbox::requeue)). The assignments all read the
/// row as it was, so `queued_at` is kept exactly when the row was pending before.
pub(super) fn queue_sql(backend: &Backend) -> &'static str {
    macro_rules! queue {
        ($ids:literal) => {
            concat!(
                "INSERT INTO partner_outbox (partner_id, record_id, version, state, \
                 queued_at, due_at, attempts, updated_at) \
                 SELECT $1, r.record_id, 1, 'pending', $2, $2, 0, $2 FROM sla_records r \
                 WHERE r.record_id IN (",
                $ids,
                ") ORDER BY r.record_id \
                 ON CONFLICT (partner_id, record_id) DO UPDATE SET \
                 version = partner_outbox.version + 1, state = 'pending', \
                 queued_at = CASE WHEN partner_outbox.state = 'pending' \
                 THEN partner_outbox.queued_at ELSE excluded.queued_at END, \
                 due_at = excluded.due_at, attempts = 0, last_error = NULL, \
                 updated_at = excluded.updated_at"
            )
        };
    }
    match backend {
        Backend::Sqlite(_) => queue!("SELECT value FROM json_each($3)"),
        Backend::Postgres(_) => queue!("SELECT json_array_elements_text($3::json)"),
    }
}

/// A record ready to be written: its bound values.
struct RecordRow<'a> {
    record_id: &'a str,
    tenant: u64,
    tenant_id: i64,
    stopped_at: Millis,
    json: String,
}

/// The latest stop of each id among `records` (the later one on a tie), by record id, so
/// that one multi-row upsert never touches a row twice and concurrent writers lock rows in
/// the same order.
fn latest_per_id(records: &[SlaRecord]) -> Result<Vec<RecordRow<'_>>, StoreError> {
    let mut latest: HashMap<&str, &SlaRecord> = HashMap::with_capacity(records.len());
    for r in records {
        latest
            .entry(r.record_id.as_str())
            .and_modify(|kept| {
                if r.stopped_at >= kept.stopped_at {
                    *kept = r;
                }
            })
            .or_insert(r);
    }
    let mut rows = Vec::with_capacity(latest.len());
    for r in latest.into_values() {
        let tenant_id = i64::try_from(r.tenant_id).map_err(|_| StoreError::InvalidRecord {
            record: format!("SLA record {}", r.record_id),
            reason: "tenant id above 2^63-1",
        })?;
        let json = serde_json::to_string(r).map_err(|_| StoreError::InvalidRecord {
            record: format!("SLA record {}", r.record_id),
            reason: "cannot be written as JSON",
        })?;
        rows.push(RecordRow {
            record_id: &r.record_id,
            tenant: r.tenant_id,
            tenant_id,
            stopped_at: r.stopped_at,
            json,
        });
    }
    rows.sort_unstable_by(|a, b| a.record_id.cmp(b.record_id));
    Ok(rows)
}

/// The taken ids grouped by the partners of their tenants, each tenant asked once.
fn partner_ids(
    rows: &[RecordRow<'_>],
    taken: &[String],
    partners_of: &(dyn Fn(u64) -> Vec<String> + Sync),
) -> Vec<(String, Vec<String>)> {
    let tenant_of: HashMap<&str, u64> = rows.iter().map(|r| (r.record_id, r.tenant)).collect();
    let mut partners: HashMap<u64, Vec<String>> = HashMap::new();
    let mut by_partner: HashMap<String, Vec<String>> = HashMap::new();
    for id in taken {
        let Some(&tenant) = tenant_of.get(id.as_str()) else {
            continue;
        };
        let of_tenant = partners.entry(tenant).or_insert_with(|| {
            let mut p = partners_of(tenant);
            p.sort_unstable();
            p.dedup();
            p
        });
        for p in of_tenant.iter() {
            by_partner.entry(p.clone()).or_default().push(id.clone());
        }
    }
    let mut by_partner: Vec<(String, Vec<String>)> = by_partner.into_iter().collect();
    by_partner.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    by_partner
}

/// A stored record's JSON read back.
pub(super) fn parse_record(json: &str) -> Result<SlaRecord, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::CorruptRow {
        table: "sla_records",
        message: format!("record does not parse: {e}"),
    })
}

/// Stored records' JSON read back.
fn parse_records(texts: &[String]) -> Result<Vec<SlaRecord>, StoreError> {
    texts.iter().map(|json| parse_record(json)).collect()
}

/// The result of a blocking task; one that panicked is reported as a corrupt row (parsing is
/// all it does).
fn joined<T>(
    result: Result<Result<T, StoreError>, tokio::task::JoinError>,
) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::CorruptRow {
        table: "sla_records",
        message: format!("parsing records failed: {e}"),
    })?
}
