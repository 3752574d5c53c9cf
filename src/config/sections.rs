//! The shape of `vigil.toml` and of tenant policy files, with every default.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use vigil_engine::calendar::CalendarSpec;
use vigil_engine::policy::PolicySpec;

use crate::auth::AuthConfig;
use crate::http::HttpConfig;
use crate::hub::WsConfig;
use crate::notify::config::TenantNotify;
use crate::notify::NotifyConfig;
use crate::partner::PartnerConfig;
use crate::report::{ReportsConfig, TenantReport};
use crate::setting::ConfigDuration;
use crate::store::StoreConfig;
use crate::telemetry::{LogConfig, MetricsConfig};

/// Everything in `vigil.toml` (after environment overrides), plus the tenant policy files it
/// points to. `Default` is the configuration of an empty file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct VigilConfig {
    /// `[sla]`: the default policy of every tenant, over the built-in defaults (24x7, warn at
    /// 0.8, pause ON_HOLD, CRITICAL/HIGH/MEDIUM/LOW targets of DESIGN.md §3).
    pub sla: PolicySpec,
    /// `[calendars.<name>]`: business calendars that policies name; `24x7` is built in.
    pub calendars: BTreeMap<String, CalendarSpec>,
    /// `[tenants]`: where tenant policy files live.
    pub tenants: TenantsConfig,
    /// `[nats]`: the JetStream connection and streams.
    pub nats: NatsConfig,
    /// `[store]`: the SQL database.
    pub store: StoreConfig,
    /// `[http]`: the HTTP listener and rate limits.
    pub http: HttpConfig,
    /// `[ws]`: the WebSocket hub.
    pub ws: WsConfig,
    /// `[notify]`: on-call routing (providers, contacts, schedules, policies, routes).
    pub notify: NotifyConfig,
    /// `[[partners]]`: exchange partners that receive SLA records.
    pub partners: Vec<PartnerConfig>,
    /// `[auth]`: how API tokens are verified and minted.
    pub auth: AuthConfig,
    /// `[engine]`: event-time and snapshot settings of the SLA engine.
    pub engine: EngineConfig,
    /// `[cluster]`: leasing partitions among instances.
    pub cluster: ClusterConfig,
    /// `[metrics]`: label bounds.
    pub metrics: MetricsConfig,
    /// `[log]`: log format and filter.
    pub log: LogConfig,
    /// `[reports]`: the history SLA reports are computed from, and generating them.
    pub reports: ReportsConfig,
    /// Tenant policies read from `tenants.policies_dir`, by tenant id (not a TOML key).
    #[serde(skip)]
    pub tenant_policies: BTreeMap<u64, PolicySpec>,
    /// Tenant `[notify]` sections read from `tenants.policies_dir`, by tenant id (not a TOML
    /// key).
    #[serde(skip)]
    pub tenant_notify: BTreeMap<u64, TenantNotify>,
    /// Tenant `[report]` sections read from `tenants.policies_dir`, by tenant id (not a TOML
    /// key).
    #[serde(skip)]
    pub tenant_reports: BTreeMap<u64, TenantReport>,
    /// Directory of the main file: relative paths in it are resolved from here (not a TOML key).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[tenants]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantsConfig {
    /// Directory of `<tenant_id>.toml` files, each with a `[policy]` table that overrides only
    /// the fields it names; relative to the main file. Default `"tenants"`.
    pub policies_dir: PathBuf,
}

impl Default for TenantsConfig {
    fn default() -> Self {
        TenantsConfig {
            policies_dir: PathBuf::from("tenants"),
        }
    }
}

/// A tenant file: `[policy]`, `[notify]` and `[report]`, all optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantFile {
    /// The fields of the default policy this tenant overrides.
    pub policy: PolicySpec,
    /// The tenant's own on-call routing, ahead of the main file's.
    pub notify: TenantNotify,
    /// How the tenant's SLA reports read (language, zone).
    pub report: TenantReport,
}

