//! Every metric Vigil exports (those of leases, snapshots and recovery in
//! [`super::cluster_metrics`]): the names, their descriptions, and one helper per metric so that
//! call sites never spell a name or a label key. Names follow `vigil_<subsystem>_<name>_<unit>`;
//! counters end in `_total`. Label values are bounded: enums (`&'static str`), partition numbers
//! (at most `nats.partitions`), and tenants only through
//! [`TenantLabel`] (at most `metrics.tenant_labels`, the rest share `"other"`).
//!
//! Helpers return the `metrics` handle (`Counter`, `Gauge`, `Histogram`); a hot path may keep the
//! handle instead of looking it up per event.

use metrics::{
    describe_counter, describe_gauge, describe_histogram, Counter, Gauge, Histogram, Unit,
};
use vigil_engine::{AlertState, Goal, Level};

use super::labels::TenantLabel;

/// Events decoded, validated and applied.
pub const EVENTS_INGESTED: &str = "vigil_events_ingested_total";
/// Events not applied, by `reason` (the rejection reasons of DESIGN.md §3.1).
pub const EVENTS_REJECTED: &str = "vigil_events_rejected_total";
/// Events republished to the dead-letter subject, by `reason`.
pub const EVENTS_DEAD_LETTERED: &str = "vigil_events_dead_lettered_total";
/// Time from receiving an event to its effect being applied.
pub const EVENT_PROCESSING_SECONDS: &str = "vigil_event_processing_seconds";
/// Alert state changes, by `goal`, `level` and `state`.
pub const ALERTS: &str = "vigil_alerts_total";
/// Open (not final) tickets, by `tenant` (bounded).
pub const OPEN_TICKETS: &str = "vigil_open_tickets";
/// Messages of a partition not yet delivered to this instance, by `partition`.
pub const CONSUMER_PENDING: &str = "vigil_consumer_pending";
/// Tenant actors restarted after a panic.
pub const ACTOR_RESTARTS: &str = "vigil_actor_restarts_total";
/// Panics contained in tenant actors outside event handling, by `place` (`timer`, `read`);
/// the tenant kept its state.
pub const ACTOR_PANICS: &str = "vigil_actor_panics_total";
/// Partition workers restarted after an error or a panic.
pub const PARTITION_RESTARTS: &str = "vigil_partition_restarts_total";
/// Rows the store refused for good, dead-lettered instead, by `kind` (`alert`, `sla_record`).
pub const STORE_ROWS_REFUSED: &str = "vigil_store_rows_refused_total";
/// Report jobs finished, by `outcome` (`done`, `failed`).
pub const REPORT_JOBS: &str = "vigil_report_jobs_total";
/// Passes over the report schedules (each queues the runs that came due).
pub const REPORT_SCHEDULE_PASSES: &str = "vigil_report_schedule_passes_total";
/// Emails of scheduled reports, by `outcome` (`sent`, `retried`, `failed`, `late`: sent after
/// the hour its schedule was due).
pub const REPORT_EMAILS: &str = "vigil_report_emails_total";
/// The global order (`seq`) of the latest configuration change this instance applied.
pub const CONFIG_APPLIED_SEQ: &str = "vigil_config_applied_seq";
/// Time from a configuration change being stored to this instance applying it.
pub const CONFIG_APPLY_SECONDS: &str = "vigil_config_apply_seconds";
/// Rounds in which this instance could not read the runtime layer (it keeps the last applied).
pub const CONFIG_APPLY_ERRORS: &str = "vigil_config_apply_errors_total";
/// Tenants with a live actor on this instance.
pub const TENANTS_ACTIVE: &str = "vigil_tenants_active";
/// Failed store operations, by `kind` (`unavailable`: a retry can help; `rejected`: it cannot).
pub const STORE_ERRORS: &str = "vigil_store_errors_total";
/// Duration of store writes (one alert change or one batch), by `op`.
pub const STORE_WRITE_SECONDS: &str = "vigil_store_write_seconds";
/// HTTP requests answered, by `route` (the matched route pattern) and `status` class.
pub const HTTP_REQUESTS: &str = "vigil_http_requests_total";
/// HTTP request duration, by `route`.
pub const HTTP_REQUEST_SECONDS: &str = "vigil_http_request_duration_seconds";
/// Requests refused by a rate limit, by `scope` (`ip`, `tenant`, `ws`).
pub const HTTP_RATE_LIMITED: &str = "vigil_http_rate_limited_total";
/// Calls to Redis for a rate-limit check that failed or were not answered in time, by `scope`.
/// Each such check, and every check in the second after it, is answered by the instance's own
/// limiter instead.
pub const LIMIT_REDIS_ERRORS: &str = "vigil_limit_redis_errors_total";
/// Round trip of a rate-limit check answered by Redis.
pub const LIMIT_REDIS_SECONDS: &str = "vigil_limit_redis_seconds";
/// Refused requests worth a security review, by `kind` (`bad_token`, `cross_tenant`,
/// `forbidden_role`).
pub const SECURITY_EVENTS: &str = "vigil_security_events_total";
/// Events sent to HTTP ingest, by `result` (`accepted`, `duplicate`, `rejected`).
pub const INGEST_HTTP_EVENTS: &str = "vigil_ingest_http_events_total";
/// Open WebSocket connections.
pub const WS_CLIENTS: &str = "vigil_ws_clients";
/// WebSocket messages queued to clients, by `type`.
pub const WS_MESSAGES_SENT: &str = "vigil_ws_messages_sent_total";
/// WebSocket messages dropped from a client's queue, by `reason` (`superseded`).
pub const WS_DROPPED: &str = "vigil_ws_dropped_total";
/// WebSocket connections ended, by `reason` (`closed`, `idle`, `slow_client`, `shutdown`).
pub const WS_DISCONNECTS: &str = "vigil_ws_disconnects_total";
/// From an alert change being recorded to its message being queued for every subscriber.
pub const WS_PUSH_LATENCY_SECONDS: &str = "vigil_ws_push_latency_seconds";
/// Readiness checks, 1 passing and 0 failing, by `check`.
pub const READY: &str = "vigil_ready";
/// Notifications settled by the dispatcher, by `channel` and `result` (`sent`, `retried`,
/// `failed`, `rate_limited`, `fallback`).
pub const NOTIFICATIONS: &str = "vigil_notifications_total";
/// To the provider accepting a notification, by `channel`: a first page from when the alert
/// change was noticed (grouping included), a later step or resolution message from when it
/// was due.
pub const NOTIFICATION_DELIVERY_SECONDS: &str = "vigil_notification_delivery_seconds";
/// Notifications due or held back (retries, open breaker, limits, silences) in the outbox;
/// escalation steps planned for later are not counted.
pub const NOTIFICATION_OUTBOX_DEPTH: &str = "vigil_notification_outbox_depth";
/// Escalation steps after the first that went out (nobody acknowledged in time).
pub const NOTIFICATION_ESCALATIONS: &str = "vigil_notification_escalations_total";
/// Acknowledgements, by `via` (`api`, `link`).
pub const ALERT_ACKS: &str = "vigil_alert_acks_total";
/// Circuit breaker of each provider: 0 closed, 1 open, 2 half-open, by `channel`.
pub const NOTIFICATION_BREAKER_STATE: &str = "vigil_notification_breaker_state";

