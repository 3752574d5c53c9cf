//! Changing the runtime layer: a batch of changes is parsed, checked whole against the files
//! and the current layer, appended to the store with optimistic locking (all or nothing), and
//! then announced: a tenant's SLA change as an `sla.policy_updated` event on the tenant's
//! subject (the same road as upstream's policy updates, so replay gives the same result), and
//! every change on `vigil.config.changes`, which every instance follows to apply it.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};
use tracing::{info, warn};
use vigil_engine::policy::PolicyBook;
use vigil_schema::format_instant;

use super::keys::{KeyError, NotifyField, RuntimeKey, SlaField};
use super::layer::{configured_field, sealed_text, RuntimeLayer, ValueProblem};
use crate::clock::now_ms;
use crate::config::VigilConfig;
use crate::secrets::{SealError, SealKey, Secrets};
use crate::store::config_changes::{AppendError, ChangeOp, NewChange, StoredChange};
use crate::store::{Store, StoreError};

/// The subject every change is announced on (kept in the stream `VIGIL_CONFIG`).
pub use vigil_streams::jetstream::subjects::CONFIG_SUBJECT as CHANGES_SUBJECT;

/// Most changes one batch may hold.
pub const MAX_BATCH: usize = 500;

/// Longest `reason`, in characters.
pub const MAX_REASON_CHARS: usize = 1000;

/// One change asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRequest {
    /// The key as given.
    pub key: String,
    /// The new value, or `None` to delete the key (the layers below apply again).
    pub value: Option<Value>,
    /// The version the caller last saw (`0`: the key was never set). A different current
    /// version refuses the whole batch.
    pub expected_version: i64,
    /// Set when the change restores an earlier version.
    pub rollback_to: Option<i64>,
}

/// Who changes, and why: what the audit keeps besides the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// The token's subject.
    pub actor: String,
    /// The token's role.
    pub role: String,
    /// The client's address.
    pub ip: Option<String>,
    /// The request's id.
    pub request_id: Option<String>,
    /// Why (required).
    pub reason: String,
}

/// Why a batch was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// Keys or values are wrong: every problem, nothing applied.
    #[error("{} problem(s) in the change; nothing was applied", .0.len())]
    Invalid(Vec<ValueProblem>),
    /// Another change got there first.
    #[error("{key} is at version {current_version}, not the version the change expected")]
    Conflict {
        /// The key that moved.
        key: String,
        /// Its version now.
        current_version: i64,
        /// Its value now (`None`: not set).
        current_value: Option<Value>,
    },
    /// The store did not answer; retrying can help.
    #[error("the store is unavailable: {0}")]
    Store(#[from] StoreError),
    /// Recorded, but JetStream did not take the policy update of a tenant: the change is in
    /// the store (and the audit) but the engine has not got it yet.
    #[error("recorded as version {version} of {key}, but NATS did not take the policy update ({detail}); put the same value again with If-Match: {version}")]
    NotAnnounced {
        /// The key.
        key: String,
        /// The version recorded.
        version: i64,
        /// What NATS said.
        detail: String,
    },
}

/// A change as the service announces it on [`CHANGES_SUBJECT`] (secrets never appear here).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeNotice {
    /// Global order of the change.
    pub seq: i64,
    /// The key.
    pub key: String,
    /// Its new version.
    pub version: i64,
    /// `set`, `delete` or `rollback`.
    pub op: &'static str,
    /// The new value (`null` for a delete).
    pub value: Option<Value>,
    /// Who.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// When (RFC 3339).
    pub changed_at: String,
}

/// The configuration center of one instance: what the API changes through.
#[derive(Debug, Clone)]
pub struct ConfigCenter {
    store: Store,
    js: async_nats::jetstream::Context,
    config: Arc<VigilConfig>,
    book: Arc<PolicyBook>,
    secrets: Secrets,
    seal: Option<Arc<SealKey>>,
}

impl ConfigCenter {
    /// A center over the configuration the service started with.
    pub fn new(
        store: Store,
        js: async_nats::jetstream::Context,
        config: Arc<VigilConfig>,
        book: Arc<PolicyBook>,
    ) -> ConfigCenter {
        ConfigCenter {
            store,
            js,
            config,
            book,
            secrets: Secrets::from_process_env(),
            seal: None,
        }
    }

    /// The center with the process's secrets and the key that seals them in the store
    /// (`None`: secrets cannot be set at run time, and saying so is the refusal).
    pub fn with_secrets(mut self, secrets: Secrets, seal: Option<Arc<SealKey>>) -> ConfigCenter {
        self.secrets = secrets;
        self.seal = seal;
        self
    }

    /// The process's secrets (runtime values over the environment).
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// The key that seals secrets, if this instance has one.
    pub fn seal_key(&self) -> Option<&Arc<SealKey>> {
        self.seal.as_ref()
    }

    /// The files and environment the service started with.
    pub fn config(&self) -> &VigilConfig {
        &self.config
    }

