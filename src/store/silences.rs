//! Silences in the store: created and expired through the API, read by the notification
//! dispatcher as the set in force.
//!
//! Invariant: rows are never deleted. Expiring a silence sets its `ends_at` to that instant and
//! records who expired it, so what was silenced, by whom and why stays for audit. A silence
//! that was expired before it started ends before it starts, and so is never in force.

use serde::{Deserialize, Serialize};
use vigil_schema::Millis;

use super::error::{counted, StoreError};
use super::pool::{on_backend, Backend, Store};
use crate::clock::now_ms;

/// One silence: a maintenance window during which notifications of the alerts it matches
/// are held back (the matching is `notify::silence`). It must match something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// Its id.
    pub id: String,
    /// Only this tenant's alerts.
    pub tenant_id: Option<u64>,
    /// Only these priorities.
    pub priority: Option<Vec<String>>,
    /// Only these service types.
    pub service_type: Option<Vec<String>>,
    /// Only this ticket.
    pub ticket_id: Option<String>,
    /// From (inclusive).
    pub starts_at: Millis,
    /// Until (exclusive).
    pub ends_at: Millis,
    /// Who created it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

impl Silence {
    /// Why the silence cannot be used, if it cannot.
    pub fn problem(&self) -> Option<&'static str> {
        self.problem_field().map(|(_, reason)| reason)
    }

    /// [`Silence::problem`] with the field to blame, for answers that name it.
    pub fn problem_field(&self) -> Option<(&'static str, &'static str)> {
        if self.ends_at <= self.starts_at {
            return Some(("ends_at", "ends_at must be after starts_at"));
        }
        let matches_something = self.tenant_id.is_some()
            || self.priority.as_ref().is_some_and(|p| !p.is_empty())
            || self.service_type.as_ref().is_some_and(|s| !s.is_empty())
            || self.ticket_id.is_some();
        if !matches_something {
            return Some((
                "tenant_id",
                "name at least one of tenant_id, priority, service_type, ticket_id",
            ));
        }
        if self.comment.trim().is_empty() {
            return Some(("comment", "say why in comment"));
        }
        None
    }

    /// Where it stands at `t`: `pending` (starts later), `active` (in force) or `expired`.
    pub fn state_at(&self, t: Millis) -> &'static str {
        if t >= self.ends_at {
            "expired"
        } else if t < self.starts_at {
            "pending"
        } else {
            "active"
        }
    }

    /// Whether it is in force at `t`.
    pub fn active_at(&self, t: Millis) -> bool {
        self.starts_at <= t && t < self.ends_at
    }
}

/// Which silences a listing wants, as of an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceFilter {
    /// In force now or later (`ends_at` after the instant).
    Active,
    /// Over, by reaching their end or by being expired.
    Expired,
    /// Both.
    All,
}

impl SilenceFilter {
    /// `active`, `expired` or `all`.
    pub fn parse(s: &str) -> Option<SilenceFilter> {
        match s {
            "active" => Some(SilenceFilter::Active),
            "expired" => Some(SilenceFilter::Expired),
            "all" => Some(SilenceFilter::All),
            _ => None,
        }
    }
}

/// A silence as stored: the silence and its audit fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSilence {
    /// The silence (`ends_at` is the expiry instant once expired).
    pub silence: Silence,
    /// When it was created.
    pub created_at: Millis,
    /// Who expired it, if anybody did.
    pub expired_by: Option<String>,
    /// When it was expired.
    pub expired_at: Option<Millis>,
}

/// What [`Silences::expire`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SilenceExpiry {
    /// It was in force or pending and now ends.
    Expired(StoredSilence),
    /// It had already ended; unchanged.
    AlreadyOver(StoredSilence),
    /// No silence has this id.
    Unknown,
}

/// `SELECT <every column> FROM silences <rest>`, as one literal.
macro_rules! select_silences {
    ($rest:literal) => {
        concat!(
            "SELECT silence_id, tenant_id, priority, service_type, ticket_id, starts_at, ends_at, \
             created_by, comment, created_at, expired_by, expired_at FROM silences ",
            $rest
        )
    };
}

/// The silences. A borrowed handle from [`Store::silences`]; copy it freely.
#[derive(Debug, Clone, Copy)]
pub struct Silences<'a> {
    backend: &'a Backend,
}

impl Store {
    /// The silences.
    pub fn silences(&self) -> Silences<'_> {
        Silences {
            backend: &self.backend,
        }
    }
}

