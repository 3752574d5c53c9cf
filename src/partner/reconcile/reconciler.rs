//! The run driver: takes the lease, opens or resumes the run of the day, loads our side,
//! compares the partner's pages one by one, re-queues what the partner lacks and finishes the
//! run with its counts and metrics (the steps of the parent module's docs).

use std::sync::{Arc, Mutex};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use tracing::{debug, info, warn, Instrument};
use vigil_schema::Millis;

use super::day::day_bounds;
use super::ours::{Digest, OurIds, OurSide, OurSideBuilder};
use super::partner_page::PartnerPage;
use super::run::{run_id, Phase, RunProgress, Trigger};
use super::ReconcileError;
use crate::http_client::CallError;
use crate::partner::link::{LinkError, PartnerLink};
use crate::store::{DiffKind, NewDiff, OpenedRun, ReconciliationRun, Store, StoreError};
use crate::telemetry::metrics;
use crate::AbortOnDrop;

/// Diffs a run keeps in its report; the counts are always complete.
pub const KEEP_DIFFS: u32 = 1_000;

/// Reconciles one partner; cheap to share. Runs hold the partner's lease as `holder`.
#[derive(Debug, Clone)]
pub struct Reconciler {
    pub(super) link: Arc<PartnerLink>,
    pub(super) store: Store,
    pub(super) holder: String,
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