/// Calls to exchange partners, by `partner`, `call` (`put`, `get`) and `result` (`ok`,
/// `retryable`, `permanent`).
pub const PARTNER_REQUESTS: &str = "vigil_partner_requests_total";
/// Latency of calls to exchange partners, by `partner` and `call`.
pub const PARTNER_REQUEST_SECONDS: &str = "vigil_partner_request_seconds";
/// Circuit breaker of each partner: 0 closed, 1 open, 2 half-open, by `partner`.
pub const PARTNER_BREAKER_STATE: &str = "vigil_partner_breaker_state";
/// Breaker state changes, by `partner` and `to` (`closed`, `open`, `half_open`).
pub const PARTNER_BREAKER_TRANSITIONS: &str = "vigil_partner_breaker_transitions_total";
/// Records waiting in a partner's outbox (pending, due or not), by `partner`.
pub const PARTNER_OUTBOX_DEPTH: &str = "vigil_partner_outbox_depth";
/// Records parked after a permanent refusal, by `partner`.
pub const PARTNER_OUTBOX_PARKED: &str = "vigil_partner_outbox_parked";
/// Age of the oldest record waiting in a partner's outbox, by `partner` (0 when empty).
pub const PARTNER_OUTBOX_OLDEST_AGE_SECONDS: &str = "vigil_partner_outbox_oldest_age_seconds";
/// Deliveries tried again after a retryable failure, by `partner`.
pub const PARTNER_RETRIES: &str = "vigil_partner_retries_total";
/// Differences found by the latest finished reconciliation, by `partner` and `kind`
/// (`missing_at_partner`, `missing_at_ours`, `mismatched`).
pub const RECONCILIATION_DIFFS: &str = "vigil_reconciliation_diffs";
/// Reconciliation runs ended, by `partner` and `result` (`finished`, `failed`).
pub const RECONCILIATION_RUNS: &str = "vigil_reconciliation_runs_total";
/// When the latest reconciliation of a partner finished (unix seconds), by `partner`.
pub const RECONCILIATION_LAST_FINISHED: &str =
    "vigil_reconciliation_last_finished_timestamp_seconds";