    /// The compiled policies of the files.
    pub fn book(&self) -> &PolicyBook {
        &self.book
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The current runtime layer, read from the store (the system of record).
    pub async fn layer(&self) -> Result<RuntimeLayer, StoreError> {
        let rows = self.store.config_changes().current().await?;
        Ok(layer_of(&rows))
    }

    /// The part of the layer a change of `keys` is checked against: each tenant's SLA keys
    /// whole (its policy compiles as one), a tenant's on-call lists with the main ones (they
    /// refer into them), every tenant's with a change of the main ones, and each other key
    /// alone. Read by key, so the cost does not grow with the history.
    async fn layer_around(
        &self,
        keys: impl Iterator<Item = &RuntimeKey>,
    ) -> Result<RuntimeLayer, StoreError> {
        let main_notify = || NotifyField::ALL.into_iter().map(RuntimeKey::Notify);
        let mut wanted: Vec<RuntimeKey> = Vec::new();
        let mut every_tenant_notify = false;
        for key in keys {
            match key {
                RuntimeKey::TenantSla { tenant, .. } => wanted.extend(
                    SlaField::ALL
                        .into_iter()
                        .map(|field| RuntimeKey::TenantSla {
                            tenant: *tenant,
                            field,
                        }),
                ),
                RuntimeKey::TenantNotify { tenant, .. } => {
                    wanted.extend(main_notify());
                    wanted.extend(NotifyField::ALL.into_iter().map(|field| {
                        RuntimeKey::TenantNotify {
                            tenant: *tenant,
                            field,
                        }
                    }));
                }
                RuntimeKey::Notify(_) => {
                    wanted.extend(main_notify());
                    every_tenant_notify = true;
                }
                other => wanted.push(other.clone()),
            }
        }
        let names: Vec<String> = wanted.iter().map(ToString::to_string).collect();
        let changes = self.store.config_changes();
        let mut rows = changes.latest_of(&names).await?;
        if every_tenant_notify {
            // Rare (a change of the main routing): every tenant's own lists, by a scan.
            rows.extend(
                changes
                    .current_prefixed("tenant.")
                    .await?
                    .into_iter()
                    .filter(|r| r.key.contains(".notify.")),
            );
        }
        Ok(layer_of(&rows))
    }

    /// Checks and applies a batch: all of it or nothing.
    pub async fn change(
        &self,
        requests: &[ChangeRequest],
        author: &Author,
    ) -> Result<Vec<StoredChange>, ChangeError> {
        let mut problems = Vec::new();
        let mut parsed = Vec::with_capacity(requests.len());
        for r in requests {
            match RuntimeKey::parse(&r.key) {
                Ok(key) => parsed.push((key, r)),
                Err(e) => problems.push(ValueProblem {
                    key: r.key.clone(),
                    field: String::new(),
                    reason: match e {
                        KeyError::Unknown { .. } => e.to_string(),
                        KeyError::StartOnly { reason, .. } => {
                            format!("cannot change at run time: {reason}")
                        }
                    },
                }),
            }
        }
        for (i, (key, _)) in parsed.iter().enumerate() {
            if parsed[..i].iter().any(|(k, _)| k == key) {
                problems.push(ValueProblem {
                    key: key.to_string(),
                    field: String::new(),
                    reason: "named twice in one batch".into(),
                });
            }
        }
        if !problems.is_empty() {
            return Err(ChangeError::Invalid(problems));
        }
        let mut layer = self.layer_around(parsed.iter().map(|(k, _)| k)).await?;
        for (key, r) in &parsed {
            layer.set(key.clone(), r.value.clone());
        }
        let touched: Vec<RuntimeKey> = parsed.iter().map(|(k, _)| k.clone()).collect();
        let mut problems = layer.problems(&self.config, &touched);
        problems.extend(super::notify::problems(&layer, &self.config, &touched));
        let values: Vec<Option<String>> = parsed
            .iter()
            .map(|(key, r)| match self.stored_value(key, r.value.as_ref()) {
                Ok(v) => v,
                Err(reason) => {
                    problems.push(ValueProblem {
                        key: key.to_string(),
                        field: String::new(),
                        reason,
                    });
                    None
                }
            })
            .collect();
        if !problems.is_empty() {
            return Err(ChangeError::Invalid(problems));
        }
        let at = now_ms();
        let rows: Vec<NewChange> = parsed
            .iter()
            .zip(values)
            .map(|((key, r), value)| NewChange {
                key: key.to_string(),
                op: match (r.rollback_to, &r.value) {
                    (Some(to_version), Some(_)) => ChangeOp::Rollback { to_version },
                    (None, Some(_)) => ChangeOp::Set,
                    // Rolling back to a version that deleted the key deletes it again.
                    (_, None) => ChangeOp::Delete,
                },
                value,
                expected_version: r.expected_version,
                tenant_id: key.tenant(),
                actor: author.actor.clone(),
                role: author.role.clone(),
                ip: author.ip.clone(),
                request_id: author.request_id.clone(),
                reason: author.reason.clone(),
            })
            .collect();
        let stored = match self.store.config_changes().append(&rows, at).await {
            Ok(stored) => stored,
            Err(AppendError::Conflict {
                key,
                current_version,
            }) => {
                let current_value = self
                    .store
                    .config_changes()
                    .latest(&key)
                    .await?
                    .and_then(|row| row.value)
                    .and_then(|v| serde_json::from_str(&v).ok());
                return Err(ChangeError::Conflict {
                    key,
                    current_version,
                    current_value,
                });
            }
            Err(AppendError::Store(e)) => return Err(ChangeError::Store(e)),
        };
        for row in &stored {
            info!(key = %row.key, version = row.version, actor = %row.actor, op = row.op.as_str(), "configuration changed");
        }
        // Both at once: the notices need not wait for the policy updates' acknowledgements.
        let notices = futures::future::join_all(stored.iter().map(|row| self.announce(row)));
        let (policies, _) = tokio::join!(self.announce_policies(&parsed, &stored, at), notices);
        policies?;
        Ok(stored)
    }

    /// The text a checked value is stored as: a secret sealed (`{"sealed": "v1:…"}`; a sealed
    /// value given back by a rollback must open under this instance's key), anything else as
    /// its JSON.
    fn stored_value(
        &self,
        key: &RuntimeKey,
        value: Option<&Value>,
    ) -> Result<Option<String>, String> {
        let (RuntimeKey::Secret(name), Some(value)) = (key, value) else {
            return Ok(value.map(Value::to_string));
        };
        let seal = self
            .seal
            .as_ref()
            .ok_or_else(|| SealError::NoKey.to_string())?;
        let sealed = match (sealed_text(value), value.as_str()) {
            (Some(sealed), _) => {
                seal.open(name, sealed).map_err(|e| e.to_string())?;
                sealed.to_string()
            }
            (None, Some(plain)) => seal.seal(name, plain).map_err(|e| e.to_string())?,
            // Refused by the layer's check already.
            (None, None) => return Err("expected the secret as a string".into()),
        };
        Ok(Some(json!({ "sealed": sealed }).to_string()))
    }

    /// Publishes one `sla.policy_updated` event per tenant whose SLA keys the batch changed,
    /// naming exactly the changed fields (a deleted key restores the files' value), effective
    /// from the change's instant.
    async fn announce_policies(
        &self,
        parsed: &[(RuntimeKey, &ChangeRequest)],
        stored: &[StoredChange],
        at: i64,
    ) -> Result<(), ChangeError> {
        let mut by_tenant: std::collections::BTreeMap<
            u64,
            (serde_json::Map<String, Value>, &StoredChange),
        > = std::collections::BTreeMap::new();
        for ((key, r), row) in parsed.iter().zip(stored) {
            let RuntimeKey::TenantSla { tenant, field } = key else {
                continue;
            };
            let value = r
                .value
                .clone()
                .unwrap_or_else(|| configured_field(&self.book, *tenant, *field));
            let entry = by_tenant
                .entry(*tenant)
                .or_insert_with(|| (serde_json::Map::new(), row));
            entry.0.insert(field.as_str().to_string(), value);
        }
        for (tenant, (mut policy, row)) in by_tenant {
            policy.insert("effective_from".into(), json!(format_instant(at)));
            let event_id = format!("config-change-{}", row.seq);
            let event = json!({
                "schema": 1,
                "event_id": event_id,
                "event_type": "sla.policy_updated",
                "tenant_id": tenant,
                "occurred_at": format_instant(at),
                "policy": policy,
            });
            let payload = bytes::Bytes::from(event.to_string());
            if let Err(e) =
                vigil_streams::jetstream::publish_event(&self.js, tenant, &event_id, payload).await
            {
                return Err(ChangeError::NotAnnounced {
                    key: row.key.clone(),
                    version: row.version,
                    detail: e.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Announces a stored change on [`CHANGES_SUBJECT`]; instances that miss it catch up at
    /// their next resync from the store.
    async fn announce(&self, row: &StoredChange) {
        let notice = notice_of(row);
        let payload = match serde_json::to_vec(&notice) {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "cannot encode a configuration change notice");
                return;
            }
        };
        let sent = match self.js.publish(CHANGES_SUBJECT, payload.into()).await {
            Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = sent {
            warn!(key = %row.key, version = row.version, error = %e, "the change is stored but its notice was not published; instances apply it at their next resync");
        }
    }
}

/// The layer the stored rows describe (rows as [`crate::store::config_changes::ConfigChanges::current`]
/// returns them).
pub fn layer_of(rows: &[StoredChange]) -> RuntimeLayer {
    RuntimeLayer::from_values(rows.iter().filter_map(|row| {
        let value = serde_json::from_str(row.value.as_deref()?).ok()?;
        Some((row.key.as_str(), value))
    }))
}

/// The notice of a stored change.
pub fn notice_of(row: &StoredChange) -> ChangeNotice {
    ChangeNotice {
        seq: row.seq,
        key: row.key.clone(),
        version: row.version,
        op: row.op.as_str(),
        value: row
            .value
            .as_deref()
            .and_then(|v| serde_json::from_str(v).ok())
            .map(|v| crate::secrets::shown(&row.key, v)),
        actor: row.actor.clone(),
        reason: row.reason.clone(),
        changed_at: format_instant(row.changed_at),
    }
}
