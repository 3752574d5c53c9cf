//! The configuration center's store: every change of a runtime configuration key as one row of
//! an append-only, versioned audit trail. The value in force for a key is its latest row (unless
//! that row is a delete); older rows are its history and the audit log.
//!
//! Invariants:
//! - Rows are only ever inserted: the database's own triggers refuse updates and deletes (and
//!   truncation on PostgreSQL), so the trail cannot be rewritten through the store.
//! - Each key's versions are 1, 2, 3 … without gaps; a change is written only when the key is
//!   still at the version its writer read (optimistic concurrency), and a batch of changes is
//!   written all or nothing.
//! - Changes are written one transaction at a time (on SQLite `BEGIN IMMEDIATE`, on PostgreSQL a
//!   table lock that readers do not wait for, taken and released inside one statement, the
//!   function `config_append`, so it is held for no client round trip), so `seq` grows in
//!   commit order and a reader paging the audit trail by `seq` never skips a change that
//!   commits later with a lower one.

use std::collections::BTreeMap;

use serde::Serialize;

use super::error::{counted, StoreError};
use super::pool::{on_backend, Backend, Store};
use super::sql::ids_json;

/// What a change does to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ChangeOp {
    /// Gives the key a new value.
    Set,
    /// Removes the key (its history stays).
    Delete,
    /// Gives the key back the value it had at an earlier version.
    Rollback {
        /// The version whose value was restored (`rolled_back_to` in the table and in JSON).
        #[serde(rename = "rolled_back_to")]
        to_version: i64,
    },
}

impl ChangeOp {
    /// The text stored in the `op` column: `set`, `delete` or `rollback`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Set => "set",
            ChangeOp::Delete => "delete",
            ChangeOp::Rollback { .. } => "rollback",
        }
    }

    /// The restored version of a rollback, for the `rolled_back_to` column.
    fn rolled_back_to(self) -> Option<i64> {
        match self {
            ChangeOp::Rollback { to_version } => Some(to_version),
            ChangeOp::Set | ChangeOp::Delete => None,
        }
    }
}

/// A change to append: what it does, to which key, from which version, and who made it why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    /// The configuration key.
    pub key: String,
    /// What the change does.
    pub op: ChangeOp,
    /// The new value as JSON text, secret parts already encrypted (the store does not read
    /// it). Required for a set and a rollback (the restored value), absent for a delete.
    pub value: Option<String>,
    /// The key's version the writer read and changes: 0 when the key has never been written.
    pub expected_version: i64,
    /// The tenant a tenant key belongs to.
    pub tenant_id: Option<u64>,
    /// Who made the change.
    pub actor: String,
    /// The role under which they made it.
    pub role: String,
    /// The address the request came from.
    pub ip: Option<String>,
    /// The id of the request that made it.
    pub request_id: Option<String>,
    /// Why.
    pub reason: String,
}

/// A change as stored: one version of one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredChange {
    /// Its place among all changes (ascending in commit order); the audit cursor.
    pub seq: i64,
    /// The configuration key.
    pub key: String,
    /// The key's version this change made (1 for the first).
    pub version: i64,
    /// What it did; in JSON `op` and, for a rollback, `rolled_back_to`.
    #[serde(flatten)]
    pub op: ChangeOp,
    /// The new value as JSON text (`None` for a delete).
    pub value: Option<String>,
    /// The key's value before the change (`None` when it had none or was deleted).
    pub old_value: Option<String>,
    /// The tenant a tenant key belongs to.
    pub tenant_id: Option<u64>,
    /// Who made the change.
    pub actor: String,
    /// The role under which they made it.
    pub role: String,
    /// The address the request came from.
    pub ip: Option<String>,
    /// The id of the request that made it.
    pub request_id: Option<String>,
    /// Why.
    pub reason: String,
    /// When, in epoch milliseconds.
    pub changed_at: i64,
}