// The process, under the names Prometheus client libraries use (no `vigil_` prefix, so the
// usual process dashboards and alerts apply), set by [`super::process`] on every upkeep tick.
/// CPU time used by the process, user and system, in seconds. A gauge because the recorder's
/// counters hold whole numbers; it only grows, so `rate()` applies as to a counter.
pub const PROCESS_CPU_SECONDS: &str = "process_cpu_seconds_total";
/// Resident memory of the process, in bytes.
pub const PROCESS_RESIDENT_MEMORY: &str = "process_resident_memory_bytes";
/// File descriptors the process has open (sockets included).
pub const PROCESS_OPEN_FDS: &str = "process_open_fds";
/// The most file descriptors the process may open (its soft `RLIMIT_NOFILE`).
pub const PROCESS_MAX_FDS: &str = "process_max_fds";

/// Bucket bounds of [`NOTIFICATION_DELIVERY_SECONDS`]: 10 ms to an hour (grouping waits 30 s
/// by default, and retries may take minutes).
pub const DELIVERY_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 45.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
];

/// Histogram bucket bounds for every `_seconds` histogram: 100 µs to 10 s.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Registers the description and unit of every metric. Call once after installing the recorder.
pub fn describe() {
    super::cluster_metrics::describe();
    describe_counter!(
        EVENTS_INGESTED,
        Unit::Count,
        "Events decoded, validated and applied."
    );
    describe_counter!(
        EVENTS_REJECTED,
        Unit::Count,
        "Events not applied, by reason."
    );
    describe_counter!(
        EVENTS_DEAD_LETTERED,
        Unit::Count,
        "Events republished to the dead-letter subject, by reason."
    );
    describe_histogram!(
        EVENT_PROCESSING_SECONDS,
        Unit::Seconds,
        "Time from receiving an event to its effect being applied."
    );
    describe_counter!(
        ALERTS,
        Unit::Count,
        "Alert state changes, by goal, level and state."
    );
    describe_gauge!(
        OPEN_TICKETS,
        Unit::Count,
        "Open tickets, by tenant (top tenants; the rest as \"other\")."
    );
    describe_gauge!(
        CONSUMER_PENDING,
        Unit::Count,
        "Messages of a partition not yet delivered to this instance."
    );
    describe_counter!(
        ACTOR_RESTARTS,
        Unit::Count,
        "Tenant actors restarted after a panic."
    );
    describe_counter!(
        ACTOR_PANICS,
        Unit::Count,
        "Panics contained in tenant actors' timer ticks and reads, by place; the tenant kept its state."
    );
    describe_counter!(
        PARTITION_RESTARTS,
        Unit::Count,
        "Partition workers restarted after an error or a panic."
    );
    describe_counter!(
        STORE_ROWS_REFUSED,
        Unit::Count,
        "Rows the store refused for good, dead-lettered instead, by kind."
    );
    describe_counter!(
        REPORT_JOBS,
        Unit::Count,
        "Report jobs finished, by outcome (done, failed)."
    );
    describe_counter!(
        REPORT_SCHEDULE_PASSES,
        Unit::Count,
        "Passes over the report schedules, each queueing the runs that came due."
    );
    describe_counter!(
        REPORT_EMAILS,
        Unit::Count,
        "Emails of scheduled reports, by outcome (sent, retried, failed; late: sent over an hour after the run was due)."
    );
    describe_gauge!(
        CONFIG_APPLIED_SEQ,
        Unit::Count,
        "Global order of the latest configuration change this instance applied."
    );
    describe_histogram!(
        CONFIG_APPLY_SECONDS,
        Unit::Seconds,
        "Time from a configuration change being stored to this instance applying it."
    );
    describe_counter!(
        CONFIG_APPLY_ERRORS,
        Unit::Count,
        "Rounds in which the runtime layer could not be read; the last applied stays."
    );
    describe_gauge!(
        TENANTS_ACTIVE,
        Unit::Count,
        "Tenants with a live actor on this instance."
    );
    describe_counter!(
        STORE_ERRORS,
        Unit::Count,
        "Failed store operations, by kind."
    );
    describe_histogram!(
        STORE_WRITE_SECONDS,
        Unit::Seconds,
        "Duration of store writes, by operation."
    );
    describe_counter!(
        HTTP_REQUESTS,
        Unit::Count,
        "HTTP requests answered, by route and status class."
    );
    describe_histogram!(
        HTTP_REQUEST_SECONDS,
        Unit::Seconds,
        "HTTP request duration, by route."
    );
    describe_counter!(
        HTTP_RATE_LIMITED,
        Unit::Count,
        "Requests refused by a rate limit, by scope."
    );
    describe_counter!(
        LIMIT_REDIS_ERRORS,
        Unit::Count,
        "Rate-limit checks Redis did not answer, by scope; the instance's own limiter answers while it does not."
    );
    describe_histogram!(
        LIMIT_REDIS_SECONDS,
        Unit::Seconds,
        "Round trip of a rate-limit check answered by Redis."
    );
    describe_counter!(
        SECURITY_EVENTS,
        Unit::Count,
        "Refused requests worth a security review, by kind."
    );
    describe_counter!(
        INGEST_HTTP_EVENTS,
        Unit::Count,
        "Events sent to HTTP ingest, by result."
    );
    describe_gauge!(WS_CLIENTS, Unit::Count, "Open WebSocket connections.");
    describe_counter!(
        WS_MESSAGES_SENT,
        Unit::Count,
        "WebSocket messages queued to clients, by type."
    );
    describe_counter!(
        WS_DROPPED,
        Unit::Count,
        "WebSocket messages dropped from a slow client's queue, by reason."
    );
    describe_counter!(
        WS_DISCONNECTS,
        Unit::Count,
        "WebSocket connections ended, by reason."
    );
    describe_histogram!(
        WS_PUSH_LATENCY_SECONDS,
        Unit::Seconds,
        "From an engine change to its WebSocket message being queued for every subscriber."
    );
    describe_gauge!(
        READY,
        Unit::Count,
        "Readiness checks: 1 passing, 0 failing, by check."
    );
    describe_counter!(
        NOTIFICATIONS,
        Unit::Count,
        "Notifications settled, by channel and result."
    );
    describe_histogram!(
        NOTIFICATION_DELIVERY_SECONDS,
        Unit::Seconds,
        "To the provider accepting a notification, by channel: first pages from the alert change, others from when due."
    );
    describe_gauge!(
        NOTIFICATION_OUTBOX_DEPTH,
        Unit::Count,
        "Notifications due or held back in the outbox."
    );
    describe_counter!(
        NOTIFICATION_ESCALATIONS,
        Unit::Count,
        "Escalation steps after the first that went out."
    );
    describe_counter!(ALERT_ACKS, Unit::Count, "Acknowledgements, by via.");
    describe_gauge!(
        NOTIFICATION_BREAKER_STATE,
        Unit::Count,
        "Provider circuit breaker: 0 closed, 1 open, 2 half-open, by channel."
    );
    describe_counter!(
        PARTNER_REQUESTS,
        Unit::Count,
        "Calls to exchange partners, by partner, call and result."
    );
    describe_histogram!(
        PARTNER_REQUEST_SECONDS,
        Unit::Seconds,
        "Latency of calls to exchange partners, by partner and call."
    );
    describe_gauge!(
        PARTNER_BREAKER_STATE,
        Unit::Count,
        "Partner circuit breaker: 0 closed, 1 open, 2 half-open, by partner."
    );
    describe_counter!(
        PARTNER_BREAKER_TRANSITIONS,
        Unit::Count,
        "Partner circuit breaker state changes, by partner and to."
    );
    describe_gauge!(
        PARTNER_OUTBOX_DEPTH,
        Unit::Count,
        "Records waiting in a partner outbox, by partner."
    );
    describe_gauge!(
        PARTNER_OUTBOX_PARKED,
        Unit::Count,
        "Records parked after a permanent refusal, by partner."
    );
    describe_gauge!(
        PARTNER_OUTBOX_OLDEST_AGE_SECONDS,
        Unit::Seconds,
        "Age of the oldest record waiting in a partner outbox, by partner."
    );
    describe_counter!(
        PARTNER_RETRIES,
        Unit::Count,
        "Partner deliveries tried again after a retryable failure, by partner."
    );
    describe_gauge!(
        RECONCILIATION_DIFFS,
        Unit::Count,
        "Differences found by the latest finished reconciliation, by partner and kind."
    );
    describe_counter!(
        RECONCILIATION_RUNS,
        Unit::Count,
        "Reconciliation runs ended, by partner and result."
    );
    describe_gauge!(
        RECONCILIATION_LAST_FINISHED,
        Unit::Seconds,
        "When the latest reconciliation of a partner finished, unix seconds."
    );
    describe_gauge!(
        PROCESS_CPU_SECONDS,
        Unit::Seconds,
        "CPU time used by the process, user and system, in seconds."
    );
    describe_gauge!(
        PROCESS_RESIDENT_MEMORY,
        Unit::Bytes,
        "Resident memory of the process, in bytes."
    );
    describe_gauge!(
        PROCESS_OPEN_FDS,
        Unit::Count,
        "File descriptors the process has open."
    );
    describe_gauge!(
        PROCESS_MAX_FDS,
        Unit::Count,
        "The most file descriptors the process may open."
    );
}

