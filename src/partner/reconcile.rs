//! Reconciliation of one partner and one local day (DESIGN.md §7): pages through the
//! partner's records of the day, compares them with ours by record id and content hash,
//! re-queues what is missing or different at the partner, flags what only the partner has,
//! and stores a report.
//!
//! # Layout
//! - `day`: local days and times of a time zone as instants ([`day_bounds`],
//!   [`local_instant`]), DST-correct.
//! - `ours`: the pure core: our side as id → hash, comparing a page, a saved page's text.
//! - [`report`]: the report as text or JSON, progress on stderr.
//!
//! # How a run goes
//! 1. Take the lease `reconcile:<partner>` ([`LEASE_TTL_MS`], renewed before every page
//!    request and after every saved page); while another holder has it the answer is
//!    [`ReconcileError::Busy`]. The lease is given up at the end, on errors too.
//! 2. A nightly run of a day that has a finished nightly run returns that run unchanged.
//! 3. Open the run: the partner's running run of that day is resumed, whoever started it;
//!    else a new one starts (id: [`run_id`]).
//! 4. Our side: our records that stopped in the local day (partner's time zone), of the
//!    tenants the partner serves, mapped and hashed once; only id and hash are kept.
//! 5. The partner's pages, from the one after the last saved page. Each page is compared and
//!    saved with its counts and diffs in one transaction (a page never counts twice). Page
//!    failures: an open breaker is waited out; retryable failures are retried `retries` times
//!    (exponential with jitter from `retry_delay`, at least `Retry-After`); then, or on a
//!    permanent failure, the attempt is recorded on the run and the error returned. The run
//!    stays running and the next run of the day resumes it from its last saved page.
//!    A partner record without a usable id cannot be one of ours: it counts as missing at
//!    ours and is kept (with an empty record id) for review, with a warning.
//! 6. After the last page: ours that no page listed are missing at the partner; those and the
//!    mismatched are re-queued in the partner outbox (the outbox worker sends them); what only
//!    the partner has is flagged for review. The run finishes with its counts.
//!
//! # Guarantees
//! - A resumed run ends with the same counts and diffs as an uninterrupted one over the same
//!   data: which of ours each saved page listed, and how, is saved with the page.
//! - Diffs hold both sides masked: ours as it would leave (mapped and masked), the partner's
//!   with our masking rules applied to its field names. The first [`KEEP_DIFFS`] are kept:
//!   pages' diffs in the order found, then the missing at the partner by record id.

mod day;
mod ours;
pub mod report;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::{Map, Value};
use tracing::{debug, info, warn, Instrument};
use vigil_schema::Millis;

pub use day::{day_bounds, local_instant};

use self::ours::{FoundDiff, OurSide};
use super::client::Page;
use super::link::{LinkError, PartnerLink};
use super::worker::capped_retry_after;
use crate::retry::backoff_delay;
use crate::store::{DiffKind, NewDiff, OpenedRun, ReconciliationRun, Store, StoreError};
use crate::telemetry::metrics;

/// How long a reconciliation lease holds without renewal: a crashed holder's run can be
/// resumed by another instance this long after its last renewal.
pub const LEASE_TTL_MS: Millis = 120_000;

/// Diffs a run keeps in its report; the counts are always complete.
pub const KEEP_DIFFS: u32 = 1_000;

/// How long one page waits for an open breaker at most, in multiples of its `open_for`;
/// past that the attempt fails (the partner is down for longer than a run should wait).
pub const OPEN_WAIT_LIMIT: u32 = 10;

/// Shortest wait for an open breaker (probes may be taken by the outbox worker).
const MIN_OPEN_WAIT: Duration = Duration::from_millis(50);

/// Longest sleep between lease renewals while waiting.
const RENEW_EVERY: Duration = Duration::from_secs(30);

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The nightly schedule: a day with a finished nightly run is not run again.
    Nightly,
    /// An operator (`vigil reconcile`): always runs (resuming an unfinished run of the day).
    Manual,
}

impl Trigger {
    /// The stored name: `nightly` or `manual`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Nightly => "nightly",
            Trigger::Manual => "manual",
        }
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Our records are loaded; pages follow.
    Ours,
    /// A partner page was counted.
    Pages,
    /// The run finished.
    Finished,
}