impl Silences<'_> {
    /// Stores a new silence as it is (the caller checked it and chose its id); created now.
    pub async fn create(self, silence: &Silence) -> Result<StoredSilence, StoreError> {
        let invalid = |reason| StoreError::InvalidRecord {
            record: format!("silence {}", silence.id),
            reason,
        };
        let tenant = silence
            .tenant_id
            .map(i64::try_from)
            .transpose()
            .map_err(|_| invalid("tenant id above 2^63-1"))?;
        let list = |l: &Option<Vec<String>>| {
            l.as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|_| invalid("a list that cannot be written as JSON"))
        };
        let (priority, service_type) = (list(&silence.priority)?, list(&silence.service_type)?);
        let now = now_ms();
        on_backend!(self, |pool| {
            sqlx::query(
                "INSERT INTO silences (silence_id, tenant_id, priority, service_type, ticket_id, \
                 starts_at, ends_at, created_by, comment, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&silence.id)
            .bind(tenant)
            .bind(&priority)
            .bind(&service_type)
            .bind(&silence.ticket_id)
            .bind(silence.starts_at)
            .bind(silence.ends_at)
            .bind(&silence.created_by)
            .bind(&silence.comment)
            .bind(now)
            .execute(pool)
            .await
            .map_err(counted)?;
        });
        Ok(StoredSilence {
            silence: silence.clone(),
            created_at: now,
            expired_by: None,
            expired_at: None,
        })
    }

    /// One silence by id.
    pub async fn get(self, silence_id: &str) -> Result<Option<StoredSilence>, StoreError> {
        let row: Option<SilenceRow> = on_backend!(self, |pool| {
            sqlx::query_as(select_silences!("WHERE silence_id = $1"))
                .bind(silence_id)
                .fetch_optional(pool)
                .await
                .map_err(counted)?
        });
        row.map(SilenceRow::into_stored).transpose()
    }

    /// Silences of one tenant (`Some`; silences of every tenant are not among them) or of all
    /// (`None`), as `filter` sees them at `now`; newest first, at most `limit`.
    pub async fn list(
        self,
        tenant: Option<u64>,
        filter: SilenceFilter,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<StoredSilence>, StoreError> {
        let tenant = match tenant.map(i64::try_from) {
            Some(Ok(t)) => Some(t),
            // No tenant id above 2^63-1 can be stored, so there is nothing to list.
            Some(Err(_)) => return Ok(Vec::new()),
            None => None,
        };
        // Parameters in the order bound below: tenant (if any), now (unless all), limit.
        let sql = match (tenant.is_some(), filter) {
            (true, SilenceFilter::Active) => select_silences!(
                "WHERE tenant_id = $1 AND ends_at > $2 ORDER BY created_at DESC, silence_id LIMIT $3"
            ),
            (true, SilenceFilter::Expired) => select_silences!(
                "WHERE tenant_id = $1 AND ends_at <= $2 ORDER BY created_at DESC, silence_id LIMIT $3"
            ),
            (true, SilenceFilter::All) => select_silences!(
                "WHERE tenant_id = $1 ORDER BY created_at DESC, silence_id LIMIT $2"
            ),
            (false, SilenceFilter::Active) => select_silences!(
                "WHERE ends_at > $1 ORDER BY created_at DESC, silence_id LIMIT $2"
            ),
            (false, SilenceFilter::Expired) => select_silences!(
                "WHERE ends_at <= $1 ORDER BY created_at DESC, silence_id LIMIT $2"
            ),
            (false, SilenceFilter::All) => {
                select_silences!("ORDER BY created_at DESC, silence_id LIMIT $1")
            }
        };
        let rows: Vec<SilenceRow> = on_backend!(self, |pool| {
            let mut query = sqlx::query_as(sql);
            if let Some(t) = tenant {
                query = query.bind(t);
            }
            if filter != SilenceFilter::All {
                query = query.bind(now);
            }
            query
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(counted)?
        });
        rows.into_iter().map(SilenceRow::into_stored).collect()
    }

    /// Ends a silence at `now` on behalf of `by`, keeping the row. A silence already over is
    /// left as it is (so the first expiry's who and when stay).
    pub async fn expire(
        self,
        silence_id: &str,
        by: &str,
        now: Millis,
    ) -> Result<SilenceExpiry, StoreError> {
        let changed = on_backend!(self, |pool| {
            sqlx::query(
                "UPDATE silences SET ends_at = $2, expired_by = $3, expired_at = $2 \
                 WHERE silence_id = $1 AND ends_at > $2",
            )
            .bind(silence_id)
            .bind(now)
            .bind(by)
            .execute(pool)
            .await
            .map_err(counted)?
            .rows_affected()
        });
        Ok(match self.get(silence_id).await? {
            None => SilenceExpiry::Unknown,
            Some(s) if changed == 1 => SilenceExpiry::Expired(s),
            Some(s) => SilenceExpiry::AlreadyOver(s),
        })
    }

    /// The silences in force at `now` (started, not ended), for the notification dispatcher.
    /// Silences are made by people, a few at a time, so the set is small and read whole.
    pub async fn in_force(self, now: Millis) -> Result<Vec<Silence>, StoreError> {
        let rows: Vec<SilenceRow> = on_backend!(self, |pool| {
            sqlx::query_as(select_silences!(
                "WHERE ends_at > $1 AND starts_at <= $1 ORDER BY silence_id"
            ))
            .bind(now)
            .fetch_all(pool)
            .await
            .map_err(counted)?
        });
        rows.into_iter()
            .map(|r| r.into_stored().map(|s| s.silence))
            .collect()
    }
}