/// `[nats]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsConfig {
    /// Server URL; comma-separated for a cluster. Default `"nats://127.0.0.1:4222"`.
    pub url: String,
    /// The event stream (takes `vigil.events.*`). Default `"VIGIL_EVENTS"`.
    pub stream: String,
    /// Partitions of the event stream; fixed for the life of the stream. Default 16.
    pub partitions: u16,
    /// How long the event stream keeps messages, and how long final tickets are remembered.
    /// Default `"35d"`.
    pub retention: ConfigDuration,
    /// The stream of published alert state changes (`vigil.alerts.*`). Default
    /// `"VIGIL_ALERTS"`.
    pub alerts_stream: String,
    /// The dead-letter stream (`vigil.dlq.*`). Default `"VIGIL_DLQ"`.
    pub dlq_stream: String,
    /// Replicas of the events, alerts and dead-letter streams: 1 on one nats-server, 3 on a
    /// JetStream cluster of three (a stream survives losing one). Default 1.
    pub replicas: u8,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            stream: "VIGIL_EVENTS".into(),
            partitions: 16,
            retention: ConfigDuration::from_days(35),
            alerts_stream: "VIGIL_ALERTS".into(),
            dlq_stream: "VIGIL_DLQ".into(),
            replicas: 1,
        }
    }
}

/// Which clock drives SLA timers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockMode {
    /// The wall clock: live timers fire on time, late data corrects them.
    #[default]
    Wall,
    /// Event time (the largest `occurred_at` seen minus the allowed lateness), as in
    /// `vigil replay`; for tests of the service.
    Event,
}

/// `[engine]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// How late an event may arrive and still be applied in event time. Default `"5m"`.
    pub allowed_lateness: ConfigDuration,
    /// `"wall"` or `"event"`. Default `"wall"`.
    pub clock: ClockMode,
    /// Arbiter threads for tenant actors; 0 means one per core. Default 0.
    pub arbiters: usize,
    /// Snapshot a partition's state after this many events since its last snapshot; 0
    /// never by count. Default 100,000. (`clock = "wall"` only.)
    pub snapshot_every_events: u64,
    /// Snapshot a partition's state when this long has passed since its last snapshot and
    /// events came; `"0s"` never by time. Default `"5m"`.
    pub snapshot_interval: ConfigDuration,
    /// How long applied event ids are remembered to reject repeats (`duplicate_event`), in
    /// `occurred_at` behind the newest event; `"0s"` means the stream's retention. The memory,
    /// and each snapshot, hold about 17 bytes per id inside it. Default `"0s"`.
    pub dedupe_window: ConfigDuration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            allowed_lateness: ConfigDuration::from_mins(5),
            clock: ClockMode::Wall,
            arbiters: 0,
            snapshot_every_events: 100_000,
            snapshot_interval: ConfigDuration::from_mins(5),
            dedupe_window: ConfigDuration::from_secs(0),
        }
    }
}

/// `[cluster]`: how this instance takes part in sharing the partitions. Partitions are leased
/// (DESIGN.md §6): every instance takes a fair share through leases in NATS KV, and takes
/// over the partitions of an instance whose leases expire.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// No longer used (partitions are leased, not assigned by index); accepted so older files
    /// load. Default 0.
    pub instance: u32,
    /// No longer used (the share follows the live instances); accepted so older files load.
    /// Default 1.
    pub instances: u32,
    /// This instance's name in the lease bucket: letters, digits, `-` and `_`, unique among
    /// running instances. Default empty: `<hostname>-<pid>`.
    pub name: String,
    /// How long a partition's lease lasts unless its owner renews it (every third of it): the
    /// longest a dead instance's partitions wait for a new owner. Default `"10s"`.
    pub lease_ttl: ConfigDuration,
    /// Replicas of the lease bucket: 1 on one nats-server, 3 on a JetStream cluster. Default 1.
    pub lease_replicas: u8,
    /// Redis that holds the rate limits protecting others (API per IP and per tenant,
    /// notification channels per recipient, partners) across instances:
    /// `redis://[:password@]host[:port][/db]` or `rediss://…` (TLS). Default empty: each
    /// instance limits on its own.
    pub redis_url: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            instance: 0,
            instances: 1,
            name: String::new(),
            lease_ttl: ConfigDuration::from_secs(10),
            lease_replicas: 1,
            redis_url: String::new(),
        }
    }
}
