//! Why a reconciliation did not finish, and whether running again later can help.

use jiff::civil::Date;

use crate::partner::link::LinkError;
use crate::store::StoreError;

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
    /// Our records of the day cannot be held for comparison.
    #[error("partner {partner}: our records of the day cannot be compared: {reason}")]
    OurRecords {
        /// The partner.
        partner: String,
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
            | ReconcileError::OurRecords { .. }
            | ReconcileError::RunGone(_) => false,
        }
    }
}