/// A run's progress, reported after our records are loaded, after each page and at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunProgress {
    /// The run.
    pub run_id: String,
    /// The last partner page counted (0 before the first).
    pub pages_done: u32,
    /// Partner records counted so far.
    pub partner_records: u64,
    /// Our records of the day.
    pub our_records: u64,
    /// Where the run is.
    pub phase: Phase,
}

/// Why a reconciliation did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Another holder has the partner's lease: its reconciliation runs elsewhere.
    #[error(
        "partner {partner}: a reconciliation is running elsewhere (lease {lease} is held by \
         another instance); try again later"
    )]
    Busy {
        /// The partner.
        partner: String,
        /// The lease's name.
        lease: String,
    },
    /// The lease expired and another holder took it mid-run.
    #[error(
        "partner {partner}: lost the lease {lease} to another instance; the run resumes from \
         its last saved page"
    )]
    LeaseLost {
        /// The partner.
        partner: String,
        /// The lease's name.
        lease: String,
    },
    /// The partner's time zone is not known.
    #[error("partner {partner}: unknown time zone {zone:?}")]
    TimeZone {
        /// The partner.
        partner: String,
        /// The configured zone.
        zone: String,
    },
    /// The day has no start or end in the partner's zone (out of range).
    #[error("partner {partner}: day {day} cannot be reconciled in time zone {zone}")]
    Day {
        /// The partner.
        partner: String,
        /// The day.
        day: Date,
        /// The zone.
        zone: String,
    },
    /// A partner page could not be read.
    #[error(
        "partner {partner}: page {page} of {day} could not be read: {error}; the next run of \
         the day resumes from this page"
    )]
    Partner {
        /// The partner.
        partner: String,
        /// The local day.
        day: String,
        /// The page.
        page: u32,
        /// The last failure.
        #[source]
        error: LinkError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A saved page's text does not parse.
    #[error("run {run_id}: saved page {page} is unreadable: {reason}")]
    CorruptPage {
        /// The run.
        run_id: String,
        /// The page.
        page: u32,
        /// What is wrong.
        reason: String,
    },
    /// The finished run is not in the store any more.
    #[error("run {0} disappeared from the store")]
    RunGone(String),
    /// A worker thread failed.
    #[error("internal task failed: {0}")]
    Task(String),
}

impl ReconcileError {
    /// Whether running again later can help: the lease may be free, the partner and the
    /// store back. Configuration and data problems cannot be retried away.
    pub fn is_retryable(&self) -> bool {
        match self {
            ReconcileError::Busy { .. } | ReconcileError::LeaseLost { .. } => true,
            ReconcileError::Partner { error, .. } => match error {
                LinkError::Open { .. } => true,
                LinkError::Call(e) => e.is_retryable(),
            },
            ReconcileError::Store(e) => e.is_retryable(),
            ReconcileError::Task(_) => true,
            ReconcileError::TimeZone { .. }
            | ReconcileError::Day { .. }
            | ReconcileError::CorruptPage { .. }
            | ReconcileError::RunGone(_) => false,
        }
    }
}