/// [`EVENTS_INGESTED`].
pub fn events_ingested() -> Counter {
    metrics::counter!(EVENTS_INGESTED)
}

/// [`EVENTS_REJECTED`] for one reason (`vigil_schema::RejectReason::as_str`).
pub fn events_rejected(reason: &'static str) -> Counter {
    metrics::counter!(EVENTS_REJECTED, "reason" => reason)
}

/// [`EVENTS_DEAD_LETTERED`] for one reason.
pub fn events_dead_lettered(reason: &'static str) -> Counter {
    metrics::counter!(EVENTS_DEAD_LETTERED, "reason" => reason)
}

/// [`EVENT_PROCESSING_SECONDS`].
pub fn event_processing_seconds() -> Histogram {
    metrics::histogram!(EVENT_PROCESSING_SECONDS)
}

/// [`ALERTS`] for one kind of change.
pub fn alerts(goal: Goal, level: Level, state: AlertState) -> Counter {
    metrics::counter!(
        ALERTS,
        "goal" => goal.as_str(),
        "level" => level.as_str(),
        "state" => state.as_str()
    )
}

/// [`OPEN_TICKETS`] of one tenant label (`"other"` sums the tenants beyond the labelled ones).
pub fn open_tickets(tenant: &TenantLabel) -> Gauge {
    metrics::gauge!(OPEN_TICKETS, "tenant" => tenant.value())
}

