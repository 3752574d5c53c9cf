//! Keys of the notifier that every instance must share, such as the key that signs ack links
//! when no environment variable names one.
//!
//! Invariant: a key, once stored, never changes. The first instance to start stores its
//! candidate; every other instance, then and later, reads that one back.

use super::error::{counted, StoreError};
use super::pool::{on_backend, Backend, Store};
use crate::clock::now_ms;

/// Keys every notifier instance shares. A borrowed handle from [`Store::notify_keys`]; copy it
/// freely.
#[derive(Debug, Clone, Copy)]
pub struct NotifyKeys<'a> {
    backend: &'a Backend,
}

impl Store {
    /// The keys the notifier instances share.
    pub fn notify_keys(&self) -> NotifyKeys<'_> {
        NotifyKeys {
            backend: &self.backend,
        }
    }
}

impl NotifyKeys<'_> {
    /// The key called `name`: the one already stored, else `candidate`, stored now. Instances
    /// starting at the same time all get the key of whichever inserted first.
    pub async fn shared_key(self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        let now = now_ms();
        let (secret,): (Vec<u8>,) = on_backend!(self, |pool| {
            sqlx::query(
                "INSERT INTO notify_keys (name, secret, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(candidate)
            .bind(now)
            .execute(pool)
            .await
            .map_err(counted)?;
            sqlx::query_as("SELECT secret FROM notify_keys WHERE name = $1")
                .bind(name)
                .fetch_one(pool)
                .await
                .map_err(counted)?
        });
        Ok(secret)
    }
}
