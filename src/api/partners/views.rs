//! The JSON shapes of the partner endpoints: the store's rows with instants as RFC 3339, and a
//! partner's configuration without anything secret.

use serde::Serialize;
use utoipa::ToSchema;
use vigil_schema::{format_instant, Millis};

use crate::partner::config::{PartnerConfig, TenantSelector};
use crate::partner::link::PartnerLink;
use crate::store::{PartnerOutboxEntry, PartnerOutboxStats, ReconciliationDiff, ReconciliationRun};

/// A partner at a glance: where it is, whom it serves, its breaker, its outbox and its latest
/// reconciliation. Credentials never appear: only the kind of authentication.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PartnerView {
    /// Its id (`exchange-a`).
    pub id: String,
    /// The partner API's base URL, without any user or password in it.
    pub base_url: String,
    /// The tenants whose records go to it: ids, or `"*"` for every tenant.
    #[schema(value_type = Vec<Value>)]
    pub tenants: Vec<serde_json::Value>,
    /// Its time zone (days of records are local dates there).
    pub timezone: String,
    /// Local time of the nightly reconciliation (`HH:MM`), or `off`.
    pub reconcile_at: String,
    /// Requests per second and burst; `null` when unlimited.
    pub rate_limit: Option<RateLimitView>,
    /// `none`, `api_key`, `oauth2` or `hmac`.
    pub auth: String,
    /// `closed`, `open` or `half_open`.
    pub breaker_state: String,
    /// While open: when probes are let through (RFC 3339).
    pub breaker_open_until: Option<String>,
    /// The partner outbox.
    pub outbox: OutboxStatsView,
    /// The newest reconciliation run (running or finished), if any ran.
    pub last_reconciliation: Option<RunView>,
}

/// `rate_limit` of a partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct RateLimitView {
    /// Sustained requests per second.
    pub per_second: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
}

impl PartnerView {
    /// The view of `link` with its outbox and newest run, at `now`.
    pub fn of(
        link: &PartnerLink,
        stats: &PartnerOutboxStats,
        last: Option<&ReconciliationRun>,
        now: Millis,
    ) -> PartnerView {
        let c: &PartnerConfig = link.config();
        PartnerView {
            id: c.id.clone(),
            base_url: public_url(&c.base_url),
            tenants: c
                .tenants
                .iter()
                .map(|t| match t {
                    TenantSelector::Id(id) => serde_json::Value::from(*id),
                    TenantSelector::Pattern(p) => serde_json::Value::from(p.as_str()),
                })
                .collect(),
            timezone: c.timezone.clone(),
            reconcile_at: c.reconcile_at.clone(),
            rate_limit: c.rate_limit.map(|r| RateLimitView {
                per_second: r.per_second,
                burst: r.burst,
            }),
            auth: c.auth.kind().into(),
            breaker_state: link.breaker_state().as_str().into(),
            breaker_open_until: link.open_until().map(format_instant),
            outbox: OutboxStatsView::of(stats, now),
            last_reconciliation: last.map(RunView::from),
        }
    }
}

/// `url` without a user name or password (they may hold a credential); as configured when it
/// has neither, or does not parse (configuration checks refuse such URLs at start).
pub fn public_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            // Only fails for URLs that cannot have credentials anyway.
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// A partner's outbox at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OutboxStatsView {
    /// Records waiting to be sent (due or not).
    pub pending: u64,
    /// Records given up on until an operator retries them.
    pub parked: u64,
    /// Records the partner has.
    pub delivered: u64,
    /// When the oldest pending record entered the queue (RFC 3339).
    pub oldest_pending_queued_at: Option<String>,
    /// How long the oldest pending record has waited, in milliseconds.
    pub oldest_pending_age_ms: Option<i64>,
    /// The earliest instant a pending record may be attempted (RFC 3339).
    pub next_due_at: Option<String>,
}

impl OutboxStatsView {
    /// The view of `stats` at `now`.
    pub fn of(stats: &PartnerOutboxStats, now: Millis) -> OutboxStatsView {
        OutboxStatsView {
            pending: stats.pending,
            parked: stats.parked,
            delivered: stats.delivered,
            oldest_pending_queued_at: stats.oldest_pending_queued_at.map(format_instant),
            oldest_pending_age_ms: stats
                .oldest_pending_queued_at
                .map(|t| now.saturating_sub(t).max(0)),
            next_due_at: stats.next_due_at.map(format_instant),
        }
    }
}

/// `GET /api/v1/partners/{partner_id}/outbox`: one page, by record id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OutboxPage {
    /// The partner.
    pub partner_id: String,
    /// The state listed (`pending`, `delivered`, `parked` or `all`).
    pub state: String,
    /// The records, by record id.
    pub records: Vec<PartnerOutboxEntry>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next: Option<String>,
}