/// [`CONSUMER_PENDING`] of one partition.
pub fn consumer_pending(partition: u16) -> Gauge {
    metrics::gauge!(CONSUMER_PENDING, "partition" => partition.to_string())
}

/// [`ACTOR_RESTARTS`].
pub fn actor_restarts() -> Counter {
    metrics::counter!(ACTOR_RESTARTS)
}

/// [`ACTOR_PANICS`] at `place` (`timer` or `read`).
pub fn actor_panics(place: &'static str) -> Counter {
    metrics::counter!(ACTOR_PANICS, "place" => place)
}

/// [`PARTITION_RESTARTS`].
pub fn partition_restarts() -> Counter {
    metrics::counter!(PARTITION_RESTARTS)
}

/// [`STORE_ROWS_REFUSED`] of one kind (`alert`, `ticket_fact` or `sla_record`).
pub fn store_rows_refused(kind: &'static str) -> Counter {
    metrics::counter!(STORE_ROWS_REFUSED, "kind" => kind)
}

/// [`REPORT_JOBS`] of one outcome.
pub fn report_jobs(outcome: &'static str) -> Counter {
    metrics::counter!(REPORT_JOBS, "outcome" => outcome)
}

/// [`REPORT_SCHEDULE_PASSES`].
pub fn report_schedule_passes() -> Counter {
    metrics::counter!(REPORT_SCHEDULE_PASSES)
}