/// A row of `silences` as the database returns it.
#[derive(sqlx::FromRow)]
struct SilenceRow {
    silence_id: String,
    tenant_id: Option<i64>,
    priority: Option<String>,
    service_type: Option<String>,
    ticket_id: Option<String>,
    starts_at: i64,
    ends_at: i64,
    created_by: String,
    comment: String,
    created_at: i64,
    expired_by: Option<String>,
    expired_at: Option<i64>,
}

impl SilenceRow {
    fn into_stored(self) -> Result<StoredSilence, StoreError> {
        let corrupt = |message: String| StoreError::CorruptRow {
            table: "silences",
            message,
        };
        let id = self.silence_id;
        let list = |text: Option<String>, column: &str| {
            text.map(|t| serde_json::from_str::<Vec<String>>(&t))
                .transpose()
                .map_err(|e| corrupt(format!("silence {id}: {column} is not a JSON list: {e}")))
        };
        let priority = list(self.priority, "priority")?;
        let service_type = list(self.service_type, "service_type")?;
        let tenant_id = self
            .tenant_id
            .map(u64::try_from)
            .transpose()
            .map_err(|_| corrupt(format!("silence {id}: negative tenant_id")))?;
        Ok(StoredSilence {
            silence: Silence {
                id,
                tenant_id,
                priority,
                service_type,
                ticket_id: self.ticket_id,
                starts_at: self.starts_at,
                ends_at: self.ends_at,
                created_by: self.created_by,
                comment: self.comment,
            },
            created_at: self.created_at,
            expired_by: self.expired_by,
            expired_at: self.expired_at,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::Silence;

    /// A valid silence of tenant 7's LOW and MEDIUM alerts from 1 000 to 2 000 ms.
    pub(crate) fn silence() -> Silence {
        Silence {
            id: "s1".into(),
            tenant_id: Some(7),
            priority: Some(vec!["LOW".into(), "MEDIUM".into()]),
            service_type: None,
            ticket_id: None,
            starts_at: 1_000,
            ends_at: 2_000,
            created_by: "olga".into(),
            comment: "database maintenance".into(),
        }
    }

    #[test]
    fn a_silence_must_match_something_end_after_it_starts_and_say_why() {
        let everything = Silence {
            tenant_id: None,
            priority: None,
            ..silence()
        };
        assert!(everything.problem().is_some());
        let backwards = Silence {
            ends_at: 500,
            ..silence()
        };
        assert_eq!(backwards.problem(), Some("ends_at must be after starts_at"));
        let no_reason = Silence {
            comment: " ".into(),
            ..silence()
        };
        assert_eq!(no_reason.problem(), Some("say why in comment"));
        assert_eq!(no_reason.problem_field().map(|(f, _)| f), Some("comment"));
        assert_eq!(backwards.problem_field().map(|(f, _)| f), Some("ends_at"));
    }

    #[test]
    fn a_silence_is_pending_then_active_then_expired() {
        let s = silence();
        assert_eq!(s.state_at(999), "pending");
        assert_eq!(s.state_at(1_000), "active");
        assert_eq!(s.state_at(1_999), "active");
        assert_eq!(s.state_at(2_000), "expired");
    }
}