    /// Reconciles local `day` of the partner (see [the module docs](super)) and returns the finished
    /// run. `progress` hears after our records are loaded, after each page and at the end.
    pub async fn run(
        &self,
        day: Date,
        trigger: Trigger,
        progress: &(dyn Fn(&RunProgress) + Send + Sync),
    ) -> Result<ReconciliationRun, ReconcileError> {
        let partner = self.link.id();
        let lease = self.lease_name();
        let taken = self.take_lease(&lease).await?;
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
        if let Err(e) = self.store.leases().release(&lease, &self.holder).await {
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
                .reconciliations()
                .finished(partner, &day_text, Trigger::Nightly.as_str())
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
                    .reconciliations()
                    .fail_attempt(&run_id, &e.to_string())
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
            .reconciliations()
            .run(&run_id(partner, day, trigger, started))
            .await?
            .is_some()
        {
            started = started.saturating_add(1);
        }
        let id = run_id(partner, day, trigger, started);
        self.store
            .reconciliations()
            .open(partner, day, trigger.as_str(), &id, started)
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
        let mut ours = self.our_side(from, to).await?;
        let mut next = Some(1);
        if opened.resumed && run.pages_done > 0 {
            let pages = self.store.reconciliations().pages(run_id).await?;
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
        // The next page is fetched on another task and parsed on a blocking thread while this
        // one is compared and saved.
        let (pages_tx, mut pages) = tokio::sync::mpsc::channel(1);
        let fetcher = AbortOnDrop(tokio::spawn(self.clone().fetch_pages(
            day.to_string(),
            next,
            ours.ids(),
            pages_tx,
        )));
        // The page still to come; the fetcher ends after the last one, or sends its error.
        let mut expected = next;
        while let Some(fetched) = pages.recv().await {
            let (page, parsing) = fetched?;
            let parsed = parsing
                .await
                .map_err(|e| ReconcileError::Task(e.to_string()))?;
            let fetched = parsed.map_err(|e| ReconcileError::Partner {
                partner: self.link.id().to_string(),
                day: day.to_string(),
                page,
                error: LinkError::Call(e),
            })?;
            let room = KEEP_DIFFS.saturating_sub(tally.diffs_kept) as usize;
            let compared = ours.compare_page(&fetched.records, fetched.next_page, room);
            let diffs = self.page_diffs(&fetched, &compared.diffs).await?;
            self.store
                .reconciliations()
                .save_page(
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
            expected = fetched.next_page;
        }
        drop(fetcher);
        if let Some(page) = expected {
            return Err(ReconcileError::Task(format!(
                "the page fetcher stopped before page {page}"
            )));
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

    /// Our records that stopped in `[from, to)` for this partner, digested as they stream in
    /// and put together as they come.
    async fn our_side(&self, from: Millis, to: Millis) -> Result<OurSide, ReconcileError> {
        let records = self.store.sla_records();
        let count = records.count_stopped_between(from, to).await?;
        let mut ours = OurSideBuilder::with_capacity(usize::try_from(count).unwrap_or(0));
        let mut failed = None;
        let link = self.link.clone();
        records
            .digest_stopped_between(
                from,
                to,
                move |records| {
                    let config = link.config();
                    Digest::of(records, link.mapper(), &|t| config.serves(t))
                },
                |digest| {
                    if let Err(reason) = digest.and_then(|d| ours.add(d)) {
                        failed.get_or_insert(reason);
                    }
                },
            )
            .await?;
        if let Some(reason) = failed {
            return Err(ReconcileError::OurRecords {
                partner: self.link.id().to_string(),
                reason,
            });
        }
        tokio::task::spawn_blocking(move || ours.build())
            .await
            .map_err(|e| ReconcileError::Task(e.to_string()))
    }

    /// Fetches the pages from `first` on, each after the one before (its `next_page`), and
    /// hands each to `pages` as it is parsed and digested against `ours` on a blocking thread,
    /// one page ahead of the reader; stops after the last page, at the first error (sent on),
    /// or when nobody reads.
    async fn fetch_pages(
        self,
        day: String,
        first: Option<u32>,
        ours: Arc<OurIds>,
        pages: tokio::sync::mpsc::Sender<Result<(u32, Parsing), ReconcileError>>,
    ) {
        // The buffers of pages digested, each read into again: a page's few MB are not
        // allocated anew (and freed on another thread) for every page.
        let spare: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let mut next = first;
        while let Some(page) = next {
            // Room first, so at most one page waits fetched while one is compared.
            let Ok(room) = pages.reserve().await else {
                break;
            };
            let buffer = spare
                .lock()
                .ok()
                .and_then(|mut s| s.pop())
                .unwrap_or_default();
            let fetched = self.fetch(&day, page, buffer).await;
            let failed = fetched.is_err();
            let link = self.link.clone();
            let ours = Arc::clone(&ours);
            let spare = Arc::clone(&spare);
            // The page is read once, where it is parsed: its `next_page` comes back from there
            // before its records are digested.
            let (next_tx, next_rx) = tokio::sync::oneshot::channel();
            let parsing = fetched.map(|body| {
                // The report keeps at most KEEP_DIFFS diffs: no page needs the text of more.
                let keep = KEEP_DIFFS as usize;
                let digest = move || {
                    let parsed = body.parse();
                    let _ = next_tx.send(parsed.as_ref().ok().and_then(|p| p.next_page));
                    let page = parsed?;
                    let digested = PartnerPage::digest(&page, link.mapper(), &ours, keep);
                    if let Ok(mut spare) = spare.lock() {
                        spare.push(page.into_buffer());
                    }
                    digested
                };
                (page, tokio::task::spawn_blocking(digest))
            });
            room.send(parsing);
            if failed {
                break;
            }
            // A page that does not parse (its `next_page` not after this one among the
            // reasons) has none: its error reaches the reader with the page.
            next = next_rx.await.ok().flatten().filter(|n| *n > page);
        }
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
            .partner_outbox()
            .requeue(partner, &repair, now)
            .await?;
        self.store
            .reconciliations()
            .finish(
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
            .reconciliations()
            .run(run_id)
            .await?
            .ok_or_else(|| ReconcileError::RunGone(run_id.to_string()))
    }
}

/// A page being parsed.
type Parsing = tokio::task::JoinHandle<Result<PartnerPage, CallError>>;

/// Sets the reconciliation metrics of a finished run: diffs by kind, the run counted, the
/// finish instant.
pub(super) fn record_finished(run: &ReconciliationRun) {
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