/// [`REPORT_EMAILS`] of one outcome.
pub fn report_emails(outcome: &'static str) -> Counter {
    metrics::counter!(REPORT_EMAILS, "outcome" => outcome)
}

/// [`TENANTS_ACTIVE`].
pub fn tenants_active() -> Gauge {
    metrics::gauge!(TENANTS_ACTIVE)
}

/// [`STORE_ERRORS`]: `retryable` selects `kind="unavailable"`, else `kind="rejected"`.
pub fn store_errors(retryable: bool) -> Counter {
    let kind = if retryable { "unavailable" } else { "rejected" };
    metrics::counter!(STORE_ERRORS, "kind" => kind)
}

/// [`STORE_WRITE_SECONDS`] of one operation (e.g. `"alert"`, `"alert_batch"`).
pub fn store_write_seconds(op: &'static str) -> Histogram {
    metrics::histogram!(STORE_WRITE_SECONDS, "op" => op)
}

/// [`HTTP_REQUESTS`]: `route` is the matched route pattern (or `"unmatched"`), `status` the class
/// (`"2xx"` … `"5xx"`).
pub fn http_requests(route: String, status: &'static str) -> Counter {
    metrics::counter!(HTTP_REQUESTS, "route" => route, "status" => status)
}

/// [`HTTP_REQUEST_SECONDS`] of one route pattern.
pub fn http_request_seconds(route: String) -> Histogram {
    metrics::histogram!(HTTP_REQUEST_SECONDS, "route" => route)
}

/// The status class label of an HTTP status code.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// [`HTTP_RATE_LIMITED`] of one scope.
pub fn http_rate_limited(scope: &'static str) -> Counter {
    metrics::counter!(HTTP_RATE_LIMITED, "scope" => scope)
}

/// [`LIMIT_REDIS_ERRORS`] of one scope.
pub fn limit_redis_errors(scope: &'static str) -> Counter {
    metrics::counter!(LIMIT_REDIS_ERRORS, "scope" => scope)
}

/// [`LIMIT_REDIS_SECONDS`].
pub fn limit_redis_seconds() -> Histogram {
    metrics::histogram!(LIMIT_REDIS_SECONDS)
}

/// [`SECURITY_EVENTS`] of one kind.
pub fn security_events(kind: &'static str) -> Counter {
    metrics::counter!(SECURITY_EVENTS, "kind" => kind)
}

/// [`INGEST_HTTP_EVENTS`] of one result.
pub fn ingest_http_events(result: &'static str) -> Counter {
    metrics::counter!(INGEST_HTTP_EVENTS, "result" => result)
}

/// [`WS_CLIENTS`].
pub fn ws_clients() -> Gauge {
    metrics::gauge!(WS_CLIENTS)
}

/// [`WS_MESSAGES_SENT`] of one message type.
pub fn ws_messages_sent(kind: &'static str) -> Counter {
    metrics::counter!(WS_MESSAGES_SENT, "type" => kind)
}

/// [`WS_DROPPED`] for one reason.
pub fn ws_dropped(reason: &'static str) -> Counter {
    metrics::counter!(WS_DROPPED, "reason" => reason)
}

/// [`WS_DISCONNECTS`] for one reason.
pub fn ws_disconnects(reason: &'static str) -> Counter {
    metrics::counter!(WS_DISCONNECTS, "reason" => reason)
}

/// [`WS_PUSH_LATENCY_SECONDS`].
pub fn ws_push_latency_seconds() -> Histogram {
    metrics::histogram!(WS_PUSH_LATENCY_SECONDS)
}

/// [`READY`] of one check.
pub fn ready(check: &'static str) -> Gauge {
    metrics::gauge!(READY, "check" => check)
}

/// [`NOTIFICATIONS`] of one channel and result.
pub fn notifications(channel: &'static str, result: &'static str) -> Counter {
    metrics::counter!(NOTIFICATIONS, "channel" => channel, "result" => result)
}

/// [`NOTIFICATION_DELIVERY_SECONDS`] of one channel.
pub fn notification_delivery_seconds(channel: &'static str) -> Histogram {
    metrics::histogram!(NOTIFICATION_DELIVERY_SECONDS, "channel" => channel)
}