/// The id of a new run: a UUID v5 of the partner, the day, the trigger and the start instant.
pub fn run_id(partner: &str, day: &str, trigger: Trigger, started_at: Millis) -> String {
    let name = format!(
        "vigil/reconciliation/{partner}/{day}/{}/{started_at}",
        trigger.as_str()
    );
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

/// Reconciles one partner; cheap to share. Runs hold the partner's lease as `holder`.
#[derive(Debug, Clone)]
pub struct Reconciler {
    link: Arc<PartnerLink>,
    store: Store,
    holder: String,
}

/// Counts of a run in progress.
struct Tally {
    pages_done: u32,
    partner_records: u64,
    diffs_kept: u32,
}

impl Reconciler {
    /// A reconciler of the partner behind `link` over `store`, taking leases as `holder`
    /// (unique per instance, e.g. `host:pid`).
    pub fn new(link: Arc<PartnerLink>, store: Store, holder: String) -> Reconciler {
        Reconciler {
            link,
            store,
            holder,
        }
    }

    /// The partner's link.
    pub fn link(&self) -> &Arc<PartnerLink> {
        &self.link
    }

    /// The store runs are kept in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The lease runs of this partner hold: `reconcile:<partner>`.
    pub fn lease_name(&self) -> String {
        format!("reconcile:{}", self.link.id())
    }

    /// Gives the lease up if this reconciler holds it (after a run was dropped mid-way).
    pub async fn release_lease(&self) -> Result<bool, StoreError> {
        self.store
            .release_lease(&self.lease_name(), &self.holder)
            .await
    }

    /// Reconciles local `day` of the partner (see the module docs) and returns the finished
    /// run. `progress` hears after our records are loaded, after each page and at the end.
    pub async fn run(
        &self,
        day: Date,
        trigger: Trigger,
        progress: &(dyn Fn(&RunProgress) + Send + Sync),
    ) -> Result<ReconciliationRun, ReconcileError> {
        let partner = self.link.id();
        let lease = self.lease_name();
        let taken = self
            .store
            .try_lease(&lease, &self.holder, LEASE_TTL_MS, self.link.now())
            .await?;
        if !taken {
            debug!(partner = %partner, day = %day, "reconciliation lease held elsewhere");
            return Err(ReconcileError::Busy {
                partner: partner.to_string(),
                lease,
            });
        }
        let span = tracing::info_span!("reconcile", partner = %partner, day = %day,
            trigger = trigger.as_str(), run_id = tracing::field::Empty);
        let result = self
            .run_leased(day, trigger, progress)
            .instrument(span)
            .await;
        if let Err(e) = self.store.release_lease(&lease, &self.holder).await {
            warn!(partner = %partner, error = %e, "cannot release the reconciliation lease; it expires");
        }
        result
    }

    async fn run_leased(
        &self,
        day: Date,
        trigger: Trigger,
        progress: &(dyn Fn(&RunProgress) + Send + Sync),
    ) -> Result<ReconciliationRun, ReconcileError> {
        let partner = self.link.id();
        let zone = &self.link.config().timezone;
        let tz = TimeZone::get(zone).map_err(|_| ReconcileError::TimeZone {
            partner: partner.to_string(),
            zone: zone.clone(),
        })?;
        let bounds = day_bounds(&tz, day).ok_or_else(|| ReconcileError::Day {
            partner: partner.to_string(),
            day,
            zone: zone.clone(),
        })?;
        let day_text = day.to_string();
        if trigger == Trigger::Nightly {
            let done = self
                .store
                .finished_reconciliation(partner, &day_text, Trigger::Nightly.as_str())
                .await?;
            if let Some(run) = done {
                info!(partner = %partner, run_id = %run.run_id, "nightly reconciliation of the day finished already");
                progress(&RunProgress {
                    run_id: run.run_id.clone(),
                    pages_done: run.pages_done,
                    partner_records: run.partner_records,
                    our_records: run.our_records,
                    phase: Phase::Finished,
                });
                return Ok(run);
            }
        }
        let opened = self.open(&day_text, trigger).await?;
        let run_id = opened.run.run_id.clone();
        tracing::Span::current().record("run_id", run_id.as_str());
        info!(partner = %partner, run_id = %run_id, resumed = opened.resumed,
            pages_done = opened.run.pages_done, "reconciliation started");
        match self.drive(&opened, bounds, &day_text, progress).await {
            Ok(run) => {
                record_finished(&run);
                info!(partner = %partner, run_id = %run_id, partner_records = run.partner_records,
                    our_records = run.our_records, matched = run.matched,
                    missing_at_partner = run.missing_at_partner,
                    missing_at_ours = run.missing_at_ours, mismatched = run.mismatched,
                    repaired = run.repaired, "reconciliation finished");
                Ok(run)
            }
            Err(e) => {
                metrics::reconciliation_runs(partner, "failed").increment(1);
                warn!(partner = %partner, run_id = %run_id, error = %e,
                    "reconciliation attempt failed; the next run of the day resumes it");
                if let Err(store) = self
                    .store
                    .fail_reconciliation_attempt(&run_id, &e.to_string())
                    .await
                {
                    warn!(partner = %partner, run_id = %run_id, error = %store,
                        "cannot record the failed attempt");
                }
                Err(e)
            }
        }
    }

    /// Resumes the partner's running run of the day, or opens a new one with a fresh id.
    async fn open(&self, day: &str, trigger: Trigger) -> Result<OpenedRun, StoreError> {
        let partner = self.link.id();
        let mut started = self.link.now();
        // Two runs started in the same millisecond (a stopped test clock) get distinct ids.
        while self
            .store
            .reconciliation_run(&run_id(partner, day, trigger, started))
            .await?
            .is_some()
        {
            started = started.saturating_add(1);
        }
        let id = run_id(partner, day, trigger, started);
        self.store
            .open_reconciliation(partner, day, trigger.as_str(), &id, started)
            .await
    }

    async fn drive(
        &self,
        opened: &OpenedRun,
        (from, to): (Millis, Millis),
        day: &str,
        progress: &(dyn Fn(&RunProgress) + Send + Sync),
    ) -> Result<ReconciliationRun, ReconcileError> {
        let run = &opened.run;
        let run_id = run.run_id.as_str();
        let records = self.store.sla_records_between(from, to).await?;
        let link = self.link.clone();
        let mut ours = tokio::task::spawn_blocking(move || {
            let config = link.config();
            OurSide::build(records, link.mapper(), &|t| config.serves(t))
        })
        .await
        .map_err(|e| ReconcileError::Task(e.to_string()))?;
        let mut next = Some(1);
        if opened.resumed && run.pages_done > 0 {
            let pages = self.store.reconciliation_pages(run_id).await?;
            if pages.is_empty() {
                return Err(ReconcileError::CorruptPage {
                    run_id: run_id.to_string(),
                    page: run.pages_done,
                    reason: "the run counted pages but none is saved".into(),
                });
            }
            for (page, text) in pages {
                next = ours
                    .apply_saved(&text)
                    .map_err(|reason| ReconcileError::CorruptPage {
                        run_id: run_id.to_string(),
                        page,
                        reason,
                    })?;
            }
            debug!(run_id, pages_done = run.pages_done, next_page = ?next, "saved pages applied");
        }
        let mut tally = Tally {
            pages_done: run.pages_done,
            partner_records: run.partner_records,
            diffs_kept: run.diffs_kept,
        };
        let our_records = ours.len() as u64;
        let show = |tally: &Tally, phase| {
            progress(&RunProgress {
                run_id: run_id.to_string(),
                pages_done: tally.pages_done,
                partner_records: tally.partner_records,
                our_records,
                phase,
            })
        };
        show(&tally, Phase::Ours);
        while let Some(page) = next {
            let fetched = self.fetch(day, page).await?;
            let room = KEEP_DIFFS.saturating_sub(tally.diffs_kept) as usize;
            let compared = ours.compare_page(
                &fetched.records,
                fetched.next_page,
                self.link.mapper(),
                room,
            );
            let diffs = self.page_diffs(&fetched.records, &compared.diffs).await?;
            self.store
                .save_reconciliation_page(
                    run_id,
                    page,
                    compared.text.as_str(),
                    &compared.delta,
                    &diffs,
                    KEEP_DIFFS,
                )
                .await?;
            tally.pages_done = page;
            tally.partner_records += compared.delta.partner_records;
            tally.diffs_kept = tally.diffs_kept.saturating_add(diffs.len() as u32);
            debug!(
                run_id,
                page,
                records = fetched.records.len(),
                missing_at_ours = compared.delta.missing_at_ours,
                mismatched = compared.delta.mismatched,
                "partner page counted"
            );
            if compared.without_id > 0 {
                warn!(partner = %self.link.id(), run_id, page, records = compared.without_id,
                    "partner records without a record id; counted as missing at ours for review");
            }
            show(&tally, Phase::Pages);
            self.renew().await?;
            next = fetched.next_page;
        }
        let run = self.finish(run_id, &ours, tally.diffs_kept).await?;
        show(
            &Tally {
                pages_done: run.pages_done,
                partner_records: run.partner_records,
                diffs_kept: run.diffs_kept,
            },
            Phase::Finished,
        );
        Ok(run)
    }

    /// Re-queues what the partner lacks or holds differently and finishes the run.
    async fn finish(
        &self,
        run_id: &str,
        ours: &OurSide,
        diffs_kept: u32,
    ) -> Result<ReconciliationRun, ReconcileError> {
        let partner = self.link.id();
        let room = KEEP_DIFFS.saturating_sub(diffs_kept) as usize;
        let missing = ours.missing().count() as u64;
        let shown: Vec<String> = ours.missing().take(room).map(str::to_string).collect();
        let texts = self.our_texts(&shown).await?;
        let diffs: Vec<NewDiff> = shown
            .into_iter()
            .map(|id| NewDiff {
                ours: texts.get(&id).cloned(),
                theirs: None,
                kind: DiffKind::MissingAtPartner,
                record_id: id,
            })
            .collect();
        let repair: Vec<String> = ours.to_repair().map(str::to_string).collect();
        self.renew().await?;
        let now = self.link.now();
        let repaired = self
            .store
            .requeue_partner_records(partner, &repair, now)
            .await?;
        self.store
            .finish_reconciliation(
                run_id,
                ours.len() as u64,
                missing,
                &diffs,
                KEEP_DIFFS,
                repaired,
                now,
            )
            .await?;
        self.store
            .reconciliation_run(run_id)
            .await?
            .ok_or_else(|| ReconcileError::RunGone(run_id.to_string()))
    }

    /// The report's diffs of one page: the partner's side masked; ours (for mismatched
    /// records) read again and mapped as it would leave.
    async fn page_diffs(
        &self,
        records: &[Map<String, Value>],
        found: &[FoundDiff],
    ) -> Result<Vec<NewDiff>, ReconcileError> {
        let mismatched: Vec<String> = found
            .iter()
            .filter(|d| d.kind == DiffKind::Mismatched)
            .map(|d| d.record_id.clone())
            .collect();
        let texts = self.our_texts(&mismatched).await?;
        let mapper = self.link.mapper();
        Ok(found
            .iter()
            .map(|d| NewDiff {
                record_id: d.record_id.clone(),
                kind: d.kind,
                ours: match d.kind {
                    DiffKind::Mismatched => texts.get(&d.record_id).cloned(),
                    _ => None,
                },
                theirs: records
                    .get(d.at)
                    .map(|obj| Value::Object(mapper.mask_theirs(obj)).to_string()),
            })
            .collect())
    }

    /// Our records `ids` as the partner would receive them (mapped, masked), by id.
    async fn our_texts(&self, ids: &[String]) -> Result<HashMap<String, String>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mapper = self.link.mapper();
        Ok(self
            .store
            .sla_records_by_id(ids)
            .await?
            .into_iter()
            .map(|r| {
                let text = Value::Object(mapper.map(&r)).to_string();
                (r.record_id, text)
            })
            .collect())
    }

    /// One page of the partner's records of `day`, waiting out an open breaker and retrying
    /// retryable failures (see the module docs).
    async fn fetch(&self, day: &str, page: u32) -> Result<Page, ReconcileError> {
        let config = self.link.config();
        let open_limit = config.breaker.open_for.as_std() * OPEN_WAIT_LIMIT;
        let mut failures = 0u32;
        let mut open_waited = Duration::ZERO;
        let failed = |error: LinkError| ReconcileError::Partner {
            partner: self.link.id().to_string(),
            day: day.to_string(),
            page,
            error,
        };
        loop {
            self.renew().await?;
            match self.link.get_page(day, page, config.page_size).await {
                Ok(fetched) => return Ok(fetched),
                Err(LinkError::Open { until }) => {
                    if open_waited >= open_limit {
                        return Err(failed(LinkError::Open { until }));
                    }
                    let ms = until.saturating_sub(self.link.now()).max(0).unsigned_abs();
                    let wait = Duration::from_millis(ms).max(MIN_OPEN_WAIT);
                    debug!(
                        page,
                        wait_ms = wait.as_millis() as u64,
                        "partner circuit breaker open; waiting for it to let probes through"
                    );
                    self.wait(wait).await?;
                    open_waited += wait;
                }
                Err(LinkError::Call(e)) if e.is_retryable() && failures < config.retries => {
                    let max = config.max_retry_delay.as_std();
                    let asked = capped_retry_after(self.link.id(), e.retry_after(), max);
                    let wait = backoff_delay(failures, config.retry_delay.as_std(), max, asked);
                    failures += 1;
                    warn!(partner = %self.link.id(), page, attempt = failures, error = %e,
                        retry_in_ms = wait.as_millis() as u64, "partner page failed; retrying");
                    self.wait(wait).await?;
                }
                Err(e) => return Err(failed(e)),
            }
        }
    }

    /// Sleeps `total`, renewing the lease on the way.
    async fn wait(&self, total: Duration) -> Result<(), ReconcileError> {
        let mut left = total;
        while !left.is_zero() {
            let step = left.min(RENEW_EVERY);
            tokio::time::sleep(step).await;
            left -= step;
            if !left.is_zero() {
                self.renew().await?;
            }
        }
        Ok(())
    }

    /// Extends the lease; fails when another holder took it.
    async fn renew(&self) -> Result<(), ReconcileError> {
        let lease = self.lease_name();
        if self
            .store
            .try_lease(&lease, &self.holder, LEASE_TTL_MS, self.link.now())
            .await?
        {
            Ok(())
        } else {
            Err(ReconcileError::LeaseLost {
                partner: self.link.id().to_string(),
                lease,
            })
        }
    }
}

