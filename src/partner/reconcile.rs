//! Reconciliation of one partner and one local day (DESIGN.md §7): pages through the
//! partner's records of the day, compares them with ours by record id and content hash,
//! re-queues what is missing or different at the partner, flags what only the partner has,
//! and stores a report.
//!
//! # Layout
//! - `run`: what started a run ([`Trigger`]), its id ([`run_id`]) and its progress
//!   ([`RunProgress`]).
//! - `error`: why a run did not finish ([`ReconcileError`]), and whether a retry can help.
//! - `reconciler`: the run driver ([`Reconciler`]): the steps below, and the metrics of a
//!   finished run.
//! - `lease`: the run's lease: renewing it, giving it up, sleeping while keeping it.
//! - `page_fetch`: one partner page, waiting out an open breaker and retrying failures.
//! - `partner_page`: a partner page digested where it is parsed: each record's id and content
//!   hash, and its JSON text for the diffs.
//! - `diffs`: the diffs a run keeps, both sides masked.
//! - `ours`: the pure core: our side as id → hash, comparing a page, a saved page's text.
//! - `day`: local days and times of a time zone as instants ([`day_bounds`],
//!   [`local_instant`]), DST-correct.
//! - [`report`]: the report as text or JSON, progress on stderr.
//! - `tests`: unit tests of run ids and of a finished run's metrics.
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
mod diffs;
mod error;
mod lease;
mod ours;
mod page_fetch;
mod page_text;
mod partner_page;
mod reconciler;
pub mod report;
mod run;

#[cfg(test)]
mod tests;

pub use day::{day_bounds, local_instant};
pub use error::ReconcileError;
pub use lease::LEASE_TTL_MS;
pub use page_fetch::OPEN_WAIT_LIMIT;
pub use reconciler::{Reconciler, KEEP_DIFFS};
pub use run::{run_id, Phase, RunProgress, Trigger};