/// [`NOTIFICATION_OUTBOX_DEPTH`].
pub fn notification_outbox_depth() -> Gauge {
    metrics::gauge!(NOTIFICATION_OUTBOX_DEPTH)
}

/// [`NOTIFICATION_ESCALATIONS`].
pub fn notification_escalations() -> Counter {
    metrics::counter!(NOTIFICATION_ESCALATIONS)
}

/// [`ALERT_ACKS`] by one way.
pub fn alert_acks(via: &'static str) -> Counter {
    metrics::counter!(ALERT_ACKS, "via" => via)
}

/// [`NOTIFICATION_BREAKER_STATE`] of one channel.
pub fn notification_breaker_state(channel: &'static str) -> Gauge {
    metrics::gauge!(NOTIFICATION_BREAKER_STATE, "channel" => channel)
}

/// [`PARTNER_REQUESTS`] of one partner, call and result.
pub fn partner_requests(partner: &str, call: &'static str, result: &'static str) -> Counter {
    metrics::counter!(PARTNER_REQUESTS, "partner" => partner.to_string(), "call" => call, "result" => result)
}

/// [`PARTNER_REQUEST_SECONDS`] of one partner and call.
pub fn partner_request_seconds(partner: &str, call: &'static str) -> Histogram {
    metrics::histogram!(PARTNER_REQUEST_SECONDS, "partner" => partner.to_string(), "call" => call)
}

/// [`PARTNER_BREAKER_STATE`] of one partner.
pub fn partner_breaker_state(partner: &str) -> Gauge {
    metrics::gauge!(PARTNER_BREAKER_STATE, "partner" => partner.to_string())
}

/// [`PARTNER_BREAKER_TRANSITIONS`] of one partner into one state.
pub fn partner_breaker_transitions(partner: &str, to: &'static str) -> Counter {
    metrics::counter!(PARTNER_BREAKER_TRANSITIONS, "partner" => partner.to_string(), "to" => to)
}

/// [`PARTNER_OUTBOX_DEPTH`] of one partner.
pub fn partner_outbox_depth(partner: &str) -> Gauge {
    metrics::gauge!(PARTNER_OUTBOX_DEPTH, "partner" => partner.to_string())
}

/// [`PARTNER_OUTBOX_PARKED`] of one partner.
pub fn partner_outbox_parked(partner: &str) -> Gauge {
    metrics::gauge!(PARTNER_OUTBOX_PARKED, "partner" => partner.to_string())
}

/// [`PARTNER_OUTBOX_OLDEST_AGE_SECONDS`] of one partner.
pub fn partner_outbox_oldest_age_seconds(partner: &str) -> Gauge {
    metrics::gauge!(PARTNER_OUTBOX_OLDEST_AGE_SECONDS, "partner" => partner.to_string())
}

/// [`PARTNER_RETRIES`] of one partner.
pub fn partner_retries(partner: &str) -> Counter {
    metrics::counter!(PARTNER_RETRIES, "partner" => partner.to_string())
}

/// [`RECONCILIATION_DIFFS`] of one partner and kind.
pub fn reconciliation_diffs(partner: &str, kind: &'static str) -> Gauge {
    metrics::gauge!(RECONCILIATION_DIFFS, "partner" => partner.to_string(), "kind" => kind)
}

/// [`RECONCILIATION_RUNS`] of one partner and result.
pub fn reconciliation_runs(partner: &str, result: &'static str) -> Counter {
    metrics::counter!(RECONCILIATION_RUNS, "partner" => partner.to_string(), "result" => result)
}

/// [`RECONCILIATION_LAST_FINISHED`] of one partner.
pub fn reconciliation_last_finished(partner: &str) -> Gauge {
    metrics::gauge!(RECONCILIATION_LAST_FINISHED, "partner" => partner.to_string())
}

/// [`CONFIG_APPLIED_SEQ`].
pub fn config_applied_seq() -> Gauge {
    metrics::gauge!(CONFIG_APPLIED_SEQ)
}

/// [`CONFIG_APPLY_SECONDS`].
pub fn config_apply_seconds() -> Histogram {
    metrics::histogram!(CONFIG_APPLY_SECONDS)
}

/// [`CONFIG_APPLY_ERRORS`].
pub fn config_apply_errors() -> Counter {
    metrics::counter!(CONFIG_APPLY_ERRORS)
}
