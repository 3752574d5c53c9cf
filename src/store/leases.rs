//! Named leases: one holder at a time, until the lease expires or is given up (one instance
//! at a time reconciles a partner).
//!
//! Invariant: taking a lease is one upsert on both dialects, so two instances never both hold
//! it.

use vigil_schema::Millis;

use super::error::{counted, StoreError};
use super::pool::{on_backend, Backend, Store};

/// Named leases. A borrowed handle from [`Store::leases`]; copy it freely.
#[derive(Debug, Clone, Copy)]
pub struct Leases<'a> {
    backend: &'a Backend,
}

impl Store {
    /// Named leases.
    pub fn leases(&self) -> Leases<'_> {
        Leases {
            backend: &self.backend,
        }
    }
}

impl Leases<'_> {
    /// Takes (or extends) the lease `name` for `holder` until `now + ttl_ms` when it is free,
    /// expired, or held by `holder` already; false while someone else holds it. Atomic on both
    /// dialects: one upsert decides.
    pub async fn try_take(
        self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let taken: Option<String> = on_backend!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 expires_at = excluded.expires_at \
                 WHERE leases.expires_at <= $4 OR leases.holder = excluded.holder \
                 RETURNING name",
            )
            .bind(name)
            .bind(holder)
            .bind(now.saturating_add(ttl_ms))
            .bind(now)
            .fetch_optional(pool)
            .await
            .map_err(counted)?
        });
        Ok(taken.is_some())
    }

    /// Gives the lease `name` up if `holder` holds it; returns whether it did.
    pub async fn release(self, name: &str, holder: &str) -> Result<bool, StoreError> {
        let released = on_backend!(self, |pool| {
            sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await
                .map_err(counted)?
                .rows_affected()
        });
        Ok(released == 1)
    }
}