/// Why [`ConfigChanges::append`] wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// A key is no longer at the version the change expected: someone else changed it since
    /// the writer read it. Retrying the same change cannot help; the writer must read the key
    /// again and decide afresh.
    #[error(
        "configuration key {key:?} was changed meanwhile: it is at version {current_version}, \
         not at the version the change expected"
    )]
    Conflict {
        /// The first key of the batch that moved.
        key: String,
        /// Its version now (0: it has never been written).
        current_version: i64,
    },
    /// The store failed or refused the changes.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AppendError {
    /// Whether waiting and appending the same changes again can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            AppendError::Conflict { .. } => false,
            AppendError::Store(e) => e.is_retryable(),
        }
    }
}

/// Which changes an audit listing wants. Every condition that is set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only keys starting with this (compared exactly, character by character).
    pub key_prefix: Option<String>,
    /// Only changes of this tenant's keys.
    pub tenant_id: Option<u64>,
    /// Only changes made at or after this instant (epoch milliseconds).
    pub from_ms: Option<i64>,
    /// Only changes made before this instant (epoch milliseconds).
    pub to_ms: Option<i64>,
    /// Only changes after this `seq` (the last one of the previous page).
    pub after_seq: Option<i64>,
    /// At most this many changes.
    pub limit: u32,
}

/// `SELECT <every column> FROM config_changes <rest>`, as one literal.
macro_rules! select_changes {
    ($rest:literal) => {
        concat!(
            "SELECT seq, config_key, version, op, rolled_back_to, value, old_value, tenant_id, \
             actor, role, ip, request_id, reason, changed_at FROM config_changes ",
            $rest
        )
    };
}

/// The configuration center's changes. A borrowed handle from [`Store::config_changes`]; copy
/// it freely.
#[derive(Debug, Clone, Copy)]
pub struct ConfigChanges<'a> {
    backend: &'a Backend,
}

impl Store {
    /// The configuration center's changes.
    pub fn config_changes(&self) -> ConfigChanges<'_> {
        ConfigChanges {
            backend: &self.backend,
        }
    }
}

/// What one attempt at appending a batch came to.
enum Attempt {
    /// Committed.
    Written(Vec<StoredChange>),
    /// A key was not at the expected version; nothing was written.
    Moved { key: String, current_version: i64 },
    /// Another writer inserted the key's next version first; nothing was written.
    Raced { key: String },
}