/// Sets the reconciliation metrics of a finished run: diffs by kind, the run counted, the
/// finish instant.
fn record_finished(run: &ReconciliationRun) {
    let partner = run.partner_id.as_str();
    for (kind, count) in [
        (DiffKind::MissingAtPartner, run.missing_at_partner),
        (DiffKind::MissingAtOurs, run.missing_at_ours),
        (DiffKind::Mismatched, run.mismatched),
    ] {
        metrics::reconciliation_diffs(partner, kind.as_str()).set(count as f64);
    }
    metrics::reconciliation_runs(partner, "finished").increment(1);
    if let Some(at) = run.finished_at {
        metrics::reconciliation_last_finished(partner).set(at as f64 / 1000.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::recorder::local_recorder;

    #[test]
    fn run_ids_are_name_based() {
        let a = run_id("exchange-a", "2026-11-23", Trigger::Manual, 1);
        assert_eq!(a, run_id("exchange-a", "2026-11-23", Trigger::Manual, 1));
        assert_ne!(a, run_id("exchange-a", "2026-11-23", Trigger::Nightly, 1));
        assert_ne!(a, run_id("exchange-a", "2026-11-23", Trigger::Manual, 2));
        assert_ne!(a, run_id("exchange-b", "2026-11-23", Trigger::Manual, 1));
        let parsed = uuid::Uuid::parse_str(&a).expect("a uuid");
        assert_eq!(parsed.get_version_num(), 5);
    }

    #[test]
    fn a_finished_run_sets_its_metrics() {
        let (recorder, handle) = local_recorder().expect("recorder");
        let run = ReconciliationRun {
            run_id: "r".into(),
            partner_id: "exchange-a".into(),
            day: "2026-11-23".into(),
            trigger: "nightly".into(),
            state: "finished".into(),
            started_at: 0,
            finished_at: Some(1_795_000_000_500),
            pages_done: 1,
            partner_records: 9,
            our_records: 10,
            matched: 6,
            missing_at_partner: 3,
            missing_at_ours: 2,
            mismatched: 1,
            repaired: 4,
            diffs_kept: 6,
            error: None,
        };
        ::metrics::with_local_recorder(&recorder, || record_finished(&run));
        let text = handle.render();
        for line in [
            "vigil_reconciliation_diffs{partner=\"exchange-a\",kind=\"missing_at_partner\"} 3",
            "vigil_reconciliation_diffs{partner=\"exchange-a\",kind=\"missing_at_ours\"} 2",
            "vigil_reconciliation_diffs{partner=\"exchange-a\",kind=\"mismatched\"} 1",
            "vigil_reconciliation_runs_total{partner=\"exchange-a\",result=\"finished\"} 1",
            "vigil_reconciliation_last_finished_timestamp_seconds{partner=\"exchange-a\"} 1795000000.5",
        ] {
            assert!(text.contains(line), "no {line:?} in\n{text}");
        }
    }
}