/// `POST /api/v1/partners/{partner_id}/outbox/retry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct RetriedRecords {
    /// Parked records queued to be sent again.
    pub retried: u64,
}

/// A reconciliation run and its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RunView {
    /// Its id.
    pub run_id: String,
    /// The partner.
    pub partner_id: String,
    /// The day reconciled, `YYYY-MM-DD` in the partner's time zone.
    pub day: String,
    /// `nightly` or `manual`.
    pub trigger: String,
    /// `running` or `finished`.
    pub state: String,
    /// When it started.
    pub started_at: String,
    /// When it finished.
    pub finished_at: Option<String>,
    /// The last partner page counted (pages start at 1).
    pub pages_done: u32,
    /// Records the partner listed.
    pub partner_records: u64,
    /// Records we have for the day.
    pub our_records: u64,
    /// Records both sides hold alike.
    pub matched: u64,
    /// Ours that the partner does not have (sent again).
    pub missing_at_partner: u64,
    /// The partner's that we do not have (flagged for review).
    pub missing_at_ours: u64,
    /// Held by both, but different (sent again).
    pub mismatched: u64,
    /// Records queued to be sent again to repair the partner's side.
    pub repaired: u64,
    /// Diffs kept in the report (the first ones found).
    pub diffs_kept: u32,
    /// Why the last attempt failed, if one did (a finished run keeps it: it was resumed).
    pub error: Option<String>,
}

impl From<&ReconciliationRun> for RunView {
    fn from(r: &ReconciliationRun) -> RunView {
        RunView {
            run_id: r.run_id.clone(),
            partner_id: r.partner_id.clone(),
            day: r.day.clone(),
            trigger: r.trigger.clone(),
            state: r.state.clone(),
            started_at: format_instant(r.started_at),
            finished_at: r.finished_at.map(format_instant),
            pages_done: r.pages_done,
            partner_records: r.partner_records,
            our_records: r.our_records,
            matched: r.matched,
            missing_at_partner: r.missing_at_partner,
            missing_at_ours: r.missing_at_ours,
            mismatched: r.mismatched,
            repaired: r.repaired,
            diffs_kept: r.diffs_kept,
            error: r.error.clone(),
        }
    }
}

/// `GET /api/v1/partners/{partner_id}/reconciliations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RunList {
    /// The partner.
    pub partner_id: String,
    /// The day asked for, if one was.
    pub date: Option<String>,
    /// Newest first.
    pub runs: Vec<RunView>,
}

/// A reconciliation report: the run, its counts and the diffs it kept.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReconciliationReport {
    /// The run and its counts by kind.
    pub run: RunView,
    /// Differences found, of every kind (`diffs` holds the first of them only).
    pub diffs_total: u64,
    /// Records the partner has and we do not: nothing repairs them, somebody should look.
    pub flagged_for_review: u64,
    /// The first diffs found (at most 1,000), in the order found; record contents are masked
    /// as they leave for the partner.
    pub diffs: Vec<ReconciliationDiff>,
}

impl ReconciliationReport {
    /// The report of `run` with the diffs it kept.
    pub fn of(run: &ReconciliationRun, diffs: Vec<ReconciliationDiff>) -> ReconciliationReport {
        ReconciliationReport {
            run: RunView::from(run),
            diffs_total: run
                .missing_at_partner
                .saturating_add(run.missing_at_ours)
                .saturating_add(run.mismatched),
            flagged_for_review: run.missing_at_ours,
            diffs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_taken_out_of_base_urls() {
        assert_eq!(
            public_url("https://vigil:s3cret@exchange-a.example.com/api"),
            "https://exchange-a.example.com/api"
        );
        assert_eq!(
            public_url("https://token@exchange-b.example.com"),
            "https://exchange-b.example.com/"
        );
        assert_eq!(public_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(public_url("not a url"), "not a url");
    }

    #[test]
    fn the_oldest_pending_age_is_measured_from_now() {
        let stats = PartnerOutboxStats {
            pending: 2,
            parked: 1,
            delivered: 7,
            oldest_pending_queued_at: Some(1_000),
            next_due_at: Some(61_000),
        };
        let v = OutboxStatsView::of(&stats, 31_000);
        assert_eq!(v.oldest_pending_age_ms, Some(30_000));
        assert_eq!(
            v.oldest_pending_queued_at.as_deref(),
            Some("1970-01-01T00:00:01Z")
        );
        assert_eq!(v.next_due_at.as_deref(), Some("1970-01-01T00:01:01Z"));
        let empty = OutboxStatsView::of(&PartnerOutboxStats::default(), 31_000);
        assert_eq!(empty.oldest_pending_age_ms, None);
    }
}