impl ConfigChanges<'_> {
    /// Appends `changes` made at `at` (epoch milliseconds), all or nothing, in one transaction.
    /// Each change must find its key at `expected_version`, else nothing is written and
    /// [`AppendError::Conflict`] names the first key that moved and its current version (a
    /// batch changing one key twice expects the version its earlier change makes). A change is
    /// written as version `expected_version + 1` with `old_value` the value of the key's
    /// previous row. A writer that inserts the same version first (a race the transaction's
    /// lock rules out for writers using this method) is reported as a conflict too. Returns the
    /// stored rows in input order.
    ///
    /// Refused as [`StoreError::InvalidRecord`] before anything is written: an empty key, a
    /// negative expected version, a set or rollback without a value, a delete with one, a
    /// rollback to a version outside `1..=expected_version`, a tenant id above 2^63-1.
    pub async fn append(
        self,
        changes: &[NewChange],
        at: i64,
    ) -> Result<Vec<StoredChange>, AppendError> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let tenants = changes
            .iter()
            .map(checked_tenant)
            .collect::<Result<Vec<_>, _>>()?;
        let attempt = match self.backend {
            Backend::Postgres(pool) => append_postgres(pool, changes, &tenants, at).await?,
            Backend::Sqlite(pool) => append_sqlite(pool, changes, &tenants, at).await?,
        };
        match attempt {
            Attempt::Written(stored) => Ok(stored),
            Attempt::Moved {
                key,
                current_version,
            } => Err(AppendError::Conflict {
                key,
                current_version,
            }),
            Attempt::Raced { key } => {
                let current_version = self.latest(&key).await?.map_or(0, |c| c.version);
                Err(AppendError::Conflict {
                    key,
                    current_version,
                })
            }
        }
    }

    /// The latest row of every key whose latest change is not a delete (the configuration in
    /// force), ordered by key (byte order on both dialects).
    pub async fn current(self) -> Result<Vec<StoredChange>, StoreError> {
        self.current_prefixed("").await
    }

    /// [`current`](Self::current) of the keys starting with `prefix` (exactly, case and all):
    /// what a change needs to read of the layer (a tenant's `tenant.<id>.sla.`, one key).
    pub async fn current_prefixed(self, prefix: &str) -> Result<Vec<StoredChange>, StoreError> {
        let order = match self.backend {
            Backend::Sqlite(_) => "",
            // SQLite compares text byte by byte; the database's collation might not.
            Backend::Postgres(_) => " COLLATE \"C\"",
        };
        let sql = format!(
            "{}{order}",
            select_changes!(
                "c WHERE substr(c.config_key, 1, length($1)) = $1 AND c.op <> 'delete' \
                 AND c.version = (SELECT MAX(m.version) FROM config_changes m \
                 WHERE m.config_key = c.config_key) ORDER BY c.config_key"
            )
        );
        let rows: Vec<ChangeRow> = on_backend!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(prefix)
                .fetch_all(pool)
                .await
                .map_err(counted)?
        });
        rows.into_iter().map(ChangeRow::into_stored).collect()
    }

    /// The latest row of each of `keys` (deletes included), by key; keys never written are
    /// absent. Served by the key index, whatever the table's length.
    pub async fn latest_of(self, keys: &[String]) -> Result<Vec<StoredChange>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // Each key's latest row found by one descent of the (key, version) index: the cost does
        // not grow with the key's history, whatever the statistics the plan was made with.
        let latest =
            select_changes!("m WHERE m.config_key = k.wanted ORDER BY m.version DESC LIMIT 1");
        let sql = match self.backend {
            Backend::Sqlite(_) => format!(
                "{} c.seq IN (SELECT ({latest_seq}) FROM (SELECT value AS wanted \
                 FROM json_each($1)) k) ORDER BY c.config_key",
                select_changes!("c WHERE"),
                latest_seq = "SELECT m.seq FROM config_changes m WHERE m.config_key = k.wanted \
                              ORDER BY m.version DESC LIMIT 1",
            ),
            Backend::Postgres(_) => format!(
                "SELECT c.* FROM json_array_elements_text($1::json) AS k(wanted) \
                 CROSS JOIN LATERAL ({latest}) c ORDER BY c.config_key"
            ),
        };
        let ids = ids_json(keys);
        let rows: Vec<ChangeRow> = on_backend!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(ids.as_str())
                .fetch_all(pool)
                .await
                .map_err(counted)?
        });
        rows.into_iter().map(ChangeRow::into_stored).collect()
    }

    /// Every key's latest version (deletes included), by key: the version a writer of the key
    /// must expect (a key not in the map is at 0).
    pub async fn latest_versions(self) -> Result<BTreeMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> = on_backend!(self, |pool| {
            sqlx::query_as(
                "SELECT config_key, MAX(version) FROM config_changes GROUP BY config_key",
            )
            .fetch_all(pool)
            .await
            .map_err(counted)?
        });
        Ok(rows.into_iter().collect())
    }

    /// The highest `seq` written (0: nothing yet): how far an instance that applied the
    /// layer read at this point has got.
    pub async fn last_seq(self) -> Result<i64, StoreError> {
        let (seq,): (Option<i64>,) = on_backend!(self, |pool| {
            sqlx::query_as("SELECT MAX(seq) FROM config_changes")
                .fetch_one(pool)
                .await
                .map_err(counted)?
        });
        Ok(seq.unwrap_or(0))
    }

    /// The latest row of one key (a delete included), if it was ever written.
    pub async fn latest(self, key: &str) -> Result<Option<StoredChange>, StoreError> {
        let row: Option<ChangeRow> = on_backend!(self, |pool| {
            sqlx::query_as(select_changes!(
                "WHERE config_key = $1 ORDER BY version DESC LIMIT 1"
            ))
            .bind(key)
            .fetch_optional(pool)
            .await
            .map_err(counted)?
        });
        row.map(ChangeRow::into_stored).transpose()
    }

    /// One version of a key, if it exists.
    pub async fn version(
        self,
        key: &str,
        version: i64,
    ) -> Result<Option<StoredChange>, StoreError> {
        let row: Option<ChangeRow> = on_backend!(self, |pool| {
            sqlx::query_as(select_changes!("WHERE config_key = $1 AND version = $2"))
                .bind(key)
                .bind(version)
                .fetch_optional(pool)
                .await
                .map_err(counted)?
        });
        row.map(ChangeRow::into_stored).transpose()
    }

    /// A key's rows, newest first, at most `limit`.
    pub async fn history(self, key: &str, limit: u32) -> Result<Vec<StoredChange>, StoreError> {
        let rows: Vec<ChangeRow> = on_backend!(self, |pool| {
            sqlx::query_as(select_changes!(
                "WHERE config_key = $1 ORDER BY version DESC LIMIT $2"
            ))
            .bind(key)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(counted)?
        });
        rows.into_iter().map(ChangeRow::into_stored).collect()
    }

    /// The changes `filter` selects, by `seq` ascending: after `after_seq` (the cursor), of keys
    /// starting with `key_prefix`, of `tenant_id`, made in `[from_ms, to_ms)`; at most `limit`.
    /// The next page starts after the last `seq` of this one.
    pub async fn audit(self, filter: &AuditFilter) -> Result<Vec<StoredChange>, StoreError> {
        let tenant = match filter.tenant_id.map(i64::try_from) {
            Some(Ok(t)) => Some(t),
            // No tenant id above 2^63-1 can be stored, so there is nothing to list.
            Some(Err(_)) => return Ok(Vec::new()),
            None => None,
        };
        // Conditions numbered in the order their values are bound below.
        let mut conditions = Vec::new();
        let mut param = 0;
        let mut next = || {
            param += 1;
            param
        };
        if filter.key_prefix.is_some() {
            let n = next();
            conditions.push(format!("substr(config_key, 1, length(${n})) = ${n}"));
        }
        if tenant.is_some() {
            conditions.push(format!("tenant_id = ${}", next()));
        }
        if filter.from_ms.is_some() {
            conditions.push(format!("changed_at >= ${}", next()));
        }
        if filter.to_ms.is_some() {
            conditions.push(format!("changed_at < ${}", next()));
        }
        if filter.after_seq.is_some() {
            conditions.push(format!("seq > ${}", next()));
        }
        let mut sql = select_changes!("").to_owned();
        if !conditions.is_empty() {
            sql.push_str("WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(&format!(" ORDER BY seq LIMIT ${}", next()));
        let rows: Vec<ChangeRow> = on_backend!(self, |pool| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            if let Some(prefix) = &filter.key_prefix {
                query = query.bind(prefix);
            }
            if let Some(tenant) = tenant {
                query = query.bind(tenant);
            }
            if let Some(from) = filter.from_ms {
                query = query.bind(from);
            }
            if let Some(to) = filter.to_ms {
                query = query.bind(to);
            }
            if let Some(after) = filter.after_seq {
                query = query.bind(after);
            }
            query
                .bind(i64::from(filter.limit))
                .fetch_all(pool)
                .await
                .map_err(counted)?
        });
        rows.into_iter().map(ChangeRow::into_stored).collect()
    }
}

/// Checks what the table's constraints would refuse, naming the change; returns its tenant id
/// as stored.
fn checked_tenant(change: &NewChange) -> Result<Option<i64>, StoreError> {
    let invalid = |reason| StoreError::InvalidRecord {
        record: format!("change of configuration key {:?}", change.key),
        reason,
    };
    if change.key.is_empty() {
        return Err(invalid("the configuration key is empty"));
    }
    if change.expected_version < 0 {
        return Err(invalid("expected version below 0"));
    }
    match (change.op, change.value.is_some()) {
        (ChangeOp::Delete, true) => return Err(invalid("a delete carries no value")),
        (ChangeOp::Set | ChangeOp::Rollback { .. }, false) => {
            return Err(invalid("a set or rollback carries the new value"))
        }
        _ => {}
    }
    if let ChangeOp::Rollback { to_version } = change.op {
        if !(1..=change.expected_version).contains(&to_version) {
            return Err(invalid(
                "a rollback restores an earlier version (1 up to the expected version)",
            ));
        }
    }
    change
        .tenant_id
        .map(i64::try_from)
        .transpose()
        .map_err(|_| invalid("tenant id above 2^63-1"))
}

/// [`ConfigChanges::append`] on SQLite: one write transaction, a statement per change.
async fn append_sqlite(
    pool: &sqlx::SqlitePool,
    changes: &[NewChange],
    tenants: &[Option<i64>],
    at: i64,
) -> Result<Attempt, StoreError> {
    // BEGIN IMMEDIATE: one writer at a time, so `seq` order is visibility order.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(counted)?;
    let mut stored = Vec::with_capacity(changes.len());
    let mut refused = None;
    for (change, tenant) in changes.iter().zip(tenants) {
        // One statement: the key's latest row is read and the next one written only
        // when it is at the expected version (no row comes back otherwise).
        let version = change.expected_version + 1;
        let inserted: Result<Option<(i64, Option<String>)>, sqlx::Error> = sqlx::query_as(
            "WITH prev AS (SELECT version, value FROM config_changes \
                     WHERE config_key = $1 ORDER BY version DESC LIMIT 1) \
                     INSERT INTO config_changes (config_key, version, op, rolled_back_to, \
                     value, old_value, tenant_id, actor, role, ip, request_id, reason, \
                     changed_at) \
                     SELECT $1, $2, $3, $4, $5, (SELECT value FROM prev), $6, $7, $8, $9, \
                     $10, $11, $12 \
                     WHERE COALESCE((SELECT version FROM prev), 0) = $13 \
                     RETURNING seq, old_value",
        )
        .bind(&change.key)
        .bind(version)
        .bind(change.op.as_str())
        .bind(change.op.rolled_back_to())
        .bind(&change.value)
        .bind(*tenant)
        .bind(&change.actor)
        .bind(&change.role)
        .bind(&change.ip)
        .bind(&change.request_id)
        .bind(&change.reason)
        .bind(at)
        .bind(change.expected_version)
        .fetch_optional(&mut *tx)
        .await;
        match inserted {
            Ok(None) => {
                let current_version: Option<i64> = sqlx::query_scalar(
                    "SELECT MAX(version) FROM config_changes WHERE config_key = $1",
                )
                .bind(&change.key)
                .fetch_one(&mut *tx)
                .await
                .map_err(counted)?;
                refused = Some(Attempt::Moved {
                    key: change.key.clone(),
                    current_version: current_version.unwrap_or(0),
                });
                break;
            }
            Ok(Some((seq, old_value))) => {
                stored.push(StoredChange::written(change, seq, old_value, at))
            }
            Err(e) if is_unique_violation(&e) => {
                refused = Some(Attempt::Raced {
                    key: change.key.clone(),
                });
                break;
            }
            Err(e) => return Err(counted(e)),
        }
    }
    match refused {
        None => {
            tx.commit().await.map_err(counted)?;
            Ok(Attempt::Written(stored))
        }
        Some(refused) => {
            tx.rollback().await.map_err(counted)?;
            Ok(refused)
        }
    }
}

/// [`ConfigChanges::append`] on PostgreSQL: one statement (`config_append`, migration 0012),
/// so the table lock that serializes writers is held for no client round trip.
async fn append_postgres(
    pool: &sqlx::PgPool,
    changes: &[NewChange],
    tenants: &[Option<i64>],
    at: i64,
) -> Result<Attempt, StoreError> {
    let column = |f: fn(&NewChange) -> Option<String>| changes.iter().map(f).collect::<Vec<_>>();
    let rows: Result<Vec<(i64, Option<String>)>, sqlx::Error> = sqlx::query_as(
        "SELECT out_seq, out_old_value FROM config_append($1, $2, $3, $4, $5, $6, $7, $8, $9, \
         $10, $11, $12)",
    )
    .bind(column(|c| Some(c.key.clone())))
    .bind(
        changes
            .iter()
            .map(|c| c.expected_version + 1)
            .collect::<Vec<i64>>(),
    )
    .bind(column(|c| Some(c.op.as_str().to_string())))
    .bind(
        changes
            .iter()
            .map(|c| c.op.rolled_back_to())
            .collect::<Vec<Option<i64>>>(),
    )
    .bind(column(|c| c.value.clone()))
    .bind(tenants.to_vec())
    .bind(column(|c| Some(c.actor.clone())))
    .bind(column(|c| Some(c.role.clone())))
    .bind(column(|c| c.ip.clone()))
    .bind(column(|c| c.request_id.clone()))
    .bind(column(|c| Some(c.reason.clone())))
    .bind(at)
    .fetch_all(pool)
    .await;
    match rows {
        Ok(rows) => Ok(Attempt::Written(
            changes
                .iter()
                .zip(rows)
                .map(|(change, (seq, old_value))| StoredChange::written(change, seq, old_value, at))
                .collect(),
        )),
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some(MOVED_SQLSTATE) => {
            let message = db.message();
            let (version, key) = message.split_once(' ').unwrap_or(("0", message));
            Ok(Attempt::Moved {
                key: key.to_string(),
                current_version: version.parse().unwrap_or(0),
            })
        }
        Err(e) if is_unique_violation(&e) => Ok(Attempt::Raced {
            key: changes.first().map(|c| c.key.clone()).unwrap_or_default(),
        }),
        Err(e) => Err(counted(e)),
    }
}

/// The SQLSTATE `config_append` raises when a key is not at the expected version.
const MOVED_SQLSTATE: &str = "VGL01";

/// Whether the database refused a row as a duplicate of a unique key.
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl StoredChange {
    /// The row `change` became: `seq` and `old_value` as the store gave them, written at `at`.
    fn written(change: &NewChange, seq: i64, old_value: Option<String>, at: i64) -> StoredChange {
        StoredChange {
            seq,
            key: change.key.clone(),
            version: change.expected_version + 1,
            op: change.op,
            value: change.value.clone(),
            old_value,
            tenant_id: change.tenant_id,
            actor: change.actor.clone(),
            role: change.role.clone(),
            ip: change.ip.clone(),
            request_id: change.request_id.clone(),
            reason: change.reason.clone(),
            changed_at: at,
        }
    }
}

/// A row of `config_changes` as the database returns it.
#[derive(sqlx::FromRow)]
struct ChangeRow {
    seq: i64,
    config_key: String,
    version: i64,
    op: String,
    rolled_back_to: Option<i64>,
    value: Option<String>,
    old_value: Option<String>,
    tenant_id: Option<i64>,
    actor: String,
    role: String,
    ip: Option<String>,
    request_id: Option<String>,
    reason: String,
    changed_at: i64,
}

impl ChangeRow {
    fn into_stored(self) -> Result<StoredChange, StoreError> {
        let corrupt = |message: String| StoreError::CorruptRow {
            table: "config_changes",
            message,
        };
        let op = match (self.op.as_str(), self.rolled_back_to) {
            ("set", _) => ChangeOp::Set,
            ("delete", _) => ChangeOp::Delete,
            ("rollback", Some(to_version)) => ChangeOp::Rollback { to_version },
            (op, rolled_back_to) => {
                return Err(corrupt(format!(
                    "change {}: op {op:?} with rolled_back_to {rolled_back_to:?}",
                    self.seq
                )))
            }
        };
        let tenant_id = self
            .tenant_id
            .map(u64::try_from)
            .transpose()
            .map_err(|_| corrupt(format!("change {}: negative tenant_id", self.seq)))?;
        Ok(StoredChange {
            seq: self.seq,
            key: self.config_key,
            version: self.version,
            op,
            value: self.value,
            old_value: self.old_value,
            tenant_id,
            actor: self.actor,
            role: self.role,
            ip: self.ip,
            request_id: self.request_id,
            reason: self.reason,
            changed_at: self.changed_at,
        })
    }
}
